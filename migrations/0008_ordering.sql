-- Ordered delivery (see docs/ORDERING.md). A webhook's mode: none (concurrent), key (one
-- call at a time per ordering key, in order of acceptance) or latest (as key, and older
-- calls not yet delivered are superseded by a newer one). The key is a JSON pointer into
-- the event, or * for one key per webhook.
ALTER TABLE webhooks ADD COLUMN ordering TEXT NOT NULL DEFAULT 'none';
ALTER TABLE webhooks ADD COLUMN ordering_key TEXT NOT NULL DEFAULT '/entity/id';

-- An ordered call's key and its place in it (1, 2, … per webhook and key); NULL for
-- calls of unordered webhooks. A call that waits behind an earlier one of its key has no
-- due time until that one is done. superseded_by names the newer call that replaced it.
ALTER TABLE webhook_calls ADD COLUMN ordering_key TEXT;
ALTER TABLE webhook_calls ADD COLUMN sequence BIGINT;
ALTER TABLE webhook_calls ADD COLUMN superseded_by TEXT;
CREATE INDEX webhook_calls_by_ordering_key ON webhook_calls (webhook_id, ordering_key, sequence)
    WHERE status = 'pending' AND ordering_key IS NOT NULL;

-- The last sequence given out per webhook and key. Publishers lock its row until they
-- commit, so sequences follow commit order on PostgreSQL too.
CREATE TABLE ordering_keys (
    webhook_id     TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    key            TEXT NOT NULL,
    last_sequence  BIGINT NOT NULL,
    PRIMARY KEY (webhook_id, key)
);
