//! Standard Webhooks v1 signatures: `v1,` + base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}")).
//! Secrets are `whsec_` + base64 of the key bytes.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

pub const SECRET_PREFIX: &str = "whsec_";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("a signing secret must start with `whsec_`")]
    MissingPrefix,
    #[error("a signing secret must be base64 after `whsec_`")]
    NotBase64,
    #[error("a signing secret must hold between 24 and 64 bytes")]
    BadLength,
}

/// The decoded key of a `whsec_…` secret, kept as the HMAC state it starts every signature
/// from (keying is two hash blocks of work saved per call).
#[derive(Clone)]
pub struct SigningKey(Hmac<Sha256>);

impl SigningKey {
    pub fn parse(secret: &str) -> Result<Self, SecretError> {
        let encoded = secret
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::MissingPrefix)?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        // The reference test vectors use 24-byte keys; we generate 32.
        if !(24..=64).contains(&key.len()) {
            return Err(SecretError::BadLength);
        }
        Ok(SigningKey(hmac_sha256(&key)))
    }

    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let digest = self.mac(msg_id, timestamp, body).finalize().into_bytes();
        let mut signature = String::with_capacity(48);
        signature.push_str("v1,");
        STANDARD.encode_string(digest, &mut signature);
        signature
    }

    /// Whether any `v1,` entry of a `webhook-signature` header is this key's signature
    /// (compared in constant time).
    pub fn matches(&self, msg_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
        header.split_whitespace().any(|entry| {
            entry
                .strip_prefix("v1,")
                .and_then(|b64| STANDARD.decode(b64).ok())
                .is_some_and(|sig| self.mac(msg_id, timestamp, body).verify_slice(&sig).is_ok())
        })
    }
}

fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// The `webhook-signature` header: the current key's signature, then, while a rotation's
/// overlap lasts, the previous key's, space-separated as Standard Webhooks prescribes.
pub fn signature_header(
    current: &SigningKey,
    previous: Option<&SigningKey>,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let mut header = current.sign(msg_id, timestamp, body);
    if let Some(previous) = previous {
        header.push(' ');
        header.push_str(&previous.sign(msg_id, timestamp, body));
    }
    header
}

/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_OVERLAP_MS: i64 = 24 * 60 * 60 * 1000;

/// The previous secret while its overlap lasts.
pub fn active_previous<T>(previous: Option<T>, expires_at: Option<i64>, now_ms: i64) -> Option<T> {
    match (previous, expires_at) {
        (Some(secret), Some(expires_at)) if now_ms < expires_at => Some(secret),
        _ => None,
    }
}

const JWS_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Netlify-style `X-Nf-Sign`: a compact JWS (HS256) whose claims are the issuer and the hex
/// SHA-256 of the exact body, so a receiver can check both origin and integrity.
pub fn jws_sign(secret: &[u8], issuer: &str, body: &[u8]) -> String {
    let claims = serde_json::json!({"iss": issuer, "sha256": hex::encode(Sha256::digest(body))});
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(JWS_HEADER),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut mac = hmac_sha256(secret);
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwsError {
    #[error("is not a compact JWS (three base64url parts)")]
    Malformed,
    #[error("uses algorithm {0}; only HS256 is accepted")]
    Algorithm(String),
    #[error("signature does not match the secret")]
    Signature,
    #[error("sha256 claim does not match the body")]
    BodyHash,
}

/// Checks an `X-Nf-Sign` token against the secret and the body; returns its issuer.
pub fn jws_verify(secret: &[u8], token: &str, body: &[u8]) -> Result<String, JwsError> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err(JwsError::Malformed);
    };
    let decode = |part: &str| -> Result<serde_json::Value, JwsError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| JwsError::Malformed)?;
        serde_json::from_slice(&bytes).map_err(|_| JwsError::Malformed)
    };
    let algorithm = decode(header)?["alg"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if algorithm != "HS256" {
        return Err(JwsError::Algorithm(algorithm));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| JwsError::Malformed)?;
    let mut mac = hmac_sha256(secret);
    mac.update(format!("{header}.{claims}").as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| JwsError::Signature)?;
    let claims = decode(claims)?;
    if claims["sha256"].as_str() != Some(hex::encode(Sha256::digest(body)).as_str()) {
        return Err(JwsError::BodyHash);
    }
    Ok(claims["iss"].as_str().unwrap_or_default().to_owned())
}

