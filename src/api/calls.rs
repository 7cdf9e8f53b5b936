use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::extract::{Caller, QueryParams};
use super::problem::{ApiError, OrNotFound};
use super::{given, limit_param, AppState, PageQuery};
use crate::domain::call::CallStatus;
use crate::domain::redact;
use crate::domain::time::{now_millis, parse_rfc3339};
use crate::domain::token::Role;
use crate::domain::webhook::is_sensitive_header;
use crate::store::{CallDetail, CallFilter, CallSummary, Page};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallQuery {
    pub(crate) webhook_id: Option<String>,
    pub(crate) status: Option<String>,
    pub(crate) event_type: Option<String>,
    pub(crate) since: Option<String>,
    pub(crate) until: Option<String>,
    pub(crate) cursor: Option<String>,
    pub(crate) limit: Option<String>,
}

impl CallQuery {
    fn into_filter(self) -> Result<CallFilter, ApiError> {
        let instant = |field: &str, value: Option<String>| {
            value
                .map(|text| {
                    parse_rfc3339(&text).ok_or_else(|| {
                        ApiError::bad_field(
                            field,
                            "must be an RFC 3339 time such as 2026-11-23T10:00:00Z",
                        )
                    })
                })
                .transpose()
        };
        let status = self
            .status
            .map(|s| {
                CallStatus::parse(&s).ok_or_else(|| {
                    ApiError::bad_field(
                        "status",
                        "must be one of pending, success, failed, superseded, skipped",
                    )
                })
            })
            .transpose()?;
        let limit = limit_param(self.limit)?;
        let cursor = given(self.cursor);
        Ok(CallFilter {
            webhook_id: given(self.webhook_id),
            status,
            event_type: given(self.event_type),
            since: instant("since", self.since)?,
            until: instant("until", self.until)?,
            cursor,
            limit,
        })
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/sites/{site_id}/webhook_calls",
    tag = "calls",
    summary = "The activity log, newest first",
    operation_id = "calls_list",
    params(("site_id" = String, Path, description = "The site"), ("webhook_id" = Option<String>, Query, description = "Only this webhook"), ("status" = Option<crate::domain::call::CallStatus>, Query, description = "Only calls in this state"), ("event_type" = Option<String>, Query, description = "Only this event type"), ("since" = Option<String>, Query, format = DateTime, description = "RFC 3339: calls created at or after"), ("until" = Option<String>, Query, format = DateTime, description = "RFC 3339: calls created before"), PageQuery),
    responses((status = 200, description = "A page of calls", body = Page<CallSummary>), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
    QueryParams(query): QueryParams<CallQuery>,
) -> Result<Json<Page<CallSummary>>, ApiError> {
    caller.require(Role::Viewer)?;
    let filter = query.into_filter()?;
    let mut page = state
        .store
        .list_calls(&site_id, &filter)
        .await
        .or_not_found("site")?;
    if !caller.0.role.allows(Role::Developer) {
        for call in &mut page.data {
            redact_summary(call);
        }
    }
    Ok(Json(page))
}

#[utoipa::path(
    get,
    path = "/api/v1/sites/{site_id}/webhook_calls/{call_id}",
    tag = "calls",
    summary = "A call: its request and every attempt",
    operation_id = "calls_show",
    params(("site_id" = String, Path, description = "The site"), ("call_id" = String, Path, description = "The call")),
    responses((status = 200, description = "The call", body = CallDetail), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, call_id)): Path<(String, String)>,
) -> Result<Json<CallDetail>, ApiError> {
    caller.require(Role::Viewer)?;
    let mut call = state
        .store
        .call_detail(&site_id, &call_id)
        .await
        .or_not_found("webhook call")?;
    if !caller.0.role.allows(Role::Developer) {
        let public = match state
            .store
            .webhook(&site_id, &call.summary.webhook_id)
            .await
        {
            Ok(webhook) => webhook.settings.public_headers,
            Err(_) => Vec::new(),
        };
        redact_detail(&mut call, &public);
    }
    Ok(Json(call))
}

/// What a viewer may see of a call's summary: URLs in its error without query values.
fn redact_summary(call: &mut CallSummary) {
    if let Some(error) = &mut call.last_error {
        *error = redact::urls_in(error);
    }
}

/// What a viewer may see of a call: no credential in a URL, no header value but the
/// plain and public ones (no signature: it would let them replay the call), no secret
/// of the receiver's answer.
fn redact_detail(call: &mut CallDetail, public: &[String]) {
    redact_summary(&mut call.summary);
    let request_headers = |raw: &RawValue| {
        let logged: Map<String, Value> = serde_json::from_str(raw.get()).unwrap_or_default();
        to_raw(&redact::headers(&logged, public))
    };
    if let Some(url) = &mut call.request.url {
        *url = redact::url(url);
    }
    if let Some(headers) = &call.request.headers {
        call.request.headers = Some(request_headers(headers));
    }
    for attempt in &mut call.attempts {
        let a = &mut attempt.attempt;
        a.request_url = redact::url(&a.request_url);
        a.request_headers = request_headers(&a.request_headers);
        if let Some(error) = &mut a.error {
            *error = redact::urls_in(error);
        }
        if let Some(headers) = &a.response_headers {
            let mut answer: Map<String, Value> =
                serde_json::from_str(headers.get()).unwrap_or_default();
            for (name, value) in answer.iter_mut() {
                if is_sensitive_header(name) {
                    *value = Value::String(redact::MASK.into());
                }
            }
            a.response_headers = Some(to_raw(&answer));
        }
    }
}

fn to_raw(map: &Map<String, Value>) -> Box<RawValue> {
    serde_json::value::to_raw_value(map).expect("a JSON object serialises")
}

/// Queues a new attempt now, whatever the call's state.
#[utoipa::path(
    post,
    path = "/api/v1/sites/{site_id}/webhook_calls/{call_id}/resend",
    tag = "calls",
    summary = "Queue a new attempt now, whatever the state of the call",
    operation_id = "calls_resend",
    params(("site_id" = String, Path, description = "The site"), ("call_id" = String, Path, description = "The call")),
    responses((status = 202, description = "Queued", body = CallSummary), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn resend(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, call_id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<CallSummary>), ApiError> {
    caller.require(Role::Developer)?;
    let call = state
        .store
        .resend_call(&site_id, &call_id, now_millis())
        .await
        .or_not_found("webhook call")?;
    state.wake.notify_one();
    Ok((StatusCode::ACCEPTED, Json(call)))
}
