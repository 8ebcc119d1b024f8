//! The review pages over HTTP (see web.rs for the client): a submission as its provider,
//! its validator and strangers see it, the validator's checklist and decision form, the
//! thread, and the validators' desk, through a review cycle on the test clock.
//!
//! The test clock starts at `support::START`, Monday 2 March 2026 09:00 UTC; the calendar is
//! the default (UTC, review on Tuesday, decision two working days later, on Thursday).

use serde_json::{Value, json};
use vitrine_server::ServerConfig;

use crate::support::{TestApp, TestUser, each_backend_with};
use crate::web::{WebClient, WebPage};

const PASSWORD: &str = "correct horse battery";

fn rehearsal() -> ServerConfig {
    ServerConfig {
        test_clock: true,
        scheduler_interval: None,
        ..ServerConfig::default()
    }
}

/// A user created by the admin with `extra` (staff roles), signed in through the form.
async fn web_user(app: &TestApp, email: &str, extra: Value) -> (WebClient, TestUser) {
    let mut body = json!({"email": email, "display_name": email, "password": PASSWORD});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let user = app.user_with(body).await;
    let web = WebClient::new(app);
    web.sign_in(email, PASSWORD).await;
    (web, user)
}

/// Who takes part: the provider's owner and the one validator (so the session assigns
/// the submission to them), each with a browser.
struct Cast {
    provider_web: WebClient,
    validator_web: WebClient,
    /// The submission, queued for the session of Tuesday 3 March.
    id: String,
    recording: String,
    page: String,
}

/// An approved provider whose offering `demo-svc` is submitted for go-live with one
/// recording (queued: reviewed Tuesday 3 March, decided Thursday 5 March).
async fn queued_submission(app: &TestApp) -> Cast {
    let (provider_web, owner) = web_user(app, "owner@p.test", json!({})).await;
    let (validator_web, _validator) = web_user(
        app,
        "val@vitrine.test",
        json!({"display_name": "Ana Souza", "staff": {"admin": false, "validator": true}}),
    )
    .await;
    let provider = app.provider("Provider P", &owner).await;
    app.offering(
        &owner.client,
        &provider,
        "demo-svc",
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
                &format!("/api/v1/offerings/demo-svc/checklist/{step}"),
                &json!({"state": state}),
            )
            .await
            .expect_status(200);
    }
    let created = owner
        .client
        .post("/api/v1/offerings/demo-svc/submissions", &json!({}))
        .await
        .expect_status(201)
        .json();
    let id = created["submission"]["id"].as_str().expect("id").to_owned();
    let recording = app.stored_recording(&id, owner.id).await;
    owner
        .client
        .patch(
            &format!("/api/v1/submissions/{id}"),
            &json!({"recordings": [recording.id], "notes": "First round\nsecond line",
                "requested_go_live": "2026-04-01"}),
        )
        .await
        .expect_status(200);
    owner
        .client
        .post(&format!("/api/v1/submissions/{id}/submit"), &json!({}))
        .await
        .expect_status(200);
    Cast {
        provider_web,
        validator_web,
        page: format!("/submissions/{id}"),
        id,
        recording: recording.id.to_string(),
    }
}

async fn advance_to(app: &TestApp, to: &str) {
    app.admin
        .post("/api/v1/test-clock/advance", &json!({"to": to}))
        .await
        .expect_status(200);
}

async fn requirement_keys(app: &TestApp) -> Vec<String> {
    app.admin
        .get("/api/v1/requirements")
        .await
        .expect_status(200)
        .json()["requirements"]
        .as_array()
        .expect("requirements")
        .iter()
        .map(|r| r["key"].as_str().expect("key").to_owned())
        .collect()
}

/// The decision form's fields: every requirement met but `unmet`, which gets `comment`.
fn decision_fields(
    keys: &[String],
    unmet: &str,
    comment: &str,
    decision: &str,
) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let not_met = key == unmet;
        fields.push((format!("verdicts[{i}].requirement"), key.clone()));
        fields.push((
            format!("verdicts[{i}].outcome"),
            if not_met { "not_met" } else { "met" }.to_owned(),
        ));
        fields.push((
            format!("verdicts[{i}].comment:text"),
            if not_met { comment } else { "" }.to_owned(),
        ));
    }
    fields.push(("decision".to_owned(), decision.to_owned()));
    fields.push(("reason:text".to_owned(), String::new()));
    fields
}

async fn post(web: &WebClient, from: &str, action: &str, fields: &[(String, String)]) -> WebPage {
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    web.post_form(from, action, &fields).await
}

