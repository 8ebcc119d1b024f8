//! The report of a run: serialisable as JSON, which is how vitrine stores it.

use serde::{Deserialize, Serialize};

/// The checklist step a check gives evidence for.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = CheckStep))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Step 1: the documentation.
    Documentation,
    /// Step 3: a hosted Open Service Broker.
    Broker,
    /// Step 4: the dashboard's sign-in through the marketplace.
    SignIn,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = CheckOutcome))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failed,
    /// Could not run (say why in `detail`): the step stays attested.
    Skipped,
}

/// The spec's words a check is held to.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecRef {
    /// The section of `spec.md`, such as `Catalog Management`.
    pub section: String,
    /// The sentence (or a short quote of it) the check enforces.
    pub words: String,
}

/// One request and its answer, secrets and credentials redacted.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = CheckExchange))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    pub method: String,
    pub url: String,
    /// `[name, value]` pairs, in the order sent.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<String>>))]
    pub request_headers: Vec<(String, String)>,
    pub request_body: Option<String>,
    /// None when no answer came (timeout, refused address, connection error).
    pub status: Option<u16>,
    /// `[name, value]` pairs, in the order received.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<String>>))]
    pub response_headers: Vec<(String, String)>,
    /// An excerpt of the answer (its first few KiB).
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = CheckResult))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Stable identifier, such as `catalog.unique_plan_ids`; the pages translate by it.
    pub id: String,
    pub step: Step,
    pub outcome: Outcome,
    /// Why it failed or was skipped, in plain English.
    pub detail: Option<String>,
    pub spec: SpecRef,
    pub exchanges: Vec<Exchange>,
    pub duration_ms: u64,
}

/// Something the run created on the broker.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = BrokerResource))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Resource {
    Instance {
        instance_id: String,
        service_id: String,
        plan_id: String,
    },
    Binding {
        instance_id: String,
        binding_id: String,
        service_id: String,
        plan_id: String,
    },
}

/// What a run says of one checklist step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepVerdict {
    /// Every check of the step ran and passed.
    Passed,
    /// At least one check of the step failed.
    Failed,
    /// The step's checks could not run: it stays attested.
    NotChecked,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = CheckReport))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The OSB version spoken.
    pub api_version: String,
    pub checks: Vec<Check>,
    /// What the run created and could not remove.
    pub leftovers: Vec<Resource>,
    /// The broker's own time: the sum of every exchange's elapsed time.
    pub broker_ms: u64,
    /// The whole run's wall-clock time.
    pub duration_ms: u64,
}

impl Report {
    pub fn verdict(&self, step: Step) -> StepVerdict {
        let mut of_step = self.checks.iter().filter(|c| c.step == step).peekable();
        if of_step.peek().is_none() {
            return StepVerdict::NotChecked;
        }
        let mut ran = false;
        for check in of_step {
            match check.outcome {
                Outcome::Failed => return StepVerdict::Failed,
                Outcome::Passed => ran = true,
                Outcome::Skipped => {}
            }
        }
        if ran {
            StepVerdict::Passed
        } else {
            StepVerdict::NotChecked
        }
    }

    pub fn failing(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.outcome == Outcome::Failed)
    }
}

/// A check whose outcome differs between two runs: changed, new (`before` is `None`) or
/// gone (`after` is `None`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckChange {
    pub id: String,
    pub before: Option<Outcome>,
    pub after: Option<Outcome>,
}

/// What changed from `previous` to `current`: the current run's checks in its order, then
/// the checks that vanished in the previous run's order.
pub fn diff(previous: &Report, current: &Report) -> Vec<CheckChange> {
    let outcome_in =
        |report: &Report, id: &str| report.checks.iter().find(|c| c.id == id).map(|c| c.outcome);
    let mut changes: Vec<CheckChange> = current
        .checks
        .iter()
        .filter_map(|check| {
            let before = outcome_in(previous, &check.id);
            (before != Some(check.outcome)).then(|| CheckChange {
                id: check.id.clone(),
                before,
                after: Some(check.outcome),
            })
        })
        .collect();
    changes.extend(
        previous
            .checks
            .iter()
            .filter(|check| outcome_in(current, &check.id).is_none())
            .map(|check| CheckChange {
                id: check.id.clone(),
                before: Some(check.outcome),
                after: None,
            }),
    );
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(id: &str, outcome: Outcome) -> Check {
        Check {
            id: id.to_owned(),
            step: Step::Broker,
            outcome,
            detail: None,
            spec: SpecRef {
                section: "s".into(),
                words: "w".into(),
            },
            exchanges: Vec::new(),
            duration_ms: 0,
        }
    }

    #[test]
    fn the_diff_names_changed_new_and_vanished_checks() {
        let previous = Report {
            checks: vec![
                check("a", Outcome::Passed),
                check("b", Outcome::Failed),
                check("gone", Outcome::Passed),
            ],
            ..Report::default()
        };
        let current = Report {
            checks: vec![
                check("a", Outcome::Passed),
                check("b", Outcome::Passed),
                check("new", Outcome::Skipped),
            ],
            ..Report::default()
        };
        let changes = diff(&previous, &current);
        assert_eq!(
            changes,
            vec![
                CheckChange {
                    id: "b".into(),
                    before: Some(Outcome::Failed),
                    after: Some(Outcome::Passed)
                },
                CheckChange {
                    id: "new".into(),
                    before: None,
                    after: Some(Outcome::Skipped)
                },
                CheckChange {
                    id: "gone".into(),
                    before: Some(Outcome::Passed),
                    after: None
                },
            ]
        );
        assert!(diff(&current, &current).is_empty());
    }
}
