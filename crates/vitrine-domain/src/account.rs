//! Accounts are organisations. Users belong to accounts through memberships; an account
//! becomes a provider by applying and being approved by an admin. A membership's role,
//! [`MembershipRole`], is defined with the permission checks in [`crate::permissions`] and
//! re-exported here.

use crate::audit::AuditEvent;
use crate::error::{DomainError, Problems};
use crate::ids::{AccountId, UserId};
use crate::permissions::Actor;
pub use crate::permissions::MembershipRole;
use crate::text::rejection_needs_reason;
use crate::user::Email;
use crate::{Timestamp, tr, validate};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Membership {
    pub user_id: UserId,
    pub role: MembershipRole,
}

/// Where an account stands as a provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderStatus {
    Pending,
    Approved,
    Rejected,
}

impl ProviderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderStatus::Pending => "pending",
            ProviderStatus::Approved => "approved",
            ProviderStatus::Rejected => "rejected",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(ProviderStatus::Pending),
            "approved" => Some(ProviderStatus::Approved),
            "rejected" => Some(ProviderStatus::Rejected),
            _ => None,
        }
    }
}

/// An account's application to become a provider, and the admin's decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProviderApplication {
    pub legal_name: String,
    pub contact_email: Email,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub website: String,
    pub status: ProviderStatus,
    /// The admin's reason, given with a rejection (and optionally with an approval).
    pub reason: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub submitted_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub decided_at: Option<Timestamp>,
    pub decided_by: Option<UserId>,
}

/// An organisation: a customer, a provider, or both.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub members: Vec<Membership>,
    pub provider: Option<ProviderApplication>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub version: i64,
}

impl Account {
    pub fn provider_status(&self) -> Option<ProviderStatus> {
        self.provider.as_ref().map(|p| p.status)
    }
    pub fn is_approved_provider(&self) -> bool {
        self.provider_status() == Some(ProviderStatus::Approved)
    }
    pub fn owners(&self) -> impl Iterator<Item = UserId> + '_ {
        self.members
            .iter()
            .filter(|m| m.role == MembershipRole::Owner)
            .map(|m| m.user_id)
    }
    pub fn role_of(&self, user: UserId) -> Option<MembershipRole> {
        self.members
            .iter()
            .find(|m| m.user_id == user)
            .map(|m| m.role)
    }
}

/// The caller the permission rules see for `user`, with their staff roles, from the
/// accounts they are a member of (`Store::accounts_of_user`).
pub fn actor_of(
    user: UserId,
    staff: crate::permissions::StaffRoles,
    accounts: &[Account],
) -> Actor {
    let memberships = accounts
        .iter()
        .filter_map(|a| a.role_of(user).map(|role| (a.id, role)))
        .collect();
    Actor::new(user, staff, memberships)
}

/// Creates an account with its first owner. Only admins create accounts.
pub fn create_account(
    actor: &Actor,
    name: &str,
    owner: UserId,
    now: Timestamp,
) -> Result<(Account, AuditEvent), DomainError> {
    actor.require_admin(tr!(
        "account.create_admin_only",
        "only an admin can create accounts",
        "seul un administrateur peut créer des comptes"
    ))?;
    let name = validate::text("name", name, 1, 200)?;
    let account = Account {
        id: AccountId::generate(),
        name,
        members: vec![Membership {
            user_id: owner,
            role: MembershipRole::Owner,
        }],
        provider: None,
        created_at: now,
        version: 1,
    };
    let event = AuditEvent::new(Some(actor.user_id), "account.created", now)
        .subject_account(account.id)
        .after(&account);
    Ok((account, event))
}

fn changed(
    actor: &Actor,
    before: &Account,
    mut next: Account,
    action: &str,
    now: Timestamp,
) -> (Account, AuditEvent) {
    next.version = before.version + 1;
    let event = AuditEvent::new(Some(actor.user_id), action, now)
        .subject_account(before.id)
        .before(before)
        .after(&next);
    (next, event)
}

/// Adds a member, or changes the role of an existing one. Owners and admins may.
pub fn put_member(
    actor: &Actor,
    account: &Account,
    user: UserId,
    role: MembershipRole,
    now: Timestamp,
) -> Result<(Account, AuditEvent), DomainError> {
    actor.require_account_owner(account.id)?;
    let mut next = account.clone();
    match next.members.iter_mut().find(|m| m.user_id == user) {
        Some(existing) if existing.role == role => {
            return Err(DomainError::conflict(tr!(
                "account.same_role",
                "this user already has this role in the account",
                "cet utilisateur a déjà ce rôle dans le compte"
            )));
        }
        Some(existing) => existing.role = role,
        None => next.members.push(Membership {
            user_id: user,
            role,
        }),
    }
    if next.owners().next().is_none() {
        return Err(DomainError::conflict(last_owner()));
    }
    Ok(changed(actor, account, next, "account.member_put", now))
}

