//! The admins' pages under `/admin`, through a browser without JavaScript (see web.rs for
//! the client): each form makes its API call, refusals keep what was typed, and readers
//! who are not admins are refused.

use serde_json::{Value, json};
use vitrine_domain::AuditEvent;
use vitrine_domain::submission::SubmissionState;
use vitrine_store::NewEmail;

use crate::support::{TestApp, application, each_backend, each_backend_with};
use crate::web::{WebClient, hidden_value};

const PASSWORD: &str = "correct horse battery";

/// An admin with a password, signed in through the form.
pub(crate) async fn signed_in_admin(app: &TestApp) -> WebClient {
    app.user_with(json!({
        "email": "ada@vitrine.test",
        "display_name": "Ada Admin",
        "password": PASSWORD,
        "staff": {"admin": true, "validator": false},
    }))
    .await;
    let web = WebClient::new(app);
    web.sign_in("ada@vitrine.test", PASSWORD).await;
    web
}

/// An account that applied to become a provider and waits for a decision.
async fn applicant(app: &TestApp, name: &str) -> String {
    let owner = app.user(&format!("owner@{name}.test")).await;
    let account = app.account(name, &owner).await;
    owner
        .client
        .put(
            &format!("/api/v1/accounts/{account}/provider-application"),
            &application(name),
        )
        .await
        .expect_status(200);
    account
}

#[tokio::test]
async fn an_admin_approves_an_application_and_a_rejection_needs_a_reason() {
    each_backend(|app| async move {
        let app = app;
        let web = signed_in_admin(&app).await;
        let acme = applicant(&app, "acme").await;
        let globex = applicant(&app, "globex").await;

        web.get("/admin")
            .await
            .assert_contains("Applications waiting for a decision: 2");
        let page = web.get("/admin/providers").await;
        assert_eq!(page.status, 200);
        page.assert_contains("acme SAS")
            .assert_contains(&format!("id=\"approve-{acme}\""))
            .assert_contains(&format!("id=\"reject-{globex}\""));

        // A rejection without a reason is refused next to that application's reason box.
        let action = format!("/admin/providers/{globex}/decision");
        let refused = web
            .post_form(
                "/admin/providers",
                &action,
                &[
                    ("_status", "pending"),
                    ("decision", "reject"),
                    ("reason:text", "  "),
                ],
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.html);
        refused
            .assert_contains("a rejection needs a reason")
            .assert_contains(&format!("id=\"reason-{globex}-error\""))
            .assert_contains(&format!("id=\"reject-{globex}\""))
            .assert_lacks(&format!("id=\"reason-{acme}-error\""));
        let stored = app
            .admin
            .get(&format!("/api/v1/accounts/{globex}"))
            .await
            .json();
        assert_eq!(stored["provider"]["status"], "pending");

        let approved = web
            .post_form(
                "/admin/providers",
                &format!("/admin/providers/{acme}/decision"),
                &[("_status", "pending"), ("decision", "approve")],
            )
            .await;
        assert_eq!(approved.status, 303, "{}", approved.html);
        assert_eq!(approved.location(), "/admin/providers?status=pending");
        let stored = app
            .admin
            .get(&format!("/api/v1/accounts/{acme}"))
            .await
            .json();
        assert_eq!(stored["provider"]["status"], "approved");

        let rejected = web
            .post_form(
                "/admin/providers",
                &action,
                &[
                    ("_status", "pending"),
                    ("decision", "reject"),
                    ("reason:text", "No VAT number on file."),
                ],
            )
            .await;
        assert_eq!(rejected.status, 303, "{}", rejected.html);
        let stored = app
            .admin
            .get(&format!("/api/v1/accounts/{globex}"))
            .await
            .json();
        assert_eq!(stored["provider"]["status"], "rejected");
        assert_eq!(stored["provider"]["reason"], "No VAT number on file.");

        let pending = web.get("/admin/providers").await;
        pending
            .assert_contains("The application was rejected")
            .assert_lacks("acme SAS")
            .assert_contains("No application here.");
        web.get("/admin/providers?status=rejected")
            .await
            .assert_contains("globex SAS")
            .assert_contains("No VAT number on file.");
    })
    .await;
}

