//! The checker against a real openbrokerapi broker: conformant (every check passes, nothing
//! left behind) and broken in the ways the spec names (the right check fails, with the right
//! section).

use std::sync::Mutex;
use std::time::Duration;

use vitrine_osb::guard::{Failure, Guard, Outgoing, Sensitivity};
use vitrine_osb::testing::{BrokerMode, TestBroker};
use vitrine_osb::{
    Check, Expectations, Journal, NoJournal, Outcome, Policy, Report, Resource, Step, StepVerdict,
};

async fn run_with(broker: &TestBroker, expectations: &Expectations, policy: &Policy) -> Report {
    let report = vitrine_osb::run(&broker.target(), expectations, policy, &NoJournal)
        .await
        .expect("the run starts");
    assert_every_check_once(&report);
    report
}

/// Whatever happened, the report has every check once, in the table's order.
fn assert_every_check_once(report: &Report) {
    let emitted: Vec<&str> = report.checks.iter().map(|c| c.id.as_str()).collect();
    let all: Vec<&str> = vitrine_osb::check_ids().collect();
    assert_eq!(emitted, all);
    for c in &report.checks {
        if c.outcome != Outcome::Passed {
            assert!(c.detail.is_some(), "{} says no why", c.id);
        }
    }
}

/// Runs the checker against a fresh broker in `mode`; `None` when the test skipped.
async fn checked(test: &str, mode: BrokerMode) -> Option<(TestBroker, Report)> {
    let broker = TestBroker::start_or_skip(test, mode)?;
    let report = run_with(&broker, &broker.expectations(), &TestBroker::policy()).await;
    Some((broker, report))
}

fn check<'r>(report: &'r Report, id: &str) -> &'r Check {
    report
        .checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id} in {:#?}", ids(report)))
}

fn ids(report: &Report) -> Vec<(String, Outcome, Option<String>)> {
    report
        .checks
        .iter()
        .map(|c| (c.id.clone(), c.outcome, c.detail.clone()))
        .collect()
}

/// The check failed, held to `section`.
fn assert_failed(report: &Report, id: &str, section: &str) -> String {
    let c = check(report, id);
    assert_eq!(c.outcome, Outcome::Failed, "{id}: {:#?}", ids(report));
    assert_eq!(c.spec.section, section, "{id}");
    c.detail.clone().unwrap_or_default()
}

/// Nothing failed but `failing`, which did.
fn assert_only_failing(report: &Report, failing: &[&str]) {
    let failed: Vec<&str> = report.failing().map(|c| c.id.as_str()).collect();
    assert_eq!(failed, failing, "{:#?}", ids(report));
}

async fn assert_nothing_left(broker: &TestBroker, report: &Report) {
    assert_eq!(report.leftovers, Vec::<Resource>::new());
    let state = broker.state().await;
    assert!(state.is_empty(), "the broker still holds {state:?}");
}

fn methods(c: &Check) -> Vec<(String, Option<u16>)> {
    c.exchanges
        .iter()
        .map(|e| (e.method.clone(), e.status))
        .collect()
}

#[tokio::test]
async fn a_conformant_broker_passes_every_check_and_keeps_nothing() {
    let Some((broker, report)) = checked("conformant", BrokerMode::Conformant).await else {
        return;
    };
    assert_only_failing(&report, &[]);
    for c in &report.checks {
        let allowed_skip = ["provision.last_operation", "binding.last_operation"];
        if c.outcome == Outcome::Skipped {
            assert!(
                allowed_skip.contains(&c.id.as_str()),
                "{} skipped: {:?}",
                c.id,
                c.detail
            );
        }
    }
    for step in [Step::Documentation, Step::Broker, Step::SignIn] {
        assert_eq!(report.verdict(step), StepVerdict::Passed, "{step:?}");
    }
    assert_eq!(report.checks.len(), vitrine_osb::check_ids().count());
    assert_nothing_left(&broker, &report).await;
    assert!(report.broker_ms <= report.duration_ms + 1);
    assert_eq!(report.api_version, "2.17");

    // Every broker request carries the headers; secrets never reach the report.
    let created = check(&report, "provision.created");
    let put = &created.exchanges[0];
    let header = |name: &str| {
        put.request_headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name} in {:?}", put.request_headers))
    };
    assert_eq!(header("x-broker-api-version"), "2.17");
    assert_eq!(header("authorization"), "[redacted]");
    assert!(header("x-broker-api-originating-identity").starts_with("vitrine "));
    assert_eq!(header("x-broker-api-request-identity").len(), 36);
    let json = serde_json::to_string(&report).expect("a report serialises");
    assert!(!json.contains("very-secret"), "binding credentials leaked");
    assert!(
        !json.contains("dashboard-client-secret"),
        "the client secret leaked"
    );
    assert!(
        !json.contains(vitrine_osb::testing::PASSWORD),
        "the broker password leaked"
    );
    let binding = check(&report, "binding.created");
    assert!(
        binding.exchanges[0]
            .response_body
            .as_deref()
            .is_some_and(|b| b.contains("[redacted]")),
        "{:?}",
        binding.exchanges[0].response_body
    );
}

