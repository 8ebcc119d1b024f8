//! Email that came back, for admins: the inbound log (every message taken, what it did and
//! why) and the addresses mail bounces from, which an admin clears once fixed. Taking mail
//! is `vitrine-ingest`'s job.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vitrine_domain::tr;
use vitrine_domain::{AuditEvent, SubmissionId, Timestamp, UserId};
use vitrine_store::{InboundEmail, InboundOutcome};

use vitrine_http::AppState;
use vitrine_http::auth::SignedIn;
use vitrine_http::extract::{ApiPath, ApiQuery};
use vitrine_http::paging::{PageParams, decode_cursor_as, next_cursor, page_limit};
use vitrine_http::problem::{ApiResult, Problem};

const TAG: &str = "inbound mail";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_inbound))
        .routes(routes!(list_bouncing))
        .routes(routes!(clear_bouncing))
}

/// One inbound email as the log keeps it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InboundView {
    pub message_id: String,
    #[schema(value_type = String, format = DateTime)]
    pub received_at: Timestamp,
    /// The From address (empty when it had none).
    pub sender: String,
    pub subject: String,
    /// The thread its reply address named, if any.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub submission_id: Option<SubmissionId>,
    /// The person its reply address named, if any.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub user_id: Option<UserId>,
    pub outcome: InboundOutcome,
    /// Why it was refused: `unreadable`, `too-large`, `auto-reply`, `bounce`, `no-reply-key`,
    /// `unknown-key`, `revoked-key`, `forged-sender`, `not-allowed`, `closed`, `empty-reply`.
    pub reason: Option<String>,
    /// Recordings it attached.
    pub recordings: u32,
    /// Its sender was sent a polite answer (refusals only; at most one an hour per sender).
    pub answered: bool,
}

impl From<InboundEmail> for InboundView {
    fn from(e: InboundEmail) -> Self {
        Self {
            message_id: e.message_id,
            received_at: e.received_at,
            sender: e.sender,
            subject: e.subject,
            submission_id: e.submission_id,
            user_id: e.user_id,
            outcome: e.outcome,
            reason: e.reason,
            recordings: e.recordings,
            answered: e.answered,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InboundPage {
    /// Newest first.
    pub items: Vec<InboundView>,
    pub next_cursor: Option<String>,
}

/// The inbound email log, newest first (admins).
#[utoipa::path(get, path = "/api/v1/inbound", tag = TAG,
    params(PageParams),
    responses((status = 200, body = InboundPage), (status = 403, response = Problem), (status = 422, response = Problem)))]
pub async fn list_inbound(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<InboundPage>> {
    caller.actor.require_admin(tr!(
        "inbound.admin_only",
        "only admins read the inbound email log",
        "seuls les administrateurs lisent le journal des e-mails reçus"
    ))?;
    let limit = page_limit(params.limit)?;
    let before = decode_cursor_as(params.cursor.as_deref(), |s| s.parse::<i64>().ok())?;
    let mut rows = state.store.inbound_emails(before, limit + 1).await?;
    let next_cursor = next_cursor(&mut rows, limit, |(seq, _)| seq.to_string());
    Ok(Json(InboundPage {
        items: rows.into_iter().map(|(_, e)| e.into()).collect(),
        next_cursor,
    }))
}

/// An address mail bounced from: nothing is sent to it until it is cleared.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BouncingView {
    pub email: String,
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    /// The Message-ID of the delivery report that said so.
    pub report: String,
}

/// Addresses mail bounces from, by address (admins).
#[utoipa::path(get, path = "/api/v1/bouncing", tag = TAG,
    responses((status = 200, body = Vec<BouncingView>), (status = 403, response = Problem)))]
pub async fn list_bouncing(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
) -> ApiResult<Json<Vec<BouncingView>>> {
    caller.actor.require_admin(tr!(
        "bouncing.admin_only",
        "only admins read the bouncing addresses",
        "seuls les administrateurs lisent les adresses en échec"
    ))?;
    let rows = state.store.bouncing_addresses().await?;
    Ok(Json(
        rows.into_iter()
            .map(|b| BouncingView {
                email: b.email,
                since: b.since,
                report: b.report,
            })
            .collect(),
    ))
}

/// Clears an address's bouncing mark once it is fixed: mail goes to it again (admins).
#[utoipa::path(delete, path = "/api/v1/bouncing/{email}", tag = TAG,
    params(("email" = String, Path, description = "The address")),
    responses(
        (status = 204, description = "Cleared"),
        (status = 403, response = Problem),
        (status = 404, description = "The address is not marked", body = Problem,
            content_type = "application/problem+json"),
    ))]
pub async fn clear_bouncing(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(email): ApiPath<String>,
) -> ApiResult<StatusCode> {
    caller.actor.require_admin(tr!(
        "bouncing.clear_admin_only",
        "only admins clear bouncing addresses",
        "seuls les administrateurs effacent les adresses en échec"
    ))?;
    let event = AuditEvent::new(
        Some(caller.user.id),
        "email.bouncing_cleared",
        state.clock.now(),
    )
    .subject_user(caller.user.id)
    .after(&serde_json::json!({ "address": email }));
    state.store.clear_bouncing(&email, &[event]).await?;
    Ok(StatusCode::NO_CONTENT)
}
