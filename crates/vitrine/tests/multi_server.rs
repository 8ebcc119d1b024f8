//! Several `vitrine serve` processes on one database (issue 12, "Many servers, one
//! database").
//!
//! On PostgreSQL (skipped without `VITRINE_TEST_DATABASE_URL`, a failure with
//! `VITRINE_TEST_REQUIRE_POSTGRES=1`): three servers A, B and C share the database and the
//! data directory (recordings and the `.eml` mail folder, as a shared volume would), each
//! with the test clock and a scheduler ticking every second. A review cycle is rehearsed
//! through all three in turn — a session opened, a decision made and released, a second
//! session, an approval, a publication — while the clock is moved through one server and
//! the other two run the same steps by hand at the same moment; B is killed with SIGKILL and
//! restarted on the way, and later C. Then: each session opened once, each decision released
//! once, the offering published once (the audit log), every email sent once (each outbox row
//! sent at its first attempt, and the `.eml` files are exactly the outbox's, per recipient
//! and subject). A session made on one server works on the others (the sign-in form's CSRF
//! token from one, the form posted to another, the cookie used on a third; signing out on
//! one ends it on all), and a catalog change through A shows through C within one second
//! although the servers cache for five: PostgreSQL's change notices reached C.
//!
//! A server is killed while its outbox is drained: one killed after the relay took an email
//! and before it was marked sent sends it again after the lease (at least once; the fault
//! test `faults.rs` covers that), which would blur the count asked for here.
//!
//! On SQLite a second `serve` on the same database file stops at once with a clear error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use vitrine_store::{AuditQuery, OutboxQuery, OutboxStatus, Store};
use vitrine_store_testing::TestDatabase;

mod support;
use support::{Serve, vitrine_command};

const PASSWORD: &str = "correct horse battery";

/// A server of this test: the test clock, a scheduler ticking every second, and caches kept
/// five times the default, so a change seen through another server within one second was
/// seen through its change notice, not through the entry expiring.
fn serve(data_dir: &Path, database_url: Option<&str>, log: PathBuf) -> Serve {
    Serve::start(
        data_dir,
        database_url,
        log,
        &[
            "--test-clock",
            "--scheduler-interval-secs",
            "1",
            "--cache-ttl-ms",
            "5000",
        ],
    )
}

/// One API call with a bearer token; panics on an HTTP error (naming the server's log).
async fn api(
    server: &Serve,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = reqwest::Client::new()
        .request(method.clone(), format!("{}{path}", server.base))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    assert!(
        status.is_success(),
        "{method} {path} on {}: {status} {text}\n--- its log ---\n{}",
        server.base,
        std::fs::read_to_string(&server.log).unwrap_or_default()
    );
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Signs in with the password on `sign_in_on` and makes a personal API token on `token_on`
/// with the session cookie it set: a session works on any server.
async fn token_for(sign_in_on: &Serve, token_on: &Serve, email: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/sign-in", sign_in_on.base))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("sign in");
    assert!(response.status().is_success(), "sign-in: {response:?}");
    let session = set_cookie(&response, "vitrine_session").expect("a session cookie");
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/me/tokens", token_on.base))
        .header("Cookie", format!("vitrine_session={session}"))
        .json(&json!({"name": "rehearsal"}))
        .send()
        .await
        .expect("make a token");
    let status = response.status();
    let body: Value = response.json().await.expect("token");
    assert!(
        status.is_success(),
        "token on another server: {status} {body}"
    );
    body["secret"].as_str().expect("secret").to_owned()
}

/// The value a response's `Set-Cookie` gives `name`.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .and_then(|rest| rest.split(';').next())
        .map(str::to_owned)
}

