//! The five onboarding steps, how far a step is, and the provider's attestations of the
//! steps the platform cannot check (who said what, when): what an offering stores of its
//! checklist. The checklist itself, which reads these and derives the other steps from the
//! offering, is [`crate::checklist`]; this module imports neither it nor
//! [`crate::offering`].

use crate::Timestamp;
use crate::ids::UserId;
use serde::{Deserialize, Serialize};

/// One of the five onboarding steps, in the seed's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChecklistStep {
    /// 1. Documentation and marketing announcement.
    Documentation,
    /// 2. Offering defined: catalog listing and plans.
    OfferingDefined,
    /// 3. Service broker developed and hosted (Open Service Broker API).
    BrokerHosted,
    /// 4. Authentication flow: the dashboard signs users in through the marketplace.
    AuthenticationFlow,
    /// 5. Published and tested in limited visibility.
    LimitedVisibility,
}

impl ChecklistStep {
    pub const ALL: [ChecklistStep; 5] = [
        ChecklistStep::Documentation,
        ChecklistStep::OfferingDefined,
        ChecklistStep::BrokerHosted,
        ChecklistStep::AuthenticationFlow,
        ChecklistStep::LimitedVisibility,
    ];

    pub fn number(self) -> u8 {
        match self {
            ChecklistStep::Documentation => 1,
            ChecklistStep::OfferingDefined => 2,
            ChecklistStep::BrokerHosted => 3,
            ChecklistStep::AuthenticationFlow => 4,
            ChecklistStep::LimitedVisibility => 5,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChecklistStep::Documentation => "documentation",
            ChecklistStep::OfferingDefined => "offering_defined",
            ChecklistStep::BrokerHosted => "broker_hosted",
            ChecklistStep::AuthenticationFlow => "authentication_flow",
            ChecklistStep::LimitedVisibility => "limited_visibility",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|step| step.as_str() == s)
    }

    /// Whether the provider attests this step (the platform cannot check it yet).
    pub fn is_attested(self) -> bool {
        matches!(
            self,
            ChecklistStep::Documentation
                | ChecklistStep::BrokerHosted
                | ChecklistStep::AuthenticationFlow
        )
    }
}

/// How far a step is.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    #[default]
    NotStarted,
    InProgress,
    Complete,
}

/// A provider's statement about a step: the state, who said it and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attestation {
    pub state: StepState,
    pub by: UserId,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

/// The attestations of the attested steps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attestations {
    pub documentation: Option<Attestation>,
    pub broker_hosted: Option<Attestation>,
    pub authentication_flow: Option<Attestation>,
}

impl Attestations {
    pub fn get(&self, step: ChecklistStep) -> Option<&Attestation> {
        match step {
            ChecklistStep::Documentation => self.documentation.as_ref(),
            ChecklistStep::BrokerHosted => self.broker_hosted.as_ref(),
            ChecklistStep::AuthenticationFlow => self.authentication_flow.as_ref(),
            ChecklistStep::OfferingDefined | ChecklistStep::LimitedVisibility => None,
        }
    }

    pub(crate) fn slot_mut(&mut self, step: ChecklistStep) -> Option<&mut Option<Attestation>> {
        match step {
            ChecklistStep::Documentation => Some(&mut self.documentation),
            ChecklistStep::BrokerHosted => Some(&mut self.broker_hosted),
            ChecklistStep::AuthenticationFlow => Some(&mut self.authentication_flow),
            ChecklistStep::OfferingDefined | ChecklistStep::LimitedVisibility => None,
        }
    }
}
