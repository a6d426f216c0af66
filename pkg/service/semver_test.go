package service

import (
	"context"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/messaging"
)

// TestSemverAcceptedByMicro registers a real NATS micro service with the
// version each kind of build stamps (`git describe --tags --always --dirty`
// in the Makefile): NATS refuses a version that is not SemVer, which broke
// `make run` on untagged checkouts.
func TestSemverAcceptedByMicro(t *testing.T) {
	bus, err := messaging.Connect(context.Background(), messaging.Settings{DataDir: t.TempDir(), Name: "semver-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	tests := []struct{ in, want string }{
		{"", "0.0.0-dev"},
		{"dev", "0.0.0-dev"},
		{"v1.2.3", "1.2.3"},
		{"1.2.3", "1.2.3"},
		{"v1.2.3-4-g6e718f2", "1.2.3-4-g6e718f2"},
		{"v1.2.3-4-g6e718f2-dirty", "1.2.3-4-g6e718f2-dirty"},
		{"6e718f2", "0.0.0-dev+6e718f2"},
		{"0123456-dirty", "0.0.0-dev+0123456-dirty"}, // leading zero: invalid as a prerelease, fine as metadata
		{"v1.2", "0.0.0-dev+v1.2"},
		{"weird/..name", "0.0.0-dev+weird--name"},
		{"...", "0.0.0-dev"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := semver(tt.in)
			if got != tt.want {
				t.Fatalf("semver(%q) = %q, want %q", tt.in, got, tt.want)
			}
			svc, err := bus.AddService(messaging.ServiceConfig{Name: "semver-test", Version: got})
			if err != nil {
				t.Fatalf("NATS refuses %q: %v", got, err)
			}
			_ = svc.Stop()
		})
	}
}
