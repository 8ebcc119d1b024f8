//! Provider applications: apply, reject with a reason the account sees, apply again,
//! approve; members of the account.

use serde_json::json;

use crate::support::{application, each_backend};

#[tokio::test]
async fn application_rejected_with_reason_then_approved() {
    each_backend(|app| async move {
        let owner = app.user("owner@p.test").await;
        let member = app.user("member@p.test").await;
        let account = app.account("Acme", &owner).await;
        let path = format!("/api/v1/accounts/{account}");
        // Members are added by email by the owner.
        owner
            .client
            .post(&format!("{path}/members"), &json!({"email": member.email, "role": "member"}))
            .await
            .expect_status(200);
        owner
            .client
            .post(&format!("{path}/members"), &json!({"email": "nobody@p.test", "role": "member"}))
            .await
            .problem(422, "validation-failed");
        // Only owners apply.
        member
            .client
            .put(&format!("{path}/provider-application"), &application("Acme"))
            .await
            .problem(403, "forbidden");
        let problem = owner
            .client
            .put(
                &format!("{path}/provider-application"),
                &json!({"legal_name": "", "contact_email": "x", "country": "France", "website": "acme"}),
            )
            .await
            .problem(422, "validation-failed");
        assert_eq!(problem["errors"].as_array().expect("errors").len(), 4);
        let applied = owner
            .client
            .put(&format!("{path}/provider-application"), &application("Acme"))
            .await
            .expect_status(200)
            .json();
        assert_eq!(applied["provider"]["status"], "pending");

        let pending = app
            .admin
            .get("/api/v1/provider-applications?status=pending")
            .await
            .expect_status(200)
            .json();
        assert!(pending["items"].as_array().expect("items").iter().any(|a| a["id"] == account));

        let decision = format!("{path}/provider-application/decision");
        let problem = app
            .admin
            .post(&decision, &json!({"decision": "reject"}))
            .await
            .problem(422, "validation-failed");
        assert_eq!(problem["errors"][0]["field"], "reason");
        app.admin
            .post(&decision, &json!({"decision": "reject", "reason": "No VAT number"}))
            .await
            .expect_status(200);
        // The account sees its state and the reason.
        for client in [&owner.client, &member.client] {
            let seen = client.get(&path).await.expect_status(200).json();
            assert_eq!(seen["provider"]["status"], "rejected");
            assert_eq!(seen["provider"]["reason"], "No VAT number");
        }
        let me = member.client.get("/api/v1/me").await.json();
        assert_eq!(me["memberships"][0]["provider_status"], "rejected");
        // A rejected account cannot create offerings until it applies again.
        owner
            .client
            .post("/api/v1/offerings", &crate::support::offering_body(&account, "early-svc"))
            .await
            .problem(409, "conflict");
        app.admin
            .post(&decision, &json!({"decision": "approve"}))
            .await
            .problem(409, "conflict");

        owner
            .client
            .put(&format!("{path}/provider-application"), &application("Acme"))
            .await
            .expect_status(200);
        let approved = app
            .admin
            .post(&decision, &json!({"decision": "approve"}))
            .await
            .expect_status(200)
            .json();
        assert_eq!(approved["provider"]["status"], "approved");
        owner
            .client
            .put(&format!("{path}/provider-application"), &application("Acme"))
            .await
            .problem(409, "conflict");

        // Owners remove members (never the last owner); removed members lose access at once.
        owner
            .client
            .delete(&format!("{path}/members/{}", owner.id))
            .await
            .problem(409, "conflict");
        owner
            .client
            .delete(&format!("{path}/members/{}", member.id))
            .await
            .expect_status(200);
        member.client.get(&path).await.problem(404, "not-found");
    })
    .await;
}
