//! The prerequisite checks as the rules see them: an offering's broker registration, who
//! may start a check run and how often, and what a finished run says of checklist steps
//! 1, 3 and 4 (the [`Evidence`] the [`crate::checklist`] reads). The checks themselves
//! (HTTP against the provider's broker) are `vitrine-osb`; their report is stored as the
//! checker wrote it, and only the verdicts per step come back here.

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

use crate::attestation::ChecklistStep;
use crate::audit::AuditEvent;
use crate::error::{DomainError, Problems};
use crate::ids::{CheckRunId, OfferingId, UserId};
use crate::offering::Offering;
use crate::permissions::Actor;
use crate::validate;
use crate::{Timestamp, tr};

/// The Open Service Broker API versions vitrine speaks (the spec's 2.13 is the oldest
/// `openbrokerapi` and most brokers still accept).
pub const OSB_VERSIONS: [&str; 5] = ["2.13", "2.14", "2.15", "2.16", "2.17"];
/// The version spoken unless the provider picks another.
pub const DEFAULT_OSB_VERSION: &str = "2.17";
/// Most runs a provider may start for one offering within an hour: each run provisions on
/// their broker, so this caps what someone can make vitrine do to a third party.
pub const PROVIDER_RUNS_PER_HOUR: usize = 5;

/// Where the provider's broker answers and how vitrine signs in to it. The password is
/// not here: it is stored sealed, apart, and never shown again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BrokerRegistration {
    pub offering_id: OfferingId,
    /// The broker's base URL (`/v2/catalog` is joined to it).
    pub url: String,
    pub username: String,
    /// The `X-Broker-API-Version` vitrine sends.
    pub api_version: String,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub updated_by: UserId,
}

/// What the provider sends to register or change the broker.
#[derive(Clone, Debug, Default)]
pub struct BrokerInput {
    pub url: String,
    pub username: String,
    /// Required the first time; `None` afterwards keeps the stored one (a new one rotates it).
    pub password: Option<String>,
    /// `None` keeps the current version, or the default on first registration.
    pub api_version: Option<String>,
}

/// Registers (or changes) the offering's broker. Returns the registration, the password to
/// seal when a new one was given, and the audit event (which never carries the password).
pub fn register_broker(
    actor: &Actor,
    offering: &Offering,
    previous: Option<&BrokerRegistration>,
    input: BrokerInput,
    now: Timestamp,
) -> Result<(BrokerRegistration, Option<String>, AuditEvent), DomainError> {
    actor.require_provider_member(offering.provider_account_id)?;
    let mut problems = Problems::new();
    let url = problems.check(broker_url(&input.url));
    let username = problems.check(validate::text("username", &input.username, 1, 255));
    let password = match input.password.as_deref() {
        Some(p) if !p.is_empty() => problems
            .check(validate::text("password", p, 1, 1024).map(|_| p.to_owned()))
            .map(Some),
        _ if previous.is_none() => {
            problems.push(
                "password",
                tr!(
                    "broker.password_required",
                    "is required the first time a broker is registered",
                    "est obligatoire la première fois qu’un broker est enregistré"
                ),
            );
            None
        }
        _ => Some(None),
    };
    let api_version = match input.api_version.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => {
            if OSB_VERSIONS.contains(&v) {
                Some(v.to_owned())
            } else {
                let versions = OSB_VERSIONS.join(", ");
                problems.push(
                    "api_version",
                    tr!(
                        "broker.api_version",
                        "must be one of {versions}",
                        "doit être l’une de ces versions : {versions}"
                    ),
                );
                None
            }
        }
        _ => Some(
            previous
                .map(|p| p.api_version.clone())
                .unwrap_or_else(|| DEFAULT_OSB_VERSION.to_owned()),
        ),
    };
    problems.into_result()?;
    let (Some(url), Some(username), Some(password), Some(api_version)) =
        (url, username, password, api_version)
    else {
        return Err(DomainError::invalid(
            "broker",
            tr!("broker.incomplete", "is incomplete", "est incomplet"),
        ));
    };
    let registration = BrokerRegistration {
        offering_id: offering.id,
        url,
        username,
        api_version,
        updated_at: now,
        updated_by: actor.user_id,
    };
    let action = if previous.is_some() {
        "offering.broker_changed"
    } else {
        "offering.broker_registered"
    };
    let mut event = AuditEvent::new(Some(actor.user_id), action, now)
        .subject_offering(offering.id, offering.provider_account_id)
        .after(&serde_json::json!({
            "url": registration.url,
            "username": registration.username,
            "api_version": registration.api_version,
            "password_rotated": password.is_some() && previous.is_some(),
        }));
    if let Some(previous) = previous {
        event = event.before(&serde_json::json!({
            "url": previous.url,
            "username": previous.username,
            "api_version": previous.api_version,
        }));
    }
    Ok((registration, password, event))
}

