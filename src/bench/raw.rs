//! The machine's own limit on loopback: keep-alive clients POSTing 1 KiB to the same
//! minimal receiver hookrelay delivers to, first shaped as hookrelay's deliveries (its own
//! HTTP target, headers and signature), then bare.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderName, HeaderValue};
use serde::Serialize;
use serde_json::json;

use super::machine::MachineTicks;
use super::receiver::{Behaviour, Receiver};
use crate::config::available_cores;
use crate::domain::event::DEFAULT_ENVIRONMENT;
use crate::domain::ids;
use crate::domain::time::now_millis;
use crate::domain::webhook::WebhookSettings;
use crate::store::{ClaimedCall, WebhookRecord};
use crate::targets::http::{HttpSettings, HttpTarget};

/// An event of about `bytes` bytes about entity `entity_id`, shared by every request that
/// sends it (no copy each).
pub(super) fn body_of(bytes: usize, entity_id: &str) -> Bytes {
    let filler = "x".repeat(bytes.saturating_sub(64));
    json!({"entity_type": "item", "event_type": "update", "entity": {"id": entity_id, "filler": filler}})
        .to_string()
        .into()
}

/// One measurement of the raw limit: the generator sends delivery-shaped requests, then
/// bare ones, each for the bench's duration.
#[derive(Debug, Serialize)]
pub(super) struct RawResult {
    pub(super) concurrency: usize,
    pub(super) seconds: f64,
    /// Requests shaped as hookrelay's deliveries (see [`RawRequests::Deliveries`]): the
    /// limit the scenarios are compared with.
    pub(super) requests_per_s: f64,
    /// Bare 1 KiB POSTs (see [`RawRequests::Bare`]), for comparison.
    pub(super) bare_requests_per_s: f64,
    /// Cores' worth of CPU the host took from this (virtual) machine meanwhile (the most
    /// during either of the two).
    pub(super) stolen_cores: f64,
}

/// What the raw load generator sends.
#[derive(Debug, Clone, Copy)]
enum RawRequests {
    /// The requests hookrelay's deliveries are: the same headers, a fresh `webhook-id`
    /// each (which the receiver records, as it does in the scenarios), a 1 KiB body. So
    /// the raw limit is the machine's for this traffic, and a scenario's share of it
    /// measures only what hookrelay adds: storing, scheduling, signing, logging.
    Deliveries,
    /// A 1 KiB JSON POST with only a content type, which the receiver does not record:
    /// the raw limit until round 10 of docs/PERFORMANCE.md, reported beside the other.
    Bare,
}

/// The most the machine does on loopback: N keep-alive clients POSTing 1 KiB to the same
/// minimal receiver hookrelay will deliver to, first shaped as deliveries, then bare.
pub(super) async fn raw_limit(concurrency: usize, duration: Duration) -> anyhow::Result<RawResult> {
    let deliveries = raw_run(concurrency, duration, RawRequests::Deliveries).await?;
    let bare = raw_run(concurrency, duration, RawRequests::Bare).await?;
    Ok(RawResult {
        concurrency,
        seconds: deliveries.seconds,
        requests_per_s: deliveries.requests_per_s,
        bare_requests_per_s: bare.requests_per_s,
        stolen_cores: deliveries.stolen_cores.max(bare.stolen_cores),
    })
}

struct RawRun {
    pub(super) seconds: f64,
    pub(super) requests_per_s: f64,
    pub(super) stolen_cores: f64,
}

