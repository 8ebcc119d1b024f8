//! Go-live submissions: the gate, rounds, submit/withdraw, the validator's decision, the
//! thread, publication and unpublication. Each handler loads, calls one command of
//! `vitrine_domain::go_live`, asks `notify` which emails the change causes, and lets the
//! store write the change, its audit events and its emails in one transaction.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use vitrine_domain::audit::SubjectKind;
use vitrine_domain::go_live::{self, RoundInput, Submission};
use vitrine_domain::review::Verdict;
use vitrine_domain::submission::{Decision, Party, SubmissionState, Transition};
use vitrine_domain::thread::{Message, Side};
use vitrine_domain::tr;
use vitrine_domain::{
    DomainError, Offering, RecordingId, SubmissionId, Timestamp, User, UserId, Visibility, offering,
};
use vitrine_store::{AuditQuery, StoreError};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::common::{self, ManagedOffering, offering_or_404};
use vitrine_http::AppState;
use vitrine_http::auth::{Caller, SignedIn};
use vitrine_http::extract::{ApiJson, ApiPath, ApiQuery};
use vitrine_http::problem::{ApiError, ApiResult, Problem, ProblemKind};
use vitrine_jobs::notify::{self, About};
use vitrine_jobs::scheduler::{self, Context, Queue};
use vitrine_jobs::thread;
use vitrine_mail::DatesMovedReason;

/// The OpenAPI tag of submissions.
pub const TAG: &str = "submissions";

/// The submissions' routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_submission, list_offering_submissions))
        .routes(routes!(list_submissions))
        .routes(routes!(get_submission, edit_submission))
        .routes(routes!(submit))
        .routes(routes!(withdraw))
        .routes(routes!(decide))
        .routes(routes!(list_messages, post_message))
        .routes(routes!(schedule_publication))
        .routes(routes!(unpublish))
}

/// When a submission will be (or is being) reviewed and decided.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Schedule {
    #[schema(value_type = String, format = Date)]
    pub review_date: Date,
    #[schema(value_type = String, format = Date)]
    pub decision_date: Date,
    /// 1-based position in the queue (queued submissions only).
    pub queue_position: Option<u32>,
    /// The decision was not recorded by the end of decision day.
    pub overdue: bool,
}

/// One step of the submission's life, from the audit log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    /// `submission.submit`, `submission.open_session`, …
    pub action: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor: Option<UserId>,
    /// The state after this step.
    pub state: Option<String>,
}

/// A submission as the caller may see it: decisions reach the provider only once released.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubmissionView {
    pub submission: Submission,
    pub offering_name: String,
    pub schedule: Option<Schedule>,
    pub timeline: Vec<TimelineEntry>,
    /// What the caller may do now: `submit`, `resubmit`, `withdraw`, `edit` (the round),
    /// `decide`, `schedule_publication`, … (the state machine's answer for their part).
    pub actions: Vec<String>,
    /// The offering's latest prerequisite check run (steps 1, 3, 4), which the validator
    /// reads beside the demo; `null` if none ran.
    pub checks: Option<crate::checks::ChecksSummary>,
}

/// A submission in a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubmissionSummary {
    pub id: SubmissionId,
    pub offering_name: String,
    pub state: SubmissionState,
    pub round: u32,
    pub schedule: Option<Schedule>,
    /// The validator it is assigned to, once its session opened.
    pub validator: Option<UserId>,
    /// The go-live date the provider asked for in the current round.
    #[schema(value_type = Option<String>, format = Date)]
    pub requested_go_live: Option<Date>,
    /// When the publication is (or was) scheduled.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub publication_at: Option<Timestamp>,
}

/// Hides what the provider may not see yet: a decision before its release.
fn redact(mut s: Submission, party: Party) -> Submission {
    if party == Party::Provider {
        for round in &mut s.rounds {
            if round
                .decision
                .as_ref()
                .is_some_and(|d| d.released_at.is_none())
            {
                round.decision = None;
            }
        }
    }
    s
}

