//! Email both ways: thread emails carry a reply address of their own; a reply to it comes
//! back into the thread (only its new text), with its recording attached through the
//! uploads' path; what may not be posted is refused, logged, and posts nothing.

use std::sync::Arc;

use serde_json::{Value, json};
use vitrine_ingest::{Ingest, IngestSettings, Outcome, Reason};
use vitrine_server::{ReplyPattern, ServerConfig};

use crate::go_live::{
    Cast, ServerTime, advance_to, assigned_of, cast, get, in_review, outbox, server_now, verdicts,
};
use crate::support::{TestApp, TestUser, each_backend_with};

const PATTERN: &str = "reply+{key}@in.vitrine.test";
const CLIP: &[u8] = include_bytes!("../../../vitrine-blob/tests/fixtures/faststart.mp4");

fn with_replies() -> ServerConfig {
    ServerConfig {
        reply_to: Some(ReplyPattern::parse(PATTERN).expect("pattern")),
        ..crate::go_live::rehearsal()
    }
}

async fn ingest_for(app: &TestApp) -> Ingest {
    ingest_at(app, server_now(app).await)
}

/// The inbound path as a server whose clock reads `now` runs it.
fn ingest_at(app: &TestApp, now: jiff::Timestamp) -> Ingest {
    let blobs = vitrine_blob::LocalBlobStore::open(&app.blob_dir).expect("blobs");
    Ingest {
        services: vitrine_jobs::Services {
            store: app.store.clone(),
            clock: Arc::new(ServerTime(now)),
            mail: Arc::new(vitrine_jobs::MailSettings {
                from: ServerConfig::default().mail_from,
                reply_to: Some(ReplyPattern::parse(PATTERN).expect("pattern")),
                ..Default::default()
            }),
        },
        blobs: Some(blobs.into()),
        settings: Arc::new(IngestSettings {
            pattern: ReplyPattern::parse(PATTERN).expect("pattern"),
            max_message_bytes: 64 << 20,
            max_recording_bytes: 32 << 20,
            trusted_authserv_id: None,
            unknown_addresses_bounced: false,
        }),
    }
}

/// The reply address of the newest email to `address`.
async fn reply_address_to(app: &TestApp, address: &str) -> String {
    let emails = outbox(app).await;
    let email = emails
        .iter()
        .rev()
        .find(|e| e["to"].to_string().contains(address))
        .unwrap_or_else(|| panic!("an email to {address}"));
    let reply_to = email["reply_to"].to_string();
    let start = reply_to.find("reply+").expect("a reply address");
    let end = reply_to[start..]
        .find("@in.vitrine.test")
        .expect("its domain")
        + start;
    format!("{}@in.vitrine.test", &reply_to[start..end])
}

/// A reply as a mail client writes it: new text above the quoted history.
fn reply(from: &str, to: &str, message_id: &str, new_text: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Re: your submission\r\nMessage-ID: <{message_id}>\r\n\
         Date: Thu, 05 Mar 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{new_text}\r\n\r\n\
         On Thu, 5 Mar 2026 at 09:00, vitrine <vitrine@localhost> wrote:\r\n\
         > Changes were requested on your submission.\r\n> Provisioning was not shown.\r\n"
    )
    .into_bytes()
}

/// The same reply with a recording attached.
fn reply_with_recording(from: &str, to: &str, message_id: &str, new_text: &str) -> Vec<u8> {
    reply_with_clip(from, to, message_id, new_text, CLIP)
}

/// A recording of `total` bytes: the clip, then a `skip` box.
fn long_clip(total: usize) -> Vec<u8> {
    let mut bytes = CLIP.to_vec();
    let skip = u32::try_from(total - CLIP.len()).expect("fits");
    bytes.extend_from_slice(&skip.to_be_bytes());
    bytes.extend_from_slice(b"skip");
    bytes.extend((0..total - bytes.len()).map(|i| (i % 251) as u8));
    bytes
}

