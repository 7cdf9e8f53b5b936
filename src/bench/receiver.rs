//! The bench's receiver: a minimal HTTP server on 127.0.0.1 that records when each call
//! (by `webhook-id`) first arrived successfully.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// 200 at once.
    Instant,
    /// 200 after this long.
    Slow(Duration),
    /// 500 for about half the requests, at random, 200 for the others.
    HalfFailing,
}

#[derive(Default)]
pub struct Arrivals {
    /// First successful receipt of each call id.
    pub first: Mutex<HashMap<String, Instant>>,
    pub requests: AtomicU64,
    pub duplicates: AtomicU64,
}

pub struct Receiver {
    pub addr: SocketAddr,
    pub arrivals: Arc<Arrivals>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub async fn start(behaviour: Behaviour) -> anyhow::Result<Receiver> {
        let arrivals = Arc::new(Arrivals::default());
        let recorded = arrivals.clone();
        let app = Router::new().fallback(move |headers: HeaderMap, _body: Bytes| {
            let arrivals = recorded.clone();
            async move {
                arrivals.requests.fetch_add(1, Ordering::Relaxed);
                match behaviour {
                    Behaviour::Instant => {}
                    Behaviour::Slow(delay) => tokio::time::sleep(delay).await,
                    Behaviour::HalfFailing => {
                        if rand::random::<bool>() {
                            return StatusCode::INTERNAL_SERVER_ERROR;
                        }
                    }
                }
                if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
                    let now = Instant::now();
                    let mut first = arrivals.first.lock().expect("arrivals lock");
                    match first.entry(id.to_owned()) {
                        std::collections::hash_map::Entry::Occupied(_) => {
                            arrivals.duplicates.fetch_add(1, Ordering::Relaxed);
                        }
                        std::collections::hash_map::Entry::Vacant(slot) => {
                            slot.insert(now);
                        }
                    }
                }
                StatusCode::OK
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver {
            addr,
            arrivals,
            task,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }
}