async fn schedule(state: &AppState, s: &Submission) -> ApiResult<Option<Schedule>> {
    let now = state.clock.now();
    Ok(match s.state {
        SubmissionState::Queued => {
            let calendar = scheduler::calendar(state).await?;
            let capacity = scheduler::session_capacity(state).await?;
            let queued = state.store.queued_submissions().await?;
            scheduler::plan(&calendar, &queued, capacity, now)
                .into_iter()
                .find(|p| p.id == s.id)
                .map(|p| Schedule {
                    review_date: p.session.review_date,
                    decision_date: p.session.decision_date,
                    queue_position: Some(p.position),
                    overdue: false,
                })
        }
        SubmissionState::InReview | SubmissionState::DecidedPendingRelease => {
            let calendar = scheduler::calendar(state).await?;
            let session = scheduler::review_session_of(state, &calendar, s).await?;
            Some(Schedule {
                review_date: session.review_date,
                decision_date: session.decision_date,
                queue_position: None,
                overdue: s.state == SubmissionState::InReview && session.overdue_at <= now,
            })
        }
        _ => None,
    })
}

pub async fn summary(state: &AppState, s: &Submission) -> ApiResult<SubmissionSummary> {
    let offering = scheduler::offering_by_id(state, s).await?;
    Ok(SubmissionSummary {
        id: s.id,
        offering_name: offering.name.as_str().to_owned(),
        state: s.state,
        round: s.current_round().number,
        schedule: schedule(state, s).await?,
        validator: s.validator,
        requested_go_live: s.current_round().requested_go_live,
        publication_at: s.publication_at,
    })
}

async fn view(state: &AppState, s: Submission, party: Party) -> ApiResult<SubmissionView> {
    let offering = scheduler::offering_by_id(state, &s).await?;
    let records = state
        .store
        .audit(&AuditQuery {
            offering: Some(s.offering_id),
            subject_kind: Some(SubjectKind::Submission),
            limit: 1000,
            ..Default::default()
        })
        .await?;
    let id = s.id.to_string();
    let mut timeline: Vec<TimelineEntry> = records
        .into_iter()
        .filter(|r| r.event.subject_id == id)
        // A decision is recorded in the timeline only once the provider may see it.
        .filter(|r| party != Party::Provider || r.event.action != "submission.decide")
        .map(|r| TimelineEntry {
            state: r
                .event
                .after
                .as_ref()
                .and_then(|a| a.get("state"))
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            action: r.event.action,
            at: r.event.at,
            actor: r.event.actor,
        })
        .collect();
    timeline.sort_by_key(|e| e.at);
    let schedule = schedule(state, &s).await?;
    // Every party to a submission (its provider's members, staff) may read the checks.
    let checks = crate::checks::summary(state, &offering).await?;
    let actions = go_live::actions(&s, party)
        .into_iter()
        .map(str::to_owned)
        .collect();
    Ok(SubmissionView {
        actions,
        submission: redact(s, party),
        offering_name: offering.name.as_str().to_owned(),
        schedule,
        timeline,
        checks,
    })
}

use vitrine_http::auth::visible_submission as load;

fn about<'a>(s: &'a Submission, ctx: &'a Context) -> About<'a> {
    About {
        submission: s,
        offering: &ctx.offering,
        provider: &ctx.provider,
    }
}

/// Starts a go-live submission (a draft) for an offering. Refused with 422 listing every
/// missing item when the provider is not approved or the checklist does not hold.
#[utoipa::path(post, path = "/api/v1/offerings/{name}/submissions", tag = TAG,
    params(("name" = String, Path)),
    responses((status = 201, body = SubmissionView), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem),
        (status = 422, response = Problem)))]
pub async fn create_submission(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<SubmissionView>)> {
    let offering = managed(&state, &caller, &name).await?;
    let provider = state
        .store
        .account(offering.provider_account_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let open = state
        .store
        .open_submission_for(offering.id)
        .await?
        .is_some();
    let evidence = common::check_evidence(&state, offering.id).await?;
    let now = state.clock.now();
    let (created, event) = go_live::create(
        &caller.actor,
        &offering,
        &provider,
        evidence.as_ref(),
        open,
        now,
    )?;
    match state.store.insert_submission(&created, &[event], &[]).await {
        Err(StoreError::Duplicate { .. }) => Err(DomainError::conflict(tr!(
            "go_live.submission_open",
            "this offering already has a submission in progress; continue that one",
            "cette offre a déjà une soumission en cours ; poursuivez celle-ci"
        ))
        .into()),
        other => other.map_err(ApiError::from),
    }?;
    Ok((
        StatusCode::CREATED,
        Json(view(&state, created, Party::Provider).await?),
    ))
}

/// An offering the caller manages or, for staff, any offering; others get 404.
async fn managed(state: &AppState, caller: &Caller, name: &str) -> ApiResult<Offering> {
    let offering = offering_or_404(state, name).await?;
    if caller.audience().manages(&offering) || caller.actor.is_staff() {
        Ok(offering)
    } else {
        Err(ApiError::not_found())
    }
}

/// Which submissions to list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SubmissionsParams {
    /// Comma-separated states (`approved,publication_scheduled`).
    #[param(
        pattern = "^(?:draft|queued|in_review|decided_pending_release|changes_requested|approved|rejected|publication_scheduled|published|withdrawn|appealed)(?:,(?:draft|queued|in_review|decided_pending_release|changes_requested|approved|rejected|publication_scheduled|published|withdrawn|appealed))*$"
    )]
    pub state: String,
}

