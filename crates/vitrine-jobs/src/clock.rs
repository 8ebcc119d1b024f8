//! Where vitrine reads the time: injected everywhere, so tests and rehearsals control it.
//!
//! The rehearsal clock (PRODUCT.md, "rehearsal"): with `--test-clock` the server reads the
//! time from a [`TestClock`], which follows the injected clock plus an offset that admins
//! move forward (the API's `/api/v1/test-clock`). It never goes back.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::{SignedDuration, Timestamp};

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
        if by.is_negative() {
            return Err(ClockError::Backwards);
        }
        let micros = i64::try_from(by.as_micros()).map_err(|_| ClockError::TooLarge)?;
        self.offset_micros
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |offset| {
                offset.checked_add(micros)
            })
            .map_err(|_| ClockError::TooLarge)?;
        Ok(self.now())
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
