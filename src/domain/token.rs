//! API tokens: roles, generation and the hash that is all we store.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Developer,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Developer => "developer",
            Role::Owner => "owner",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "viewer" => Some(Role::Viewer),
            "developer" => Some(Role::Developer),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }

    /// Roles are ordered: an owner may do what a developer may, a developer what a viewer may.
    pub fn allows(self, required: Role) -> bool {
        self >= required
    }
}

pub const TOKEN_PREFIX: &str = "hr_";

/// A new bearer token: 256 random bits behind a recognisable prefix (so leaked tokens are
/// easy to grep for in logs and repositories).
pub fn generate() -> String {
    format!("{TOKEN_PREFIX}{}", super::ids::random_urlsafe(32))
}

/// Tokens are high-entropy, so a plain SHA-256 is enough (no salt or KDF needed) and lets us
/// look a token up by its hash without ever comparing secrets.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Owner.allows(Role::Developer));
        assert!(Role::Developer.allows(Role::Developer));
        assert!(Role::Developer.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Developer));
        assert!(!Role::Developer.allows(Role::Owner));
    }

    #[test]
    fn role_names_round_trip() {
        for role in [Role::Viewer, Role::Developer, Role::Owner] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("admin"), None);
    }

    #[test]
    fn tokens_are_prefixed_and_hash_is_stable_hex() {
        let t = generate();
        assert!(t.starts_with(TOKEN_PREFIX));
        assert_eq!(hash(&t), hash(&t));
        assert_eq!(hash(&t).len(), 64);
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
