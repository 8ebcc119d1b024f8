//! The audit log: admins read all of it (and export it as CSV); everyone else what
//! concerns their accounts and their offerings. Every record carries the names of who and
//! what it names, and the log is filtered by name as well as by id.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use vitrine_domain::audit::{AuditRecord, SubjectKind};
use vitrine_domain::permissions::AuditScope;
use vitrine_domain::tr;
use vitrine_domain::user::Email;
use vitrine_domain::{AccountId, OfferingId, UserId};
use vitrine_store::AuditQuery;

use crate::common::tags;
use vitrine_http::AppState;
use vitrine_http::auth::SignedIn;
use vitrine_http::extract::ApiQuery;
use vitrine_http::paging::{decode_cursor_as, next_cursor, page_limit};
use vitrine_http::problem::{ApiError, ApiResult, Problem};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    pub account: Option<AccountId>,
    pub offering: Option<OfferingId>,
    /// The offering by its name.
    pub offering_name: Option<String>,
    /// Who made the change.
    pub actor: Option<UserId>,
    /// Who made the change, by email address.
    #[param(pattern = "vitrine:email")]
    pub actor_email: Option<String>,
    /// Exact action name, such as `offering.visibility_changed`.
    pub action: Option<String>,
    pub subject_kind: Option<SubjectKind>,
    /// `next_cursor` of the previous page (empty: the first page).
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// The filters of the export: those of the log, without paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditExportParams {
    pub account: Option<AccountId>,
    pub offering: Option<OfferingId>,
    /// The offering by its name.
    pub offering_name: Option<String>,
    pub actor: Option<UserId>,
    /// Who made the change, by email address.
    #[param(pattern = "vitrine:email")]
    pub actor_email: Option<String>,
    pub action: Option<String>,
    pub subject_kind: Option<SubjectKind>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub items: Vec<AuditRecord>,
    pub next_cursor: Option<String>,
}

/// The store's query for these filters, within what the caller may read.
fn audit_query(
    caller: &vitrine_http::auth::Caller,
    filters: AuditExportParams,
) -> ApiResult<AuditQuery> {
    let accounts = match caller.actor.audit_scope() {
        AuditScope::All => None,
        AuditScope::Accounts(ids) => Some(ids),
    };
    let actor_email = filters
        .actor_email
        .as_deref()
        .map(|e| Email::parse("actor_email", e))
        .transpose()?;
    Ok(AuditQuery {
        accounts,
        account: filters.account,
        offering: filters.offering,
        offering_name: filters.offering_name,
        actor: filters.actor,
        actor_email,
        subject_kind: filters.subject_kind,
        action: filters.action,
        before_seq: None,
        limit: 0,
    })
}

/// Audit records you may read, newest first, each with the names of who and what it names.
#[utoipa::path(get, path = "/api/v1/audit", tag = tags::AUDIT,
    params(AuditParams),
    responses((status = 200, body = AuditPage), (status = 422, response = Problem)))]
pub async fn list_audit(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> ApiResult<Json<AuditPage>> {
    let limit = page_limit(params.limit)?;
    let before_seq = decode_cursor_as(params.cursor.as_deref(), |s| s.parse::<i64>().ok())?;
    let filters = AuditExportParams {
        account: params.account,
        offering: params.offering,
        offering_name: params.offering_name,
        actor: params.actor,
        actor_email: params.actor_email,
        action: params.action,
        subject_kind: params.subject_kind,
    };
    let query = AuditQuery {
        before_seq,
        limit: limit + 1,
        ..audit_query(&caller, filters)?
    };
    let mut items = state.store.audit(&query).await?;
    if query.accounts.is_some() {
        // Not an admin: decisions held until decision day stay hidden here too.
        for item in items
            .iter_mut()
            .filter(|r| r.event.subject_kind == SubjectKind::Submission)
        {
            for summary in [&mut item.event.before, &mut item.event.after]
                .into_iter()
                .flatten()
            {
                vitrine_domain::go_live::hide_held_decision(summary);
            }
        }
    }
    let next_cursor = next_cursor(&mut items, limit, |r| r.seq.to_string());
    Ok(Json(AuditPage { items, next_cursor }))
}

/// Records read from the store per statement while exporting.
const EXPORT_BATCH: u32 = 500;

/// The columns of the export, in order.
const EXPORT_COLUMNS: [&str; 14] = [
    "seq",
    "at",
    "actor_name",
    "actor_email",
    "actor",
    "action",
    "subject_kind",
    "subject_id",
    "account_name",
    "account_id",
    "offering_name",
    "offering_id",
    "before",
    "after",
];

/// The audit log as CSV (RFC 4180, UTF-8, a header row), newest first, for admins. The
/// filters are the log's; the body streams, read from the store in batches.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = tags::AUDIT,
    params(AuditExportParams),
    responses(
        (status = 200, description = "The records as CSV", body = String, content_type = "text/csv"),
        (status = 403, response = Problem), (status = 422, response = Problem)))]
