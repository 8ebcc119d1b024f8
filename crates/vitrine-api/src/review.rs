//! The review's settings (admins): the calendar, validators' capacities, the demo
//! requirements (readable by everyone signed in), running a scheduler step by hand; and the
//! validators' list of assignments.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use vitrine_domain::calendar::{CalendarSettings, ReviewCalendar};
use vitrine_domain::review::{Requirement, RequirementSet, new_requirement_set};
use vitrine_domain::submission::SubmissionState;
use vitrine_domain::tr;
use vitrine_domain::{AuditEvent, UserId};
use vitrine_mail::DatesMovedReason;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::submissions::{SubmissionSummary, summary};
use vitrine_http::AppState;
use vitrine_http::auth::{Caller, SignedIn};
use vitrine_http::extract::{ApiJson, ApiPath, ApiQuery};
use vitrine_http::problem::{ApiError, ApiResult, Problem};
use vitrine_jobs::scheduler::{self, Queue, StepReport};

/// The OpenAPI tag of the review's settings, the scheduler and the test clock.
pub const TAG: &str = crate::common::tags::REVIEW;

/// The review's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_calendar, put_calendar))
        .routes(routes!(list_validators))
        .routes(routes!(set_capacity))
        .routes(routes!(current_requirements, put_requirements))
        .routes(routes!(requirements_version))
        .routes(routes!(run_step))
        .routes(routes!(assignments))
        .routes(routes!(current_session))
}

fn require_admin(caller: &Caller, what: vitrine_domain::Text) -> ApiResult<()> {
    Ok(caller.actor.require_admin(what)?)
}

/// The review calendar (times in `time_zone`, an IANA name).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarDoc {
    #[schema(example = "Europe/Paris")]
    #[schema(pattern = "vitrine:time_zone")]
    pub time_zone: String,
    /// `monday` … `friday`.
    #[schema(
        example = "tuesday",
        pattern = "^(monday|tuesday|wednesday|thursday|friday)$"
    )]
    pub review_weekday: String,
    /// Working days from the review day to the decision day (1 to 10).
    #[schema(minimum = 1, maximum = 10)]
    pub decision_working_days: u8,
    /// Submissions stop joining a week's session this many minutes before its review day
    /// starts (0: at the start of the review day; at most a week, 10080).
    #[schema(maximum = 10080)]
    pub cutoff_minutes_before_review: u32,
    /// Days that are not working days, besides weekends (`YYYY-MM-DD`).
    #[schema(value_type = Vec<String>, format = Date)]
    pub holidays: Vec<jiff::civil::Date>,
    /// Submissions each validator reviews per session, unless set for them (1 to 1000).
    #[schema(minimum = 1, maximum = 1000)]
    pub default_validator_capacity: u32,
    /// The version read; a PUT with an older one is refused with 409. Omit to overwrite.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub version: Option<i64>,
}

fn to_settings(doc: &CalendarDoc) -> ApiResult<CalendarSettings> {
    let value = serde_json::json!({
        "time_zone": doc.time_zone,
        "review_weekday": doc.review_weekday,
        "decision_working_days": doc.decision_working_days,
        "cutoff_minutes_before_review": doc.cutoff_minutes_before_review,
        "holidays": doc.holidays,
        "default_validator_capacity": doc.default_validator_capacity,
    });
    serde_json::from_value(value).map_err(|e| {
        let e = e.to_string();
        ApiError::invalid_field(
            "review_weekday",
            tr!(
                "calendar.review_weekday",
                "must be a weekday name such as tuesday ({e})",
                "doit être un nom de jour en anglais comme tuesday ({e})"
            ),
        )
    })
}

fn to_doc(settings: &CalendarSettings, version: i64) -> ApiResult<CalendarDoc> {
    let value = serde_json::to_value(settings)
        .map_err(|e| ApiError::internal("serialising the calendar failed", e))?;
    Ok(CalendarDoc {
        time_zone: settings.time_zone.clone(),
        review_weekday: value["review_weekday"]
            .as_str()
            .unwrap_or("tuesday")
            .to_owned(),
        decision_working_days: settings.decision_working_days,
        cutoff_minutes_before_review: settings.cutoff_minutes_before_review,
        holidays: settings.holidays.iter().copied().collect(),
        default_validator_capacity: settings.default_validator_capacity,
        version: Some(version),
    })
}

