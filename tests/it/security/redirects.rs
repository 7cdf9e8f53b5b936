//! Redirect targets from a request (the sign-in's `next`, a form's `redirect`) never
//! leave the site by a control character and never make a 500: they are checked before
//! anything is stored.

use crate::support::FormBody;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::session::Session;
use crate::support::TestServer;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_sign_in_next_with_control_characters_stays_on_the_site() {
    let server = TestServer::start().await;
    let http = no_redirects();
    for next in [
        "/%0a/x",
        "/%0d%0a/x",
        "/%01/x",
        "/%7f/x",
        "/%09/evil.example",
    ] {
        let page = http
            .get(format!("{}/sign-in?next={next}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK, "{next}");
        let text = page.text().await.unwrap();
        assert!(text.contains("name=\"next\" value=\"/sites\""), "{next}");
    }
    // Signing in with such a `next` lands on the sites page.
    for next in [
        "/\t/evil.example",
        "/\n/x",
        "/\r\n/x",
        "/\u{1}/x",
        "//evil.example",
    ] {
        let form = http
            .get(format!("{}/sign-in", server.base))
            .send()
            .await
            .unwrap();
        let cookie = form
            .headers()
            .get_all("set-cookie")
            .iter()
            .find_map(|v| v.to_str().ok().filter(|v| v.starts_with("hr_sign_in=")))
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let csrf = cookie.trim_start_matches("hr_sign_in=").to_owned();
        let answer = http
            .post(format!("{}/sign-in", server.base))
            .header("cookie", cookie)
            .form_fields(&[
                ("token", server.token.as_str()),
                ("_csrf", &csrf),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(answer.headers()["location"], "/sites", "{next:?}");
    }
    // A session keeps working afterwards.
    let session = Session::sign_in(&server.base, &server.token).await;
    assert_eq!(session.get("/sites").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_form_redirect_with_a_line_break_is_refused_before_storing() {
    let server = TestServer::start().await;
    let site = server.create_site().await;
    for redirect in [
        "https://example.com/\r\nSet-Cookie: x=1",
        "/th\nanks",
        "javascript:alert(1)",
    ] {
        let answer = no_redirects()
            .post(format!("{}/forms/{site}/contact", server.base))
            .form_fields(&[("email", "a@example.com"), ("redirect", redirect)])
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{redirect:?}"
        );
    }
    let (_, stored) = server
        .get(&format!("/api/v1/sites/{site}/form_submissions"))
        .await;
    assert_eq!(
        stored["data"],
        Value::Array(vec![]),
        "nothing stored: {stored}"
    );
    // A good one redirects.
    let answer = no_redirects()
        .post(format!("{}/forms/{site}/contact", server.base))
        .form_fields(&[
            ("email", "a@example.com"),
            ("redirect", "https://example.com/thanks"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(answer.headers()["location"], "https://example.com/thanks");
}
