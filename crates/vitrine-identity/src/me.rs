//! The signed-in user: profile, password, personal API tokens.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use vitrine_domain::account::{MembershipRole, ProviderStatus};
use vitrine_domain::error::Problems;
use vitrine_domain::tr;
use vitrine_domain::user::{self, UserPatch};
use vitrine_domain::{AccountId, AuditEvent, Language, Timestamp, TokenId, User, UserId, validate};
use vitrine_store::{ApiToken, Store, StoreError};

use crate::tags;
use vitrine_http::AppState;
use vitrine_http::auth::{Caller, SignedIn};
use vitrine_http::extract::{ApiJson, ApiPath};
use vitrine_http::problem::{ApiError, ApiResult, Problem};
use vitrine_http::secrets;

/// The signed-in user with their staff roles and memberships.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeView {
    pub user: User,
    pub memberships: Vec<MembershipView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MembershipView {
    pub account_id: AccountId,
    pub account_name: String,
    pub role: MembershipRole,
    /// Where the account stands as a provider; absent if it never applied.
    pub provider_status: Option<ProviderStatus>,
}

impl MeView {
    pub fn of(caller: &Caller) -> Self {
        let memberships = caller
            .accounts
            .iter()
            .filter_map(|account| {
                account.role_of(caller.user.id).map(|role| MembershipView {
                    account_id: account.id,
                    account_name: account.name.clone(),
                    role,
                    provider_status: account.provider_status(),
                })
            })
            .collect();
        Self {
            user: caller.user.clone(),
            memberships,
        }
    }
}

/// Who am I.
#[utoipa::path(get, path = "/api/v1/me", tag = tags::USERS,
    responses((status = 200, body = MeView)))]
pub async fn get_me(SignedIn(caller): SignedIn) -> Json<MeView> {
    Json(MeView::of(&caller))
}

/// Profile fields; absent ones are kept.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    #[schema(pattern = "vitrine:text:1:100")]
    pub display_name: Option<String>,
    pub language: Option<Language>,
    /// IANA time zone, such as `Europe/Paris`.
    #[schema(pattern = "vitrine:time_zone")]
    pub time_zone: Option<String>,
}

impl From<ProfilePatch> for UserPatch {
    fn from(p: ProfilePatch) -> Self {
        UserPatch {
            display_name: p.display_name,
            language: p.language,
            time_zone: p.time_zone,
        }
    }
}

/// Edits my profile.
#[utoipa::path(patch, path = "/api/v1/me", tag = tags::USERS,
    request_body = ProfilePatch,
    responses((status = 200, body = User)))]
pub async fn update_me(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiJson(patch): ApiJson<ProfilePatch>,
) -> ApiResult<Json<User>> {
    let (next, event) =
        user::update_user(&caller.actor, &caller.user, patch.into(), state.clock.now())?;
    state.store.update_user(&next, &[event], &[]).await?;
    Ok(Json(next))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// Required when the user already has a password.
    pub current_password: Option<String>,
    #[schema(pattern = "vitrine:password")]
    pub new_password: String,
}

/// Sets or changes my password.
#[utoipa::path(put, path = "/api/v1/me/password", tag = tags::USERS,
    request_body = PasswordChange,
    responses((status = 204, description = "Changed")))]
pub async fn change_password(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiJson(input): ApiJson<PasswordChange>,
) -> ApiResult<StatusCode> {
    let mut problems = Problems::new();
    problems.check(user::check_password("new_password", &input.new_password));
    let stored = state
        .store
        .user_by_email(&caller.user.email)
        .await?
        .and_then(|(_, hash)| hash);
    if let Some(stored) = stored {
        match input.current_password {
            None => problems.push(
                "current_password",
                tr!(
                    "password.current_required",
                    "is required to change a password",
                    "est obligatoire pour changer de mot de passe"
                ),
            ),
            Some(current) => {
                let matches = secrets::verify_password(current, stored)
                    .await
                    .map_err(|e| ApiError::internal("verifying a password", e))?;
                if !matches {
                    problems.push(
                        "current_password",
                        tr!("password.current_wrong", "is wrong", "est incorrect"),
                    );
                }
            }
        }
    }
    problems.into_result()?;
    let hash = secrets::hash_password(input.new_password)
        .await
        .map_err(|e| ApiError::internal("hashing a password", e))?;
    let event = AuditEvent::new(
        Some(caller.user.id),
        "user.password_changed",
        state.clock.now(),
    )
    .subject_user(caller.user.id);
    state
        .store
        .set_password_hash(caller.user.id, &hash, &[event])
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenList {
    pub items: Vec<ApiToken>,
}

/// My personal API tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/me/tokens", tag = tags::AUTH,
    responses((status = 200, body = TokenList)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
) -> ApiResult<Json<TokenList>> {
    let items = state.store.api_tokens(caller.user.id).await?;
    Ok(Json(TokenList { items }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What the token is for, to recognise it in the list.
    #[schema(pattern = "vitrine:text:1:100")]
    pub name: String,
}

/// A new token. The secret is shown here once and never again.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    pub token: ApiToken,
    /// Send as `Authorization: Bearer <secret>`.
    pub secret: String,
}

/// Creates a personal API token.
#[utoipa::path(post, path = "/api/v1/me/tokens", tag = tags::AUTH,
    request_body = NewToken,
    responses((status = 201, body = CreatedToken)))]
pub async fn create_token(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiJson(input): ApiJson<NewToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let name = validate::text("name", &input.name, 1, 100)?;
    let created = issue_token(
        state.store.as_ref(),
        Some(caller.user.id),
        caller.user.id,
        name,
        state.clock.now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Stores a new token for `user` (its hash only) with its audit event. `actor` is `None`
/// for the operator's `admin bootstrap`.
pub(crate) async fn issue_token(
    store: &dyn Store,
    actor: Option<UserId>,
    user: UserId,
    name: String,
    now: Timestamp,
) -> Result<CreatedToken, StoreError> {
    let token = ApiToken {
        id: TokenId::generate(),
        user_id: user,
        name,
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };
    let (secret, hash) = secrets::new_secret();
    let event = AuditEvent::new(actor, "api_token.created", now)
        .subject_token(token.id)
        .after(&token);
    store.insert_api_token(&token, &hash, &[event]).await?;
    Ok(CreatedToken { token, secret })
}

/// Revokes one of my tokens; it stops working at once.
#[utoipa::path(delete, path = "/api/v1/me/tokens/{id}", tag = tags::AUTH,
    params(("id" = TokenId, Path)),
    responses((status = 204, description = "Revoked"), (status = 404, response = Problem)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<TokenId>,
) -> ApiResult<StatusCode> {
    let now = state.clock.now();
    let event = AuditEvent::new(Some(caller.user.id), "api_token.revoked", now).subject_token(id);
    state
        .store
        .revoke_api_token(caller.user.id, id, now, &[event])
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
