//! Build hooks: optional verification of who sent a trigger.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::validation::Violations;
use super::verify::verify_standard;

/// How a hook checks its sender. Failure means 401 and no job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum HookVerify {
    /// `webhook-id`/`webhook-timestamp`/`webhook-signature` with a `whsec_` secret.
    StandardWebhooks {
        #[schema(pattern = "^whsec_[A-Za-z0-9+/=]{24,}$")]
        secret: String,
    },
    /// GitHub's `X-Hub-Signature-256: sha256=<hex HMAC of the body>`.
    Github {
        #[schema(min_length = 1, max_length = 512, pattern = r"[^\s\u0085]")]
        secret: String,
    },
    /// Sanity's `sanity-webhook-signature: t=<ms>,v1=<base64url HMAC-SHA256 of "t.body">`.
    Sanity {
        #[schema(min_length = 1, max_length = 512, pattern = r"[^\s\u0085]")]
        secret: String,
    },
    /// Contentful's request verification: `x-contentful-signature`, the hex HMAC-SHA256
    /// of `POST\n<path>\n<signed headers>\n<body>`, with a signed, recent timestamp.
    Contentful {
        #[schema(min_length = 1, max_length = 512, pattern = r"[^\s\u0085]")]
        secret: String,
    },
    /// A shared secret in a header of the sender's choosing.
    Header {
        #[schema(pattern = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")]
        name: String,
        /// At least 16 characters (`********` when shown).
        value: String,
    },
}

/// A known CMS by what its webhooks send (each one's documented headers, or its user
/// agent), so a job can say who started it. It is the request's own claim unless the hook
/// verifies its sender; the job says which (see `api::incoming`).
pub fn cms_by_headers<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Option<&'static str> {
    let agent = header("user-agent")
        .unwrap_or_default()
        .to_ascii_lowercase();
    if header("x-contentful-topic").is_some() || agent.starts_with("contentful") {
        Some("Contentful")
    } else if header("sanity-webhook-id").is_some() || header("sanity-project-id").is_some() {
        Some("Sanity")
    } else if agent.contains("datocms") {
        Some("DatoCMS")
    } else if header("x-strapi-event").is_some() || agent.starts_with("strapi") {
        Some("Strapi")
    } else if agent.starts_with("wordpress/") {
        Some("WordPress")
    } else {
        None
    }
}

/// Signatures older than this are refused as possible replays.
const TOLERANCE_SECS: i64 = 300;

