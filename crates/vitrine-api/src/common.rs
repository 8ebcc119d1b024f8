//! What the routes share: the OpenAPI tags, lookups that answer 404, and the managed view
//! of an offering.

use serde::Serialize;
use vitrine_checks_store::ChecksStore;
use vitrine_domain::checklist::Checklist;
use vitrine_domain::checks::Evidence;
use vitrine_domain::{Account, AccountId, Offering, OfferingId, OfferingName, User, UserId};
use vitrine_http::AppState;
use vitrine_http::problem::{ApiError, ApiResult};

/// Tags group the operations in the OpenAPI document.
pub mod tags {
    pub const OPS: &str = "operations";
    pub const ACCOUNTS: &str = "accounts";
    pub const OFFERINGS: &str = "offerings";
    pub const CATALOG: &str = "catalog";
    pub const AUDIT: &str = "audit";
    pub const REVIEW: &str = "review";
}

/// The offering with this name, or 404 (also for a name that cannot exist).
pub async fn offering_or_404(state: &AppState, name: &str) -> ApiResult<Offering> {
    let name = OfferingName::parse("name", name).map_err(|_| ApiError::not_found())?;
    state
        .store
        .offering_by_name(&name)
        .await?
        .ok_or_else(ApiError::not_found)
}

pub async fn account_or_404(state: &AppState, id: AccountId) -> ApiResult<Account> {
    state
        .store
        .account(id)
        .await?
        .ok_or_else(ApiError::not_found)
}

pub async fn user_or_404(state: &AppState, id: UserId) -> ApiResult<User> {
    state.store.user(id).await?.ok_or_else(ApiError::not_found)
}

/// The evidence of the offering's latest finished check run, which the checklist and the
/// go-live gate read.
pub async fn check_evidence(state: &AppState, offering: OfferingId) -> ApiResult<Option<Evidence>> {
    Ok(state
        .store
        .latest_finished_run(offering)
        .await?
        .as_ref()
        .and_then(Evidence::of))
}

/// An offering as its provider and staff see it: everything, with the checklist (steps 1, 3
/// and 4 from the latest finished check run where it checked them).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ManagedOffering {
    pub offering: Offering,
    pub checklist: Checklist,
    /// What the latest finished check run said, if one ran.
    pub checks: Option<Evidence>,
    /// The allowlist as people read it: each account's name and its owners' addresses,
    /// by name (the offering's `allowlist` keeps the ids).
    pub allowlist_accounts: Vec<AllowlistedAccount>,
}

/// An account on an offering's allowlist.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AllowlistedAccount {
    pub id: AccountId,
    pub name: String,
    /// The email addresses of the account's owners, in the order they joined.
    #[schema(value_type = Vec<String>)]
    pub owner_emails: Vec<vitrine_domain::user::Email>,
}

impl ManagedOffering {
    pub async fn load(state: &AppState, offering: Offering) -> ApiResult<ManagedOffering> {
        let checks = check_evidence(state, offering.id).await?;
        let checklist = Checklist::with_evidence(&offering, checks.as_ref());
        let allowlist_accounts = state
            .store
            .account_owners(&offering.allowlist)
            .await?
            .into_iter()
            .map(|a| AllowlistedAccount {
                id: a.id,
                name: a.name,
                owner_emails: a.owner_emails,
            })
            .collect();
        Ok(Self {
            offering,
            checklist,
            checks,
            allowlist_accounts,
        })
    }
}
