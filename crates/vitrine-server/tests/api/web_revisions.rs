//! The pages of a revision and an appeal over HTTP (see web.rs for the client), with the
//! test clock (Monday 2 March 2026 09:00 UTC; review Tuesday, decision Thursday): the
//! provider proposes a change to a live offering from its editor, edits it and submits it;
//! the validator's submission page shows the diff; after the rejection the provider sees
//! "Appeal" with its deadline and appeals; the deciding validator's desk does not offer it,
//! another validator's does, and that one reopens it.

use serde_json::{Value, json};

use crate::go_live::{advance_to, verdicts};
use crate::support::{TestApp, TestUser, each_backend_with};
use crate::web::WebClient;

const PASSWORD: &str = "correct horse battery";

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

#[tokio::test]
async fn a_revision_and_its_appeal_through_the_pages() {
    each_backend_with(crate::go_live::rehearsal, |app| async move {
        let (provider_web, owner) = web_user(&app, "owner@p.test", json!({})).await;
        let validator = json!({"staff": {"admin": false, "validator": true}});
        let (decider_web, decider) = web_user(&app, "val@vitrine.test", validator.clone()).await;
        let provider = app.provider("Provider P", &owner).await;
        app.offering(
            &owner.client,
            &provider,
            "demo-svc",
            "public",
            &[],
            json!({}),
        )
        .await;

        let editor = provider_web.get("/provider/offerings/demo-svc").await;
        editor
            .assert_contains("Propose a change (revision)")
            .assert_lacks("id=\"listing-form\"");
        let started = provider_web
            .post_form(
                "/provider/offerings/demo-svc",
                "/provider/offerings/demo-svc/revisions",
                &[],
            )
            .await;
        assert_eq!(started.status, 303, "{}", started.html);
        let at = started.location().to_owned();
        let page = at.split('#').next().expect("a path").to_owned();
        let id = page.trim_start_matches("/submissions/").to_owned();
        provider_web
            .get(&page)
            .await
            .assert_contains("Revision of the live offering")
            .assert_contains("This revision does not change the live version yet.");

        let saved = provider_web
            .post_form(
                &page,
                &format!("{page}/revision"),
                &[
                    ("_plans", "1"),
                    ("display_name.en", "Widget Pro"),
                    ("display_name.fr", "Gadget Pro"),
                    ("description.en:text", "A widget service for tests"),
                    ("plans[0].name", "lite"),
                    ("plans[0].display_name.en", "Lite"),
                    ("plans[0].pricing.kind", "subscription"),
                    ("plans[0].pricing.amount", "9.00"),
                    ("plans[0].pricing.currency", "EUR"),
                ],
            )
            .await;
        assert_eq!(saved.status, 303, "{}", saved.html);
        let shown = provider_web.get(&page).await;
        shown
            .assert_contains("plans.lite.pricing")
            .assert_contains("display_name.en")
            .assert_contains("Needs review")
            .assert_contains("it joins the review queue");
        // Customers still see the live version.
        let live = app.anonymous().get("/api/v1/catalog/demo-svc").await.json();
        assert_eq!(live["display_name"]["en"], "Widget demo-svc");

        let submitted = provider_web
            .post_form(&page, &format!("{page}/revision/submit"), &[])
            .await;
        assert_eq!(submitted.status, 303, "{}", submitted.html);
        advance_to(&app, "2026-03-03T00:00:00Z").await;
        decider_web
            .get(&page)
            .await
            .assert_contains("What changes from the live version")
            .assert_contains("plans.lite.pricing")
            .assert_contains("Widget Pro");
        let requirements = app.admin.get("/api/v1/requirements").await.json();
        decider
            .client
            .post(
                &format!("/api/v1/submissions/{id}/decision"),
                &json!({"verdicts": verdicts(&[], &requirements), "decision": "reject",
                    "reason": "Announce the price first."}),
            )
            .await
            .expect_status(200);
        advance_to(&app, "2026-03-05T00:00:00Z").await;

        let rejected = provider_web.get(&page).await;
        rejected
            .assert_contains("You may appeal this rejection once, with a reason, until")
            .assert_contains("id=\"appeal-form\"");
        let appealed = provider_web
            .post_form(
                &page,
                &format!("{page}/appeal"),
                &[("reason", "It was announced.")],
            )
            .await;
        assert_eq!(appealed.status, 303, "{}", appealed.html);
        provider_web
            .get(&page)
            .await
            .assert_contains("It was announced.")
            .assert_contains("Waiting to be heard")
            .assert_lacks("id=\"appeal-form\"");

        // The decider is not offered the appeal; another validator is.
        decider_web
            .get("/review")
            .await
            .assert_contains("No appeal is waiting for you.");
        decider_web
            .get(&page)
            .await
            .assert_lacks("id=\"appeal-decision-form\"");
        let (other_web, _) = web_user(&app, "val2@vitrine.test", validator).await;
        other_web
            .get("/review")
            .await
            .assert_contains(&format!("/submissions/{id}#appeal"));
        let heard = other_web
            .post_form(
                &page,
                &format!("{page}/appeal/decision"),
                &[("outcome", "reopen"), ("answer", "Fair.")],
            )
            .await;
        assert_eq!(heard.status, 303, "{}", heard.html);
        let s = app
            .admin
            .get(&format!("/api/v1/submissions/{id}"))
            .await
            .json();
        assert_eq!(s["submission"]["state"], "queued");
        // In French too.
        provider_web
            .post_form("/", "/language", &[("lang", "fr"), ("_next", "/")])
            .await;
        provider_web
            .get(&page)
            .await
            .assert_contains("Révision de l’offre en ligne")
            .assert_contains("Rouverte dans un nouveau tour");
    })
    .await;
}
