//! Every page the server answers with carries the dashboard's security headers: the API
//! reference, a form's thank-you and refusal pages, and the JSON API itself.

use crate::support::FormBody;
use reqwest::StatusCode;

use crate::support::TestServer;

fn assert_secured(response: &reqwest::Response, what: &str) {
    let headers = response.headers();
    let csp = headers
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"))
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert_eq!(headers["x-frame-options"], "DENY", "{what}");
    assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(headers["referrer-policy"], "same-origin", "{what}");
}

#[tokio::test]
async fn docs_form_pages_and_the_api_carry_the_security_headers() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    let docs = server
        .client
        .get(format!("{}/api/docs", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert_secured(&docs, "/api/docs");
    let thanks = server
        .client
        .post(format!("{}/forms/{site}/contact", server.base))
        .form_fields(&[("email", "a@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(thanks.status(), StatusCode::OK);
    assert_secured(&thanks, "the thank-you page");
    let refused = server
        .client
        .post(format!("{}/forms/{site}/bad%20name", server.base))
        .form_fields(&[("email", "a@example.com")])
        .send()
        .await
        .unwrap();
    assert!(refused.status().is_client_error());
    assert_secured(&refused, "the refusal page");
    let api = server
        .client
        .get(format!("{}/api/v1/sites", server.base))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_secured(&api, "the API");
    assert_eq!(api.headers()["cache-control"], "no-store");
}
