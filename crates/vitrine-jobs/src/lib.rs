//! vitrine's work apart from HTTP: what time causes and what a change sends.
//!
//! - [`clock`]: the injected [`Clock`] and the rehearsal [`TestClock`].
//! - [`notify`]: which emails a change causes, and to whom; rendered here, written by the
//!   store in the same transaction as the change.
//! - [`scheduler`]: the steps time causes (sessions opening, decisions released, overdue
//!   flags, publications), each safe to run on several servers at once.
//! - [`dispatcher`]: the outbox, sent through a `MailTransport` with leases and backoff.
//! - [`recordings`]: a finished upload committed as a recording (the one path every way in
//!   takes), recovery after a crash, and the sweep of what expired or was left behind.
//! - [`revisions`]: revisions of a live offering (queued for review, or published at once
//!   by the operator's rule) and appeals of a rejection, carried out with their emails.
//!
//! This crate knows nothing of HTTP: the API crate calls it with a [`Services`] and maps a
//! [`JobError`] onto a problem document.

use std::sync::Arc;

pub mod clock;
pub mod dispatcher;
mod error;
pub mod migrate;
pub mod notify;
pub mod recordings;
pub mod revisions;
pub mod scheduler;
pub mod thread;
pub mod upload_states;

pub use clock::{Clock, ClockError, SystemClock, TestClock};
pub use dispatcher::{DispatchReport, Dispatcher, DispatcherSettings, drain_outbox_once};
pub use error::{JobError, JobResult};
pub use notify::{MailSettings, Notice};
pub use vitrine_inbound::reply_address::ReplyPattern;

use vitrine_store::Store;

/// What the work needs: the database, the time, and who emails come from. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub mail: Arc<MailSettings>,
}

/// How often expired uploads are looked for.
pub const UPLOAD_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Starts the outbox dispatcher, sending through `transport` until `shutdown` resolves, and
/// the upload sweep (when recordings are stored here), until the runtime stops.
pub fn spawn_background(
    services: &Services,
    blobs: Option<&vitrine_blob::BlobStore>,
    transport: Arc<dyn vitrine_mail::MailTransport>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let dispatcher = Dispatcher::new(
        services.store.clone(),
        services.clock.clone(),
        transport,
        DispatcherSettings::default(),
    );
    // Stops after the batch under way once `shutdown` resolves; an email cut by the
    // process ending is sent again when its lease runs out (at least once).
    tokio::spawn(dispatcher.run(shutdown));
    if let Some(blobs) = blobs {
        recordings::spawn_upload_sweeper(
            services.store.clone(),
            services.clock.clone(),
            blobs.clone(),
            UPLOAD_SWEEP_EVERY,
        );
    }
}
