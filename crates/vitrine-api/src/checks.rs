//! Checked prerequisites: an offering's service broker (registered by its provider, the
//! password never shown again) and the runs of its checks (started by the provider or a
//! validator, or by a go-live request), each with its report and what changed since the
//! run before. The runs are `vitrine-checks`' work; this is the thin HTTP face of it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vitrine_checks::{CheckChange, Outcome, Report, SpecRef, Step};
use vitrine_checks_store::ChecksStore;
use vitrine_domain::checks::{self, BrokerInput, BrokerRegistration, CheckRun, RunTrigger};
use vitrine_domain::tr;
use vitrine_domain::{CheckRunId, Offering};

use crate::common::{offering_or_404, tags};
use vitrine_http::AppState;
use vitrine_http::auth::{Caller, SignedIn};
use vitrine_http::extract::{ApiJson, ApiPath};
use vitrine_http::problem::{ApiError, ApiResult, Problem, ProblemKind};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_broker, put_broker))
        .routes(routes!(start_checks, list_checks))
        .routes(routes!(get_check_run))
}

fn checks(state: &AppState) -> ApiResult<&vitrine_checks::Checks> {
    state.checks.as_ref().ok_or_else(|| {
        ApiError::new(
            ProblemKind::Unavailable,
            tr!("checks.off", "broker checks are off on this server: its secret key could not be read", "les vérifications de broker sont désactivées sur ce serveur : sa clé secrète n’a pas pu être lue"),
        )
    })
}

/// The offering, if the caller may read its checks (its provider's members, staff); 404
/// otherwise, as for every offering one may not see managed.
async fn readable(state: &AppState, caller: &Caller, name: &str) -> ApiResult<Offering> {
    let offering = offering_or_404(state, name).await?;
    if checks::may_read(&caller.actor, &offering) {
        Ok(offering)
    } else {
        Err(ApiError::not_found())
    }
}

/// The broker registration, without its password.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BrokerView {
    /// `null` until the provider registers one.
    pub registration: Option<BrokerRegistration>,
    /// The OSB versions vitrine speaks.
    pub versions: Vec<&'static str>,
}

/// The offering's broker registration (its provider's members and staff).
#[utoipa::path(get, path = "/api/v1/offerings/{name}/broker", tag = tags::OFFERINGS,
    params(("name" = String, Path)),
    responses((status = 200, body = BrokerView), (status = 401, response = Problem),
        (status = 404, response = Problem), (status = 503, response = Problem)))]
pub async fn get_broker(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<BrokerView>> {
    let offering = readable(&state, &caller, &name).await?;
    let registration = checks(&state)?.registration(&offering).await?;
    Ok(Json(BrokerView {
        registration,
        versions: checks::OSB_VERSIONS.to_vec(),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutBroker {
    /// The broker's base URL (`https://…`; `/v2/catalog` is joined to it), without
    /// credentials, query or fragment.
    #[schema(min_length = 1, max_length = 2048)]
    pub url: String,
    #[schema(pattern = "vitrine:text:1:255")]
    pub username: String,
    /// Required the first time; omit it to keep the stored one, give a new one to rotate.
    /// Sealed at rest and never shown again.
    #[schema(pattern = "vitrine:text:1:1024")]
    pub password: Option<String>,
    /// One of 2.13 to 2.17; default 2.17 (or the current one).
    pub api_version: Option<String>,
}

/// Registers or changes the offering's broker (its provider's members).
#[utoipa::path(put, path = "/api/v1/offerings/{name}/broker", tag = tags::OFFERINGS,
    params(("name" = String, Path)), request_body = PutBroker,
    responses((status = 200, body = BrokerRegistration), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem),
        (status = 422, response = Problem), (status = 503, response = Problem)))]
pub async fn put_broker(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<PutBroker>,
) -> ApiResult<Json<BrokerRegistration>> {
    let offering = readable(&state, &caller, &name).await?;
    let input = BrokerInput {
        url: body.url,
        username: body.username,
        password: body.password,
        api_version: body.api_version,
    };
    Ok(Json(
        checks(&state)?
            .register(&caller.actor, &offering, input)
            .await?,
    ))
}

/// Starts a run of the offering's checks: members of its provider (at most 5 an hour) and
/// staff. 202 with the queued run; 200 with the run already under way, if one is.
#[utoipa::path(post, path = "/api/v1/offerings/{name}/checks", tag = tags::OFFERINGS,
    params(("name" = String, Path)),
    responses((status = 202, body = CheckRun), (status = 200, body = CheckRun),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem),
        (status = 429, response = Problem), (status = 503, response = Problem)))]
pub async fn start_checks(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<CheckRun>)> {
    let offering = readable(&state, &caller, &name).await?;
    let trigger = if caller.actor.is_member(offering.provider_account_id) {
        RunTrigger::Provider
    } else {
        RunTrigger::Validator
    };
    let (run, queued) = checks(&state)?
        .start(&caller.actor, &offering, trigger)
        .await?;
    let status = if queued {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(run)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckRuns {
    /// Newest first, the last 50.
    pub items: Vec<CheckRun>,
}

/// The offering's check runs, newest first (its provider's members and staff).
#[utoipa::path(get, path = "/api/v1/offerings/{name}/checks", tag = tags::OFFERINGS,
    params(("name" = String, Path)),
    responses((status = 200, body = CheckRuns), (status = 401, response = Problem),
        (status = 404, response = Problem)))]
