//! The event-type catalog: typos in triggers are refused with a suggestion, a site's own
//! types are registered (with a JSON Schema that published events must satisfy), and an
//! unknown event is accepted with a warning.

use crate::support::TestServer;
use reqwest::StatusCode;
use serde_json::json;

fn fields(problem: &serde_json::Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn triggers_must_name_known_types_and_typos_get_a_suggestion() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let path = format!("/api/v1/sites/{site}/webhooks");
    let (status, problem) = server
        .post(
            &path,
            json!({"name": "x", "url": "https://example.com/h",
            "triggers": [{"entity_type": "itme", "event_types": ["publish"]},
                         {"entity_type": "item", "event_types": ["publsh", "*"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        fields(&problem),
        ["triggers[0].entity_type", "triggers[1].event_types[0]"]
    );
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("did you mean `item`?"), "{detail}");
    assert!(detail.contains("did you mean `publish`?"), "{detail}");
    // Every problem at once: the catalog's and the webhook's own.
    let (_, problem) = server
        .post(
            &path,
            json!({"name": "", "url": "https://example.com/h",
            "triggers": [{"entity_type": "itme", "event_types": ["*"]}]}),
        )
        .await;
    assert_eq!(fields(&problem), ["name", "triggers[0].entity_type"]);
}

#[tokio::test]
async fn a_sites_own_types_are_registered_and_their_schema_checked() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let types = format!("/api/v1/sites/{site}/event_types");
    let (status, problem) = server
        .post(
            &types,
            json!({"entity_type": "order", "event_type": "paid", "schema": {"type": "nonsense"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["schema"]);
    let schema = json!({"type": "object", "required": ["total"],
        "properties": {"total": {"type": "number"}, "items": {"type": "array", "items": {"type": "string"}}}});
    let (status, made) = server
        .post(&types, json!({"entity_type": "order", "event_type": "paid", "description": "An order was paid", "schema": schema}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let (status, _) = server
        .post(
            &types,
            json!({"entity_type": "order", "event_type": "paid"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, listed) = server.get(&types).await;
    let names: Vec<String> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}.{}",
                t["entity_type"].as_str().unwrap(),
                t["event_type"].as_str().unwrap()
            )
        })
        .collect();
    assert!(names.contains(&"deploy.deploy_failed".to_owned()));
    assert_eq!(names.last().map(String::as_str), Some("order.paid"));

    let receiver = crate::support::receiver::Receiver::ok().await;
    server
        .create_webhook(
            &site,
            &receiver.url("/orders"),
            json!({"triggers": [{"entity_type": "order", "event_types": ["paid"]}]}),
        )
        .await;
    let events = format!("/api/v1/sites/{site}/events");
    let (status, problem) = server
        .post(&events, json!({"entity_type": "order", "event_type": "paid", "entity": {"total": "12", "items": ["a", 3]}}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut at_fault = fields(&problem);
    at_fault.sort();
    assert_eq!(at_fault, ["entity.items[1]", "entity.total"], "{problem}");
    let (status, problem) = server
        .post(
            &events,
            json!({"entity_type": "order", "event_type": "paid", "entity": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problem["detail"].as_str().unwrap().contains("total"),
        "{problem}"
    );
    let published = server
        .publish(
            &site,
            json!({"entity_type": "order", "event_type": "paid", "entity": {"total": 12}}),
        )
        .await;
    assert_eq!(published["webhook_call_ids"].as_array().unwrap().len(), 1);
    assert!(published.get("warning").is_none());

    let (status, _) = server.delete(&format!("{types}/order/paid")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server.delete(&format!("{types}/order/paid")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unknown_event_is_accepted_with_a_warning() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let published = server
        .publish(
            &site,
            json!({"entity_type": "item", "event_type": "publsh", "entity": {"id": "1"}}),
        )
        .await;
    let warning = published["warning"].as_str().expect("a warning");
    assert!(
        warning.contains("`item.publsh` is not in this site's event-type catalog"),
        "{warning}"
    );
    let known = server.publish(&site, crate::support::item_event("2")).await;
    assert!(known.get("warning").is_none());
}

#[tokio::test]
async fn the_catalog_has_a_page_where_the_refusal_points() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let (status, _) = server
        .post(
            &format!("/api/v1/sites/{site}/event_types"),
            json!({"entity_type": "order", "event_type": "paid", "description": "An order was paid",
                   "schema": {"type": "object", "required": ["total"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let session =
        crate::support::session::Session::sign_in(&server.base, crate::support::ADMIN_TOKEN).await;
    let page = session.get(&format!("/sites/{site}/event_types")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<code>build_trigger</code>"),
        "built-in types"
    );
    assert!(
        html.contains("An order was paid") && html.contains("&quot;required&quot;"),
        "the site's own, with its schema"
    );
    let list = session
        .get(&format!("/sites/{site}/webhooks"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        list.contains(&format!("href=\"/sites/{site}/event_types\"")),
        "linked from the webhooks page"
    );
}
