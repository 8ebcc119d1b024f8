//! Every endpoint × every kind of caller: the status each gets. 404 for what the caller may
//! not know exists, 401 for anonymous callers where sign-in is needed, 403 for what the
//! caller knows of but may not do.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::each_backend_with;
use crate::world::{ROLES, World};

/// Every role makes the same requests from one address: the abuse limits (tested on their
/// own in `sign_in.rs`) would refuse the later ones, which is not what this test is about.
fn without_abuse_limits() -> vitrine_server::ServerConfig {
    use vitrine_http::limits::{LimitSettings, Rate};
    let plenty = Rate::new(10_000, std::time::Duration::from_millis(1));
    vitrine_server::ServerConfig {
        limits: LimitSettings {
            sign_in_per_client: plenty,
            sign_up_per_client: plenty,
            emails_per_client: plenty,
            emails_per_recipient: plenty,
        },
        ..vitrine_server::ServerConfig::default()
    }
}

struct Row {
    method: Method,
    path: String,
    body: Option<Value>,
    /// Anonymous, customer, other customer, other provider's member, provider member,
    /// provider owner, validator, admin.
    expected: [u16; 8],
}

fn row(method: Method, path: impl Into<String>, body: Option<Value>, expected: [u16; 8]) -> Row {
    Row {
        method,
        path: path.into(),
        body,
        expected,
    }
}

