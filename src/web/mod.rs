//! The dashboard, served by `hookrelay serve` at `/`: server-rendered HTML (maud, checked
//! at compile time), assets compiled in, a little script for live updates only.
//!
//! Pages never touch the store directly for anything the API does: a page handler calls
//! the API's own handler with the signed-in token as the caller, so both obey one set of
//! rules (roles, validation, audit) and differ only in how the answer is shown.

mod admin;
mod assets;
pub use assets::CSS_PATH;
mod calls;
mod chart;
mod docs;
mod error;
mod event_types;
mod form;
mod forms;
mod frame;
mod hook_verify;
mod hooks;
mod jobs;
mod layout;
mod session;
mod sites;
mod webhooks;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::api::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/sites") }))
        .route(
            "/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/sign-out", post(session::sign_out))
        .route("/assets/{version}/{name}", get(assets::serve))
        .route("/sites", get(sites::list).post(sites::create))
        .route("/sites/{site_id}", get(sites::overview))
        .route(
            "/sites/{site_id}/settings",
            get(sites::settings).post(sites::save_settings),
        )
        .route("/sites/{site_id}/lock", post(sites::lock))
        .route("/sites/{site_id}/unlock", post(sites::unlock))
        .route(
            "/sites/{site_id}/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route("/sites/{site_id}/webhooks/new", get(webhooks::new_form))
        .route("/sites/{site_id}/webhooks/preview", post(webhooks::preview))
        .route(
            "/sites/{site_id}/webhooks/{webhook_id}",
            get(webhooks::edit_form).post(webhooks::save),
        )
        .route(
            "/sites/{site_id}/webhooks/{webhook_id}/recover",
            get(webhooks::recover::show).post(webhooks::recover::create),
        )
        .route(
            "/sites/{site_id}/webhooks/{webhook_id}/secret",
            post(webhooks::reveal_secret),
        )
        .route(
            "/sites/{site_id}/webhooks/{webhook_id}/rotate",
            post(webhooks::rotate),
        )
        .route(
            "/sites/{site_id}/webhooks/{webhook_id}/test",
            post(webhooks::send_test),
        )
        .route(
            "/sites/{site_id}/webhooks/{webhook_id}/delete",
            get(webhooks::confirm_delete).post(webhooks::delete),
        )
        .route("/sites/{site_id}/event_types", get(event_types::list))
        .route("/sites/{site_id}/calls", get(calls::list))
        .route("/sites/{site_id}/calls/{call_id}", get(calls::show))
        .route(
            "/sites/{site_id}/calls/{call_id}/attempts",
            get(calls::attempts),
        )
        .route(
            "/sites/{site_id}/calls/{call_id}/request",
            get(calls::request),
        )
        .route(
            "/sites/{site_id}/calls/{call_id}/resend",
            post(calls::resend),
        )
        .route(
            "/sites/{site_id}/hooks",
            get(hooks::list).post(hooks::create),
        )
        .route("/sites/{site_id}/hooks/{hook_id}", get(hooks::show))
        .route(
            "/sites/{site_id}/hooks/{hook_id}/delete",
            post(hooks::delete),
        )
        .route("/sites/{site_id}/jobs", get(jobs::list).post(jobs::create))
        .route("/sites/{site_id}/jobs/{job_id}", get(jobs::show))
        .route("/sites/{site_id}/jobs/{job_id}/log", get(jobs::stream_log))
        .route("/sites/{site_id}/jobs/{job_id}/cancel", post(jobs::cancel))
        .route("/sites/{site_id}/forms", get(forms::list))
        .route(
            "/sites/{site_id}/forms/{submission_id}/delete",
            post(forms::delete),
        )
        .route("/sites/{site_id}/audit", get(admin::audit))
        .route("/tokens", get(admin::tokens).post(admin::create_token))
        .route("/tokens/{token_id}/revoke", post(admin::revoke_token))
        .route("/api/docs", get(docs::reference))
}

/// On every answer of the server (pages, the API reference, form pages, JSON): no inline
/// script or style anywhere, so the policy can forbid both; no framing (clickjacking a
/// Resend or Delete button); no referrer leaking ids to other sites; nothing but assets
/// cached (answers show secrets to those allowed).
pub async fn security_headers(request: Request, next: Next) -> Response {
    let is_asset = request.uri().path().starts_with("/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !is_asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A request body for an API handler, made by a page. (Pages send no idempotency keys,
/// the only use of the raw bytes.)
fn api_body<T>(value: T) -> crate::api::extract::JsonBody<T> {
    crate::api::extract::JsonBody {
        value,
        raw: axum::body::Bytes::new(),
    }
}

/// The site a page is about, read through the API's handler.
async fn load_site(
    state: &AppState,
    user: &session::WebUser,
    site_id: &str,
) -> Result<crate::store::SiteRecord, layout::PageError> {
    use axum::extract::{Path, State};
    let axum::Json(site) = crate::api::sites::show(
        State(state.clone()),
        user.caller(),
        Path(site_id.to_owned()),
    )
    .await?;
    Ok(site)
}

/// After a successful POST: the page to show, with a short notice.
fn see_other(path: &str, notice: &str) -> Response {
    use axum::response::IntoResponse;
    Redirect::to(&format!("{path}?notice={notice}")).into_response()
}

/// `?notice=…` on any page, and `?cursor=…` on those that list a page of things.
#[derive(serde::Deserialize, Default)]
struct NoticeQuery {
    notice: Option<String>,
    cursor: Option<String>,
}

/// The first page of a list (`cursor: None`) or the one after `cursor`.
fn page_query(cursor: Option<String>) -> crate::api::extract::QueryParams<crate::api::PageQuery> {
    crate::api::extract::QueryParams(crate::api::PageQuery {
        cursor,
        limit: None,
    })
}

/// Every webhook of a site, page by page (a site has at most 500).
async fn all_webhooks(
    state: &AppState,
    user: &session::WebUser,
    site_id: &str,
) -> Result<Vec<crate::api::webhooks::WebhookView>, layout::PageError> {
    use axum::extract::{Path, State};
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let axum::Json(page) = crate::api::webhooks::list(
            State(state.clone()),
            user.caller(),
            Path(site_id.to_owned()),
            page_query(cursor),
        )
        .await?;
        all.extend(page.data);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(all),
        }
    }
}
