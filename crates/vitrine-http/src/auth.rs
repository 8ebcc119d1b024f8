//! Who is calling: a personal API token (`Authorization: Bearer vit_…`) or a session
//! cookie (`vitrine_session`). Both are random secrets of which only the SHA-256 is
//! stored. Who a secret belongs to, with their memberships, is kept for at most the cache
//! time-to-live (see [`crate::cache`]): a removed member or a revoked token loses access at
//! once on the server that made the change, and within that time on every other.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use vitrine_domain::{Account, Actor, Audience, Timestamp, User, UserId, tr};
use vitrine_store::SecretHash;

use crate::AppState;
use crate::problem::{ApiError, ApiResult, ProblemKind};
use crate::secrets::hash_secret;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "vitrine_session";
/// How long a session lasts after sign-in.
pub const SESSION_DAYS: i64 = 30;

/// How the caller proved who they are.
#[derive(Clone, Debug)]
pub enum Credential {
    /// A session cookie; the hash of its secret, to end it at sign-out.
    Session(SecretHash),
    ApiToken,
}

/// A signed-in caller.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: User,
    pub actor: Actor,
    /// The accounts the caller is a member of, ordered by name.
    pub accounts: Vec<Account>,
    pub credential: Credential,
}

impl Caller {
    pub fn audience(&self) -> Audience {
        Audience::of(Some(&self.actor))
    }
}

/// The caller, who must be signed in (401 otherwise).
pub struct SignedIn(pub Caller);

/// The caller if signed in; anonymous otherwise. A bearer token that is wrong is still an
/// error (401): the client meant to sign in and should know it did not.
pub struct MaybeSignedIn(pub Option<Caller>);

impl MaybeSignedIn {
    pub fn audience(&self) -> Audience {
        Audience::of(self.0.as_ref().map(|c| &c.actor))
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        authenticate(&parts.headers, state)
            .await?
            .map(SignedIn)
            .ok_or_else(ApiError::unauthenticated)
    }
}

impl FromRequestParts<AppState> for MaybeSignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        authenticate(&parts.headers, state).await.map(MaybeSignedIn)
    }
}

async fn authenticate(headers: &HeaderMap, state: &AppState) -> ApiResult<Option<Caller>> {
    let key = if let Some(authorization) = headers.get(header::AUTHORIZATION) {
        bearer_token(authorization).map(|token| (true, hash_secret(token)))
    } else {
        session_cookie(headers).map(|secret| (false, hash_secret(secret)))
    };
    let Some(key) = key else {
        // No credential, or a malformed Authorization header (which is an error).
        return Ok(authenticate_uncached(headers, state).await?.0);
    };
    let (caller, expires_at) = state
        .caches
        .callers
        .get_or_compute(key, || authenticate_uncached(headers, state))
        .await?;
    // A session that ended by the injected clock is not taken from the cache.
    if expires_at.is_some_and(|at| at <= state.clock.now()) {
        return Ok(authenticate_uncached(headers, state).await?.0);
    }
    Ok(caller)
}

/// Who a secret belongs to, and when the credential expires (sessions; tokens do not).
pub type Authenticated = (Option<Caller>, Option<Timestamp>);

impl crate::cache::Weigh for Authenticated {
    fn weight(&self) -> u64 {
        1
    }
}

/// The caller, and when their credential expires (sessions; tokens do not expire).
async fn authenticate_uncached(headers: &HeaderMap, state: &AppState) -> ApiResult<Authenticated> {
    let now = state.clock.now();
    let (user_id, credential, expires_at) =
        if let Some(authorization) = headers.get(header::AUTHORIZATION) {
            let token = bearer_token(authorization).ok_or_else(|| {
                ApiError::new(
                    ProblemKind::Unauthenticated,
                    tr!(
                        "auth.bearer_malformed",
                        "the Authorization header must be `Bearer <token>`",
                        "l’en-tête Authorization doit être `Bearer <jeton>`"
                    ),
                )
            })?;
            let user = state
                .store
                .token_user(&hash_secret(token), now)
                .await?
                .ok_or_else(|| {
                    ApiError::new(
                        ProblemKind::Unauthenticated,
                        tr!(
                            "auth.token_unknown",
                            "the API token is unknown or revoked",
                            "le jeton d’API est inconnu ou révoqué"
                        ),
                    )
                })?;
            (user, Credential::ApiToken, None)
        } else if let Some(secret) = session_cookie(headers) {
            let hash = hash_secret(secret);
            // A stale cookie (expired, or ended on another device) is not an error: the
            // browser is simply anonymous now.
            match state.store.session_user(&hash, now).await? {
                Some((user, expires_at)) => (user, Credential::Session(hash), Some(expires_at)),
                None => return Ok((None, None)),
            }
        } else {
            return Ok((None, None));
        };
    Ok((caller(state, user_id, credential).await?, expires_at))
}

/// Loads the user and their memberships. `None` if the user no longer exists.
pub async fn caller(
    state: &AppState,
    user_id: UserId,
    credential: Credential,
) -> ApiResult<Option<Caller>> {
    let Some(user) = state.store.user(user_id).await? else {
        return Ok(None);
    };
    let accounts = state.store.accounts_of_user(user.id).await?;
    let actor = vitrine_domain::account::actor_of(user.id, user.staff, &accounts);
    Ok(Some(Caller {
        user,
        actor,
        accounts,
        credential,
    }))
}

fn bearer_token(value: &HeaderValue) -> Option<&str> {
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// `Set-Cookie` value that starts a session.
pub fn session_cookie_header(secret: &str, secure: bool) -> String {
    let max_age = SESSION_DAYS * 24 * 60 * 60;
    let secure = if secure { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// `Set-Cookie` value that makes the browser forget the session.
pub fn clear_session_cookie_header(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}

/// Loads a submission the caller may see (404 otherwise: one that is not theirs to see is
/// not there for them) and the party they play in it. The API's and the revisions' routes
/// start from it.
pub async fn visible_submission(
    state: &crate::AppState,
    caller: &Caller,
    id: vitrine_domain::SubmissionId,
) -> crate::problem::ApiResult<(
    vitrine_domain::go_live::Submission,
    vitrine_domain::submission::Party,
)> {
    let s = state
        .store
        .submission(id)
        .await?
        .ok_or_else(crate::problem::ApiError::not_found)?;
    let party = s.require_visible_to(&caller.actor)?;
    Ok((s, party))
}
