-- +goose Up
-- One portable schema for SQLite and PostgreSQL: times are Unix
-- milliseconds, detector state is base64 text (BLOB and BYTEA differ).
CREATE TABLE anomaly_series (
    stream         TEXT NOT NULL,
    signal         TEXT NOT NULL,
    -- pkg/anomaly's Ensemble.MarshalBinary, base64
    state          TEXT NOT NULL,
    -- the signal's last values, JSON (the explosion rule's lookback)
    recent         TEXT NOT NULL DEFAULT '[]',
    points         BIGINT NOT NULL,
    updated_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (stream, signal)
);

CREATE TABLE alerts (
    id                 TEXT PRIMARY KEY,
    -- rule|stream|metric|label|signal: one open alert per condition
    dedup_key          TEXT NOT NULL,
    -- 1 while firing or acknowledged
    open               INTEGER NOT NULL,
    rule               TEXT NOT NULL,
    severity           TEXT NOT NULL,
    state              TEXT NOT NULL,
    stream             TEXT NOT NULL,
    team               TEXT NOT NULL,
    metric             TEXT NOT NULL DEFAULT '',
    label              TEXT NOT NULL DEFAULT '',
    signal             TEXT NOT NULL DEFAULT '',
    summary            TEXT NOT NULL,
    value              DOUBLE PRECISION NOT NULL,
    baseline           DOUBLE PRECISION NOT NULL,
    -- apiv1.Attribution as JSON, '' when none
    attribution        TEXT NOT NULL DEFAULT '',
    started_at_ms      BIGINT NOT NULL,
    updated_at_ms      BIGINT NOT NULL,
    acknowledged_at_ms BIGINT,
    acknowledged_by    TEXT NOT NULL DEFAULT '',
    resolved_at_ms     BIGINT,
    resolved_by        TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX alerts_open_key ON alerts (dedup_key) WHERE open = 1;
CREATE INDEX alerts_team ON alerts (team, id);
CREATE INDEX alerts_stream ON alerts (stream, id);

-- +goose Down
DROP TABLE alerts;
DROP TABLE anomaly_series;