/// The review calendar (admins).
#[utoipa::path(get, path = "/api/v1/calendar", tag = TAG,
    responses((status = 200, body = CalendarDoc), (status = 403, response = Problem)))]
pub async fn get_calendar(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
) -> ApiResult<Json<CalendarDoc>> {
    require_admin(
        &caller,
        tr!(
            "calendar.admin_only",
            "only admins read the calendar settings",
            "seuls les administrateurs lisent les réglages du calendrier"
        ),
    )?;
    let stored = state.store.calendar_settings().await?;
    Ok(Json(to_doc(&stored.value, stored.version)?))
}

/// Changes the review calendar (admins). Every queued submission's dates are recomputed
/// and the providers whose dates moved are emailed, in the same transaction.
#[utoipa::path(put, path = "/api/v1/calendar", tag = TAG,
    request_body = CalendarDoc,
    responses((status = 200, body = CalendarDoc), (status = 403, response = Problem),
        (status = 409, response = Problem)))]
pub async fn put_calendar(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiJson(input): ApiJson<CalendarDoc>,
) -> ApiResult<Json<CalendarDoc>> {
    require_admin(
        &caller,
        tr!(
            "calendar.change_admin_only",
            "only admins change the calendar",
            "seuls les administrateurs modifient le calendrier"
        ),
    )?;
    let settings = to_settings(&input)?;
    let new_calendar = ReviewCalendar::new(settings.clone())?;
    let stored = state.store.calendar_settings().await?;
    let expected = input.version.unwrap_or(stored.version);
    let old_calendar = ReviewCalendar::new(stored.value.clone())
        .map_err(|e| ApiError::internal("the stored calendar settings are invalid", e))?;
    let now = state.clock.now();
    let queue = Queue::read(&state).await?.with_calendar(old_calendar);
    let moves = scheduler::dates_moved(
        &state,
        Some(caller.user.id),
        (&queue, now),
        &queue.with_calendar(new_calendar),
        DatesMovedReason::CalendarChange,
        now,
    )
    .await?;
    let mut events = vec![
        AuditEvent::new(Some(caller.user.id), "calendar.updated", now)
            .before(&stored.value)
            .after(&settings),
    ];
    events.extend(moves.events);
    let version = state
        .store
        .put_calendar_settings(&settings, expected, now, &events, &moves.emails)
        .await?;
    Ok(Json(to_doc(&settings, version)?))
}

/// A validator and their per-session capacity.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ValidatorView {
    pub user_id: UserId,
    pub email: String,
    pub display_name: String,
    /// What they review per session.
    pub capacity: u32,
    /// Their own capacity; `null`: the calendar's default applies.
    pub own_capacity: Option<u32>,
}

/// Validators with their capacities (admins).
#[utoipa::path(get, path = "/api/v1/validators", tag = TAG,
    responses((status = 200, body = Vec<ValidatorView>), (status = 403, response = Problem)))]
