//! Every route of the JSON API with its OpenAPI description (finished by
//! `vitrine_http::openapi`: the problems every operation can answer, the field rules).

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
        .merge(vitrine_webhooks::router())
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
