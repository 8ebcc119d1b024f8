//! Revisions of a live offering: what a provider proposes to change in a public offering,
//! beside the live version customers keep seeing, the field-by-field diff from the live
//! version, and the operator's rule saying which changes need the go-live review.
//!
//! A revision is carried by a submission (`go_live::Submission::revision`): one that needs
//! review goes through the same rounds, sessions, thread and decision as a go-live request,
//! and its publication replaces the live fields at the scheduled time. This module is a
//! leaf: it knows offerings and broker registrations, not submissions.

use crate::checks::BrokerRegistration;
/// Where it lives: a check run of a revision names the settings it checked, and the checks
/// know nothing of revisions.
pub use crate::checks::BrokerSettings;
use crate::error::DomainError;
use crate::offering::{Localized, Offering, Plan};
use crate::tr;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Everything a revision proposes, whole (not a patch): the live version's fields as the
/// provider wants them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Revision {
    pub display_name: Localized,
    pub description: Localized,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub documentation_url: Option<String>,
    pub support_contact: Option<String>,
    pub plans: Vec<Plan>,
    /// `None` when the offering has no broker registered.
    pub broker: Option<BrokerSettings>,
}

impl Revision {
    /// The live version as a revision (what a new revision starts from).
    pub fn of(offering: &Offering, broker: Option<&BrokerRegistration>) -> Self {
        Self {
            display_name: offering.display_name.clone(),
            description: offering.description.clone(),
            category: offering.category.clone(),
            tags: offering.tags.clone(),
            documentation_url: offering.documentation_url.clone(),
            support_contact: offering.support_contact.clone(),
            plans: offering.plans.clone(),
            broker: broker.map(BrokerSettings::of),
        }
    }

    /// The offering with these fields in place of its own; everything else (name,
    /// visibility, allowlist, attestations, version) is the offering's.
    pub fn applied_to(&self, offering: &Offering) -> Offering {
        Offering {
            display_name: self.display_name.clone(),
            description: self.description.clone(),
            category: self.category.clone(),
            tags: self.tags.clone(),
            documentation_url: self.documentation_url.clone(),
            support_contact: self.support_contact.clone(),
            plans: self.plans.clone(),
            ..offering.clone()
        }
    }
}

/// A group of fields the operator's rule speaks of.
#[derive(
    Clone,
    Copy,
    Debug,
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
pub enum RevisionField {
    DisplayName,
    Description,
    Category,
    Tags,
    DocumentationUrl,
    SupportContact,
    /// Plans added, removed or changed, prices included.
    Plans,
    Broker,
}

impl RevisionField {
    pub const ALL: [RevisionField; 8] = [
        RevisionField::DisplayName,
        RevisionField::Description,
        RevisionField::Category,
        RevisionField::Tags,
        RevisionField::DocumentationUrl,
        RevisionField::SupportContact,
        RevisionField::Plans,
        RevisionField::Broker,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RevisionField::DisplayName => "display_name",
            RevisionField::Description => "description",
            RevisionField::Category => "category",
            RevisionField::Tags => "tags",
            RevisionField::DocumentationUrl => "documentation_url",
            RevisionField::SupportContact => "support_contact",
            RevisionField::Plans => "plans",
            RevisionField::Broker => "broker",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s.trim())
    }
}

/// The operator's rule: which fields, when changed, send a revision through review. The
/// others publish at once (audited).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewRule {
    pub fields: BTreeSet<RevisionField>,
}

impl Default for ReviewRule {
    /// Plans and prices, and the broker: what a customer is charged and what serves them.
    /// Listing texts and the documentation URL publish at once.
    fn default() -> Self {
        Self {
            fields: [RevisionField::Plans, RevisionField::Broker].into(),
        }
    }
}

impl ReviewRule {
    /// Parses the operator's list (`plans,broker`; empty: nothing needs review).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut fields = BTreeSet::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let field = RevisionField::parse(name).ok_or_else(|| {
                let known: Vec<&str> = RevisionField::ALL.iter().map(|f| f.as_str()).collect();
                format!("`{name}` is not a revision field ({})", known.join(", "))
            })?;
            fields.insert(field);
        }
        Ok(Self { fields })
    }

    /// Whether the changes need the go-live review.
    pub fn needs_review(&self, diff: &[Change]) -> bool {
        diff.iter().any(|c| self.fields.contains(&c.field))
    }
}

/// How a field changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// One difference between the live version and a revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Change {
    /// The group the operator's rule speaks of.
    pub field: RevisionField,
    /// Where, dotted: `display_name.fr`, `plans.lite` (a plan added or removed),
    /// `plans.lite.pricing`, `broker.url`.
    pub path: String,
    pub kind: ChangeKind,
    /// The live value (`null` when added).
    #[schema(value_type = Object)]
    pub before: Value,
    /// The revision's value (`null` when removed).
    #[schema(value_type = Object)]
    pub after: Value,
}

