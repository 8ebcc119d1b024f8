//! Offerings: what a provider lists in the catalog, with its plans, its visibility and its
//! allowlist, and the commands that change them.

use crate::account::{Account, ProviderStatus};
use crate::attestation::{Attestation, Attestations, ChecklistStep, StepState};
use crate::audit::AuditEvent;
use crate::error::{DomainError, Problems};
use crate::ids::{AccountId, OfferingId};
use crate::permissions::Actor;
use crate::text::required;
use crate::{Timestamp, tr, validate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// An offering's programmatic name: unique, 3 to 32 lowercase letters, digits and dashes.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = String, pattern = "^[a-z][a-z0-9-]{1,30}[a-z0-9]$")]
pub struct OfferingName(String);

impl OfferingName {
    pub fn parse(field: &str, value: &str) -> Result<Self, DomainError> {
        validate::programmatic_name(field, value).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for OfferingName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The schemas of [`Localized`] texts by their limits, for the OpenAPI document only (what
/// a field holding one accepts depends on the field: a name is shorter than a description).
macro_rules! localized_schema {
    ($($(#[$doc:meta])* $name:ident: $en:literal, $fr:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Deserialize, utoipa::ToSchema)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)] // a schema: the values are read as `Localized`
        pub struct $name {
            #[schema(pattern = $en)]
            en: String,
            #[schema(pattern = $fr)]
            fr: Option<String>,
        }
    )*};
}

localized_schema! {
    /// A name in English (1 to 100 characters) and French (optional).
    LocalizedName: "vitrine:text:1:100", "vitrine:optional_text:100";
    /// A title in English (1 to 200 characters) and French (optional).
    LocalizedTitle: "vitrine:text:1:200", "vitrine:optional_text:200";
    /// A description in English (1 to 10,000 characters) and French (optional).
    LocalizedDescription: "vitrine:text:1:10000", "vitrine:optional_text:10000";
    /// A requirement's description in English (1 to 4,000 characters) and French (optional).
    LocalizedRequirementDescription: "vitrine:text:1:4000", "vitrine:optional_text:4000";
}

/// A plan's description: blank in both languages for none, else English (1 to 2,000
/// characters) and French (optional).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // a schema: the values are read as `Localized`
pub struct LocalizedPlanDescription {
    #[schema(pattern = "vitrine:optional_text:2000")]
    en: String,
    #[schema(pattern = "vitrine:optional_text:2000")]
    fr: Option<String>,
}

/// A tag, for the OpenAPI document: 2 to 32 letters (a to z), digits and dashes.
#[derive(utoipa::ToSchema)]
#[schema(pattern = "vitrine:tag")]
#[allow(dead_code)] // a schema: tags are read as strings
pub struct Tag(String);

/// A text in English (required) and French (optional; readers fall back to English).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Localized {
    pub en: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fr: Option<String>,
}

/// Validates a localized text: English required, French optional, both trimmed and bounded.
pub fn validate_localized(
    text: &Localized,
    field: &str,
    max: usize,
) -> Result<Localized, DomainError> {
    text.validated(field, max)
}

impl Localized {
    fn validated(&self, field: &str, max: usize) -> Result<Localized, DomainError> {
        let mut problems = Problems::new();
        let en = problems.check(validate::text(&format!("{field}.en"), &self.en, 1, max));
        let fr = problems.check(validate::optional_text(
            &format!("{field}.fr"),
            self.fr.as_deref(),
            max,
        ));
        problems.into_result()?;
        Ok(Localized {
            en: en.unwrap_or_default(),
            fr: fr.flatten(),
        })
    }
}

/// Who can see an offering.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Its provider only.
    #[default]
    Private,
    /// Its provider and the accounts on its allowlist.
    Limited,
    /// Everyone.
    Public,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Limited => "limited",
            Visibility::Public => "public",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "private" => Some(Visibility::Private),
            "limited" => Some(Visibility::Limited),
            "public" => Some(Visibility::Public),
            _ => None,
        }
    }
}

/// How a plan is charged. Amounts are decimal strings (`"12.50"`) so nothing is lost to
/// floating point.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Pricing {
    Free,
    /// A fixed amount per month.
    Subscription {
        amount: String,
        currency: String,
    },
    /// A price per unit consumed (`unit` such as `GB-month` or `1k requests`).
    Metered {
        unit: String,
        unit_price: String,
        currency: String,
    },
}