#[tokio::test]
async fn calendar_holidays_are_saved_one_per_line_and_a_bad_date_keeps_the_form() {
    each_backend(|app| async move {
        let app = app;
        let web = signed_in_admin(&app).await;
        let page = web.get("/admin/calendar").await;
        assert_eq!(page.status, 200);
        page.assert_contains("emailed").assert_contains(
            "id=\"admin-nav-calendar\" href=\"/admin/calendar\" aria-current=\"page\"",
        );
        let version = hidden_value(&page.html, "version:int").expect("the calendar's version");
        let fields = |holidays: &'static str| {
            vec![
                ("version:int", version.clone()),
                ("time_zone", "Europe/Paris".to_owned()),
                ("review_weekday", "wednesday".to_owned()),
                ("decision_working_days:int", "3".to_owned()),
                ("cutoff_minutes_before_review:int", "60".to_owned()),
                ("default_validator_capacity:int", "4".to_owned()),
                ("holidays:lines", holidays.to_owned()),
            ]
        };
        let post = |fields: Vec<(&'static str, String)>| {
            let web = &web;
            async move {
                let fields: Vec<(&str, &str)> =
                    fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                web.post_form("/admin/calendar", "/admin/calendar", &fields)
                    .await
            }
        };

        let refused = post(fields("2026-12-25\r\n2026-13-40\r\n")).await;
        assert_eq!(refused.status, 422, "{}", refused.html);
        refused
            .assert_contains("id=\"f-holidays-lines-error\"")
            .assert_contains("2026-13-40")
            .assert_contains("value=\"Europe&#x2f;Paris\"");

        let saved = post(fields("2026-12-25\r\n\r\n 2026-12-24 \r\n")).await;
        assert_eq!(saved.status, 303, "{}", saved.html);
        let calendar = app.admin.get("/api/v1/calendar").await.json();
        assert_eq!(calendar["holidays"], json!(["2026-12-24", "2026-12-25"]));
        assert_eq!(calendar["time_zone"], "Europe/Paris");
        assert_eq!(calendar["review_weekday"], "wednesday");
        assert_eq!(calendar["decision_working_days"], 3);
        let page = web.get("/admin/calendar").await;
        page.assert_contains("The calendar was saved")
            .assert_contains("2026-12-24\n2026-12-25");

        // Emptying the box removes every holiday.
        let page = web.get("/admin/calendar").await;
        let version = hidden_value(&page.html, "version:int").expect("version");
        let cleared = web
            .post_form(
                "/admin/calendar",
                "/admin/calendar",
                &[
                    ("version:int", version.as_str()),
                    ("time_zone", "Europe/Paris"),
                    ("review_weekday", "wednesday"),
                    ("decision_working_days:int", "3"),
                    ("cutoff_minutes_before_review:int", "60"),
                    ("default_validator_capacity:int", "4"),
                    ("holidays:lines", ""),
                ],
            )
            .await;
        assert_eq!(cleared.status, 303, "{}", cleared.html);
        let calendar = app.admin.get("/api/v1/calendar").await.json();
        assert_eq!(calendar["holidays"], json!([]));
    })
    .await;
}

