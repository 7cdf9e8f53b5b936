use axum::extract::{Path, State};
use axum::Json;

use super::extract::{Caller, QueryParams};
use super::problem::{ApiError, OrNotFound};
use super::{limit_param, AppState, PageQuery};
use crate::domain::token::Role;
use crate::store::{AuditEntry, Page};

/// Who added or deleted hooks and webhooks (and locked the site), newest first.
#[utoipa::path(
    get,
    path = "/api/v1/sites/{site_id}/audit_log",
    tag = "audit",
    summary = "Who changed hooks, webhooks, settings and locks",
    operation_id = "audit_list",
    params(("site_id" = String, Path, description = "The site"), PageQuery),
    responses((status = 200, description = "Newest first", body = Page<AuditEntry>), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    caller.require(Role::Viewer)?;
    let limit = limit_param(query.limit.clone())?;
    let mut page = state
        .store
        .list_audit(Some(&site_id), query.cursor(), limit)
        .await
        .or_not_found("site")?;
    if !caller.0.role.allows(Role::Developer) {
        for entry in &mut page.data {
            redact_urls(&mut entry.details);
        }
    }
    Ok(Json(page))
}

/// Server-wide entries: API tokens made and revoked (owners only, as tokens are).
#[utoipa::path(
    get,
    path = "/api/v1/audit_log",
    tag = "audit",
    summary = "Server-wide audit entries: tokens made and revoked (owners)",
    operation_id = "audit_list_server",
    params(PageQuery),
    responses((status = 200, description = "Newest first", body = Page<AuditEntry>), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list_server(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    caller.require(Role::Owner)?;
    let limit = limit_param(query.limit.clone())?;
    Ok(Json(
        state.store.list_audit(None, query.cursor(), limit).await?,
    ))
}

/// For viewers: URLs in an entry's details (a webhook's `url`) without query values. The
/// details are hookrelay's own small objects, so the walk is shallow.
fn redact_urls(details: &mut serde_json::Value) {
    match details {
        serde_json::Value::String(text) => *text = crate::domain::redact::urls_in(text),
        serde_json::Value::Object(map) => map.values_mut().for_each(redact_urls),
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_urls),
        _ => {}
    }
}
