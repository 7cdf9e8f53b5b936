//! Stylesheet, script and icon, compiled into the binary: no CDN, no files beside it.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");
pub const LOGO_SVG: &str = r##"<svg class="logo" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true"><path d="M4 12h6l2-6 3 12 2-6h3" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round"/></svg>"##;
const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><rect width="24" height="24" rx="5" fill="#4f46e5"/><path d="M4 12h6l2-6 3 12 2-6h3" fill="none" stroke="#fff" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round"/></svg>"##;

/// The version in the path lets browsers keep the files for a long time and still get a
/// new build's at once.
pub const CSS_PATH: &str = concat!("/assets/", env!("CARGO_PKG_VERSION"), "/app.css");
pub const JS_PATH: &str = concat!("/assets/", env!("CARGO_PKG_VERSION"), "/app.js");
pub const ICON_PATH: &str = concat!("/assets/", env!("CARGO_PKG_VERSION"), "/icon.svg");

pub async fn serve(Path((_version, name)): Path<(String, String)>) -> Response {
    let (content_type, body) = match name.as_str() {
        "app.css" => ("text/css; charset=utf-8", CSS),
        "app.js" => ("text/javascript; charset=utf-8", JS),
        "icon.svg" => ("image/svg+xml", ICON),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}
