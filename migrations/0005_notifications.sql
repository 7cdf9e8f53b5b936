-- Notification targets (email, Slack, GitHub, GitLab), the JWS header's name, what a
-- notification attempt sent, the commit and request a job reports on, form submissions,
-- the event-type catalog, server-wide audit entries, why a webhook was disabled, and
-- which bodies retention pruned.
ALTER TABLE webhooks ADD COLUMN target_type TEXT NOT NULL DEFAULT 'http';
ALTER TABLE webhooks ADD COLUMN target_config TEXT;            -- JSON, secrets included
ALTER TABLE webhooks ADD COLUMN signature_header TEXT;

-- The request body of an attempt when it is not the call's (a notification's message).
ALTER TABLE webhook_attempts ADD COLUMN request_body TEXT;

ALTER TABLE jobs ADD COLUMN commit_ref TEXT;
ALTER TABLE jobs ADD COLUMN pull_request TEXT;
ALTER TABLE jobs ADD COLUMN merge_request TEXT;

CREATE TABLE form_submissions (
    id          TEXT PRIMARY KEY,
    site_id     TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    form_name   TEXT NOT NULL,
    data        TEXT NOT NULL,                 -- JSON object of the fields
    event_id    TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX form_submissions_by_site ON form_submissions (site_id, id);

-- The event types a site registers beside the built-in ones, with an optional JSON Schema
-- its published events' entities are checked against.
CREATE TABLE event_types (
    site_id      TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    entity_type  TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    description  TEXT,
    schema       TEXT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (site_id, entity_type, event_type)
);

-- The audit log also keeps server-wide entries (API tokens made and revoked), which
-- belong to no site: site_id becomes optional. SQLite cannot drop a NOT NULL in place,
-- so the table is rebuilt (the same statements serve PostgreSQL).
CREATE TABLE audit_log_new (
    id           TEXT PRIMARY KEY,
    site_id      TEXT REFERENCES sites(id) ON DELETE CASCADE,
    actor        TEXT NOT NULL,
    token_id     TEXT,
    action       TEXT NOT NULL,
    target_type  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    details      TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
INSERT INTO audit_log_new (id, site_id, actor, token_id, action, target_type, target_id, details, created_at)
    SELECT id, site_id, actor, token_id, action, target_type, target_id, details, created_at FROM audit_log;
DROP TABLE audit_log;
ALTER TABLE audit_log_new RENAME TO audit_log;
CREATE INDEX audit_log_by_site ON audit_log (site_id, id);

-- Why and when a webhook was disabled by hookrelay (410 Gone); cleared on re-enabling.
ALTER TABLE webhooks ADD COLUMN disabled_reason TEXT;
ALTER TABLE webhooks ADD COLUMN disabled_at BIGINT;

-- Retention: when a call's body and its event's body were pruned (the rows stay).
ALTER TABLE webhook_calls ADD COLUMN pruned_at BIGINT;
ALTER TABLE events ADD COLUMN pruned_at BIGINT;
