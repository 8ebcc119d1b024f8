//! The calendar view (`GET /api/v1/calendar/sessions`): the coming review sessions, as
//! the domain's `agenda` lets the caller see them. Staff read every session's dates,
//! holidays, capacity, planned submissions and assignments; a provider's members only
//! their own queued submissions' places. Reads are few and fixed, whatever the queue: the
//! calendar, the validators, the queue, (for staff, once a listed session opened) the
//! submissions under review and when they went in, then one read naming every offering.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use vitrine_domain::agenda::{self, MovedDay, Queued, Reviewed, SessionAgenda};
use vitrine_domain::calendar::{ReviewCalendar, Session};
use vitrine_domain::go_live::Submission;
use vitrine_domain::permissions::CalendarScope;
use vitrine_domain::submission::SubmissionState;
use vitrine_domain::{AccountId, OfferingId, SubmissionId, Timestamp, UserId};
use vitrine_store::{AuditQuery, OfferingLabel};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use vitrine_http::AppState;
use vitrine_http::auth::SignedIn;
use vitrine_http::extract::ApiQuery;
use vitrine_http::problem::{ApiResult, Problem};
use vitrine_jobs::scheduler;

/// The OpenAPI tag of the calendar view: the review's.
const TAG: &str = crate::common::tags::REVIEW;

/// The calendar view's route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(coming_sessions))
}

/// Which sessions to list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SessionsParams {
    /// A day in the marketplace's time zone (`YYYY-MM-DD`; default today, and an earlier day
    /// counts as today): the first session listed is the earliest whose decision day is that day or
    /// later, so this week's session stays listed until its decisions are out.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<Date>,
    /// How many consecutive weekly sessions to list: 1 to 26 (default 8).
    #[param(minimum = 1, maximum = 26)]
    pub weeks: Option<u32>,
}

/// Whose view this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionsScope {
    /// Validators and admins: every listed session, everything in it.
    Staff,
    /// A provider's members: only the sessions holding their own queued submissions, with
    /// those submissions only.
    Provider,
}

/// The coming review sessions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ComingSessions {
    /// The marketplace's IANA time zone: every date is a day there.
    #[schema(example = "Europe/Paris")]
    pub time_zone: String,
    pub scope: SessionsScope,
    pub sessions: Vec<SessionEntry>,
}

/// Which day of its session a holiday moved.
#[derive(Clone, Copy, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MovedDayDoc {
    Review,
    Decision,
}

/// A holiday that moved the session's review day or decision day.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionHoliday {
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    pub moved: MovedDayDoc,
}

/// A submission the queue plan puts in the session.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlannedSubmission {
    pub submission_id: SubmissionId,
    pub offering_name: String,
    /// The provider account's name.
    pub provider_name: String,
    /// A new round after changes were requested (goes ahead of first-time submissions).
    pub resubmission: bool,
    /// 1-based position in the whole queue, as the submission shows it.
    pub queue_position: u32,
    /// 1-based position within this session.
    pub session_position: u32,
}

/// A submission the opened session took, and who reviews it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AssignedSubmission {
    pub submission_id: SubmissionId,
    pub offering_name: String,
    pub provider_name: String,
    /// `in_review`, or `decided_pending_release` once its decision is recorded.
    pub state: SubmissionState,
    pub validator_id: Option<UserId>,
    pub validator_name: Option<String>,
}

/// One weekly session. The fields marked "staff only" are absent from a provider's view.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionEntry {
    /// The review weekday of the session's week before any holiday moved it: the session's
    /// name.
    #[schema(value_type = String, format = Date)]
    pub nominal_date: Date,
    /// The day the recordings are reviewed.
    #[schema(value_type = String, format = Date)]
    pub review_date: Date,
    /// The day decisions are released.
    #[schema(value_type = String, format = Date)]
    pub decision_date: Date,
    /// Submissions made before this instant join this session (or, full, a later one).
    #[schema(value_type = String, format = DateTime)]
    pub cutoff: Timestamp,
    /// When the session opens and its submissions are assigned.
    #[schema(value_type = String, format = DateTime)]
    pub opens_at: Timestamp,
    /// Staff only: the holidays that moved the review or decision day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holidays: Option<Vec<SessionHoliday>>,
    /// Staff only: what the session holds, the sum of the validators' capacities (0: no
    /// validator yet, so nothing is held back).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    /// Staff only: how many submissions it holds, planned or (once opened) assigned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filled: Option<u32>,
    /// Staff only: whether it opened (its submissions were assigned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opened: Option<bool>,
    /// The queued submissions the plan puts in it, in queue order (a provider: its own).
    pub planned: Vec<PlannedSubmission>,
    /// Staff only: once opened, who reviews what.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned: Option<Vec<AssignedSubmission>>,
}

