//! Checked prerequisites over HTTP, against a real Open Service Broker (openbrokerapi,
//! started by vitrine-osb's harness): a provider registers the broker (the password never
//! comes back), starts a run, and the run's report completes steps 1, 3 and 4; a failing
//! broker blocks the go-live request with its failing checks; runs are limited per hour.

use std::sync::Arc;

use serde_json::{Value, json};
use vitrine_checks_store::ChecksStore;
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

/// Fails unless `value` matches the OpenAPI document's schema `name` (its `$ref`s resolved
/// within the document), so what is served is what the document says.
async fn assert_matches_schema(app: &TestApp, name: &str, value: &Value) {
    let document = app
        .admin
        .get("/api/openapi.json")
        .await
        .expect_status(200)
        .json();
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{name}"),
        "components": document["components"],
    });
    let validator = jsonschema::validator_for(&schema).expect("the document's schemas compile");
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{name} does not match its schema: {errors:?}\n{value}"
    );
}

/// The provider member registers `target` as the offering's broker.
async fn register(member: &crate::support::Client, name: &str, target: &vitrine_osb::Target) {
    member
        .put(
            &format!("/api/v1/offerings/{name}/broker"),
            &json!({
                "url": target.broker_url.as_str(),
                "username": target.username,
                "password": target.password,
            }),
        )
        .await
        .expect_status(200);
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
            register(&member, "dup-plans", &target).await;
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
                text.contains("step 3 (hosted broker) failed its checks"),
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

/// The validator's review of a submission shows the offering's latest run beside the demo:
/// the verdict, each step's, the failing checks with the spec's words, the link to the
/// report; the validator runs the checks again once the provider fixed the broker and reads
/// what changed. The submission's JSON carries the same summary.
#[tokio::test]
async fn the_validator_reads_the_latest_run_beside_the_demo_and_runs_it_again() {
    let Some(failing) = TestBroker::start_or_skip("checks_review", BrokerMode::DuplicatePlanIds)
    else {
        return;
    };
    let Some(fixed) = TestBroker::start_or_skip("checks_review", BrokerMode::Conformant) else {
        return;
    };
    let rehearsal = || ServerConfig {
        test_clock: true,
        scheduler_interval: None,
        ..config()
    };
    each_backend_with(rehearsal, |app| {
        let (failing, fixed) = (&failing, &fixed);
        async move {
            let member = offering_for(&app, Some(failing), "rev-svc").await;
            let target = failing.target();
            register(&member, "rev-svc", &target).await;
            // No run yet: the provider attests, and the go-live request starts the run.
            for (step, state) in [
                ("documentation", "in_progress"),
                ("broker_hosted", "complete"),
                ("authentication_flow", "complete"),
            ] {
                member
                    .put(
                        &format!("/api/v1/offerings/rev-svc/checklist/{step}"),
                        &json!({"state": state}),
                    )
                    .await
                    .expect_status(200);
            }
            let validator_email = "val@vitrine.test";
            let validator_api = app
                .user_with(json!({"email": validator_email, "display_name": "Val",
                    "password": "correct horse battery",
                    "staff": {"admin": false, "validator": true}}))
                .await
                .client;
            let id = submitted(&app, &member, "rev-svc").await;
            assert!(runner(&app).work_once().await.expect("runs"));
            app.admin
                .post(
                    "/api/v1/test-clock/advance",
                    &json!({"to": "2026-03-03T00:00:00Z"}),
                )
                .await
                .expect_status(200);
            let validator = crate::web::WebClient::new(&app);
            validator
                .sign_in(validator_email, "correct horse battery")
                .await;

            // The API: the submission carries the run's summary, for the validator too.
            let checks = &checks_of(&validator_api, &id).await;
            assert_eq!(checks["passed"], false, "{checks}");
            assert_eq!(checks["run"]["trigger"], "submission");
            assert_eq!(checks["run"]["verdicts"]["broker"], "failed");
            assert_eq!(checks["previous"], Value::Null);
            let failing_checks = checks["failing"].as_array().expect("failing");
            assert!(!failing_checks.is_empty(), "{checks}");
            for check in failing_checks {
                assert!(
                    check["spec"]["section"].as_str().is_some_and(|s| !s.is_empty()),
                    "each failing check names the spec's section: {check}"
                );
            }
            let first_run = checks["run"]["id"].as_str().expect("run id").to_owned();
            let unique = failing_checks
                .iter()
                .find(|c| c["id"] == "catalog.unique_ids")
                .unwrap_or_else(|| panic!("duplicate plan ids fail catalog.unique_ids: {checks}"));
            let report_path = checks["report_path"].as_str().expect("report link");
            assert_eq!(
                report_path,
                format!("/api/v1/offerings/rev-svc/checks/{first_run}")
            );
            let report = validator_api.get(report_path).await.expect_status(200).json();
            assert_matches_schema(&app, "CheckRunView", &report).await;
            assert_matches_schema(&app, "ChecksSummary", checks).await;

            // The page: beside the recordings, before the decision form.
            let page_path = format!("/submissions/{id}");
            let page = validator.get(&page_path).await;
            assert_eq!(page.status, 200, "{}", page.html);
            let html = &page.html;
            let at = |needle: &str| {
                html.find(needle)
                    .unwrap_or_else(|| panic!("{needle} not in {html}"))
            };
            assert!(at("<video") < at("id=\"checks\"") && at("id=\"checks\"") < at("id=\"decision-form\""),
                "the checks sit beside the demo, before the decision");
            let title = vitrine_osb::check_title("catalog.unique_ids", "en");
            page.assert_contains(&format!(
                "Failed (failing checks: {})",
                failing_checks.len()
            ))
            .assert_contains("id=\"checks-verdict-broker\">3. Service broker developed and hosted: <span class=\"verdict-failed\">failed</span>")
            .assert_contains(&format!("<li class=\"check check-failed\" id=\"failing-catalog.unique_ids\"><strong>{title}</strong>"))
            .assert_contains(&format!(
                "« {} »",
                unique["spec"]["section"].as_str().expect("section")
            ))
            .assert_contains(&format!("href=\"/checks/rev-svc/{first_run}\""))
            .assert_contains("id=\"checks-when\"")
            .assert_contains("started by the go-live request")
            .assert_contains("id=\"checks-run-again\"")
            .assert_lacks("id=\"checks-changes\"");

            // The provider fixes the broker (same credentials, another URL); the validator
            // runs the checks again from the review and lands on the new run's report.
            member
                .put(
                    "/api/v1/offerings/rev-svc/broker",
                    &json!({"url": fixed.url().as_str(), "username": target.username}),
                )
                .await
                .expect_status(200);
            let started = validator
                .post_form(&page_path, "/checks/rev-svc", &[])
                .await;
            assert_eq!(started.status, 303, "{}", started.html);
            assert!(
                started.location().starts_with("/checks/rev-svc/"),
                "{}",
                started.location()
            );
            let under_way = validator.get(&page_path).await;
            under_way
                .assert_contains("id=\"checks-under-way\"")
                .assert_contains("Failed (failing checks:");
            assert!(runner(&app).work_once().await.expect("runs"));

            let checks = &checks_of(&validator_api, &id).await;
            assert_eq!(checks["passed"], true, "{checks}");
            assert_eq!(checks["run"]["trigger"], "validator");
            assert_eq!(checks["previous"], first_run.as_str());
            assert_eq!(checks["under_way"], Value::Null);
            let change = checks["changes"]
                .as_array()
                .expect("changes")
                .iter()
                .find(|c| c["id"] == "catalog.unique_ids")
                .unwrap_or_else(|| panic!("the fixed check is a change: {checks}"));
            assert_eq!(change["before"], "failed");
            assert_eq!(change["after"], "passed");
            assert_matches_schema(&app, "ChecksSummary", checks).await;
            let page = validator.get(&page_path).await;
            page.assert_contains("Every check passed")
                .assert_contains(&format!("<li>{title}: failed → passed</li>"))
                .assert_contains("started by a validator")
                .assert_lacks("id=\"checks-failing\"");

            // In French for a validator who reads French.
            validator
                .post_form("/", "/language", &[("lang", "fr"), ("_next", "/")])
                .await;
            validator
                .get(&page_path)
                .await
                .assert_contains("Toutes les vérifications sont réussies")
                .assert_contains("Relancer les vérifications")
                .assert_contains("en échec → réussie");

            // The provider reads the same summary on the submission's page.
            let provider = crate::web::WebClient::new(&app);
            provider
                .sign_in("dev@rev-svc.test", "correct horse battery")
                .await;
            provider
                .get(&page_path)
                .await
                .assert_contains("id=\"checks-section\"")
                .assert_contains("Every check passed");
        }
    })
    .await;
}

/// The `checks` of the submission's JSON, as `client` reads it.
async fn checks_of(client: &crate::support::Client, id: &str) -> Value {
    client
        .get(&format!("/api/v1/submissions/{id}"))
        .await
        .expect_status(200)
        .json()["checks"]
        .clone()
}

/// Creates the offering's submission with one recording and submits it; returns its id.
async fn submitted(app: &TestApp, member: &crate::support::Client, name: &str) -> String {
    let created = member
        .post(&format!("/api/v1/offerings/{name}/submissions"), &json!({}))
        .await
        .expect_status(201)
        .json();
    let id = created["submission"]["id"].as_str().expect("id").to_owned();
    let me = member.get("/api/v1/me").await.expect_status(200).json();
    let uploader = me["user"]["id"]
        .as_str()
        .expect("my id")
        .parse()
        .expect("uuid");
    let recording = app.stored_recording(&id, uploader).await;
    member
        .patch(
            &format!("/api/v1/submissions/{id}"),
            &json!({"recordings": [recording.id]}),
        )
        .await
        .expect_status(200);
    member
        .post(&format!("/api/v1/submissions/{id}/submit"), &json!({}))
        .await
        .expect_status(200);
    id
}

/// A revision queued for review starts a run as a go-live request does: against the broker
/// it proposes when it changes the broker settings (checked with the registered password,
/// the registration itself untouched until publication), against the registered broker
/// otherwise; a revision published at once starts none.
#[tokio::test]
async fn a_revision_queued_for_review_checks_the_broker_it_proposes() {
    let Some(live) = TestBroker::start_or_skip("checks_revision", BrokerMode::Conformant) else {
        return;
    };
    let Some(proposed) = TestBroker::start_or_skip("checks_revision", BrokerMode::DuplicatePlanIds)
    else {
        return;
    };
    each_backend_with(config, |app| {
        let (live, proposed) = (&live, &proposed);
        async move {
            let member = offering_for(&app, Some(live), "rev-broker").await;
            register(&member, "rev-broker", &live.target()).await;
            app.admin
                .put(
                    "/api/v1/offerings/rev-broker/visibility",
                    &json!({"visibility": "public"}),
                )
                .await
                .expect_status(200);
            let runs = |app: &TestApp| {
                let admin = app.admin.clone();
                async move {
                    admin
                        .get("/api/v1/offerings/rev-broker/checks")
                        .await
                        .expect_status(200)
                        .json()
                }
            };
            let start = |member: crate::support::Client| async move {
                member
                    .post("/api/v1/offerings/rev-broker/revisions", &json!({}))
                    .await
                    .expect_status(201)
                    .json()["submission_id"]
                    .as_str()
                    .expect("id")
                    .to_owned()
            };
            let submit = |member: crate::support::Client, id: String| async move {
                member
                    .post(
                        &format!("/api/v1/submissions/{id}/revision/submit"),
                        &json!({}),
                    )
                    .await
                    .expect_status(200)
                    .json()
            };

            // Texts only: published at once, no run.
            let id = start(member.clone()).await;
            member
                .patch(
                    &format!("/api/v1/submissions/{id}/revision"),
                    &json!({"description": {"en": "Objects, now faster", "fr": "Des objets"}}),
                )
                .await
                .expect_status(200);
            assert_eq!(submit(member.clone(), id).await["state"], "published");
            assert_eq!(runs(&app).await["items"], json!([]), "no run for a publication");

            // A new broker: the run checks it, not the registered one.
            let id = start(member.clone()).await;
            member
                .patch(
                    &format!("/api/v1/submissions/{id}/revision"),
                    &json!({"broker": {"url": proposed.url().as_str()}}),
                )
                .await
                .expect_status(200);
            assert_eq!(submit(member.clone(), id.clone()).await["state"], "queued");
            let checks = checks_of(&member, &id).await;
            let run = &checks["run"];
            assert_eq!(run["trigger"], "submission", "{checks}");
            assert_eq!(run["state"], "queued");
            assert_eq!(
                run["broker"]["url"].as_str().map(|u| u.trim_end_matches('/')),
                Some(proposed.url().as_str().trim_end_matches('/'))
            );
            assert!(runner(&app).work_once().await.expect("runs"));
            let checks = checks_of(&app.admin, &id).await;
            assert_eq!(checks["passed"], false, "{checks}");
            assert!(
                checks["failing"]
                    .as_array()
                    .expect("failing")
                    .iter()
                    .any(|c| c["id"] == "catalog.unique_ids"),
                "the proposed broker's duplicate plan ids were found: {checks}"
            );
            let registered = member
                .get("/api/v1/offerings/rev-broker/broker")
                .await
                .expect_status(200)
                .json();
            assert_eq!(
                registered["registration"]["url"]
                    .as_str()
                    .map(|u| u.trim_end_matches('/')),
                Some(live.url().as_str().trim_end_matches('/')),
                "the registration is the live one until publication"
            );
            member
                .post(&format!("/api/v1/submissions/{id}/withdraw"), &json!({}))
                .await
                .expect_status(200);

            // Plans only: the registered broker is checked, and passes. (A minute later: the
            // summary tells a newer run by its time.)
            app.clock.advance(jiff::SignedDuration::from_mins(1));
            let id = start(member.clone()).await;
            let plans: Vec<Value> = ["small", "large"]
                .iter()
                .map(|p| json!({"name": p, "display_name": {"en": format!("{p} plan")}, "pricing": {"kind": "free"}}))
                .collect();
            member
                .patch(
                    &format!("/api/v1/submissions/{id}/revision"),
                    &json!({"plans": plans}),
                )
                .await
                .expect_status(200);
            assert_eq!(submit(member.clone(), id.clone()).await["state"], "queued");
            let summary = checks_of(&member, &id).await;
            let under_way = &summary["under_way"];
            assert_eq!(
                under_way["trigger"],
                "submission",
                "{summary}\n{}",
                runs(&app).await
            );
            assert_eq!(under_way["broker"], Value::Null);
            assert!(runner(&app).work_once().await.expect("runs"));
            let checks = checks_of(&member, &id).await;
            assert_eq!(checks["passed"], true, "{checks}");
            assert_eq!(checks["run"]["id"], under_way["id"]);
        }
    })
    .await;
}

/// The editor's "Broker and checks" form: a save goes back to the editor's broker section
/// saying so, a second save with the password left empty keeps the stored one, and a refused
/// URL is answered beside that form with the reason, the registration unchanged.
#[tokio::test]
async fn the_editors_broker_form_saves_keeps_the_password_and_refuses_beside_itself() {
    each_backend_with(config, |app| async move {
        let member = offering_for(&app, None, "form-broker").await;
        let web = crate::web::WebClient::new(&app);
        web.sign_in("dev@form-broker.test", "correct horse battery")
            .await;
        let editor = "/provider/offerings/form-broker";
        let action = "/provider/offerings/form-broker/broker";

        let saved = web
            .post_form(
                editor,
                action,
                &[
                    ("url", "https://broker.form-broker.test/osb/"),
                    ("username", "vitrine"),
                    ("password", "s3cret-broker-password"),
                    ("api_version", "2.17"),
                ],
            )
            .await;
        assert_eq!(saved.status, 303, "{}", saved.html);
        assert_eq!(saved.location(), "/provider/offerings/form-broker#broker");
        web.get(editor)
            .await
            .assert_contains("The broker was saved.")
            // Stored without its trailing slash (the page escapes `/`).
            .assert_contains("value=\"https:&#x2f;&#x2f;broker.form-broker.test&#x2f;osb\"")
            .assert_lacks("s3cret-broker-password");

        let offering_id: vitrine_domain::OfferingId = member
            .get("/api/v1/offerings/form-broker/broker")
            .await
            .expect_status(200)
            .json()["registration"]["offering_id"]
            .as_str()
            .expect("offering_id")
            .parse()
            .expect("an offering id");
        let sealed_password = || async {
            app.store
                .broker(offering_id)
                .await
                .expect("read")
                .expect("registered")
                .password_sealed
        };
        let first_password = sealed_password().await;

        // The password field left empty: the stored password stays, the username changes.
        let kept = web
            .post_form(
                editor,
                action,
                &[
                    ("url", "https://broker.form-broker.test/osb"),
                    ("username", "vitrine-2"),
                    ("password", ""),
                    ("api_version", "2.17"),
                ],
            )
            .await;
        assert_eq!(kept.status, 303, "{}", kept.html);
        let read = member
            .get("/api/v1/offerings/form-broker/broker")
            .await
            .expect_status(200)
            .json();
        assert_eq!(read["registration"]["username"], "vitrine-2", "{read}");
        assert_eq!(sealed_password().await, first_password, "the password kept");

        let refused = web
            .post_form(
                editor,
                action,
                &[
                    ("url", "https://user:pw@broker.form-broker.test/osb"),
                    ("username", "vitrine-3"),
                    ("password", ""),
                    ("api_version", "2.17"),
                ],
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.html);
        let broker_section = refused
            .html
            .split("id=\"broker\"")
            .nth(1)
            .and_then(|rest| rest.split("</section>").next())
            .expect("the editor's broker section");
        assert!(
            broker_section.contains("must not carry credentials"),
            "the reason beside the broker form: {}",
            refused.html
        );
        let read = member
            .get("/api/v1/offerings/form-broker/broker")
            .await
            .expect_status(200)
            .json();
        assert_eq!(read["registration"]["username"], "vitrine-2", "unchanged");
        assert_eq!(
            read["registration"]["url"],
            "https://broker.form-broker.test/osb"
        );
    })
    .await;
}
