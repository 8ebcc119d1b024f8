//! Webhooks benchmark: registers `--endpoints` (default 10) marketplace endpoints, writes
//! `--events` (default 10,000) audited changes in changes of 1,000 (the fan-out trigger
//! turns each into one delivery per endpoint, in the change's transaction), then times the
//! `Deliverer` until every delivery is recorded delivered. `--transport http`: signed and
//! POSTed to a receiver on loopback (axum, in this process, answering 200 without reading
//! more than the body); `null`: built, signed and recorded without sending (the outbox's own
//! cost). Prints the time to write and deliveries per second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, ensure};
use clap::Parser;
use vitrine_checks::Sealer;
use vitrine_domain::{AccountId, AuditEvent, OfferingId};
use vitrine_jobs::{Clock, MailSettings, Services, SystemClock};
use vitrine_webhook_rules::{self as webhooks, EndpointInput, EventType, Owner};
use vitrine_webhooks::store::WebhookStore;
use vitrine_webhooks::{Deliverer, DeliverySettings};

#[derive(Parser)]
struct Args {
    /// Database to use (must be empty).
    #[arg(long)]
    database_url: String,
    /// Changes to write (each one delivery per endpoint).
    #[arg(long, default_value_t = 10_000)]
    events: usize,
    /// Endpoints, delivered to concurrently (one at a time each, in order).
    #[arg(long, default_value_t = 10)]
    endpoints: usize,
    /// `http` (to the loopback receiver) or `null` (signed and recorded, not sent).
    #[arg(long, default_value = "http")]
    transport: String,
}

async fn receiver(count: Arc<AtomicU64>) -> anyhow::Result<String> {
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |_body: axum::body::Bytes| {
            let count = count.clone();
            async move {
                count.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{address}/hooks"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let store: Arc<dyn vitrine_store::Store> = Arc::from(
        vitrine_store::open(&args.database_url)
            .await
            .context("open the database")?,
    );
    let received = Arc::new(AtomicU64::new(0));
    let url = receiver(received.clone()).await?;
    let sealer = Sealer::random();
    let clock = SystemClock;
    let admin = vitrine_domain::Actor::new(
        vitrine_domain::UserId::generate(),
        vitrine_domain::StaffRoles {
            admin: true,
            validator: false,
        },
        Vec::new(),
    );
    let hooks = WebhookStore::new(store.as_ref());
    for n in 0..args.endpoints {
        let input = EndpointInput {
            url: Some(url.clone()),
            description: Some(format!("bench {n}")),
            events: Some(vec![EventType::OfferingUnpublished]),
            enabled: None,
        };
        let (endpoint, event) =
            webhooks::create(&admin, Owner::Marketplace, false, n, input, clock.now())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        let sealed = sealer
            .seal(&vitrine_webhooks::sign::new_secret())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        hooks.insert_endpoint(&endpoint, &sealed, &[event]).await?;
    }
    let started = Instant::now();
    let (account, offering) = (AccountId::generate(), OfferingId::generate());
    for chunk in (0..args.events).collect::<Vec<_>>().chunks(1_000) {
        let events: Vec<AuditEvent> = chunk
            .iter()
            .map(|n| {
                AuditEvent::new(None, "offering.visibility_changed", clock.now())
                    .subject_offering(offering, account)
                    .before(&serde_json::json!({"visibility": "public"}))
                    .after(&serde_json::json!({"visibility": "limited", "reason": format!("{n}")}))
            })
            .collect();
        store.insert_emails(&events, &[]).await?;
    }
    let written = started.elapsed();
    let total = args.events * args.endpoints;
    let services = Services {
        store: store.clone(),
        clock: Arc::new(SystemClock),
        mail: Arc::new(MailSettings::default()),
    };
    let settings = DeliverySettings {
        allow_private_addresses: true,
        batch: u32::try_from(args.endpoints).unwrap_or(u32::MAX),
        ..DeliverySettings::default()
    };
    let deliverer = match args.transport.as_str() {
        "http" => Deliverer::new(services, sealer, settings).map_err(|e| anyhow::anyhow!("{e}"))?,
        "null" => Deliverer::discarding(services, sealer, settings),
        other => anyhow::bail!("unknown transport {other}"),
    };
    let started = Instant::now();
    let mut delivered = 0;
    while delivered < total {
        let report = deliverer
            .deliver_once()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        ensure!(
            report.claimed > 0 || delivered == total,
            "stuck at {delivered} of {total}"
        );
        ensure!(
            report.retried == 0 && report.failed == 0,
            "a delivery failed: {report:?}"
        );
        delivered += report.delivered;
    }
    let took = started.elapsed();
    let counts = hooks.counts().await?;
    ensure!(
        counts == [("delivered".to_owned(), i64::try_from(total)?)],
        "{counts:?}"
    );
    if args.transport == "http" {
        ensure!(
            received.load(Ordering::Relaxed) == total as u64,
            "the receiver missed some"
        );
    }
    println!(
        "{backend:8} {transport:4}: {total} deliveries ({events} changes x {endpoints} endpoints) in {secs:.2} s = {rate:.0} deliveries/s (writing the changes: {write:.2} s)",
        backend = store.backend(),
        transport = args.transport,
        events = args.events,
        endpoints = args.endpoints,
        secs = took.as_secs_f64(),
        rate = total as f64 / took.as_secs_f64().max(f64::EPSILON),
        write = written.as_secs_f64(),
    );
    Ok(())
}
