//! Is an inbound message a person's reply, an automatic message, or a bounce?
//!
//! Automatic messages and bounces are never answered (RFC 3834 §2: a responder must not
//! answer them, or two responders write to each other forever) and never posted into a
//! thread as if a person had written them.
//!
//! The checks, in order:
//! 1. A delivery report (`multipart/report; report-type=delivery-status`, RFC 3464): a
//!    bounce if any recipient's `Action` is `failed` (or, with no action, its `Status` is
//!    5.x.x); a report that only says `delayed`, `delivered`, `relayed` or `expanded` is no
//!    failure, and is an automatic message ([`AutoReplyReason::DeliveryReport`]). A read
//!    receipt (`report-type=disposition-notification`) is automatic too.
//! 2. A message from `MAILER-DAEMON` or `postmaster` with the null `Return-Path: <>` (for
//!    MAILER-DAEMON, also with no Return-Path at all: that name is never a person) is a
//!    bounce even when it is no proper DSN (Exim, qmail, old Exchange); its failed
//!    recipients are read from `X-Failed-Recipients`, and its status from the first 5.x.x
//!    or 4.x.x code in its text.
//! 3. `Auto-Submitted` other than `no` (RFC 3834).
//! 4. `X-Autoreply`, `X-Autorespond` (any value).
//! 5. `Precedence: bulk`, `junk`, `list` or `auto_reply`.
//! 6. `List-Id` or `List-Unsubscribe` (mailing-list or bulk mail).
//! 7. The null `Return-Path: <>` (only automatic mail is sent without a sender to answer).
//! 8. A vacation responder's subject: it *starts* with "Out of Office", "Automatic reply",
//!    "Auto-reply", "Autoreply", "Réponse automatique", "Absence", "Absent", "Message
//!    d'absence", … (a person's reply starts with "Re:" or "RE :", so "Re: Absence of audio"
//!    stays a reply).
//!
//! `X-Auto-Response-Suppress` is *not* a marker: Exchange puts it on ordinary mail to ask
//! others not to auto-reply to it.

use crate::parse::{InboundMessage, Report, ReturnPath};

/// What kind of message this is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Written by a person: post it into the thread (if it says something).
    Reply,
    /// Sent by a program: never answer it, never post it.
    AutoReply { reason: AutoReplyReason },
    /// A delivery failure: never answer it; the server may mark the addresses as failing.
    Bounce {
        /// The addresses that could not be reached (original recipient where the report
        /// gives one).
        failed_recipients: Vec<String>,
        /// The first failed recipient's status code, such as `5.1.1`.
        status: Option<String>,
        /// The first failed recipient's diagnostic, such as `550 5.1.1 … User unknown`.
        diagnostic: Option<String>,
    },
}

impl Kind {
    /// A stable identifier for logs and translations.
    pub fn slug(&self) -> &'static str {
        match self {
            Self::Reply => "reply",
            Self::AutoReply { .. } => "auto-reply",
            Self::Bounce { .. } => "bounce",
        }
    }

    /// True for auto-replies and bounces: sending anything back could start a mail loop.
    pub fn should_never_answer(&self) -> bool {
        !matches!(self, Self::Reply)
    }
}

/// What showed that a message is automatic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AutoReplyReason {
    /// `Auto-Submitted` with this value (lowercase), e.g. `auto-replied`, `auto-generated`.
    AutoSubmitted(String),
    /// `X-Autoreply` is present.
    XAutoreply,
    /// `X-Autorespond` is present.
    XAutorespond,
    /// `Precedence` with this value (lowercase): `bulk`, `junk`, `list`, `auto_reply`.
    Precedence(String),
    /// `List-Id` or `List-Unsubscribe`: list or bulk mail.
    MailingList,
    /// `Return-Path: <>`.
    NullSender,
    /// A vacation responder's subject.
    VacationSubject,
    /// A delivery report that is not a failure (delayed, delivered, relayed, expanded).
    DeliveryReport,
    /// A read receipt (message disposition notification).
    ReadReceipt,
}

impl AutoReplyReason {
    /// A stable identifier for logs and translations.
    pub fn slug(&self) -> &'static str {
        match self {
            Self::AutoSubmitted(_) => "auto-submitted",
            Self::XAutoreply => "x-autoreply",
            Self::XAutorespond => "x-autorespond",
            Self::Precedence(_) => "precedence",
            Self::MailingList => "mailing-list",
            Self::NullSender => "null-sender",
            Self::VacationSubject => "vacation-subject",
            Self::DeliveryReport => "delivery-report",
            Self::ReadReceipt => "read-receipt",
        }
    }
}

