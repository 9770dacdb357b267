//! Password hashing with Argon2id (the crate's defaults: 19 MiB, 2 passes), run on the
//! blocking pool so that a login never stalls the async workers.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::{ApiError, ApiResult};

pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 128;

/// Checks the password policy: 8 to 128 characters, not only spaces.
pub fn check_policy(field: &str, password: &str) -> ApiResult<()> {
    let len = password.chars().count();
    if !(MIN_LENGTH..=MAX_LENGTH).contains(&len) {
        return Err(ApiError::validation(
            field,
            format!("must be between {MIN_LENGTH} and {MAX_LENGTH} characters"),
        ));
    }
    if password.trim().is_empty() {
        return Err(ApiError::validation(field, "must not be only spaces"));
    }
    Ok(())
}

pub async fn hash(password: &str) -> ApiResult<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
    })
    .await
    .map_err(|e| anyhow::anyhow!("hashing task: {e}"))?
    .map_err(ApiError::Internal)
}

/// Verifies `password` against a stored hash. With no hash (unknown user) a dummy hash is
/// checked anyway, so response time does not reveal which e-mail addresses exist.
pub async fn verify(stored: Option<String>, password: &str) -> ApiResult<bool> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash().to_string());
        let ok = PasswordHash::new(&stored)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false);
        known && ok
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("verify task: {e}")))
}

/// An Argon2id hash (same parameters as real ones) of a random string nobody knows.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        let secret = crate::auth::tokens::random_secret("");
        Argon2::default()
            .hash_password(secret.as_bytes(), &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_fail() {
        let h = hash("correct horse").await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(Some(h.clone()), "correct horse").await.unwrap());
        assert!(!verify(Some(h), "wrong horse").await.unwrap());
        assert!(!verify(None, "anything").await.unwrap());
    }

    #[test]
    fn policy() {
        assert!(check_policy("password", "short").is_err());
        assert!(check_policy("password", "        ").is_err());
        assert!(check_policy("password", "long enough").is_ok());
    }
}
