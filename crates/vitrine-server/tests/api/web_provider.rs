//! The provider's pages as a browser without JavaScript uses them (see web.rs for the
//! client): applying to become a provider, creating and editing an offering, the
//! checklist, visibility and allowlist, and the go-live request up to submission.

use serde_json::{Value, json};

use crate::support::{TestApp, TestUser, each_backend};
use crate::web::{WebClient, signed_in};

/// The id of the reader's only submission for `offering`, through the API.
async fn submission_of(owner: &TestUser, offering: &str) -> String {
    let list = owner
        .client
        .get(&format!("/api/v1/offerings/{offering}/submissions"))
        .await
        .expect_status(200)
        .json();
    list[0]["id"].as_str().expect("a submission").to_owned()
}

async fn managed(owner: &TestUser, offering: &str) -> Value {
    owner
        .client
        .get(&format!("/api/v1/offerings/{offering}"))
        .await
        .expect_status(200)
        .json()
}

/// A new offering form: the listing, then the plan rows as the page posts them (every row's
/// pricing select always sends a kind, blank rows included).
fn offering_form<'a>(
    account: &'a str,
    name: &'a str,
    plan_amount: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("provider_account_id", account),
        ("name", name),
        ("display_name.en", "Widget One"),
        ("display_name.fr", "Gadget Un"),
        (
            "description.en:text",
            "A widget service.\r\nWith two lines.",
        ),
        ("description.fr:text", ""),
        ("category", "widgets"),
        ("tags:lines", "widget\r\nsql"),
        ("documentation_url", "https://docs.acme.test/widget"),
        ("support_contact", "support@acme.test"),
        ("plans[0].name", "lite"),
        ("plans[0].display_name.en", "Lite"),
        ("plans[0].display_name.fr", ""),
        ("plans[0].description.en", ""),
        ("plans[0].description.fr", ""),
        ("plans[0].pricing.kind", "free"),
        ("plans[0].pricing.amount", ""),
        ("plans[0].pricing.unit", ""),
        ("plans[0].pricing.unit_price", ""),
        ("plans[0].pricing.currency", ""),
        // A blank row between two plans.
        ("plans[1].name", ""),
        ("plans[1].display_name.en", ""),
        ("plans[1].pricing.kind", "free"),
        ("plans[1].pricing.currency", ""),
        ("plans[2].name", "pro"),
        ("plans[2].display_name.en", "Pro"),
        ("plans[2].description.en", "For teams"),
        ("plans[2].pricing.kind", "subscription"),
        ("plans[2].pricing.amount", plan_amount),
        // A field of another pricing kind, left typed: not sent.
        ("plans[2].pricing.unit", "GB"),
        ("plans[2].pricing.currency", "EUR"),
    ]
}

