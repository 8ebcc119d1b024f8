//! Checked prerequisites, the work around the checker: an offering's broker registration
//! (its password sealed at rest, [`seal`]), runs started by a provider, a validator or a
//! go-live request, queued in the database and run by whichever server claims them first
//! (a lease renewed while the run goes on), the checker's report stored with its verdicts
//! per checklist step, and runs a dead server left behind marked interrupted and their
//! broker resources removed.
//!
//! The checks themselves are `vitrine-osb`, which knows nothing of storage; this crate
//! feeds it the offering and the registration and hears, through its [`Journal`], of every
//! resource before it is created, writing it down so a crash leaves something to clean.

pub mod seal;

use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;
use tokio::sync::Notify;
use url::Url;
use vitrine_checks_store::{ChecksStore, InterruptedRun};
use vitrine_domain::checks::{
    self, BrokerInput, BrokerRegistration, BrokerSettings, CheckRun, FailedCheck, RunTrigger,
    Start, Verdict, Verdicts,
};
use vitrine_domain::{Actor, AuditEvent, CheckRunId, ChecklistStep, Offering, Timestamp};
use vitrine_jobs::{JobError, JobResult, Services};
use vitrine_osb::{Journal, StepVerdict};
use vitrine_store::{Store, StoreError};

pub use seal::{SealError, Sealer};
/// The checker's report as stored and served (with OpenAPI schemas under the `openapi`
/// feature), and what changed between two of them.
pub use vitrine_osb::{
    Check, CheckChange, Exchange, Outcome, Report, Resource, SpecRef, Step, diff as changes,
};

/// How the checks run on this server.
#[derive(Clone, Debug)]
pub struct CheckSettings {
    /// What a hostile broker may not do (timeouts, sizes, private addresses).
    pub policy: vitrine_osb::Policy,
    /// The marketplace's authorization endpoint, for step 4; `None`: step 4 stays attested.
    pub authorization_endpoint: Option<Url>,
    /// How long a claimed run is this server's without renewal; a run whose lease runs out
    /// (its server died) is interrupted and cleaned up by another.
    pub lease: Duration,
    /// How often the runner looks for queued runs and stale leases when nobody wakes it.
    pub poll_every: Duration,
}

impl Default for CheckSettings {
    fn default() -> Self {
        CheckSettings {
            policy: vitrine_osb::Policy::default(),
            authorization_endpoint: None,
            lease: Duration::from_secs(30),
            poll_every: Duration::from_secs(5),
        }
    }
}

/// The handle the API and the runner share.
#[derive(Clone)]
pub struct Checks {
    services: Services,
    sealer: Sealer,
    settings: Arc<CheckSettings>,
    /// Wakes this server's runner when a run is queued here.
    wake: Arc<Notify>,
}

impl std::fmt::Debug for Checks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checks")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn sealing(error: SealError) -> JobError {
    JobError::internal("the broker password", error)
}

impl Checks {
    pub fn new(services: Services, sealer: Sealer, settings: CheckSettings) -> Checks {
        Checks {
            services,
            sealer,
            settings: Arc::new(settings),
            wake: Arc::new(Notify::new()),
        }
    }

    /// The operator's key, for the other secrets vitrine seals (webhook secrets).
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    pub fn settings(&self) -> &CheckSettings {
        &self.settings
    }

    fn store(&self) -> &dyn Store {
        self.services.store.as_ref()
    }

    fn now(&self) -> Timestamp {
        self.services.clock.now()
    }

    /// The offering's registration, without its password.
    pub async fn registration(&self, offering: &Offering) -> JobResult<Option<BrokerRegistration>> {
        Ok(self
            .store()
            .broker(offering.id)
            .await?
            .map(|stored| stored.registration))
    }

    /// Registers or changes the offering's broker (a new password is sealed; none keeps the
    /// stored one).
    pub async fn register(
        &self,
        actor: &Actor,
        offering: &Offering,
        input: BrokerInput,
    ) -> JobResult<BrokerRegistration> {
        let previous = self.registration(offering).await?;
        let (registration, password, event) =
            checks::register_broker(actor, offering, previous.as_ref(), input, self.now())?;
        let sealed = password
            .map(|p| self.sealer.seal(&p))
            .transpose()
            .map_err(sealing)?;
        self.store()
            .put_broker(&registration, sealed.as_deref(), &[event])
            .await?;
        Ok(registration)
    }

    /// Starts a run (or answers the one under way) and wakes the runner. `Ok((run, true))`
    /// when a new run was queued.
    pub async fn start(
        &self,
        actor: &Actor,
        offering: &Offering,
        trigger: RunTrigger,
    ) -> JobResult<(CheckRun, bool)> {
        let registered = self.store().broker(offering.id).await?.is_some();
        self.start_registered(actor, offering, registered, trigger)
            .await
    }

