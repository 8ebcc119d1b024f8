//! The JSON API under `/api/v1`, one module per resource, and the helpers they share.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vitrine_domain::checklist::Checklist;
use vitrine_domain::{Account, AccountId, Offering, OfferingName, User, UserId};

use crate::AppState;
use crate::auth::SESSION_COOKIE;
use crate::problem::{ApiError, ApiResult, Problem};

pub mod accounts;
pub mod audit;
pub mod catalog;
pub mod me;
pub mod offerings;
pub mod ops;
pub mod outbox;
pub mod review;
pub mod session;
pub mod signup;
pub mod submissions;
pub mod uploads;
pub mod users;

/// Tags group the operations in the OpenAPI document.
pub mod tags {
    pub const OPS: &str = "operations";
    pub const AUTH: &str = "authentication";
    pub const USERS: &str = "users";
    pub const ACCOUNTS: &str = "accounts";
    pub const OFFERINGS: &str = "offerings";
    pub const CATALOG: &str = "catalog";
    pub const AUDIT: &str = "audit";
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "vitrine",
        description = "Marketplace onboarding: providers, offerings, visibility, catalog, audit. \
                       Errors are RFC 9457 problem documents (`application/problem+json`).",
        license(name = "AGPL-3.0-or-later", identifier = "AGPL-3.0-or-later"),
    ),
    modifiers(&SecuritySchemes),
    // Operations need a session or a token unless they say otherwise.
    security(("session" = []), ("bearer" = [])),
    components(schemas(Problem), responses(Problem)),
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A personal API token (`vit_…`) from POST /api/v1/me/tokens",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "Set by POST /api/v1/auth/sign-in",
            ))),
        );
    }
}

/// Every route with its OpenAPI description.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(<ApiDoc as utoipa::OpenApi>::openapi())
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi_json))
        .routes(routes!(ops::problem_type))
        .routes(routes!(session::sign_in))
        .routes(routes!(session::sign_out))
        .routes(routes!(signup::sign_up))
        .routes(routes!(signup::verify_email))
        .routes(routes!(signup::resend_verification))
        .routes(routes!(signup::request_password_reset))
        .routes(routes!(signup::confirm_password_reset))
        .routes(routes!(me::get_me, me::update_me))
        .routes(routes!(me::change_password))
        .routes(routes!(me::list_tokens, me::create_token))
        .routes(routes!(me::revoke_token))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::get_user, users::update_user))
        .routes(routes!(users::set_staff_roles))
        .routes(routes!(accounts::list_accounts, accounts::create_account))
        .routes(routes!(accounts::get_account))
        .routes(routes!(accounts::add_member_by_email))
        .routes(routes!(accounts::put_member, accounts::remove_member))
        .routes(routes!(accounts::apply_as_provider))
        .routes(routes!(accounts::decide_provider))
        .routes(routes!(accounts::list_provider_applications))
        .routes(routes!(accounts::account_offerings))
        .routes(routes!(offerings::create_offering))
        .routes(routes!(offerings::get_offering, offerings::update_offering))
        .routes(routes!(offerings::set_visibility))
        .routes(routes!(
            offerings::set_allowlist,
            offerings::add_to_allowlist
        ))
        .routes(routes!(offerings::remove_from_allowlist))
        .routes(routes!(offerings::attest_step))
        .routes(routes!(catalog::list_catalog))
        .routes(routes!(catalog::catalog_offering))
        .routes(routes!(audit::list_audit))
        .merge(uploads::router())
        .merge(outbox::router())
        .merge(submissions::router())
        .merge(review::router())
}

/// Adds the problems any operation can answer to every operation of the document: 401 under
/// `/api/v1` (a wrong token is refused even where signing in is optional), those of the JSON
/// body extractor where there is a body, and 500 everywhere. Run after the routes are
/// collected (the derive's modifiers run before).
pub fn document_common_problems(openapi: &mut utoipa::openapi::OpenApi) {
    let problem = || utoipa::openapi::Ref::new("#/components/responses/Problem");
    for (path, item) in openapi.paths.paths.iter_mut() {
        let under_api = path.starts_with("/api/v1/");
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let responses = &mut operation.responses.responses;
            if under_api {
                responses
                    .entry("401".to_owned())
                    .or_insert_with(|| problem().into());
            }
            if operation.request_body.is_some() {
                for status in ["400", "413", "415", "422"] {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| problem().into());
                }
            }
            responses
                .entry("500".to_owned())
                .or_insert_with(|| problem().into());
        }
    }
}

/// Page sizes: 20 unless asked, at most 100.
pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

pub fn page_limit(limit: Option<u32>) -> ApiResult<u32> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid_field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

/// Cursors are opaque to clients: base64url of the position (a name, an id, a sequence
/// number), so that their format can change without breaking anyone.
pub fn encode_cursor(position: &str) -> String {
    URL_SAFE_NO_PAD.encode(position.as_bytes())
}

pub fn decode_cursor(cursor: &str) -> ApiResult<String> {
    URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| ApiError::invalid_field("cursor", "is not a cursor this server returned"))
}

/// Decodes a cursor and parses the position inside it.
pub fn decode_cursor_as<T>(
    cursor: Option<&str>,
    parse: impl FnOnce(&str) -> Option<T>,
) -> ApiResult<Option<T>> {
    cursor
        .map(|c| {
            decode_cursor(c).and_then(|position| {
                parse(&position).ok_or_else(|| {
                    ApiError::invalid_field("cursor", "is not a cursor this server returned")
                })
            })
        })
        .transpose()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<u32>,
}

/// Trims a page fetched with one extra item and gives the cursor of the next page.
pub fn next_cursor<T>(
    items: &mut Vec<T>,
    limit: u32,
    position: impl Fn(&T) -> String,
) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if items.len() > limit {
        items.truncate(limit);
        items.last().map(|last| encode_cursor(&position(last)))
    } else {
        None
    }
}

/// The cursor of the page after a catalog page, if there is one.
pub fn catalog_next_cursor(page: &vitrine_store::CatalogPage) -> Option<String> {
    page.items
        .last()
        .filter(|_| page.has_more)
        .map(|last| encode_cursor(last.name.as_str()))
}

/// The offering with this name, or 404 (also for a name that cannot exist).
pub async fn offering_or_404(state: &AppState, name: &str) -> ApiResult<Offering> {
    let name = OfferingName::parse("name", name).map_err(|_| ApiError::not_found())?;
    state
        .store
        .offering_by_name(&name)
        .await?
        .ok_or_else(ApiError::not_found)
}

pub async fn account_or_404(state: &AppState, id: AccountId) -> ApiResult<Account> {
    state
        .store
        .account(id)
        .await?
        .ok_or_else(ApiError::not_found)
}

pub async fn user_or_404(state: &AppState, id: UserId) -> ApiResult<User> {
    state.store.user(id).await?.ok_or_else(ApiError::not_found)
}

/// An offering as its provider and staff see it: everything, with the checklist.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ManagedOffering {
    pub offering: Offering,
    pub checklist: Checklist,
}

impl From<Offering> for ManagedOffering {
    fn from(offering: Offering) -> Self {
        let checklist = Checklist::of(&offering);
        Self {
            offering,
            checklist,
        }
    }
}
