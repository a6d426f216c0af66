package experimentrun

import (
	"testing"

	"go.uber.org/goleak"
)

// The service starts the runner's goroutine; every test must end it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
