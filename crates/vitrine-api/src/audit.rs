//! The audit log: admins read all of it; everyone else what concerns their accounts and
//! their offerings.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use vitrine_domain::audit::{AuditRecord, SubjectKind};
use vitrine_domain::permissions::AuditScope;
use vitrine_domain::{AccountId, OfferingId, UserId};
use vitrine_store::AuditQuery;

use crate::common::tags;
use vitrine_http::AppState;
use vitrine_http::auth::SignedIn;
use vitrine_http::extract::ApiQuery;
use vitrine_http::paging::{decode_cursor_as, next_cursor, page_limit};
use vitrine_http::problem::{ApiResult, Problem};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    pub account: Option<AccountId>,
    pub offering: Option<OfferingId>,
    /// Who made the change.
    pub actor: Option<UserId>,
    /// Exact action name, such as `offering.visibility_changed`.
    pub action: Option<String>,
    pub subject_kind: Option<SubjectKind>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub items: Vec<AuditRecord>,
    pub next_cursor: Option<String>,
}

/// Audit records you may read, newest first.
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
    let accounts = match caller.actor.audit_scope() {
        AuditScope::All => None,
        AuditScope::Accounts(ids) => Some(ids),
    };
    let query = AuditQuery {
        accounts,
        account: params.account,
        offering: params.offering,
        actor: params.actor,
        subject_kind: params.subject_kind,
        action: params.action,
        before_seq,
        limit: limit + 1,
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
