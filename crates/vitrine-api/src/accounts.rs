//! Accounts: creation (admins), members (owners), provider applications and decisions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use vitrine_domain::account::{self, MembershipRole, ProviderApplicationInput, ProviderDecision};
use vitrine_domain::tr;
use vitrine_domain::user::Email;
use vitrine_domain::{Account, AccountId, AuditEvent, OfferingName, ProviderStatus, UserId};
use vitrine_store::CatalogQuery;

use crate::common::{ManagedOffering, account_or_404, tags, user_or_404};
use vitrine_http::AppState;
use vitrine_http::auth::SignedIn;
use vitrine_http::extract::{ApiJson, ApiPath, ApiQuery};
use vitrine_http::paging::{
    PageParams, catalog_next_cursor, decode_cursor_as, next_cursor, page_limit,
};
use vitrine_http::problem::{ApiError, ApiResult, Problem};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccountPage {
    pub items: Vec<Account>,
    pub next_cursor: Option<String>,
}

async fn save(state: &AppState, (next, event): (Account, AuditEvent)) -> ApiResult<Json<Account>> {
    state.store.update_account(&next, &[event]).await?;
    Ok(Json(next))
}

/// Admins: every account, by name. Others: the accounts they belong to.
#[utoipa::path(get, path = "/api/v1/accounts", tag = tags::ACCOUNTS,
    params(PageParams),
    responses((status = 200, body = AccountPage), (status = 422, response = Problem)))]
pub async fn list_accounts(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<AccountPage>> {
    let limit = page_limit(params.limit)?;
    if !caller.actor.is_admin() {
        return Ok(Json(AccountPage {
            items: caller.accounts,
            next_cursor: None,
        }));
    }
    let after = decode_cursor_as(params.cursor.as_deref(), |s| s.parse::<AccountId>().ok())?;
    let mut items = state.store.list_accounts(after, limit + 1).await?;
    let next_cursor = next_cursor(&mut items, limit, |a| a.id.to_string());
    Ok(Json(AccountPage { items, next_cursor }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    #[schema(pattern = "vitrine:text:1:200")]
    pub name: String,
    /// The first owner.
    pub owner_user_id: UserId,
}

/// Creates an account with its first owner.
#[utoipa::path(post, path = "/api/v1/accounts", tag = tags::ACCOUNTS,
    request_body = CreateAccount,
    responses((status = 201, body = Account), (status = 403, response = Problem)))]
pub async fn create_account(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiJson(input): ApiJson<CreateAccount>,
) -> ApiResult<(StatusCode, Json<Account>)> {
    let (account, event) = account::create_account(
        &caller.actor,
        &input.name,
        input.owner_user_id,
        state.clock.now(),
    )?;
    if state.store.user(input.owner_user_id).await?.is_none() {
        return Err(ApiError::invalid_field(
            "owner_user_id",
            tr!(
                "user.unknown_id",
                "no user has this id",
                "aucun utilisateur n’a cet identifiant"
            ),
        ));
    }
    state.store.insert_account(&account, &[event]).await?;
    Ok((StatusCode::CREATED, Json(account)))
}

/// An account with its members and provider application (with the admin's reason).
#[utoipa::path(get, path = "/api/v1/accounts/{id}", tag = tags::ACCOUNTS,
    params(("id" = AccountId, Path)),
    responses((status = 200, body = Account), (status = 404, response = Problem)))]
pub async fn get_account(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<AccountId>,
) -> ApiResult<Json<Account>> {
    let account = account_or_404(&state, id).await?;
    caller.actor.require_can_view_account(account.id)?;
    Ok(Json(account))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRole {
    pub role: MembershipRole,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    /// Email of an existing user.
    #[schema(pattern = "vitrine:email")]
    pub email: String,
    pub role: MembershipRole,
}

/// Adds a user (named by email) to the account. Tells the owner whether a user has this
/// email, which is what lets them add colleagues.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/members", tag = tags::ACCOUNTS,
    params(("id" = AccountId, Path)),
    request_body = NewMember,
    responses((status = 200, body = Account), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem)))]
