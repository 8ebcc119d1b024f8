//! Inbound mail, the pure part: the bytes of one received message in, decisions out.
//!
//! Replies to vitrine's emails and recordings sent by email come back into a submission's
//! thread (issue 10). However the bytes arrive (IMAP polling, or `vitrine mail ingest` reading
//! one message on standard input from the MTA), the server hands them to the same path:
//!
//! ```text
//! raw bytes
//!   → parse::InboundMessage::parse          headers, recipients, text body, attachments,
//!                                            Authentication-Results, delivery reports
//!   → reply_address::ReplyPattern::key_in_message   which thread (the key is looked up by hash)
//!   → classify::classify                     reply, auto-reply or bounce (never answer the last two)
//!   → trim::new_text                         only what the sender wrote now
//!   → recording::check_recording             which attachments are recordings
//! ```
//!
//! [`triage`] runs the whole path and returns every finding with one [`Refusal`] (or none),
//! so the server's two ways in stay one code path after the bytes.
//!
//! **Invariant:** no I/O here: no clock, no database, no network, no files, no random numbers
//! (a [`reply_address::ReplyKey`] is made from bytes the caller drew). Everything is a function
//! of its arguments, which is what lets the tests feed it real messages and assert exactly
//! what a user would see.
//!
//! Every reason something is not posted has a stable `slug()` (`"auto-reply"`, `"bounce"`,
//! `"empty-reply"`, `"not-a-recording"`, `"too-large"`, …) for logs and translations.

pub mod classify;
mod html;
pub mod outline;
pub mod parse;
pub mod recording;
pub mod reply_address;
pub mod trim;

use classify::{AutoReplyReason, Kind};
use parse::{Attachment, InboundMessage};
use recording::{RecordingRefusal, RecordingType};
use reply_address::{ReplyKeyText, ReplyPattern};

/// The two languages vitrine writes in, as far as an inbound message lets us tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Language {
    En,
    Fr,
}

impl Language {
    /// The BCP 47 primary language subtag: `"en"`, `"fr"`.
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Fr => "fr",
        }
    }

    /// Reads a language tag such as `fr-FR`, `en_GB` or `FR` (only its primary subtag counts).
    pub fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag
            .trim()
            .split(['-', '_'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Self::En),
            "fr" => Some(Self::Fr),
            _ => None,
        }
    }
}

/// Why an inbound message is not posted into a thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// An automatic message (vacation responder, list mail, read receipt, …): never answered.
    AutoReply(AutoReplyReason),
    /// A delivery failure report: never answered (the server may mark the failed recipients).
    Bounce,
    /// None of the recipients is a reply address of ours (or its key is malformed).
    NoReplyKey,
    /// Nothing new: the text is empty once quotes and signatures are removed, and no
    /// recording came with it.
    EmptyReply,
}

impl Refusal {
    /// A stable identifier for logs and translations.
    pub fn slug(&self) -> &'static str {
        match self {
            Self::AutoReply(_) => "auto-reply",
            Self::Bounce => "bounce",
            Self::NoReplyKey => "no-reply-key",
            Self::EmptyReply => "empty-reply",
        }
    }
}

/// A recording found among a message's attachments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recording<'m> {
    pub attachment: &'m Attachment,
    pub media_type: RecordingType,
}

/// An attachment that is not taken as a recording, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedAttachment<'m> {
    pub attachment: &'m Attachment,
    pub refusal: RecordingRefusal,
}

/// Everything the server needs to decide about one inbound message.
#[derive(Clone, Debug)]
pub struct Triage<'m> {
    /// The reply key found in the recipients (first in the order of
    /// [`ReplyPattern::key_in_message`]), if any.
    pub key: Option<ReplyKeyText>,
    /// Reply, auto-reply or bounce.
    pub kind: Kind,
    /// The new text of the message ([`trim::new_text`] of its body).
    pub text: String,
    /// Attachments that are plausible recordings within the size limit.
    pub recordings: Vec<Recording<'m>>,
    /// Attachments that are not taken, with the reason. Left out of this list: inline images
    /// (the logos of signatures), the parts of reports and forwards (`message/*`,
    /// `text/rfc822-headers`) and S/MIME or OpenPGP signatures: nobody sent those as a
    /// recording.
    pub refused_attachments: Vec<RefusedAttachment<'m>>,
}

impl Triage<'_> {
    /// Why the message is not posted, or `None` when it goes into the thread. The order is
    /// the order of importance: a bounce is a bounce even when it carries a key.
    pub fn refusal(&self) -> Option<Refusal> {
        match &self.kind {
            Kind::Bounce { .. } => return Some(Refusal::Bounce),
            Kind::AutoReply { reason } => return Some(Refusal::AutoReply(reason.clone())),
            Kind::Reply => {}
        }
        if self.key.is_none() {
            return Some(Refusal::NoReplyKey);
        }
        if self.text.is_empty() && self.recordings.is_empty() {
            return Some(Refusal::EmptyReply);
        }
        None
    }
}

/// Runs the whole inbound path on a parsed message: key, kind, new text, recordings.
/// `max_recording_bytes` is the same limit as for uploads (`--max-recording-bytes`).
pub fn triage<'m>(
    message: &'m InboundMessage,
    pattern: &ReplyPattern,
    max_recording_bytes: u64,
) -> Triage<'m> {
    let mut recordings = Vec::new();
    let mut refused_attachments = Vec::new();
    for attachment in &message.attachments {
        match recording::check_recording(attachment, max_recording_bytes) {
            Ok(media_type) => recordings.push(Recording {
                attachment,
                media_type,
            }),
            Err(refusal) => {
                if meant_as_attachment(attachment) {
                    refused_attachments.push(RefusedAttachment {
                        attachment,
                        refusal,
                    });
                }
            }
        }
    }
    Triage {
        key: pattern.key_in_message(message),
        kind: classify::classify(message),
        text: trim::new_text(&message.text),
        recordings,
        refused_attachments,
    }
}

fn meant_as_attachment(attachment: &Attachment) -> bool {
    let content_type = attachment.content_type.as_str();
    !(attachment.inline && content_type.starts_with("image/")
        || content_type.starts_with("message/")
        || matches!(
            content_type,
            "text/rfc822-headers"
                | "application/pkcs7-signature"
                | "application/x-pkcs7-signature"
                | "application/pgp-signature"
        ))
}
