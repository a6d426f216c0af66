package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/httpx"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/auth"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/authn"
)

// refreshTokenLen is the refresh token's length in base62 characters
// (~285 bits).
const refreshTokenLen = 48

// dummyHash is verified when the user does not exist, so a login for an
// unknown name costs as much as one for a known name (no user enumeration
// by timing).
// It is computed on first use, not at init: every binary linking the gateway
// (the phoenix CLI included) would otherwise pay for an argon2id hash at start.
var dummyHash = sync.OnceValue(func() string {
	h, _ := auth.HashPassword("phoenix-dummy-password", auth.DefaultArgon2)
	return h
})

// verifyPassword runs argon2id under a semaphore: each hash takes 19 MiB, so
// concurrent logins are bounded in memory.
func (g *Gateway) verifyPassword(ctx context.Context, hash, password string) (bool, error) {
	select {
	case g.hashSem <- struct{}{}:
	case <-ctx.Done():
		return false, problem.Unavailable(time.Second, "login busy")
	}
	defer func() { <-g.hashSem }()
	return auth.VerifyPassword(hash, password)
}

func (g *Gateway) login(w http.ResponseWriter, r *http.Request) {
	var req apiv1.LoginRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if req.Username == "" || req.Password == "" || len(req.Username) > 64 || len(req.Password) > auth.MaxPasswordLen {
		httpx.WriteError(w, r, problem.BadRequest("username and password are required"))
		return
	}
	ip := clientIP(r)
	// Throttle before the expensive hash, on failures only, per (user,
	// address): a client guessing shuts out itself, not the user.
	retry, err := g.loginThrottle.Check(r.Context(), req.Username, ip)
	if err != nil {
		httpx.WriteError(w, r, problem.Unavailable(time.Second, "login throttle unavailable").Wrap(err))
		return
	}
	if retry > 0 {
		g.metrics.loginThrottled.Inc()
		g.auditLogin(r, req.Username, http.StatusTooManyRequests)
		httpx.WriteError(w, r, problem.TooManyRequests(max(retry, time.Second), "too many failed logins from this address; try again later"))
		return
	}
	u, err := g.store.GetUser(r.Context(), req.Username)
	hash := u.PasswordHash
	if errors.Is(err, database.ErrNotFound) {
		hash = dummyHash()
	} else if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	ok, verr := g.verifyPassword(r.Context(), hash, req.Password)
	if verr != nil && problem.From(verr).Status == http.StatusServiceUnavailable {
		httpx.WriteError(w, r, verr)
		return
	}
	if err != nil || !ok || verr != nil {
		if err := g.loginThrottle.Failed(r.Context(), req.Username, ip); err != nil {
			g.logger.Warn("record failed login", "error", err)
		}
		g.metrics.loginFailures.Inc()
		g.auditLogin(r, req.Username, http.StatusUnauthorized)
		httpx.WriteError(w, r, problem.Unauthorized("invalid user name or password"))
		return
	}
	resp, err := g.newSession(r.Context(), u.Username, ip)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	g.auditLogin(r, u.Username, http.StatusOK)
	httpx.WriteJSON(w, http.StatusOK, resp)
}

func (g *Gateway) auditLogin(r *http.Request, username string, status int) {
	g.audit.Record(r, apiv1.Principal{Subject: username, Kind: "user"}, "POST /api/v1/auth/login", clientIP(r), status)
}

func (g *Gateway) newSession(ctx context.Context, username, remote string) (apiv1.Tokens, error) {
	sid, err := auth.RandomToken(22)
	if err != nil {
		return apiv1.Tokens{}, err
	}
	refresh, err := auth.RandomToken(refreshTokenLen)
	if err != nil {
		return apiv1.Tokens{}, err
	}
	cfg := g.s.Config.Auth
	if err := g.store.CreateSession(ctx, sid, username, auth.HashAPIKey(refresh), remote, time.Now().Add(cfg.RefreshTokenTTL)); err != nil {
		return apiv1.Tokens{}, err
	}
	access, err := g.authn.IssueAccess(ctx, username, sid)
	if err != nil {
		return apiv1.Tokens{}, err
	}
	return apiv1.Tokens{AccessToken: access, RefreshToken: refresh, ExpiresIn: int(cfg.AccessTokenTTL / time.Second), TokenType: "Bearer"}, nil
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// refresh trades a refresh token for a new access token and a new refresh
// token; the old refresh token stops working (rotation).
func (g *Gateway) refresh(w http.ResponseWriter, r *http.Request) {
	// Every 401 here refuses a token the client sent.
	w = &challengeWriter{ResponseWriter: w, challenge: bearerInvalidToken}
	var req refreshRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if req.RefreshToken == "" || len(req.RefreshToken) > 256 {
		httpx.WriteError(w, r, authn.ErrUnauthorized())
		return
	}
	oldHash := auth.HashAPIKey(req.RefreshToken)
	se, err := g.store.SessionByRefresh(r.Context(), oldHash)
	if errors.Is(err, database.ErrNotFound) {
		g.refreshReused(r.Context(), oldHash)
		httpx.WriteError(w, r, authn.ErrUnauthorized())
		return
	}
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if se.RevokedAt != nil || !time.Now().Before(se.ExpiresAt) {
		httpx.WriteError(w, r, authn.ErrUnauthorized())
		return
	}
	if rev, err := g.shared.Revoked(r.Context(), "sid:"+se.ID); err != nil || rev {
		httpx.WriteError(w, r, authn.ErrUnauthorized())
		return
	}
	next, err := auth.RandomToken(refreshTokenLen)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if err := g.store.RotateRefresh(r.Context(), se.ID, oldHash, auth.HashAPIKey(next)); err != nil {
		if errors.Is(err, database.ErrConflict) {
			// Another request rotated this token first: two holders.
			g.refreshReused(r.Context(), oldHash)
			httpx.WriteError(w, r, authn.ErrUnauthorized())
			return
		}
		httpx.WriteError(w, r, err)
		return
	}
	access, err := g.authn.IssueAccess(r.Context(), se.Username, se.ID)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, apiv1.Tokens{AccessToken: access, RefreshToken: next,
		ExpiresIn: int(g.s.Config.Auth.AccessTokenTTL / time.Second), TokenType: "Bearer"})
}