#[tokio::test]
async fn a_new_requirements_version_is_published_from_the_editor() {
    each_backend(|app| async move {
        let app = app;
        let web = signed_in_admin(&app).await;
        let page = web.get("/admin/requirements").await;
        assert_eq!(page.status, 200);
        page.assert_contains("Current version: 1")
            .assert_contains("value=\"catalog-listing\"")
            // Seven requirements and two blank rows.
            .assert_contains("id=\"requirement-8\"")
            .assert_lacks("id=\"requirement-9\"");

        // Row 0 emptied (removed), row 1 kept, row 8 (a blank row) filled with a bad key:
        // the refusal names row 8, where it was typed.
        let refused = web
            .post_form(
                "/admin/requirements",
                "/admin/requirements",
                &[
                    ("requirements[0].key", ""),
                    ("requirements[0].title.en", ""),
                    ("requirements[1].key", "provision"),
                    ("requirements[1].title.en", "Provisioning"),
                    ("requirements[1].description.en:text", "Create an instance."),
                    ("requirements[8].key", "Bad Key"),
                    ("requirements[8].title.en", "Support"),
                    ("requirements[8].title.fr", "Assistance"),
                    ("requirements[8].description.en:text", "Open a ticket."),
                ],
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.html);
        refused
            .assert_contains("id=\"f-requirements-8-key-error\"")
            .assert_contains("value=\"Bad Key\"")
            .assert_lacks("id=\"f-requirements-1-key-error\"");

        let published = web
            .post_form(
                "/admin/requirements",
                "/admin/requirements",
                &[
                    ("requirements[0].key", ""),
                    ("requirements[1].key", "provision"),
                    ("requirements[1].title.en", "Provisioning"),
                    ("requirements[1].description.en:text", "Create an instance."),
                    ("requirements[8].key", "support"),
                    ("requirements[8].title.en", "Support"),
                    ("requirements[8].title.fr", "Assistance"),
                    ("requirements[8].description.en:text", "Open a ticket."),
                ],
            )
            .await;
        assert_eq!(published.status, 303, "{}", published.html);
        let current = app.admin.get("/api/v1/requirements").await.json();
        assert_eq!(current["version"], 2);
        assert_eq!(
            current["requirements"],
            json!([
                {"key": "provision", "title": {"en": "Provisioning"},
                 "description": {"en": "Create an instance."}},
                {"key": "support", "title": {"en": "Support", "fr": "Assistance"},
                 "description": {"en": "Open a ticket."}},
            ])
        );
        let page = web.get("/admin/requirements").await;
        page.assert_contains("Current version: 2")
            .assert_contains("href=\"/admin/requirements/1\"");
        let earlier = web.get("/admin/requirements/1").await;
        assert_eq!(earlier.status, 200);
        earlier.assert_contains("Listed in the catalog");
        assert_eq!(web.get("/admin/requirements/9").await.status, 404);
    })
    .await;
}

#[tokio::test]
async fn the_audit_page_filters_by_action_and_pages_keep_the_filters() {
    each_backend(|app| async move {
        let app = app;
        let web = signed_in_admin(&app).await;
        // 51 users make more than a page of `user.created` (50 a page).
        let owner = app.user("owner@acme.test").await;
        app.account("acme", &owner).await;
        for n in 0..49 {
            app.user(&format!("user{n:02}@acme.test")).await;
        }

        let page = web.get("/admin/audit?action=account.created").await;
        assert_eq!(page.status, 200);
        page.assert_contains(">account.created</a>")
            .assert_lacks(">user.created</a>")
            // Names, not ids: the account by its name, filtering by it on a click.
            .assert_contains(">acme</a>")
            .assert_contains("id=\"audit-export\"");
        // By who, by email: the admin created the account, its owner nothing yet.
        web.get("/admin/audit?action=account.created&actor_email=admin%40vitrine.test")
            .await
            .assert_contains(">acme</a>")
            .assert_contains("<span class=\"meta\">admin@vitrine.test</span>");
        web.get("/admin/audit?action=account.created&actor_email=owner%40acme.test")
            .await
            .assert_contains("No record matches.");

        let first = web.get("/admin/audit?action=user.created").await;
        first
            .assert_contains(">user.created</a>")
            .assert_lacks(">account.created</a>");
        let start = first.html.find("id=\"audit-next\"").expect("a next page");
        let href_at = first.html[..start].rfind("href=\"").expect("the link") + 6;
        let href: String = first.html[href_at..]
            .chars()
            .take_while(|c| *c != '"')
            .collect();
        // As escaped in the page.
        let href = href.replace("&#x2f;", "/").replace("&amp;", "&");
        assert!(href.contains("action=user.created"), "{href}");
        let second = web.get(&href).await;
        assert_eq!(second.status, 200);
        second
            .assert_contains(">user.created</a>")
            .assert_lacks(">account.created</a>")
            .assert_lacks("id=\"audit-next\"");

        // A filter the API cannot read is shown with the filters, not as an error page.
        let bad = web.get("/admin/audit?actor=nobody").await;
        assert_eq!(bad.status, 200);
        bad.assert_contains("role=\"alert\"")
            .assert_contains("actor");
    })
    .await;
}

