//! The rehearsal clock (PRODUCT.md, "rehearsal"): with `ServerConfig::test_clock` the
//! server reads the time from a [`TestClock`], which follows the injected clock plus an
//! offset that admins move forward through the API. It never goes back.
//!
//! Off by default; then `GET /api/v1/test-clock` and `POST /api/v1/test-clock/advance`
//! answer 409 `conflict` ("the test clock is disabled"), so a production server's time
//! cannot be moved.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Json;
use axum::extract::State;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::auth::SignedIn;
use crate::extract::ApiJson;
use crate::problem::{ApiError, ApiResult, Problem, ProblemKind};
use crate::scheduler::{self, StepReport};
use crate::{AppState, Clock};

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
    pub fn advance(&self, by: SignedDuration) -> Result<Timestamp, ApiError> {
        if by.is_negative() {
            return Err(ApiError::invalid_field(
                "seconds",
                "the test clock only moves forward",
            ));
        }
        let micros = i64::try_from(by.as_micros())
            .map_err(|_| ApiError::invalid_field("seconds", "is too large"))?;
        self.offset_micros
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |offset| {
                offset.checked_add(micros)
            })
            .map_err(|_| ApiError::invalid_field("seconds", "is too large"))?;
        Ok(self.now())
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        let offset = SignedDuration::from_micros(self.offset_micros.load(Ordering::SeqCst));
        let now = self
            .base
            .now()
            .saturating_add(offset)
            .unwrap_or(Timestamp::MAX);
        // Whole microseconds, so what the store reads back equals what was written.
        now.round(jiff::Unit::Microsecond).unwrap_or(now)
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestClockView {
    #[schema(value_type = String, format = DateTime)]
    pub now: Timestamp,
    /// How far the test clock is ahead of the server's real clock, in seconds.
    pub offset_seconds: f64,
}

/// Move the test clock forward: by `seconds`, or to the instant `to`. Exactly one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvanceClock {
    pub seconds: Option<i64>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub to: Option<Timestamp>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AdvanceResult {
    pub clock: TestClockView,
    /// The scheduler steps run at the new time.
    pub steps: Vec<StepReport>,
}

fn enabled(state: &AppState, caller: &crate::auth::Caller) -> ApiResult<Arc<TestClock>> {
    if !caller.actor.is_admin() {
        return Err(ApiError::new(
            ProblemKind::Forbidden,
            "only admins read and move the test clock",
        ));
    }
    state.test_clock.clone().ok_or_else(|| {
        ApiError::new(
            ProblemKind::Conflict,
            "the test clock is disabled; start the server with --test-clock to rehearse",
        )
    })
}

fn view(clock: &TestClock) -> TestClockView {
    let offset = SignedDuration::from_micros(clock.offset_micros.load(Ordering::SeqCst));
    TestClockView {
        now: clock.now(),
        offset_seconds: offset.as_secs_f64(),
    }
}

/// The test clock (admins; only on a server started with the test clock).
#[utoipa::path(get, path = "/api/v1/test-clock", tag = crate::api::review::TAG,
    responses((status = 200, body = TestClockView), (status = 403, response = Problem),
        (status = 409, response = Problem)))]
pub async fn get_test_clock(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
) -> ApiResult<Json<TestClockView>> {
    let clock = enabled(&state, &caller)?;
    Ok(Json(view(&clock)))
}

/// Moves the test clock forward and runs every scheduler step then due (admins; only on a
/// server started with the test clock).
#[utoipa::path(post, path = "/api/v1/test-clock/advance", tag = crate::api::review::TAG,
    request_body = AdvanceClock,
    responses((status = 200, body = AdvanceResult), (status = 403, response = Problem),
        (status = 409, response = Problem)))]
pub async fn advance_test_clock(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiJson(input): ApiJson<AdvanceClock>,
) -> ApiResult<Json<AdvanceResult>> {
    let clock = enabled(&state, &caller)?;
    let by = match (input.seconds, input.to) {
        (Some(seconds), None) => SignedDuration::from_secs(seconds),
        (None, Some(to)) => {
            let by = to.duration_since(clock.now());
            if by.is_negative() {
                return Err(ApiError::invalid_field(
                    "to",
                    "is in the past; the test clock only moves forward",
                ));
            }
            by
        }
        _ => {
            return Err(ApiError::invalid_field(
                "seconds",
                "give either seconds or to, not both or neither",
            ));
        }
    };
    clock.advance(by)?;
    let steps = scheduler::run_due(&state).await?;
    Ok(Json(AdvanceResult {
        clock: view(&clock),
        steps,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemClock;

    #[test]
    fn moves_only_forward() {
        let clock = TestClock::new(Arc::new(SystemClock));
        let before = clock.now();
        let after = clock
            .advance(SignedDuration::from_hours(24))
            .expect("forward");
        assert!(after.duration_since(before) >= SignedDuration::from_hours(24));
        assert!(clock.advance(SignedDuration::from_secs(-1)).is_err());
        assert!(clock.now() >= after);
    }
}
