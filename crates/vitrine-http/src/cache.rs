//! Short-lived caches of answers read far more often than they change: the catalog pages
//! and who a token or session belongs to.
//!
//! Two rules keep them honest:
//! - every write through this server (any POST, PUT, PATCH or DELETE) bumps a generation
//!   counter, and an entry stored under an older generation is never served, so this
//!   server's own changes are visible at once;
//! - on PostgreSQL every committed change notifies the other servers (`LISTEN/NOTIFY`, see
//!   `Store::watch_changes`), which bump their generation when the notice arrives, so a
//!   change made through another server is visible here within milliseconds;
//! - an entry lives at most `ttl` (default 500 ms) whatever happens, so a notice lost with
//!   its connection still leaves a change through another server visible within that time —
//!   within the one second the product allows.
//!
//! The time-to-live is measured with the monotonic clock, not the injected `Clock`:
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
pub struct WriteGeneration(AtomicU64);

impl WriteGeneration {
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
    /// Makes every entry computed so far unreachable: after a write through this server,
    /// or when another server's change notice arrives.
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// Middleware: bumps the generation after every request that may have written.
pub async fn bump_on_write(
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

/// What an entry costs in the cache's budget (bytes for responses, 1 for small values).
pub trait Weigh {
    fn weight(&self) -> u64;
}

#[derive(Clone, Debug, Default)]
struct ByWeight;

impl<K, V: Weigh> quick_cache::Weighter<K, V> for ByWeight {
    fn weight(&self, _key: &K, value: &V) -> u64 {
        value.weight().max(1)
    }
}

/// A bounded cache whose entries are served for at most `ttl` and never after a write.
///
/// Entries are keyed by the write generation and by the `ttl`-long time slice they were
/// computed in, so a write or the end of the slice makes them unreachable (eviction then
/// reclaims them). A miss is computed once: concurrent requests for the same key wait for
/// that computation instead of all reaching the database together.
pub struct ShortCache<K, V> {
    entries: Option<quick_cache::sync::Cache<(K, u64, u64), V, ByWeight>>,
    ttl: Duration,
    started: Instant,
    generation: Arc<WriteGeneration>,
}

impl<K: Eq + Hash + Clone, V: Clone + Weigh> ShortCache<K, V> {
    /// `items` is the expected number of entries; `budget` the total weight kept.
    pub fn new(items: usize, budget: u64, ttl: Duration, generation: Arc<WriteGeneration>) -> Self {
        Self {
            entries: (!ttl.is_zero())
                .then(|| quick_cache::sync::Cache::with_weighter(items, budget, ByWeight)),
            ttl,
            started: Instant::now(),
            generation,
        }
    }

    /// The cached value for `key`, or the one `compute` gives (then cached). Errors are not
    /// cached.
    pub async fn get_or_compute<E, F>(&self, key: K, compute: impl FnOnce() -> F) -> Result<V, E>
    where
        F: Future<Output = Result<V, E>>,
    {
        let Some(entries) = &self.entries else {
            return compute().await;
        };
        // Read the generation before computing, so that a write racing with the
        // computation files the result under a generation no one asks for any more.
        let generation = self.generation.current();
        let slice = self.started.elapsed().as_nanos() / self.ttl.as_nanos().max(1);
        let slice = u64::try_from(slice).unwrap_or(u64::MAX);
        match entries
            .get_value_or_guard_async(&(key, generation, slice))
            .await
        {
            Ok(value) => Ok(value),
            Err(guard) => {
                let value = compute().await?;
                // Fails only if the entry was filled meanwhile; either value is right.
                let _ = guard.insert(value.clone());
                Ok(value)
            }
        }
    }
}

/// A serialised catalog page and its ETag.
pub type SerialisedPage = (bytes::Bytes, Arc<str>);

impl Weigh for SerialisedPage {
    fn weight(&self) -> u64 {
        u64::try_from(self.0.len()).unwrap_or(u64::MAX)
    }
}

/// What a catalog page depends on: who asks and what they ask.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CatalogKey {
    pub audience: vitrine_domain::Audience,
    pub terms: Vec<String>,
    pub category: Option<String>,
    pub tag: Option<String>,
    pub after: Option<vitrine_domain::OfferingName>,
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Weigh for u32 {
        fn weight(&self) -> u64 {
            1
        }
    }

    async fn value(cache: &ShortCache<&'static str, u32>, v: u32) -> u32 {
        cache
            .get_or_compute("k", || async move { Ok::<_, ()>(v) })
            .await
            .expect("computed")
    }

    #[tokio::test]
    async fn writes_and_time_expire_entries() {
        let generation = Arc::new(WriteGeneration::default());
        let cache = ShortCache::new(10, 10, Duration::from_millis(100), generation.clone());
        // Stay inside one time slice for the first checks.
        while cache.started.elapsed().as_millis() % 100 > 50 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(value(&cache, 1).await, 1);
        assert_eq!(value(&cache, 2).await, 1, "served from the cache");
        generation.bump();
        assert_eq!(value(&cache, 3).await, 3, "a write makes it stale");
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(value(&cache, 4).await, 4, "expired with its time slice");
    }

    #[tokio::test]
    async fn errors_are_not_cached_and_zero_ttl_disables() {
        let cache = ShortCache::new(10, 10, Duration::from_secs(60), Arc::default());
        let failed: Result<u32, &str> = cache.get_or_compute("k", || async { Err("down") }).await;
        assert_eq!(failed, Err("down"));
        assert_eq!(value(&cache, 7).await, 7);
        let off = ShortCache::new(10, 10, Duration::ZERO, Arc::default());
        assert_eq!(value(&off, 1).await, 1);
        assert_eq!(value(&off, 2).await, 2);
    }

    #[tokio::test]
    async fn a_miss_is_computed_once() {
        let cache = Arc::new(ShortCache::new(
            10,
            10,
            Duration::from_secs(60),
            Arc::default(),
        ));
        let computed = Arc::new(AtomicU64::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (cache, computed) = (cache.clone(), computed.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_compute("k", || async move {
                            computed.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            Ok::<u32, ()>(5)
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.expect("task"), Ok(5));
        }
        assert_eq!(computed.load(Ordering::SeqCst), 1);
    }
}
