-- +goose Up
CREATE TABLE generator_pipelines (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    team        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (team, name)
);
CREATE INDEX generator_pipelines_created ON generator_pipelines (created_at, id);

CREATE TABLE generator_pipeline_versions (
    pipeline_id TEXT NOT NULL REFERENCES generator_pipelines (id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    config      TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    request     TEXT NOT NULL DEFAULT '',
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (pipeline_id, version)
);

-- +goose Down
DROP TABLE generator_pipeline_versions;
DROP TABLE generator_pipelines;