pub fn generate_secret() -> String {
    format!(
        "{SECRET_PREFIX}{}",
        STANDARD.encode(super::ids::random_bytes(32))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors published with the spec (tests/vectors/standard-webhooks).
    #[test]
    fn reproduces_published_vectors() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/vectors/standard-webhooks/vectors.json"
        );
        let text = std::fs::read_to_string(path).expect("tests/vectors is part of the repository");
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let vectors = doc["vectors"].as_array().unwrap();
        assert!(vectors.len() >= 4);
        for v in vectors {
            let key = SigningKey::parse(v["secret"].as_str().unwrap()).unwrap();
            let got = key.sign(
                v["msg_id"].as_str().unwrap(),
                v["timestamp"].as_i64().unwrap(),
                v["payload"].as_str().unwrap().as_bytes(),
            );
            assert_eq!(got, v["signature"].as_str().unwrap(), "vector {v}");
        }
    }

    #[test]
    fn signatures_are_verified_in_any_position_of_the_header() {
        let key = SigningKey::parse(&generate_secret()).unwrap();
        let other = SigningKey::parse(&generate_secret()).unwrap();
        let header = signature_header(&other, Some(&key), "msg_1", 1_700_000_000, b"{}");
        assert_eq!(header.split(' ').count(), 2);
        assert!(key.matches("msg_1", 1_700_000_000, b"{}", &header));
        assert!(other.matches("msg_1", 1_700_000_000, b"{}", &header));
        assert!(!key.matches("msg_1", 1_700_000_001, b"{}", &header));
        assert!(!key.matches("msg_1", 1_700_000_000, b"{ }", &header));
        assert!(!key.matches("msg_1", 1_700_000_000, b"{}", "v1,!!! v2,abc"));
    }

    #[test]
    fn the_previous_secret_signs_only_during_the_overlap() {
        assert_eq!(active_previous(Some("old"), Some(1_000), 999), Some("old"));
        assert_eq!(active_previous(Some("old"), Some(1_000), 1_000), None);
        assert_eq!(active_previous(None::<&str>, Some(1_000), 0), None);
        assert_eq!(active_previous(Some("old"), None, 0), None);
    }

    #[test]
    fn jws_round_trips_and_rejects_tampering() {
        let token = jws_sign(b"s3cret", "hookrelay", b"{\"a\":1}");
        assert_eq!(token.split('.').count(), 3);
        assert_eq!(
            jws_verify(b"s3cret", &token, b"{\"a\":1}"),
            Ok("hookrelay".into())
        );
        assert_eq!(
            jws_verify(b"other", &token, b"{\"a\":1}"),
            Err(JwsError::Signature)
        );
        assert_eq!(
            jws_verify(b"s3cret", &token, b"{\"a\":2}"),
            Err(JwsError::BodyHash)
        );
        assert_eq!(jws_verify(b"s3cret", "a.b", b""), Err(JwsError::Malformed));
        let none_alg = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode("{}")
        );
        assert_eq!(
            jws_verify(b"s3cret", &none_alg, b""),
            Err(JwsError::Algorithm("none".into()))
        );
    }

    /// A token from jwt.io's HS256 example shape, checked field by field: the header is
    /// the standard one and the claims carry the body's hash.
    #[test]
    fn jws_claims_are_issuer_and_body_hash() {
        let token = jws_sign(b"k", "cms", b"hello");
        let claims = URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&claims).unwrap();
        assert_eq!(claims["iss"], "cms");
        assert_eq!(
            claims["sha256"],
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(
            token.split('.').next().unwrap(),
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
        );
    }

    #[test]
    fn generated_secrets_parse() {
        let secret = generate_secret();
        assert!(SigningKey::parse(&secret).is_ok());
        assert_ne!(secret, generate_secret());
    }

    #[test]
    fn malformed_secrets_are_refused() {
        assert!(matches!(
            SigningKey::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Err(SecretError::MissingPrefix)
        ));
        assert!(matches!(
            SigningKey::parse("whsec_!!!"),
            Err(SecretError::NotBase64)
        ));
        assert!(matches!(
            SigningKey::parse("whsec_AAAA"),
            Err(SecretError::BadLength)
        ));
    }
}
