//! The onboarding checklist: the five prerequisite steps of the seed. Steps 2 and 5 are
//! derived from the offering itself; steps 1, 3 and 4 are attested by the provider, and the
//! attestation (who, when) is kept. The steps and attestations, which the offering stores,
//! are defined in [`crate::attestation`] and re-exported here.

use crate::account::Account;
use crate::offering::{Offering, Visibility};
use serde::Serialize;

pub use crate::attestation::{Attestation, Attestations, ChecklistStep, StepState};

/// One step as shown to the provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StepStatus {
    pub step: ChecklistStep,
    pub number: u8,
    pub state: StepState,
    /// `derived` from the offering, or `attested` by the provider.
    pub source: StepSource,
    pub attestation: Option<Attestation>,
    /// For derived steps: what is still missing, in plain words.
    pub missing: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepSource {
    Derived,
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
        missing.push("a category".to_owned());
    }
    if offering.documentation_url.is_none() {
        missing.push("a documentation URL".to_owned());
    }
    if offering.support_contact.is_none() {
        missing.push("a support contact".to_owned());
    }
    if offering.plans.is_empty() {
        missing.push("at least one plan".to_owned());
    }
    missing
}

impl Checklist {
    /// Derives what can be derived and takes the rest from the attestations.
    pub fn of(offering: &Offering) -> Checklist {
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
                    }
                }
                ChecklistStep::LimitedVisibility => {
                    let (state, missing) = match offering.visibility {
                        Visibility::Limited | Visibility::Public => (StepState::Complete, vec![]),
                        Visibility::Private => {
                            (StepState::NotStarted, vec!["limited visibility".to_owned()])
                        }
                    };
                    StepStatus {
                        step,
                        number: step.number(),
                        state,
                        source: StepSource::Derived,
                        attestation: None,
                        missing,
                    }
                }
                _ => {
                    let attestation = offering.attestations.get(step).copied();
                    StepStatus {
                        step,
                        number: step.number(),
                        state: attestation.map(|a| a.state).unwrap_or_default(),
                        source: StepSource::Attested,
                        attestation,
                        missing: vec![],
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
/// at least in progress and steps 2 to 5 are complete.
pub fn go_live_blockers(offering: &Offering, provider: &Account) -> Vec<String> {
    let mut blockers = Vec::new();
    if !provider.is_approved_provider() {
        blockers.push("the provider account is not an approved provider".to_owned());
    }
    let checklist = Checklist::of(offering);
    for status in &checklist.steps {
        let needed = if status.step == ChecklistStep::Documentation {
            StepState::InProgress
        } else {
            StepState::Complete
        };
        if status.state < needed {
            let mut line = format!(
                "step {} ({}) must be {}",
                status.number,
                status.step.as_str(),
                if needed == StepState::Complete {
                    "complete"
                } else {
                    "at least in progress"
                }
            );
            if !status.missing.is_empty() {
                line.push_str(&format!(": missing {}", status.missing.join(", ")));
            }
            blockers.push(line);
        }
    }
    blockers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;
    use crate::account::{ProviderApplication, ProviderStatus};
    use crate::attestation::StepState::*;
    use crate::ids::{AccountId, OfferingId};
    use crate::offering::{Localized, OfferingName, Plan, Pricing};
    use crate::user::Email;

    const NOW: Timestamp = Timestamp::UNIX_EPOCH;

    fn offering() -> Offering {
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

    fn complete(mut o: Offering) -> Offering {
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

    fn account(status: Option<ProviderStatus>) -> Account {
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
        assert!(go_live_blockers(&o, &account(Some(ProviderStatus::Approved))).is_empty());
        for status in [
            None,
            Some(ProviderStatus::Pending),
            Some(ProviderStatus::Rejected),
        ] {
            assert_eq!(
                go_live_blockers(&o, &account(status)).len(),
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
            let blockers = go_live_blockers(&o, &approved);
            assert_eq!(blockers.len(), 1, "{expected}: {blockers:?}");
            assert!(blockers[0].contains(expected), "{expected}: {blockers:?}");
        }
        // Everything missing at once is listed at once.
        assert_eq!(go_live_blockers(&offering(), &account(None)).len(), 6);
    }

    #[test]
    fn steps_parse_back() {
        for step in ChecklistStep::ALL {
            assert_eq!(ChecklistStep::parse(step.as_str()), Some(step));
        }
        assert_eq!(ChecklistStep::parse("nope"), None);
    }
}
