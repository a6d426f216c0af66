// Command apibench drives the real platform-api, in process on a free port
// with embedded NATS and SQLite, at a fixed request rate for a read route
// (GET /api/v1/status) and a write route (create, then revoke, an API key),
// as a principal whose rate limit is raised for the run. It prints p50/p99
// and the count of non-2xx answers, and exits non-zero when p99 is over the
// target or any request failed. `make bench-api` runs it.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/app"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/service"
	platformapi "github.com/phoenix-platform/phoenix/projects/platform-api"
)

func main() { os.Exit(run()) }

type options struct {
	rate     int
	duration time.Duration
	warmup   time.Duration
	p99      time.Duration
	workers  int
}

func run() int {
	var o options
	flag.IntVar(&o.rate, "rate", 1000, "requests per second")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured duration of each phase")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each phase")
	flag.DurationVar(&o.p99, "p99", 10*time.Millisecond, "fail when p99 latency exceeds this")
	flag.IntVar(&o.workers, "workers", 128, "concurrent client connections")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	only := flag.String("phase", "", "run only this phase: read or write")
	readPath := flag.String("read-path", "/api/v1/status", "GET route of the read phase (e.g. /api/v1/auth/me: the security layers without the status fan-out)")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}

	dir, err := os.MkdirTemp("", "apibench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	password := "bench-" + randHex(12)
	cfg := config.DefaultServer()
	cfg.DataDir = dir
	cfg.Services = []string{config.ServicePlatformAPI}
	cfg.API.Addr = "127.0.0.1:0"
	cfg.Auth.BootstrapAdminPassword = password
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.Start(context.Background(), &cfg, logger, []service.Registration{platformapi.Registration()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "error: start platform-api:", err)
		return 1
	}
	defer a.Stop()
	addr := a.Service(config.ServicePlatformAPI).(interface{ Addr() string }).Addr()
	base := "http://" + addr
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.workers, MaxIdleConns: o.workers}}

	// The benchmark principal: an admin API key with a raised rate limit.
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := call(client, "POST", base+"/api/v1/auth/login", "", map[string]string{"username": "admin", "password": password}, &tok); err != nil {
		fmt.Fprintln(os.Stderr, "error: login:", err)
		return 1
	}
	var key struct {
		Key string `json:"key"`
	}
	if err := call(client, "POST", base+"/api/v1/apikeys", tok.AccessToken, map[string]any{
		"name": "apibench", "role": "admin", "scopes": []string{"read", "write", "admin"}, "rate_limit_per_minute": 1_000_000,
	}, &key); err != nil {
		fmt.Fprintln(os.Stderr, "error: create benchmark key:", err)
		return 1
	}

	fmt.Printf("platform-api benchmark: %d req/s, %s per phase after %s warm-up, %d connections\n", o.rate, o.duration, o.warmup, o.workers)
	fmt.Printf("cpu: %s (%d logical CPUs, GOMAXPROCS %d), go %s\n", cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	failed := false
	read := func(int) (string, string, any) { return "GET", *readPath, nil }
	// Write: even requests create a key, odd ones revoke the key created by
	// the previous one (ids travel through a bounded channel).
	ids := make(chan string, o.rate*int(o.duration/time.Second+o.warmup/time.Second+2))
	write := func(i int) (string, string, any) {
		if i%2 == 0 {
			return "POST", "/api/v1/apikeys", map[string]any{"name": "bench-" + fmt.Sprint(i), "role": "viewer", "scopes": []string{"read"}}
		}
		select {
		case id := <-ids:
			return "DELETE", "/api/v1/apikeys/" + id, nil
		default:
			return "POST", "/api/v1/apikeys", map[string]any{"name": "bench-" + fmt.Sprint(i), "role": "viewer", "scopes": []string{"read"}}
		}
	}
	onWrite := func(method string, body []byte) {
		if method != "POST" {
			return
		}
		var k struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(body, &k) == nil && k.ID != "" {
			select {
			case ids <- k.ID:
			default:
			}
		}
	}
	for _, ph := range []struct {
		name  string
		next  func(int) (string, string, any)
		after func(string, []byte)
	}{
		{"read  GET " + *readPath, read, nil},
		{"write POST+DELETE /api/v1/apikeys", write, onWrite},
	} {
		if *only != "" && !strings.HasPrefix(ph.name, *only) {
			continue
		}
		if o.warmup > 0 {
			drive(client, base, key.Key, o, o.warmup, ph.next, ph.after)
		}
		r := drive(client, base, key.Key, o, o.duration, ph.next, ph.after)
		ok := r.p99 <= o.p99 && r.non2xx == 0 && r.errors == 0
		failed = failed || !ok
		verdict := "PASS"
		if !ok {
			verdict = "FAIL"
		}
		fmt.Printf("%-36s requests=%d achieved=%.0f/s p50=%s p90=%s p99=%s max=%s non2xx=%d errors=%d %s\n",
			ph.name, r.n, r.achieved, ms(r.p50), ms(r.p90), ms(r.p99), ms(r.max), r.non2xx, r.errors, verdict)
		for code, n := range r.codes {
			if code/100 != 2 {
				fmt.Printf("    status %d: %d\n", code, n)
			}
		}
	}
	if failed {
		fmt.Printf("FAIL: p99 over %s or failed requests\n", o.p99)
		return 1
	}
	return 0
}

