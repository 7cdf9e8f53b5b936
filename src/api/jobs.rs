use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::extract::{parse_json, Caller, QueryParams};
use super::problem::{ApiError, OrNotFound};
use super::{given, limit_param, AppState, PageQuery};
use crate::domain::job::{JobKind, JobStatus, SourceRefs};
use crate::domain::time::now_millis;
use crate::domain::token::Role;
use crate::store::{JobDetail, JobFilter, JobRecord, NewJob, Page};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobQuery {
    pub(crate) status: Option<String>,
    pub(crate) kind: Option<String>,
    pub(crate) cursor: Option<String>,
    pub(crate) limit: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/sites/{site_id}/jobs",
    tag = "jobs",
    summary = "Jobs, newest first",
    operation_id = "jobs_list",
    params(("site_id" = String, Path, description = "The site"), ("status" = Option<JobStatus>, Query, description = "Only jobs in this state"), ("kind" = Option<JobKind>, Query, description = "Only jobs of this kind"), PageQuery),
    responses((status = 200, description = "A page of jobs", body = Page<JobRecord>), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
    QueryParams(query): QueryParams<JobQuery>,
) -> Result<Json<Page<JobRecord>>, ApiError> {
    caller.require(Role::Viewer)?;
    let status = query
        .status
        .map(|s| {
            JobStatus::parse(&s).ok_or_else(|| {
                ApiError::bad_field(
                    "status",
                    "must be one of queued, running, succeeded, failed, cancelled, superseded",
                )
            })
        })
        .transpose()?;
    let kind = query
        .kind
        .map(|k| {
            JobKind::parse(&k)
                .ok_or_else(|| ApiError::bad_field("kind", "must be one of build, preview, sync"))
        })
        .transpose()?;
    let cursor = given(query.cursor);
    let filter = JobFilter {
        status,
        kind,
        cursor,
        limit: limit_param(query.limit)?,
    };
    Ok(Json(
        state
            .store
            .list_jobs(&site_id, &filter)
            .await
            .or_not_found("site")?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/sites/{site_id}/jobs/{job_id}",
    tag = "jobs",
    summary = "A job with its log",
    operation_id = "jobs_show",
    params(("site_id" = String, Path, description = "The site"), ("job_id" = String, Path, description = "The job")),
    responses((status = 200, description = "The job", body = JobDetail), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, job_id)): Path<(String, String)>,
) -> Result<Json<JobDetail>, ApiError> {
    caller.require(Role::Viewer)?;
    Ok(Json(
        state
            .store
            .job(&site_id, &job_id)
            .await
            .or_not_found("job")?,
    ))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewJobBody {
    /// Default `build`.
    pub(crate) kind: Option<JobKind>,
    pub(crate) data_source: Option<String>,
    #[serde(default)]
    pub(crate) clear_cache: bool,
    /// The commit and pull/merge request the job builds, for GitHub and GitLab targets
    /// (each one line of at most 200 characters).
    #[schema(max_length = 200, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub(crate) commit_ref: Option<String>,
    #[schema(max_length = 200, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub(crate) pull_request: Option<String>,
    #[schema(max_length = 200, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub(crate) merge_request: Option<String>,
}

/// Starts a job by API; it coalesces with hook triggers like any other.
#[utoipa::path(
    post,
    path = "/api/v1/sites/{site_id}/jobs",
    tag = "jobs",
    summary = "Start a job; it coalesces with hook triggers",
    operation_id = "jobs_create",
    params(("site_id" = String, Path, description = "The site")),
    request_body(content = Option<NewJobBody>, description = "Optional: an empty POST starts a build", content_type = "application/json"),
    responses((status = 202, description = "The queued job", body = JobRecord), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<JobRecord>), ApiError> {
    caller.require(Role::Developer)?;
    // The body is optional: an empty POST starts a plain build.
    let b: NewJobBody = match parse_json::<Option<NewJobBody>>(&body) {
        _ if body.iter().all(u8::is_ascii_whitespace) => NewJobBody::default(),
        result => result?.unwrap_or_default(),
    };
    let refs = SourceRefs {
        commit_ref: b.commit_ref,
        pull_request: b.pull_request,
        merge_request: b.merge_request,
    };
    if let Err((header, message)) = refs.check() {
        let field = header.trim_start_matches("x-").replace('-', "_");
        return Err(ApiError::bad_field(field, message));
    }
    let job = NewJob {
        site_id: site_id.clone(),
        kind: b.kind.unwrap_or(JobKind::DEFAULT),
        hook_id: None,
        triggered_by: format!("Triggered by API token {}", caller.0.name),
        data_source: b.data_source.filter(|d| !d.trim().is_empty()),
        clear_cache: b.clear_cache,
        refs,
        payload: String::new(),
    };
    let job = state
        .store
        .enqueue_job(&job, now_millis())
        .await
        .or_not_found("site")?;
    state.jobs_wake.notify_one();
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// Stops a queued or running job.
#[utoipa::path(
    post,
    path = "/api/v1/sites/{site_id}/jobs/{job_id}/cancel",
    tag = "jobs",
    summary = "Stop a waiting or running job",
    operation_id = "jobs_cancel",
    params(("site_id" = String, Path, description = "The site"), ("job_id" = String, Path, description = "The job")),
    responses((status = 202, description = "The job", body = JobRecord), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, job_id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<JobRecord>), ApiError> {
    caller.require(Role::Developer)?;
    let by = format!("API token {}", caller.0.name);
    let job = state
        .store
        .cancel_job(&site_id, &job_id, &by, now_millis())
        .await
        .or_not_found("job")?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}
