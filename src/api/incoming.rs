//! The public side of build hooks: `POST /hooks/{hook_id}` and the site's default hook
//! `POST /hooks/sites/{site_id}`. No API token: the unguessable URL (and, optionally, a
//! verified signature) is the credential.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;

use super::problem::ApiError;
use super::AppState;
use crate::domain::job::{read_trigger_headers, JobKind, JobStatus};
use crate::domain::time::now_millis;
use crate::store::{HookRecord, NewJob};

/// Trigger bodies larger than this are refused (413).
pub const HOOK_BODY_LIMIT: usize = 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hooks/{hook_id}", post(named_hook))
        .route("/hooks/sites/{site_id}", post(default_hook))
        .layer(DefaultBodyLimit::max(HOOK_BODY_LIMIT))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    job_id: String,
    status: JobStatus,
}

/// Says nothing about whether the hook ever existed.
fn unknown() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not found")
}

fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "a trigger body may be at most 1 MiB",
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("could not read the body: {rejection}"),
            )
        }
    })
}

fn header<'h>(headers: &'h HeaderMap) -> impl Fn(&str) -> Option<&'h str> {
    move |name| headers.get(name).and_then(|v| v.to_str().ok())
}

#[utoipa::path(
    post,
    path = "/hooks/{hook_id}",
    tag = "build hooks",
    summary = "Trigger a build hook (no token: the URL is the credential)",
    operation_id = "incoming_named_hook",
    params(("hook_id" = String, Path, description = "The build hook"), ("x-data-source" = Option<String>, Header, description = "Data source"), ("x-commit-ref" = Option<String>, Header, description = "The commit built")),
    responses((status = 202, description = "The job", body = Accepted), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
)]
async fn named_hook(
    State(state): State<AppState>,
    Path(hook_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let body = read_body(body)?;
    let hook = state
        .store
        .hook_by_id(&hook_id)
        .await?
        .ok_or_else(unknown)?;
    if let Some(verify) = &hook.verify {
        if let Err(reason) = verify.check(header(&headers), &body, now_millis() / 1000) {
            let reason = format!("sender not verified: {reason}");
            state
                .store
                .record_hook_request(&hook.site_id, Some(&hook.id), Err(&reason))
                .await?;
            return Err(ApiError::unauthorized(reason));
        }
    }
    let triggered_by = match hook.verify.as_ref().and_then(|v| v.sender()) {
        Some(sender) => format!("Triggered by {sender} via {}", hook.title),
        None => format!("Triggered by {}", hook.title),
    };
    let site_id = hook.site_id.clone();
    trigger(
        &state,
        &site_id,
        Some(&hook),
        hook.kind,
        triggered_by,
        &headers,
        &body,
    )
    .await
}

#[utoipa::path(
    post,
    path = "/hooks/sites/{site_id}",
    tag = "build hooks",
    summary = "Trigger the default hook of a site (only while it has no named hook)",
    operation_id = "incoming_default_hook",
    params(("site_id" = String, Path, description = "The site")),
    responses((status = 202, description = "The job", body = Accepted), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
)]
async fn default_hook(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let body = read_body(body)?;
    match state.store.site(&site_id).await {
        Ok(_) => {}
        Err(crate::store::StoreError::NotFound) => return Err(unknown()),
        Err(e) => return Err(e.into()),
    }
    if state.store.count_hooks(&site_id).await? > 0 {
        let reason = "this site has build hooks: trigger one of their URLs (the default hook works only while a site has none)";
        state
            .store
            .record_hook_request(&site_id, None, Err(reason))
            .await?;
        return Err(ApiError::unauthorized(reason));
    }
    let triggered_by = "Triggered by the default build hook".to_owned();
    trigger(
        &state,
        &site_id,
        None,
        JobKind::Build,
        triggered_by,
        &headers,
        &body,
    )
    .await
}

async fn trigger(
    state: &AppState,
    site_id: &str,
    hook: Option<&HookRecord>,
    kind: JobKind,
    triggered_by: String,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let hook_id = hook.map(|h| h.id.as_str());
    let params = match read_trigger_headers(kind, header(headers)) {
        Ok(params) => params,
        Err(problem) => {
            let error = ApiError::bad_field(problem.header, problem.message);
            state
                .store
                .record_hook_request(site_id, hook_id, Err(&error.detail))
                .await?;
            return Err(error);
        }
    };
    let job = NewJob {
        site_id: site_id.to_owned(),
        kind: params.kind,
        hook_id: hook_id.map(str::to_owned),
        triggered_by,
        data_source: params.data_source,
        clear_cache: params.clear_cache,
        refs: params.refs,
        payload: String::from_utf8_lossy(body).into_owned(),
    };
    let job = state.store.enqueue_job(&job, now_millis()).await?;
    state
        .store
        .record_hook_request(site_id, hook_id, Ok(&job.id))
        .await?;
    state.jobs_wake.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            job_id: job.id,
            status: job.status,
        }),
    ))
}
