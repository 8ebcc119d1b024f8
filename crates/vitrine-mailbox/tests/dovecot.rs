//! The poller against a real Dovecot (see `vitrine_mailbox::testing`): each test starts its
//! own server, says it skipped when Dovecot is missing, and fails instead with
//! `VITRINE_TEST_REQUIRE_DOVECOT=1`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use vitrine_mailbox::testing::{Dovecot, DovecotOptions, SmtpSink, sample_message, subject_of};
use vitrine_mailbox::{
    AfterHandling, Content, Fetched, Handled, MailboxError, Security, Step, poll_once, run,
};

/// Generous: a wait that ends as soon as the awaited thing happens.
const PATIENCE: Duration = Duration::from_secs(30);

fn message_id_of(message: &[u8]) -> String {
    let text = String::from_utf8_lossy(message);
    text.split("\r\n")
        .find_map(|line| line.strip_prefix("Message-ID: "))
        .expect("the sample messages have a Message-ID")
        .to_owned()
}

fn subject(fetched: &Fetched) -> String {
    let bytes = match &fetched.content {
        Content::Message(bytes) => bytes.clone(),
        Content::TooLarge { header } => header.clone(),
        Content::Spooled(spool) => spooled_bytes(spool),
    };
    subject_of(&bytes).expect("the sample messages have a Subject")
}

fn spooled_bytes(spool: &vitrine_mailbox::Spool) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let mut bytes = vec![0; usize::try_from(spool.len()).expect("fits")];
    spool
        .file()
        .read_exact_at(&mut bytes, 0)
        .expect("read the spool");
    bytes
}

#[tokio::test]
async fn appended_messages_are_each_handed_over_once_then_moved() {
    let Some(dovecot) = Dovecot::start_or_skip("appended_messages_are_each_handed_over_once")
    else {
        return;
    };
    let sent: Vec<Vec<u8>> = (1..=3)
        .map(|n| sample_message(n, &format!("m{n}")))
        .collect();
    dovecot
        .append_all(Dovecot::USER, "INBOX", sent.clone())
        .await;

    let mut seen = Vec::new();
    let report = poll_once(&dovecot.settings(), &mut |m: Fetched| {
        seen.push(m);
        async { Handled::Stored }
    })
    .await
    .expect("poll");
    assert_eq!(
        (report.found, report.stored, report.moved),
        (3, 3, 3),
        "{report:?}"
    );
    // Byte for byte what was appended, in order.
    let received: Vec<&[u8]> = seen.iter().filter_map(Fetched::message).collect();
    let expected: Vec<&[u8]> = sent.iter().map(Vec::as_slice).collect();
    assert_eq!(received, expected);
    assert!(
        seen.iter()
            .all(|m| m.size == m.message().map_or(0, |b| b.len() as u64))
    );
    assert_eq!(dovecot.count(Dovecot::USER, "INBOX").await, 0);
    assert_eq!(dovecot.count(Dovecot::USER, "Processed").await, 3);

    // Nothing is handed over twice.
    let again = poll_once(&dovecot.settings(), &mut |_m: Fetched| async {
        panic!("already handled")
    })
    .await
    .expect("second poll");
    assert_eq!(again.found, 0);
}

#[tokio::test]
async fn retry_leaves_the_message_for_the_next_poll() {
    let Some(dovecot) = Dovecot::start_or_skip("retry_leaves_the_message_for_the_next_poll") else {
        return;
    };
    dovecot
        .append_all(
            Dovecot::USER,
            "INBOX",
            [
                sample_message(1, "fine"),
                sample_message(2, "database down"),
            ],
        )
        .await;
    let report = poll_once(&dovecot.settings(), &mut |m: Fetched| {
        let answer = if subject(&m) == "database down" {
            Handled::Retry
        } else {
            Handled::Stored
        };
        async move { answer }
    })
    .await
    .expect("poll");
    assert_eq!(
        (report.stored, report.retried, report.moved),
        (1, 1, 1),
        "{report:?}"
    );
    assert_eq!(report.retry_uids.len(), 1);
    assert_eq!(dovecot.count(Dovecot::USER, "INBOX").await, 1);

    let mut subjects = Vec::new();
    let report = poll_once(&dovecot.settings(), &mut |m: Fetched| {
        subjects.push(subject(&m));
        async { Handled::Stored }
    })
    .await
    .expect("next poll");
    assert_eq!(subjects, ["database down"]);
    assert_eq!(report.moved, 1);
    assert_eq!(dovecot.count(Dovecot::USER, "INBOX").await, 0);
    assert_eq!(dovecot.count(Dovecot::USER, "Processed").await, 2);
}

