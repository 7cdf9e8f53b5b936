//! A real HTTP receiver on 127.0.0.1 that records every request and answers as told.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct Received {
    /// The client's address: one per TCP connection.
    pub peer: SocketAddr,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Bytes,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }
}

/// How to answer: status, extra headers, body, delay before answering.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            headers: vec![],
            body: b"ok".to_vec(),
            delay: Duration::ZERO,
        }
    }
}

type Responder = Arc<dyn Fn(usize, &Received) -> Reply + Send + Sync>;

#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    count: watch::Receiver<usize>,
}

impl Receiver {
    /// A receiver answering 200 to everything.
    pub async fn ok() -> Self {
        Self::start(|_, _| Reply::status(200)).await
    }

    /// `respond(n, request)` decides the answer to the n-th request (0-based).
    pub async fn start(
        respond: impl Fn(usize, &Received) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let (count_tx, count) = watch::channel(0usize);
        let respond: Responder = Arc::new(respond);
        let state = (received.clone(), Arc::new(count_tx), respond);
        let app = Router::new().fallback(
            move |ConnectInfo(peer): ConnectInfo<SocketAddr>,
                  uri: axum::http::Uri,
                  headers: HeaderMap,
                  body: Bytes| {
                let (received, count_tx, respond) = state.clone();
                async move {
                    let request = Received {
                        peer,
                        path: uri.path().to_owned(),
                        headers: headers
                            .iter()
                            .map(|(k, v)| {
                                (
                                    k.as_str().to_owned(),
                                    String::from_utf8_lossy(v.as_bytes()).into(),
                                )
                            })
                            .collect(),
                        body,
                        at: std::time::Instant::now(),
                    };
                    let n = {
                        let mut all = received.lock().unwrap();
                        all.push(request.clone());
                        all.len() - 1
                    };
                    count_tx.send_replace(n + 1);
                    let reply = respond(n, &request);
                    tokio::time::sleep(reply.delay).await;
                    let mut response: Response =
                        (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
                    for (name, value) in reply.headers {
                        response.headers_mut().insert(
                            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                            value.parse().unwrap(),
                        );
                    }
                    response
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        Receiver {
            addr,
            received,
            count,
        }
    }

    /// The most requests that arrived within any `window`.
    pub fn busiest(&self, window: Duration) -> usize {
        let mut times: Vec<std::time::Instant> = self.received().iter().map(|r| r.at).collect();
        times.sort();
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|t| **t - times[i] < window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until a request with every one of `ids` in its `webhook-id` header has
    /// arrived; looks at each arrival once. The bound only guards against a hang.
    pub async fn wait_for_webhook_ids(&self, ids: &HashSet<String>, bound: Duration) {
        let mut count = self.count.clone();
        let mut missing = ids.clone();
        let mut looked_at = 0;
        let waited = tokio::time::timeout(bound, async {
            loop {
                let fresh: Vec<Received> = self.received.lock().unwrap()[looked_at..].to_vec();
                looked_at += fresh.len();
                for request in &fresh {
                    missing.remove(request.header("webhook-id"));
                }
                if missing.is_empty() {
                    return;
                }
                count.changed().await.unwrap();
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "{} of {} calls never arrived within {bound:?}",
            missing.len(),
            ids.len()
        );
    }

    /// How many TCP connections the requests so far came over.
    pub fn connections(&self) -> usize {
        let received = self.received.lock().unwrap();
        received
            .iter()
            .map(|r| r.peer)
            .collect::<HashSet<_>>()
            .len()
    }

    /// How many distinct `webhook-id`s arrived more than once.
    pub fn duplicated_ids(&self) -> usize {
        let mut times: HashMap<String, usize> = HashMap::new();
        for request in self.received.lock().unwrap().iter() {
            *times
                .entry(request.header("webhook-id").to_owned())
                .or_default() += 1;
        }
        times.values().filter(|n| **n > 1).count()
    }

    /// Waits for the n-th request to arrive (the bound only guards against a hang).
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let mut count = self.count.clone();
        tokio::time::timeout(Duration::from_secs(30), count.wait_for(|c| *c >= n))
            .await
            .unwrap_or_else(|_| panic!("receiver got {} of {n} requests", *self.count.borrow()))
            .unwrap();
        self.received()
    }
}
