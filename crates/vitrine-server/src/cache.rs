//! Short-lived caches of answers read far more often than they change: the catalog pages
//! and who a token or session belongs to.
//!
//! Two rules keep them honest:
//! - every write through this server (any POST, PUT, PATCH or DELETE) bumps a generation
//!   counter, and an entry stored under an older generation is never served, so this
//!   server's own changes are visible at once;
//! - an entry lives at most `ttl` (default 500 ms), so a change made through another server
//!   sharing the database is visible here within that time — within the one second the
//!   product allows — without any message between servers.
//!
//! The time-to-live is measured with the monotonic clock, not the injected [`crate::Clock`]:
//! it is an operational bound on staleness, not a product date. A `ttl` of zero turns
//! caching off.

use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// Counts the writes made through this server.
#[derive(Debug, Default)]
pub(crate) struct WriteGeneration(AtomicU64);

impl WriteGeneration {
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
    fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// Middleware: bumps the generation after every request that may have written.
pub(crate) async fn bump_on_write(
    State(generation): State<Arc<WriteGeneration>>,
    request: Request,
    next: Next,
) -> Response {
    let writes = !request.method().is_safe();
    let response = next.run(request).await;
    if writes {
        generation.bump();
    }
    response
}

#[derive(Clone)]
struct Entry<V> {
    value: V,
    stored: Instant,
    generation: u64,
}

/// A bounded cache whose entries expire after `ttl` or at the next write.
pub(crate) struct ShortCache<K, V> {
    entries: Option<quick_cache::sync::Cache<K, Entry<V>>>,
    ttl: Duration,
    generation: Arc<WriteGeneration>,
}

impl<K: Eq + Hash + Clone, V: Clone> ShortCache<K, V> {
    pub fn new(capacity: usize, ttl: Duration, generation: Arc<WriteGeneration>) -> Self {
        Self {
            entries: (!ttl.is_zero()).then(|| quick_cache::sync::Cache::new(capacity)),
            ttl,
            generation,
        }
    }

    /// The generation to store a value under: read it before computing the value, so that
    /// a write racing with the computation makes the entry stale rather than wrong.
    pub fn generation(&self) -> u64 {
        self.generation.current()
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let entry = self.entries.as_ref()?.get(key)?;
        (entry.generation == self.generation.current() && entry.stored.elapsed() < self.ttl)
            .then_some(entry.value)
    }

    pub fn insert(&self, key: K, value: V, generation: u64) {
        if let Some(entries) = &self.entries {
            entries.insert(
                key,
                Entry {
                    value,
                    stored: Instant::now(),
                    generation,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_time_expire_entries() {
        let generation = Arc::new(WriteGeneration::default());
        let cache = ShortCache::new(10, Duration::from_millis(50), generation.clone());
        let g = cache.generation();
        cache.insert("k", 1, g);
        assert_eq!(cache.get(&"k"), Some(1));
        generation.bump();
        assert_eq!(cache.get(&"k"), None, "a write makes it stale");
        // A value computed before the write, stored after it, is never served.
        cache.insert("k", 2, g);
        assert_eq!(cache.get(&"k"), None);
        cache.insert("k", 3, cache.generation());
        assert_eq!(cache.get(&"k"), Some(3));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get(&"k"), None, "expired");
    }

    #[test]
    fn zero_ttl_disables() {
        let cache = ShortCache::new(10, Duration::ZERO, Arc::new(WriteGeneration::default()));
        cache.insert("k", 1, cache.generation());
        assert_eq!(cache.get(&"k"), None);
    }
}
