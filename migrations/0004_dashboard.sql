-- Dashboard sign-in sessions. Only the hash of the cookie's secret is stored; a session
-- dies with its API token (revoking the token signs its sessions out).
CREATE TABLE web_sessions (
    id_hash     TEXT PRIMARY KEY,
    token_id    TEXT NOT NULL REFERENCES api_tokens(id) ON DELETE CASCADE,
    csrf_token  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX web_sessions_by_token ON web_sessions (token_id);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);
