//! Bad input gets the right problem document and leaves stored data as it was.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestApp, TestUser, each_backend, error_fields, offering_body};

/// What a bad request must not change: the provider's offerings and the audit log.
async fn snapshot(app: &TestApp, provider: &str) -> (Value, Value) {
    let offerings = app
        .admin
        .get(&format!("/api/v1/accounts/{provider}/offerings?limit=100"))
        .await
        .expect_status(200)
        .json();
    let audit = app
        .admin
        .get("/api/v1/audit?limit=100")
        .await
        .expect_status(200)
        .json();
    (offerings, audit)
}

async fn setup(app: &TestApp) -> (TestUser, String) {
    let owner = app.user("owner@p.test").await;
    let provider = app.provider("Provider", &owner).await;
    app.offering(
        &owner.client,
        &provider,
        "taken-name",
        "private",
        &[],
        json!({}),
    )
    .await;
    (owner, provider)
}

#[tokio::test]
async fn refused_creations_store_nothing() {
    each_backend(|app| async move {
        let (owner, provider) = setup(&app).await;
        let before = snapshot(&app, &provider).await;
        let c = &owner.client;

        // Not JSON.
        c.raw(
            Method::POST,
            "/api/v1/offerings",
            "application/json",
            b"{\"name\": ".to_vec(),
        )
        .await
        .problem(400, "malformed-body");
        c.raw(
            Method::POST,
            "/api/v1/offerings",
            "application/json",
            b"{} trailing".to_vec(),
        )
        .await
        .problem(400, "malformed-body");
        // Not declared as JSON.
        let body = serde_json::to_vec(&offering_body(&provider, "new-one")).expect("json");
        c.raw(
            Method::POST,
            "/api/v1/offerings",
            "text/plain",
            body.clone(),
        )
        .await
        .problem(415, "unsupported-media-type");
        c.send(c.request(Method::POST, "/api/v1/offerings").body(body))
            .await
            .problem(415, "unsupported-media-type");
        // Larger than the 1 MiB limit.
        let mut huge = offering_body(&provider, "huge-one");
        huge["description"]["en"] = json!("x".repeat(1024 * 1024 + 1));
        c.post("/api/v1/offerings", &huge)
            .await
            .problem(413, "payload-too-large");
        // Unknown field, named.
        let mut unknown = offering_body(&provider, "new-one");
        unknown["colour"] = json!("blue");
        let problem = c
            .post("/api/v1/offerings", &unknown)
            .await
            .problem(422, "validation-failed");
        assert_eq!(problem["errors"][0]["field"], "colour", "{problem}");
        let mut nested = offering_body(&provider, "new-one");
        nested["plans"][0]["pricing"] =
            json!({"kind": "subscription", "amount": "9", "currency": "EUR", "discount": 5});
        let problem = c
            .post("/api/v1/offerings", &nested)
            .await
            .problem(422, "validation-failed");
        assert_eq!(
            problem["errors"][0]["field"], "plans.0.pricing.discount",
            "{problem}"
        );
        // Wrong type, named.
        let mut wrong = offering_body(&provider, "new-one");
        wrong["tags"] = json!("widget");
        let problem = c
            .post("/api/v1/offerings", &wrong)
            .await
            .problem(422, "validation-failed");
        assert_eq!(problem["errors"][0]["field"], "tags", "{problem}");
        // Invalid names and values: every field listed.
        for bad_name in [
            "Bad_Name",
            "ab",
            "-abc",
            "abc-",
            "1abc",
            "x".repeat(33).as_str(),
        ] {
            let problem = c
                .post("/api/v1/offerings", &offering_body(&provider, bad_name))
                .await
                .problem(422, "validation-failed");
            assert_eq!(
                problem["errors"][0]["field"], "name",
                "{bad_name}: {problem}"
            );
        }
        let mut many = offering_body(&provider, "Bad Name");
        many["documentation_url"] = json!("docs.example.com");
        many["plans"][0]["pricing"] =
            json!({"kind": "subscription", "amount": "-1", "currency": "eur"});
        let problem = c
            .post("/api/v1/offerings", &many)
            .await
            .problem(422, "validation-failed");
        let fields = error_fields(&problem);
        for expected in [
            "name",
            "documentation_url",
            "plans.0.pricing.amount",
            "plans.0.pricing.currency",
        ] {
            assert!(
                fields.iter().any(|f| f == expected),
                "{expected} in {fields:?}"
            );
        }
        // A taken name.
        let problem = c
            .post("/api/v1/offerings", &offering_body(&provider, "taken-name"))
            .await
            .problem(409, "conflict");
        assert_eq!(problem["errors"][0]["field"], "name", "{problem}");

        assert_eq!(
            snapshot(&app, &provider).await,
            before,
            "nothing was stored"
        );
    })
    .await;
}

