//! Which thread a message is for (the key in any recipient header), and who vouches for its
//! sender (Authentication-Results).

mod support;

use support::{key_a, key_b, pattern};
use vitrine_inbound::Refusal;
use vitrine_inbound::parse::{InboundMessage, RecipientSource, ReturnPath};
use vitrine_inbound::triage;

fn parse(raw: &str) -> InboundMessage {
    InboundMessage::parse(raw.as_bytes()).expect("a message")
}

#[test]
fn the_key_is_found_in_whichever_recipient_header_carries_it() {
    let a = pattern().address_for(&key_a());
    let cases = [
        format!("To: {a}\n"),
        format!("To: Acme team <team@acme.example>\nCc: \"vitrine\" <{a}>\n"),
        // A list or alias rewrote To; the delivery headers keep what was delivered.
        format!("To: team@acme.example\nDelivered-To: {a}\n"),
        format!("To: team@acme.example\nX-Original-To: {a}\n"),
        format!("To: team@acme.example\nEnvelope-To: {a}\n"),
        // Mail systems may change the case of the whole address.
        format!("To: {}\n", a.to_uppercase()),
    ];
    for headers in cases {
        let message = parse(&format!(
            "From: Bob <bob@acme.example>\n{headers}Subject: Re: x\n\nOk.\n"
        ));
        assert_eq!(
            pattern().key_in_message(&message).map(|k| k.hash()),
            Some(key_a().hash()),
            "{headers}"
        );
    }
}

#[test]
fn delivery_headers_come_first_and_every_key_is_listed_once() {
    let a = pattern().address_for(&key_a());
    let b = pattern().address_for(&key_b());
    let message = parse(&format!(
        "Delivered-To: {b}\nFrom: Bob <bob@acme.example>\nTo: {a}, {b}\nCc: {a}\nSubject: Re: x\n\nOk.\n"
    ));
    let sources: Vec<_> = message.recipients.iter().map(|r| r.source).collect();
    assert_eq!(
        sources,
        [
            RecipientSource::DeliveredTo,
            RecipientSource::To,
            RecipientSource::To,
            RecipientSource::Cc
        ]
    );
    let keys: Vec<_> = pattern()
        .keys_in_message(&message)
        .iter()
        .map(|k| k.hash())
        .collect();
    assert_eq!(keys, [key_b().hash(), key_a().hash()]);
    assert_eq!(
        pattern().key_in_message(&message).map(|k| k.hash()),
        Some(key_b().hash())
    );
}

#[test]
fn no_key_no_thread() {
    let message = parse(
        "From: Bob <bob@acme.example>\nTo: support@vitrine.example\nCc: reply+tooshort@mail.vitrine.example\nSubject: Hello\n\nHi!\n",
    );
    let triage = triage(&message, &pattern(), 1 << 20);
    assert!(triage.key.is_none());
    assert_eq!(triage.refusal(), Some(Refusal::NoReplyKey));
}

#[test]
fn return_path_forms() {
    let with =
        |header: &str| parse(&format!("{header}From: a@b.example\nSubject: x\n\nx\n")).return_path;
    assert_eq!(with("Return-Path: <>\n"), Some(ReturnPath::Null));
    assert_eq!(with("Return-Path: <> \n"), Some(ReturnPath::Null));
    assert_eq!(
        with("Return-Path: <bob@acme.example>\n"),
        Some(ReturnPath::Address("bob@acme.example".into()))
    );
    assert_eq!(with(""), None);
}

#[test]
fn authentication_results_of_our_own_server_are_found_and_aligned() {
    let message = support::load("gmail_en.eml");
    assert_eq!(message.authentication_results.len(), 1);
    let ours = message
        .authentication_by("mx.vitrine.example")
        .expect("our server's results");
    let dkim = ours.result_of("dkim").expect("a dkim result");
    assert_eq!(dkim.result, "pass");
    assert_eq!(dkim.property("header.d"), Some("acme.example"));
    assert_eq!(dkim.property("header.s"), Some("google"));
    let spf = ours.result_of("spf").expect("an spf result");
    assert_eq!(
        spf.property("smtp.mailfrom"),
        Some("bob.martin@acme.example")
    );
    assert!(message.sender_authenticated_by("mx.vitrine.example"));
    assert!(message.sender_authenticated_by("MX.Vitrine.Example"));
    // Results written by anyone else are not ours to trust.
    assert!(message.authentication_by("mx.google.com").is_none());
    assert!(!message.sender_authenticated_by("mx.google.com"));
}

