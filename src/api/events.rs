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
use crate::store::{IdempotencyKey, PublishOutcome};

const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// Accepts an event: answers 202 only once the event and all its calls are committed.
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
    Ok(match outcome {
        // The store itself tells this process's dispatcher about the new calls.
        PublishOutcome::Created(published) => {
            (StatusCode::ACCEPTED, Json(published)).into_response()
        }
        PublishOutcome::Replayed(published) => {
            let mut response = (StatusCode::ACCEPTED, Json(published)).into_response();
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
