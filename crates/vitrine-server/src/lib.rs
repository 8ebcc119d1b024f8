//! The assembled HTTP application: the JSON API (`vitrine-api`) and the web pages
//! (`vitrine-web`) on one router, with the middleware every request passes, and the work
//! that runs beside them (`vitrine-jobs`). It decides nothing; it wires.

use std::sync::Arc;

mod inbound;

pub use inbound::{IngestHandler, spawn_imap_ingest};

use axum::extract::DefaultBodyLimit;
use vitrine_api::Api;
use vitrine_http::problem::ApiError;
use vitrine_http::{cache, metrics};
use vitrine_store::{Change, Store};

pub use vitrine_api::{
    BootstrapError, ServerConfig, bootstrap_admin, issue_api_token, password_link,
};
pub use vitrine_jobs::ReplyPattern;
pub use vitrine_jobs::recordings::{UPLOAD_TTL, spawn_upload_sweeper, sweep_expired_uploads};
pub use vitrine_jobs::{
    Clock, DispatchReport, Dispatcher, DispatcherSettings, SystemClock, drain_outbox_once,
};

/// The whole HTTP application. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()`: the abuse limits count per client
/// address, and without the connection's address a request is not counted.
pub fn app(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: ServerConfig) -> axum::Router {
    build(store, clock, config, None)
}

/// The application with its background work on the application's clock (the test clock
/// with `ServerConfig::test_clock`): the outbox dispatcher, sending through `mail`, and the
/// sweep of expired uploads. What `vitrine serve` runs; tests use [`app`] and drive both by
/// hand ([`Dispatcher::drain_once`], [`sweep_expired_uploads`]).
pub fn app_with_mail(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: ServerConfig,
    mail: Arc<dyn vitrine_mail::MailTransport>,
) -> axum::Router {
    build(store, clock, config, Some(mail))
}

fn build(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: ServerConfig,
    transport: Option<Arc<dyn vitrine_mail::MailTransport>>,
) -> axum::Router {
    let max_body_bytes = config.max_body_bytes;
    let trusted_proxies: Arc<[ipnet::IpNet]> = config.trusted_proxies.clone().into();
    let Api {
        router: api,
        state,
        generation,
    } = Api::new(store, clock, config);
    if let Some(interval) = state.config.scheduler_interval {
        // Ticks until the router (which holds the state's config) is dropped.
        vitrine_jobs::scheduler::spawn(&state.services, interval, Arc::downgrade(&state.config));
    }
    if let Some(transport) = transport {
        follow_other_servers(&state, generation.clone());
        vitrine_jobs::spawn_background(
            &state.services,
            state.blobs.as_ref(),
            transport,
            state.config.draining.started(),
        );
        // Keys of the abuse limits that have fully recovered are forgotten, so a flood of
        // addresses cannot grow them for ever.
        let limits = state.limits.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
            loop {
                every.tick().await;
                limits.forget_recovered();
            }
        });
        if let Some(checks) = state.checks.clone() {
            // Takes no new run once draining starts; a run cut by the process ending is
            // interrupted by its lease and cleaned up on the broker.
            tokio::spawn(checks.run(state.config.draining.started()));
        }
        // Stops after the deliveries under way once draining starts; one cut by the
        // process ending is sent again when its lease runs out (same `webhook-id`).
        vitrine_webhooks::spawn_worker(&state, state.config.draining.started());
    }
    // The pages call the API in process; a broken template or translation file is a
    // build mistake that the tests catch, so here it only costs the pages, not the API.
    let settings = vitrine_web::WebSettings {
        secure_cookies: state.config.secure_cookies,
        cache_ttl: state.config.cache_ttl,
        generation: generation.clone(),
    };
    let mut app = api.clone();
    let mut web = None;
    match vitrine_web::router(settings, api) {
        Ok((pages, pages_state)) => {
            app = app.merge(pages);
            web = Some(pages_state);
        }
        Err(error) => {
            tracing::error!(%error, "the web interface cannot start; only the API is served");
        }
    }
    let app = app
        .fallback(not_found)
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        // Problems answered outside the API's routes (the fallbacks) in the request's
        // language too; the API's router has the same layer for the pages' calls.
        .layer(axum::middleware::from_fn(
            vitrine_http::problem::negotiate_language,
        ))
        .layer(axum::middleware::from_fn_with_state(
            generation,
            cache::bump_on_write,
        ))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(axum::middleware::from_fn_with_state(
            trusted_proxies,
            vitrine_http::limits::client_address,
        ))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(tower_http::trace::TraceLayer::new_for_http());
    match web {
        // Error pages (a handler's `WebError`, an unknown path in a browser) are rendered
        // outside the routes, so the fallback gets them too.
        Some(web) => app.layer(axum::middleware::from_fn_with_state(
            web,
            vitrine_web::render_errors,
        )),
        None => app,
    }
}

/// What makes several servers on one database act as one: the test clock follows the
/// database's offset, and the caches forget what another server's change notice
/// (PostgreSQL) may have made stale. Both stop once the application is dropped.
fn follow_other_servers(state: &vitrine_http::AppState, generation: Arc<cache::WriteGeneration>) {
    let clock_moved = Arc::new(tokio::sync::Notify::new());
    if let Some(test_clock) = &state.test_clock {
        vitrine_jobs::clock::spawn_test_clock_sync(
            state.services.store.clone(),
            test_clock.clone(),
            clock_moved.clone(),
            Arc::downgrade(&state.config),
        );
        // A restarted server resumes the rehearsal at once, not a second later.
        clock_moved.notify_one();
    }
    let alive = Arc::downgrade(&state.config);
    let store = state.services.store.clone();
    tokio::spawn(async move {
        let on_change: vitrine_store::ChangeHandler = Arc::new(move |change: Change| {
            if alive.strong_count() == 0 {
                return false;
            }
            if matches!(change, Change::Write | Change::Missed) {
                generation.bump();
            }
            if matches!(change, Change::Clock | Change::Missed) {
                clock_moved.notify_one();
            }
            true
        });
        match store.watch_changes(on_change).await {
            Ok(true) => {
                tracing::info!("listening for the changes made outside this server's requests")
            }
            Ok(false) => {}
            // The caches' time-to-live still bounds what this server serves stale.
            Err(error) => tracing::warn!(%error, "cannot listen for the other servers' changes"),
        }
    });
}

/// An unknown path: a page for a browser, a problem document for an API client.
async fn not_found(
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if vitrine_web::wants_html(&headers) && !uri.path().starts_with("/api/") {
        return vitrine_web::WebError::NotFound.into_response();
    }
    ApiError::not_found().into_response()
}
