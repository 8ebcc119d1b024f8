//! The onboarding checklist: the five prerequisite steps of the seed. Steps 2 and 5 are
//! derived from the offering itself; steps 1, 3 and 4 are checked by vitrine where it can
//! (the latest finished check run's [`Evidence`]: a passed step is complete, a failed one
//! blocks the go-live request with its failing checks) and attested by the provider where
//! it cannot (no run yet, or the run could not check the step); the attestation (who,
//! when) is kept. The steps and attestations, which the offering stores,
//! are defined in [`crate::attestation`] and re-exported here.

use crate::account::Account;
use crate::checks::{Evidence, Verdict};
use crate::ids::CheckRunId;
use crate::offering::{Offering, Visibility};
use crate::text::Text;
use crate::tr;
use serde::Serialize;

pub use crate::attestation::{Attestation, Attestations, ChecklistStep, StepState};

/// One step as shown to the provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StepStatus {
    pub step: ChecklistStep,
    pub number: u8,
    pub state: StepState,
    /// `derived` from the offering, `checked` by a check run, or `attested` by the provider.
    pub source: StepSource,
    pub attestation: Option<Attestation>,
    /// For derived steps: what is still missing, as codes: `category`,
    /// `documentation_url`, `support_contact`, `plans`, `limited_visibility` (pages
    /// translate them; [`missing_label`] says them in both languages).
    pub missing: Vec<String>,
    /// For checked steps: the run that gave the evidence.
    pub checked_by: Option<CheckRunId>,
    /// For checked steps: the checks that failed (stable ids of the checker).
    pub failed_checks: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepSource {
    Derived,
    Checked,
    Attested,
}

/// The whole checklist of an offering.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Checklist {
    pub steps: Vec<StepStatus>,
}

/// What step 2 requires: the listing fields a customer needs, and at least one plan.
fn offering_definition_missing(offering: &Offering) -> Vec<String> {
    let mut missing = Vec::new();
    if offering.category.is_none() {
        missing.push("category".to_owned());
    }
    if offering.documentation_url.is_none() {
        missing.push("documentation_url".to_owned());
    }
    if offering.support_contact.is_none() {
        missing.push("support_contact".to_owned());
    }
    if offering.plans.is_empty() {
        missing.push("plans".to_owned());
    }
    missing
}

/// Every code [`StepStatus::missing`] may hold.
pub const MISSING_PIECES: [&str; 5] = [
    "category",
    "documentation_url",
    "support_contact",
    "plans",
    "limited_visibility",
];

/// A missing piece's code (see [`StepStatus::missing`]) in plain words: `(English,
/// French)`.
pub fn missing_label(code: &str) -> (&'static str, &'static str) {
    match code {
        "category" => ("a category", "une catégorie"),
        "documentation_url" => ("a documentation URL", "une URL de documentation"),
        "support_contact" => ("a support contact", "un contact d’assistance"),
        "plans" => ("at least one plan", "au moins une formule"),
        "limited_visibility" => ("limited visibility", "la visibilité limitée"),
        _ => ("another piece", "un autre élément"),
    }
}

impl Checklist {
    /// The checklist without check evidence: steps 1, 3 and 4 as attested.
    pub fn of(offering: &Offering) -> Checklist {
        Checklist::with_evidence(offering, None)
    }

