//! Demo requirements and the validator's verdicts (PRODUCT.md, journey step 6).
//!
//! The requirements are one marketplace-wide list, versioned: every change makes a new
//! version, and a submission round is judged against the version it was submitted under, so
//! a provider who recorded against version 3 is never judged on version 4's wording.

use crate::error::{DomainError, Problems};
use crate::submission::Decision;
use crate::{Localized, tr, validate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One thing the demo recording must show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// Stable key, kept across versions when the requirement keeps its meaning.
    #[schema(pattern = "vitrine:name")]
    pub key: String,
    #[schema(value_type = crate::offering::LocalizedTitle)]
    pub title: Localized,
    #[schema(value_type = crate::offering::LocalizedRequirementDescription)]
    pub description: Localized,
}

/// A version of the requirement list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RequirementSet {
    pub version: u32,
    pub requirements: Vec<Requirement>,
}

fn text(en: &str, fr: &str) -> Localized {
    Localized {
        en: en.to_owned(),
        fr: Some(fr.to_owned()),
    }
}

/// The list a new marketplace starts with, drawn from the seed's process: the finished
/// service, shown end to end as a customer lives it.
pub fn default_requirements() -> RequirementSet {
    let r = |key: &str, title: Localized, description: Localized| Requirement {
        key: key.to_owned(),
        title,
        description,
    };
    RequirementSet {
        version: 1,
        requirements: vec![
            r(
                "catalog-listing",
                text("Listed in the catalog", "Présent dans le catalogue"),
                text(
                    "Show the offering's catalog page: name, description, plans and pricing, documentation link and support contact.",
                    "Montrez la page catalogue de l'offre : nom, description, plans et tarifs, lien vers la documentation et contact du support.",
                ),
            ),
            r(
                "provision",
                text("Provisioning an instance", "Création d'une instance"),
                text(
                    "Create an instance of the service from the marketplace and show it becoming ready (the broker's provision call).",
                    "Créez une instance du service depuis la place de marché et montrez qu'elle devient prête (appel de provisionnement du broker).",
                ),
            ),
            r(
                "dashboard-sign-in",
                text(
                    "Signing in to the dashboard",
                    "Connexion au tableau de bord",
                ),
                text(
                    "Open the instance's dashboard and show that it signs the user in through the marketplace, without a separate password.",
                    "Ouvrez le tableau de bord de l'instance et montrez qu'il connecte l'utilisateur via la place de marché, sans mot de passe distinct.",
                ),
            ),
            r(
                "bind-credentials",
                text("Binding and credentials", "Liaison et identifiants"),
                text(
                    "Bind an application to the instance, show the credentials it receives and that they work; then unbind.",
                    "Liez une application à l'instance, montrez les identifiants reçus et qu'ils fonctionnent ; puis supprimez la liaison.",
                ),
            ),
            r(
                "change-plan",
                text("Changing plan", "Changement de plan"),
                text(
                    "Change the instance to another plan and show the service honours it.",
                    "Passez l'instance à un autre plan et montrez que le service l'applique.",
                ),
            ),
            r(
                "deprovision",
                text("Deprovisioning", "Suppression de l'instance"),
                text(
                    "Delete the instance and show its resources are released.",
                    "Supprimez l'instance et montrez que ses ressources sont libérées.",
                ),
            ),
            r(
                "usage-billing",
                text("Usage and billing", "Usage et facturation"),
                text(
                    "Show how usage is measured and reported for billing, consistent with the offering's plans.",
                    "Montrez comment l'usage est mesuré et transmis pour la facturation, conformément aux plans de l'offre.",
                ),
            ),
        ],
    }
}

