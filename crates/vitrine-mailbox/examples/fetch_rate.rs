//! How fast messages come out of a real Dovecot: the poller against the same client library
//! doing nothing but `UID FETCH 1:* BODY.PEEK[]`. Not run by the tests.
//!
//! ```text
//! cargo run --release -p vitrine-mailbox --example fetch_rate -- [COUNT] [BODY_BYTES] [BATCH] [durable]
//! ```
//!
//! Starts a Dovecot of its own (`vitrine_mailbox::testing`; with `durable`, Dovecot's default
//! `mail_fsync = optimized`, else `never` as in the tests), appends COUNT messages (default
//! 2000) of about BODY_BYTES each (default 2000), then measures, in this order:
//!
//! 1. raw: one `UID FETCH 1:* BODY.PEEK[]` over a logged-in async-imap session, reading every
//!    answer (what Dovecot and the client library can do at most);
//! 2. `poll_once`, handler answering Retry: search, sizes, bodies in batches, nothing moved;
//! 3. `poll_once`, handler answering Stored: the same plus `\Seen` and `UID MOVE` per batch.

use std::time::{Duration, Instant};

use vitrine_mailbox::testing::{Dovecot, DovecotOptions, sample_message};
use vitrine_mailbox::{Fetched, Handled, poll_once};

fn argument(at: usize, default: usize) -> usize {
    std::env::args()
        .nth(at)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn rate(count: usize, took: Duration) -> String {
    format!(
        "{count} messages in {:.3} s = {:.0} messages/s",
        took.as_secs_f64(),
        count as f64 / took.as_secs_f64()
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let count = argument(1, 2000);
    let body_bytes = argument(2, 2000);
    let batch = argument(3, 50);
    let durable = std::env::args().nth(4).is_some_and(|a| a == "durable");
    let options = DovecotOptions {
        durable,
        ..DovecotOptions::default()
    };
    let Some(dovecot) = Dovecot::start_with("fetch_rate", options) else {
        return;
    };
    println!(
        "Dovecot with mail_fsync = {}",
        if durable { "optimized" } else { "never" }
    );
    let filler = "x".repeat(76);
    let messages = (0..count).map(|n| {
        let mut message = sample_message(n, &format!("bench {n}"));
        while message.len() < body_bytes {
            message.extend_from_slice(filler.as_bytes());
            message.extend_from_slice(b"\r\n");
        }
        message
    });
    let started = Instant::now();
    dovecot.append_all(Dovecot::USER, "INBOX", messages).await;
    println!(
        "appended {count} messages of ~{body_bytes} bytes in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    let (raw_count, _, raw_took) = dovecot.raw_fetch_all().await;
    println!(
        "raw UID FETCH 1:* BODY.PEEK[]:      {}",
        rate(raw_count, raw_took)
    );

    let mut settings = dovecot.settings();
    settings.batch = batch;
    let started = Instant::now();
    let report = poll_once(&settings, &mut |_m: Fetched| async { Handled::Retry })
        .await
        .expect("poll");
    let took = started.elapsed();
    println!(
        "poll_once, Retry (fetch only):       {} (batch {batch})",
        rate(report.retried, took)
    );

    let started = Instant::now();
    let report = poll_once(&settings, &mut |_m: Fetched| async { Handled::Stored })
        .await
        .expect("poll");
    let took = started.elapsed();
    println!(
        "poll_once, Stored (fetch and move):  {} (batch {batch})",
        rate(report.moved, took)
    );
}