/// Removes a member. Owners and admins may; the last owner cannot be removed.
pub fn remove_member(
    actor: &Actor,
    account: &Account,
    user: UserId,
    now: Timestamp,
) -> Result<(Account, AuditEvent), DomainError> {
    actor.require_account_owner(account.id)?;
    let mut next = account.clone();
    let before = next.members.len();
    next.members.retain(|m| m.user_id != user);
    if next.members.len() == before {
        return Err(DomainError::NotFound);
    }
    if next.owners().next().is_none() {
        return Err(DomainError::conflict(last_owner()));
    }
    Ok(changed(actor, account, next, "account.member_removed", now))
}

fn last_owner() -> crate::Text {
    tr!(
        "account.last_owner",
        "an account must keep at least one owner",
        "un compte doit garder au moins un propriétaire"
    )
}

/// What an account gives when it applies to become a provider.
#[derive(Clone, Debug, Default)]
pub struct ProviderApplicationInput {
    pub legal_name: String,
    pub contact_email: String,
    pub country: String,
    pub website: String,
}

/// Applies (or applies again after a rejection, or updates a pending application).
/// An approved provider's application is settled and cannot be replaced.
pub fn apply_as_provider(
    actor: &Actor,
    account: &Account,
    input: ProviderApplicationInput,
    now: Timestamp,
) -> Result<(Account, AuditEvent), DomainError> {
    actor.require_account_owner(account.id)?;
    if account.is_approved_provider() {
        return Err(DomainError::conflict(tr!(
            "provider.already_approved",
            "this account is already an approved provider",
            "ce compte est déjà un fournisseur approuvé"
        )));
    }
    let mut problems = Problems::new();
    let legal_name = problems.check(validate::text("legal_name", &input.legal_name, 1, 200));
    let contact_email = problems.check(Email::parse("contact_email", &input.contact_email));
    let country = problems.check(validate::country("country", &input.country));
    let website = problems.check(validate::url("website", &input.website));
    problems.into_result()?;
    let (Some(legal_name), Some(contact_email), Some(country), Some(website)) =
        (legal_name, contact_email, country, website)
    else {
        unreachable!("Problems is empty only when every check passed")
    };
    let mut next = account.clone();
    next.provider = Some(ProviderApplication {
        legal_name,
        contact_email,
        country,
        website,
        status: ProviderStatus::Pending,
        reason: None,
        submitted_at: now,
        decided_at: None,
        decided_by: None,
    });
    Ok(changed(actor, account, next, "provider.applied", now))
}

/// An admin's decision on a provider application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderDecision {
    Approve,
    Reject,
}