/// A reply with `clip` attached as `demo-v2.mp4`.
fn reply_with_clip(from: &str, to: &str, message_id: &str, new_text: &str, clip: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let clip = base64::engine::general_purpose::STANDARD.encode(clip);
    let wrapped: Vec<String> = clip
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Re: changes requested\r\nMessage-ID: <{message_id}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{new_text}\r\n\r\n\
         Le jeu. 5 mars 2026 à 09:00, vitrine <vitrine@localhost> a écrit :\r\n\
         > Des modifications sont demandées.\r\n\r\n\
         --b1\r\nContent-Type: video/mp4; name=\"demo-v2.mp4\"\r\n\
         Content-Disposition: attachment; filename=\"demo-v2.mp4\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        wrapped.join("\r\n")
    )
    .into_bytes()
}

async fn messages(user: &TestUser, id: &str) -> Vec<Value> {
    user.client
        .get(&format!("/api/v1/submissions/{id}/messages"))
        .await
        .expect_status(200)
        .json()
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// A submission whose changes were requested and released: the provider's members were
/// emailed, each with a reply address of their own.
async fn changes_requested(app: &TestApp, c: &Cast) -> String {
    let id = in_review(app, c).await;
    let s = get(&app.admin, &id).await;
    let (assigned, _) = assigned_of(c, &s);
    let requirements = c.owner.client.get("/api/v1/requirements").await.json();
    assigned
        .client
        .post(
            &format!("/api/v1/submissions/{id}/decision"),
            &json!({"verdicts": verdicts(&["provision"], &requirements), "decision": "request_changes"}),
        )
        .await
        .expect_status(200);
    advance_to(app, "2026-03-05T00:00:00Z").await;
    let s = get(&c.owner.client, &id).await;
    assert_eq!(s["submission"]["state"], "changes_requested");
    id
}

#[tokio::test]
async fn a_reply_by_email_comes_back_into_the_thread_with_its_recording() {
    each_backend_with(with_replies, |app| async move {
        let c = cast(&app).await;
        let id = changes_requested(&app, &c).await;
        let s = get(&app.admin, &id).await;
        let (validator, _) = assigned_of(&c, &s);
        let address = reply_address_to(&app, &c.member.email).await;
        let owners = reply_address_to(&app, &c.owner.email).await;
        assert_ne!(
            address, owners,
            "each recipient has a reply address of their own"
        );

        // The member replies from their mail client with the history quoted and a
        // recording attached.
        let ingest = ingest_for(&app).await;
        let raw = reply_with_recording(
            &c.member.email,
            &address,
            "reply-1@mail.p.test",
            "Here is the new demo: provisioning is at 1:30.",
        );
        let outcome = ingest.take(&raw).await.expect("taken");
        assert_eq!(
            outcome,
            Outcome::Posted {
                submission: id.parse().expect("id"),
                recordings: 1,
                refused_attachments: 0,
            }
        );
        let thread = messages(&c.member, &id).await;
        let last = thread.last().expect("a message");
        assert_eq!(
            last["body"],
            "Here is the new demo: provisioning is at 1:30."
        );
        assert_eq!(last["author"], json!(c.member.id));
        assert_eq!(last["side"], "provider");
        let recordings = c
            .member
            .client
            .get(&format!("/api/v1/submissions/{id}/recordings"))
            .await
            .expect_status(200)
            .json();
        let emailed = recordings
            .as_array()
            .expect("recordings")
            .iter()
            .find(|r| r["file_name"] == "demo-v2.mp4")
            .unwrap_or_else(|| panic!("the emailed recording is listed: {recordings}"))
            .clone();
        use sha2::Digest;
        let digest: String = sha2::Sha256::digest(CLIP)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(emailed["sha256"], json!(digest));
        let s = get(&c.member.client, &id).await;
        let rounds = s["submission"]["rounds"].as_array().expect("rounds");
        assert!(
            rounds.last().expect("open round")["recordings"]
                .as_array()
                .expect("recordings")
                .contains(&emailed["id"]),
            "the recording is in the open round: {s}"
        );

        // The same message read again (a crash before the mailbox was told) changes nothing.
        assert_eq!(ingest.take(&raw).await.expect("taken"), Outcome::Duplicate);
        assert_eq!(messages(&c.member, &id).await.len(), thread.len());

        // The validator is emailed the reply, with an address of their own, and answers
        // by email: the provider's members get it, threaded.
        let to_validator = reply_address_to(&app, &validator.email).await;
        let before = outbox(&app).await.len();
        let outcome = ingest
            .take(&reply(
                &validator.email,
                &to_validator,
                "reply-2@vitrine.test",
                "Thanks, I will look at it on Tuesday.",
            ))
            .await
            .expect("taken");
        assert!(
            matches!(outcome, Outcome::Posted { recordings: 0, .. }),
            "{outcome:?}"
        );
        let thread = messages(&c.owner, &id).await;
        assert_eq!(
            thread.last().expect("a message")["body"],
            "Thanks, I will look at it on Tuesday."
        );
        assert_eq!(thread.last().expect("a message")["side"], "validator");
        let emails = outbox(&app).await;
        let told: Vec<&Value> = emails[before..]
            .iter()
            .filter(|e| e["to"].to_string().contains(&c.owner.email))
            .collect();
        assert_eq!(told.len(), 1, "{emails:#?}");
        let root = format!("<submission-{id}@localhost>");
        assert_eq!(told[0]["in_reply_to"], json!(root));
    })
    .await;
}

#[tokio::test]
async fn what_may_not_be_posted_is_refused_and_posts_nothing() {
    each_backend_with(with_replies, |app| async move {
        let c = cast(&app).await;
        let id = changes_requested(&app, &c).await;
        let address = reply_address_to(&app, &c.member.email).await;
        let ingest = ingest_for(&app).await;
        let before = messages(&c.member, &id).await.len();
        let malformed = address.replace("reply+", "reply+a");
        let never_issued = ReplyPattern::parse(PATTERN).expect("pattern").address_for(
            &vitrine_inbound::reply_address::ReplyKey::from_bytes([7; 32]),
        );
        let cases: Vec<(&str, Vec<u8>, Reason)> = vec![
            (
                "a forged From",
                reply("mallory@evil.test", &address, "f-1@evil.test", "Approve me"),
                Reason::ForgedSender,
            ),
            (
                "the owner using the member's address",
                reply(
                    &c.owner.email,
                    &address,
                    "f-2@p.test",
                    "From the wrong person",
                ),
                Reason::ForgedSender,
            ),
            (
                "an address we never issued",
                reply(&c.member.email, &never_issued, "f-3@p.test", "Hello"),
                Reason::UnknownKey,
            ),
            (
                "a damaged reply address",
                reply(&c.member.email, &malformed, "f-3b@p.test", "Hello"),
                Reason::NoReplyKey,
            ),
            (
                "no reply address at all",
                reply(
                    &c.member.email,
                    "someone@in.vitrine.test",
                    "f-4@p.test",
                    "Hello",
                ),
                Reason::NoReplyKey,
            ),
            (
                "nothing new above the quote",
                reply(&c.member.email, &address, "f-5@p.test", ""),
                Reason::EmptyReply,
            ),
            (
                "a vacation responder",
                {
                    let mut raw = b"Auto-Submitted: auto-replied\r\n".to_vec();
                    raw.extend(reply(&c.member.email, &address, "f-6@p.test", "I am away"));
                    raw
                },
                Reason::AutoReply,
            ),
            ("not an email", b"\r\n\r\n".to_vec(), Reason::Unreadable),
        ];
        for (case, raw, reason) in cases {
            let outcome = ingest.take(&raw).await.expect("taken");
            assert_eq!(outcome, Outcome::Refused(reason), "{case}");
        }
        assert_eq!(
            messages(&c.member, &id).await.len(),
            before,
            "nothing was posted"
        );
        // Revoked (the member left, say): the address no longer admits their reply.
        let revoked = app
            .store
            .revoke_reply_keys(
                c.member.id,
                Some(id.parse().expect("id")),
                server_now(&app).await,
                &[],
            )
            .await
            .expect("revoked");
        assert!(revoked >= 1, "the member's keys were live");
        let outcome = ingest
            .take(&reply(
                &c.member.email,
                &address,
                "f-7@p.test",
                "Still here?",
            ))
            .await
            .expect("taken");
        assert_eq!(outcome, Outcome::Refused(Reason::RevokedKey));
        assert_eq!(messages(&c.member, &id).await.len(), before);
        let log = app.store.inbound_emails(None, 100).await.expect("log");
        assert_eq!(log.len(), 9, "every refusal is logged once: {log:#?}");
        assert!(
            log.iter()
                .any(|(_, e)| e.reason.as_deref() == Some("forged-sender")
                    && e.sender == "mallory@evil.test")
        );
    })
    .await;
}

#[tokio::test]
async fn a_bounce_marks_the_address_and_is_never_answered() {
    each_backend_with(with_replies, |app| async move {
        let ingest = ingest_for(&app).await;
        let dsn = "From: MAILER-DAEMON@mx.p.test\r\nTo: vitrine@localhost\r\n\
            Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-1@mx.p.test>\r\n\
            MIME-Version: 1.0\r\n\
            Content-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\r\n\r\n\
            --r\r\nContent-Type: text/plain\r\n\r\nI could not deliver your message.\r\n\
            --r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.p.test\r\n\r\n\
            Final-Recipient: rfc822; gone@p.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\
            Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n--r--\r\n";
        let outcome = ingest.take(dsn.as_bytes()).await.expect("taken");
        assert_eq!(outcome, Outcome::Refused(Reason::Bounce));
        let bouncing = app.store.bouncing("Gone@p.test").await.expect("read");
        assert_eq!(
            bouncing.map(|b| b.report),
            Some("dsn-1@mx.p.test".to_owned())
        );

        // Admins see it, in the bouncing list and the inbound log, and clear it once fixed.
        let listed = app.admin.get("/api/v1/bouncing").await.expect_status(200).json();
        assert_eq!(listed[0]["email"], "gone@p.test", "{listed}");
        assert_eq!(listed[0]["report"], "dsn-1@mx.p.test");
        let log = app.admin.get("/api/v1/inbound").await.expect_status(200).json();
        assert_eq!(log["items"][0]["outcome"], "refused", "{log}");
        assert_eq!(log["items"][0]["reason"], "bounce");
        assert_eq!(log["items"][0]["sender"], "MAILER-DAEMON@mx.p.test");
        let someone = app.user("someone@p.test").await;
        someone.client.get("/api/v1/bouncing").await.problem(403, "forbidden");
        someone.client.get("/api/v1/inbound").await.problem(403, "forbidden");
        app.admin
            .delete("/api/v1/bouncing/gone@p.test")
            .await
            .expect_status(204);
        assert!(app.store.bouncing("gone@p.test").await.expect("read").is_none());
        app.admin
            .delete("/api/v1/bouncing/gone@p.test")
            .await
            .expect_status(404);
    })
    .await;
}

/// The whole way a reply travels: sent over SMTP (aiosmtpd) into a Dovecot mailbox, polled
/// over IMAP, taken, then moved out of the inbox; a refused one is moved too, and the same
/// message delivered twice posts once.
#[tokio::test]
async fn replies_come_through_a_real_mailbox() {
    use vitrine_mailbox::testing::{Dovecot, SmtpSink};
    let Some(dovecot) = Dovecot::start_or_skip("replies_come_through_a_real_mailbox") else {
        return;
    };
    let Some(smtp) = SmtpSink::start_or_skip(
        "replies_come_through_a_real_mailbox",
        &dovecot,
        Dovecot::USER,
    )
    .await
    else {
        return;
    };
    let dovecot = &dovecot;
    let smtp = &smtp;
    each_backend_with(with_replies, |app| async move {
        use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor, address::Envelope};
        let c = cast(&app).await;
        let id = changes_requested(&app, &c).await;
        let address = reply_address_to(&app, &c.member.email).await;
        let ingest = ingest_for(&app).await;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(smtp.port())
            .build();
        let envelope = Envelope::new(
            Some(c.member.email.parse().expect("address")),
            vec![address.parse().expect("address")],
        )
        .expect("envelope");
        let message_id = format!("imap-{}@mail.p.test", app.backend);
        let raw = reply_with_recording(
            &c.member.email,
            &address,
            &message_id,
            "The demo now shows provisioning.",
        );
        transport
            .send_raw(&envelope, &raw)
            .await
            .expect("SMTP delivery");
        let forged = reply(
            "mallory@evil.test",
            &address,
            &format!("forged-{message_id}"),
            "Approve",
        );
        transport
            .send_raw(&envelope, &forged)
            .await
            .expect("SMTP delivery");

        let mut handler = vitrine_server::IngestHandler(ingest);
        let report = vitrine_mailbox::poll_once(&dovecot.settings(), &mut handler)
            .await
            .expect("poll");
        assert_eq!(
            (report.stored, report.refused, report.retried),
            (1, 1, 0),
            "{report:?}"
        );
        assert_eq!(
            dovecot.count(Dovecot::USER, "INBOX").await,
            0,
            "both were moved"
        );
        let log = vitrine_store::InboundStore::inbound_emails(app.store.as_ref(), None, 10)
            .await
            .expect("log");
        let thread = messages(&c.member, &id).await;
        assert!(!thread.is_empty(), "{log:#?}");
        assert_eq!(
            thread.last().expect("a message")["body"],
            "The demo now shows provisioning."
        );

        // Delivered a second time (an MTA retry): taken as a duplicate, posts nothing.
        dovecot.append(Dovecot::USER, "INBOX", &raw).await;
        let report = vitrine_mailbox::poll_once(&dovecot.settings(), &mut handler)
            .await
            .expect("poll");
        assert_eq!(report.stored, 1, "{report:?}");
        assert_eq!(messages(&c.member, &id).await.len(), thread.len());
    })
    .await;
}

