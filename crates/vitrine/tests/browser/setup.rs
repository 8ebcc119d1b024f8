//! The world a browser test starts from, made through the JSON API as an operator's script
//! would (the README's walkthrough): users with passwords, a provider with an offering.

use serde_json::{Value, json};

use super::harness::{Api, Server, string_at};

/// Gives the first admin a password, so they can sign in through the page.
pub async fn admin_password(server: &Server) {
    server
        .admin()
        .put(
            "/api/v1/me/password",
            json!({ "new_password": super::harness::PASSWORD }),
        )
        .await;
}

/// An approved provider account (its owner signs in with the test password).
pub struct Provider {
    pub account_id: String,
}

pub async fn approved_provider(admin: &Api, email: &str, name: &str, account: &str) -> Provider {
    let user_id = admin.create_user(email, name, None).await;
    let account_id = admin.create_account(account, &user_id).await;
    // The application is the owner's to make; the admin may make it too (API tests do).
    admin
        .put(
            &format!("/api/v1/accounts/{account_id}/provider-application"),
            json!({"legal_name": format!("{account} SA"), "contact_email": email,
                   "country": "FR", "website": "https://provider.example"}),
        )
        .await;
    admin
        .post(
            &format!("/api/v1/accounts/{account_id}/provider-application/decision"),
            json!({"decision": "approve"}),
        )
        .await;
    Provider { account_id }
}

/// A private offering of `provider` with one free plan.
pub async fn offering(admin: &Api, provider: &Provider, name: &str, description: &str) -> Value {
    let created = admin
        .post(
            "/api/v1/offerings",
            json!({
                "provider_account_id": provider.account_id,
                "name": name,
                "display_name": {"en": "Demo offering"},
                "description": {"en": description},
                "category": "databases",
                "documentation_url": "https://docs.provider.example",
                "support_contact": "help@provider.example",
                "plans": [{"name": "lite", "display_name": {"en": "Lite"}, "pricing": {"kind": "free"}}],
            }),
        )
        .await;
    assert_eq!(string_at(&created, "/offering/name"), name);
    created
}
