package ratelimit

import (
	"context"
	"time"
)

// LoginWindow is the window failed logins are counted in.
const LoginWindow = 15 * time.Minute

// Login backoff: after Limit failures for one (user, address) pair, that
// pair is shut out for loginBackoffBase, doubling with each further failure
// up to LoginWindow. See docs/decisions/0015-login-throttling.md.
const (
	loginBackoffBase = 30 * time.Second
	// perAddress and perUser scale Limit for the wider counters: failures
	// from one address for any user, and for one user from any address.
	perAddress = 4
	perUser    = 10
)

// LoginThrottle throttles failed logins per (user, client address) with
// backoff, so a client guessing a password shuts out itself, not the user:
// the right password from an address that has not failed still gets in.
// Two wider limits bound the rest: one address failing for many users, and
// (once one user has perUser*Limit failures in the window) every address
// that has already failed for that user.
type LoginThrottle struct {
	State State
	Limit int // failures per (user, address) before backoff
}

func pairKey(user, addr string) string { return "login:pair:" + user + "\x00" + addr }

// Check is called before verifying a password (the expensive hash); retry
// > 0 refuses the attempt for that long.
func (l *LoginThrottle) Check(ctx context.Context, user, addr string) (retry time.Duration, err error) {
	if left, err := l.State.Blocked(ctx, pairKey(user, addr)); err != nil || left > 0 {
		return left, err
	}
	n, left, err := l.State.Count(ctx, "login:ip:"+addr, LoginWindow)
	if err != nil || n >= perAddress*l.Limit {
		return left, err
	}
	n, left, err = l.State.Count(ctx, "login:user:"+user, LoginWindow)
	if err != nil || n < perUser*l.Limit {
		return 0, err
	}
	// The user is under attack from many addresses: addresses that have
	// failed for it wait for the window; a clean one may still try.
	failed, _, err := l.State.Count(ctx, pairKey(user, addr), LoginWindow)
	if err != nil || failed > 0 {
		return left, err
	}
	return 0, nil
}

// Failed records a failed login and, past Limit failures of the pair,
// blocks the pair for the next backoff step.
func (l *LoginThrottle) Failed(ctx context.Context, user, addr string) error {
	for _, k := range []string{"login:ip:" + addr, "login:user:" + user} {
		if _, _, err := l.State.Allow(ctx, k, 1<<30, LoginWindow); err != nil {
			return err
		}
	}
	if _, _, err := l.State.Allow(ctx, pairKey(user, addr), 1<<30, LoginWindow); err != nil {
		return err
	}
	n, _, err := l.State.Count(ctx, pairKey(user, addr), LoginWindow)
	if err != nil || n < l.Limit {
		return err
	}
	return l.State.Block(ctx, pairKey(user, addr), loginBackoff(n-l.Limit))
}

// loginBackoff is the block after the step-th failure past the limit:
// 30 s, 1 min, 2 min, ... at most LoginWindow.
func loginBackoff(step int) time.Duration {
	if step > 10 {
		return LoginWindow
	}
	return min(loginBackoffBase<<step, LoginWindow)
}
