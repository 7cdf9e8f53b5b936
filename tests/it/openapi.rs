//! The OpenAPI document: it describes every route the server has (a route added without
//! its description fails here), it is valid OpenAPI 3.1 by a real validator
//! (openapi-spec-validator, which scripts/test.sh installs), and the reference page reads it.

use std::collections::BTreeSet;

use crate::support::TestServer;
use reqwest::StatusCode;
use serde_json::Value;

/// `(METHOD, path)` of every `.route(...)` between `start` and the end of its statement.
fn routes_in(source: &str, start: &str, prefix: &str) -> BTreeSet<(String, String)> {
    let from = source.find(start).expect("the router is where it was");
    let block = &source[from..from + source[from..].find(";\n").expect("the statement ends")];
    let mut routes = BTreeSet::new();
    for rest in block.split(".route(").skip(1) {
        // Only the route's own arguments: up to the parenthesis that closes `.route(`.
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map_or(rest.len(), |(i, _)| i);
        let piece = &rest[..end];
        let path = piece.split('"').nth(1).expect("a path literal");
        for method in ["get", "post", "patch", "put", "delete"] {
            let called = piece.contains(&format!(" {method}("))
                || piece.contains(&format!("({method}("))
                || piece.contains(&format!(".{method}("))
                || piece.contains(&format!("::{method}("));
            if called {
                routes.insert((method.to_uppercase(), format!("{prefix}{path}")));
            }
        }
    }
    routes
}

#[tokio::test]
async fn the_document_describes_every_route_and_is_valid() {
    let server = TestServer::start().await;
    let response = server
        .client
        .get(format!("{}/api/v1/openapi.json", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();

    let api = include_str!("../../src/api/mod.rs");
    let incoming = include_str!("../../src/api/incoming.rs");
    let forms = include_str!("../../src/forms/mod.rs");
    let app = include_str!("../../src/app/routes.rs");
    let mut served = routes_in(api, "let api = Router::new()", "/api/v1");
    served.extend(routes_in(incoming, "Router::new()", ""));
    // The public form endpoint and the health checks, beside the dashboard's pages.
    served.extend(routes_in(forms, "Router::new()", ""));
    served.extend(routes_in(app, ".merge(crate::api::routes())", ""));
    assert!(served.len() > 35, "the router was read: {served:?}");
    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes the document lacks: {undocumented:?}"
    );
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        unserved.is_empty(),
        "documented routes the server lacks: {unserved:?}"
    );

    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &text).unwrap();
    let python = std::env::var("HOOKRELAY_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let validated = std::process::Command::new(python)
        .args(["-m", "openapi_spec_validator"])
        .arg(file.path())
        .output()
        .expect("python3 runs: scripts/test.sh installs openapi-spec-validator");
    assert!(
        validated.status.success(),
        "{}{}",
        String::from_utf8_lossy(&validated.stdout),
        String::from_utf8_lossy(&validated.stderr)
    );

    let page = server
        .client
        .get(format!("{}/api/docs", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("POST /api/v1/sites/{site_id}/events"),
        "{page}"
    );
    assert!(page.contains("Publish an event"));
}
