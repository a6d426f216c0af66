// Package ratelimit holds what gateway replicas must agree on: fixed-window
// counters (per-principal rate limits, failed-login throttling) and the
// revocation list (logged-out sessions, revoked API keys), in Redis or in
// process memory, and the limiters built on them.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// State is what gateway replicas must agree on: rate-limit counters
// and revocations (logged-out sessions, revoked API keys). Redis when
// --redis-url is set, process memory otherwise (all-in-one); see
// docs/decisions/0004-shared-limiter-and-revocation-store.md.
type State interface {
	// Allow counts one request for key in the current fixed window and
	// reports whether it is within limit; when not, retry says when the
	// window ends.
	Allow(ctx context.Context, key string, limit int, window time.Duration) (ok bool, retry time.Duration, err error)
	// Count returns the current window's count without adding (login
	// throttling checks before the expensive hash, adds after a failure).
	Count(ctx context.Context, key string, window time.Duration) (int, time.Duration, error)
	// Revoke marks id revoked for ttl.
	Revoke(ctx context.Context, id string, ttl time.Duration) error
	Revoked(ctx context.Context, id string) (bool, error)
	// Block shuts key out for ttl (login backoff); Blocked answers how long
	// it stays shut out (0: not blocked).
	Block(ctx context.Context, key string, ttl time.Duration) error
	Blocked(ctx context.Context, key string) (time.Duration, error)
	Close() error
}

// windowKey names the counter of key's current window.
func windowKey(key string, window time.Duration, now time.Time) (string, time.Duration) {
	idx := now.UnixNano() / int64(window)
	end := time.Unix(0, (idx+1)*int64(window))
	return fmt.Sprintf("%s:%d", key, idx), end.Sub(now)
}

// ErrFull reports the in-memory store at its bound.
var ErrFull = errors.New("shared state full")

// memoryMaxEntries bounds the in-memory maps; beyond it new counters are
// refused (the request is answered 429/503) rather than growing memory.
const memoryMaxEntries = 200_000

// Memory is the State of one process (all-in-one, tests).
type Memory struct {
	mu       sync.Mutex
	counters map[string]memCounter
	revs     map[string]time.Time
	now      func() time.Time
}

type memCounter struct {
	n   int
	end time.Time
}

// NewMemory returns an empty in-memory State.
func NewMemory() *Memory {
	return &Memory{counters: map[string]memCounter{}, revs: map[string]time.Time{}, now: time.Now}
}

// sweep drops expired entries; called when a map reaches its bound.
func (m *Memory) sweep(now time.Time) {
	for k, c := range m.counters {
		if !now.Before(c.end) {
			delete(m.counters, k)
		}
	}
	for k, t := range m.revs {
		if !now.Before(t) {
			delete(m.revs, k)
		}
	}
}

func (m *Memory) Allow(_ context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	now := m.now()
	wk, left := windowKey(key, window, now)
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.counters[wk]
	if !ok {
		if len(m.counters) >= memoryMaxEntries {
			m.sweep(now)
			if len(m.counters) >= memoryMaxEntries {
				return false, left, ErrFull
			}
		}
		c = memCounter{end: now.Add(left)}
	}
	c.n++
	m.counters[wk] = c
	if c.n > limit {
		return false, left, nil
	}
	return true, 0, nil
}

func (m *Memory) Count(_ context.Context, key string, window time.Duration) (int, time.Duration, error) {
	wk, left := windowKey(key, window, m.now())
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counters[wk].n, left, nil
}

func (m *Memory) Revoke(_ context.Context, id string, ttl time.Duration) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.revs[id]; !ok && len(m.revs) >= memoryMaxEntries {
		m.sweep(now)
		if len(m.revs) >= memoryMaxEntries {
			return ErrFull
		}
	}
	m.revs[id] = now.Add(ttl)
	return nil
}

func (m *Memory) Revoked(_ context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.revs[id]
	return ok && m.now().Before(t), nil
}

// Block shares the revocation map (and its bound) under its own prefix.
func (m *Memory) Block(ctx context.Context, key string, ttl time.Duration) error {
	return m.Revoke(ctx, "block:"+key, ttl)
}

func (m *Memory) Blocked(_ context.Context, key string) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.revs["block:"+key]
	if left := t.Sub(m.now()); ok && left > 0 {
		return left, nil
	}
	return 0, nil
}

func (m *Memory) Close() error { return nil }

// Redis keeps the same data in Redis, shared by every replica. Keys
// expire on their own, so Redis memory is bounded by traffic in one window.
type Redis struct {
	c      *redis.Client
	prefix string
}

// NewRedis connects to url and checks the connection.
func NewRedis(ctx context.Context, url string) (*Redis, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis_url: %w", err)
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = 2*time.Second, time.Second, time.Second
	c := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("connect to redis: %w", err)
	}
	return &Redis{c: c, prefix: "phoenix:gw:"}, nil
}

func (r *Redis) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	wk, left := windowKey(r.prefix+"rl:"+key, window, time.Now())
	var incr *redis.IntCmd
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, wk)
		p.PExpire(ctx, wk, left+time.Second)
		return nil
	})
	if err != nil {
		return false, time.Second, fmt.Errorf("redis rate limit: %w", err)
	}
	if incr.Val() > int64(limit) {
		return false, left, nil
	}
	return true, 0, nil
}

func (r *Redis) Count(ctx context.Context, key string, window time.Duration) (int, time.Duration, error) {
	wk, left := windowKey(r.prefix+"rl:"+key, window, time.Now())
	n, err := r.c.Get(ctx, wk).Int()
	if errors.Is(err, redis.Nil) {
		return 0, left, nil
	}
	if err != nil {
		return 0, left, fmt.Errorf("redis count: %w", err)
	}
	return n, left, nil
}

func (r *Redis) Revoke(ctx context.Context, id string, ttl time.Duration) error {
	if err := r.c.Set(ctx, r.prefix+"rev:"+id, "1", ttl).Err(); err != nil {
		return fmt.Errorf("redis revoke: %w", err)
	}
	return nil
}

func (r *Redis) Revoked(ctx context.Context, id string) (bool, error) {
	n, err := r.c.Exists(ctx, r.prefix+"rev:"+id).Result()
	if err != nil {
		return false, fmt.Errorf("redis revocation check: %w", err)
	}
	return n > 0, nil
}

func (r *Redis) Block(ctx context.Context, key string, ttl time.Duration) error {
	if err := r.c.Set(ctx, r.prefix+"blk:"+key, "1", ttl).Err(); err != nil {
		return fmt.Errorf("redis block: %w", err)
	}
	return nil
}

func (r *Redis) Blocked(ctx context.Context, key string) (time.Duration, error) {
	left, err := r.c.PTTL(ctx, r.prefix+"blk:"+key).Result()
	if err != nil {
		return 0, fmt.Errorf("redis block check: %w", err)
	}
	if left < 0 { // -2: no key; -1: no expiry (never set by Block)
		return 0, nil
	}
	return left, nil
}

func (r *Redis) Close() error { return r.c.Close() }
