//! Signed webhooks, end to end: endpoints registered through the API, changes made through
//! the API, deliveries signed by vitrine and verified by a receiver that is not vitrine's
//! code (the `standardwebhooks` package from PyPI, `vitrine_webhooks::testing`), on both
//! databases. The worker is driven by hand (`Deliverer::deliver_once`) on the test clock.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use vitrine_checks::Sealer;
use vitrine_jobs::{MailSettings, Services};
use vitrine_server::{Clock, ServerConfig};
use vitrine_webhooks::testing::{Received, TestReceiver};
use vitrine_webhooks::{Deliverer, DeliveryReport, DeliverySettings};

use crate::support::{TestApp, TestClock, TestUser, each_backend_with};

/// The application's test clock for what is due, the real time for leases and signature
/// timestamps (receivers compare those with their own clock), as `vitrine serve` with
/// `--test-clock` does.
struct RealLeases(Arc<TestClock>);

impl Clock for RealLeases {
    fn now(&self) -> jiff::Timestamp {
        self.0.now()
    }
    fn lease_now(&self) -> jiff::Timestamp {
        jiff::Timestamp::now()
    }
}

fn allowing_private() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.checks.policy.allow_private_addresses = true;
    config
}

fn deliverer(app: &TestApp, allow_private_addresses: bool) -> Deliverer {
    let sealer = Sealer::from_file_or_create(&app.blob_dir.with_extension("key")).expect("the key");
    let services = Services {
        store: app.store.clone(),
        clock: Arc::new(RealLeases(app.clock.clone())),
        mail: Arc::new(MailSettings::default()),
    };
    let settings = DeliverySettings {
        allow_private_addresses,
        request_timeout: Duration::from_secs(5),
        ..DeliverySettings::default()
    };
    Deliverer::new(services, sealer, settings).expect("a deliverer")
}

/// Passes until nothing due is left.
async fn drain(deliverer: &Deliverer) -> DeliveryReport {
    let mut total = DeliveryReport::default();
    loop {
        let report = deliverer.deliver_once().await.expect("a pass");
        if report.claimed == 0 {
            return total;
        }
        total.claimed += report.claimed;
        total.delivered += report.delivered;
        total.retried += report.retried;
        total.failed += report.failed;
        total.skipped += report.skipped;
    }
}

struct Provider {
    owner: TestUser,
    account: String,
}

async fn provider(app: &TestApp, name: &str, offering: &str) -> Provider {
    let owner = app.user(&format!("owner@{name}.test")).await;
    let account = app.provider(name, &owner).await;
    app.offering(&owner.client, &account, offering, "limited", &[], json!({}))
        .await;
    Provider { owner, account }
}

/// Registers an endpoint for the receiver; its secret is set on the receiver.
async fn register(
    client: &crate::support::Client,
    path: &str,
    receiver: &TestReceiver,
    events: &[&str],
) -> String {
    let created = client
        .post(
            path,
            &json!({"url": receiver.url(), "events": events, "description": "test"}),
        )
        .await
        .expect_status(201)
        .json();
    let secret = created["secret"].as_str().expect("a secret");
    assert!(secret.starts_with("whsec_"), "{secret}");
    receiver.set_secret(secret);
    created["endpoint"]["id"]
        .as_str()
        .expect("an id")
        .to_owned()
}

/// The admin makes the offering public and unpublishes it again: one `offering.unpublished`.
async fn unpublish(app: &TestApp, offering: &str, reason: &str) {
    app.admin
        .put(
            &format!("/api/v1/offerings/{offering}/visibility"),
            &json!({"visibility": "public"}),
        )
        .await
        .expect_status(200);
    app.admin
        .post(
            &format!("/api/v1/offerings/{offering}/unpublish"),
            &json!({"reason": reason}),
        )
        .await
        .expect_status(200);
}

