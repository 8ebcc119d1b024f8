//! Password sign-in, the session cookie, sign-out, and personal API tokens.

use reqwest::Method;
use serde_json::json;
use vitrine_server::ServerConfig;
use vitrine_store_testing::TestDatabase;

use crate::support::{Client, TestApp, each_backend};

const PASSWORD: &str = "correct horse battery";

async fn user_with_password(app: &TestApp) {
    app.admin
        .post(
            "/api/v1/users",
            &json!({"email": "ana@example.test", "display_name": "Ana", "password": PASSWORD}),
        )
        .await
        .expect_status(201);
}

fn sign_in_body(password: &str) -> serde_json::Value {
    json!({"email": "Ana@Example.test", "password": password})
}

#[tokio::test]
async fn sign_in_sets_a_session_cookie_and_sign_out_ends_it() {
    each_backend(|app| async move {
        user_with_password(&app).await;
        let anonymous = app.anonymous();
        // Wrong password and unknown email answer the same.
        let wrong = anonymous
            .post("/api/v1/auth/sign-in", &sign_in_body("wrong password"))
            .await;
        wrong.problem(401, "unauthenticated");
        let unknown = anonymous
            .post(
                "/api/v1/auth/sign-in",
                &json!({"email": "who@example.test", "password": PASSWORD}),
            )
            .await;
        assert_eq!(unknown.body, wrong.body);

        let signed_in = anonymous
            .post("/api/v1/auth/sign-in", &sign_in_body(PASSWORD))
            .await;
        let signed_in = signed_in.expect_status(200);
        assert_eq!(signed_in.json()["user"]["email"], "ana@example.test");
        let cookie = signed_in
            .header("set-cookie")
            .expect("set-cookie")
            .to_owned();
        let attributes: Vec<&str> = cookie.split("; ").collect();
        let secret = attributes[0]
            .strip_prefix("vitrine_session=")
            .expect("cookie name");
        assert!(secret.starts_with("vit_") && secret.len() == 47, "{cookie}");
        for expected in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=2592000"] {
            assert!(attributes.contains(&expected), "{expected} in {cookie}");
        }
        assert!(
            !cookie.contains("Secure"),
            "not Secure by default: {cookie}"
        );

        // A browser keeps the cookie and is signed in with it.
        let browser = app.browser();
        browser
            .post("/api/v1/auth/sign-in", &sign_in_body(PASSWORD))
            .await
            .expect_status(200);
        let me = browser.get("/api/v1/me").await.expect_status(200).json();
        assert_eq!(me["user"]["display_name"], "Ana");
        let signed_out = browser.post("/api/v1/auth/sign-out", &json!({})).await;
        let signed_out = signed_out.expect_status(204);
        let cleared = signed_out.header("set-cookie").expect("cookie cleared");
        assert!(
            cleared.starts_with("vitrine_session=;") && cleared.contains("Max-Age=0"),
            "{cleared}"
        );
        browser
            .get("/api/v1/me")
            .await
            .problem(401, "unauthenticated");

        // The first session still works until it expires (30 days), by the injected clock.
        let by_cookie = |c: &Client| {
            c.request(Method::GET, "/api/v1/me")
                .header("cookie", format!("vitrine_session={secret}"))
        };
        let first = app.anonymous();
        first.send(by_cookie(&first)).await.expect_status(200);
        app.clock.advance(jiff::SignedDuration::from_hours(24 * 31));
        first
            .send(by_cookie(&first))
            .await
            .problem(401, "unauthenticated");
        // An expired cookie alone does not stop anonymous browsing.
        first
            .send(
                first
                    .request(Method::GET, "/api/v1/catalog")
                    .header("cookie", format!("vitrine_session={secret}")),
            )
            .await
            .expect_status(200);
    })
    .await;
}

