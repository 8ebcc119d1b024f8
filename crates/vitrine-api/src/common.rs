//! What the routes share: the OpenAPI tags, lookups that answer 404, and the managed view
//! of an offering.

use serde::Serialize;
use vitrine_domain::checklist::Checklist;
use vitrine_domain::{Account, AccountId, Offering, OfferingName, User, UserId};
use vitrine_http::AppState;
use vitrine_http::problem::{ApiError, ApiResult};

/// Tags group the operations in the OpenAPI document.
pub mod tags {
    pub const OPS: &str = "operations";
    pub const AUTH: &str = "authentication";
    pub const USERS: &str = "users";
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

/// An offering as its provider and staff see it: everything, with the checklist.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ManagedOffering {
    pub offering: Offering,
    pub checklist: Checklist,
}

impl From<Offering> for ManagedOffering {
    fn from(offering: Offering) -> Self {
        let checklist = Checklist::of(&offering);
        Self {
            offering,
            checklist,
        }
    }
}