#[tokio::test]
async fn with_mark_seen_a_retried_message_is_not_marked_seen_by_the_fetch() {
    let Some(dovecot) = Dovecot::start_or_skip("with_mark_seen_a_retried_message_is_not_seen")
    else {
        return;
    };
    dovecot
        .append(Dovecot::USER, "INBOX", &sample_message(1, "peek"))
        .await;
    let mut settings = dovecot.settings();
    settings.after_handling = AfterHandling::MarkSeen;
    let first = poll_once(&settings, &mut |_m: Fetched| async { Handled::Retry })
        .await
        .expect("poll");
    assert_eq!(first.retried, 1);
    // BODY.PEEK[] left it unseen: it is still waiting.
    let second = poll_once(&settings, &mut |_m: Fetched| async { Handled::Stored })
        .await
        .expect("poll");
    assert_eq!((second.found, second.stored), (1, 1));
    // Marked seen now, and left in place.
    let third = poll_once(&settings, &mut |_m: Fetched| async {
        panic!("seen already")
    })
    .await
    .expect("poll");
    assert_eq!(third.found, 0);
    assert_eq!(dovecot.count(Dovecot::USER, "INBOX").await, 1);
}

#[tokio::test]
async fn a_refused_message_is_moved_too() {
    let Some(dovecot) = Dovecot::start_or_skip("a_refused_message_is_moved_too") else {
        return;
    };
    dovecot
        .append(Dovecot::USER, "INBOX", &sample_message(1, "spam"))
        .await;
    let report = poll_once(&dovecot.settings(), &mut |_m: Fetched| async {
        Handled::Refused
    })
    .await
    .expect("poll");
    assert_eq!((report.refused, report.moved), (1, 1));
    assert_eq!(dovecot.count(Dovecot::USER, "INBOX").await, 0);
    assert_eq!(dovecot.count(Dovecot::USER, "Processed").await, 1);
}

#[tokio::test]
async fn delete_removes_handled_messages_from_the_server() {
    let Some(dovecot) = Dovecot::start_or_skip("delete_removes_handled_messages") else {
        return;
    };
    dovecot
        .append_all(
            Dovecot::USER,
            "INBOX",
            [sample_message(1, "keep"), sample_message(2, "gone")],
        )
        .await;
    let mut settings = dovecot.settings();
    settings.after_handling = AfterHandling::Delete;
    let report = poll_once(&settings, &mut |m: Fetched| {
        let answer = if subject(&m) == "keep" {
            Handled::Retry
        } else {
            Handled::Stored
        };
        async move { answer }
    })
    .await
    .expect("poll");
    assert_eq!(report.moved, 1);
    assert_eq!(dovecot.count(Dovecot::USER, "INBOX").await, 1);
    assert_eq!(dovecot.count(Dovecot::USER, "Processed").await, 0);
}

