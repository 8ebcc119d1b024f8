//! Secrets at rest: a provider's broker password is sealed with the operator's key
//! (XChaCha20-Poly1305, a random 24-byte nonce per seal, stored in front of the
//! ciphertext) and opened only to call the broker. The key is 32 random bytes, base64 in
//! a file of the operator's choosing; vitrine makes one (mode 0600) on first start when the
//! file does not exist, so the embedded set-up needs no step.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use std::path::Path;

const NONCE_LEN: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the secret key file {path}: {detail}")]
    KeyFile { path: String, detail: String },
    #[error("a sealed secret could not be opened (sealed with another key, or damaged)")]
    Open,
    #[error("a secret could not be sealed")]
    Seal,
}

/// The operator's key.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub fn from_key(key: [u8; 32]) -> Sealer {
        Sealer {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// A sealer with a fresh random key (tests, and the first start's key).
    pub fn random() -> Sealer {
        Sealer::from_key(random_key())
    }

    /// Reads the key from `path`, making the file (0600) with a new key if it does not
    /// exist.
    pub fn from_file_or_create(path: &Path) -> Result<Sealer, SealError> {
        let error = |detail: String| SealError::KeyFile {
            path: path.display().to_string(),
            detail,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = STANDARD
                    .decode(text.trim())
                    .map_err(|e| error(format!("is not base64: {e}")))?;
                let key: [u8; 32] = bytes
                    .try_into()
                    .map_err(|b: Vec<u8>| error(format!("holds {} bytes; a key is 32", b.len())))?;
                Ok(Sealer::from_key(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = random_key();
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| error(e.to_string()))?;
                }
                match write_private(path, STANDARD.encode(key).as_bytes()) {
                    Ok(()) => Ok(Sealer::from_key(key)),
                    // Another server made it first: theirs is the key.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Sealer::from_file_or_create(path)
                    }
                    Err(e) => Err(error(format!("could not be created: {e}"))),
                }
            }
            Err(e) => Err(error(e.to_string())),
        }
    }

    pub fn seal(&self, secret: &str) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(&XNonce::from(nonce), secret.as_bytes())
            .map_err(|_| SealError::Seal)?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    pub fn open(&self, sealed: &[u8]) -> Result<String, SealError> {
        if sealed.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Open)?;
        let plain = self
            .cipher
            .decrypt(&XNonce::from(nonce), ciphertext)
            .map_err(|_| SealError::Open)?;
        String::from_utf8(plain).map_err(|_| SealError::Open)
    }
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    key
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_with_its_key_only() {
        let sealer = Sealer::random();
        let sealed = sealer.seal("hunter2").expect("seals");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"), "not in clear");
        assert_eq!(sealer.open(&sealed).expect("opens"), "hunter2");
        assert_ne!(
            sealer.seal("hunter2").expect("seals"),
            sealed,
            "a fresh nonce each time"
        );
        assert!(matches!(
            Sealer::random().open(&sealed),
            Err(SealError::Open)
        ));
        let mut damaged = sealed.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert!(matches!(sealer.open(&damaged), Err(SealError::Open)));
        assert!(matches!(sealer.open(b"short"), Err(SealError::Open)));
    }

    #[test]
    fn the_key_file_is_made_once_and_read_after() {
        let dir = std::env::temp_dir().join(format!("vitrine-seal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("keys/secret.key");
        let first = Sealer::from_file_or_create(&path).expect("made");
        let sealed = first.seal("pw").expect("seals");
        let again = Sealer::from_file_or_create(&path).expect("read");
        assert_eq!(again.open(&sealed).expect("same key"), "pw");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not base64!").expect("writable");
        let err = Sealer::from_file_or_create(&path).expect_err("refused");
        assert!(err.to_string().contains("is not base64"), "{err}");
        std::fs::write(&path, STANDARD.encode([1u8; 16])).expect("writable");
        let err = Sealer::from_file_or_create(&path).expect_err("refused");
        assert!(err.to_string().contains("holds 16 bytes"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
