//! Revisions of a live offering and appeals over HTTP, with the test clock (Monday 2 March
//! 2026 09:00 UTC; default calendar: review on Tuesday, decision on Thursday): a revision
//! through a full review cycle, customers seeing the old version until the scheduled
//! publication and the new one after; a rejected revision leaving the live version byte
//! for byte; texts published at once; an appeal upheld and one reopened, the deciding
//! validator unable to take it.

use serde_json::{Value, json};

use crate::go_live::{Cast, advance_to, cast, outbox, rehearsal, verdicts};
use crate::support::{Client, TestApp, TestUser, each_backend_with};

/// What customers and the provider read of the live offering, as bytes.
async fn live_bytes(app: &TestApp, c: &Cast) -> (String, String, String) {
    let catalog = c
        .customer
        .client
        .get("/api/v1/catalog/demo-svc")
        .await
        .expect_status(200);
    let list = app
        .anonymous()
        .get("/api/v1/catalog")
        .await
        .expect_status(200);
    let managed = c
        .owner
        .client
        .get("/api/v1/offerings/demo-svc")
        .await
        .expect_status(200);
    let text = |r: crate::support::Resp| String::from_utf8_lossy(&r.body).into_owned();
    (text(catalog), text(list), text(managed))
}

/// The cast's offering made public by an admin, and a revision of it started.
async fn live_with_revision(app: &TestApp, c: &Cast) -> String {
    app.admin
        .put(
            "/api/v1/offerings/demo-svc/visibility",
            &json!({"visibility": "public"}),
        )
        .await
        .expect_status(200);
    let started = c
        .member
        .client
        .post("/api/v1/offerings/demo-svc/revisions", &json!({}))
        .await
        .expect_status(201)
        .json();
    assert_eq!(started["state"], "draft");
    assert_eq!(started["live"], started["proposed"]);
    assert_eq!(started["changes"], json!([]));
    started["submission_id"].as_str().expect("id").to_owned()
}

/// The revision changes the English name and the lite plan's price.
async fn reprice(c: &Cast, id: &str) -> Value {
    c.member
        .client
        .patch(
            &format!("/api/v1/submissions/{id}/revision"),
            &json!({
                "display_name": {"en": "Widget Pro", "fr": "Gadget demo-svc"},
                "plans": [{"name": "lite", "display_name": {"en": "Lite"},
                    "pricing": {"kind": "subscription", "amount": "9.00", "currency": "EUR"}}],
            }),
        )
        .await
        .expect_status(200)
        .json()
}

async fn submit(client: &Client, id: &str) -> Value {
    client
        .post(
            &format!("/api/v1/submissions/{id}/revision/submit"),
            &json!({}),
        )
        .await
        .expect_status(200)
        .json()
}

/// Queued on Monday 2 March, reviewed Tuesday 3, decided by whoever was assigned, released
/// Thursday 5. Returns the assigned validator.
async fn review<'a>(app: &TestApp, c: &'a Cast, id: &str, decision: Value) -> &'a TestUser {
    let requirements = c.owner.client.get("/api/v1/requirements").await.json();
    advance_to(app, "2026-03-03T00:00:00Z").await;
    let s = app
        .admin
        .get(&format!("/api/v1/submissions/{id}"))
        .await
        .json();
    assert_eq!(s["submission"]["state"], "in_review");
    let assigned = if s["submission"]["validator"] == json!(c.validator.id.to_string()) {
        &c.validator
    } else {
        &c.other_validator
    };
    // The validator reads the diff from the live version.
    let seen = assigned
        .client
        .get(&format!("/api/v1/submissions/{id}/revision"))
        .await
        .expect_status(200)
        .json();
    let paths: Vec<&str> = seen["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["path"].as_str())
        .collect();
    assert_eq!(paths, ["display_name.en", "plans.lite.pricing"], "{seen}");
    assert_eq!(seen["changes"][1]["before"], json!({"kind": "free"}));
    assert_eq!(seen["changes"][1]["after"]["amount"], "9.00");
    let mut body = decision;
    body["verdicts"] = verdicts(&[], &requirements);
    assigned
        .client
        .post(&format!("/api/v1/submissions/{id}/decision"), &body)
        .await
        .expect_status(200);
    advance_to(app, "2026-03-05T00:00:00Z").await;
    assigned
}

