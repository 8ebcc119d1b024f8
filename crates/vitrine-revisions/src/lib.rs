//! Revisions of a live offering and appeals of a rejection, over HTTP. The JSON API
//! (`vitrine-api`) merges [`router`] into its own, so these operations are part of one
//! OpenAPI document. A revision is a submission of another kind: once submitted for
//! review, the go-live routes (`/api/v1/submissions/{id}/…`: decision, thread, schedule,
//! publication) serve it as they serve any submission; what is its own is here.
//!
//! Handlers are thin: authenticate, load, call one function of `vitrine_jobs::revisions`
//! (which calls the domain's command and writes the change with its emails), respond.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vitrine_domain::go_live::{self, Appeal, Submission};
use vitrine_domain::offering::{ListingInput, MAX_PLANS, MAX_TAGS};
use vitrine_domain::revising::BrokerSettingsInput;
use vitrine_domain::revision::{Change, Revision, RevisionField};
use vitrine_domain::submission::{AppealOutcome, Party, SubmissionState};
use vitrine_domain::{Localized, OfferingName, Plan, SubmissionId, Timestamp, UserId, appeal, tr};
use vitrine_http::AppState;
use vitrine_http::auth::{Caller, SignedIn};
use vitrine_http::extract::{ApiJson, ApiPath};
use vitrine_http::problem::{ApiError, ApiResult, Problem, ProblemKind};
use vitrine_jobs::revisions;

/// The OpenAPI tag of these operations.
pub const TAG: &str = "revisions";

/// The routes of this crate, with their OpenAPI descriptions.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_revision))
        .routes(routes!(get_revision, edit_revision))
        .routes(routes!(submit_revision))
        .routes(routes!(get_appeal, file_appeal))
        .routes(routes!(decide_appeal))
        .routes(routes!(list_appeals))
}

/// A revision beside the live version: what each proposes, the diff, and whether the
/// operator's rule sends it through review.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RevisionView {
    pub submission_id: SubmissionId,
    pub offering_name: String,
    pub state: SubmissionState,
    /// What the caller may do now (the submission's actions: `edit`, `submit`, …).
    pub actions: Vec<String>,
    /// The live version customers see.
    pub live: Revision,
    pub proposed: Revision,
    /// Field by field, both languages, plans added, removed and changed.
    pub changes: Vec<Change>,
    /// Whether submitting it now goes through the go-live review (else it is published at
    /// once).
    pub needs_review: bool,
    /// The fields the operator's rule sends through review.
    pub review_fields: Vec<RevisionField>,
}

use vitrine_http::auth::visible_submission as load;

async fn revision_view(state: &AppState, s: Submission, party: Party) -> ApiResult<RevisionView> {
    let Some(proposed) = s.revision.clone() else {
        return Err(ApiError::new(
            ProblemKind::NotFound,
            tr!(
                "revision.none",
                "this submission is a go-live request, not a revision",
                "cette soumission est une demande de mise en ligne, pas une révision"
            ),
        ));
    };
    let offering = state
        .store
        .offering_by_id(s.offering_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let (live, changes) = revisions::compared(state, &s).await?;
    let rule = &state.config.revision_review;
    Ok(RevisionView {
        submission_id: s.id,
        offering_name: offering.name.as_str().to_owned(),
        state: s.state,
        actions: go_live::actions(&s, party)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        live,
        proposed,
        needs_review: rule.needs_review(&changes),
        changes,
        review_fields: rule.fields.iter().copied().collect(),
    })
}

/// Starts a revision of a public offering (its provider's members): a draft holding a copy
/// of the live version, which customers keep seeing untouched. One open revision or
/// submission per offering.
#[utoipa::path(post, path = "/api/v1/offerings/{name}/revisions", tag = TAG,
    params(("name" = String, Path)),
    responses((status = 201, description = "The new draft revision", body = RevisionView),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
        (status = 409, response = Problem)))]
pub async fn start_revision(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<RevisionView>)> {
    let name = OfferingName::parse("name", &name).map_err(|_| ApiError::not_found())?;
    let offering = state
        .store
        .offering_by_name(&name)
        .await?
        .filter(|o| caller.audience().admits(o))
        .ok_or_else(ApiError::not_found)?;
    let created = revisions::start(&state, &caller.actor, &offering).await?;
    Ok((
        StatusCode::CREATED,
        Json(revision_view(&state, created, Party::Provider).await?),
    ))
}

/// A revision with the live version and the diff (its provider's members and staff; the
/// validator reviews the diff).
#[utoipa::path(get, path = "/api/v1/submissions/{id}/revision", tag = TAG,
    params(("id" = String, Path)),
    responses((status = 200, description = "The revision beside the live version", body = RevisionView),
        (status = 404, response = Problem)))]
pub async fn get_revision(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<SubmissionId>,
) -> ApiResult<Json<RevisionView>> {
    let (s, party) = load(&state, &caller, id).await?;
    Ok(Json(revision_view(&state, s, party).await?))
}

