//! The catalog: what the caller may see, searched, filtered and paged. Offerings outside
//! the caller's audience do not exist here: they are left out of lists and counts, and a
//! read answers exactly as for a missing name.
//!
//! Pages are kept in a short-lived cache (see [`crate::cache`]): a change through this
//! server is visible at once, through another server sharing the database within the cache
//! time-to-live. Responses carry a strong ETag (hash of the body) so clients can revalidate
//! cheaply with `If-None-Match`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use vitrine_domain::search;
use vitrine_domain::{AccountId, Localized, Offering, OfferingName, Plan, Timestamp, Visibility};
use vitrine_store::CatalogQuery;

use crate::common::{offering_or_404, tags};
use vitrine_http::AppState;
use vitrine_http::auth::MaybeSignedIn;
use vitrine_http::cache::{CatalogKey, SerialisedPage};
use vitrine_http::extract::{ApiPath, ApiQuery};
use vitrine_http::paging::{catalog_next_cursor, decode_cursor_as, page_limit};
use vitrine_http::problem::{ApiError, ApiResult, Problem};

/// An offering as a customer sees it: no allowlist, no attestations.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CatalogOffering {
    pub name: OfferingName,
    pub provider_account_id: AccountId,
    pub display_name: Localized,
    pub description: Localized,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub documentation_url: Option<String>,
    pub support_contact: Option<String>,
    pub plans: Vec<Plan>,
    /// `limited` while the provider tests it with chosen accounts; `public` once published.
    pub visibility: Visibility,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<Offering> for CatalogOffering {
    fn from(o: Offering) -> Self {
        Self {
            name: o.name,
            provider_account_id: o.provider_account_id,
            display_name: o.display_name,
            description: o.description,
            category: o.category,
            tags: o.tags,
            documentation_url: o.documentation_url,
            support_contact: o.support_contact,
            plans: o.plans,
            visibility: o.visibility,
            updated_at: o.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CatalogParams {
    /// Full-text search: every word must start a word of the offering's names, descriptions
    /// (English or French), tags or category. Case and accents are ignored.
    pub q: Option<String>,
    pub category: Option<String>,
    pub tag: Option<String>,
    /// `next_cursor` of the previous page (empty: the first page).
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CatalogPage {
    /// Ordered by name.
    pub items: Vec<CatalogOffering>,
    /// Matching offerings you may see, on all pages.
    pub total: u64,
    pub next_cursor: Option<String>,
}

/// Offerings you may see: public ones, limited ones that allowlist one of your accounts,
/// your own accounts' offerings; staff see all.
#[utoipa::path(get, path = "/api/v1/catalog", tag = tags::CATALOG,
    security((), ("session" = []), ("bearer" = [])),
    params(CatalogParams),
    responses(
        (status = 200, body = CatalogPage, headers(("ETag" = String, description = "Strong validator of the body"))),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        (status = 422, response = Problem),
    ))]
pub async fn list_catalog(
    State(state): State<AppState>,
    caller: MaybeSignedIn,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<CatalogParams>,
) -> ApiResult<Response> {
    let limit = page_limit(params.limit)?;
    let after = decode_cursor_as(params.cursor.as_deref(), |s| {
        OfferingName::parse("cursor", s).ok()
    })?;
    let key = CatalogKey {
        audience: caller.audience(),
        terms: params.q.as_deref().map(search::terms).unwrap_or_default(),
        // Categories and tags are stored lowercase and trimmed; compare them the same way.
        category: normalised_filter(params.category),
        tag: normalised_filter(params.tag),
        after,
        limit,
    };
    let (body, etag) = state
        .caches
        .catalog
        .get_or_compute(key.clone(), || catalog_page(&state, key))
        .await?;
    etagged(&headers, body, &etag)
}

async fn catalog_page(state: &AppState, key: CatalogKey) -> ApiResult<SerialisedPage> {
    let query = CatalogQuery {
        audience: key.audience,
        terms: key.terms,
        category: key.category,
        tag: key.tag,
        provider: None,
        after: key.after,
        limit: key.limit,
    };
    let page = state.store.catalog(&query).await?;
    let next_cursor = catalog_next_cursor(&page);
    let body = CatalogPage {
        items: page.items.into_iter().map(CatalogOffering::from).collect(),
        total: page.total,
        next_cursor,
    };
    serialise_with_etag(&body)
}

fn normalised_filter(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_lowercase())
        .filter(|v| !v.is_empty())
}

/// One offering you may see; 404, identical to a missing name, otherwise.
#[utoipa::path(get, path = "/api/v1/catalog/{name}", tag = tags::CATALOG,
    security((), ("session" = []), ("bearer" = [])),
    params(("name" = String, Path)),
    responses(
        (status = 200, body = CatalogOffering, headers(("ETag" = String, description = "Strong validator of the body"))),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        (status = 404, response = Problem),
    ))]
pub async fn catalog_offering(
    State(state): State<AppState>,
    caller: MaybeSignedIn,
    headers: HeaderMap,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Response> {
    let offering = offering_or_404(&state, &name).await?;
    if !caller.audience().admits(&offering) {
        return Err(ApiError::not_found());
    }
    json_with_etag(&headers, &CatalogOffering::from(offering))
}

/// Serialises `body`, tags it with a strong ETag and answers 304 when the client has it.
fn json_with_etag<T: Serialize>(request: &HeaderMap, body: &T) -> ApiResult<Response> {
    let (bytes, etag) = serialise_with_etag(body)?;
    etagged(request, bytes, &etag)
}

/// The JSON bytes of `body` and their strong ETag.
fn serialise_with_etag<T: Serialize>(body: &T) -> ApiResult<(bytes::Bytes, Arc<str>)> {
    let bytes = serde_json::to_vec(body).map_err(|e| ApiError::internal("serialising", e))?;
    let digest = Sha256::digest(&bytes);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    Ok((bytes.into(), format!("\"{hex}\"").into()))
}

/// Answers `bytes` tagged with `etag`, or 304 when the client has it. The answer depends on
/// who asks, so shared caches must not reuse it for someone else.
fn etagged(request: &HeaderMap, bytes: bytes::Bytes, etag: &str) -> ApiResult<Response> {
    let not_modified = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*");
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = bytes.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    };
    let headers = response.headers_mut();
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(etag).map_err(|e| ApiError::internal("etag header", e))?,
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Authorization, Cookie"),
    );
    Ok(response)
}
