//! The calendar view over HTTP (`GET /api/v1/calendar/sessions`, `/review/calendar`): what
//! staff see of the coming sessions (dates, a holiday that moves one, capacity, the planned
//! submissions, who is assigned once a session opened), what a provider sees (its own
//! submissions' places, nothing of another provider), who is refused, and the page in
//! English and French.
//!
//! The test clock starts at `support::START`, Monday 2 March 2026 09:00 UTC; the calendar is
//! the default (UTC, review on Tuesday, decision two working days later) plus a holiday on
//! Tuesday 10 March.

use serde_json::{Value, json};

use crate::go_live::{advance_to, ready_offering, rehearsal, submitted_for};
use crate::support::{TestApp, TestUser, each_backend_with};
use crate::web::WebClient;

const PASSWORD: &str = "correct horse battery";

struct Setup {
    p_owner: TestUser,
    q_owner: TestUser,
    ana: TestUser,
    bruno: TestUser,
    customer: TestUser,
    p_submission: String,
    q_submission: String,
}

/// A user with a password, so they can sign in to the pages too.
async fn person(app: &TestApp, email: &str, extra: Value) -> TestUser {
    let mut body = json!({"email": email, "display_name": email, "password": PASSWORD});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    app.user_with(body).await
}

async fn web_of(app: &TestApp, user: &TestUser) -> WebClient {
    let web = WebClient::new(app);
    web.sign_in(&user.email, PASSWORD).await;
    web
}

/// Two providers, each with one queued submission; two validators whose sessions hold one
/// submission (Ana 1, Bruno 0), so Provider P's (submitted first) is reviewed Tuesday 3
/// March and Provider Q's overflows to the next session, which the holiday on Tuesday 10
/// March moves to Wednesday 11 (decision Friday 13).
async fn two_providers_queued(app: &TestApp) -> Setup {
    let p_owner = person(app, "owner@p.test", json!({})).await;
    let q_owner = person(app, "owner@q.test", json!({})).await;
    let ana = person(
        app,
        "ana@vitrine.test",
        json!({"display_name": "Ana Souza", "staff": {"admin": false, "validator": true}}),
    )
    .await;
    let bruno = person(
        app,
        "bruno@vitrine.test",
        json!({"display_name": "Bruno Lefèvre", "language": "fr",
            "staff": {"admin": false, "validator": true}}),
    )
    .await;
    let customer = person(app, "customer@c.test", json!({})).await;
    app.account("Customer C", &customer).await;
    let p = app.provider("Provider P", &p_owner).await;
    let q = app.provider("Provider Q", &q_owner).await;
    ready_offering(app, &p_owner, &p, "demo-svc").await;
    ready_offering(app, &q_owner, &q, "q-svc").await;

    let mut calendar = app.admin.get("/api/v1/calendar").await.json();
    calendar["holidays"] = json!(["2026-03-10"]);
    app.admin
        .put("/api/v1/calendar", &calendar)
        .await
        .expect_status(200);
    for (validator, capacity) in [(&ana, 1), (&bruno, 0)] {
        app.admin
            .put(
                &format!("/api/v1/validators/{}/capacity", validator.id),
                &json!({"capacity": capacity}),
            )
            .await
            .expect_status(200);
    }
    let p_submission = submitted_for(app, &p_owner, "demo-svc").await;
    let q_submission = submitted_for(app, &q_owner, "q-svc").await;
    Setup {
        p_owner,
        q_owner,
        ana,
        bruno,
        customer,
        p_submission,
        q_submission,
    }
}

fn sessions(view: &Value) -> &Vec<Value> {
    view["sessions"].as_array().expect("sessions")
}