/// The coming review sessions. Validators and admins: each session's dates, the holidays
/// that moved it, its capacity and how much of it is filled, the submissions planned into
/// it and, once it opened, who is assigned to what. Members of an approved provider: only
/// the sessions holding their own queued submissions, with each one's place. Anyone else:
/// 403.
#[utoipa::path(get, path = "/api/v1/calendar/sessions", tag = TAG, params(SessionsParams),
    responses((status = 200, body = ComingSessions), (status = 403, response = Problem),
        (status = 422, response = Problem)))]
pub async fn coming_sessions(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiQuery(params): ApiQuery<SessionsParams>,
) -> ApiResult<Json<ComingSessions>> {
    let provider_accounts: Vec<AccountId> = caller
        .accounts
        .iter()
        .filter(|a| a.is_approved_provider())
        .map(|a| a.id)
        .collect();
    let scope = caller.actor.calendar_scope(&provider_accounts)?;
    let weeks = agenda::weeks(params.weeks)?;
    let calendar = scheduler::calendar(&state).await?;
    let now = state.clock.now();
    let today = calendar.date_of(now);
    let from = agenda::effective_from(params.from.unwrap_or(today), today);
    let sessions = agenda::coming_sessions(&calendar, from, weeks);

    let validators = state.store.validators().await?;
    let capacity = validators
        .iter()
        .map(|v| v.capacity)
        .fold(0u32, u32::saturating_add);
    let queue = state.store.queued_submissions().await?;
    let by_id: BTreeMap<SubmissionId, &Submission> = queue.iter().map(|s| (s.id, s)).collect();
    let queued: Vec<Queued<SubmissionId>> = scheduler::plan(&calendar, &queue, capacity, now)
        .into_iter()
        .filter_map(|placement| {
            let s = by_id.get(&placement.id)?;
            Some(Queued {
                provider_account: s.provider_account_id,
                resubmission: s.is_resubmission(),
                placement,
            })
        })
        .collect();
    let (opened, under_review) = match scope {
        CalendarScope::Staff => opened_sessions(&state, &calendar, &sessions, now).await?,
        // A provider's view shows no assignment: nothing to read.
        CalendarScope::Provider(_) => (Vec::new(), Vec::new()),
    };
    let reviewed: Vec<Reviewed<SubmissionId>> = under_review
        .iter()
        .map(|(s, session)| Reviewed {
            id: s.id,
            provider_account: s.provider_account_id,
            validator: s.validator,
            session_nominal_date: *session,
        })
        .collect();
    let visible = agenda::visible_to(
        agenda::agenda(&calendar, &sessions, &queued, &reviewed, capacity, &opened),
        &scope,
    );

    // Names, in one read, of what is shown only.
    let offering_of: BTreeMap<SubmissionId, OfferingId> = queue
        .iter()
        .chain(under_review.iter().map(|(s, _)| s))
        .map(|s| (s.id, s.offering_id))
        .collect();
    let mut shown: Vec<OfferingId> = visible
        .iter()
        .flat_map(|day| {
            day.planned.iter().map(|p| p.id).chain(
                day.staff
                    .iter()
                    .flat_map(|staff| staff.assigned.iter().map(|r| r.id)),
            )
        })
        .filter_map(|id| offering_of.get(&id).copied())
        .collect();
    shown.sort();
    shown.dedup();
    let labels: BTreeMap<OfferingId, OfferingLabel> = state
        .store
        .offering_labels(&shown)
        .await?
        .into_iter()
        .map(|label| (label.id, label))
        .collect();
    let label = |id: &SubmissionId| offering_of.get(id).and_then(|o| labels.get(o));
    let mut validator_names: BTreeMap<UserId, String> = validators
        .iter()
        .map(|v| (v.user.id, v.user.display_name.clone()))
        .collect();
    // A submission assigned to someone no longer a validator still names them (rare: one
    // read per such person, not per submission).
    for (s, _) in &under_review {
        if let Some(id) = s.validator
            && !validator_names.contains_key(&id)
            && let Some(user) = state.store.user(id).await?
        {
            validator_names.insert(id, user.display_name);
        }
    }
    let states: BTreeMap<SubmissionId, SubmissionState> =
        under_review.iter().map(|(s, _)| (s.id, s.state)).collect();

    let entries = visible
        .into_iter()
        .map(|day| entry(day, &label, &validator_names, &states))
        .collect();
    Ok(Json(ComingSessions {
        time_zone: calendar.settings().time_zone.clone(),
        scope: match scope {
            CalendarScope::Staff => SessionsScope::Staff,
            CalendarScope::Provider(_) => SessionsScope::Provider,
        },
        sessions: entries,
    }))
}

