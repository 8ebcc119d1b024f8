//! The HTTP layer every route stands on: the state handlers reach ([`AppState`]),
//! authentication (session cookie or bearer token → `Caller`), request extractors that
//! answer with problem documents, RFC 9457 problem details, paging, the short-lived caches,
//! secrets and password hashing, and metrics. No route lives here: the JSON API's are in
//! `vitrine-api`, the pages' in `vitrine-web`.

use std::sync::Arc;

pub mod auth;
pub mod cache;
pub mod extract;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod paging;
pub mod problem;
pub mod secrets;
pub mod shutdown;

use vitrine_jobs::{Clock, Services, TestClock};
use vitrine_store::Store;

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
    /// Where recordings and partial uploads are kept (the binary passes `<data_dir>/blobs`),
    /// unless `recording_store` is given.
    pub blob_dir: std::path::PathBuf,
    /// The recording store, when the caller opened one (the binary's S3 bucket, probed at
    /// start-up); `None`: files under `blob_dir`.
    pub recording_store: Option<vitrine_blob::BlobStore>,
    /// Largest demo recording accepted, in bytes; refused before its bytes are kept. Upload
    /// routes have this limit instead of `max_body_bytes`.
    pub max_recording_bytes: u64,
    /// The From address of the emails the server writes (`vitrine <noreply@example.com>`).
    pub mail_from: String,
    /// The server's public address, for the links in emails.
    pub public_url: String,
    /// The inbound address pattern for replies (`reply+{key}@mail.example.com`); `None`:
    /// emails carry no reply address (the default).
    pub reply_to: Option<vitrine_jobs::ReplyPattern>,
    /// Rehearsal: read the time from a test clock that admins move forward through the API
    /// (`/api/v1/test-clock`). Off in production.
    pub test_clock: bool,
    /// How often the review scheduler runs its due steps; `None`: never on its own (tests,
    /// which run steps through the test clock or by hand).
    pub scheduler_interval: Option<std::time::Duration>,
    /// The key that seals broker passwords at rest; `None`: `secret.key` beside `blob_dir`
    /// (made on first start).
    pub secret_key_file: Option<std::path::PathBuf>,
    /// How the prerequisite checks run (limits against a hostile broker, the marketplace's
    /// authorization endpoint for step 4, the lease).
    pub checks: vitrine_checks::CheckSettings,
    /// Abuse limits (sign-in, sign-up, confirmation and password emails).
    pub limits: limits::LimitSettings,
    /// The reverse proxies whose `X-Forwarded-For` names the client (empty: the client is
    /// the connection's peer).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Which changes of a live offering's revision need the go-live review (the others
    /// publish at once); default: plans and pricing, and the broker settings.
    pub revision_review: vitrine_domain::revision::ReviewRule,
    /// How many days after a rejection is released the provider may appeal it (once).
    pub appeal_days: u32,
    /// Set when the server starts shutting down (SIGTERM): `/readyz` then answers 503 and
    /// the background work stops after what it is doing.
    pub draining: shutdown::Draining,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            secure_cookies: false,
            max_body_bytes: 1024 * 1024,
            cache_ttl: std::time::Duration::from_millis(500),
            blob_dir: std::path::PathBuf::from("./vitrine-data/blobs"),
            recording_store: None,
            max_recording_bytes: 2 * 1024 * 1024 * 1024,
            mail_from: "vitrine <vitrine@localhost>".to_owned(),
            public_url: "http://127.0.0.1:8080".to_owned(),
            reply_to: None,
            test_clock: false,
            scheduler_interval: Some(std::time::Duration::from_secs(30)),
            secret_key_file: None,
            checks: vitrine_checks::CheckSettings::default(),
            limits: limits::LimitSettings::default(),
            trusted_proxies: Vec::new(),
            revision_review: vitrine_domain::revision::ReviewRule::default(),
            appeal_days: vitrine_domain::appeal::DEFAULT_APPEAL_DAYS,
            draining: shutdown::Draining::default(),
        }
    }
}

