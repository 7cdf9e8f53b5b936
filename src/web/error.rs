//! What a page handler can fail with, rendered as a page a person can act on.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::frame::bare;
use crate::api::ApiError;
use crate::store::StoreError;

/// What a page handler can fail with; each renders as a page a person can act on.
#[derive(Debug)]
pub enum PageError {
    /// Not signed in (or the session ended): off to the sign-in form, then back here.
    SignIn(String),
    Forbidden(String),
    BadRequest(String),
    Api(ApiError),
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError::Api(e)
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        PageError::Api(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, detail) = match self {
            PageError::SignIn(next) => {
                let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
                return Redirect::to(&format!("/sign-in?{query}")).into_response();
            }
            PageError::Forbidden(detail) => (StatusCode::FORBIDDEN, detail),
            PageError::BadRequest(detail) => (StatusCode::BAD_REQUEST, detail),
            PageError::Api(e) => (e.status, e.detail),
        };
        let title = status.canonical_reason().unwrap_or("Error");
        let body = bare(
            title,
            html! {
                main.narrow {
                    h1 { (status.as_u16()) " " (title) }
                    p.alert.alert-error role="alert" { (detail) }
                    p { a href="/sites" { "Back to the dashboard" } }
                }
            },
        );
        (status, body).into_response()
    }
}
