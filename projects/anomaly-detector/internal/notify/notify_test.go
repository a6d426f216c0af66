package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/ssrf"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// alert is the alert of testdata/alert.json: an explosion named by metric
// and label.
func alert(t *testing.T) apiv1.Alert {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "alert.json"))
	if err != nil {
		t.Fatal(err)
	}
	var a apiv1.Alert
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// receiver records what it is sent and answers codes in turn (200 after).
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	heads  []http.Header
	codes  []int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.heads = append(r.heads, req.Header.Clone())
	code := http.StatusOK
	if len(r.codes) > 0 {
		code, r.codes = r.codes[0], r.codes[1:]
	}
	r.mu.Unlock()
	w.WriteHeader(code)
}

func (r *receiver) got() ([][]byte, []http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte{}, r.bodies...), append([]http.Header{}, r.heads...)
}

func loopbackClient(t *testing.T) func(apiv1.Channel) *http.Client {
	g, err := ssrf.New([]string{"127.0.0.0/8", "::1/128"})
	if err != nil {
		t.Fatal(err)
	}
	c := g.Client(5 * time.Second)
	t.Cleanup(c.CloseIdleConnections)
	return func(apiv1.Channel) *http.Client { return c }
}

func TestChannelPayloads(t *testing.T) {
	secret := []byte("s3cret-key")
	for _, tc := range []struct {
		typ    string
		event  string
		check  func(t *testing.T, bodies [][]byte, heads []http.Header)
		secret []byte
	}{
		{apiv1.ChannelWebhook, "fired", func(t *testing.T, bodies [][]byte, heads []http.Header) {
			if !Verify(secret, bodies[0], heads[0].Get(SignatureHeader)) {
				t.Fatalf("signature %q does not verify", heads[0].Get(SignatureHeader))
			}
			if Verify([]byte("other"), bodies[0], heads[0].Get(SignatureHeader)) {
				t.Fatal("signature verifies with another secret")
			}
			var n apiv1.Notification
			if err := json.Unmarshal(bodies[0], &n); err != nil || n.Event != "fired" || n.Alert.Label != "request_id" || n.Channel != "ch-1" {
				t.Fatalf("webhook body %s (%v)", bodies[0], err)
			}
		}, secret},
		{apiv1.ChannelSlack, "fired", func(t *testing.T, bodies [][]byte, _ []http.Header) {
			var m struct {
				Text        string `json:"text"`
				Attachments []struct {
					Color, Text string
					Fields      []struct{ Title, Value string }
				} `json:"attachments"`
			}
			if err := json.Unmarshal(bodies[0], &m); err != nil || !strings.Contains(m.Text, "FIRING") || len(m.Attachments) != 1 ||
				!strings.Contains(m.Attachments[0].Text, "label request_id") || m.Attachments[0].Color != "#e65100" {
				t.Fatalf("slack body %s (%v)", bodies[0], err)
			}
		}, nil},
		{apiv1.ChannelTeams, "resolved", func(t *testing.T, bodies [][]byte, _ []http.Header) {
			var m map[string]any
			if err := json.Unmarshal(bodies[0], &m); err != nil || m["@type"] != "MessageCard" || m["themeColor"] != "2e7d32" ||
				!strings.Contains(m["title"].(string), "RESOLVED") {
				t.Fatalf("teams body %s (%v)", bodies[0], err)
			}
		}, nil},
		{apiv1.ChannelPagerDuty, "fired", func(t *testing.T, bodies [][]byte, _ []http.Header) {
			var m struct {
				RoutingKey  string `json:"routing_key"`
				EventAction string `json:"event_action"`
				DedupKey    string `json:"dedup_key"`
				Payload     struct{ Summary, Source, Severity string }
			}
			if err := json.Unmarshal(bodies[0], &m); err != nil || m.RoutingKey != "s3cret-key" || m.EventAction != "trigger" ||
				m.DedupKey != "al-0001" || m.Payload.Severity != "error" || m.Payload.Source != "phoenix/default" || m.Payload.Summary == "" {
				t.Fatalf("pagerduty body %s (%v)", bodies[0], err)
			}
		}, secret},
		{apiv1.ChannelPagerDuty, "acknowledged", func(t *testing.T, bodies [][]byte, _ []http.Header) {
			var m map[string]any
			if err := json.Unmarshal(bodies[0], &m); err != nil || m["event_action"] != "acknowledge" || m["dedup_key"] != "al-0001" || m["payload"] != nil {
				t.Fatalf("pagerduty ack body %s (%v)", bodies[0], err)
			}
		}, secret},
		{apiv1.ChannelPagerDuty, "test", func(t *testing.T, bodies [][]byte, _ []http.Header) {
			if len(bodies) != 2 || !strings.Contains(string(bodies[0]), `"trigger"`) || !strings.Contains(string(bodies[1]), `"resolve"`) {
				t.Fatalf("pagerduty test: %q", bodies)
			}
		}, secret},
	} {
		t.Run(tc.typ+"/"+tc.event, func(t *testing.T) {
			rec := &receiver{}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			d := NewDispatcher(Settings{Client: loopbackClient(t), Attempts: 1})
			ch := apiv1.Channel{ID: "ch-1", Type: tc.typ, URL: srv.URL}
			del := d.Deliver(context.Background(), Job{Channel: ch, Secret: tc.secret, Notification: apiv1.Notification{Event: tc.event, Alert: alert(t), Channel: ch.ID}}, 1)
			if del.Status != apiv1.DeliveryDelivered || del.HTTPStatus != 200 {
				t.Fatalf("delivery %+v", del)
			}
			bodies, heads := rec.got()
			if len(bodies) == 0 {
				t.Fatal("nothing received")
			}
			tc.check(t, bodies, heads)
		})
	}
}

func TestRetriesAndPermanentFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		codes    []int
		status   string
		attempts int
	}{
		{"retried until delivered", []int{503, 500, 429}, apiv1.DeliveryDelivered, 4},
		{"gives up after attempts", []int{503, 503, 503, 503, 503, 503}, apiv1.DeliveryFailed, 5},
		{"client error is not retried", []int{400}, apiv1.DeliveryFailed, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &receiver{codes: tc.codes}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			var mu sync.Mutex
			var reports []apiv1.Delivery
			d := NewDispatcher(Settings{Client: loopbackClient(t), Attempts: 5, Backoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond,
				Report: func(del apiv1.Delivery) { mu.Lock(); reports = append(reports, del); mu.Unlock() }})
			d.Start()
			defer d.Stop()
			ch := apiv1.Channel{ID: "ch-1", Type: apiv1.ChannelWebhook, URL: srv.URL}
			if !d.Enqueue(Job{Channel: ch, Notification: apiv1.Notification{Event: "fired", Alert: alert(t)}}) {
				t.Fatal("queue refused one job")
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				mu.Lock()
				last := apiv1.Delivery{}
				if len(reports) > 0 {
					last = reports[len(reports)-1]
				}
				mu.Unlock()
				if last.Status == tc.status && last.Attempts == tc.attempts {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("last report %+v, want %s after %d attempts", last, tc.status, tc.attempts)
				}
				time.Sleep(5 * time.Millisecond) // polling a condition, not waiting for it
			}
			if bodies, _ := rec.got(); len(bodies) != tc.attempts {
				t.Fatalf("receiver saw %d posts, want %d", len(bodies), tc.attempts)
			}
		})
	}
}

func TestQueueBoundAndSSRF(t *testing.T) {
	var reports []apiv1.Delivery
	d := NewDispatcher(Settings{Queue: 1, Client: loopbackClient(t), Report: func(del apiv1.Delivery) { reports = append(reports, del) }})
	// Not started: the first job fills the queue.
	j := Job{Channel: apiv1.Channel{ID: "c", Type: apiv1.ChannelWebhook, URL: "http://127.0.0.1:1"}, Notification: apiv1.Notification{Event: "fired", Alert: alert(t)}}
	if !d.Enqueue(j) || d.Enqueue(j) || d.Dropped() != 1 || reports[1].Status != apiv1.DeliveryFailed {
		t.Fatalf("queue bound: dropped %d, reports %+v", d.Dropped(), reports)
	}

	// The strict guard refuses loopback, once (a refusal is permanent).
	rec := &receiver{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	g, err := ssrf.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	strict := g.Client(time.Second)
	d = NewDispatcher(Settings{Client: func(apiv1.Channel) *http.Client { return strict }, Backoff: time.Millisecond})
	j.Channel.URL = srv.URL
	del := d.Deliver(context.Background(), j, 5)
	if del.Status != apiv1.DeliveryFailed || del.Attempts != 1 || !strings.Contains(del.Error, "not allowed") {
		t.Fatalf("ssrf: %+v", del)
	}
	if bodies, _ := rec.got(); len(bodies) != 0 {
		t.Fatal("the guarded client reached loopback")
	}
}

func TestBuildRefusesBadChannels(t *testing.T) {
	n := apiv1.Notification{Event: "fired"}
	if _, err := Build(apiv1.Channel{Type: "fax"}, nil, n); err == nil {
		t.Error("unknown type built")
	}
	if _, err := Build(apiv1.Channel{Type: apiv1.ChannelPagerDuty}, nil, n); err == nil {
		t.Error("pagerduty without routing key built")
	}
	m, err := Build(apiv1.Channel{Type: apiv1.ChannelPagerDuty}, []byte("k"), n)
	if err != nil || m[0].URL != apiv1.PagerDutyEventsURL {
		t.Errorf("pagerduty default URL: %v %v", m, err)
	}
}
