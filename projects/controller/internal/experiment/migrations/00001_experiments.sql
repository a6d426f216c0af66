-- +goose Up
-- One portable schema for SQLite and PostgreSQL: times are Unix
-- milliseconds, documents (spec, progress, results) are JSON text.
CREATE TABLE experiments (
    id              TEXT PRIMARY KEY,
    team            TEXT NOT NULL,
    name            TEXT NOT NULL,
    spec            TEXT NOT NULL,
    state           TEXT NOT NULL,
    -- 1 while the state is not final: one live experiment per name, since
    -- the name is the first part of its variant streams.
    active          INTEGER NOT NULL,
    version         BIGINT NOT NULL,
    progress        TEXT NOT NULL DEFAULT '{}',
    results         TEXT NOT NULL DEFAULT '',
    created_by      TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    updated_at_ms   BIGINT NOT NULL,
    -- the last transition published on PHOENIX_EVENTS (an outbox cursor)
    published_seq   BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX experiments_live_name ON experiments (name) WHERE active = 1;
CREATE INDEX experiments_team ON experiments (team, id);
CREATE INDEX experiments_active ON experiments (active, id);

-- Append-only: rows are inserted with the state change they record, in the
-- same transaction, and never updated.
CREATE TABLE experiment_transitions (
    experiment_id  TEXT NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    seq            BIGINT NOT NULL,
    from_state     TEXT NOT NULL,
    to_state       TEXT NOT NULL,
    event          TEXT NOT NULL,
    actor          TEXT NOT NULL,
    reason         TEXT NOT NULL DEFAULT '',
    at_ms          BIGINT NOT NULL,
    PRIMARY KEY (experiment_id, seq)
);

-- +goose Down
DROP TABLE experiment_transitions;
DROP TABLE experiments;