fn table(w: &World) -> Vec<Row> {
    use Method as M;
    let p = &w.provider;
    let owner = w.owner.id;
    let nobody = uuid::Uuid::now_v7();
    let dup_offering = json!({
        "provider_account_id": p, "name": "lim-svc",
        "display_name": {"en": "Dup"}, "description": {"en": "Dup"},
    });
    vec![
        // Operations and the catalog: open to all.
        row(M::GET, "/healthz", None, [200; 8]),
        row(M::GET, "/readyz", None, [200; 8]),
        row(M::GET, "/metrics", None, [200; 8]),
        row(M::GET, "/api/openapi.json", None, [200; 8]),
        row(M::GET, "/problems/not-found", None, [200; 8]),
        row(M::GET, "/api/v1/catalog", None, [200; 8]),
        row(
            M::GET,
            "/api/v1/catalog/priv-svc",
            None,
            [404, 404, 404, 404, 200, 200, 200, 200],
        ),
        row(
            M::GET,
            "/api/v1/catalog/lim-svc",
            None,
            [404, 200, 404, 404, 200, 200, 200, 200],
        ),
        row(M::GET, "/api/v1/catalog/pub-svc", None, [200; 8]),
        row(M::GET, "/api/v1/catalog/no-such-svc", None, [404; 8]),
        // Me.
        row(
            M::GET,
            "/api/v1/me",
            None,
            [401, 200, 200, 200, 200, 200, 200, 200],
        ),
        row(
            M::PATCH,
            "/api/v1/me",
            Some(json!({"language": "fr"})),
            [401, 200, 200, 200, 200, 200, 200, 200],
        ),
        row(
            M::PUT,
            "/api/v1/me/password",
            Some(json!({"new_password": "short"})),
            [401, 422, 422, 422, 422, 422, 422, 422],
        ),
        row(
            M::GET,
            "/api/v1/me/tokens",
            None,
            [401, 200, 200, 200, 200, 200, 200, 200],
        ),
        row(
            M::POST,
            "/api/v1/me/tokens",
            Some(json!({"name": "ci"})),
            [401, 201, 201, 201, 201, 201, 201, 201],
        ),
        row(
            M::DELETE,
            format!("/api/v1/me/tokens/{nobody}"),
            None,
            [401, 404, 404, 404, 404, 404, 404, 404],
        ),
        row(
            M::POST,
            "/api/v1/auth/sign-out",
            None,
            [401, 204, 204, 204, 204, 204, 204, 204],
        ),
        // Self-service accounts: open to anyone, the same answer whoever asks (and whether
        // or not the address has an account).
        row(
            M::POST,
            "/api/v1/auth/sign-up",
            Some(json!({
                "email": "self@x.test", "display_name": "Self",
                "password": "long enough pass", "account_name": "Self Co",
            })),
            [202; 8],
        ),
        row(
            M::POST,
            "/api/v1/auth/verify-email",
            Some(json!({"token": "vit_unknown"})),
            [400; 8],
        ),
        row(
            M::POST,
            "/api/v1/auth/verify-email/resend",
            Some(json!({"email": "self@x.test"})),
            [202; 8],
        ),
        row(
            M::POST,
            "/api/v1/auth/password-reset",
            Some(json!({"email": "nobody@x.test"})),
            [202; 8],
        ),
        row(
            M::POST,
            "/api/v1/auth/password-reset/confirm",
            Some(json!({"token": "vit_unknown", "new_password": "long enough pass"})),
            [400; 8],
        ),
        // Users: admins only.
        row(
            M::GET,
            "/api/v1/users",
            None,
            [401, 403, 403, 403, 403, 403, 403, 200],
        ),
        row(
            M::POST,
            "/api/v1/users",
            Some(json!({"email": "new@x.test", "display_name": "New"})),
            [401, 403, 403, 403, 403, 403, 403, 201],
        ),
        row(
            M::GET,
            format!("/api/v1/users/{}", w.customer.id),
            None,
            [401, 403, 403, 403, 403, 403, 403, 200],
        ),
        row(
            M::GET,
            format!("/api/v1/users/{nobody}"),
            None,
            [401, 403, 403, 403, 403, 403, 403, 404],
        ),
        row(
            M::PATCH,
            format!("/api/v1/users/{}", w.customer.id),
            Some(json!({"display_name": "C"})),
            [401, 403, 403, 403, 403, 403, 403, 200],
        ),
        row(
            M::PUT,
            format!("/api/v1/users/{}/staff-roles", w.validator.id),
            Some(json!({"admin": false, "validator": true})),
            [401, 403, 403, 403, 403, 403, 403, 200],
        ),
        // Accounts.
        row(
            M::GET,
            "/api/v1/accounts",
            None,
            [401, 200, 200, 200, 200, 200, 200, 200],
        ),
        row(
            M::POST,
            "/api/v1/accounts",
            Some(json!({"name": "New", "owner_user_id": w.customer.id})),
            [401, 403, 403, 403, 403, 403, 403, 201],
        ),
        row(
            M::GET,
            format!("/api/v1/accounts/{p}"),
            None,
            [401, 404, 404, 404, 200, 200, 200, 200],
        ),
        row(
            M::GET,
            format!("/api/v1/accounts/{}", w.customer_account),
            None,
            [401, 200, 404, 404, 404, 404, 200, 200],
        ),
        row(
            M::GET,
            format!("/api/v1/accounts/{nobody}"),
            None,
            [401, 404, 404, 404, 404, 404, 404, 404],
        ),
        // The owner already is an owner: allowed callers get 409, which proves they passed
        // the permission check without changing anything.
        row(
            M::PUT,
            format!("/api/v1/accounts/{p}/members/{owner}"),
            Some(json!({"role": "owner"})),
            [401, 404, 404, 404, 403, 409, 403, 409],
        ),
        row(
            M::POST,
            format!("/api/v1/accounts/{p}/members"),
            Some(json!({"email": w.owner.email, "role": "owner"})),
            [401, 404, 404, 404, 403, 409, 403, 409],
        ),
        row(
            M::DELETE,
            format!("/api/v1/accounts/{p}/members/{nobody}"),
            None,
            [401, 404, 404, 404, 403, 404, 403, 404],
        ),
        row(
            M::PUT,
            format!("/api/v1/accounts/{p}/provider-application"),
            Some(crate::support::application("P")),
            [401, 404, 404, 404, 403, 409, 403, 409],
        ),
        row(
            M::POST,
            format!("/api/v1/accounts/{p}/provider-application/decision"),
            Some(json!({"decision": "approve"})),
            [401, 403, 403, 403, 403, 403, 403, 409],
        ),
        row(
            M::GET,
            "/api/v1/provider-applications",
            None,
            [401, 403, 403, 403, 403, 403, 403, 200],
        ),
        row(
            M::GET,
            format!("/api/v1/accounts/{p}/offerings"),
            None,
            [401, 404, 404, 404, 200, 200, 200, 200],
        ),
        // Offerings (management). A taken name is a 409 for those who may create.
        row(
            M::POST,
            "/api/v1/offerings",
            Some(dup_offering),
            [401, 404, 404, 404, 409, 409, 403, 409],
        ),
        row(
            M::GET,
            "/api/v1/offerings/lim-svc",
            None,
            [401, 404, 404, 404, 200, 200, 200, 200],
        ),
        row(
            M::GET,
            "/api/v1/offerings/priv-svc",
            None,
            [401, 404, 404, 404, 200, 200, 200, 200],
        ),
        row(
            M::GET,
            "/api/v1/offerings/pub-svc",
            None,
            [401, 404, 404, 404, 200, 200, 200, 200],
        ),
        row(
            M::PATCH,
            "/api/v1/offerings/lim-svc",
            Some(json!({"tags": ["widget", "beta"]})),
            [401, 404, 404, 404, 200, 200, 403, 200],
        ),
        row(
            M::PATCH,
            "/api/v1/offerings/priv-svc",
            Some(json!({"tags": ["widget"]})),
            [401, 404, 404, 404, 200, 200, 403, 200],
        ),
        row(
            M::PUT,
            "/api/v1/offerings/lim-svc/visibility",
            Some(json!({"visibility": "limited"})),
            [401, 404, 404, 404, 409, 409, 403, 409],
        ),
        row(
            M::PUT,
            "/api/v1/offerings/lim-svc/allowlist",
            Some(json!({"account_ids": [w.customer_account]})),
            [401, 404, 404, 404, 409, 409, 403, 409],
        ),
        row(
            M::POST,
            "/api/v1/offerings/lim-svc/allowlist",
            Some(json!({"account_id": w.customer_account})),
            [401, 404, 404, 404, 409, 409, 403, 409],
        ),
        row(
            M::DELETE,
            format!(
                "/api/v1/offerings/lim-svc/allowlist/{}",
                w.other_customer_account
            ),
            None,
            [401, 404, 404, 404, 404, 404, 403, 404],
        ),
        row(
            M::PUT,
            "/api/v1/offerings/lim-svc/checklist/offering_defined",
            Some(json!({"state": "complete"})),
            [401, 404, 404, 404, 409, 409, 403, 409],
        ),
        row(
            M::PUT,
            "/api/v1/offerings/lim-svc/checklist/no-such-step",
            Some(json!({"state": "complete"})),
            [401, 404, 404, 404, 404, 404, 404, 404],
        ),
        row(
            M::GET,
            "/api/v1/offerings/no-such-svc",
            None,
            [401, 404, 404, 404, 404, 404, 404, 404],
        ),
        // Audit.
        row(
            M::GET,
            "/api/v1/audit",
            None,
            [401, 200, 200, 200, 200, 200, 200, 200],
        ),
        // The review desk: this week's session for staff; every assignment for admins.
        row(
            M::GET,
            "/api/v1/review/session",
            None,
            [401, 403, 403, 403, 403, 403, 200, 200],
        ),
        row(
            M::GET,
            "/api/v1/review/assignments",
            None,
            [401, 403, 403, 403, 403, 403, 200, 403],
        ),
        row(
            M::GET,
            "/api/v1/review/assignments?all=true",
            None,
            [401, 403, 403, 403, 403, 403, 403, 200],
        ),
        row(
            M::GET,
            "/api/v1/submissions?state=approved,publication_scheduled",
            None,
            [401, 403, 403, 403, 403, 403, 403, 200],
        ),
        row(
            M::GET,
            "/api/v1/submissions?state=nonsense",
            None,
            [401, 403, 403, 403, 403, 403, 403, 422],
        ),
        row(
            M::GET,
            format!("/api/v1/submissions/{nobody}/recordings"),
            None,
            [401, 404, 404, 404, 404, 404, 404, 404],
        ),
        // Only an admin publishes. Last, because the admin's success changes the world.
        row(
            M::PUT,
            "/api/v1/offerings/lim-svc/visibility",
            Some(json!({"visibility": "public"})),
            [401, 404, 404, 404, 403, 403, 403, 200],
        ),
    ]
}

#[tokio::test]
async fn every_endpoint_for_every_role() {
    each_backend_with(without_abuse_limits, |app| async move {
        let world = World::build(app).await;
        let mut failures = Vec::new();
        for row in table(&world) {
            for (role, expected) in ROLES.into_iter().zip(row.expected) {
                // Sign-out must not end the world's tokens: tokens are not sessions, so it
                // is harmless, but use a fresh client anyway for clarity.
                let client = world.client(role);
                let mut request = client.request(row.method.clone(), &row.path);
                if let Some(body) = &row.body {
                    request = request.json(body);
                }
                let response = client.send(request).await;
                if response.status != expected {
                    failures.push(format!(
                        "{} {} as {role:?}: expected {expected}, got {} {}",
                        row.method,
                        row.path,
                        response.status,
                        String::from_utf8_lossy(&response.body)
                    ));
                }
                if response.status >= 400 {
                    assert_eq!(
                        response.header("content-type"),
                        Some("application/problem+json"),
                        "{} {} as {role:?}",
                        row.method,
                        row.path
                    );
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} mismatches on {}:\n{}",
            failures.len(),
            world.app.backend,
            failures.join("\n")
        );
    })
    .await;
}