/// Every submission in the given states (admins): what awaits a publication, what is in
/// review, … Oldest first within each state, states in the order given.
#[utoipa::path(get, path = "/api/v1/submissions", tag = TAG, params(SubmissionsParams),
    responses((status = 200, body = Vec<SubmissionSummary>), (status = 403, response = Problem),
        (status = 422, response = Problem)))]
pub async fn list_submissions(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiQuery(params): ApiQuery<SubmissionsParams>,
) -> ApiResult<Json<Vec<SubmissionSummary>>> {
    if !caller.actor.staff.admin {
        return Err(ApiError::new(
            ProblemKind::Forbidden,
            tr!(
                "submissions.admin_only",
                "only admins list submissions across providers",
                "seuls les administrateurs listent les soumissions de tous les fournisseurs"
            ),
        ));
    }
    let mut states = Vec::new();
    // Exactly as the document's pattern says: names joined by commas, nothing else.
    for name in params.state.split(',') {
        let parsed = SubmissionState::parse(name).ok_or_else(|| {
            ApiError::from(DomainError::invalid(
                "state",
                tr!(
                    "submissions.unknown_state",
                    "`{name}` is not a submission state",
                    "`{name}` n’est pas un état de soumission"
                ),
            ))
        })?;
        states.push(parsed);
    }
    let mut out = Vec::new();
    for wanted in states {
        for s in state.store.submissions_in_state(wanted).await? {
            out.push(summary(&state, &s).await?);
        }
    }
    Ok(Json(out))
}

/// The submissions of an offering, oldest first (its provider's members and staff).
#[utoipa::path(get, path = "/api/v1/offerings/{name}/submissions", tag = TAG,
    params(("name" = String, Path)),
    responses((status = 200, body = Vec<SubmissionSummary>), (status = 404, response = Problem)))]
pub async fn list_offering_submissions(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Vec<SubmissionSummary>>> {
    let offering = managed(&state, &caller, &name).await?;
    let mut out = Vec::new();
    for s in state.store.submissions_of_offering(offering.id).await? {
        out.push(summary(&state, &s).await?);
    }
    Ok(Json(out))
}

/// A submission: state, rounds, timeline and, while it waits, its dates and queue position.
#[utoipa::path(get, path = "/api/v1/submissions/{id}", tag = TAG,
    params(("id" = String, Path)),
    responses((status = 200, body = SubmissionView), (status = 404, response = Problem)))]
pub async fn get_submission(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<SubmissionId>,
) -> ApiResult<Json<SubmissionView>> {
    let (s, party) = load(&state, &caller, id).await?;
    Ok(Json(view(&state, s, party).await?))
}

/// Changes to the open round; absent fields are kept.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoundPatch {
    /// The round's recordings (ids of recordings uploaded to this submission).
    pub recordings: Option<Vec<RecordingId>>,
    /// Notes for the validator.
    pub notes: Option<String>,
    /// The go-live date asked for; `null` clears it.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub requested_go_live: Option<Option<Date>>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// Edits the open round (a draft, or the next round after changes were requested).
#[utoipa::path(patch, path = "/api/v1/submissions/{id}", tag = TAG,
    params(("id" = String, Path)), request_body = RoundPatch,
    responses((status = 200, body = SubmissionView), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem)))]