#[tokio::test]
async fn a_provider_applies_creates_an_offering_and_prepares_it_for_testing() {
    each_backend(|app| async move {
        let app = app;
        let (web, owner) = signed_in(&app, "owner@acme.test").await;
        let account = app.account("acme", &owner).await;

        // Not a provider yet: the owner sees the application form.
        let page = web.get("/provider").await;
        assert_eq!(page.status, 200);
        page.assert_contains("acme")
            .assert_contains("not a provider")
            .assert_contains(&format!("action=\"/provider/accounts/{account}/application\""));

        // A refused application keeps what was typed and says why next to the field.
        let action = format!("/provider/accounts/{account}/application");
        let refused = web
            .post_form(
                "/provider",
                &action,
                &[
                    ("legal_name", "Acme SAS"),
                    ("contact_email", "not an email"),
                    ("country", "FR"),
                    ("website", "https://acme.test"),
                ],
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.html);
        refused
            .assert_contains("value=\"Acme SAS\"")
            .assert_contains("id=\"f-contact_email-error\"");

        let applied = web
            .post_form(
                "/provider",
                &action,
                &[
                    ("legal_name", "Acme SAS"),
                    ("contact_email", "ops@acme.test"),
                    ("country", "FR"),
                    ("website", "https://acme.test"),
                ],
            )
            .await;
        assert_eq!(applied.status, 303, "{}", applied.html);
        assert_eq!(applied.location(), "/provider");
        web.get("/provider")
            .await
            .assert_contains("application pending")
            .assert_contains("Your application was sent.");

        // An admin approves, through the API.
        app.admin
            .post(
                &format!("/api/v1/accounts/{account}/provider-application/decision"),
                &json!({"decision": "approve"}),
            )
            .await
            .expect_status(200);
        let page = web.get("/provider").await;
        page.assert_contains("approved provider")
            .assert_contains("No offering yet.")
            .assert_contains(&format!("/provider/offerings/new?account={account}"));

        // A refused offering form keeps every typed value and shows each reason by its field.
        let new = web.get("/provider/offerings/new").await;
        assert_eq!(new.status, 200);
        new.assert_contains("id=\"f-plans-2-pricing-kind\"")
            .assert_contains("<legend>Catalog listing</legend>");
        let refused = web
            .post_form(
                "/provider/offerings/new",
                "/provider/offerings/new",
                &offering_form(&account, "Widget One!", "twelve"),
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.html);
        refused
            .assert_contains("value=\"Widget One!\"")
            .assert_contains("value=\"Gadget Un\"")
            .assert_contains("id=\"f-name-error\"")
            .assert_contains("<legend>Plan 2</legend>")
            .assert_contains("role=\"alert\"");
        // The blank row was dropped, so the pro plan is the second row, its amount refused
        // next to it.
        refused
            .assert_contains("id=\"f-plans-1-pricing-amount-error\"")
            .assert_contains("name=\"plans[1].pricing.amount\" type=\"text\" value=\"twelve\"");

        let created = web
            .post_form(
                "/provider/offerings/new",
                "/provider/offerings/new",
                &offering_form(&account, "widget-one", "12.50"),
            )
            .await;
        assert_eq!(created.status, 303, "{}", created.html);
        assert_eq!(created.location(), "/provider/offerings/widget-one");
        let offering = managed(&owner, "widget-one").await;
        assert_eq!(offering["offering"]["visibility"], "private");
        assert_eq!(
            offering["offering"]["description"]["en"],
            "A widget service.\nWith two lines."
        );
        assert_eq!(offering["offering"]["tags"], json!(["sql", "widget"]));
        assert_eq!(
            offering["offering"]["plans"],
            json!([
                {"name": "lite", "display_name": {"en": "Lite"}, "description": {"en": ""}, "pricing": {"kind": "free"}},
                {"name": "pro", "display_name": {"en": "Pro"}, "description": {"en": "For teams"},
                 "pricing": {"kind": "subscription", "amount": "12.50", "currency": "EUR"}},
            ])
        );

        // The editor: the listing as stored, the checklist with step 2 derived complete.
        let editor = web.get("/provider/offerings/widget-one").await;
        assert_eq!(editor.status, 200);
        editor
            .assert_contains("The offering was created")
            .assert_contains("1 of 5 steps complete")
            .assert_contains("value=\"Widget One\"")
            .assert_contains("name=\"plans[1].pricing.amount\" type=\"text\" value=\"12.50\"")
            .assert_contains("Save step 1")
            .assert_lacks("Save step 2");
        web.get("/provider")
            .await
            .assert_contains("/provider/offerings/widget-one")
            .assert_contains("1 of 5 steps complete");

        // Attesting steps 1, 3 and 4.
        for (step, state) in [
            ("documentation", "in_progress"),
            ("broker_hosted", "complete"),
            ("authentication_flow", "complete"),
        ] {
            let done = web
                .post_form(
                    "/provider/offerings/widget-one",
                    &format!("/provider/offerings/widget-one/checklist/{step}"),
                    &[("state", state)],
                )
                .await;
            assert_eq!(done.status, 303, "{step}: {}", done.html);
        }
        let editor = web.get("/provider/offerings/widget-one").await;
        editor
            .assert_contains("3 of 5 steps complete")
            .assert_contains("Marked in progress on")
            .assert_contains("by you");
        let checklist = managed(&owner, "widget-one").await["checklist"].clone();
        assert_eq!(checklist["steps"][0]["state"], "in_progress");
        assert_eq!(checklist["steps"][2]["state"], "complete");

        // Limited visibility, and an allowlisted customer account.
        let moved = web
            .post_form(
                "/provider/offerings/widget-one",
                "/provider/offerings/widget-one/visibility",
                &[("visibility", "limited")],
            )
            .await;
        assert_eq!(moved.status, 303, "{}", moved.html);
        assert_eq!(
            managed(&owner, "widget-one").await["offering"]["visibility"],
            "limited"
        );
        let customer = app.user("buyer@globex.test").await;
        let globex = app.account("globex", &customer).await;
        let unknown = "0190b3a0-0000-7000-8000-000000000000";
        let refused = web
            .post_form(
                "/provider/offerings/widget-one",
                "/provider/offerings/widget-one/allowlist",
                &[("account_id", unknown)],
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.html);
        refused
            .assert_contains("id=\"f-account_id-error\"")
            .assert_contains(&format!("value=\"{unknown}\""));
        let added = web
            .post_form(
                "/provider/offerings/widget-one",
                "/provider/offerings/widget-one/allowlist",
                &[("account_id", &globex)],
            )
            .await;
        assert_eq!(added.status, 303, "{}", added.html);
        let editor = web.get("/provider/offerings/widget-one").await;
        editor
            .assert_contains("4 of 5 steps complete")
            .assert_contains(&globex)
            // By name, with who owns it, though the owner is in none of the reader's accounts.
            .assert_contains("<th scope=\"row\">globex</th>")
            .assert_contains("<td>buyer@globex.test</td>")
            .assert_contains(&format!(
                "/provider/offerings/widget-one/allowlist/{globex}/remove"
            ));
        // The allowlisted customer now sees the offering in the catalog.
        customer
            .client
            .get("/api/v1/catalog/widget-one")
            .await
            .expect_status(200);

        // Removing, through a form post that stands for DELETE.
        let removed = web
            .post_form(
                "/provider/offerings/widget-one",
                &format!("/provider/offerings/widget-one/allowlist/{globex}/remove"),
                &[],
            )
            .await;
        assert_eq!(removed.status, 303, "{}", removed.html);
        assert_eq!(
            managed(&owner, "widget-one").await["offering"]["allowlist"],
            json!([])
        );

        // Editing the listing: a changed name, a cleared category, the plans kept.
        let mut edit = offering_form(&account, "widget-one", "15");
        edit.retain(|(name, _)| *name != "provider_account_id" && *name != "name");
        for field in edit.iter_mut() {
            match field.0 {
                "display_name.en" => field.1 = "Widget Uno",
                "category" => field.1 = "",
                _ => {}
            }
        }
        edit.push(("_plans", "1"));
        let saved = web
            .post_form(
                "/provider/offerings/widget-one",
                "/provider/offerings/widget-one",
                &edit,
            )
            .await;
        assert_eq!(saved.status, 303, "{}", saved.html);
        let offering = managed(&owner, "widget-one").await["offering"].clone();
        assert_eq!(offering["display_name"]["en"], "Widget Uno");
        assert_eq!(offering["category"], Value::Null);
        assert_eq!(offering["plans"][1]["pricing"]["amount"], "15");
        // Without a category, step 2 is no longer complete, and the page says what is missing.
        web.get("/provider/offerings/widget-one")
            .await
            .assert_contains("Missing: a category");

        // The public page links to the editor for its manager.
        web.get("/offerings/widget-one")
            .await
            .assert_contains("/provider/offerings/widget-one");
    })
    .await;
}

