//! The rehearsal clock's endpoints (PRODUCT.md, "rehearsal"): with `ServerConfig::test_clock`
//! admins read and move the rehearsal's [`TestClock`] forward: its offset is stored in the
//! database, so every server on it moves together.
//!
//! Off by default; then `GET /api/v1/test-clock` and `POST /api/v1/test-clock/advance`
//! answer 409 `conflict` ("the test clock is disabled"), so a production server's time
//! cannot be moved.

use std::sync::Arc;
use vitrine_domain::tr;

use axum::Json;
use axum::extract::State;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use vitrine_jobs::scheduler::{self, StepReport};
use vitrine_jobs::{Clock, TestClock};

use crate::common::tags;
use vitrine_http::AppState;
use vitrine_http::auth::{Caller, SignedIn};
use vitrine_http::extract::ApiJson;
use vitrine_http::problem::{ApiError, ApiResult, Problem, ProblemKind};

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

fn enabled(state: &AppState, caller: &Caller) -> ApiResult<Arc<TestClock>> {
    if !caller.actor.is_admin() {
        return Err(ApiError::new(
            ProblemKind::Forbidden,
            tr!(
                "test_clock.admin_only",
                "only admins read and move the test clock",
                "seuls les administrateurs lisent et avancent l’horloge de test"
            ),
        ));
    }
    state.test_clock.clone().ok_or_else(|| {
        ApiError::new(
            ProblemKind::Conflict,
            tr!(
                "test_clock.off",
                "the test clock is disabled; start the server with --test-clock to rehearse",
                "l’horloge de test est désactivée ; démarrez le serveur avec --test-clock pour répéter"
            ),
        )
    })
}

fn view(clock: &TestClock) -> TestClockView {
    TestClockView {
        now: clock.now(),
        offset_seconds: clock.offset().as_secs_f64(),
    }
}

/// The test clock (admins; only on a server started with the test clock).
#[utoipa::path(get, path = "/api/v1/test-clock", tag = tags::REVIEW,
    responses((status = 200, body = TestClockView), (status = 403, response = Problem),
        (status = 409, response = Problem)))]
pub async fn get_test_clock(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
) -> ApiResult<Json<TestClockView>> {
    let clock = enabled(&state, &caller)?;
    vitrine_jobs::clock::sync_test_clock(&*state.services.store, &*state.services.clock).await?;
    Ok(Json(view(&clock)))
}

/// Moves the test clock forward and runs every scheduler step then due (admins; only on a
/// server started with the test clock).
#[utoipa::path(post, path = "/api/v1/test-clock/advance", tag = tags::REVIEW,
    request_body = AdvanceClock,
    responses((status = 200, body = AdvanceResult), (status = 403, response = Problem),
        (status = 409, response = Problem)))]
pub async fn advance_test_clock(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiJson(input): ApiJson<AdvanceClock>,
) -> ApiResult<Json<AdvanceResult>> {
    let clock = enabled(&state, &caller)?;
    // `to` is read against the rehearsal's current time, which another server may have moved.
    vitrine_jobs::clock::sync_test_clock(&*state.services.store, &*state.services.clock).await?;
    let by = match (input.seconds, input.to) {
        (Some(seconds), None) => SignedDuration::from_secs(seconds),
        (None, Some(to)) => {
            let by = to.duration_since(clock.now());
            if by.is_negative() {
                return Err(ApiError::invalid_field(
                    "to",
                    tr!(
                        "test_clock.backwards",
                        "is in the past; the test clock only moves forward",
                        "est dans le passé ; l’horloge de test ne fait qu’avancer"
                    ),
                ));
            }
            by
        }
        _ => {
            return Err(ApiError::invalid_field(
                "seconds",
                tr!(
                    "test_clock.one_of",
                    "give either seconds or to, not both or neither",
                    "donnez seconds ou to, pas les deux ni aucun"
                ),
            ));
        }
    };
    let micros = TestClock::micros_forward(by).map_err(|e| {
        let text = match e {
            vitrine_jobs::ClockError::Backwards => tr!(
                "test_clock.backwards",
                "is negative; the test clock only moves forward",
                "est négatif ; l’horloge de test ne fait qu’avancer"
            ),
            vitrine_jobs::ClockError::TooLarge => tr!(
                "test_clock.too_far",
                "moves the test clock too far",
                "avance l’horloge de test trop loin"
            ),
        };
        ApiError::invalid_field("seconds", text)
    })?;
    // The database's offset first: every server on it follows (and a restart keeps it).
    clock.catch_up(state.services.store.advance_test_clock(micros).await?);
    let steps = scheduler::run_due(&state).await?;
    Ok(Json(AdvanceResult {
        clock: view(&clock),
        steps,
    }))
}
