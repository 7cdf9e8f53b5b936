use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;

use super::extract::{Caller, QueryParams};
use super::problem::{ApiError, OrNotFound};
use super::{limit_param, AppState};
use crate::domain::token::Role;
use crate::store::{AuditEntry, Page};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub(crate) cursor: Option<String>,
    pub(crate) limit: Option<String>,
}

/// Who added or deleted hooks and webhooks (and locked the site), newest first.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    caller.require(Role::Viewer)?;
    let limit = limit_param(query.limit)?;
    let page = state
        .store
        .list_audit(Some(&site_id), query.cursor.as_deref(), limit)
        .await
        .or_not_found("site")?;
    Ok(Json(page))
}

/// Server-wide entries: API tokens made and revoked (owners only, as tokens are).
pub async fn list_server(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    caller.require(Role::Owner)?;
    let limit = limit_param(query.limit)?;
    Ok(Json(
        state
            .store
            .list_audit(None, query.cursor.as_deref(), limit)
            .await?,
    ))
}