    /// [`Checks::start`] once whether a broker is registered is known.
    async fn start_registered(
        &self,
        actor: &Actor,
        offering: &Offering,
        registered: bool,
        trigger: RunTrigger,
    ) -> JobResult<(CheckRun, bool)> {
        // The rate limit looks an hour back; a provider starts at most a handful an hour,
        // so the last 50 runs cover it.
        let runs = self.store().check_runs(offering.id, 50).await?;
        match checks::start_run(actor, offering, registered, trigger, &runs, self.now())? {
            Start::UnderWay(run) => Ok((run, false)),
            Start::Queued(run, event) => {
                self.store().insert_check_run(&run, &[event]).await?;
                self.wake.notify_one();
                Ok((run, true))
            }
        }
    }

    /// Starts a run for a go-live request if the offering has a broker; nothing otherwise.
    pub async fn start_for_submission(
        &self,
        actor: &Actor,
        offering: &Offering,
    ) -> JobResult<Option<CheckRun>> {
        if self.store().broker(offering.id).await?.is_none() {
            return Ok(None);
        }
        let (run, _) = self
            .start_registered(actor, offering, true, RunTrigger::Submission)
            .await?;
        Ok(Some(run))
    }

    /// Starts the run of a revision queued for review (see
    /// [`checks::start_revision_run`]: the proposed broker settings when they differ from
    /// the registration's) if the offering has a broker; nothing otherwise (a revision
    /// carries no password, so a broker it would add cannot be called).
    pub async fn start_for_revision(
        &self,
        actor: &Actor,
        offering: &Offering,
        proposed: Option<&BrokerSettings>,
    ) -> JobResult<Option<CheckRun>> {
        let Some(live) = self.registration(offering).await? else {
            return Ok(None);
        };
        let runs = self.store().check_runs(offering.id, 50).await?;
        let start =
            checks::start_revision_run(actor, offering, &live, proposed, &runs, self.now())?;
        Ok(Some(match start {
            Start::UnderWay(run) => run,
            Start::Queued(run, event) => {
                self.store().insert_check_run(&run, &[event]).await?;
                self.wake.notify_one();
                run
            }
        }))
    }

