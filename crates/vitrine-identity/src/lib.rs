//! People and sign-in over HTTP: sessions (`session.rs`), self-service sign-up, email
//! confirmation and password reset (`signup.rs`), the caller's own profile, password and
//! API tokens (`me.rs`), user administration (`users.rs`), and what the operator does from
//! the command line (`admin.rs`: the first admin, tokens, password links).
//!
//! The JSON API (`vitrine-api`) merges [`router`] into its own, so these operations are
//! part of one OpenAPI document. Handlers are thin, as there: rules live in
//! `vitrine-domain` (`user`, `auth`), the plumbing in `vitrine-http`.

mod admin;
mod me;
mod session;
mod signup;
mod users;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vitrine_domain::{User, UserId};
use vitrine_http::AppState;
use vitrine_http::problem::{ApiError, ApiResult};

pub use admin::{BootstrapError, bootstrap_admin, issue_api_token, password_link};

/// The OpenAPI tags of these operations.
pub mod tags {
    pub const AUTH: &str = "authentication";
    pub const USERS: &str = "users";
}

/// The routes of this crate, with their OpenAPI descriptions.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(session::sign_in))
        .routes(routes!(session::sign_out))
        .routes(routes!(signup::sign_up))
        .routes(routes!(signup::verify_email))
        .routes(routes!(signup::resend_verification))
        .routes(routes!(signup::request_password_reset))
        .routes(routes!(signup::confirm_password_reset))
        .routes(routes!(me::get_me, me::update_me))
        .routes(routes!(me::change_password))
        .routes(routes!(me::list_tokens, me::create_token))
        .routes(routes!(me::revoke_token))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::get_user, users::update_user))
        .routes(routes!(users::set_staff_roles))
}

pub(crate) async fn user_or_404(state: &AppState, id: UserId) -> ApiResult<User> {
    state.store.user(id).await?.ok_or_else(ApiError::not_found)
}
