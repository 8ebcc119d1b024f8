//! Checked prerequisites over HTTP, against a real Open Service Broker (openbrokerapi,
//! started by vitrine-osb's harness): a provider registers the broker (the password never
//! comes back), starts a run, and the run's report completes steps 1, 3 and 4; a failing
//! broker blocks the go-live request with its failing checks; runs are limited per hour.

use std::sync::Arc;

use serde_json::{Value, json};
use vitrine_osb::testing::{BrokerMode, TestBroker};
use vitrine_server::ServerConfig;

use crate::support::{TestApp, each_backend_with};

fn config() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.checks.policy = TestBroker::policy();
    config.checks.authorization_endpoint = url::Url::parse(TestBroker::AUTHORIZE_URL).ok();
    config
}

/// The runner of a second server on the same database and key: what claims and runs the
/// queued runs in these tests, one step at a time.
fn runner(app: &TestApp) -> vitrine_checks::Checks {
    let services = vitrine_jobs::Services {
        store: app.store.clone(),
        clock: app.clock.clone(),
        mail: Arc::new(vitrine_jobs::MailSettings {
            from: "vitrine <vitrine@localhost>".into(),
            base_url: app.base.clone(),
            marketplace_name: "vitrine".into(),
            reply_to: None,
        }),
    };
    let sealer = vitrine_checks::Sealer::from_file_or_create(&app.blob_dir.with_extension("key"))
        .expect("the server's key");
    vitrine_checks::Checks::new(services, sealer, config().checks)
}

/// An approved provider's offering matching the test broker (its plans, its docs in en and
/// fr), in limited visibility; returns the provider member's client.
async fn offering_for(
    app: &TestApp,
    broker: Option<&TestBroker>,
    name: &str,
) -> crate::support::Client {
    let email = format!("dev@{name}.test");
    let owner = app
        .user_with(
            json!({"email": email, "display_name": "Dev", "password": "correct horse battery"}),
        )
        .await;
    let provider = app.provider(&format!("{name} co"), &owner).await;
    let docs = broker
        .and_then(|b| b.url().join("docs").ok())
        .map_or_else(|| "https://docs.example.com".to_owned(), |u| u.to_string());
    let plans: Vec<Value> = ["small", "large"]
        .iter()
        .map(|p| json!({"name": p, "display_name": {"en": p}, "pricing": {"kind": "free"}}))
        .collect();
    app.offering(
        &owner.client,
        &provider,
        name,
        "limited",
        &[],
        json!({
            "documentation_url": docs,
            "support_contact": "help@provider.test",
            "plans": plans,
        }),
    )
    .await;
    owner.client
}

fn step<'a>(managed: &'a Value, step: &str) -> &'a Value {
    managed["checklist"]["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["step"] == step))
        .unwrap_or_else(|| panic!("no step {step} in {managed}"))
}

#[tokio::test]
async fn a_conformant_broker_completes_steps_1_3_and_4_from_evidence() {
    let Some(broker) = TestBroker::start_or_skip("checks_conformant", BrokerMode::Conformant)
    else {
        return;
    };
    each_backend_with(config, |app| {
        let broker = &broker;
        async move {
            let member = offering_for(&app, Some(broker), "obj-store").await;
            let target = broker.target();
            // Before any run the steps are attested (nothing ticked yet).
            let managed = member
                .get("/api/v1/offerings/obj-store")
                .await
                .expect_status(200)
                .json();
            assert_eq!(step(&managed, "broker_hosted")["source"], "attested");
            // A run needs a broker.
            member
                .post("/api/v1/offerings/obj-store/checks", &json!({}))
                .await
                .problem(409, "conflict");
            let registered = member
                .put(
                    "/api/v1/offerings/obj-store/broker",
                    &json!({
                        "url": target.broker_url.as_str(),
                        "username": target.username,
                        "password": target.password,
                    }),
                )
                .await
                .expect_status(200);
            assert_eq!(registered.json()["api_version"], "2.17");
            let read = member
                .get("/api/v1/offerings/obj-store/broker")
                .await
                .expect_status(200);
            for body in [&read.body, &registered.body] {
                assert!(
                    !String::from_utf8_lossy(body).contains(&target.password),
                    "the password never comes back"
                );
            }
            // Staff read it too; a stranger does not learn the offering exists.
            app.admin
                .get("/api/v1/offerings/obj-store/broker")
                .await
                .expect_status(200);
            app.user("stranger@else.test")
                .await
                .client
                .get("/api/v1/offerings/obj-store/broker")
                .await
                .expect_status(404);

            let started = member
                .post("/api/v1/offerings/obj-store/checks", &json!({}))
                .await
                .expect_status(202)
                .json();
            assert_eq!(started["state"], "queued");
            assert_eq!(started["trigger"], "provider");
            let again = member
                .post("/api/v1/offerings/obj-store/checks", &json!({}))
                .await
                .expect_status(200)
                .json();
            assert_eq!(again["id"], started["id"], "a run under way is the answer");

            assert!(runner(&app).work_once().await.expect("runs"));
            let id = started["id"].as_str().expect("id");
            let view = member
                .get(&format!("/api/v1/offerings/obj-store/checks/{id}"))
                .await
                .expect_status(200)
                .json();
            assert_eq!(view["run"]["state"], "finished", "{view}");
            let failed: Vec<&Value> = view["report"]["checks"]
                .as_array()
                .expect("checks")
                .iter()
                .filter(|c| c["outcome"] == "failed")
                .collect();
            assert!(failed.is_empty(), "no false positive: {failed:?}");
            for verdict in ["documentation", "broker", "sign_in"] {
                assert_eq!(
                    view["run"]["verdicts"][verdict], "passed",
                    "{verdict}: {view}"
                );
            }
            let managed = member
                .get("/api/v1/offerings/obj-store")
                .await
                .expect_status(200)
                .json();
            for name in ["documentation", "broker_hosted", "authentication_flow"] {
                let s = step(&managed, name);
                assert_eq!(s["source"], "checked", "{name}: {s}");
                assert_eq!(s["state"], "complete", "{name}: {s}");
                assert_eq!(s["checked_by"], started["id"]);
            }
            assert!(
                broker.state().await.is_empty(),
                "nothing left on the broker"
            );
            // The report page says the same, in the reader's language; the editor links it.
            let web = crate::web::WebClient::new(&app);
            web.sign_in("dev@obj-store.test", "correct horse battery")
                .await;
            let page = web.get(&format!("/checks/obj-store/{id}")).await;
            assert_eq!(page.status, 200);
            assert!(page.html.contains("id=\"run-state\""), "{}", page.html);
            assert!(
                page.html.contains("id=\"check-catalog."),
                "each check listed: {}",
                page.html
            );
            assert!(
                !page.html.contains(&target.password),
                "no credentials in the report"
            );
            let editor = web.get("/provider/offerings/obj-store").await;
            assert!(
                editor.html.contains(&format!("/checks/obj-store/{id}")),
                "{}",
                editor.html
            );
            assert!(editor.html.contains("id=\"broker-form\""));
        }
    })
    .await;
}

