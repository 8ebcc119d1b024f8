//! The outbox, for admins: which emails are pending, sent or failed, and retrying a failed
//! one. Sending is the dispatcher's job (`vitrine_jobs::dispatcher`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vitrine_domain::AuditEvent;
use vitrine_domain::tr;
use vitrine_store::{OutboxEmail, OutboxQuery, OutboxStatus};

use vitrine_http::AppState;
use vitrine_http::auth::SignedIn;
use vitrine_http::extract::{ApiPath, ApiQuery};
use vitrine_http::paging::{decode_cursor_as, next_cursor, page_limit};
use vitrine_http::problem::{ApiError, ApiResult, Problem};

const TAG: &str = "outbox";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_outbox))
        .routes(routes!(retry_outbox))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboxParams {
    /// `pending`, `failed` or `sent`; all when absent.
    #[param(pattern = "^(?:pending|failed|sent)$")]
    pub status: Option<String>,
    /// `next_cursor` of the previous page (empty: the first page).
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OutboxPage {
    /// Newest first.
    pub items: Vec<OutboxEmail>,
    pub next_cursor: Option<String>,
}

/// Emails in the outbox, newest first (admins).
#[utoipa::path(get, path = "/api/v1/outbox", tag = TAG,
    params(OutboxParams),
    responses((status = 200, body = OutboxPage), (status = 403, response = Problem), (status = 422, response = Problem)))]
pub async fn list_outbox(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiQuery(params): ApiQuery<OutboxParams>,
) -> ApiResult<Json<OutboxPage>> {
    caller.actor.require_admin(tr!(
        "outbox.admin_only",
        "only admins read the outbox",
        "seuls les administrateurs lisent la file d’envoi"
    ))?;
    let limit = page_limit(params.limit)?;
    let status = params
        .status
        .as_deref()
        .map(|s| {
            OutboxStatus::parse(s).ok_or_else(|| {
                ApiError::invalid_field(
                    "status",
                    tr!(
                        "outbox.status",
                        "must be pending, failed or sent",
                        "doit être pending, failed ou sent"
                    ),
                )
            })
        })
        .transpose()?;
    let before_id = decode_cursor_as(params.cursor.as_deref(), |s| s.parse::<i64>().ok())?;
    let query = OutboxQuery {
        status,
        before_id,
        limit: limit + 1,
    };
    let mut items = state.store.outbox(&query).await?;
    let next_cursor = next_cursor(&mut items, limit, |e| e.id.to_string());
    Ok(Json(OutboxPage { items, next_cursor }))
}

/// Sends a failed email again: it becomes pending, due now (admins).
#[utoipa::path(post, path = "/api/v1/outbox/{id}/retry", tag = TAG,
    params(("id" = i64, Path, description = "The email's id in the outbox")),
    responses(
        (status = 204, description = "Pending again"),
        (status = 403, response = Problem),
        (status = 404, description = "No failed email with this id", body = Problem,
            content_type = "application/problem+json"),
    ))]
pub async fn retry_outbox(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    caller.actor.require_admin(tr!(
        "outbox.retry_admin_only",
        "only admins retry emails",
        "seuls les administrateurs relancent des e-mails"
    ))?;
    let now = state.clock.now();
    let event = AuditEvent::new(Some(caller.user.id), "outbox.retried", now)
        .subject_user(caller.user.id)
        .after(&serde_json::json!({ "outbox_id": id }));
    state.store.retry_outbox(id, now, &[event]).await?;
    Ok(StatusCode::NO_CONTENT)
}