/// Checks a new list of requirements and gives it the next version number.
pub fn new_requirement_set(
    current: &RequirementSet,
    requirements: Vec<Requirement>,
) -> Result<RequirementSet, DomainError> {
    let mut problems = Problems::new();
    if requirements.is_empty() {
        problems.push(
            "requirements",
            tr!(
                "requirements.empty",
                "the list needs at least one requirement",
                "la liste doit compter au moins une exigence"
            ),
        );
    }
    if requirements.len() > 50 {
        problems.push(
            "requirements",
            tr!(
                "requirements.count",
                "at most 50 requirements",
                "50 exigences au plus"
            ),
        );
    }
    let mut keys = std::collections::BTreeSet::new();
    let mut clean = Vec::with_capacity(requirements.len());
    for (i, r) in requirements.iter().enumerate() {
        let key = problems.check(validate::programmatic_name(
            &format!("requirements.{i}.key"),
            &r.key,
        ));
        if let Some(k) = &key
            && !keys.insert(k.clone())
        {
            problems.push(
                format!("requirements.{i}.key"),
                tr!(
                    "requirements.key_taken",
                    "another requirement has this key",
                    "une autre exigence a cette clé"
                ),
            );
        }
        let title = problems.check(crate::offering::validate_localized(
            &r.title,
            &format!("requirements.{i}.title"),
            200,
        ));
        let description = problems.check(crate::offering::validate_localized(
            &r.description,
            &format!("requirements.{i}.description"),
            4000,
        ));
        if let (Some(key), Some(title), Some(description)) = (key, title, description) {
            clean.push(Requirement {
                key,
                title,
                description,
            });
        }
    }
    problems.into_result()?;
    if clean == current.requirements {
        return Err(DomainError::conflict(tr!(
            "requirements.unchanged",
            "the list is unchanged",
            "la liste n’a pas changé"
        )));
    }
    Ok(RequirementSet {
        version: current.version + 1,
        requirements: clean,
    })
}

/// A validator's judgement of one requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerdictOutcome {
    Met,
    NotMet,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    #[schema(pattern = "vitrine:name")]
    pub requirement: String,
    pub outcome: VerdictOutcome,
    /// Required when not met: what the provider must change.
    #[serde(default)]
    pub comment: Option<String>,
}

