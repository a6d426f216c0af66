package aggregateprocessor

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves the interval goroutine running.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