impl HookVerify {
    pub fn validate(&self, v: &mut Violations) {
        match self {
            HookVerify::StandardWebhooks { secret } => {
                if let Err(e) = super::signing::SigningKey::parse(secret) {
                    v.add("verify.secret", e.to_string());
                }
            }
            HookVerify::Github { secret }
            | HookVerify::Sanity { secret }
            | HookVerify::Contentful { secret } => v.text("verify.secret", secret, 512),
            HookVerify::Header { name, value } => {
                if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    v.add("verify.name", "is not a valid HTTP header name");
                }
                if value.len() < 16 {
                    v.add(
                        "verify.value",
                        "must be at least 16 characters (it is a shared secret)",
                    );
                }
            }
        }
    }

    /// The name under which a verified sender is credited, when it is a known service.
    pub fn sender(&self) -> Option<&'static str> {
        match self {
            HookVerify::Github { .. } => Some("GitHub"),
            HookVerify::Sanity { .. } => Some("Sanity"),
            HookVerify::Contentful { .. } => Some("Contentful"),
            _ => None,
        }
    }

    /// Checks a POST to `path`; `header(name)` looks up a lower-case header name.
    pub fn check<'a>(
        &self,
        path: &str,
        header: impl Fn(&str) -> Option<&'a str>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<(), String> {
        match self {
            HookVerify::StandardWebhooks { secret } => {
                let headers = ["webhook-id", "webhook-timestamp", "webhook-signature"]
                    .into_iter()
                    .filter_map(|name| header(name).map(|v| (name.to_owned(), v.to_owned())))
                    .collect();
                verify_standard(secret, &headers, body, now_secs, TOLERANCE_SECS).map(|_| ())
            }
            HookVerify::Github { secret } => {
                let signature = header("x-hub-signature-256")
                    .ok_or("the X-Hub-Signature-256 header is missing")?;
                let digest = signature
                    .strip_prefix("sha256=")
                    .and_then(|h| hex::decode(h).ok())
                    .ok_or("X-Hub-Signature-256 must be sha256=<hex>")?;
                let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
                    .expect("HMAC accepts keys of any length");
                mac.update(body);
                mac.verify_slice(&digest).map_err(|_| {
                    "X-Hub-Signature-256 does not match the body and secret".to_owned()
                })
            }
            HookVerify::Sanity { secret } => check_sanity(secret, &header, body, now_secs),
            HookVerify::Contentful { secret } => {
                check_contentful(secret, path, &header, body, now_secs)
            }
            HookVerify::Header { name, value } => {
                let got = header(&name.to_ascii_lowercase())
                    .ok_or_else(|| format!("the {name} header is missing"))?;
                if bool::from(got.as_bytes().ct_eq(value.as_bytes())) {
                    Ok(())
                } else {
                    Err(format!("the {name} header does not hold the shared secret"))
                }
            }
        }
    }

    /// The same settings with secrets replaced, for showing.
    pub fn masked(&self) -> HookVerify {
        use super::redact::MASK;
        match self {
            HookVerify::StandardWebhooks { .. } => HookVerify::StandardWebhooks {
                secret: MASK.into(),
            },
            HookVerify::Github { .. } => HookVerify::Github {
                secret: MASK.into(),
            },
            HookVerify::Sanity { .. } => HookVerify::Sanity {
                secret: MASK.into(),
            },
            HookVerify::Contentful { .. } => HookVerify::Contentful {
                secret: MASK.into(),
            },
            HookVerify::Header { name, .. } => HookVerify::Header {
                name: name.clone(),
                value: MASK.into(),
            },
        }
    }
}

/// Contentful's signature over the canonical request: method, path, the headers it names
/// in `x-contentful-signed-headers` (which must include a recent `x-contentful-timestamp`,
/// against replays) and the body.
fn check_contentful<'a>(
    secret: &str,
    path: &str,
    header: &impl Fn(&str) -> Option<&'a str>,
    body: &[u8],
    now_secs: i64,
) -> Result<(), String> {
    let signature =
        header("x-contentful-signature").ok_or("the x-contentful-signature header is missing")?;
    let signed: Vec<String> = header("x-contentful-signed-headers")
        .unwrap_or_default()
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    if !signed.iter().any(|h| h == "x-contentful-timestamp") {
        return Err("x-contentful-signed-headers must include x-contentful-timestamp".into());
    }
    let millis: i64 = header("x-contentful-timestamp")
        .and_then(|t| t.trim().parse().ok())
        .ok_or("x-contentful-timestamp is missing or not a time")?;
    if (now_secs - millis / 1000).abs() > TOLERANCE_SECS {
        return Err("x-contentful-timestamp is too old (or from the future)".into());
    }
    let headers: Vec<String> = signed
        .iter()
        .map(|name| format!("{name}:{}", header(name).unwrap_or_default()))
        .collect();
    let digest = hex::decode(signature.trim())
        .map_err(|_| "x-contentful-signature must be hex".to_owned())?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(format!("POST\n{path}\n{}\n", headers.join(";")).as_bytes());
    mac.update(body);
    mac.verify_slice(&digest)
        .map_err(|_| "x-contentful-signature does not match the request and secret".to_owned())
}

