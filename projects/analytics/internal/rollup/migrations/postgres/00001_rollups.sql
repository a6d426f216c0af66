-- +goose Up
CREATE TABLE analytics_rollups (
    stream        TEXT    NOT NULL,
    resolution_s  BIGINT NOT NULL,
    start_ms      BIGINT NOT NULL,
    end_ms        BIGINT NOT NULL,
    active_series BIGINT NOT NULL,
    exact         BIGINT NOT NULL,
    datapoints    BIGINT NOT NULL,
    bytes         BIGINT NOT NULL,
    new_series    BIGINT NOT NULL,
    metric_series TEXT    NOT NULL,
    hll           BYTEA,
    PRIMARY KEY (stream, resolution_s, start_ms)
);
CREATE INDEX analytics_rollups_start ON analytics_rollups (resolution_s, start_ms);

-- +goose Down
DROP TABLE analytics_rollups;
