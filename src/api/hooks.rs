use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::extract::{Caller, JsonBody, QueryParams};
use super::problem::{ApiError, OrNotFound};
use super::{limit_param, AppState, PageQuery};
use crate::domain::hook::HookVerify;
use crate::domain::job::JobKind;
use crate::domain::time::{rfc3339, UnixMillis};
use crate::domain::token::Role;
use crate::domain::validation::Violations;
use crate::store::{HookRecord, HookRequest, Page};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHook {
    // Missing fields are named with the others by validation, not one at a time.
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 200,
        pattern = r"[^\s\u0085]"
    )]
    pub(crate) title: String,
    #[serde(default)]
    #[schema(required = true, value_type = JobKind)]
    pub(crate) kind: Option<JobKind>,
    #[serde(default)]
    pub(crate) verify: Option<HookVerify>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HookView {
    pub(crate) id: String,
    pub(crate) site_id: String,
    pub(crate) title: String,
    pub(crate) kind: JobKind,
    /// POST here to trigger a job. The URL is the credential: keep it secret. Shown only
    /// to roles that may start jobs (developers and owners).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) url: Option<String>,
    /// Secrets masked.
    pub(crate) verify: Option<HookVerify>,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "rfc3339")]
    pub(crate) created_at: UnixMillis,
}

fn view(state: &AppState, caller: &Caller, hook: HookRecord) -> HookView {
    HookView {
        url: caller.0.role.allows(Role::Developer).then(|| {
            format!(
                "{}/hooks/{}",
                state.public_url.trim_end_matches('/'),
                hook.url_token
            )
        }),
        verify: hook.verify.as_ref().map(HookVerify::masked),
        id: hook.id,
        site_id: hook.site_id,
        title: hook.title,
        kind: hook.kind,
        created_at: hook.created_at,
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/sites/{site_id}/build_hooks",
    tag = "build hooks",
    summary = "Create a build hook; its URL is the credential",
    operation_id = "hooks_create",
    params(("site_id" = String, Path, description = "The site")),
    request_body = NewHook,
    responses((status = 201, description = "The hook", body = HookView), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
    body: JsonBody<NewHook>,
) -> Result<(StatusCode, Json<HookView>), ApiError> {
    caller.require(Role::Developer)?;
    let b = body.value;
    let mut v = Violations::default();
    v.text("title", &b.title, 200);
    if b.kind.is_none() {
        v.add("kind", "is required: build, preview or sync");
    }
    if let Some(verify) = &b.verify {
        verify.validate(&mut v);
    }
    v.into_result()?;
    let hook = state
        .store
        .create_hook(
            &site_id,
            b.title.trim(),
            b.kind.unwrap_or(JobKind::DEFAULT),
            b.verify.as_ref(),
            &caller.actor(),
        )
        .await
        .or_not_found("site")?;
    Ok((StatusCode::CREATED, Json(view(&state, &caller, hook))))
}

#[utoipa::path(
    get,
    path = "/api/v1/sites/{site_id}/build_hooks",
    tag = "build hooks",
    summary = "List build hooks",
    operation_id = "hooks_list",
    params(("site_id" = String, Path, description = "The site"), PageQuery),
    responses((status = 200, description = "A page of hooks, oldest first", body = Page<HookView>), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
    QueryParams(page): QueryParams<PageQuery>,
) -> Result<Json<Page<HookView>>, ApiError> {
    caller.require(Role::Viewer)?;
    let limit = limit_param(page.limit.clone())?;
    let hooks = state
        .store
        .list_hooks(&site_id, page.cursor(), limit)
        .await
        .or_not_found("site")?;
    Ok(Json(hooks.map(|h| view(&state, &caller, h))))
}

#[utoipa::path(
    get,
    path = "/api/v1/sites/{site_id}/build_hooks/{hook_id}",
    tag = "build hooks",
    summary = "A build hook",
    operation_id = "hooks_show",
    params(("site_id" = String, Path, description = "The site"), ("hook_id" = String, Path, description = "The build hook")),
    responses((status = 200, description = "The hook", body = HookView), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, hook_id)): Path<(String, String)>,
) -> Result<Json<HookView>, ApiError> {
    caller.require(Role::Viewer)?;
    let hook = state
        .store
        .hook(&site_id, &hook_id)
        .await
        .or_not_found("build hook")?;
    Ok(Json(view(&state, &caller, hook)))
}

#[utoipa::path(
    delete,
    path = "/api/v1/sites/{site_id}/build_hooks/{hook_id}",
    tag = "build hooks",
    summary = "Delete a build hook",
    operation_id = "hooks_delete",
    params(("site_id" = String, Path, description = "The site"), ("hook_id" = String, Path, description = "The build hook")),
    responses((status = 204, description = "Deleted"), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, hook_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Developer)?;
    state
        .store
        .delete_hook(&site_id, &hook_id, &caller.actor())
        .await
        .or_not_found("build hook")?;
    Ok(StatusCode::NO_CONTENT)
}

/// What the hook received: accepted triggers with their job, refused ones with the reason.
#[utoipa::path(
    get,
    path = "/api/v1/sites/{site_id}/build_hooks/{hook_id}/requests",
    tag = "build hooks",
    summary = "What the hook received, accepted or refused and why",
    operation_id = "hooks_requests",
    params(("site_id" = String, Path, description = "The site"), ("hook_id" = String, Path, description = "The build hook"), PageQuery),
    responses((status = 200, description = "A page of requests", body = Page<HookRequest>), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn requests(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, hook_id)): Path<(String, String)>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<Page<HookRequest>>, ApiError> {
    caller.require(Role::Viewer)?;
    let limit = limit_param(query.limit.clone())?;
    let page = state
        .store
        .list_hook_requests(&site_id, &hook_id, query.cursor(), limit)
        .await
        .or_not_found("build hook")?;
    Ok(Json(page))
}
