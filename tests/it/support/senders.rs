//! Requests signed the way CMSs sign their webhooks, computed from their documented schemes.

use base64::Engine;
use hmac::{KeyInit, Mac};

/// Sanity's `sanity-webhook-signature` for `body` under `secret`, timestamped now:
/// `t=<ms>,v1=<base64url HMAC-SHA256 of "t.body">`.
pub fn sanity_signature(secret: &str, body: &[u8]) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis()
        .to_string();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let v1 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("t={t},v1={v1}")
}