/// A plan of an offering.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Programmatic name, unique within the offering.
    #[schema(pattern = "vitrine:name")]
    pub name: String,
    #[schema(value_type = LocalizedName)]
    pub display_name: Localized,
    #[serde(default)]
    #[schema(value_type = LocalizedPlanDescription)]
    pub description: Localized,
    pub pricing: Pricing,
}

impl Plan {
    fn validated(&self, field: &str) -> Result<Plan, DomainError> {
        let mut problems = Problems::new();
        let name = problems.check(validate::programmatic_name(
            &format!("{field}.name"),
            &self.name,
        ));
        let display_name = problems.check(
            self.display_name
                .validated(&format!("{field}.display_name"), 100),
        );
        let description = if self.description.en.trim().is_empty() && self.description.fr.is_none()
        {
            Some(Localized::default())
        } else {
            problems.check(
                self.description
                    .validated(&format!("{field}.description"), 2000),
            )
        };
        let pricing = match &self.pricing {
            Pricing::Free => Some(Pricing::Free),
            Pricing::Subscription { amount, currency } => {
                let amount = problems.check(validate::decimal_amount(
                    &format!("{field}.pricing.amount"),
                    amount,
                ));
                let currency = problems.check(validate::currency(
                    &format!("{field}.pricing.currency"),
                    currency,
                ));
                amount
                    .zip(currency)
                    .map(|(amount, currency)| Pricing::Subscription { amount, currency })
            }
            Pricing::Metered {
                unit,
                unit_price,
                currency,
            } => {
                let unit = problems.check(validate::text(
                    &format!("{field}.pricing.unit"),
                    unit,
                    1,
                    50,
                ));
                let unit_price = problems.check(validate::decimal_amount(
                    &format!("{field}.pricing.unit_price"),
                    unit_price,
                ));
                let currency = problems.check(validate::currency(
                    &format!("{field}.pricing.currency"),
                    currency,
                ));
                match (unit, unit_price, currency) {
                    (Some(unit), Some(unit_price), Some(currency)) => Some(Pricing::Metered {
                        unit,
                        unit_price,
                        currency,
                    }),
                    _ => None,
                }
            }
        };
        problems.into_result()?;
        match (name, display_name, description, pricing) {
            (Some(name), Some(display_name), Some(description), Some(pricing)) => Ok(Plan {
                name,
                display_name,
                description,
                pricing,
            }),
            _ => unreachable!("Problems is empty only when every check passed"),
        }
    }
}

/// A service a provider lists in the catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Offering {
    pub id: OfferingId,
    pub name: OfferingName,
    pub provider_account_id: AccountId,
    pub display_name: Localized,
    pub description: Localized,
    /// A programmatic category name, such as `databases`.
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub documentation_url: Option<String>,
    /// An email address or URL where customers get help.
    pub support_contact: Option<String>,
    pub plans: Vec<Plan>,
    pub visibility: Visibility,
    /// Accounts that see the offering while it is limited. Sorted, without duplicates.
    pub allowlist: Vec<AccountId>,
    /// The provider's attestations for the checklist steps the platform cannot check.
    pub attestations: Attestations,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub version: i64,
}

/// Most plans an offering may have.
pub const MAX_PLANS: usize = 20;
/// Most tags an offering may have.
pub const MAX_TAGS: usize = 20;
/// Most accounts an allowlist may hold.
pub const MAX_ALLOWLIST: usize = 10_000;

/// The listing fields of an offering. On creation `display_name` is required; in a patch
/// every `None` keeps the current value and an empty text or list clears an optional one.
#[derive(Clone, Debug, Default)]
pub struct ListingInput {
    pub display_name: Option<Localized>,
    pub description: Option<Localized>,
    pub category: Option<String>,
    pub tags: Option<Vec<String>>,
    pub documentation_url: Option<String>,
    pub support_contact: Option<String>,
    pub plans: Option<Vec<Plan>>,
}

