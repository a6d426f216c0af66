package adaptive

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

// FuzzPolicySpec: any body the API decodes either fails CheckSpec with a
// 400 or makes a controller that takes measurements without panicking.
func FuzzPolicySpec(f *testing.F) {
	seed, err := os.ReadFile("testdata/policy.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed, 20_000.0)
	f.Add([]byte(`{"modes": [{"name": "a", "up_to": -1}], "min_dwell": "-5s"}`), 0.0)
	f.Fuzz(func(t *testing.T, data []byte, series float64) {
		var spec apiv1.AdaptivePolicySpec
		if json.Unmarshal(data, &spec) != nil {
			return
		}
		if err := CheckSpec(spec); err != nil {
			if status(err) != 400 {
				t.Fatalf("invalid spec: %v, want 400", err)
			}
			return
		}
		p, err := PolicyFromSpec("p", spec)
		if err != nil {
			t.Fatalf("CheckSpec passed, PolicyFromSpec failed: %v", err)
		}
		c, err := New(p, &fakeApplier{}, "", start)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range []float64{series, series * 3, 0, series} {
			c.Observe(context.Background(), start.Add(time.Duration(i+1)*hour), v)
		}
	})
}
