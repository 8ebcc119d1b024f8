//! The webhooks' JSON API: an account's endpoints (its owners and admins) and the
//! marketplace's (admins), each endpoint's secret shown once (on creation and rotation),
//! its delivery log, and hand redelivery. Thin, as every route: rules in
//! `vitrine-webhook-rules`, storage in [`crate::store`].

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use vitrine_domain::{AccountId, Timestamp, tr};
use vitrine_http::AppState;
use vitrine_http::auth::{Caller, SignedIn};
use vitrine_http::extract::{ApiJson, ApiPath, ApiQuery};
use vitrine_http::paging::{PageParams, decode_cursor_as, next_cursor, page_limit};
use vitrine_http::problem::{ApiError, ApiResult, Problem, ProblemKind};
use vitrine_webhook_rules::{self as webhooks, Endpoint, EndpointInput, Owner, WebhookEndpointId};

use crate::sign;
use crate::store::{
    AttemptRow, DeliveryRow, SecretChange, StoredEndpoint, WebhookStore, timestamp,
};

pub const TAG: &str = "webhooks";

/// An endpoint with its secret, shown this once (on creation and on rotation).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EndpointWithSecret {
    pub endpoint: Endpoint,
    /// `whsec_` + base64 of 32 random bytes: the Standard Webhooks signing secret. Never
    /// shown again; rotate to get a new one.
    pub secret: String,
}

/// One message to an endpoint, and how its attempts went.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    /// The `webhook-id` header: the same on every attempt and redelivery.
    pub message_id: String,
    /// `pending`, `delivered`, `failed` (gave up after a day) or `skipped` (not an event
    /// this endpoint may receive; never sent).
    pub state: String,
    /// Sent again by hand.
    pub manual: bool,
    pub attempts: i32,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When the next attempt is due (pending deliveries).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_attempt_at: Option<Timestamp>,
    /// The receiver's status code at the last attempt.
    pub last_status: Option<i32>,
    /// Why the last attempt failed without an answer (refused address, timeout, …).
    pub last_error: Option<String>,
    /// The first KiB of the receiver's last answer.
    #[schema(max_length = 1024)]
    pub last_excerpt: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
    /// Every attempt, oldest first (at most the first try and the seven retries).
    pub attempt_log: Vec<AttemptView>,
}

/// One attempt of a delivery: what the receiver answered, or why it did not.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// The receiver's status code; `null` without an answer.
    pub status: Option<i32>,
    /// How long the request took, in milliseconds.
    pub duration_ms: Option<i32>,
    /// The first KiB of the answer.
    #[schema(max_length = 1024)]
    pub excerpt: Option<String>,
    /// Why there was no answer (refused address, timeout, …).
    pub error: Option<String>,
}

impl AttemptView {
    fn of(row: AttemptRow) -> ApiResult<Self> {
        Ok(AttemptView {
            at: timestamp(row.attempted_at)?,
            status: row.status,
            duration_ms: row.duration_ms,
            excerpt: row.excerpt,
            error: row.error,
        })
    }
}

