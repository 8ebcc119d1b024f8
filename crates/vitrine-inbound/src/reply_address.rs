//! Reply addresses: one per thread and recipient, `reply+{key}@mail.example.com`.
//!
//! A [`ReplyKey`] is 32 random bytes (drawn by the caller: this crate has no random number
//! generator). It is written into the address as 52 characters of lowercase base32
//! (RFC 4648 alphabet, no padding): mail systems may lowercase local parts, and base32 is
//! unchanged by that, where hex of 32 bytes would not fit the 64 characters a local part may
//! have. Only the key's SHA-256 ([`ReplyKey::hash`]) is stored; an inbound address gives a
//! [`ReplyKeyText`], whose [`ReplyKeyText::hash`] is looked up. A lookup by hash needs no
//! constant-time comparison.

use sha2::{Digest, Sha256};
use std::fmt;

use crate::parse::{InboundMessage, RecipientSource};

/// The placeholder a configured pattern must contain exactly once, in its local part.
pub const KEY_PLACEHOLDER: &str = "{key}";

/// How many characters a key takes in an address.
pub const KEY_TEXT_LEN: usize = 52;

/// RFC 5321's limit on a local part.
const MAX_LOCAL_PART: usize = 64;

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A reply key: 32 random bytes. Its `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct ReplyKey([u8; 32]);

impl ReplyKey {
    /// A key from 32 bytes the caller drew from a cryptographic random number generator.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key as written into an address: 52 characters of lowercase base32.
    pub fn to_text(&self) -> String {
        encode_base32(&self.0)
    }

    /// SHA-256 of the key's bytes: what is stored, and what [`ReplyKeyText::hash`] gives
    /// for the same key read back from an address.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0).into()
    }
}

impl fmt::Debug for ReplyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplyKey(…)")
    }
}

/// A well-formed key as read from a recipient address: not yet known to belong to any
/// thread. Its `Debug` never shows it (it is a capability to post into a thread).
#[derive(Clone, PartialEq, Eq)]
pub struct ReplyKeyText {
    text: String,
    bytes: [u8; 32],
}

impl ReplyKeyText {
    /// Reads a key as written into an address, in either case. `None` unless it is exactly
    /// 52 base32 characters that encode 32 bytes (the unused low bits zero).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.to_ascii_lowercase();
        let bytes = decode_base32(&text)?;
        Some(Self { text, bytes })
    }

    /// The key in lowercase, as it would be written into an address.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// SHA-256 of the key's bytes, to look the key up by.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.bytes).into()
    }
}

impl fmt::Debug for ReplyKeyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplyKeyText(…)")
    }
}

/// Why a configured reply address pattern is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("the reply address pattern must be of the form local@domain, with one @")]
    NotAnAddress,
    #[error(
        "the reply address pattern must contain {{key}} exactly once in its local part (found {found})"
    )]
    KeyPlaceholder { found: usize },
    #[error("the reply address pattern has {{key}} in its domain; it belongs in the local part")]
    KeyInDomain,
    #[error("the reply address pattern's local part has a character an address cannot have: {0:?}")]
    InvalidLocalPart(char),
    #[error("the reply address pattern's domain is not a domain name: {0:?}")]
    InvalidDomain(String),
    #[error(
        "the reply address pattern's local part would be {length} characters with a key, over the 64 an address may have"
    )]
    LocalPartTooLong { length: usize },
}

impl PatternError {
    /// A stable identifier for logs and translations.
    pub fn slug(&self) -> &'static str {
        match self {
            Self::NotAnAddress => "not-an-address",
            Self::KeyPlaceholder { .. } => "key-placeholder",
            Self::KeyInDomain => "key-in-domain",
            Self::InvalidLocalPart(_) => "invalid-local-part",
            Self::InvalidDomain(_) => "invalid-domain",
            Self::LocalPartTooLong { .. } => "local-part-too-long",
        }
    }
}

/// The configured inbound address pattern, such as `reply+{key}@mail.example.com`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyPattern {
    /// The local part before the key, lowercase (`reply+`).
    prefix: String,
    /// The local part after the key, lowercase (often empty).
    suffix: String,
    /// The domain, lowercase, without a trailing dot.
    domain: String,
}

impl ReplyPattern {
    /// Reads and checks a pattern: one `@`, `{key}` exactly once in the local part, a local
    /// part of address characters that stays within 64 characters with a key in it, and a
    /// domain name (letters, digits and hyphens in dot-separated labels).
    pub fn parse(pattern: &str) -> Result<Self, PatternError> {
        let pattern = pattern.trim();
        let mut halves = pattern.split('@');
        let (Some(local), Some(domain), None) = (halves.next(), halves.next(), halves.next())
        else {
            return Err(PatternError::NotAnAddress);
        };
        if local.is_empty() || domain.is_empty() {
            return Err(PatternError::NotAnAddress);
        }
        if domain.contains(KEY_PLACEHOLDER) {
            return Err(PatternError::KeyInDomain);
        }
        let found = local.matches(KEY_PLACEHOLDER).count();
        let Some((prefix, suffix)) = local.split_once(KEY_PLACEHOLDER).filter(|_| found == 1)
        else {
            return Err(PatternError::KeyPlaceholder { found });
        };
        for part in [prefix, suffix] {
            if let Some(bad) = part.chars().find(|&c| !is_local_part_char(c)) {
                return Err(PatternError::InvalidLocalPart(bad));
            }
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(PatternError::InvalidLocalPart('.'));
        }
        let length = prefix.len() + KEY_TEXT_LEN + suffix.len();
        if length > MAX_LOCAL_PART {
            return Err(PatternError::LocalPartTooLong { length });
        }
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        if !is_domain(domain) {
            return Err(PatternError::InvalidDomain(domain.to_owned()));
        }
        Ok(Self {
            prefix: prefix.to_ascii_lowercase(),
            suffix: suffix.to_ascii_lowercase(),
            domain: domain.to_ascii_lowercase(),
        })
    }

    /// The reply address for a key.
    pub fn address_for(&self, key: &ReplyKey) -> String {
        format!(
            "{}{}{}@{}",
            self.prefix,
            key.to_text(),
            self.suffix,
            self.domain
        )
    }

    /// The key in an address, if the address is one of this pattern's (domain and local part
    /// compared without regard to case). Takes a bare address, one in angle brackets, or
    /// `Name <address>`.
    pub fn key_in(&self, address: &str) -> Option<ReplyKeyText> {
        let address = bare_address(address);
        let (local, domain) = address.rsplit_once('@')?;
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        if !domain.eq_ignore_ascii_case(&self.domain) {
            return None;
        }
        let local = local
            .strip_prefix('"')
            .and_then(|l| l.strip_suffix('"'))
            .unwrap_or(local)
            .to_ascii_lowercase();
        let key = local
            .strip_prefix(&self.prefix)?
            .strip_suffix(&self.suffix)?;
        ReplyKeyText::parse(key)
    }

    /// The first key found among a message's recipients, looking first at where the mail
    /// was delivered (`Delivered-To`, `X-Original-To`, `Envelope-To`: what the receiving
    /// server saw, also when forwarding rewrote `To`), then `To`, then `Cc`.
    pub fn key_in_message(&self, message: &InboundMessage) -> Option<ReplyKeyText> {
        self.keys_in_message(message).into_iter().next()
    }

    /// Every distinct key among a message's recipients, in the order of
    /// [`ReplyPattern::key_in_message`] (a reply to two threads at once names two).
    pub fn keys_in_message(&self, message: &InboundMessage) -> Vec<ReplyKeyText> {
        let order = [
            RecipientSource::DeliveredTo,
            RecipientSource::XOriginalTo,
            RecipientSource::EnvelopeTo,
            RecipientSource::To,
            RecipientSource::Cc,
        ];
        let mut keys: Vec<ReplyKeyText> = Vec::new();
        for source in order {
            for recipient in message.recipients.iter().filter(|r| r.source == source) {
                if let Some(key) = self.key_in(&recipient.address)
                    && !keys.contains(&key)
                {
                    keys.push(key);
                }
            }
        }
        keys
    }
}

/// `Name <a@b>` → `a@b`; `<a@b>` → `a@b`; `a@b` → `a@b`.
fn bare_address(address: &str) -> &str {
    let address = address.trim();
    match address.rfind('<') {
        Some(start) => {
            let rest = &address[start + 1..];
            rest.split('>').next().unwrap_or(rest).trim()
        }
        None => address,
    }
}

fn is_local_part_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`|~.".contains(c)
}

