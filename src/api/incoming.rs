//! The public side of build hooks: `POST /hooks/{url_token}`, and a site's site-id hooks
//! in the three shapes in use (`/hooks/sites/{site}`, Gatsby's two, Connect's). No API
//! token: the unguessable URL (and, optionally, a verified signature) is the credential,
//! and a site-id hook only answers when the site turned it on.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;

use super::problem::ApiError;
use super::throttle::{ClientAddr, Public};
use super::AppState;
use crate::domain::job::{read_trigger_headers, JobKind, JobStatus};
use crate::domain::site_hooks::{SiteHookRefusal, SiteHookShape};
use crate::domain::time::now_millis;
use crate::store::{HookRecord, NewJob, StoreError};

/// Trigger bodies larger than this are refused (413).
pub const HOOK_BODY_LIMIT: usize = 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hooks/{url_token}", post(named_hook))
        .route("/hooks/sites/{site_id}", post(own_site_hook))
        .route("/hooks/builds/trigger/{site_id}", post(gatsby_build))
        .route("/hooks/data_source/{site_id}", post(gatsby_preview))
        .route(
            "/hooks/data_layer/data_source/publish/{site_id}",
            post(connect),
        )
        .route(
            "/hooks/data_layer/data_source/publish/{site_id}/{data_source}",
            post(connect_source),
        )
        .layer(DefaultBodyLimit::max(HOOK_BODY_LIMIT))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    job_id: String,
    status: JobStatus,
}

type Answer = Result<(StatusCode, Json<Accepted>), ApiError>;

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
    path = "/hooks/{url_token}",
    tag = "build hooks",
    summary = "Trigger a build hook (no token: the URL is the credential)",
    operation_id = "incoming_named_hook",
    params(("url_token" = String, Path, description = "The secret part of the hook's URL"), ("x-data-source" = Option<String>, Header, description = "Data source"), ("x-commit-ref" = Option<String>, Header, description = "The commit built")),
    request_body(content = String, description = "Any body, even empty (at most 1 MiB); the job reads it from HOOKRELAY_PAYLOAD_FILE", content_type = "application/octet-stream"),
    responses((status = 202, description = "The job", body = Accepted), (status = "4XX", description = "Refused: 404 unknown, 401 sender not verified, 413 too large, 429 rate limited (Retry-After)", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
)]
async fn named_hook(
    State(state): State<AppState>,
    client: ClientAddr,
    Path(url_token): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let hook = state
        .store
        .hook_by_url_token(&url_token)
        .await?
        .ok_or_else(unknown)?;
    state
        .throttle
        .check(Public::HookTrigger, Some(&hook.site_id), client)?;
    let body = read_body(body)?;
    if let Some(verify) = &hook.verify {
        // The path as the sender addressed it (Contentful signs it).
        let path = format!("/hooks/{url_token}");
        if let Err(reason) = verify.check(&path, header(&headers), &body, now_millis() / 1000) {
            let reason = format!("sender not verified: {reason}");
            state
                .store
                .record_hook_request(&hook.site_id, Some(&hook.id), Err(&reason))
                .await?;
            return Err(ApiError::unauthorized(reason));
        }
    }
    // A verified sender is named as such; a CMS known by its headers is named too, and
    // said to be by its headers when the hook does not verify who sent it.
    let cms = crate::domain::hook::cms_by_headers(header(&headers));
    let triggered_by = match (hook.verify.as_ref().and_then(|v| v.sender()), cms) {
        (Some(sender), _) => format!("Triggered by {sender} via {}", hook.title),
        (None, Some(cms)) if hook.verify.is_some() => {
            format!("Triggered by {cms} via {}", hook.title)
        }
        (None, Some(cms)) => format!("Triggered by {cms} (by its headers) via {}", hook.title),
        (None, None) => format!("Triggered by {}", hook.title),
    };
    let site_id = hook.site_id.clone();
    let trigger = Trigger {
        site_id: &site_id,
        hook: Some(&hook),
        kind: hook.kind,
        triggered_by,
        data_source: None,
    };
    trigger.start(&state, &headers, &body).await
}

/// A site-id hook: starts a job when the site's setting admits `shape`.
async fn site_hook(
    state: &AppState,
    client: ClientAddr,
    site_id: &str,
    shape: SiteHookShape,
    data_source: Option<String>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let site = match state.store.site(site_id).await {
        Ok(site) => site,
        Err(StoreError::NotFound) => return Err(unknown()),
        Err(e) => return Err(e.into()),
    };
    let named_hooks = state.store.count_hooks(site_id).await?;
    let kind = match site.settings.site_hooks.admit(shape, named_hooks) {
        Ok(kind) => kind,
        Err(SiteHookRefusal::Off) => return Err(unknown()),
        Err(SiteHookRefusal::NamedHooksExist) => {
            state
                .throttle
                .check(Public::HookTrigger, Some(site_id), client)?;
            let reason = "this site has build hooks: trigger one of their URLs (its site-id \
                          hooks follow Connect's rule: they work only while it has none)";
            state
                .store
                .record_hook_request(site_id, None, Err(reason))
                .await?;
            return Err(ApiError::unauthorized(reason));
        }
    };
    state
        .throttle
        .check(Public::HookTrigger, Some(site_id), client)?;
    let body = read_body(body)?;
    let trigger = Trigger {
        site_id,
        hook: None,
        kind,
        triggered_by: "Triggered by the site's own hook URL".to_owned(),
        data_source,
    };
    trigger.start(state, headers, &body).await
}