async fn raw_run(
    concurrency: usize,
    duration: Duration,
    requests: RawRequests,
) -> anyhow::Result<RawRun> {
    let receiver = Receiver::start(Behaviour::Instant).await?;
    // hookrelay's own HTTP target: its client, and its requests for the deliveries.
    let target = Arc::new(HttpTarget::new(HttpSettings {
        allow_private_targets: true,
        response_body_limit: 0,
        max_in_flight: concurrency,
    })?);
    let template = Arc::new(requests.template(&target, &receiver.url())?);
    let done = Arc::new(AtomicU64::new(0));
    let ticks_at_start = MachineTicks::now();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (target, template, done) = (target.clone(), template.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while started.elapsed() < duration {
                let Some(request) = requests.next(&template) else {
                    return;
                };
                let sent = target.client().execute(request).await;
                if matches!(sent, Ok(r) if r.status().is_success()) {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(RawRun {
        seconds,
        requests_per_s: done.load(Ordering::Relaxed) as f64 / seconds,
        stolen_cores: MachineTicks::now().stolen_cores_since(&ticks_at_start, available_cores()),
    })
}

impl RawRequests {
    /// The request every one sent is a copy of: for deliveries, the one hookrelay's HTTP
    /// target makes for a call of a webhook with no headers of its own (signed once: the
    /// signature's cost is hookrelay's, not the machine's).
    fn template(self, target: &HttpTarget, url: &str) -> anyhow::Result<reqwest::Request> {
        let body = body_of(1024, "1");
        if let RawRequests::Bare = self {
            let mut request = reqwest::Request::new(reqwest::Method::POST, url.parse()?);
            request.headers_mut().insert(
                reqwest::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            *request.body_mut() = Some(body.into());
            return Ok(request);
        }
        let webhook = Arc::new(WebhookRecord::new(
            ids::new_id(ids::WEBHOOK),
            ids::new_id(ids::SITE),
            WebhookSettings::new("raw", url),
            RAW_SIGNING_SECRET.into(),
            0,
        ));
        let call = ClaimedCall::fresh(
            ids::new_id(ids::CALL),
            webhook.clone(),
            DEFAULT_ENVIRONMENT.into(),
            body,
        );
        let (request, _) = target
            .request(&call, &webhook, now_millis())
            .map_err(anyhow::Error::msg)?;
        Ok(request)
    }

    /// The next request to send: a copy of `template`; a delivery gets a call id of its
    /// own. `None` if it cannot be copied (its body is a stream: never, here).
    fn next(self, template: &reqwest::Request) -> Option<reqwest::Request> {
        let mut request = template.try_clone()?;
        if let RawRequests::Deliveries = self {
            let id = HeaderValue::try_from(ids::new_id(ids::CALL)).ok()?;
            request.headers_mut().insert(WEBHOOK_ID, id);
        }
        Some(request)
    }
}

/// Signs the raw generator's delivery-shaped requests (the Standard Webhooks example key).
const RAW_SIGNING_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_raw_generator_sends_deliveries_as_hookrelay_makes_them_each_with_its_own_call_id() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let target = HttpTarget::new(HttpSettings {
            allow_private_targets: true,
            response_body_limit: 0,
            max_in_flight: 1,
        })
        .unwrap();
        let url = "http://127.0.0.1:9/hook";
        let template = RawRequests::Deliveries.template(&target, url).unwrap();
        let (first, second) = (
            RawRequests::Deliveries.next(&template).unwrap(),
            RawRequests::Deliveries.next(&template).unwrap(),
        );
        let mut names: Vec<&str> = first.headers().keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "content-type",
                "user-agent",
                "webhook-id",
                "webhook-signature",
                "webhook-timestamp",
                "x-environment",
                "x-site-id",
                "x-webhook-id"
            ]
        );
        assert_ne!(
            first.headers()["webhook-id"],
            second.headers()["webhook-id"]
        );
        assert_eq!(first.url().as_str(), url);
        assert!(first.timeout().is_some(), "sent with the webhook's timeout");
        let body = first.body().and_then(|b| b.as_bytes()).unwrap();
        assert!((1000..1100).contains(&body.len()), "{}", body.len());
        let bare = RawRequests::Bare
            .next(&RawRequests::Bare.template(&target, url).unwrap())
            .unwrap();
        assert_eq!(bare.headers().len(), 1);
        assert_eq!(bare.body().and_then(|b| b.as_bytes()), Some(body));
    }
}
