//! The prerequisite checker: given a provider's broker (URL, credentials, OSB version) and
//! what vitrine knows of the offering, it runs the checks of issue 11 and returns a
//! [`Report`]. It knows nothing of vitrine's storage: the caller persists the report, and
//! the [`Journal`] hears of every resource created on the broker *before* the request goes
//! out, so that a crash mid-run leaves a record from which [`clean_up`] removes it later.
//!
//! Code map: `guard` (public) is the outbound HTTP every request goes through (no
//! redirects, no proxy, no private addresses unless allowed, time and size caps, redaction);
//! `broker` adds the OSB headers; `catalog`, `lifecycle`, `probes` and `pages` (documentation
//! and sign-in) make the checks; `checks` is the table of every check id with its step, the
//! spec's words and its titles ([`check_title`]); [`testing`] starts a real openbrokerapi
//! broker for tests.
//!
//! Architecture invariant: every check a run can emit is in `checks::DEFINITIONS`, and a run
//! emits each of them exactly once (passed, failed or skipped with the reason), in that order.

mod broker;
mod catalog;
mod checks;
pub mod guard;
mod lifecycle;
mod pages;
mod probes;
pub mod report;
pub mod testing;

pub use checks::check_title;
pub use report::{
    Check, CheckChange, Exchange, Outcome, Report, Resource, SpecRef, Step, StepVerdict, diff,
};

use std::future::Future;
use std::time::{Duration, Instant};
use url::Url;

/// The broker under test.
#[derive(Clone, Debug)]
pub struct Target {
    /// The broker's base URL; `/v2/catalog` and the rest are joined to it.
    pub broker_url: Url,
    pub username: String,
    pub password: String,
    /// The `X-Broker-API-Version` to speak, such as `2.17`.
    pub api_version: String,
}

/// What vitrine knows of the offering, against which the broker's answers are held.
#[derive(Clone, Debug, Default)]
pub struct Expectations {
    /// The programmatic names of the offering's plans in vitrine; the catalog's plan
    /// `name`s must match them.
    pub plan_names: Vec<String>,
    /// Step 1: the documentation URL, if the offering has one.
    pub documentation_url: Option<Url>,
    /// The offering's languages (`en`, `fr`): the documentation must answer in them.
    pub languages: Vec<String>,
    /// Step 4: the marketplace's authorization endpoint (operator configuration); without
    /// it the sign-in check is skipped and the step stays attested.
    pub authorization_endpoint: Option<Url>,
    /// Who started the run, sent as `X-Broker-API-Originating-Identity` (platform `vitrine`).
    pub originating_user: String,
}

/// What a hostile broker may not do to vitrine.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Loopback, private and link-local addresses are refused unless this is set.
    pub allow_private_addresses: bool,
    /// Each request's whole time limit.
    pub request_timeout: Duration,
    /// Most bytes read of any answer; more is a failed check, not an allocation.
    pub max_response_bytes: usize,
    /// The longest vitrine polls `last_operation` when the broker names no
    /// `maximum_polling_duration` (and the cap on the one it names).
    pub max_polling: Duration,
    /// The polling interval when the broker sends no `Retry-After`.
    pub poll_interval: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allow_private_addresses: false,
            request_timeout: Duration::from_secs(10),
            max_response_bytes: 1024 * 1024,
            max_polling: Duration::from_secs(300),
            poll_interval: Duration::from_secs(2),
        }
    }
}

/// Hears of the run as it goes. `will_create` is awaited before the request that creates
/// a resource goes out; an error there stops the run (nothing is created that could not be
/// recorded).
pub trait Journal: Send + Sync {
    fn will_create(&self, resource: &Resource) -> impl Future<Output = Result<(), String>> + Send;
    fn removed(&self, resource: &Resource) -> impl Future<Output = ()> + Send;
    /// A check finished (for progress shown while the run goes on).
    fn checked(&self, check: &Check) -> impl Future<Output = ()> + Send;
}

/// A journal that records nothing (benchmarks, tests).
pub struct NoJournal;

impl Journal for NoJournal {
    async fn will_create(&self, _resource: &Resource) -> Result<(), String> {
        Ok(())
    }
    async fn removed(&self, _resource: &Resource) {}
    async fn checked(&self, _check: &Check) {}
}

