//! Self-service accounts: signing up, confirming the address, asking for a new confirmation
//! link, and resetting a forgotten password. Open to anyone (no session needed).
//!
//! The links emailed carry a random secret of which only the SHA-256 is stored, tagged with
//! its purpose, valid once and for a while (rules in [`vitrine_domain::auth`]). The web
//! pages the links lead to (`/verify-email?token=…`, `/reset-password?token=…`) call the
//! endpoints here with the token.
//!
//! None of these endpoints tells whether an address has an account: sign-up, the new link
//! and the password reset answer the same `202` whatever the address, and what differs goes
//! by email to the address's owner.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use vitrine_domain::auth::{self, OneTimeToken, SignUp, TokenPurpose, TokenRefusal};
use vitrine_domain::user::Email;
use vitrine_domain::{AuditEvent, Language, Timestamp, User};
use vitrine_store::{IssuedToken, NewEmail, StoreError};

use crate::me::MeView;
use crate::session;
use crate::tags;
use vitrine_http::AppState;
use vitrine_http::extract::ApiJson;
use vitrine_http::limits::{ClientAddress, Limit};
use vitrine_http::problem::{ApiError, ApiResult, Problem, ProblemKind};
use vitrine_http::secrets;
use vitrine_jobs::notify;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUpRequest {
    #[schema(pattern = "vitrine:email")]
    pub email: String,
    #[schema(pattern = "vitrine:text:1:100")]
    pub display_name: String,
    /// At least 10 characters.
    #[schema(pattern = "vitrine:password")]
    pub password: String,
    /// The organisation's account, created with the user as its owner.
    #[schema(pattern = "vitrine:text:1:200")]
    pub account_name: String,
    pub language: Option<Language>,
    /// IANA time zone (default `UTC`).
    #[schema(pattern = "vitrine:time_zone")]
    pub time_zone: Option<String>,
}

/// The answer of the endpoints that email someone: the same whether or not the address has
/// an account.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EmailSent {
    /// The address, as vitrine writes it (lowercased): where to look for the email.
    pub email: Email,
}

fn accepted(email: Email) -> (StatusCode, Json<EmailSent>) {
    (StatusCode::ACCEPTED, Json(EmailSent { email }))
}

/// Signs up: creates a user (who cannot sign in until they confirm their address) and an
/// account they own, and emails them a link to confirm the address (valid 48 hours). No
/// session is started.
///
/// A taken address answers exactly like a free one (same status, same body), so that
/// sign-up does not tell anyone which addresses have an account; nothing is created, and
/// the address's owner is emailed instead: a notice that someone tried to sign up with it
/// (sign in, or reset the password), or, if they never confirmed it, a new confirmation
/// link. Invalid input is refused (422) before the address is looked at.
#[utoipa::path(post, path = "/api/v1/auth/sign-up", tag = tags::AUTH, security(()),
    request_body = SignUpRequest,
    responses(
        (status = 202, description = "The confirmation email is on its way (or, for a taken \
            address, a notice to its owner)", body = EmailSent),
        (status = 422, response = Problem),
        (status = 429, response = Problem),
    ))]
pub async fn sign_up(
    State(state): State<AppState>,
    client: ClientAddress,
    ApiJson(input): ApiJson<SignUpRequest>,
) -> ApiResult<(StatusCode, Json<EmailSent>)> {
    state.limits.check_client(Limit::SignUpPerClient, &client)?;
    let now = state.clock.now();
    let done = auth::sign_up(
        SignUp {
            email: input.email,
            display_name: input.display_name,
            password: input.password.clone(),
            account_name: input.account_name,
            language: input.language,
            time_zone: input.time_zone,
        },
        now,
    )?;
    // Hashed on both paths, so that a taken address takes as long as a free one.
    let password_hash = secrets::hash_password(input.password)
        .await
        .map_err(|e| ApiError::internal("hashing a password", e))?;
    let email = done.user.email.clone();
    // Either way an email goes to the address: counted as one, taken or free alike.
    state
        .limits
        .check(Limit::EmailsPerRecipient, email.as_str())?;
    if let Some((existing, _)) = state.store.user_by_email(&email).await? {
        tell_existing_user(&state, &existing, now).await?;
        return Ok(accepted(email));
    }
    let (secret, hash) = secrets::new_secret();
    let message = notify::verify_email(
        &state.mail,
        &done.user,
        &secret,
        &done.account.name,
        done.verification.expires_at,
        now,
    )?;
    let verification = IssuedToken {
        hash,
        token: done.verification.clone(),
    };
    let stored = state
        .store
        .sign_up(
            &done.user,
            &password_hash,
            &done.account,
            &verification,
            &done.events,
            &[message],
        )
        .await;
    match stored {
        Ok(()) => {}
        // Taken between the look-up and the write: answered like any taken address.
        Err(StoreError::Duplicate { field: "email" }) => {
            if let Some((existing, _)) = state.store.user_by_email(&email).await? {
                tell_existing_user(&state, &existing, now).await?;
            }
        }
        Err(other) => return Err(other.into()),
    }
    Ok(accepted(email))
}

