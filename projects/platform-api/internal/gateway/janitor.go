package gateway

import (
	"context"
	"time"
)

// janitorEvery paces the pruning of old audit entries, sessions and keys.
const janitorEvery = time.Hour

// janitor bounds the gateway's tables: audit entries live auth.audit_retention,
// dead sessions and retired signing keys a day (kept briefly for forensics).
type janitor struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (g *Gateway) startJanitor() *janitor {
	ctx, cancel := context.WithCancel(context.Background())
	j := &janitor{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(j.done)
		t := time.NewTicker(janitorEvery)
		defer t.Stop()
		for {
			g.pruneOnce(ctx, time.Now())
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return j
}

func (g *Gateway) pruneOnce(ctx context.Context, now time.Time) {
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	n, err := g.audit.Prune(cctx, now.Add(-g.s.Config.Auth.AuditRetention))
	if err == nil {
		var m int64
		m, err = g.store.Prune(cctx, now.Add(-24*time.Hour), now.Add(-24*time.Hour))
		n += m
	}
	if err != nil {
		if ctx.Err() == nil {
			g.logger.Warn("prune gateway tables failed", "error", err)
		}
		return
	}
	if n > 0 {
		g.logger.Info("pruned gateway tables", "rows", n)
	}
}

func (j *janitor) stop() {
	j.cancel()
	<-j.done
}
