//! Standard Webhooks v1 signatures: `v1,` + base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}")).
//! Secrets are `whsec_` + base64 of the key bytes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

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

/// The decoded key of a `whsec_…` secret.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

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
        Ok(SigningKey(key))
    }

    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC accepts keys of any length");
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
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

    /// The vectors published with the spec (shared/vectors/standard-webhooks).
    #[test]
    fn reproduces_published_vectors() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/vectors/standard-webhooks/vectors.json"
        );
        let text = std::fs::read_to_string(path).expect("vectors file present beside the repo");
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
