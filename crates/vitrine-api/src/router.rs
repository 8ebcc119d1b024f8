//! Every route of the JSON API with its OpenAPI description, and the problems every
//! operation can answer.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vitrine_http::AppState;
use vitrine_http::auth::SESSION_COOKIE;
use vitrine_http::problem::Problem;

use crate::{
    accounts, agenda, audit, catalog, checks, inbound, offerings, ops, outbox, review, submissions,
    test_clock, uploads,
};

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
        // Sign-in, sign-up, the caller's profile and tokens, user administration.
        .merge(vitrine_identity::router())
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
        .routes(routes!(audit::export_audit))
        .merge(uploads::router())
        .merge(outbox::router())
        .merge(inbound::router())
        .merge(checks::router())
        .merge(submissions::router())
        .merge(review::router())
        .merge(agenda::router())
        // Revisions of a live offering and appeals of a rejection.
        .merge(vitrine_revisions::router())
        .routes(routes!(test_clock::get_test_clock))
        .routes(routes!(test_clock::advance_test_clock))
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
            // Every response says something: where an operation gave no words of its own,
            // its status's meaning.
            for (status, response) in responses.iter_mut() {
                if let utoipa::openapi::RefOr::T(response) = response
                    && response.description.trim().is_empty()
                {
                    response.description = status_description(status).to_owned();
                }
            }
        }
    }
}

/// What a status means when the operation says nothing more.
fn status_description(status: &str) -> &'static str {
    match status {
        "200" => "The request succeeded; the body is the result",
        "201" => "Created; the body is what was created",
        "202" => "Accepted; the rest happens in the background",
        "204" => "Done; no body",
        other => other
            .parse::<u16>()
            .ok()
            .and_then(|code| axum::http::StatusCode::from_u16(code).ok())
            .and_then(|code| code.canonical_reason())
            .unwrap_or("See the operation's description"),
    }
}
