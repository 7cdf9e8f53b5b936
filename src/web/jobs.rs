//! Jobs: the list with who triggered each, a job's page with its log streamed live while
//! it runs (Server-Sent Events), Cancel, and starting one by hand.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::Response;
use axum::Json;
use futures_util::stream::{self, Stream, StreamExt};
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{badge, duration, notice, site_page, when, when_opt, PageError, Tab};
use super::session::{csrf_field, Posted, WebUser};
use super::{load_site, see_other};
use crate::api::extract::{Caller, QueryParams};
use crate::api::jobs::{self as api, JobQuery};
use crate::api::AppState;
use crate::domain::job::{JobKind, JobStatus};
use crate::domain::token::Role;
use crate::store::{JobDetail, JobRecord};

/// How often a streamed log looks for new output (the runner saves it on each heartbeat).
const LOG_POLL: Duration = Duration::from_millis(300);

#[derive(Deserialize, Default)]
pub struct JobsQuery {
    cursor: Option<String>,
    notice: Option<String>,
}

fn run_time(job: &JobRecord) -> Markup {
    match (job.started_at, job.finished_at) {
        (Some(start), Some(end)) => html! { (duration(end - start)) },
        (Some(_), None) => html! { span.muted { "running" } },
        _ => html! { span.muted { "—" } },
    }
}

pub async fn list(
    State(state): State<AppState>,
    user: WebUser,
    Path(site_id): Path<String>,
    Query(q): Query<JobsQuery>,
) -> Result<Markup, PageError> {
    let site = load_site(&state, &user, &site_id).await?;
    let Json(jobs) = api::list(
        State(state),
        user.caller(),
        Path(site_id.clone()),
        QueryParams(JobQuery {
            status: None,
            kind: None,
            cursor: q.cursor.clone(),
            limit: Some("50".into()),
        }),
    )
    .await?;
    let base = format!("/sites/{site_id}");
    let content = html! {
        div.page-head {
            div { h1 { "Jobs" } p.lead { "Builds, previews and data syncs, newest first. At most one of each kind runs at a time; triggers that arrive meanwhile coalesce." } }
            @if user.can(Role::Developer) {
                form.toolbar method="post" action={ (base) "/jobs" } {
                    (csrf_field(&user))
                    select name="kind" aria-label="Kind of job" {
                        option value="build" { "Build" } option value="preview" { "Preview" } option value="sync" { "Data sync" }
                    }
                    input type="text" name="data_source" aria-label="Data source (optional)" placeholder="data source (optional)" maxlength="200";
                    label.inline { input type="checkbox" name="clear_cache" value="on"; " clear the cache" }
                    button.primary type="submit" { "Run now" }
                }
            }
        }
        (notice(q.notice.as_deref()))
        @if jobs.data.is_empty() {
            div.card.empty { "No jobs yet. Trigger a build hook, or run one now." }
        } @else {
            div.table-wrap { table #jobs {
                thead { tr { th { "Started" } th { "Kind" } th { "Status" } th { "Triggered by" } th.hide-narrow { "Data source" } th.num { "Duration" } } }
                tbody {
                    @for job in &jobs.data {
                        tr {
                            td { a href={ (base) "/jobs/" (job.id) } { (when(job.started_at.unwrap_or(job.created_at))) } }
                            td { (job.kind.as_str()) }
                            td { (badge(job.status.as_str())) }
                            td { (job.triggered_by) }
                            td.hide-narrow { (job.data_source.as_deref().unwrap_or("—")) }
                            td.num { (run_time(job)) }
                        }
                    }
                }
            } }
            @if let Some(next) = &jobs.next_cursor {
                div.pager { a.button href={ (base) "/jobs?cursor=" (next) } { "Older jobs →" } }
            }
        }
    };
    Ok(site_page("Jobs", &user, &site, Tab::Jobs, content))
}

pub async fn create(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let Posted { user, form } = posted;
    let Some(kind) = JobKind::parse(&form.text("kind")) else {
        return Err(PageError::BadRequest(
            "`kind` must be build, preview or sync".into(),
        ));
    };
    let body = serde_json::json!({
        "kind": kind,
        "data_source": form.optional("data_source"),
        "clear_cache": form.text("clear_cache") == "on",
    });
    let body = serde_json::to_vec(&body).expect("plain JSON");
    let (_, Json(job)) = api::create(
        State(state),
        user.caller(),
        Path(site_id.clone()),
        Bytes::from(body),
    )
    .await?;
    Ok(see_other(
        &format!("/sites/{site_id}/jobs/{}", job.id),
        "created",
    ))
}

async fn detail(
    state: &AppState,
    caller: Caller,
    site_id: &str,
    job_id: &str,
) -> Result<JobDetail, PageError> {
    let Json(job) = api::show(
        State(state.clone()),
        caller,
        Path((site_id.to_owned(), job_id.to_owned())),
    )
    .await?;
    Ok(job)
}

fn is_live(status: JobStatus) -> bool {
    matches!(status, JobStatus::Queued | JobStatus::Running)
}

