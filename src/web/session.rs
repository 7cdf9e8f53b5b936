//! Signing in with an API token: the server answers with a session cookie (HttpOnly,
//! SameSite=Strict, Secure behind https) whose hash is stored with an expiry. Every form
//! carries the session's CSRF token; [`Posted`] refuses a POST without it.

use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::error::PageError;
use super::form::FormData;
use super::frame;
use crate::api::extract::Caller;
use crate::api::throttle::{ClientAddr, Public};
use crate::api::{ApiError, AppState};
use crate::domain::ids::random_urlsafe;
use crate::domain::time::now_millis;
use crate::domain::token::Role;
use crate::store::SessionRecord;

const SESSION_COOKIE: &str = "hr_session";
/// Carries the sign-in form's CSRF token before there is a session (double submit).
const SIGN_IN_COOKIE: &str = "hr_sign_in";
/// A session lasts a working day; signing in again is one paste of the token.
const SESSION_TTL_MS: i64 = 12 * 3_600_000;
pub const CSRF_FIELD: &str = "_csrf";

/// A signed-in person: the session and the API token it acts as.
pub struct WebUser {
    pub session: SessionRecord,
}

impl WebUser {
    /// The caller the API's handlers see, so pages obey exactly the API's rules.
    pub fn caller(&self) -> Caller {
        Caller(self.session.token.clone())
    }

    /// Whether the pages offer actions that need `role` (the server checks anyway).
    pub fn can(&self, role: Role) -> bool {
        self.session.token.role.allows(role)
    }

    pub fn csrf(&self) -> &str {
        &self.session.csrf_token
    }
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn set_cookie(state: &AppState, name: &str, value: &str, max_age_s: i64) -> HeaderValue {
    let secure = if state.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let text =
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}");
    HeaderValue::from_str(&text).expect("cookie values are URL-safe base64")
}

fn same(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let sign_in = || PageError::SignIn(parts.uri.path().to_owned());
        let secret = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(sign_in)?;
        match state.store.session(secret, now_millis()).await? {
            Some(session) => Ok(WebUser { session }),
            None => Err(sign_in()),
        }
    }
}

/// A form POST from a signed-in person whose CSRF token checked out.
pub struct Posted {
    pub user: WebUser,
    pub form: FormData,
}

impl FromRequest<AppState> for Posted {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = req.into_parts();
        let user = WebUser::from_request_parts(&mut parts, state).await?;
        let form = FormData::from_request(Request::from_parts(parts, body), state).await?;
        if !same(form.get(CSRF_FIELD).unwrap_or_default(), user.csrf()) {
            return Err(PageError::Forbidden(
                "this form has expired or did not come from this dashboard (missing or wrong \
                 CSRF token); go back, reload the page and try again"
                    .into(),
            ));
        }
        Ok(Posted { user, form })
    }
}

#[derive(Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
    error: Option<String>,
}

/// Only paths of this site, never `//host`, a full URL or a control character: no open
/// redirect, and always a valid `Location`.
fn safe_next(next: Option<&str>) -> &str {
    next.and_then(crate::domain::redirect::local_path)
        .unwrap_or("/sites")
}

pub async fn sign_in_page(
    State(state): State<AppState>,
    Query(query): Query<SignInQuery>,
) -> Response {
    let error = match query.error.as_deref() {
        Some("token") => Some("That token is unknown or has been revoked."),
        Some("expired") => Some("The sign-in form expired; please try again."),
        _ => None,
    };
    sign_in_form(&state, safe_next(query.next.as_deref()), error)
}