pub async fn add_member_by_email(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<AccountId>,
    ApiJson(input): ApiJson<NewMember>,
) -> ApiResult<Json<Account>> {
    let account = account_or_404(&state, id).await?;
    // Only owners may learn which emails belong to users.
    caller.actor.require_account_owner(account.id)?;
    let email = Email::parse("email", &input.email)?;
    let (user, _) = state.store.user_by_email(&email).await?.ok_or_else(|| {
        ApiError::invalid_field(
            "email",
            tr!(
                "user.unknown_email",
                "no user has this email address",
                "aucun utilisateur n’a cette adresse e-mail"
            ),
        )
    })?;
    let change = account::put_member(
        &caller.actor,
        &account,
        user.id,
        input.role,
        state.clock.now(),
    )?;
    save(&state, change).await
}

/// Adds a member or changes their role.
#[utoipa::path(put, path = "/api/v1/accounts/{id}/members/{user_id}", tag = tags::ACCOUNTS,
    params(("id" = AccountId, Path), ("user_id" = UserId, Path)),
    request_body = MemberRole,
    responses((status = 200, body = Account), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem)))]
pub async fn put_member(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath((id, user_id)): ApiPath<(AccountId, UserId)>,
    ApiJson(input): ApiJson<MemberRole>,
) -> ApiResult<Json<Account>> {
    let account = account_or_404(&state, id).await?;
    // Strangers learn nothing about users; owners learn whether the id names one.
    caller.actor.require_account_owner(account.id)?;
    let user = user_or_404(&state, user_id).await?;
    let change = account::put_member(
        &caller.actor,
        &account,
        user.id,
        input.role,
        state.clock.now(),
    )?;
    save(&state, change).await
}

/// Removes a member (never the last owner).
#[utoipa::path(delete, path = "/api/v1/accounts/{id}/members/{user_id}", tag = tags::ACCOUNTS,
    params(("id" = AccountId, Path), ("user_id" = UserId, Path)),
    responses((status = 200, description = "The account without the member", body = Account), (status = 403, response = Problem), (status = 404, response = Problem), (status = 409, response = Problem)))]
pub async fn remove_member(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath((id, user_id)): ApiPath<(AccountId, UserId)>,
) -> ApiResult<Json<Account>> {
    let account = account_or_404(&state, id).await?;
    let now = state.clock.now();
    let change = account::remove_member(&caller.actor, &account, user_id, now)?;
    let saved = save(&state, change).await?;
    revoke_reply_keys_of_former_member(&state, &account, user_id, now).await?;
    Ok(saved)
}

/// A member who left an account loses the reply addresses of its submissions' threads:
/// their reply by email is refused as a revoked address from now on (and stays refused if
/// they come back; new emails bring new addresses). Keys for a thread they still take part
/// in another way (as an admin, say) are kept.
async fn revoke_reply_keys_of_former_member(
    state: &AppState,
    account: &Account,
    user_id: UserId,
    now: vitrine_domain::Timestamp,
) -> ApiResult<()> {
    use vitrine_domain::submission::Party;
    let Some(user) = state.store.user(user_id).await? else {
        return Ok(());
    };
    let accounts = state.store.accounts_of_user(user_id).await?;
    let actor = account::actor_of(user_id, user.staff, &accounts);
    for submission in state.store.submissions_of_account(account.id).await? {
        if matches!(
            submission.party_of(&actor),
            Some(Party::Provider | Party::AssignedValidator | Party::Admin)
        ) {
            continue;
        }
        // The membership's removal is the audited change; this follows from it.
        state
            .store
            .revoke_reply_keys(user_id, Some(submission.id), now, &[])
            .await?;
    }
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderApplicationRequest {
    #[schema(pattern = "vitrine:text:1:200")]
    pub legal_name: String,
    #[schema(pattern = "vitrine:email")]
    pub contact_email: String,
    /// ISO 3166-1 alpha-2, such as `FR`.
    #[schema(pattern = "vitrine:country")]
    pub country: String,
    #[schema(pattern = "vitrine:url")]
    pub website: String,
}

/// Applies to become a provider (again after a rejection); the application is pending
/// until an admin decides.
#[utoipa::path(put, path = "/api/v1/accounts/{id}/provider-application", tag = tags::ACCOUNTS,
    params(("id" = AccountId, Path)),
    request_body = ProviderApplicationRequest,
    responses((status = 200, body = Account), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem)))]