#[tokio::test]
async fn an_asynchronous_broker_is_polled_with_its_operation_and_passes() {
    let Some((broker, report)) = checked("async", BrokerMode::ConformantAsync).await else {
        return;
    };
    assert_only_failing(&report, &[]);
    assert_eq!(
        check(&report, "provision.last_operation").outcome,
        Outcome::Passed
    );
    assert_eq!(
        check(&report, "binding.last_operation").outcome,
        Outcome::Passed
    );
    // Sync first, AsyncRequired, then again with accepts_incomplete=true.
    let created = check(&report, "provision.created");
    assert_eq!(
        methods(created),
        vec![("PUT".to_owned(), Some(422)), ("PUT".to_owned(), Some(202))]
    );
    assert!(created.exchanges[1].url.contains("accepts_incomplete=true"));
    let polls = &check(&report, "provision.last_operation").exchanges;
    assert!(polls.len() >= 2, "in progress, then succeeded");
    assert!(polls.iter().all(|e| e.url.contains("operation=provision-")));
    // Retry-After: 1 is honoured between the polls.
    assert!(check(&report, "provision.last_operation").duration_ms >= 900);
    assert_nothing_left(&broker, &report).await;
}

#[tokio::test]
async fn wrong_status_codes_fail_the_checks_they_break() {
    let Some((broker, report)) = checked("wrong_codes", BrokerMode::WrongCodes).await else {
        return;
    };
    let detail = assert_failed(&report, "provision.created", "Provisioning");
    assert!(detail.contains("201 Created"), "{detail}");
    assert_failed(&report, "probe.unknown_instance_delete", "Deprovisioning");
    assert_only_failing(
        &report,
        &["provision.created", "probe.unknown_instance_delete"],
    );
    assert_nothing_left(&broker, &report).await;
}

#[tokio::test]
async fn an_async_provision_without_last_operation_fails_and_is_cleaned_up() {
    let Some(broker) =
        TestBroker::start_or_skip("no_last_operation", BrokerMode::AsyncWithoutLastOperation)
    else {
        return;
    };
    let policy = Policy {
        max_polling: Duration::from_millis(600),
        ..TestBroker::policy()
    };
    let report = run_with(&broker, &broker.expectations(), &policy).await;
    let detail = assert_failed(
        &report,
        "provision.last_operation",
        "Polling Last Operation for Service Instances",
    );
    assert!(detail.contains("MUST be considered failed"), "{detail}");
    assert!(detail.contains("orphan mitigation removed it"), "{detail}");
    assert_eq!(check(&report, "binding.created").outcome, Outcome::Skipped);
    assert_nothing_left(&broker, &report).await;
}

#[tokio::test]
async fn a_failed_provision_is_mitigated() {
    let Some((broker, report)) = checked("failed_provision", BrokerMode::FailedProvision).await
    else {
        return;
    };
    let detail = assert_failed(&report, "provision.created", "Provisioning");
    assert!(detail.contains("500"), "{detail}");
    assert!(detail.contains("orphan mitigation"), "{detail}");
    let created = check(&report, "provision.created");
    assert_eq!(
        methods(created),
        vec![
            ("PUT".to_owned(), Some(500)),
            ("DELETE".to_owned(), Some(200))
        ]
    );
    assert_eq!(
        check(&report, "lifecycle.nothing_left").outcome,
        Outcome::Passed
    );
    assert_nothing_left(&broker, &report).await;
}