#[tokio::test]
async fn secure_cookies_when_configured() {
    let app = TestApp::start(
        TestDatabase::sqlite().await,
        ServerConfig {
            secure_cookies: true,
            ..ServerConfig::default()
        },
    )
    .await;
    user_with_password(&app).await;
    let response = app
        .anonymous()
        .post("/api/v1/auth/sign-in", &sign_in_body(PASSWORD))
        .await
        .expect_status(200);
    let cookie = response.header("set-cookie").expect("set-cookie");
    assert!(cookie.ends_with("; Secure"), "{cookie}");
}

#[tokio::test]
async fn passwords_change_with_the_current_one() {
    each_backend(|app| async move {
        user_with_password(&app).await;
        let browser = app.browser();
        browser
            .post("/api/v1/auth/sign-in", &sign_in_body(PASSWORD))
            .await
            .expect_status(200);
        let problem = browser
            .put(
                "/api/v1/me/password",
                &json!({"new_password": "another long one"}),
            )
            .await
            .problem(422, "validation-failed");
        assert_eq!(problem["errors"][0]["field"], "current_password");
        browser
            .put(
                "/api/v1/me/password",
                &json!({"current_password": "nope nope nope", "new_password": "another long one"}),
            )
            .await
            .problem(422, "validation-failed");
        browser
            .put(
                "/api/v1/me/password",
                &json!({"current_password": PASSWORD, "new_password": "another long one"}),
            )
            .await
            .expect_status(204);
        app.anonymous()
            .post("/api/v1/auth/sign-in", &sign_in_body(PASSWORD))
            .await
            .problem(401, "unauthenticated");
        app.anonymous()
            .post("/api/v1/auth/sign-in", &sign_in_body("another long one"))
            .await
            .expect_status(200);
    })
    .await;
}

#[tokio::test]
async fn api_tokens_are_shown_once_and_revocable() {
    each_backend(|app| async move {
        let user = app.user("dev@example.test").await;
        let other = app.user("other@example.test").await;
        let created = user
            .client
            .post("/api/v1/me/tokens", &json!({"name": "ci"}))
            .await
            .expect_status(201)
            .json();
        let secret = created["secret"].as_str().expect("secret");
        assert!(secret.starts_with("vit_") && secret.len() == 47, "{secret}");
        let id = created["token"]["id"].as_str().expect("id");

        let bearer = Client::bearer(&app.base, secret);
        let me = bearer.get("/api/v1/me").await.expect_status(200).json();
        assert_eq!(me["user"]["email"], "dev@example.test");

        let list = user
            .client
            .get("/api/v1/me/tokens")
            .await
            .expect_status(200);
        let text = String::from_utf8_lossy(&list.body).to_string();
        assert!(!text.contains(secret), "the secret is never shown again");
        let listed = list.json();
        let entry = listed["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|t| t["id"] == id)
            .expect("listed")
            .clone();
        assert_eq!(entry["name"], "ci");
        assert!(entry["last_used_at"].is_string(), "use recorded: {entry}");
        assert!(entry.get("secret").is_none());

        // Nobody else can revoke it, and it is not theirs to see.
        other
            .client
            .delete(&format!("/api/v1/me/tokens/{id}"))
            .await
            .problem(404, "not-found");
        user.client
            .delete(&format!("/api/v1/me/tokens/{id}"))
            .await
            .expect_status(204);
        bearer
            .get("/api/v1/me")
            .await
            .problem(401, "unauthenticated");
        bearer
            .get("/api/v1/catalog")
            .await
            .problem(401, "unauthenticated");
        user.client
            .delete(&format!("/api/v1/me/tokens/{id}"))
            .await
            .problem(404, "not-found");
        let listed = user.client.get("/api/v1/me/tokens").await.json();
        let entry = listed["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|t| t["id"] == id)
            .expect("still listed")
            .clone();
        assert!(entry["revoked_at"].is_string(), "{entry}");

        // Malformed credentials are refused, not ignored.
        let anonymous = app.anonymous();
        for header in ["Basic abc", "Bearer", "Bearer vit_unknown"] {
            anonymous
                .send(
                    anonymous
                        .request(Method::GET, "/api/v1/me")
                        .header("authorization", header),
                )
                .await
                .problem(401, "unauthenticated");
        }
    })
    .await;
}

#[tokio::test]
async fn five_failures_in_fifteen_minutes_lock_the_address_until_the_window_ends() {
    each_backend(|app| async move {
        user_with_password(&app).await;
        let anonymous = app.anonymous();
        for _ in 0..5 {
            anonymous
                .post("/api/v1/auth/sign-in", &sign_in_body("wrong password"))
                .await
                .problem(401, "unauthenticated");
            app.clock.advance(jiff::SignedDuration::from_mins(2));
        }
        // Ten minutes after the first failure: refused even with the right password.
        let refused = anonymous
            .post("/api/v1/auth/sign-in", &sign_in_body(PASSWORD))
            .await;
        assert_eq!(refused.header("retry-after"), Some("300"));
        let problem = refused.problem(429, "too-many-attempts");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("5 minute")),
            "{problem}"
        );
        // An address nobody has is throttled the same way (it tells nothing).
        for _ in 0..5 {
            anonymous
                .post(
                    "/api/v1/auth/sign-in",
                    &json!({"email": "who@example.test", "password": "x"}),
                )
                .await
                .problem(401, "unauthenticated");
        }
        anonymous
            .post(
                "/api/v1/auth/sign-in",
                &json!({"email": "who@example.test", "password": "x"}),
            )
            .await
            .problem(429, "too-many-attempts");
        // Once the window has passed, the right password works.
        app.clock.advance(jiff::SignedDuration::from_mins(5));
        anonymous
            .post("/api/v1/auth/sign-in", &sign_in_body(PASSWORD))
            .await
            .expect_status(200);
        // A success forgets the failures: four more, then the right one, then four more.
        for _ in 0..2 {
            for _ in 0..4 {
                anonymous
                    .post("/api/v1/auth/sign-in", &sign_in_body("wrong password"))
                    .await
                    .problem(401, "unauthenticated");
            }
            anonymous
                .post("/api/v1/auth/sign-in", &sign_in_body(PASSWORD))
                .await
                .expect_status(200);
        }
    })
    .await;
}

