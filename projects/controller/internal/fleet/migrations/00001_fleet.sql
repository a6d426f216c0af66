-- +goose Up
-- One portable schema for SQLite and PostgreSQL: times are Unix milliseconds,
-- booleans are 0/1 integers, labels are a JSON object.
CREATE TABLE fleet_agents (
    id                     TEXT PRIMARY KEY,
    team                   TEXT NOT NULL,
    hostname               TEXT NOT NULL DEFAULT '',
    agent_version          TEXT NOT NULL DEFAULT '',
    labels                 TEXT NOT NULL DEFAULT '{}',
    connected              INTEGER NOT NULL DEFAULT 0,
    first_seen_ms          BIGINT NOT NULL,
    last_seen_ms           BIGINT NOT NULL,
    health_reported        INTEGER NOT NULL DEFAULT 0,
    healthy                INTEGER NOT NULL DEFAULT 0,
    health_status          TEXT NOT NULL DEFAULT '',
    last_error             TEXT NOT NULL DEFAULT '',
    effective_config       TEXT NOT NULL DEFAULT '',
    effective_config_hash  TEXT NOT NULL DEFAULT '',
    remote_config_status   TEXT NOT NULL DEFAULT '',
    remote_config_hash     TEXT NOT NULL DEFAULT '',
    remote_config_error    TEXT NOT NULL DEFAULT '',
    deployment_id          TEXT NOT NULL DEFAULT '',
    pipeline_id            TEXT NOT NULL DEFAULT '',
    pipeline_version       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX fleet_agents_team ON fleet_agents (team, id);

CREATE TABLE fleet_deployments (
    id                TEXT PRIMARY KEY,
    agent_id          TEXT NOT NULL REFERENCES fleet_agents (id) ON DELETE CASCADE,
    kind              TEXT NOT NULL,
    pipeline_id       TEXT NOT NULL DEFAULT '',
    pipeline_version  INTEGER NOT NULL DEFAULT 0,
    config            TEXT NOT NULL,
    config_hash       TEXT NOT NULL,
    rollback_of       TEXT NOT NULL DEFAULT '',
    created_by        TEXT NOT NULL,
    reason            TEXT NOT NULL DEFAULT '',
    created_at_ms     BIGINT NOT NULL,
    status            TEXT NOT NULL,
    error             TEXT NOT NULL DEFAULT '',
    updated_at_ms     BIGINT NOT NULL
);
CREATE INDEX fleet_deployments_agent ON fleet_deployments (agent_id, id);

-- +goose Down
DROP TABLE fleet_deployments;
DROP TABLE fleet_agents;
