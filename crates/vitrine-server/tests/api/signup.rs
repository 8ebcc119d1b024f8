//! Self-service accounts over HTTP: sign-up, the confirmation link, new links, and the
//! password reset; what each writes to the outbox and the audit log, and that none of them
//! tells whether an address has an account.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use vitrine_server::Clock;
use vitrine_store::{AuditQuery, HIDDEN_PAYLOAD, OutboxEmail, OutboxQuery};

use crate::support::{Client, Resp, TestApp, each_backend};

const PASSWORD: &str = "correct horse battery";

fn sign_up_body(email: &str) -> Value {
    json!({
        "email": email,
        "display_name": "Ana",
        "password": PASSWORD,
        "account_name": "Ana's Cloud",
        "language": "fr",
        "time_zone": "Europe/Paris",
    })
}

/// Emails written since the last call, as the dispatcher sends them (whole payloads).
async fn new_emails(app: &TestApp) -> Vec<OutboxEmail> {
    // A lease longer than any test's clock moves: each email is taken once.
    let lease = Duration::from_secs(10 * 365 * 24 * 3600);
    app.store
        .claim_outbox(app.clock.now(), lease, 1000)
        .await
        .expect("claim the outbox")
}

/// The token of the link in an email (`…?token=vit_…`).
fn token_in(email: &OutboxEmail) -> String {
    let text = email.payload["text"].as_str().expect("text body");
    let start = text.find("?token=").expect("a link with a token") + "?token=".len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

async fn actions(app: &TestApp) -> Vec<String> {
    let records = app
        .store
        .audit(&AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .expect("audit");
    records.into_iter().rev().map(|r| r.event.action).collect()
}

async fn user_count(app: &TestApp) -> usize {
    app.store.list_users(None, 1000).await.expect("users").len()
}

async fn sign_in(client: &Client, email: &str, password: &str) -> Resp {
    client
        .post(
            "/api/v1/auth/sign-in",
            &json!({"email": email, "password": password}),
        )
        .await
}

#[tokio::test]
async fn sign_up_then_confirm_the_address_to_sign_in() {
    each_backend(|app| async move {
        let anonymous = app.anonymous();
        let accepted = anonymous
            .post("/api/v1/auth/sign-up", &sign_up_body("Ana@Example.test"))
            .await
            .expect_status(202);
        assert_eq!(accepted.json(), json!({"email": "ana@example.test"}));
        assert!(accepted.header("set-cookie").is_none(), "no session yet");

        // Not before the address is confirmed, and only told so with the right password.
        let problem = sign_in(&anonymous, "ana@example.test", PASSWORD)
            .await
            .problem(403, "email-not-verified");
        let detail = problem["detail"].as_str().expect("detail");
        assert!(detail.contains("ana@example.test"), "{detail}");
        assert!(
            detail.contains("/api/v1/auth/verify-email/resend"),
            "{detail}"
        );
        sign_in(&anonymous, "ana@example.test", "wrong password")
            .await
            .problem(401, "unauthenticated");

        // One email, in the user's language, with a link to the web page.
        let emails = new_emails(&app).await;
        assert_eq!(emails.len(), 1);
        let email = &emails[0];
        assert_eq!(email.recipients, "ana@example.test");
        assert_eq!(email.submission_id, None);
        assert!(email.holds_secret);
        let text = email.payload["text"].as_str().expect("text");
        assert!(text.starts_with("Bonjour Ana,"), "{text}");
        assert!(
            text.contains("http://127.0.0.1:8080/verify-email?token=vit_"),
            "{text}"
        );
        assert!(text.contains("Ana's Cloud"), "{text}");
        assert_eq!(email.payload["in_reply_to"], Value::Null, "not threaded");
        // Admins reading the outbox do not see the link.
        let listed = app
            .store
            .outbox(&OutboxQuery {
                limit: 10,
                ..OutboxQuery::default()
            })
            .await
            .expect("outbox");
        assert_eq!(listed[0].payload, json!(HIDDEN_PAYLOAD));
        let listed = app
            .admin
            .get("/api/v1/outbox")
            .await
            .expect_status(200)
            .json();
        assert!(!listed.to_string().contains("token="), "{listed}");

        // The link signs in, exactly like sign-in.
        let token = token_in(email);
        let browser = app.browser();
        let verified = browser
            .post("/api/v1/auth/verify-email", &json!({"token": token}))
            .await
            .expect_status(200);
        let cookie = verified.header("set-cookie").expect("cookie").to_owned();
        assert!(
            cookie.starts_with("vitrine_session=vit_") && cookie.contains("HttpOnly"),
            "{cookie}"
        );
        let me = verified.json();
        assert_eq!(me["user"]["email"], "ana@example.test");
        assert!(me["user"]["email_verified_at"].is_string(), "{me}");
        assert_eq!(
            me["user"]["staff"],
            json!({"admin": false, "validator": false})
        );
        assert_eq!(me["memberships"][0]["account_name"], "Ana's Cloud");
        assert_eq!(me["memberships"][0]["role"], "owner");
        browser.get("/api/v1/me").await.expect_status(200);

        // Once.
        app.anonymous()
            .post("/api/v1/auth/verify-email", &json!({"token": token}))
            .await
            .problem(410, "token-used");
        // Now the password works.
        sign_in(&anonymous, "ana@example.test", PASSWORD)
            .await
            .expect_status(200);

        let actions = actions(&app).await;
        for expected in [
            "user.signed_up",
            "account.created",
            "user.email_verification_sent",
            "user.email_verified",
        ] {
            assert!(
                actions.iter().any(|a| a == expected),
                "{expected} in {actions:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_taken_address_answers_like_a_free_one_and_its_owner_is_told() {
    each_backend(|app| async move {
        app.admin
            .post(
                "/api/v1/users",
                &json!({"email": "bo@example.test", "display_name": "Bo", "password": PASSWORD}),
            )
            .await
            .expect_status(201);
        let users = user_count(&app).await;
        let fresh = app
            .anonymous()
            .post("/api/v1/auth/sign-up", &sign_up_body("new@example.test"))
            .await
            .expect_status(202);
        let taken = app
            .anonymous()
            .post("/api/v1/auth/sign-up", &sign_up_body("BO@example.test"))
            .await
            .expect_status(202);
        assert_eq!(fresh.header("content-type"), taken.header("content-type"));
        assert_eq!(taken.json(), json!({"email": "bo@example.test"}));
        assert_eq!(fresh.json(), json!({"email": "new@example.test"}));
        assert_eq!(user_count(&app).await, users + 1, "only the free address");

        // Bo, whose address it is, is told (no link in it); Bo's password is unchanged.
        let emails = new_emails(&app).await;
        let to_bo: Vec<&OutboxEmail> = emails
            .iter()
            .filter(|e| e.recipients == "bo@example.test")
            .collect();
        assert_eq!(to_bo.len(), 1);
        assert!(!to_bo[0].holds_secret);
        let text = to_bo[0].payload["text"].as_str().expect("text");
        assert!(text.contains("You already have an account"), "{text}");
        assert!(text.contains("http://127.0.0.1:8080/sign-in"), "{text}");
        sign_in(&app.anonymous(), "bo@example.test", PASSWORD)
            .await
            .expect_status(200);
        assert!(
            actions(&app)
                .await
                .iter()
                .any(|a| a == "user.sign_up_attempted")
        );

        // Signing up again before confirming sends a new link instead.
        app.anonymous()
            .post("/api/v1/auth/sign-up", &sign_up_body("new@example.test"))
            .await
            .expect_status(202);
        let emails = new_emails(&app).await;
        assert_eq!(emails.len(), 1);
        assert!(emails[0].holds_secret);
        assert!(!token_in(&emails[0]).is_empty());
        assert_eq!(user_count(&app).await, users + 1);
    })
    .await;
}

#[tokio::test]
async fn bad_sign_ups_store_nothing() {
    each_backend(|app| async move {
        let users = user_count(&app).await;
        let audit = actions(&app).await.len();
        let problem = app
            .anonymous()
            .post(
                "/api/v1/auth/sign-up",
                &json!({
                    "email": "not an address",
                    "display_name": "",
                    "password": "short",
                    "account_name": " ",
                    "time_zone": "Mars/Olympus",
                }),
            )
            .await
            .problem(422, "validation-failed");
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["field"].as_str().expect("field"))
            .collect();
        assert_eq!(
            fields,
            [
                "email",
                "display_name",
                "time_zone",
                "password",
                "account_name"
            ]
        );
        let problem = app
            .anonymous()
            .post(
                "/api/v1/auth/sign-up",
                &json!({"email": "a@example.test", "password": PASSWORD, "staff": {"admin": true}}),
            )
            .await
            .problem(422, "validation-failed");
        assert!(problem["errors"].is_array(), "{problem}");
        assert_eq!(user_count(&app).await, users);
        assert_eq!(actions(&app).await.len(), audit);
        assert!(new_emails(&app).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn confirmation_links_expire_and_new_ones_are_sent_on_request() {
    each_backend(|app| async move {
        let anonymous = app.anonymous();
        anonymous
            .post("/api/v1/auth/sign-up", &sign_up_body("cy@example.test"))
            .await
            .expect_status(202);
        let first = token_in(&new_emails(&app).await[0]);
        app.clock.advance(jiff::SignedDuration::from_hours(48));
        anonymous
            .post("/api/v1/auth/verify-email", &json!({"token": first}))
            .await
            .problem(410, "token-expired");
        for token in ["", "vit_nope", "garbage"] {
            anonymous
                .post("/api/v1/auth/verify-email", &json!({"token": token}))
                .await
                .problem(400, "invalid-token");
        }

        // A new link on request; the same answer for addresses with nothing to send.
        for email in [
            "cy@example.test",
            "nobody@example.test",
            "admin@vitrine.test",
        ] {
            let answer = anonymous
                .post("/api/v1/auth/verify-email/resend", &json!({"email": email}))
                .await
                .expect_status(202);
            assert_eq!(answer.json(), json!({"email": email}));
        }
        anonymous
            .post(
                "/api/v1/auth/verify-email/resend",
                &json!({"email": "nope"}),
            )
            .await
            .problem(422, "validation-failed");
        let emails = new_emails(&app).await;
        assert_eq!(emails.len(), 1, "only the unconfirmed address gets a link");
        assert_eq!(emails[0].recipients, "cy@example.test");
        let second = token_in(&emails[0]);
        anonymous
            .post("/api/v1/auth/verify-email", &json!({"token": second}))
            .await
            .expect_status(200);
        sign_in(&anonymous, "cy@example.test", PASSWORD)
            .await
            .expect_status(200);
    })
    .await;
}

#[tokio::test]
async fn a_password_reset_sets_the_password_confirms_the_address_and_ends_every_session() {
    each_backend(|app| async move {
        let anonymous = app.anonymous();
        app.admin
            .post(
                "/api/v1/users",
                &json!({"email": "dee@example.test", "display_name": "Dee", "password": PASSWORD}),
            )
            .await
            .expect_status(201);
        let (laptop, phone) = (app.browser(), app.browser());
        for device in [&laptop, &phone] {
            sign_in(device, "dee@example.test", PASSWORD)
                .await
                .expect_status(200);
        }

        // The same answer for an address without an account, which gets nothing.
        for email in ["dee@example.test", "nobody@example.test"] {
            let answer = anonymous
                .post("/api/v1/auth/password-reset", &json!({"email": email}))
                .await
                .expect_status(202);
            assert_eq!(answer.json(), json!({"email": email}));
        }
        let emails = new_emails(&app).await;
        assert_eq!(emails.len(), 1);
        assert_eq!(emails[0].recipients, "dee@example.test");
        assert!(emails[0].holds_secret);
        let text = emails[0].payload["text"].as_str().expect("text");
        assert!(
            text.contains("http://127.0.0.1:8080/reset-password?token=vit_"),
            "{text}"
        );
        let token = token_in(&emails[0]);

        // A confirmation endpoint does not take a reset token.
        anonymous
            .post("/api/v1/auth/verify-email", &json!({"token": token}))
            .await
            .problem(400, "invalid-token");
        // A bad password changes nothing; the token still works.
        let problem = anonymous
            .post(
                "/api/v1/auth/password-reset/confirm",
                &json!({"token": token, "new_password": "short"}),
            )
            .await
            .problem(422, "validation-failed");
        assert_eq!(problem["errors"][0]["field"], "new_password");
        laptop.get("/api/v1/me").await.expect_status(200);
        anonymous
            .post(
                "/api/v1/auth/password-reset/confirm",
                &json!({"token": token, "new_password": "a brand new password"}),
            )
            .await
            .expect_status(204);
        for device in [&laptop, &phone] {
            device
                .get("/api/v1/me")
                .await
                .problem(401, "unauthenticated");
        }
        sign_in(&anonymous, "dee@example.test", PASSWORD)
            .await
            .problem(401, "unauthenticated");
        sign_in(&anonymous, "dee@example.test", "a brand new password")
            .await
            .expect_status(200);
        anonymous
            .post(
                "/api/v1/auth/password-reset/confirm",
                &json!({"token": token, "new_password": "yet another password"}),
            )
            .await
            .problem(410, "token-used");
        let actions = actions(&app).await;
        for expected in ["user.password_reset_requested", "user.password_reset"] {
            assert!(
                actions.iter().any(|a| a == expected),
                "{expected} in {actions:?}"
            );
        }

        // A reset link works for an hour, and proves an unconfirmed address.
        anonymous
            .post("/api/v1/auth/sign-up", &sign_up_body("eve@example.test"))
            .await
            .expect_status(202);
        new_emails(&app).await;
        for _ in 0..2 {
            anonymous
                .post(
                    "/api/v1/auth/password-reset",
                    &json!({"email": "eve@example.test"}),
                )
                .await
                .expect_status(202);
        }
        let emails = new_emails(&app).await;
        let (late, timely) = (token_in(&emails[0]), token_in(&emails[1]));
        app.clock.advance(jiff::SignedDuration::from_mins(59));
        anonymous
            .post(
                "/api/v1/auth/password-reset/confirm",
                &json!({"token": timely, "new_password": "eve's new password"}),
            )
            .await
            .expect_status(204);
        sign_in(&anonymous, "eve@example.test", "eve's new password")
            .await
            .expect_status(200);
        app.clock.advance(jiff::SignedDuration::from_mins(1));
        anonymous
            .post(
                "/api/v1/auth/password-reset/confirm",
                &json!({"token": late, "new_password": "eve's newer password"}),
            )
            .await
            .problem(410, "token-expired");
    })
    .await;
}

#[tokio::test]
async fn problem_types_are_documented() {
    each_backend(|app| async move {
        for slug in [
            "too-many-attempts",
            "email-not-verified",
            "invalid-token",
            "token-expired",
            "token-used",
        ] {
            let anonymous = app.anonymous();
            let page = anonymous
                .send(anonymous.request(Method::GET, &format!("/problems/{slug}")))
                .await
                .expect_status(200);
            assert!(!page.body.is_empty(), "{slug}");
        }
    })
    .await;
}
