//! Bounces and automatic messages from real servers and responders: never answered, never
//! posted.

mod support;

use support::{both_line_ends, pattern};
use vitrine_inbound::Refusal;
use vitrine_inbound::classify::{AutoReplyReason, Kind, classify};
use vitrine_inbound::parse::{DsnAction, InboundMessage, Report};
use vitrine_inbound::triage;

fn bounce(recipients: &[&str], status: Option<&str>, diagnostic: Option<&str>) -> Kind {
    Kind::Bounce {
        failed_recipients: recipients.iter().map(|r| r.to_string()).collect(),
        status: status.map(str::to_owned),
        diagnostic: diagnostic.map(str::to_owned),
    }
}

fn auto(reason: AutoReplyReason) -> Kind {
    Kind::AutoReply { reason }
}

#[test]
fn each_automatic_message_is_recognised() {
    let cases: Vec<(&str, Kind)> = vec![
        (
            "postfix_dsn_failed.eml",
            bounce(
                &["bob.martin@acme.example"],
                Some("5.1.1"),
                Some(
                    "550 5.1.1 <bob.martin@acme.example>: Recipient address rejected: User unknown in virtual mailbox table",
                ),
            ),
        ),
        (
            "exchange_ndr.eml",
            bounce(
                // The original recipient, as vitrine addressed it.
                &["Beatrice@acme.example"],
                Some("5.1.10"),
                Some(
                    "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
                ),
            ),
        ),
        // Not a DSN, but from Mailer-Daemon with the null sender.
        (
            "exim_bounce.eml",
            bounce(&["carol@acme.example"], Some("5.2.2"), None),
        ),
        ("qmail_bounce.eml", bounce(&[], Some("5.1.1"), None)),
        // A DSN that only says "delayed" is no failure.
        (
            "postfix_dsn_delayed.eml",
            auto(AutoReplyReason::DeliveryReport),
        ),
        (
            "gmail_vacation_en.eml",
            auto(AutoReplyReason::AutoSubmitted("auto-replied".into())),
        ),
        (
            "exchange_oof_fr.eml",
            auto(AutoReplyReason::AutoSubmitted("auto-generated".into())),
        ),
        (
            "vacation_subject_only.eml",
            auto(AutoReplyReason::VacationSubject),
        ),
        ("list_mail.eml", auto(AutoReplyReason::MailingList)),
        (
            "precedence_bulk.eml",
            auto(AutoReplyReason::Precedence("bulk".into())),
        ),
        ("x_autoreply.eml", auto(AutoReplyReason::XAutoreply)),
        ("read_receipt.eml", auto(AutoReplyReason::ReadReceipt)),
    ];
    let pattern = pattern();
    for (fixture, expected) in cases {
        for (name, message) in both_line_ends(fixture) {
            let kind = classify(&message);
            assert_eq!(kind, expected, "{name}");
            assert!(kind.should_never_answer(), "{name}");
            let triage = triage(&message, &pattern, 1 << 20);
            let refusal = triage.refusal().map(|r| r.slug());
            let expected_slug = if matches!(expected, Kind::Bounce { .. }) {
                "bounce"
            } else {
                "auto-reply"
            };
            assert_eq!(refusal, Some(expected_slug), "{name}");
            // Report parts are no attachments anyone meant to send.
            assert!(triage.refused_attachments.is_empty(), "{name}");
        }
    }
}

#[test]
fn replies_are_replies_even_with_exchange_suppression_headers() {
    // Outlook puts X-Auto-Response-Suppress: All on ordinary mail.
    let message = support::load("outlook_en.eml");
    assert_eq!(message.header("X-Auto-Response-Suppress"), Some("All"));
    assert_eq!(classify(&message), Kind::Reply);
    assert!(!classify(&message).should_never_answer());
}

#[test]
fn the_delivery_report_is_read_per_recipient() {
    let message = support::load("postfix_dsn_failed.eml");
    let Some(Report::DeliveryStatus(status)) = &message.report else {
        panic!("{:?}", message.report);
    };
    assert_eq!(status.reporting_mta.as_deref(), Some("mx.vitrine.example"));
    assert_eq!(status.recipients.len(), 1);
    assert_eq!(status.recipients[0].action, Some(DsnAction::Failed));

    let delayed = support::load("postfix_dsn_delayed.eml");
    let Some(Report::DeliveryStatus(status)) = &delayed.report else {
        panic!("{:?}", delayed.report);
    };
    assert_eq!(status.recipients[0].action, Some(DsnAction::Delayed));
    assert_eq!(status.recipients[0].status.as_deref(), Some("4.4.1"));
}

#[test]
fn a_bounce_to_a_reply_address_still_names_its_key() {
    // Bounces of vitrine's mail come back to the reply address (the envelope sender): the
    // server can tell which thread's recipient failed.
    let message = support::load("postfix_dsn_failed.eml");
    let triage = triage(&message, &pattern(), 1 << 20);
    assert_eq!(
        triage.key.as_ref().map(|k| k.hash()),
        Some(support::key_a().hash())
    );
    assert_eq!(triage.refusal(), Some(Refusal::Bounce));
}

fn message(headers: &str) -> InboundMessage {
    let raw = format!(
        "From: Bob <bob@acme.example>\nTo: reply@mail.vitrine.example\nSubject: Re: Changes requested\n{headers}\nThanks, will do.\n"
    );
    InboundMessage::parse(raw.as_bytes()).expect("a message")
}