#[tokio::test]
async fn a_concurrency_error_gets_no_orphan_mitigation() {
    let Some((broker, report)) = checked("concurrency", BrokerMode::ConcurrencyError).await else {
        return;
    };
    let detail = assert_failed(&report, "provision.created", "Provisioning");
    assert!(detail.contains("ConcurrencyError"), "{detail}");
    // Platforms MUST NOT perform orphan mitigation after it: no DELETE.
    assert_eq!(
        methods(check(&report, "provision.created")),
        vec![("PUT".to_owned(), Some(422))]
    );
    assert!(
        check(&report, "lifecycle.nothing_left")
            .exchanges
            .is_empty(),
        "nothing to remove"
    );
    assert_eq!(
        check(&report, "lifecycle.nothing_left").outcome,
        Outcome::Passed
    );
    assert_nothing_left(&broker, &report).await;
}

#[tokio::test]
async fn a_slow_broker_times_out_and_is_mitigated() {
    let Some((broker, report)) = checked("slow", BrokerMode::Slow).await else {
        return;
    };
    let detail = assert_failed(&report, "provision.created", "Provisioning");
    assert!(detail.contains("time limit"), "{detail}");
    let created = check(&report, "provision.created");
    assert_eq!(created.exchanges[0].status, None);
    assert!(created.exchanges.iter().any(|e| e.method == "DELETE"));
    assert!(
        report.duration_ms < 8_000,
        "the run waited for the slow broker"
    );
    assert_nothing_left(&broker, &report).await;
}

#[tokio::test]
async fn a_huge_catalog_is_not_read_past_the_limit() {
    let Some((_broker, report)) = checked("huge_catalog", BrokerMode::HugeCatalog).await else {
        return;
    };
    let detail = assert_failed(&report, "catalog.fetched", "Catalog Management");
    assert!(detail.contains("larger than 1048576 bytes"), "{detail}");
    assert_eq!(
        check(&report, "provision.created").outcome,
        Outcome::Skipped
    );
    assert_eq!(report.verdict(Step::Broker), StepVerdict::Failed);
    let exchange = &check(&report, "catalog.fetched").exchanges[0];
    // No Content-Length to refuse it by: the stream was cut at the cap.
    assert!(
        exchange
            .response_headers
            .iter()
            .all(|(name, _)| name != "content-length"),
        "{:?}",
        exchange.response_headers
    );
    let excerpt = exchange.response_body.clone().unwrap_or_default();
    assert!(excerpt.len() <= 4096);
}

#[tokio::test]
async fn an_invalid_json_catalog_fails_its_check() {
    let Some((_broker, report)) = checked("invalid_json", BrokerMode::InvalidJson).await else {
        return;
    };
    let detail = assert_failed(&report, "catalog.fetched", "Catalog Management");
    assert!(detail.contains("not JSON"), "{detail}");
    assert_eq!(
        check(&report, "catalog.unique_ids").outcome,
        Outcome::Skipped
    );
}

#[tokio::test]
async fn duplicate_plan_ids_fail_the_uniqueness_check() {
    let Some((broker, report)) = checked("duplicate_ids", BrokerMode::DuplicatePlanIds).await
    else {
        return;
    };
    let detail = assert_failed(&report, "catalog.unique_ids", "Catalog Management");
    assert!(
        detail.contains("a1f3c0de-0000-4000-8000-000000000001"),
        "{detail}"
    );
    assert_only_failing(&report, &["catalog.unique_ids"]);
    assert_nothing_left(&broker, &report).await;
}

#[tokio::test]
async fn a_bad_plan_schema_fails_the_schema_check() {
    let Some((_broker, report)) = checked("bad_schema", BrokerMode::BadPlanSchema).await else {
        return;
    };
    let detail = assert_failed(&report, "catalog.plan_schemas", "Catalog Management");
    assert!(detail.contains("$schema"), "{detail}");
    assert!(detail.contains("external reference"), "{detail}");
    assert_only_failing(&report, &["catalog.plan_schemas"]);
}

#[tokio::test]
async fn a_broker_without_authentication_fails_the_credentials_probe() {
    let Some((_broker, report)) = checked("no_auth", BrokerMode::NoAuth).await else {
        return;
    };
    let detail = assert_failed(
        &report,
        "probe.bad_credentials",
        "Platform to Service Broker Authentication",
    );
    assert!(detail.contains("200"), "{detail}");
    assert_only_failing(&report, &["probe.bad_credentials"]);
}

