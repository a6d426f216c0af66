package integration

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/phoenix-platform/phoenix/cmd/phoenix/services"
	"github.com/phoenix-platform/phoenix/pkg/app"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

// responderOwner is implemented by services that expose their NATS responder.
type responderOwner interface{ Responder() *service.Responder }

// TestServiceGoesAwayAndComesBack: a service whose NATS responder stops shows
// unreachable in /api/v1/status and /readyz answers 503 within 5 s; when it
// comes back, both recover.
func TestServiceGoesAwayAndComesBack(t *testing.T) {
	cfg := testConfig(t)
	a := startApp(t, cfg)
	base := "http://" + cfg.API.Addr
	tok := token(t, base)

	testutil.Eventually(t, 10*time.Second, func() bool {
		code, _ := get(t, base+"/readyz", "")
		return code == http.StatusOK
	}, "readyz never became 200")

	// Status lists exactly the registered services, each answering: no
	// service that only answers status (the anomaly-detector until issue 16).
	code, body := get(t, base+"/api/v1/status", tok)
	var st statusBody
	if err := json.Unmarshal(body, &st); code != http.StatusOK || err != nil {
		t.Fatalf("status: %d %s", code, body)
	}
	var listed []string
	for _, s := range st.Services {
		listed = append(listed, s.Name)
		if s.Health == service.HealthUnreachable {
			t.Errorf("%s unreachable at start", s.Name)
		}
	}
	if want := app.Names(services.All()); !slices.Equal(listed, want) {
		t.Fatalf("status lists %v, want %v", listed, want)
	}

	svc, ok := a.Service(config.ServiceController).(responderOwner)
	if !ok {
		t.Fatal("the controller does not expose its responder")
	}
	if err := svc.Responder().Stop(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		return health(t, base, tok, config.ServiceController) == service.HealthUnreachable
	}, "status never showed the controller unreachable")
	testutil.Eventually(t, 5*time.Second, func() bool {
		code, _ := get(t, base+"/readyz", "")
		return code == http.StatusServiceUnavailable
	}, "readyz stayed ready with a service gone")

	if err := svc.Responder().Start(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		return health(t, base, tok, config.ServiceController) == service.HealthOK
	}, "status never recovered")
	testutil.Eventually(t, 5*time.Second, func() bool {
		code, _ := get(t, base+"/readyz", "")
		return code == http.StatusOK
	}, "readyz never recovered")
}

// TestMetricsCountStatusRequests: /metrics parses as Prometheus text and its
// request counter for /api/v1/status rises after a call.
func TestMetricsCountStatusRequests(t *testing.T) {
	cfg := testConfig(t)
	startApp(t, cfg)
	base := "http://" + cfg.API.Addr
	tok := token(t, base)

	count := func() float64 {
		code, body := get(t, base+"/metrics", "")
		if code != http.StatusOK {
			t.Fatalf("/metrics answered %d", code)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("/metrics is not Prometheus text: %v", err)
		}
		total := 0.0
		for _, m := range fams["phoenix_http_requests_total"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" && strings.HasSuffix(l.GetValue(), "/api/v1/status") {
					total += m.GetCounter().GetValue()
				}
			}
		}
		return total
	}
	before := count()
	if code, b := get(t, base+"/api/v1/status", tok); code != http.StatusOK {
		t.Fatalf("status: %d %s", code, b)
	}
	if after := count(); after != before+1 {
		t.Fatalf("counter went from %v to %v, want +1", before, after)
	}
}

// TestPostgresAndNATSServer: the same services on PostgreSQL and the local
// NATS server: migrations land in PostgreSQL and every service answers the
// NATS services ping on that server.
func TestPostgresAndNATSServer(t *testing.T) {
	cfg := testConfig(t)
	cfg.DatabaseURL = testutil.FreshPostgres(t)
	cfg.NATSURL = testutil.NATSURL(t)
	// A shared database needs a shared secret-encryption key (never generated per instance).
	t.Setenv("PHOENIX_SECRET_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	a := startApp(t, cfg)
	if a.Settings.Bus.Embedded() {
		t.Fatal("expected the external NATS server")
	}

	db, err := sql.Open("pgx", cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM information_schema.tables WHERE table_name LIKE 'goose_%'`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("no goose version tables in PostgreSQL (%d, %v)", n, err)
	}
	var instances int
	if err := db.QueryRow(`SELECT COUNT(*) FROM phoenix_instances WHERE instance = $1`, a.Settings.Instance).Scan(&instances); err != nil || instances != 1 {
		t.Fatalf("instance not recorded in PostgreSQL (%d, %v)", instances, err)
	}

	nc, err := nats.Connect(cfg.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, name := range cfg.Services {
		if !pingedOnServer(t, nc, name, a.Settings.Instance) {
			t.Errorf("service %s did not answer $SRV.PING on %s", name, cfg.NATSURL)
		}
	}
}

// pingedOnServer collects every answer to $SRV.PING.<name> for a moment and
// looks for this process's instance (other test processes may share the server).
func pingedOnServer(t *testing.T, nc *nats.Conn, name, instance string) bool {
	t.Helper()
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest("$SRV.PING."+name, inbox, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		msg, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			return false
		}
		var p micro.Ping
		if json.Unmarshal(msg.Data, &p) == nil && p.Metadata["instance"] == instance {
			return true
		}
	}
	return false
}

// TestBadConfigExits: each bad configuration exits non-zero with one clear message.
func TestBadConfigExits(t *testing.T) {
	closed := testutil.FreePort(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"server", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{"malformed database URL", []string{"server", "--database-url", "postgres//oops"}, "database_url: malformed URL"},
		{"malformed NATS URL", []string{"server", "--nats-url", "http://127.0.0.1:4222"}, "nats_url: malformed URL"},
		{"unknown service", []string{"server", "--services", "billing"}, `unknown service "billing"`},
		{"unreachable database", []string{"server", "--database-url",
			fmt.Sprintf("postgres://phoenix@127.0.0.1:%d/phoenix?connect_timeout=2", closed)}, "connect to postgres"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, phoenixBin, tt.args...)
			cmd.Env = append(cmd.Environ(), "PHOENIX_DATA_DIR="+t.TempDir(), "PHOENIX_API_ADDR="+testutil.FreeAddr(t))
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("exited 0; output:\n%s", out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Fatalf("output does not say %q:\n%s", tt.want, out)
			}
			if lines := strings.Count(strings.TrimSpace(string(out)), "\n") + 1; lines > 4 {
				t.Errorf("want one clear message, got %d lines:\n%s", lines, out)
			}
		})
	}
}

// TestGracefulShutdown: SIGTERM stops the server with exit 0 within 10 s.
func TestGracefulShutdown(t *testing.T) {
	api := testutil.FreeAddr(t)
	cmd := exec.Command(phoenixBin, "server")
	cmd.Env = append(cmd.Environ(), "PHOENIX_DATA_DIR="+t.TempDir(), "PHOENIX_API_ADDR="+api,
		"PHOENIX_ANALYTICS_OTLP_GRPC_ADDR="+testutil.FreeAddr(t), "PHOENIX_ANALYTICS_OTLP_HTTP_ADDR="+testutil.FreeAddr(t))
	cmd.Env = append(cmd.Env, extraPortEnv(t)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	testutil.Eventually(t, 20*time.Second, func() bool {
		code, _ := get(t, "http://"+api+"/readyz", "")
		return code == http.StatusOK
	}, "server never ready; output:\n%s", &out)
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; output:\n%s", err, out.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15 s after SIGTERM; output:\n%s", out.String())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("shutdown took %s, want under 10 s", d)
	}
}
