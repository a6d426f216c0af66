package selfmetrics

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func TestCreate(t *testing.T) {
	tests := []struct {
		name    string
		names   []string
		wantErr string
	}{
		{name: "valid", names: []string{"otelcol_a_total", "otelcol_b_total"}},
		{name: "one invalid name", names: []string{"otelcol_a_total", "1 bad"}, wantErr: "create self-metrics"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reader := sdkmetric.NewManualReader()
			set := componenttest.NewNopTelemetrySettings()
			set.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
			dst := make([]metric.Int64Counter, len(tt.names))
			var cs []Counter
			for i, n := range tt.names {
				cs = append(cs, Counter{Dst: &dst[i], Name: n, Description: "d", Unit: "{x}"})
			}
			err := Create(set, "scope", cs...)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			for i := range dst {
				dst[i].Add(context.Background(), int64(i+1))
			}
			var rm metricdata.ResourceMetrics
			require.NoError(t, reader.Collect(context.Background(), &rm))
			got := map[string]int64{}
			for _, sm := range rm.ScopeMetrics {
				require.Equal(t, "scope", sm.Scope.Name)
				for _, m := range sm.Metrics {
					got[m.Name] = m.Data.(metricdata.Sum[int64]).DataPoints[0].Value
				}
			}
			require.Equal(t, map[string]int64{"otelcol_a_total": 1, "otelcol_b_total": 2}, got)
		})
	}
}