pub async fn edit_submission(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<SubmissionId>,
    ApiJson(input): ApiJson<RoundPatch>,
) -> ApiResult<Json<SubmissionView>> {
    let (s, party) = load(&state, &caller, id).await?;
    if let Some(ids) = &input.recordings {
        let mine = state.store.recordings_of(s.id).await?;
        for (i, r) in ids.iter().enumerate() {
            if !mine.iter().any(|m| m.id == *r) {
                return Err(ApiError::invalid_field(
                    format!("recordings.{i}"),
                    tr!(
                        "submission.foreign_recording",
                        "is not a recording uploaded to this submission",
                        "n’est pas un enregistrement déposé pour cette soumission"
                    ),
                ));
            }
        }
    }
    let now = state.clock.now();
    let today = scheduler::calendar(&state).await?.date_of(now);
    let input = RoundInput {
        recordings: input.recordings,
        notes: input.notes,
        requested_go_live: input.requested_go_live,
    };
    let (next, event) = go_live::edit_round(&caller.actor, &s, input, today, now)?;
    state.store.update_submission(&next, &[event], &[]).await?;
    Ok(Json(view(&state, next, party).await?))
}

/// Submits the open round: it is frozen and queued; the provider's members are emailed
/// the review date, decision date and queue position.
#[utoipa::path(post, path = "/api/v1/submissions/{id}/submit", tag = TAG,
    params(("id" = String, Path)),
    responses((status = 200, body = SubmissionView), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem),
        (status = 422, response = Problem)))]
pub async fn submit(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<SubmissionId>,
) -> ApiResult<Json<SubmissionView>> {
    let (s, party) = load(&state, &caller, id).await?;
    let requirements = state.store.current_requirements().await?;
    let evidence = common::check_evidence(&state, s.offering_id).await?;
    let now = state.clock.now();
    let (next, event) = go_live::submit(&caller.actor, &s, &requirements, evidence.as_ref(), now)?;
    let queue = Queue::read(&state).await?;
    let after = queue.with(&next);
    let placement = after
        .plan(now)
        .into_iter()
        .find(|p| p.id == next.id)
        .ok_or_else(|| ApiError::internal("a queued submission has no place", next.id))?;
    let ctx = scheduler::context(&state, &next).await?;
    let rendered = notify::queued(
        &state.mail,
        &about(&next, &ctx),
        &placement.session,
        placement.position,
        &ctx.members,
    )?;
    let mut emails = scheduler::outbox(rendered, Some(next.id), now)?;
    // A resubmission goes ahead of first-time submissions: theirs may move a week.
    let moves = scheduler::dates_moved(
        &state,
        Some(caller.user.id),
        (&queue, now),
        &after,
        DatesMovedReason::Queue,
        now,
    )
    .await?;
    emails.extend(moves.emails);
    let mut events = vec![event];
    events.extend(moves.events);
    state
        .store
        .update_submission(&next, &events, &emails)
        .await?;
    // Checked prerequisites: a go-live request starts a run of the offering's checks (if
    // it has a broker), so the validator reads fresh evidence on Tuesday. The request
    // stands even if the run cannot start; the validator starts one from the review.
    if let Some(checks) = state.checks.as_ref()
        && let Some(offering) = state.store.offering_by_id(next.offering_id).await?
        && let Err(error) = checks.start_for_submission(&caller.actor, &offering).await
    {
        tracing::warn!(%error, submission = %next.id, "no check run for a go-live request");
    }
    Ok(Json(view(&state, next, party).await?))
}

/// Withdraws the submission (its provider, until its decision is released).
#[utoipa::path(post, path = "/api/v1/submissions/{id}/withdraw", tag = TAG,
    params(("id" = String, Path)),
    responses((status = 200, body = SubmissionView), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem)))]
pub async fn withdraw(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<SubmissionId>,
) -> ApiResult<Json<SubmissionView>> {
    let (s, party) = load(&state, &caller, id).await?;
    let now = state.clock.now();
    let (next, event) = go_live::withdraw(&caller.actor, &s, now)?;
    // Leaving the queue moves those behind it earlier: they are told.
    let moves = if s.state == SubmissionState::Queued {
        let queue = Queue::read(&state).await?;
        scheduler::dates_moved(
            &state,
            Some(caller.user.id),
            (&queue, now),
            &queue.with(&next),
            DatesMovedReason::Queue,
            now,
        )
        .await?
    } else {
        scheduler::DateMoves::default()
    };
    let mut events = vec![event];
    events.extend(moves.events);
    state
        .store
        .update_submission(&next, &events, &moves.emails)
        .await?;
    Ok(Json(view(&state, next, party).await?))
}