#[tokio::test]
async fn a_crash_before_the_move_hands_the_message_over_again() {
    let Some(dovecot) = Dovecot::start_or_skip("a_crash_before_the_move_hands_it_over_again")
    else {
        return;
    };
    let message = sample_message(1, "stored, then the power went out");
    dovecot.append(Dovecot::USER, "INBOX", &message).await;

    // The handler stores the message, then the process "dies" before the poller moves it:
    // the poll's future is dropped while the handler is still running.
    let (stored_tx, stored_rx) = oneshot::channel::<String>();
    let mut stored_tx = Some(stored_tx);
    let settings = dovecot.settings();
    let crashed = async {
        poll_once(&settings, &mut |m: Fetched| {
            if let Some(tx) = stored_tx.take() {
                let _ = tx.send(message_id_of(m.message().expect("small")));
            }
            std::future::pending::<Handled>()
        })
        .await
    };
    tokio::select! {
        result = crashed => panic!("the poll cannot finish: {result:?}"),
        stored = stored_rx => assert_eq!(stored.expect("stored"), message_id_of(&message)),
    }
    assert_eq!(dovecot.count(Dovecot::USER, "INBOX").await, 1);

    // Restarted: the same message again (the caller deduplicates by Message-ID).
    let mut ids = Vec::new();
    let report = poll_once(&settings, &mut |m: Fetched| {
        ids.push(message_id_of(m.message().expect("small")));
        async { Handled::Stored }
    })
    .await
    .expect("poll after the restart");
    assert_eq!(ids, [message_id_of(&message)]);
    assert_eq!(report.moved, 1);
    assert_eq!(dovecot.count(Dovecot::USER, "INBOX").await, 0);
}

#[tokio::test]
async fn idle_wakes_the_poller_on_new_mail_and_shutdown_stops_it() {
    let Some(dovecot) = Dovecot::start_or_skip("idle_wakes_the_poller_on_new_mail") else {
        return;
    };
    let mut settings = dovecot.settings();
    // Only IDLE can bring the second message in time: no polling, no IDLE refresh.
    settings.poll_every = Duration::from_secs(3600);
    settings.idle_refresh = Duration::from_secs(3600);
    dovecot
        .append(Dovecot::USER, "INBOX", &sample_message(1, "before start"))
        .await;

    let (seen_tx, mut seen_rx) = mpsc::channel::<String>(16);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    // Spawned: the poller's future is Send.
    let poller = tokio::spawn(async move {
        let mut handler = move |m: Fetched| {
            let seen_tx = seen_tx.clone();
            async move {
                let _ = seen_tx.send(subject(&m)).await;
                Handled::Stored
            }
        };
        run(&settings, &mut handler, async {
            let _ = stop_rx.await;
        })
        .await
    });
    let first = tokio::time::timeout(PATIENCE, seen_rx.recv()).await;
    assert_eq!(
        first.expect("first poll in time").as_deref(),
        Some("before start")
    );

    dovecot
        .append(Dovecot::USER, "INBOX", &sample_message(2, "while idle"))
        .await;
    let second = tokio::time::timeout(PATIENCE, seen_rx.recv()).await;
    assert_eq!(
        second
            .unwrap_or_else(|_| panic!("IDLE did not wake the poller\n{}", dovecot.log()))
            .as_deref(),
        Some("while idle")
    );

    let _ = stop_tx.send(());
    let stopped = tokio::time::timeout(PATIENCE, poller).await;
    stopped
        .expect("stops in time")
        .expect("no panic")
        .expect("run ends without error");
    assert_eq!(dovecot.count(Dovecot::USER, "Processed").await, 2);
}