#[tokio::test]
async fn the_outbox_lists_a_failed_email_and_retries_it() {
    each_backend(|app| async move {
        let app = app;
        let web = signed_in_admin(&app).await;
        let now = vitrine_server::Clock::now(app.clock.as_ref());
        let email = NewEmail::new(
            "dev@acme.test",
            "Your submission is queued",
            None,
            &json!({"subject": "Your submission is queued"}),
            now,
        )
        .expect("email");
        app.store
            .insert_emails(&[], &[email])
            .await
            .expect("insert");
        let claimed = app
            .store
            .claim_outbox(now, std::time::Duration::from_secs(300), 10)
            .await
            .expect("claim");
        let id = claimed[0].id;
        app.store
            .mark_failed_attempt(id, "550 mailbox unavailable", now, true)
            .await
            .expect("fail");

        web.get("/admin")
            .await
            .assert_contains("Emails that failed: 1");
        let page = web.get("/admin/outbox").await;
        assert_eq!(page.status, 200);
        page.assert_contains("Your submission is queued")
            .assert_contains("550 mailbox unavailable")
            .assert_contains(&format!("id=\"retry-{id}\""));

        let retried = web
            .post_form("/admin/outbox", &format!("/admin/outbox/{id}/retry"), &[])
            .await;
        assert_eq!(retried.status, 303, "{}", retried.html);
        let pending = app
            .admin
            .get("/api/v1/outbox?status=pending")
            .await
            .expect_status(200)
            .json();
        assert_eq!(pending["items"][0]["id"], json!(id));
        web.get("/admin/outbox")
            .await
            .assert_contains("The email will be sent again.")
            .assert_contains("No email here.");
        web.get("/admin/outbox?status=pending")
            .await
            .assert_contains("Your submission is queued")
            .assert_lacks(&format!("id=\"retry-{id}\""));
    })
    .await;
}

/// One inbound email in the log, as `vitrine-ingest` writes it.
fn inbound(n: u32, at: jiff::Timestamp, reason: Option<&str>) -> vitrine_store::InboundEmail {
    vitrine_store::InboundEmail {
        message_id: format!("in-{n}@p.test"),
        received_at: at + jiff::SignedDuration::from_secs(i64::from(n)),
        sender: format!("sender{n}@p.test"),
        subject: format!("Reply number {n}"),
        submission_id: None,
        user_id: None,
        outcome: if reason.is_some() {
            vitrine_store::InboundOutcome::Refused
        } else {
            vitrine_store::InboundOutcome::Posted
        },
        reason: reason.map(str::to_owned),
        recordings: 0,
        answered: reason == Some("empty-reply"),
    }
}

