//! Users, for admins: list, create, read, edit, staff roles.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use vitrine_domain::tr;
use vitrine_domain::user::{self, Email, NewUser};
use vitrine_domain::{DomainError, Language, StaffRoles, User, UserId};

use crate::me::ProfilePatch;
use crate::{tags, user_or_404};
use vitrine_http::AppState;
use vitrine_http::auth::SignedIn;
use vitrine_http::extract::{ApiJson, ApiPath, ApiQuery};
use vitrine_http::paging::{PageParams, decode_cursor_as, next_cursor, page_limit};
use vitrine_http::problem::{ApiResult, Problem};
use vitrine_http::secrets;
use vitrine_jobs::scheduler::{self, Queue};
use vitrine_mail::DatesMovedReason;

fn admins_only() -> vitrine_domain::Text {
    tr!(
        "users.admin_only",
        "only an admin can manage users",
        "seul un administrateur peut gérer les utilisateurs"
    )
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserPage {
    pub items: Vec<User>,
    pub next_cursor: Option<String>,
}

/// All users, by email.
#[utoipa::path(get, path = "/api/v1/users", tag = tags::USERS,
    params(PageParams),
    responses((status = 200, body = UserPage), (status = 403, response = Problem), (status = 422, response = Problem)))]
pub async fn list_users(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<UserPage>> {
    caller.actor.require_admin(admins_only())?;
    let limit = page_limit(params.limit)?;
    let after = decode_cursor_as(params.cursor.as_deref(), |s| {
        Email::parse("cursor", s)
            .ok()
            .map(|e| e.as_str().to_owned())
    })?;
    let mut items = state.store.list_users(after.as_deref(), limit + 1).await?;
    let next_cursor = next_cursor(&mut items, limit, |u| u.email.as_str().to_owned());
    Ok(Json(UserPage { items, next_cursor }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    #[schema(pattern = "vitrine:email")]
    pub email: String,
    #[schema(pattern = "vitrine:text:1:100")]
    pub display_name: String,
    pub language: Option<Language>,
    /// IANA time zone (default `UTC`).
    #[schema(pattern = "vitrine:time_zone")]
    pub time_zone: Option<String>,
    /// Optional; without one the user signs in with API tokens an admin issues, or sets one
    /// later.
    #[schema(pattern = "vitrine:password")]
    pub password: Option<String>,
    #[serde(default)]
    pub staff: StaffRoles,
}

/// Creates a user.
#[utoipa::path(post, path = "/api/v1/users", tag = tags::USERS,
    request_body = CreateUser,
    responses((status = 201, body = User), (status = 403, response = Problem),
        (status = 409, response = Problem)))]
pub async fn create_user(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiJson(input): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    let password_check = input
        .password
        .as_deref()
        .map(|p| user::check_password("password", p))
        .transpose();
    let created = user::create_user(
        Some(&caller.actor),
        NewUser {
            email: input.email,
            display_name: input.display_name,
            language: input.language,
            time_zone: input.time_zone,
            staff: input.staff,
        },
        state.clock.now(),
    );
    // Every invalid field at once, the password's included.
    let (user, event) = match (created, password_check) {
        (Err(DomainError::Invalid(mut errors)), Err(DomainError::Invalid(more))) => {
            errors.extend(more);
            return Err(DomainError::Invalid(errors).into());
        }
        (created, check) => {
            check?;
            created?
        }
    };
    let hash = match input.password {
        Some(password) => Some(
            secrets::hash_password(password)
                .await
                .map_err(|e| vitrine_http::problem::ApiError::internal("hashing a password", e))?,
        ),
        None => None,
    };
    state
        .store
        .insert_user(&user, hash.as_deref(), &[event])
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = tags::USERS,
    params(("id" = UserId, Path)),
    responses((status = 200, body = User), (status = 403, response = Problem), (status = 404, response = Problem)))]
pub async fn get_user(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<UserId>,
) -> ApiResult<Json<User>> {
    caller.actor.require_admin(admins_only())?;
    Ok(Json(user_or_404(&state, id).await?))
}

/// Edits a user's profile.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = tags::USERS,
    params(("id" = UserId, Path)),
    request_body = ProfilePatch,
    responses((status = 200, body = User), (status = 403, response = Problem),
        (status = 404, response = Problem)))]
pub async fn update_user(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(patch): ApiJson<ProfilePatch>,
) -> ApiResult<Json<User>> {
    caller.actor.require_admin(admins_only())?;
    let current = user_or_404(&state, id).await?;
    let (next, event) =
        user::update_user(&caller.actor, &current, patch.into(), state.clock.now())?;
    state.store.update_user(&next, &[event], &[]).await?;
    Ok(Json(next))
}

/// Grants or removes staff roles.
#[utoipa::path(put, path = "/api/v1/users/{id}/staff-roles", tag = tags::USERS,
    params(("id" = UserId, Path)),
    request_body = StaffRoles,
    responses((status = 200, body = User), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem)))]
pub async fn set_staff_roles(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(roles): ApiJson<StaffRoles>,
) -> ApiResult<Json<User>> {
    caller.actor.require_admin(admins_only())?;
    let current = user_or_404(&state, id).await?;
    let now = state.clock.now();
    let (next, event) = user::set_staff_roles(&caller.actor, &current, roles, now)?;
    // A validator removed takes their capacity with them: queued submissions may move to
    // later sessions, and their providers are told.
    let moves = if current.staff.validator && !next.staff.validator {
        let validators = state.store.validators().await?;
        let gone = validators
            .iter()
            .find(|v| v.user.id == id)
            .map_or(0, |v| v.capacity);
        let queue = Queue::read(&state).await?;
        let after = queue.with_capacity(queue.capacity.saturating_sub(gone));
        scheduler::dates_moved(
            &state,
            Some(caller.user.id),
            (&queue, now),
            &after,
            DatesMovedReason::Capacity,
            now,
        )
        .await?
    } else {
        scheduler::DateMoves::default()
    };
    let mut events = vec![event];
    events.extend(moves.events);
    state
        .store
        .update_user(&next, &events, &moves.emails)
        .await?;
    Ok(Json(next))
}