/// A broker URL: absolute http(s), without credentials, query or fragment (credentials go
/// in the username and password, which are sealed; a URL is shown in reports).
pub(crate) fn broker_url(value: &str) -> Result<String, DomainError> {
    let url = validate::url("url", value)?;
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or_default();
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err(DomainError::invalid(
            "url",
            tr!(
                "broker.url_credentials",
                "must not carry credentials: give them as username and password",
                "ne doit pas contenir d’identifiants : donnez-les comme nom d’utilisateur et mot de passe"
            ),
        ));
    }
    if url.contains(['?', '#']) {
        return Err(DomainError::invalid(
            "url",
            tr!(
                "broker.url_query",
                "must not have a query or a fragment",
                "ne doit avoir ni paramètres de requête ni fragment"
            ),
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// The broker settings a revision may change (the password stays the registered one: it
/// is rotated on the broker registration itself, never copied into a revision).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BrokerSettings {
    pub url: String,
    pub username: String,
    pub api_version: String,
}

impl BrokerSettings {
    pub fn of(registration: &BrokerRegistration) -> Self {
        Self {
            url: registration.url.clone(),
            username: registration.username.clone(),
            api_version: registration.api_version.clone(),
        }
    }

    /// The registration once these settings replace `live`'s.
    pub fn applied_to(
        &self,
        live: &BrokerRegistration,
        by: UserId,
        now: Timestamp,
    ) -> BrokerRegistration {
        BrokerRegistration {
            url: self.url.clone(),
            username: self.username.clone(),
            api_version: self.api_version.clone(),
            updated_at: now,
            updated_by: by,
            ..live.clone()
        }
    }
}

/// Who asked for a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunTrigger {
    /// A member of the provider account, from the offering page or the API.
    Provider,
    /// Staff (a validator or an admin), from the review.
    Validator,
    /// A go-live request was submitted.
    Submission,
}

impl RunTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            RunTrigger::Provider => "provider",
            RunTrigger::Validator => "validator",
            RunTrigger::Submission => "submission",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            RunTrigger::Provider,
            RunTrigger::Validator,
            RunTrigger::Submission,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Queued,
    Running,
    /// It ran to its end; the report says what passed.
    Finished,
    /// The server stopped mid-run (crash, kill); what it created on the broker is cleaned
    /// up by the next server to start.
    Interrupted,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Finished => "finished",
            RunState::Interrupted => "interrupted",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            RunState::Queued,
            RunState::Running,
            RunState::Finished,
            RunState::Interrupted,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
    pub fn is_under_way(self) -> bool {
        matches!(self, RunState::Queued | RunState::Running)
    }
}

/// What a run says of one checklist step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
// Named apart in the OpenAPI document: `Verdict` is the validator's (`review::Verdict`), and
// two schemas of one name overwrite each other there.
#[schema(as = CheckVerdict)]
pub enum Verdict {
    Passed,
    Failed,
    /// The step's checks could not run (nothing to check, or no endpoint configured): the
    /// step stays attested.
    #[default]
    NotChecked,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::NotChecked => "not_checked",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Verdict::Passed, Verdict::Failed, Verdict::NotChecked]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A failed check, by the step it gives evidence for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FailedCheck {
    pub step: ChecklistStep,
    /// The checker's stable id, such as `catalog.unique_ids`.
    pub check: String,
}

/// What a finished run says of steps 1, 3 and 4.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Verdicts {
    pub documentation: Verdict,
    pub broker: Verdict,
    pub sign_in: Verdict,
    pub failed: Vec<FailedCheck>,
}

impl Verdicts {
    /// The verdict on a step, `None` for the steps the checks say nothing of.
    pub fn of(&self, step: ChecklistStep) -> Option<Verdict> {
        match step {
            ChecklistStep::Documentation => Some(self.documentation),
            ChecklistStep::BrokerHosted => Some(self.broker),
            ChecklistStep::AuthenticationFlow => Some(self.sign_in),
            ChecklistStep::OfferingDefined | ChecklistStep::LimitedVisibility => None,
        }
    }