impl DeliveryView {
    fn of(row: DeliveryRow, attempts: Vec<AttemptRow>) -> ApiResult<Self> {
        let pending = row.state == crate::store::PENDING;
        let at = |us: Option<i64>| us.map(timestamp).transpose();
        Ok(DeliveryView {
            id: row.id,
            message_id: row.message_id,
            manual: row.manual,
            attempts: row.attempts,
            created_at: timestamp(row.created_at)?,
            next_attempt_at: if pending {
                Some(timestamp(row.next_attempt_at)?)
            } else {
                None
            },
            last_attempt_at: at(row.last_attempt_at)?,
            last_status: row.last_status,
            last_error: row.last_error,
            last_excerpt: row.last_excerpt,
            finished_at: at(row.finished_at)?,
            state: row.state,
            attempt_log: attempts
                .into_iter()
                .map(AttemptView::of)
                .collect::<ApiResult<_>>()?,
        })
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryPage {
    /// Newest first.
    pub items: Vec<DeliveryView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EndpointList {
    pub items: Vec<Endpoint>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EndpointPath {
    pub id: WebhookEndpointId,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AccountPath {
    pub id: AccountId,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DeliveryPath {
    pub id: WebhookEndpointId,
    pub delivery_id: i64,
}

fn store(state: &AppState) -> WebhookStore<'_> {
    WebhookStore::new(state.store.as_ref())
}

fn sealer(state: &AppState) -> ApiResult<&vitrine_checks::Sealer> {
    state.checks.as_ref().map(|c| c.sealer()).ok_or_else(|| {
        ApiError::new(
            ProblemKind::Unavailable,
            tr!(
                "webhooks.off",
                "webhooks are off on this server: its secret key could not be read",
                "les webhooks sont désactivés sur ce serveur : sa clé secrète n’a pas pu être lue"
            ),
        )
    })
}

/// Loopback, private and link-local receivers are refused unless the operator allows
/// them (the same setting as the broker checks'); every delivery checks the resolved
/// addresses again.
fn check_address(state: &AppState, url: &str) -> ApiResult<()> {
    let allow = state.config.checks.policy.allow_private_addresses;
    let refusal = url::Url::parse(url)
        .ok()
        .and_then(|url| vitrine_outbound::refuse_literal(&url, allow));
    match refusal {
        None => Ok(()),
        Some(_) => Err(ApiError::invalid_field(
            "url",
            tr!(
                "webhooks.url_private",
                "this address is a loopback, private or link-local one, which vitrine does not call",
                "cette adresse est une adresse locale, privée ou de lien local, que vitrine n’appelle pas"
            ),
        )),
    }
}

fn secret_of(state: &AppState) -> ApiResult<(String, Vec<u8>)> {
    let secret = sign::new_secret();
    let sealed = sealer(state)?
        .seal(&secret)
        .map_err(|e| ApiError::internal("sealing a webhook secret", e))?;
    Ok((secret, sealed))
}

/// The endpoint, if the caller may read it; 404 otherwise (an endpoint of another
/// account does not exist for them).
async fn readable(
    state: &AppState,
    caller: &Caller,
    id: WebhookEndpointId,
) -> ApiResult<StoredEndpoint> {
    let stored = store(state)
        .endpoint(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    stored
        .endpoint
        .owner
        .require_reader(&caller.actor)
        .map_err(|_| ApiError::not_found())?;
    Ok(stored)
}

async fn create(
    state: &AppState,
    caller: &Caller,
    owner: Owner,
    input: EndpointInput,
) -> ApiResult<(StatusCode, Json<EndpointWithSecret>)> {
    owner.require_reader(&caller.actor)?;
    let provider = match owner {
        Owner::Account(id) => state
            .store
            .account(id)
            .await?
            .ok_or_else(ApiError::not_found)?
            .provider_status()
            .is_some(),
        Owner::Marketplace => false,
    };
    let existing = store(state).endpoints_of(owner).await?.len();
    let (endpoint, event) = webhooks::create(
        &caller.actor,
        owner,
        provider,
        existing,
        input,
        state.clock.now(),
    )?;
    check_address(state, &endpoint.url)?;
    let (secret, sealed) = secret_of(state)?;
    store(state)
        .insert_endpoint(&endpoint, &sealed, &[event])
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(EndpointWithSecret { endpoint, secret }),
    ))
}

async fn list(state: &AppState, caller: &Caller, owner: Owner) -> ApiResult<Json<EndpointList>> {
    owner.require_reader(&caller.actor)?;
    if let Owner::Account(id) = owner {
        state
            .store
            .account(id)
            .await?
            .ok_or_else(ApiError::not_found)?;
    }
    Ok(Json(EndpointList {
        items: store(state).endpoints_of(owner).await?,
    }))
}

/// An account's webhook endpoints.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/webhooks", tag = TAG, params(AccountPath),
    responses(
        (status = 200, description = "The account's endpoints", body = EndpointList),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, description = "No such account, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_account_webhooks(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(path): ApiPath<AccountPath>,
) -> ApiResult<Json<EndpointList>> {
    list(&state, &caller, Owner::Account(path.id)).await
}

/// Registers an endpoint for an account (its owners, admins). The answer carries the
/// signing secret, shown this once.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/webhooks", tag = TAG, params(AccountPath),
    request_body = EndpointInput,
    responses(
        (status = 201, description = "Registered; the secret is shown this once", body = EndpointWithSecret),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, description = "No such account, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a provider account, or 10 endpoints already", body = Problem, content_type = "application/problem+json"),
        (status = 422, response = Problem),
        (status = 503, description = "The server's secret key could not be read", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_account_webhook(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(path): ApiPath<AccountPath>,
    ApiJson(input): ApiJson<EndpointInput>,
) -> ApiResult<(StatusCode, Json<EndpointWithSecret>)> {
    create(&state, &caller, Owner::Account(path.id), input).await
}

/// The marketplace's webhook endpoints (admins).
#[utoipa::path(get, path = "/api/v1/marketplace/webhooks", tag = TAG,
    responses(
        (status = 200, description = "The marketplace's endpoints", body = EndpointList),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
    ))]
pub async fn list_marketplace_webhooks(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
) -> ApiResult<Json<EndpointList>> {
    list(&state, &caller, Owner::Marketplace).await
}

/// Registers an endpoint of the marketplace (admins): it receives every event.
#[utoipa::path(post, path = "/api/v1/marketplace/webhooks", tag = TAG,
    request_body = EndpointInput,
    responses(
        (status = 201, description = "Registered; the secret is shown this once", body = EndpointWithSecret),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 409, description = "10 endpoints already", body = Problem, content_type = "application/problem+json"),
        (status = 422, response = Problem),
        (status = 503, description = "The server's secret key could not be read", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_marketplace_webhook(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiJson(input): ApiJson<EndpointInput>,
) -> ApiResult<(StatusCode, Json<EndpointWithSecret>)> {
    create(&state, &caller, Owner::Marketplace, input).await
}

/// One endpoint.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = TAG, params(EndpointPath),
    responses(
        (status = 200, description = "The endpoint", body = Endpoint),
        (status = 401, response = Problem),
        (status = 404, description = "No such endpoint, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_webhook(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(path): ApiPath<EndpointPath>,
) -> ApiResult<Json<Endpoint>> {
    Ok(Json(readable(&state, &caller, path.id).await?.endpoint))
}

/// Changes an endpoint: URL, description, events, enabled (enabling it again after vitrine
/// disabled it resumes its waiting deliveries, in order).
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = TAG, params(EndpointPath),
    request_body = EndpointInput,
    responses(
        (status = 200, description = "Changed", body = Endpoint),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, description = "No such endpoint, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Changed meanwhile by someone else", body = Problem, content_type = "application/problem+json"),
        (status = 422, response = Problem),
    ))]
pub async fn update_webhook(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(path): ApiPath<EndpointPath>,
    ApiJson(input): ApiJson<EndpointInput>,
) -> ApiResult<Json<Endpoint>> {
    let stored = readable(&state, &caller, path.id).await?;
    let (next, event) =
        webhooks::update(&caller.actor, &stored.endpoint, input, state.clock.now())?;
    check_address(&state, &next.url)?;
    store(&state)
        .update_endpoint(&next, &SecretChange::Keep, &[event], &[])
        .await?;
    Ok(Json(next))
}

/// Removes an endpoint and its delivery log.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = TAG, params(EndpointPath),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, description = "No such endpoint, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Changed meanwhile by someone else", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(path): ApiPath<EndpointPath>,
) -> ApiResult<StatusCode> {
    let stored = readable(&state, &caller, path.id).await?;
    let event = webhooks::delete(&caller.actor, &stored.endpoint, state.clock.now())?;
    store(&state)
        .delete_endpoint(&stored.endpoint, &[event])
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new signing secret, shown this once; the previous one signs too for 24 hours
/// (`webhook-signature` then carries both), so receivers can switch without a gap.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", tag = TAG, params(EndpointPath),
    responses(
        (status = 200, description = "Rotated; the new secret is shown this once", body = EndpointWithSecret),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, description = "No such endpoint, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Changed meanwhile by someone else", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The server's secret key could not be read", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn rotate_webhook_secret(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(path): ApiPath<EndpointPath>,
) -> ApiResult<Json<EndpointWithSecret>> {
    let stored = readable(&state, &caller, path.id).await?;
    let (endpoint, event) = webhooks::rotate(&caller.actor, &stored.endpoint, state.clock.now())?;
    let (secret, sealed) = secret_of(&state)?;
    store(&state)
        .update_endpoint(&endpoint, &SecretChange::Rotate(sealed), &[event], &[])
        .await?;
    Ok(Json(EndpointWithSecret { endpoint, secret }))
}

/// The endpoint's delivery log, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = TAG, params(EndpointPath, PageParams),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryPage),
        (status = 401, response = Problem),
        (status = 404, description = "No such endpoint, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
        (status = 422, response = Problem),
    ))]
