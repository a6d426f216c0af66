package loadgen

import (
	"bytes"
	"compress/gzip"
	"testing"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/protobuf/proto"
)

// BenchmarkScrape measures generation cost per datapoint: advancing a
// fleet's processes and building the OTLP protobuf structs.
func BenchmarkScrape(b *testing.B) {
	for _, profile := range []string{ProfileRealistic, ProfileHighCardinality} {
		b.Run(profile, func(b *testing.B) {
			sim := simulate(b, profile, 10, 1, false)
			at := t0
			var dps int
			b.ReportAllocs()
			for b.Loop() {
				at = at.Add(10 * time.Second)
				rms, err := sim.Scrape(at)
				if err != nil {
					b.Fatal(err)
				}
				dps += len(rms) * sim.DatapointsPerProcess()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(dps), "ns/datapoint")
		})
	}
}

// BenchmarkScrapeEncode adds what the HTTP exporter does per request:
// protobuf marshal and gzip.
func BenchmarkScrapeEncode(b *testing.B) {
	sim := simulate(b, ProfileRealistic, 10, 1, false)
	at := t0
	var dps, bytesOut int
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	b.ReportAllocs()
	for b.Loop() {
		at = at.Add(10 * time.Second)
		rms, err := sim.Scrape(at)
		if err != nil {
			b.Fatal(err)
		}
		raw, err := proto.Marshal(&colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: rms})
		if err != nil {
			b.Fatal(err)
		}
		buf.Reset()
		zw.Reset(&buf)
		_, _ = zw.Write(raw)
		_ = zw.Close()
		dps += len(rms) * sim.DatapointsPerProcess()
		bytesOut += buf.Len()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(dps), "ns/datapoint")
	b.ReportMetric(float64(bytesOut)/float64(dps), "gzip-bytes/datapoint")
}
