//! Random secrets (API tokens, session cookies) and password hashing.
//!
//! Secrets are `vit_` + 32 random bytes in base64url; only their SHA-256 is stored, so a
//! copy of the database does not let anyone sign in. Passwords are hashed with argon2id on
//! the blocking pool, since one hash takes tens of milliseconds of CPU.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use vitrine_store::SecretHash;

/// Prefix of every secret vitrine issues, so secret scanners can recognise leaked ones.
pub const SECRET_PREFIX: &str = "vit_";

/// A new random secret and its hash.
pub fn new_secret() -> (String, SecretHash) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_secret(&secret);
    (secret, hash)
}

/// The SHA-256 of a secret, as stored.
pub fn hash_secret(secret: &str) -> SecretHash {
    Sha256::digest(secret.as_bytes()).into()
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// How many password hashes run at once. Each argon2id hash takes 19 MiB and a core for
/// tens of milliseconds: a burst of sign-ins waits here rather than taking a blocking thread
/// and 19 MiB each (which the allocator then keeps).
const CONCURRENT_HASHES: usize = 2;
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CONCURRENT_HASHES);

/// Runs `work` on the blocking pool once one of the [`CONCURRENT_HASHES`] places is free.
async fn hashing<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PasswordError> {
    let _place = HASHING
        .acquire()
        .await
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(tokio::task::spawn_blocking(work).await?)
}

/// Hashes a password with argon2id (PHC string) on the blocking pool.
pub async fn hash_password(password: String) -> Result<String, PasswordError> {
    hashing(move || {
        argon2::Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| PasswordError::Hash(e.to_string()))
    })
    .await?
}

/// Whether `password` matches the stored PHC string. A malformed stored hash never matches.
pub async fn verify_password(password: String, stored: String) -> Result<bool, PasswordError> {
    hashing(move || {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), stored.as_str())
            .is_ok()
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_distinct_and_hashed() {
        let (a, ha) = new_secret();
        let (b, hb) = new_secret();
        assert!(a.starts_with(SECRET_PREFIX));
        assert_eq!(a.len(), SECRET_PREFIX.len() + 43);
        assert_ne!(a, b);
        assert_ne!(ha, hb);
        assert_eq!(hash_secret(&a), ha);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_burst_of_hashes_waits_its_turn_and_every_one_completes() {
        let burst: Vec<_> = (0..6)
            .map(|i| tokio::spawn(hash_password(format!("password number {i}"))))
            .collect();
        for hashed in burst {
            let hash = hashed.await.expect("task").expect("hash");
            assert!(hash.starts_with("$argon2id$"));
        }
    }

    #[tokio::test]
    async fn passwords_verify() {
        let hash = hash_password("correct horse battery".into())
            .await
            .expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password("correct horse battery".into(), hash.clone())
                .await
                .expect("verify")
        );
        assert!(!verify_password("wrong".into(), hash).await.expect("verify"));
        assert!(
            !verify_password("x".into(), "garbage".into())
                .await
                .expect("verify")
        );
    }
}
