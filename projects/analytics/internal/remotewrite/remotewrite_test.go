package remotewrite_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/remotewrite"
)

type sink struct {
	series, samples int
	hashes          map[string]map[uint64]bool
}

func (s *sink) Series(name []byte, h uint64, _ float64, _ []byte, n int) {
	s.series++
	s.samples += n
	if s.hashes == nil {
		s.hashes = map[string]map[uint64]bool{}
	}
	if s.hashes[string(name)] == nil {
		s.hashes[string(name)] = map[uint64]bool{}
	}
	s.hashes[string(name)][h] = true
}

type rw = otlptest.RWSeries

func TestValidate(t *testing.T) {
	cases := []struct {
		name    string
		body    []byte
		wantErr string
	}{
		{"ok", otlptest.RemoteWrite(rw{Labels: [][2]string{{"__name__", "up"}, {"job", "a"}}, Samples: []float64{1, 2}}), ""},
		{"unsorted ok", otlptest.RemoteWrite(rw{Labels: [][2]string{{"job", "a"}, {"__name__", "up"}}, Samples: []float64{1}}), ""},
		{"no name", otlptest.RemoteWrite(rw{Labels: [][2]string{{"job", "a"}}, Samples: []float64{1}}), "missing __name__"},
		{"duplicate", otlptest.RemoteWrite(rw{Labels: [][2]string{{"__name__", "up"}, {"job", "a"}, {"job", "b"}}, Samples: []float64{1}}), "duplicate label"},
		{"empty label name", otlptest.RemoteWrite(rw{Labels: [][2]string{{"__name__", "up"}, {"", "a"}}, Samples: []float64{1}}), "empty label name"},
		{"no samples", otlptest.RemoteWrite(rw{Labels: [][2]string{{"__name__", "up"}}}), "no samples"},
		{"bad utf8", otlptest.RemoteWrite(rw{Labels: [][2]string{{"__name__", "up"}, {"job", "\xff"}}, Samples: []float64{1}}), "UTF-8"},
		{"truncated", []byte{0x0a, 0x09, 0x0a}, "timeseries"},
	}
	lbl := func(n int) [][2]string {
		out := [][2]string{{"__name__", "up"}}
		for i := range n {
			out = append(out, [2]string{fmt.Sprintf("l%d", i), "v"})
		}
		return out
	}
	cases = append(cases, []struct {
		name    string
		body    []byte
		wantErr string
	}{
		{"name at the limit", otlptest.RemoteWrite(rw{Labels: [][2]string{{"__name__", strings.Repeat("n", 256)}}, Samples: []float64{1}}), ""},
		{"name over", otlptest.RemoteWrite(rw{Labels: [][2]string{{"job", "a"}, {"__name__", strings.Repeat("n", 257)}}, Samples: []float64{1}}), "metric name of 257 bytes exceeds the limit of 256"},
		{"name 1 MiB", otlptest.RemoteWrite(rw{Labels: [][2]string{{"__name__", strings.Repeat("n", 1<<20)}}, Samples: []float64{1}}), "metric name of 1048576 bytes"},
		{"label name over", otlptest.RemoteWrite(rw{Labels: [][2]string{{"__name__", "up"}, {strings.Repeat("k", 257), "a"}}, Samples: []float64{1}}), "label name of 257 bytes"},
		{"label value at the limit", otlptest.RemoteWrite(rw{Labels: [][2]string{{"__name__", "up"}, {"k", strings.Repeat("v", 4096)}}, Samples: []float64{1}}), ""},
		{"label value over", otlptest.RemoteWrite(rw{Labels: [][2]string{{"__name__", "up"}, {"k", strings.Repeat("v", 4097)}}, Samples: []float64{1}}), "label value of 4097 bytes exceeds the limit of 4096"},
		{"labels at the limit", otlptest.RemoteWrite(rw{Labels: lbl(128), Samples: []float64{1}}), ""},
		{"labels over", otlptest.RemoteWrite(rw{Labels: lbl(129), Samples: []float64{1}}), "129 labels besides __name__ exceed the limit of 128"},
		{"10000 labels", otlptest.RemoteWrite(rw{Labels: lbl(10_000), Samples: []float64{1}}), "exceed the limit of 128"},
	}...)
	for _, c := range cases {
		_, _, err := remotewrite.Validate(c.body)
		if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%s: err %v, want %q", c.name, err, c.wantErr)
		}
		var le *remotewrite.LimitError
		if strings.Contains(c.wantErr, "limit") && (!errors.As(err, &le) || !errors.Is(err, remotewrite.ErrInvalid) || len(err.Error()) > 400) {
			t.Errorf("%s: %v is not a short LimitError", c.name, err)
		}
	}
}

func TestWalkOrderIndependent(t *testing.T) {
	body := otlptest.RemoteWrite(
		rw{Labels: [][2]string{{"__name__", "up"}, {"job", "a"}, {"instance", "x"}}, Samples: []float64{1, 2}},
		rw{Labels: [][2]string{{"instance", "x"}, {"__name__", "up"}, {"job", "a"}}, Samples: []float64{3}},
	)
	var s sink
	remotewrite.Walk(body, &s)
	if s.series != 2 || s.samples != 3 || len(s.hashes["up"]) != 1 {
		t.Fatalf("series %d samples %d distinct %d", s.series, s.samples, len(s.hashes["up"]))
	}
	ts, _ := protowire.ConsumeBytes(body[1:])
	attrs := remotewrite.Labels(nil, ts)
	if len(attrs) != 2 {
		t.Errorf("labels: %+v", attrs)
	}
	var sum uint64
	for _, a := range attrs {
		sum += a.Hash
	}
	for h := range s.hashes["up"] {
		if h != sum {
			t.Error("Labels hashes disagree with Walk")
		}
	}
}

// FuzzRemoteWrite: no panics; what Validate accepts Walk reads with the same
// series and sample counts.
func FuzzRemoteWrite(f *testing.F) {
	f.Add(otlptest.RemoteWrite(rw{Labels: [][2]string{{"__name__", "up"}, {"job", "a"}}, Samples: []float64{1, 2}}))
	f.Add(otlptest.RemoteWrite(rw{Labels: [][2]string{{"job", "a"}}, Samples: []float64{1}}))
	f.Fuzz(func(t *testing.T, body []byte) {
		series, samples, err := remotewrite.Validate(body)
		if err != nil {
			return
		}
		var s sink
		remotewrite.Walk(body, &s)
		if s.series != series || s.samples != samples {
			t.Fatalf("walk %d/%d, validate %d/%d", s.series, s.samples, series, samples)
		}
	})
}
