//! Recordings sent by email: which attachments are taken, and why the others are not.

mod support;

use support::{both_line_ends, key_b, pattern};
use vitrine_inbound::Refusal;
use vitrine_inbound::recording::{RecordingRefusal, RecordingType, check_recording};
use vitrine_inbound::triage;

#[test]
fn a_reply_with_an_mp4_and_a_pdf() {
    for (name, message) in both_line_ends("reply_with_mp4_and_pdf.eml") {
        let names: Vec<_> = message
            .attachments
            .iter()
            .map(|a| (a.file_name.as_deref(), a.content_type.as_str(), a.size()))
            .collect();
        assert_eq!(
            names,
            [
                (Some("checkout-round2.mp4"), "video/mp4", 2096),
                (Some("test-report.pdf"), "application/pdf", 218),
            ],
            "{name}"
        );
        // The bytes are decoded: the MP4 starts with its ftyp box.
        assert_eq!(
            &message.attachments[0].bytes[..12],
            b"\x00\x00\x00\x20ftypisom",
            "{name}"
        );
        assert!(message.attachments[1].bytes.starts_with(b"%PDF-1.7\n"));

        let triage = triage(&message, &pattern(), 10 * 1024 * 1024);
        assert_eq!(triage.refusal(), None, "{name}");
        assert_eq!(
            triage.text,
            "Hi Ana,\n\nHere is the new checkout recording, and the test report as a PDF.\n\nBob"
        );
        let recordings: Vec<_> = triage
            .recordings
            .iter()
            .map(|r| (r.attachment.file_name.as_deref(), r.media_type.mime()))
            .collect();
        assert_eq!(recordings, [(Some("checkout-round2.mp4"), "video/mp4")]);
        let refused: Vec<_> = triage
            .refused_attachments
            .iter()
            .map(|r| (r.attachment.file_name.as_deref(), r.refusal.clone()))
            .collect();
        assert_eq!(
            refused,
            [(
                Some("test-report.pdf"),
                RecordingRefusal::NotARecording {
                    content_type: "application/pdf".into(),
                    detected: Some("application/pdf"),
                }
            )]
        );
    }
}

#[test]
fn a_recording_over_the_limit_is_refused_as_too_large() {
    let message = support::load("reply_with_mp4_and_pdf.eml");
    let triage = triage(&message, &pattern(), 2000);
    assert!(triage.recordings.is_empty());
    let slugs: Vec<_> = triage
        .refused_attachments
        .iter()
        .map(|r| (r.attachment.file_name.as_deref(), r.refusal.slug()))
        .collect();
    assert_eq!(
        slugs,
        [
            (Some("checkout-round2.mp4"), "too-large"),
            (Some("test-report.pdf"), "not-a-recording"),
        ]
    );
    assert_eq!(
        triage.refused_attachments[0].refusal,
        RecordingRefusal::TooLarge {
            size: 2096,
            limit: 2000
        }
    );
    // The text still goes into the thread.
    assert_eq!(triage.refusal(), None);
}

#[test]
fn an_iphone_video_with_no_text_is_a_recording_not_an_empty_reply() {
    for (name, message) in both_line_ends("iphone_video_only.eml") {
        let triage = triage(&message, &pattern(), 1 << 20);
        assert_eq!(
            triage.text, "",
            "{name}: only a mobile signature and a quote"
        );
        assert_eq!(triage.key.as_ref().map(|k| k.hash()), Some(key_b().hash()));
        assert_eq!(triage.recordings.len(), 1, "{name}");
        let recording = &triage.recordings[0];
        assert_eq!(recording.media_type, RecordingType::QuickTime);
        assert_eq!(
            recording.attachment.file_name.as_deref(),
            Some("IMG_0042.MOV")
        );
        assert!(recording.attachment.inline, "iPhone Mail sends it inline");
        assert_eq!(triage.refusal(), None, "{name}");
    }
}

#[test]
fn a_signature_logo_is_neither_a_recording_nor_a_refusal() {
    let message = support::load("outlook_signature_logo.eml");
    assert_eq!(message.attachments.len(), 1);
    assert_eq!(message.attachments[0].content_type, "image/png");
    assert!(message.attachments[0].inline);
    let triage = triage(&message, &pattern(), 1 << 20);
    assert!(triage.recordings.is_empty());
    assert!(triage.refused_attachments.is_empty());
}

#[test]
fn a_declared_video_that_is_not_one_is_refused() {
    let raw = b"From: Bob <bob@acme.example>\r\n\
To: reply@mail.vitrine.example\r\n\
Subject: recording\r\n\
Content-Type: multipart/mixed; boundary=\"x\"\r\n\
\r\n\
--x\r\n\
Content-Type: text/plain\r\n\
\r\n\
Here it is.\r\n\
--x\r\n\
Content-Type: video/mp4; name=\"demo.mp4\"\r\n\
Content-Disposition: attachment; filename=\"demo.mp4\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP4//8/AAX+Av6n1qTFAAAAAElFTkSuQmCC\r\n\
--x--\r\n";
    let message = vitrine_inbound::parse::InboundMessage::parse(raw).expect("a message");
    assert_eq!(message.attachments.len(), 1);
    assert_eq!(
        check_recording(&message.attachments[0], 1 << 20),
        Err(RecordingRefusal::NotARecording {
            content_type: "video/mp4".into(),
            detected: Some("image/png"),
        })
    );
}

#[test]
fn an_empty_reply_without_recording_is_refused() {
    let raw = format!(
        "From: Bob <bob@acme.example>\nTo: reply+{}@mail.vitrine.example\nSubject: Re: x\n\nSent from my iPhone\n\n> On Mon, 7 Dec 2026 at 10:00, Ana <a@x.example> wrote:\n> Hello\n",
        support::key_a().to_text()
    );
    let message = vitrine_inbound::parse::InboundMessage::parse(raw.as_bytes()).expect("a message");
    let triage = triage(&message, &pattern(), 1 << 20);
    assert_eq!(triage.text, "");
    assert_eq!(triage.refusal(), Some(Refusal::EmptyReply));
    assert_eq!(triage.refusal().map(|r| r.slug()), Some("empty-reply"));
}
