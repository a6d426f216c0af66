-- +goose Up
-- Alert rules, silences, notification channels and delivery status
-- (issue 16). Times are Unix milliseconds; lists are JSON text.
ALTER TABLE alerts ADD COLUMN rule_id TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN alert_group TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN silenced_by TEXT NOT NULL DEFAULT '';

CREATE TABLE alert_rules (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    team           TEXT NOT NULL,
    -- '' = every stream of the team
    stream         TEXT NOT NULL,
    kind           TEXT NOT NULL,
    severity       TEXT NOT NULL,
    threshold      DOUBLE PRECISION NOT NULL,
    price_model    TEXT NOT NULL DEFAULT '',
    metric         TEXT NOT NULL DEFAULT '',
    signal         TEXT NOT NULL DEFAULT '',
    created_at_ms  BIGINT NOT NULL,
    created_by     TEXT NOT NULL
);
CREATE INDEX alert_rules_team ON alert_rules (team, id);

CREATE TABLE silences (
    id             TEXT PRIMARY KEY,
    team           TEXT NOT NULL,
    stream         TEXT NOT NULL DEFAULT '',
    rule           TEXT NOT NULL DEFAULT '',
    severity       TEXT NOT NULL DEFAULT '',
    starts_at_ms   BIGINT NOT NULL,
    ends_at_ms     BIGINT NOT NULL,
    comment        TEXT NOT NULL DEFAULT '',
    created_at_ms  BIGINT NOT NULL,
    created_by     TEXT NOT NULL
);
CREATE INDEX silences_team ON silences (team, id);

CREATE TABLE channels (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    team           TEXT NOT NULL,
    type           TEXT NOT NULL,
    url            TEXT NOT NULL,
    -- pkg/secrets sealed with aad "channel:<id>", '' when none
    secret         TEXT NOT NULL DEFAULT '',
    severities     TEXT NOT NULL DEFAULT '[]',
    streams        TEXT NOT NULL DEFAULT '[]',
    allow_private  INTEGER NOT NULL DEFAULT 0,
    created_at_ms  BIGINT NOT NULL,
    created_by     TEXT NOT NULL
);
CREATE INDEX channels_team ON channels (team, id);

CREATE TABLE alert_deliveries (
    alert_id       TEXT NOT NULL,
    channel_id     TEXT NOT NULL,
    event          TEXT NOT NULL,
    status         TEXT NOT NULL,
    attempts       INTEGER NOT NULL,
    http_status    INTEGER NOT NULL DEFAULT 0,
    error          TEXT NOT NULL DEFAULT '',
    updated_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (alert_id, channel_id, event)
);

-- +goose Down
DROP TABLE alert_deliveries;
DROP TABLE channels;
DROP TABLE silences;
DROP TABLE alert_rules;
ALTER TABLE alerts DROP COLUMN silenced_by;
ALTER TABLE alerts DROP COLUMN alert_group;
ALTER TABLE alerts DROP COLUMN rule_id;
