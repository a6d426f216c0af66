-- +goose Up
CREATE TABLE users (
    username      TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE TABLE teams (
    name       TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
CREATE TABLE team_members (
    team     TEXT NOT NULL REFERENCES teams(name) ON DELETE CASCADE,
    username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    PRIMARY KEY (team, username)
);
CREATE INDEX team_members_user ON team_members(username);
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    key_hash      TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    scopes        TEXT NOT NULL,
    teams         TEXT NOT NULL,
    rate_limit    INTEGER NOT NULL DEFAULT 0,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    revoked_at    BIGINT
);
CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    username     TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    refresh_hash TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    remote       TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions(username);
CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY,
    secret     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retire_at  BIGINT
);
CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    actor_kind  TEXT NOT NULL,
    action      TEXT NOT NULL,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    remote      TEXT NOT NULL,
    status      INTEGER NOT NULL,
    request_id  TEXT NOT NULL
);
CREATE INDEX audit_log_actor ON audit_log(actor, id);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE signing_keys;
DROP TABLE sessions;
DROP TABLE api_keys;
DROP TABLE team_members;
DROP TABLE teams;
DROP TABLE users;
