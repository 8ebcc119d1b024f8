//! vitrine's HTTP server: the JSON API under `/api/v1`, authentication (session cookie or
//! bearer token), RFC 9457 problem details, the OpenAPI document, health and metrics.
//!
//! Handlers are thin: authenticate, load, call the domain function, let the store write
//! the new aggregate and its audit events, respond. Rules live in `vitrine-domain`.

use std::sync::Arc;

mod secrets;

use vitrine_domain::Timestamp;
use vitrine_store::Store;

/// Settings of the HTTP layer.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Mark the session cookie `Secure` (set when served over HTTPS).
    pub secure_cookies: bool,
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            secure_cookies: false,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// Where the server reads the time. Injected so tests (and rehearsals) control it.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// The whole HTTP application.
pub fn app(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: ServerConfig) -> axum::Router {
    let _ = (store, clock, config);
    axum::Router::new()
}

/// Why `admin bootstrap` failed.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("an admin already exists; ask them to create your user")]
    AdminExists,
    #[error("the admin's details are invalid: {0}")]
    Invalid(vitrine_domain::DomainError),
    #[error("storage failed while creating the first admin: {0}")]
    Store(#[from] vitrine_store::StoreError),
}

/// Creates the first admin and an API token for it; returns the token secret. Errors with
/// [`BootstrapError::AdminExists`] if any admin exists.
pub async fn bootstrap_admin(
    store: &dyn Store,
    clock: &dyn Clock,
    email: &str,
    display_name: &str,
) -> Result<String, BootstrapError> {
    if store.count_admins().await? > 0 {
        return Err(BootstrapError::AdminExists);
    }
    let now = clock.now();
    let input = vitrine_domain::user::NewUser {
        email: email.to_owned(),
        display_name: display_name.to_owned(),
        staff: vitrine_domain::StaffRoles {
            admin: true,
            validator: false,
        },
        ..Default::default()
    };
    let (user, created) =
        vitrine_domain::user::create_user(None, input, now).map_err(BootstrapError::Invalid)?;
    store.insert_user(&user, None, &[created]).await?;
    let (secret, hash) = secrets::new_secret();
    let token = vitrine_store::ApiToken {
        id: vitrine_domain::TokenId::generate(),
        user_id: user.id,
        name: "bootstrap".to_owned(),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };
    let issued = vitrine_domain::AuditEvent::new(None, "api_token.created", now)
        .subject_token(token.id)
        .after(&token);
    store.insert_api_token(&token, &hash, &[issued]).await?;
    Ok(secret)
}
