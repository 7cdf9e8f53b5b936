//! The activity log: calls and their attempts as people read them, and resending one.

use serde::Serialize;
use serde_json::value::RawValue;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::ordering::{self, OrderKey};
use super::sql::Sql;
use super::tx::SqlxTx;
use super::{corrupt, parse_json, Result, Store, StoreError};
use crate::domain::call::CallStatus;
use crate::domain::time::{rfc3339, UnixMillis};
use crate::domain::webhook::DEFAULT_CONTENT_TYPE;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CallSummary {
    pub id: String,
    pub site_id: String,
    pub event_id: String,
    pub webhook_id: String,
    pub entity_type: String,
    pub event_type: String,
    pub status: CallStatus,
    pub attempt_count: i64,
    /// When the next attempt is due (pending calls only).
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(with = "rfc3339::option")]
    pub next_attempt_at: Option<UnixMillis>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(with = "rfc3339::option")]
    pub last_attempt_at: Option<UnixMillis>,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "rfc3339")]
    pub created_at: UnixMillis,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "rfc3339")]
    pub updated_at: UnixMillis,
    /// Its ordering key, when its webhook orders its calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
    /// Its place among its key's calls (sent as `webhook-sequence`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<i64>,
    /// The call of its key it waits for (pending calls of ordered webhooks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_behind: Option<String>,
    /// The newer call that replaced it (superseded calls only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
}

/// `waiting_behind` is the head of the call's key: the earliest pending call before it.
const SUMMARY_COLUMNS: &str = "id, site_id, event_id, webhook_id, entity_type, event_type, \
     status, attempt_count, next_attempt_at, last_status_code, last_error, last_attempt_at, \
     created_at, updated_at, ordering_key, sequence, superseded_by, \
     (SELECT head.id FROM webhook_calls head WHERE head.webhook_id = webhook_calls.webhook_id \
        AND head.ordering_key = webhook_calls.ordering_key AND head.status = 'pending' \
        AND head.sequence < webhook_calls.sequence ORDER BY head.sequence LIMIT 1) AS waiting_behind";

fn summary_from_row(row: &AnyRow) -> Result<CallSummary> {
    let status: String = row.try_get("status")?;
    let status = CallStatus::parse(&status).ok_or_else(|| corrupt("call status", status))?;
    let next_attempt_at: Option<i64> = row.try_get("next_attempt_at")?;
    Ok(CallSummary {
        id: row.try_get("id")?,
        site_id: row.try_get("site_id")?,
        event_id: row.try_get("event_id")?,
        webhook_id: row.try_get("webhook_id")?,
        entity_type: row.try_get("entity_type")?,
        event_type: row.try_get("event_type")?,
        status,
        attempt_count: row.try_get("attempt_count")?,
        next_attempt_at: next_attempt_at.filter(|_| status == CallStatus::Pending),
        last_status_code: row.try_get("last_status_code")?,
        last_error: row.try_get("last_error")?,
        last_attempt_at: row.try_get("last_attempt_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        ordering_key: row.try_get("ordering_key")?,
        sequence: row.try_get("sequence")?,
        waiting_behind: row
            .try_get::<Option<String>, _>("waiting_behind")?
            .filter(|_| status == CallStatus::Pending),
        superseded_by: row.try_get("superseded_by")?,
    })
}

/// One attempt as the dispatcher made it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NewAttempt {
    /// Made because a person asked for a resend, not by the schedule.
    pub manual: bool,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "rfc3339")]
    pub started_at: UnixMillis,
    pub duration_ms: i64,
    pub request_url: String,
    /// Headers as sent, with credentials masked: a JSON object, kept as the text it is
    /// stored as (written once per delivery, read rarely).
    #[schema(value_type = Object)]
    pub request_headers: Box<RawValue>,
    /// What a notification sent (its message); `None` when it is the call's own body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    pub response_status: Option<i64>,
    #[schema(value_type = Option<Object>)]
    pub response_headers: Option<Box<RawValue>>,
    /// Cut to the configured limit.
    pub response_body: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttemptRecord {
    pub id: String,
    #[serde(flatten)]
    pub attempt: NewAttempt,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequestView {
    /// URL and headers of the latest attempt (absent until one is made).
    pub url: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub headers: Option<Box<RawValue>>,
    pub content_type: String,
    pub body: String,
    /// When retention emptied the bodies and removed the attempts (the summary stays).
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(with = "rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub pruned_at: Option<UnixMillis>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CallDetail {
    #[serde(flatten)]
    pub summary: CallSummary,
    pub environment: String,
    pub request: RequestView,
    pub attempts: Vec<AttemptRecord>,
}

#[derive(Debug, Default, Clone)]
pub struct CallFilter {
    pub webhook_id: Option<String>,
    pub status: Option<CallStatus>,
    pub event_type: Option<String>,
    pub since: Option<UnixMillis>,
    pub until: Option<UnixMillis>,
    /// Id of the last call of the previous page.
    pub cursor: Option<String>,
    pub limit: u32,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The same page with each item shown as `view` makes it.
    pub fn map<U>(self, view: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(view).collect(),
            next_cursor: self.next_cursor,
        }
    }

    /// From rows fetched with `LIMIT limit + 1`: the extra row, if any, only says that
    /// another page exists.
    pub fn from_probe(rows: &mut Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> String) -> Page<T> {
        let next_cursor = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(&cursor_of)
        } else {
            None
        };
        Page {
            data: std::mem::take(rows),
            next_cursor,
        }
    }
}