fn entry<'a>(
    day: SessionAgenda<SubmissionId>,
    label: &impl Fn(&SubmissionId) -> Option<&'a OfferingLabel>,
    validator_names: &BTreeMap<UserId, String>,
    states: &BTreeMap<SubmissionId, SubmissionState>,
) -> SessionEntry {
    let names = |id: &SubmissionId| {
        label(id).map_or_else(
            || (String::new(), String::new()),
            |l| (l.name.clone(), l.provider_name.clone()),
        )
    };
    let planned: Vec<PlannedSubmission> = day
        .planned
        .iter()
        .map(|p| {
            let (offering_name, provider_name) = names(&p.id);
            PlannedSubmission {
                submission_id: p.id,
                offering_name,
                provider_name,
                resubmission: p.resubmission,
                queue_position: p.queue_position,
                session_position: p.session_position,
            }
        })
        .collect();
    let Session {
        nominal_date,
        review_date,
        decision_date,
        cutoff,
        opens_at,
        ..
    } = day.session;
    let mut out = SessionEntry {
        nominal_date,
        review_date,
        decision_date,
        cutoff,
        opens_at,
        holidays: None,
        capacity: None,
        filled: None,
        opened: None,
        planned,
        assigned: None,
    };
    if let Some(staff) = day.staff {
        let assigned: Vec<AssignedSubmission> = staff
            .assigned
            .iter()
            .map(|r| {
                let (offering_name, provider_name) = names(&r.id);
                AssignedSubmission {
                    submission_id: r.id,
                    offering_name,
                    provider_name,
                    state: states
                        .get(&r.id)
                        .copied()
                        .unwrap_or(SubmissionState::InReview),
                    validator_id: r.validator,
                    validator_name: r.validator.and_then(|v| validator_names.get(&v).cloned()),
                }
            })
            .collect();
        let filled = out.planned.len().saturating_add(assigned.len());
        out.holidays = Some(
            staff
                .holidays
                .iter()
                .map(|h| SessionHoliday {
                    date: h.date,
                    moved: match h.moved {
                        MovedDay::Review => MovedDayDoc::Review,
                        MovedDay::Decision => MovedDayDoc::Decision,
                    },
                })
                .collect(),
        );
        out.capacity = Some(staff.capacity);
        out.filled = Some(u32::try_from(filled).unwrap_or(u32::MAX));
        out.opened = Some(staff.opened);
        out.assigned = Some(assigned);
    }
    out
}

/// Which listed sessions opened, and the submissions under review (or decided, held
/// until decision day) with the nominal date of the session each was reviewed in. Only a
/// session whose opening time has come can have opened: at most the first one or two
/// listed, so one mark read each; the submissions are read only if one did.
async fn opened_sessions(
    state: &AppState,
    calendar: &ReviewCalendar,
    sessions: &[Session],
    now: Timestamp,
) -> ApiResult<(Vec<Date>, Vec<(Submission, Date)>)> {
    let mut opened = Vec::new();
    for session in sessions.iter().filter(|s| s.opens_at <= now) {
        if state
            .store
            .review_session(session.nominal_date)
            .await?
            .is_some()
        {
            opened.push(session.nominal_date);
        }
    }
    if opened.is_empty() {
        return Ok((opened, Vec::new()));
    }
    let mut under_review = Vec::new();
    for s in state
        .store
        .submissions_in_state(SubmissionState::InReview)
        .await?
    {
        // Nothing changes a submission under review but its decision: its last change is
        // when its session opened (as the scheduler reads it).
        let session = scheduler::session_open_at(calendar, s.updated_at).nominal_date;
        under_review.push((s, session));
    }
    let decided = state
        .store
        .submissions_in_state(SubmissionState::DecidedPendingRelease)
        .await?;
    if !decided.is_empty() {
        // When each went in review: the latest `submission.open_session` of it, newest
        // first, in one read (those of the listed sessions are the most recent ones).
        let records = state
            .store
            .audit(&AuditQuery {
                action: Some("submission.open_session".to_owned()),
                subject_kind: Some(vitrine_domain::audit::SubjectKind::Submission),
                limit: 1000,
                ..Default::default()
            })
            .await?;
        let mut went_in: BTreeMap<String, Timestamp> = BTreeMap::new();
        for record in records {
            went_in
                .entry(record.event.subject_id)
                .or_insert(record.event.at);
        }
        for s in decided {
            let at = went_in
                .get(&s.id.to_string())
                .copied()
                .or_else(|| s.current_round().decision.as_ref().map(|d| d.at))
                .unwrap_or(s.updated_at);
            let session = scheduler::session_open_at(calendar, at).nominal_date;
            under_review.push((s, session));
        }
    }
    under_review.retain(|(_, session)| opened.contains(session));
    Ok((opened, under_review))
}
