//! Offerings as their provider manages them: listing, plans, visibility, allowlist,
//! checklist attestations. Anyone who does not manage an offering is told it does not exist
//! (the catalog is where customers read offerings).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use vitrine_domain::checklist::ChecklistStep;
use vitrine_domain::offering::{self, ListingInput};
use vitrine_domain::tr;
use vitrine_domain::{
    AccountId, AuditEvent, FieldError, Localized, Offering, Plan, StepState, Visibility,
};

use crate::common::{ManagedOffering, account_or_404, offering_or_404, tags};
use vitrine_http::AppState;
use vitrine_http::auth::SignedIn;
use vitrine_http::extract::{ApiJson, ApiPath};
use vitrine_http::problem::{ApiError, ApiResult, Problem};

async fn save(
    state: &AppState,
    (next, event): (Offering, AuditEvent),
) -> ApiResult<Json<ManagedOffering>> {
    state.store.update_offering(&next, &[event]).await?;
    Ok(Json(ManagedOffering::load(state, next).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOffering {
    pub provider_account_id: AccountId,
    /// Programmatic name: 3 to 32 lowercase letters, digits and dashes. Unique across the
    /// marketplace, so a taken name is refused with 409 even if the offering holding it is
    /// hidden from you (the only thing vitrine reveals about hidden offerings).
    #[schema(pattern = "vitrine:name")]
    pub name: String,
    #[schema(value_type = Option<vitrine_domain::offering::LocalizedName>)]
    pub display_name: Option<Localized>,
    #[schema(value_type = Option<vitrine_domain::offering::LocalizedDescription>)]
    pub description: Option<Localized>,
    #[schema(pattern = "vitrine:optional_name")]
    pub category: Option<String>,
    #[schema(value_type = Option<Vec<vitrine_domain::offering::Tag>>, max_items = 20)]
    pub tags: Option<Vec<String>>,
    #[schema(pattern = "vitrine:optional_url")]
    pub documentation_url: Option<String>,
    /// An email address or an http(s) URL.
    #[schema(pattern = "vitrine:contact")]
    pub support_contact: Option<String>,
    #[schema(max_items = 20)]
    pub plans: Option<Vec<Plan>>,
}

/// Listing fields to change; absent ones are kept, an empty text or list clears an
/// optional one.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListingPatch {
    #[schema(value_type = Option<vitrine_domain::offering::LocalizedName>)]
    pub display_name: Option<Localized>,
    #[schema(value_type = Option<vitrine_domain::offering::LocalizedDescription>)]
    pub description: Option<Localized>,
    #[schema(pattern = "vitrine:optional_name")]
    pub category: Option<String>,
    #[schema(value_type = Option<Vec<vitrine_domain::offering::Tag>>, max_items = 20)]
    pub tags: Option<Vec<String>>,
    #[schema(pattern = "vitrine:optional_url")]
    pub documentation_url: Option<String>,
    #[schema(pattern = "vitrine:contact")]
    pub support_contact: Option<String>,
    #[schema(max_items = 20)]
    pub plans: Option<Vec<Plan>>,
}

impl From<ListingPatch> for ListingInput {
    fn from(p: ListingPatch) -> Self {
        ListingInput {
            display_name: p.display_name,
            description: p.description,
            category: p.category,
            tags: p.tags,
            documentation_url: p.documentation_url,
            support_contact: p.support_contact,
            plans: p.plans,
        }
    }
}

/// Creates a private offering for a provider account (one that applied and was not
/// rejected).
#[utoipa::path(post, path = "/api/v1/offerings", tag = tags::OFFERINGS,
    request_body = CreateOffering,
    responses((status = 201, body = ManagedOffering), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem)))]
pub async fn create_offering(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiJson(input): ApiJson<CreateOffering>,
) -> ApiResult<(StatusCode, Json<ManagedOffering>)> {
    let provider = account_or_404(&state, input.provider_account_id).await?;
    let listing = ListingInput {
        display_name: input.display_name,
        description: input.description,
        category: input.category,
        tags: input.tags,
        documentation_url: input.documentation_url,
        support_contact: input.support_contact,
        plans: input.plans,
    };
    let (created, event) = offering::create_offering(
        &caller.actor,
        &provider,
        &input.name,
        listing,
        state.clock.now(),
    )?;
    state.store.insert_offering(&created, &[event]).await?;
    Ok((
        StatusCode::CREATED,
        Json(ManagedOffering::load(&state, created).await?),
    ))
}

/// Loads an offering the caller manages; anyone else is told it does not exist.
async fn managed_offering(
    state: &AppState,
    caller: &vitrine_http::auth::Caller,
    name: &str,
) -> ApiResult<Offering> {
    let offering = offering_or_404(state, name).await?;
    if caller.audience().manages(&offering) {
        Ok(offering)
    } else {
        Err(ApiError::not_found())
    }
}

/// The management view: everything, with the checklist and the allowlist.
#[utoipa::path(get, path = "/api/v1/offerings/{name}", tag = tags::OFFERINGS,
    params(("name" = String, Path)),
    responses((status = 200, body = ManagedOffering), (status = 404, response = Problem)))]
pub async fn get_offering(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<ManagedOffering>> {
    let offering = managed_offering(&state, &caller, &name).await?;
    Ok(Json(ManagedOffering::load(&state, offering).await?))
}

/// Edits the listing and plans.
#[utoipa::path(patch, path = "/api/v1/offerings/{name}", tag = tags::OFFERINGS,
    params(("name" = String, Path)),
    request_body = ListingPatch,
    responses((status = 200, body = ManagedOffering), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem)))]
