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

#[tokio::test]
async fn records_name_who_and_what_and_admins_export_them_as_csv() {
    each_backend(|app| async move {
        // A name a spreadsheet would run as a formula.
        let owner = app
            .user_with(json!({"email": "ana@p.test", "display_name": "=Ana Souza"}))
            .await;
        let provider = app.provider("Souza Cloud", &owner).await;
        app.offering(
            &owner.client,
            &provider,
            "souza-db",
            "private",
            &[],
            json!({}),
        )
        .await;

        let page = app
            .admin
            .get("/api/v1/audit?limit=100&offering_name=souza-db&actor_email=ANA@p.test")
            .await
            .expect_status(200)
            .json();
        let items = page["items"].as_array().expect("items");
        let created = items
            .iter()
            .find(|r| r["action"] == "offering.created")
            .expect("the offering's creation, found by its name and its author's email");
        assert_eq!(created["actor_name"], "=Ana Souza");
        assert_eq!(created["actor_email"], "ana@p.test");
        assert_eq!(created["account_name"], "Souza Cloud");
        assert_eq!(created["offering_name"], "souza-db");
        assert!(
            items.iter().all(|r| r["offering_name"] == "souza-db"),
            "{items:?}"
        );
        app.admin
            .get("/api/v1/audit?actor_email=not-an-address")
            .await
            .problem(422, "validation-failed");

        let export = app
            .admin
            .get("/api/v1/audit/export?offering_name=souza-db")
            .await
            .expect_status(200);
        assert_eq!(
            export.header("content-type"),
            Some("text/csv; charset=utf-8")
        );
        assert!(
            export
                .header("content-disposition")
                .is_some_and(|d| d.starts_with("attachment; filename=\"vitrine-audit-")),
            "{:?}",
            export.header("content-disposition")
        );
        let text = String::from_utf8(export.body.clone()).expect("UTF-8");
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some(
                "seq,at,actor_name,actor_email,actor,action,subject_kind,subject_id,\
                 account_name,account_id,offering_name,offering_id,before,after"
            )
        );
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), items.len(), "{text}");
        let created_row = rows
            .iter()
            .find(|r| r.contains(",offering.created,"))
            .expect("the creation row");
        assert!(
            created_row.contains(",'=Ana Souza,ana@p.test,"),
            "a formula-like name is defused: {created_row}"
        );
        assert!(created_row.contains(",Souza Cloud,"), "{created_row}");

        // More records than one batch of the export: every one, once, newest first.
        for n in 0..520 {
            app.user(&format!("u{n:03}@bulk.test")).await;
        }
        let all = app
            .admin
            .get("/api/v1/audit/export?action=user.created")
            .await
            .expect_status(200);
        let all = String::from_utf8(all.body).expect("UTF-8");
        let seqs: Vec<i64> = all
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().expect("seq").parse().expect("a number"))
            .collect();
        assert!(seqs.len() > 520, "{}", seqs.len());
        assert!(
            seqs.windows(2).all(|w| w[0] > w[1]),
            "newest first, no repeats"
        );

        owner
            .client
            .get("/api/v1/audit/export")
            .await
            .problem(403, "forbidden");
    })
    .await;
}