fn push(out: &mut Vec<Change>, field: RevisionField, path: String, before: Value, after: Value) {
    if before == after {
        return;
    }
    let kind = match (before.is_null(), after.is_null()) {
        (true, _) => ChangeKind::Added,
        (_, true) => ChangeKind::Removed,
        _ => ChangeKind::Changed,
    };
    out.push(Change {
        field,
        path,
        kind,
        before,
        after,
    });
}

fn localized(
    out: &mut Vec<Change>,
    field: RevisionField,
    path: &str,
    a: &Localized,
    b: &Localized,
) {
    push(out, field, format!("{path}.en"), json!(a.en), json!(b.en));
    push(out, field, format!("{path}.fr"), json!(a.fr), json!(b.fr));
}

/// The differences from `live` to `proposed`, field by field, both languages, plans by
/// name (added, removed, changed: each changed part of a plan named), in a stable order.
pub fn diff(live: &Revision, proposed: &Revision) -> Vec<Change> {
    use RevisionField as F;
    let mut out = Vec::new();
    localized(
        &mut out,
        F::DisplayName,
        "display_name",
        &live.display_name,
        &proposed.display_name,
    );
    localized(
        &mut out,
        F::Description,
        "description",
        &live.description,
        &proposed.description,
    );
    push(
        &mut out,
        F::Category,
        "category".into(),
        json!(live.category),
        json!(proposed.category),
    );
    if live.tags != proposed.tags {
        push(
            &mut out,
            F::Tags,
            "tags".into(),
            json!(live.tags),
            json!(proposed.tags),
        );
    }
    push(
        &mut out,
        F::DocumentationUrl,
        "documentation_url".into(),
        json!(live.documentation_url),
        json!(proposed.documentation_url),
    );
    push(
        &mut out,
        F::SupportContact,
        "support_contact".into(),
        json!(live.support_contact),
        json!(proposed.support_contact),
    );
    for plan in &live.plans {
        let path = format!("plans.{}", plan.name);
        match proposed.plans.iter().find(|p| p.name == plan.name) {
            None => push(&mut out, F::Plans, path, json!(plan), Value::Null),
            Some(next) => {
                let name = format!("{path}.display_name");
                localized(
                    &mut out,
                    F::Plans,
                    &name,
                    &plan.display_name,
                    &next.display_name,
                );
                let description = format!("{path}.description");
                localized(
                    &mut out,
                    F::Plans,
                    &description,
                    &plan.description,
                    &next.description,
                );
                push(
                    &mut out,
                    F::Plans,
                    format!("{path}.pricing"),
                    json!(plan.pricing),
                    json!(next.pricing),
                );
            }
        }
    }
    for plan in proposed
        .plans
        .iter()
        .filter(|p| !live.plans.iter().any(|l| l.name == p.name))
    {
        push(
            &mut out,
            F::Plans,
            format!("plans.{}", plan.name),
            Value::Null,
            json!(plan),
        );
    }
    let order: Vec<&str> = live.plans.iter().map(|p| p.name.as_str()).collect();
    let reordered: Vec<&str> = proposed
        .plans
        .iter()
        .map(|p| p.name.as_str())
        .filter(|n| order.contains(n))
        .collect();
    let kept: Vec<&str> = order
        .iter()
        .copied()
        .filter(|n| reordered.contains(n))
        .collect();
    if kept != reordered {
        push(
            &mut out,
            F::Plans,
            "plans.order".into(),
            json!(kept),
            json!(reordered),
        );
    }
    let broker = |b: &Option<BrokerSettings>, f: fn(&BrokerSettings) -> &String| {
        b.as_ref().map(|b| json!(f(b))).unwrap_or(Value::Null)
    };
    for (name, get) in [
        (
            "url",
            (|b: &BrokerSettings| &b.url) as fn(&BrokerSettings) -> &String,
        ),
        ("username", |b| &b.username),
        ("api_version", |b| &b.api_version),
    ] {
        push(
            &mut out,
            F::Broker,
            format!("broker.{name}"),
            broker(&live.broker, get),
            broker(&proposed.broker, get),
        );
    }
    out
}