// refreshReused revokes the whole session when a refresh token that was
// already rotated away comes back: one of its two holders is an attacker
// with a copy, and the server cannot tell which (OAuth 2.0 Security BCP,
// RFC 9700 §4.14.2). Both must log in again.
func (g *Gateway) refreshReused(ctx context.Context, hash string) {
	sid, err := g.store.UsedRefresh(ctx, hash)
	if err != nil {
		if !errors.Is(err, database.ErrNotFound) {
			g.logger.Warn("check refresh token reuse", "error", err)
		}
		return
	}
	g.logger.Warn("refresh token reused; session revoked", "session_id", sid)
	if err := g.revokeSession(ctx, sid); err != nil {
		g.logger.Error("revoke session after refresh token reuse", "session_id", sid, "error", err)
	}
}

// logout revokes the caller's session: its refresh token in the store and
// its access tokens in the shared revocation list (every replica refuses
// them within a second).
func (g *Gateway) logout(w http.ResponseWriter, r *http.Request) {
	res := authFrom(r.Context())
	if res.SessionID == "" {
		httpx.WriteError(w, r, problem.BadRequest("only a user session can log out; revoke API keys with DELETE /api/v1/apikeys/{key}"))
		return
	}
	if err := g.revokeSession(r.Context(), res.SessionID); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (g *Gateway) revokeSession(ctx context.Context, sid string) error {
	if err := g.shared.Revoke(ctx, "sid:"+sid, g.s.Config.Auth.AccessTokenTTL+time.Minute); err != nil {
		return problem.Unavailable(time.Second, "revocation store unavailable").Wrap(err)
	}
	if err := g.store.RevokeSession(ctx, sid, time.Now()); err != nil {
		return err
	}
	g.authn.Forget("sid:" + sid)
	return nil
}

type meResponse struct {
	apiv1.Principal
}

func (g *Gateway) me(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, meResponse{principalFrom(r.Context())})
}

func (g *Gateway) rotateKeys(w http.ResponseWriter, r *http.Request) {
	kid, err := g.authn.Rotate(r.Context())
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, map[string]any{
		"kid": kid, "previous_keys_retire_in_seconds": int(g.s.Config.Auth.AccessTokenTTL / time.Second),
	})
}

// authenticateEndpoint answers apiv1.SubjectAuthenticate for ingest and
// OpAMP: a token (and optionally a required scope) to a Principal.
func (g *Gateway) authenticateEndpoint() messaging.Endpoint {
	return messaging.Endpoint{
		Name: "authenticate", Subject: apiv1.SubjectAuthenticate,
		Handler: func(ctx context.Context, data []byte) (any, error) {
			var req apiv1.AuthenticateRequest
			if err := json.Unmarshal(data, &req); err != nil {
				return nil, problem.BadRequest("malformed authenticate request")
			}
			if req.Token == "" && g.s.Config.Auth.IngestOpen && (req.Scope == auth.ScopeIngest || req.Scope == auth.ScopeAgent) {
				// The --dev loop: ingest and agents without credentials.
				return apiv1.Principal{Subject: "anonymous", Kind: "anonymous", Role: roleOperator, Scopes: []string{req.Scope}}, nil
			}
			res, err := g.authn.Authenticate(ctx, req.Token)
			if err != nil {
				return nil, err
			}
			if !grantsScope(res.Principal, req.Scope) {
				return nil, problem.Forbidden("credential lacks the %s scope", req.Scope)
			}
			return res.Principal, nil
		},
	}
}

type passwordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// changePassword lets a user change their own password (current password
// required); every other session of the user ends.
func (g *Gateway) changePassword(w http.ResponseWriter, r *http.Request) {
	res := authFrom(r.Context())
	if res.SessionID == "" {
		httpx.WriteError(w, r, problem.BadRequest("only a user session can change its password"))
		return
	}
	var req passwordRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if msg := auth.CheckPasswordPolicy(req.NewPassword); msg != "" {
		httpx.WriteError(w, r, problem.BadRequest("invalid password", problem.FieldError{Path: "new_password", Message: msg}))
		return
	}
	u, err := g.store.GetUser(r.Context(), res.Principal.Subject)
	if err != nil {
		httpx.WriteError(w, r, storeError(err, "user"))
		return
	}
	ok, err := g.verifyPassword(r.Context(), u.PasswordHash, req.CurrentPassword)
	if err != nil || !ok {
		g.metrics.loginFailures.Inc()
		httpx.WriteError(w, r, problem.BadRequest("invalid password", problem.FieldError{Path: "current_password", Message: "does not match"}))
		return
	}
	hash, err := auth.HashPassword(req.NewPassword, auth.DefaultArgon2)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if err := g.store.UpdateUser(r.Context(), u.Username, nil, &hash, nil); err != nil {
		httpx.WriteError(w, r, storeError(err, "user"))
		return
	}
	sids, err := g.store.UserSessions(r.Context(), u.Username)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	for _, sid := range sids {
		if sid != res.SessionID {
			if err := g.revokeSession(r.Context(), sid); err != nil {
				httpx.WriteError(w, r, err)
				return
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