/// The validator's judgement of a round.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    /// One verdict per requirement of the round's requirement version.
    pub verdicts: Vec<Verdict>,
    pub decision: Decision,
    /// Required to reject.
    pub reason: Option<String>,
}

/// Records the assigned validator's decision; it reaches the provider on decision day. Of
/// two concurrent decisions one wins and the other gets 409.
#[utoipa::path(post, path = "/api/v1/submissions/{id}/decision", tag = TAG,
    params(("id" = String, Path)), request_body = DecisionInput,
    responses((status = 200, body = SubmissionView), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem),
        (status = 422, response = Problem)))]
pub async fn decide(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<SubmissionId>,
    ApiJson(input): ApiJson<DecisionInput>,
) -> ApiResult<Json<SubmissionView>> {
    let (s, party) = load(&state, &caller, id).await?;
    let requirements = scheduler::requirements_of(&state, &s).await?;
    let (next, event) = go_live::decide(
        &caller.actor,
        &s,
        &requirements,
        &input.verdicts,
        input.decision,
        input.reason.as_deref(),
        state.clock.now(),
    )?;
    state.store.update_submission(&next, &[event], &[]).await?;
    Ok(Json(view(&state, next, party).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    pub body: String,
}

/// Who wrote a message, as the thread shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthorRole {
    /// A member of the provider's account.
    Provider,
    Validator,
    Admin,
}

/// A message of the thread with its author's name and role ("Ana Souza, validator").
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    #[serde(flatten)]
    pub message: Message,
    /// The author's display name (empty if the account was deleted).
    pub author_name: String,
    pub author_role: AuthorRole,
}

/// Each message with its author's name and role; one lookup per author.
async fn with_authors(state: &AppState, messages: Vec<Message>) -> ApiResult<Vec<MessageView>> {
    let mut authors: std::collections::BTreeMap<UserId, Option<User>> =
        std::collections::BTreeMap::new();
    for message in &messages {
        if let std::collections::btree_map::Entry::Vacant(slot) = authors.entry(message.author) {
            slot.insert(state.store.user(message.author).await?);
        }
    }
    Ok(messages
        .into_iter()
        .map(|message| {
            let author = authors.get(&message.author).and_then(Option::as_ref);
            let author_role = match (message.side, author) {
                (Side::Provider, _) => AuthorRole::Provider,
                (Side::Validator, Some(user)) if user.staff.validator => AuthorRole::Validator,
                (Side::Validator, _) => AuthorRole::Admin,
            };
            MessageView {
                author_name: author.map(|u| u.display_name.clone()).unwrap_or_default(),
                author_role,
                message,
            }
        })
        .collect())
}

/// The thread between the provider and the marketplace, oldest first, each message with
/// its author's name and role.
#[utoipa::path(get, path = "/api/v1/submissions/{id}/messages", tag = TAG,
    params(("id" = String, Path)),
    responses((status = 200, body = Vec<MessageView>), (status = 404, response = Problem)))]
pub async fn list_messages(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<SubmissionId>,
) -> ApiResult<Json<Vec<MessageView>>> {
    let (s, _) = load(&state, &caller, id).await?;
    let messages = state.store.messages(s.id).await?;
    Ok(Json(with_authors(&state, messages).await?))
}

/// Writes in the thread; the other side is emailed (the provider's members, or the
/// assigned validator — the admins while none is assigned).
#[utoipa::path(post, path = "/api/v1/submissions/{id}/messages", tag = TAG,
    params(("id" = String, Path)), request_body = NewMessage,
    responses((status = 201, body = MessageView), (status = 403, response = Problem),
        (status = 404, response = Problem)))]
pub async fn post_message(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<SubmissionId>,
    ApiJson(input): ApiJson<NewMessage>,
) -> ApiResult<(StatusCode, Json<MessageView>)> {
    let (s, _) = load(&state, &caller, id).await?;
    let now = state.clock.now();
    let prepared =
        thread::prepare_message(&state, &caller.user, &caller.actor, &s, &input.body, now).await?;
    state
        .store
        .insert_message(&prepared.message, &prepared.events, &prepared.emails)
        .await?;
    let mut written = with_authors(&state, vec![prepared.message]).await?;
    let view = written
        .pop()
        .ok_or_else(|| ApiError::internal("a written message has no view", id))?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicationInput {
    /// When the offering becomes public. Default: the start of the provider's requested
    /// go-live date in the marketplace's time zone.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Option<Timestamp>,
}

/// Schedules the publication of an approved submission (admins); the provider's members
/// are emailed.
#[utoipa::path(post, path = "/api/v1/submissions/{id}/publication", tag = TAG,
    params(("id" = String, Path)), request_body = PublicationInput,
    responses((status = 200, body = SubmissionView), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem),
        (status = 422, response = Problem)))]
