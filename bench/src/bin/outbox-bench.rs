//! Outbox benchmark: writes `--emails` (default 10,000) emails into the outbox of an empty
//! database, as the review writes them (with a change to a submission, in batches), then
//! times the `Dispatcher` sending every one of them through `SmtpTransport` to a real SMTP
//! server on loopback that accepts and discards (mailin-embedded, in this process, on threads
//! of its own). Prints the time to write, the time to dispatch and emails per second.

use std::net::{IpAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Parser;
use mailin_embedded::{Handler, Response, Server, SslConfig, response};
use vitrine_bench::{Seeded, seed_provider_submission};
use vitrine_domain::AuditEvent;
use vitrine_mail::{
    MailTransport, Mailbox, OutgoingEmail, SendError, SmtpConfig, SmtpTransport, ThreadKey, TlsMode,
};
use vitrine_server::{Clock, Dispatcher, DispatcherSettings, SystemClock};
use vitrine_store::{NewEmail, OutboxQuery, OutboxStatus, Store};

#[derive(Parser)]
struct Args {
    /// Database to use (must be empty).
    #[arg(long)]
    database_url: String,
    /// Emails to write and send.
    #[arg(long, default_value_t = 10_000)]
    emails: usize,
    /// Emails written per change (one transaction each).
    #[arg(long, default_value_t = 1_000)]
    per_change: usize,
    /// SMTP sessions the server runs at once (one thread each).
    #[arg(long, default_value_t = 32)]
    smtp_threads: u32,
    /// Emails the dispatcher sends at once (1: one after the other, as it did at first).
    #[arg(long, default_value_t = DispatcherSettings::default().concurrency)]
    concurrency: usize,
    /// `smtp`: through the SMTP server; `null`: each email is built as for sending and
    /// dropped, which measures the outbox's own cost (claims, marks, payload reading).
    #[arg(long, default_value = "smtp")]
    transport: String,
}

/// Builds each message as the SMTP transport would, then drops it.
struct NullTransport {
    built: AtomicU64,
}

#[async_trait::async_trait]
impl MailTransport for NullTransport {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        email.formatted()?;
        self.built.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Accepts every message and keeps only a count.
#[derive(Clone, Default)]
struct Discard {
    received: Arc<AtomicU64>,
}

impl Handler for Discard {
    fn mail(&mut self, _ip: IpAddr, _domain: &str, _from: &str) -> Response {
        response::OK
    }
    fn rcpt(&mut self, _to: &str) -> Response {
        response::OK
    }
    fn data(&mut self, _buf: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
    fn data_end(&mut self) -> Response {
        self.received.fetch_add(1, Ordering::Relaxed);
        response::OK
    }
}

/// Starts the discarding SMTP server on a free loopback port; returns the port and its
/// count of accepted messages.
fn start_smtp_server(threads: u32) -> anyhow::Result<(u16, Arc<AtomicU64>)> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding the SMTP server")?;
    let port = listener.local_addr().context("SMTP server address")?.port();
    let handler = Discard::default();
    let received = Arc::clone(&handler.received);
    let mut server = Server::new(handler);
    server
        .with_name("smtp.bench")
        .with_ssl(SslConfig::None)
        .map_err(|e| anyhow::anyhow!("SMTP server without TLS: {e}"))?
        .with_num_threads(threads)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        if let Err(error) = server.serve() {
            eprintln!("the SMTP server stopped: {error}");
        }
    });
    Ok((port, received))
}

/// An email the size of a review email (about 0.7 KB of text, 1.5 KB of HTML), threaded.
fn email(n: usize, from: &Mailbox, thread: ThreadKey) -> anyhow::Result<OutgoingEmail> {
    let paragraph = "Your go-live submission of “Bench service” is in the queue. Review of \
                     the recordings: Tuesday 3 March 2026. Decision: Thursday 5 March 2026. ";
    let text = format!(
        "Hello member {n},\n\n{}\n\n-- \nvitrine\n",
        paragraph.repeat(4)
    );
    let html = format!(
        "<!doctype html><html><body><p>Hello member {n},</p>{}<p>vitrine</p></body></html>",
        format!("<p>{paragraph}</p>").repeat(8)
    );
    let root = thread.root_message_id("bench.test");
    Ok(OutgoingEmail {
        auto_submitted: None,
        language: Some("en".to_owned()),
        date: None,
        from: from.clone(),
        to: vec![
            format!("member{n}@provider.test")
                .parse()
                .context("recipient")?,
        ],
        reply_to: None,
        subject: format!("“Bench service” will be reviewed on Tuesday 3 March 2026 ({n})"),
        text,
        html,
        message_id: format!("<bench-{n}-{}@bench.test>", uuid_of(thread)),
        in_reply_to: Some(root.clone()),
        references: vec![root],
        thread: Some(thread),
    })
}

