//! What a receiver checks to know a delivery is genuine (behind `hookrelay verify`).

use std::collections::HashMap;

use super::signing::{jws_verify, SigningKey};

/// Parses headers as saved by a receiver: a JSON object, or `Name: value` lines (as
/// `curl -D` writes them; a request or status line is skipped). Names are lower-cased.
pub fn parse_headers(text: &str) -> Result<HashMap<String, String>, String> {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(text) {
        return map
            .into_iter()
            .map(|(name, value)| match value {
                serde_json::Value::String(v) => Ok((name.to_ascii_lowercase(), v)),
                other => Err(format!("header {name} must be a string, not {other}")),
            })
            .collect();
    }
    let mut headers = HashMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line.split_once(':') {
            Some((name, value)) if !name.contains(' ') => {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
            }
            _ if line.contains("HTTP/") => {} // request or status line
            _ => return Err(format!("not a header line: {line:?}")),
        }
    }
    Ok(headers)
}

fn header<'h>(headers: &'h HashMap<String, String>, name: &str) -> Result<&'h str, String> {
    headers
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| format!("the {name} header is missing"))
}

/// Checks the Standard Webhooks signature and the timestamp's freshness. On success,
/// describes what was verified.
pub fn verify_standard(
    secret: &str,
    headers: &HashMap<String, String>,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<String, String> {
    let key = SigningKey::parse(secret).map_err(|e| e.to_string())?;
    let id = header(headers, "webhook-id")?;
    let timestamp: i64 = header(headers, "webhook-timestamp")?
        .parse()
        .map_err(|_| "webhook-timestamp is not a number of seconds".to_owned())?;
    let age = now_secs - timestamp;
    if age > tolerance_secs {
        return Err(format!(
            "signed {age} s ago, more than the {tolerance_secs} s tolerance (a replay?)"
        ));
    }
    if -age > tolerance_secs {
        return Err(format!("timestamp is {} s in the future", -age));
    }
    if !key.matches(id, timestamp, body, header(headers, "webhook-signature")?) {
        return Err("no webhook-signature entry matches this secret and body".into());
    }
    Ok(format!(
        "Standard Webhooks signature valid (webhook-id {id}, signed {age} s ago)"
    ))
}

/// Checks `X-Nf-Sign` against the JWS secret and the body.
pub fn verify_jws(
    secret: &str,
    headers: &HashMap<String, String>,
    body: &[u8],
) -> Result<String, String> {
    let token = header(headers, "x-nf-sign")?;
    let issuer =
        jws_verify(secret.as_bytes(), token, body).map_err(|e| format!("X-Nf-Sign {e}"))?;
    Ok(format!(
        "X-Nf-Sign valid (issuer {issuer:?}, body hash matches)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::signing::{generate_secret, jws_sign};

    fn signed(secret: &str, ts: i64, body: &[u8]) -> HashMap<String, String> {
        let key = SigningKey::parse(secret).unwrap();
        HashMap::from([
            ("webhook-id".into(), "call_1".into()),
            ("webhook-timestamp".into(), ts.to_string()),
            ("webhook-signature".into(), key.sign("call_1", ts, body)),
        ])
    }

    #[test]
    fn headers_parse_from_curl_dumps_and_json() {
        let dump =
            "POST /hook HTTP/1.1\r\nWebhook-Id: call_1\r\nContent-Type: application/json\r\n\r\n";
        let h = parse_headers(dump).unwrap();
        assert_eq!(h["webhook-id"], "call_1");
        assert_eq!(h["content-type"], "application/json");
        let h = parse_headers(r#"{"Webhook-Id": "call_2"}"#).unwrap();
        assert_eq!(h["webhook-id"], "call_2");
        assert!(parse_headers("no colon here").is_err());
        assert!(parse_headers(r#"{"a": 1}"#).is_err());
    }

    #[test]
    fn a_fresh_matching_signature_is_genuine() {
        let secret = generate_secret();
        let h = signed(&secret, 1000, b"{}");
        let ok = verify_standard(&secret, &h, b"{}", 1010, 300).unwrap();
        assert!(ok.contains("signed 10 s ago"), "{ok}");
    }

    #[test]
    fn tampering_staleness_and_wrong_secrets_are_caught() {
        let secret = generate_secret();
        let h = signed(&secret, 1000, b"{}");
        assert!(verify_standard(&secret, &h, b"{ }", 1000, 300)
            .unwrap_err()
            .contains("no webhook-signature"));
        assert!(verify_standard(&secret, &h, b"{}", 1301, 300)
            .unwrap_err()
            .contains("replay"));
        assert!(verify_standard(&secret, &h, b"{}", 600, 300)
            .unwrap_err()
            .contains("future"));
        assert!(verify_standard(&generate_secret(), &h, b"{}", 1000, 300).is_err());
        let mut missing = h.clone();
        missing.remove("webhook-timestamp");
        assert_eq!(
            verify_standard(&secret, &missing, b"{}", 1000, 300).unwrap_err(),
            "the webhook-timestamp header is missing"
        );
    }

    #[test]
    fn jws_checks_secret_and_body() {
        let h = HashMap::from([("x-nf-sign".into(), jws_sign(b"k", "hookrelay", b"body"))]);
        assert!(verify_jws("k", &h, b"body")
            .unwrap()
            .contains("\"hookrelay\""));
        assert!(verify_jws("k", &h, b"other")
            .unwrap_err()
            .contains("sha256"));
        assert!(verify_jws("x", &h, b"body")
            .unwrap_err()
            .contains("signature"));
    }
}
