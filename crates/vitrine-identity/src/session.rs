//! Password sign-in and sign-out (session cookie).
//!
//! Sign-in is throttled per email address (see [`vitrine_domain::auth::SignInAttempts`]):
//! the attempt is counted in the database before the password is checked, so that servers
//! sharing the database, and attempts made in parallel, all count; a right password forgets
//! the count. A self-signed-up user whose address is not verified yet is refused with its
//! own problem, but only after the right password, so that it tells nothing to someone who
//! does not know it. No per-client-address limit: behind a proxy the client's address is
//! only as good as the proxy's headers, which this server is not configured to trust.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use vitrine_domain::User;
use vitrine_domain::auth::{self, SignInRefusal};
use vitrine_domain::tr;
use vitrine_domain::user::Email;

use crate::me::MeView;
use crate::tags;
use vitrine_http::AppState;
use vitrine_http::auth::{
    Credential, SESSION_DAYS, SignedIn, caller, clear_session_cookie_header, session_cookie_header,
};
use vitrine_http::extract::ApiJson;
use vitrine_http::limits::{ClientAddress, Limit};
use vitrine_http::problem::{ApiError, ApiResult, Problem, ProblemKind};
use vitrine_http::secrets;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub email: String,
    pub password: String,
}

fn wrong_credentials() -> ApiError {
    ApiError::new(
        ProblemKind::Unauthenticated,
        tr!(
            "sign_in.wrong",
            "the email or the password is wrong",
            "l’adresse e-mail ou le mot de passe est incorrect"
        ),
    )
}

fn too_many_attempts(wait: jiff::SignedDuration) -> ApiError {
    // Whole seconds, rounded up: retrying at once after `Retry-After` must not be refused.
    let seconds = u64::try_from(wait.as_secs()).unwrap_or(0) + u64::from(wait.subsec_nanos() > 0);
    let minutes = seconds.div_ceil(60);
    ApiError::new(
        ProblemKind::TooManyAttempts,
        tr!(
            "sign_in.locked",
            "too many failed sign-ins for this email address; try again in {minutes} \
             minute(s), or ask for a password reset link",
            "trop de connexions échouées pour cette adresse e-mail ; réessayez dans {minutes} \
             minute(s), ou demandez un lien de réinitialisation du mot de passe"
        ),
    )
    .retry_after(seconds)
}

fn not_verified(email: &Email) -> ApiError {
    ApiError::new(
        ProblemKind::EmailNotVerified,
        tr!(
            "sign_in.not_verified",
            "verify your email address first: we sent a link to {email}; to get a new one, \
             POST /api/v1/auth/verify-email/resend",
            "confirmez d’abord votre adresse e-mail : nous avons envoyé un lien à {email} ; \
             pour en recevoir un nouveau, POST /api/v1/auth/verify-email/resend",
            email = email.as_str()
        ),
    )
}

fn with_cookie(mut response: Response, cookie: &str) -> ApiResult<Response> {
    let value = HeaderValue::from_str(cookie)
        .map_err(|e| ApiError::internal("session cookie is not a valid header", e))?;
    response.headers_mut().append(header::SET_COOKIE, value);
    Ok(response)
}

/// Signs in with email and password; sets the session cookie.
///
/// Refused with `401 unauthenticated` for a wrong email or password (the same for both),
/// `403 email-not-verified` for a right password whose address was never confirmed, and
/// `429 too-many-attempts` (with `Retry-After` in seconds) after 5 failed sign-ins for the
/// address within 15 minutes, whatever the password, and `429 rate-limited` after too many
/// attempts from one client address (30 per hour by default).
#[utoipa::path(post, path = "/api/v1/auth/sign-in", tag = tags::AUTH, security(()),
    request_body = SignIn,
    responses(
        (status = 200, description = "Signed in; `Set-Cookie: vitrine_session=…`", body = MeView),
        (status = 403, response = Problem),
        (status = 429, response = Problem),
    ))]
pub async fn sign_in(
    State(state): State<AppState>,
    client: ClientAddress,
    ApiJson(input): ApiJson<SignIn>,
) -> ApiResult<Response> {
    // Per client address first: guessing many accounts' passwords from one address is
    // refused before any password is hashed.
    state.limits.check_client(Limit::SignInPerClient, &client)?;
    let now = state.clock.now();
    // An address that cannot exist has no account to protect: it is not counted.
    let email = Email::parse("email", &input.email).ok();
    if let Some(email) = &email {
        let attempts = state.store.count_sign_in_attempt(email, now).await?;
        if let Some(wait) = attempts.refusal(now) {
            return Err(too_many_attempts(wait));
        }
    }
    let found = match &email {
        Some(email) => state.store.user_by_email(email).await?,
        None => None,
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
    state.store.clear_sign_in_attempts(&user.email).await?;
    auth::may_sign_in(&user).map_err(|refusal| match refusal {
        SignInRefusal::EmailNotVerified => not_verified(&user.email),
    })?;
    signed_in(&state, &user).await
}

/// Starts a session for `user` and answers as sign-in does: the caller's [`MeView`] with
/// the session cookie. Also what following an email verification link answers.
pub(crate) async fn signed_in(state: &AppState, user: &User) -> ApiResult<Response> {
    let now = state.clock.now();
    let expires_at = now
        .checked_add(jiff::SignedDuration::from_hours(SESSION_DAYS * 24))
        .map_err(|e| ApiError::internal("computing session expiry", e))?;
    let (secret, hash) = secrets::new_secret();
    state
        .store
        .insert_session(&hash, user.id, now, expires_at)
        .await?;
    let caller = caller(state, user.id, Credential::Session(hash))
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
