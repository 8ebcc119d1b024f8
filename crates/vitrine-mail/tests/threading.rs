//! Messages carry their own Message-ID and point at their submission's thread root, and the
//! formatted MIME reads back as written.
#![allow(clippy::unwrap_used)]

mod common;

use common::{mailbox, parse, render_context, samples, submission_id};
use vitrine_domain::Language;
use vitrine_mail::*;

fn outgoing(kind: EmailKind, lang: Language) -> OutgoingEmail {
    let email = &samples(kind)[0];
    let rendered = render(email, lang, &render_context("Camille")).unwrap();
    OutgoingEmail::builder(
        mailbox("Example Cloud <noreply@mail.example.com>"),
        rendered,
    )
    .to(mailbox("Camille Martin <camille@acme.example>"))
    .to(mailbox("paul@acme.example"))
    .reply_to(mailbox("Review team <review@mail.example.com>"))
    .thread(email.thread())
    .build()
    .unwrap()
}

fn rendered_sample() -> Rendered {
    let email = &samples(EmailKind::Published)[0];
    render(email, Language::En, &render_context("Camille")).unwrap()
}

#[test]
fn emails_of_one_submission_share_a_root_and_have_their_own_ids() {
    let root = format!("<submission-{}@mail.example.com>", submission_id());
    let queued = outgoing(EmailKind::SubmissionQueued, Language::En);
    let approved = outgoing(EmailKind::DecisionApproved, Language::Fr);
    for email in [&queued, &approved] {
        assert_eq!(email.in_reply_to.as_deref(), Some(root.as_str()));
        assert_eq!(email.references, vec![root.clone()]);
        assert_eq!(email.thread, Some(ThreadKey::submission(submission_id())));
        assert!(email.message_id.starts_with('<'));
        assert!(email.message_id.ends_with("@mail.example.com>"));
        assert_ne!(email.message_id, root);
    }
    assert_ne!(queued.message_id, approved.message_id);
}

#[test]
fn formatted_message_carries_threading_headers_and_both_parts() {
    let email = outgoing(EmailKind::DecisionChangesRequested, Language::Fr);
    let raw = email.formatted().unwrap();
    let head = String::from_utf8_lossy(&raw);
    let head = &head[..head.find("\r\n\r\n").unwrap()];
    // Non-ASCII subjects go out as RFC 2047 encoded words, never raw 8-bit.
    assert!(head.is_ascii(), "{head}");
    assert!(head.contains("MIME-Version: 1.0"));

    let received = parse(&raw);
    assert_eq!(received.subject, email.subject);
    assert_eq!(
        received.subject,
        "«\u{a0}Postgres Plus\u{a0}»\u{a0}: modifications demandées"
    );
    assert_eq!(received.message_id, email.message_id);
    assert_eq!(received.in_reply_to, email.references);
    assert_eq!(received.references, email.references);
    assert_eq!(received.to, ["camille@acme.example", "paul@acme.example"]);
    assert_eq!(received.content_type, "multipart/alternative");
    assert_eq!(received.text.trim_end(), email.text.trim_end());
    assert_eq!(received.html.trim_end(), email.html.trim_end());
}

#[test]
fn an_email_outside_any_thread_has_no_threading_headers() {
    let email = outgoing(EmailKind::SessionOpenedAssignments, Language::En);
    assert_eq!(email.thread, None);
    assert_eq!(email.in_reply_to, None);
    assert!(email.references.is_empty());
    let raw = String::from_utf8(email.formatted().unwrap()).unwrap();
    assert!(!raw.contains("In-Reply-To:"));
    assert!(!raw.contains("References:"));
    assert!(raw.contains(&format!("Message-ID: {}", email.message_id)));
}

#[test]
fn the_message_id_domain_can_be_chosen() {
    let rendered = rendered_sample();
    let email = OutgoingEmail::builder(mailbox("noreply@bounce.example.com"), rendered)
        .to(mailbox("camille@acme.example"))
        .thread(Some(ThreadKey::submission(submission_id())))
        .message_id_domain("market.example.com")
        .build()
        .unwrap();
    assert!(email.message_id.ends_with("@market.example.com>"));
    assert_eq!(
        email.references,
        [format!(
            "<submission-{}@market.example.com>",
            submission_id()
        )]
    );
}

#[test]
fn an_email_needs_a_recipient() {
    let rendered = rendered_sample();
    let err = OutgoingEmail::builder(mailbox("noreply@mail.example.com"), rendered)
        .build()
        .unwrap_err();
    assert!(matches!(err, MailError::NoRecipient));
}

#[test]
fn the_outbox_can_store_an_email_and_send_it_again_unchanged() {
    let email = outgoing(EmailKind::ThreadMessage, Language::En);
    let stored = serde_json::to_string(&email).unwrap();
    let loaded: OutgoingEmail = serde_json::from_str(&stored).unwrap();
    assert_eq!(loaded, email);
}

#[test]
fn an_email_says_its_language_and_is_dated_on_vitrines_clock() {
    let header = |raw: &[u8], name: &str| -> Option<String> {
        let parsed = mail_parser::MessageParser::default().parse(raw).unwrap();
        parsed.header_raw(name).map(|value| value.trim().to_owned())
    };
    let french = outgoing(EmailKind::DecisionApproved, Language::Fr);
    let english = outgoing(EmailKind::DecisionApproved, Language::En);
    assert_eq!(
        header(&french.formatted().unwrap(), "Content-Language").as_deref(),
        Some("fr")
    );
    assert_eq!(
        header(&english.formatted().unwrap(), "Content-Language").as_deref(),
        Some("en")
    );

    // A rehearsal's email is dated when the change happened on the test clock, not now.
    let mut dated = english.clone();
    dated.date = Some("2026-03-03T09:30:00Z".parse().unwrap());
    let raw = dated.formatted().unwrap();
    let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let date = parsed.date().expect("a Date header");
    assert_eq!(
        (date.year, date.month, date.day, date.hour, date.minute),
        (2026, 3, 3, 9, 30),
        "{:?}",
        header(&raw, "Date")
    );
    // Stored before the field existed: still readable, dated when formatted.
    let mut old = serde_json::to_value(&english).unwrap();
    old.as_object_mut().unwrap().remove("date");
    old.as_object_mut().unwrap().remove("language");
    let old: OutgoingEmail = serde_json::from_value(old).unwrap();
    assert_eq!(old.language, None);
    assert!(header(&old.formatted().unwrap(), "Date").is_some());
}
