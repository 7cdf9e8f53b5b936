-- Operating in the bad months: per-webhook rate limits, auto-disable after a failing
-- streak, and bulk recovery of failed calls.

-- Optional; NULL means no limit.
ALTER TABLE webhooks ADD COLUMN rate_limit_per_s BIGINT;
-- NULL: the server's --disable-after; 0: never.
ALTER TABLE webhooks ADD COLUMN disable_after_ms BIGINT;
-- When the current failing streak began (a call failed again after a retry, or ran out
-- of retries); cleared by the next success.
ALTER TABLE webhooks ADD COLUMN failing_since BIGINT;

-- Set when a call was pushed back to a rate-limit slot it holds: taken again, it is sent
-- without asking for another slot.
ALTER TABLE webhook_calls ADD COLUMN rate_slot_at BIGINT;

-- The next free send slot of a rate-limited webhook (microseconds), shared by every
-- process of a cluster.
CREATE TABLE webhook_rate_slots (
    webhook_id    TEXT PRIMARY KEY REFERENCES webhooks(id) ON DELETE CASCADE,
    next_slot_us  BIGINT NOT NULL
);

-- Bulk recovery: re-send a webhook's failed calls in a window, as one durable operation
-- that any process may carry on (lease), resuming after the last call it handled.
CREATE TABLE recoveries (
    id           TEXT PRIMARY KEY,
    site_id      TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    webhook_id   TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    since        BIGINT NOT NULL,
    until_at     BIGINT NOT NULL,
    status       TEXT NOT NULL,                 -- queued, running, done
    last_call_id TEXT,
    resent       BIGINT NOT NULL DEFAULT 0,
    lease_until  BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    finished_at  BIGINT
);
CREATE INDEX recoveries_by_webhook ON recoveries (webhook_id, id);
CREATE INDEX recoveries_open ON recoveries (lease_until) WHERE status <> 'done';