fn is_domain(domain: &str) -> bool {
    domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn encode_base32(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            text.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        text.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    text
}

/// Strict: exactly [`KEY_TEXT_LEN`] lowercase base32 characters, unused bits zero.
fn decode_base32(text: &str) -> Option<[u8; 32]> {
    if text.len() != KEY_TEXT_LEN {
        return None;
    }
    let mut bytes = [0u8; 32];
    let mut filled = 0;
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        let value = BASE32.iter().position(|&b| b == c)? as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            *bytes.get_mut(filled)? = ((buffer >> bits) & 0xff) as u8;
            filled += 1;
        }
        buffer &= (1 << bits) - 1;
    }
    // 52 × 5 = 260 bits: 32 bytes and 4 bits that must be zero, so that one key has one text.
    (filled == 32 && buffer == 0).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> ReplyKey {
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = seed.wrapping_mul(31).wrapping_add(i as u8 * 7);
        }
        ReplyKey::from_bytes(bytes)
    }

    fn pattern() -> ReplyPattern {
        ReplyPattern::parse("reply+{key}@mail.example.com").unwrap()
    }

    #[test]
    fn base32_round_trips_and_is_lowercase() {
        for seed in 0..=255u8 {
            let key = key(seed);
            let text = key.to_text();
            assert_eq!(text.len(), KEY_TEXT_LEN);
            assert_eq!(text, text.to_ascii_lowercase());
            assert!(text.chars().all(|c| c.is_ascii_alphanumeric()));
            let read = ReplyKeyText::parse(&text).unwrap();
            assert_eq!(read.hash(), key.hash());
        }
    }

    #[test]
    fn base32_matches_rfc_4648_vectors() {
        // RFC 4648 section 10, lowercased and unpadded.
        assert_eq!(encode_base32(b"f"), "my");
        assert_eq!(encode_base32(b"fo"), "mzxq");
        assert_eq!(encode_base32(b"foo"), "mzxw6");
        assert_eq!(encode_base32(b"foob"), "mzxw6yq");
        assert_eq!(encode_base32(b"fooba"), "mzxw6ytb");
        assert_eq!(encode_base32(b"foobar"), "mzxw6ytboi");
        assert_eq!(encode_base32(&[0u8; 32]), "a".repeat(52));
        assert_eq!(encode_base32(&[0xff; 32]), format!("{}q", "7".repeat(51)));
    }

    #[test]
    fn hash_is_sha256_of_the_bytes() {
        // SHA-256 of 32 zero bytes.
        let hash = ReplyKey::from_bytes([0; 32]).hash();
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }

    #[test]
    fn malformed_key_texts_are_refused() {
        let good = key(1).to_text();
        assert!(ReplyKeyText::parse(&good).is_some());
        assert!(ReplyKeyText::parse(&good.to_ascii_uppercase()).is_some());
        assert!(ReplyKeyText::parse(&good[..51]).is_none(), "too short");
        assert!(
            ReplyKeyText::parse(&format!("{good}a")).is_none(),
            "too long"
        );
        assert!(
            ReplyKeyText::parse(&format!("{}1", &good[..51])).is_none(),
            "1 is not base32"
        );
        // The last character carries one bit; the other four must be zero.
        let all_a = "a".repeat(52);
        assert!(ReplyKeyText::parse(&all_a).is_some());
        assert!(ReplyKeyText::parse(&format!("{}b", &all_a[..51])).is_none());
        assert!(ReplyKeyText::parse(&format!("{}q", &all_a[..51])).is_some());
        assert!(ReplyKeyText::parse("").is_none());
    }

    #[test]
    fn debug_never_shows_a_key() {
        let key = key(9);
        let text = ReplyKeyText::parse(&key.to_text()).unwrap();
        assert_eq!(format!("{key:?}"), "ReplyKey(…)");
        assert_eq!(format!("{text:?}"), "ReplyKeyText(…)");
    }

    #[test]
    fn address_for_and_key_in_round_trip() {
        let pattern = pattern();
        let key = key(3);
        let address = pattern.address_for(&key);
        assert_eq!(address, format!("reply+{}@mail.example.com", key.to_text()));
        assert!(address.split('@').next().unwrap().len() <= 64);
        let found = pattern.key_in(&address).unwrap();
        assert_eq!(found.hash(), key.hash());
        assert_eq!(found.as_str(), key.to_text());
    }

    #[test]
    fn key_in_ignores_case_brackets_and_display_names() {
        let pattern = pattern();
        let key = key(4);
        let text = key.to_text();
        let forms = [
            format!("reply+{text}@mail.example.com"),
            format!("REPLY+{}@MAIL.EXAMPLE.COM", text.to_ascii_uppercase()),
            format!("<reply+{text}@mail.example.com>"),
            format!("vitrine <reply+{text}@Mail.Example.com>"),
            format!("\"Vitrine, reviews\" <reply+{text}@mail.example.com>"),
            format!("  reply+{text}@mail.example.com.  "),
            format!("\"reply+{text}\"@mail.example.com"),
        ];
        for form in forms {
            let found = pattern.key_in(&form);
            assert_eq!(
                found.map(|k| k.hash()),
                Some(key.hash()),
                "{form} should carry the key"
            );
        }
    }

    #[test]
    fn key_in_refuses_other_addresses() {
        let pattern = pattern();
        let text = key(5).to_text();
        let others = [
            format!("reply+{text}@example.com"),
            format!("reply+{text}@mail.example.com.evil.test"),
            format!("reply-{text}@mail.example.com"),
            format!("reply+{text}x@mail.example.com"),
            format!("reply+{}@mail.example.com", &text[..40]),
            "reply@mail.example.com".to_owned(),
            "reply+@mail.example.com".to_owned(),
            "ana@acme.example".to_owned(),
            "not an address".to_owned(),
            String::new(),
        ];
        for other in others {
            assert!(pattern.key_in(&other).is_none(), "{other}");
        }
    }

    #[test]
    fn patterns_with_a_suffix_or_without_a_separator() {
        let key = key(6);
        let text = key.to_text();
        let suffixed = ReplyPattern::parse("r.{key}.t@in.example.org").unwrap();
        assert_eq!(
            suffixed.address_for(&key),
            format!("r.{text}.t@in.example.org")
        );
        assert_eq!(
            suffixed
                .key_in(&format!("R.{text}.T@IN.example.org"))
                .map(|k| k.hash()),
            Some(key.hash())
        );
        let bare = ReplyPattern::parse("{key}@replies.example.net").unwrap();
        assert_eq!(
            bare.key_in(&format!("{text}@replies.example.net"))
                .map(|k| k.hash()),
            Some(key.hash())
        );
        let upper = ReplyPattern::parse("Reply+{key}@Mail.Example.COM").unwrap();
        assert_eq!(upper, pattern());
    }

    #[test]
    fn bad_patterns_are_refused_with_the_reason() {
        let cases: &[(&str, PatternError)] = &[
            (
                "reply@mail.example.com",
                PatternError::KeyPlaceholder { found: 0 },
            ),
            (
                "reply+{key}{key}@mail.example.com",
                PatternError::KeyPlaceholder { found: 2 },
            ),
            ("reply+{key}", PatternError::NotAnAddress),
            ("reply+{key}@", PatternError::NotAnAddress),
            ("@mail.example.com", PatternError::NotAnAddress),
            ("a@b@{key}", PatternError::NotAnAddress),
            ("reply@{key}.example.com", PatternError::KeyInDomain),
            (
                "reply {key}@mail.example.com",
                PatternError::InvalidLocalPart(' '),
            ),
            (
                "reply+{key}}@mail.example.com",
                PatternError::InvalidLocalPart('}'),
            ),
            (
                ".{key}@mail.example.com",
                PatternError::InvalidLocalPart('.'),
            ),
            (
                "a..{key}@mail.example.com",
                PatternError::InvalidLocalPart('.'),
            ),
            (
                "reply+{key}@mail..example.com",
                PatternError::InvalidDomain("mail..example.com".into()),
            ),
            (
                "reply+{key}@-mail.example.com",
                PatternError::InvalidDomain("-mail.example.com".into()),
            ),
            (
                "reply+{key}@mail_example.com",
                PatternError::InvalidDomain("mail_example.com".into()),
            ),
            (
                "replies-for-vitrine+{key}@mail.example.com",
                PatternError::LocalPartTooLong { length: 72 },
            ),
        ];
        for (pattern, error) in cases {
            assert_eq!(
                ReplyPattern::parse(pattern).as_ref(),
                Err(error),
                "{pattern}"
            );
        }
        // The longest prefix that still fits: 12 characters.
        assert!(ReplyPattern::parse("abcdefghijk+{key}@mail.example.com").is_ok());
        assert_eq!(
            PatternError::KeyPlaceholder { found: 0 }.to_string(),
            "the reply address pattern must contain {key} exactly once in its local part (found 0)"
        );
        assert_eq!(
            PatternError::LocalPartTooLong { length: 70 }.slug(),
            "local-part-too-long"
        );
    }
}
