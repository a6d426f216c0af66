package server

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cost"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
)

// TestRestShowback: GET /api/v1/cost?by= through the handler, with its
// parameter checks and the team rule.
func TestRestShowback(t *testing.T) {
	catalog, _ := cost.Load("")
	tr := cardinality.New(cardinality.Limits{}, nil)
	b := tr.Batch("s", "team-a")
	body := otlptest.Marshal(otlptest.Request(
		otlptest.RM(append(otlptest.ProcessResource("h1", "nginx", 1), otlptest.KV("service.name", "web")), otlptest.Gauge("g", 1, nil)),
		otlptest.RM(append(otlptest.ProcessResource("h1", "nginx", 2), otlptest.KV("service.name", "web")), otlptest.Gauge("g", 1, nil)),
		otlptest.RM(append(otlptest.ProcessResource("h2", "pg", 3), otlptest.KV("service.name", "db")), otlptest.Gauge("g", 1, nil)),
		otlptest.RM(otlptest.ProcessResource("h2", "cron", 4), otlptest.Gauge("g", 1, nil)),
	))
	if err := otlpwire.Walk(body, b); err != nil {
		t.Fatal(err)
	}
	b.Done()
	s := &Service{catalog: catalog, tracker: tr, cfg: DefaultConfig()}
	tests := []struct {
		query   string
		other   bool
		wantErr string
		groups  string // value:series,...
	}{
		{query: "stream=s&by=service.name", groups: "web:2,db:1,(none):1"},
		{query: "stream=s&by=service.name&top=1&model=datadog", groups: "web:2,(other):1,(none):1"},
		{query: "stream=s&by=host.name", groups: "h1:2,h2:2"},
		{query: "stream=s", groups: ""},
		{query: "stream=s&by=service.name", other: true, wantErr: "not found"},
		{query: "stream=s&by=service.name&top=0", wantErr: "invalid top"},
		{query: "stream=s&by=service.name&top=501", wantErr: "invalid top"},
		{query: "stream=s&by=" + strings.Repeat("x", 257), wantErr: "invalid by"},
		{query: "stream=s&by=service.name&model=cheap", wantErr: "unknown price model"},
	}
	for _, tt := range tests {
		t.Run(tt.query[:min(len(tt.query), 60)], func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			p := apiv1.Principal{Kind: "user", Subject: "u", Teams: []string{"team-a"}}
			if tt.other {
				p.Teams = []string{"team-b"}
			}
			out, err := s.restCost(context.Background(), &apiv1.Request{Query: q, Principal: p})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rep := out.(apiv1.CostReport)
			if tt.groups == "" {
				if rep.Showback != nil {
					t.Fatalf("showback without by: %+v", rep.Showback)
				}
				return
			}
			var got []string
			for _, g := range rep.Showback.Groups {
				got = append(got, g.Value+":"+strconv.FormatInt(g.Series, 10))
			}
			if strings.Join(got, ",") != tt.groups || !rep.Showback.Exact {
				t.Fatalf("groups %v (exact %v), want %s", got, rep.Showback.Exact, tt.groups)
			}
		})
	}
}