#[tokio::test]
async fn staff_see_dates_holidays_capacity_and_planned_submissions() {
    each_backend_with(rehearsal, |app| async move {
        let s = two_providers_queued(&app).await;
        let view = app
            .admin
            .get("/api/v1/calendar/sessions")
            .await
            .expect_status(200)
            .json();
        assert_eq!(view["scope"], "staff");
        assert_eq!(view["time_zone"], "UTC");
        let listed = sessions(&view);
        assert_eq!(listed.len(), 8, "eight weeks by default");

        let first = &listed[0];
        assert_eq!(first["review_date"], "2026-03-03");
        assert_eq!(first["decision_date"], "2026-03-05");
        assert_eq!(first["cutoff"], "2026-03-03T00:00:00Z");
        assert_eq!(first["holidays"], json!([]));
        assert_eq!(
            (first["filled"].as_u64(), first["capacity"].as_u64()),
            (Some(1), Some(1))
        );
        assert_eq!(first["opened"], false);
        assert_eq!(first["assigned"], json!([]));
        let planned = &first["planned"][0];
        assert_eq!(planned["submission_id"], s.p_submission.as_str());
        assert_eq!(planned["offering_name"], "demo-svc");
        assert_eq!(planned["provider_name"], "Provider P");
        assert_eq!(planned["resubmission"], false);
        assert_eq!(
            (
                planned["queue_position"].as_u64(),
                planned["session_position"].as_u64()
            ),
            (Some(1), Some(1))
        );

        // The holiday on Tuesday 10 March moves the next session to Wednesday 11, and its
        // decision to Friday 13; Provider Q's submission overflowed into it.
        let second = &listed[1];
        assert_eq!(second["nominal_date"], "2026-03-10");
        assert_eq!(second["review_date"], "2026-03-11");
        assert_eq!(second["decision_date"], "2026-03-13");
        assert_eq!(
            second["holidays"],
            json!([{"date": "2026-03-10", "moved": "review"}])
        );
        let planned = second["planned"].as_array().expect("planned");
        assert_eq!(planned.len(), 1);
        assert_eq!(planned[0]["offering_name"], "q-svc");
        assert_eq!(planned[0]["provider_name"], "Provider Q");
        assert_eq!(
            (
                planned[0]["queue_position"].as_u64(),
                planned[0]["session_position"].as_u64()
            ),
            (Some(2), Some(1))
        );
        assert_eq!(listed[2]["review_date"], "2026-03-17");
        assert_eq!(listed[2]["planned"], json!([]));

        // Validators see the same; the listing's length and start are checked.
        let as_validator = s
            .ana
            .client
            .get("/api/v1/calendar/sessions?weeks=3")
            .await
            .expect_status(200)
            .json();
        assert_eq!(as_validator["scope"], "staff");
        assert_eq!(sessions(&as_validator).len(), 3);
        let later = s
            .bruno
            .client
            .get("/api/v1/calendar/sessions?from=2026-03-06&weeks=1")
            .await
            .expect_status(200)
            .json();
        assert_eq!(sessions(&later)[0]["review_date"], "2026-03-11");
        // A day already past lists what is coming, as today would.
        let past = s
            .bruno
            .client
            .get("/api/v1/calendar/sessions?from=2026-03-01&weeks=3")
            .await
            .expect_status(200)
            .json();
        assert_eq!(sessions(&past), sessions(&as_validator));
        for bad in ["weeks=0", "weeks=27", "weeks=many", "from=soon"] {
            let problem = app
                .admin
                .get(&format!("/api/v1/calendar/sessions?{bad}"))
                .await
                .problem(422, "validation-failed");
            let field = bad.split('=').next().expect("field");
            assert!(problem.to_string().contains(field), "{bad}: {problem}");
        }

        // A customer has nothing in the queue: refused.
        s.customer
            .client
            .get("/api/v1/calendar/sessions")
            .await
            .problem(403, "forbidden");
        app.anonymous()
            .get("/api/v1/calendar/sessions")
            .await
            .expect_status(401);
    })
    .await;
}

#[tokio::test]
async fn a_provider_sees_only_its_own_submissions_place() {
    each_backend_with(rehearsal, |app| async move {
        let s = two_providers_queued(&app).await;
        let reply = s
            .p_owner
            .client
            .get("/api/v1/calendar/sessions")
            .await
            .expect_status(200);
        let view = reply.json();
        assert_eq!(view["scope"], "provider");
        let listed = sessions(&view);
        assert_eq!(
            listed.len(),
            1,
            "only the session holding its submission: {view}"
        );
        assert_eq!(listed[0]["review_date"], "2026-03-03");
        assert_eq!(listed[0]["decision_date"], "2026-03-05");
        assert_eq!(
            listed[0]["planned"],
            json!([{"submission_id": s.p_submission, "offering_name": "demo-svc",
                "provider_name": "Provider P", "resubmission": false,
                "queue_position": 1, "session_position": 1}])
        );
        for staff_only in ["holidays", "capacity", "filled", "opened", "assigned"] {
            assert!(listed[0].get(staff_only).is_none(), "{staff_only}: {view}");
        }
        let text = view.to_string();
        assert!(
            !text.contains("q-svc") && !text.contains("Provider Q"),
            "{text}"
        );

        let q_view = s
            .q_owner
            .client
            .get("/api/v1/calendar/sessions")
            .await
            .expect_status(200)
            .json();
        let q_listed = sessions(&q_view);
        assert_eq!(q_listed.len(), 1);
        assert_eq!(q_listed[0]["review_date"], "2026-03-11");
        assert_eq!(
            q_listed[0]["planned"][0]["submission_id"],
            s.q_submission.as_str()
        );
        assert_eq!(q_listed[0]["planned"][0]["queue_position"], 2);
        assert_eq!(q_listed[0]["planned"][0]["session_position"], 1);
        let text = q_view.to_string();
        assert!(
            !text.contains("demo-svc") && !text.contains("Provider P"),
            "{text}"
        );
    })
    .await;
}

