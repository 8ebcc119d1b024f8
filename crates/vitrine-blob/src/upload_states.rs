//! Where the S3 backend keeps an upload's state between requests ([`UploadStates`]): the
//! multipart upload's id, the parts stored, the running hash, the offset. A server keeps
//! nothing of an upload in memory between requests, so this is what lets any server take
//! the next chunk. `vitrine-jobs` keeps it in the database (`s3_upload_states`), shared by
//! every server, one row read and one written per request; [`MemoryUploadStates`] keeps it
//! in this process, for one process's own work (the tests, a tool's single streamed
//! upload) before it is bound to a database.
//!
//! The state is opaque text to its keeper (the S3 backend's JSON); the keeper notes when it
//! was saved, which is how abandoned uploads are found.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::key::UploadKey;

/// Why an upload's state could not be read or written.
pub type StateError = Box<dyn std::error::Error + Send + Sync>;
/// What an [`UploadStates`] call returns.
pub type StateFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StateError>> + Send + 'a>>;

/// A keeper of upload states, by upload key. Writes are last-writer-wins, as the bucket's
/// own objects are (see the S3 module on two servers taking the same chunk).
pub trait UploadStates: Send + Sync + std::fmt::Debug {
    /// The state saved for `key`, if any.
    fn load<'a>(&'a self, key: &'a UploadKey) -> StateFuture<'a, Option<String>>;
    /// Saves a new upload's first state: `false` (and nothing written) if `key` has one.
    fn create<'a>(&'a self, key: &'a UploadKey, state: &'a str) -> StateFuture<'a, bool>;
    /// Replaces `key`'s state (a request committing what it stored).
    fn save<'a>(&'a self, key: &'a UploadKey, state: &'a str) -> StateFuture<'a, ()>;
    /// Forgets `key`'s state; nothing if it has none.
    fn remove<'a>(&'a self, key: &'a UploadKey) -> StateFuture<'a, ()>;
    /// The uploads whose state was last saved before `cutoff`, sorted.
    fn saved_before(&self, cutoff: SystemTime) -> StateFuture<'_, Vec<UploadKey>>;
}

/// States in this process's memory; clones share them.
#[derive(Clone, Debug, Default)]
pub struct MemoryUploadStates {
    states: Arc<Mutex<BTreeMap<UploadKey, (String, SystemTime)>>>,
}

impl MemoryUploadStates {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<UploadKey, (String, SystemTime)>) -> T,
    ) -> Result<T, StateError> {
        let mut states = self
            .states
            .lock()
            .map_err(|_| "the upload states' lock is poisoned")?;
        Ok(f(&mut states))
    }
}

impl UploadStates for MemoryUploadStates {
    fn load<'a>(&'a self, key: &'a UploadKey) -> StateFuture<'a, Option<String>> {
        Box::pin(async move { self.with(|states| states.get(key).map(|(state, _)| state.clone())) })
    }

    fn create<'a>(&'a self, key: &'a UploadKey, state: &'a str) -> StateFuture<'a, bool> {
        Box::pin(async move {
            self.with(|states| match states.contains_key(key) {
                true => false,
                false => {
                    states.insert(key.clone(), (state.to_owned(), SystemTime::now()));
                    true
                }
            })
        })
    }

    fn save<'a>(&'a self, key: &'a UploadKey, state: &'a str) -> StateFuture<'a, ()> {
        Box::pin(async move {
            self.with(|states| {
                states.insert(key.clone(), (state.to_owned(), SystemTime::now()));
            })
        })
    }

    fn remove<'a>(&'a self, key: &'a UploadKey) -> StateFuture<'a, ()> {
        Box::pin(async move {
            self.with(|states| {
                states.remove(key);
            })
        })
    }

    fn saved_before(&self, cutoff: SystemTime) -> StateFuture<'_, Vec<UploadKey>> {
        Box::pin(async move {
            self.with(|states| {
                states
                    .iter()
                    .filter(|(_, (_, saved))| *saved < cutoff)
                    .map(|(key, _)| key.clone())
                    .collect()
            })
        })
    }
}