/// Refuses a submission of a revision that changes nothing.
pub fn require_changes(diff: &[Change]) -> Result<(), DomainError> {
    if diff.is_empty() {
        return Err(DomainError::invalid(
            "revision",
            tr!(
                "revision.no_change",
                "this revision changes nothing in the live version",
                "cette révision ne change rien à la version en ligne"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offering::Pricing;

    fn plan(name: &str, amount: &str) -> Plan {
        Plan {
            name: name.into(),
            display_name: Localized {
                en: name.to_uppercase(),
                fr: None,
            },
            description: Localized::default(),
            pricing: Pricing::Subscription {
                amount: amount.into(),
                currency: "EUR".into(),
            },
        }
    }

    fn live() -> Revision {
        Revision {
            display_name: Localized {
                en: "Store".into(),
                fr: Some("Stockage".into()),
            },
            description: Localized {
                en: "Objects".into(),
                fr: None,
            },
            category: Some("storage".into()),
            tags: vec!["s3".into()],
            documentation_url: Some("https://docs.example".into()),
            support_contact: None,
            plans: vec![plan("lite", "0"), plan("pro", "10")],
            broker: Some(BrokerSettings {
                url: "https://broker.example".into(),
                username: "u".into(),
                api_version: "2.17".into(),
            }),
        }
    }

    /// (what the revision changes, the paths and kinds of the diff, whether the default
    /// rule sends it to review)
    #[test]
    fn each_change_is_named_and_judged() {
        type Edit = fn(&mut Revision);
        type Case = (&'static str, Edit, Vec<(&'static str, ChangeKind)>, bool);
        let cases: Vec<Case> = vec![
            ("nothing", |_| {}, vec![], false),
            (
                "french name",
                |r| r.display_name.fr = Some("Stock".into()),
                vec![("display_name.fr", ChangeKind::Changed)],
                false,
            ),
            (
                "french description added",
                |r| r.description.fr = Some("Objets".into()),
                vec![("description.fr", ChangeKind::Added)],
                false,
            ),
            (
                "documentation removed",
                |r| r.documentation_url = None,
                vec![("documentation_url", ChangeKind::Removed)],
                false,
            ),
            (
                "tags",
                |r| r.tags = vec!["s3".into(), "backup".into()],
                vec![("tags", ChangeKind::Changed)],
                false,
            ),
            (
                "price",
                |r| r.plans[1] = plan("pro", "12"),
                vec![("plans.pro.pricing", ChangeKind::Changed)],
                true,
            ),
            (
                "plan added",
                |r| r.plans.push(plan("max", "99")),
                vec![("plans.max", ChangeKind::Added)],
                true,
            ),
            (
                "plan removed",
                |r| {
                    r.plans.remove(0);
                },
                vec![("plans.lite", ChangeKind::Removed)],
                true,
            ),
            (
                "plans reordered",
                |r| r.plans.reverse(),
                vec![("plans.order", ChangeKind::Changed)],
                true,
            ),
            (
                "plan's english name",
                |r| r.plans[0].display_name.en = "Tiny".into(),
                vec![("plans.lite.display_name.en", ChangeKind::Changed)],
                true,
            ),
            (
                "broker url",
                |r| {
                    if let Some(b) = r.broker.as_mut() {
                        b.url = "https://b2.example".into();
                    }
                },
                vec![("broker.url", ChangeKind::Changed)],
                true,
            ),
            (
                "texts and a price",
                |r| {
                    r.display_name.en = "Vault".into();
                    r.plans[0] = plan("lite", "1");
                },
                vec![
                    ("display_name.en", ChangeKind::Changed),
                    ("plans.lite.pricing", ChangeKind::Changed),
                ],
                true,
            ),
        ];
        let rule = ReviewRule::default();
        for (name, edit, expected, review) in cases {
            let mut proposed = live();
            edit(&mut proposed);
            let changes = diff(&live(), &proposed);
            let got: Vec<(&str, ChangeKind)> =
                changes.iter().map(|c| (c.path.as_str(), c.kind)).collect();
            assert_eq!(got, expected, "{name}");
            assert_eq!(rule.needs_review(&changes), review, "{name}");
            assert_eq!(
                require_changes(&changes).is_ok(),
                !expected.is_empty(),
                "{name}"
            );
        }
    }

    #[test]
    fn the_operator_decides_what_needs_review() {
        let mut proposed = live();
        proposed.display_name.en = "Vault".into();
        let changes = diff(&live(), &proposed);
        let strict = ReviewRule::parse("display_name, plans").expect("known fields");
        assert!(strict.needs_review(&changes));
        let none = ReviewRule::parse("").expect("empty");
        assert!(!none.needs_review(&changes));
        assert!(ReviewRule::parse("plans,prices").is_err());
        assert_eq!(ReviewRule::parse("plans,broker"), Ok(ReviewRule::default()));
    }

    #[test]
    fn applying_keeps_what_a_revision_does_not_hold() {
        let mut proposed = live();
        proposed.plans.push(plan("max", "99"));
        let changes = diff(&live(), &proposed);
        let added = changes
            .iter()
            .find(|c| c.path == "plans.max")
            .expect("added");
        assert_eq!(added.before, Value::Null);
        assert_eq!(added.after["pricing"]["amount"], "99");
    }
}