    /// Derives what can be derived, takes steps 1, 3 and 4 from the evidence where the run
    /// checked them, and the rest from the attestations.
    pub fn with_evidence(offering: &Offering, evidence: Option<&Evidence>) -> Checklist {
        let steps = ChecklistStep::ALL
            .into_iter()
            .map(|step| match step {
                ChecklistStep::OfferingDefined => {
                    // Display name and English description are required at creation, so the
                    // definition is always at least in progress.
                    let missing = offering_definition_missing(offering);
                    let state = if missing.is_empty() {
                        StepState::Complete
                    } else {
                        StepState::InProgress
                    };
                    StepStatus {
                        step,
                        number: step.number(),
                        state,
                        source: StepSource::Derived,
                        attestation: None,
                        missing,
                        checked_by: None,
                        failed_checks: vec![],
                    }
                }
                ChecklistStep::LimitedVisibility => {
                    let (state, missing) = match offering.visibility {
                        Visibility::Limited | Visibility::Public => (StepState::Complete, vec![]),
                        Visibility::Private => {
                            (StepState::NotStarted, vec!["limited_visibility".to_owned()])
                        }
                    };
                    StepStatus {
                        step,
                        number: step.number(),
                        state,
                        source: StepSource::Derived,
                        attestation: None,
                        missing,
                        checked_by: None,
                        failed_checks: vec![],
                    }
                }
                _ => {
                    let attestation = offering.attestations.get(step).copied();
                    let checked =
                        evidence.and_then(|e| e.verdicts.of(step).map(|verdict| (e, verdict)));
                    if let Some((evidence, verdict @ (Verdict::Passed | Verdict::Failed))) = checked
                    {
                        let failed_checks: Vec<String> = evidence
                            .verdicts
                            .failed
                            .iter()
                            .filter(|f| f.step == step)
                            .map(|f| f.check.clone())
                            .collect();
                        return StepStatus {
                            step,
                            number: step.number(),
                            state: if verdict == Verdict::Passed {
                                StepState::Complete
                            } else {
                                StepState::InProgress
                            },
                            source: StepSource::Checked,
                            attestation,
                            missing: vec![],
                            checked_by: Some(evidence.run_id),
                            failed_checks,
                        };
                    }
                    StepStatus {
                        step,
                        number: step.number(),
                        state: attestation.map(|a| a.state).unwrap_or_default(),
                        source: StepSource::Attested,
                        attestation,
                        missing: vec![],
                        checked_by: None,
                        failed_checks: vec![],
                    }
                }
            })
            .collect();
        Checklist { steps }
    }

    pub fn state(&self, step: ChecklistStep) -> StepState {
        self.steps
            .iter()
            .find(|s| s.step == step)
            .map(|s| s.state)
            .unwrap_or_default()
    }

    /// Steps done, for a progress indicator.
    pub fn completed(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| s.state == StepState::Complete)
            .count()
    }
}

/// Everything that keeps an offering from being submitted for go-live, in plain words; empty
/// when it may be. The rule (PRODUCT.md, journey step 2): the provider is approved, step 1 is
/// at least in progress and steps 2 to 5 are complete; and no step the latest check run
/// checked failed (its failing checks are listed).
pub fn go_live_blockers(
    offering: &Offering,
    provider: &Account,
    evidence: Option<&Evidence>,
) -> Vec<Text> {
    let mut blockers = Vec::new();
    if !provider.is_approved_provider() {
        blockers.push(tr!(
            "go_live.provider_not_approved",
            "the provider account is not an approved provider",
            "le compte fournisseur n’est pas un fournisseur approuvé"
        ));
    }
    let checklist = Checklist::with_evidence(offering, evidence);
    for status in &checklist.steps {
        let number = status.number;
        let (step_en, step_fr) = step_label(status.step);
        if status.source == StepSource::Checked && status.state != StepState::Complete {
            blockers.push(if status.failed_checks.is_empty() {
                tr!(
                    "go_live.step_failed_checks",
                    "step {number} ({step_en}) failed its checks: see the latest check run",
                    "l’étape {number} ({step_fr}) a échoué à ses vérifications : voyez la dernière vérification"
                )
            } else {
                let checks = status.failed_checks.join(", ");
                tr!(
                    "go_live.step_failed_checks",
                    "step {number} ({step_en}) failed its checks: {checks}",
                    "l’étape {number} ({step_fr}) a échoué à ses vérifications : {checks}"
                )
            });
            continue;
        }
        let needed = if status.step == ChecklistStep::Documentation {
            StepState::InProgress
        } else {
            StepState::Complete
        };
        if status.state < needed {
            let line = if needed == StepState::Complete {
                tr!(
                    "go_live.step_incomplete",
                    "step {number} ({step_en}) must be complete",
                    "l’étape {number} ({step_fr}) doit être terminée"
                )
            } else {
                tr!(
                    "go_live.step_not_started",
                    "step {number} ({step_en}) must be at least in progress",
                    "l’étape {number} ({step_fr}) doit être au moins en cours"
                )
            };
            if status.missing.is_empty() {
                blockers.push(line);
            } else {
                let labels = || status.missing.iter().map(|m| missing_label(m));
                let en = labels().map(|(en, _)| en).collect::<Vec<_>>().join(", ");
                let fr = labels().map(|(_, fr)| fr).collect::<Vec<_>>().join(", ");
                // Each language joins its own words, so `tr!` (one set of values) does not fit.
                let missing = Text::new(
                    "go_live.missing",
                    format!(": missing {en}"),
                    format!(" : il manque {fr}"),
                );
                blockers.push(line.followed_by(&missing));
            }
        }
    }
    blockers
}