#[tokio::test]
async fn an_opened_session_names_who_reviews_what() {
    each_backend_with(rehearsal, |app| async move {
        let s = two_providers_queued(&app).await;
        advance_to(&app, "2026-03-03T00:00:00Z").await;
        let view = app
            .admin
            .get("/api/v1/calendar/sessions")
            .await
            .expect_status(200)
            .json();
        let first = &sessions(&view)[0];
        assert_eq!(first["review_date"], "2026-03-03");
        assert_eq!(first["opened"], true);
        assert_eq!(first["planned"], json!([]));
        assert_eq!(
            (first["filled"].as_u64(), first["capacity"].as_u64()),
            (Some(1), Some(1))
        );
        let assigned = first["assigned"].as_array().expect("assigned");
        assert_eq!(assigned.len(), 1, "{view}");
        assert_eq!(assigned[0]["submission_id"], s.p_submission.as_str());
        assert_eq!(assigned[0]["offering_name"], "demo-svc");
        assert_eq!(assigned[0]["provider_name"], "Provider P");
        assert_eq!(assigned[0]["state"], "in_review");
        assert_eq!(assigned[0]["validator_id"], json!(s.ana.id));
        assert_eq!(assigned[0]["validator_name"], "Ana Souza");
        // The next session still holds Provider Q's, now first in the queue.
        let second = &sessions(&view)[1];
        assert_eq!(second["opened"], false);
        assert_eq!(second["planned"][0]["offering_name"], "q-svc");
        assert_eq!(second["planned"][0]["queue_position"], 1);

        // Its provider no longer has a queued submission: nothing listed, nothing leaked.
        let p_view = s
            .p_owner
            .client
            .get("/api/v1/calendar/sessions")
            .await
            .expect_status(200)
            .json();
        assert_eq!(p_view["sessions"], json!([]));
    })
    .await;
}

#[tokio::test]
async fn the_calendar_page_in_english_and_french() {
    each_backend_with(rehearsal, |app| async move {
        let s = two_providers_queued(&app).await;
        let ana = web_of(&app, &s.ana).await;
        let desk = ana.get("/review").await;
        desk.assert_contains("href=\"/review/calendar\">Coming sessions</a>");
        let page = ana.get("/review/calendar").await;
        assert_eq!(page.status, 200, "{}", page.html);
        page.assert_contains("<h1>Coming review sessions</h1>")
            .assert_contains("Session of Tuesday 3 March 2026")
            .assert_contains("Session of Wednesday 11 March 2026")
            .assert_contains("Holiday on Tuesday 10 March 2026: the review day moved.")
            .assert_contains("<dd class=\"capacity\">1 of 1</dd>")
            .assert_contains(&format!(
                "href=\"/submissions/{}\">demo-svc</a>",
                s.p_submission
            ))
            .assert_contains("<td>Provider Q</td>")
            .assert_contains("First time")
            .assert_contains(
                "Nothing planned yet: submissions made before the cutoff join this session.",
            );

        let bruno = web_of(&app, &s.bruno).await;
        let page = bruno.get("/review/calendar").await;
        assert_eq!(page.status, 200, "{}", page.html);
        page.assert_contains("<h1>Sessions de revue à venir</h1>")
            .assert_contains("Session du mardi 3 mars 2026")
            .assert_contains("Jour férié le mardi 10 mars 2026 : le jour d’examen est décalé.")
            .assert_contains("<dd class=\"capacity\">1 sur 1</dd>")
            .assert_contains("Première fois")
            .assert_lacks("Session of");

        // Admins reach it from their navigation, and see what validators see.
        let admin = crate::web_admin::signed_in_admin(&app).await;
        admin.get("/admin").await.assert_contains(
            "id=\"admin-nav-sessions\" href=\"/review/calendar\">Coming sessions</a>",
        );
        admin
            .get("/review/calendar")
            .await
            .assert_contains("<td>Provider P</td>")
            .assert_contains("<td>Provider Q</td>");

        // Once the session opened: who reviews what.
        advance_to(&app, "2026-03-03T00:00:00Z").await;
        ana.get("/review/calendar")
            .await
            .assert_contains("Who reviews what")
            .assert_contains("<td class=\"validator\">Ana Souza</td>")
            .assert_contains("Opened");

        // A provider sees its submission's place on its page, and only its own sessions.
        let q = web_of(&app, &s.q_owner).await;
        q.get(&format!("/submissions/{}", s.q_submission))
            .await
            .assert_contains(
                "<dd id=\"session-place\">Session of Wednesday 11 March 2026: number 1 in it</dd>",
            );
        q.get("/review/calendar")
            .await
            .assert_contains("Session of Wednesday 11 March 2026")
            .assert_lacks("demo-svc")
            .assert_lacks("Provider P")
            .assert_lacks("Tuesday 3 March 2026")
            .assert_lacks("class=\"capacity\"");
        // A customer has no place in the queue: refused.
        let customer = web_of(&app, &s.customer).await;
        assert_eq!(customer.get("/review/calendar").await.status, 403);
    })
    .await;
}
