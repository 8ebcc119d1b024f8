//! vitrine's JSON API under `/api/v1`: one module per resource, every route with its
//! OpenAPI description (`router.rs`); people and sign-in (and what the operator does without
//! a request: the first admin, tokens, password links) are `vitrine-identity`'s, merged in.
//!
//! Handlers are thin: authenticate, load, call the domain function, let the store write
//! the new aggregate and its audit events, respond. Rules live in `vitrine-domain`; what
//! happens apart from a request (scheduler, emails, recordings) in `vitrine-jobs`; the HTTP
//! plumbing every route uses (state, authentication, problems, caches) in `vitrine-http`.

use std::sync::Arc;

mod accounts;
mod agenda;
mod audit;
mod catalog;
mod checks;
mod common;
mod inbound;
mod offerings;
mod ops;
mod outbox;
mod review;
mod router;
mod submissions;
mod test_clock;
mod uploads;

use axum::Extension;
use vitrine_http::cache::WriteGeneration;
use vitrine_jobs::Clock;
use vitrine_store::Store;

pub use vitrine_http::{AppState, ServerConfig};
pub use vitrine_identity::{BootstrapError, bootstrap_admin, issue_api_token, password_link};

/// The JSON API, ready to serve: its routes with their state and OpenAPI document, the
/// state (for the work started beside it), and the write generation the caches are keyed by
/// (the `vitrine_http::cache::bump_on_write` middleware must wrap every route that writes).
pub struct Api {
    pub router: axum::Router,
    pub state: AppState,
    pub generation: Arc<WriteGeneration>,
}

impl Api {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: ServerConfig) -> Self {
        let (state, generation) = AppState::new(store, clock, config);
        let (router, mut openapi) = router::router().split_for_parts();
        vitrine_webhooks::document_webhooks(&mut openapi);
        let document = match vitrine_http::openapi::finish(openapi) {
            Ok(json) => json,
            Err(error) => {
                tracing::error!(%error, "the OpenAPI document could not be serialised");
                String::from("{}")
            }
        };
        let router = router
            // Refusals in the language the request asks for (`Accept-Language`), also when
            // the pages call in process with the reader's language.
            .layer(axum::middleware::from_fn(
                vitrine_http::problem::negotiate_language,
            ))
            .layer(Extension(ops::OpenApiDocument(document.into())))
            .with_state(state.clone());
        Self {
            router,
            state,
            generation,
        }
    }
}
