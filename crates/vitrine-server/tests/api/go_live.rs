//! The go-live review over HTTP with the test clock: an offering through two rounds and
//! publication across simulated weeks, the emails each step sends (received by a real SMTP
//! server the test starts), the concurrent-decision conflict, refused transitions, and calendar changes that move dates.
//!
//! The test clock starts at `support::START`, Monday 2 March 2026 09:00 UTC; the calendar
//! is the default (UTC, review on Tuesday, decision two working days later).

use std::sync::Arc;

use serde_json::{Value, json};
use vitrine_domain::recording::Recording;
use vitrine_domain::{RecordingId, SubmissionId, UserId};
use vitrine_server::{Dispatcher, DispatcherSettings, ServerConfig};
use vitrine_store::OutboxQuery;

use crate::smtp::{Delivery, Received, SmtpServer};
use crate::support::{Client, TestApp, TestUser, each_backend, each_backend_with};

pub(crate) fn rehearsal() -> ServerConfig {
    ServerConfig {
        test_clock: true,
        scheduler_interval: None,
        ..ServerConfig::default()
    }
}

pub(crate) struct Cast {
    pub provider: String,
    pub owner: TestUser,
    pub member: TestUser,
    pub validator: TestUser,
    pub other_validator: TestUser,
    pub customer: TestUser,
}

/// An approved provider (French-speaking owner, English-speaking member) whose offering
/// `demo-svc` is ready for go-live; two validators; a customer.
pub(crate) async fn cast(app: &TestApp) -> Cast {
    let owner = app
        .user_with(
            json!({"email": "owner@p.test", "display_name": "Olga", "language": "fr",
            "time_zone": "Europe/Paris"}),
        )
        .await;
    let member = app.user("member@p.test").await;
    let validator = app
        .user_with(json!({"email": "val@vitrine.test", "display_name": "Val",
            "staff": {"admin": false, "validator": true}}))
        .await;
    let other_validator = app
        .user_with(json!({"email": "val2@vitrine.test", "display_name": "Vic",
            "staff": {"admin": false, "validator": true}}))
        .await;
    let customer = app.user("customer@c.test").await;
    app.account("Customer C", &customer).await;
    let provider = app.provider("Provider P", &owner).await;
    app.add_member(&provider, &member, "member").await;
    ready_offering(app, &owner, &provider, "demo-svc").await;
    Cast {
        provider,
        owner,
        member,
        validator,
        other_validator,
        customer,
    }
}

/// An offering of `provider` whose checklist holds for go-live.
pub(crate) async fn ready_offering(app: &TestApp, owner: &TestUser, provider: &str, name: &str) {
    app.offering(
        &owner.client,
        provider,
        name,
        "limited",
        &[],
        json!({"documentation_url": "https://docs.p.test", "support_contact": "help@p.test"}),
    )
    .await;
    for (step, state) in [
        ("documentation", "in_progress"),
        ("broker_hosted", "complete"),
        ("authentication_flow", "complete"),
    ] {
        owner
            .client
            .put(
                &format!("/api/v1/offerings/{name}/checklist/{step}"),
                &json!({"state": state}),
            )
            .await
            .expect_status(200);
    }
}

/// A recording of the submission, as the upload routes would leave it.
async fn recording(app: &TestApp, submission: &str, by: UserId) -> String {
    let recording = Recording {
        id: RecordingId::generate(),
        submission_id: submission.parse::<SubmissionId>().expect("id"),
        uploaded_by: by,
        file_name: "demo.mp4".into(),
        size: 1234,
        sha256: "0".repeat(64),
        media_type: "video/mp4".into(),
        duration_seconds: Some(60.0),
        created_at: app.clock_now(),
    };
    app.store
        .insert_recording(&recording, &[])
        .await
        .expect("recording stored");
    recording.id.to_string()
}

trait Now {
    fn clock_now(&self) -> jiff::Timestamp;
}

impl Now for TestApp {
    fn clock_now(&self) -> jiff::Timestamp {
        use vitrine_server::Clock;
        self.clock.now()
    }
}

/// Every email in the outbox, oldest first (payloads as they will be sent).
pub(crate) async fn outbox(app: &TestApp) -> Vec<Value> {
    let mut rows = app
        .store
        .outbox(&OutboxQuery {
            status: None,
            before_id: None,
            limit: 1000,
        })
        .await
        .expect("outbox");
    rows.sort_by_key(|r| r.id);
    rows.into_iter().map(|r| r.payload).collect()
}

fn to_of(email: &Value) -> String {
    email["to"].to_string()
}

/// The emails written since `from` (an outbox length), to `address`.
fn emails_to<'a>(emails: &'a [Value], from: usize, address: &str) -> Vec<&'a Value> {
    emails[from..]
        .iter()
        .filter(|e| to_of(e).contains(address))
        .collect()
}

#[track_caller]
fn assert_threaded(email: &Value, submission: &str) {
    let root = format!("<submission-{submission}@localhost>");
    assert_eq!(email["in_reply_to"], json!(root), "{email}");
    assert_eq!(email["references"], json!([root]), "{email}");
    let id = email["message_id"].as_str().expect("message id");
    assert!(id.starts_with('<') && id.ends_with("@localhost>") && id != root);
}

pub(crate) async fn advance_to(app: &TestApp, to: &str) -> Value {
    app.admin
        .post("/api/v1/test-clock/advance", &json!({"to": to}))
        .await
        .expect_status(200)
        .json()
}

fn changed(report: &Value, step: &str) -> u64 {
    report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["step"] == step)
        .and_then(|s| s["changed"].as_u64())
        .expect("step reported")
}

pub(crate) fn verdicts(unmet: &[&str], requirements: &Value) -> Value {
    Value::Array(
        requirements["requirements"]
            .as_array()
            .expect("requirements")
            .iter()
            .map(|r| {
                let key = r["key"].as_str().expect("key");
                if unmet.contains(&key) {
                    json!({"requirement": key, "outcome": "not_met", "comment": "not shown in the demo"})
                } else {
                    json!({"requirement": key, "outcome": "met"})
                }
            })
            .collect(),
    )
}

pub(crate) async fn get(client: &Client, id: &str) -> Value {
    client
        .get(&format!("/api/v1/submissions/{id}"))
        .await
        .expect_status(200)
        .json()
}