    pub fn passed(&self) -> bool {
        self.failed.is_empty()
            && ![self.documentation, self.broker, self.sign_in].contains(&Verdict::Failed)
    }
}

/// A run of the checks of one offering.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckRun {
    pub id: CheckRunId,
    pub offering_id: OfferingId,
    pub trigger: RunTrigger,
    /// Who started it (none for a run the submission started on the provider's behalf…
    /// which records the submitter; none only for runs made by the system).
    pub started_by: Option<UserId>,
    pub state: RunState,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
    /// Set once finished.
    pub verdicts: Option<Verdicts>,
    /// The broker settings this run checks instead of the registered ones (with the
    /// registered password): a revision's proposal, when it changes them. `None`: the
    /// registration.
    pub broker: Option<BrokerSettings>,
}

/// The latest finished run, as the checklist reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Evidence {
    pub run_id: CheckRunId,
    #[schema(value_type = String, format = DateTime)]
    pub finished_at: Timestamp,
    pub verdicts: Verdicts,
}

impl Evidence {
    /// The evidence of a run, if it finished.
    pub fn of(run: &CheckRun) -> Option<Evidence> {
        match (run.state, run.finished_at, &run.verdicts) {
            (RunState::Finished, Some(finished_at), Some(verdicts)) => Some(Evidence {
                run_id: run.id,
                finished_at,
                verdicts: verdicts.clone(),
            }),
            _ => None,
        }
    }
}

/// What starting a run came to.
#[derive(Clone, Debug, PartialEq)]
pub enum Start {
    /// A new run, queued, and its audit event.
    Queued(CheckRun, AuditEvent),
    /// A run of this offering is queued or running already: that one is the answer (so a
    /// double click or a submission during a run starts nothing twice).
    UnderWay(CheckRun),
}

/// Starts a run of the offering's checks. `runs` are the offering's runs, newest first
/// (at least those of the last hour); `registered` says whether a broker is registered.
/// Members of the provider account start `Provider` runs (at most
/// [`PROVIDER_RUNS_PER_HOUR`] an hour), staff `Validator` runs; a `Submission` run is
/// started by the submit command on the submitter's behalf and is not counted.
pub fn start_run(
    actor: &Actor,
    offering: &Offering,
    registered: bool,
    trigger: RunTrigger,
    runs: &[CheckRun],
    now: Timestamp,
) -> Result<Start, DomainError> {
    match trigger {
        RunTrigger::Provider | RunTrigger::Submission => {
            actor.require_provider_member(offering.provider_account_id)?;
        }
        RunTrigger::Validator => {
            if !actor.is_staff() {
                return Err(DomainError::forbidden(tr!(
                    "checks.staff_only",
                    "only validators and admins start a run from the review",
                    "seuls les validateurs et les administrateurs lancent une vérification depuis la revue"
                )));
            }
        }
    }
    if !registered {
        return Err(DomainError::conflict(tr!(
            "checks.no_broker",
            "register the offering's service broker before running its checks",
            "enregistrez le service broker de l’offre avant d’en lancer les vérifications"
        )));
    }
    if let Some(run) = runs.iter().find(|r| r.state.is_under_way()) {
        return Ok(Start::UnderWay(run.clone()));
    }
    if trigger == RunTrigger::Provider {
        let hour_ago = now - SignedDuration::from_hours(1);
        let mut recent: Vec<Timestamp> = runs
            .iter()
            .filter(|r| r.trigger == RunTrigger::Provider && r.created_at > hour_ago)
            .map(|r| r.created_at)
            .collect();
        if recent.len() >= PROVIDER_RUNS_PER_HOUR {
            recent.sort();
            // The oldest of the hour's runs leaves the window first.
            let frees_at =
                recent[recent.len() - PROVIDER_RUNS_PER_HOUR] + SignedDuration::from_hours(1);
            let wait = frees_at.duration_since(now).as_secs().max(1);
            let minutes = (wait + 59) / 60;
            return Err(DomainError::RateLimited {
                reason: tr!(
                    "checks.rate_limited",
                    "at most {PROVIDER_RUNS_PER_HOUR} check runs an hour per offering; \
                     try again in {minutes} minutes",
                    "au plus {PROVIDER_RUNS_PER_HOUR} vérifications par heure et par offre ; \
                     réessayez dans {minutes} minutes"
                ),
                retry_after_secs: u64::try_from(wait).unwrap_or(1),
            });
        }
    }
    let run = CheckRun {
        id: CheckRunId::generate(),
        offering_id: offering.id,
        trigger,
        started_by: Some(actor.user_id),
        state: RunState::Queued,
        created_at: now,
        started_at: None,
        finished_at: None,
        verdicts: None,
        broker: None,
    };
    let event = AuditEvent::new(Some(actor.user_id), "offering.checks_started", now)
        .subject_offering(offering.id, offering.provider_account_id)
        .after(&serde_json::json!({ "run": run.id, "trigger": trigger.as_str() }));
    Ok(Start::Queued(run, event))
}

