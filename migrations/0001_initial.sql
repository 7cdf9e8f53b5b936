-- Instants are Unix milliseconds (BIGINT); flags are 0/1 (BIGINT); JSON is TEXT.
-- Only SQL shared by SQLite and PostgreSQL.

CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE sites (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE webhooks (
    id                   TEXT PRIMARY KEY,
    site_id              TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    url                  TEXT NOT NULL,
    triggers             TEXT NOT NULL,
    headers              TEXT NOT NULL,
    basic_auth_username  TEXT,
    basic_auth_password  TEXT,
    timeout_ms           BIGINT NOT NULL,
    enabled              BIGINT NOT NULL,
    secret               TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE INDEX webhooks_by_site ON webhooks (site_id, id);

CREATE TABLE events (
    id           TEXT PRIMARY KEY,
    site_id      TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    entity_type  TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    environment  TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX events_by_site ON events (site_id, id);

-- The durable queue and the activity log in one table. A claim moves next_attempt_at to the
-- end of the lease and stamps claim_token; a worker that dies simply lets the lease run out.
CREATE TABLE webhook_calls (
    id                TEXT PRIMARY KEY,
    site_id           TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    event_id          TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    webhook_id        TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    entity_type       TEXT NOT NULL,
    event_type        TEXT NOT NULL,
    status            TEXT NOT NULL,
    attempt_count     BIGINT NOT NULL DEFAULT 0,
    one_shot          BIGINT NOT NULL DEFAULT 0,
    resend_requested  BIGINT NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT,
    claim_token       TEXT,
    last_status_code  BIGINT,
    last_error        TEXT,
    last_attempt_at   BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX webhook_calls_due ON webhook_calls (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_calls_by_site ON webhook_calls (site_id, id);
CREATE INDEX webhook_calls_by_webhook ON webhook_calls (webhook_id, id);
CREATE INDEX webhook_calls_by_event ON webhook_calls (event_id);

CREATE TABLE webhook_attempts (
    id                TEXT PRIMARY KEY,
    call_id           TEXT NOT NULL REFERENCES webhook_calls(id) ON DELETE CASCADE,
    manual            BIGINT NOT NULL,
    started_at        BIGINT NOT NULL,
    duration_ms       BIGINT NOT NULL,
    request_url       TEXT NOT NULL,
    request_headers   TEXT NOT NULL,
    response_status   BIGINT,
    response_headers  TEXT,
    response_body     TEXT,
    error             TEXT
);
CREATE INDEX webhook_attempts_by_call ON webhook_attempts (call_id, id);

CREATE TABLE idempotency_keys (
    site_id       TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    response      TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (site_id, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
