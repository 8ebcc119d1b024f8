//! vitrine's HTTP server: the JSON API under `/api/v1`, authentication (session cookie or
//! bearer token), RFC 9457 problem details, the OpenAPI document, health and metrics.
//!
//! Handlers are thin: authenticate, load, call the domain function, let the store write
//! the new aggregate and its audit events, respond. Rules live in `vitrine-domain`.

use std::sync::Arc;

mod api;
mod auth;
mod cache;
mod clock;
mod dispatcher;
mod extract;
mod metrics;
mod notify;
mod problem;
mod scheduler;
mod secrets;
mod web;

use axum::Extension;
use axum::extract::DefaultBodyLimit;
use vitrine_domain::Timestamp;
use vitrine_store::Store;

pub use api::uploads::{UPLOAD_TTL, spawn_upload_sweeper, sweep_expired_uploads};
pub use dispatcher::{DispatchReport, Dispatcher, DispatcherSettings, drain_outbox_once};

/// Settings of the HTTP layer.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Mark the session cookie `Secure` (set when served over HTTPS).
    pub secure_cookies: bool,
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// How long catalog pages and token/session lookups are reused, at most. Writes
    /// through this server end reuse at once; through another server sharing the
    /// database, after this long. Zero turns the caches off.
    pub cache_ttl: std::time::Duration,
    /// Where recordings and partial uploads are kept (the binary passes `<data_dir>/blobs`).
    pub blob_dir: std::path::PathBuf,
    /// Largest demo recording accepted, in bytes; refused before its bytes are kept. Upload
    /// routes have this limit instead of `max_body_bytes`.
    pub max_recording_bytes: u64,
    /// The From address of the emails the server writes (`vitrine <noreply@example.com>`).
    pub mail_from: String,
    /// The server's public address, for the links in emails.
    pub public_url: String,
    /// Rehearsal: read the time from a test clock that admins move forward through the API
    /// (`/api/v1/test-clock`). Off in production.
    pub test_clock: bool,
    /// How often the review scheduler runs its due steps; `None`: never on its own (tests,
    /// which run steps through the test clock or by hand).
    pub scheduler_interval: Option<std::time::Duration>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            secure_cookies: false,
            max_body_bytes: 1024 * 1024,
            cache_ttl: std::time::Duration::from_millis(500),
            blob_dir: std::path::PathBuf::from("./vitrine-data/blobs"),
            max_recording_bytes: 2 * 1024 * 1024 * 1024,
            mail_from: "vitrine <vitrine@localhost>".to_owned(),
            public_url: "http://127.0.0.1:8080".to_owned(),
            test_clock: false,
            scheduler_interval: Some(std::time::Duration::from_secs(30)),
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

/// What every handler can reach. The database is the only state shared between server
/// instances; the caches here hold answers for at most `ServerConfig::cache_ttl`.
#[derive(Clone)]
pub(crate) struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<ServerConfig>,
    pub caches: Arc<Caches>,
    /// Recordings on disk; `None` if the blob directory could not be opened (logged at
    /// start-up; upload and recording routes then answer 503).
    pub blobs: Option<vitrine_blob::LocalBlobStore>,
    /// The rehearsal clock, when `ServerConfig::test_clock` is on (it is then `clock` too).
    pub test_clock: Option<Arc<clock::TestClock>>,
    /// Who emails come from and where their links lead.
    pub mail: Arc<notify::MailSettings>,
}

/// The short-lived caches (see [`cache`]).
pub(crate) struct Caches {
    /// Catalog pages, serialised, with their ETag.
    pub catalog: cache::ShortCache<api::catalog::CatalogKey, api::catalog::SerialisedPage>,
    /// Who a token or session belongs to, by the hash of its secret.
    /// The expiry is the session's, by the injected clock (tokens have none).
    pub callers: cache::ShortCache<(bool, vitrine_store::SecretHash), auth::Authenticated>,
    /// Published versions of the demo requirements, by version: a version never changes once
    /// published (a change is a new version), so these need no time limit.
    pub requirement_sets: quick_cache::sync::Cache<u32, vitrine_domain::review::RequirementSet>,
}