pub async fn update_offering(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(name): ApiPath<String>,
    ApiJson(patch): ApiJson<ListingPatch>,
) -> ApiResult<Json<ManagedOffering>> {
    let current = managed_offering(&state, &caller, &name).await?;
    let change =
        offering::update_listing(&caller.actor, &current, patch.into(), state.clock.now())?;
    save(&state, change).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisibilityChange {
    pub visibility: Visibility,
    /// Why (kept in the audit log); expected when an admin unpublishes.
    pub reason: Option<String>,
}

/// Moves between private and limited (provider members), or to and from public (admins).
#[utoipa::path(put, path = "/api/v1/offerings/{name}/visibility", tag = tags::OFFERINGS,
    params(("name" = String, Path)),
    request_body = VisibilityChange,
    responses((status = 200, body = ManagedOffering), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem)))]
pub async fn set_visibility(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<VisibilityChange>,
) -> ApiResult<Json<ManagedOffering>> {
    let current = managed_offering(&state, &caller, &name).await?;
    let change = offering::set_visibility(
        &caller.actor,
        &current,
        input.visibility,
        input.reason.as_deref(),
        state.clock.now(),
    )?;
    save(&state, change).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Allowlist {
    pub account_ids: Vec<AccountId>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowlistEntry {
    pub account_id: AccountId,
}

/// Computes the new allowlist with the domain, checks every account on it exists, stores.
async fn change_allowlist(
    state: &AppState,
    caller: &vitrine_http::auth::Caller,
    current: &Offering,
    accounts: &[AccountId],
    field: impl Fn(usize) -> String,
) -> ApiResult<Json<ManagedOffering>> {
    let (next, event) =
        offering::set_allowlist(&caller.actor, current, accounts, state.clock.now())?;
    let existing = state.store.existing_accounts(&next.allowlist).await?;
    let missing: Vec<FieldError> = accounts
        .iter()
        .enumerate()
        .filter(|(_, id)| !existing.contains(id))
        .map(|(i, _)| {
            FieldError::new(
                field(i),
                tr!(
                    "account.unknown_id",
                    "no account has this id",
                    "aucun compte n’a cet identifiant"
                ),
            )
        })
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::invalid(missing));
    }
    save(state, (next, event)).await
}

/// Replaces the allowlist: the accounts that see the offering while it is limited.
#[utoipa::path(put, path = "/api/v1/offerings/{name}/allowlist", tag = tags::OFFERINGS,
    params(("name" = String, Path)),
    request_body = Allowlist,
    responses((status = 200, body = ManagedOffering), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem)))]
pub async fn set_allowlist(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<Allowlist>,
) -> ApiResult<Json<ManagedOffering>> {
    let current = managed_offering(&state, &caller, &name).await?;
    change_allowlist(&state, &caller, &current, &input.account_ids, |i| {
        format!("account_ids.{i}")
    })
    .await
}

/// Adds one account to the allowlist.
#[utoipa::path(post, path = "/api/v1/offerings/{name}/allowlist", tag = tags::OFFERINGS,
    params(("name" = String, Path)),
    request_body = AllowlistEntry,
    responses((status = 200, body = ManagedOffering), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem)))]
pub async fn add_to_allowlist(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<AllowlistEntry>,
) -> ApiResult<Json<ManagedOffering>> {
    let current = managed_offering(&state, &caller, &name).await?;
    let mut accounts = current.allowlist.clone();
    accounts.push(input.account_id);
    let added = accounts.len() - 1;
    change_allowlist(&state, &caller, &current, &accounts, |i| {
        if i == added {
            "account_id".to_owned()
        } else {
            format!("allowlist.{i}")
        }
    })
    .await
}

/// Removes one account from the allowlist.
#[utoipa::path(delete, path = "/api/v1/offerings/{name}/allowlist/{account_id}", tag = tags::OFFERINGS,
    params(("name" = String, Path), ("account_id" = AccountId, Path)),
    responses((status = 200, body = ManagedOffering), (status = 403, response = Problem),
        (status = 404, response = Problem)))]
pub async fn remove_from_allowlist(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath((name, account_id)): ApiPath<(String, AccountId)>,
) -> ApiResult<Json<ManagedOffering>> {
    let current = managed_offering(&state, &caller, &name).await?;
    caller
        .actor
        .require_provider_member(current.provider_account_id)?;
    if !current.allowlist.contains(&account_id) {
        return Err(ApiError::not_found());
    }
    let accounts: Vec<AccountId> = current
        .allowlist
        .iter()
        .copied()
        .filter(|id| *id != account_id)
        .collect();
    let change = offering::set_allowlist(&caller.actor, &current, &accounts, state.clock.now())?;
    save(&state, change).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepAttestation {
    pub state: StepState,
}

/// Attests a checklist step the platform cannot check (documentation, broker_hosted,
/// authentication_flow).
#[utoipa::path(put, path = "/api/v1/offerings/{name}/checklist/{step}", tag = tags::OFFERINGS,
    params(("name" = String, Path), ("step" = ChecklistStep, Path)),
    request_body = StepAttestation,
    responses((status = 200, body = ManagedOffering), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem)))]
pub async fn attest_step(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath((name, step)): ApiPath<(String, String)>,
    ApiJson(input): ApiJson<StepAttestation>,
) -> ApiResult<Json<ManagedOffering>> {
    let current = managed_offering(&state, &caller, &name).await?;
    let step = ChecklistStep::parse(&step).ok_or_else(ApiError::not_found)?;
    let change = offering::attest(
        &caller.actor,
        &current,
        step,
        input.state,
        state.clock.now(),
    )?;
    save(&state, change).await
}