/// The server's own time (the test clock moved by `advance`), fixed: what a dispatcher
/// running in that server would see.
pub(crate) struct ServerTime(pub jiff::Timestamp);

impl vitrine_server::Clock for ServerTime {
    fn now(&self) -> jiff::Timestamp {
        self.0
    }
}

/// The server's rehearsal clock as it stands (ahead of the test's own by what `advance`
/// moved it).
pub(crate) async fn server_now(app: &TestApp) -> jiff::Timestamp {
    app.admin
        .get("/api/v1/test-clock")
        .await
        .expect_status(200)
        .json()["now"]
        .as_str()
        .expect("now")
        .parse()
        .expect("a timestamp")
}

/// Sends every email due in the outbox through the SMTP server, as the server's dispatcher
/// would, and returns what the SMTP server received since the last call.
async fn deliver(app: &TestApp, smtp: &SmtpServer) -> Vec<Received> {
    let now = server_now(app).await;
    let report = Dispatcher::new(
        app.store.clone(),
        Arc::new(ServerTime(now)),
        Arc::new(smtp.transport()),
        DispatcherSettings::default(),
    )
    .drain_once()
    .await
    .expect("drain the outbox");
    assert_eq!((report.retrying, report.failed), (0, 0), "{report:?}");
    let received: Vec<Received> = smtp.take().iter().map(Delivery::received).collect();
    assert_eq!(
        received.len(),
        report.sent as usize,
        "the server received every email sent: {received:#?}"
    );
    received
}

/// The one message received for `address` (envelope recipient).
#[track_caller]
fn received_by<'a>(received: &'a [Received], address: &str) -> &'a Received {
    let mine: Vec<&Received> = received
        .iter()
        .filter(|r| r.recipients.iter().any(|to| to == address))
        .collect();
    assert_eq!(mine.len(), 1, "one email to {address} in {received:#?}");
    assert_eq!(mine[0].recipients, [address], "one recipient per email");
    mine[0]
}

/// Threaded under the submission's root, with an id of its own, as a mail client reads it.
#[track_caller]
fn assert_received_in_thread(email: &Received, submission: &str) {
    let root = format!("submission-{submission}@localhost");
    assert_eq!(email.in_reply_to, [root.as_str()], "{email:#?}");
    assert_eq!(email.references, [root.as_str()], "{email:#?}");
    assert!(
        email.message_id.ends_with("@localhost") && email.message_id != root,
        "{email:#?}"
    );
}

/// In French for the French-speaking owner, in English for everyone else.
#[track_caller]
fn assert_language(email: &Received, french: bool) {
    let greeting = if french { "Bonjour " } else { "Hello " };
    assert!(email.text.starts_with(greeting), "{email:#?}");
}