/// An approved provider with a private offering whose step 2 is complete.
async fn provider_with_offering(app: &TestApp, email: &str) -> (WebClient, TestUser) {
    let (web, owner) = signed_in(app, email).await;
    let provider = app.provider("acme", &owner).await;
    app.offering(
        &owner.client,
        &provider,
        "ready-one",
        "private",
        &[],
        json!({"documentation_url": "https://docs.acme.test", "support_contact": "help@acme.test"}),
    )
    .await;
    (web, owner)
}

#[tokio::test]
async fn the_go_live_page_gates_the_request_then_saves_and_submits_the_draft() {
    each_backend(|app| async move {
        let app = app;
        let (web, owner) = provider_with_offering(&app, "owner@acme.test").await;
        let go_live = "/provider/offerings/ready-one/go-live";

        // The requirements, and the gate's button.
        let page = web.get(go_live).await;
        assert_eq!(page.status, 200, "{}", page.html);
        page.assert_contains("Demo requirements")
            .assert_contains("Listed in the catalog")
            .assert_contains("Provisioning an instance")
            .assert_contains("Start a go-live request");

        // Not ready: every missing item is listed.
        let refused = web.post_form(go_live, go_live, &[]).await;
        assert_eq!(refused.status, 422, "{}", refused.html);
        refused
            .assert_contains("id=\"gate-blockers\"")
            .assert_contains("step 1 (documentation)")
            .assert_contains("step 3 (hosted broker)")
            .assert_contains("step 4 (sign-in flow)")
            .assert_contains("step 5 (limited visibility)");

        // Ready: the draft is started.
        for step in ["documentation", "broker_hosted", "authentication_flow"] {
            owner
                .client
                .put(
                    &format!("/api/v1/offerings/ready-one/checklist/{step}"),
                    &json!({"state": "complete"}),
                )
                .await
                .expect_status(200);
        }
        owner
            .client
            .put(
                "/api/v1/offerings/ready-one/visibility",
                &json!({"visibility": "limited"}),
            )
            .await
            .expect_status(200);
        let started = web.post_form(go_live, go_live, &[]).await;
        assert_eq!(started.status, 303, "{}", started.html);
        assert_eq!(started.location(), go_live);
        let id = submission_of(&owner, "ready-one").await;
        let page = web.get(go_live).await;
        page.assert_contains("go-live request was started")
            .assert_contains("id=\"upload-file\"")
            .assert_contains("id=\"upload-progress\"")
            .assert_contains(&format!(
                "data-endpoint=\"/api/v1/submissions/{id}/uploads\""
            ))
            .assert_contains("<noscript>")
            .assert_contains("/static/upload.js?v=")
            .assert_contains("No recording uploaded yet.")
            .assert_contains("Submit for review")
            .assert_lacks("Start a go-live request");

        // Notes and date are saved; a date in the past is refused by its field, the notes kept.
        let round = format!("/provider/submissions/{id}/round");
        let refused = web
            .post_form(
                go_live,
                &round,
                &[
                    ("_recordings_listed", "1"),
                    ("notes", "Test account: demo, password demo"),
                    ("requested_go_live", "2026-01-01"),
                ],
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.html);
        refused
            .assert_contains("id=\"f-requested_go_live-error\"")
            .assert_contains("Test account: demo, password demo");
        let saved = web
            .post_form(
                go_live,
                &round,
                &[
                    ("_recordings_listed", "1"),
                    ("notes", "Test account: demo, password demo"),
                    ("requested_go_live", "2026-04-15"),
                ],
            )
            .await;
        assert_eq!(saved.status, 303, "{}", saved.html);
        let submission = owner
            .client
            .get(&format!("/api/v1/submissions/{id}"))
            .await
            .json();
        assert_eq!(
            submission["submission"]["rounds"][0]["notes"],
            "Test account: demo, password demo"
        );
        assert_eq!(
            submission["submission"]["rounds"][0]["requested_go_live"],
            "2026-04-15"
        );
        web.get(go_live)
            .await
            .assert_contains("Test account: demo, password demo")
            .assert_contains("value=\"2026-04-15\"");

        // Submitting without a recording is refused and says so.
        let submit = format!("/provider/submissions/{id}/submit");
        let refused = web.post_form(go_live, &submit, &[]).await;
        assert_eq!(refused.status, 422, "{}", refused.html);
        refused.assert_contains("add at least one demo recording");

        // A recording uploaded (as upload.js would, here in one request) and added to the
        // round through the page.
        let recording = owner
            .client
            .raw(
                reqwest::Method::PUT,
                &format!("/api/v1/submissions/{id}/recordings?filename=demo.mp4"),
                "video/mp4",
                crate::uploads::video(64 * 1024),
            )
            .await
            .expect_status(201)
            .json();
        let recording_id = recording["id"].as_str().expect("id").to_owned();
        let attached = web
            .post_form(
                go_live,
                &format!("/provider/submissions/{id}/recordings"),
                &[("recording_id", &recording_id)],
            )
            .await;
        assert_eq!(attached.status, 303, "{}", attached.html);
        let page = web.get(go_live).await;
        page.assert_contains("demo.mp4").assert_contains(&format!(
            "id=\"recording-{recording_id}\" name=\"recordings\" value=\"{recording_id}\" checked"
        ));

        // Submit (the form's fields are saved first): queued, and the submission's page next.
        let submitted = web
            .post_form(
                go_live,
                &submit,
                &[
                    ("_recordings_listed", "1"),
                    ("recordings", &recording_id),
                    (
                        "notes",
                        "Test account: demo, password demo. Start with the dashboard.",
                    ),
                    ("requested_go_live", "2026-04-15"),
                ],
            )
            .await;
        assert_eq!(submitted.status, 303, "{}", submitted.html);
        assert_eq!(submitted.location(), format!("/submissions/{id}"));
        let submission = owner
            .client
            .get(&format!("/api/v1/submissions/{id}"))
            .await
            .json();
        assert_eq!(submission["submission"]["state"], "queued");
        assert_eq!(
            submission["submission"]["rounds"][0]["notes"],
            "Test account: demo, password demo. Start with the dashboard."
        );
        assert_eq!(
            submission["submission"]["rounds"][0]["recordings"],
            json!([recording_id])
        );

        // The go-live page now follows the request instead of offering a new one.
        web.get(go_live)
            .await
            .assert_contains("queued for review")
            .assert_contains(&format!("/submissions/{id}"))
            .assert_lacks("Start a go-live request")
            .assert_lacks("id=\"upload-file\"");
        web.get("/provider/offerings/ready-one")
            .await
            .assert_contains(&format!("/submissions/{id}"));
    })
    .await;
}

#[tokio::test]
async fn provider_pages_are_for_signed_in_members_only() {
    each_backend(|app| async move {
        let app = app;
        let (_, owner) = provider_with_offering(&app, "owner@acme.test").await;
        let _ = owner;
        let anonymous = WebClient::new(&app);
        let page = anonymous.get("/provider").await;
        assert_eq!(page.status, 303);
        assert!(page.location().starts_with("/sign-in?next="));
        let (stranger, _) = signed_in(&app, "stranger@else.test").await;
        for path in [
            "/provider/offerings/ready-one",
            "/provider/offerings/ready-one/go-live",
        ] {
            let page = stranger.get(path).await;
            assert_eq!(page.status, 404, "{path}");
        }
        let page = stranger.get("/provider").await;
        assert_eq!(page.status, 200);
        page.assert_contains("You do not belong to any account yet.");
    })
    .await;
}
