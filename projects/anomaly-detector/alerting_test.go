package anomalydetector

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
	"github.com/phoenix-platform/phoenix/projects/anomaly-detector/internal/notify"
)

var viewerA = apiv1.Principal{Subject: "vera", Kind: "user", Role: "viewer", Teams: []string{"team-a"}}

// do sends a gateway-style request with a body and returns the status and
// the raw answer (a problem's status on error).
func (e *env) do(op string, p apiv1.Principal, params map[string]string, body any, out any) int {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := apiv1.Request{Principal: p, Params: params}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		req.Body = b
	}
	st, raw, err := e.bus.RequestRaw(ctx, apiv1.Subject(config.ServiceAnomalyDetector, op), req)
	if err != nil {
		if s := statusOf(err); s != 0 {
			return s
		}
		e.t.Fatalf("%s: %v", op, err)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("decode %s: %v: %s", op, err, raw)
		}
	}
	if st == 0 {
		st = 200
	}
	return st
}

// webhook is a local receiver that checks every post's signature.
type webhook struct {
	t      *testing.T
	secret []byte
	mu     sync.Mutex
	got    []apiv1.Notification
	bad    int
}

func (w *webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !notify.Verify(w.secret, b, r.Header.Get(notify.SignatureHeader)) {
		w.bad++
		rw.WriteHeader(http.StatusUnauthorized)
		return
	}
	var n apiv1.Notification
	if err := json.Unmarshal(b, &n); err != nil {
		w.bad++
		rw.WriteHeader(http.StatusBadRequest)
		return
	}
	w.got = append(w.got, n)
}

func (w *webhook) events() []apiv1.Notification {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]apiv1.Notification{}, w.got...)
}