#[tokio::test]
async fn admins_read_the_inbound_log_and_clear_a_bouncing_address() {
    each_backend(|app| async move {
        let app = app;
        let web = signed_in_admin(&app).await;
        let now = vitrine_server::Clock::now(app.clock.as_ref());
        // 51 emails: a page of 50, newest first, then the oldest on the next page.
        for n in 0..51 {
            let reason = match n % 3 {
                0 => Some("forged-sender"),
                1 => Some("empty-reply"),
                _ => None,
            };
            let logged = inbound(n, now, reason);
            // The answered ones carry their answer (the store records whether it was sent).
            let answer = logged.answered.then(|| {
                vitrine_store::NewEmail::new(
                    logged.sender.as_str(),
                    "Your email was not accepted",
                    None,
                    &serde_json::json!({}),
                    logged.received_at,
                )
                .expect("answer")
            });
            app.store
                .record_inbound(&logged, None, &[], &[], answer.as_ref())
                .await
                .expect("logged");
        }
        let page = web.get("/admin").await;
        page.assert_contains("id=\"admin-nav-inbound\"")
            .assert_contains("id=\"admin-nav-bouncing\"");
        let page = web.get("/admin/inbound").await;
        assert_eq!(page.status, 200, "{}", page.html);
        page.assert_contains("Reply number 50")
            .assert_contains("Refused: nothing new above the quoted text")
            .assert_contains("the sender was answered")
            .assert_contains("Refused: not from the address’s recipient")
            .assert_contains("Posted in the thread")
            .assert_lacks("Reply number 0<");
        let newest = page.html.find("Reply number 50").expect("newest");
        let older = page.html.find("Reply number 49").expect("older");
        assert!(newest < older, "newest first");
        let html = page.html.replace("&#x2f;", "/").replace("&amp;", "&");
        let next = html
            .split("href=\"")
            .find(|s| s.starts_with("/admin/inbound?cursor="))
            .and_then(|s| s.split('"').next())
            .unwrap_or_else(|| panic!("a next page link: {html}"))
            .to_owned();
        web.get(&next)
            .await
            .assert_contains("Reply number 0<")
            .assert_lacks("Reply number 50");
        // Every reason the inbound path gives has its words, in both languages.
        for (i, reason) in vitrine_ingest::Reason::ALL.into_iter().enumerate() {
            let n = 100 + u32::try_from(i).expect("few reasons");
            app.store
                .record_inbound(&inbound(n, now, Some(reason.slug())), None, &[], &[], None)
                .await
                .expect("logged");
        }
        web.get("/admin/inbound")
            .await
            .assert_contains("Refused: a revoked reply address")
            .assert_lacks("admin.inbound.reason.");

        // In French, reasons read in French.
        web.post_form(
            "/admin",
            "/language",
            &[("lang", "fr"), ("_next", "/admin")],
        )
        .await;
        web.get("/admin/inbound")
            .await
            .assert_contains("E-mails reçus")
            .assert_contains("Refusé")
            .assert_contains("rien de nouveau au-dessus du texte cité")
            .assert_lacks("admin.inbound.reason.");
        web.post_form(
            "/admin",
            "/language",
            &[("lang", "en"), ("_next", "/admin")],
        )
        .await;

        // A user whose address bounces: marked where admins see users, listed, cleared.
        let gone = app.user("gone+x@p.test").await;
        app.store
            .mark_bouncing("gone+x@p.test", now, "dsn-9@mx.p.test", &[])
            .await
            .expect("marked");
        web.get("/admin/validators")
            .await
            .assert_contains(&format!("id=\"bouncing-{}\"", gone.id));
        let page = web.get("/admin/bouncing").await;
        page.assert_contains("gone+x@p.test")
            .assert_contains("dsn-9@mx.p.test");
        let cleared = web
            .post_form(
                "/admin/bouncing",
                "/admin/bouncing/gone%2Bx%40p.test/clear",
                &[],
            )
            .await;
        assert_eq!(cleared.status, 303, "{}", cleared.html);
        assert!(
            app.store
                .bouncing("gone+x@p.test")
                .await
                .expect("read")
                .is_none()
        );
        web.get("/admin/bouncing")
            .await
            .assert_contains("The address is cleared")
            .assert_contains("No address bounces.");
        web.get("/admin/validators")
            .await
            .assert_lacks(&format!("id=\"bouncing-{}\"", gone.id));
        // Clearing it again: the API's 404, shown as such.
        let again = web
            .post_form(
                "/admin/bouncing",
                "/admin/bouncing/gone%2Bx%40p.test/clear",
                &[],
            )
            .await;
        assert_eq!(again.status, 404, "{}", again.html);
    })
    .await;
}

#[tokio::test]
async fn staff_roles_and_capacities_are_set_from_the_validators_page() {
    each_backend(|app| async move {
        let app = app;
        let web = signed_in_admin(&app).await;
        let val = app.user("val@vitrine.test").await;
        let page = web.get("/admin/validators").await;
        assert_eq!(page.status, 200);
        page.assert_contains(&format!("id=\"roles-{}\"", val.id))
            .assert_contains("No validator yet");

        let made = web
            .post_form(
                "/admin/validators",
                &format!("/admin/users/{}/staff-roles", val.id),
                &[
                    ("admin:bool", "false"),
                    ("validator:bool", "false"),
                    ("validator:bool", "true"),
                ],
            )
            .await;
        assert_eq!(made.status, 303, "{}", made.html);
        let user = app
            .admin
            .get(&format!("/api/v1/users/{}", val.id))
            .await
            .json();
        assert_eq!(user["staff"], json!({"admin": false, "validator": true}));

        let capacity = web
            .post_form(
                "/admin/validators",
                &format!("/admin/validators/{}/capacity", val.id),
                &[("capacity:int", "3")],
            )
            .await;
        assert_eq!(capacity.status, 303, "{}", capacity.html);
        let validators = app.admin.get("/api/v1/validators").await.json();
        assert_eq!(validators[0]["own_capacity"], 3);

        let refused = web
            .post_form(
                "/admin/validators",
                &format!("/admin/validators/{}/capacity", val.id),
                &[("capacity:int", "5000")],
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.html);
        refused
            .assert_contains(&format!("id=\"capacity-{}-error\"", val.id))
            .assert_contains("value=\"5000\"");

        // Back to the calendar's default with an empty box.
        web.post_form(
            "/admin/validators",
            &format!("/admin/validators/{}/capacity", val.id),
            &[("capacity:int", "")],
        )
        .await;
        let validators = app.admin.get("/api/v1/validators").await.json();
        assert_eq!(validators[0]["own_capacity"], Value::Null);
    })
    .await;
}

