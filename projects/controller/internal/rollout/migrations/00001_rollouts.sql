-- +goose Up
-- A rollout pushes one config to every agent matching a selector, all at
-- once or in steps. The record is one JSON document; the columns beside it
-- are what queries filter on.
CREATE TABLE rollouts (
    id             TEXT PRIMARY KEY,
    team           TEXT NOT NULL,
    state          TEXT NOT NULL,
    -- 1 while the runner still has work: rolling, or stopped before its
    -- agents got their previous configs back.
    active         INTEGER NOT NULL,
    version        BIGINT NOT NULL,
    doc            TEXT NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    updated_at_ms  BIGINT NOT NULL
);
CREATE INDEX rollouts_active ON rollouts (active, id);
CREATE INDEX rollouts_team ON rollouts (team, id);

-- +goose Down
DROP TABLE rollouts;
