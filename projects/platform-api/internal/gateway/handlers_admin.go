package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/httpx"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/audit"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/auth"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/identity"
)

var (
	usernameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	teamRe     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// storeError maps store errors to problems.
func storeError(err error, what string) error {
	switch {
	case errors.Is(err, database.ErrNotFound):
		return problem.NotFound("%s not found", what)
	case errors.Is(err, database.ErrConflict):
		return problem.Conflict("%s already exists", what)
	}
	return err
}

// listParams reads ?limit= and ?cursor=.
func listParams(r *http.Request) (int, string, error) {
	req := apiv1.Request{Query: r.URL.Query()}
	limit, err := req.Limit()
	if err != nil {
		return 0, "", err
	}
	after := ""
	if c := r.URL.Query().Get("cursor"); c != "" {
		if after, err = decodeCursor(c); err != nil {
			return 0, "", problem.BadRequest("invalid cursor", problem.FieldError{Path: "cursor", Message: err.Error()})
		}
	}
	return limit, after, nil
}

func checkRole(role string) *problem.FieldError {
	if _, ok := roleRank[role]; !ok {
		return &problem.FieldError{Path: "role", Message: "must be viewer, operator or admin"}
	}
	return nil
}

func checkTeams(teams []string) *problem.FieldError {
	if len(teams) > 64 {
		return &problem.FieldError{Path: "teams", Message: "at most 64 teams"}
	}
	for i, t := range teams {
		if !teamRe.MatchString(t) {
			return &problem.FieldError{Path: "teams[" + strconv.Itoa(i) + "]", Message: "must match ^[A-Za-z0-9_-]{1,64}$"}
		}
	}
	return nil
}

// hasControl reports control characters (NUL, ESC: a name printed raw by a
// CLI could rewrite the terminal) and format characters (bidi overrides that
// make a name read as another). User and team names are stricter: their
// patterns allow only ASCII letters, digits and a few marks.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.In(r, unicode.Cc, unicode.Cf) })
}

// unknownTeam says what to do about a team that does not exist.
func unknownTeam(name string) string {
	return fmt.Sprintf("unknown team %q: create it first (phoenix team create %s, or POST /api/v1/teams)", name, name)
}

// --- users ---