#[tokio::test]
async fn a_dashboard_with_another_client_fails_the_sign_in() {
    let Some((_broker, report)) = checked("dashboard", BrokerMode::WrongDashboardClient).await
    else {
        return;
    };
    let detail = assert_failed(
        &report,
        "sign_in.redirect",
        "Provisioning; profile: Dashboard Client Object",
    );
    assert!(detail.contains("someone-else"), "{detail}");
    assert_eq!(report.verdict(Step::SignIn), StepVerdict::Failed);
    assert_eq!(report.verdict(Step::Broker), StepVerdict::Passed);
    // The redirect was not followed: one exchange, the 302.
    assert_eq!(
        methods(check(&report, "sign_in.redirect")),
        vec![("GET".to_owned(), Some(302))]
    );
}

#[tokio::test]
async fn checks_that_cannot_run_are_skipped_and_their_steps_stay_attested() {
    let Some(broker) = TestBroker::start_or_skip("skipped", BrokerMode::Conformant) else {
        return;
    };
    let expectations = Expectations {
        documentation_url: None,
        authorization_endpoint: None,
        ..broker.expectations()
    };
    let report = run_with(&broker, &expectations, &TestBroker::policy()).await;
    for id in [
        "documentation.html",
        "documentation.languages",
        "sign_in.redirect",
    ] {
        let c = check(&report, id);
        assert_eq!(c.outcome, Outcome::Skipped, "{id}");
        assert!(c.detail.is_some(), "{id} says why");
    }
    assert_eq!(report.verdict(Step::Documentation), StepVerdict::NotChecked);
    assert_eq!(report.verdict(Step::SignIn), StepVerdict::NotChecked);
    assert_eq!(report.verdict(Step::Broker), StepVerdict::Passed);

    // A language the docs do not have fails the language check.
    let expectations = Expectations {
        languages: vec!["en".to_owned(), "de".to_owned()],
        plan_names: vec!["small".to_owned(), "medium".to_owned()],
        ..broker.expectations()
    };
    let report = run_with(&broker, &expectations, &TestBroker::policy()).await;
    let detail = assert_failed(
        &report,
        "documentation.languages",
        "vitrine checklist step 1",
    );
    assert!(detail.starts_with("de:"), "{detail}");
    let detail = assert_failed(&report, "catalog.matches_offering", "Catalog Management");
    assert!(
        detail.contains("medium") && detail.contains("large"),
        "{detail}"
    );
    assert_nothing_left(&broker, &report).await;
}

#[tokio::test]
async fn private_addresses_are_refused_by_default() {
    let Some(broker) = TestBroker::start_or_skip("private", BrokerMode::Conformant) else {
        return;
    };
    let policy = Policy {
        request_timeout: Duration::from_secs(1),
        ..Policy::default()
    };
    // A literal loopback address, and a name that resolves to one.
    let mut by_name = broker.target();
    by_name
        .broker_url
        .set_host(Some("localhost"))
        .expect("a host");
    for target in [broker.target(), by_name] {
        let report = vitrine_osb::run(&target, &broker.expectations(), &policy, &NoJournal)
            .await
            .expect("the run starts");
        assert_every_check_once(&report);
        let detail = assert_failed(&report, "catalog.fetched", "Catalog Management");
        assert!(detail.starts_with("refused"), "{detail}");
        assert!(detail.contains("loopback"), "{detail}");
        let exchange = &check(&report, "catalog.fetched").exchanges[0];
        assert_eq!(exchange.status, None);
    }
}

#[tokio::test]
async fn the_guard_follows_no_redirect_and_caps_answers() {
    let Some(broker) = TestBroker::start_or_skip("guard", BrokerMode::Conformant) else {
        return;
    };
    let policy = Policy {
        max_response_bytes: 64,
        ..TestBroker::policy()
    };
    let guard = Guard::new(&policy).expect("a client");
    let get = |path: &str| Outgoing {
        method: reqwest::Method::GET,
        url: broker.url().join(path).expect("a URL"),
        headers: Vec::new(),
        body: None,
        sensitivity: Sensitivity::Ordinary,
    };
    let answer = guard.send(get("dashboard/some-instance")).await;
    assert_eq!(answer.status, Some(302));
    assert!(
        answer
            .header("location")
            .is_some_and(|l| l.contains("client_id="))
    );
    let answer = guard.send(get("docs")).await;
    assert_eq!(answer.failure, Some(Failure::TooLarge(64)));
    assert!(answer.body.len() <= 64);
    assert!(guard.total_ms() <= 2_000);
}