/// Someone signed up with `user`'s address: a user who never confirmed it gets a new
/// confirmation link, anyone else a notice.
async fn tell_existing_user(state: &AppState, user: &User, now: Timestamp) -> ApiResult<()> {
    if user.email_verified_at.is_none() {
        return send_verification(state, user, now).await;
    }
    let event = AuditEvent::new(None, "user.sign_up_attempted", now).subject_user(user.id);
    let notice = notify::sign_up_attempt(&state.mail, user, now)?;
    state.store.insert_emails(&[event], &[notice]).await?;
    Ok(())
}

/// Stores a new one-time token of `purpose` for `user` and emails its link, in one write.
async fn issue(
    state: &AppState,
    user: &User,
    purpose: TokenPurpose,
    now: Timestamp,
    email: impl FnOnce(&str, &OneTimeToken) -> ApiResult<NewEmail>,
) -> ApiResult<()> {
    let (token, event) = auth::issue_token(purpose, user, now);
    let (secret, hash) = secrets::new_secret();
    let message = email(&secret, &token)?;
    state
        .store
        .insert_one_time_token(&IssuedToken { hash, token }, &[event], &[message])
        .await?;
    Ok(())
}

async fn send_verification(state: &AppState, user: &User, now: Timestamp) -> ApiResult<()> {
    // The account created at sign-up, named in the email; a user has at least that one.
    let account_name = state
        .store
        .accounts_of_user(user.id)
        .await?
        .into_iter()
        .next()
        .map(|a| a.name)
        .unwrap_or_else(|| user.display_name.clone());
    issue(
        state,
        user,
        TokenPurpose::VerifyEmail,
        now,
        |secret, token| {
            notify::verify_email(
                &state.mail,
                user,
                secret,
                &account_name,
                token.expires_at,
                now,
            )
            .map_err(ApiError::from)
        },
    )
    .await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    /// The `token` parameter of the emailed link.
    pub token: String,
}

/// The problem for a token that does not work.
fn token_problem(refusal: TokenRefusal) -> ApiError {
    let kind = match refusal {
        TokenRefusal::Unknown => ProblemKind::InvalidToken,
        TokenRefusal::Expired => ProblemKind::TokenExpired,
        TokenRefusal::Used => ProblemKind::TokenUsed,
    };
    ApiError::new(kind, refusal.text())
}

/// The stored token the client's secret names, usable for `purpose` now, and its user.
async fn usable(
    state: &AppState,
    secret: &str,
    purpose: TokenPurpose,
    now: Timestamp,
) -> ApiResult<(vitrine_store::SecretHash, OneTimeToken, User)> {
    let hash = secrets::hash_secret(secret.trim());
    let stored = state.store.one_time_token(&hash).await?;
    let token = auth::usable_token(stored.as_ref(), purpose, now).map_err(token_problem)?;
    let user = state
        .store
        .user(token.user_id)
        .await?
        .ok_or_else(|| token_problem(TokenRefusal::Unknown))?;
    Ok((hash, token.clone(), user))
}

/// A token used meanwhile by a concurrent request is answered as used.
fn redeemed(result: Result<(), StoreError>) -> ApiResult<()> {
    match result {
        Err(StoreError::Conflict { what: "token" }) => Err(token_problem(TokenRefusal::Used)),
        other => Ok(other?),
    }
}

/// Confirms the address with the token of the emailed link (once, within 48 hours of
/// sending) and signs the user in: the session cookie is set exactly as by sign-in.
/// A token that does not work: `400 invalid-token` (unknown), `410 token-expired`,
/// `410 token-used`; nothing is changed.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = tags::AUTH, security(()),
    request_body = TokenInput,
    responses(
        (status = 200, description = "Confirmed and signed in; `Set-Cookie: vitrine_session=…`",
            body = MeView),
        (status = 400, response = Problem),
        (status = 410, response = Problem),
    ))]