impl Store {
    pub async fn list_calls(
        &self,
        site_id: &str,
        filter: &CallFilter,
    ) -> Result<Page<CallSummary>> {
        self.site(site_id).await?;
        let mut sql = Sql::new(
            self.dialect,
            &format!("SELECT {SUMMARY_COLUMNS} FROM webhook_calls WHERE site_id = "),
        );
        sql.bind(site_id.to_owned());
        if let Some(webhook_id) = &filter.webhook_id {
            sql.push(" AND webhook_id = ").bind(webhook_id.clone());
        }
        if let Some(status) = filter.status {
            sql.push(" AND status = ").bind(status.as_str().to_owned());
        }
        if let Some(event_type) = &filter.event_type {
            sql.push(" AND event_type = ").bind(event_type.clone());
        }
        if let Some(since) = filter.since {
            sql.push(" AND created_at >= ").bind(since);
        }
        if let Some(until) = filter.until {
            sql.push(" AND created_at < ").bind(until);
        }
        if let Some(cursor) = &filter.cursor {
            sql.push(" AND id < ").bind(cursor.clone());
        }
        // One row more than asked tells whether another page exists.
        sql.push(" ORDER BY id DESC LIMIT ")
            .bind(i64::from(filter.limit) + 1);
        let rows = sql.query().fetch_all(&self.read).await?;
        let mut data = rows
            .iter()
            .map(summary_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_probe(&mut data, filter.limit, |c| c.id.clone()))
    }

    pub async fn call_detail(&self, site_id: &str, id: &str) -> Result<CallDetail> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SUMMARY_COLUMNS}, body, content_type, pruned_at FROM webhook_calls WHERE site_id = $1 AND id = $2"
        )))
        .bind(site_id.to_owned())
        .bind(id.to_owned())
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        let summary = summary_from_row(&row)?;
        let event = sqlx::query("SELECT environment, body FROM events WHERE id = $1")
            .bind(summary.event_id.clone())
            .fetch_one(&self.read)
            .await?;
        let attempts = sqlx::query(
            "SELECT id, manual, started_at, duration_ms, request_url, request_headers, \
             request_body, response_status, response_headers, response_body, error \
             FROM webhook_attempts WHERE call_id = $1 ORDER BY id",
        )
        .bind(id.to_owned())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(attempt_from_row)
        .collect::<Result<Vec<_>>>()?;
        let latest = attempts.last().map(|a| &a.attempt);
        let own_body: Option<String> = row.try_get("body")?;
        let pruned_at: Option<UnixMillis> = row.try_get("pruned_at")?;
        let content_type: Option<String> = row.try_get("content_type")?;
        Ok(CallDetail {
            request: RequestView {
                url: latest.map(|a| a.request_url.clone()),
                headers: latest.map(|a| a.request_headers.clone()),
                content_type: content_type.unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned()),
                body: match (own_body, pruned_at) {
                    (_, Some(_)) => String::new(),
                    (Some(body), None) => body,
                    (None, None) => event.try_get("body")?,
                },
                pruned_at,
            },
            environment: event.try_get("environment")?,
            summary,
            attempts,
        })
    }

    /// Makes the call due now. A finished call gets exactly one more attempt; a pending one
    /// has its next scheduled attempt brought forward. A call of an ordered webhook keeps
    /// its key's order: a finished one joins the back of its key (a new sequence) and a
    /// pending one goes forward only if it is its key's head; `waiting_behind` says when
    /// it waits.
    pub async fn resend_call(
        &self,
        site_id: &str,
        id: &str,
        now: UnixMillis,
    ) -> Result<CallSummary> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT webhook_id, ordering_key, status FROM webhook_calls WHERE site_id = $1 AND id = $2",
        )
        .bind(site_id.to_owned())
        .bind(id.to_owned())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let ordering_key: Option<String> = row.try_get("ordering_key")?;
        match ordering_key {
            None => {
                sqlx::query(
                    "UPDATE webhook_calls SET \
                       one_shot = CASE WHEN status = 'pending' THEN one_shot ELSE 1 END, \
                       status = 'pending', next_attempt_at = $1, claim_token = NULL, \
                       resend_requested = 1, updated_at = $1 \
                     WHERE id = $2",
                )
                .bind(now)
                .bind(id.to_owned())
                .execute(&mut *tx)
                .await?;
            }
            Some(key) => {
                let key = OrderKey {
                    webhook_id: row.try_get("webhook_id")?,
                    key,
                };
                let status: String = row.try_get("status")?;
                let mut ordered = SqlxTx::new(&mut tx, self.dialect);
                ordering::lock_keys(&mut ordered, std::slice::from_ref(&key)).await?;
                ordering::requeue(&mut ordered, id, &key, status == "pending", now).await?;
            }
        }
        super::announce_due_work(self.dialect, &mut tx).await?;
        tx.commit().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SUMMARY_COLUMNS} FROM webhook_calls WHERE id = $1"
        )))
        .bind(id.to_owned())
        .fetch_one(&self.read)
        .await?;
        summary_from_row(&row)
    }
}

fn attempt_from_row(row: &AnyRow) -> Result<AttemptRecord> {
    let request_headers: String = row.try_get("request_headers")?;
    let response_headers: Option<String> = row.try_get("response_headers")?;
    Ok(AttemptRecord {
        id: row.try_get("id")?,
        attempt: NewAttempt {
            manual: row.try_get::<i64, _>("manual")? != 0,
            started_at: row.try_get("started_at")?,
            duration_ms: row.try_get("duration_ms")?,
            request_url: row.try_get("request_url")?,
            request_headers: parse_json("attempt request headers", &request_headers)?,
            request_body: row.try_get("request_body")?,
            response_status: row.try_get("response_status")?,
            response_headers: response_headers
                .as_deref()
                .map(|h| parse_json("attempt response headers", h))
                .transpose()?,
            response_body: row.try_get("response_body")?,
            error: row.try_get("error")?,
        },
    })
}
