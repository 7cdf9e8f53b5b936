use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::extract::{Caller, JsonBody, QueryParams};
use super::problem::{ApiError, OrNotFound};
use super::{limit_param, AppState, PageQuery};
use crate::domain::activity::SiteActivity;
use crate::domain::site::SiteSettings;
use crate::domain::site_hooks::SiteHooks;
use crate::domain::time::now_millis;
use crate::domain::token::Role;
use crate::jobs::publish_deploy_event;
use crate::store::{Page, SiteRecord};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSite {
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 200,
        pattern = r"[^\s\u0085]"
    )]
    pub(crate) name: String,
}

/// Every field optional; `null` clears an optional one.
#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SitePatch {
    #[schema(min_length = 1, max_length = 200, pattern = r"[^\s\u0085]")]
    pub(crate) name: Option<String>,
    /// Run with `sh -c` (owners only).
    #[serde(default, deserialize_with = "super::extract::present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 4096, pattern = r"[^\s\u0085]")]
    pub(crate) build_command: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::extract::present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 4096, pattern = r"[^\s\u0085]")]
    pub(crate) preview_command: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::extract::present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 4096, pattern = r"[^\s\u0085]")]
    pub(crate) sync_command: Option<Option<String>>,
    /// An absolute path (owners only).
    #[serde(default, deserialize_with = "super::extract::present")]
    #[schema(value_type = Option<String>, pattern = "^/")]
    pub(crate) working_dir: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::extract::present")]
    #[schema(value_type = Option<String>, pattern = "^/")]
    pub(crate) cache_dir: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::api::schemas::whole")]
    #[schema(minimum = 1, maximum = 86400)]
    pub(crate) job_timeout_s: Option<u64>,
    #[schema(schema_with = crate::api::schemas::env)]
    pub(crate) env: Option<BTreeMap<String, String>>,
    /// Whether hooks addressed by the site's id start jobs: `{"rule": "off" | "connect"
    /// | "gatsby", "kind": "build" | "preview" | "sync"}`.
    pub(crate) site_hooks: Option<SiteHooks>,
}

impl SitePatch {
    /// Commands, directories and environment decide what runs on the server: owners only.
    fn touches_execution(&self) -> bool {
        self.build_command.is_some()
            || self.preview_command.is_some()
            || self.sync_command.is_some()
            || self.working_dir.is_some()
            || self.cache_dir.is_some()
            || self.env.is_some()
            // An unauthenticated way to start jobs.
            || self.site_hooks.is_some()
    }

