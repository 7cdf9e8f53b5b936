use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::extract::{Caller, JsonBody};
use super::problem::{ApiError, OrNotFound};
use super::{AppState, List};
use crate::domain::token::Role;
use crate::domain::validation::Violations;
use crate::store::SiteRecord;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteBody {
    name: String,
}

fn checked_name(body: &SiteBody) -> Result<&str, ApiError> {
    let mut v = Violations::default();
    v.text("name", &body.name, 200);
    v.into_result()?;
    Ok(body.name.trim())
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<SiteBody>,
) -> Result<(StatusCode, Json<SiteRecord>), ApiError> {
    caller.require(Role::Developer)?;
    let site = state.store.create_site(checked_name(&body.value)?).await?;
    Ok((StatusCode::CREATED, Json(site)))
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<List<SiteRecord>>, ApiError> {
    caller.require(Role::Viewer)?;
    Ok(Json(List {
        data: state.store.list_sites().await?,
    }))
}

pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
) -> Result<Json<SiteRecord>, ApiError> {
    caller.require(Role::Viewer)?;
    Ok(Json(state.store.site(&site_id).await.or_not_found("site")?))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
    body: JsonBody<SiteBody>,
) -> Result<Json<SiteRecord>, ApiError> {
    caller.require(Role::Developer)?;
    let name = checked_name(&body.value)?;
    Ok(Json(
        state
            .store
            .rename_site(&site_id, name)
            .await
            .or_not_found("site")?,
    ))
}

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