pub async fn schedule_publication(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<SubmissionId>,
    ApiJson(input): ApiJson<PublicationInput>,
) -> ApiResult<Json<SubmissionView>> {
    let (s, party) = load(&state, &caller, id).await?;
    go_live::may(&caller.actor, &s, Transition::SchedulePublication)?;
    let calendar = scheduler::calendar(&state).await?;
    let at = match (input.at, s.current_round().requested_go_live) {
        (Some(at), _) => at,
        (None, Some(date)) => calendar.start_of(date),
        (None, None) => {
            return Err(ApiError::invalid_field(
                "at",
                tr!(
                    "publication.time_required",
                    "the provider asked for no date; give the publication time",
                    "le fournisseur n’a demandé aucune date ; donnez l’heure de publication"
                ),
            ));
        }
    };
    let now = state.clock.now();
    let (next, event) = go_live::schedule_publication(&caller.actor, &s, at, now)?;
    let ctx = scheduler::context(&state, &next).await?;
    let rendered = notify::publication(&state.mail, &about(&next, &ctx), at, None, &ctx.members)?;
    let emails = scheduler::outbox(rendered, Some(next.id), now)?;
    state
        .store
        .update_submission(&next, &[event], &emails)
        .await?;
    Ok(Json(view(&state, next, party).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnpublishInput {
    /// Why, told to the provider.
    pub reason: String,
}

/// Takes a public offering back to limited visibility (admins), with a reason; the
/// provider's members are emailed in the thread of the submission that published it.
#[utoipa::path(post, path = "/api/v1/offerings/{name}/unpublish", tag = TAG,
    params(("name" = String, Path)), request_body = UnpublishInput,
    responses((status = 200, body = ManagedOffering), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem)))]
pub async fn unpublish(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<UnpublishInput>,
) -> ApiResult<Json<ManagedOffering>> {
    caller.actor.require_admin(tr!(
        "offering.unpublish_admin_only",
        "only an admin can unpublish a public offering",
        "seul un administrateur peut dépublier une offre publique"
    ))?;
    let current = offering_or_404(&state, &name).await?;
    if input.reason.trim().is_empty() {
        return Err(ApiError::invalid_field(
            "reason",
            tr!(
                "offering.unpublish_reason",
                "say why the offering is unpublished",
                "dites pourquoi l’offre est dépubliée"
            ),
        ));
    }
    if current.visibility != Visibility::Public {
        return Err(DomainError::conflict(tr!(
            "offering.not_public",
            "the offering is not public",
            "l’offre n’est pas publique"
        ))
        .into());
    }
    let now = state.clock.now();
    let (next, event) = offering::set_visibility(
        &caller.actor,
        &current,
        Visibility::Limited,
        Some(&input.reason),
        now,
    )?;
    let published = state
        .store
        .submissions_of_offering(current.id)
        .await?
        .into_iter()
        .rev()
        .find(|s| s.state == SubmissionState::Published);
    match published {
        Some(s) => {
            // The submission carries the thread: it is written (version-checked, no change
            // but its version) with the offering in one transaction, with the email.
            let provider = state
                .store
                .account(s.provider_account_id)
                .await?
                .ok_or_else(ApiError::not_found)?;
            let members = notify::members(&state, &provider).await?;
            let rendered = notify::publication(
                &state.mail,
                &About {
                    submission: &s,
                    offering: &next,
                    provider: &provider,
                },
                now,
                Some(input.reason.trim()),
                &members,
            )?;
            let emails = scheduler::outbox(rendered, Some(s.id), now)?;
            let mut touched = s.clone();
            touched.version = s.version + 1;
            touched.updated_at = now;
            state
                .store
                .publish(&touched, &next, &[event], &emails)
                .await?;
        }
        None => state.store.update_offering(&next, &[event]).await?,
    }
    Ok(Json(ManagedOffering::load(&state, next).await?))
}
