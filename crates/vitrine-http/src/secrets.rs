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
}

/// How many password hashes run at once, each on a thread of its own kept for the process's
/// life. An argon2id hash takes 19 MiB and a core for tens of milliseconds; on tokio's
/// blocking pool every burst of sign-ins took a thread and 19 MiB each, and the allocator
/// kept that memory per thread (20 concurrent sign-ins left the server at 80–180 MiB).
/// Two long-lived threads bound it to two hashes' worth, and a burst queues.
const HASHING_THREADS: usize = 2;

type HashJob = Box<dyn FnOnce() + Send>;

/// The queue the hashing threads take their work from; started on first use.
static HASHING: std::sync::LazyLock<Option<std::sync::mpsc::Sender<HashJob>>> =
    std::sync::LazyLock::new(|| {
        let (jobs, queue) = std::sync::mpsc::channel::<HashJob>();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        let mut started = 0;
        for n in 0..HASHING_THREADS {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("vitrine-hash-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is held only to take the next job, not while hashing.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => {
                                job();
                                give_back_freed_memory();
                            }
                            Err(_) => return,
                        }
                    }
                });
            match spawned {
                Ok(_) => started += 1,
                Err(error) => tracing::error!(%error, "a password hashing thread did not start"),
            }
        }
        (started > 0).then_some(jobs)
    });

/// Returns the memory a hash freed to the operating system. glibc keeps a freed 19 MiB
/// block in the thread's arena and, measured, did not reuse it for the next hash: without
/// this every sign-in grew the server's RSS by about 19 MiB (12 sign-ins: 30 → 245 MiB).
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory the allocator holds free; it touches no
    // memory in use and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Runs `work` on a hashing thread and waits for its answer.
async fn hashing<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PasswordError> {
    let unavailable = || PasswordError::Hash("no password hashing thread is running".into());
    let (answer, answered) = tokio::sync::oneshot::channel();
    let job: HashJob = Box::new(move || {
        // The caller may have gone (a closed connection): nothing waits for the answer.
        let _ = answer.send(work());
    });
    HASHING
        .as_ref()
        .ok_or_else(unavailable)?
        .send(job)
        .map_err(|_| unavailable())?;
    answered.await.map_err(|_| unavailable())
}

/// Hashes a password with argon2id (PHC string) on a hashing thread.
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