pub(crate) fn apply_listing(
    offering: &mut Offering,
    input: ListingInput,
) -> Result<(), DomainError> {
    let mut problems = Problems::new();
    if let Some(v) = input.display_name
        && let Some(v) = problems.check(v.validated("display_name", 100))
    {
        offering.display_name = v;
    }
    if let Some(v) = input.description
        && let Some(v) = problems.check(v.validated("description", 10_000))
    {
        offering.description = v;
    }
    if let Some(v) = input.category
        && let Some(v) = problems.check(validate::optional_programmatic_name("category", &v))
    {
        offering.category = v;
    }
    if let Some(tags) = input.tags {
        if tags.len() > MAX_TAGS {
            problems.push(
                "tags",
                tr!(
                    "offering.tags_count",
                    "at most {MAX_TAGS} tags",
                    "{MAX_TAGS} étiquettes au plus"
                ),
            );
        }
        let mut clean = BTreeSet::new();
        for (i, tag) in tags.iter().enumerate() {
            if let Some(t) = problems.check(validate::tag(&format!("tags.{i}"), tag)) {
                clean.insert(t);
            }
        }
        offering.tags = clean.into_iter().collect();
    }
    if let Some(v) = input.documentation_url
        && let Some(v) = problems.check(validate::optional_url("documentation_url", &v))
    {
        offering.documentation_url = v;
    }
    if let Some(v) = input.support_contact
        && let Some(v) = problems.check(validate::contact("support_contact", &v))
    {
        offering.support_contact = v;
    }
    if let Some(plans) = input.plans {
        if plans.len() > MAX_PLANS {
            problems.push(
                "plans",
                tr!(
                    "offering.plans_count",
                    "at most {MAX_PLANS} plans",
                    "{MAX_PLANS} formules au plus"
                ),
            );
        }
        let mut names = BTreeSet::new();
        let mut clean = Vec::with_capacity(plans.len());
        for (i, plan) in plans.iter().enumerate() {
            if let Some(p) = problems.check(plan.validated(&format!("plans.{i}"))) {
                if !names.insert(p.name.clone()) {
                    problems.push(
                        format!("plans.{i}.name"),
                        tr!(
                            "offering.plan_name_taken",
                            "another plan already has this name",
                            "une autre formule porte déjà ce nom"
                        ),
                    );
                }
                clean.push(p);
            }
        }
        offering.plans = clean;
    }
    problems.into_result()
}

