//! Access tokens (HS256 JWTs naming user, session and role) and refresh tokens (256-bit random,
//! stored only as a SHA-256 hash).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// User id.
    pub sub: String,
    /// Session id: revoking the session revokes the token.
    pub sid: String,
    pub role: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub typ: String,
}

#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl_secs: i64,
}

impl TokenKeys {
    pub fn new(secret: &[u8], access_ttl_secs: i64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            access_ttl_secs,
        }
    }

    pub fn issue(&self, user_id: i64, session_id: &str, role: &str) -> Result<(String, i64), ApiError> {
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            sub: user_id.to_string(),
            sid: session_id.to_string(),
            role: role.to_string(),
            iat: now,
            exp: now + self.access_ttl_secs,
            jti: uuid::Uuid::new_v4().to_string(),
            typ: "access".into(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("signing token: {e}")))?;
        Ok((token, self.access_ttl_secs))
    }

    pub fn verify(&self, token: &str) -> Result<AccessClaims, ApiError> {
        let data = decode::<AccessClaims>(token, &self.decoding, &self.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => ApiError::Unauthorized("access token expired".into()),
                _ => ApiError::Unauthorized("invalid access token".into()),
            }
        })?;
        if data.claims.typ != "access" {
            return Err(ApiError::Unauthorized("invalid access token".into()));
        }
        Ok(data.claims)
    }
}

/// A new random secret, URL-safe, with the given prefix (`rt_` for refresh tokens, `bdg_` for
/// API keys) so that leaked secrets are recognisable by scanners.
pub fn random_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_tampered_ones_do_not() {
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef", 900);
        let (token, ttl) = keys.issue(7, "s1", "admin").unwrap();
        assert_eq!(ttl, 900);
        let claims = keys.verify(&token).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.sid.as_str(), claims.role.as_str()),
            ("7", "s1", "admin")
        );
        let other = TokenKeys::new(b"another-key-another-key-another!", 900);
        assert!(other.verify(&token).is_err());
        assert!(keys.verify("not.a.jwt").is_err());
    }

    #[test]
    fn expired_tokens_are_rejected() {
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef", -60);
        let (token, _) = keys.issue(1, "s", "admin").unwrap();
        match keys.verify(&token) {
            Err(ApiError::Unauthorized(m)) => assert!(m.contains("expired")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn secrets_are_random_and_hashes_stable() {
        let a = random_secret("rt_");
        assert!(a.starts_with("rt_") && a.len() > 40);
        assert_ne!(a, random_secret("rt_"));
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