/// Decides the [`Kind`] of a message (see the module documentation for the order).
pub fn classify(message: &InboundMessage) -> Kind {
    match &message.report {
        Some(Report::DeliveryStatus(status)) => {
            if status.recipients.is_empty() {
                // A delivery report we could not read: it is one all the same.
                return Kind::Bounce {
                    failed_recipients: failed_recipients_header(message),
                    status: status_in_text(&message.text),
                    diagnostic: None,
                };
            }
            let failed: Vec<_> = status.recipients.iter().filter(|r| r.failed()).collect();
            if failed.is_empty() {
                return auto(AutoReplyReason::DeliveryReport);
            }
            return Kind::Bounce {
                failed_recipients: failed
                    .iter()
                    .filter_map(|r| r.address())
                    .map(str::to_owned)
                    .collect(),
                status: failed.iter().find_map(|r| r.status.clone()),
                diagnostic: failed.iter().find_map(|r| r.diagnostic.clone()),
            };
        }
        Some(Report::DispositionNotification) => return auto(AutoReplyReason::ReadReceipt),
        Some(Report::Other(_)) | None => {}
    }

    if is_mailer_daemon(message) {
        return Kind::Bounce {
            failed_recipients: failed_recipients_header(message),
            status: status_in_text(&message.text),
            diagnostic: None,
        };
    }

    if let Some(value) = message.header("Auto-Submitted") {
        let value = first_token(value);
        if !value.is_empty() && value != "no" {
            return auto(AutoReplyReason::AutoSubmitted(value));
        }
    }
    if message.header("X-Autoreply").is_some() {
        return auto(AutoReplyReason::XAutoreply);
    }
    if message.header("X-Autorespond").is_some() {
        return auto(AutoReplyReason::XAutorespond);
    }
    if let Some(value) = message.header("Precedence") {
        let value = first_token(value);
        if ["bulk", "junk", "list", "auto_reply"].contains(&value.as_str()) {
            return auto(AutoReplyReason::Precedence(value));
        }
    }
    if message.header("List-Id").is_some() || message.header("List-Unsubscribe").is_some() {
        return auto(AutoReplyReason::MailingList);
    }
    if message.return_path == Some(ReturnPath::Null) {
        return auto(AutoReplyReason::NullSender);
    }
    if message.subject.as_deref().is_some_and(is_vacation_subject) {
        return auto(AutoReplyReason::VacationSubject);
    }
    Kind::Reply
}

fn auto(reason: AutoReplyReason) -> Kind {
    Kind::AutoReply { reason }
}

/// `auto-replied; owner-email="…"` → `auto-replied`.
fn first_token(value: &str) -> String {
    value
        .split(|c: char| c == ';' || c == '(' || c.is_whitespace())
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn is_mailer_daemon(message: &InboundMessage) -> bool {
    let Some(from) = &message.from else {
        return false;
    };
    let local = from.local_part().to_ascii_lowercase();
    match local.as_str() {
        "mailer-daemon" => matches!(message.return_path, None | Some(ReturnPath::Null)),
        "postmaster" => message.return_path == Some(ReturnPath::Null),
        _ => false,
    }
}

fn failed_recipients_header(message: &InboundMessage) -> Vec<String> {
    message
        .headers_named("X-Failed-Recipients")
        .flat_map(|v| v.split(','))
        .map(|a| {
            a.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim()
        })
        .filter(|a| a.contains('@'))
        .map(str::to_owned)
        .collect()
}

/// The first enhanced status code (`5.1.1`, `4.4.7`) in a bounce's text.
fn status_in_text(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|word| {
            let parts: Vec<&str> = word.split('.').collect();
            parts.len() == 3
                && (parts[0] == "4" || parts[0] == "5")
                && parts[1..]
                    .iter()
                    .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_owned)
}

/// A vacation responder's subject: starts with one of their phrases.
fn is_vacation_subject(subject: &str) -> bool {
    const STARTS: &[&str] = &[
        "out of office",
        "out of the office",
        "automatic reply",
        "auto reply",
        "auto-reply",
        "autoreply",
        "auto response",
        "auto-response",
        "autoresponse",
        "away from the office",
        "on vacation",
        "vacation reply",
        "réponse automatique",
        "reponse automatique",
        "réponse automatique d'absence",
        "absence",
        "absent",
        "message d'absence",
        "en congé",
        "en congés",
        "hors du bureau",
    ];
    let subject = subject
        .trim()
        .to_lowercase()
        .replace('’', "'")
        .replace(['\u{a0}', '\u{202f}'], " ");
    STARTS.iter().any(|start| {
        subject.strip_prefix(start).is_some_and(|rest| {
            // A whole word: "Absence:" or "Absence du bureau", not "Absentee ballot".
            rest.chars().next().is_none_or(|c| !c.is_alphanumeric())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vacation_subjects() {
        for subject in [
            "Out of Office: Re: Changes requested",
            "Automatic reply: Your submission is queued",
            "Réponse automatique : Votre soumission",
            "Réponse automatique: Re: Modifications demandées",
            "Absence du bureau",
            "Absent jusqu’au 4 janvier",
            "AUTO-REPLY: away",
            "Autoreply",
        ] {
            assert!(is_vacation_subject(subject), "{subject}");
        }
        for subject in [
            "Re: Out of Office",
            "RE : Absence de son sur la vidéo",
            "Absentee reviewers",
            "Re: Changes requested",
            "",
        ] {
            assert!(!is_vacation_subject(subject), "{subject}");
        }
    }

    #[test]
    fn status_codes_in_text() {
        assert_eq!(
            status_in_text("SMTP error from remote server: 550 5.1.1 User unknown").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(
            status_in_text("version 1.2.3 and 10.0.0.1").as_deref(),
            None
        );
        assert_eq!(
            status_in_text("deferred 4.4.7 timeout").as_deref(),
            Some("4.4.7")
        );
    }

    #[test]
    fn slugs_are_stable() {
        assert_eq!(Kind::Reply.slug(), "reply");
        assert_eq!(auto(AutoReplyReason::NullSender).slug(), "auto-reply");
        assert_eq!(
            Kind::Bounce {
                failed_recipients: vec![],
                status: None,
                diagnostic: None
            }
            .slug(),
            "bounce"
        );
        assert!(!Kind::Reply.should_never_answer());
        assert!(auto(AutoReplyReason::ReadReceipt).should_never_answer());
        assert_eq!(
            AutoReplyReason::Precedence("bulk".into()).slug(),
            "precedence"
        );
    }
}
