//! Broker check benchmark (issue 11): `--runs` full checker runs (default 20) against the
//! conformant openbrokerapi test broker (`vitrine_osb::testing`, a Python process on
//! loopback), each run's wall time (`duration_ms`) beside the broker's own summed latency
//! from the same run (`broker_ms`, the sum of every exchange's elapsed time), and the
//! difference: what the checker adds. In `--mode conformant-async` that difference includes
//! the `Retry-After: 1` waits between polls, which the checker must honour.

use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use vitrine_osb::testing::{BrokerMode, TestBroker};
use vitrine_osb::{NoJournal, Outcome};

#[derive(Parser)]
struct Args {
    /// Full runs to make.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// `conformant` (synchronous) or `conformant-async`.
    #[arg(long, default_value = "conformant")]
    mode: String,
}

fn median(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mode = match args.mode.as_str() {
        "conformant" => BrokerMode::Conformant,
        "conformant-async" => BrokerMode::ConformantAsync,
        other => bail!("unknown mode {other:?} (conformant or conformant-async)"),
    };
    // A benchmark without its broker is an error, not a skip.
    let Some(broker) = TestBroker::start_or_skip("broker_check", mode) else {
        bail!("the test broker could not start: make target/test-venv (see bench/README.md)");
    };
    let target = broker.target();
    let expectations = broker.expectations();
    let policy = TestBroker::policy();
    let (mut durations, mut brokers, mut overheads, mut exchanges) =
        (Vec::new(), Vec::new(), Vec::new(), 0usize);
    // The waits the broker asked for (`Retry-After` on answers to polls), which the checker
    // must honour: the part of its overhead that is not its own.
    let mut asked_waits = Vec::new();
    let started = Instant::now();
    for run in 1..=args.runs {
        let report = vitrine_osb::run(&target, &expectations, &policy, &NoJournal)
            .await
            .context("a run could not start")?;
        let failed: Vec<&str> = report.failing().map(|c| c.id.as_str()).collect();
        if !failed.is_empty() {
            bail!("run {run}: checks failed against the conformant broker: {failed:?}");
        }
        let n: usize = report.checks.iter().map(|c| c.exchanges.len()).sum();
        let asked: u64 = report
            .checks
            .iter()
            .flat_map(|c| &c.exchanges)
            .filter(|e| e.url.contains("/last_operation"))
            .flat_map(|e| &e.response_headers)
            .filter(|(name, _)| name == "retry-after")
            .filter_map(|(_, value)| value.trim().parse::<u64>().ok())
            .sum::<u64>()
            * 1000;
        asked_waits.push(asked);
        let passed = report
            .checks
            .iter()
            .filter(|c| c.outcome == Outcome::Passed)
            .count();
        println!(
            "run {run:>3}: {:>5} ms wall, {:>5} ms broker, {:>4} ms checker (of which {asked} ms of Retry-After waits); {passed} checks passed, {n} exchanges",
            report.duration_ms,
            report.broker_ms,
            report.duration_ms.saturating_sub(report.broker_ms)
        );
        exchanges = n;
        durations.push(report.duration_ms);
        brokers.push(report.broker_ms);
        overheads.push(report.duration_ms.saturating_sub(report.broker_ms));
    }
    // Of the checker's own time, building its HTTP client (rustls with Mozilla's roots),
    // which each run does once.
    let client_started = Instant::now();
    for _ in 0..10 {
        vitrine_osb::guard::Guard::new(&policy).context("the client")?;
    }
    let client_us = client_started.elapsed().as_micros() / 10;
    let total: u64 = durations.iter().sum();
    let broker_total: u64 = brokers.iter().sum();
    println!();
    println!(
        "{} runs ({}) in {:.1} s; {exchanges} exchanges a run",
        args.runs,
        args.mode,
        started.elapsed().as_secs_f64()
    );
    let mut own: Vec<u64> = overheads
        .iter()
        .zip(&asked_waits)
        .map(|(overhead, asked)| overhead.saturating_sub(*asked))
        .collect();
    println!(
        "median: {} ms wall, {} ms broker, {} ms added by the checker: {} ms of Retry-After waits the broker asked for, {} ms its own",
        median(&mut durations),
        median(&mut brokers),
        median(&mut overheads),
        median(&mut asked_waits),
        median(&mut own)
    );
    println!("building the checker's HTTP client: {client_us} µs a run");
    if total > 0 {
        println!(
            "sum: {total} ms wall, {broker_total} ms broker: the broker's own latency is {:.1} % of the run",
            100.0 * broker_total as f64 / total as f64
        );
    }
    Ok(())
}