/// What every handler can reach. The database is the only state shared between server
/// instances; the caches here hold answers for at most `ServerConfig::cache_ttl`.
/// Dereferences to the [`Services`] the work of `vitrine-jobs` takes (store, clock, mail).
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub config: Arc<ServerConfig>,
    pub caches: Arc<Caches>,
    /// Recordings on disk or in a bucket; `None` if the blob directory could not be opened
    /// (logged at start-up; upload and recording routes then answer 503).
    pub blobs: Option<vitrine_blob::BlobStore>,
    /// The rehearsal clock, when `ServerConfig::test_clock` is on (it is then `clock` too).
    pub test_clock: Option<Arc<TestClock>>,
    /// The prerequisite checks; `None` if the secret key could not be read (logged at
    /// start-up; the broker and check routes then answer 503).
    pub checks: Option<vitrine_checks::Checks>,
    /// Abuse limits, counted in this server's memory.
    pub limits: limits::Limiters,
}

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.services
    }
}

/// The short-lived caches (see [`cache`]).
pub struct Caches {
    /// Catalog pages, serialised, with their ETag.
    pub catalog: cache::ShortCache<cache::CatalogKey, cache::SerialisedPage>,
    /// Who a token or session belongs to, by the hash of its secret.
    /// The expiry is the session's, by the injected clock (tokens have none).
    pub callers: cache::ShortCache<(bool, vitrine_store::SecretHash), auth::Authenticated>,
    /// Published versions of the demo requirements, by version: a version never changes once
    /// published (a change is a new version), so these need no time limit.
    pub requirement_sets: quick_cache::sync::Cache<u32, vitrine_domain::review::RequirementSet>,
}

impl AppState {
    /// The state of one server: its caches (keyed by the returned write generation, which
    /// [`cache::bump_on_write`] must advance after every write), the recording store, and
    /// the test clock when `config.test_clock` is on (then it is the state's clock too).
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: ServerConfig,
    ) -> (Self, Arc<cache::WriteGeneration>) {
        metrics::init();
        let generation = Arc::new(cache::WriteGeneration::default());
        let caches = Caches {
            // Up to 64 MiB of serialised catalog pages, and 10,000 callers.
            catalog: cache::ShortCache::new(4096, 64 << 20, config.cache_ttl, generation.clone()),
            callers: cache::ShortCache::new(10_000, 10_000, config.cache_ttl, generation.clone()),
            requirement_sets: quick_cache::sync::Cache::new(64),
        };
        let blobs = match config.recording_store.clone() {
            Some(store) => Ok(store),
            None => vitrine_blob::LocalBlobStore::open(&config.blob_dir).map(Into::into),
        };
        let blobs = match blobs {
            // A bucket's uploads stand in this server's database, shared by every server.
            Ok(blobs) => Some(vitrine_jobs::upload_states::bind_to_database(
                &blobs,
                store.clone(),
            )),
            Err(error) => {
                tracing::error!(%error, "the recording store cannot be opened; uploads are refused");
                None
            }
        };
        let test_clock = config
            .test_clock
            .then(|| Arc::new(TestClock::new(clock.clone())));
        let clock: Arc<dyn Clock> = match &test_clock {
            Some(test_clock) => test_clock.clone(),
            None => clock,
        };
        let mail = Arc::new(vitrine_jobs::MailSettings {
            from: config.mail_from.clone(),
            base_url: config.public_url.clone(),
            marketplace_name: "vitrine".to_owned(),
            reply_to: config.reply_to.clone(),
        });
        let services = Services { store, clock, mail };
        let key_file = config
            .secret_key_file
            .clone()
            .unwrap_or_else(|| config.blob_dir.with_file_name("secret.key"));
        let checks = match vitrine_checks::Sealer::from_file_or_create(&key_file) {
            Ok(sealer) => Some(vitrine_checks::Checks::new(
                services.clone(),
                sealer,
                config.checks.clone(),
            )),
            Err(error) => {
                tracing::error!(%error, "the secret key cannot be read; broker checks are off");
                None
            }
        };
        let limits = limits::Limiters::new(&config.limits, services.clock.clone());
        let state = AppState {
            services,
            checks,
            limits,
            test_clock,
            config: Arc::new(config),
            caches: Arc::new(caches),
            blobs,
        };
        (state, generation)
    }
}