#[tokio::test]
async fn two_rounds_then_publication_across_weeks() {
    each_backend_with(rehearsal, |app| async move {
        let smtp = SmtpServer::start();
        let c = cast(&app).await;
        // The cast writes no email; nothing is waiting.
        assert!(deliver(&app, &smtp).await.is_empty());
        let requirements = c
            .owner
            .client
            .get("/api/v1/requirements")
            .await
            .expect_status(200)
            .json();
        assert_eq!(requirements["version"], 1);

        // Draft, first round, submit: queued for Tuesday 3 March, decision Thursday 5.
        let created = c
            .member
            .client
            .post("/api/v1/offerings/demo-svc/submissions", &json!({}))
            .await
            .expect_status(201)
            .json();
        let id = created["submission"]["id"].as_str().expect("id").to_owned();
        assert_eq!(created["submission"]["state"], "draft");
        // Each party is told what it may do now.
        assert_eq!(created["actions"], json!(["submit", "withdraw", "edit"]));
        let as_admin = app.admin.get(&format!("/api/v1/submissions/{id}")).await.json();
        assert_eq!(as_admin["actions"], json!([]));
        let rec = recording(&app, &id, c.member.id).await;
        c.member
            .client
            .patch(
                &format!("/api/v1/submissions/{id}"),
                &json!({"recordings": [rec], "notes": "Round one", "requested_go_live": "2026-04-01"}),
            )
            .await
            .expect_status(200);
        let queued = c
            .member
            .client
            .post(&format!("/api/v1/submissions/{id}/submit"), &json!({}))
            .await
            .expect_status(200)
            .json();
        assert_eq!(queued["submission"]["state"], "queued");
        assert_eq!(
            queued["schedule"],
            json!({"review_date": "2026-03-03", "decision_date": "2026-03-05",
                "queue_position": 1, "overdue": false})
        );
        let received = deliver(&app, &smtp).await;
        assert_eq!(received.len(), 2, "{received:#?}");
        let to_owner = received_by(&received, "owner@p.test");
        let to_member = received_by(&received, "member@p.test");
        assert_eq!(to_owner.subject, "Examen de «\u{a0}Gadget demo-svc\u{a0}» le mardi 3 mars 2026");
        assert_language(to_owner, true);
        assert!(to_owner.text.contains("Position dans la file\u{a0}: 1"), "{to_owner:#?}");
        assert_eq!(
            to_member.subject,
            "“Widget demo-svc” will be reviewed on Tuesday 3 March 2026"
        );
        assert_language(to_member, false);
        assert_eq!(to_owner.content_language.as_deref(), Some("fr"));
        assert_eq!(to_member.content_language.as_deref(), Some("en"));
        // Dated on the rehearsal's clock, when the submission was queued, not today.
        let sent_on = to_owner.date.as_deref().unwrap_or_default();
        let queued_at = server_now(&app).await.to_string();
        assert_eq!(&sent_on[..10], &queued_at[..10], "{to_owner:#?}");
        assert_received_in_thread(to_owner, &id);
        assert_received_in_thread(to_member, &id);
        assert_ne!(to_owner.message_id, to_member.message_id);
        let mut message_ids = vec![to_owner.message_id.clone(), to_member.message_id.clone()];

        // Tuesday: the session opens; one of the validators gets it.
        let report = advance_to(&app, "2026-03-03T00:00:00Z").await;
        assert_eq!(changed(&report, "open_due_sessions"), 1);
        let s = get(&c.owner.client, &id).await;
        assert_eq!(s["submission"]["state"], "in_review");
        let first_validator = s["submission"]["validator"].as_str().expect("validator").to_owned();
        let (assigned, _idle) = if first_validator == c.validator.id.to_string() {
            (&c.validator, &c.other_validator)
        } else {
            (&c.other_validator, &c.validator)
        };
        let received = deliver(&app, &smtp).await;
        assert_eq!(received.len(), 1, "only the assigned validator is told: {received:#?}");
        let to_validator = received_by(&received, &assigned.email);
        assert_eq!(
            to_validator.subject,
            "Review session of Tuesday 3 March 2026: 1 submission for you"
        );
        assert_language(to_validator, false);
        message_ids.push(to_validator.message_id.clone());
        let mine = assigned
            .client
            .get("/api/v1/review/assignments")
            .await
            .expect_status(200)
            .json();
        assert_eq!(mine.as_array().map(Vec::len), Some(1));

        // The validator asks for changes; the provider does not see it before Thursday.
        assigned
            .client
            .post(
                &format!("/api/v1/submissions/{id}/decision"),
                &json!({"verdicts": verdicts(&["provision"], &requirements), "decision": "request_changes"}),
            )
            .await
            .expect_status(200);
        let s = get(&c.owner.client, &id).await;
        assert_eq!(s["submission"]["state"], "decided_pending_release");
        assert_eq!(s["submission"]["rounds"][0]["decision"], Value::Null);
        let audit = c
            .owner
            .client
            .get("/api/v1/audit?subject_kind=submission&limit=100")
            .await
            .expect_status(200)
            .json();
        assert!(
            audit["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|r| r["action"] == "submission.decide")),
            "{audit}"
        );
        assert!(
            !audit.to_string().contains("request_changes"),
            "the held decision does not leak through the audit log: {audit}"
        );
        let staff_view = get(&app.admin, &id).await;
        assert_eq!(staff_view["submission"]["rounds"][0]["decision"]["decision"], "request_changes");
        assert!(deliver(&app, &smtp).await.is_empty(), "no email tells of a held decision");

        // Wednesday: nothing released yet. Thursday: released, the provider is told.
        let report = advance_to(&app, "2026-03-04T12:00:00Z").await;
        assert_eq!(changed(&report, "release_due_decisions"), 0);
        assert!(deliver(&app, &smtp).await.is_empty());
        let report = advance_to(&app, "2026-03-05T00:00:00Z").await;
        assert_eq!(changed(&report, "release_due_decisions"), 1);
        let s = get(&c.owner.client, &id).await;
        assert_eq!(s["submission"]["state"], "changes_requested");
        assert_eq!(s["submission"]["rounds"][0]["decision"]["verdicts"][1]["outcome"], "not_met");
        let received = deliver(&app, &smtp).await;
        assert_eq!(received.len(), 2, "{received:#?}");
        let to_owner = received_by(&received, "owner@p.test");
        assert_eq!(to_owner.subject, "«\u{a0}Gadget demo-svc\u{a0}»\u{a0}: modifications demandées");
        assert_language(to_owner, true);
        assert!(to_owner.text.contains("not shown in the demo"), "{to_owner:#?}");
        assert_received_in_thread(to_owner, &id);
        let to_member = received_by(&received, "member@p.test");
        assert_eq!(to_member.subject, "“Widget demo-svc”: changes requested");
        assert_language(to_member, false);
        assert_received_in_thread(to_member, &id);
        message_ids.extend([to_owner.message_id.clone(), to_member.message_id.clone()]);

        // The thread: each message reaches the other side.
        c.owner
            .client
            .post(&format!("/api/v1/submissions/{id}/messages"), &json!({"body": "Which step failed?"}))
            .await
            .expect_status(201);
        assigned
            .client
            .post(&format!("/api/v1/submissions/{id}/messages"), &json!({"body": "Provisioning."}))
            .await
            .expect_status(201);
        let received = deliver(&app, &smtp).await;
        assert_eq!(received.len(), 3, "{received:#?}");
        let to_validator = received_by(&received, &assigned.email);
        assert!(to_validator.text.contains("Which step failed?"), "{to_validator:#?}");
        let to_owner = received_by(&received, "owner@p.test");
        assert_language(to_owner, true);
        assert!(to_owner.text.contains("Provisioning."), "{to_owner:#?}");
        let to_member = received_by(&received, "member@p.test");
        assert_language(to_member, false);
        assert!(to_member.text.contains("Provisioning."), "{to_member:#?}");
        for email in &received {
            assert_received_in_thread(email, &id);
            message_ids.push(email.message_id.clone());
        }
        let thread = c
            .member
            .client
            .get(&format!("/api/v1/submissions/{id}/messages"))
            .await
            .expect_status(200)
            .json();
        assert_eq!(thread.as_array().map(Vec::len), Some(2));

        // Round two: new recording, resubmitted, into the next Tuesday's session.
        let rec2 = recording(&app, &id, c.owner.id).await;
        c.owner
            .client
            .patch(&format!("/api/v1/submissions/{id}"), &json!({"recordings": [rec2]}))
            .await
            .expect_status(200);
        let queued = c
            .owner
            .client
            .post(&format!("/api/v1/submissions/{id}/submit"), &json!({}))
            .await
            .expect_status(200)
            .json();
        assert_eq!(queued["submission"]["rounds"].as_array().map(Vec::len), Some(2));
        assert_eq!(queued["schedule"]["review_date"], "2026-03-10");
        assert_eq!(queued["schedule"]["decision_date"], "2026-03-12");
        let received = deliver(&app, &smtp).await;
        let to_owner = received_by(&received, "owner@p.test");
        assert_eq!(to_owner.subject, "Examen de «\u{a0}Gadget demo-svc\u{a0}» le mardi 10 mars 2026");
        assert!(to_owner.text.contains("Le tour 2"), "{to_owner:#?}");
        received_by(&received, "member@p.test");
        message_ids.extend(received.iter().map(|e| e.message_id.clone()));
        let report = advance_to(&app, "2026-03-10T00:00:00Z").await;
        assert_eq!(changed(&report, "open_due_sessions"), 1);
        let s = get(&c.owner.client, &id).await;
        assert_eq!(s["submission"]["state"], "in_review");
        assert_eq!(s["submission"]["validator"], json!(first_validator), "same validator");
        let received = deliver(&app, &smtp).await;
        assert_eq!(
            received_by(&received, &assigned.email).subject,
            "Review session of Tuesday 10 March 2026: 1 submission for you"
        );
        message_ids.extend(received.iter().map(|e| e.message_id.clone()));

        // Approved; released on Thursday 12.
        assigned
            .client
            .post(
                &format!("/api/v1/submissions/{id}/decision"),
                &json!({"verdicts": verdicts(&[], &requirements), "decision": "approve"}),
            )
            .await
            .expect_status(200);
        advance_to(&app, "2026-03-12T00:00:00Z").await;
        let s = get(&c.member.client, &id).await;
        assert_eq!(s["submission"]["state"], "approved");
        let received = deliver(&app, &smtp).await;
        assert_eq!(received.len(), 2, "{received:#?}");
        let to_member = received_by(&received, "member@p.test");
        assert_eq!(to_member.subject, "“Widget demo-svc”: go-live approved");
        assert_language(to_member, false);
        let to_owner = received_by(&received, "owner@p.test");
        assert_language(to_owner, true);
        assert!(to_owner.text.contains("a approuvé le tour 2"), "{to_owner:#?}");
        for email in &received {
            assert_received_in_thread(email, &id);
            message_ids.push(email.message_id.clone());
        }

        // Publication at the requested date (start of that day, marketplace time), told in
        // the owner's time zone.
        let scheduled = app
            .admin
            .post(&format!("/api/v1/submissions/{id}/publication"), &json!({}))
            .await
            .expect_status(200)
            .json();
        assert_eq!(scheduled["submission"]["state"], "publication_scheduled");
        assert_eq!(scheduled["submission"]["publication_at"], "2026-04-01T00:00:00Z");
        let received = deliver(&app, &smtp).await;
        let to_owner = received_by(&received, "owner@p.test");
        assert_eq!(
            to_owner.subject,
            "«\u{a0}Gadget demo-svc\u{a0}»\u{a0}: publication prévue le mercredi 1er avril 2026 à 2 h 00 (CEST)"
        );
        assert_received_in_thread(to_owner, &id);
        received_by(&received, "member@p.test");
        message_ids.extend(received.iter().map(|e| e.message_id.clone()));
        let report = advance_to(&app, "2026-03-31T23:59:00Z").await;
        assert_eq!(changed(&report, "run_due_publications"), 0);
        app.anonymous()
            .get("/api/v1/catalog/demo-svc")
            .await
            .expect_status(404);
        assert!(deliver(&app, &smtp).await.is_empty());
        let report = advance_to(&app, "2026-04-01T00:00:00Z").await;
        assert_eq!(changed(&report, "run_due_publications"), 1);
        let s = get(&c.owner.client, &id).await;
        assert_eq!(s["submission"]["state"], "published");
        app.anonymous()
            .get("/api/v1/catalog/demo-svc")
            .await
            .expect_status(200);
        let received = deliver(&app, &smtp).await;
        let to_member = received_by(&received, "member@p.test");
        assert_eq!(to_member.subject, "Your offering “Widget demo-svc” is now public");
        assert_received_in_thread(to_member, &id);
        let to_owner = received_by(&received, "owner@p.test");
        assert_language(to_owner, true);
        assert!(to_owner.text.contains("est publique"), "{to_owner:#?}");
        message_ids.extend(received.iter().map(|e| e.message_id.clone()));

        // The whole story in the timeline.
        let actions: Vec<String> = s["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .map(|e| e["action"].as_str().expect("action").to_owned())
            .collect();
        for expected in [
            "submission.created",
            "submission.submit",
            "submission.open_session",
            "submission.release_decision",
            "submission.resubmit",
            "submission.schedule_publication",
            "submission.publish",
        ] {
            assert!(actions.contains(&expected.to_owned()), "{expected} in {actions:?}");
        }
        assert!(!actions.contains(&"submission.decide".to_owned()), "held decisions hidden");

        // Unpublished with a reason: limited again, the provider told.
        c.owner
            .client
            .post("/api/v1/offerings/demo-svc/unpublish", &json!({"reason": "broken"}))
            .await
            .problem(403, "forbidden");
        let offering = app
            .admin
            .post("/api/v1/offerings/demo-svc/unpublish", &json!({"reason": "Billing is broken"}))
            .await
            .expect_status(200)
            .json();
        assert_eq!(offering["offering"]["visibility"], "limited");
        let received = deliver(&app, &smtp).await;
        let to_owner = received_by(&received, "owner@p.test");
        assert_language(to_owner, true);
        assert!(to_owner.text.contains("Motif\u{a0}:\nBilling is broken"), "{to_owner:#?}");
        assert_received_in_thread(to_owner, &id);
        let to_member = received_by(&received, "member@p.test");
        assert!(to_member.text.contains("Billing is broken"), "{to_member:#?}");
        message_ids.extend(received.iter().map(|e| e.message_id.clone()));

        // Every email of the story had an id of its own, and the outbox has nothing left.
        let distinct: std::collections::HashSet<&String> = message_ids.iter().collect();
        assert_eq!(distinct.len(), message_ids.len(), "{message_ids:?}");
        assert!(
            outbox(&app).await.len() >= message_ids.len(),
            "every email received came from the outbox"
        );
        let pending = app
            .store
            .outbox(&OutboxQuery {
                status: Some(vitrine_store::OutboxStatus::Pending),
                before_id: None,
                limit: 10,
            })
            .await
            .expect("outbox");
        assert!(pending.is_empty(), "{pending:?}");
        let _ = &c.customer;
    })
    .await;
}

/// A submission of `demo-svc` (see [`submitted_for`]).
pub(crate) async fn submitted(app: &TestApp, by: &TestUser) -> String {
    submitted_for(app, by, "demo-svc").await
}

/// A submission of `offering` with one recording, submitted by `by`; its id.
pub(crate) async fn submitted_for(app: &TestApp, by: &TestUser, offering: &str) -> String {
    let created = by
        .client
        .post(
            &format!("/api/v1/offerings/{offering}/submissions"),
            &json!({}),
        )
        .await
        .expect_status(201)
        .json();
    let id = created["submission"]["id"].as_str().expect("id").to_owned();
    let rec = recording(app, &id, by.id).await;
    by.client
        .patch(
            &format!("/api/v1/submissions/{id}"),
            &json!({"recordings": [rec]}),
        )
        .await
        .expect_status(200);
    by.client
        .post(&format!("/api/v1/submissions/{id}/submit"), &json!({}))
        .await
        .expect_status(200);
    id
}

/// A queued submission with an assigned validator after its session opened.
pub(crate) async fn in_review(app: &TestApp, c: &Cast) -> String {
    let id = submitted(app, &c.member).await;
    advance_to(app, "2026-03-03T00:00:00Z").await;
    id
}

pub(crate) fn assigned_of<'a>(c: &'a Cast, s: &Value) -> (&'a TestUser, &'a TestUser) {
    if s["submission"]["validator"] == json!(c.validator.id) {
        (&c.validator, &c.other_validator)
    } else {
        (&c.other_validator, &c.validator)
    }
}

#[tokio::test]
async fn of_two_concurrent_decisions_one_wins() {
    each_backend_with(rehearsal, |app| async move {
        let c = cast(&app).await;
        let id = in_review(&app, &c).await;
        let requirements = c.owner.client.get("/api/v1/requirements").await.json();
        let s = get(&app.admin, &id).await;
        let (assigned, _) = assigned_of(&c, &s);
        let path = format!("/api/v1/submissions/{id}/decision");
        let approve = json!({"verdicts": verdicts(&[], &requirements), "decision": "approve"});
        let changes = json!({"verdicts": verdicts(&["provision"], &requirements), "decision": "request_changes"});
        let (a, b) = tokio::join!(
            assigned.client.post(&path, &approve),
            assigned.client.post(&path, &changes)
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
        let loser = if a.status == 409 { &a } else { &b };
        loser.problem(409, "conflict");
        let s = get(&app.admin, &id).await;
        assert_eq!(s["submission"]["state"], "decided_pending_release");
        let winner = if a.status == 200 { "approve" } else { "request_changes" };
        assert_eq!(s["submission"]["rounds"][0]["decision"]["decision"], winner);
    })
    .await;
}

#[tokio::test]
async fn refused_transitions_change_nothing() {
    each_backend_with(rehearsal, |app| async move {
        let c = cast(&app).await;
        // Gate: an offering that is not ready lists everything missing.
        app.offering(
            &c.owner.client,
            &c.provider,
            "raw-svc",
            "private",
            &[],
            json!({}),
        )
        .await;
        let problem = c
            .owner
            .client
            .post("/api/v1/offerings/raw-svc/submissions", &json!({}))
            .await
            .problem(422, "validation-failed");
        assert!(
            problem["errors"].as_array().map(Vec::len).unwrap_or(0) >= 3,
            "{problem}"
        );
        // Strangers do not learn the offering exists; admins may not submit.
        c.customer
            .client
            .post("/api/v1/offerings/demo-svc/submissions", &json!({}))
            .await
            .problem(404, "not-found");
        app.admin
            .post("/api/v1/offerings/demo-svc/submissions", &json!({}))
            .await
            .problem(403, "forbidden");

        let id = in_review(&app, &c).await;
        let before = get(&app.admin, &id).await;
        let (assigned, other) = assigned_of(&c, &before);
        let requirements = c.owner.client.get("/api/v1/requirements").await.json();
        let approve = json!({"verdicts": verdicts(&[], &requirements), "decision": "approve"});
        let path = format!("/api/v1/submissions/{id}/decision");
        other
            .client
            .post(&path, &approve)
            .await
            .problem(403, "forbidden");
        c.owner
            .client
            .post(&path, &approve)
            .await
            .problem(403, "forbidden");
        c.customer
            .client
            .post(&path, &approve)
            .await
            .problem(404, "not-found");
        c.customer
            .client
            .get(&format!("/api/v1/submissions/{id}"))
            .await
            .problem(404, "not-found");
        // Wrong state: in review, it cannot be edited, submitted again or published.
        c.owner
            .client
            .patch(
                &format!("/api/v1/submissions/{id}"),
                &json!({"notes": "late"}),
            )
            .await
            .problem(409, "conflict");
        c.owner
            .client
            .post(&format!("/api/v1/submissions/{id}/submit"), &json!({}))
            .await
            .problem(409, "conflict");
        app.admin
            .post(
                &format!("/api/v1/submissions/{id}/publication"),
                &json!({"at": "2026-05-01T00:00:00Z"}),
            )
            .await
            .problem(409, "conflict");
        // Not now is a 409 whatever the input: without a time (the provider asked for no
        // date) it is still the state that refuses first.
        app.admin
            .post(&format!("/api/v1/submissions/{id}/publication"), &json!({}))
            .await
            .problem(409, "conflict");
        // A reject needs a reason.
        assigned
            .client
            .post(
                &path,
                &json!({"verdicts": verdicts(&[], &requirements), "decision": "reject"}),
            )
            .await
            .problem(422, "validation-failed");
        let after = get(&app.admin, &id).await;
        assert_eq!(after["submission"], before["submission"], "nothing changed");

        // Withdrawn: final; nothing more happens to it.
        c.member
            .client
            .post(&format!("/api/v1/submissions/{id}/withdraw"), &json!({}))
            .await
            .expect_status(200);
        assigned
            .client
            .post(&path, &approve)
            .await
            .problem(409, "conflict");
        c.member
            .client
            .post(&format!("/api/v1/submissions/{id}/withdraw"), &json!({}))
            .await
            .problem(409, "conflict");
        // Only admins run scheduler steps; unknown steps are 404.
        c.owner
            .client
            .post("/api/v1/scheduler/open_due_sessions/run", &json!({}))
            .await
            .problem(403, "forbidden");
        app.admin
            .post("/api/v1/scheduler/nap/run", &json!({}))
            .await
            .problem(404, "not-found");
        let ran = app
            .admin
            .post("/api/v1/scheduler/release_due_decisions/run", &json!({}))
            .await
            .expect_status(200)
            .json();
        assert_eq!(ran["changed"], 0);
    })
    .await;
}

#[tokio::test]
async fn calendar_and_capacity_changes_move_dates_and_tell_providers() {
    each_backend_with(rehearsal, |app| async move {
        let c = cast(&app).await;
        let id = submitted(&app, &c.owner).await;

        // Only admins read and change the calendar.
        c.owner
            .client
            .get("/api/v1/calendar")
            .await
            .problem(403, "forbidden");
        let mut calendar = app
            .admin
            .get("/api/v1/calendar")
            .await
            .expect_status(200)
            .json();
        assert_eq!(calendar["review_weekday"], "tuesday");
        calendar["review_weekday"] = json!("saturday");
        app.admin
            .put("/api/v1/calendar", &calendar)
            .await
            .problem(422, "validation-failed");

        // A holiday on the review day moves the review to Wednesday, the decision to Friday.
        let before = outbox(&app).await.len();
        calendar["review_weekday"] = json!("tuesday");
        calendar["holidays"] = json!(["2026-03-03"]);
        app.admin
            .put("/api/v1/calendar", &calendar)
            .await
            .expect_status(200);
        let s = get(&c.owner.client, &id).await;
        assert_eq!(s["schedule"]["review_date"], "2026-03-04");
        assert_eq!(s["schedule"]["decision_date"], "2026-03-06");
        let emails = outbox(&app).await;
        let to_owner = emails_to(&emails, before, "owner@p.test");
        assert_eq!(to_owner.len(), 1, "{emails:?}");
        assert_eq!(
            to_owner[0]["subject"],
            "Nouvelles dates d'examen pour «\u{a0}Gadget demo-svc\u{a0}»"
        );
        assert_threaded(to_owner[0], &id);
        assert_eq!(emails_to(&emails, before, "member@p.test").len(), 1);
        // A stale version is refused.
        app.admin
            .put("/api/v1/calendar", &calendar)
            .await
            .problem(409, "conflict");

        // Capacity: with room for one submission per session, a second queued one moves to
        // the next week and its provider is told.
        ready_offering(&app, &c.owner, &c.provider, "two-svc").await;
        let second = submitted_for(&app, &c.member, "two-svc").await;
        let s = get(&c.member.client, &second).await;
        assert_eq!(s["schedule"]["review_date"], "2026-03-04");
        assert_eq!(s["schedule"]["queue_position"], 2);
        let before = outbox(&app).await.len();
        app.admin
            .put(
                &format!("/api/v1/validators/{}/capacity", c.other_validator.id),
                &json!({"capacity": 0}),
            )
            .await
            .expect_status(200);
        let emails = outbox(&app).await;
        assert!(emails.len() == before, "room for both still: nothing moved");
        app.admin
            .put(
                &format!("/api/v1/validators/{}/capacity", c.validator.id),
                &json!({"capacity": 1}),
            )
            .await
            .expect_status(200);
        let s = get(&c.member.client, &second).await;
        assert_eq!(s["schedule"]["review_date"], "2026-03-10");
        assert_eq!(s["schedule"]["decision_date"], "2026-03-12");
        let first = get(&c.owner.client, &id).await;
        assert_eq!(
            first["schedule"]["review_date"], "2026-03-04",
            "the first keeps its place"
        );
        let emails = outbox(&app).await;
        let moved = emails_to(&emails, before, "member@p.test");
        assert_eq!(moved.len(), 1, "{emails:?}");
        assert_eq!(moved[0]["subject"], "New review dates for “Widget two-svc”");
        assert_threaded(moved[0], &second);
        assert_eq!(
            emails.len(),
            before + 2,
            "both members of the second's provider only"
        );

        let validators = app
            .admin
            .get("/api/v1/validators")
            .await
            .expect_status(200)
            .json();
        assert_eq!(validators.as_array().map(Vec::len), Some(2));
        app.admin
            .put(
                &format!("/api/v1/validators/{}/capacity", c.validator.id),
                &json!({"capacity": 2}),
            )
            .await
            .expect_status(200);
        let validators = app.admin.get("/api/v1/validators").await.json();
        let mine = validators
            .as_array()
            .expect("validators")
            .iter()
            .find(|v| v["user_id"] == json!(c.validator.id))
            .expect("listed");
        assert_eq!(
            (mine["capacity"].as_u64(), mine["own_capacity"].as_u64()),
            (Some(2), Some(2))
        );
        c.owner
            .client
            .put(
                &format!("/api/v1/validators/{}/capacity", c.validator.id),
                &json!({"capacity": 2}),
            )
            .await
            .problem(403, "forbidden");
    })
    .await;
}

/// The dates-moved emails about `offering` written since `from`, to `address`.
fn moved_about<'a>(
    emails: &'a [Value],
    from: usize,
    address: &str,
    offering: &str,
) -> Vec<&'a Value> {
    emails_to(emails, from, address)
        .into_iter()
        .filter(|e| {
            let subject = e["subject"].as_str().unwrap_or_default();
            (subject.starts_with("New review dates") || subject.starts_with("Nouvelles dates"))
                && subject.contains(offering)
        })
        .collect()
}