#[derive(Default)]
struct Recording {
    events: Mutex<Vec<String>>,
    refuse: bool,
}

impl Journal for Recording {
    async fn will_create(&self, resource: &Resource) -> Result<(), String> {
        self.events
            .lock()
            .expect("the lock")
            .push(format!("create {}", kind(resource)));
        if self.refuse {
            Err("the database is read-only".to_owned())
        } else {
            Ok(())
        }
    }
    async fn removed(&self, resource: &Resource) {
        self.events
            .lock()
            .expect("the lock")
            .push(format!("removed {}", kind(resource)));
    }
    async fn checked(&self, _check: &Check) {}
}

fn kind(resource: &Resource) -> &'static str {
    match resource {
        Resource::Instance { .. } => "instance",
        Resource::Binding { .. } => "binding",
    }
}

#[tokio::test]
async fn the_journal_hears_of_each_resource_before_it_is_created() {
    let Some(broker) = TestBroker::start_or_skip("journal", BrokerMode::Conformant) else {
        return;
    };
    let journal = Recording::default();
    let report = vitrine_osb::run(
        &broker.target(),
        &broker.expectations(),
        &TestBroker::policy(),
        &journal,
    )
    .await
    .expect("the run starts");
    assert_every_check_once(&report);
    assert_only_failing(&report, &[]);
    assert_eq!(
        *journal.events.lock().expect("the lock"),
        vec![
            "create instance",
            "create binding",
            "removed binding",
            "removed instance"
        ]
    );

    let refusing = Recording {
        refuse: true,
        ..Recording::default()
    };
    let report = vitrine_osb::run(
        &broker.target(),
        &broker.expectations(),
        &TestBroker::policy(),
        &refusing,
    )
    .await
    .expect("the run starts");
    assert_every_check_once(&report);
    let detail = assert_failed(&report, "provision.created", "Provisioning");
    assert!(detail.contains("read-only"), "{detail}");
    assert!(
        check(&report, "provision.created").exchanges.is_empty(),
        "nothing was sent"
    );
    assert_nothing_left(&broker, &report).await;
}

#[tokio::test]
async fn clean_up_removes_what_an_interrupted_run_left() {
    let Some(broker) = TestBroker::start_or_skip("clean_up", BrokerMode::ConformantAsync) else {
        return;
    };
    // An instance created as an interrupted run would have left it.
    let service_id = "5f1d7a4e-3b0c-4d1e-9a59-6c0b9a2f0c11";
    let plan_id = "a1f3c0de-0000-4000-8000-000000000001";
    let instance_id = "left-by-a-killed-run";
    let answer = TestBroker::client()
        .put(
            broker
                .url()
                .join(&format!(
                    "v2/service_instances/{instance_id}?accepts_incomplete=true"
                ))
                .expect("a URL"),
        )
        .basic_auth(
            vitrine_osb::testing::USERNAME,
            Some(vitrine_osb::testing::PASSWORD),
        )
        .header("X-Broker-API-Version", "2.17")
        .json(&serde_json::json!({
            "service_id": service_id,
            "plan_id": plan_id,
            "organization_guid": "org",
            "space_guid": "space",
        }))
        .send()
        .await
        .expect("the broker answers");
    assert_eq!(answer.status().as_u16(), 202);
    assert_eq!(broker.state().await.instances, vec![instance_id.to_owned()]);
    let leftovers = [
        Resource::Instance {
            instance_id: instance_id.to_owned(),
            service_id: service_id.to_owned(),
            plan_id: plan_id.to_owned(),
        },
        // Never created: 410, which counts as removed.
        Resource::Binding {
            instance_id: instance_id.to_owned(),
            binding_id: "never-made".to_owned(),
            service_id: service_id.to_owned(),
            plan_id: plan_id.to_owned(),
        },
    ];
    let failed = vitrine_osb::clean_up(&broker.target(), &TestBroker::policy(), &leftovers).await;
    assert_eq!(failed, Vec::new());
    assert!(broker.state().await.is_empty());

    // Against a broker that is not there, each leftover is named with why.
    let mut gone = broker.target();
    gone.broker_url.set_port(Some(9)).expect("a port");
    let failed = vitrine_osb::clean_up(&gone, &TestBroker::policy(), &leftovers[..1]).await;
    assert_eq!(failed.len(), 1);
    assert!(failed[0].1.contains("DELETE"), "{}", failed[0].1);
}