#[test]
fn a_dmarc_failure_from_our_own_server_is_no_authentication() {
    let raw = b"Authentication-Results: mx.vitrine.example; spf=pass smtp.mailfrom=acme.example; \
        dmarc=fail header.from=acme.example\r\n\
        Authentication-Results: mx.forger.example; dmarc=pass header.from=acme.example\r\n\
        From: bob@acme.example\r\nTo: reply+k@in.example\r\nSubject: Re: x\r\n\r\nHello\r\n";
    let message = vitrine_inbound::parse::InboundMessage::parse(raw).expect("parsed");
    assert!(!message.sender_authenticated_by("mx.vitrine.example"));
    // Another server's word counts for nothing, either way.
    assert!(message.sender_authenticated_by("mx.forger.example"));
}

#[test]
fn the_topmost_results_of_our_server_count_not_a_forged_one_below() {
    let message = parse(
        "Authentication-Results: mx.vitrine.example; dkim=fail header.d=acme.example; spf=fail smtp.mailfrom=bob@acme.example\n\
         Received: from evil.example by mx.vitrine.example; Mon, 7 Dec 2026 10:00:00 +0000\n\
         Authentication-Results: mx.vitrine.example; dkim=pass header.d=acme.example\n\
         Authentication-Results: mx.google.com; dkim=pass header.d=acme.example\n\
         From: Bob <bob@acme.example>\nTo: reply@mail.vitrine.example\nSubject: Re: x\n\nOk.\n",
    );
    assert_eq!(message.authentication_results.len(), 3);
    let ours = message
        .authentication_by("mx.vitrine.example")
        .expect("ours");
    assert_eq!(
        ours.result_of("dkim").map(|r| r.result.as_str()),
        Some("fail")
    );
    assert!(!message.sender_authenticated_by("mx.vitrine.example"));
}

#[test]
fn a_pass_for_another_domain_does_not_vouch_for_the_sender() {
    let message = parse(
        "Authentication-Results: mx.vitrine.example; dkim=pass header.d=mailer.example; spf=pass smtp.mailfrom=bounces@mailer.example; dmarc=fail header.from=acme.example\n\
         From: Bob <bob@acme.example>\nTo: reply@mail.vitrine.example\nSubject: Re: x\n\nOk.\n",
    );
    assert!(!message.sender_authenticated_by("mx.vitrine.example"));
    // A subdomain of the sender's domain is the same organisation.
    let message = parse(
        "Authentication-Results: mx.vitrine.example; spf=pass smtp.mailfrom=bounce@eu.acme.example\n\
         From: Bob <bob@acme.example>\nTo: reply@mail.vitrine.example\nSubject: Re: x\n\nOk.\n",
    );
    assert!(message.sender_authenticated_by("mx.vitrine.example"));
}

#[test]
fn bytes_that_are_no_message() {
    use vitrine_inbound::parse::ParseError;
    assert_eq!(InboundMessage::parse(b"").err(), Some(ParseError::Empty));
    assert_eq!(
        InboundMessage::parse(b" \r\n\r\n").err(),
        Some(ParseError::Empty)
    );
    assert_eq!(ParseError::Empty.slug(), "empty-message");
    assert_eq!(ParseError::NotAMessage.slug(), "not-a-message");
    // Whatever the bytes, parsing never panics.
    for raw in [
        &b"\x00\x01\x02garbage"[..],
        b"no colon here at all",
        b"From: a@b\n\n\xff\xfe\xfd",
        b"Content-Type: multipart/mixed; boundary=\"x\"\n\n--x\nContent-Type: text/plain\n\nunterminated",
    ] {
        let _ = InboundMessage::parse(raw);
    }
}