pub async fn list_webhook_deliveries(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(path): ApiPath<EndpointPath>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<DeliveryPage>> {
    let stored = readable(&state, &caller, path.id).await?;
    let limit = page_limit(params.limit)?;
    let before = decode_cursor_as(params.cursor.as_deref(), |p| p.parse::<i64>().ok())?;
    let mut rows = store(&state)
        .deliveries(stored.endpoint.id, before, limit + 1)
        .await?;
    let next_cursor = next_cursor(&mut rows, limit, |row| row.id.to_string());
    // The page's attempts in one read: its deliveries' ids are one range of the endpoint's.
    let (from, to) = rows.iter().fold((i64::MAX, i64::MIN), |(lo, hi), r| {
        (lo.min(r.id), hi.max(r.id))
    });
    let mut attempts: std::collections::BTreeMap<i64, Vec<AttemptRow>> = Default::default();
    if !rows.is_empty() {
        for attempt in store(&state).attempts(stored.endpoint.id, from, to).await? {
            attempts
                .entry(attempt.delivery_id)
                .or_default()
                .push(attempt);
        }
    }
    let items = rows
        .into_iter()
        .map(|row| {
            let tried = attempts.remove(&row.id).unwrap_or_default();
            DeliveryView::of(row, tried)
        })
        .collect::<ApiResult<_>>()?;
    Ok(Json(DeliveryPage { items, next_cursor }))
}

/// Sends a delivery again, with the same `webhook-id`, after what the endpoint already
/// has waiting; at most 10 an hour per endpoint.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = TAG, params(DeliveryPath),
    responses(
        (status = 202, description = "Queued again", body = DeliveryView),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, description = "No such endpoint or delivery, or a skipped one", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "10 redeliveries this hour already", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn redeliver_webhook(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(path): ApiPath<DeliveryPath>,
) -> ApiResult<(StatusCode, Json<DeliveryView>)> {
    let stored = readable(&state, &caller, path.id).await?;
    let now = state.clock.now();
    let hour_ago = now
        .checked_sub(jiff::SignedDuration::from_hours(1))
        .map_err(|e| ApiError::internal("an hour ago", e))?;
    let recent = store(&state)
        .manual_since(stored.endpoint.id, hour_ago)
        .await?;
    let event = webhooks::redeliver(&caller.actor, &stored.endpoint, recent, now)?;
    let id = store(&state)
        .redeliver(stored.endpoint.id, path.delivery_id, now, &[event])
        .await?
        .ok_or_else(ApiError::not_found)?;
    let row = store(&state)
        .deliveries(stored.endpoint.id, Some(id + 1), 1)
        .await?
        .into_iter()
        .next()
        .ok_or_else(ApiError::not_found)?;
    // Queued again: not tried yet.
    Ok((
        StatusCode::ACCEPTED,
        Json(DeliveryView::of(row, Vec::new())?),
    ))
}
