//! The inbound email benchmark (issue 10), run by hand through `bench/ingest.sh`.
//!
//! `--mode rate`: seeds an empty database with a provider's draft submission and one reply
//! address of its owner, starts a Dovecot of its own (`vitrine_mailbox::testing`), appends
//! `--messages` replies (each with a quoted history, as mail clients send them), then:
//!
//! 1. Dovecot's raw pace, the peer: one `UID FETCH 1:* BODY.PEEK[]` reading every message;
//! 2. the whole inbound path, as `serve` runs it: `poll_once` with the server's
//!    `IngestHandler` (fetch in batches, parse, trim, check the key and the sender, post the
//!    message in the thread with its notification emails in one transaction, then `\Seen` and
//!    `UID MOVE`). Every message must end up posted.
//!
//! `--mode attachment`: one reply with a recording of `--attachment-mib` MiB (an MP4 padded
//! with a `free` box) through the same path; prints the process's peak RSS growth over
//! its RSS before the poll (the peak is reset first through `/proc/self/clear_refs`). The
//! message is spooled to a file and its recording decoded from it in pieces, as `serve`
//! does; `--spool-above-mib 0` holds it in memory instead, to compare.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use vitrine_bench::{Seeded, seed_provider_submission};
use vitrine_inbound::reply_address::{ReplyKey, ReplyPattern};
use vitrine_mailbox::testing::{Dovecot, DovecotOptions};
use vitrine_server::{IngestHandler, SystemClock};
use vitrine_store::{NewEmail, ReplyKeyGrant, Store};

const PATTERN: &str = "reply+{key}@in.bench.test";
const CLIP: &[u8] = include_bytes!("../../../crates/vitrine-blob/tests/fixtures/faststart.mp4");

#[derive(Parser)]
struct Args {
    /// Database to seed (must be empty).
    #[arg(long)]
    database_url: String,
    /// `rate` or `attachment`.
    #[arg(long, default_value = "rate")]
    mode: String,
    /// Replies appended for `rate`.
    #[arg(long, default_value_t = 2000)]
    messages: usize,
    /// Messages fetched per IMAP batch.
    #[arg(long, default_value_t = 50)]
    batch: usize,
    /// The recording's size for `attachment`, in MiB.
    #[arg(long, default_value_t = 50)]
    attachment_mib: usize,
    /// Where recordings are stored (large messages are spooled there too).
    #[arg(long)]
    blob_dir: std::path::PathBuf,
    /// Messages above this many MiB are spooled to a file and their recordings decoded from
    /// it in pieces (what `serve` does, 4 MiB); `0` keeps every message in memory, the way
    /// before spooling, to compare.
    #[arg(long, default_value_t = 4)]
    spool_above_mib: u64,
}

/// A reply as a mail client writes it: new text above the quoted history.
fn reply(n: usize, from: &str, to: &str) -> Vec<u8> {
    format!(
        "From: Owner <{from}>\r\nTo: {to}\r\nSubject: Re: your submission\r\n\
         Message-ID: <bench-{n}@mail.bench.test>\r\nDate: Thu, 05 Mar 2026 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Reply number {n}: the provisioning step is now shown at 1:30.\r\n\r\n--\r\nOwner\r\n\r\n\
         On Thu, 5 Mar 2026 at 09:00, vitrine <vitrine@localhost> wrote:\r\n\
         > Changes were requested on your submission.\r\n> Provisioning was not shown.\r\n\
         > Please send a new recording.\r\n"
    )
    .into_bytes()
}

/// The same reply with a recording of `mib` MiB attached (base64, 76 columns).
fn reply_with_recording(from: &str, to: &str, mib: usize) -> Vec<u8> {
    use base64::Engine;
    let mut clip = CLIP.to_vec();
    let padding = (mib << 20).saturating_sub(clip.len()).max(8);
    let size = u32::try_from(padding).unwrap_or(u32::MAX);
    clip.extend_from_slice(&size.to_be_bytes());
    clip.extend_from_slice(b"free");
    clip.resize(clip.len() + padding - 8, 0);
    let encoded = base64::engine::general_purpose::STANDARD.encode(&clip);
    drop(clip);
    let mut raw = format!(
        "From: Owner <{from}>\r\nTo: {to}\r\nSubject: Re: the demo\r\n\
         Message-ID: <bench-big@mail.bench.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe new demo.\r\n\r\n\
         --b1\r\nContent-Type: video/mp4; name=\"demo.mp4\"\r\n\
         Content-Disposition: attachment; filename=\"demo.mp4\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    for line in encoded.as_bytes().chunks(76) {
        raw.extend_from_slice(line);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"--b1--\r\n");
    raw
}

/// A kibibyte figure of `/proc/self/status` (`VmRSS`, `VmHWM`).
fn status_kib(field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim_start_matches(':').trim().split(' ').next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("{field} in /proc/self/status"))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The owner's reply address, stored as an email's would be.
async fn reply_address(store: &dyn Store, seeded: &Seeded) -> anyhow::Result<String> {
    let pattern = ReplyPattern::parse(PATTERN)?;
    let key = ReplyKey::from_bytes(rand::random());
    let now = vitrine_server::Clock::now(&SystemClock);
    let email = NewEmail::new(
        seeded.owner.email.as_str(),
        "Changes requested",
        Some(seeded.submission.id),
        &serde_json::json!({"subject": "Changes requested"}),
        now,
    )?
    .with_reply_key(ReplyKeyGrant {
        hash: key.hash(),
        user_id: seeded.owner.id,
        submission_id: seeded.submission.id,
    });
    store.insert_emails(&[], &[email]).await?;
    Ok(pattern.address_for(&key))
}