#[tokio::test]
async fn refused_changes_keep_the_stored_offering() {
    each_backend(|app| async move {
        let (owner, provider) = setup(&app).await;
        let before = snapshot(&app, &provider).await;
        let c = &owner.client;
        let problem = c
            .patch(
                "/api/v1/offerings/taken-name",
                &json!({"display_name": {"en": ""}, "plans": [
                    {"name": "a", "display_name": {"en": "A"}, "pricing": {"kind": "free"}}
                ]}),
            )
            .await
            .problem(422, "validation-failed");
        let fields = error_fields(&problem);
        assert_eq!(fields, ["display_name.en", "plans.0.name"], "{problem}");
        c.patch("/api/v1/offerings/taken-name", &json!({"name": "renamed"}))
            .await
            .problem(422, "validation-failed");
        c.put(
            "/api/v1/offerings/taken-name/allowlist",
            &json!({"account_ids": [uuid::Uuid::now_v7()]}),
        )
        .await
        .problem(422, "validation-failed");
        c.put(
            "/api/v1/offerings/taken-name/allowlist",
            &json!({"account_ids": ["nope"]}),
        )
        .await
        .problem(422, "validation-failed");
        c.put(
            "/api/v1/offerings/taken-name/visibility",
            &json!({"visibility": "secret"}),
        )
        .await
        .problem(422, "validation-failed");
        // Only an admin publishes.
        c.put(
            "/api/v1/offerings/taken-name/visibility",
            &json!({"visibility": "public"}),
        )
        .await
        .problem(403, "forbidden");
        assert_eq!(
            snapshot(&app, &provider).await,
            before,
            "nothing was changed"
        );
    })
    .await;
}

#[tokio::test]
async fn bad_queries_and_paths() {
    each_backend(|app| async move {
        let c = app.anonymous();
        for (query, field) in [
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=ten", "limit"),
            ("cursor=%%%", "cursor"),
            ("cursor=Tk9UIEEgTkFNRQ", "cursor"),
            ("colour=blue", "colour"),
        ] {
            let problem = c
                .get(&format!("/api/v1/catalog?{query}"))
                .await
                .problem(422, "validation-failed");
            assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
        }
        app.admin
            .get("/api/v1/accounts/not-a-uuid")
            .await
            .problem(404, "not-found");
        app.admin
            .get("/api/v1/users/123")
            .await
            .problem(404, "not-found");
        c.get("/api/v1/catalog/NOT_A_NAME")
            .await
            .problem(404, "not-found");
        c.get("/api/v1/nothing-here")
            .await
            .problem(404, "not-found");
        let problem = app
            .admin
            .post(
                "/api/v1/users",
                &json!({"email": "nope", "display_name": " ", "password": "short"}),
            )
            .await
            .problem(422, "validation-failed");
        let fields = error_fields(&problem);
        assert_eq!(fields, ["email", "display_name", "password"], "{problem}");
        app.admin
            .post(
                "/api/v1/users",
                &json!({"email": "admin@vitrine.test", "display_name": "Twin"}),
            )
            .await
            .problem(409, "conflict");
    })
    .await;
}

/// A NUL in a query filter: no stored text holds one (PostgreSQL's text cannot), so it is a
/// 422 naming the parameter, the same on both backends, never the database's error.
#[tokio::test]
async fn a_nul_in_a_query_filter_is_refused_naming_it() {
    each_backend(|app| async move {
        let (owner, provider) = setup(&app).await;
        for path in [
            "/api/v1/audit?action=a%00b".to_owned(),
            "/api/v1/audit?limit=10&actor_email=x%00%40p.test".to_owned(),
            format!("/api/v1/accounts/{provider}/offerings?cursor=a%00"),
        ] {
            let problem = app.admin.get(&path).await.problem(422, "validation-failed");
            let fields = error_fields(&problem);
            let name = path
                .rsplit(['?', '&'])
                .next()
                .and_then(|pair| pair.split('=').next())
                .expect("a parameter");
            assert_eq!(fields, vec![name.to_owned()], "{path}: {problem}");
        }
        // The provider's own listing too.
        owner
            .client
            .get(&format!("/api/v1/accounts/{provider}/offerings?cursor=%00"))
            .await
            .problem(422, "validation-failed");
    })
    .await;
}