fn reasons(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .filter(|r| r.verified)
        .map(|r| {
            r.payload["data"]["reason"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

async fn deliveries(client: &crate::support::Client, endpoint: &str) -> Vec<Value> {
    client
        .get(&format!("/api/v1/webhooks/{endpoint}/deliveries?limit=100"))
        .await
        .expect_status(200)
        .json()["items"]
        .as_array()
        .expect("items")
        .clone()
}

/// How many delivery attempts the database holds.
async fn attempts_stored(app: &TestApp) -> i64 {
    let sql = "SELECT COUNT(*) FROM webhook_delivery_attempts";
    let (n,): (i64,) = match app.store.pools() {
        vitrine_store::Pools::Sqlite(pool) => sqlx::query_as(sql).fetch_one(pool).await,
        vitrine_store::Pools::Postgres(pool) => sqlx::query_as(sql).fetch_one(pool).await,
    }
    .expect("counted");
    n
}

#[tokio::test]
async fn deliveries_are_signed_in_order_and_survive_a_receiver_down_and_a_rotation() {
    each_backend_with(allowing_private, |app| async move {
        let dir = tempfile::tempdir().expect("a directory");
        let Some(mut receiver) = TestReceiver::start_or_skip("webhooks", dir.path()) else {
            return;
        };
        let p = provider(&app, "acme", "hook-svc").await;
        let endpoint = register(
            &p.owner.client,
            &format!("/api/v1/accounts/{}/webhooks", p.account),
            &receiver,
            &["offering.unpublished"],
        )
        .await;
        let worker = deliverer(&app, true);
        for n in 0..4 {
            unpublish(&app, "hook-svc", &format!("reason {n}")).await;
        }
        let report = drain(&worker).await;
        assert_eq!(report.delivered, 4, "{report:?}");
        // Making it public again was a visibility change too, but no unpublication.
        assert_eq!(report.skipped, 4, "{report:?}");
        let received = receiver.received();
        assert!(received.iter().all(|r| r.verified), "{received:#?}");
        assert_eq!(
            reasons(&received),
            ["reason 0", "reason 1", "reason 2", "reason 3"]
        );
        let first = &received[0].payload;
        assert_eq!(first["type"], "offering.unpublished");
        assert_eq!(first["data"]["offering_name"], "hook-svc");
        assert_eq!(first["data"]["provider_account_id"], p.account.as_str());
        assert_eq!(first["data"]["visibility"], "limited");

        // The receiver goes down: the first waiting delivery is retried, the others wait
        // behind it; back up, every one arrives, in order, once.
        receiver.stop();
        for n in 4..7 {
            unpublish(&app, "hook-svc", &format!("reason {n}")).await;
        }
        let report = drain(&worker).await;
        assert_eq!((report.retried, report.delivered), (1, 0), "{report:?}");
        app.clock.advance(jiff::SignedDuration::from_secs(6));
        let report = drain(&worker).await;
        assert_eq!((report.retried, report.delivered), (1, 0), "{report:?}");
        let log = deliveries(&p.owner.client, &endpoint).await;
        let waiting = log
            .iter()
            .find(|d| d["state"] == "pending" && d["attempts"] == 2)
            .expect("the retried one");
        assert!(
            waiting["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("request failed")),
            "{waiting}"
        );
        receiver.start();
        app.clock.advance(jiff::SignedDuration::from_mins(6));
        let report = drain(&worker).await;
        assert_eq!(report.delivered, 3, "{report:?}");
        let received = receiver.received();
        assert_eq!(
            reasons(&received),
            (0..7).map(|n| format!("reason {n}")).collect::<Vec<_>>()
        );
        let ids: std::collections::BTreeSet<_> = received.iter().map(|r| r.id.clone()).collect();
        assert_eq!(ids.len(), 7, "one webhook-id per message");

        // The log, newest first: what each attempt got.
        let log = deliveries(&p.owner.client, &endpoint).await;
        let delivered: Vec<&Value> = log.iter().filter(|d| d["state"] == "delivered").collect();
        assert_eq!(delivered.len(), 7);
        assert!(
            delivered
                .iter()
                .all(|d| d["last_status"] == 200 && d["last_excerpt"] == "ok")
        );
        // Every attempt is kept, not only the last: the one that waited for the receiver
        // shows its two failures, then its success.
        let retried = log
            .iter()
            .find(|d| d["attempts"] == 3)
            .unwrap_or_else(|| panic!("the retried one: {log:#?}"));
        let tries = retried["attempt_log"].as_array().expect("attempts");
        assert_eq!(tries.len(), 3, "{retried}");
        for failed in &tries[..2] {
            assert_eq!(failed["status"], Value::Null, "{failed}");
            assert!(
                failed["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("request failed")),
                "{failed}"
            );
        }
        assert_eq!(tries[2]["status"], 200);
        assert_eq!(tries[2]["excerpt"], "ok");
        assert!(tries.iter().all(|t| t["duration_ms"].is_u64()), "{tries:?}");
        assert!(
            tries[0]["at"].as_str() < tries[1]["at"].as_str()
                && tries[1]["at"].as_str() < tries[2]["at"].as_str(),
            "oldest first: {tries:?}"
        );
        let once: Vec<&&Value> = delivered.iter().filter(|d| d["attempts"] == 1).collect();
        assert_eq!(once.len(), 6);
        assert!(
            once.iter()
                .all(|d| d["attempt_log"].as_array().map(Vec::len) == Some(1)),
            "{once:?}"
        );
        // A page of the log carries its own deliveries' attempts, and no others.
        let first_page = p
            .owner
            .client
            .get(&format!("/api/v1/webhooks/{endpoint}/deliveries?limit=2"))
            .await
            .expect_status(200)
            .json();
        for d in first_page["items"].as_array().expect("items") {
            let n = d["attempts"].as_u64().expect("a count");
            assert_eq!(
                d["attempt_log"].as_array().map(Vec::len),
                usize::try_from(n).ok(),
                "{d}"
            );
        }

        // A rotation: the receiver still holding the old secret verifies (both signatures
        // are sent during the overlap), and so does one holding the new.
        let rotated = p
            .owner
            .client
            .post(
                &format!("/api/v1/webhooks/{endpoint}/rotate-secret"),
                &json!({}),
            )
            .await
            .expect_status(200)
            .json();
        let new_secret = rotated["secret"].as_str().expect("a secret").to_owned();
        unpublish(&app, "hook-svc", "old secret").await;
        drain(&worker).await;
        receiver.set_secret(&new_secret);
        unpublish(&app, "hook-svc", "new secret").await;
        drain(&worker).await;
        let received = receiver.received();
        assert!(received.iter().all(|r| r.verified), "{received:#?}");
        assert_eq!(reasons(&received)[7..], ["old secret", "new secret"]);
        // After the overlap only the new secret signs: a receiver on the old one refuses.
        app.clock.advance(jiff::SignedDuration::from_hours(25));
        receiver.set_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        unpublish(&app, "hook-svc", "wrong secret").await;
        let report = drain(&worker).await;
        assert_eq!(report.retried, 1, "{report:?}");
        assert!(!receiver.received().last().expect("a request").verified);

        // The attempts go with their delivery, which goes with its endpoint.
        assert!(attempts_stored(&app).await >= 12);
        p.owner
            .client
            .delete(&format!("/api/v1/webhooks/{endpoint}"))
            .await
            .expect_status(204);
        assert_eq!(attempts_stored(&app).await, 0);
    })
    .await;
}

#[tokio::test]
async fn an_endpoint_receives_only_what_its_owner_may_see() {
    each_backend_with(allowing_private, |app| async move {
        let dir = tempfile::tempdir().expect("a directory");
        let Some(theirs) = TestReceiver::start_or_skip("webhooks", &dir.path().join("q")) else {
            return;
        };
        let Some(market) = TestReceiver::start_or_skip("webhooks", &dir.path().join("m")) else {
            return;
        };
        let p = provider(&app, "acme", "p-svc").await;
        let q = provider(&app, "other", "q-svc").await;
        let all = [
            "submission.queued",
            "decision.released",
            "offering.published",
            "offering.unpublished",
            "message.posted",
            "check_run.finished",
        ];
        let q_endpoint = register(
            &q.owner.client,
            &format!("/api/v1/accounts/{}/webhooks", q.account),
            &theirs,
            &all,
        )
        .await;
        register(&app.admin, "/api/v1/marketplace/webhooks", &market, &all).await;
        unpublish(&app, "p-svc", "P's change").await;
        unpublish(&app, "p-svc", "P's second change").await;
        let worker = deliverer(&app, true);
        drain(&worker).await;
        assert!(
            theirs.received().is_empty(),
            "Q got P's events: {:#?}",
            theirs.received()
        );
        assert!(deliveries(&q.owner.client, &q_endpoint).await.is_empty());
        let got = market.received();
        let types: Vec<&str> = got
            .iter()
            .filter_map(|r| r.payload["type"].as_str())
            .collect();
        assert_eq!(
            types,
            ["offering.unpublished", "offering.unpublished"],
            "{got:#?}"
        );
        assert!(got.iter().all(|r| r.verified));
        assert_eq!(
            got[0].payload["data"]["provider_account_id"],
            p.account.as_str()
        );
        assert_eq!(reasons(&got), ["P's change", "P's second change"]);

        // Managing: Q's endpoint does not exist for P; a mere member may not register one;
        // the marketplace's are the admins'.
        p.owner
            .client
            .get(&format!("/api/v1/webhooks/{q_endpoint}"))
            .await
            .problem(404, "not-found");
        p.owner
            .client
            .post(
                &format!("/api/v1/accounts/{}/webhooks", q.account),
                &json!({"url": "https://example.com/h", "events": ["message.posted"]}),
            )
            .await
            .problem(404, "not-found");
        let member = app.user("member@acme.test").await;
        app.add_member(&p.account, &member, "member").await;
        member
            .client
            .post(
                &format!("/api/v1/accounts/{}/webhooks", p.account),
                &json!({"url": "https://example.com/h", "events": ["message.posted"]}),
            )
            .await
            .problem(403, "forbidden");
        p.owner
            .client
            .get("/api/v1/marketplace/webhooks")
            .await
            .problem(403, "forbidden");
        let customer = app.user("someone@c.test").await;
        let account = app.account("Customer C", &customer).await;
        customer
            .client
            .post(
                &format!("/api/v1/accounts/{account}/webhooks"),
                &json!({"url": "https://example.com/h", "events": ["message.posted"]}),
            )
            .await
            .problem(409, "conflict");
    })
    .await;
}

#[tokio::test]
async fn private_addresses_are_refused_unless_the_operator_allows_them() {
    each_backend_with(ServerConfig::default, |app| async move {
        let p = provider(&app, "acme", "p-svc").await;
        let path = format!("/api/v1/accounts/{}/webhooks", p.account);
        for url in [
            "http://127.0.0.1:9/hooks",
            "http://[::1]/h",
            "http://169.254.169.254/latest",
            "http://10.0.0.8/h",
        ] {
            let refused = p
                .owner
                .client
                .post(
                    &path,
                    &json!({"url": url, "events": ["offering.unpublished"]}),
                )
                .await
                .problem(422, "validation-failed");
            assert_eq!(crate::support::error_fields(&refused), ["url"], "{url}");
        }
        // A name is checked where it resolves, at every delivery.
        let created = p
            .owner
            .client
            .post(
                &path,
                &json!({"url": "http://localhost:9/hooks", "events": ["offering.unpublished"]}),
            )
            .await
            .expect_status(201)
            .json();
        let endpoint = created["endpoint"]["id"]
            .as_str()
            .expect("an id")
            .to_owned();
        unpublish(&app, "p-svc", "x").await;
        let report = drain(&deliverer(&app, false)).await;
        assert_eq!(report.retried, 1, "{report:?}");
        let log = deliveries(&p.owner.client, &endpoint).await;
        let pending = log
            .iter()
            .find(|d| d["state"] == "pending")
            .expect("pending");
        assert!(
            pending["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("refused") && e.contains("loopback")),
            "{pending}"
        );
        assert_eq!(pending["last_status"], Value::Null, "nothing was sent");
    })
    .await;
}

#[tokio::test]
async fn a_day_of_failures_disables_the_endpoint_and_emails_its_owner() {
    each_backend_with(allowing_private, |app| async move {
        let dir = tempfile::tempdir().expect("a directory");
        let Some(receiver) = TestReceiver::start_or_skip("webhooks", dir.path()) else {
            return;
        };
        let p = provider(&app, "acme", "p-svc").await;
        let endpoint = register(
            &p.owner.client,
            &format!("/api/v1/accounts/{}/webhooks", p.account),
            &receiver,
            &["offering.unpublished"],
        )
        .await;
        receiver.answer(Some(503));
        unpublish(&app, "p-svc", "first").await;
        unpublish(&app, "p-svc", "second").await;
        let worker = deliverer(&app, true);
        let mut failed = 0;
        for _ in 0..10 {
            failed += drain(&worker).await.failed;
            app.clock.advance(jiff::SignedDuration::from_hours(11));
        }
        assert_eq!(failed, 1, "the first gave up; the second waits behind it");
        let shown = p
            .owner
            .client
            .get(&format!("/api/v1/webhooks/{endpoint}"))
            .await
            .expect_status(200)
            .json();
        assert_eq!(shown["enabled"], false);
        assert!(
            shown["disabled_reason"]
                .as_str()
                .is_some_and(|r| r.contains("503")),
            "{shown}"
        );
        let log = deliveries(&p.owner.client, &endpoint).await;
        let gave_up = log.iter().find(|d| d["state"] == "failed").expect("failed");
        assert_eq!(gave_up["attempts"], 8);
        assert_eq!(gave_up["last_status"], 503);
        let tries = gave_up["attempt_log"].as_array().expect("attempts");
        assert_eq!(tries.len(), 8, "the try and every retry: {gave_up}");
        assert!(tries.iter().all(|t| t["status"] == 503), "{tries:?}");
        // The owner is emailed, through the outbox.
        let outbox = app
            .admin
            .get("/api/v1/outbox")
            .await
            .expect_status(200)
            .json();
        let email = outbox["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|e| {
                e["subject"]
                    .as_str()
                    .is_some_and(|s| s.contains("webhook endpoint was disabled"))
            })
            .unwrap_or_else(|| panic!("no email: {outbox:#}"));
        assert_eq!(email["recipients"], "owner@acme.test");
        // Disabled: a new change makes no delivery.
        unpublish(&app, "p-svc", "while disabled").await;
        assert_eq!(
            deliveries(&p.owner.client, &endpoint).await.len(),
            4,
            "{log:#?}"
        );

        // The receiver is fixed and the endpoint enabled: the waiting one goes out, and
        // the failed one again by hand, with the same webhook-id.
        receiver.answer(None);
        p.owner
            .client
            .patch(
                &format!("/api/v1/webhooks/{endpoint}"),
                &json!({"enabled": true}),
            )
            .await
            .expect_status(200);
        let again = p
            .owner
            .client
            .post(
                &format!(
                    "/api/v1/webhooks/{endpoint}/deliveries/{}/redeliver",
                    gave_up["id"]
                ),
                &json!({}),
            )
            .await
            .expect_status(202)
            .json();
        assert_eq!(again["message_id"], gave_up["message_id"]);
        drain(&worker).await;
        let verified: Vec<Received> = receiver
            .received()
            .into_iter()
            .filter(|r| r.verified)
            .collect();
        assert_eq!(reasons(&verified), ["second", "first"]);
        assert_eq!(verified[1].id.as_deref(), gave_up["message_id"].as_str());
        // Redelivery by hand is limited: 10 an hour.
        for _ in 1..10 {
            p.owner
                .client
                .post(
                    &format!(
                        "/api/v1/webhooks/{endpoint}/deliveries/{}/redeliver",
                        gave_up["id"]
                    ),
                    &json!({}),
                )
                .await
                .expect_status(202);
        }
        let limited = p
            .owner
            .client
            .post(
                &format!(
                    "/api/v1/webhooks/{endpoint}/deliveries/{}/redeliver",
                    gave_up["id"]
                ),
                &json!({}),
            )
            .await;
        assert_eq!(limited.header("retry-after"), Some("3600"));
        limited.problem(429, "rate-limited");
    })
    .await;
}

#[tokio::test]
async fn the_webhook_pages_register_show_the_secret_once_and_list_deliveries() {
    use crate::web::signed_in;
    each_backend_with(allowing_private, |app| async move {
        let dir = tempfile::tempdir().expect("a directory");
        let Some(receiver) = TestReceiver::start_or_skip("webhook pages", dir.path()) else {
            return;
        };
        let (web, owner) = signed_in(&app, "owner@acme.test").await;
        let account = app.provider("acme", &owner).await;
        app.offering(&owner.client, &account, "p-svc", "limited", &[], json!({}))
            .await;
        let list = format!("/accounts/{account}/webhooks");
        web.get("/provider")
            .await
            .assert_contains(&format!("href=\"{list}\""));
        web.get(&list).await.assert_contains("id=\"no-webhooks\"");
        // Refused: no event chosen; what was typed is kept.
        let refused = web
            .post_form(&list, &list, &[("url", "https://hooks.acme.test/v")])
            .await;
        assert_eq!(refused.status, 422, "{}", refused.html);
        refused
            .assert_contains("value=\"https:&#x2f;&#x2f;hooks.acme.test&#x2f;v\"")
            .assert_contains("choose at least one event type");
        let url = receiver.url();
        let shown = web
            .post_form(
                &list,
                &list,
                &[("url", &url), ("events[3]", "offering.unpublished")],
            )
            .await;
        assert_eq!(shown.status, 200, "{}", shown.html);
        let on_page = shown
            .html
            .split("id=\"webhook-secret\">")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .expect("the secret on the page")
            .to_owned();
        // As the HTML escapes it (base64 has slashes), and as the receiver takes it.
        let secret = on_page.replace("&#x2f;", "/");
        assert!(secret.starts_with("whsec_"), "{secret}");
        receiver.set_secret(&secret);
        let endpoints = owner
            .client
            .get(&format!("/api/v1/accounts/{account}/webhooks"))
            .await
            .expect_status(200)
            .json();
        let id = endpoints["items"][0]["id"]
            .as_str()
            .expect("an id")
            .to_owned();
        // Never again: the list and the endpoint's page do not show it.
        web.get(&list)
            .await
            .assert_lacks(&on_page)
            .assert_contains(&url.replace('/', "&#x2f;"));
        unpublish(&app, "p-svc", "broken").await;
        drain(&deliverer(&app, true)).await;
        assert_eq!(reasons(&receiver.received()), ["broken"]);
        let page = web.get(&format!("/webhooks/{id}")).await;
        page.assert_lacks(&on_page)
            .assert_contains("id=\"webhook-deliveries\"")
            .assert_contains("Delivered")
            .assert_contains("<ol class=\"attempts\">")
            .assert_contains("<small>in ");
        // In French (the reader's setting), and a delivery sent again from its row.
        owner
            .client
            .patch("/api/v1/me", &json!({"language": "fr"}))
            .await
            .expect_status(200);
        web.get(&format!("/webhooks/{id}"))
            .await
            .assert_contains("Journal d’envois")
            .assert_contains("Remis")
            .assert_contains("<small>en ");
        let log = deliveries(&owner.client, &id).await;
        let delivered = log
            .iter()
            .find(|d| d["state"] == "delivered")
            .expect("delivered");
        let again = web
            .post_form(
                &format!("/webhooks/{id}"),
                &format!("/webhooks/{id}/deliveries/{}/redeliver", delivered["id"]),
                &[],
            )
            .await;
        assert_eq!(again.status, 303, "{}", again.html);
        drain(&deliverer(&app, true)).await;
        assert_eq!(reasons(&receiver.received()), ["broken", "broken"]);
        // Rotation shows the new secret once.
        let rotated = web
            .post_form(
                &format!("/webhooks/{id}"),
                &format!("/webhooks/{id}/rotate"),
                &[],
            )
            .await;
        assert_eq!(rotated.status, 200, "{}", rotated.html);
        rotated
            .assert_contains("id=\"webhook-secret\">whsec_")
            .assert_lacks(&on_page);
    })
    .await;
}

/// Moves the application's clock to `to` and runs every scheduler step, as the background
/// ticks would (by hand: the deliverer reads the same clock, so the deliveries of what the
/// steps do are due at once).
async fn tick_at(app: &TestApp, to: &str) {
    let to: jiff::Timestamp = to.parse().expect("a time");
    app.clock.advance(app.clock.now().duration_until(to));
    for step in vitrine_jobs::scheduler::STEPS {
        app.admin
            .post(&format!("/api/v1/scheduler/{step}/run"), &json!({}))
            .await
            .expect_status(200);
    }
}

/// A go-live journey on the test clock, every event type of it verified at the provider's
/// receiver in the order of the changes, with the ids of what changed: two submissions
/// queued, the second's dates moved by a capacity change, a message in the first's thread,
/// its approval released on decision day, its publication.
#[tokio::test]
async fn a_go_live_journey_reaches_the_receiver_event_by_event_in_order() {
    let config = || ServerConfig {
        scheduler_interval: None,
        ..allowing_private()
    };
    each_backend_with(config, |app| async move {
        let dir = tempfile::tempdir().expect("a directory");
        let Some(receiver) = TestReceiver::start_or_skip("webhooks_journey", dir.path()) else {
            return;
        };
        let c = crate::go_live::cast(&app).await;
        // Each validator reviews one a session: a session holds two submissions.
        for v in [&c.validator, &c.other_validator] {
            app.admin
                .put(
                    &format!("/api/v1/validators/{}/capacity", v.id),
                    &json!({"capacity": 1}),
                )
                .await
                .expect_status(200);
        }
        crate::go_live::ready_offering(&app, &c.owner, &c.provider, "two-svc").await;
        register(
            &c.owner.client,
            &format!("/api/v1/accounts/{}/webhooks", c.provider),
            &receiver,
            &[
                "submission.queued",
                "submission.dates_moved",
                "message.posted",
                "decision.released",
                "offering.published",
            ],
        )
        .await;
        let worker = deliverer(&app, true);

        let first = crate::go_live::submitted(&app, &c.owner).await;
        let second = crate::go_live::submitted_for(&app, &c.member, "two-svc").await;
        // One validator's room gone: the second moves to the next session.
        app.admin
            .put(
                &format!("/api/v1/validators/{}/capacity", c.other_validator.id),
                &json!({"capacity": 0}),
            )
            .await
            .expect_status(200);
        // Tuesday: the first goes in review; its provider asks something.
        tick_at(&app, "2026-03-03T00:00:00Z").await;
        let posted = c
            .owner
            .client
            .post(
                &format!("/api/v1/submissions/{first}/messages"),
                &json!({"body": "Anything missing?"}),
            )
            .await
            .expect_status(201)
            .json();
        let requirements = c.owner.client.get("/api/v1/requirements").await.json();
        c.validator
            .client
            .post(
                &format!("/api/v1/submissions/{first}/decision"),
                &json!({"verdicts": crate::go_live::verdicts(&[], &requirements),
                    "decision": "approve"}),
            )
            .await
            .expect_status(200);
        // A held decision is no event: nothing more until Thursday's release.
        drain(&worker).await;
        assert_eq!(receiver.received().len(), 4, "{:#?}", receiver.received());
        tick_at(&app, "2026-03-05T00:00:00Z").await;
        let scheduled = app
            .admin
            .post(
                &format!("/api/v1/submissions/{first}/publication"),
                &json!({"at": "2026-03-09T00:00:00Z"}),
            )
            .await
            .expect_status(200)
            .json();
        let publication_at = scheduled["submission"]["publication_at"]
            .as_str()
            .expect("a publication time")
            .to_owned();
        tick_at(&app, &publication_at).await;
        let report = drain(&worker).await;
        assert_eq!(report.failed + report.retried, 0, "{report:?}");

        let received = receiver.received();
        assert!(received.iter().all(|r| r.verified), "{received:#?}");
        let seen: Vec<(String, String)> = received
            .iter()
            .map(|r| {
                let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
                let data = &r.payload["data"];
                let subject = match data.get("submission_id") {
                    Some(id) => text(id),
                    None => text(&data["offering_name"]),
                };
                (text(&r.payload["type"]), subject)
            })
            .collect();
        let pair = |kind: &str, subject: &str| (kind.to_owned(), subject.to_owned());
        assert_eq!(
            seen,
            [
                pair("submission.queued", &first),
                pair("submission.queued", &second),
                pair("submission.dates_moved", &second),
                pair("message.posted", &first),
                pair("decision.released", &first),
                pair("offering.published", "demo-svc"),
            ],
            "{received:#?}"
        );
        let moved = &received[2].payload["data"];
        assert_eq!(moved["reason"], "capacity");
        assert_eq!(
            (&moved["previous_review_date"], &moved["review_date"]),
            (&json!("2026-03-03"), &json!("2026-03-10"))
        );
        assert_eq!(moved["queue_position"], 2);
        assert_eq!(moved["offering_name"], "two-svc");
        assert_eq!(moved["provider_account_id"], c.provider.as_str());
        let message = &received[3].payload["data"];
        assert_eq!(message["message_id"], posted["id"], "{posted}");
        assert_eq!(message["side"], "provider");
        assert!(
            !received[3]
                .payload
                .to_string()
                .contains("Anything missing?"),
            "the text is read through the API"
        );
        let released = &received[4].payload["data"];
        assert_eq!(
            (&released["state"], &released["round"]),
            (&json!("approved"), &json!(1))
        );
        assert_eq!(received[5].payload["data"]["visibility"], "public");
        let ids: std::collections::BTreeSet<_> = received.iter().map(|r| r.id.clone()).collect();
        assert_eq!(ids.len(), 6, "one webhook-id per message");
    })
    .await;
}