#[utoipa::path(
    post,
    path = "/hooks/sites/{site_id}",
    tag = "build hooks",
    summary = "Trigger a site-id hook (only when the site's `site_hooks` setting is on)",
    operation_id = "incoming_site_hook",
    params(("site_id" = String, Path, description = "The site")),
    request_body(content = String, description = "Any body, even empty (at most 1 MiB)", content_type = "application/octet-stream"),
    responses((status = 202, description = "The job (the kind the site's setting names)", body = Accepted), (status = "4XX", description = "Refused: 404 unknown or off, 401 Connect's rule and the site has named hooks, 429 rate limited (Retry-After)", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
)]
async fn own_site_hook(
    State(state): State<AppState>,
    client: ClientAddr,
    Path(site_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    site_hook(
        &state,
        client,
        &site_id,
        SiteHookShape::Own,
        None,
        &headers,
        body,
    )
    .await
}

#[utoipa::path(
    post,
    path = "/hooks/builds/trigger/{site_id}",
    tag = "build hooks",
    summary = "Gatsby's builds webhook: a build (when the site's `site_hooks` setting is on)",
    operation_id = "incoming_gatsby_build",
    params(("site_id" = String, Path, description = "The site")),
    request_body(content = String, description = "Any body, even empty (at most 1 MiB)", content_type = "application/octet-stream"),
    responses((status = 202, description = "The build job", body = Accepted), (status = "4XX", description = "Refused, as for /hooks/sites/{site_id}", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
)]
async fn gatsby_build(
    State(state): State<AppState>,
    client: ClientAddr,
    Path(site_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let shape = SiteHookShape::GatsbyBuild;
    site_hook(&state, client, &site_id, shape, None, &headers, body).await
}

#[utoipa::path(
    post,
    path = "/hooks/data_source/{site_id}",
    tag = "build hooks",
    summary = "Gatsby's preview webhook: a preview (when the site's `site_hooks` setting is on)",
    operation_id = "incoming_gatsby_preview",
    params(("site_id" = String, Path, description = "The site")),
    request_body(content = String, description = "Any body, even empty (at most 1 MiB)", content_type = "application/octet-stream"),
    responses((status = 202, description = "The preview job", body = Accepted), (status = "4XX", description = "Refused, as for /hooks/sites/{site_id}", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
)]
async fn gatsby_preview(
    State(state): State<AppState>,
    client: ClientAddr,
    Path(site_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let shape = SiteHookShape::GatsbyPreview;
    site_hook(&state, client, &site_id, shape, None, &headers, body).await
}

#[utoipa::path(
    post,
    path = "/hooks/data_layer/data_source/publish/{site_id}",
    tag = "build hooks",
    summary = "Netlify Connect's data layer webhook: a data sync (when the site's `site_hooks` setting is on)",
    operation_id = "incoming_connect",
    params(("site_id" = String, Path, description = "The site")),
    request_body(content = String, description = "Any body, even empty (at most 1 MiB)", content_type = "application/octet-stream"),
    responses((status = 202, description = "The sync job", body = Accepted), (status = "4XX", description = "Refused, as for /hooks/sites/{site_id}", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
)]
async fn connect(
    State(state): State<AppState>,
    client: ClientAddr,
    Path(site_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    site_hook(
        &state,
        client,
        &site_id,
        SiteHookShape::Connect,
        None,
        &headers,
        body,
    )
    .await
}

#[utoipa::path(
    post,
    path = "/hooks/data_layer/data_source/publish/{site_id}/{data_source}",
    tag = "build hooks",
    summary = "Netlify Connect's webhook for one data source: a sync of it",
    operation_id = "incoming_connect_source",
    params(("site_id" = String, Path, description = "The site"), ("data_source" = String, Path, description = "The data source to sync")),
    request_body(content = String, description = "Any body, even empty (at most 1 MiB)", content_type = "application/octet-stream"),
    responses((status = 202, description = "The sync job", body = Accepted), (status = "4XX", description = "Refused, as for /hooks/sites/{site_id}", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
)]
async fn connect_source(
    State(state): State<AppState>,
    client: ClientAddr,
    Path((site_id, data_source)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let shape = SiteHookShape::Connect;
    site_hook(
        &state,
        client,
        &site_id,
        shape,
        Some(data_source),
        &headers,
        body,
    )
    .await
}

/// A trigger that passed its hook's checks, about to become a queued job.
struct Trigger<'a> {
    site_id: &'a str,
    hook: Option<&'a HookRecord>,
    kind: JobKind,
    triggered_by: String,
    /// From the URL (Connect's per-source shape); a header still wins.
    data_source: Option<String>,
}

impl Trigger<'_> {
    async fn start(self, state: &AppState, headers: &HeaderMap, body: &Bytes) -> Answer {
        let hook_id = self.hook.map(|h| h.id.as_str());
        let mut params = match read_trigger_headers(self.kind, header(headers)) {
            Ok(params) => params,
            Err(problem) => {
                let error = ApiError::bad_field(problem.header, problem.message);
                state
                    .store
                    .record_hook_request(self.site_id, hook_id, Err(&error.detail))
                    .await?;
                return Err(error);
            }
        };
        if params.data_source.is_none() {
            params.data_source = self.data_source;
        }
        let job = NewJob {
            site_id: self.site_id.to_owned(),
            kind: params.kind,
            hook_id: hook_id.map(str::to_owned),
            triggered_by: self.triggered_by,
            data_source: params.data_source,
            clear_cache: params.clear_cache,
            refs: params.refs,
            payload: String::from_utf8_lossy(body).into_owned(),
        };
        let job = state.store.enqueue_job(&job, now_millis()).await?;
        state
            .store
            .record_hook_request(self.site_id, hook_id, Ok(&job.id))
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
}
