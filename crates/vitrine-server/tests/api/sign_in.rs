//! Password sign-in, the session cookie, sign-out, and personal API tokens.

use reqwest::Method;
use serde_json::json;
use vitrine_server::ServerConfig;
use vitrine_store::testing::TestDatabase;

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
