//! Limits on what a request may carry, each breach answered with a problem document that
//! names the limit: headers (count and size), body size, JSON nesting.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::sync::Semaphore;

use super::problem::ApiError;

/// Headers a request may carry. (Past 100, the HTTP server itself answers a bare 431.)
pub const MAX_REQUEST_HEADERS: usize = 64;
/// Bytes of names and values of all headers together, as common servers allow.
pub const MAX_REQUEST_HEADER_BYTES: usize = 16 * 1024;
/// Levels of nesting a JSON body may have. Events nest a few levels; the parser's own
/// limit (128) would answer with a path hundreds of characters long.
pub const MAX_JSON_DEPTH: usize = 32;

/// The body size limit of the routes below it, for naming it in a 413.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// What is wrong with the headers, if anything.
pub fn header_breach(headers: &HeaderMap) -> Option<String> {
    if headers.len() > MAX_REQUEST_HEADERS {
        return Some(format!(
            "the request has {} headers; at most {MAX_REQUEST_HEADERS} are accepted",
            headers.len()
        ));
    }
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    (bytes > MAX_REQUEST_HEADER_BYTES).then(|| {
        format!(
            "the request's headers take {bytes} bytes; at most {MAX_REQUEST_HEADER_BYTES} are accepted"
        )
    })
}

/// Answers 431 to requests whose headers pass a limit.
pub async fn limit_headers(request: Request, next: Next) -> Response {
    match header_breach(request.headers()) {
        Some(problem) => {
            ApiError::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, problem).into_response()
        }
        None => next.run(request).await,
    }
}

/// How request bodies are read: whole, before a request takes one of the in-flight slots
/// (so a client trickling its body holds a connection, never a slot), within a deadline,
/// and within a memory budget shared by every body being read.
#[derive(Debug)]
pub struct BodyReading {
    /// The largest body of any route (`--max-body-bytes`).
    pub max_bytes: usize,
    /// The whole body must arrive within this (`--body-read-timeout`).
    pub deadline: Duration,
    /// Bytes of bodies being read or handled, at most (one permit a byte).
    pub budget: Arc<Semaphore>,
}

/// Bytes of request bodies held in memory at once, across all requests.
pub const BODY_BUDGET_BYTES: usize = 256 * 1024 * 1024;

/// The share of the body budget a buffered body holds until its request is answered.
#[derive(Clone)]
struct BudgetShare {
    _held: Arc<tokio::sync::OwnedSemaphorePermit>,
}

enum BodyProblem {
    TooLarge,
    Unreadable(String),
}

/// Reads the body into memory before the rest of the stack sees the request; answers
/// 408 (and closes) when it does not arrive within the deadline, 413 past the limit.
pub async fn read_body(
    State(reading): State<Arc<BodyReading>>,
    request: Request,
    next: Next,
) -> Response {
    use axum::body::HttpBody;
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Refused before the body is read, the connection cannot carry another request.
    let closing = |mut response: Response| {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    };
    if declared.is_some_and(|n| n > reading.max_bytes as u64) {
        return closing(too_large(Some(BodyLimit(reading.max_bytes))).into_response());
    }
    let (parts, body) = request.into_parts();
    let mut chunks = body.into_data_stream();
    let mut buffer = bytes::BytesMut::new();
    let mut share: Option<tokio::sync::OwnedSemaphorePermit> = None;
    let read = async {
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| BodyProblem::Unreadable(e.to_string()))?;
            if buffer.len() + chunk.len() > reading.max_bytes {
                return Err(BodyProblem::TooLarge);
            }
            let permit = reading
                .budget
                .clone()
                .acquire_many_owned(chunk.len() as u32)
                .await
                .map_err(|_| BodyProblem::Unreadable("the server is stopping".into()))?;
            match &mut share {
                Some(held) => held.merge(permit),
                None => share = Some(permit),
            }
            buffer.extend_from_slice(&chunk);
        }
        Ok(())
    };
    match tokio::time::timeout(reading.deadline, read).await {
        Err(_) => closing(
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s (--body-read-timeout)",
                    reading.deadline.as_secs()
                ),
            )
            .into_response(),
        ),
        Ok(Err(BodyProblem::TooLarge)) => {
            closing(too_large(Some(BodyLimit(reading.max_bytes))).into_response())
        }
        Ok(Err(BodyProblem::Unreadable(e))) => ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("could not read the request body: {e}"),
        )
        .into_response(),
        Ok(Ok(())) => {
            let mut request = Request::from_parts(parts, Body::from(buffer.freeze()));
            if let Some(share) = share {
                request.extensions_mut().insert(BudgetShare {
                    _held: Arc::new(share),
                });
            }
            next.run(request).await
        }
    }
}

/// The 413 for a body past `limit` bytes (when known).
pub fn too_large(limit: Option<BodyLimit>) -> ApiError {
    let detail = match limit {
        Some(BodyLimit(bytes)) => format!(
            "the request body is larger than {bytes} bytes, the most this route accepts \
             (--max-body-bytes)"
        ),
        None => "the request body is larger than this route accepts".to_owned(),
    };
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, detail)
}

/// Whether JSON text nests arrays and objects deeper than `max` (brackets inside strings
/// do not count). One pass over the bytes, before parsing.
pub fn nests_deeper_than(raw: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in raw {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        assert!(!nests_deeper_than(br#"{"a": [[1]]}"#, 3));
        assert!(nests_deeper_than(br#"{"a": [[[1]]]}"#, 3));
        assert!(!nests_deeper_than(br#"{"a": "[[[[[[\"{{{{"}"#, 1));
        assert!(!nests_deeper_than(br#"{"a": "\\", "b": 1}"#, 1));
    }

    #[test]
    fn headers_past_a_limit_are_named() {
        let mut headers = HeaderMap::new();
        for i in 0..MAX_REQUEST_HEADERS {
            headers.insert(
                axum::http::HeaderName::try_from(format!("x-h{i}")).unwrap(),
                "v".parse().unwrap(),
            );
        }
        assert_eq!(header_breach(&headers), None);
        headers.insert("x-one-more", "v".parse().unwrap());
        assert!(header_breach(&headers).unwrap().contains("at most 64"));
        let mut big = HeaderMap::new();
        big.insert("x-big", "a".repeat(20_000).parse().unwrap());
        assert!(header_breach(&big).unwrap().contains("at most 16384"));
    }
}