/// A reply too large to hold in memory (above the poller's `spool_above`) is fetched in
/// pieces into a file, its recording decoded from the file into the recording store: the
/// recording is whole, with its checksum, and reading the message again changes nothing.
#[tokio::test]
async fn a_large_reply_is_spooled_and_its_recording_stored_whole() {
    use vitrine_mailbox::testing::Dovecot;
    let Some(dovecot) = Dovecot::start_or_skip("a_large_reply_is_spooled") else {
        return;
    };
    let dovecot = &dovecot;
    each_backend_with(with_replies, |app| async move {
        let c = cast(&app).await;
        let id = changes_requested(&app, &c).await;
        let address = reply_address_to(&app, &c.member.email).await;
        let clip = long_clip(3 * 1024 * 1024 + 17);
        let message_id = format!("spooled-{}@mail.p.test", app.backend);
        let raw = reply_with_clip(
            &c.member.email,
            &address,
            &message_id,
            "The long demo, with provisioning.",
            &clip,
        );
        dovecot.append(Dovecot::USER, "INBOX", &raw).await;
        let spool_dir = tempfile::tempdir().expect("spool dir");
        let mut settings = dovecot.settings();
        settings.spool_above = 256 * 1024;
        settings.spool_dir = Some(spool_dir.path().to_owned());
        let mut handler = vitrine_server::IngestHandler(ingest_for(&app).await);
        let report = vitrine_mailbox::poll_once(&settings, &mut handler)
            .await
            .expect("poll");
        assert_eq!((report.stored, report.retried), (1, 0), "{report:?}");
        let thread = messages(&c.member, &id).await;
        assert_eq!(
            thread.last().expect("a message")["body"],
            "The long demo, with provisioning."
        );
        let recordings = c
            .member
            .client
            .get(&format!("/api/v1/submissions/{id}/recordings"))
            .await
            .expect_status(200)
            .json();
        let emailed = recordings
            .as_array()
            .expect("recordings")
            .iter()
            .find(|r| r["file_name"] == "demo-v2.mp4")
            .unwrap_or_else(|| panic!("the emailed recording is listed: {recordings}"))
            .clone();
        use sha2::Digest;
        let digest: String = sha2::Sha256::digest(&clip)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(emailed["sha256"], json!(digest), "{emailed}");
        // The bytes served are the bytes sent.
        let served = c
            .member
            .client
            .get(&format!(
                "/api/v1/recordings/{}",
                emailed["id"].as_str().expect("id")
            ))
            .await
            .expect_status(200);
        assert!(served.body == clip, "{} bytes served", served.body.len());
        assert_eq!(std::fs::read_dir(spool_dir.path()).expect("dir").count(), 0);

        // Delivered again: a duplicate, nothing posted twice.
        dovecot.append(Dovecot::USER, "INBOX", &raw).await;
        let report = vitrine_mailbox::poll_once(&settings, &mut handler)
            .await
            .expect("poll");
        assert_eq!(report.stored, 1, "{report:?}");
        assert_eq!(messages(&c.member, &id).await.len(), thread.len());
    })
    .await;
}

