//! `/metrics` scraped and read by a Prometheus text parser, and `/readyz`. The server runs
//! as a child process: the metrics recorder is a process's, so counts are exact only there.

use std::collections::HashMap;

use crate::support::receiver::{Receiver, Reply};
use crate::support::TestServer;
use prometheus_parse::{Scrape, Value};
use reqwest::StatusCode;
use serde_json::json;

fn sample(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Value::Summary(_) => f64::NAN,
        })
}

#[tokio::test]
async fn metrics_count_deliveries_and_read_the_queue() {
    let ok = Receiver::ok().await;
    let failing = Receiver::start(|_, _| Reply::status(500)).await;
    let data = tempfile::tempdir().unwrap();
    let args = vec![
        format!("--data-dir={}", data.path().display()),
        "--retry-schedule=100ms,100ms".to_owned(),
        "--poll-interval=50ms".to_owned(),
    ];
    let process = crate::support::process::spawn_with_backend(data.path(), &args).await;
    let server = TestServer::api_client(&process.base);
    let site = server.create_site().await;
    server
        .create_webhook(&site, &ok.url("/ok"), json!({}))
        .await;
    server
        .create_webhook(
            &site,
            &failing.url("/down"),
            json!({"triggers": [{"entity_type": "item", "event_types": ["publish"]}]}),
        )
        .await;
    let mut calls = Vec::new();
    for event_type in ["update", "publish"] {
        let published = server
            .publish(
                &site,
                json!({"entity_type": "item", "event_type": event_type, "entity": {"id": "1"}}),
            )
            .await;
        calls.extend(
            published["webhook_call_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(calls.len(), 3);
    for call in &calls {
        server.settled_call(&site, call).await;
    }

    let response = server
        .client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = response.text().await.unwrap();
    let scrape =
        Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text format");
    assert_eq!(
        sample(&scrape, "hookrelay_calls_accepted_total", &[]),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &scrape,
            "hookrelay_attempts_total",
            &[("target", "http"), ("outcome", "delivered")]
        ),
        Some(2.0)
    );
    // The retry schedule of the tests is two short waits: three attempts, then failed.
    assert_eq!(
        sample(
            &scrape,
            "hookrelay_attempts_total",
            &[("target", "http"), ("outcome", "failed")]
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &scrape,
            "hookrelay_calls_failed_total",
            &[("target", "http")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &scrape,
            "hookrelay_delivery_latency_seconds",
            &[("target", "http")]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &scrape,
            "hookrelay_attempt_duration_seconds",
            &[("target", "http")]
        ),
        Some(5.0)
    );
    assert_eq!(sample(&scrape, "hookrelay_due_calls", &[]), Some(0.0));
    assert_eq!(
        sample(&scrape, "hookrelay_oldest_due_call_age_seconds", &[]),
        Some(0.0)
    );
    assert_eq!(
        sample(&scrape, "hookrelay_jobs", &[("status", "running")]),
        Some(0.0)
    );
    assert!(sample(&scrape, "hookrelay_writer_batch_size", &[]).is_some_and(|n| n >= 1.0));
    let series: HashMap<&str, usize> = scrape.samples.iter().fold(HashMap::new(), |mut m, s| {
        *m.entry(s.metric.as_str()).or_default() += 1;
        m
    });
    assert!(
        series.keys().all(|name| name.starts_with("hookrelay_")),
        "{series:?}"
    );
    assert!(!text.contains(&site), "no site ids in labels");

    let ready = server
        .client
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}
