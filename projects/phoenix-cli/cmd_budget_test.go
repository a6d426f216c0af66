package phoenixcli

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBudgetAndDeliveries: budget list prints each stream's last value
// and "unknown" for a rule not yet evaluated; alert deliveries prints
// each channel's status.
func TestBudgetAndDeliveries(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/budgets":
			_, _ = w.Write([]byte(`{"items":[
{"rule":{"id":"ar-1","name":"series","team":"red","kind":"max_active_series","severity":"high","threshold":1000,"created_at":"2026-12-07T12:00:00Z","created_by":"otto"},
 "streams":[{"stream":"web","value":1250,"used":1.25,"exceeded":true,"evaluated_at":"2026-12-07T12:00:10Z"}]},
{"rule":{"id":"ar-2","name":"cost","team":"red","kind":"max_monthly_cost","severity":"low","threshold":50,"created_at":"2026-12-07T12:00:00Z","created_by":"otto"},
 "streams":[]}],"next_cursor":null}`))
		case "/api/v1/alerts/al-1/deliveries":
			_, _ = w.Write([]byte(`{"items":[{"alert_id":"al-1","channel_id":"ch-1","event":"fired","status":"failed","attempts":5,"http_status":503,"error":"503 from receiver","updated_at":"2026-12-07T12:00:00Z"}]}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"status":404,"title":"Not Found"}`))
		}
	}))
	t.Cleanup(srv.Close)
	t.Setenv("PHOENIX_TOKEN", "tok")
	api := "--api-url=" + srv.URL

	out, _, err := runCLI(t, "budget", "list", api)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ar-1", "web", "1250", "125%", "true", "ar-2", "unknown"} {
		if !strings.Contains(out, want) {
			t.Errorf("budget list lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runCLI(t, "alert", "deliveries", "al-1", api)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ch-1", "fired", "failed", "5", "503", "503 from receiver"} {
		if !strings.Contains(out, want) {
			t.Errorf("alert deliveries lacks %q:\n%s", want, out)
		}
	}
	if _, _, err := runCLI(t, "alert", "deliveries", "nope", api); err == nil {
		t.Error("deliveries of an unknown alert: no error")
	}
}