/// The run a revision queued for review starts, as a go-live request's (trigger
/// `submission`): against the broker settings the revision proposes when they differ from
/// the registration's, since those are what the validator approves and what publication
/// puts live (with the registered password, which a revision never carries); against the
/// registration otherwise. A run already under way is the answer, as for any start.
pub fn start_revision_run(
    actor: &Actor,
    offering: &Offering,
    live: &BrokerRegistration,
    proposed: Option<&BrokerSettings>,
    runs: &[CheckRun],
    now: Timestamp,
) -> Result<Start, DomainError> {
    let proposed = proposed
        .filter(|p| **p != BrokerSettings::of(live))
        .cloned();
    Ok(
        match start_run(actor, offering, true, RunTrigger::Submission, runs, now)? {
            Start::Queued(mut run, event) => {
                let event = event.after(&serde_json::json!({
                    "run": run.id,
                    "trigger": run.trigger.as_str(),
                    "broker_url": proposed.as_ref().map(|b| b.url.as_str()),
                }));
                run.broker = proposed;
                Start::Queued(run, event)
            }
            under_way => under_way,
        },
    )
}

/// Who may read an offering's registration and runs: its provider's members and staff.
pub fn may_read(actor: &Actor, offering: &Offering) -> bool {
    actor.is_member(offering.provider_account_id) || actor.is_staff()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checklist::tests::offering as sample_offering;
    use crate::ids::AccountId;
    use crate::permissions::{MembershipRole, StaffRoles};

    const NOW: Timestamp = Timestamp::UNIX_EPOCH;

    fn member(offering: &Offering) -> Actor {
        Actor::new(
            UserId::generate(),
            StaffRoles::default(),
            vec![(offering.provider_account_id, MembershipRole::Member)],
        )
    }

    fn validator() -> Actor {
        Actor::new(
            UserId::generate(),
            StaffRoles {
                validator: true,
                admin: false,
            },
            vec![],
        )
    }

    fn stranger() -> Actor {
        Actor::new(
            UserId::generate(),
            StaffRoles::default(),
            vec![(AccountId::generate(), MembershipRole::Owner)],
        )
    }

    fn input() -> BrokerInput {
        BrokerInput {
            url: "https://broker.acme.example/osb/".into(),
            username: "vitrine".into(),
            password: Some("s3cret".into()),
            api_version: None,
        }
    }

    #[test]
    fn a_member_registers_a_broker_with_the_default_version() {
        let offering = sample_offering();
        let (reg, password, event) =
            register_broker(&member(&offering), &offering, None, input(), NOW).expect("ok");
        assert_eq!(reg.url, "https://broker.acme.example/osb");
        assert_eq!(reg.api_version, DEFAULT_OSB_VERSION);
        assert_eq!(password.as_deref(), Some("s3cret"));
        assert_eq!(event.action, "offering.broker_registered");
        let audit = serde_json::to_string(&event).expect("serialises");
        assert!(
            !audit.contains("s3cret"),
            "the audit never carries the password"
        );
    }

    #[test]
    fn the_password_is_required_first_and_kept_after() {
        let offering = sample_offering();
        let actor = member(&offering);
        let mut no_password = input();
        no_password.password = None;
        let err = register_broker(&actor, &offering, None, no_password.clone(), NOW)
            .expect_err("required");
        assert!(matches!(err, DomainError::Invalid(ref e) if e[0].field == "password"));
        let (first, _, _) = register_broker(&actor, &offering, None, input(), NOW).expect("ok");
        let (second, password, event) =
            register_broker(&actor, &offering, Some(&first), no_password, NOW).expect("ok");
        assert_eq!(password, None, "no new password: the sealed one is kept");
        assert_eq!(second.url, first.url);
        assert_eq!(event.action, "offering.broker_changed");
        let (_, rotated, _) =
            register_broker(&actor, &offering, Some(&first), input(), NOW).expect("ok");
        assert_eq!(rotated.as_deref(), Some("s3cret"));
    }

    #[test]
    fn bad_registrations_list_every_problem() {
        let offering = sample_offering();
        let bad = BrokerInput {
            url: "ftp://x".into(),
            username: String::new(),
            password: None,
            api_version: Some("2.11".into()),
        };
        let Err(DomainError::Invalid(errors)) =
            register_broker(&member(&offering), &offering, None, bad, NOW)
        else {
            panic!("refused");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["url", "username", "password", "api_version"]);
        for url in [
            "https://user:pw@broker.example",
            "https://broker.example/?a=1",
            "https://broker.example/#x",
        ] {
            let input = BrokerInput {
                url: url.into(),
                ..input()
            };
            assert!(
                register_broker(&member(&offering), &offering, None, input, NOW).is_err(),
                "{url} refused"
            );
        }
    }

    #[test]
    fn only_members_register_a_broker() {
        let offering = sample_offering();
        for actor in [validator(), stranger()] {
            assert!(matches!(
                register_broker(&actor, &offering, None, input(), NOW),
                Err(DomainError::Forbidden(_) | DomainError::NotFound)
            ));
        }
    }

    fn run_at(
        offering: &Offering,
        trigger: RunTrigger,
        at: Timestamp,
        state: RunState,
    ) -> CheckRun {
        CheckRun {
            id: CheckRunId::generate(),
            offering_id: offering.id,
            trigger,
            started_by: None,
            state,
            created_at: at,
            started_at: None,
            finished_at: None,
            verdicts: None,
            broker: None,
        }
    }

    #[test]
    fn a_revision_run_checks_the_proposed_broker_only_when_it_differs() {
        let offering = sample_offering();
        let actor = member(&offering);
        let (live, _, _) = register_broker(&actor, &offering, None, input(), NOW).expect("ok");
        let moved = BrokerSettings {
            url: "https://broker2.acme.example/osb".into(),
            ..BrokerSettings::of(&live)
        };
        let Start::Queued(run, event) =
            start_revision_run(&actor, &offering, &live, Some(&moved), &[], NOW).expect("starts")
        else {
            panic!("queued");
        };
        assert_eq!(run.trigger, RunTrigger::Submission);
        assert_eq!(run.broker, Some(moved.clone()));
        assert_eq!(
            event.after.as_ref().and_then(|a| a.get("broker_url")),
            Some(&serde_json::json!("https://broker2.acme.example/osb"))
        );
        let same = BrokerSettings::of(&live);
        for proposed in [Some(&same), None] {
            let Start::Queued(run, _) =
                start_revision_run(&actor, &offering, &live, proposed, &[], NOW).expect("starts")
            else {
                panic!("queued");
            };
            assert_eq!(run.broker, None, "the registration is what it checks");
        }
        // A run under way is the answer, whichever broker it checks.
        let busy = run_at(&offering, RunTrigger::Provider, NOW, RunState::Running);
        assert!(matches!(
            start_revision_run(&actor, &offering, &live, Some(&moved), &[busy], NOW),
            Ok(Start::UnderWay(_))
        ));
        // Only the provider's members start it (as the submission's author).
        let stranger = Actor::new(UserId::generate(), Default::default(), Vec::new());
        assert!(start_revision_run(&stranger, &offering, &live, Some(&moved), &[], NOW).is_err());
    }

    #[test]
    fn runs_need_a_broker_and_the_right_people() {
        let offering = sample_offering();
        let err = start_run(
            &member(&offering),
            &offering,
            false,
            RunTrigger::Provider,
            &[],
            NOW,
        )
        .expect_err("no broker");
        assert!(matches!(err, DomainError::Conflict(_)));
        assert!(start_run(&stranger(), &offering, true, RunTrigger::Provider, &[], NOW).is_err());
        assert!(
            start_run(
                &member(&offering),
                &offering,
                true,
                RunTrigger::Validator,
                &[],
                NOW
            )
            .is_err()
        );
        let Start::Queued(run, event) = start_run(
            &validator(),
            &offering,
            true,
            RunTrigger::Validator,
            &[],
            NOW,
        )
        .expect("ok") else {
            panic!("queued");
        };
        assert_eq!(run.state, RunState::Queued);
        assert_eq!(event.action, "offering.checks_started");
    }

    #[test]
    fn a_run_under_way_is_the_answer_to_a_second_start() {
        let offering = sample_offering();
        for state in [RunState::Queued, RunState::Running] {
            let running = run_at(&offering, RunTrigger::Provider, NOW, state);
            let got = start_run(
                &member(&offering),
                &offering,
                true,
                RunTrigger::Submission,
                std::slice::from_ref(&running),
                NOW,
            )
            .expect("ok");
            assert_eq!(got, Start::UnderWay(running));
        }
    }

    #[test]
    fn a_provider_starts_at_most_five_runs_an_hour() {
        let offering = sample_offering();
        let actor = member(&offering);
        let minute = SignedDuration::from_mins(1);
        // Five finished provider runs at 0, 10, 20, 30, 40 minutes; now is 50 minutes.
        let runs: Vec<CheckRun> = (0..5)
            .rev()
            .map(|i| {
                run_at(
                    &offering,
                    RunTrigger::Provider,
                    NOW + minute * (i * 10),
                    RunState::Finished,
                )
            })
            .collect();
        let now = NOW + minute * 50;
        let Err(DomainError::RateLimited {
            retry_after_secs, ..
        }) = start_run(&actor, &offering, true, RunTrigger::Provider, &runs, now)
        else {
            panic!("limited");
        };
        assert_eq!(
            retry_after_secs, 600,
            "the run at 0 leaves the window at 60 minutes"
        );
        // Staff and submission runs are not counted, nor limited.
        assert!(
            start_run(
                &validator(),
                &offering,
                true,
                RunTrigger::Validator,
                &runs,
                now
            )
            .is_ok()
        );
        assert!(start_run(&actor, &offering, true, RunTrigger::Submission, &runs, now).is_ok());
        // An hour after the first, one more is allowed.
        assert!(
            start_run(
                &actor,
                &offering,
                true,
                RunTrigger::Provider,
                &runs,
                NOW + minute * 61
            )
            .is_ok()
        );
        // Runs of other triggers do not fill the provider's quota.
        let others: Vec<CheckRun> = (0..10)
            .map(|i| {
                run_at(
                    &offering,
                    RunTrigger::Validator,
                    NOW + minute * i,
                    RunState::Finished,
                )
            })
            .collect();
        assert!(start_run(&actor, &offering, true, RunTrigger::Provider, &others, now).is_ok());
    }

    #[test]
    fn evidence_comes_only_from_a_finished_run() {
        let offering = sample_offering();
        let mut run = run_at(&offering, RunTrigger::Provider, NOW, RunState::Interrupted);
        run.finished_at = Some(NOW);
        run.verdicts = Some(Verdicts::default());
        assert_eq!(Evidence::of(&run), None);
        run.state = RunState::Finished;
        assert_eq!(Evidence::of(&run).map(|e| e.run_id), Some(run.id));
    }

    #[test]
    fn verdicts_pass_only_without_a_failure() {
        let mut v = Verdicts {
            documentation: Verdict::Passed,
            broker: Verdict::Passed,
            sign_in: Verdict::NotChecked,
            failed: vec![],
        };
        assert!(v.passed());
        v.broker = Verdict::Failed;
        assert!(!v.passed());
        assert_eq!(v.of(ChecklistStep::BrokerHosted), Some(Verdict::Failed));
        assert_eq!(v.of(ChecklistStep::OfferingDefined), None);
        for verdict in [Verdict::Passed, Verdict::Failed, Verdict::NotChecked] {
            assert_eq!(Verdict::parse(verdict.as_str()), Some(verdict));
        }
        for s in [
            RunState::Queued,
            RunState::Running,
            RunState::Finished,
            RunState::Interrupted,
        ] {
            assert_eq!(RunState::parse(s.as_str()), Some(s));
        }
        for t in [
            RunTrigger::Provider,
            RunTrigger::Validator,
            RunTrigger::Submission,
        ] {
            assert_eq!(RunTrigger::parse(t.as_str()), Some(t));
        }
    }
}