pub async fn show(
    State(state): State<AppState>,
    user: WebUser,
    Path((site_id, job_id)): Path<(String, String)>,
    Query(q): Query<super::NoticeQuery>,
) -> Result<Markup, PageError> {
    let site = load_site(&state, &user, &site_id).await?;
    let detail = detail(&state, user.caller(), &site_id, &job_id).await?;
    let job = &detail.job;
    let base = format!("/sites/{site_id}/jobs/{job_id}");
    let live = is_live(job.status);
    let content = html! {
        div.page-head {
            div { h1 { (job.kind.as_str()) " job " span #job-status class={ "badge badge-" (job.status.as_str()) } { (job.status.as_str()) } } p.lead.mono { (job.id) } }
            @if live && user.can(Role::Developer) {
                form #cancel-job method="post" action={ (base) "/cancel" } data-confirm="Cancel this job?" {
                    (csrf_field(&user))
                    button.danger type="submit" { "Cancel job" }
                }
            }
        }
        (notice(q.notice.as_deref()))
        div.card {
            dl.facts {
                dt { "Trigger" } dd #triggered-by { (job.triggered_by) }
                dt { "Runner" } dd { (job.runner) }
                dt { "Data source" } dd { (job.data_source.as_deref().unwrap_or("—")) }
                dt { "Clear cache" } dd { @if job.clear_cache { "yes" } @else { "no" } }
                dt { "Queued" } dd { (when(job.created_at)) }
                dt { "Started" } dd { (when_opt(job.started_at)) }
                dt { "Finished" } dd { (when_opt(job.finished_at)) }
                @if let Some(code) = job.exit_code { dt { "Exit code" } dd { (code) } }
                @if let Some(reason) = &job.reason { dt { "Reason" } dd { (reason) } }
                @if let Some(newer) = &job.superseded_by { dt { "Superseded by" } dd { a href={ "/sites/" (site_id) "/jobs/" (newer) } { (newer) } } }
            }
        }
        div.card {
            h2 { "Log" }
            @if live {
                p.hint { "Streamed live while the job runs." }
                p #log-ended.alert.alert-ok hidden { "The job has finished; reload for its final details." }
                pre #job-log data-sse={ (base) "/log" } data-status="job-status" data-ended="log-ended" data-gone-when-ended="cancel-job" { (detail.log) }
            } @else {
                pre #job-log { @if detail.log.is_empty() { "(no output)" } @else { (detail.log) } }
            }
        }
    };
    Ok(site_page("Job", &user, &site, Tab::Jobs, content))
}

/// What a streamed log has told the browser so far.
struct Streamed {
    state: AppState,
    caller: Caller,
    site_id: String,
    job_id: String,
    /// `None` until the first event, which replaces what the page showed.
    log: Option<String>,
    status: Option<JobStatus>,
    ended: bool,
}

/// The events that bring the browser from what it has to `now`.
fn catch_up(sent: &mut Streamed, now: &JobDetail) -> Vec<Event> {
    let text = |value: &str| {
        Event::default()
            .json_data(value)
            .expect("strings serialise")
    };
    let mut events = Vec::new();
    match &sent.log {
        Some(old) if now.log.starts_with(old.as_str()) => {
            if now.log.len() > old.len() {
                events.push(text(&now.log[old.len()..]).event("log"));
            }
        }
        // First event, or the kept tail moved on (older output dropped): start over.
        _ => events.push(text(&now.log).event("reset")),
    }
    sent.log = Some(now.log.clone());
    if sent.status != Some(now.job.status) {
        events.push(text(now.job.status.as_str()).event("status"));
        sent.status = Some(now.job.status);
    }
    if !is_live(now.job.status) {
        events.push(text("").event("end"));
        sent.ended = true;
    }
    events
}

pub async fn stream_log(
    State(state): State<AppState>,
    user: WebUser,
    Path((site_id, job_id)): Path<(String, String)>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, PageError> {
    // Refuse at once (before the stream starts) when the job cannot be read.
    detail(&state, user.caller(), &site_id, &job_id).await?;
    let start = Streamed {
        state,
        caller: user.caller(),
        site_id,
        job_id,
        log: None,
        status: None,
        ended: false,
    };
    let updates = stream::unfold(start, |mut sent| async move {
        loop {
            if sent.ended {
                return None;
            }
            let now = detail(
                &sent.state,
                sent.caller.clone(),
                &sent.site_id,
                &sent.job_id,
            )
            .await;
            let events = match now {
                Ok(now) => catch_up(&mut sent, &now),
                // Deleted (with its site) or the database is away: the page keeps what it has.
                Err(_) => return None,
            };
            if !events.is_empty() {
                return Some((stream::iter(events.into_iter().map(Ok)), sent));
            }
            tokio::time::sleep(LOG_POLL).await;
        }
    })
    .flatten();
    Ok(Sse::new(updates).keep_alive(KeepAlive::default()))
}

pub async fn cancel(
    State(state): State<AppState>,
    Path((site_id, job_id)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, PageError> {
    let _ = api::cancel(
        State(state),
        posted.user.caller(),
        Path((site_id.clone(), job_id.clone())),
    )
    .await?;
    Ok(see_other(
        &format!("/sites/{site_id}/jobs/{job_id}"),
        "cancelled",
    ))
}