/// Decides a pending application. A rejection needs a reason the applicant can act on.
pub fn decide_provider(
    actor: &Actor,
    account: &Account,
    decision: ProviderDecision,
    reason: Option<&str>,
    now: Timestamp,
) -> Result<(Account, AuditEvent), DomainError> {
    actor.require_admin(tr!(
        "provider.decide_admin_only",
        "only an admin can decide provider applications",
        "seul un administrateur peut statuer sur les candidatures de fournisseur"
    ))?;
    let Some(application) = account.provider.as_ref() else {
        return Err(DomainError::conflict(tr!(
            "provider.not_applied",
            "this account has not applied to become a provider",
            "ce compte n’a pas demandé à devenir fournisseur"
        )));
    };
    match application.status {
        ProviderStatus::Pending => {}
        ProviderStatus::Approved => {
            return Err(DomainError::conflict(tr!(
                "provider.already_decided",
                "this application is already approved",
                "cette candidature est déjà approuvée"
            )));
        }
        ProviderStatus::Rejected => {
            return Err(DomainError::conflict(tr!(
                "provider.already_decided",
                "this application is already rejected",
                "cette candidature est déjà refusée"
            )));
        }
    }
    let reason = validate::optional_text("reason", reason, 2000)?;
    if decision == ProviderDecision::Reject && reason.is_none() {
        return Err(DomainError::invalid("reason", rejection_needs_reason()));
    }
    let mut next = account.clone();
    let app = next.provider.get_or_insert_with(|| application.clone());
    app.status = match decision {
        ProviderDecision::Approve => ProviderStatus::Approved,
        ProviderDecision::Reject => ProviderStatus::Rejected,
    };
    app.reason = reason;
    app.decided_at = Some(now);
    app.decided_by = Some(actor.user_id);
    let action = match decision {
        ProviderDecision::Approve => "provider.approved",
        ProviderDecision::Reject => "provider.rejected",
    };
    Ok(changed(actor, account, next, action, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permissions::StaffRoles;

    const NOW: Timestamp = Timestamp::UNIX_EPOCH;

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

    fn setup() -> (Actor, Actor, Account) {
        let owner_id = UserId::generate();
        let (account, _) = create_account(&admin(), "Acme", owner_id, NOW).expect("valid");
        let owner = Actor::new(
            owner_id,
            StaffRoles::default(),
            vec![(account.id, MembershipRole::Owner)],
        );
        (admin(), owner, account)
    }

    fn application() -> ProviderApplicationInput {
        ProviderApplicationInput {
            legal_name: "Acme SAS".into(),
            contact_email: "ops@acme.example".into(),
            country: "fr".into(),
            website: "https://acme.example".into(),
        }
    }

    #[test]
    fn only_admins_create_accounts() {
        let (_, owner, _) = setup();
        assert!(matches!(
            create_account(&owner, "X", owner.user_id, NOW),
            Err(DomainError::Forbidden(_))
        ));
    }

    #[test]
    fn members_come_and_go_but_one_owner_stays() {
        let (_, owner, account) = setup();
        let dev = UserId::generate();
        let (account, event) =
            put_member(&owner, &account, dev, MembershipRole::Member, NOW).expect("add");
        assert_eq!(account.role_of(dev), Some(MembershipRole::Member));
        assert_eq!(account.version, 2);
        assert_eq!(event.action, "account.member_put");
        assert!(matches!(
            put_member(&owner, &account, dev, MembershipRole::Member, NOW),
            Err(DomainError::Conflict(_))
        ));
        // The last owner can neither leave nor be demoted.
        assert!(matches!(
            remove_member(&owner, &account, owner.user_id, NOW),
            Err(DomainError::Conflict(_))
        ));
        assert!(matches!(
            put_member(&owner, &account, owner.user_id, MembershipRole::Member, NOW),
            Err(DomainError::Conflict(_))
        ));
        let (account, _) = remove_member(&owner, &account, dev, NOW).expect("remove");
        assert_eq!(account.role_of(dev), None);
        assert_eq!(
            remove_member(&owner, &account, dev, NOW),
            Err(DomainError::NotFound)
        );
        // A plain member cannot manage members.
        let member = Actor::new(
            dev,
            StaffRoles::default(),
            vec![(account.id, MembershipRole::Member)],
        );
        assert!(matches!(
            put_member(
                &member,
                &account,
                UserId::generate(),
                MembershipRole::Member,
                NOW
            ),
            Err(DomainError::Forbidden(_))
        ));
    }

    #[test]
    fn provider_application_lifecycle() {
        let (admin, owner, account) = setup();
        let (account, _) = apply_as_provider(&owner, &account, application(), NOW).expect("apply");
        let app = account.provider.as_ref().expect("applied");
        assert_eq!(app.status, ProviderStatus::Pending);
        assert_eq!(app.country, "FR");
        // Rejection needs a reason.
        assert!(matches!(
            decide_provider(&admin, &account, ProviderDecision::Reject, None, NOW),
            Err(DomainError::Invalid(_))
        ));
        assert!(matches!(
            decide_provider(&owner, &account, ProviderDecision::Approve, None, NOW),
            Err(DomainError::Forbidden(_))
        ));
        let (rejected, event) = decide_provider(
            &admin,
            &account,
            ProviderDecision::Reject,
            Some("No VAT number"),
            NOW,
        )
        .expect("reject");
        assert_eq!(event.action, "provider.rejected");
        assert_eq!(rejected.provider_status(), Some(ProviderStatus::Rejected));
        assert_eq!(
            rejected.provider.as_ref().and_then(|p| p.reason.as_deref()),
            Some("No VAT number")
        );
        // Deciding twice is refused; re-applying puts it back to pending.
        assert!(matches!(
            decide_provider(&admin, &rejected, ProviderDecision::Approve, None, NOW),
            Err(DomainError::Conflict(_))
        ));
        let (again, _) = apply_as_provider(&owner, &rejected, application(), NOW).expect("reapply");
        let (approved, _) =
            decide_provider(&admin, &again, ProviderDecision::Approve, None, NOW).expect("approve");
        assert!(approved.is_approved_provider());
        assert!(matches!(
            apply_as_provider(&owner, &approved, application(), NOW),
            Err(DomainError::Conflict(_))
        ));
    }

    #[test]
    fn application_lists_every_bad_field() {
        let (_, owner, account) = setup();
        let bad = ProviderApplicationInput {
            legal_name: "".into(),
            contact_email: "x".into(),
            country: "France".into(),
            website: "acme".into(),
        };
        let Err(DomainError::Invalid(errors)) = apply_as_provider(&owner, &account, bad, NOW)
        else {
            panic!("invalid expected")
        };
        assert_eq!(errors.len(), 4);
    }

    #[test]
    fn decide_without_application() {
        let (admin, _, account) = setup();
        assert!(matches!(
            decide_provider(&admin, &account, ProviderDecision::Approve, None, NOW),
            Err(DomainError::Conflict(_))
        ));
    }
}
