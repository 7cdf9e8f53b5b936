//! `X-Nf-Sign` read with an independent library (jsonwebtoken), as a receiver written for
//! Netlify-style hooks would read it.

#[derive(Debug, serde::Deserialize)]
pub struct NfClaims {
    pub iss: String,
    /// The hex SHA-256 of the body the token signs.
    pub sha256: String,
}

/// The claims of `token` when it is an HS256 JWT under `secret` from `issuer`.
pub fn nf_sign_claims(
    token: &str,
    secret: &str,
    issuer: &str,
) -> Result<NfClaims, jsonwebtoken::errors::Error> {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&[issuer]);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let key = jsonwebtoken::DecodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::decode::<NfClaims>(token, &key, &validation).map(|data| data.claims)
}