/// Broker settings a revision changes; absent fields are kept. The password is not part
/// of a revision: it is rotated on the broker registration.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrokerPatch {
    /// An https URL (http only for loopback addresses the operator allows).
    #[schema(max_length = 2000)]
    pub url: Option<String>,
    #[schema(pattern = "vitrine:text:1:255")]
    pub username: Option<String>,
    /// One of 2.13 to 2.17.
    pub api_version: Option<String>,
}

/// Changes to what the revision proposes; absent fields are kept, an empty text or list
/// clears an optional one (as for a live offering's listing).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevisionPatch {
    #[schema(value_type = Option<vitrine_domain::offering::LocalizedName>)]
    pub display_name: Option<Localized>,
    #[schema(value_type = Option<vitrine_domain::offering::LocalizedDescription>)]
    pub description: Option<Localized>,
    #[schema(pattern = "vitrine:optional_name")]
    pub category: Option<String>,
    #[schema(max_items = 20)]
    pub tags: Option<Vec<String>>,
    #[schema(pattern = "vitrine:optional_url")]
    pub documentation_url: Option<String>,
    #[schema(pattern = "vitrine:contact")]
    pub support_contact: Option<String>,
    #[schema(max_items = 20)]
    pub plans: Option<Vec<Plan>>,
    pub broker: Option<BrokerPatch>,
}

// The schema's limits are the domain's.
const _: () = assert!(MAX_PLANS == 20 && MAX_TAGS == 20);

/// Edits a draft revision (or, after changes were requested, the next round's).
#[utoipa::path(patch, path = "/api/v1/submissions/{id}/revision", tag = TAG,
    params(("id" = String, Path)), request_body = RevisionPatch,
    responses((status = 200, description = "The edited revision", body = RevisionView),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
        (status = 409, response = Problem),
        (status = 422, response = Problem)))]
pub async fn edit_revision(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<SubmissionId>,
    ApiJson(patch): ApiJson<RevisionPatch>,
) -> ApiResult<Json<RevisionView>> {
    let (s, party) = load(&state, &caller, id).await?;
    let listing = ListingInput {
        display_name: patch.display_name,
        description: patch.description,
        category: patch.category,
        tags: patch.tags,
        documentation_url: patch.documentation_url,
        support_contact: patch.support_contact,
        plans: patch.plans,
    };
    let broker = patch.broker.map(|b| BrokerSettingsInput {
        url: b.url,
        username: b.username,
        api_version: b.api_version,
    });
    let next = revisions::edit(&state, &caller.actor, &s, listing, broker).await?;
    Ok(Json(revision_view(&state, next, party).await?))
}

/// Submits a revision. If it changes a field the operator's rule sends through review, it
/// is queued like a go-live request (emails with its dates); otherwise it replaces the live
/// version at once (audited), and the submission is `published`.
#[utoipa::path(post, path = "/api/v1/submissions/{id}/revision/submit", tag = TAG,
    params(("id" = String, Path)),
    responses((status = 200, description = "Queued for review, or published", body = RevisionView),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
        (status = 409, response = Problem),
        (status = 422, response = Problem)))]
pub async fn submit_revision(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<SubmissionId>,
) -> ApiResult<Json<RevisionView>> {
    let (s, party) = load(&state, &caller, id).await?;
    let rule = &state.config.revision_review;
    let next = revisions::submit(&state, &caller.actor, &s, rule).await?;
    // Queued for review, a revision starts a run of the checks as a go-live request does,
    // against the broker it proposes (the validator approves that one). The submission
    // stands even if the run cannot start; the validator starts one from the review.
    if next.state == SubmissionState::Queued
        && let Some(checks) = state.checks.as_ref()
        && let Some(offering) = state.store.offering_by_id(next.offering_id).await?
    {
        let proposed = next.revision.as_ref().and_then(|r| r.broker.as_ref());
        if let Err(error) = checks
            .start_for_revision(&caller.actor, &offering, proposed)
            .await
        {
            tracing::warn!(%error, submission = %next.id, "no check run for a revision");
        }
    }
    Ok(Json(revision_view(&state, next, party).await?))
}

/// Where a submission stands towards an appeal.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AppealView {
    pub submission_id: SubmissionId,
    pub state: SubmissionState,
    /// Until when the current round's rejection may be appealed; `null` without a released
    /// rejection.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<Timestamp>,
    /// The appeal of the current round's rejection, once filed.
    pub appeal: Option<Appeal>,
    /// The round whose rejection is (or may be) appealed.
    pub round: u32,
    /// Who decided the rejection (staff only: never the one who hears the appeal).
    pub decided_by: Option<UserId>,
    /// The caller may appeal now.
    pub may_appeal: bool,
    /// The caller may hear the appeal now.
    pub may_decide: bool,
}

