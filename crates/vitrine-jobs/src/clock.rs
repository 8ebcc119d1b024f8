//! Where vitrine reads the time: injected everywhere, so tests and rehearsals control it.
//!
//! The rehearsal clock (PRODUCT.md, "rehearsal"): with `--test-clock` the server reads the
//! time from a [`TestClock`], which follows the injected clock plus an offset that admins
//! move forward (the API's `/api/v1/test-clock`). It never goes back.
//!
//! The offset is the database's (`Store::test_clock_offset`), one for every server sharing
//! it: an advance is written there first, and each server catches up with it
//! ([`sync_test_clock`]) when told of the change (PostgreSQL's notices), at every scheduler
//! run, and every [`TEST_CLOCK_SYNC_EVERY`] otherwise, so an advance through one server moves
//! the others' clocks too and a restarted server resumes the rehearsal where it was.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::{SignedDuration, Timestamp};

/// Where the server reads the time. Injected so tests (and rehearsals) control it.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;

    /// The time leases (a claimed email, a check run) are measured on: the real time even in
    /// a rehearsal, so moving the test clock forward never ends a lease under way and hands
    /// the same work to a second server.
    fn lease_now(&self) -> Timestamp {
        self.now()
    }

    /// The rehearsal clock, when this is one (so the scheduler can catch it up first).
    fn as_test_clock(&self) -> Option<&TestClock> {
        None
    }
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Why the test clock did not move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    #[error("the test clock only moves forward")]
    Backwards,
    #[error("is too large")]
    TooLarge,
}

/// The injected clock moved forward by an offset (whole microseconds, as the store keeps
/// time).
pub struct TestClock {
    base: Arc<dyn Clock>,
    offset_micros: AtomicI64,
}

impl TestClock {
    pub fn new(base: Arc<dyn Clock>) -> Self {
        Self {
            base,
            offset_micros: AtomicI64::new(0),
        }
    }

    /// Moves the clock forward by `by` (not negative); returns the new time.
    pub fn advance(&self, by: SignedDuration) -> Result<Timestamp, ClockError> {
        let micros = Self::micros_forward(by)?;
        self.offset_micros
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |offset| {
                offset.checked_add(micros)
            })
            .map_err(|_| ClockError::TooLarge)?;
        Ok(self.now())
    }

    /// `by` in whole microseconds, as the offset is kept, if it moves forward.
    pub fn micros_forward(by: SignedDuration) -> Result<i64, ClockError> {
        if by.is_negative() {
            return Err(ClockError::Backwards);
        }
        i64::try_from(by.as_micros()).map_err(|_| ClockError::TooLarge)
    }

    /// Moves the clock forward to `offset_micros` ahead of the injected clock, the offset
    /// stored in the database; an older (smaller) offset changes nothing.
    pub fn catch_up(&self, offset_micros: i64) {
        self.offset_micros
            .fetch_max(offset_micros, Ordering::SeqCst);
    }

    /// How far ahead of the injected clock this one is.
    pub fn offset(&self) -> SignedDuration {
        SignedDuration::from_micros(self.offset_micros.load(Ordering::SeqCst))
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        let now = self
            .base
            .now()
            .saturating_add(self.offset())
            .unwrap_or(Timestamp::MAX);
        // Whole microseconds, so what the store reads back equals what was written.
        now.round(jiff::Unit::Microsecond).unwrap_or(now)
    }

    fn lease_now(&self) -> Timestamp {
        self.base.lease_now()
    }

    fn as_test_clock(&self) -> Option<&TestClock> {
        Some(self)
    }
}

/// How often a server catches its test clock up with the database when no notice says it
/// moved (SQLite, or a lost notice).
pub const TEST_CLOCK_SYNC_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Catches `clock` up with the offset stored in the database, if it is a test clock.
pub async fn sync_test_clock(
    store: &dyn vitrine_store::Store,
    clock: &dyn Clock,
) -> Result<(), vitrine_store::StoreError> {
    if let Some(test_clock) = clock.as_test_clock() {
        test_clock.catch_up(store.test_clock_offset().await?);
    }
    Ok(())
}

/// Keeps a test clock caught up with the database: at once when `wake` is notified (a
/// notice that it moved), else every [`TEST_CLOCK_SYNC_EVERY`], while `alive` can be
/// upgraded.
pub fn spawn_test_clock_sync<T: Send + Sync + 'static>(
    store: Arc<dyn vitrine_store::Store>,
    clock: Arc<TestClock>,
    wake: Arc<tokio::sync::Notify>,
    alive: std::sync::Weak<T>,
) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no async runtime: the test clock does not follow the database");
        return;
    };
    runtime.spawn(async move {
        loop {
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(TEST_CLOCK_SYNC_EVERY) => {}
            }
            if alive.strong_count() == 0 {
                return;
            }
            if let Err(error) = sync_test_clock(&*store, &*clock).await {
                tracing::warn!(%error, "reading the shared test clock failed; retrying");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_only_forward() {
        let clock = TestClock::new(Arc::new(SystemClock));
        let before = clock.now();
        let after = clock
            .advance(SignedDuration::from_hours(24))
            .expect("forward");
        assert!(after.duration_since(before) >= SignedDuration::from_hours(24));
        assert_eq!(
            clock.advance(SignedDuration::from_secs(-1)),
            Err(ClockError::Backwards)
        );
        assert!(clock.now() >= after);
    }
}
