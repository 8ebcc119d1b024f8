//! Every email renders in every language, with the data it was given, escaped in HTML, and
//! the templates on disk are exactly those compiled in.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ONE_TIME_TOKEN, render_context, samples, submission};
use std::collections::BTreeSet;
use vitrine_domain::Language;
use vitrine_mail::render::{LANGUAGES, PARTS, TEMPLATES, template_name};
use vitrine_mail::*;

fn render_sample(kind: EmailKind, lang: Language) -> Rendered {
    render(&samples(kind)[0], lang, &render_context("Camille")).unwrap()
}

#[test]
fn every_email_renders_in_every_language() {
    for kind in EmailKind::ALL {
        for email in samples(kind) {
            assert_eq!(email.kind(), kind);
            for lang in LANGUAGES {
                let what = format!("{} in {}", kind.name(), lang.code());
                let rendered = render(&email, lang, &render_context("Camille"))
                    .unwrap_or_else(|err| panic!("{what}: {err}"));
                let link = format!("https://market.example.com{}", email.path());
                assert!(!rendered.subject.is_empty(), "{what}");
                assert!(!rendered.subject.contains('\n'), "{what}");
                assert!(rendered.text.contains(&link), "{what}: text lacks {link}");
                assert!(rendered.html.contains(&link), "{what}: html lacks {link}");
                assert!(rendered.text.contains("Camille"), "{what}");
                assert!(rendered.text.contains("Example Cloud"), "{what}");
                assert!(
                    rendered
                        .html
                        .contains(&format!("<html lang=\"{}\">", lang.code())),
                    "{what}"
                );
                for part in [&rendered.subject, &rendered.text, &rendered.html] {
                    assert!(!part.contains("{{") && !part.contains("{%"), "{what}");
                }
                // The submission's offering is named in every email about it.
                if let Some(submission) = email.submission() {
                    assert!(
                        rendered.subject.contains(&submission.offering_title),
                        "{what}"
                    );
                    assert!(rendered.text.contains(&submission.offering_title), "{what}");
                }
            }
        }
    }
}

#[test]
fn french_and_english_say_different_things() {
    for kind in EmailKind::ALL {
        let en = render_sample(kind, Language::En);
        let fr = render_sample(kind, Language::Fr);
        assert_ne!(en.subject, fr.subject, "{}", kind.name());
        assert!(en.text.starts_with("Hello Camille,"), "{}", kind.name());
        assert!(fr.text.starts_with("Bonjour Camille,"), "{}", kind.name());
    }
}

#[test]
fn templates_on_disk_are_the_compiled_ones() {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let mut on_disk = BTreeSet::new();
    let mut pending = vec![directory.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let name = path.strip_prefix(&directory).unwrap();
                on_disk.insert(name.to_str().unwrap().replace('\\', "/"));
            }
        }
    }
    let compiled: BTreeSet<String> = TEMPLATES.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(on_disk, compiled);
    // And every email has its three parts in every language.
    for kind in EmailKind::ALL {
        for lang in LANGUAGES {
            for part in PARTS {
                let name = template_name(kind, lang, part);
                assert!(compiled.contains(&name), "{name} is missing");
            }
        }
    }
}

#[test]
fn html_escapes_what_people_wrote_and_text_keeps_it() {
    let hostile = "<script>alert(\"x\")</script> & <b>bold</b>";
    let mut offering = submission();
    offering.offering_title = "<img src=x onerror=alert(1)>".to_owned();
    let email = Email::ThreadMessage(ThreadMessage {
        submission: offering,
        author_name: "Mallory <mallory@example.com>".to_owned(),
        author_side: ThreadSide::Provider,
        text: hostile.to_owned(),
        sent_at: "2026-12-01T10:30:00Z".parse().unwrap(),
    });
    let mut ctx = render_context("Eve \"the admin\" <eve@example.com>");
    ctx.marketplace_name = "A & B <Market>".to_owned();
    let rendered = render(&email, Language::En, &ctx).unwrap();
    for raw in ["<script", "<img", "<b>", "<mallory@", "<eve@", "<Market>"] {
        assert!(!rendered.html.contains(raw), "{raw} reached the HTML");
    }
    assert!(rendered.html.contains(
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"
    ));
    assert!(rendered.text.contains(hostile));
    assert!(rendered.subject.contains("<img src=x onerror=alert(1)>"));
}

#[test]
fn html_is_self_contained() {
    for kind in EmailKind::ALL {
        for lang in LANGUAGES {
            let html = render_sample(kind, lang).html;
            for external in ["<img", "<link", "<script", "<style", "src=", "url("] {
                assert!(!html.contains(external), "{} has {external}", kind.name());
            }
            assert!(html.starts_with("<!DOCTYPE html>"));
        }
    }
}

#[test]
fn instants_are_shown_in_the_readers_time_zone_and_language() {
    let email = &samples(EmailKind::PublicationScheduled)[0];
    let paris = render(email, Language::Fr, &render_context("Camille")).unwrap();
    assert!(
        paris
            .subject
            .contains("publication prévue le mardi 15 décembre 2026 à 9 h 00 (CET)"),
        "{}",
        paris.subject
    );
    let mut ctx = render_context("Camille");
    ctx.recipient_time_zone = "America/New_York".to_owned();
    let new_york = render(email, Language::En, &ctx).unwrap();
    assert!(
        new_york
            .subject
            .ends_with("will be published on Tuesday 15 December 2026 at 03:00 (EST)"),
        "{}",
        new_york.subject
    );
}