pub async fn list_validators(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
) -> ApiResult<Json<Vec<ValidatorView>>> {
    require_admin(
        &caller,
        tr!(
            "validators.admin_only",
            "only admins list validators",
            "seuls les administrateurs listent les validateurs"
        ),
    )?;
    let validators = state.store.validators().await?;
    Ok(Json(
        validators
            .into_iter()
            .map(|v| ValidatorView {
                user_id: v.user.id,
                email: v.user.email.as_str().to_owned(),
                display_name: v.user.display_name,
                capacity: v.capacity,
                own_capacity: v.own_capacity,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CapacityInput {
    /// Submissions per session (0 to 1000); `null` goes back to the calendar's default.
    #[schema(maximum = 1000)]
    pub capacity: Option<u32>,
}

/// Sets a validator's capacity (admins). Queued submissions' dates are recomputed and the
/// providers whose dates moved are emailed.
#[utoipa::path(put, path = "/api/v1/validators/{id}/capacity", tag = TAG,
    params(("id" = String, Path)), request_body = CapacityInput,
    responses((status = 200, body = Vec<ValidatorView>), (status = 403, response = Problem),
        (status = 404, response = Problem)))]
pub async fn set_capacity(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(input): ApiJson<CapacityInput>,
) -> ApiResult<Json<Vec<ValidatorView>>> {
    require_admin(
        &caller,
        tr!(
            "validators.capacity_admin_only",
            "only admins set validators' capacities",
            "seuls les administrateurs fixent la capacité des validateurs"
        ),
    )?;
    if input.capacity.is_some_and(|c| c > 1000) {
        return Err(ApiError::invalid_field(
            "capacity",
            tr!(
                "field.range",
                "must be between 0 and 1000",
                "doit être compris entre 0 et 1000"
            ),
        ));
    }
    let validators = state.store.validators().await?;
    let Some(validator) = validators.iter().find(|v| v.user.id == id) else {
        return Err(ApiError::not_found());
    };
    let calendar = scheduler::calendar(&state).await?;
    let old_total: u32 = validators
        .iter()
        .map(|v| v.capacity)
        .fold(0, u32::saturating_add);
    let new_capacity = input
        .capacity
        .unwrap_or(calendar.settings().default_validator_capacity);
    let new_total = old_total
        .saturating_sub(validator.capacity)
        .saturating_add(new_capacity);
    let now = state.clock.now();
    let queue = Queue::read(&state).await?.with_capacity(old_total);
    let moves = scheduler::dates_moved(
        &state,
        Some(caller.user.id),
        (&queue, now),
        &queue.with_capacity(new_total),
        DatesMovedReason::Capacity,
        now,
    )
    .await?;
    let mut events = vec![
        AuditEvent::new(Some(caller.user.id), "validator.capacity_set", now)
            .subject_user(id)
            .before(&serde_json::json!({"capacity": validator.own_capacity}))
            .after(&serde_json::json!({"capacity": input.capacity})),
    ];
    events.extend(moves.events);
    state
        .store
        .set_validator_capacity(id, input.capacity, &events, &moves.emails)
        .await?;
    list_validators(State(state), SignedIn(caller)).await
}

/// The current demo requirements, which every round is judged against (anyone signed in,
/// providers included, so they can record against it).
#[utoipa::path(get, path = "/api/v1/requirements", tag = TAG,
    responses((status = 200, body = RequirementSet)))]
pub async fn current_requirements(
    State(state): State<AppState>,
    SignedIn(_caller): SignedIn,
) -> ApiResult<Json<RequirementSet>> {
    Ok(Json(state.store.current_requirements().await?))
}

/// One version of the demo requirements.
#[utoipa::path(get, path = "/api/v1/requirements/{version}", tag = TAG,
    params(("version" = u32, Path)),
    responses((status = 200, body = RequirementSet), (status = 404, response = Problem)))]
pub async fn requirements_version(
    State(state): State<AppState>,
    SignedIn(_caller): SignedIn,
    ApiPath(version): ApiPath<u32>,
) -> ApiResult<Json<RequirementSet>> {
    if let Some(set) = state.caches.requirement_sets.get(&version) {
        return Ok(Json(set));
    }
    let set = state
        .store
        .requirements(version)
        .await?
        .ok_or_else(ApiError::not_found)?;
    state.caches.requirement_sets.insert(version, set.clone());
    Ok(Json(set))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequirementsInput {
    /// 1 to 50 requirements, each key once.
    #[schema(min_items = 1, max_items = 50)]
    pub requirements: Vec<Requirement>,
}

/// Publishes a new version of the demo requirements (admins). Rounds already submitted
/// keep the version they were submitted under.
#[utoipa::path(put, path = "/api/v1/requirements", tag = TAG,
    request_body = RequirementsInput,
    responses((status = 200, body = RequirementSet), (status = 403, response = Problem),
        (status = 409, response = Problem)))]
pub async fn put_requirements(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiJson(input): ApiJson<RequirementsInput>,
) -> ApiResult<Json<RequirementSet>> {
    require_admin(
        &caller,
        tr!(
            "requirements.admin_only",
            "only admins change the demo requirements",
            "seuls les administrateurs modifient les exigences de démonstration"
        ),
    )?;
    let current = state.store.current_requirements().await?;
    let next = new_requirement_set(&current, input.requirements)?;
    let now = state.clock.now();
    let event = AuditEvent::new(Some(caller.user.id), "requirements.published", now)
        .before(&current)
        .after(&next);
    state.store.put_requirements(&next, now, &[event]).await?;
    Ok(Json(next))
}