/// Creates an offering for a provider account. Members of the account (and admins) may,
/// once the account has applied to become a provider and was not rejected: drafting and
/// limited testing need no approval, only going live does (PRODUCT.md, journey step 1).
pub fn create_offering(
    actor: &Actor,
    provider: &Account,
    name: &str,
    listing: ListingInput,
    now: Timestamp,
) -> Result<(Offering, AuditEvent), DomainError> {
    actor.require_provider_member(provider.id)?;
    match provider.provider_status() {
        None => {
            return Err(DomainError::conflict(tr!(
                "offering.provider_not_applied",
                "this account has not applied to become a provider; apply first",
                "ce compte n’a pas demandé à devenir fournisseur ; faites d’abord la demande"
            )));
        }
        Some(ProviderStatus::Rejected) => {
            return Err(DomainError::conflict(tr!(
                "offering.provider_rejected",
                "this account's provider application was rejected; apply again first",
                "la candidature de fournisseur de ce compte a été refusée ; refaites d’abord une demande"
            )));
        }
        Some(ProviderStatus::Pending | ProviderStatus::Approved) => {}
    }
    let mut problems = Problems::new();
    let name = problems.check(OfferingName::parse("name", name));
    if listing.display_name.is_none() {
        problems.push("display_name", required());
    }
    if listing.description.is_none() {
        problems.push("description", required());
    }
    let mut offering = Offering {
        id: OfferingId::generate(),
        name: name
            .clone()
            .unwrap_or_else(|| OfferingName("placeholder".into())),
        provider_account_id: provider.id,
        display_name: Localized::default(),
        description: Localized::default(),
        category: None,
        tags: vec![],
        documentation_url: None,
        support_contact: None,
        plans: vec![],
        visibility: Visibility::Private,
        allowlist: vec![],
        attestations: Attestations::default(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    problems.check(apply_listing(&mut offering, listing));
    problems.into_result()?;
    let event = AuditEvent::new(Some(actor.user_id), "offering.created", now)
        .subject_offering(offering.id, provider.id)
        .after(&offering);
    Ok((offering, event))
}

fn changed(
    actor: &Actor,
    before: &Offering,
    mut next: Offering,
    action: &str,
    now: Timestamp,
) -> (Offering, AuditEvent) {
    next.version = before.version + 1;
    next.updated_at = now;
    let event = AuditEvent::new(Some(actor.user_id), action, now)
        .subject_offering(before.id, before.provider_account_id)
        .before(before)
        .after(&next);
    (next, event)
}

/// Edits an offering's listing and plans.
pub fn update_listing(
    actor: &Actor,
    offering: &Offering,
    listing: ListingInput,
    now: Timestamp,
) -> Result<(Offering, AuditEvent), DomainError> {
    actor.require_provider_member(offering.provider_account_id)?;
    // Customers see the live version untouched until a reviewed (or unreviewed, by the
    // operator's rule) revision replaces it: see `revising`.
    if offering.visibility == Visibility::Public {
        return Err(DomainError::conflict(tr!(
            "offering.live_edit",
            "this offering is live: propose the change as a revision (POST /api/v1/offerings/{{name}}/revisions)",
            "cette offre est en ligne : proposez la modification dans une révision (POST /api/v1/offerings/{{name}}/revisions)"
        )));
    }
    let mut next = offering.clone();
    apply_listing(&mut next, listing)?;
    Ok(changed(actor, offering, next, "offering.updated", now))
}

/// Moves an offering between visibilities. Provider members move between private and
/// limited freely; making an offering public, or changing a public one, is for admins
/// (publication comes with the go-live review).
pub fn set_visibility(
    actor: &Actor,
    offering: &Offering,
    visibility: Visibility,
    reason: Option<&str>,
    now: Timestamp,
) -> Result<(Offering, AuditEvent), DomainError> {
    actor.require_provider_member(offering.provider_account_id)?;
    if offering.visibility == visibility {
        let (en, fr) = match visibility {
            Visibility::Private => ("private", "privée"),
            Visibility::Limited => ("limited", "limitée"),
            Visibility::Public => ("public", "publique"),
        };
        return Err(DomainError::conflict(tr!(
            "offering.same_visibility",
            "the offering is already {en}",
            "l’offre est déjà {fr}"
        )));
    }
    if visibility == Visibility::Public {
        actor.require_admin(tr!(
            "offering.public_admin_only",
            "only an admin can make an offering public; request go-live instead",
            "seul un administrateur peut rendre une offre publique ; demandez plutôt la mise en ligne"
        ))?;
    }
    if offering.visibility == Visibility::Public {
        actor.require_admin(tr!(
            "offering.unpublish_admin_only",
            "only an admin can unpublish a public offering",
            "seul un administrateur peut dépublier une offre publique"
        ))?;
    }
    let reason = validate::optional_text("reason", reason, 2000)?;
    let mut next = offering.clone();
    next.visibility = visibility;
    let (next, mut event) = changed(actor, offering, next, "offering.visibility_changed", now);
    if let (Some(reason), Some(serde_json::Value::Object(after))) = (reason, event.after.as_mut()) {
        after.insert("reason".into(), serde_json::Value::String(reason));
    }
    Ok((next, event))
}

/// Replaces an offering's allowlist. The caller checks that every account exists.
pub fn set_allowlist(
    actor: &Actor,
    offering: &Offering,
    accounts: &[AccountId],
    now: Timestamp,
) -> Result<(Offering, AuditEvent), DomainError> {
    actor.require_provider_member(offering.provider_account_id)?;
    let set: BTreeSet<AccountId> = accounts.iter().copied().collect();
    if set.len() > MAX_ALLOWLIST {
        return Err(DomainError::invalid(
            "account_ids",
            tr!(
                "offering.allowlist_count",
                "an allowlist holds at most {MAX_ALLOWLIST} accounts",
                "une liste d’accès compte {MAX_ALLOWLIST} comptes au plus"
            ),
        ));
    }
    let mut next = offering.clone();
    next.allowlist = set.into_iter().collect();
    if next.allowlist == offering.allowlist {
        return Err(DomainError::conflict(tr!(
            "offering.same_allowlist",
            "the allowlist already holds exactly these accounts",
            "la liste d’accès contient déjà exactement ces comptes"
        )));
    }
    Ok(changed(
        actor,
        offering,
        next,
        "offering.allowlist_changed",
        now,
    ))
}

/// Records the provider's attestation of a checklist step the platform cannot check.
pub fn attest(
    actor: &Actor,
    offering: &Offering,
    step: ChecklistStep,
    state: StepState,
    now: Timestamp,
) -> Result<(Offering, AuditEvent), DomainError> {
    actor.require_provider_member(offering.provider_account_id)?;
    let attestation = Attestation {
        state,
        by: actor.user_id,
        at: now,
    };
    let mut next = offering.clone();
    let slot = next.attestations.slot_mut(step).ok_or_else(|| {
        let number = step.number();
        DomainError::conflict(tr!(
            "offering.step_derived",
            "step {number} is derived from the offering itself and cannot be attested",
            "l’étape {number} découle de l’offre elle-même et ne peut pas être attestée"
        ))
    })?;
    if slot.as_ref().map(|a| a.state) == Some(state) {
        return Err(DomainError::conflict(tr!(
            "offering.same_step_state",
            "this step already has this state",
            "cette étape a déjà cet état"
        )));
    }
    *slot = Some(attestation);
    Ok(changed(
        actor,
        offering,
        next,
        "offering.step_attested",
        now,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::ProviderApplication;
    use crate::ids::UserId;
    use crate::permissions::{MembershipRole, StaffRoles};
    use crate::user::Email;

    const NOW: Timestamp = Timestamp::UNIX_EPOCH;

    pub(crate) fn provider_account(status: Option<ProviderStatus>) -> Account {
        Account {
            id: AccountId::generate(),
            name: "Acme".into(),
            members: vec![],
            provider: status.map(|status| ProviderApplication {
                legal_name: "Acme".into(),
                contact_email: Email::parse("e", "a@acme.example").expect("valid"),
                country: "FR".into(),
                website: "https://acme.example".into(),
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

    fn member_of(account: &Account) -> Actor {
        Actor::new(
            UserId::generate(),
            StaffRoles::default(),
            vec![(account.id, MembershipRole::Member)],
        )
    }

    fn admin() -> Actor {
        Actor::new(
            UserId::generate(),
            StaffRoles {
                admin: true,
                validator: false,
            },
            vec![],
        )
    }

    fn listing() -> ListingInput {
        ListingInput {
            display_name: Some(Localized {
                en: "Object Storage".into(),
                fr: Some("Stockage objet".into()),
            }),
            description: Some(Localized {
                en: "S3 compatible storage".into(),
                fr: None,
            }),
            tags: Some(vec!["S3".into(), "storage".into(), "s3".into()]),
            plans: Some(vec![Plan {
                name: "lite".into(),
                display_name: Localized {
                    en: "Lite".into(),
                    fr: None,
                },
                description: Localized::default(),
                pricing: Pricing::Free,
            }]),
            ..Default::default()
        }
    }

    #[test]
    fn creation_needs_a_provider_that_applied() {
        for (status, ok) in [
            (None, false),
            (Some(ProviderStatus::Rejected), false),
            (Some(ProviderStatus::Pending), true),
            (Some(ProviderStatus::Approved), true),
        ] {
            let account = provider_account(status);
            let result =
                create_offering(&member_of(&account), &account, "obj-store", listing(), NOW);
            assert_eq!(result.is_ok(), ok, "{status:?}");
        }
    }

    #[test]
    fn creation_normalises_and_starts_private() {
        let account = provider_account(Some(ProviderStatus::Approved));
        let (o, event) =
            create_offering(&member_of(&account), &account, "obj-store", listing(), NOW)
                .expect("valid");
        assert_eq!(o.visibility, Visibility::Private);
        assert_eq!(o.tags, ["s3", "storage"]);
        assert_eq!(event.offering_id, Some(o.id));
        assert_eq!(event.account_id, Some(account.id));
    }

    #[test]
    fn strangers_cannot_create() {
        let account = provider_account(Some(ProviderStatus::Approved));
        let stranger = Actor::new(UserId::generate(), StaffRoles::default(), vec![]);
        assert_eq!(
            create_offering(&stranger, &account, "obj-store", listing(), NOW).map(|_| ()),
            Err(DomainError::NotFound)
        );
    }

    #[test]
    fn every_invalid_field_is_listed() {
        let account = provider_account(Some(ProviderStatus::Approved));
        let bad = ListingInput {
            display_name: Some(Localized {
                en: " ".into(),
                fr: None,
            }),
            description: None,
            category: Some("Data Bases".into()),
            tags: Some(vec!["a".into(), "ok-tag".into(), "no spaces".into()]),
            documentation_url: Some("docs".into()),
            support_contact: Some("call us".into()),
            plans: Some(vec![
                Plan {
                    name: "p".into(),
                    display_name: Localized {
                        en: "P".into(),
                        fr: None,
                    },
                    description: Localized::default(),
                    pricing: Pricing::Subscription {
                        amount: "1,5".into(),
                        currency: "eur".into(),
                    },
                },
                Plan {
                    name: "lite".into(),
                    display_name: Localized {
                        en: "L".into(),
                        fr: None,
                    },
                    description: Localized::default(),
                    pricing: Pricing::Free,
                },
                Plan {
                    name: "lite".into(),
                    display_name: Localized {
                        en: "L".into(),
                        fr: None,
                    },
                    description: Localized::default(),
                    pricing: Pricing::Metered {
                        unit: "GB".into(),
                        unit_price: "0.01".into(),
                        currency: "EUR".into(),
                    },
                },
            ]),
        };
        let Err(DomainError::Invalid(errors)) =
            create_offering(&member_of(&account), &account, "Bad_Name", bad, NOW)
        else {
            panic!("expected invalid")
        };
        let fields: BTreeSet<_> = errors.iter().map(|e| e.field.as_str()).collect();
        let expected: BTreeSet<_> = [
            "name",
            "description",
            "display_name.en",
            "category",
            "tags.0",
            "tags.2",
            "documentation_url",
            "support_contact",
            "plans.0.name",
            "plans.0.pricing.amount",
            "plans.0.pricing.currency",
            "plans.2.name",
        ]
        .into_iter()
        .collect();
        assert_eq!(fields, expected);
    }

    #[test]
    fn patch_keeps_and_clears() {
        let account = provider_account(Some(ProviderStatus::Approved));
        let actor = member_of(&account);
        let mut input = listing();
        input.documentation_url = Some("https://docs.acme.example".into());
        let (o, _) = create_offering(&actor, &account, "obj-store", input, NOW).expect("valid");
        let patch = ListingInput {
            documentation_url: Some(String::new()),
            support_contact: Some("help@acme.example".into()),
            ..Default::default()
        };
        let (next, event) = update_listing(&actor, &o, patch, NOW).expect("valid");
        assert_eq!(next.documentation_url, None);
        assert_eq!(next.support_contact.as_deref(), Some("help@acme.example"));
        assert_eq!(next.display_name, o.display_name);
        assert_eq!(next.version, o.version + 1);
        assert_eq!(event.action, "offering.updated");
    }

    #[test]
    fn visibility_rules() {
        use Visibility::*;
        let account = provider_account(Some(ProviderStatus::Approved));
        let member = member_of(&account);
        let admin = admin();
        let (base, _) =
            create_offering(&member, &account, "obj-store", listing(), NOW).expect("valid");
        // (from, to, member may, admin may)
        let table = [
            (Private, Limited, true, true),
            (Limited, Private, true, true),
            (Private, Public, false, true),
            (Limited, Public, false, true),
            (Public, Limited, false, true),
            (Public, Private, false, true),
            (Private, Private, false, false),
        ];
        for (from, to, member_ok, admin_ok) in table {
            let mut o = base.clone();
            o.visibility = from;
            assert_eq!(
                set_visibility(&member, &o, to, None, NOW).is_ok(),
                member_ok,
                "member {from:?}->{to:?}"
            );
            assert_eq!(
                set_visibility(&admin, &o, to, None, NOW).is_ok(),
                admin_ok,
                "admin {from:?}->{to:?}"
            );
        }
        let validator = Actor::new(
            UserId::generate(),
            StaffRoles {
                admin: false,
                validator: true,
            },
            vec![],
        );
        assert!(matches!(
            set_visibility(&validator, &base, Limited, None, NOW),
            Err(DomainError::Forbidden(_))
        ));
    }

    #[test]
    fn allowlist_is_sorted_and_deduplicated() {
        let account = provider_account(Some(ProviderStatus::Approved));
        let member = member_of(&account);
        let (o, _) =
            create_offering(&member, &account, "obj-store", listing(), NOW).expect("valid");
        let (a, b) = (AccountId::generate(), AccountId::generate());
        let (next, _) = set_allowlist(&member, &o, &[b, a, b], NOW).expect("valid");
        assert_eq!(next.allowlist, [a, b]);
        assert!(matches!(
            set_allowlist(&member, &next, &[a, b], NOW),
            Err(DomainError::Conflict(_))
        ));
    }

    #[test]
    fn only_undecidable_steps_are_attested() {
        let account = provider_account(Some(ProviderStatus::Approved));
        let member = member_of(&account);
        let (o, _) =
            create_offering(&member, &account, "obj-store", listing(), NOW).expect("valid");
        for step in ChecklistStep::ALL {
            let result = attest(&member, &o, step, StepState::Complete, NOW);
            assert_eq!(result.is_ok(), step.is_attested(), "{step:?}");
            if let Ok((next, _)) = result {
                let a = next.attestations.get(step).expect("attested");
                assert_eq!((a.state, a.by), (StepState::Complete, member.user_id));
            }
        }
    }
}
