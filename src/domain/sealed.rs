//! Secrets at rest: provider tokens, passwords, header values and signing secrets are
//! stored sealed (ChaCha20-Poly1305) with a key kept outside the database, so a copied
//! database file or backup leaks none of them. Each value gets a fresh random nonce; the
//! stored text is `enc1:` and the base64 of nonce, ciphertext and tag.

use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};

use super::ids::random_bytes;

const PREFIX: &str = "enc1:";
pub const KEY_BYTES: usize = 32;

/// What a secret's stored text could not be opened for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("it was sealed, but no secret key is configured")]
    NoKey,
    #[error("it does not open with this secret key (another key sealed it, or it was altered)")]
    WrongKey,
}

/// The key, or none (then secrets are stored as they are: for tools and tests that open
/// a store without the server's key).
pub struct Sealer {
    key: Option<LessSafeKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.key.is_some() {
            "Sealer(key)"
        } else {
            "Sealer(none)"
        })
    }
}

/// A new random key, as the base64 text kept in the key file.
pub fn generate_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(random_bytes(KEY_BYTES))
}

impl Sealer {
    pub fn none() -> Self {
        Sealer { key: None }
    }

    /// From the key file's text: the base64 of 32 bytes (surrounding whitespace allowed).
    pub fn from_key_text(text: &str) -> Result<Self, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| "the secret key is not base64".to_owned())?;
        let key = UnboundKey::new(&CHACHA20_POLY1305, &bytes)
            .map_err(|_| format!("the secret key must be {KEY_BYTES} bytes (base64 of them)"))?;
        Ok(Sealer {
            key: Some(LessSafeKey::new(key)),
        })
    }

    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// The text to store for `plain` (`plain` itself without a key).
    pub fn seal(&self, plain: &str) -> String {
        let Some(key) = &self.key else {
            return plain.to_owned();
        };
        let nonce_bytes = random_bytes(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&nonce_bytes).expect("nonce length");
        let mut sealed = plain.as_bytes().to_vec();
        key.seal_in_place_append_tag(nonce, Aad::empty(), &mut sealed)
            .expect("sealing a buffer in memory cannot fail");
        let mut stored = nonce_bytes;
        stored.extend_from_slice(&sealed);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(stored)
        )
    }

    /// The secret behind stored text. Text without the prefix was stored before sealing
    /// existed (or without a key) and is returned as it is.
    pub fn open(&self, stored: &str) -> Result<String, SealError> {
        let Some(encoded) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let key = self.key.as_ref().ok_or(SealError::NoKey)?;
        let mut bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(encoded)
            .map_err(|_| SealError::WrongKey)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::WrongKey);
        }
        let mut sealed = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).map_err(|_| SealError::WrongKey)?;
        let plain = key
            .open_in_place(nonce, Aad::empty(), &mut sealed)
            .map_err(|_| SealError::WrongKey)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::WrongKey)
    }

    /// Whether stored text is sealed already.
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let sealer = Sealer::from_key_text(&generate_key()).unwrap();
        let stored = sealer.seal("ghp_token");
        assert!(Sealer::is_sealed(&stored));
        assert!(!stored.contains("ghp_token"));
        assert_ne!(stored, sealer.seal("ghp_token"), "a fresh nonce each time");
        assert_eq!(sealer.open(&stored).unwrap(), "ghp_token");
        let other = Sealer::from_key_text(&generate_key()).unwrap();
        assert_eq!(other.open(&stored), Err(SealError::WrongKey));
        assert_eq!(Sealer::none().open(&stored), Err(SealError::NoKey));
        let mut altered = stored.clone();
        altered.pop();
        assert!(sealer.open(&altered).is_err());
    }

    #[test]
    fn plaintext_from_before_passes_and_bad_keys_are_named() {
        let sealer = Sealer::from_key_text(&generate_key()).unwrap();
        assert_eq!(sealer.open("legacy").unwrap(), "legacy");
        assert_eq!(Sealer::none().seal("x"), "x");
        assert!(Sealer::from_key_text("not base64!").is_err());
        assert!(Sealer::from_key_text("c2hvcnQ=")
            .unwrap_err()
            .contains("32 bytes"));
    }
}
