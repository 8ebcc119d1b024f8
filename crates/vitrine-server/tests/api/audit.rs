//! The audit log: admins read all; others what concerns their accounts.

use serde_json::{Value, json};

use crate::support::{Client, each_backend};

async fn actions(client: &Client, query: &str) -> Vec<String> {
    let page = client
        .get(&format!("/api/v1/audit?limit=100{query}"))
        .await
        .expect_status(200)
        .json();
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r["action"].as_str().expect("action").to_owned())
        .collect()
}

#[tokio::test]
async fn each_role_reads_its_part() {
    each_backend(|app| async move {
        let owner = app.user("owner@p.test").await;
        let other_owner = app.user("owner@q.test").await;
        let customer = app.user("customer@c.test").await;
        let provider = app.provider("P", &owner).await;
        let other = app.provider("Q", &other_owner).await;
        let customer_account = app.account("C", &customer).await;
        app.offering(
            &owner.client,
            &provider,
            "p-svc",
            "limited",
            &[&customer_account],
            json!({}),
        )
        .await;
        app.offering(
            &other_owner.client,
            &other,
            "q-svc",
            "private",
            &[],
            json!({}),
        )
        .await;

        let everything = actions(&app.admin, "").await;
        for expected in [
            "user.created",
            "account.created",
            "provider.applied",
            "provider.approved",
            "offering.created",
            "offering.allowlist_changed",
            "offering.visibility_changed",
        ] {
            assert!(
                everything.iter().any(|a| a == expected),
                "{expected} in {everything:?}"
            );
        }

        let page = owner.client.get("/api/v1/audit?limit=100").await.json();
        let records = page["items"].as_array().expect("items");
        assert!(!records.is_empty());
        for record in records {
            assert_eq!(
                record["account_id"],
                json!(provider),
                "owner sees only P: {record}"
            );
        }
        let customer_view = customer.client.get("/api/v1/audit?limit=100").await.json();
        for record in customer_view["items"].as_array().expect("items") {
            assert_eq!(record["account_id"], json!(customer_account), "{record}");
        }
        // Filters narrow within the scope, never beyond it.
        let filtered = owner
            .client
            .get(&format!("/api/v1/audit?account={other}"))
            .await
            .expect_status(200)
            .json();
        assert_eq!(filtered["items"], json!([]));
        assert_eq!(
            actions(&app.admin, "&action=offering.created").await,
            ["offering.created", "offering.created"]
        );
        app.anonymous()
            .get("/api/v1/audit")
            .await
            .problem(401, "unauthenticated");

        // Newest first, paged.
        let first: Value = app.admin.get("/api/v1/audit?limit=2").await.json();
        let cursor = first["next_cursor"].as_str().expect("more pages");
        let second: Value = app
            .admin
            .get(&format!("/api/v1/audit?limit=2&cursor={cursor}"))
            .await
            .json();
        let seqs: Vec<i64> = first["items"]
            .as_array()
            .expect("items")
            .iter()
            .chain(second["items"].as_array().expect("items"))
            .map(|r| r["seq"].as_i64().expect("seq"))
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
    })
    .await;
}