#[tokio::test]
async fn a_revision_replaces_the_live_version_at_its_scheduled_time() {
    each_backend_with(rehearsal, |app| async move {
        let c = cast(&app).await;
        let id = live_with_revision(&app, &c).await;
        let before = live_bytes(&app, &c).await;
        // A live offering is not edited in place.
        c.owner
            .client
            .patch(
                "/api/v1/offerings/demo-svc",
                &json!({"description": {"en": "x"}}),
            )
            .await
            .problem(409, "conflict");
        // One open revision per offering.
        c.owner
            .client
            .post("/api/v1/offerings/demo-svc/revisions", &json!({}))
            .await
            .problem(409, "conflict");

        let edited = reprice(&c, &id).await;
        assert_eq!(edited["needs_review"], true, "{edited}");
        assert_eq!(edited["review_fields"], json!(["plans", "broker"]));
        let emails = outbox(&app).await.len();
        let queued = submit(&c.member.client, &id).await;
        assert_eq!(queued["state"], "queued");
        let s = app
            .admin
            .get(&format!("/api/v1/submissions/{id}"))
            .await
            .json();
        assert_eq!(s["schedule"]["review_date"], "2026-03-03", "{s}");
        let sent = outbox(&app).await;
        assert_eq!(
            sent.len() - emails,
            2,
            "both members told the dates: {sent:#?}"
        );
        assert_eq!(
            live_bytes(&app, &c).await,
            before,
            "customers see the live version"
        );

        review(&app, &c, &id, json!({"decision": "approve"})).await;
        let s = app
            .admin
            .get(&format!("/api/v1/submissions/{id}"))
            .await
            .json();
        assert_eq!(s["submission"]["state"], "approved");
        app.admin
            .post(
                &format!("/api/v1/submissions/{id}/publication"),
                &json!({"at": "2026-03-09T08:00:00Z"}),
            )
            .await
            .expect_status(200);
        advance_to(&app, "2026-03-09T07:59:00Z").await;
        assert_eq!(
            live_bytes(&app, &c).await,
            before,
            "until the scheduled time"
        );

        let report = advance_to(&app, "2026-03-09T08:00:00Z").await;
        let published = report["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find(|s| s["step"] == "run_due_publications")
            .and_then(|s| s["changed"].as_u64());
        assert_eq!(published, Some(1), "{report}");
        let after = c
            .customer
            .client
            .get("/api/v1/catalog/demo-svc")
            .await
            .json();
        assert_eq!(after["display_name"]["en"], "Widget Pro", "{after}");
        assert_eq!(after["plans"][0]["pricing"]["amount"], "9.00");
        let anonymous = app.anonymous().get("/api/v1/catalog").await.json();
        assert!(anonymous.to_string().contains("Widget Pro"), "{anonymous}");
        let s = app
            .admin
            .get(&format!("/api/v1/submissions/{id}"))
            .await
            .json();
        assert_eq!(s["submission"]["state"], "published");
        let audit = app
            .admin
            .get("/api/v1/audit?action=offering.revision_published&limit=10")
            .await
            .expect_status(200)
            .json();
        assert_eq!(audit["items"].as_array().map(Vec::len), Some(1), "{audit}");
        // The offering stays public, and a new revision may start.
        assert_eq!(after["visibility"], "public");
        c.owner
            .client
            .post("/api/v1/offerings/demo-svc/revisions", &json!({}))
            .await
            .expect_status(201);
    })
    .await;
}

#[tokio::test]
async fn texts_publish_at_once_and_a_rejected_revision_changes_nothing() {
    each_backend_with(rehearsal, |app| async move {
        let c = cast(&app).await;
        let id = live_with_revision(&app, &c).await;
        c.member
            .client
            .patch(
                &format!("/api/v1/submissions/{id}/revision"),
                &json!({"description": {"en": "A better widget", "fr": "Un meilleur gadget"}}),
            )
            .await
            .expect_status(200);
        // Nothing the operator's rule holds: published at once.
        let done = submit(&c.member.client, &id).await;
        assert_eq!(done["state"], "published", "{done}");
        let seen = c
            .customer
            .client
            .get("/api/v1/catalog/demo-svc")
            .await
            .json();
        assert_eq!(seen["description"]["fr"], "Un meilleur gadget");

        let id = c
            .member
            .client
            .post("/api/v1/offerings/demo-svc/revisions", &json!({}))
            .await
            .expect_status(201)
            .json()["submission_id"]
            .as_str()
            .expect("id")
            .to_owned();
        let before = live_bytes(&app, &c).await;
        reprice(&c, &id).await;
        submit(&c.member.client, &id).await;
        review(
            &app,
            &c,
            &id,
            json!({"decision": "reject", "reason": "Prices must be announced a month ahead."}),
        )
        .await;
        let s = c
            .owner
            .client
            .get(&format!("/api/v1/submissions/{id}"))
            .await
            .json();
        assert_eq!(s["submission"]["state"], "rejected");
        advance_to(&app, "2026-03-12T00:00:00Z").await;
        assert_eq!(live_bytes(&app, &c).await, before, "byte for byte");
    })
    .await;
}

/// A revision rejected on Thursday 5 March; the provider appeals it. Returns the decider.
async fn appealed<'a>(app: &TestApp, c: &'a Cast) -> (String, &'a TestUser) {
    let id = live_with_revision(app, c).await;
    reprice(c, &id).await;
    submit(&c.member.client, &id).await;
    let decider = review(app, c, &id, json!({"decision": "reject", "reason": "No."})).await;
    let view = c
        .owner
        .client
        .get(&format!("/api/v1/submissions/{id}/appeal"))
        .await
        .expect_status(200)
        .json();
    assert_eq!(view["may_appeal"], true, "{view}");
    assert_eq!(
        view["deadline"], "2026-03-19T00:00:00Z",
        "14 days after the release"
    );
    let s = c
        .owner
        .client
        .get(&format!("/api/v1/submissions/{id}"))
        .await
        .json();
    assert_eq!(s["actions"], json!(["appeal"]));
    // A reason is required; staff cannot appeal for the provider.
    c.owner
        .client
        .post(
            &format!("/api/v1/submissions/{id}/appeal"),
            &json!({"reason": " "}),
        )
        .await
        .problem(422, "validation-failed");
    app.admin
        .post(
            &format!("/api/v1/submissions/{id}/appeal"),
            &json!({"reason": "x"}),
        )
        .await
        .problem(403, "forbidden");
    let emails = outbox(app).await.len();
    let filed = c
        .owner
        .client
        .post(
            &format!("/api/v1/submissions/{id}/appeal"),
            &json!({"reason": "The new price was announced in January."}),
        )
        .await
        .expect_status(200)
        .json();
    assert_eq!(filed["state"], "appealed");
    let sent = outbox(app).await;
    let told: Vec<String> = sent[emails..].iter().map(|e| e["to"].to_string()).collect();
    assert!(
        told.iter().any(|t| t.contains("admin")),
        "admins told: {told:?}"
    );
    assert!(
        !told.iter().any(|t| t.contains(&decider.email)),
        "not the decider: {told:?}"
    );
    // The decider never takes it, and is not offered it.
    decider
        .client
        .post(
            &format!("/api/v1/submissions/{id}/appeal/decision"),
            &json!({"outcome": "reopen"}),
        )
        .await
        .problem(403, "forbidden");
    let offered = decider
        .client
        .get("/api/v1/appeals")
        .await
        .expect_status(200)
        .json();
    assert_eq!(offered, json!([]));
    let view = decider
        .client
        .get(&format!("/api/v1/submissions/{id}/appeal"))
        .await
        .json();
    assert_eq!(view["may_decide"], false);
    (id, decider)
}

