//! Password sign-in and sign-out (session cookie).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use vitrine_domain::user::Email;

use crate::AppState;
use crate::api::me::MeView;
use crate::api::tags;
use crate::auth::{
    Credential, SESSION_DAYS, SignedIn, caller, clear_session_cookie_header, session_cookie_header,
};
use crate::extract::ApiJson;
use crate::problem::{ApiError, ApiResult, ProblemKind};
use crate::secrets;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub email: String,
    pub password: String,
}

fn wrong_credentials() -> ApiError {
    ApiError::new(
        ProblemKind::Unauthenticated,
        "the email or the password is wrong",
    )
}

fn with_cookie(mut response: Response, cookie: &str) -> ApiResult<Response> {
    let value = HeaderValue::from_str(cookie)
        .map_err(|e| ApiError::internal("session cookie is not a valid header", e))?;
    response.headers_mut().append(header::SET_COOKIE, value);
    Ok(response)
}

/// Signs in with email and password; sets the session cookie.
#[utoipa::path(post, path = "/api/v1/auth/sign-in", tag = tags::AUTH, security(()),
    request_body = SignIn,
    responses(
        (status = 200, description = "Signed in; `Set-Cookie: vitrine_session=…`", body = MeView),
    ))]
pub async fn sign_in(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<SignIn>,
) -> ApiResult<Response> {
    let found = match Email::parse("email", &input.email) {
        Ok(email) => state.store.user_by_email(&email).await?,
        Err(_) => None,
    };
    let Some((user, Some(stored_hash))) = found else {
        // Hash anyway so that an unknown email takes as long as a wrong password.
        secrets::hash_password(input.password)
            .await
            .map_err(|e| ApiError::internal("hashing a password", e))?;
        return Err(wrong_credentials());
    };
    let matches = secrets::verify_password(input.password, stored_hash)
        .await
        .map_err(|e| ApiError::internal("verifying a password", e))?;
    if !matches {
        return Err(wrong_credentials());
    }
    let now = state.clock.now();
    let expires_at = now
        .checked_add(jiff::SignedDuration::from_hours(SESSION_DAYS * 24))
        .map_err(|e| ApiError::internal("computing session expiry", e))?;
    let (secret, hash) = secrets::new_secret();
    state
        .store
        .insert_session(&hash, user.id, now, expires_at)
        .await?;
    let caller = caller(&state, user.id, Credential::Session(hash))
        .await?
        .ok_or_else(wrong_credentials)?;
    let body = axum::Json(MeView::of(&caller)).into_response();
    with_cookie(
        body,
        &session_cookie_header(&secret, state.config.secure_cookies),
    )
}

/// Ends the current session and clears the cookie. With an API token, nothing is ended
/// (revoke the token instead).
#[utoipa::path(post, path = "/api/v1/auth/sign-out", tag = tags::AUTH,
    responses(
        (status = 204, description = "Signed out"),
        ))]
pub async fn sign_out(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
) -> ApiResult<Response> {
    if let Credential::Session(hash) = &caller.credential {
        state.store.delete_session(hash).await?;
    }
    with_cookie(
        StatusCode::NO_CONTENT.into_response(),
        &clear_session_cookie_header(state.config.secure_cookies),
    )
}