#[tokio::test]
async fn without_a_reply_address_emails_carry_none() {
    each_backend_with(crate::go_live::rehearsal, |app| async move {
        let c = cast(&app).await;
        changes_requested(&app, &c).await;
        let emails = outbox(&app).await;
        let to_member: Vec<&Value> = emails
            .iter()
            .filter(|e| e["to"].to_string().contains(&c.member.email))
            .collect();
        assert!(!to_member.is_empty(), "the member was emailed");
        for email in to_member {
            assert_eq!(email["reply_to"], Value::Null, "{email}");
        }
    })
    .await;
}

/// The answers to refused emails written since `from` (an outbox length), to `address`.
async fn answers_since(app: &TestApp, from: usize, address: &str) -> Vec<Value> {
    outbox(app).await[from..]
        .iter()
        .filter(|e| e["to"].to_string().contains(address))
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_refused_sender_is_answered_once_an_hour_in_their_language() {
    each_backend_with(with_replies, |app| async move {
        let c = cast(&app).await;
        let id = changes_requested(&app, &c).await;
        let address = reply_address_to(&app, &c.member.email).await;
        let owners = reply_address_to(&app, &c.owner.email).await;
        let ingest = ingest_for(&app).await;
        let before = outbox(&app).await.len();

        // The owner (who reads French) writes to an address that is none of ours.
        let outcome = ingest
            .take(&reply(
                &c.owner.email,
                "someone@in.vitrine.test",
                "a-1@p.test",
                "Bonjour",
            ))
            .await
            .expect("taken");
        assert_eq!(outcome, Outcome::Refused(Reason::NoReplyKey));
        let answers = answers_since(&app, before, &c.owner.email).await;
        assert_eq!(answers.len(), 1, "one answer: {answers:#?}");
        let answer = &answers[0];
        assert_eq!(
            answer["subject"],
            "Votre e-mail à vitrine n'a pas été publié"
        );
        let text = answer["text"].as_str().expect("text");
        assert!(text.starts_with("Bonjour Olga,"), "{text}");
        assert!(
            text.contains("ne reçoit pas de messages de votre part"),
            "{text}"
        );
        assert_eq!(answer["in_reply_to"], "<a-1@p.test>");
        assert_eq!(answer["auto_submitted"], "auto-replied");
        assert_eq!(answer["reply_to"], Value::Null, "an answer takes no reply");
        let log = app
            .admin
            .get("/api/v1/inbound")
            .await
            .expect_status(200)
            .json();
        assert_eq!(log["items"][0]["answered"], true, "{log}");

        // A second refusal within the hour (the same person, an empty reply): no answer.
        let at = before + 1;
        let outcome = ingest
            .take(&reply(&c.owner.email, &owners, "a-2@p.test", ""))
            .await
            .expect("taken");
        assert_eq!(outcome, Outcome::Refused(Reason::EmptyReply));
        assert!(answers_since(&app, at, &c.owner.email).await.is_empty());
        let log = app
            .admin
            .get("/api/v1/inbound")
            .await
            .expect_status(200)
            .json();
        assert_eq!(log["items"][0]["answered"], false, "{log}");

        // An automatic message is never answered, even from someone never answered before.
        let mut auto = b"Auto-Submitted: auto-replied\r\n".to_vec();
        auto.extend(reply(&c.member.email, &address, "a-3@p.test", "I am away"));
        assert_eq!(
            ingest.take(&auto).await.expect("taken"),
            Outcome::Refused(Reason::AutoReply)
        );
        // Nor are list mail and forgeries.
        let mut list = b"List-Id: <dev.lists.p.test>\r\n".to_vec();
        list.extend(reply(
            &c.member.email,
            "x@in.vitrine.test",
            "a-4@p.test",
            "Hi",
        ));
        assert_eq!(
            ingest.take(&list).await.expect("taken"),
            Outcome::Refused(Reason::AutoReply)
        );
        assert_eq!(
            ingest
                .take(&reply(
                    "mallory@evil.test",
                    &address,
                    "a-5@evil.test",
                    "Approve"
                ))
                .await
                .expect("taken"),
            Outcome::Refused(Reason::ForgedSender)
        );
        assert!(answers_since(&app, at, &c.member.email).await.is_empty());
        assert!(
            answers_since(&app, at, "mallory@evil.test")
                .await
                .is_empty()
        );

        // A stranger who writes French (their client's attribution line) is answered in
        // French, without a word on whether any address or submission exists; a bouncing
        // address is never answered.
        let stranger = reply_with_recording(
            "nobody@elsewhere.test",
            "reply+AAAA@in.vitrine.test",
            "a-6@elsewhere.test",
            "Voici la démo",
        );
        assert_eq!(
            ingest.take(&stranger).await.expect("taken"),
            Outcome::Refused(Reason::NoReplyKey)
        );
        let answers = answers_since(&app, at, "nobody@elsewhere.test").await;
        assert_eq!(answers.len(), 1, "{answers:#?}");
        let text = answers[0]["text"].as_str().expect("text");
        assert!(text.starts_with("Bonjour nobody@elsewhere.test,"), "{text}");
        assert!(!text.contains(&id) && !text.contains("demo-svc"), "{text}");
        app.store
            .mark_bouncing("gone@elsewhere.test", server_now(&app).await, "r@x", &[])
            .await
            .expect("marked");
        ingest
            .take(&reply(
                "gone@elsewhere.test",
                "x@in.vitrine.test",
                "a-7@e.test",
                "Hi",
            ))
            .await
            .expect("taken");
        assert!(
            answers_since(&app, at, "gone@elsewhere.test")
                .await
                .is_empty()
        );

        // An hour later the owner may be answered again; a closed thread says so, and
        // where to go.
        let later = server_now(&app).await + jiff::SignedDuration::from_mins(61);
        let at = outbox(&app).await.len();
        let outcome = ingest_at(&app, later)
            .take(&reply(&c.owner.email, &owners, "a-8@p.test", ""))
            .await
            .expect("taken");
        assert_eq!(outcome, Outcome::Refused(Reason::EmptyReply));
        let answers = answers_since(&app, at, &c.owner.email).await;
        assert_eq!(answers.len(), 1, "{answers:#?}");
        let text = answers[0]["text"].as_str().expect("text");
        assert!(text.contains("rien de nouveau"), "{text}");
        assert!(text.contains(&format!("/submissions/{id}")), "{text}");
    })
    .await;
}

#[tokio::test]
async fn a_member_who_left_the_account_can_no_longer_reply_by_email() {
    each_backend_with(with_replies, |app| async move {
        let c = cast(&app).await;
        let id = changes_requested(&app, &c).await;
        let address = reply_address_to(&app, &c.member.email).await;
        let owners = reply_address_to(&app, &c.owner.email).await;
        let before = messages(&c.owner, &id).await.len();
        c.owner
            .client
            .delete(&format!(
                "/api/v1/accounts/{}/members/{}",
                c.provider, c.member.id
            ))
            .await
            .expect_status(200);
        let ingest = ingest_for(&app).await;
        let outcome = ingest
            .take(&reply(
                &c.member.email,
                &address,
                "left-1@p.test",
                "One more thing",
            ))
            .await
            .expect("taken");
        assert_eq!(outcome, Outcome::Refused(Reason::RevokedKey));
        assert_eq!(
            messages(&c.owner, &id).await.len(),
            before,
            "nothing posted"
        );
        // The owner, still a member, still replies.
        let outcome = ingest
            .take(&reply(&c.owner.email, &owners, "left-2@p.test", "Merci"))
            .await
            .expect("taken");
        assert!(matches!(outcome, Outcome::Posted { .. }), "{outcome:?}");
    })
    .await;
}

#[tokio::test]
async fn only_the_trusted_server_s_authentication_results_count() {
    each_backend_with(with_replies, |app| async move {
        let c = cast(&app).await;
        let id = changes_requested(&app, &c).await;
        let address = reply_address_to(&app, &c.member.email).await;
        let mut ingest = ingest_for(&app).await;
        let mut settings = (*ingest.settings).clone();
        settings.trusted_authserv_id = Some("mx.in.vitrine.test".to_owned());
        ingest.settings = Arc::new(settings);
        let with_results = |results: &[&str], message_id: &str, text: &str| {
            let mut raw = Vec::new();
            for r in results {
                raw.extend(format!("Authentication-Results: {r}\r\n").into_bytes());
            }
            raw.extend(reply(&c.member.email, &address, message_id, text));
            raw
        };
        let before = messages(&c.member, &id).await.len();
        // Our server says DMARC failed; a header someone else wrote says it passed.
        let forged = with_results(
            &[
                "mx.in.vitrine.test; dmarc=fail header.from=p.test",
                "mx.elsewhere.test; dmarc=pass header.from=p.test",
            ],
            "auth-1@p.test",
            "Approve me",
        );
        assert_eq!(
            ingest.take(&forged).await.expect("taken"),
            Outcome::Refused(Reason::ForgedSender)
        );
        // No word from our server at all: not authenticated either.
        let unvouched = with_results(
            &["mx.elsewhere.test; dkim=pass header.d=p.test"],
            "auth-2@p.test",
            "Approve me too",
        );
        assert_eq!(
            ingest.take(&unvouched).await.expect("taken"),
            Outcome::Refused(Reason::ForgedSender)
        );
        assert_eq!(
            messages(&c.member, &id).await.len(),
            before,
            "nothing posted"
        );
        // Our server vouches; another's failure is ignored.
        let genuine = with_results(
            &[
                "mx.in.vitrine.test; dkim=pass header.d=p.test; dmarc=pass header.from=p.test",
                "mx.elsewhere.test; dmarc=fail header.from=p.test",
            ],
            "auth-3@p.test",
            "The real member",
        );
        assert!(matches!(
            ingest.take(&genuine).await.expect("taken"),
            Outcome::Posted { .. }
        ));
        let thread = messages(&c.member, &id).await;
        assert_eq!(thread.last().expect("a message")["body"], "The real member");
    })
    .await;
}
