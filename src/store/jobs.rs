use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::sql::Sql;
use super::{corrupt, Page, Result, Store, StoreError};
use crate::domain::ids;
use crate::domain::job::{JobKind, JobStatus, SourceRefs};
use crate::domain::time::{rfc3339, UnixMillis};

pub const JOB_PREFIX: &str = "job";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobRecord {
    pub id: String,
    pub site_id: String,
    pub kind: JobKind,
    /// The runner type, Gatsby-style (`BUILD`, `PREVIEW`, `SYNC`).
    pub runner: String,
    pub status: JobStatus,
    pub triggered_by: String,
    pub hook_id: Option<String>,
    pub data_source: Option<String>,
    pub clear_cache: bool,
    /// The newer job that replaced this one while it waited.
    pub superseded_by: Option<String>,
    pub exit_code: Option<i64>,
    /// Why it failed or was cancelled, in words.
    pub reason: Option<String>,
    #[serde(flatten)]
    pub refs: SourceRefs,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "rfc3339")]
    pub created_at: UnixMillis,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(with = "rfc3339::option")]
    pub started_at: Option<UnixMillis>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(with = "rfc3339::option")]
    pub finished_at: Option<UnixMillis>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobDetail {
    #[serde(flatten)]
    pub job: JobRecord,
    /// The tail of stdout and stderr; updated while the job runs.
    pub log: String,
}

/// A trigger, about to become a queued job.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub site_id: String,
    pub kind: JobKind,
    pub hook_id: Option<String>,
    pub triggered_by: String,
    pub data_source: Option<String>,
    pub clear_cache: bool,
    pub refs: SourceRefs,
    pub payload: String,
}

#[derive(Debug, Default, Clone)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    pub kind: Option<JobKind>,
    pub cursor: Option<String>,
    pub limit: u32,
}

const COLUMNS: &str =
    "id, site_id, kind, status, triggered_by, hook_id, data_source, clear_cache, \
     superseded_by, exit_code, reason, commit_ref, pull_request, merge_request, created_at, \
     started_at, finished_at";

