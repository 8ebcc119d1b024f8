//! The OpenAPI document says what the server enforces (issue 14, item 6): schemathesis 4
//! (PyPI, `target/test-venv`, made by `.ci/run`) runs against a real `vitrine serve` on
//! SQLite and on PostgreSQL, with every check and every phase (examples, coverage,
//! fuzzing, stateful), as an admin (a token from `vitrine admin bootstrap`), and any finding
//! fails the test. What is excluded, and why, is in `schemathesis/schemathesis.toml`.
//!
//! Skipped when schemathesis is not installed, a failure with
//! `VITRINE_TEST_REQUIRE_SCHEMATHESIS=1`; the PostgreSQL run is skipped without
//! `VITRINE_TEST_DATABASE_URL`, as the other PostgreSQL tests are.

use std::path::{Path, PathBuf};
use std::process::Command;

use vitrine_store_testing::TestDatabase;

mod support;
use support::{Serve, vitrine_command};

fn schemathesis() -> Option<PathBuf> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-venv/bin/schemathesis");
    if path.exists() {
        return Some(path);
    }
    if std::env::var("VITRINE_TEST_REQUIRE_SCHEMATHESIS").as_deref() == Ok("1") {
        panic!(
            "schemathesis is required (VITRINE_TEST_REQUIRE_SCHEMATHESIS=1) but {} is missing: \
             python3 -m venv target/test-venv && target/test-venv/bin/pip install schemathesis==4.32.5",
            path.display()
        );
    }
    None
}

/// Runs schemathesis against a fresh server on `database_url` (SQLite in the data directory
/// when `None`) and fails on any finding, printing its report.
fn run_against(schemathesis: &Path, database_url: Option<&str>, backend: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    let bootstrap = vitrine_command(&data_dir, database_url)
        .args(["admin", "bootstrap", "--email", "admin@vitrine.test"])
        .output()
        .expect("bootstrap");
    assert!(bootstrap.status.success(), "{bootstrap:?}");
    let token = String::from_utf8_lossy(&bootstrap.stdout)
        .lines()
        .last()
        .expect("token")
        .trim()
        .to_owned();
    let server = Serve::start(&data_dir, database_url, dir.path().join("serve.log"), &[]);
    let config_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis");
    let output = Command::new(schemathesis)
        .current_dir(&config_dir)
        .env("VITRINE_TOKEN", &token)
        .env("NO_COLOR", "1")
        .args(["--config-file", "schemathesis.toml", "run"])
        .arg(format!("{}/api/openapi.json", server.base))
        .output()
        .expect("run schemathesis");
    let report = String::from_utf8_lossy(&output.stdout);
    println!("schemathesis on {backend}:\n{report}");
    assert!(
        output.status.success(),
        "schemathesis found problems on {backend} (report above){}\nserver log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(&server.log).unwrap_or_default()
    );
    // The run reached the API: a document that failed to load would also exit non-zero,
    // but a run that tested nothing must not pass either.
    assert!(report.contains("passed"), "nothing was tested: {report}");
}

#[test]
fn the_document_says_what_the_server_enforces_on_sqlite() {
    let Some(schemathesis) = schemathesis() else {
        eprintln!("skipped: schemathesis is not installed in target/test-venv");
        return;
    };
    run_against(&schemathesis, None, "SQLite");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_says_what_the_server_enforces_on_postgres() {
    let Some(schemathesis) = schemathesis() else {
        eprintln!("skipped: schemathesis is not installed in target/test-venv");
        return;
    };
    let Some(database) = TestDatabase::postgres().await else {
        eprintln!("skipped: no PostgreSQL (set VITRINE_TEST_DATABASE_URL)");
        return;
    };
    let url = database.url.clone();
    tokio::task::spawn_blocking(move || run_against(&schemathesis, Some(&url), "PostgreSQL"))
        .await
        .expect("the run");
    drop(database);
}
