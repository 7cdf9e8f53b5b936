use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::extract::{Caller, QueryParams};
use super::problem::{ApiError, OrNotFound};
use super::{given, limit_param, AppState, PageQuery};
use crate::domain::token::Role;
use crate::store::{Page, Submission};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionQuery {
    pub(crate) form_name: Option<String>,
    pub(crate) cursor: Option<String>,
    pub(crate) limit: Option<String>,
}

/// A site's form submissions, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/sites/{site_id}/form_submissions",
    tag = "forms",
    summary = "Form submissions, newest first",
    operation_id = "forms_list",
    params(("site_id" = String, Path, description = "The site"), ("form_name" = Option<String>, Query, description = "Only this form"), PageQuery),
    responses((status = 200, description = "A page of submissions", body = Page<Submission>), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
    QueryParams(query): QueryParams<SubmissionQuery>,
) -> Result<Json<Page<Submission>>, ApiError> {
    caller.require(Role::Viewer)?;
    let cursor = given(query.cursor);
    let limit = limit_param(query.limit)?;
    Ok(Json(
        state
            .store
            .list_submissions(
                &site_id,
                given(query.form_name).as_deref(),
                cursor.as_deref(),
                limit,
            )
            .await
            .or_not_found("site")?,
    ))
}

#[utoipa::path(
    delete,
    path = "/api/v1/sites/{site_id}/form_submissions/{submission_id}",
    tag = "forms",
    summary = "Delete a submission",
    operation_id = "forms_delete",
    params(("site_id" = String, Path, description = "The site"), ("submission_id" = String, Path, description = "The submission")),
    responses((status = 204, description = "Deleted"), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, submission_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Developer)?;
    state
        .store
        .delete_submission(&site_id, &submission_id)
        .await
        .or_not_found("form submission")?;
    Ok(StatusCode::NO_CONTENT)
}
