//! A dashboard session driven over plain HTTP (no browser): signs in with a token as a
//! person's browser would, and sends the session cookie and CSRF token with each request.

use crate::support::FormBody;
use reqwest::StatusCode;

pub struct Session {
    pub base: String,
    client: reqwest::Client,
    cookie: String,
    pub csrf: String,
}

/// The value of `name="…" value="…"` in a page.
fn hidden_value(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    let end = page[start..].find('"')? + start;
    Some(page[start..end].to_owned())
}

/// `name=value` of a `Set-Cookie` header named `name`.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

impl Session {
    pub async fn sign_in(base: &str, token: &str) -> Session {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let form = client.get(format!("{base}/sign-in")).send().await.unwrap();
        let sign_in_cookie = set_cookie(&form, "hr_sign_in").expect("a sign-in cookie");
        let page = form.text().await.unwrap();
        let csrf = hidden_value(&page, "_csrf").expect("the form's CSRF token");
        let signed_in = client
            .post(format!("{base}/sign-in"))
            .header("cookie", sign_in_cookie)
            .form_fields(&[("token", token), ("_csrf", &csrf), ("next", "/sites")])
            .send()
            .await
            .unwrap();
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
        let cookie = set_cookie(&signed_in, "hr_session").expect("a session cookie");
        let sites = client
            .get(format!("{base}/sites"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = hidden_value(&sites, "_csrf").expect("the session's CSRF token");
        Session {
            base: base.to_owned(),
            client,
            cookie,
            csrf,
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap()
    }

    /// A form POST as a page sends it: the session's CSRF token as the form's `_csrf` field
    /// and, as the page's script sends it, in a header.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut fields = fields.to_vec();
        fields.push(("_csrf", &self.csrf));
        self.client
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .form_fields(&fields)
            .send()
            .await
            .unwrap()
    }

    /// Posts a form the page must refuse (422, the errors beside their fields); returns the
    /// page it answers with.
    pub async fn refused_form(&self, path: &str, fields: &[(&str, &str)]) -> String {
        let answer = self.post_form(path, fields).await;
        assert_eq!(
            answer.status(),
            reqwest::StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {fields:?}"
        );
        answer.text().await.unwrap()
    }
}
