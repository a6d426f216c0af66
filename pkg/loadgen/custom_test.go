package loadgen

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/protobuf/proto"
)

// TestCustomBad runs every testdata/*.bad.yaml; each names the errors it
// must produce in leading "# error: ..." lines.
func TestCustomBad(t *testing.T) {
	files, err := filepath.Glob("testdata/*.bad.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.bad.yaml: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			sc := bufio.NewScanner(bytes.NewReader(raw))
			for sc.Scan() {
				if rest, ok := strings.CutPrefix(sc.Text(), "# error: "); ok {
					want = append(want, rest)
				}
			}
			if len(want) == 0 {
				t.Fatal("file has no '# error:' line")
			}
			_, err = ParseCustom(raw)
			if err == nil {
				t.Fatal("parsed without error")
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestCustomGood(t *testing.T) {
	raw, err := os.ReadFile("testdata/custom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseCustom(raw)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "consumers" || p.PerHost() != 15 || len(p.Processes) != 2 {
		t.Fatalf("parsed %+v", p)
	}
	job := p.Processes[1]
	if job.Lifetime != 70*time.Second || job.CPU != Spiky || job.Memory != Random || job.Path != "/usr/bin/reindex" || job.Owner != "root" {
		t.Errorf("defaults or fields wrong: %+v", job)
	}
	sim, err := New(Config{Profile: p, Hosts: 2, Seed: 1, Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	rms, err := sim.Scrape(t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rms) != 30 {
		t.Fatalf("got %d processes, want 2 hosts x 15", len(rms))
	}
	names := map[string]bool{}
	for _, rm := range rms {
		for _, kv := range rm.Resource.Attributes {
			if kv.Key == "process.executable.name" {
				names[kv.Value.GetStringValue()] = true
			}
		}
	}
	if !names["consumer-0"] || !names["consumer-11"] || !names["reindex"] {
		t.Errorf("names %v: want the {i} template expanded", names)
	}
}

// FuzzParseCustom: any input either fails with an error or yields a profile
// a simulation accepts and can scrape.
func FuzzParseCustom(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseCustom(data)
		if err != nil {
			if p != nil {
				t.Fatal("profile returned with an error")
			}
			return
		}
		if p.PerHost() < 1 || p.PerHost() > MaxProcessesPerHost {
			t.Fatalf("accepted %d processes per host", p.PerHost())
		}
		for _, s := range p.Processes {
			if !s.CPU.valid() || !s.Memory.valid() || s.Name == "" || s.Lifetime < 0 {
				t.Fatalf("accepted invalid spec %+v", s)
			}
		}
		if p.PerHost() > 300 {
			return // valid, but too big to scrape on every fuzz input
		}
		sim, err := New(Config{Profile: p, Hosts: 1, Seed: 1, Start: t0})
		if err != nil {
			t.Fatalf("valid profile rejected: %v", err)
		}
		rms, err := sim.Scrape(t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		// Whatever the names, the output must encode (OTLP strings are UTF-8).
		if _, err := proto.Marshal(&colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: rms}); err != nil {
			t.Fatalf("output does not encode: %v", err)
		}
	})
}

// TestNonASCIINamesStayValid: the 15-byte /proc name cut never splits a
// UTF-8 sequence (OTLP strings must be valid UTF-8).
func TestNonASCIINamesStayValid(t *testing.T) {
	p, err := ParseCustom([]byte("processes:\n  - {name: \"abcdefghijklmnä-dienst\", count: 2, cpu: steady, memory: steady}\n"))
	if err != nil {
		t.Fatal(err)
	}
	sim, err := New(Config{Profile: p, Hosts: 1, Seed: 1, Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	rms, err := sim.Scrape(t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range rms[0].Resource.Attributes {
		if kv.Key == "process.executable.name" {
			if v := kv.Value.GetStringValue(); v != "abcdefghijklmn" {
				t.Errorf("name %q, want the first 15 bytes without a split rune: %q", v, "abcdefghijklmn")
			}
		}
	}
	if _, err := proto.Marshal(&colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: rms}); err != nil {
		t.Fatal(err)
	}
}
