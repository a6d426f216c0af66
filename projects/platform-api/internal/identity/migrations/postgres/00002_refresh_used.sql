-- +goose Up
-- Refresh tokens already rotated away, kept while their session lives: a
-- second use of one means a copy leaked, and the whole session is revoked.
CREATE TABLE refresh_used (
    refresh_hash TEXT PRIMARY KEY,
    session_id   TEXT NOT NULL,
    used_at      BIGINT NOT NULL
);
CREATE INDEX refresh_used_session ON refresh_used(session_id);

-- +goose Down
DROP TABLE refresh_used;
