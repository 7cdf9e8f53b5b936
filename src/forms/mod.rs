//! Form submissions: a public endpoint per site and form (`POST /forms/{site_id}/{form}`)
//! that takes what an HTML form or a script sends, stores it, and announces it as a
//! `form_submission` / `submission_created` event, so any webhook or notification target
//! can pass it on. Listing and deleting submissions is the API's (`api/forms.rs`).

mod fields;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Json, Router};
use maud::html;
use serde_json::{json, Value};

use crate::api::throttle::{ClientAddr, Public};
use crate::api::{ApiError, AppState};
use crate::domain::event::NewEvent;
use crate::domain::ids;
use crate::domain::time::now_millis;
use crate::store::{IdempotencyKey, PublishOutcome, StoreError, Submission, SUBMISSION_PREFIX};
use fields::{valid_form_name, Fields};

/// A submission's body may be at most this large (413 beyond).
pub const FORM_BODY_LIMIT: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/forms/{site_id}/{form_name}",
            post(submit).options(preflight),
        )
        .layer(DefaultBodyLimit::max(FORM_BODY_LIMIT))
}

/// Forms live on other sites: scripts there may post JSON here.
fn allow_any_origin(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

async fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type, accept"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    allow_any_origin(response)
}

fn essence(headers: &HeaderMap, name: header::HeaderName) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split([';', ','])
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("a submission may be at most {} KiB", FORM_BODY_LIMIT / 1024),
    )
}

async fn read_fields(request: Request, state: &AppState) -> Result<Fields, ApiError> {
    let bad = |message: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message);
    let content_type = essence(request.headers(), header::CONTENT_TYPE);
    if content_type == "multipart/form-data" {
        let mut multipart = Multipart::from_request(request, state)
            .await
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
        let mut fields = Fields::default();
        loop {
            let field = match multipart.next_field().await {
                Ok(Some(field)) => field,
                Ok(None) => break,
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
                Err(e) => return Err(ApiError::new(StatusCode::BAD_REQUEST, e.body_text())),
            };
            let name = field.name().unwrap_or_default().to_owned();
            if field.file_name().is_some() {
                return Err(bad(format!(
                    "field `{name}` is a file; file uploads are not accepted"
                )));
            }
            let text = field.text().await.map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large()
                } else {
                    ApiError::new(StatusCode::BAD_REQUEST, e.body_text())
                }
            })?;
            fields.add(&name, Value::String(text)).map_err(bad)?;
        }
        return Ok(fields);
    }
    let body = Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text())
            }
        })?;
    match content_type.as_str() {
        "application/json" => Fields::from_json(&body).map_err(bad),
        "application/x-www-form-urlencoded" | "" => Fields::from_urlencoded(&body).map_err(bad),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "send the form as application/x-www-form-urlencoded, multipart/form-data \
                 or application/json (got {other})"
            ),
        )),
    }
}

fn thank_you(form_name: &str) -> Response {
    let page = html! {
        (maud::DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; meta name="viewport" content="width=device-width, initial-scale=1"; title { "Thank you" } }
            body {
                main {
                    h1 { "Thank you!" }
                    p { "Your submission to “" (form_name) "” was received." }
                }
            }
        }
    };
    page.into_response()
}

/// A person at a browser gets a page; a script asking for JSON gets problem+json.
fn refusal(e: ApiError, wants_json: bool) -> Response {
    if wants_json {
        return e.into_response();
    }
    let page = html! {
        (maud::DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "Not sent" } }
            body { main { h1 { "Your submission was not sent" } p { (e.detail) } } }
        }
    };
    (e.status, page).into_response()
}

/// The forms' part of the server's OpenAPI document (composed in `app`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(submit))]
pub struct FormsDoc;

