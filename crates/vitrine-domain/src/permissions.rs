//! Who may do what: the roles ([`StaffRoles`] of a user, [`MembershipRole`] in an
//! account) and the signed-in caller, [`Actor`], that holds them. Every check is a method
//! of [`Actor`], so that the HTTP layer never decides a permission itself.
//!
//! It imports neither [`crate::user`] nor [`crate::account`]: they carry these roles and
//! re-export them from here (`user::StaffRoles`, `account::MembershipRole`), so no import
//! comes back.

use crate::error::DomainError;
use crate::ids::{AccountId, UserId};
use crate::text::Text;
use crate::tr;
use serde::{Deserialize, Serialize};

/// Marketplace staff roles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffRoles {
    /// Runs the marketplace: approves providers, creates users and accounts, publishes.
    pub admin: bool,
    /// Reviews go-live submissions.
    pub validator: bool,
}

impl StaffRoles {
    pub fn any(self) -> bool {
        self.admin || self.validator
    }
}

/// A user's role in an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MembershipRole {
    /// Manages members and the provider application.
    Owner,
    Member,
}

impl MembershipRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MembershipRole::Owner => "owner",
            MembershipRole::Member => "member",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(MembershipRole::Owner),
            "member" => Some(MembershipRole::Member),
            _ => None,
        }
    }
}

/// The signed-in caller: who they are, their staff roles and their account memberships.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub staff: StaffRoles,
    pub memberships: Vec<(AccountId, MembershipRole)>,
}

/// Which part of the audit log a caller may read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditScope {
    /// The whole log (admins).
    All,
    /// Records concerning these accounts and their offerings.
    Accounts(Vec<AccountId>),
}

/// What of the coming review sessions a caller sees (the calendar view).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CalendarScope {
    /// Every session: holidays, capacity, every planned submission, who is assigned
    /// (validators and admins).
    Staff,
    /// Only the places of these provider accounts' own queued submissions: their
    /// sessions' dates and positions, nothing of other providers.
    Provider(Vec<AccountId>),
}