#[tokio::test]
async fn a_public_offering_is_unpublished_with_a_reason_and_steps_run_by_hand() {
    each_backend(|app| async move {
        let app = app;
        let web = signed_in_admin(&app).await;
        let owner = app.user("owner@acme.test").await;
        let provider = app.provider("acme", &owner).await;
        app.offering(
            &owner.client,
            &provider,
            "redis-cache",
            "public",
            &[],
            json!({}),
        )
        .await;
        // Made public without a submission: the offering's page leads to its unpublishing.
        let page = web.get("/admin/publications").await;
        assert_eq!(page.status, 200);
        page.assert_lacks("id=\"unpublish-redis-cache\"")
            .assert_contains("No approved submission is waiting.");
        let offering = web.get("/offerings/redis-cache").await;
        offering.assert_contains(
            "href=\"/admin/publications?offering=redis-cache#public-redis-cache\"",
        );
        let page = web.get("/admin/publications?offering=redis-cache").await;
        page.assert_contains("id=\"unpublish-redis-cache\"");

        let refused = web
            .post_form(
                "/admin/publications",
                "/admin/offerings/redis-cache/unpublish",
                &[("reason:text", " ")],
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.html);
        refused.assert_contains("id=\"unpublish-redis-cache-error\"");
        let unpublished = web
            .post_form(
                "/admin/publications",
                "/admin/offerings/redis-cache/unpublish",
                &[("reason:text", "The broker is down.")],
            )
            .await;
        assert_eq!(unpublished.status, 303, "{}", unpublished.html);
        let offering = app.admin.get("/api/v1/offerings/redis-cache").await.json();
        assert_eq!(offering["offering"]["visibility"], "limited");

        // The scheduler page: a step run by hand says what it did; no test clock here.
        let page = web.get("/admin/scheduler").await;
        page.assert_contains("id=\"run-open_due_sessions\"")
            .assert_lacks("id=\"test-clock\"");
        let ran = web
            .post_form(
                "/admin/scheduler",
                "/admin/scheduler/open_due_sessions/run",
                &[],
            )
            .await;
        assert_eq!(ran.status, 303, "{}", ran.html);
        web.get(ran.location())
            .await
            .assert_contains("id=\"scheduler-report\"")
            .assert_contains("Open the due review session: 0 changed");
    })
    .await;
}

#[tokio::test]
async fn readers_who_are_not_admins_are_refused_every_admin_page() {
    each_backend(|app| async move {
        let app = app;
        app.user_with(json!({
            "email": "val@vitrine.test",
            "display_name": "Val",
            "password": PASSWORD,
            "staff": {"admin": false, "validator": true},
        }))
        .await;
        let validator = WebClient::new(&app);
        validator.sign_in("val@vitrine.test", PASSWORD).await;
        let (member, _) = crate::web::signed_in(&app, "member@acme.test").await;
        let anonymous = WebClient::new(&app);
        for path in [
            "/admin",
            "/admin/providers",
            "/admin/calendar",
            "/admin/validators",
            "/admin/requirements",
            "/admin/publications",
            "/admin/audit",
            "/admin/outbox",
            "/admin/inbound",
            "/admin/bouncing",
            "/admin/scheduler",
        ] {
            for web in [&validator, &member] {
                let page = web.get(path).await;
                assert!(
                    matches!(page.status, 403 | 404),
                    "{path}: {} {}",
                    page.status,
                    page.html
                );
                page.assert_lacks("admin-nav-calendar");
            }
            let page = anonymous.get(path).await;
            assert_eq!(page.status, 303, "{path}");
            assert!(page.location().starts_with("/sign-in?next="), "{path}");
        }
        // Forms are refused too, and change nothing.
        let account = applicant(&app, "acme").await;
        let page = validator
            .post_form(
                "/",
                &format!("/admin/providers/{account}/decision"),
                &[("decision", "approve")],
            )
            .await;
        assert!(matches!(page.status, 403 | 404), "{}", page.status);
        let stored = app
            .admin
            .get(&format!("/api/v1/accounts/{account}"))
            .await
            .json();
        assert_eq!(stored["provider"]["status"], "pending");
    })
    .await;
}

