package phoenixcli

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind (the spinner of
// showWhile, the plugin's signal forwarder).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
