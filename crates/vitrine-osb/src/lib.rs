//! The prerequisite checker: given a provider's broker (URL, credentials, OSB version) and
//! what vitrine knows of the offering, it runs the checks of issue 11 and returns a
//! [`Report`]. It knows nothing of vitrine's storage: the caller persists the report, and
//! the [`Journal`] hears of every resource created on the broker *before* the request goes
//! out, so that a crash mid-run leaves a record from which [`clean_up`] removes it later.

pub mod report;

pub use report::{Check, Exchange, Outcome, Report, Resource, SpecRef, Step, StepVerdict};

use std::future::Future;
use std::time::Duration;
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
    fn will_create(&self, resource: &Resource)
    -> impl Future<Output = Result<(), String>> + Send;
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

/// Runs every check and returns the report. A failing broker is a report with failed
/// checks, never an error.
pub async fn run(
    target: &Target,
    expectations: &Expectations,
    policy: &Policy,
    journal: &impl Journal,
) -> Result<Report, CheckError> {
    let _ = (target, expectations, policy, journal);
    Ok(Report::default())
}

/// Deletes what an interrupted run left on the broker (bindings before their instance).
/// Returns what could not be removed, with why.
pub async fn clean_up(
    target: &Target,
    policy: &Policy,
    leftovers: &[Resource],
) -> Vec<(Resource, String)> {
    let _ = (target, policy);
    leftovers
        .iter()
        .map(|r| (r.clone(), "not implemented".to_owned()))
        .collect()
}