pub async fn list_checks(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<CheckRuns>> {
    let offering = readable(&state, &caller, &name).await?;
    let items = state.store.check_runs(offering.id, 50).await?;
    Ok(Json(CheckRuns { items }))
}

/// A run with its report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckRunView {
    pub run: CheckRun,
    /// The checker's report once the run finished (or was interrupted): every check with
    /// its outcome, the spec's words it is held to, the requests and answers (credentials
    /// redacted) and timings; what was left on the broker.
    pub report: Option<Report>,
    /// The finished run before this one, which `changes` compares with.
    pub previous: Option<CheckRunId>,
    /// Checks whose outcome differs from the previous finished run's.
    pub changes: Vec<CheckChange>,
}

/// One run and its report (its provider's members and staff).
#[utoipa::path(get, path = "/api/v1/offerings/{name}/checks/{run}", tag = tags::OFFERINGS,
    params(("name" = String, Path), ("run" = String, Path)),
    responses((status = 200, body = CheckRunView), (status = 401, response = Problem),
        (status = 404, response = Problem)))]
pub async fn get_check_run(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath((name, run_id)): ApiPath<(String, CheckRunId)>,
) -> ApiResult<Json<CheckRunView>> {
    let offering = readable(&state, &caller, &name).await?;
    let run = state
        .store
        .check_run(run_id)
        .await?
        .filter(|r| r.offering_id == offering.id)
        .ok_or_else(ApiError::not_found)?;
    let runs = state.store.check_runs(offering.id, 50).await?;
    let report = stored_report(&state, run.id).await?;
    let previous = previous_finished(&runs, &run);
    let changes = changes_since(&state, previous, report.as_ref()).await?;
    Ok(Json(CheckRunView {
        run,
        report,
        previous,
        changes,
    }))
}

/// A failing check as a summary lists it: what failed, why, and the spec's words.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FailingCheck {
    /// The checker's stable id, such as `catalog.unique_plan_ids`.
    pub id: String,
    pub step: Step,
    pub detail: Option<String>,
    pub spec: SpecRef,
}

/// The offering's latest check run in short, as the review shows it beside the demo: the
/// verdicts per step, the failing checks, what changed since the run before; the whole
/// report is at `report`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChecksSummary {
    /// The latest run that ended (finished or interrupted); the latest run under way when
    /// none has ended yet.
    pub run: CheckRun,
    /// Every check passed; `null` until the run finished (an interrupted run says nothing).
    pub passed: Option<bool>,
    /// The run's failing checks, in the report's order.
    pub failing: Vec<FailingCheck>,
    /// The finished run before `run`, which `changes` compares with.
    pub previous: Option<CheckRunId>,
    /// Checks whose outcome differs from the previous finished run's.
    pub changes: Vec<CheckChange>,
    /// A newer run, queued or running, if one is.
    pub under_way: Option<CheckRun>,
    /// Where the run's whole report is: `GET` this path (a `CheckRunView`).
    pub report_path: String,
}

/// The summary of the offering's latest run, if it has any. The caller has read the
/// offering through a rule at least as strict as [`checks::may_read`] (a submission's
/// parties are its provider's members and staff).
pub async fn summary(state: &AppState, offering: &Offering) -> ApiResult<Option<ChecksSummary>> {
    let runs = state.store.check_runs(offering.id, 50).await?;
    let ended = runs.iter().find(|r| !r.state.is_under_way());
    let under_way = runs
        .iter()
        .find(|r| r.state.is_under_way())
        .filter(|r| ended.is_none_or(|e| r.created_at > e.created_at));
    let Some(run) = ended.or(under_way).cloned() else {
        return Ok(None);
    };
    let report = match ended {
        Some(ended) => stored_report(state, ended.id).await?,
        None => None,
    };
    let previous = ended.and_then(|e| previous_finished(&runs, e));
    let changes = changes_since(state, previous, report.as_ref()).await?;
    let failing = report
        .iter()
        .flat_map(|r| r.checks.iter())
        .filter(|c| c.outcome == Outcome::Failed)
        .map(|c| FailingCheck {
            id: c.id.clone(),
            step: c.step,
            detail: c.detail.clone(),
            spec: c.spec.clone(),
        })
        .collect();
    Ok(Some(ChecksSummary {
        passed: run.verdicts.as_ref().map(|v| v.passed()),
        report_path: format!(
            "/api/v1/offerings/{}/checks/{}",
            offering.name.as_str(),
            run.id
        ),
        under_way: if ended.is_some() {
            under_way.cloned()
        } else {
            None
        },
        run,
        failing,
        previous,
        changes,
    }))
}

/// The finished run just before `run` (`runs` newest first), which a diff compares with.
fn previous_finished(runs: &[CheckRun], run: &CheckRun) -> Option<CheckRunId> {
    runs.iter()
        .filter(|r| r.state == checks::RunState::Finished && r.created_at < run.created_at)
        .max_by_key(|r| r.created_at)
        .map(|r| r.id)
}

/// What changed from the `previous` run's report to `current`.
async fn changes_since(
    state: &AppState,
    previous: Option<CheckRunId>,
    current: Option<&Report>,
) -> ApiResult<Vec<CheckChange>> {
    let (Some(previous), Some(current)) = (previous, current) else {
        return Ok(vec![]);
    };
    Ok(match stored_report(state, previous).await? {
        Some(before) => vitrine_checks::changes(&before, current),
        None => vec![],
    })
}

/// A run's stored report, read once into the checker's type (served as is).
async fn stored_report(state: &AppState, run: CheckRunId) -> ApiResult<Option<Report>> {
    Ok(state
        .store
        .check_report(run)
        .await?
        .map(|text| vitrine_checks::read_report(&text))
        .transpose()?)
}