#[tokio::test]
async fn the_count_is_shared_by_servers_on_one_database() {
    each_backend(|app| async move {
        user_with_password(&app).await;
        // A second server with its own connections to the same database.
        let store = vitrine_store::open(&app.db_url)
            .await
            .expect("second store");
        let other = crate::support::serve(
            std::sync::Arc::from(store),
            app.clock.clone(),
            ServerConfig::default(),
        )
        .await;
        let servers = [app.anonymous(), Client::anonymous(&other)];
        for i in 0..5 {
            servers[i % 2]
                .post("/api/v1/auth/sign-in", &sign_in_body("wrong password"))
                .await
                .problem(401, "unauthenticated");
        }
        for server in &servers {
            server
                .post("/api/v1/auth/sign-in", &sign_in_body(PASSWORD))
                .await
                .problem(429, "too-many-attempts");
        }
    })
    .await;
}

/// A rehearsal server (the limits run on its test clock) with small limits.
fn limited() -> ServerConfig {
    use vitrine_http::limits::{LimitSettings, Rate};
    let minutes = |m: u64| std::time::Duration::from_secs(m * 60);
    ServerConfig {
        test_clock: true,
        scheduler_interval: None,
        limits: LimitSettings {
            sign_in_per_client: Rate::new(3, minutes(10)),
            sign_up_per_client: Rate::new(2, minutes(30)),
            emails_per_client: Rate::new(4, minutes(15)),
            emails_per_recipient: Rate::new(2, minutes(30)),
        },
        ..ServerConfig::default()
    }
}

/// Moves the test clock forward by `minutes`.
async fn wait_minutes(app: &TestApp, minutes: i64) {
    let now = crate::go_live::server_now(app).await;
    let to = now
        .checked_add(jiff::SignedDuration::from_mins(minutes))
        .expect("instant");
    crate::go_live::advance_to(app, &to.to_string()).await;
}