fn uuid_of(thread: ThreadKey) -> String {
    match thread {
        ThreadKey::Submission(id) => id.to_string(),
    }
}

/// Writes `count` emails with changes to the seeded submission, `per_change` at a time.
async fn write_emails(
    store: &dyn Store,
    seeded: &mut Seeded,
    count: usize,
    per_change: usize,
) -> anyhow::Result<()> {
    let from: Mailbox = "vitrine <noreply@bench.test>".parse().context("sender")?;
    let thread = ThreadKey::submission(seeded.submission.id.0);
    let mut written = 0;
    while written < count {
        let now = SystemClock.now();
        let batch = per_change.min(count - written);
        let emails = (written..written + batch)
            .map(|n| {
                let email = email(n, &from, thread)?;
                Ok(NewEmail::new(
                    email.to[0].email.to_string(),
                    email.subject.clone(),
                    Some(seeded.submission.id),
                    &email,
                    now,
                )?)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let submission = &mut seeded.submission;
        let event = AuditEvent::new(None, "submission.round_edited", now).subject_submission(
            submission.id,
            submission.offering_id,
            submission.provider_account_id,
        );
        submission.version += 1;
        submission.rounds[0].notes = format!("bench change {written}");
        store
            .update_submission(submission, &[event], &emails)
            .await
            .context("writing emails with a change")?;
        written += batch;
    }
    Ok(())
}

async fn count(store: &dyn Store, status: OutboxStatus) -> anyhow::Result<usize> {
    let mut total = 0;
    let mut before_id = None;
    loop {
        let page = store
            .outbox(&OutboxQuery {
                status: Some(status),
                before_id,
                limit: 1000,
            })
            .await
            .context("reading the outbox")?;
        total += page.len();
        match page.last() {
            Some(last) if page.len() == 1000 => before_id = Some(last.id),
            _ => return Ok(total),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(args.emails > 0 && args.per_change > 0, "nothing to send");
    let backend = args
        .database_url
        .split(':')
        .next()
        .unwrap_or("database")
        .to_owned();
    let store: Arc<dyn Store> = Arc::from(
        vitrine_store::open(&args.database_url)
            .await
            .context("opening the database")?,
    );
    let mut seeded = seed_provider_submission(store.as_ref()).await?;

    let started = Instant::now();
    write_emails(store.as_ref(), &mut seeded, args.emails, args.per_change).await?;
    let written_in = started.elapsed();
    println!(
        "{backend}: wrote {} emails into the outbox in {:.2} s ({} per change)",
        args.emails,
        written_in.as_secs_f64(),
        args.per_change
    );

    let (transport, accepted): (Arc<dyn MailTransport>, Box<dyn Fn() -> u64>) =
        match args.transport.as_str() {
            "smtp" => {
                let (port, received) = start_smtp_server(args.smtp_threads)?;
                let transport = SmtpTransport::new(&SmtpConfig {
                    port,
                    timeout: Duration::from_secs(30),
                    hello_name: Some("bench.test".into()),
                    ..SmtpConfig::new("127.0.0.1", TlsMode::None)
                })
                .context("SMTP transport")?;
                (
                    Arc::new(transport),
                    Box::new(move || received.load(Ordering::Relaxed)),
                )
            }
            "null" => {
                let transport = Arc::new(NullTransport {
                    built: AtomicU64::new(0),
                });
                let built = Arc::clone(&transport);
                (
                    transport,
                    Box::new(move || built.built.load(Ordering::Relaxed)),
                )
            }
            other => bail!("unknown transport {other:?}: smtp or null"),
        };
    let dispatcher = Dispatcher::new(
        store.clone(),
        Arc::new(SystemClock),
        transport,
        DispatcherSettings {
            concurrency: args.concurrency,
            ..DispatcherSettings::default()
        },
    );
    let started = Instant::now();
    let report = dispatcher.drain_once().await.context("dispatching")?;
    let dispatched_in = started.elapsed();

    let accepted = accepted();
    if report.sent as usize != args.emails || (report.retrying, report.failed) != (0, 0) {
        bail!("not every email went out: {report:?}");
    }
    ensure!(
        accepted == args.emails as u64,
        "the transport accepted {accepted} of {} emails",
        args.emails
    );
    let pending = count(store.as_ref(), OutboxStatus::Pending).await?;
    let sent = count(store.as_ref(), OutboxStatus::Sent).await?;
    ensure!(
        pending == 0 && sent == args.emails,
        "outbox after dispatch: {sent} sent, {pending} pending"
    );
    let seconds = dispatched_in.as_secs_f64();
    println!(
        "{backend}: dispatched {} emails ({} transport, {} at once) in {seconds:.2} s: \
         {:.0} emails/s (the transport accepted {accepted}; outbox: {sent} sent, {pending} \
         pending)",
        args.emails,
        args.transport,
        args.concurrency,
        args.emails as f64 / seconds
    );
    Ok(())
}
