//! Local stand-ins for Slack, GitHub and GitLab: they check nothing themselves but record
//! every request, answer as those APIs document, and keep pull/merge request comments so
//! that updates in place can be checked.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::{Json, Router};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct ForgeRequest {
    pub method: String,
    /// Path and query as sent (percent-encoding kept).
    pub target: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

impl ForgeRequest {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct State {
    requests: Vec<ForgeRequest>,
    /// (comment list path, id, body)
    comments: Vec<(String, u64, String)>,
    next_id: u64,
    /// Commit statuses still to refuse with a 502.
    statuses_to_refuse: u32,
}

pub struct Forge {
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl Forge {
    pub async fn start() -> Forge {
        let state: Arc<Mutex<State>> = Arc::default();
        state.lock().unwrap().next_id = 1000;
        let shared = state.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = shared.clone();
                async move { answer(&state, method, uri, headers, body) }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Forge {
            base: format!("http://{addr}"),
            state,
        }
    }

    pub fn requests(&self) -> Vec<ForgeRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Comments kept under a comment-list path, as (id, body).
    pub fn comments(&self, list_path: &str) -> Vec<(u64, String)> {
        self.state
            .lock()
            .unwrap()
            .comments
            .iter()
            .filter(|(path, _, _)| path == list_path)
            .map(|(_, id, body)| (*id, body.clone()))
            .collect()
    }

    /// Answers the next `n` commit statuses with a 502, as GitHub does in an outage.
    pub fn refuse_next_statuses(&self, n: u32) {
        self.state.lock().unwrap().statuses_to_refuse = n;
    }

    /// A comment someone else wrote, which must be left alone.
    pub fn add_comment(&self, list_path: &str, body: &str) {
        let mut state = self.state.lock().unwrap();
        let id = state.next_id;
        state.next_id += 1;
        state
            .comments
            .push((list_path.to_owned(), id, body.to_owned()));
    }
}

fn answer(
    state: &Mutex<State>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let mut state = state.lock().unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state.requests.push(ForgeRequest {
        method: method.to_string(),
        target: uri.to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect(),
        body: body.clone(),
    });
    let path = uri.path().to_owned();
    let is_list = path.ends_with("/comments") || path.ends_with("/notes");
    if path.starts_with("/services/") {
        return (StatusCode::OK, "ok").into_response();
    }
    if path.contains("/statuses/") && method == Method::POST {
        if state.statuses_to_refuse > 0 {
            state.statuses_to_refuse -= 1;
            return (StatusCode::BAD_GATEWAY, "Server Error").into_response();
        }
        return (
            StatusCode::CREATED,
            Json(json!({"id": 1, "state": body["state"]})),
        )
            .into_response();
    }
    if is_list && method == Method::GET {
        let page: usize = uri
            .query()
            .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("page=")))
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let all: Vec<Value> = state
            .comments
            .iter()
            .filter(|(p, _, _)| *p == path)
            .map(|(_, id, body)| json!({"id": id, "body": body}))
            .collect();
        let page: Vec<Value> = all.into_iter().skip((page - 1) * 100).take(100).collect();
        return (StatusCode::OK, Json(Value::Array(page))).into_response();
    }
    if is_list && method == Method::POST {
        let id = state.next_id;
        state.next_id += 1;
        let text = body["body"].as_str().unwrap_or_default().to_owned();
        state.comments.push((path, id, text.clone()));
        return (StatusCode::CREATED, Json(json!({"id": id, "body": text}))).into_response();
    }
    if method == Method::PATCH || method == Method::PUT {
        let id: u64 = path
            .rsplit('/')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let text = body["body"].as_str().unwrap_or_default().to_owned();
        if let Some(comment) = state.comments.iter_mut().find(|(_, cid, _)| *cid == id) {
            comment.2 = text.clone();
            return (StatusCode::OK, Json(json!({"id": id, "body": text}))).into_response();
        }
    }
    (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response()
}
