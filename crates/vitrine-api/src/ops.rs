//! Operations: liveness, readiness, metrics, the OpenAPI document and problem type pages.

use std::sync::Arc;
use vitrine_domain::tr;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::common::tags;
use vitrine_http::AppState;
use vitrine_http::extract::ApiPath;
use vitrine_http::problem::{ApiError, ApiResult, ProblemKind};

/// The OpenAPI document, serialised once when the app is built.
#[derive(Clone)]
pub struct OpenApiDocument(pub Arc<str>);

fn text(body: impl Into<String>) -> Response {
    let mut response = body.into().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = tags::OPS, security(()),
    responses((status = 200, description = "Alive", body = String, content_type = "text/plain")))]
pub async fn healthz() -> Response {
    text("ok\n")
}

/// The server can reach its database.
#[utoipa::path(get, path = "/readyz", tag = tags::OPS, security(()),
    responses(
        (status = 200, description = "Ready", body = String, content_type = "text/plain"),
        (status = 503, response = vitrine_http::problem::Problem),
    ))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Response> {
    if state.config.draining.is_draining() {
        // Shutting down: the load balancer should send new requests elsewhere; those under
        // way are finished.
        return Err(ApiError::new(
            ProblemKind::Unavailable,
            tr!(
                "server.draining",
                "the server is shutting down",
                "le serveur s’arrête"
            ),
        ));
    }
    match state.store.ping().await {
        Ok(()) => Ok(text("ready\n")),
        Err(error) => {
            tracing::warn!(%error, backend = state.store.backend(), "readiness check failed");
            Err(ApiError::new(
                ProblemKind::Unavailable,
                tr!(
                    "server.database_down",
                    "the database does not answer",
                    "la base de données ne répond pas"
                ),
            ))
        }
    }
}

/// Prometheus metrics: request counts by method, route and status, and request latency.
#[utoipa::path(get, path = "/metrics", tag = tags::OPS, security(()),
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics() -> Response {
    let mut response = vitrine_http::metrics::render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = tags::OPS, security(()),
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi_json(Extension(document): Extension<OpenApiDocument>) -> Response {
    let mut response = document.0.to_string().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// What a problem type means.
#[utoipa::path(get, path = "/problems/{slug}", tag = tags::OPS, security(()),
    params(("slug" = String, Path, description = "Problem type, such as `not-found`")),
    responses(
        (status = 200, description = "Explanation", body = String, content_type = "text/plain"),
        (status = 404, response = vitrine_http::problem::Problem),
    ))]
pub async fn problem_type(ApiPath(slug): ApiPath<String>) -> ApiResult<Response> {
    let kind = ProblemKind::from_slug(&slug).ok_or_else(ApiError::not_found)?;
    Ok(text(format!(
        "{} ({} {})\n\n{}\n",
        kind.title(),
        kind.status().as_u16(),
        kind.status().canonical_reason().unwrap_or_default(),
        kind.explanation()
    )))
}
