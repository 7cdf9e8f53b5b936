//! The client's side of the API: one request, its answer as JSON, and a failure a script
//! can tell apart by the exit code.

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Exit codes: 0 done; 2 bad usage (clap's); these for the rest.
pub const EXIT_REFUSED: u8 = 3; // the request was wrong (400, 409, 413, 415, 422)
pub const EXIT_NOT_FOUND: u8 = 4;
pub const EXIT_AUTH: u8 = 5; // no, unknown or insufficient token (401, 403)
pub const EXIT_UNAVAILABLE: u8 = 6; // server unreachable, 5xx, or shed (503)
/// What a command followed did not succeed: the job of `jobs logs --follow` (failed,
/// cancelled, superseded), the first attempt of `webhooks test --wait`.
pub const EXIT_DID_NOT_SUCCEED: u8 = 7;

/// A command that did not succeed: what the server (or the network) said, and the exit
/// code that tells scripts which kind of failure it was.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    fn from_status(status: StatusCode, body: &Value) -> Failure {
        let detail = body
            .get("detail")
            .and_then(Value::as_str)
            .map_or_else(|| status.to_string(), str::to_owned);
        let code = match status.as_u16() {
            401 | 403 => EXIT_AUTH,
            404 => EXIT_NOT_FOUND,
            500.. => EXIT_UNAVAILABLE,
            _ => EXIT_REFUSED,
        };
        Failure {
            code,
            message: format!(
                "{} {}: {detail}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ),
        }
    }
}

pub struct Api {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    pub fn new(server: &str, token: Option<String>) -> Api {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Api {
            client: reqwest::Client::new(),
            base: format!("{}/api/v1", server.trim_end_matches('/')),
            token,
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| Failure {
            code: EXIT_UNAVAILABLE,
            message: format!("cannot reach {}: {e}", self.base),
        })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| Failure {
            code: EXIT_UNAVAILABLE,
            message: format!("the answer was cut off: {e}"),
        })?;
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        if status.is_success() {
            Ok(body)
        } else {
            Err(Failure::from_status(status, &body))
        }
    }

    pub async fn get(&self, path: &str) -> Result<Value, Failure> {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, Failure> {
        self.send(Method::DELETE, path, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_map_to_exit_codes_and_keep_the_servers_words() {
        let f = Failure::from_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({"detail": "`url` must use http or https"}),
        );
        assert_eq!(f.code, EXIT_REFUSED);
        assert_eq!(
            f.message,
            "422 Unprocessable Entity: `url` must use http or https"
        );
        assert_eq!(
            Failure::from_status(StatusCode::NOT_FOUND, &Value::Null).code,
            EXIT_NOT_FOUND
        );
        assert_eq!(
            Failure::from_status(StatusCode::FORBIDDEN, &Value::Null).code,
            EXIT_AUTH
        );
        assert_eq!(
            Failure::from_status(StatusCode::SERVICE_UNAVAILABLE, &Value::Null).code,
            EXIT_UNAVAILABLE
        );
    }
}
