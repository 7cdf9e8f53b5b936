-- Custom payloads, secret rotation and JWS signatures.
ALTER TABLE webhooks ADD COLUMN payload_template TEXT;
ALTER TABLE webhooks ADD COLUMN content_type TEXT NOT NULL DEFAULT 'application/json';
ALTER TABLE webhooks ADD COLUMN previous_secret TEXT;
ALTER TABLE webhooks ADD COLUMN previous_secret_expires_at BIGINT;
ALTER TABLE webhooks ADD COLUMN jws_secret TEXT;
ALTER TABLE webhooks ADD COLUMN jws_issuer TEXT;

-- A call rendered from a template keeps its own body (NULL: the event's default body).
ALTER TABLE webhook_calls ADD COLUMN body TEXT;
ALTER TABLE webhook_calls ADD COLUMN content_type TEXT;
