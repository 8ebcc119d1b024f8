//! Signed webhooks: accounts (and the marketplace) register endpoints and pick event
//! types; each change those events stand for becomes a delivery in the transaction of the
//! change (the fan-out trigger of migration 0011 on `audit_events`), delivered by
//! [`deliver::Deliverer`] per the Standard Webhooks spec ([`sign`]), in order per
//! endpoint, retried for a day, then the endpoint is disabled and its managers emailed.
//!
//! Code map: `routes` (the JSON API, merged into `vitrine-api`'s router, as
//! `vitrine-identity`'s), `store` (the SQL, on the store's pools), `deliver` (the worker),
//! `sign` (secrets and signatures, no I/O), `schema` (the OpenAPI description of every
//! event's payload). The rules are `vitrine-webhook-rules`.

pub mod deliver;
mod routes;
pub mod schema;
pub mod sign;
pub mod store;
pub mod testing;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vitrine_http::AppState;

pub use deliver::{Deliverer, DeliveryReport, DeliverySettings};
pub use routes::TAG;
pub use schema::document_webhooks;

/// The webhooks' routes, with their OpenAPI descriptions.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            routes::list_account_webhooks,
            routes::create_account_webhook
        ))
        .routes(routes!(
            routes::list_marketplace_webhooks,
            routes::create_marketplace_webhook
        ))
        .routes(routes!(
            routes::get_webhook,
            routes::update_webhook,
            routes::delete_webhook
        ))
        .routes(routes!(routes::rotate_webhook_secret))
        .routes(routes!(routes::list_webhook_deliveries))
        .routes(routes!(routes::redeliver_webhook))
}

/// Starts this server's delivery worker (when the secret key could be read), until
/// `shutdown` resolves. The operator's private-address setting is the checker's.
pub fn spawn_worker(
    state: &AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let Some(checks) = state.checks.as_ref() else {
        tracing::error!("the secret key cannot be read; webhooks are off");
        return;
    };
    let settings = DeliverySettings {
        allow_private_addresses: state.config.checks.policy.allow_private_addresses,
        ..DeliverySettings::default()
    };
    match Deliverer::new(state.services.clone(), checks.sealer().clone(), settings) {
        Ok(deliverer) => {
            tokio::spawn(deliverer.run(shutdown));
        }
        Err(error) => tracing::error!(%error, "webhooks are off"),
    }
}