pub async fn apply_as_provider(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<AccountId>,
    ApiJson(input): ApiJson<ProviderApplicationRequest>,
) -> ApiResult<Json<Account>> {
    let account = account_or_404(&state, id).await?;
    let input = ProviderApplicationInput {
        legal_name: input.legal_name,
        contact_email: input.contact_email,
        country: input.country,
        website: input.website,
    };
    let change = account::apply_as_provider(&caller.actor, &account, input, state.clock.now())?;
    save(&state, change).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderDecisionRequest {
    pub decision: ProviderDecision,
    /// Required with a rejection; the applicant sees it.
    #[schema(pattern = "vitrine:optional_text:2000")]
    pub reason: Option<String>,
}

/// Approves or rejects a pending provider application.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/provider-application/decision", tag = tags::ACCOUNTS,
    params(("id" = AccountId, Path)),
    request_body = ProviderDecisionRequest,
    responses((status = 200, body = Account), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem)))]
pub async fn decide_provider(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<AccountId>,
    ApiJson(input): ApiJson<ProviderDecisionRequest>,
) -> ApiResult<Json<Account>> {
    // Checked before loading so that non-admins cannot probe which accounts exist.
    caller.actor.require_admin(tr!(
        "provider.decide_admin_only",
        "only an admin can decide provider applications",
        "seul un administrateur peut statuer sur les candidatures de fournisseur"
    ))?;
    let account = account_or_404(&state, id).await?;
    let change = account::decide_provider(
        &caller.actor,
        &account,
        input.decision,
        input.reason.as_deref(),
        state.clock.now(),
    )?;
    save(&state, change).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApplicationFilter {
    /// Only applications in this state.
    pub status: Option<ProviderStatus>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApplicationList {
    /// Accounts with their application, oldest application first.
    pub items: Vec<Account>,
}

/// Provider applications, for admins.
#[utoipa::path(get, path = "/api/v1/provider-applications", tag = tags::ACCOUNTS,
    params(ApplicationFilter),
    responses((status = 200, body = ApplicationList), (status = 403, response = Problem), (status = 422, response = Problem)))]
pub async fn list_provider_applications(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiQuery(filter): ApiQuery<ApplicationFilter>,
) -> ApiResult<Json<ApplicationList>> {
    caller.actor.require_admin(tr!(
        "provider.read_admin_only",
        "only an admin can read provider applications",
        "seul un administrateur peut lire les candidatures de fournisseur"
    ))?;
    let items = state.store.provider_applications(filter.status).await?;
    Ok(Json(ApplicationList { items }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ManagedOfferingPage {
    pub items: Vec<ManagedOffering>,
    pub total: u64,
    pub next_cursor: Option<String>,
}

/// The account's offerings with their checklist progress, by name.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/offerings", tag = tags::OFFERINGS,
    params(("id" = AccountId, Path), PageParams),
    responses((status = 200, body = ManagedOfferingPage), (status = 404, response = Problem), (status = 422, response = Problem)))]
pub async fn account_offerings(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<AccountId>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<ManagedOfferingPage>> {
    let account = account_or_404(&state, id).await?;
    caller.actor.require_can_view_account(account.id)?;
    let limit = page_limit(params.limit)?;
    let after = decode_cursor_as(params.cursor.as_deref(), |s| {
        OfferingName::parse("cursor", s).ok()
    })?;
    let page = state
        .store
        .catalog(&CatalogQuery {
            audience: caller.audience(),
            terms: Vec::new(),
            category: None,
            tag: None,
            provider: Some(account.id),
            after,
            limit,
        })
        .await?;
    let next_cursor = catalog_next_cursor(&page);
    // One evidence read per offering: an account holds a handful of offerings.
    let mut items = Vec::with_capacity(page.items.len());
    for offering in page.items {
        items.push(ManagedOffering::load(&state, offering).await?);
    }
    Ok(Json(ManagedOfferingPage {
        items,
        total: page.total,
        next_cursor,
    }))
}
