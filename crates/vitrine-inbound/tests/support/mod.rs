//! Shared by the integration tests: fixtures, the reply pattern, the keys in the fixtures.
#![allow(dead_code)]

use vitrine_inbound::parse::InboundMessage;
use vitrine_inbound::reply_address::{ReplyKey, ReplyPattern};

/// The key in most fixtures' reply address: 32 bytes of 7.
pub fn key_a() -> ReplyKey {
    ReplyKey::from_bytes([7; 32])
}

/// The key in `iphone_video_only.eml`: 32 bytes of 42.
pub fn key_b() -> ReplyKey {
    ReplyKey::from_bytes([42; 32])
}

pub fn pattern() -> ReplyPattern {
    ReplyPattern::parse("reply+{key}@mail.vitrine.example").expect("a valid pattern")
}

pub fn raw(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The fixture as stored (LF line ends) and as it travels (CRLF): both must read the same.
pub fn both_line_ends(name: &str) -> [(String, InboundMessage); 2] {
    let lf = raw(name);
    let mut crlf = Vec::with_capacity(lf.len() + lf.len() / 20);
    for &byte in &lf {
        if byte == b'\n' {
            crlf.push(b'\r');
        }
        crlf.push(byte);
    }
    [
        (format!("{name} (LF)"), parse(&lf, name)),
        (format!("{name} (CRLF)"), parse(&crlf, name)),
    ]
}

pub fn load(name: &str) -> InboundMessage {
    parse(&raw(name), name)
}

fn parse(raw: &[u8], name: &str) -> InboundMessage {
    InboundMessage::parse(raw).unwrap_or_else(|e| panic!("{name}: {e}"))
}
