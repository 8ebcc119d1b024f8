//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>): a secret is
//! `whsec_` + base64 of random bytes; a delivery carries `webhook-id`,
//! `webhook-timestamp` (seconds) and `webhook-signature`, `v1,` + base64 of
//! HMAC-SHA256(key, "{id}.{timestamp}.{body}"), one per secret in force, space-separated
//! (during a rotation's overlap, the new secret's and the previous one's). No I/O.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The prefix of a secret as shown to its owner.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a secret (the spec allows 24 to 64).
const SECRET_BYTES: usize = 32;

/// A new secret, as shown once to the endpoint's owner.
pub fn new_secret() -> String {
    let bytes: [u8; SECRET_BYTES] = rand::random();
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The HMAC key a secret stands for (the bytes after `whsec_`).
pub fn key_of(secret: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .ok()
}

/// One `v1,…` signature of a message.
pub fn signature(key: &[u8], message_id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(message_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header: one signature per key, space-separated.
pub fn signature_header(keys: &[Vec<u8>], message_id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|key| signature(key, message_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_specs_example() {
        // The example of the Standard Webhooks specification (and its libraries' tests).
        let key = key_of("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("base64");
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_fresh_and_round_trip() {
        let a = new_secret();
        let b = new_secret();
        assert_ne!(a, b);
        assert!(a.starts_with(SECRET_PREFIX));
        assert_eq!(key_of(&a).map(|k| k.len()), Some(SECRET_BYTES));
        let header = signature_header(
            &[
                key_of(&a).unwrap_or_default(),
                key_of(&b).unwrap_or_default(),
            ],
            "msg_1",
            5,
            b"{}",
        );
        assert_eq!(header.split(' ').count(), 2);
        assert!(header.split(' ').all(|s| s.starts_with("v1,")));
    }
}