    /// Runs until `shutdown` resolves: cleans up after dead servers, then takes queued runs
    /// one at a time. A run cut by shutdown is left running; its lease runs out and it is
    /// interrupted and cleaned up like a crash's.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            loop {
                match self.work_once().await {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(error) => {
                        tracing::error!(%error, "check runner");
                        break;
                    }
                }
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.settings.poll_every) => {}
            }
        }
    }

    /// One step of the runner: interrupts and cleans up runs whose lease ran out, then
    /// runs the oldest queued run, if any. `Ok(true)` when it ran one.
    pub async fn work_once(&self) -> JobResult<bool> {
        self.recover().await?;
        let now = self.now();
        let lease_now = self.services.clock.lease_now();
        let Some(run) = self
            .store()
            .claim_check_run(now, lease_end(lease_now, self.settings.lease))
            .await?
        else {
            return Ok(false);
        };
        self.execute(run).await?;
        Ok(true)
    }

    /// Interrupts the runs whose server stopped renewing their lease and removes what they
    /// left on the broker (as does a cleanup whose server died in turn); returns how many.
    pub async fn recover(&self) -> JobResult<usize> {
        // Leases are on the real time: moving a rehearsal's clock ends none.
        let lease_now = self.services.clock.lease_now();
        let interrupted = self
            .store()
            .interrupt_stale_check_runs(lease_now, lease_end(lease_now, self.settings.lease))
            .await?;
        let count = interrupted.len();
        for run in interrupted {
            self.clean_up(run).await?;
        }
        Ok(count)
    }

    async fn clean_up(&self, interrupted: InterruptedRun) -> JobResult<()> {
        let InterruptedRun { run, resources } = interrupted;
        let resources: Vec<Resource> = resources
            .iter()
            .filter_map(|(key, json)| match serde_json::from_str(json) {
                Ok(resource) => Some(resource),
                Err(error) => {
                    tracing::error!(run = %run.id, key, %error, "an unreadable check resource");
                    None
                }
            })
            .collect();
        let (left, detail) = match self.target(&run).await {
            Ok((target, _)) if !resources.is_empty() => {
                let failed =
                    vitrine_osb::clean_up(&target, &self.settings.policy, &resources).await;
                let removed = resources.len() - failed.len();
                let mut detail = format!(
                    "the server running this run stopped before it ended; {removed} of {} \
                     resources it had created were removed from the broker",
                    resources.len()
                );
                for (resource, why) in &failed {
                    detail.push_str(&format!(
                        "; not removed: {} ({why})",
                        resource_key(resource)
                    ));
                }
                (failed.into_iter().map(|(r, _)| r).collect(), detail)
            }
            Ok(_) => (
                vec![],
                "the server running this run stopped before it ended; it had created \
                 nothing on the broker"
                    .to_owned(),
            ),
            Err(error) => (
                resources,
                format!(
                    "the server running this run stopped before it ended, and what it \
                     created could not be removed: {error}"
                ),
            ),
        };
        let report = Report {
            checks: vec![vitrine_osb::Check {
                id: "run.interrupted".to_owned(),
                step: Step::Broker,
                outcome: vitrine_osb::Outcome::Skipped,
                detail: Some(detail),
                spec: vitrine_osb::SpecRef {
                    section: "Orphan Mitigation".to_owned(),
                    words: "the platform SHOULD attempt to delete resources it cannot \
                            be sure were not created"
                        .to_owned(),
                },
                exchanges: vec![],
                duration_ms: 0,
            }],
            leftovers: left,
            ..Report::default()
        };
        let json = serde_json::to_string(&report)
            .map_err(|e| JobError::internal("serialise a check report", e))?;
        tracing::warn!(run = %run.id, "an interrupted check run was cleaned up");
        self.store()
            .close_interrupted_run(run.id, self.now(), &json)
            .await?;
        Ok(())
    }

    /// The broker to call for `run`'s offering, and the offering.
    async fn target(&self, run: &CheckRun) -> JobResult<(vitrine_osb::Target, Offering)> {
        let offering = self
            .store()
            .offering_by_id(run.offering_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let stored = self
            .store()
            .broker(run.offering_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let password = self.sealer.open(&stored.password_sealed).map_err(sealing)?;
        // A revision's run calls the broker it proposes, with the registered password.
        let settings = run
            .broker
            .clone()
            .unwrap_or_else(|| BrokerSettings::of(&stored.registration));
        let broker_url =
            Url::parse(&settings.url).map_err(|e| JobError::internal("a stored broker URL", e))?;
        Ok((
            vitrine_osb::Target {
                broker_url,
                username: settings.username,
                password,
                api_version: settings.api_version,
            },
            offering,
        ))
    }

    async fn execute(&self, run: CheckRun) -> JobResult<()> {
        let (target, offering) = match self.target(&run).await {
            Ok(found) => found,
            Err(error) => {
                // Nothing was sent: finish the run with the reason, so it does not hang.
                let report = failed_to_start(&format!("the run could not start: {error}"));
                return self
                    .finish(&run, &offering_of(self, &run).await?, &report)
                    .await;
            }
        };
        let expectations = expectations(&offering, &run, &self.settings);
        let journal = StoreJournal {
            store: self.services.store.clone(),
            clock: self.services.clock.clone(),
            run: run.id,
        };
        let checking = vitrine_osb::run(&target, &expectations, &self.settings.policy, &journal);
        let renewing = self.keep_lease(run.id);
        tokio::pin!(checking);
        tokio::pin!(renewing);
        let report = tokio::select! {
            report = &mut checking => match report {
                Ok(report) => report,
                Err(error) => failed_to_start(&error.to_string()),
            },
            lost = &mut renewing => {
                // Another server interrupted the run: it cleans up; this one stops here.
                tracing::warn!(run = %run.id, ?lost, "a check run lost its lease and stopped");
                return Ok(());
            }
        };
        self.finish(&run, &offering, &report).await
    }

    /// Renews the run's lease until it is lost (resolves then) or the store fails.
    async fn keep_lease(&self, run: CheckRunId) -> JobResult<()> {
        let every = self.settings.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            let lease_now = self.services.clock.lease_now();
            if !self
                .store()
                .renew_check_run(run, lease_end(lease_now, self.settings.lease))
                .await?
            {
                return Ok(());
            }
        }
    }

    async fn finish(&self, run: &CheckRun, offering: &Offering, report: &Report) -> JobResult<()> {
        let verdicts = verdicts_of(report);
        let json = serde_json::to_string(report)
            .map_err(|e| JobError::internal("serialise a check report", e))?;
        let now = self.now();
        let event = AuditEvent::new(run.started_by, "offering.checks_finished", now)
            .subject_offering(offering.id, offering.provider_account_id)
            .after(&serde_json::json!({
                "run": run.id,
                "passed": verdicts.passed(),
                "failed": verdicts.failed.iter().map(|f| f.check.as_str()).collect::<Vec<_>>(),
            }));
        match self
            .store()
            .finish_check_run(run.id, now, &verdicts, &json, &[event])
            .await
        {
            // Interrupted meanwhile by a server that thought this one dead: its cleanup
            // stands.
            Err(StoreError::Conflict { .. }) => Ok(()),
            other => Ok(other?),
        }
    }
}