/// The sign-in page, with a fresh CSRF token in its form and cookie.
fn sign_in_form(state: &AppState, next: &str, error: Option<&str>) -> Response {
    let csrf = random_urlsafe(24);
    let body = frame::bare(
        "Sign in",
        html! {
            main.sign-in {
                h1 { (maud::PreEscaped(super::assets::LOGO_SVG)) "hookrelay" }
                p.lead { "Sign in with an API token. Its role decides what you can change." }
                @if let Some(error) = error {
                    p.alert.alert-error role="alert" { (error) }
                }
                form method="post" action="/sign-in" {
                    input type="hidden" name=(CSRF_FIELD) value=(csrf);
                    input type="hidden" name="next" value=(next);
                    label for="token" { "API token" }
                    input #token type="password" name="token" autocomplete="current-password"
                        placeholder="hr_…" required autofocus;
                    button.primary type="submit" { "Sign in" }
                }
                p.hint { "The server printed an owner token on its first start. An owner can make more on the API tokens page." }
            }
        },
    );
    let mut response = body.into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, SIGN_IN_COOKIE, &csrf, 3600),
    );
    response
}

pub async fn sign_in(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    form: FormData,
) -> Response {
    let next = safe_next(form.get("next")).to_owned();
    // Before the token is looked at: guessing tokens must be slow.
    if let Err(throttled) = state.throttle.check(Public::SignIn, None, client) {
        let problem = ApiError::from(throttled);
        let mut page = sign_in_form(&state, &next, Some(&problem.detail));
        *page.status_mut() = problem.status;
        if let Some(seconds) = problem.retry_after_s {
            page.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        return page;
    }
    let back = |error: &str| {
        let query = serde_urlencoded::to_string([("next", next.as_str()), ("error", error)])
            .unwrap_or_default();
        Redirect::to(&format!("/sign-in?{query}")).into_response()
    };
    let expected = cookie(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if !same(form.get(CSRF_FIELD).unwrap_or_default(), expected) {
        return back("expired");
    }
    let secret = form.get("token").unwrap_or_default().trim();
    let token = match state.store.token_by_secret(secret).await {
        Ok(Some(token)) => token,
        Ok(None) => return back("token"),
        Err(e) => return PageError::from(e).into_response(),
    };
    let session_secret = random_urlsafe(32);
    let now = now_millis();
    if let Err(e) = state
        .store
        .create_session(
            &token.id,
            &session_secret,
            &random_urlsafe(24),
            now,
            now + SESSION_TTL_MS,
        )
        .await
    {
        return PageError::from(e).into_response();
    }
    let mut response = Redirect::to(&next).into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(
            &state,
            SESSION_COOKIE,
            &session_secret,
            SESSION_TTL_MS / 1000,
        ),
    );
    headers.append(
        header::SET_COOKIE,
        set_cookie(&state, SIGN_IN_COOKIE, "", 0),
    );
    response
}

/// Ends this session only (the token's other sessions stay signed in).
pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap, _: Posted) -> Response {
    if let Some(secret) = cookie(&headers, SESSION_COOKIE) {
        if let Err(e) = state.store.delete_session(secret).await {
            return PageError::from(e).into_response();
        }
    }
    let mut response = Redirect::to("/sign-in").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, "", 0),
    );
    response
}

/// The CSRF token as a hidden form field.
pub fn csrf_field(user: &WebUser) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(user.csrf()); }
}

/// For script requests (live preview): the token travels in a header instead of a field.
pub fn check_csrf_header(user: &WebUser, headers: &HeaderMap) -> Result<(), PageError> {
    let sent = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if same(sent, user.csrf()) {
        Ok(())
    } else {
        Err(PageError::Forbidden("missing or wrong CSRF token".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_only_a_local_path() {
        assert_eq!(safe_next(Some("/sites/site_1")), "/sites/site_1");
        assert_eq!(safe_next(Some("//evil.example")), "/sites");
        assert_eq!(safe_next(Some("https://evil.example")), "/sites");
        assert_eq!(safe_next(Some("/\\evil.example")), "/sites");
        assert_eq!(safe_next(Some("/\t/evil.example")), "/sites");
        assert_eq!(safe_next(Some("/\n/x")), "/sites");
        assert_eq!(safe_next(None), "/sites");
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; hr_session=abc; b=2"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn csrf_comparison_refuses_empty_and_different_tokens() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("", ""));
    }
}
