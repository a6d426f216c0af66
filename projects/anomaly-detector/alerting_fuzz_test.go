package anomalydetector

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/anomaly-detector/internal/notify"
)

// FuzzAlertingBodies feeds arbitrary bodies to the rule, channel and
// silence decoders and validators, and any valid channel to the payload
// builders: nothing may panic, and a channel that validates builds.
func FuzzAlertingBodies(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "alerting", "*.json"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := &apiv1.Request{Body: body}
		var r apiv1.AlertRuleInput
		if req.DecodeBody(&r) == nil {
			_ = validateRule(r)
		}
		var si apiv1.SilenceInput
		_ = req.DecodeBody(&si)
		var c apiv1.ChannelInput
		if req.DecodeBody(&c) == nil && len(validateChannel(c)) == 0 {
			ch := apiv1.Channel{ID: "ch-1", Type: c.Type, URL: c.URL, Severities: c.Severities}
			n := apiv1.Notification{Event: "fired", Alert: apiv1.Alert{ID: "al-1", Severity: apiv1.SeverityHigh, Summary: c.Name}, SentAt: time.Unix(0, 0)}
			if _, err := notify.Build(ch, []byte(c.Secret), n); err != nil {
				t.Fatalf("valid channel %+v does not build: %v", c, err)
			}
		}
	})
}