#[tokio::test]
async fn the_provider_sees_the_queued_submission_with_its_dates_and_strangers_do_not() {
    each_backend_with(rehearsal, |app| async move {
        let cast = queued_submission(&app).await;
        let page = cast.provider_web.get(&cast.page).await;
        assert_eq!(page.status, 200, "{}", page.html);
        page.assert_contains("Go-live submission: demo-svc")
            .assert_contains("Queued for review")
            .assert_contains("<dd id=\"review-date\">Tuesday 3 March 2026</dd>")
            .assert_contains("<dd id=\"decision-date\">Thursday 5 March 2026</dd>")
            .assert_contains("<dd id=\"queue-position\">1</dd>")
            .assert_contains("Wednesday 1 April 2026")
            .assert_contains("<p class=\"pre\">First round\nsecond line</p>")
            .assert_contains(&format!("href=\"/api/v1/recordings/{}\"", cast.recording))
            .assert_contains("Submitted")
            .assert_contains(&format!("action=\"/submissions/{}/withdraw\"", cast.id))
            .assert_contains("id=\"thread-reply\"")
            // Only the assigned validator judges, and only once in review.
            .assert_lacks("id=\"decision-form\"")
            .assert_lacks("<video");

        // In French for a reader who asks.
        cast.provider_web
            .post_form("/", "/language", &[("lang", "fr"), ("_next", "/")])
            .await;
        cast.provider_web
            .get(&cast.page)
            .await
            .assert_contains("En file d’attente")
            .assert_contains("mardi 3 mars 2026");

        // A stranger is told the submission does not exist; an anonymous visitor signs in.
        let (stranger, _) = web_user(&app, "stranger@x.test", json!({})).await;
        let missing = stranger.get(&cast.page).await;
        assert_eq!(missing.status, 404);
        missing.assert_lacks("demo-svc");
        let anonymous = WebClient::new(&app).get(&cast.page).await;
        assert_eq!(anonymous.status, 303);
        assert!(anonymous.location().starts_with("/sign-in?next="));
        // The review desk is for staff.
        assert_eq!(stranger.get("/review").await.status, 403);

        // The provider withdraws through the page.
        let withdrawn = cast
            .provider_web
            .post_form(&cast.page, &format!("{}/withdraw", cast.page), &[])
            .await;
        assert_eq!(withdrawn.status, 303, "{}", withdrawn.html);
        cast.provider_web
            .get(&cast.page)
            .await
            .assert_contains("Retirée")
            .assert_lacks("id=\"withdraw-form\"");
    })
    .await;
}

