package ratelimit

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// Window is the fixed window of the per-principal limits.
const Window = time.Minute

// Limiter applies per-minute limits on a State.
type Limiter struct {
	State  State
	Logger *slog.Logger
	// Limited and Failed count refusals and State errors (metrics).
	Limited, Failed func()
}

// Allow counts a request against key; over the limit it answers 429 with
// Retry-After. When the shared store fails the request passes (logged and
// counted): an outage of Redis must not take the API down.
func (l *Limiter) Allow(ctx context.Context, key string, perMinute int) error {
	ok, retry, err := l.State.Allow(ctx, key, perMinute, Window)
	if err != nil {
		l.Failed()
		l.Logger.Warn("rate limiter unavailable", "error", err)
		return nil
	}
	if !ok {
		l.Limited()
		if retry < time.Second {
			retry = time.Second
		}
		return problem.TooManyRequests(retry, "rate limit of %s requests per minute exceeded; retry in %ss", strconv.Itoa(perMinute),
			strconv.Itoa(int(retry.Round(time.Second)/time.Second)))
	}
	return nil
}