/// A checklist step in plain words: `(English, French)`.
fn step_label(step: ChecklistStep) -> (&'static str, &'static str) {
    match step {
        ChecklistStep::Documentation => ("documentation", "documentation"),
        ChecklistStep::OfferingDefined => ("offering definition", "définition de l’offre"),
        ChecklistStep::BrokerHosted => ("hosted broker", "broker hébergé"),
        ChecklistStep::AuthenticationFlow => ("sign-in flow", "parcours de connexion"),
        ChecklistStep::LimitedVisibility => ("limited visibility", "visibilité limitée"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::Timestamp;
    use crate::account::{ProviderApplication, ProviderStatus};
    use crate::attestation::StepState::*;
    use crate::ids::{AccountId, OfferingId};
    use crate::offering::{Localized, OfferingName, Plan, Pricing};
    use crate::user::Email;

    const NOW: Timestamp = Timestamp::UNIX_EPOCH;

    pub(crate) fn offering() -> Offering {
        Offering {
            id: OfferingId::generate(),
            name: OfferingName::parse("n", "obj-store").expect("valid"),
            provider_account_id: AccountId::generate(),
            display_name: Localized {
                en: "Obj".into(),
                fr: None,
            },
            description: Localized {
                en: "Store".into(),
                fr: None,
            },
            category: None,
            tags: vec![],
            documentation_url: None,
            support_contact: None,
            plans: vec![],
            visibility: Visibility::Private,
            allowlist: vec![],
            attestations: Attestations::default(),
            created_at: NOW,
            updated_at: NOW,
            version: 1,
        }
    }

    pub(crate) fn complete(mut o: Offering) -> Offering {
        o.category = Some("storage".into());
        o.documentation_url = Some("https://docs.example.com".into());
        o.support_contact = Some("help@example.com".into());
        o.plans = vec![Plan {
            name: "lite".into(),
            display_name: Localized {
                en: "Lite".into(),
                fr: None,
            },
            description: Localized::default(),
            pricing: Pricing::Free,
        }];
        o.visibility = Visibility::Limited;
        let by = crate::ids::UserId::generate();
        o.attestations = Attestations {
            documentation: Some(Attestation {
                state: InProgress,
                by,
                at: NOW,
            }),
            broker_hosted: Some(Attestation {
                state: Complete,
                by,
                at: NOW,
            }),
            authentication_flow: Some(Attestation {
                state: Complete,
                by,
                at: NOW,
            }),
        };
        o
    }

    pub(crate) fn account(status: Option<ProviderStatus>) -> Account {
        Account {
            id: AccountId::generate(),
            name: "A".into(),
            members: vec![],
            provider: status.map(|status| ProviderApplication {
                legal_name: "A".into(),
                contact_email: Email::parse("e", "a@a.example").expect("valid"),
                country: "FR".into(),
                website: "https://a.example".into(),
                status,
                reason: None,
                submitted_at: NOW,
                decided_at: None,
                decided_by: None,
            }),
            created_at: NOW,
            version: 1,
        }
    }

    #[test]
    fn new_offering_checklist() {
        let c = Checklist::of(&offering());
        let states: Vec<_> = c.steps.iter().map(|s| s.state).collect();
        assert_eq!(
            states,
            [NotStarted, InProgress, NotStarted, NotStarted, NotStarted]
        );
        assert_eq!(c.steps[1].missing.len(), 4);
        assert_eq!(c.completed(), 0);
    }

    #[test]
    fn complete_offering_may_go_live_only_when_approved() {
        let o = complete(offering());
        assert_eq!(Checklist::of(&o).completed(), 4);
        assert!(go_live_blockers(&o, &account(Some(ProviderStatus::Approved)), None).is_empty());
        for status in [
            None,
            Some(ProviderStatus::Pending),
            Some(ProviderStatus::Rejected),
        ] {
            assert_eq!(
                go_live_blockers(&o, &account(status), None).len(),
                1,
                "{status:?}"
            );
        }
    }

    #[test]
    fn each_missing_piece_is_a_blocker() {
        let approved = account(Some(ProviderStatus::Approved));
        type Breaker = fn(&mut Offering);
        let cases: Vec<(Breaker, &str)> = vec![
            (|o| o.attestations.documentation = None, "step 1"),
            (|o| o.plans.clear(), "at least one plan"),
            (|o| o.category = None, "a category"),
            (
                |o| o.attestations.broker_hosted.as_mut().expect("set").state = InProgress,
                "step 3",
            ),
            (|o| o.attestations.authentication_flow = None, "step 4"),
            (|o| o.visibility = Visibility::Private, "step 5"),
        ];
        for (break_it, expected) in cases {
            let mut o = complete(offering());
            break_it(&mut o);
            let blockers = go_live_blockers(&o, &approved, None);
            assert_eq!(blockers.len(), 1, "{expected}: {blockers:?}");
            assert!(
                blockers[0].en().contains(expected),
                "{expected}: {blockers:?}"
            );
        }
        // Everything missing at once is listed at once.
        assert_eq!(go_live_blockers(&offering(), &account(None), None).len(), 6);
    }

    fn evidence(
        documentation: Verdict,
        broker: Verdict,
        sign_in: Verdict,
        failed: &[(ChecklistStep, &str)],
    ) -> Evidence {
        Evidence {
            run_id: CheckRunId::generate(),
            finished_at: NOW,
            verdicts: crate::checks::Verdicts {
                documentation,
                broker,
                sign_in,
                failed: failed
                    .iter()
                    .map(|(step, check)| crate::checks::FailedCheck {
                        step: *step,
                        check: (*check).to_owned(),
                    })
                    .collect(),
            },
        }
    }

    #[test]
    fn a_passing_run_completes_the_steps_it_checked_over_the_attestations() {
        // Nothing attested: the checks alone complete steps 1, 3 and 4.
        let mut o = complete(offering());
        o.attestations = Attestations::default();
        let approved = account(Some(ProviderStatus::Approved));
        assert_eq!(go_live_blockers(&o, &approved, None).len(), 3);
        let e = evidence(Verdict::Passed, Verdict::Passed, Verdict::Passed, &[]);
        let c = Checklist::with_evidence(&o, Some(&e));
        for step in [
            ChecklistStep::Documentation,
            ChecklistStep::BrokerHosted,
            ChecklistStep::AuthenticationFlow,
        ] {
            let status = c.steps.iter().find(|s| s.step == step).expect("listed");
            assert_eq!(status.state, Complete, "{step:?}");
            assert_eq!(status.source, StepSource::Checked, "{step:?}");
            assert_eq!(status.checked_by, Some(e.run_id));
        }
        assert!(go_live_blockers(&o, &approved, Some(&e)).is_empty());
    }

    #[test]
    fn a_step_the_run_could_not_check_stays_attested() {
        let mut o = complete(offering());
        o.attestations.authentication_flow = None;
        let approved = account(Some(ProviderStatus::Approved));
        let e = evidence(Verdict::Passed, Verdict::Passed, Verdict::NotChecked, &[]);
        let c = Checklist::with_evidence(&o, Some(&e));
        let sign_in = &c.steps[3];
        assert_eq!(sign_in.source, StepSource::Attested);
        assert_eq!(sign_in.state, NotStarted);
        let blockers = go_live_blockers(&o, &approved, Some(&e));
        assert_eq!(blockers.len(), 1, "{blockers:?}");
        assert!(blockers[0].en().contains("step 4"), "{blockers:?}");
    }

    #[test]
    fn a_failing_run_blocks_with_its_failing_checks_even_over_a_complete_attestation() {
        let o = complete(offering());
        let approved = account(Some(ProviderStatus::Approved));
        let e = evidence(
            Verdict::Failed,
            Verdict::Failed,
            Verdict::Passed,
            &[
                (ChecklistStep::BrokerHosted, "catalog.unique_ids"),
                (ChecklistStep::BrokerHosted, "provision.sync"),
                (ChecklistStep::Documentation, "docs.languages"),
            ],
        );
        let c = Checklist::with_evidence(&o, Some(&e));
        assert_eq!(
            c.steps[2].failed_checks,
            ["catalog.unique_ids", "provision.sync"]
        );
        let blockers = go_live_blockers(&o, &approved, Some(&e));
        assert_eq!(
            blockers.iter().map(Text::en).collect::<Vec<_>>(),
            [
                "step 1 (documentation) failed its checks: docs.languages",
                "step 3 (hosted broker) failed its checks: catalog.unique_ids, provision.sync",
            ]
        );
        assert_eq!(
            blockers[1].fr(),
            "l’étape 3 (broker hébergé) a échoué à ses vérifications : catalog.unique_ids, provision.sync"
        );
    }

    #[test]
    fn steps_parse_back() {
        for step in ChecklistStep::ALL {
            assert_eq!(ChecklistStep::parse(step.as_str()), Some(step));
        }
        assert_eq!(ChecklistStep::parse("nope"), None);
    }
}
