use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::extract::{Caller, JsonBody, QueryParams};
use super::problem::{ApiError, OrNotFound};
use super::{limit_param, AppState, List};
use crate::domain::hook::HookVerify;
use crate::domain::job::JobKind;
use crate::domain::time::{rfc3339, UnixMillis};
use crate::domain::token::Role;
use crate::domain::validation::Violations;
use crate::store::{HookRecord, HookRequest, Page};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewHook {
    pub(crate) title: String,
    pub(crate) kind: JobKind,
    #[serde(default)]
    pub(crate) verify: Option<HookVerify>,
}

#[derive(Serialize)]
pub struct HookView {
    pub(crate) id: String,
    pub(crate) site_id: String,
    pub(crate) title: String,
    pub(crate) kind: JobKind,
    /// POST here to trigger a job. The URL is the credential: keep it secret.
    pub(crate) url: String,
    /// Secrets masked.
    pub(crate) verify: Option<HookVerify>,
    #[serde(with = "rfc3339")]
    pub(crate) created_at: UnixMillis,
}

fn view(state: &AppState, hook: HookRecord) -> HookView {
    HookView {
        url: format!(
            "{}/hooks/{}",
            state.public_url.trim_end_matches('/'),
            hook.id
        ),
        verify: hook.verify.as_ref().map(HookVerify::masked),
        id: hook.id,
        site_id: hook.site_id,
        title: hook.title,
        kind: hook.kind,
        created_at: hook.created_at,
    }
}

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
    if let Some(verify) = &b.verify {
        verify.validate(&mut v);
    }
    v.into_result()?;
    let hook = state
        .store
        .create_hook(
            &site_id,
            b.title.trim(),
            b.kind,
            b.verify.as_ref(),
            &caller.actor(),
        )
        .await
        .or_not_found("site")?;
    Ok((StatusCode::CREATED, Json(view(&state, hook))))
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
) -> Result<Json<List<HookView>>, ApiError> {
    caller.require(Role::Viewer)?;
    let hooks = state
        .store
        .list_hooks(&site_id)
        .await
        .or_not_found("site")?;
    Ok(Json(List {
        data: hooks.into_iter().map(|h| view(&state, h)).collect(),
    }))
}

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
    Ok(Json(view(&state, hook)))
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestsQuery {
    pub(crate) cursor: Option<String>,
    pub(crate) limit: Option<String>,
}

/// What the hook received: accepted triggers with their job, refused ones with the reason.
pub async fn requests(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, hook_id)): Path<(String, String)>,
    QueryParams(query): QueryParams<RequestsQuery>,
) -> Result<Json<Page<HookRequest>>, ApiError> {
    caller.require(Role::Viewer)?;
    let limit = limit_param(query.limit)?;
    let page = state
        .store
        .list_hook_requests(&site_id, &hook_id, query.cursor.as_deref(), limit)
        .await
        .or_not_found("build hook")?;
    Ok(Json(page))
}