/// Why a run could not start at all (a bad target, not a failing broker: that is a report).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("the broker URL {0} is not http or https")]
    Scheme(String),
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
}

/// Every check id a run can emit, in the report's order.
pub fn check_ids() -> impl Iterator<Item = &'static str> {
    checks::DEFINITIONS.iter().map(|d| d.id)
}

fn check_scheme(url: &Url) -> Result<(), CheckError> {
    match url.scheme() {
        "http" | "https" => Ok(()),
        _ => Err(CheckError::Scheme(url.to_string())),
    }
}

/// Runs every check and returns the report. A failing broker is a report with failed
/// checks, never an error.
pub async fn run(
    target: &Target,
    expectations: &Expectations,
    policy: &Policy,
    journal: &impl Journal,
) -> Result<Report, CheckError> {
    let started = Instant::now();
    check_scheme(&target.broker_url)?;
    let guard = guard::Guard::new(policy)?;
    let broker = broker::Broker::new(&guard, target, &expectations.originating_user);
    let mut checks: Vec<Check> = Vec::new();

    let catalog = catalog::check(&broker, expectations).await;
    for check in &catalog.checks {
        journal.checked(check).await;
    }
    checks.extend(catalog.checks);

    let mut leftovers = Vec::new();
    let mut sign_in = None;
    match &catalog.chosen {
        Some(chosen) => {
            let mut lifecycle = lifecycle::Lifecycle::new(&broker, journal, policy, chosen.clone());
            lifecycle.provision().await;
            // The dashboard is visited while the instance lives.
            let dashboard = if lifecycle.instance.is_some() {
                Ok(lifecycle.dashboard_url.as_deref())
            } else {
                Err(lifecycle.why_no_instance.as_str())
            };
            let check = pages::sign_in(
                &guard,
                pages::SignIn {
                    authorization_endpoint: expectations.authorization_endpoint.as_ref(),
                    dashboard_url: dashboard,
                    client_id: chosen.dashboard_client_id.as_deref(),
                },
            )
            .await;
            journal.checked(&check).await;
            sign_in = Some(check);
            leftovers = lifecycle.finish().await;
            checks.append(&mut lifecycle.checks);
        }
        None => {
            for id in [
                "provision.created",
                "provision.last_operation",
                "instance.fetched",
                "binding.created",
                "binding.last_operation",
                "binding.fetched",
                "probe.unknown_binding_delete",
                "binding.deleted",
                "instance.deleted",
                "lifecycle.nothing_left",
            ] {
                let check = checks::begin(id).skipped(catalog.why_none.clone());
                journal.checked(&check).await;
                checks.push(check);
            }
        }
    }

    for check in probes::run(&broker, catalog.chosen.as_ref()).await {
        journal.checked(&check).await;
        checks.push(check);
    }
    for check in pages::documentation(&guard, expectations).await {
        journal.checked(&check).await;
        checks.push(check);
    }
    let sign_in = match sign_in {
        Some(check) => check,
        None => {
            let check = pages::sign_in(
                &guard,
                pages::SignIn {
                    authorization_endpoint: expectations.authorization_endpoint.as_ref(),
                    dashboard_url: Err(catalog.why_none.as_str()),
                    client_id: None,
                },
            )
            .await;
            journal.checked(&check).await;
            check
        }
    };
    checks.push(sign_in);
    // The report's order is the table's, whatever order they ran in.
    checks.sort_by_key(|c| checks::DEFINITIONS.iter().position(|d| d.id == c.id));

    Ok(Report {
        api_version: target.api_version.clone(),
        checks,
        leftovers,
        broker_ms: guard.total_ms(),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// Deletes what an interrupted run left on the broker (bindings before their instance).
/// Returns what could not be removed, with why.
pub async fn clean_up(
    target: &Target,
    policy: &Policy,
    leftovers: &[Resource],
) -> Vec<(Resource, String)> {
    let why_not = match check_scheme(&target.broker_url).and_then(|()| guard::Guard::new(policy)) {
        Ok(guard) => {
            let broker = broker::Broker::new(&guard, target, "vitrine-clean-up");
            return lifecycle::clean_up(&broker, policy, leftovers).await;
        }
        Err(e) => e.to_string(),
    };
    leftovers
        .iter()
        .map(|r| (r.clone(), why_not.clone()))
        .collect()
}
