//! The S3 backend's upload states in the database (`s3_upload_states`, migration 0015), so
//! that every server on it resumes every upload: [`DatabaseUploadStates`], the
//! [`UploadStates`] a server binds its bucket to ([`bind_to_database`]).
//!
//! The SQL lives here, beside the recording lifecycle that uses it, and not in
//! `vitrine-store`, which has no room left under the crate size limit; it runs on the
//! store's own pools ([`Store::pools`]). Each call is one statement, with no transaction
//! around it: a state is written whole, last writer wins (see `vitrine-blob`'s S3 module on
//! two servers taking the same chunk).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use vitrine_blob::{BlobStore, StateError, StateFuture, UploadKey, UploadStates};
use vitrine_store::{Pools, Store};

/// `store`'s database keeps the uploads' states of `blobs` (a bucket; the local store keeps
/// its own on its disk).
pub fn bind_to_database(blobs: &BlobStore, store: Arc<dyn Store>) -> BlobStore {
    blobs.with_upload_states(Arc::new(DatabaseUploadStates::new(store)))
}

/// Upload states in `s3_upload_states`.
pub struct DatabaseUploadStates {
    store: Arc<dyn Store>,
}

impl DatabaseUploadStates {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

impl std::fmt::Debug for DatabaseUploadStates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseUploadStates")
            .field("backend", &self.store.backend())
            .finish()
    }
}

fn micros(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
    })
}

fn failed(action: &'static str) -> impl FnOnce(sqlx::Error) -> StateError {
    move |error| format!("cannot {action} an upload's state: {error}").into()
}

/// Runs the same statement on whichever pool the store has (the SQL is the same on both:
/// `$n` parameters, `ON CONFLICT`).
macro_rules! on_pool {
    ($pools:expr, |$pool:ident| $body:expr) => {
        match $pools {
            Pools::Sqlite($pool) => $body,
            Pools::Postgres($pool) => $body,
        }
    };
}

const LOAD: &str = "SELECT state FROM s3_upload_states WHERE upload_key = $1";
const CREATE: &str = "INSERT INTO s3_upload_states (upload_key, state, saved_at) \
                      VALUES ($1, $2, $3) ON CONFLICT (upload_key) DO NOTHING";
const SAVE: &str = "INSERT INTO s3_upload_states (upload_key, state, saved_at) \
                    VALUES ($1, $2, $3) ON CONFLICT (upload_key) \
                    DO UPDATE SET state = excluded.state, saved_at = excluded.saved_at";
const REMOVE: &str = "DELETE FROM s3_upload_states WHERE upload_key = $1";
const SAVED_BEFORE: &str =
    "SELECT upload_key FROM s3_upload_states WHERE saved_at < $1 ORDER BY upload_key";

impl UploadStates for DatabaseUploadStates {
    fn load<'a>(&'a self, key: &'a UploadKey) -> StateFuture<'a, Option<String>> {
        Box::pin(async move {
            let row: Option<(String,)> = on_pool!(self.store.pools(), |pool| {
                sqlx::query_as(LOAD)
                    .bind(key.as_str())
                    .fetch_optional(pool)
                    .await
            })
            .map_err(failed("read"))?;
            Ok(row.map(|(state,)| state))
        })
    }

    fn create<'a>(&'a self, key: &'a UploadKey, state: &'a str) -> StateFuture<'a, bool> {
        Box::pin(async move {
            let now = micros(SystemTime::now());
            let inserted = on_pool!(self.store.pools(), |pool| {
                sqlx::query(CREATE)
                    .bind(key.as_str())
                    .bind(state)
                    .bind(now)
                    .execute(pool)
                    .await
                    .map(|done| done.rows_affected())
            })
            .map_err(failed("create"))?;
            Ok(inserted == 1)
        })
    }

    fn save<'a>(&'a self, key: &'a UploadKey, state: &'a str) -> StateFuture<'a, ()> {
        Box::pin(async move {
            let now = micros(SystemTime::now());
            on_pool!(self.store.pools(), |pool| {
                sqlx::query(SAVE)
                    .bind(key.as_str())
                    .bind(state)
                    .bind(now)
                    .execute(pool)
                    .await
                    .map(drop)
            })
            .map_err(failed("save"))
        })
    }

    fn remove<'a>(&'a self, key: &'a UploadKey) -> StateFuture<'a, ()> {
        Box::pin(async move {
            on_pool!(self.store.pools(), |pool| {
                sqlx::query(REMOVE)
                    .bind(key.as_str())
                    .execute(pool)
                    .await
                    .map(drop)
            })
            .map_err(failed("remove"))
        })
    }

    fn saved_before(&self, cutoff: SystemTime) -> StateFuture<'_, Vec<UploadKey>> {
        Box::pin(async move {
            let rows: Vec<(String,)> = on_pool!(self.store.pools(), |pool| {
                sqlx::query_as(SAVED_BEFORE)
                    .bind(micros(cutoff))
                    .fetch_all(pool)
                    .await
            })
            .map_err(failed("list"))?;
            // A key that is not one (written by hand) is skipped rather than failing the sweep.
            Ok(rows
                .into_iter()
                .filter_map(|(key,)| UploadKey::new(key).ok())
                .collect())
        })
    }
}
