-- Incoming build hooks, the jobs they start, site job settings, and the audit log.
ALTER TABLE sites ADD COLUMN build_command TEXT;
ALTER TABLE sites ADD COLUMN preview_command TEXT;
ALTER TABLE sites ADD COLUMN sync_command TEXT;
ALTER TABLE sites ADD COLUMN working_dir TEXT;
ALTER TABLE sites ADD COLUMN cache_dir TEXT;
ALTER TABLE sites ADD COLUMN job_timeout_s BIGINT NOT NULL DEFAULT 1800;
ALTER TABLE sites ADD COLUMN job_env TEXT NOT NULL DEFAULT '{}';
ALTER TABLE sites ADD COLUMN locked BIGINT NOT NULL DEFAULT 0;

CREATE TABLE build_hooks (
    id          TEXT PRIMARY KEY,          -- also the secret part of the hook's URL
    site_id     TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    title       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    verify      TEXT,                      -- JSON, NULL: anyone with the URL may trigger
    created_at  BIGINT NOT NULL
);
CREATE INDEX build_hooks_by_site ON build_hooks (site_id, created_at);

-- Every request a hook received, accepted or refused, for the hook's log.
CREATE TABLE hook_requests (
    id           TEXT PRIMARY KEY,
    site_id      TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    hook_id      TEXT,                     -- NULL for the site's default hook
    received_at  BIGINT NOT NULL,
    accepted     BIGINT NOT NULL,
    reason       TEXT,
    job_id       TEXT
);
CREATE INDEX hook_requests_by_hook ON hook_requests (hook_id, id);

CREATE TABLE jobs (
    id             TEXT PRIMARY KEY,
    site_id        TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    status         TEXT NOT NULL,
    hook_id        TEXT,
    triggered_by   TEXT NOT NULL,
    data_source    TEXT,
    clear_cache    BIGINT NOT NULL,
    payload        TEXT NOT NULL,
    superseded_by  TEXT,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    exit_code      BIGINT,
    reason         TEXT,
    log            TEXT NOT NULL DEFAULT '',
    heartbeat_at   BIGINT,
    created_at     BIGINT NOT NULL,
    started_at     BIGINT,
    finished_at    BIGINT
);
CREATE INDEX jobs_by_site ON jobs (site_id, id);
CREATE INDEX jobs_waiting ON jobs (created_at) WHERE status = 'queued';
-- The coalescing rules, enforced by the database itself (even across processes):
-- at most one running and at most one queued job per site and kind.
CREATE UNIQUE INDEX jobs_one_running ON jobs (site_id, kind) WHERE status = 'running';
CREATE UNIQUE INDEX jobs_one_queued ON jobs (site_id, kind) WHERE status = 'queued';

CREATE TABLE audit_log (
    id           TEXT PRIMARY KEY,
    site_id      TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    actor        TEXT NOT NULL,
    token_id     TEXT,
    action       TEXT NOT NULL,
    target_type  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    details      TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX audit_log_by_site ON audit_log (site_id, id);