func TestAlertingRBACAndValidation(t *testing.T) {
	e := newEnv(t, nil)
	rule := apiv1.AlertRuleInput{Name: "series budget", Stream: "checkout", Kind: apiv1.RuleMaxActiveSeries, Threshold: 10_000}
	if st := e.do("createAlertRule", viewerA, nil, rule, nil); st != 403 {
		t.Fatalf("viewer created a rule: %d", st)
	}
	var r apiv1.AlertRule
	if st := e.do("createAlertRule", teamA, nil, rule, &r); st != 201 || r.Team != "team-a" || r.Severity != apiv1.SeverityHigh || r.CreatedBy != "alice" {
		t.Fatalf("create: %d %+v", st, r)
	}
	if st := e.do("getAlertRule", viewerA, map[string]string{"id": r.ID}, nil, nil); st != 200 {
		t.Fatalf("viewer of the team cannot read: %d", st)
	}
	for _, op := range []string{"getAlertRule", "deleteAlertRule"} {
		if st := e.do(op, teamB, map[string]string{"id": r.ID}, nil, nil); st != 404 {
			t.Fatalf("%s by another team: %d", op, st)
		}
	}
	var l apiv1.List[apiv1.AlertRule]
	if e.do("listAlertRules", teamB, nil, nil, &l); len(l.Items) != 0 {
		t.Fatalf("team b lists %d rules", len(l.Items))
	}

	// Every problem at once.
	var p struct {
		Errors []struct{ Path string } `json:"errors"`
	}
	bad := apiv1.AlertRuleInput{Kind: "nope", Stream: "bad stream!", Severity: "urgent"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	body, _ := json.Marshal(bad)
	_, raw, err := e.bus.RequestRaw(ctx, apiv1.Subject(config.ServiceAnomalyDetector, "createAlertRule"), apiv1.Request{Principal: teamA, Body: body})
	if statusOf(err) != 400 {
		t.Fatalf("bad rule: %v %s", err, raw)
	}
	_ = json.Unmarshal(raw, &p)
	for _, tc := range []struct {
		in   apiv1.AlertRuleInput
		path string
	}{
		{apiv1.AlertRuleInput{Name: "x", Kind: apiv1.RuleMaxMonthlyCost, Threshold: 5}, "price_model"},
		{apiv1.AlertRuleInput{Name: "x", Kind: apiv1.RuleDetectorSeverity, Threshold: 2, Signal: "active_series"}, "threshold"},
		{apiv1.AlertRuleInput{Name: "x", Kind: apiv1.RuleDetectorSeverity, Threshold: 0.5, Signal: "cpu"}, "signal"},
		{apiv1.AlertRuleInput{Name: "x", Kind: apiv1.RuleCriticalSignalLost}, "metric"},
		{apiv1.AlertRuleInput{Name: "x", Kind: apiv1.RuleChurn}, "threshold"},
		{apiv1.AlertRuleInput{Name: "", Kind: "nope", Stream: "bad stream!", Severity: "urgent"}, "name,kind,stream,severity"},
	} {
		errs := validateRule(tc.in)
		var paths []string
		for _, fe := range errs {
			paths = append(paths, fe.Path)
		}
		for _, want := range strings.Split(tc.path, ",") {
			if !strings.Contains(strings.Join(paths, ","), want) {
				t.Errorf("%+v: errors %v lack %s", tc.in, paths, want)
			}
		}
	}

	// Channels: allow_private is for admins; secrets never come back.
	ch := apiv1.ChannelInput{Name: "hook", Type: apiv1.ChannelWebhook, URL: "http://127.0.0.1:9/x", Secret: "k", AllowPrivate: true}
	if st := e.do("createChannel", teamA, nil, ch, nil); st != 403 {
		t.Fatalf("operator set allow_private: %d", st)
	}
	var c apiv1.Channel
	var rawC json.RawMessage
	if st := e.do("createChannel", admin, nil, ch, &rawC); st != 201 || json.Unmarshal(rawC, &c) != nil || !c.HasSecret || strings.Contains(string(rawC), `"k"`) {
		t.Fatalf("admin create channel: %d %s", st, rawC)
	}
	if st := e.do("createChannel", teamA, nil, apiv1.ChannelInput{Name: "x", Type: "fax", URL: "ftp://x"}, nil); st != 400 {
		t.Fatalf("bad channel: %d", st)
	}
	if st := e.do("createSilence", teamA, nil, apiv1.SilenceInput{Stream: "checkout"}, nil); st != 400 {
		t.Fatalf("silence without an end: %d", st)
	}
	if st := e.do("createSilence", viewerA, nil, apiv1.SilenceInput{Duration: "1h"}, nil); st != 403 {
		t.Fatalf("viewer created a silence: %d", st)
	}
}

// TestRuleNotifiesSilencesAndResolves: a budget rule fires on the rollup
// that crosses it, a signed webhook receives fired, acknowledged and
// resolved; a silence mutes the next alert's notifications but records it;
// deliveries are visible per alert.
func TestRuleNotifiesSilencesAndResolves(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.NotifyBackoff = 10 * time.Millisecond; c.ResolveWindows = 2 })
	hook := &webhook{t: t, secret: []byte("hook-secret")}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	var ch apiv1.Channel
	if st := e.do("createChannel", admin, nil, apiv1.ChannelInput{Name: "hook", Type: apiv1.ChannelWebhook, URL: srv.URL,
		Secret: "hook-secret", Severities: []string{apiv1.SeverityCritical}, AllowPrivate: true}, &ch); st != 201 {
		t.Fatalf("channel: %d", st)
	}
	// An admin in no team creates under the default team: give it team-a.
	if ch.Team != apiv1.DefaultTeam {
		t.Fatalf("channel team %q", ch.Team)
	}
	if st := e.do("deleteChannel", admin, map[string]string{"id": ch.ID}, nil, nil); st != 204 {
		t.Fatalf("delete channel: %d", st)
	}
	admA := admin
	admA.Teams = []string{"team-a"}
	e.do("createChannel", admA, nil, apiv1.ChannelInput{Name: "hook", Type: apiv1.ChannelWebhook, URL: srv.URL,
		Secret: "hook-secret", Severities: []string{apiv1.SeverityCritical}, AllowPrivate: true}, &ch)
	var del apiv1.Delivery
	if st := e.do("testChannel", teamA, map[string]string{"id": ch.ID}, nil, &del); st != 200 || del.Status != apiv1.DeliveryDelivered {
		t.Fatalf("test channel: %d %+v", st, del)
	}

	var r apiv1.AlertRule
	if st := e.do("createAlertRule", teamA, nil, apiv1.AlertRuleInput{Name: "budget", Kind: apiv1.RuleMaxActiveSeries,
		Severity: apiv1.SeverityCritical, Threshold: 10_000}, &r); st != 201 || r.Stream != "" {
		t.Fatalf("global rule: %d %+v", st, r)
	}
	e.breakdown(apiv1.CardinalityReport{Stream: "orders", Team: "team-a", ActiveSeries: 9_000})
	e.feed("orders", 9_000, 9_000, 10_500)
	got := e.alerts(teamA, url.Values{"rule_id": {r.ID}})
	if len(got) != 1 || got[0].Rule != apiv1.RuleMaxActiveSeries || got[0].Severity != apiv1.SeverityCritical || got[0].Group != "orders/max_active_series" ||
		!strings.Contains(got[0].Summary, "10500") {
		t.Fatalf("alerts %+v", got)
	}
	a := got[0]
	// Hovering just under the threshold (inside the 10 % band) keeps it.
	e.feed("orders", 9_800, 9_900, 9_700, 10_100, 9_600)
	if got := e.alerts(teamA, url.Values{"rule_id": {r.ID}}); len(got) != 1 || got[0].State != apiv1.AlertFiring {
		t.Fatalf("hovering: %+v", got)
	}
	if st := e.do("acknowledgeAlert", viewerA, map[string]string{"id": a.ID}, nil, nil); st != 403 {
		t.Fatalf("viewer acknowledged: %d", st)
	}
	e.do("acknowledgeAlert", teamA, map[string]string{"id": a.ID}, nil, nil)
	e.feed("orders", 8_000, 8_000)
	if got := e.alerts(teamA, url.Values{"rule_id": {r.ID}}); got[0].State != apiv1.AlertResolved || got[0].ResolvedBy != ResolvedByAuto {
		t.Fatalf("not resolved: %+v", got[0])
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return len(hook.events()) >= 4 }, "webhook got %d events", len(hook.events()))
	evs := hook.events()
	var kinds []string
	for _, n := range evs[1:] {
		kinds = append(kinds, n.Event)
		if n.Alert.ID != a.ID {
			t.Fatalf("event of %s", n.Alert.ID)
		}
	}
	if evs[0].Event != "test" || strings.Join(kinds, ",") != "fired,acknowledged,resolved" || hook.bad != 0 {
		t.Fatalf("events %v (bad signatures %d)", kinds, hook.bad)
	}
	var ds apiv1.List[apiv1.Delivery]
	e.do("listAlertDeliveries", viewerA, map[string]string{"id": a.ID}, nil, &ds)
	if len(ds.Items) != 3 || ds.Items[0].Status != apiv1.DeliveryDelivered {
		t.Fatalf("deliveries %+v", ds.Items)
	}

	// Silenced: recorded, not sent.
	var si apiv1.Silence
	if st := e.do("createSilence", teamA, nil, apiv1.SilenceInput{Stream: "orders", Rule: r.ID, Duration: "1h"}, &si); st != 201 {
		t.Fatalf("silence: %d", st)
	}
	e.feed("orders", 12_000)
	got = e.alerts(teamA, url.Values{"rule_id": {r.ID}, "state": {"firing"}})
	if len(got) != 1 || got[0].SilencedBy != si.ID {
		t.Fatalf("silenced alert: %+v", got)
	}
	e.do("listAlertDeliveries", teamA, map[string]string{"id": got[0].ID}, nil, &ds)
	if len(ds.Items) != 1 || ds.Items[0].Status != apiv1.DeliverySilenced {
		t.Fatalf("silenced deliveries %+v", ds.Items)
	}
	if n := len(hook.events()); n != 4 {
		t.Fatalf("silenced alert was sent: %d events", n)
	}

	// Another team sees none of it.
	for _, c := range []struct{ op, id string }{{"getChannel", ch.ID}, {"testChannel", ch.ID}, {"deleteChannel", ch.ID},
		{"deleteSilence", si.ID}, {"listAlertDeliveries", a.ID}, {"getAlertRule", r.ID}} {
		if st := e.do(c.op, teamB, map[string]string{"id": c.id}, nil, nil); st != 404 {
			t.Errorf("%s by another team: %d", c.op, st)
		}
	}

	// Budgets show the rule with the value it last saw.
	var bs apiv1.List[apiv1.Budget]
	e.do("listBudgets", viewerA, nil, nil, &bs)
	if len(bs.Items) != 1 || len(bs.Items[0].Streams) != 1 || bs.Items[0].Streams[0].Value != 12_000 || !bs.Items[0].Streams[0].Exceeded {
		t.Fatalf("budgets %+v", bs.Items)
	}
	// Deleting the rule resolves its open alert.
	if st := e.do("deleteAlertRule", teamA, map[string]string{"id": r.ID}, nil, nil); st != 204 {
		t.Fatalf("delete rule: %d", st)
	}
	if got := e.alerts(teamA, url.Values{"state": {"firing"}, "rule_id": {r.ID}}); len(got) != 0 {
		t.Fatalf("open after rule deleted: %+v", got)
	}
}