#[tokio::test]
async fn a_failing_broker_blocks_the_go_live_request_with_its_failing_checks() {
    let Some(broker) = TestBroker::start_or_skip("checks_failing", BrokerMode::DuplicatePlanIds)
    else {
        return;
    };
    each_backend_with(config, |app| {
        let broker = &broker;
        async move {
            let member = offering_for(&app, Some(broker), "dup-plans").await;
            let target = broker.target();
            member
                .put(
                    "/api/v1/offerings/dup-plans/broker",
                    &json!({
                        "url": target.broker_url.as_str(),
                        "username": target.username,
                        "password": target.password,
                    }),
                )
                .await
                .expect_status(200);
            member
                .post("/api/v1/offerings/dup-plans/checks", &json!({}))
                .await
                .expect_status(202);
            assert!(runner(&app).work_once().await.expect("runs"));
            let runs = member
                .get("/api/v1/offerings/dup-plans/checks")
                .await
                .expect_status(200)
                .json();
            let run = &runs["items"][0];
            assert_eq!(run["verdicts"]["broker"], "failed", "{run}");
            let failing: Vec<String> = run["verdicts"]["failed"]
                .as_array()
                .expect("failed")
                .iter()
                .filter_map(|f| f["check"].as_str().map(str::to_owned))
                .collect();
            assert!(!failing.is_empty());
            let refused = member
                .post("/api/v1/offerings/dup-plans/submissions", &json!({}))
                .await
                .problem(422, "validation-failed");
            let text = refused.to_string();
            assert!(
                text.contains("step 3 (broker_hosted) failed its checks"),
                "{text}"
            );
            assert!(text.contains(&failing[0]), "{text}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_provider_starts_at_most_five_runs_an_hour() {
    each_backend_with(config, |app| async move {
        let member = offering_for(&app, None, "limited-runs").await;
        // Nothing listens on port 9: each run fails at once, which is all this test needs.
        member
            .put(
                "/api/v1/offerings/limited-runs/broker",
                &json!({"url": "http://127.0.0.1:9", "username": "u", "password": "p"}),
            )
            .await
            .expect_status(200);
        let runner = runner(&app);
        for _ in 0..5 {
            member
                .post("/api/v1/offerings/limited-runs/checks", &json!({}))
                .await
                .expect_status(202);
            assert!(runner.work_once().await.expect("runs"));
        }
        let refused = member
            .post("/api/v1/offerings/limited-runs/checks", &json!({}))
            .await;
        assert_eq!(
            refused.header("retry-after"),
            Some("3600"),
            "the first run leaves the window in an hour"
        );
        refused.problem(429, "rate-limited");
        // Staff are not limited.
        app.admin
            .post("/api/v1/offerings/limited-runs/checks", &json!({}))
            .await
            .expect_status(202);
        // An hour later the provider may again.
        app.clock.advance(jiff::SignedDuration::from_hours(1));
        assert!(runner.work_once().await.expect("runs"));
        member
            .post("/api/v1/offerings/limited-runs/checks", &json!({}))
            .await
            .expect_status(202);
    })
    .await;
}
