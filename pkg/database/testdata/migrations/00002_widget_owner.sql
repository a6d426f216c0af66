-- +goose Up
ALTER TABLE widgets ADD COLUMN owner TEXT NOT NULL DEFAULT 'default';

-- +goose Down
ALTER TABLE widgets DROP COLUMN owner;
