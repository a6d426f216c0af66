-- +goose Up
-- Every process that runs Phoenix services records itself, so operators can
-- see which instances share this database.
CREATE TABLE phoenix_instances (
    instance TEXT PRIMARY KEY,
    services TEXT NOT NULL,
    version TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    stopped_at TIMESTAMP
);

-- +goose Down
DROP TABLE phoenix_instances;