async fn offering_of(checks: &Checks, run: &CheckRun) -> JobResult<Offering> {
    Ok(checks
        .store()
        .offering_by_id(run.offering_id)
        .await?
        .ok_or(StoreError::NotFound)?)
}

fn lease_end(now: Timestamp, lease: Duration) -> Timestamp {
    let lease = SignedDuration::try_from(lease).unwrap_or(SignedDuration::from_secs(30));
    now.checked_add(lease).unwrap_or(now)
}

fn failed_to_start(detail: &str) -> Report {
    Report {
        checks: vec![vitrine_osb::Check {
            id: "run.started".to_owned(),
            step: Step::Broker,
            outcome: vitrine_osb::Outcome::Failed,
            detail: Some(detail.to_owned()),
            spec: vitrine_osb::SpecRef {
                section: "Platform to Service Broker Authentication".to_owned(),
                words: "the platform reaches the broker at its registered URL".to_owned(),
            },
            exchanges: vec![],
            duration_ms: 0,
        }],
        ..Report::default()
    }
}

/// What the checker holds the broker to, from the offering.
fn expectations(
    offering: &Offering,
    run: &CheckRun,
    settings: &CheckSettings,
) -> vitrine_osb::Expectations {
    let mut languages = vec!["en".to_owned()];
    if offering.display_name.fr.is_some() || offering.description.fr.is_some() {
        languages.push("fr".to_owned());
    }
    vitrine_osb::Expectations {
        plan_names: offering.plans.iter().map(|p| p.name.clone()).collect(),
        documentation_url: offering
            .documentation_url
            .as_deref()
            .and_then(|u| Url::parse(u).ok()),
        languages,
        authorization_endpoint: settings.authorization_endpoint.clone(),
        originating_user: run
            .started_by
            .map(|u| u.to_string())
            .unwrap_or_else(|| "vitrine".to_owned()),
    }
}

fn step_of(step: Step) -> ChecklistStep {
    match step {
        Step::Documentation => ChecklistStep::Documentation,
        Step::Broker => ChecklistStep::BrokerHosted,
        Step::SignIn => ChecklistStep::AuthenticationFlow,
    }
}

fn verdict_of(verdict: StepVerdict) -> Verdict {
    match verdict {
        StepVerdict::Passed => Verdict::Passed,
        StepVerdict::Failed => Verdict::Failed,
        StepVerdict::NotChecked => Verdict::NotChecked,
    }
}

/// The verdicts per checklist step of a report: what the go-live gate reads.
pub fn verdicts_of(report: &Report) -> Verdicts {
    Verdicts {
        documentation: verdict_of(report.verdict(Step::Documentation)),
        broker: verdict_of(report.verdict(Step::Broker)),
        sign_in: verdict_of(report.verdict(Step::SignIn)),
        failed: report
            .failing()
            .map(|check| FailedCheck {
                step: step_of(check.step),
                check: check.id.clone(),
            })
            .collect(),
    }
}

/// A resource's key in the `check_resources` table.
fn resource_key(resource: &Resource) -> String {
    match resource {
        Resource::Instance { instance_id, .. } => format!("instance:{instance_id}"),
        Resource::Binding {
            instance_id,
            binding_id,
            ..
        } => format!("binding:{instance_id}/{binding_id}"),
    }
}

/// Writes down each resource before the checker creates it, and forgets it once removed.
struct StoreJournal {
    store: Arc<dyn Store>,
    clock: Arc<dyn vitrine_jobs::Clock>,
    run: CheckRunId,
}

impl Journal for StoreJournal {
    async fn will_create(&self, resource: &Resource) -> Result<(), String> {
        let json = serde_json::to_string(resource).map_err(|e| e.to_string())?;
        self.store
            .add_check_resource(self.run, &resource_key(resource), &json, self.clock.now())
            .await
            .map_err(|e| e.to_string())
    }

    async fn removed(&self, resource: &Resource) {
        if let Err(error) = self
            .store
            .remove_check_resource(self.run, &resource_key(resource))
            .await
        {
            // Kept: the cleanup after an interruption would try it again, harmlessly (410).
            tracing::warn!(run = %self.run, %error, "a removed check resource stays recorded");
        }
    }

    async fn checked(&self, _check: &vitrine_osb::Check) {}
}

/// A stored report (the checker's JSON, as [`Checks`] wrote it), read once.
pub fn read_report(text: &str) -> JobResult<Report> {
    serde_json::from_str(text).map_err(|e| JobError::internal("a stored check report", e))
}
