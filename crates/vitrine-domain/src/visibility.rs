//! Who sees which offering. PRODUCT.md: a private offering is seen by its provider only, a
//! limited one also by the accounts on its allowlist, a public one by everyone; staff see
//! everything. For anyone outside its audience an offering does not exist.
//!
//! [`Audience::admits`] is the reference rule. The store evaluates the same rule in SQL for
//! catalog queries, and its contract tests check the two agree on random data.

use crate::ids::AccountId;
use crate::offering::{Offering, Visibility};
use crate::permissions::Actor;

/// The set of offerings a caller may see, described by who the caller is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Audience {
    /// Staff (validators and admins): every offering.
    Staff,
    /// Anyone else: public offerings, plus those provided by these accounts, plus limited
    /// ones that allowlist one of these accounts. Anonymous callers have no accounts.
    Accounts(Vec<AccountId>),
}

impl Audience {
    pub fn anonymous() -> Self {
        Audience::Accounts(Vec::new())
    }

    pub fn of(actor: Option<&Actor>) -> Self {
        match actor {
            Some(a) if a.is_staff() => Audience::Staff,
            Some(a) => {
                let mut ids = a.account_ids();
                ids.sort();
                ids.dedup();
                Audience::Accounts(ids)
            }
            None => Audience::anonymous(),
        }
    }

    /// The rule itself, on the parts of an offering it depends on.
    pub fn admits_parts(
        &self,
        visibility: Visibility,
        provider: AccountId,
        allowlist: &[AccountId],
    ) -> bool {
        match self {
            Audience::Staff => true,
            Audience::Accounts(accounts) => {
                visibility == Visibility::Public
                    || accounts.contains(&provider)
                    || (visibility == Visibility::Limited
                        && allowlist.iter().any(|a| accounts.contains(a)))
            }
        }
    }

    pub fn admits(&self, offering: &Offering) -> bool {
        self.admits_parts(
            offering.visibility,
            offering.provider_account_id,
            &offering.allowlist,
        )
    }

    /// Whether the caller may see the allowlist and the checklist: the provider's members and
    /// staff. Customers on the allowlist see the offering but not who else is on it.
    pub fn manages(&self, offering: &Offering) -> bool {
        match self {
            Audience::Staff => true,
            Audience::Accounts(accounts) => accounts.contains(&offering.provider_account_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;
    use crate::permissions::{MembershipRole, StaffRoles};
    use proptest::prelude::*;

    #[test]
    fn table_of_callers_and_visibilities() {
        let provider = AccountId::generate();
        let allowed = AccountId::generate();
        let other = AccountId::generate();
        let allowlist = [allowed];
        let staff = Audience::Staff;
        let anon = Audience::anonymous();
        let owner = Audience::Accounts(vec![provider]);
        let customer = Audience::Accounts(vec![allowed]);
        let outsider = Audience::Accounts(vec![other]);
        // (audience, private, limited, public)
        let table = [
            (&anon, false, false, true),
            (&customer, false, true, true),
            (&outsider, false, false, true),
            (&owner, true, true, true),
            (&staff, true, true, true),
        ];
        for (audience, private, limited, public) in table {
            let got = [Visibility::Private, Visibility::Limited, Visibility::Public]
                .map(|v| audience.admits_parts(v, provider, &allowlist));
            assert_eq!(got, [private, limited, public], "{audience:?}");
        }
    }

    #[test]
    fn audience_of_actor() {
        let a = AccountId::generate();
        let validator = Actor::new(
            UserId::generate(),
            StaffRoles {
                admin: false,
                validator: true,
            },
            vec![],
        );
        let member = Actor::new(
            UserId::generate(),
            StaffRoles::default(),
            vec![(a, MembershipRole::Member)],
        );
        assert_eq!(Audience::of(Some(&validator)), Audience::Staff);
        assert_eq!(Audience::of(Some(&member)), Audience::Accounts(vec![a]));
        assert_eq!(Audience::of(None), Audience::anonymous());
    }

    proptest! {
        /// A customer sees a limited offering exactly when one of their accounts is on its
        /// allowlist or provides it, and a private one only when they provide it.
        #[test]
        fn limited_means_allowlisted(
            mine in proptest::collection::vec(0u8..20, 0..5),
            listed in proptest::collection::vec(0u8..20, 0..8),
            provider in 0u8..20,
        ) {
            let ids: Vec<AccountId> = (0..20).map(|_| AccountId::generate()).collect();
            let mine: Vec<_> = mine.iter().map(|&i| ids[i as usize]).collect();
            let listed: Vec<_> = listed.iter().map(|&i| ids[i as usize]).collect();
            let provider = ids[provider as usize];
            let audience = Audience::Accounts(mine.clone());
            let provides = mine.contains(&provider);
            let on_list = listed.iter().any(|a| mine.contains(a));
            prop_assert_eq!(audience.admits_parts(Visibility::Private, provider, &listed), provides);
            prop_assert_eq!(audience.admits_parts(Visibility::Limited, provider, &listed), provides || on_list);
            prop_assert!(audience.admits_parts(Visibility::Public, provider, &listed));
        }
    }
}