/// The `submission.dates_moved` audit records after `seen` (a `seq`), oldest first.
async fn dates_moved_since(app: &TestApp, seen: i64) -> Vec<Value> {
    let page = app
        .admin
        .get("/api/v1/audit?action=submission.dates_moved&limit=100")
        .await
        .expect_status(200)
        .json();
    let mut items: Vec<Value> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| r["seq"].as_i64().is_some_and(|seq| seq > seen))
        .cloned()
        .collect();
    items.sort_by_key(|r| r["seq"].as_i64());
    items
}

/// The last `seq` of the audit log.
async fn last_seq(app: &TestApp) -> i64 {
    let page = app
        .admin
        .get("/api/v1/audit?limit=1")
        .await
        .expect_status(200)
        .json();
    page["items"][0]["seq"].as_i64().expect("a record")
}

/// The submissions the records are about, in their order, and each one's reason and
/// review dates (before → after).
fn moved_subjects(records: &[Value]) -> Vec<(String, String, String, String)> {
    records
        .iter()
        .map(|r| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                text(&r["subject_id"]),
                text(&r["after"]["reason"]),
                text(&r["before"]["review_date"]),
                text(&r["after"]["review_date"]),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_change_to_the_queue_tells_the_providers_whose_dates_moved() {
    each_backend_with(rehearsal, |app| async move {
        let c = cast(&app).await;
        // Two validators with room for one each: a session holds two submissions.
        for v in [&c.validator, &c.other_validator] {
            app.admin
                .put(
                    &format!("/api/v1/validators/{}/capacity", v.id),
                    &json!({"capacity": 1}),
                )
                .await
                .expect_status(200);
        }
        ready_offering(&app, &c.owner, &c.provider, "two-svc").await;
        ready_offering(&app, &c.owner, &c.provider, "three-svc").await;
        let first = submitted(&app, &c.owner).await;
        let second = submitted_for(&app, &c.member, "two-svc").await;
        let before = outbox(&app).await.len();
        let seen = last_seq(&app).await;
        let third = submitted_for(&app, &c.member, "three-svc").await;
        assert_eq!(
            dates_moved_since(&app, seen).await,
            Vec::<Value>::new(),
            "joining behind the others moves nobody's dates"
        );
        let review = |s: &Value| s["schedule"]["review_date"].as_str().map(str::to_owned);
        assert_eq!(
            review(&get(&c.member.client, &second).await).as_deref(),
            Some("2026-03-03")
        );
        assert_eq!(
            review(&get(&c.member.client, &third).await).as_deref(),
            Some("2026-03-10")
        );
        let emails = outbox(&app).await;
        assert!(
            moved_about(&emails, before, "member@p.test", "-svc").is_empty(),
            "joining behind the others moves nobody: {emails:?}"
        );

        // A validator removed takes their room: the second and third move a week later.
        let before = outbox(&app).await.len();
        let seen = last_seq(&app).await;
        app.admin
            .put(
                &format!("/api/v1/users/{}/staff-roles", c.other_validator.id),
                &json!({"admin": false, "validator": false}),
            )
            .await
            .expect_status(200);
        assert_eq!(
            review(&get(&c.member.client, &second).await).as_deref(),
            Some("2026-03-10")
        );
        assert_eq!(
            review(&get(&c.member.client, &third).await).as_deref(),
            Some("2026-03-17")
        );
        let emails = outbox(&app).await;
        assert_eq!(
            moved_about(&emails, before, "member@p.test", "two-svc").len(),
            1,
            "{emails:?}"
        );
        assert_eq!(
            moved_about(&emails, before, "member@p.test", "three-svc").len(),
            1
        );
        assert!(
            moved_about(&emails, before, "member@p.test", "demo-svc").is_empty(),
            "the first kept its place"
        );
        // One audit event per moved submission, in the change's transaction: what the
        // webhooks' `submission.dates_moved` is made of.
        let cap = |id: &str, from: &str, to: &str| {
            (
                id.to_owned(),
                "capacity".to_owned(),
                from.to_owned(),
                to.to_owned(),
            )
        };
        let records = dates_moved_since(&app, seen).await;
        assert_eq!(
            moved_subjects(&records),
            [
                cap(&second, "2026-03-03", "2026-03-10"),
                cap(&third, "2026-03-10", "2026-03-17")
            ],
            "{records:?}"
        );
        assert_eq!(
            records[0]["actor_email"], "admin@vitrine.test",
            "who made the change"
        );
        assert_eq!(records[1]["after"]["decision_date"], "2026-03-19");
        assert_eq!(records[1]["before"]["decision_date"], "2026-03-12");
        let timeline = get(&c.member.client, &third).await["timeline"].clone();
        assert_eq!(
            timeline
                .as_array()
                .expect("a timeline")
                .iter()
                .filter(|e| e["action"] == "submission.dates_moved")
                .count(),
            1,
            "{timeline}"
        );
        let told = moved_about(&emails, before, "owner@p.test", "three-svc");
        assert_eq!(told.len(), 1, "every member of the provider, once");
        assert_threaded(told[0], &third);
        assert!(
            told[0]["text"]
                .as_str()
                .unwrap_or_default()
                .contains("17 mars 2026"),
            "{}",
            told[0]["text"]
        );

        // The first withdrawn: the ones behind it move a week earlier, and are told so.
        let before = outbox(&app).await.len();
        let seen = last_seq(&app).await;
        c.owner
            .client
            .post(&format!("/api/v1/submissions/{first}/withdraw"), &json!({}))
            .await
            .expect_status(200);
        assert_eq!(
            review(&get(&c.member.client, &second).await).as_deref(),
            Some("2026-03-03")
        );
        assert_eq!(
            review(&get(&c.member.client, &third).await).as_deref(),
            Some("2026-03-10")
        );
        let emails = outbox(&app).await;
        let earlier = moved_about(&emails, before, "member@p.test", "two-svc");
        assert_eq!(earlier.len(), 1, "{emails:?}");
        assert!(
            earlier[0]["text"]
                .as_str()
                .unwrap_or_default()
                .contains("left it"),
            "{}",
            earlier[0]["text"]
        );
        assert_eq!(
            moved_about(&emails, before, "member@p.test", "three-svc").len(),
            1
        );
        assert!(
            moved_about(&emails, before, "owner@p.test", "demo-svc").is_empty(),
            "the withdrawn one is not told its dates"
        );
        let queue = |id: &str, from: &str, to: &str| {
            (
                id.to_owned(),
                "queue".to_owned(),
                from.to_owned(),
                to.to_owned(),
            )
        };
        assert_eq!(
            moved_subjects(&dates_moved_since(&app, seen).await),
            [
                queue(&second, "2026-03-10", "2026-03-03"),
                queue(&third, "2026-03-17", "2026-03-10")
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn the_test_clock_is_refused_unless_enabled() {
    each_backend(|app| async move {
        // The whole app, its database included, lives as long as this block: an async
        // block that used only `app.admin` would capture just that field and drop the rest
        // (the test database) at once.
        let app = app;
        app.admin
            .get("/api/v1/test-clock")
            .await
            .problem(409, "conflict");
        app.admin
            .post("/api/v1/test-clock/advance", &json!({"seconds": 60}))
            .await
            .problem(409, "conflict");
    })
    .await;
    each_backend_with(rehearsal, |app| async move {
        let member = app.user("m@p.test").await;
        member
            .client
            .get("/api/v1/test-clock")
            .await
            .problem(403, "forbidden");
        let now = app
            .admin
            .get("/api/v1/test-clock")
            .await
            .expect_status(200)
            .json();
        assert_eq!(now["now"], "2026-03-02T09:00:00Z");
        app.admin
            .post("/api/v1/test-clock/advance", &json!({"seconds": -1}))
            .await
            .problem(422, "validation-failed");
        app.admin
            .post(
                "/api/v1/test-clock/advance",
                &json!({"to": "2026-03-01T00:00:00Z"}),
            )
            .await
            .problem(422, "validation-failed");
        let moved = app
            .admin
            .post("/api/v1/test-clock/advance", &json!({"seconds": 3600}))
            .await
            .expect_status(200)
            .json();
        assert_eq!(moved["clock"]["now"], "2026-03-02T10:00:00Z");
        // Requirements: providers read them; only admins publish a new version.
        let current = member
            .client
            .get("/api/v1/requirements")
            .await
            .expect_status(200)
            .json();
        let mut list = current["requirements"].clone();
        member
            .client
            .put("/api/v1/requirements", &json!({"requirements": list}))
            .await
            .problem(403, "forbidden");
        app.admin
            .put("/api/v1/requirements", &json!({"requirements": list}))
            .await
            .problem(409, "conflict");
        list[0]["title"]["en"] = json!("In the catalog");
        let v2 = app
            .admin
            .put("/api/v1/requirements", &json!({"requirements": list}))
            .await
            .expect_status(200)
            .json();
        assert_eq!(v2["version"], 2);
        let v1 = member
            .client
            .get("/api/v1/requirements/1")
            .await
            .expect_status(200)
            .json();
        assert_eq!(
            v1["requirements"][0]["title"]["en"],
            "Listed in the catalog"
        );
        member
            .client
            .get("/api/v1/requirements/9")
            .await
            .problem(404, "not-found");
    })
    .await;
}

/// Two servers on one database: opening a session and alerting admins of an overdue
/// decision each happen once, whichever server runs them.
#[tokio::test]
async fn two_servers_run_each_step_once() {
    each_backend_with(rehearsal, |app| async move {
        let c = cast(&app).await;
        let id = submitted(&app, &c.member).await;

        // A second server on the same database and the same (injected) clock.
        let second_store: std::sync::Arc<dyn vitrine_store::Store> = std::sync::Arc::from(
            vitrine_store::open(&app.db_url)
                .await
                .expect("second store"),
        );
        let second = crate::support::serve(second_store, app.clock.clone(), rehearsal()).await;
        let admin_id: UserId = app.admin.get("/api/v1/me").await.json()["user"]["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid");
        let second_admin = Client::bearer(&second, &app.token_for(admin_id).await);
        let run = |step: &'static str| {
            let (one, two) = (app.admin.clone(), second_admin.clone());
            async move {
                let path = format!("/api/v1/scheduler/{step}/run");
                let body = json!({});
                let (a, b) = tokio::join!(one.post(&path, &body), two.post(&path, &body));
                a.json()["changed"].as_u64().expect("changed")
                    + b.json()["changed"].as_u64().expect("changed")
            }
        };

        // Tuesday 00:00: both servers open the session; it opens once.
        app.clock.advance(jiff::SignedDuration::from_hours(15));
        let before = outbox(&app).await.len();
        assert_eq!(run("open_due_sessions").await, 1);
        assert_eq!(run("open_due_sessions").await, 0);
        let emails = outbox(&app).await;
        let assignment_emails = emails[before..]
            .iter()
            .filter(|e| to_of(e).contains("val"))
            .count();
        assert_eq!(assignment_emails, 1, "{emails:?}");
        let s = get(&app.admin, &id).await;
        assert_eq!(s["submission"]["state"], "in_review");
        assert_eq!(s["schedule"]["overdue"], false);

        // Friday 00:00: Thursday's decision was not recorded; admins are alerted once, the
        // provider sees that it is late.
        app.clock.advance(jiff::SignedDuration::from_hours(72));
        let before = emails.len();
        assert_eq!(run("flag_overdue").await, 1);
        assert_eq!(run("flag_overdue").await, 0);
        let emails = outbox(&app).await;
        let to_admin = emails_to(&emails, before, "admin@vitrine.test");
        assert_eq!(to_admin.len(), 1, "{emails:?}");
        assert_threaded(to_admin[0], &id);
        assert_eq!(emails.len(), before + 1);
        let s = get(&c.owner.client, &id).await;
        assert_eq!(s["schedule"]["overdue"], true);
        assert_eq!(s["schedule"]["decision_date"], "2026-03-05");
    })
    .await;
}

/// With decisions due more than a week after review, a decision recorded after the next
/// session opened is still released on its own session's decision day.
#[tokio::test]
async fn a_decision_is_released_on_its_own_sessions_decision_day() {
    each_backend_with(rehearsal, |app| async move {
        let c = cast(&app).await;
        let mut calendar = app.admin.get("/api/v1/calendar").await.json();
        calendar["decision_working_days"] = json!(6);
        app.admin
            .put("/api/v1/calendar", &calendar)
            .await
            .expect_status(200);
        let id = submitted(&app, &c.member).await;
        let s = get(&c.member.client, &id).await;
        assert_eq!(s["schedule"]["decision_date"], "2026-03-11");
        advance_to(&app, "2026-03-03T00:00:00Z").await;
        let s = get(&app.admin, &id).await;
        let (assigned, _) = assigned_of(&c, &s);
        // The next Tuesday's session opens; the decision comes after it.
        advance_to(&app, "2026-03-10T12:00:00Z").await;
        let requirements = c.owner.client.get("/api/v1/requirements").await.json();
        assigned
            .client
            .post(
                &format!("/api/v1/submissions/{id}/decision"),
                &json!({"verdicts": verdicts(&[], &requirements), "decision": "approve"}),
            )
            .await
            .expect_status(200);
        let s = get(&c.member.client, &id).await;
        assert_eq!(s["schedule"]["decision_date"], "2026-03-11");
        let report = advance_to(&app, "2026-03-11T00:00:00Z").await;
        assert_eq!(changed(&report, "release_due_decisions"), 1);
        let s = get(&c.member.client, &id).await;
        assert_eq!(s["submission"]["state"], "approved");
    })
    .await;
}
