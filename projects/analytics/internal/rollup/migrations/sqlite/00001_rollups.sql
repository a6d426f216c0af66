-- +goose Up
CREATE TABLE analytics_rollups (
    stream        TEXT    NOT NULL,
    resolution_s  INTEGER NOT NULL,
    start_ms      INTEGER NOT NULL,
    end_ms        INTEGER NOT NULL,
    active_series INTEGER NOT NULL,
    exact         INTEGER NOT NULL,
    datapoints    INTEGER NOT NULL,
    bytes         INTEGER NOT NULL,
    new_series    INTEGER NOT NULL,
    metric_series TEXT    NOT NULL,
    hll           BLOB,
    PRIMARY KEY (stream, resolution_s, start_ms)
);
CREATE INDEX analytics_rollups_start ON analytics_rollups (resolution_s, start_ms);

-- +goose Down
DROP TABLE analytics_rollups;
