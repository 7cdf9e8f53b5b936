//! The bench's receiver: a minimal HTTP server on 127.0.0.1 that records when each call
//! (by `webhook-id`) arrived successfully.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
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
    /// A receiver having a bad month (the soak): about 1 in 10 requests answered 500,
    /// 1 in 20 answered 429 with `Retry-After: 1`, 1 in 50 answered after 2 s.
    Flaky,
}

/// Every successful receipt, in the order they came. A request only appends to a list (no
/// hashing, no lookup): the receiver shares the machine it measures, so its bookkeeping
/// is kept to what the raw phase's receiver also does, nearly nothing. First arrivals and
/// duplicates are worked out once the scenario is over.
#[derive(Default)]
pub struct Arrivals {
    pub requests: AtomicU64,
    received: Mutex<Vec<(Box<str>, Instant)>>,
}

/// Each call's first successful receipt, and how many receipts repeated a call.
pub struct FirstArrivals {
    pub first: HashMap<Box<str>, Instant>,
    pub duplicates: u64,
}

impl Arrivals {
    /// Successful receipts so far, repeats included.
    pub fn received(&self) -> u64 {
        self.received.lock().expect("arrivals lock").len() as u64
    }

    pub fn first_arrivals(&self) -> FirstArrivals {
        let received = self.received.lock().expect("arrivals lock");
        let mut first: HashMap<Box<str>, Instant> = HashMap::with_capacity(received.len());
        for (id, at) in received.iter() {
            first
                .entry(id.clone())
                .and_modify(|earliest| *earliest = (*earliest).min(*at))
                .or_insert(*at);
        }
        let duplicates = (received.len() - first.len()) as u64;
        FirstArrivals { first, duplicates }
    }

    fn record(&self, id: &str, at: Instant) {
        self.received
            .lock()
            .expect("arrivals lock")
            .push((id.into(), at));
    }
}

/// The flaky receiver's answer when it is not a plain 200 (after any delay it takes).
async fn flaky_answer() -> Option<Response> {
    let roll = rand::random::<f64>();
    if roll < 0.10 {
        Some(StatusCode::INTERNAL_SERVER_ERROR.into_response())
    } else if roll < 0.15 {
        Some((StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")]).into_response())
    } else {
        if roll < 0.17 {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        None
    }
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
        // The request is taken whole rather than through a `HeaderMap` extractor, which
        // would copy every header of every request only to read one.
        let app = Router::new().fallback(move |request: Request| {
            let arrivals = recorded.clone();
            async move {
                let (parts, body) = request.into_parts();
                // Read to the end, as a real receiver does (and keep-alive needs).
                if to_bytes(body, usize::MAX).await.is_err() {
                    return StatusCode::BAD_REQUEST.into_response();
                }
                arrivals.requests.fetch_add(1, Ordering::Relaxed);
                match behaviour {
                    Behaviour::Instant => {}
                    Behaviour::Slow(delay) => tokio::time::sleep(delay).await,
                    Behaviour::HalfFailing => {
                        if rand::random::<bool>() {
                            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                        }
                    }
                    Behaviour::Flaky => {
                        if let Some(bad) = flaky_answer().await {
                            return bad;
                        }
                    }
                }
                if let Some(id) = parts
                    .headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                {
                    arrivals.record(id, Instant::now());
                }
                StatusCode::OK.into_response()
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

/// A receiver that accepts connections and never answers: every call to it waits for
/// its timeout.
pub struct BlackHole {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl BlackHole {
    pub async fn start() -> anyhow::Result<BlackHole> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            // Held open, unread, until the bench ends.
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        Ok(BlackHole { addr, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_arrivals_keep_each_calls_earliest_receipt_and_count_the_repeats() {
        let arrivals = Arrivals::default();
        let start = Instant::now();
        let later = start + Duration::from_millis(5);
        arrivals.record("call_b", later);
        arrivals.record("call_a", start);
        arrivals.record("call_b", start);
        arrivals.record("call_b", later);
        assert_eq!(arrivals.received(), 4);
        let FirstArrivals { first, duplicates } = arrivals.first_arrivals();
        assert_eq!(first.len(), 2);
        assert_eq!(first["call_a"], start);
        assert_eq!(first["call_b"], start);
        assert_eq!(duplicates, 2);
    }
}