/// Checks a decision against the verdicts (PRODUCT.md): approve needs every requirement
/// met; request changes needs at least one not met; reject needs a reason. Every
/// requirement of the set must be judged exactly once, and a "not met" needs a comment.
pub fn check_decision(
    set: &RequirementSet,
    verdicts: &[Verdict],
    decision: Decision,
    reason: Option<&str>,
) -> Result<Vec<Verdict>, DomainError> {
    let mut problems = Problems::new();
    let mut by_key: BTreeMap<&str, &Verdict> = BTreeMap::new();
    for (i, v) in verdicts.iter().enumerate() {
        if !set.requirements.iter().any(|r| r.key == v.requirement) {
            let (key, version) = (&v.requirement, set.version);
            problems.push(
                format!("verdicts.{i}.requirement"),
                tr!(
                    "verdicts.unknown_requirement",
                    "'{key}' is not a requirement of version {version}",
                    "« {key} » n’est pas une exigence de la version {version}"
                ),
            );
        } else if by_key.insert(v.requirement.as_str(), v).is_some() {
            problems.push(
                format!("verdicts.{i}.requirement"),
                tr!(
                    "verdicts.twice",
                    "this requirement is judged twice",
                    "cette exigence est jugée deux fois"
                ),
            );
        }
        if v.outcome == VerdictOutcome::NotMet
            && v.comment.as_deref().is_none_or(|c| c.trim().is_empty())
        {
            problems.push(
                format!("verdicts.{i}.comment"),
                tr!(
                    "verdicts.comment_needed",
                    "say what is missing when a requirement is not met",
                    "dites ce qui manque quand une exigence n’est pas satisfaite"
                ),
            );
        }
    }
    for r in &set.requirements {
        if !by_key.contains_key(r.key.as_str()) {
            let key = &r.key;
            problems.push(
                "verdicts",
                tr!(
                    "verdicts.missing",
                    "requirement '{key}' is not judged",
                    "l’exigence « {key} » n’est pas jugée"
                ),
            );
        }
    }
    problems.into_result()?;
    let unmet = verdicts
        .iter()
        .filter(|v| v.outcome == VerdictOutcome::NotMet)
        .count();
    match decision {
        Decision::Approve if unmet > 0 => Err(DomainError::invalid(
            "decision",
            tr!(
                "decision.unmet",
                "cannot approve: {unmet} requirement(s) not met",
                "approbation impossible : {unmet} exigence(s) non satisfaite(s)"
            ),
        )),
        Decision::RequestChanges if unmet == 0 => Err(DomainError::invalid(
            "decision",
            tr!(
                "decision.all_met",
                "every requirement is met: approve instead, or mark what is not met",
                "toutes les exigences sont satisfaites : approuvez plutôt, ou marquez ce qui ne l’est pas"
            ),
        )),
        Decision::Reject if reason.is_none_or(|r| r.trim().is_empty()) => Err(
            DomainError::invalid("reason", crate::text::rejection_needs_reason()),
        ),
        _ => {
            let mut ordered: Vec<Verdict> = set
                .requirements
                .iter()
                .filter_map(|r| by_key.get(r.key.as_str()).map(|v| (*v).clone()))
                .collect();
            for v in &mut ordered {
                v.comment = v
                    .comment
                    .as_ref()
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty());
            }
            Ok(ordered)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdicts(set: &RequirementSet, unmet: &[&str]) -> Vec<Verdict> {
        set.requirements
            .iter()
            .map(|r| Verdict {
                requirement: r.key.clone(),
                outcome: if unmet.contains(&r.key.as_str()) {
                    VerdictOutcome::NotMet
                } else {
                    VerdictOutcome::Met
                },
                comment: unmet
                    .contains(&r.key.as_str())
                    .then(|| "show it".to_owned()),
            })
            .collect()
    }

    #[test]
    fn default_list_is_complete_and_bilingual() {
        let set = default_requirements();
        assert_eq!(set.requirements.len(), 7);
        assert!(
            set.requirements
                .iter()
                .all(|r| r.title.fr.is_some() && r.description.fr.is_some())
        );
        // It passes its own validation.
        let base = RequirementSet {
            version: 0,
            requirements: vec![],
        };
        assert_eq!(
            new_requirement_set(&base, set.requirements.clone()).map(|s| s.version),
            Ok(1)
        );
    }

    #[test]
    fn decisions_follow_verdicts() {
        let set = default_requirements();
        let all_met = verdicts(&set, &[]);
        let one_unmet = verdicts(&set, &["provision"]);
        assert!(check_decision(&set, &all_met, Decision::Approve, None).is_ok());
        assert!(check_decision(&set, &one_unmet, Decision::Approve, None).is_err());
        assert!(check_decision(&set, &one_unmet, Decision::RequestChanges, None).is_ok());
        assert!(check_decision(&set, &all_met, Decision::RequestChanges, None).is_err());
        assert!(check_decision(&set, &all_met, Decision::Reject, None).is_err());
        assert!(check_decision(&set, &one_unmet, Decision::Reject, Some("Out of scope")).is_ok());
    }

    #[test]
    fn verdicts_must_cover_every_requirement_once() {
        let set = default_requirements();
        let mut v = verdicts(&set, &[]);
        v.pop();
        let Err(DomainError::Invalid(errors)) = check_decision(&set, &v, Decision::Approve, None)
        else {
            panic!("invalid expected")
        };
        assert!(errors[0].message.en().contains("usage-billing"));
        let mut v = verdicts(&set, &[]);
        v.push(v[0].clone());
        v.push(Verdict {
            requirement: "nope".into(),
            outcome: VerdictOutcome::Met,
            comment: None,
        });
        v[1].outcome = VerdictOutcome::NotMet;
        let Err(DomainError::Invalid(errors)) =
            check_decision(&set, &v, Decision::RequestChanges, None)
        else {
            panic!("invalid expected")
        };
        assert_eq!(errors.len(), 3, "{errors:?}");
    }

    #[test]
    fn new_versions() {
        let set = default_requirements();
        assert!(matches!(
            new_requirement_set(&set, set.requirements.clone()),
            Err(DomainError::Conflict(_))
        ));
        let mut changed = set.requirements.clone();
        changed.truncate(3);
        assert_eq!(new_requirement_set(&set, changed).map(|s| s.version), Ok(2));
        let mut dup = set.requirements.clone();
        dup[1].key = dup[0].key.clone();
        assert!(new_requirement_set(&set, dup).is_err());
        assert!(new_requirement_set(&set, vec![]).is_err());
    }
}