#[utoipa::path(
    post,
    path = "/forms/{site_id}/{form_name}",
    tag = "forms",
    summary = "Submit a form (no token): stored, then published as form_submission / submission_created",
    operation_id = "forms_submit",
    params(("site_id" = String, Path, description = "The site"), ("form_name" = String, Path, description = "1-100 letters, digits, '-', '_' or '.'")),
    request_body(content = Object, description = "The fields: URL-encoded, multipart (no files) or a JSON object; at most 64 KiB. `redirect` (a path or an http(s) URL) is where a browser goes next; a filled `bot-field` or `_gotcha` is thanked and kept nowhere", content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, description = "Stored (JSON asked for)"), (status = 303, description = "Stored; go to `redirect`"), (status = 200, description = "Stored; a thank-you page", content_type = "text/html"), (status = "4XX", description = "Refused: 404 no such site, 413 too large, 415 media type, 422 fields or redirect, 429 rate limit or quota (Retry-After); a page for a browser, problem+json for a script", content((crate::api::problem::ProblemDoc = "application/problem+json"), (String = "text/html")))),
)]
async fn submit(
    State(state): State<AppState>,
    client: ClientAddr,
    Path((site_id, form_name)): Path<(String, String)>,
    request: Request,
) -> Response {
    let wants_json = essence(request.headers(), header::ACCEPT) == "application/json"
        || essence(request.headers(), header::CONTENT_TYPE) == "application/json";
    let answer = accept(&state, client, &site_id, &form_name, request).await;
    allow_any_origin(match answer {
        Err(e) => refusal(e, wants_json),
        Ok((fields, stored)) => match fields.redirect_target() {
            Some(target) => Redirect::to(target).into_response(),
            None if wants_json => (
                StatusCode::CREATED,
                Json(json!({"id": stored.map(|s| s.id), "form_name": form_name})),
            )
                .into_response(),
            None => thank_you(&form_name),
        },
    })
}

/// Reads, stores and announces a submission. A honeypot catch is answered like any
/// submission (so the bot learns nothing) but kept nowhere.
async fn accept(
    state: &AppState,
    client: ClientAddr,
    site_id: &str,
    form_name: &str,
    request: Request,
) -> Result<(Fields, Option<Submission>), ApiError> {
    if !valid_form_name(form_name) {
        return Err(ApiError::bad_field(
            "form_name",
            "must be 1-100 letters, digits, '-', '_' or '.'",
        ));
    }
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "no such site");
    state.store.site(site_id).await.map_err(|e| match e {
        StoreError::NotFound => not_found(),
        other => other.into(),
    })?;
    state
        .throttle
        .check(Public::FormPost, Some(site_id), client)?;
    let fields = read_fields(request, state).await?;
    if fields.spam {
        return Ok((fields, None));
    }
    if fields.data.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the submission has no fields",
        ));
    }
    let submission = Submission {
        id: ids::new_id(SUBMISSION_PREFIX),
        site_id: site_id.to_owned(),
        form_name: form_name.to_owned(),
        data: Value::Object(fields.data.clone().into_iter().collect()),
        event_id: None,
        created_at: now_millis(),
    };
    check_quota(state, site_id, &submission).await?;
    state.store.insert_submission(&submission).await?;
    let event = NewEvent {
        entity_type: "form_submission".into(),
        event_type: "submission_created".into(),
        environment: None,
        entity: serde_json::to_value(&submission).expect("submissions serialise"),
    };
    let key = format!("form:{}", submission.id);
    let published = state
        .store
        .publish_event(
            site_id,
            &event,
            Some(IdempotencyKey {
                key: &key,
                request_hash: &key,
            }),
        )
        .await;
    let event_id = match published {
        Ok(PublishOutcome::Created(p) | PublishOutcome::Replayed(p)) => p.id,
        Err(e) => {
            // Kept only if announced: the sender is told to try again.
            let _ = state.store.delete_submission(site_id, &submission.id).await;
            return Err(e.into());
        }
    };
    state.wake.notify_one();
    state
        .store
        .set_submission_event(&submission.id, &event_id)
        .await?;
    Ok((
        fields,
        Some(Submission {
            event_id: Some(event_id),
            ..submission
        }),
    ))
}

/// Refuses a submission that would take the site past its storage quota (429: the form
/// works again once submissions are deleted or pruned).
async fn check_quota(
    state: &AppState,
    site_id: &str,
    submission: &Submission,
) -> Result<(), ApiError> {
    let (max_count, max_bytes) = state.form_quota;
    let (count, bytes) = state.store.form_usage(site_id).await?;
    let adding = submission.data.to_string().len() as u64;
    if count < max_count && bytes + adding <= max_bytes {
        return Ok(());
    }
    metrics::counter!(crate::metric_names::REQUESTS_THROTTLED, "what" => "form quota").increment(1);
    Err(ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!(
            "this site keeps as many form submissions as it may ({count} taking {bytes} bytes; \
             at most {max_count} or {max_bytes} bytes: --form-quota-submissions, \
             --form-quota-bytes); delete some to take more"
        ),
    )
    .retry_after(3600))
}
