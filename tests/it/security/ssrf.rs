//! Destinations in the IANA special-purpose registries are refused, including the ones
//! that slipped through before (site-local, local-use NAT64, IPv4-translated, discard,
//! ORCHID, the 6to4 relay anycast). Every row of the registries has a unit test in
//! `domain/destination/special.rs`; this checks the API refuses them when saving.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::TestServer;

#[tokio::test]
async fn special_purpose_addresses_are_refused_when_saved() {
    // Without --allow-private-targets, as in production.
    let dir = tempfile::tempdir().unwrap();
    let mut args = crate::support::test_args(dir.path(), &[]).await;
    args.allow_private_targets = false;
    let server = TestServer::launch(dir, args).await;
    let site = server.create_site().await;
    for host in [
        "[fec0::1]",
        "[64:ff9b:1::808:808]",
        "[::ffff:0:808:808]",
        "[100::1]",
        "[2001:10::1]",
        "192.88.99.1",
        "[2001:db8::1]",
        "198.51.100.7",
    ] {
        let (status, problem) = server
            .post(
                &format!("/api/v1/sites/{site}/webhooks"),
                json!({"name": "x", "url": format!("http://{host}/hook"),
                       "triggers": [{"entity_type": "item", "event_types": ["*"]}]}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{host}: {problem}"
        );
        assert_eq!(problem["errors"][0]["field"], "url", "{host}");
    }
    // A public address is fine.
    let (status, body) = server
        .post(
            &format!("/api/v1/sites/{site}/webhooks"),
            json!({"name": "x", "url": "http://[2606:4700::1111]/hook",
                   "triggers": [{"entity_type": "item", "event_types": ["*"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