/// Sanity's signature: the timestamp (milliseconds) within the replay window, and the
/// HMAC of `<t>.<body>` under the secret, base64url without padding.
fn check_sanity<'a>(
    secret: &str,
    header: &impl Fn(&str) -> Option<&'a str>,
    body: &[u8],
    now_secs: i64,
) -> Result<(), String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let signature = header("sanity-webhook-signature")
        .ok_or("the sanity-webhook-signature header is missing")?;
    let part = |name: &str| {
        signature
            .split(',')
            .find_map(|p| p.trim().strip_prefix(name))
            .ok_or_else(|| format!("sanity-webhook-signature has no `{name}` part"))
    };
    let (t, v1) = (part("t=")?, part("v1=")?);
    let millis: i64 = t
        .parse()
        .map_err(|_| "sanity-webhook-signature's t is not a time".to_owned())?;
    if (now_secs - millis / 1000).abs() > TOLERANCE_SECS {
        return Err("sanity-webhook-signature is too old (or from the future)".into());
    }
    let digest = URL_SAFE_NO_PAD
        .decode(v1)
        .map_err(|_| "sanity-webhook-signature's v1 is not base64url".to_owned())?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&digest)
        .map_err(|_| "sanity-webhook-signature does not match the body and secret".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn check(
        verify: &HookVerify,
        headers: &[(&str, &str)],
        body: &[u8],
        now: i64,
    ) -> Result<(), String> {
        let map: HashMap<&str, &str> = headers.iter().copied().collect();
        verify.check("/hooks/bh_token", |name| map.get(name).copied(), body, now)
    }

    /// GitHub's documented example (tests/vectors/github).
    #[test]
    fn github_signatures_match_the_documented_vector() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/vectors/github/vectors.json"
        );
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for v in doc["vectors"].as_array().unwrap() {
            let verify = HookVerify::Github {
                secret: v["secret"].as_str().unwrap().into(),
            };
            let body = v["body"].as_str().unwrap().as_bytes();
            let signature = v["x_hub_signature_256"].as_str().unwrap();
            assert_eq!(
                check(&verify, &[("x-hub-signature-256", signature)], body, 0),
                Ok(())
            );
            assert!(check(
                &verify,
                &[("x-hub-signature-256", signature)],
                b"tampered",
                0
            )
            .is_err());
        }
        let verify = HookVerify::Github { secret: "s".into() };
        assert!(check(&verify, &[], b"", 0).unwrap_err().contains("missing"));
        assert!(check(&verify, &[("x-hub-signature-256", "md5=00")], b"", 0)
            .unwrap_err()
            .contains("sha256="));
    }

    #[test]
    fn standard_webhooks_senders_are_checked_with_freshness() {
        let secret = super::super::signing::generate_secret();
        let key = super::super::signing::SigningKey::parse(&secret).unwrap();
        let sig = key.sign("m1", 1000, b"{}");
        let verify = HookVerify::StandardWebhooks { secret };
        let headers = [
            ("webhook-id", "m1"),
            ("webhook-timestamp", "1000"),
            ("webhook-signature", sig.as_str()),
        ];
        assert_eq!(check(&verify, &headers, b"{}", 1000), Ok(()));
        assert!(check(&verify, &headers, b"{}", 2000).is_err(), "stale");
        assert!(check(&verify, &headers, b"{ }", 1000).is_err(), "tampered");
    }

    #[test]
    fn shared_secret_headers_compare_exactly() {
        let verify = HookVerify::Header {
            name: "X-Hook-Token".into(),
            value: "0123456789abcdef".into(),
        };
        assert_eq!(
            check(&verify, &[("x-hook-token", "0123456789abcdef")], b"", 0),
            Ok(())
        );
        assert!(check(&verify, &[("x-hook-token", "0123456789abcdeX")], b"", 0).is_err());
        assert!(check(&verify, &[], b"", 0).is_err());
    }

    #[test]
    fn settings_are_validated_and_masked() {
        let mut v = Violations::default();
        HookVerify::Header {
            name: "bad name".into(),
            value: "short".into(),
        }
        .validate(&mut v);
        HookVerify::StandardWebhooks {
            secret: "nope".into(),
        }
        .validate(&mut v);
        let fields: Vec<_> = v.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["verify.name", "verify.value", "verify.secret"]);
        let masked = HookVerify::Github { secret: "s".into() }.masked();
        assert_eq!(
            masked,
            HookVerify::Github {
                secret: "********".into()
            }
        );
    }

    #[test]
    fn known_cms_are_named_by_their_headers() {
        let named = |headers: &[(&str, &str)]| {
            let map: std::collections::HashMap<&str, &str> = headers.iter().copied().collect();
            cms_by_headers(|name| map.get(name).copied())
        };
        assert_eq!(
            named(&[("x-contentful-topic", "ContentManagement.Entry.publish")]),
            Some("Contentful")
        );
        assert_eq!(
            named(&[("sanity-webhook-id", "msg_1"), ("sanity-project-id", "p")]),
            Some("Sanity")
        );
        assert_eq!(
            named(&[("user-agent", "DatoCMS (datocms.com)")]),
            Some("DatoCMS")
        );
        assert_eq!(
            named(&[("x-strapi-event", "entry.publish")]),
            Some("Strapi")
        );
        assert_eq!(
            named(&[("user-agent", "WordPress/6.7; https://blog.example")]),
            Some("WordPress")
        );
        assert_eq!(named(&[("user-agent", "curl/8.5.0")]), None);
        assert_eq!(named(&[]), None);
    }

    /// Computed with Python's hmac and base64 from Sanity's documented scheme.
    #[test]
    fn sanity_signatures_are_checked_with_their_timestamp() {
        let verify = HookVerify::Sanity {
            secret: "sanity-secret".into(),
        };
        let body = br#"{"_id":"post-1"}"#;
        let good = "t=1700000000000,v1=3qRsx0mc1kIbsgJeSxRM_iJx2sBpVmyogFjp42YXMyg";
        let at = 1_700_000_000;
        assert_eq!(
            check(&verify, &[("sanity-webhook-signature", good)], body, at),
            Ok(())
        );
        assert!(check(&verify, &[("sanity-webhook-signature", good)], b"{}", at).is_err());
        let late = check(
            &verify,
            &[("sanity-webhook-signature", good)],
            body,
            at + 3600,
        );
        assert!(late.unwrap_err().contains("too old"));
        assert!(check(&verify, &[], body, at)
            .unwrap_err()
            .contains("missing"));
        assert_eq!(verify.sender(), Some("Sanity"));
    }

    /// Computed with Python's hmac from Contentful's documented canonical request.
    #[test]
    fn contentful_signatures_cover_path_signed_headers_and_body() {
        let verify = HookVerify::Contentful {
            secret: "cf-secret".into(),
        };
        let body = br#"{"sys":{"id":"1"}}"#;
        let headers = [
            (
                "x-contentful-signature",
                "b0a141bce267a37fd77d32961630db465a0c61f7bb8b76dde6f5c000411db45e",
            ),
            (
                "x-contentful-signed-headers",
                "x-contentful-timestamp,x-contentful-topic",
            ),
            ("x-contentful-timestamp", "1700000000000"),
            ("x-contentful-topic", "ContentManagement.Entry.publish"),
        ];
        let at = 1_700_000_010;
        assert_eq!(check(&verify, &headers, body, at), Ok(()));
        assert!(check(&verify, &headers, b"{}", at).is_err(), "another body");
        let mut other_topic = headers;
        other_topic[3].1 = "ContentManagement.Entry.delete";
        assert!(
            check(&verify, &other_topic, body, at).is_err(),
            "a signed header changed"
        );
        assert!(check(&verify, &headers, body, at + 3600)
            .unwrap_err()
            .contains("too old"));
        let mut unsigned_time = headers;
        unsigned_time[1].1 = "x-contentful-topic";
        assert!(check(&verify, &unsigned_time, body, at)
            .unwrap_err()
            .contains("timestamp"));
    }
}