/// Runs one scheduler step now (admins): `open_due_sessions`, `release_due_decisions`,
/// `flag_overdue` or `run_due_publications`. Only what is due is done; the changes are
/// recorded in the audit log under the admin's name.
#[utoipa::path(post, path = "/api/v1/scheduler/{step}/run", tag = TAG,
    params(("step" = String, Path)),
    responses((status = 200, body = StepReport), (status = 403, response = Problem),
        (status = 404, response = Problem)))]
pub async fn run_step(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(step): ApiPath<String>,
) -> ApiResult<Json<StepReport>> {
    require_admin(
        &caller,
        tr!(
            "scheduler.admin_only",
            "only admins run scheduler steps",
            "seuls les administrateurs lancent les étapes du planificateur"
        ),
    )?;
    Ok(Json(
        scheduler::run_step(&state, &step, Some(&caller.actor)).await?,
    ))
}

/// Whose assignments to list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AssignmentsParams {
    /// Every validator's (admins only); without it, the calling validator's own.
    #[serde(default)]
    pub all: bool,
}

/// The submissions in review or decided but not yet released: those assigned to the
/// calling validator, or with `all=true` every validator's (admins).
#[utoipa::path(get, path = "/api/v1/review/assignments", tag = TAG, params(AssignmentsParams),
    responses((status = 200, body = Vec<SubmissionSummary>), (status = 403, response = Problem),
        (status = 422, response = Problem)))]
pub async fn assignments(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiQuery(params): ApiQuery<AssignmentsParams>,
) -> ApiResult<Json<Vec<SubmissionSummary>>> {
    let under_review = if params.all {
        require_admin(
            &caller,
            tr!(
                "assignments.admin_only",
                "only admins list every validator's assignments",
                "seuls les administrateurs listent les attributions de tous les validateurs"
            ),
        )?;
        let mut all = state
            .store
            .submissions_in_state(SubmissionState::InReview)
            .await?;
        all.extend(
            state
                .store
                .submissions_in_state(SubmissionState::DecidedPendingRelease)
                .await?,
        );
        all
    } else {
        if !caller.actor.staff.validator {
            return Err(ApiError::new(
                vitrine_http::problem::ProblemKind::Forbidden,
                tr!(
                    "assignments.validators_only",
                    "only validators have assignments",
                    "seuls les validateurs ont des attributions"
                ),
            ));
        }
        state
            .store
            .submissions_for_validator(caller.user.id)
            .await?
    };
    let mut out = Vec::new();
    for s in under_review.iter().filter(|s| {
        matches!(
            s.state,
            SubmissionState::InReview | SubmissionState::DecidedPendingRelease
        )
    }) {
        out.push(summary(&state, s).await?);
    }
    Ok(Json(out))
}

/// The review session validators work in now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CurrentSession {
    #[schema(value_type = String, format = Date)]
    pub review_date: jiff::civil::Date,
    #[schema(value_type = String, format = Date)]
    pub decision_date: jiff::civil::Date,
    /// Opened and not past its decision day; otherwise this is the next session to open.
    pub open: bool,
}

/// This week's review session (staff): the one open until the end of its decision day,
/// else the next to open.
#[utoipa::path(get, path = "/api/v1/review/session", tag = TAG,
    responses((status = 200, body = CurrentSession), (status = 403, response = Problem)))]
pub async fn current_session(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
) -> ApiResult<Json<CurrentSession>> {
    if !caller.actor.staff.validator && !caller.actor.staff.admin {
        return Err(ApiError::new(
            vitrine_http::problem::ProblemKind::Forbidden,
            tr!(
                "session.staff_only",
                "only validators and admins follow review sessions",
                "seuls les validateurs et les administrateurs suivent les sessions de revue"
            ),
        ));
    }
    let calendar = scheduler::calendar(&state).await?;
    let now = state.clock.now();
    let opened = scheduler::session_open_at(&calendar, now);
    let (session, open) = if now < opened.overdue_at {
        (opened, true)
    } else {
        (calendar.session_for(now), false)
    };
    Ok(Json(CurrentSession {
        review_date: session.review_date,
        decision_date: session.decision_date,
        open,
    }))
}
