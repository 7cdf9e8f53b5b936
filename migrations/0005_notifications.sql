-- Notification targets (email, Slack, GitHub, GitLab), the JWS header's name, what a
-- notification attempt sent, the commit and request a job reports on, form submissions, and the event-type catalog.
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