#[tokio::test]
async fn the_validator_judges_through_the_form_and_the_provider_sees_it_on_decision_day() {
    each_backend_with(rehearsal, |app| async move {
        let cast = queued_submission(&app).await;
        let keys = requirement_keys(&app).await;
        advance_to(&app, "2026-03-03T00:00:00Z").await;

        // The desk lists the assignment and this week's session.
        let desk = cast.validator_web.get("/review").await;
        assert_eq!(desk.status, 200, "{}", desk.html);
        desk.assert_contains(&format!("href=\"/submissions/{}\">demo-svc</a>", cast.id))
            .assert_contains("<dd id=\"session-review-date\">Tuesday 3 March 2026</dd>")
            .assert_contains("<dd id=\"session-decision-date\">Thursday 5 March 2026</dd>")
            .assert_contains("In review")
            .assert_contains("No decision is waiting.");

        let page = cast.validator_web.get(&cast.page).await;
        assert_eq!(page.status, 200, "{}", page.html);
        page.assert_contains(&format!(
            "<video class=\"recording\" controls preload=\"metadata\" src=\"/api/v1/recordings/{}\"",
            cast.recording
        ))
        .assert_contains("Recording 1 (demo.mp4)")
        .assert_contains("id=\"decision-form\"")
        .assert_contains("Provisioning an instance")
        .assert_lacks("id=\"withdraw-form\"");

        // Approving with a requirement not met is refused; every verdict and comment stays.
        let comment = "The provision call is not shown <b>at all</b>";
        let refused = post(
            &cast.validator_web,
            &cast.page,
            &format!("{}/decision", cast.page),
            &decision_fields(&keys, "provision", comment, "approve"),
        )
        .await;
        assert_eq!(refused.status, 422, "{}", refused.html);
        refused
            .assert_contains("cannot approve")
            .assert_contains("The provision call is not shown &lt;b&gt;at all&lt;&#x2f;b&gt;")
            .assert_lacks("<b>at all</b>")
            .assert_contains("name=\"verdicts[1].outcome\" value=\"not_met\" checked")
            .assert_contains("name=\"verdicts[0].outcome\" value=\"met\" checked")
            .assert_contains("name=\"decision\" value=\"approve\" checked");
        // A requirement not met needs a comment: the reason shows beside that field.
        let no_comment = post(
            &cast.validator_web,
            &cast.page,
            &format!("{}/decision", cast.page),
            &decision_fields(&keys, "provision", "", "request_changes"),
        )
        .await;
        assert_eq!(no_comment.status, 422, "{}", no_comment.html);
        no_comment.assert_contains("id=\"f-verdicts-1-comment-text-error\"");

        let recorded = post(
            &cast.validator_web,
            &cast.page,
            &format!("{}/decision", cast.page),
            &decision_fields(&keys, "provision", comment, "request_changes"),
        )
        .await;
        assert_eq!(recorded.status, 303, "{}", recorded.html);
        cast.validator_web
            .get(&cast.page)
            .await
            .assert_contains("Held until decision day")
            .assert_contains("The provision call is not shown")
            .assert_lacks("id=\"decision-form\"");
        cast.validator_web
            .get("/review")
            .await
            .assert_contains("Decisions held until decision day")
            .assert_contains("released on Thursday 5 March 2026");

        // Before decision day the provider sees that it was reviewed, not the decision.
        cast.provider_web
            .get(&cast.page)
            .await
            .assert_contains("Reviewed, decision to come")
            .assert_lacks("The provision call is not shown")
            .assert_lacks("Not met")
            .assert_lacks("Changes requested");

        // Decision day: the unmet requirement and its comment, and the way to resubmit.
        advance_to(&app, "2026-03-05T00:00:00Z").await;
        cast.provider_web
            .get(&cast.page)
            .await
            .assert_contains("Changes requested")
            .assert_contains("<th scope=\"row\">Provisioning an instance</th>")
            .assert_contains("<span class=\"not-met\">Not met</span>")
            .assert_contains("The provision call is not shown &lt;b&gt;at all&lt;&#x2f;b&gt;")
            .assert_contains("href=\"/provider/offerings/demo-svc/go-live\"")
            .assert_contains("Decision released");
    })
    .await;
}

#[tokio::test]
async fn messages_from_either_side_appear_on_the_page_as_text() {
    each_backend_with(rehearsal, |app| async move {
        let cast = queued_submission(&app).await;
        advance_to(&app, "2026-03-03T00:00:00Z").await;

        let sent = cast
            .provider_web
            .post_form(
                &cast.page,
                &format!("{}/messages", cast.page),
                &[(
                    "body:text",
                    "<script>alert(1)</script>\nIs the recording clear?",
                )],
            )
            .await;
        assert_eq!(sent.status, 303, "{}", sent.html);
        assert_eq!(sent.location(), format!("{}#thread", cast.page));
        let answered = cast
            .validator_web
            .post_form(
                &cast.page,
                &format!("{}/messages", cast.page),
                &[("body:text", "Yes, thank you.")],
            )
            .await;
        assert_eq!(answered.status, 303, "{}", answered.html);

        let page = cast.provider_web.get(&cast.page).await;
        page.assert_contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;\nIs the recording clear?")
            .assert_lacks("<script>alert(1)")
            .assert_contains("Yes, thank you.")
            // Who wrote, by name and role, not by side.
            .assert_contains("<span class=\"author\">Ana Souza</span>, validator")
            .assert_contains("<span class=\"author\">owner@p.test</span>, provider (You)");
        cast.validator_web
            .get(&cast.page)
            .await
            .assert_contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;")
            .assert_contains("Yes, thank you.")
            .assert_contains("<span class=\"author\">Ana Souza</span>, validator (You)");
        // The API says the same.
        let thread = app
            .admin
            .get(&format!("/api/v1/submissions/{}/messages", cast.id))
            .await
            .expect_status(200)
            .json();
        assert_eq!(thread[1]["author_name"], "Ana Souza");
        assert_eq!(thread[1]["author_role"], "validator");
        assert_eq!(thread[0]["author_role"], "provider");

        // An empty message is refused beside the field.
        let empty = cast
            .provider_web
            .post_form(
                &cast.page,
                &format!("{}/messages", cast.page),
                &[("body:text", "   ")],
            )
            .await;
        assert_eq!(empty.status, 422, "{}", empty.html);
        empty.assert_contains("id=\"f-body-text-error\"");

        // No decision by the end of decision day: the provider sees that it is late.
        cast.provider_web
            .get(&cast.page)
            .await
            .assert_lacks("id=\"late\"");
        advance_to(&app, "2026-03-06T00:00:00Z").await;
        cast.provider_web
            .get(&cast.page)
            .await
            .assert_contains("<strong class=\"late\" id=\"late\">Late</strong>");
        cast.validator_web
            .get("/review")
            .await
            .assert_contains("<strong class=\"late\">Late</strong>");
    })
    .await;
}

