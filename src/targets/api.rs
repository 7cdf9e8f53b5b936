//! One request to a third-party API (Slack, GitHub, GitLab), sent with the pooled client
//! and kept in the activity log like any attempt: the URL with its method, the headers
//! with credentials masked, the body sent, and the answer.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, USER_AGENT};
use reqwest::Method;
use serde_json::Value;

use super::http::{describe, header_map_json, masked_headers, USER_AGENT_VALUE};
use super::{Context, Outcome};
use crate::domain::call::is_success;
use crate::domain::destination::check_url;
use crate::store::NewAttempt;

pub struct ApiRequest {
    pub method: Method,
    pub url: String,
    /// Besides content type, accept and user agent; the credential among them is masked in
    /// the log.
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Value>,
}

/// What came back, read up to the log's limit.
pub struct Answer {
    pub status: Option<u16>,
    pub headers: Option<HeaderMap>,
    pub body: String,
    pub error: Option<String>,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(is_success)
    }

    /// The body as JSON, when it is.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

impl ApiRequest {
    pub fn new(method: Method, url: String, body: Option<Value>) -> Self {
        ApiRequest {
            method,
            url,
            headers: Vec::new(),
            body,
        }
    }

    pub fn header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    fn header_map(&self) -> Result<HeaderMap, String> {
        let mut map = HeaderMap::new();
        map.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        map.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if self.body.is_some() {
            map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        for (name, value) in &self.headers {
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("the {name} header's value is not valid"))?;
            map.insert(HeaderName::from_static(name), value);
        }
        Ok(map)
    }

    fn shown_url(&self) -> String {
        format!("{} {}", self.method, self.url)
    }

    /// Sends it (the URL is checked like any webhook's) and reads the answer.
    pub async fn send(&self, ctx: &Context<'_>) -> Answer {
        let failed = |error: String| Answer {
            status: None,
            headers: None,
            body: String::new(),
            error: Some(error),
        };
        let url = match check_url(&self.url, ctx.allow_private_targets) {
            Ok(url) => url,
            Err(problem) => return failed(format!("not sent: {} {problem}", self.url)),
        };
        let headers = match self.header_map() {
            Ok(headers) => headers,
            Err(problem) => return failed(format!("not sent: {problem}")),
        };
        let mut request = ctx
            .client
            .request(self.method.clone(), url)
            .headers(headers)
            .timeout(ctx.timeout());
        if let Some(body) = &self.body {
            request = request.body(body.to_string());
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) => return failed(describe(&e, ctx.timeout())),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        let mut error = None;
        while body.len() < ctx.response_body_limit {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    error = Some(describe(&e, ctx.timeout()));
                    break;
                }
            }
        }
        body.truncate(ctx.response_body_limit);
        let body = String::from_utf8_lossy(&body).into_owned();
        if error.is_none() && !is_success(status) {
            error = Some(api_error(status, &body));
        }
        Answer {
            status: Some(status),
            headers: Some(headers),
            body,
            error,
        }
    }

    /// The attempt this request and its answer make.
    pub fn outcome(&self, ctx: &Context<'_>, answer: Answer) -> Outcome {
        let delivered = answer.ok();
        let retry_after = answer
            .headers
            .as_ref()
            .and_then(|h| h.get(reqwest::header::RETRY_AFTER))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = answer.status.unwrap_or(0);
        Outcome::answered(
            NewAttempt {
                manual: ctx.call.manual,
                started_at: ctx.started_at,
                duration_ms: ctx.elapsed_ms(),
                request_url: self.shown_url(),
                request_headers: masked_headers(&self.header_map().unwrap_or_default()),
                request_body: self.body.as_ref().map(Value::to_string),
                response_status: answer.status.map(i64::from),
                response_headers: answer.headers.as_ref().map(header_map_json),
                response_body: answer.status.map(|_| answer.body),
                error: answer.error,
            },
            delivered,
            status,
            retry_after.as_deref(),
        )
    }
}

/// An API's refusal in words: its own `message` when it gives one.
fn api_error(status: u16, body: &str) -> String {
    let message = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        v.get("message")
            .or_else(|| v.get("error"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    match message {
        Some(message) => format!("HTTP {status}: {message}"),
        None => format!("HTTP {status}"),
    }
}

/// `api_url` without a trailing slash, joined with `path`.
pub fn join(api_url: &str, path: &str) -> String {
    format!("{}{path}", api_url.trim_end_matches('/'))
}

/// A text path segment, percent-encoded (GitLab's `group/project` ids, branch names).
pub fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_carry_the_apis_message() {
        assert_eq!(
            api_error(422, r#"{"message":"No commit found for SHA: abc"}"#),
            "HTTP 422: No commit found for SHA: abc"
        );
        assert_eq!(api_error(500, "oops"), "HTTP 500");
    }

    #[test]
    fn paths_join_and_encode() {
        assert_eq!(
            join("https://api.github.com/", "/repos"),
            "https://api.github.com/repos"
        );
        assert_eq!(segment("group/sub project"), "group%2Fsub%20project");
    }
}