impl Actor {
    pub fn new(
        user_id: UserId,
        staff: StaffRoles,
        memberships: Vec<(AccountId, MembershipRole)>,
    ) -> Self {
        Self {
            user_id,
            staff,
            memberships,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.staff.admin
    }

    pub fn is_staff(&self) -> bool {
        self.staff.any()
    }

    pub fn account_ids(&self) -> Vec<AccountId> {
        self.memberships.iter().map(|(id, _)| *id).collect()
    }

    pub fn is_member(&self, account: AccountId) -> bool {
        self.memberships.iter().any(|(id, _)| *id == account)
    }

    pub fn is_owner(&self, account: AccountId) -> bool {
        self.memberships
            .iter()
            .any(|(id, role)| *id == account && *role == MembershipRole::Owner)
    }

    pub fn require_admin(&self, reason: Text) -> Result<(), DomainError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(DomainError::forbidden(reason))
        }
    }

    /// Members of an account and staff may see the account; anyone else is told it does
    /// not exist.
    pub fn require_can_view_account(&self, account: AccountId) -> Result<(), DomainError> {
        if self.is_member(account) || self.is_staff() {
            Ok(())
        } else {
            Err(DomainError::NotFound)
        }
    }

    /// Owners of an account and admins manage its members and its provider application.
    pub fn require_account_owner(&self, account: AccountId) -> Result<(), DomainError> {
        self.require_can_view_account(account)?;
        if self.is_owner(account) || self.is_admin() {
            Ok(())
        } else {
            Err(DomainError::forbidden(tr!(
                "account.owner_only",
                "only an owner of this account or an admin can do this",
                "seul un propriétaire de ce compte ou un administrateur peut le faire"
            )))
        }
    }

    /// Members of the provider account (and admins) edit its offerings.
    pub fn require_provider_member(&self, account: AccountId) -> Result<(), DomainError> {
        self.require_can_view_account(account)?;
        if self.is_member(account) || self.is_admin() {
            Ok(())
        } else {
            Err(DomainError::forbidden(tr!(
                "account.member_only",
                "only members of the provider account or an admin can do this",
                "seuls les membres du compte fournisseur ou un administrateur peuvent le faire"
            )))
        }
    }

    /// Who sees the coming review sessions: staff all of them; a member of approved
    /// provider accounts (`provider_accounts`, the caller's accounts that are approved
    /// providers) their own submissions' places; anyone else is refused, since a customer
    /// has nothing in the review queue.
    pub fn calendar_scope(
        &self,
        provider_accounts: &[AccountId],
    ) -> Result<CalendarScope, DomainError> {
        if self.is_staff() {
            return Ok(CalendarScope::Staff);
        }
        let own: Vec<AccountId> = provider_accounts
            .iter()
            .copied()
            .filter(|account| self.is_member(*account))
            .collect();
        if own.is_empty() {
            Err(DomainError::forbidden(tr!(
                "agenda.forbidden",
                "only validators, admins and providers see the review calendar",
                "seuls les validateurs, les administrateurs et les fournisseurs voient le calendrier de revue"
            )))
        } else {
            Ok(CalendarScope::Provider(own))
        }
    }

    pub fn audit_scope(&self) -> AuditScope {
        if self.is_admin() {
            AuditScope::All
        } else {
            AuditScope::Accounts(self.account_ids())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(staff: StaffRoles, memberships: Vec<(AccountId, MembershipRole)>) -> Actor {
        Actor::new(UserId::generate(), staff, memberships)
    }

    #[test]
    fn account_permissions_by_role() {
        let acct = AccountId::generate();
        let admin = actor(
            StaffRoles {
                admin: true,
                validator: false,
            },
            vec![],
        );
        let validator = actor(
            StaffRoles {
                admin: false,
                validator: true,
            },
            vec![],
        );
        let owner = actor(StaffRoles::default(), vec![(acct, MembershipRole::Owner)]);
        let member = actor(StaffRoles::default(), vec![(acct, MembershipRole::Member)]);
        let stranger = actor(
            StaffRoles::default(),
            vec![(AccountId::generate(), MembershipRole::Owner)],
        );

        // (actor, view, owner action, provider-member action)
        let table: [(&Actor, bool, bool, bool); 5] = [
            (&admin, true, true, true),
            (&validator, true, false, false),
            (&owner, true, true, true),
            (&member, true, false, true),
            (&stranger, false, false, false),
        ];
        for (i, (a, view, own, provide)) in table.into_iter().enumerate() {
            assert_eq!(
                a.require_can_view_account(acct).is_ok(),
                view,
                "row {i} view"
            );
            assert_eq!(a.require_account_owner(acct).is_ok(), own, "row {i} owner");
            assert_eq!(
                a.require_provider_member(acct).is_ok(),
                provide,
                "row {i} provider"
            );
        }
        // Strangers are told the account does not exist, not that they are forbidden.
        assert_eq!(
            stranger.require_account_owner(acct),
            Err(DomainError::NotFound)
        );
        assert!(matches!(
            member.require_account_owner(acct),
            Err(DomainError::Forbidden(_))
        ));
    }

    #[test]
    fn calendar_scope_by_role() {
        let provider = AccountId::generate();
        let customer_account = AccountId::generate();
        let staff = |admin, validator| actor(StaffRoles { admin, validator }, vec![]);
        assert_eq!(
            staff(true, false).calendar_scope(&[]),
            Ok(CalendarScope::Staff)
        );
        assert_eq!(
            staff(false, true).calendar_scope(&[]),
            Ok(CalendarScope::Staff)
        );
        let member = actor(
            StaffRoles::default(),
            vec![
                (provider, MembershipRole::Member),
                (customer_account, MembershipRole::Owner),
            ],
        );
        // Only the provider account: a customer account of the same person adds nothing.
        assert_eq!(
            member.calendar_scope(&[provider]),
            Ok(CalendarScope::Provider(vec![provider]))
        );
        // A provider account the caller is not a member of is never theirs to see.
        let customer = actor(
            StaffRoles::default(),
            vec![(customer_account, MembershipRole::Owner)],
        );
        assert!(matches!(
            customer.calendar_scope(&[provider]),
            Err(DomainError::Forbidden(_))
        ));
        assert!(matches!(
            actor(StaffRoles::default(), vec![]).calendar_scope(&[]),
            Err(DomainError::Forbidden(_))
        ));
    }

    #[test]
    fn audit_scope() {
        let acct = AccountId::generate();
        let admin = actor(
            StaffRoles {
                admin: true,
                validator: false,
            },
            vec![],
        );
        let member = actor(StaffRoles::default(), vec![(acct, MembershipRole::Member)]);
        assert_eq!(admin.audit_scope(), AuditScope::All);
        assert_eq!(member.audit_scope(), AuditScope::Accounts(vec![acct]));
    }
}
