//! The transports against real receivers: a directory, and an SMTP server (mailin-embedded)
//! that the test starts on a loopback port.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Received, mailbox, parse, render_context, samples, submission_id};
use mailin_embedded::{Handler, Response, Server, SslConfig, response};
use std::net::{IpAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vitrine_domain::Language;
use vitrine_mail::*;

fn outgoing(kind: EmailKind, lang: Language, to: &[&str]) -> OutgoingEmail {
    let email = &samples(kind)[0];
    let rendered = render(email, lang, &render_context("Camille")).unwrap();
    OutgoingEmail::builder(
        mailbox("Example Cloud <noreply@mail.example.com>"),
        rendered,
    )
    .to_all(to.iter().map(|address| mailbox(address)))
    .thread(email.thread())
    .build()
    .unwrap()
}

fn scratch_directory(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vitrine-mail-{name}-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn file_transport_writes_one_parseable_eml_per_email() {
    let dir = scratch_directory("files");
    let outbox = dir.join("outbox");
    let transport = FileTransport::new(&outbox);
    let first = outgoing(
        EmailKind::SubmissionQueued,
        Language::Fr,
        &["camille@acme.example"],
    );
    let second = outgoing(EmailKind::Published, Language::En, &["paul@acme.example"]);
    transport.send(&first).await.unwrap();
    transport.send(&second).await.unwrap();
    // Sent again after a retry: the same file, not a second one.
    transport.send(&first).await.unwrap();

    let mut names: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|name| name.ends_with(".eml")), "{names:?}");

    let received = parse(&std::fs::read(transport.path_of(&first)).unwrap());
    assert_eq!(received.message_id, first.message_id);
    assert_eq!(received.subject, first.subject);
    assert_eq!(received.references, first.references);
    assert_eq!(received.to, ["camille@acme.example"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn file_transport_reports_an_unwritable_directory_as_transient() {
    let dir = scratch_directory("blocked");
    // A file where the directory should be: nothing can be written under it.
    let blocked = dir.join("not-a-directory");
    std::fs::write(&blocked, b"").unwrap();
    let transport = FileTransport::new(&blocked);
    let email = outgoing(EmailKind::Published, Language::En, &["paul@acme.example"]);
    let err = transport.send(&email).await.unwrap_err();
    assert!(!err.permanent, "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// What the SMTP server saw of one transaction.
#[derive(Clone, Debug, Default)]
struct Delivery {
    from: String,
    recipients: Vec<String>,
    data: Vec<u8>,
}

/// Records every delivery; refuses recipients at `refused.example` with 550.
#[derive(Clone, Default)]
struct Recorder {
    current: Delivery,
    delivered: Arc<Mutex<Vec<Delivery>>>,
    /// Greetings received: one per connection the client opened.
    greetings: Arc<std::sync::atomic::AtomicUsize>,
}

impl Handler for Recorder {
    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        self.greetings
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        response::OK
    }
    fn mail(&mut self, _ip: IpAddr, _domain: &str, from: &str) -> Response {
        self.current = Delivery {
            from: from.to_owned(),
            ..Delivery::default()
        };
        response::OK
    }
    fn rcpt(&mut self, to: &str) -> Response {
        if to.ends_with("@refused.example") {
            return response::NO_MAILBOX;
        }
        self.current.recipients.push(to.to_owned());
        response::OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.data.extend_from_slice(buf);
        Ok(())
    }
    fn data_end(&mut self) -> Response {
        self.delivered.lock().unwrap().push(self.current.clone());
        response::OK
    }
}

/// Starts a real SMTP server on a free loopback port. It runs on its own thread until the
/// test process ends.
fn start_smtp_server() -> (u16, Arc<Mutex<Vec<Delivery>>>) {
    let (port, delivered, _) = start_counting_smtp_server();
    (port, delivered)
}

/// A server as above that also counts the connections it was greeted on.
fn start_counting_smtp_server() -> (
    u16,
    Arc<Mutex<Vec<Delivery>>>,
    Arc<std::sync::atomic::AtomicUsize>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let recorder = Recorder::default();
    let delivered = Arc::clone(&recorder.delivered);
    let greetings = Arc::clone(&recorder.greetings);
    let mut server = Server::new(recorder);
    server
        .with_name("smtp.test")
        // A thread per connection: the transport keeps up to 10 open.
        .with_num_threads(16)
        .with_ssl(SslConfig::None)
        .unwrap()
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        if let Err(err) = server.serve() {
            panic!("the test SMTP server stopped: {err}");
        }
    });
    (port, delivered, greetings)
}

fn smtp_config(port: u16) -> SmtpConfig {
    SmtpConfig {
        port,
        timeout: Duration::from_secs(10),
        hello_name: Some("mail.example.com".to_owned()),
        ..SmtpConfig::new("127.0.0.1", TlsMode::None)
    }
}

#[tokio::test]
async fn smtp_transport_delivers_threaded_emails_to_a_real_server() {
    let (port, delivered) = start_smtp_server();
    let transport = SmtpTransport::new(&smtp_config(port)).unwrap();
    let queued = outgoing(
        EmailKind::SubmissionQueued,
        Language::En,
        &["camille@acme.example", "paul@acme.example"],
    );
    let approved = outgoing(
        EmailKind::DecisionApproved,
        Language::Fr,
        &["camille@acme.example"],
    );
    transport.send(&queued).await.unwrap();
    transport.send(&approved).await.unwrap();

    let delivered = delivered.lock().unwrap().clone();
    assert_eq!(delivered.len(), 2);
    let root = format!("<submission-{}@mail.example.com>", submission_id());
    for (delivery, sent) in delivered.iter().zip([&queued, &approved]) {
        assert_eq!(delivery.from, "noreply@mail.example.com");
        let expected: Vec<String> = sent.to.iter().map(|to| to.email.to_string()).collect();
        assert_eq!(delivery.recipients, expected);
        let received: Received = parse(&delivery.data);
        assert_eq!(received.to, expected);
        assert_eq!(received.subject, sent.subject);
        assert_eq!(received.message_id, sent.message_id);
        assert_eq!(received.in_reply_to, vec![root.clone()]);
        assert_eq!(received.references, vec![root.clone()]);
        assert_eq!(received.content_type, "multipart/alternative");
        assert_eq!(received.text.trim_end(), sent.text.trim_end());
    }
    assert_eq!(
        parse(&delivered[1].data).subject,
        "«\u{a0}Postgres Plus\u{a0}»\u{a0}: mise en ligne approuvée"
    );
    assert_ne!(delivered[0].data, delivered[1].data);
}

#[tokio::test]
async fn smtp_refusal_of_a_recipient_is_permanent() {
    let (port, delivered) = start_smtp_server();
    let transport = SmtpTransport::new(&smtp_config(port)).unwrap();
    let email = outgoing(
        EmailKind::Published,
        Language::En,
        &["nobody@refused.example"],
    );
    let err = transport.send(&email).await.unwrap_err();
    assert!(err.permanent, "{err}");
    assert!(err.message.contains("550"), "{err}");
    assert!(delivered.lock().unwrap().is_empty());
}

#[tokio::test]
async fn smtp_to_a_closed_port_is_transient() {
    // Bind then drop: the port was free a moment ago and nothing listens on it now.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let transport = SmtpTransport::new(&smtp_config(port)).unwrap();
    let email = outgoing(EmailKind::Published, Language::En, &["paul@acme.example"]);
    let err = transport.send(&email).await.unwrap_err();
    assert!(!err.permanent, "{err}");
}

#[tokio::test]
async fn smtp_connections_are_reused_and_bounded() {
    let (port, delivered, greetings) = start_counting_smtp_server();
    let transport = Arc::new(SmtpTransport::new(&smtp_config(port)).unwrap());
    // 40 emails at once: at most 10 connections carry them.
    let mut sends = tokio::task::JoinSet::new();
    for n in 0..40 {
        let transport = Arc::clone(&transport);
        let to = format!("member{n}@acme.example");
        sends.spawn(async move {
            let email = outgoing(EmailKind::Published, Language::En, &[to.as_str()]);
            transport.send(&email).await
        });
    }
    while let Some(sent) = sends.join_next().await {
        sent.unwrap().unwrap();
    }
    assert_eq!(delivered.lock().unwrap().len(), 40);
    let opened = greetings.load(std::sync::atomic::Ordering::SeqCst);
    assert!((1..=10).contains(&opened), "{opened} connections opened");
    // One after the other, they ride one kept connection: no new greeting.
    for n in 0..5 {
        let to = format!("again{n}@acme.example");
        let email = outgoing(EmailKind::Published, Language::En, &[to.as_str()]);
        transport.send(&email).await.unwrap();
    }
    assert_eq!(greetings.load(std::sync::atomic::Ordering::SeqCst), opened);
    // A refusal closes its connection (lettre's rule) and the next email goes on a new one.
    let refused = outgoing(EmailKind::Published, Language::En, &["x@refused.example"]);
    assert!(transport.send(&refused).await.unwrap_err().permanent);
    let after = outgoing(EmailKind::Published, Language::En, &["after@acme.example"]);
    transport.send(&after).await.unwrap();
    assert_eq!(delivered.lock().unwrap().len(), 46);
}