#[tokio::test]
async fn an_appeal_upheld_stands() {
    each_backend_with(rehearsal, |app| async move {
        let c = cast(&app).await;
        let (id, _) = appealed(&app, &c).await;
        let before = live_bytes(&app, &c).await;
        let listed = app
            .admin
            .get("/api/v1/appeals")
            .await
            .expect_status(200)
            .json();
        assert_eq!(listed[0]["submission_id"], json!(id));
        assert_eq!(listed[0]["revision"], true);
        app.admin
            .post(
                &format!("/api/v1/submissions/{id}/appeal/decision"),
                &json!({"outcome": "uphold"}),
            )
            .await
            .problem(422, "validation-failed");
        let emails = outbox(&app).await.len();
        let heard = app
            .admin
            .post(
                &format!("/api/v1/submissions/{id}/appeal/decision"),
                &json!({"outcome": "uphold", "answer": "The announcement came too late."}),
            )
            .await
            .expect_status(200)
            .json();
        assert_eq!(heard["state"], "rejected");
        assert_eq!(heard["appeal"]["outcome"], "uphold");
        let sent = outbox(&app).await;
        let subjects: Vec<&str> = sent[emails..]
            .iter()
            .filter_map(|e| e["subject"].as_str())
            .collect();
        assert_eq!(subjects.len(), 2, "{subjects:?}");
        assert!(
            subjects.iter().any(|s| s.contains("the rejection stands")),
            "{subjects:?}"
        );
        assert!(
            subjects.iter().any(|s| s.contains("le refus est maintenu")),
            "{subjects:?}"
        );
        // Once only.
        c.owner
            .client
            .post(
                &format!("/api/v1/submissions/{id}/appeal"),
                &json!({"reason": "again"}),
            )
            .await
            .problem(409, "conflict");
        assert_eq!(live_bytes(&app, &c).await, before);
        let audit = app
            .admin
            .get("/api/v1/audit?action=submission.appeal_upheld&limit=10")
            .await
            .json();
        assert_eq!(audit["items"].as_array().map(Vec::len), Some(1), "{audit}");
    })
    .await;
}

