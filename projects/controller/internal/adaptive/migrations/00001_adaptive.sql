-- +goose Up
-- An adaptive policy: the user's spec as one JSON document (doc), and the
-- mode the controller believes its target runs, written only by the loop.
CREATE TABLE adaptive_policies (
    id             TEXT PRIMARY KEY,
    team           TEXT NOT NULL,
    -- 1 when the action is shadow or apply: the loop measures it.
    enabled        INTEGER NOT NULL,
    version        BIGINT NOT NULL,
    doc            TEXT NOT NULL,
    mode           TEXT NOT NULL,
    mode_since_ms  BIGINT NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    updated_at_ms  BIGINT NOT NULL
);
CREATE INDEX adaptive_policies_team ON adaptive_policies (team, id);
CREATE INDEX adaptive_policies_enabled ON adaptive_policies (enabled, id);

-- Decisions, newest last by id (ids sort by time); the store keeps the
-- last N per policy.
CREATE TABLE adaptive_decisions (
    id         TEXT PRIMARY KEY,
    policy_id  TEXT NOT NULL,
    team       TEXT NOT NULL,
    doc        TEXT NOT NULL
);
CREATE INDEX adaptive_decisions_policy ON adaptive_decisions (policy_id, id);
CREATE INDEX adaptive_decisions_team ON adaptive_decisions (team, id);

-- +goose Down
DROP TABLE adaptive_decisions;
DROP TABLE adaptive_policies;
