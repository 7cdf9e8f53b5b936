//! Request extractors whose failures are problem documents naming the field at fault.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use super::limits::{nests_deeper_than, too_large, BodyLimit, MAX_JSON_DEPTH};
use super::problem::ApiError;
use super::AppState;
use crate::domain::token::Role;
use crate::store::{Actor, TokenRecord};

/// The authenticated caller (from `Authorization: Bearer …`, or a dashboard session).
#[derive(Clone)]
pub struct Caller(pub TokenRecord);

impl Caller {
    /// The token as an actor, for the audit log and "Triggered by".
    pub fn actor(&self) -> Actor {
        Actor {
            token_id: Some(self.0.id.clone()),
            name: self.0.name.clone(),
        }
    }

    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.0.role.allows(role) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "this action needs a {} token; token `{}` is a {}",
                    role.as_str(),
                    self.0.name,
                    self.0.role.as_str()
                ),
            ))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized("send an API token as `Authorization: Bearer <token>`")
        })?;
        let secret = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
            })?;
        match state.store.token_by_secret(secret).await? {
            Some(token) => Ok(Caller(token)),
            None => Err(ApiError::unauthorized(
                "this API token is unknown or has been revoked",
            )),
        }
    }
}

/// A JSON request body. Keeps the raw bytes (for idempotency fingerprints).
pub struct JsonBody<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if let Some(content_type) = req.headers().get(header::CONTENT_TYPE) {
            let essence = content_type
                .to_str()
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!("send the body as `Content-Type: application/json` (got `{essence}`)"),
                ));
            }
        }
        let limit = req.extensions().get::<BodyLimit>().copied();
        let raw = Bytes::from_request(req, state)
            .await
            .map_err(|rejection: BytesRejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large(limit)
                } else {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!("could not read the request body: {rejection}"),
                    )
                }
            })?;
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "the request body is empty; send a JSON object",
            ));
        }
        let value = parse_json(&raw)?;
        Ok(JsonBody { value, raw })
    }
}

/// Parses JSON, naming the field at fault (`triggers[0].event_types`) in the error.
pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    if nests_deeper_than(raw, MAX_JSON_DEPTH) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the JSON body nests deeper than {MAX_JSON_DEPTH} levels, the limit"),
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(raw);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        if path == "." {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("invalid JSON body: {message}"),
            )
        } else {
            ApiError::bad_field(path, message)
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))?;
    Ok(value)
}

/// For PATCH bodies: tells a field sent as `null` (`Some(None)`, "clear it") from one left
/// out (`None`, "keep it"). Use with `#[serde(default, deserialize_with = "present")]`.
pub fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// Query parameters; unknown or malformed ones are a 400 naming the parameter.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(QueryParams)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("invalid query string: {e}"),
                )
            })
    }
}