#[tokio::test]
async fn an_appeal_reopened_goes_back_into_the_queue_first() {
    each_backend_with(rehearsal, |app| async move {
        let c = cast(&app).await;
        let (id, decider) = appealed(&app, &c).await;
        let other = if decider.id == c.validator.id {
            &c.other_validator
        } else {
            &c.validator
        };
        let offered = other
            .client
            .get("/api/v1/appeals")
            .await
            .expect_status(200)
            .json();
        assert_eq!(offered[0]["submission_id"], json!(id), "{offered}");
        let heard = other
            .client
            .post(
                &format!("/api/v1/submissions/{id}/appeal/decision"),
                &json!({"outcome": "reopen", "answer": "Fair point."}),
            )
            .await
            .expect_status(200)
            .json();
        assert_eq!(heard["state"], "queued");
        assert_eq!(heard["round"], 1, "the appealed round");
        let s = c
            .owner
            .client
            .get(&format!("/api/v1/submissions/{id}"))
            .await
            .json();
        assert_eq!(s["submission"]["rounds"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            s["schedule"],
            json!({"review_date": "2026-03-10", "decision_date": "2026-03-12",
                "queue_position": 1, "overdue": false}),
            "a resubmission, ahead of first-time submissions"
        );
        assert_eq!(
            s["submission"]["rounds"][1]["submitted_at"],
            s["submission"]["rounds"][0]["submitted_at"],
            "keeps its place"
        );
        let audit = app
            .admin
            .get("/api/v1/audit?action=submission.appeal_reopened&limit=10")
            .await
            .json();
        assert_eq!(audit["items"].as_array().map(Vec::len), Some(1), "{audit}");
        let sent = outbox(&app).await;
        let last: Vec<&str> = sent
            .iter()
            .rev()
            .take(4)
            .filter_map(|e| e["subject"].as_str())
            .collect();
        assert!(
            last.iter().any(|s| s.contains("back in the queue")),
            "{last:?}"
        );
        assert!(last.iter().any(|s| s.contains("10 March 2026")), "{last:?}");
        // The next session takes it again.
        advance_to(&app, "2026-03-10T00:00:00Z").await;
        let s = c
            .owner
            .client
            .get(&format!("/api/v1/submissions/{id}"))
            .await
            .json();
        assert_eq!(s["submission"]["state"], "in_review");
    })
    .await;
}