#[tokio::test]
async fn run_reconnects_after_the_server_went_away() {
    let Some(first) = Dovecot::start_or_skip("run_reconnects_after_the_server_went_away") else {
        return;
    };
    let port = first.port();
    let mut settings = first.settings();
    settings.poll_every = Duration::from_secs(3600);
    settings.idle_refresh = Duration::from_secs(3600);
    let (seen_tx, mut seen_rx) = mpsc::channel::<String>(16);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let poller = tokio::spawn(async move {
        let mut handler = move |m: Fetched| {
            let seen_tx = seen_tx.clone();
            async move {
                let _ = seen_tx.send(subject(&m)).await;
                Handled::Stored
            }
        };
        run(&settings, &mut handler, async {
            let _ = stop_rx.await;
        })
        .await
    });
    first
        .append(Dovecot::USER, "INBOX", &sample_message(1, "first server"))
        .await;
    let seen = tokio::time::timeout(PATIENCE, seen_rx.recv()).await;
    assert_eq!(seen.expect("in time").as_deref(), Some("first server"));

    // The server goes away while the poller is in IDLE, and comes back on the same port.
    drop(first);
    let options = DovecotOptions {
        port: Some(port),
        ..DovecotOptions::default()
    };
    let Some(second) = Dovecot::start_with("run_reconnects_after_the_server_went_away", options)
    else {
        return;
    };
    second
        .append(Dovecot::USER, "INBOX", &sample_message(2, "second server"))
        .await;
    let seen = tokio::time::timeout(PATIENCE, seen_rx.recv()).await;
    assert_eq!(
        seen.unwrap_or_else(|_| panic!("not reconnected\n{}", second.log()))
            .as_deref(),
        Some("second server")
    );
    let _ = stop_tx.send(());
    tokio::time::timeout(PATIENCE, poller)
        .await
        .expect("stops in time")
        .expect("no panic")
        .expect("no error");
}

#[tokio::test]
async fn without_idle_and_move_the_poller_polls_and_copies() {
    let options = DovecotOptions {
        capability: Some("IMAP4rev1 LITERAL+ UIDPLUS".to_owned()),
        ..DovecotOptions::default()
    };
    let Some(dovecot) = Dovecot::start_with("without_idle_and_move_the_poller_polls", options)
    else {
        return;
    };
    let mut settings = dovecot.settings();
    settings.poll_every = Duration::from_millis(200);
    settings.idle_refresh = Duration::from_secs(3600);
    let (seen_tx, mut seen_rx) = mpsc::channel::<String>(16);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let poller = tokio::spawn(async move {
        let mut handler = move |m: Fetched| {
            let seen_tx = seen_tx.clone();
            async move {
                let _ = seen_tx.send(subject(&m)).await;
                Handled::Stored
            }
        };
        run(&settings, &mut handler, async {
            let _ = stop_rx.await;
        })
        .await
    });
    for n in 1..=2 {
        dovecot
            .append(
                Dovecot::USER,
                "INBOX",
                &sample_message(n, &format!("polled {n}")),
            )
            .await;
        let seen = tokio::time::timeout(PATIENCE, seen_rx.recv()).await;
        assert_eq!(
            seen.expect("polled in time").as_deref(),
            Some(format!("polled {n}").as_str())
        );
    }
    let _ = stop_tx.send(());
    tokio::time::timeout(PATIENCE, poller)
        .await
        .expect("stops in time")
        .expect("no panic")
        .expect("no error");
    assert_eq!(dovecot.count(Dovecot::USER, "INBOX").await, 0);
    assert_eq!(dovecot.count(Dovecot::USER, "Processed").await, 2);
}

#[tokio::test]
async fn without_uidplus_the_copy_is_followed_by_a_plain_expunge() {
    let options = DovecotOptions {
        capability: Some("IMAP4rev1 LITERAL+".to_owned()),
        ..DovecotOptions::default()
    };
    let Some(dovecot) = Dovecot::start_with("without_uidplus_a_plain_expunge", options) else {
        return;
    };
    dovecot
        .append_all(
            Dovecot::USER,
            "INBOX",
            (1..=4).map(|n| sample_message(n, &format!("n{n}"))),
        )
        .await;
    let report = poll_once(&dovecot.settings(), &mut |m: Fetched| {
        let answer = if subject(&m) == "n3" {
            Handled::Retry
        } else {
            Handled::Stored
        };
        async move { answer }
    })
    .await
    .expect("poll");
    assert_eq!(report.moved, 3);
    assert_eq!(dovecot.count(Dovecot::USER, "INBOX").await, 1);
    assert_eq!(dovecot.count(Dovecot::USER, "Processed").await, 3);
}