#[tokio::test]
async fn an_approved_submission_is_scheduled_for_publication_from_the_page() {
    each_backend(|app| async move {
        let w = crate::world::World::build(app).await;
        let app = &w.app;
        let web = signed_in_admin(app).await;
        // An approval as the scheduler releases it: the submission approved, and the audit
        // record of the release the page finds it by.
        let id = crate::uploads::draft_submission(app, SubmissionState::Approved).await;
        let mut stored = app
            .store
            .submission(id)
            .await
            .expect("read")
            .expect("submission");
        stored.rounds[0].requested_go_live = Some("2026-04-01".parse().expect("date"));
        stored.version += 1;
        let now = vitrine_server::Clock::now(app.clock.as_ref());
        let event = AuditEvent::new(None, "submission.release_decision", now)
            .subject_submission(stored.id, stored.offering_id, stored.provider_account_id)
            .after(&json!({"state": "approved"}));
        app.store
            .update_submission(&stored, &[event], &[])
            .await
            .expect("approve");

        let page = web.get("/admin/publications").await;
        assert_eq!(page.status, 200);
        page.assert_contains(&format!("id=\"schedule-{id}\""))
            .assert_contains("priv-svc")
            .assert_contains("The provider asked for");

        let action = format!("/admin/publications/{id}/schedule");
        let refused = web
            .post_form(
                "/admin/publications",
                &action,
                &[("at", "2020-01-01T09:00")],
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.html);
        refused
            .assert_contains(&format!("id=\"schedule-{id}-error\""))
            .assert_contains("value=\"2020-01-01T09:00\"");

        // Left empty: the start of the provider's requested date.
        let scheduled = web
            .post_form("/admin/publications", &action, &[("at", "")])
            .await;
        assert_eq!(scheduled.status, 303, "{}", scheduled.html);
        let view = app
            .admin
            .get(&format!("/api/v1/submissions/{id}"))
            .await
            .json();
        assert_eq!(view["submission"]["state"], "publication_scheduled");
        assert_eq!(view["submission"]["publication_at"], "2026-04-01T00:00:00Z");
        web.get("/admin/publications")
            .await
            .assert_contains(&format!("id=\"scheduled-{id}\""))
            .assert_lacks(&format!("id=\"schedule-{id}\""));
    })
    .await;
}

#[tokio::test]
async fn the_test_clock_moves_forward_from_the_scheduler_page() {
    let rehearsal = || vitrine_server::ServerConfig {
        test_clock: true,
        ..Default::default()
    };
    each_backend_with(rehearsal, |app| async move {
        let app = app;
        let web = signed_in_admin(&app).await;
        let page = web.get("/admin/scheduler").await;
        assert_eq!(page.status, 200);
        page.assert_contains("id=\"test-clock\"")
            .assert_contains("id=\"advance-clock\"");
        let before = app.admin.get("/api/v1/test-clock").await.json();

        let refused = web
            .post_form(
                "/admin/scheduler",
                "/admin/test-clock/advance",
                &[("amount", "soon"), ("unit", "days")],
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.html);
        refused
            .assert_contains("id=\"f-amount-error\"")
            .assert_contains("value=\"soon\"");

        let advanced = web
            .post_form(
                "/admin/scheduler",
                "/admin/test-clock/advance",
                &[("amount", "2"), ("unit", "days")],
            )
            .await;
        assert_eq!(advanced.status, 303, "{}", advanced.html);
        let after = app.admin.get("/api/v1/test-clock").await.json();
        let moved = after["offset_seconds"].as_f64().expect("offset")
            - before["offset_seconds"].as_f64().expect("offset");
        assert_eq!(moved, 172_800.0);
        web.get(advanced.location())
            .await
            .assert_contains("The due steps ran at the new time")
            .assert_contains("Run due publications: 0 changed");
    })
    .await;
}