type result struct {
	n                  int
	achieved           float64
	p50, p90, p99, max time.Duration
	non2xx, errors     int
	codes              map[int]int
}

// drive sends requests on a fixed schedule (open loop): latency counts from
// each request's scheduled time, so a slow server cannot hide queueing by
// slowing the client down (no coordinated omission).
func drive(client *http.Client, base, token string, o options, d time.Duration,
	next func(int) (string, string, any), after func(string, []byte)) result {
	total := int(d.Seconds() * float64(o.rate))
	lat := make([]time.Duration, total)
	interval := time.Second / time.Duration(o.rate)
	type job struct {
		i    int
		due  time.Time
		m, p string
		body any
	}
	jobs := make(chan job, total)
	var non2xx, errs atomic.Int64
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range o.workers {
		wg.Go(func() {
			for j := range jobs {
				var rd io.Reader
				if j.body != nil {
					b, _ := json.Marshal(j.body)
					rd = bytes.NewReader(b)
				}
				req, _ := http.NewRequest(j.m, base+j.p, rd)
				req.Header.Set("Authorization", "Bearer "+token)
				if rd != nil {
					req.Header.Set("Content-Type", "application/json")
				}
				res, err := client.Do(req)
				if err != nil {
					errs.Add(1)
					lat[j.i] = time.Since(j.due)
					continue
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				lat[j.i] = time.Since(j.due)
				if res.StatusCode/100 != 2 {
					non2xx.Add(1)
				}
				mu.Lock()
				codes[res.StatusCode]++
				mu.Unlock()
				if after != nil && res.StatusCode/100 == 2 {
					after(j.m, body)
				}
			}
		})
	}
	start := time.Now()
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		m, p, b := next(i)
		jobs <- job{i: i, due: due, m: m, p: p, body: b}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	q := func(f float64) time.Duration { return lat[min(len(lat)-1, int(f*float64(len(lat))))] }
	return result{n: total, achieved: float64(total) / elapsed.Seconds(), p50: q(0.50), p90: q(0.90), p99: q(0.99), max: lat[len(lat)-1],
		non2xx: int(non2xx.Load()), errors: int(errs.Load()), codes: codes}
}

func call(c *http.Client, method, url, token string, body, out any) error {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, url, res.StatusCode, data)
	}
	return json.Unmarshal(data, out)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// cpuModel reads the CPU model name, for the record in docs/benchmarks.md.
func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown (" + runtime.GOARCH + ")"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown (" + runtime.GOARCH + ")"
}
