//! Catalog caching rules: strong ETags with 304, and no server-side caching, so a change
//! made through one server is visible through another sharing the database at once.

use std::sync::Arc;

use reqwest::Method;
use serde_json::json;
use vitrine_server::ServerConfig;
use vitrine_store::Store;

use crate::support::{Client, each_backend, names, serve};

#[tokio::test]
async fn etags_and_not_modified() {
    each_backend(|app| async move {
        let owner = app.user("owner@p.test").await;
        let provider = app.provider("P", &owner).await;
        app.offering(
            &owner.client,
            &provider,
            "pub-svc",
            "public",
            &[],
            json!({}),
        )
        .await;
        let c = app.anonymous();
        let first = c.get("/api/v1/catalog").await.expect_status(200);
        let etag = first.header("etag").expect("etag").to_owned();
        assert!(
            etag.starts_with('"') && etag.ends_with('"'),
            "strong ETag: {etag}"
        );
        assert_eq!(
            c.get("/api/v1/catalog").await.header("etag"),
            Some(etag.as_str())
        );

        let revalidate = |path: &str, tag: &str| {
            c.request(Method::GET, path)
                .header("if-none-match", tag.to_owned())
        };
        let not_modified = c.send(revalidate("/api/v1/catalog", &etag)).await;
        assert_eq!(not_modified.status, 304);
        assert!(not_modified.body.is_empty());
        assert_eq!(not_modified.header("etag"), Some(etag.as_str()));
        let list = format!("\"other\", {etag}");
        assert_eq!(
            c.send(revalidate("/api/v1/catalog", &list)).await.status,
            304
        );
        c.send(revalidate("/api/v1/catalog", "\"stale\""))
            .await
            .expect_status(200);

        // The same page for someone who sees more is a different body, so a different tag.
        let admin_tag = app
            .admin
            .get("/api/v1/catalog")
            .await
            .header("etag")
            .map(str::to_owned);
        assert_eq!(
            admin_tag.as_deref(),
            Some(etag.as_str()),
            "same visible set, same body"
        );
        app.offering(
            &owner.client,
            &provider,
            "priv-svc",
            "private",
            &[],
            json!({}),
        )
        .await;
        let admin_view = app
            .admin
            .send(
                app.admin
                    .request(Method::GET, "/api/v1/catalog")
                    .header("if-none-match", etag.clone()),
            )
            .await;
        assert_eq!(admin_view.status, 200, "the admin now sees one more");
        assert_eq!(
            c.send(revalidate("/api/v1/catalog", &etag)).await.status,
            304,
            "anonymous view unchanged"
        );

        // A change to the listing (a revision of the live offering, texts only: published
        // at once) changes the tag.
        let revision = owner
            .client
            .post("/api/v1/offerings/pub-svc/revisions", &json!({}))
            .await
            .expect_status(201)
            .json();
        let id = revision["submission_id"].as_str().expect("id").to_owned();
        owner
            .client
            .patch(
                &format!("/api/v1/submissions/{id}/revision"),
                &json!({"description": {"en": "Changed"}}),
            )
            .await
            .expect_status(200);
        let published = owner
            .client
            .post(
                &format!("/api/v1/submissions/{id}/revision/submit"),
                &json!({}),
            )
            .await
            .expect_status(200)
            .json();
        assert_eq!(published["state"], "published");
        let changed = c
            .send(revalidate("/api/v1/catalog", &etag))
            .await
            .expect_status(200);
        assert_ne!(changed.header("etag"), Some(etag.as_str()));

        // Details too.
        let detail = c.get("/api/v1/catalog/pub-svc").await.expect_status(200);
        let tag = detail.header("etag").expect("etag").to_owned();
        assert_eq!(
            c.send(revalidate("/api/v1/catalog/pub-svc", &tag))
                .await
                .status,
            304
        );
        assert_eq!(detail.header("cache-control"), Some("private, no-cache"));
    })
    .await;
}

#[tokio::test]
async fn changes_through_one_server_show_through_another() {
    each_backend(|app| async move {
        // A second server with its own connection pool on the same database.
        let second_store: Arc<dyn Store> = Arc::from(
            vitrine_store::open(&app.db_url)
                .await
                .expect("open the same database"),
        );
        let second = serve(second_store, app.clock.clone(), ServerConfig::default()).await;
        let through_second = Client::anonymous(&second);

        let owner = app.user("owner@p.test").await;
        let provider = app.provider("P", &owner).await;
        app.offering(
            &owner.client,
            &provider,
            "svc-one",
            "limited",
            &[],
            json!({}),
        )
        .await;
        let before = through_second
            .get("/api/v1/catalog")
            .await
            .expect_status(200);
        assert_eq!(before.json()["total"], 0);
        app.admin
            .put(
                "/api/v1/offerings/svc-one/visibility",
                &json!({"visibility": "public"}),
            )
            .await
            .expect_status(200);
        // The second server reuses answers for at most its cache time-to-live (500 ms by
        // default): the change must show there within one second.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        let after = loop {
            let page = through_second
                .get("/api/v1/catalog")
                .await
                .expect_status(200)
                .json();
            if page["total"] == 1 || std::time::Instant::now() > deadline {
                break page;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert_eq!(names(&after), ["svc-one"]);
        through_second
            .get("/api/v1/catalog/svc-one")
            .await
            .expect_status(200);
    })
    .await;
}