#[test]
fn header_markers_one_by_one() {
    let cases: &[(&str, Kind)] = &[
        ("", Kind::Reply),
        ("Auto-Submitted: no\n", Kind::Reply),
        ("Auto-Submitted: No (a person)\n", Kind::Reply),
        (
            "Auto-Submitted: auto-replied; owner-email=\"bob@acme.example\"\n",
            auto(AutoReplyReason::AutoSubmitted("auto-replied".into())),
        ),
        (
            "Auto-Submitted: auto-notified\n",
            auto(AutoReplyReason::AutoSubmitted("auto-notified".into())),
        ),
        ("X-Autoreply: yes\n", auto(AutoReplyReason::XAutoreply)),
        ("X-Autorespond: 1\n", auto(AutoReplyReason::XAutorespond)),
        (
            "Precedence: junk\n",
            auto(AutoReplyReason::Precedence("junk".into())),
        ),
        (
            "Precedence: List\n",
            auto(AutoReplyReason::Precedence("list".into())),
        ),
        (
            "Precedence: auto_reply\n",
            auto(AutoReplyReason::Precedence("auto_reply".into())),
        ),
        ("Precedence: first-class\n", Kind::Reply),
        (
            "List-Id: <team.acme.example>\n",
            auto(AutoReplyReason::MailingList),
        ),
        (
            "List-Unsubscribe: <mailto:leave@acme.example>\n",
            auto(AutoReplyReason::MailingList),
        ),
        ("Return-Path: <>\n", auto(AutoReplyReason::NullSender)),
        ("Return-Path: <bob@acme.example>\n", Kind::Reply),
        ("X-Auto-Response-Suppress: All\n", Kind::Reply),
        (
            "X-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply\n",
            Kind::Reply,
        ),
    ];
    for (headers, expected) in cases {
        assert_eq!(&classify(&message(headers)), expected, "{headers:?}");
    }
}

#[test]
fn mailer_daemon_and_postmaster() {
    let from = |from: &str, return_path: &str| {
        let raw = format!(
            "{return_path}From: {from}\nTo: reply@mail.vitrine.example\nSubject: Undeliverable\nX-Failed-Recipients: a@acme.example, <b@acme.example>\n\nRemote host said: 550 5.7.1 relaying denied\n"
        );
        classify(&InboundMessage::parse(raw.as_bytes()).expect("a message"))
    };
    let bounced = bounce(&["a@acme.example", "b@acme.example"], Some("5.7.1"), None);
    assert_eq!(
        from("MAILER-DAEMON@mx.acme.example", "Return-Path: <>\n"),
        bounced
    );
    assert_eq!(
        from("mailer-daemon@mx.acme.example", ""),
        bounced,
        "no Return-Path"
    );
    assert_eq!(
        from("<postmaster@acme.example>", "Return-Path: <>\n"),
        bounced
    );
    // A postmaster who writes as a person (with a return path) is a person.
    assert_eq!(
        from(
            "Postmaster <postmaster@acme.example>",
            "Return-Path: <postmaster@acme.example>\n"
        ),
        Kind::Reply
    );
}

#[test]
fn vacation_subjects_in_both_languages() {
    let subject = |subject: &str| {
        let raw = format!(
            "From: Bob <bob@acme.example>\nTo: reply@mail.vitrine.example\nSubject: {subject}\n\nAway.\n"
        );
        classify(&InboundMessage::parse(raw.as_bytes()).expect("a message"))
    };
    for vacation in [
        "Out of Office: Changes requested",
        "Automatic reply: Changes requested",
        "=?utf-8?Q?R=C3=A9ponse_automatique=C2=A0:_Modifications_demand=C3=A9es?=",
        "Absence du bureau",
        "Absent jusqu'au 4 janvier",
        "Auto-Reply: I am away",
    ] {
        assert_eq!(
            subject(vacation),
            auto(AutoReplyReason::VacationSubject),
            "{vacation}"
        );
    }
    for reply in [
        "Re: Out of Office",
        "RE: Absence of audio in the recording",
        "Re\u{a0}: Absence de son",
        "Absentee list",
    ] {
        assert_eq!(subject(reply), Kind::Reply, "{reply}");
    }
}

#[test]
fn a_report_that_cannot_be_read_is_still_a_bounce() {
    let raw = "Return-Path: <>\nFrom: Mail System <mail@mx.acme.example>\nTo: reply@mail.vitrine.example\nSubject: Returned mail\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nDelivery to carol@acme.example failed: 5.1.1\n--b--\n";
    let kind = classify(&InboundMessage::parse(raw.as_bytes()).expect("a message"));
    assert_eq!(kind, bounce(&[], Some("5.1.1"), None));
}

#[test]
fn slugs_for_every_auto_reply_reason() {
    let reasons = [
        (
            AutoReplyReason::AutoSubmitted("auto-replied".into()),
            "auto-submitted",
        ),
        (AutoReplyReason::XAutoreply, "x-autoreply"),
        (AutoReplyReason::XAutorespond, "x-autorespond"),
        (AutoReplyReason::Precedence("bulk".into()), "precedence"),
        (AutoReplyReason::MailingList, "mailing-list"),
        (AutoReplyReason::NullSender, "null-sender"),
        (AutoReplyReason::VacationSubject, "vacation-subject"),
        (AutoReplyReason::DeliveryReport, "delivery-report"),
        (AutoReplyReason::ReadReceipt, "read-receipt"),
    ];
    for (reason, slug) in reasons {
        assert_eq!(reason.slug(), slug);
        assert_eq!(Refusal::AutoReply(reason).slug(), "auto-reply");
    }
    assert_eq!(Refusal::Bounce.slug(), "bounce");
    assert_eq!(Refusal::EmptyReply.slug(), "empty-reply");
    assert_eq!(Refusal::NoReplyKey.slug(), "no-reply-key");
}
