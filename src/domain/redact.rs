//! What a viewer may see of a credential: nothing. Viewers read settings, logs and jobs,
//! but a custom header's value, a URL's user info or query values, and a signature could
//! each let them call or impersonate a receiver. So for viewers every header value is
//! masked except those hookrelay sets that carry no secret (and those a webhook marks
//! public), and URLs keep their query names but not their values.

use serde_json::{Map, Value};

/// Shown instead of a secret. Sent back in a PATCH, it keeps the stored value.
pub const MASK: &str = "********";

/// Headers hookrelay sets whose values are no secret; everything else is masked for
/// viewers (`webhook-signature` and the JWS header included: with one, a signed call can
/// be replayed).
const PLAIN_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "user-agent",
    "x-site-id",
    "x-webhook-id",
    "x-environment",
    "webhook-id",
    "webhook-timestamp",
    "webhook-sequence",
];

/// A URL with its user info and every query value masked (names stay, to tell what the
/// receiver expects). Text that is no URL is masked whole after its first `?`.
pub fn url(text: &str) -> String {
    let Ok(mut url) = url::Url::parse(text) else {
        return match text.split_once('?') {
            Some((before, _)) => format!("{before}?{MASK}"),
            None => text.to_owned(),
        };
    };
    if !url.username().is_empty() {
        let _ = url.set_username(MASK);
    }
    if url.password().is_some() {
        let _ = url.set_password(Some(MASK));
    }
    if url.query().is_some() {
        let names: Vec<String> = url
            .query_pairs()
            .map(|(name, _)| name.into_owned())
            .collect();
        let mut query = url.query_pairs_mut();
        query.clear();
        for name in names {
            query.append_pair(&name, MASK);
        }
    }
    // The mask's asterisks come back percent-encoded from the URL serializer.
    url.to_string().replace("%2A", "*")
}

/// Every URL inside `text` (an error message, say) with its query masked as [`url`] does.
pub fn urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let next_url = |s: &str| {
        [s.find("http://"), s.find("https://")]
            .into_iter()
            .flatten()
            .min()
    };
    while let Some(start) = next_url(rest) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>' | ','))
            .unwrap_or(tail.len());
        out.push_str(&url(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// A logged header object as a viewer sees it: only [`PLAIN_HEADERS`] and the names in
/// `public` (case-insensitive) keep their values.
pub fn headers(logged: &Map<String, Value>, public: &[String]) -> Map<String, Value> {
    logged
        .iter()
        .map(|(name, value)| {
            let plain = PLAIN_HEADERS.contains(&name.to_ascii_lowercase().as_str())
                || public.iter().any(|p| p.eq_ignore_ascii_case(name));
            let shown = if plain {
                value.clone()
            } else {
                Value::String(MASK.into())
            };
            (name.clone(), shown)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_values_and_user_info_are_masked() {
        assert_eq!(
            url("https://u:p@example.com/hook?token=abc&x=1#frag"),
            "https://********:********@example.com/hook?token=********&x=********#frag"
        );
        assert_eq!(url("https://example.com/hook"), "https://example.com/hook");
        assert_eq!(url("POST https://x?secret=1"), "POST https://x?********");
    }

    #[test]
    fn urls_inside_text_are_masked() {
        assert_eq!(
            urls_in("error sending request for url (https://example.com/h?key=s3cret): refused"),
            "error sending request for url (https://example.com/h?key=********): refused"
        );
        assert_eq!(urls_in("no url here"), "no url here");
    }

    #[test]
    fn only_plain_and_public_headers_keep_their_values() {
        let logged = json!({
            "content-type": "application/json",
            "webhook-id": "call_1",
            "webhook-signature": "v1,abc",
            "x-nf-sign": "eyJ…",
            "X-Pass": "hunter2",
            "X-Team": "web",
        });
        let shown = headers(logged.as_object().unwrap(), &["x-team".into()]);
        assert_eq!(shown["content-type"], "application/json");
        assert_eq!(shown["webhook-id"], "call_1");
        assert_eq!(shown["webhook-signature"], MASK);
        assert_eq!(shown["x-nf-sign"], MASK);
        assert_eq!(shown["X-Pass"], MASK);
        assert_eq!(shown["X-Team"], "web");
    }
}
