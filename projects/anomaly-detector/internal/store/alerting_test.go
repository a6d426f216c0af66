package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
)

// TestAlertingTables round-trips rules, silences, channels and deliveries
// on each dialect, with team filters, pages and deletes.
func TestAlertingTables(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for dialect, s := range stores(t) {
		t.Run(dialect, func(t *testing.T) {
			r1 := apiv1.AlertRule{ID: NewObjectID("ar", now), Name: "budget", Team: "team-a", Kind: apiv1.RuleMaxMonthlyCost,
				Severity: apiv1.SeverityCritical, Threshold: 1500.5, PriceModel: "datadog", CreatedAt: now, CreatedBy: "alice"}
			r2 := apiv1.AlertRule{ID: NewObjectID("ar", now.Add(time.Millisecond)), Name: "lost", Team: "team-b", Stream: "s",
				Kind: apiv1.RuleCriticalSignalLost, Severity: apiv1.SeverityHigh, Metric: "up", CreatedAt: now, CreatedBy: "bruno"}
			for _, r := range []apiv1.AlertRule{r1, r2} {
				if err := s.CreateRule(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := s.GetRule(ctx, r1.ID); err != nil || got != r1 {
				t.Fatalf("get rule: %+v %v", got, err)
			}
			all, _ := s.ListRules(ctx, nil, nil, "", 10)
			mine, _ := s.ListRules(ctx, []string{"team-a"}, nil, "", 10)
			none, _ := s.ListRules(ctx, []string{}, nil, "", 10)
			budgets, _ := s.ListRules(ctx, nil, []string{apiv1.RuleMaxActiveSeries, apiv1.RuleMaxMonthlyCost}, "", 10)
			page2, _ := s.ListRules(ctx, nil, nil, r1.ID, 10)
			if len(all) != 2 || len(mine) != 1 || len(none) != 0 || len(budgets) != 1 || len(page2) != 1 || page2[0].ID != r2.ID {
				t.Fatalf("lists: all %d mine %d none %d budgets %d page2 %+v", len(all), len(mine), len(none), len(budgets), page2)
			}
			if err := s.DeleteRule(ctx, r1.ID); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteRule(ctx, r1.ID); !errors.Is(err, database.ErrNotFound) {
				t.Fatalf("second delete: %v", err)
			}

			si := apiv1.Silence{ID: NewObjectID("si", now), Team: "team-a", Stream: "s", StartsAt: now, EndsAt: now.Add(time.Hour),
				Comment: "deploy", CreatedAt: now, CreatedBy: "alice"}
			if err := s.CreateSilence(ctx, si); err != nil {
				t.Fatal(err)
			}
			in, _ := s.ListSilences(ctx, nil, now.Add(time.Minute), "", 10)
			after, _ := s.ListSilences(ctx, nil, now.Add(2*time.Hour), "", 10)
			if len(in) != 1 || in[0] != si || len(after) != 0 {
				t.Fatalf("silences in force: %+v, after: %+v", in, after)
			}
			if err := s.DeleteSilence(ctx, si.ID); err != nil {
				t.Fatal(err)
			}

			ch := SealedChannel{Channel: apiv1.Channel{ID: NewObjectID("ch", now), Name: "hook", Team: "team-a", Type: apiv1.ChannelWebhook,
				URL: "https://example.com/h", Severities: []string{"critical"}, Streams: []string{}, AllowPrivate: true, CreatedAt: now, CreatedBy: "root"},
				Sealed: "v1:abc"}
			if err := s.CreateChannel(ctx, ch); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetChannel(ctx, ch.ID)
			if err != nil || got.Sealed != "v1:abc" || !got.HasSecret || !got.AllowPrivate || len(got.Severities) != 1 || got.Streams == nil {
				t.Fatalf("get channel: %+v %v", got, err)
			}
			d := apiv1.Delivery{AlertID: "al-1", ChannelID: ch.ID, Event: "fired", Status: apiv1.DeliveryPending, Attempts: 1, UpdatedAt: now}
			if err := s.SaveDelivery(ctx, d); err != nil {
				t.Fatal(err)
			}
			d.Status, d.Attempts, d.HTTPStatus = apiv1.DeliveryDelivered, 2, 200
			if err := s.SaveDelivery(ctx, d); err != nil {
				t.Fatal(err)
			}
			ds, err := s.Deliveries(ctx, "al-1")
			if err != nil || len(ds) != 1 || ds[0] != d {
				t.Fatalf("deliveries: %+v %v", ds, err)
			}
			if err := s.DeleteChannel(ctx, ch.ID); err != nil {
				t.Fatal(err)
			}
			if ds, _ := s.Deliveries(ctx, "al-1"); len(ds) != 0 {
				t.Fatalf("deliveries outlive their channel: %+v", ds)
			}
		})
	}
}