/// The whole HTTP application.
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
    metrics::init();
    let max_body_bytes = config.max_body_bytes;
    let generation = Arc::new(cache::WriteGeneration::default());
    let caches = Caches {
        // Up to 64 MiB of serialised catalog pages, and 10,000 callers.
        catalog: cache::ShortCache::new(4096, 64 << 20, config.cache_ttl, generation.clone()),
        callers: cache::ShortCache::new(10_000, 10_000, config.cache_ttl, generation.clone()),
        requirement_sets: quick_cache::sync::Cache::new(64),
    };
    let blobs = match vitrine_blob::LocalBlobStore::open(&config.blob_dir) {
        Ok(blobs) => Some(blobs),
        Err(error) => {
            tracing::error!(%error, "the recording store cannot be opened; uploads are refused");
            None
        }
    };
    let test_clock = config
        .test_clock
        .then(|| Arc::new(clock::TestClock::new(clock.clone())));
    let clock: Arc<dyn Clock> = match &test_clock {
        Some(test_clock) => test_clock.clone(),
        None => clock,
    };
    let mail = Arc::new(notify::MailSettings {
        from: config.mail_from.clone(),
        base_url: config.public_url.clone(),
        marketplace_name: "vitrine".to_owned(),
    });
    let scheduler_interval = config.scheduler_interval;
    let state = AppState {
        store,
        clock,
        test_clock,
        mail,
        config: Arc::new(config),
        caches: Arc::new(caches),
        blobs,
    };
    if let Some(interval) = scheduler_interval {
        scheduler::spawn(&state, interval);
    }
    if let Some(transport) = transport {
        spawn_background(&state, transport);
    }
    let (router, mut openapi) = api::router().split_for_parts();
    api::document_common_problems(&mut openapi);
    let document = match serde_json::to_string(&openapi) {
        Ok(json) => json,
        Err(error) => {
            tracing::error!(%error, "the OpenAPI document could not be serialised");
            String::from("{}")
        }
    };
    let api = router
        .layer(Extension(api::ops::OpenApiDocument(document.into())))
        .with_state(state.clone());
    // The pages call the API in process; a broken template or translation file is a
    // build mistake that the tests catch, so here it only costs the pages, not the API.
    let mut app = api.clone();
    let mut web = None;
    match web::router(state, api) {
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
        .method_not_allowed_fallback(|| async {
            problem::ApiError::new(
                problem::ProblemKind::MethodNotAllowed,
                "this path does not take this method",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            generation,
            cache::bump_on_write,
        ))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(tower_http::trace::TraceLayer::new_for_http());
    match web {
        // Error pages (a handler's `WebError`, an unknown path in a browser) are rendered
        // outside the routes, so the fallback gets them too.
        Some(web) => app.layer(axum::middleware::from_fn_with_state(
            web,
            web::render_errors,
        )),
        None => app,
    }
}

/// An unknown path: a page for a browser, a problem document for an API client.
async fn not_found(
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if web::wants_html(&headers) && !uri.path().starts_with("/api/") {
        return web::WebError::NotFound.into_response();
    }
    problem::ApiError::not_found().into_response()
}

/// How often expired uploads are looked for.
const UPLOAD_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Starts the outbox dispatcher and the upload sweep; both run until the runtime stops
/// (an email being sent when it stops is sent again after its lease: at least once).
fn spawn_background(state: &AppState, mail: Arc<dyn vitrine_mail::MailTransport>) {
    let dispatcher = Dispatcher::new(
        state.store.clone(),
        state.clock.clone(),
        mail,
        DispatcherSettings::default(),
    );
    tokio::spawn(dispatcher.run(std::future::pending()));
    if let Some(blobs) = &state.blobs {
        spawn_upload_sweeper(
            state.store.clone(),
            state.clock.clone(),
            blobs.clone(),
            UPLOAD_SWEEP_EVERY,
        );
    }
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
    #[error("no user has the email address {0}")]
    UnknownUser(String),
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
    let created = api::me::issue_token(store, None, user.id, "bootstrap".to_owned(), now).await?;
    Ok(created.secret)
}

/// Issues an API token for `user` on the operator's behalf (command line, benchmarks);
/// returns the secret, shown once. The audit log records no acting user.
pub async fn issue_api_token(
    store: &dyn Store,
    clock: &dyn Clock,
    user: vitrine_domain::UserId,
    name: &str,
) -> Result<String, vitrine_store::StoreError> {
    let created = api::me::issue_token(store, None, user, name.to_owned(), clock.now()).await?;
    Ok(created.secret)
}

/// A one-time link for the user with `email` to choose a password: the same link (and
/// lifetime, one hour) as an emailed password reset, printed by the command line so that the
/// first admin, created without a password, can sign in to the web pages. Audited like a
/// reset request.
pub async fn password_link(
    store: &dyn Store,
    clock: &dyn Clock,
    email: &str,
    public_url: &str,
) -> Result<String, BootstrapError> {
    let address =
        vitrine_domain::user::Email::parse("email", email).map_err(BootstrapError::Invalid)?;
    let Some((user, _)) = store.user_by_email(&address).await? else {
        return Err(BootstrapError::UnknownUser(email.to_owned()));
    };
    let (token, event) = vitrine_domain::auth::issue_token(
        vitrine_domain::auth::TokenPurpose::ResetPassword,
        &user,
        clock.now(),
    );
    let (secret, hash) = secrets::new_secret();
    store
        .insert_one_time_token(&vitrine_store::IssuedToken { hash, token }, &[event], &[])
        .await?;
    Ok(format!(
        "{}/reset-password?token={secret}",
        public_url.trim_end_matches('/')
    ))
}