#[test]
fn an_unknown_time_zone_is_refused_before_rendering() {
    let mut ctx = render_context("Camille");
    ctx.recipient_time_zone = "Mars/Olympus_Mons".to_owned();
    let err = render(&samples(EmailKind::Published)[0], Language::En, &ctx).unwrap_err();
    assert!(matches!(err, MailError::TimeZone { .. }), "{err}");
}

/// Text bodies, as a reviewer reads them; `cargo insta review` shows changes.
#[test]
fn snapshots_of_text_bodies() {
    let cases = [
        (EmailKind::SubmissionQueued, 1),
        (EmailKind::DatesMoved, 0),
        (EmailKind::SessionOpenedAssignments, 0),
        (EmailKind::ThreadMessage, 0),
        (EmailKind::DecisionChangesRequested, 0),
        (EmailKind::DecisionApproved, 0),
        (EmailKind::PublicationScheduled, 0),
        (EmailKind::Unpublished, 0),
        (EmailKind::VerifyEmail, 0),
        (EmailKind::PasswordReset, 0),
        (EmailKind::SignUpAttemptExisting, 0),
        (EmailKind::InboundRefused, 0),
        (EmailKind::WebhookDisabled, 0),
    ];
    for (kind, sample) in cases {
        for lang in LANGUAGES {
            let email = &samples(kind)[sample];
            let rendered = render(email, lang, &render_context("Camille")).unwrap();
            let shown = format!("Subject: {}\n\n{}", rendered.subject, rendered.text);
            insta::assert_snapshot!(format!("{}_{}", kind.name(), lang.code()), shown);
        }
    }
}

/// The answer to a refused email says why in words that reveal nothing the sender does not
/// know, is automatic (RFC 3834), points at the refused message and starts no thread.
#[test]
fn a_refusal_answer_says_why_and_is_marked_automatic() {
    let cases = [
        (
            1,
            "takes no messages from you",
            "ne reçoit pas de messages",
            "/sign-in",
        ),
        (
            2,
            "larger than the 64 MiB",
            "dépassait les 64 Mio",
            "/sign-in",
        ),
        (
            3,
            "Nothing new was left",
            "rien de nouveau",
            "/submissions/",
        ),
        (
            0,
            "The submission is closed",
            "La soumission est close",
            "/submissions/",
        ),
    ];
    for (sample, en, fr, path) in cases {
        let email = &samples(EmailKind::InboundRefused)[sample];
        assert_eq!(email.thread(), None);
        assert_eq!(email.submission(), None, "no reply address is made for it");
        let english = render(email, Language::En, &render_context("Camille")).unwrap();
        let french = render(email, Language::Fr, &render_context("Camille")).unwrap();
        assert!(english.text.contains(en), "{}", english.text);
        assert!(english.html.contains(en), "{}", english.html);
        assert!(french.text.contains(fr), "{}", french.text);
        assert!(
            english
                .text
                .contains(&format!("https://market.example.com{path}"))
        );
        assert!(english.text.contains("at most one an hour"));
        assert!(french.text.contains("au plus une par heure"));
    }
    let rendered = render(
        &samples(EmailKind::InboundRefused)[1],
        Language::En,
        &render_context("Camille"),
    )
    .unwrap();
    let answer =
        OutgoingEmail::builder(common::mailbox("vitrine <noreply@vitrine.test>"), rendered)
            .to(common::mailbox("someone@p.test"))
            .answering("refused-1@p.test")
            .build()
            .unwrap();
    assert_eq!(answer.in_reply_to.as_deref(), Some("<refused-1@p.test>"));
    assert_eq!(answer.references, vec!["<refused-1@p.test>".to_owned()]);
    let wire = String::from_utf8(answer.formatted().unwrap()).unwrap();
    assert!(wire.contains("Auto-Submitted: auto-replied\r\n"), "{wire}");
    assert!(
        wire.contains("In-Reply-To: <refused-1@p.test>\r\n"),
        "{wire}"
    );
    assert!(!wire.contains("\nReply-To:"), "{wire}");
}

#[test]
fn snapshot_of_an_html_body() {
    let email = &samples(EmailKind::DecisionChangesRequested)[0];
    let rendered = render(email, Language::Fr, &render_context("Camille")).unwrap();
    insta::assert_snapshot!(rendered.html);
}

#[test]
fn one_time_links_lead_to_the_web_pages_and_are_marked_secret() {
    let cases = [
        (EmailKind::VerifyEmail, "/verify-email?token=", true),
        (EmailKind::PasswordReset, "/reset-password?token=", true),
        (EmailKind::SignUpAttemptExisting, "/sign-in", false),
    ];
    for (kind, path, secret) in cases {
        let email = &samples(kind)[0];
        assert_eq!(email.holds_secret(), secret, "{}", kind.name());
        assert_eq!(email.thread(), None, "{} is in no thread", kind.name());
        for lang in LANGUAGES {
            let rendered = render(email, lang, &render_context("Camille")).unwrap();
            let link = format!("https://market.example.com{path}");
            assert!(rendered.text.contains(&link), "{}", kind.name());
            assert_eq!(
                rendered.text.contains(ONE_TIME_TOKEN),
                secret,
                "{} in {}",
                kind.name(),
                lang.code()
            );
            // Not the generic footer: the reader may have no role yet.
            assert!(!rendered.text.contains("role"), "{}", kind.name());
            assert!(!rendered.html.contains("rôle"), "{}", kind.name());
        }
    }
    // No other email holds a secret.
    for kind in EmailKind::ALL {
        let secret = matches!(kind, EmailKind::VerifyEmail | EmailKind::PasswordReset);
        for email in samples(kind) {
            assert_eq!(email.holds_secret(), secret, "{}", kind.name());
        }
    }
}