#[tokio::test]
async fn a_wrong_password_is_a_clear_error_naming_the_user() {
    let Some(dovecot) = Dovecot::start_or_skip("a_wrong_password_is_a_clear_error") else {
        return;
    };
    let settings = dovecot.settings_for(Dovecot::USER, "not the password");
    let error = poll_once(&settings, &mut |_m: Fetched| async { Handled::Stored })
        .await
        .expect_err("refused");
    assert!(
        matches!(&error, MailboxError::LoginRefused { user, .. } if user == Dovecot::USER),
        "{error:?}"
    );
    assert!(!error.retry_helps());
    let text = error.to_string();
    assert!(
        text.contains("refused the login of user \"vitrine\""),
        "{text}"
    );
    assert!(
        text.contains(&format!("127.0.0.1:{}", dovecot.port())),
        "{text}"
    );
    assert!(text.contains("Authentication failed"), "{text}");
}

#[tokio::test]
async fn a_missing_mailbox_is_named() {
    let Some(dovecot) = Dovecot::start_or_skip("a_missing_mailbox_is_named") else {
        return;
    };
    let mut settings = dovecot.settings();
    settings.mailbox = "Nowhere".to_owned();
    let error = poll_once(&settings, &mut |_m: Fetched| async { Handled::Stored })
        .await
        .expect_err("no such mailbox");
    assert!(
        matches!(error, MailboxError::NoSuchMailbox { .. }),
        "{error:?}"
    );
    assert_eq!(error.step(), Some(Step::Select));
    let text = error.to_string();
    assert!(text.contains("cannot open mailbox \"Nowhere\""), "{text}");
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error_naming_the_server() {
    let mut settings = vitrine_mailbox::ImapSettings::new("127.0.0.1", "u", "p");
    settings.security = Security::Plain;
    settings.port = vitrine_mailbox::testing::free_port();
    let error = poll_once(&settings, &mut |_m: Fetched| async { Handled::Stored })
        .await
        .expect_err("nothing listens");
    assert_eq!(error.step(), Some(Step::Connect), "{error:?}");
    assert!(error.retry_helps());
    assert!(error.to_string().contains(&settings.server()), "{error}");
}

#[tokio::test]
async fn plain_text_is_refused_to_a_remote_address_before_connecting() {
    // A documentation address (TEST-NET-1): refused before any packet is sent.
    let mut settings = vitrine_mailbox::ImapSettings::new("192.0.2.1", "u", "p");
    settings.security = Security::Plain;
    settings.port = 143;
    let error = poll_once(&settings, &mut |_m: Fetched| async { Handled::Stored })
        .await
        .expect_err("refused");
    assert!(
        matches!(error, MailboxError::PlainTextRefused { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("use TLS or STARTTLS"), "{error}");
}

#[tokio::test]
async fn an_oversized_message_is_reported_with_its_header_only() {
    let Some(dovecot) = Dovecot::start_or_skip("an_oversized_message_is_reported") else {
        return;
    };
    let mut big = sample_message(1, "a huge recording");
    big.extend(std::iter::repeat_n(b'x', 20_000));
    big.extend_from_slice(b"\r\n");
    dovecot
        .append_all(
            Dovecot::USER,
            "INBOX",
            [big.clone(), sample_message(2, "small")],
        )
        .await;
    let mut settings = dovecot.settings();
    settings.max_message_bytes = 10_000;
    let mut seen = Vec::new();
    let report = poll_once(&settings, &mut |m: Fetched| {
        let answer = if m.message().is_some() {
            Handled::Stored
        } else {
            Handled::Refused
        };
        seen.push(m);
        async move { answer }
    })
    .await
    .expect("poll");
    assert_eq!(
        (
            report.too_large,
            report.stored,
            report.refused,
            report.moved
        ),
        (1, 1, 1, 2)
    );
    let large = seen
        .iter()
        .find(|m| matches!(m.content, Content::TooLarge { .. }))
        .expect("reported");
    assert_eq!(large.size, big.len() as u64);
    let Content::TooLarge { header } = &large.content else {
        unreachable!()
    };
    assert!(
        header.len() < 1_000,
        "only the header: {} bytes",
        header.len()
    );
    assert_eq!(subject_of(header).as_deref(), Some("a huge recording"));
    assert!(header.ends_with(b"\r\n\r\n"));
    assert_eq!(dovecot.count(Dovecot::USER, "INBOX").await, 0);
}

#[tokio::test]
async fn five_hundred_messages_are_each_handled_once() {
    let Some(dovecot) = Dovecot::start_or_skip("five_hundred_messages_are_each_handled_once")
    else {
        return;
    };
    let sent: Vec<Vec<u8>> = (1..=500)
        .map(|n| sample_message(n, &format!("bulk {n}")))
        .collect();
    let expected: HashSet<String> = sent.iter().map(|m| message_id_of(m)).collect();
    dovecot.append_all(Dovecot::USER, "INBOX", sent).await;
    let mut settings = dovecot.settings();
    settings.batch = 64;
    let mut times: HashMap<String, usize> = HashMap::new();
    let report = poll_once(&settings, &mut |m: Fetched| {
        *times
            .entry(message_id_of(m.message().expect("small")))
            .or_default() += 1;
        async { Handled::Stored }
    })
    .await
    .expect("poll");
    assert_eq!((report.found, report.stored, report.moved), (500, 500, 500));
    assert!(times.values().all(|&n| n == 1), "some handed over twice");
    assert_eq!(times.keys().cloned().collect::<HashSet<_>>(), expected);
    assert_eq!(dovecot.count(Dovecot::USER, "INBOX").await, 0);
    assert_eq!(dovecot.count(Dovecot::USER, "Processed").await, 500);
}

#[tokio::test]
async fn tls_and_starttls_check_the_certificate() {
    let options = DovecotOptions {
        tls: true,
        ..DovecotOptions::default()
    };
    let Some(dovecot) = Dovecot::start_with("tls_and_starttls_check_the_certificate", options)
    else {
        return;
    };
    let ca = dovecot.ca_pem().expect("a CA").to_owned();
    dovecot
        .append_all(
            Dovecot::USER,
            "INBOX",
            [
                sample_message(1, "over TLS"),
                sample_message(2, "over STARTTLS"),
            ],
        )
        .await;

    let mut tls = dovecot.settings();
    tls.security = Security::Tls;
    tls.port = dovecot.tls_port().expect("an IMAPS port");
    tls.host = "localhost".to_owned();

    // Unknown CA: refused at the handshake, naming the server.
    let error = poll_once(&tls, &mut |_m: Fetched| async { Handled::Stored })
        .await
        .expect_err("untrusted certificate");
    assert_eq!(error.step(), Some(Step::TlsHandshake), "{error:?}");
    assert!(error.to_string().contains(&tls.server()), "{error}");

    tls.extra_root_certificates = Some(ca.clone());
    let mut subjects = Vec::new();
    let report = poll_once(&tls, &mut |m: Fetched| {
        let answer = if subject(&m) == "over TLS" {
            Handled::Stored
        } else {
            Handled::Retry
        };
        subjects.push(subject(&m));
        async move { answer }
    })
    .await
    .expect("poll over TLS");
    assert_eq!(report.stored, 1, "{subjects:?}");

    let mut starttls = dovecot.settings();
    starttls.security = Security::StartTls;
    starttls.extra_root_certificates = Some(ca);
    let report = poll_once(&starttls, &mut |_m: Fetched| async { Handled::Stored })
        .await
        .expect("poll over STARTTLS");
    assert_eq!(report.stored, 1);

    // A server without STARTTLS is refused, not talked to in the clear.
    let Some(plain) = Dovecot::start_or_skip("tls_and_starttls_check_the_certificate") else {
        return;
    };
    let mut refused = plain.settings();
    refused.security = Security::StartTls;
    let error = poll_once(&refused, &mut |_m: Fetched| async { Handled::Stored })
        .await
        .expect_err("no STARTTLS");
    assert!(
        matches!(error, MailboxError::NoStartTls { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_message_sent_over_smtp_reaches_the_handler() {
    let Some(dovecot) = Dovecot::start_or_skip("a_message_sent_over_smtp_reaches_the_handler")
    else {
        return;
    };
    let Some(smtp) =
        SmtpSink::start_or_skip("a_message_sent_over_smtp", &dovecot, Dovecot::USER).await
    else {
        return;
    };
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor, address::Envelope};
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(smtp.port())
        .build();
    let envelope = Envelope::new(
        Some("provider@example.org".parse().expect("address")),
        vec!["reply+abc@inbound.example.org".parse().expect("address")],
    )
    .expect("envelope");
    let message = sample_message(1, "through SMTP");
    transport
        .send_raw(&envelope, &message)
        .await
        .expect("SMTP delivery");

    let mut seen = Vec::new();
    let report = poll_once(&dovecot.settings(), &mut |m: Fetched| {
        seen.push(m);
        async { Handled::Stored }
    })
    .await
    .expect("poll");
    assert_eq!(report.stored, 1);
    let received = String::from_utf8_lossy(seen[0].message().expect("small")).into_owned();
    assert!(
        received.starts_with("Return-Path: <provider@example.org>\r\n"),
        "{received}"
    );
    assert!(
        received.contains("Delivered-To: reply+abc@inbound.example.org\r\n"),
        "{received}"
    );
    assert!(received.contains(&message_id_of(&message)), "{received}");
    // (lettre ends the DATA with one more line break than the message has.)
    assert!(
        received.contains("\r\n\r\nMessage number 1.\r\n"),
        "{received}"
    );
}

#[tokio::test]
async fn large_messages_are_spooled_in_pieces_to_a_file() {
    let Some(dovecot) = Dovecot::start_or_skip("large_messages_are_spooled_in_pieces_to_a_file")
    else {
        return;
    };
    // 2.5 pieces of body, and one exactly a piece long.
    let mut big = sample_message(1, "a big recording");
    while big.len() < 5 * 1024 * 1024 / 2 {
        big.extend_from_slice(
            b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n",
        );
    }
    let mut exact = sample_message(2, "exactly a piece");
    let filler = vitrine_mailbox::SPOOL_PIECE_BYTES as usize - exact.len();
    exact.extend(std::iter::repeat_n(b'B', filler - 2));
    exact.extend_from_slice(b"\r\n");
    assert_eq!(exact.len() as u64, vitrine_mailbox::SPOOL_PIECE_BYTES);
    let small = sample_message(3, "small");
    dovecot
        .append_all(
            Dovecot::USER,
            "INBOX",
            [big.clone(), exact.clone(), small.clone()],
        )
        .await;
    let spool_dir = tempfile::tempdir().expect("spool dir");
    let mut settings = dovecot.settings();
    settings.max_message_bytes = 10 * 1024 * 1024;
    settings.spool_above = 64 * 1024;
    settings.spool_dir = Some(spool_dir.path().to_owned());
    let mut seen: Vec<(String, Vec<u8>, bool)> = Vec::new();
    let report = poll_once(&settings, &mut |m: Fetched| {
        let spooled = matches!(m.content, Content::Spooled(_));
        let bytes = match &m.content {
            Content::Message(bytes) => bytes.clone(),
            Content::Spooled(spool) => spooled_bytes(spool),
            Content::TooLarge { .. } => Vec::new(),
        };
        seen.push((subject(&m), bytes, spooled));
        async move { Handled::Stored }
    })
    .await
    .expect("poll");
    assert_eq!((report.stored, report.too_large, report.moved), (3, 0, 3));
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("a big recording".to_owned(), big, true),
            ("exactly a piece".to_owned(), exact, true),
            ("small".to_owned(), small, false),
        ]
    );
    // The spool files have no name: nothing is left behind.
    assert_eq!(std::fs::read_dir(spool_dir.path()).expect("dir").count(), 0);
}