pub async fn verify_email(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<TokenInput>,
) -> ApiResult<Response> {
    let now = state.clock.now();
    let (hash, token, user) = usable(&state, &input.token, TokenPurpose::VerifyEmail, now).await?;
    let (_, verified, event) = auth::verify_email(&token, &user, now)?;
    redeemed(
        state
            .store
            .redeem_one_time_token(&hash, now, &verified, None, &[event])
            .await,
    )?;
    session::signed_in(&state, &verified).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailInput {
    #[schema(pattern = "vitrine:email")]
    pub email: String,
}

/// Confirmation and password-reset emails: so many an hour from one client address, and
/// so many to one email address. Counted whether or not the address has an account, so a
/// refusal says nothing about which addresses do.
fn limit_emails(state: &AppState, client: &ClientAddress, email: &Email) -> ApiResult<()> {
    // The address first: a request refused for it does not use up the client's own.
    state
        .limits
        .check(Limit::EmailsPerRecipient, email.as_str())?;
    state.limits.check_client(Limit::EmailsPerClient, client)
}

/// Emails a new confirmation link to a user who signed up and has not confirmed their
/// address. Always answers 202 (unless the address is malformed), whether or not the
/// address has an account or is already confirmed.
#[utoipa::path(post, path = "/api/v1/auth/verify-email/resend", tag = tags::AUTH, security(()),
    request_body = EmailInput,
    responses((status = 202, description = "If the address awaits confirmation, a new link \
        is on its way", body = EmailSent), (status = 422, response = Problem),
        (status = 429, response = Problem)))]
pub async fn resend_verification(
    State(state): State<AppState>,
    client: ClientAddress,
    ApiJson(input): ApiJson<EmailInput>,
) -> ApiResult<(StatusCode, Json<EmailSent>)> {
    let now = state.clock.now();
    let email = Email::parse("email", &input.email)?;
    limit_emails(&state, &client, &email)?;
    if let Some((user, _)) = state.store.user_by_email(&email).await?
        && user.email_verified_at.is_none()
    {
        send_verification(&state, &user, now).await?;
    }
    Ok(accepted(email))
}

/// Emails a link to choose a new password (valid once, for 1 hour) if the address has an
/// account. Always answers 202 (unless the address is malformed).
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = tags::AUTH, security(()),
    request_body = EmailInput,
    responses((status = 202, description = "If the address has an account, a link is on its \
        way", body = EmailSent), (status = 422, response = Problem),
        (status = 429, response = Problem)))]
pub async fn request_password_reset(
    State(state): State<AppState>,
    client: ClientAddress,
    ApiJson(input): ApiJson<EmailInput>,
) -> ApiResult<(StatusCode, Json<EmailSent>)> {
    let now = state.clock.now();
    let email = Email::parse("email", &input.email)?;
    limit_emails(&state, &client, &email)?;
    if let Some((user, _)) = state.store.user_by_email(&email).await? {
        issue(
            &state,
            &user,
            TokenPurpose::ResetPassword,
            now,
            |secret, token| {
                notify::password_reset(&state.mail, &user, secret, token.expires_at, now)
                    .map_err(ApiError::from)
            },
        )
        .await?;
    }
    Ok(accepted(email))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    /// The `token` parameter of the emailed link.
    pub token: String,
    /// At least 10 characters.
    #[schema(pattern = "vitrine:password")]
    pub new_password: String,
}

/// Sets a new password with the token of the emailed link. Also confirms the address
/// (receiving the link proves it), ends every session of the user, and forgets their failed
/// sign-ins. Does not sign in: the user signs in with the new password.
/// A token that does not work: `400 invalid-token`, `410 token-expired`, `410 token-used`
/// (checked before the password); a password too short or too long: `422`. Nothing is
/// changed then.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = tags::AUTH,
    security(()),
    request_body = PasswordResetConfirm,
    responses(
        (status = 204, description = "The password is changed; every session ended"),
        (status = 400, response = Problem),
        (status = 410, response = Problem),
    ))]
pub async fn confirm_password_reset(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<PasswordResetConfirm>,
) -> ApiResult<StatusCode> {
    let now = state.clock.now();
    let (hash, token, user) =
        usable(&state, &input.token, TokenPurpose::ResetPassword, now).await?;
    let (_, next, event) = auth::reset_password(&token, &user, &input.new_password, now)?;
    let password_hash = secrets::hash_password(input.new_password)
        .await
        .map_err(|e| ApiError::internal("hashing a password", e))?;
    redeemed(
        state
            .store
            .redeem_one_time_token(&hash, now, &next, Some(&password_hash), &[event])
            .await,
    )?;
    state.store.clear_sign_in_attempts(&next.email).await?;
    Ok(StatusCode::NO_CONTENT)
}