fn ingest(
    store: Arc<dyn Store>,
    blobs: vitrine_blob::LocalBlobStore,
) -> anyhow::Result<vitrine_ingest::Ingest> {
    let max_recording_bytes = 1u64 << 30;
    Ok(vitrine_ingest::Ingest {
        services: vitrine_jobs::Services {
            store,
            clock: Arc::new(SystemClock),
            mail: Arc::new(vitrine_jobs::MailSettings {
                reply_to: Some(ReplyPattern::parse(PATTERN)?),
                ..Default::default()
            }),
        },
        blobs: Some(blobs.into()),
        settings: Arc::new(vitrine_ingest::IngestSettings {
            pattern: ReplyPattern::parse(PATTERN)?,
            max_message_bytes: max_recording_bytes * 2,
            max_recording_bytes,
            trusted_authserv_id: None,
            unknown_addresses_bounced: false,
        }),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let store: Arc<dyn Store> = Arc::from(
        vitrine_store::open(&args.database_url)
            .await
            .context("opening the database")?,
    );
    let seeded = seed_provider_submission(store.as_ref()).await?;
    let address = reply_address(store.as_ref(), &seeded).await?;
    let from = seeded.owner.email.as_str().to_owned();
    let blobs = vitrine_blob::LocalBlobStore::open(&args.blob_dir).context("blob dir")?;
    let mut handler = IngestHandler(ingest(store.clone(), blobs)?);
    let Some(dovecot) = Dovecot::start_with("ingest-bench", DovecotOptions::default()) else {
        bail!("Dovecot is not installed (apt-get install dovecot-imapd)");
    };
    let mut settings = dovecot.settings();
    settings.batch = args.batch;
    settings.max_message_bytes = 4 << 30;
    settings.spool_above = match args.spool_above_mib {
        0 => u64::MAX,
        mib => mib << 20,
    };
    settings.spool_dir = Some(args.blob_dir.clone());
    println!("backend: {}", store.backend());
    match args.mode.as_str() {
        "rate" => {
            let count = args.messages;
            let started = Instant::now();
            dovecot
                .append_all(
                    Dovecot::USER,
                    "INBOX",
                    (0..count).map(|n| reply(n, &from, &address)),
                )
                .await;
            println!(
                "appended {count} replies in {:.2} s",
                started.elapsed().as_secs_f64()
            );
            let (raw, bytes, took) = dovecot.raw_fetch_all().await;
            println!(
                "peer, Dovecot raw UID FETCH 1:* BODY.PEEK[]: {raw} messages ({} KiB) in {:.3} s = {:.0} messages/s",
                bytes / 1024,
                took.as_secs_f64(),
                raw as f64 / took.as_secs_f64()
            );
            let started = Instant::now();
            let report = vitrine_mailbox::poll_once(&settings, &mut handler).await?;
            let took = started.elapsed();
            println!(
                "vitrine ingest (poll_once + IngestHandler, batch {}): {} posted, {} refused, {} retried in {:.3} s = {:.0} messages/s",
                args.batch,
                report.stored,
                report.refused,
                report.retried,
                took.as_secs_f64(),
                report.stored as f64 / took.as_secs_f64()
            );
            let posted = store.messages(seeded.submission.id).await?.len();
            if posted != count {
                bail!("{posted} of {count} replies were posted");
            }
        }
        "attachment" => {
            let raw = reply_with_recording(&from, &address, args.attachment_mib);
            let raw_mib = raw.len() as f64 / f64::from(1u32 << 20);
            dovecot.append(Dovecot::USER, "INBOX", &raw).await;
            drop(raw);
            // Reset the peak to what is resident now.
            std::fs::write("/proc/self/clear_refs", "5").context("resetting VmHWM")?;
            let before = status_kib("VmRSS")?;
            let started = Instant::now();
            let report = vitrine_mailbox::poll_once(&settings, &mut handler).await?;
            let took = started.elapsed();
            let peak = status_kib("VmHWM")?;
            let after = status_kib("VmRSS")?;
            let recordings = store.recordings_of(seeded.submission.id).await?;
            println!(
                "one reply of {raw_mib:.1} MiB ({} MiB recording, {}): {} posted in {:.2} s; recordings stored: {}",
                args.attachment_mib,
                match args.spool_above_mib {
                    0 => "held in memory".to_owned(),
                    mib => format!("spooled above {mib} MiB"),
                },
                report.stored,
                took.as_secs_f64(),
                recordings.len()
            );
            println!(
                "RSS before {:.1} MiB, peak {:.1} MiB, after {:.1} MiB: peak growth {:.1} MiB",
                mib(before),
                mib(peak),
                mib(after),
                mib(peak.saturating_sub(before))
            );
            if recordings.len() != 1 {
                bail!("the recording was not stored");
            }
        }
        other => bail!("unknown mode {other}: rate or attachment"),
    }
    Ok(())
}