fn from_row(row: &AnyRow) -> Result<JobRecord> {
    let kind: String = row.try_get("kind")?;
    let kind = JobKind::parse(&kind).ok_or_else(|| corrupt("job kind", kind))?;
    let status: String = row.try_get("status")?;
    Ok(JobRecord {
        id: row.try_get("id")?,
        site_id: row.try_get("site_id")?,
        kind,
        runner: kind.as_str().to_ascii_uppercase(),
        status: JobStatus::parse(&status).ok_or_else(|| corrupt("job status", status))?,
        triggered_by: row.try_get("triggered_by")?,
        hook_id: row.try_get("hook_id")?,
        data_source: row.try_get("data_source")?,
        clear_cache: row.try_get::<i64, _>("clear_cache")? != 0,
        superseded_by: row.try_get("superseded_by")?,
        exit_code: row.try_get("exit_code")?,
        reason: row.try_get("reason")?,
        refs: SourceRefs {
            commit_ref: row.try_get("commit_ref")?,
            pull_request: row.try_get("pull_request")?,
            merge_request: row.try_get("merge_request")?,
        },
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

fn is_unique_violation(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation())
}

impl Store {
    /// Queues a job. The site and kind's waiting job, if any, is superseded by this newer
    /// one in the same transaction: newest wins, and the database's unique indexes make
    /// sure there is never more than one waiting.
    pub async fn enqueue_job(&self, job: &NewJob, now: UnixMillis) -> Result<JobRecord> {
        self.site(&job.site_id).await?;
        let id = ids::new_id(JOB_PREFIX);
        // Two processes queueing at once on PostgreSQL: the loser's insert meets the
        // winner's queued job; supersede it in turn.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_enqueue(&id, job, now).await {
                Err(e) if attempt < 5 && is_unique_violation(&e) => continue,
                other => return other,
            }
        }
    }

    async fn try_enqueue(&self, id: &str, job: &NewJob, now: UnixMillis) -> Result<JobRecord> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            // A superseded trigger never runs: its body is not kept (a flood of triggers
            // would otherwise keep every body it sent).
            "UPDATE jobs SET status = 'superseded', superseded_by = $1, finished_at = $2, payload = '' \
             WHERE site_id = $3 AND kind = $4 AND status = 'queued'",
        )
        .bind(id.to_owned())
        .bind(now)
        .bind(job.site_id.clone())
        .bind(job.kind.as_str())
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO jobs (id, site_id, kind, status, hook_id, triggered_by, data_source, clear_cache, \
               payload, created_at, commit_ref, pull_request, merge_request) \
             VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {COLUMNS}"
        )))
        .bind(id.to_owned())
        .bind(job.site_id.clone())
        .bind(job.kind.as_str())
        .bind(job.hook_id.clone())
        .bind(job.triggered_by.clone())
        .bind(job.data_source.clone())
        .bind(i64::from(job.clear_cache))
        .bind(job.payload.clone())
        .bind(now)
        .bind(job.refs.commit_ref.clone())
        .bind(job.refs.pull_request.clone())
        .bind(job.refs.merge_request.clone())
        .fetch_one(&mut *tx)
        .await?;
        super::announce_due_work(self.dialect, &mut tx).await?;
        tx.commit().await?;
        from_row(&row)
    }

    /// Starts the oldest waiting job whose site is unlocked and has no job of that kind
    /// running. Returns it with its trigger payload.
    pub async fn claim_job(&self, now: UnixMillis) -> Result<Option<(JobRecord, String)>> {
        let lock = self.dialect.skip_locked("j");
        let claimed = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE jobs SET status = 'running', started_at = $1, heartbeat_at = $1 \
             WHERE status = 'queued' AND id = ( \
               SELECT j.id FROM jobs j JOIN sites s ON s.id = j.site_id \
               WHERE j.status = 'queued' AND s.locked = 0 AND NOT EXISTS ( \
                 SELECT 1 FROM jobs r WHERE r.site_id = j.site_id AND r.kind = j.kind AND r.status = 'running') \
               ORDER BY j.created_at LIMIT 1{lock}) \
             RETURNING {COLUMNS}, payload"
        )))
        .bind(now)
        .fetch_optional(&self.write)
        .await
        .map_err(StoreError::from);
        match claimed {
            Ok(Some(row)) => Ok(Some((from_row(&row)?, row.try_get("payload")?))),
            Ok(None) => Ok(None),
            // Another process started a job of this site and kind at the same moment.
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Saves the log so far and proves the job's runner is alive. Returns `false` when the
    /// job should stop: a cancel was requested, or it is no longer running.
    pub async fn job_heartbeat(&self, id: &str, log: &str, now: UnixMillis) -> Result<bool> {
        let row = sqlx::query(
            "UPDATE jobs SET log = $1, heartbeat_at = $2 WHERE id = $3 AND status = 'running' \
             RETURNING cancel_requested",
        )
        .bind(log.to_owned())
        .bind(now)
        .bind(id.to_owned())
        .fetch_optional(&self.write)
        .await?;
        Ok(match row {
            Some(row) => row.try_get::<i64, _>("cancel_requested")? == 0,
            None => false,
        })
    }

    pub async fn finish_job(
        &self,
        id: &str,
        status: JobStatus,
        exit_code: Option<i64>,
        reason: Option<&str>,
        log: &str,
        now: UnixMillis,
    ) -> Result<Option<JobRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            // The payload was the job's input (it ran from a copy in a file): not kept.
            "UPDATE jobs SET status = $1, exit_code = $2, reason = COALESCE($3, reason), log = $4, finished_at = $5, \
               payload = '' WHERE id = $6 AND status = 'running' RETURNING {COLUMNS}"
        )))
        .bind(status.as_str())
        .bind(exit_code)
        .bind(reason.map(str::to_owned))
        .bind(log.to_owned())
        .bind(now)
        .bind(id.to_owned())
        .fetch_optional(&self.write)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// A waiting job is cancelled at once; a running one is asked to stop (its runner
    /// kills it within a heartbeat).
    pub async fn cancel_job(
        &self,
        site_id: &str,
        id: &str,
        by: &str,
        now: UnixMillis,
    ) -> Result<JobRecord> {
        let reason = format!("cancelled by {by}");
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE jobs SET status = 'cancelled', reason = $1, finished_at = $2, payload = '' \
             WHERE site_id = $3 AND id = $4 AND status = 'queued' RETURNING {COLUMNS}"
        )))
        .bind(reason.clone())
        .bind(now)
        .bind(site_id.to_owned())
        .bind(id.to_owned())
        .fetch_optional(&self.write)
        .await?;
        if let Some(row) = row {
            return from_row(&row);
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE jobs SET cancel_requested = 1, reason = $1 \
             WHERE site_id = $2 AND id = $3 AND status = 'running' RETURNING {COLUMNS}"
        )))
        .bind(reason)
        .bind(site_id.to_owned())
        .bind(id.to_owned())
        .fetch_optional(&self.write)
        .await?;
        match row {
            Some(row) => from_row(&row),
            None => {
                let job = self.job(site_id, id).await?.job;
                Err(StoreError::Conflict(format!(
                    "the job has already {}",
                    job.status.as_str()
                )))
            }
        }
    }

    /// Fails running jobs whose runner stopped proving it is alive before `stale_before`.
    pub async fn fail_orphaned_jobs(
        &self,
        stale_before: UnixMillis,
        now: UnixMillis,
    ) -> Result<Vec<JobRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE jobs SET status = 'failed', finished_at = $1, payload = '', \
               reason = 'hookrelay stopped while this job was running (process restarted or lost); trigger it again' \
             WHERE status = 'running' AND (heartbeat_at IS NULL OR heartbeat_at < $2) RETURNING {COLUMNS}"
        )))
        .bind(now)
        .bind(stale_before)
        .fetch_all(&self.write)
        .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn list_jobs(&self, site_id: &str, filter: &JobFilter) -> Result<Page<JobRecord>> {
        self.site(site_id).await?;
        let mut sql = Sql::new(
            self.dialect,
            &format!("SELECT {COLUMNS} FROM jobs WHERE site_id = "),
        );
        sql.bind(site_id.to_owned());
        if let Some(status) = filter.status {
            sql.push(" AND status = ").bind(status.as_str().to_owned());
        }
        if let Some(kind) = filter.kind {
            sql.push(" AND kind = ").bind(kind.as_str().to_owned());
        }
        if let Some(cursor) = &filter.cursor {
            sql.push(" AND id < ").bind(cursor.clone());
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .bind(i64::from(filter.limit) + 1);
        let rows = sql.query().fetch_all(&self.read).await?;
        let mut data = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_probe(&mut data, filter.limit, |j| j.id.clone()))
    }

    /// How many jobs wait and run now, over every site (for metrics).
    pub async fn active_jobs(&self) -> Result<Vec<(&'static str, i64)>> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM jobs WHERE status IN ('queued', 'running') GROUP BY status",
        )
        .fetch_all(&self.read)
        .await?;
        let mut counts = vec![("queued", 0), ("running", 0)];
        for row in rows {
            let status: String = row.try_get("status")?;
            if let Some(entry) = counts.iter_mut().find(|(s, _)| *s == status) {
                entry.1 = row.try_get("n")?;
            }
        }
        Ok(counts)
    }

    pub async fn job(&self, site_id: &str, id: &str) -> Result<JobDetail> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS}, log FROM jobs WHERE site_id = $1 AND id = $2"
        )))
        .bind(site_id.to_owned())
        .bind(id.to_owned())
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(JobDetail {
            job: from_row(&row)?,
            log: row.try_get("log")?,
        })
    }
}