#[tokio::test]
async fn an_admin_sees_every_assignment_and_schedules_the_publication() {
    each_backend_with(rehearsal, |app| async move {
        let cast = queued_submission(&app).await;
        let keys = requirement_keys(&app).await;
        let (admin_web, _) = web_user(
            &app,
            "boss@vitrine.test",
            json!({"staff": {"admin": true, "validator": false}}),
        )
        .await;
        advance_to(&app, "2026-03-03T00:00:00Z").await;
        admin_web
            .get("/review")
            .await
            .assert_contains("All assignments")
            .assert_contains(&format!("href=\"/submissions/{}\">demo-svc</a>", cast.id))
            .assert_contains("<td>Ana Souza</td>")
            .assert_lacks("My assignments");

        let approved = post(
            &cast.validator_web,
            &cast.page,
            &format!("{}/decision", cast.page),
            &decision_fields(&keys, "", "", "approve"),
        )
        .await;
        assert_eq!(approved.status, 303, "{}", approved.html);
        advance_to(&app, "2026-03-05T00:00:00Z").await;
        let page = admin_web.get(&cast.page).await;
        page.assert_contains("id=\"publication-form\"")
            .assert_contains("Wednesday 1 April 2026");
        // Left empty: the start of the requested date.
        let scheduled = admin_web
            .post_form(
                &cast.page,
                &format!("{}/publication", cast.page),
                &[("at", "")],
            )
            .await;
        assert_eq!(scheduled.status, 303, "{}", scheduled.html);
        admin_web
            .get(&cast.page)
            .await
            .assert_contains("Publication scheduled")
            .assert_contains("id=\"publication-at\"")
            .assert_lacks("id=\"publication-form\"");
        cast.provider_web
            .get(&cast.page)
            .await
            .assert_contains("Publication scheduled")
            .assert_contains("Approved");
    })
    .await;
}

/// The submission page is kept between writes (its validator keeps it open): read again,
/// a change made without a request (here straight into the store, which this test
/// harness announces to no cache) is not shown yet; a write through any request is shown
/// at once; and no reader is ever served another reader's page.
#[tokio::test]
async fn the_submission_page_is_kept_per_reader_until_a_write() {
    let kept = || ServerConfig {
        cache_ttl: std::time::Duration::from_secs(600),
        ..rehearsal()
    };
    each_backend_with(kept, async |app| {
        let cast = queued_submission(&app).await;
        advance_to(&app, "2026-03-03T00:00:00Z").await;
        // (The first page after signing in shows a one-time notice, and is not kept.)
        for _ in 0..2 {
            cast.validator_web
                .get(&cast.page)
                .await
                .assert_contains("id=\"decision\"");
        }
        let submission = cast.id.parse().expect("a submission id");
        let (owner, _) = app
            .store
            .user_by_email(
                &vitrine_domain::user::Email::parse("email", "owner@p.test").expect("email"),
            )
            .await
            .expect("read")
            .expect("the owner");
        let message = vitrine_domain::thread::Message {
            id: vitrine_domain::thread::MessageId::generate(),
            submission_id: submission,
            author: owner.id,
            side: vitrine_domain::thread::Side::Provider,
            body: "Written straight into the store.".into(),
            created_at: vitrine_server::Clock::now(app.clock.as_ref()),
        };
        app.store
            .insert_message(&message, &[], &[])
            .await
            .expect("message stored");
        // Kept for its validator; the provider, who had not read it, reads it fresh and
        // without the validator's forms.
        cast.validator_web
            .get(&cast.page)
            .await
            .assert_lacks("Written straight into the store.");
        cast.provider_web
            .get(&cast.page)
            .await
            .assert_contains("Written straight into the store.")
            .assert_lacks("id=\"decision\"");
        // Any write through a request (here the provider's reply) makes it stale.
        cast.provider_web
            .post_form(
                &cast.page,
                &format!("{}/messages", cast.page),
                &[("body:text", "A reply through the page.")],
            )
            .await;
        cast.validator_web
            .get(&cast.page)
            .await
            .assert_contains("Written straight into the store.")
            .assert_contains("A reply through the page.");
    })
    .await;
}
