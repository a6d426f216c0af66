-- +goose Up
-- Every write of a rollout is an event (an outbox): written in the same
-- transaction as the rollout, published on PHOENIX_EVENTS afterwards, so a
-- transition written just before a crash is still announced.
CREATE TABLE rollout_events (
    rollout_id  TEXT NOT NULL,
    version     BIGINT NOT NULL,
    doc         TEXT NOT NULL,
    at_ms       BIGINT NOT NULL,
    published   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (rollout_id, version)
);
CREATE INDEX rollout_events_unpublished ON rollout_events (published, at_ms);

-- +goose Down
DROP TABLE rollout_events;