pub async fn export_audit(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiQuery(params): ApiQuery<AuditExportParams>,
) -> ApiResult<Response> {
    caller.actor.require_admin(tr!(
        "audit.export_admin_only",
        "only admins export the audit log",
        "seuls les administrateurs exportent le journal d’audit"
    ))?;
    let query = AuditQuery {
        limit: EXPORT_BATCH,
        ..audit_query(&caller, params)?
    };
    let filename = format!(
        "attachment; filename=\"vitrine-audit-{}.csv\"",
        state.clock.now().to_zoned(jiff::tz::TimeZone::UTC).date()
    );
    let header_row = csv_rows([EXPORT_COLUMNS.map(str::to_owned).to_vec()])?;
    // Each step reads one batch strictly before the previous one's oldest record; a short
    // batch is the last. A failure mid-way cuts the body (the client sees a broken
    // transfer, not a well-formed partial file: no length is declared) and is logged.
    let batches = stream::try_unfold(Some(query), move |next| {
        let state = state.clone();
        async move {
            let Some(query) = next else {
                return Ok::<_, ApiError>(None);
            };
            let records = state.store.audit(&query).await?;
            if records.is_empty() {
                return Ok(None);
            }
            let following = (records.len() == query.limit as usize)
                .then(|| records.last().map(|last| last.seq))
                .flatten()
                .map(|seq| AuditQuery {
                    before_seq: Some(seq),
                    ..query.clone()
                });
            Ok(Some((csv_rows(records.iter().map(export_row))?, following)))
        }
    });
    let body = stream::once(async move { Ok::<_, ApiError>(header_row) })
        .chain(batches)
        .map(|batch| {
            batch.map(bytes::Bytes::from).map_err(|e| {
                tracing::error!(error = ?e, "the audit export stopped");
                std::io::Error::other("the audit export stopped")
            })
        });
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// One record as the export's cells, in [`EXPORT_COLUMNS`]' order.
fn export_row(record: &AuditRecord) -> Vec<String> {
    let id = |v: Option<String>| v.unwrap_or_default();
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let json =
        |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
    let event = &record.event;
    vec![
        record.seq.to_string(),
        event.at.to_string(),
        text(&record.names.actor_name),
        text(&record.names.actor_email),
        id(event.actor.map(|a| a.to_string())),
        event.action.clone(),
        event.subject_kind.as_str().to_owned(),
        event.subject_id.clone(),
        text(&record.names.account_name),
        id(event.account_id.map(|a| a.to_string())),
        text(&record.names.offering_name),
        id(event.offering_id.map(|o| o.to_string())),
        json(&event.before),
        json(&event.after),
    ]
}

/// Rows as CSV. A cell a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, or a
/// tab or carriage return first) is prefixed with `'`: names are typed by users, and an
/// export is opened in spreadsheets.
fn csv_rows(rows: impl IntoIterator<Item = Vec<String>>) -> ApiResult<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        let cells = row.into_iter().map(|cell| {
            if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                format!("'{cell}")
            } else {
                cell
            }
        });
        writer
            .write_record(cells)
            .map_err(|e| ApiError::internal("write an audit CSV row", e))?;
    }
    writer
        .into_inner()
        .map_err(|e| ApiError::internal("finish the audit CSV", e.into_error()))
}