fn appeal_view(state: &AppState, caller: &Caller, s: &Submission) -> AppealView {
    // After a reopening the appeal is the previous round's.
    let round = s
        .rounds
        .iter()
        .rev()
        .find(|r| r.decision.as_ref().is_some_and(|d| d.appeal.is_some()))
        .filter(|_| s.state != SubmissionState::Rejected)
        .unwrap_or(s.current_round());
    let days = state.config.appeal_days;
    let now = state.clock.now();
    let may_appeal = s.state == SubmissionState::Rejected
        && appeal::appeal(&caller.actor, s, "a reason", days, now).is_ok();
    AppealView {
        submission_id: s.id,
        state: s.state,
        deadline: appeal::deadline(s, days),
        appeal: round.decision.as_ref().and_then(|d| d.appeal.clone()),
        round: round.number,
        decided_by: round
            .decision
            .as_ref()
            .filter(|_| caller.actor.is_staff())
            .map(|d| d.by),
        may_appeal,
        may_decide: appeal::may_take(&caller.actor, s).is_ok(),
    }
}

/// A submission's appeal: the deadline, the appeal once filed, and whether the caller may
/// appeal or hear it.
#[utoipa::path(get, path = "/api/v1/submissions/{id}/appeal", tag = TAG,
    params(("id" = String, Path)),
    responses((status = 200, description = "Where the submission stands towards an appeal", body = AppealView),
        (status = 404, response = Problem)))]
pub async fn get_appeal(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<SubmissionId>,
) -> ApiResult<Json<AppealView>> {
    let (s, _) = load(&state, &caller, id).await?;
    Ok(Json(appeal_view(&state, &caller, &s)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAppeal {
    /// Why the rejection should be reconsidered.
    #[schema(min_length = 1, max_length = 4000)]
    #[schema(pattern = "vitrine:text:1:4000")]
    pub reason: String,
}

/// Appeals the released rejection of the current round (its provider's members), once,
/// within the configured days (`--appeal-days`, default 14). The admins and the validators
/// who did not decide are emailed.
#[utoipa::path(post, path = "/api/v1/submissions/{id}/appeal", tag = TAG,
    params(("id" = String, Path)), request_body = NewAppeal,
    responses((status = 200, description = "Appealed", body = AppealView),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
        (status = 409, response = Problem),
        (status = 422, response = Problem)))]
pub async fn file_appeal(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<SubmissionId>,
    ApiJson(input): ApiJson<NewAppeal>,
) -> ApiResult<Json<AppealView>> {
    let (s, _) = load(&state, &caller, id).await?;
    let days = state.config.appeal_days;
    let next = revisions::file_appeal(&state, &caller.actor, &s, &input.reason, days).await?;
    Ok(Json(appeal_view(&state, &caller, &next)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppealDecision {
    pub outcome: AppealOutcome,
    /// For the provider; required to uphold.
    #[schema(max_length = 4000)]
    #[schema(pattern = "vitrine:optional_text:4000")]
    pub answer: Option<String>,
}

/// Hears an appeal (an admin or a validator other than the one who decided, never the
/// same person): upholds the rejection, or reopens the submission into a new round that
/// keeps its place in the queue. The provider is emailed; reopening also tells the
/// providers whose dates it moves.
#[utoipa::path(post, path = "/api/v1/submissions/{id}/appeal/decision", tag = TAG,
    params(("id" = String, Path)), request_body = AppealDecision,
    responses((status = 200, description = "Heard", body = AppealView),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
        (status = 409, response = Problem),
        (status = 422, response = Problem)))]
pub async fn decide_appeal(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<SubmissionId>,
    ApiJson(input): ApiJson<AppealDecision>,
) -> ApiResult<Json<AppealView>> {
    let (s, _) = load(&state, &caller, id).await?;
    let answer = input.answer.as_deref();
    let next = revisions::decide_appeal(&state, &caller.actor, &s, input.outcome, answer).await?;
    Ok(Json(appeal_view(&state, &caller, &next)))
}

/// An appeal waiting to be heard.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AppealSummary {
    pub submission_id: SubmissionId,
    pub offering_name: String,
    /// Whether it appeals the rejection of a revision (else of a go-live request).
    pub revision: bool,
    pub round: u32,
    pub appeal: Option<Appeal>,
}

/// The appeals the caller may hear (staff), oldest first; those of rejections the caller
/// decided are left out.
#[utoipa::path(get, path = "/api/v1/appeals", tag = TAG,
    responses((status = 200, description = "Appeals to hear", body = Vec<AppealSummary>),
        (status = 403, response = Problem)))]
pub async fn list_appeals(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
) -> ApiResult<Json<Vec<AppealSummary>>> {
    if !caller.actor.is_staff() {
        return Err(ApiError::new(
            ProblemKind::Forbidden,
            tr!(
                "appeal.staff_only",
                "only admins and validators hear appeals",
                "seuls les administrateurs et les validateurs examinent les appels"
            ),
        ));
    }
    let mut out = Vec::new();
    for s in state
        .store
        .submissions_in_state(SubmissionState::Appealed)
        .await?
    {
        if appeal::may_take(&caller.actor, &s).is_err() {
            continue;
        }
        let offering = state
            .store
            .offering_by_id(s.offering_id)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let round = s.current_round();
        out.push(AppealSummary {
            submission_id: s.id,
            offering_name: offering.name.as_str().to_owned(),
            revision: s.revision.is_some(),
            round: round.number,
            appeal: round.decision.as_ref().and_then(|d| d.appeal.clone()),
        });
    }
    Ok(Json(out))
}