/// Moves the shared test clock to midnight (UTC) of `date` through `on`, while `others`
/// run every scheduler step by hand at the same moment; returns the steps that changed
/// something, on any server.
async fn advance_racing(on: &Serve, others: &[&Serve], admin: &str, to: Value) -> Vec<String> {
    let advance = api(
        on,
        admin,
        Method::POST,
        "/api/v1/test-clock/advance",
        Some(to),
    );
    let racing = async {
        let mut changed = Vec::new();
        for _ in 0..5 {
            for server in others {
                for step in [
                    "open_due_sessions",
                    "release_due_decisions",
                    "flag_overdue",
                    "run_due_publications",
                ] {
                    let report = api(
                        server,
                        admin,
                        Method::POST,
                        &format!("/api/v1/scheduler/{step}/run"),
                        None,
                    )
                    .await;
                    if report["changed"].as_u64().unwrap_or(0) > 0 {
                        changed.push(step.to_owned());
                    }
                }
            }
        }
        changed
    };
    let (advanced, mut changed) = tokio::join!(advance, racing);
    changed.extend(
        advanced["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .filter(|s| s["changed"].as_u64().unwrap_or(0) > 0)
            .map(|s| s["step"].as_str().expect("step").to_owned()),
    );
    changed
}

/// Of the reports gathered while moving the clock, only `step` changed anything, at most
/// once. (It may be none: a server's background tick can get there first. The audit log,
/// read at the end, says that it happened exactly once.)
fn at_most_once(changed: &[String], step: &str, what: &str) {
    assert!(
        changed.len() <= 1 && changed.iter().all(|s| s == step),
        "{what}: the steps that changed something were {changed:?}"
    );
}

fn midnight(date: &Value) -> Value {
    json!({"to": format!("{}T00:00:00Z", date.as_str().expect("a date"))})
}

async fn outbox_rows(store: &dyn Store) -> Vec<vitrine_store::OutboxEmail> {
    let mut rows = Vec::new();
    let mut before_id = None;
    loop {
        let page = store
            .outbox(&OutboxQuery {
                status: None,
                before_id,
                limit: 100,
            })
            .await
            .expect("outbox");
        let full = page.len() == 100;
        before_id = page.last().map(|e| e.id);
        rows.extend(page);
        if !full {
            return rows;
        }
    }
}

/// Waits until no email is pending: every server's dispatcher has sent what it claimed.
async fn wait_for_outbox_drained(store: &dyn Store) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pending = outbox_rows(store)
            .await
            .iter()
            .filter(|e| e.status == OutboxStatus::Pending)
            .count();
        if pending == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{pending} emails still pending after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn audit_count(store: &dyn Store, action: &str) -> usize {
    store
        .audit(&AuditQuery {
            action: Some(action.to_owned()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .expect("audit")
        .len()
}

/// (recipient, subject) of every `.eml` file in `dir`.
fn sent_emails(dir: &Path) -> Vec<(String, String)> {
    let mut sent = Vec::new();
    for entry in std::fs::read_dir(dir).expect("mail folder").flatten() {
        if !entry.file_name().to_string_lossy().ends_with(".eml") {
            continue;
        }
        let bytes = std::fs::read(entry.path()).expect("read an .eml file");
        let message = mail_parser::MessageParser::default()
            .parse(&bytes)
            .expect("parse an .eml file");
        let to = message
            .to()
            .and_then(|to| to.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_owned();
        sent.push((to, message.subject().unwrap_or_default().to_owned()));
    }
    sent
}

fn tally(items: impl IntoIterator<Item = (String, String)>) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for item in items {
        *counts.entry(item).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn three_servers_rehearse_a_review_cycle_with_a_server_killed_and_each_step_happens_once() {
    let Some(database) = TestDatabase::postgres().await else {
        eprintln!("skipped: no PostgreSQL (set VITRINE_TEST_DATABASE_URL)");
        return;
    };
    let url = database.url.as_str();
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    let log = |name: &str| dir.path().join(format!("serve-{name}.log"));
    let bootstrap = vitrine_command(&data_dir, Some(url))
        .args(["admin", "bootstrap", "--email", "admin@vitrine.test"])
        .output()
        .expect("bootstrap");
    assert!(bootstrap.status.success(), "{bootstrap:?}");
    let admin = String::from_utf8_lossy(&bootstrap.stdout)
        .lines()
        .last()
        .expect("token")
        .trim()
        .to_owned();
    let admin = admin.as_str();
    let a = serve(&data_dir, Some(url), log("a"));
    let mut b = serve(&data_dir, Some(url), log("b"));
    let mut c = serve(&data_dir, Some(url), log("c"));
    let store = vitrine_store::open(url).await.expect("open the store");

    // People, through three servers; their tokens made on a server other than the one
    // they signed in on.
    api(
        &a,
        admin,
        Method::POST,
        "/api/v1/users",
        Some(json!({"email": "olga@acme.test",
        "display_name": "Olga", "password": PASSWORD})),
    )
    .await;
    api(
        &b,
        admin,
        Method::POST,
        "/api/v1/users",
        Some(json!({"email": "vera@market.test",
        "display_name": "Vera", "password": PASSWORD,
        "staff": {"admin": false, "validator": true}})),
    )
    .await;
    let olga = token_for(&a, &b, "olga@acme.test").await;
    let vera = token_for(&c, &a, "vera@market.test").await;
    let olga_id = api(&c, &olga, Method::GET, "/api/v1/me", None).await["user"]["id"].clone();

    // Olga's provider account and offering, ready for review.
    let acme = api(
        &a,
        admin,
        Method::POST,
        "/api/v1/accounts",
        Some(json!({"name": "Acme", "owner_user_id": olga_id})),
    )
    .await["id"]
        .as_str()
        .expect("account id")
        .to_owned();
    api(
        &b,
        &olga,
        Method::PUT,
        &format!("/api/v1/accounts/{acme}/provider-application"),
        Some(
            json!({"legal_name": "Acme SA", "contact_email": "olga@acme.test",
            "country": "FR", "website": "https://acme.test"}),
        ),
    )
    .await;
    api(
        &c,
        admin,
        Method::POST,
        &format!("/api/v1/accounts/{acme}/provider-application/decision"),
        Some(json!({"decision": "approve"})),
    )
    .await;
    api(&a, &olga, Method::POST, "/api/v1/offerings", Some(json!({
        "provider_account_id": acme, "name": "acme-db",
        "display_name": {"en": "Acme DB"}, "description": {"en": "Managed PostgreSQL."},
        "category": "databases", "documentation_url": "https://docs.acme.test",
        "support_contact": "help@acme.test",
        "plans": [{"name": "lite", "display_name": {"en": "Lite"}, "pricing": {"kind": "free"}}],
    })))
    .await;
    api(
        &b,
        &olga,
        Method::PUT,
        "/api/v1/offerings/acme-db/visibility",
        Some(json!({"visibility": "limited"})),
    )
    .await;
    for (server, step) in [
        (&c, "documentation"),
        (&a, "broker_hosted"),
        (&b, "authentication_flow"),
    ] {
        api(
            server,
            &olga,
            Method::PUT,
            &format!("/api/v1/offerings/acme-db/checklist/{step}"),
            Some(json!({"state": "complete"})),
        )
        .await;
    }
    let recording = include_bytes!("../../vitrine-blob/tests/fixtures/faststart.mp4");
    let upload = async |server: &Serve, submission: &str| -> String {
        let response = reqwest::Client::new()
            .put(format!(
                "{}/api/v1/submissions/{submission}/recordings?filename=demo.mp4",
                server.base
            ))
            .bearer_auth(&olga)
            .body(recording.to_vec())
            .send()
            .await
            .expect("upload");
        assert!(response.status().is_success(), "upload: {response:?}");
        let body: Value = response.json().await.expect("recording");
        body["id"].as_str().expect("recording id").to_owned()
    };
    let sub = api(
        &c,
        &olga,
        Method::POST,
        "/api/v1/offerings/acme-db/submissions",
        None,
    )
    .await["submission"]["id"]
        .as_str()
        .expect("submission id")
        .to_owned();
    let recording_id = upload(&a, &sub).await;
    api(
        &b,
        &olga,
        Method::PATCH,
        &format!("/api/v1/submissions/{sub}"),
        Some(json!({"recordings": [recording_id], "notes": "Round one"})),
    )
    .await;
    let schedule = api(
        &c,
        &olga,
        Method::POST,
        &format!("/api/v1/submissions/{sub}/submit"),
        None,
    )
    .await["schedule"]
        .clone();
    let state = async |server: &Serve| -> String {
        let path = format!("/api/v1/submissions/{sub}");
        api(server, &olga, Method::GET, &path, None).await["submission"]["state"]
            .as_str()
            .expect("state")
            .to_owned()
    };
    wait_for_outbox_drained(&*store).await;

    // Review day, with B dead: A moves the clock, C runs the steps at the same moment.
    b.kill();
    let changed = advance_racing(&a, &[&c], admin, midnight(&schedule["review_date"])).await;
    at_most_once(&changed, "open_due_sessions", "the session opened once");
    assert_eq!(state(&c).await, "in_review");
    wait_for_outbox_drained(&*store).await;
    b = serve(&data_dir, Some(url), log("b"));
    let clock_on_b = api(&b, admin, Method::GET, "/api/v1/test-clock", None).await;
    let clock_on_a = api(&a, admin, Method::GET, "/api/v1/test-clock", None).await;
    let offset = |v: &Value| v["offset_seconds"].as_f64().expect("offset");
    assert!(
        (offset(&clock_on_b) - offset(&clock_on_a)).abs() < 1.0,
        "the restarted server runs on the rehearsal's clock: {clock_on_b} vs {clock_on_a}"
    );
    let verdicts = async |unmet: &str| -> Value {
        let requirements = api(&a, &vera, Method::GET, "/api/v1/requirements", None).await;
        Value::Array(
            requirements["requirements"]
                .as_array()
                .expect("requirements")
                .iter()
                .map(|r| {
                    let key = r["key"].as_str().expect("key");
                    if key == unmet {
                        json!({"requirement": key, "outcome": "not_met",
                            "comment": "Show the instance becoming ready."})
                    } else {
                        json!({"requirement": key, "outcome": "met"})
                    }
                })
                .collect(),
        )
    };
    api(
        &b,
        &vera,
        Method::POST,
        &format!("/api/v1/submissions/{sub}/decision"),
        Some(json!({"decision": "request_changes", "verdicts": verdicts("provision").await})),
    )
    .await;
    wait_for_outbox_drained(&*store).await;

    // Decision day: C moves the clock, A and the restarted B race it.
    let changed = advance_racing(&c, &[&a, &b], admin, midnight(&schedule["decision_date"])).await;
    at_most_once(
        &changed,
        "release_due_decisions",
        "the decision released once",
    );
    assert_eq!(state(&a).await, "changes_requested");

    // Olga writes, records again and resubmits: the next week's session.
    api(
        &a,
        &olga,
        Method::POST,
        &format!("/api/v1/submissions/{sub}/messages"),
        Some(json!({"body": "Is the new recording enough?"})),
    )
    .await;
    let recording_id = upload(&b, &sub).await;
    api(
        &c,
        &olga,
        Method::PATCH,
        &format!("/api/v1/submissions/{sub}"),
        Some(json!({"recordings": [recording_id]})),
    )
    .await;
    let schedule = api(
        &a,
        &olga,
        Method::POST,
        &format!("/api/v1/submissions/{sub}/submit"),
        None,
    )
    .await["schedule"]
        .clone();
    wait_for_outbox_drained(&*store).await;
    let changed = advance_racing(&b, &[&a, &c], admin, midnight(&schedule["review_date"])).await;
    at_most_once(
        &changed,
        "open_due_sessions",
        "the second session opened once",
    );
    assert_eq!(state(&c).await, "in_review");
    api(
        &a,
        &vera,
        Method::POST,
        &format!("/api/v1/submissions/{sub}/decision"),
        Some(json!({"decision": "approve", "verdicts": verdicts("none").await})),
    )
    .await;
    wait_for_outbox_drained(&*store).await;

    // C dies before decision day and comes back after it.
    c.kill();
    let changed = advance_racing(&a, &[&b], admin, midnight(&schedule["decision_date"])).await;
    at_most_once(
        &changed,
        "release_due_decisions",
        "the approval released once",
    );
    wait_for_outbox_drained(&*store).await;
    c = serve(&data_dir, Some(url), log("c"));
    assert_eq!(state(&c).await, "approved");

    // Publication at noon of decision day, the clock moved through B.
    let day = schedule["decision_date"].as_str().expect("date");
    api(
        &c,
        admin,
        Method::POST,
        &format!("/api/v1/submissions/{sub}/publication"),
        Some(json!({"at": format!("{day}T12:00:00Z")})),
    )
    .await;
    let changed = advance_racing(&b, &[&a, &c], admin, json!({"seconds": 43_200})).await;
    at_most_once(&changed, "run_due_publications", "published once");
    assert_eq!(state(&a).await, "published");
    // The background ticks (every second on each server) have had their chance too.
    tokio::time::sleep(Duration::from_secs(3)).await;
    wait_for_outbox_drained(&*store).await;

    // Once each, in the audit log.
    for (action, times) in [
        ("review_session.opened", 2),
        ("submission.open_session", 2),
        ("submission.release_decision", 2),
        ("submission.publish", 1),
        ("offering.published", 1),
    ] {
        assert_eq!(audit_count(&*store, action).await, times, "{action}");
    }
    // Every email sent once: each outbox row at its first attempt, and the mail folder
    // holds exactly the outbox's emails, per recipient and subject.
    let rows = outbox_rows(&*store).await;
    assert!(rows.len() >= 8, "the cycle's emails: {}", rows.len());
    for row in &rows {
        assert_eq!(row.status, OutboxStatus::Sent, "{row:?}");
        assert_eq!(row.attempts, 1, "sent more than once: {row:?}");
    }
    let outbox = tally(
        rows.iter()
            .map(|r| (r.recipients.clone(), r.subject.clone())),
    );
    let sent = tally(sent_emails(&data_dir.join("mail")));
    assert_eq!(sent, outbox, "each email in the mail folder once");
    eprintln!("{} emails, each sent once", rows.len());

    // A catalog change through A, visible through C within one second (C has the old
    // answer cached).
    let read_name = async |server: &Serve| -> String {
        let page: Value = reqwest::get(format!("{}/api/v1/catalog", server.base))
            .await
            .expect("catalog")
            .json()
            .await
            .expect("catalog page");
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|o| o["name"] == "acme-db")
            .map(|o| {
                o["display_name"]["en"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .unwrap_or_default()
    };
    for round in 0..5 {
        let before = read_name(&c).await;
        let renamed = format!("Acme DB {round}");
        assert_ne!(before, renamed);
        // A live offering changes through a revision; texts only, so it is published as
        // soon as it is submitted.
        let started = api(
            &a,
            &olga,
            Method::POST,
            "/api/v1/offerings/acme-db/revisions",
            Some(json!({})),
        )
        .await;
        let id = started["submission_id"].as_str().expect("id").to_owned();
        api(
            &a,
            &olga,
            Method::PATCH,
            &format!("/api/v1/submissions/{id}/revision"),
            Some(json!({"display_name": {"en": renamed}})),
        )
        .await;
        api(
            &a,
            &olga,
            Method::POST,
            &format!("/api/v1/submissions/{id}/revision/submit"),
            Some(json!({})),
        )
        .await;
        let changed_at = Instant::now();
        loop {
            if read_name(&c).await == renamed {
                break;
            }
            assert!(
                changed_at.elapsed() < Duration::from_secs(1),
                "a catalog change through A was not visible through C within 1 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        eprintln!(
            "catalog change through A visible through C after {:?}",
            changed_at.elapsed()
        );
    }

    // The sign-in form from A, posted to B with A's CSRF cookie; the session used on C;
    // signed out on A, it ends on C too.
    let page = reqwest::get(format!("{}/sign-in", a.base))
        .await
        .expect("sign-in page");
    let csrf = set_cookie(&page, "vitrine_csrf").expect("a CSRF cookie");
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let signed_in = no_redirects
        .post(format!("{}/sign-in", b.base))
        .header("Cookie", format!("vitrine_csrf={csrf}"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("email", "olga@acme.test"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("sign in through the form");
    assert_eq!(signed_in.status(), 303, "{signed_in:?}");
    let session = set_cookie(&signed_in, "vitrine_session").expect("a session cookie");
    let cookies = format!("vitrine_session={session}; vitrine_csrf={csrf}");
    let me = |server: &Serve| {
        let request = no_redirects
            .get(format!("{}/api/v1/me", server.base))
            .header("Cookie", cookies.clone());
        async move { request.send().await.expect("me").status().as_u16() }
    };
    assert_eq!(me(&c).await, 200, "a session from B works on C");
    let signed_out = no_redirects
        .post(format!("{}/sign-out", a.base))
        .header("Cookie", cookies.clone())
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .expect("sign out");
    assert_eq!(signed_out.status(), 303, "{signed_out:?}");
    let signed_out_at = Instant::now();
    while me(&c).await != 401 {
        assert!(
            signed_out_at.elapsed() < Duration::from_secs(1),
            "signed out through A, the session still works on C after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!(
        "signed out through A, refused by C after {:?}",
        signed_out_at.elapsed()
    );
    drop((a, b, c));
}

#[test]
fn a_second_server_on_one_sqlite_file_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    let first = serve(&data_dir, None, dir.path().join("first.log"));
    let second = vitrine_command(&data_dir, None)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .output()
        .expect("run a second serve");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        !second.status.success(),
        "a second server started: {stderr}"
    );
    assert!(
        stderr.contains("another vitrine serve")
            && stderr.contains(&format!("(process {})", first.child.id()))
            && stderr.contains("vitrine.db.lock")
            && stderr.contains("PostgreSQL"),
        "the refusal says who holds which file and what to do: {stderr}"
    );
    // Commands beside the server still work: a backup while it runs.
    let backup = vitrine_command(&data_dir, None)
        .args(["backup"])
        .arg(dir.path().join("backup"))
        .output()
        .expect("backup");
    assert!(
        backup.status.success(),
        "backup beside a server: {backup:?}"
    );
    // Once the first server is gone (even killed), a new one starts.
    first.kill();
    let again = serve(&data_dir, None, dir.path().join("again.log"));
    drop(again);
}