#[track_caller]
fn assert_rate_limited(response: &crate::support::Resp, retry_after: u64, what: &str) {
    let problem = response.problem(429, "rate-limited");
    assert_eq!(
        response.header("retry-after"),
        Some(retry_after.to_string().as_str()),
        "{problem}"
    );
    assert_eq!(problem["title"], "Too many requests");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(what), "{detail}");
}

#[tokio::test]
async fn sign_in_attempts_are_limited_per_client_address_on_the_clock() {
    crate::support::each_backend_with(limited, |app| async move {
        user_with_password(&app).await;
        let client = app.anonymous();
        // Three wrong guesses at three different accounts: each a plain refusal.
        for n in 0..3 {
            client
                .post(
                    "/api/v1/auth/sign-in",
                    &json!({"email": format!("guess{n}@example.test"), "password": "wrong wrong"}),
                )
                .await
                .problem(401, "unauthenticated");
        }
        // The fourth from this address is refused whatever it is, the right password too.
        let refused = client
            .post("/api/v1/auth/sign-in", &sign_in_body(PASSWORD))
            .await;
        assert_rate_limited(&refused, 600, "sign-in attempts from your address");
        // Ten minutes on the clock give one attempt back.
        wait_minutes(&app, 10).await;
        client
            .post("/api/v1/auth/sign-in", &sign_in_body(PASSWORD))
            .await
            .expect_status(200);
        // Counted in /metrics.
        let metrics = app.anonymous().get("/metrics").await.expect_status(200);
        let metrics = String::from_utf8_lossy(&metrics.body);
        assert!(
            metrics.contains("vitrine_rate_limited_total{limit=\"sign_in_per_client\"}"),
            "{metrics}"
        );
    })
    .await;
}

#[tokio::test]
async fn confirmation_and_password_emails_are_limited_per_address() {
    crate::support::each_backend_with(limited, |app| async move {
        user_with_password(&app).await;
        let client = app.anonymous();
        let reset = |email: &str| json!({"email": email});
        for _ in 0..2 {
            client
                .post("/api/v1/auth/password-reset", &reset("ana@example.test"))
                .await
                .expect_status(202);
        }
        // A third link to the same mailbox within the half hour: refused, said so.
        let refused = client
            .post("/api/v1/auth/password-reset", &reset("Ana@Example.test"))
            .await;
        assert_rate_limited(&refused, 1800, "emails to this address");
        // The same for an address without an account: a refusal tells nothing.
        for _ in 0..2 {
            client
                .post(
                    "/api/v1/auth/verify-email/resend",
                    &reset("nobody@example.test"),
                )
                .await
                .expect_status(202);
        }
        // Four from this client in all (the refused one did not count); the fifth is over
        // the client's own limit.
        let refused = client
            .post("/api/v1/auth/password-reset", &reset("carl@example.test"))
            .await;
        assert_rate_limited(&refused, 900, "asked from your address");
        wait_minutes(&app, 15).await;
        client
            .post("/api/v1/auth/password-reset", &reset("carl@example.test"))
            .await
            .expect_status(202);
    })
    .await;
}

#[tokio::test]
async fn sign_ups_are_limited_per_client_address() {
    crate::support::each_backend_with(limited, |app| async move {
        let client = app.anonymous();
        let sign_up = |n: u32| {
            json!({"email": format!("new{n}@example.test"), "display_name": "New",
                "password": "a long enough password", "account_name": format!("Acme {n}")})
        };
        for n in 0..2 {
            client
                .post("/api/v1/auth/sign-up", &sign_up(n))
                .await
                .expect_status(202);
        }
        let refused = client.post("/api/v1/auth/sign-up", &sign_up(2)).await;
        assert_rate_limited(&refused, 1800, "sign-ups from your address");
        assert!(
            app.store
                .user_by_email(
                    &vitrine_domain::Email::parse("email", "new2@example.test").expect("email")
                )
                .await
                .expect("read")
                .is_none(),
            "nothing was created"
        );
    })
    .await;
}
