-- Safe to expose: credentials apart from ids, public-endpoint settings, storage quotas.

-- Header names whose values viewers may read (JSON list); every other value is masked.
ALTER TABLE webhooks ADD COLUMN public_headers TEXT NOT NULL DEFAULT '[]';

-- A hook's URL token is its credential; its id is only a name for it in the API, logs
-- and jobs. Existing hooks keep their URLs: the data step of this migration moves each
-- old id (which was the URL's secret) to url_token and gives the hook a new id.
ALTER TABLE build_hooks ADD COLUMN url_token TEXT;
CREATE UNIQUE INDEX build_hooks_by_url_token ON build_hooks (url_token);

-- Site-id hooks (/hooks/sites/{site} and the Gatsby and Connect URL shapes): off unless
-- a site turns them on, with the rule and the job kind they start.
ALTER TABLE sites ADD COLUMN site_hooks TEXT NOT NULL DEFAULT 'off';
ALTER TABLE sites ADD COLUMN site_hooks_kind TEXT NOT NULL DEFAULT 'build';

-- What each stored submission takes, for the per-site storage quota.
ALTER TABLE form_submissions ADD COLUMN bytes BIGINT NOT NULL DEFAULT 0;
UPDATE form_submissions SET bytes = LENGTH(data);
CREATE INDEX form_submissions_usage ON form_submissions (site_id, bytes);

-- The hook log is pruned by age with the rest.
CREATE INDEX hook_requests_by_age ON hook_requests (received_at);

-- Server-wide facts, such as a check value sealed with the secret key (so a node started
-- with another key refuses to run instead of failing to read every secret).
CREATE TABLE server_settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
