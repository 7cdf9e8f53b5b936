use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use sha2::{Digest, Sha256};

use super::extract::{Caller, JsonBody};
use super::problem::{ApiError, OrNotFound};
use super::AppState;
use crate::domain::event::NewEvent;
use crate::domain::token::Role;
use crate::store::{catalog_of, IdempotencyKey, PublishOutcome, Published};

const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// Accepts an event: answers 202 only once the event and all its calls are committed.
#[utoipa::path(
    post,
    path = "/api/v1/sites/{site_id}/events",
    tag = "events",
    summary = "Publish an event; 202 once it and its calls are committed",
    operation_id = "events_publish",
    params(("site_id" = String, Path, description = "The site"), ("idempotency-key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Repeats within 24 h return the first answer")),
    request_body = NewEvent,
    responses((status = 202, description = "The event and its calls", body = Published), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
    headers: HeaderMap,
    body: JsonBody<NewEvent>,
) -> Result<Response, ApiError> {
    caller.require(Role::Developer)?;
    let event = body.value;
    event.validate()?;
    let types = state
        .store
        .site_event_types(&site_id)
        .await
        .or_not_found("site")?;
    super::event_types::check_schema(&types, &event)?;
    let key = idempotency_key(&headers)?;
    // Only a keyed publish is ever compared with an earlier one.
    let fingerprint = key.as_ref().map(|_| hex::encode(Sha256::digest(&body.raw)));
    let idempotency = key
        .as_deref()
        .zip(fingerprint.as_deref())
        .map(|(key, request_hash)| IdempotencyKey { key, request_hash });
    let outcome = state
        .store
        .publish_event(&site_id, &event, idempotency)
        .await
        .or_not_found("site")?;
    // Events are facts: an unknown type is accepted, but the publisher is told that only
    // `*` triggers can match it (a trigger naming it would have been refused).
    let known = catalog_of(&types).knows(&event.entity_type, &event.event_type);
    let answer = |published: Published| {
        let mut body = serde_json::to_value(published).expect("plain data");
        if !known {
            body["warning"] = serde_json::json!(format!(
                "`{}.{}` is not in this site's event-type catalog: only triggers with \"*\" \
                 can match it; register it under /sites/{site_id}/event_types",
                event.entity_type, event.event_type
            ));
        }
        Json(body)
    };
    Ok(match outcome {
        // The store itself tells this process's dispatcher about the new calls.
        PublishOutcome::Created(published) => {
            (StatusCode::ACCEPTED, answer(published)).into_response()
        }
        PublishOutcome::Replayed(published) => {
            let mut response = (StatusCode::ACCEPTED, answer(published)).into_response();
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            response
        }
    })
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if !key.trim().is_empty() && key.len() <= 255 => Ok(Some(key.trim().to_owned())),
        _ => Err(ApiError::bad_field(
            "Idempotency-Key",
            "must be 1-255 visible ASCII characters",
        )),
    }
}