    /// The settings `s` would become (the dashboard redraws a refused form with them).
    pub(crate) fn apply(self, mut s: SiteSettings) -> SiteSettings {
        if let Some(name) = self.name {
            s.name = name.trim().to_owned();
        }
        for (field, value) in [
            (&mut s.build_command, self.build_command),
            (&mut s.preview_command, self.preview_command),
            (&mut s.sync_command, self.sync_command),
            (&mut s.working_dir, self.working_dir),
            (&mut s.cache_dir, self.cache_dir),
        ] {
            if let Some(value) = value {
                *field = value;
            }
        }
        if let Some(timeout) = self.job_timeout_s {
            s.job_timeout_s = timeout;
        }
        if let Some(env) = self.env {
            s.env = env;
        }
        if let Some(site_hooks) = self.site_hooks {
            s.site_hooks = site_hooks;
        }
        s
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/sites",
    tag = "sites",
    summary = "Create a site",
    operation_id = "sites_create",
    request_body = NewSite,
    responses((status = 201, description = "The site", body = SiteRecord), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<NewSite>,
) -> Result<(StatusCode, Json<SiteRecord>), ApiError> {
    caller.require(Role::Developer)?;
    let name = body.value.name.trim();
    SiteSettings::named(name).validate()?;
    let site = state.store.create_site(name).await?;
    Ok((StatusCode::CREATED, Json(site)))
}

#[utoipa::path(
    get,
    path = "/api/v1/sites",
    tag = "sites",
    summary = "List sites",
    operation_id = "sites_list",
    params(PageQuery),
    responses((status = 200, description = "A page of sites, oldest first", body = Page<SiteRecord>), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(page): QueryParams<PageQuery>,
) -> Result<Json<Page<SiteRecord>>, ApiError> {
    caller.require(Role::Viewer)?;
    let limit = limit_param(page.limit.clone())?;
    let mut sites = state.store.list_sites(page.cursor(), limit).await?;
    for site in &mut sites.data {
        redact_for(&caller, site);
    }
    Ok(Json(sites))
}

#[utoipa::path(
    get,
    path = "/api/v1/sites/{site_id}",
    tag = "sites",
    summary = "A site",
    operation_id = "sites_show",
    params(("site_id" = String, Path, description = "The site")),
    responses((status = 200, description = "The site", body = SiteRecord), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
) -> Result<Json<SiteRecord>, ApiError> {
    caller.require(Role::Viewer)?;
    let mut site = state.store.site(&site_id).await.or_not_found("site")?;
    redact_for(&caller, &mut site);
    Ok(Json(site))
}

/// A viewer sees the names of a site's job variables, not their values (API keys, as a
/// rule).
fn redact_for(caller: &Caller, site: &mut SiteRecord) {
    if !caller.0.role.allows(Role::Developer) {
        for value in site.settings.env.values_mut() {
            *value = crate::domain::redact::MASK.to_owned();
        }
    }
}

#[utoipa::path(
    patch,
    path = "/api/v1/sites/{site_id}",
    tag = "sites",
    summary = "Change a site (commands, directories and env need an owner)",
    operation_id = "sites_update",
    params(("site_id" = String, Path, description = "The site")),
    request_body = SitePatch,
    responses((status = 200, description = "The site", body = SiteRecord), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
    body: JsonBody<SitePatch>,
) -> Result<Json<SiteRecord>, ApiError> {
    let patch = body.value;
    caller.require(if patch.touches_execution() {
        Role::Owner
    } else {
        Role::Developer
    })?;
    let current = state.store.site(&site_id).await.or_not_found("site")?;
    let settings = patch.apply(current.settings.clone());
    settings.validate()?;
    Ok(Json(
        state
            .store
            .update_site(&site_id, &settings, &current.settings, &caller.actor())
            .await
            .or_not_found("site")?,
    ))
}

#[utoipa::path(
    delete,
    path = "/api/v1/sites/{site_id}",
    tag = "sites",
    summary = "Delete a site and everything of it (owners)",
    operation_id = "sites_delete",
    params(("site_id" = String, Path, description = "The site")),
    responses((status = 204, description = "Deleted"), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Owner)?;
    state
        .store
        .delete_site(&site_id)
        .await
        .or_not_found("site")?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_lock(
    state: &AppState,
    caller: &Caller,
    site_id: &str,
    locked: bool,
) -> Result<Json<SiteRecord>, ApiError> {
    caller.require(Role::Developer)?;
    let changed = state
        .store
        .set_site_lock(site_id, locked, &caller.actor())
        .await
        .or_not_found("site")?;
    let site = state.store.site(site_id).await.or_not_found("site")?;
    if changed {
        let event = if locked {
            "deploy_locked"
        } else {
            "deploy_unlocked"
        };
        let entity = serde_json::json!({
            "id": site.id, "name": site.settings.name, "site_name": site.settings.name,
            "locked": locked,
            "url": format!("{}/sites/{}", state.public_url.trim_end_matches('/'), site.id),
        });
        let key = format!("{site_id}:{}", site.updated_at);
        publish_deploy_event(&state.store, &state.wake, site_id, event, &key, entity).await;
        if !locked {
            state.jobs_wake.notify_one();
        }
    }
    Ok(Json(site))
}

/// While locked, triggers queue (coalesced) but no job starts.
#[utoipa::path(
    post,
    path = "/api/v1/sites/{site_id}/lock",
    tag = "sites",
    summary = "Lock deploys: triggers queue, nothing starts",
    operation_id = "sites_lock",
    params(("site_id" = String, Path, description = "The site")),
    responses((status = 200, description = "The site", body = SiteRecord), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn lock(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
) -> Result<Json<SiteRecord>, ApiError> {
    set_lock(&state, &caller, &site_id, true).await
}

/// Unlocking starts the newest waiting job of each kind.
#[utoipa::path(
    post,
    path = "/api/v1/sites/{site_id}/unlock",
    tag = "sites",
    summary = "Unlock deploys; the newest waiting job starts",
    operation_id = "sites_unlock",
    params(("site_id" = String, Path, description = "The site")),
    responses((status = 200, description = "The site", body = SiteRecord), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn unlock(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
) -> Result<Json<SiteRecord>, ApiError> {
    set_lock(&state, &caller, &site_id, false).await
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityQuery {
    pub hours: Option<String>,
}

const HOUR_MS: i64 = 3_600_000;

/// The site's calls of the last `hours` (default 24, at most a week) by hour and status,
/// and by webhook, failing ones first.
#[utoipa::path(
    get,
    path = "/api/v1/sites/{site_id}/activity",
    tag = "sites",
    summary = "Calls per hour and status, and per webhook (failing first)",
    operation_id = "sites_activity",
    params(("site_id" = String, Path, description = "The site"), ("hours" = Option<u32>, Query, minimum = 1, maximum = 168, description = "1-168, default 24")),
    responses((status = 200, description = "The activity", body = SiteActivity), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn activity(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
    QueryParams(query): QueryParams<ActivityQuery>,
) -> Result<Json<SiteActivity>, ApiError> {
    caller.require(Role::Viewer)?;
    let hours = match query.hours {
        None => 24,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|h| (1..=168).contains(h))
            .ok_or_else(|| ApiError::bad_field("hours", "must be a whole number from 1 to 168"))?,
    };
    Ok(Json(
        state
            .store
            .site_activity(&site_id, now_millis(), HOUR_MS, hours)
            .await
            .or_not_found("site")?,
    ))
}