func toUserJSON(u identity.User) apiv1.User {
	teams := u.Teams
	if teams == nil {
		teams = []string{}
	}
	return apiv1.User{Username: u.Username, Role: u.Role, Teams: teams, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

func (g *Gateway) listUsers(w http.ResponseWriter, r *http.Request) {
	limit, after, err := listParams(r)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	us, err := g.store.ListUsers(r.Context(), after, limit+1)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	out := apiv1.List[apiv1.User]{Items: []apiv1.User{}}
	for i, u := range us {
		if i == limit {
			out.NextCursor = encodeCursor(us[i-1].Username)
			break
		}
		out.Items = append(out.Items, toUserJSON(u))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (g *Gateway) createUser(w http.ResponseWriter, r *http.Request) {
	var req apiv1.CreateUserRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	var errs []problem.FieldError
	if !usernameRe.MatchString(req.Username) {
		errs = append(errs, problem.FieldError{Path: "username", Message: "must match ^[a-z0-9][a-z0-9._-]{0,63}$"})
	}
	if msg := auth.CheckPasswordPolicy(req.Password); msg != "" {
		errs = append(errs, problem.FieldError{Path: "password", Message: msg})
	}
	if fe := checkRole(req.Role); fe != nil {
		errs = append(errs, *fe)
	}
	if fe := checkTeams(req.Teams); fe != nil {
		errs = append(errs, *fe)
	}
	if len(errs) > 0 {
		httpx.WriteError(w, r, problem.BadRequest("invalid user", errs...))
		return
	}
	hash, err := auth.HashPassword(req.Password, auth.DefaultArgon2)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if err := g.store.CreateUser(r.Context(), identity.User{Username: req.Username, PasswordHash: hash, Role: req.Role, Teams: req.Teams}); err != nil {
		if errors.Is(err, database.ErrNotFound) {
			httpx.WriteError(w, r, problem.BadRequest("invalid user", problem.FieldError{Path: "teams", Message: "unknown team; create it first (phoenix team create NAME)"}))
			return
		}
		httpx.WriteError(w, r, storeError(err, "user "+req.Username))
		return
	}
	u, err := g.store.GetUser(r.Context(), req.Username)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, toUserJSON(u))
}

func (g *Gateway) getUser(w http.ResponseWriter, r *http.Request) {
	u, err := g.store.GetUser(r.Context(), r.PathValue("user"))
	if err != nil {
		httpx.WriteError(w, r, storeError(err, "user"))
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toUserJSON(u))
}

// updateUser changes only the fields of apiv1.UpdateUserRequest; username,
// created_at and anything else is rejected as unknown (no mass assignment).
func (g *Gateway) updateUser(w http.ResponseWriter, r *http.Request) {
	var req apiv1.UpdateUserRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	var errs []problem.FieldError
	if req.Role != nil {
		if fe := checkRole(*req.Role); fe != nil {
			errs = append(errs, *fe)
		}
	}
	var hash *string
	if req.Password != nil {
		if msg := auth.CheckPasswordPolicy(*req.Password); msg != "" {
			errs = append(errs, problem.FieldError{Path: "password", Message: msg})
		}
	}
	if req.Teams != nil {
		if fe := checkTeams(*req.Teams); fe != nil {
			errs = append(errs, *fe)
		}
	}
	if len(errs) > 0 {
		httpx.WriteError(w, r, problem.BadRequest("invalid update", errs...))
		return
	}
	if req.Password != nil {
		h, err := auth.HashPassword(*req.Password, auth.DefaultArgon2)
		if err != nil {
			httpx.WriteError(w, r, err)
			return
		}
		hash = &h
	}
	name := r.PathValue("user")
	if req.Role != nil && *req.Role != roleAdmin {
		if err := g.keepAnAdmin(r, name); err != nil {
			httpx.WriteError(w, r, err)
			return
		}
	}
	if err := g.store.UpdateUser(r.Context(), name, req.Role, hash, req.Teams); err != nil {
		if errors.Is(err, database.ErrNotFound) && req.Teams != nil {
			if _, gerr := g.store.GetUser(r.Context(), name); gerr == nil {
				httpx.WriteError(w, r, problem.BadRequest("invalid update", problem.FieldError{Path: "teams", Message: "unknown team; create it first (phoenix team create NAME)"}))
				return
			}
		}
		httpx.WriteError(w, r, storeError(err, "user"))
		return
	}
	u, err := g.store.GetUser(r.Context(), name)
	if err != nil {
		httpx.WriteError(w, r, storeError(err, "user"))
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toUserJSON(u))
}

func (g *Gateway) deleteUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("user")
	if name == principalFrom(r.Context()).Subject {
		httpx.WriteError(w, r, problem.Conflict("you cannot delete yourself"))
		return
	}
	if err := g.keepAnAdmin(r, name); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if err := g.store.DeleteUser(r.Context(), name); err != nil {
		httpx.WriteError(w, r, storeError(err, "user"))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// --- teams ---

func toTeamJSON(t identity.Team) apiv1.Team {
	m := t.Members
	if m == nil {
		m = []string{}
	}
	return apiv1.Team{Name: t.Name, Members: m, CreatedAt: t.CreatedAt}
}

// listTeams shows admins every team and others only their own.
func (g *Gateway) listTeams(w http.ResponseWriter, r *http.Request) {
	limit, after, err := listParams(r)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	p := principalFrom(r.Context())
	var only []string
	if !p.Admin() {
		only = append([]string{}, p.Teams...)
	}
	ts, err := g.store.ListTeams(r.Context(), only, after, limit+1)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	out := apiv1.List[apiv1.Team]{Items: []apiv1.Team{}}
	for i, t := range ts {
		if i == limit {
			out.NextCursor = encodeCursor(ts[i-1].Name)
			break
		}
		out.Items = append(out.Items, toTeamJSON(t))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (g *Gateway) createTeam(w http.ResponseWriter, r *http.Request) {
	var req apiv1.CreateTeamRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if !teamRe.MatchString(req.Name) {
		httpx.WriteError(w, r, problem.BadRequest("invalid team", problem.FieldError{Path: "name", Message: "must match ^[A-Za-z0-9_-]{1,64}$"}))
		return
	}
	if err := g.store.CreateTeam(r.Context(), req.Name); err != nil {
		httpx.WriteError(w, r, storeError(err, "team "+req.Name))
		return
	}
	t, err := g.store.GetTeam(r.Context(), req.Name)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, toTeamJSON(t))
}

// getTeam answers 404, not 403, to non-members: they may not learn that a
// team exists.
func (g *Gateway) getTeam(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("team")
	if !principalFrom(r.Context()).InTeam(name) {
		httpx.WriteError(w, r, problem.NotFound("team not found"))
		return
	}
	t, err := g.store.GetTeam(r.Context(), name)
	if err != nil {
		httpx.WriteError(w, r, storeError(err, "team"))
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toTeamJSON(t))
}

func (g *Gateway) deleteTeam(w http.ResponseWriter, r *http.Request) {
	if err := g.store.DeleteTeam(r.Context(), r.PathValue("team")); err != nil {
		httpx.WriteError(w, r, storeError(err, "team"))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (g *Gateway) addMember(w http.ResponseWriter, r *http.Request) {
	if err := g.store.AddMember(r.Context(), r.PathValue("team"), r.PathValue("user")); err != nil {
		httpx.WriteError(w, r, storeError(err, "team or user"))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (g *Gateway) removeMember(w http.ResponseWriter, r *http.Request) {
	if err := g.store.RemoveMember(r.Context(), r.PathValue("team"), r.PathValue("user")); err != nil {
		httpx.WriteError(w, r, storeError(err, "membership"))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// --- API keys ---

func toKeyJSON(k identity.APIKey) apiv1.APIKey {
	teams := k.Teams
	if teams == nil {
		teams = []string{}
	}
	return apiv1.APIKey{ID: k.ID, Name: k.Name, Role: k.Role, Scopes: k.Scopes, Teams: teams, RateLimit: k.RateLimit,
		CreatedBy: k.CreatedBy, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt}
}

// maxKeyRateLimit bounds a key's own limit (a typo must not disable it).
const maxKeyRateLimit = 1_000_000

func (g *Gateway) createAPIKey(w http.ResponseWriter, r *http.Request) {
	var req apiv1.CreateAPIKeyRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	var errs []problem.FieldError
	if req.Name == "" || len(req.Name) > 128 {
		errs = append(errs, problem.FieldError{Path: "name", Message: "must be 1 to 128 characters"})
	} else if hasControl(req.Name) {
		errs = append(errs, problem.FieldError{Path: "name", Message: "must not contain control or format characters (NUL, ESC, bidi overrides...)"})
	}
	if fe := checkRole(req.Role); fe != nil {
		errs = append(errs, *fe)
	}
	if len(req.Scopes) == 0 {
		errs = append(errs, problem.FieldError{Path: "scopes", Message: "at least one of read, write, ingest, agent, admin"})
	}
	for i, s := range req.Scopes {
		if !auth.ValidScope(s) {
			errs = append(errs, problem.FieldError{Path: fmt.Sprintf("scopes[%d]", i), Message: "must be read, write, ingest, agent or admin"})
		}
	}
	if slices.Contains(req.Scopes, auth.ScopeAdmin) && req.Role != roleAdmin {
		errs = append(errs, problem.FieldError{Path: "scopes", Message: "the admin scope needs role admin"})
	}
	if fe := checkTeams(req.Teams); fe != nil {
		errs = append(errs, *fe)
	}
	now := time.Now().UTC()
	if req.ExpiresAt != nil && !req.ExpiresAt.After(now) {
		errs = append(errs, problem.FieldError{Path: "expires_at", Message: "must be in the future"})
	}
	if req.RateLimit < 0 || req.RateLimit > maxKeyRateLimit {
		errs = append(errs, problem.FieldError{Path: "rate_limit_per_minute", Message: "must be from 0 to 1000000"})
	}
	// Without teams the key acts for the caller's teams; an admin in none
	// gets the default team (a fresh server has it, the admin its member).
	p := principalFrom(r.Context())
	teams, defaulted := req.Teams, len(req.Teams) == 0
	if defaulted {
		teams = p.Teams
		if len(teams) == 0 {
			teams = []string{apiv1.DefaultTeam}
		}
	}
	for i, t := range teams {
		_, err := g.store.GetTeam(r.Context(), t)
		switch {
		case errors.Is(err, database.ErrNotFound) && defaulted:
			errs = append(errs, problem.FieldError{Path: "teams", Message: unknownTeam(t) + "; or name the key's teams"})
		case errors.Is(err, database.ErrNotFound):
			errs = append(errs, problem.FieldError{Path: fmt.Sprintf("teams[%d]", i), Message: unknownTeam(t)})
		case err != nil:
			httpx.WriteError(w, r, err)
			return
		}
	}
	if len(errs) > 0 {
		httpx.WriteError(w, r, problem.BadRequest("invalid API key", errs...))
		return
	}
	k, token, err := auth.NewAPIKey()
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	row := identity.APIKey{ID: k.ID, Name: req.Name, Hash: auth.HashAPIKey(token), Role: req.Role, Scopes: req.Scopes, Teams: teams,
		RateLimit: req.RateLimit, CreatedBy: p.Subject, CreatedAt: now, ExpiresAt: req.ExpiresAt}
	if err := g.store.CreateAPIKey(r.Context(), row); err != nil {
		httpx.WriteError(w, r, storeError(err, "api key"))
		return
	}
	out := toKeyJSON(row)
	out.Key = token
	httpx.WriteJSON(w, http.StatusCreated, out)
}

func (g *Gateway) listAPIKeys(w http.ResponseWriter, r *http.Request) {
	limit, after, err := listParams(r)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	ks, err := g.store.ListAPIKeys(r.Context(), after, limit+1)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	out := apiv1.List[apiv1.APIKey]{Items: []apiv1.APIKey{}}
	for i, k := range ks {
		if i == limit {
			out.NextCursor = encodeCursor(ks[i-1].ID)
			break
		}
		out.Items = append(out.Items, toKeyJSON(k))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (g *Gateway) getAPIKey(w http.ResponseWriter, r *http.Request) {
	k, err := g.store.GetAPIKey(r.Context(), r.PathValue("key"))
	if err != nil {
		httpx.WriteError(w, r, storeError(err, "api key"))
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toKeyJSON(k))
}

// revokeAPIKey marks the key revoked in the store and in the shared
// revocation list, so every replica refuses it at once (their caches hold a
// key for at most a second anyway).
func (g *Gateway) revokeAPIKey(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("key")
	if err := g.store.RevokeAPIKey(r.Context(), id, time.Now()); err != nil {
		httpx.WriteError(w, r, storeError(err, "api key"))
		return
	}
	if err := g.shared.Revoke(r.Context(), "key:"+id, 10*time.Minute); err != nil {
		g.logger.Warn("shared revocation failed; the store revocation applies within a second", "key_id", id, "error", err)
	}
	g.authn.Forget("key:" + id)
	w.WriteHeader(http.StatusNoContent)
}

// --- audit ---

func (g *Gateway) listAudit(w http.ResponseWriter, r *http.Request) {
	limit, after, err := listParams(r)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	var before int64
	if after != "" {
		if before, err = strconv.ParseInt(after, 10, 64); err != nil || before <= 0 {
			httpx.WriteError(w, r, problem.BadRequest("invalid cursor"))
			return
		}
	}
	es, err := g.audit.List(r.Context(), before, r.URL.Query().Get("actor"), limit+1)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	out := apiv1.List[audit.Entry]{Items: []audit.Entry{}}
	for i, e := range es {
		if i == limit {
			out.NextCursor = encodeCursor(strconv.FormatInt(es[i-1].ID, 10))
			break
		}
		out.Items = append(out.Items, e)
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// keepAnAdmin refuses to demote or delete the last admin: nobody could
// manage users afterwards.
func (g *Gateway) keepAnAdmin(r *http.Request, name string) error {
	u, err := g.store.GetUser(r.Context(), name)
	if err != nil {
		return storeError(err, "user")
	}
	if u.Role != roleAdmin {
		return nil
	}
	n, err := g.store.CountByRole(r.Context(), roleAdmin)
	if err != nil {
		return err
	}
	if n <= 1 {
		return problem.Conflict("%s is the last admin; make another user admin first", name)
	}
	return nil
}
