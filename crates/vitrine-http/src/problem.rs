//! Errors as RFC 9457 problem details (`application/problem+json`).
//!
//! Every error a handler returns is an [`ApiError`]; its `type` is a stable URI reference
//! (`/problems/<slug>`) that clients may match on, and `GET /problems/<slug>` explains it.
//! Internal errors are logged with their cause and answered with a bare 500: nothing about
//! the database or the code reaches the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
use vitrine_blob::BlobError;
use vitrine_domain::{DomainError, FieldError};
use vitrine_jobs::JobError;
use vitrine_store::StoreError;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The kinds of problem, each with a stable slug, status and title.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    ValidationFailed,
    MalformedBody,
    Unauthenticated,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unavailable,
    Internal,
    BadRequest,
    PreconditionFailed,
    RangeNotSatisfiable,
    Locked,
    ChecksumMismatch,
    TooManyAttempts,
    RateLimited,
    EmailNotVerified,
    InvalidToken,
    TokenExpired,
    TokenUsed,
}

impl ProblemKind {
    pub const ALL: [ProblemKind; 22] = [
        ProblemKind::ValidationFailed,
        ProblemKind::MalformedBody,
        ProblemKind::Unauthenticated,
        ProblemKind::Forbidden,
        ProblemKind::NotFound,
        ProblemKind::MethodNotAllowed,
        ProblemKind::Conflict,
        ProblemKind::PayloadTooLarge,
        ProblemKind::UnsupportedMediaType,
        ProblemKind::Unavailable,
        ProblemKind::Internal,
        ProblemKind::BadRequest,
        ProblemKind::PreconditionFailed,
        ProblemKind::RangeNotSatisfiable,
        ProblemKind::Locked,
        ProblemKind::ChecksumMismatch,
        ProblemKind::TooManyAttempts,
        ProblemKind::RateLimited,
        ProblemKind::EmailNotVerified,
        ProblemKind::InvalidToken,
        ProblemKind::TokenExpired,
        ProblemKind::TokenUsed,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            ProblemKind::ValidationFailed => "validation-failed",
            ProblemKind::MalformedBody => "malformed-body",
            ProblemKind::Unauthenticated => "unauthenticated",
            ProblemKind::Forbidden => "forbidden",
            ProblemKind::NotFound => "not-found",
            ProblemKind::MethodNotAllowed => "method-not-allowed",
            ProblemKind::Conflict => "conflict",
            ProblemKind::PayloadTooLarge => "payload-too-large",
            ProblemKind::UnsupportedMediaType => "unsupported-media-type",
            ProblemKind::Unavailable => "unavailable",
            ProblemKind::Internal => "internal",
            ProblemKind::BadRequest => "bad-request",
            ProblemKind::PreconditionFailed => "precondition-failed",
            ProblemKind::RangeNotSatisfiable => "range-not-satisfiable",
            ProblemKind::Locked => "locked",
            ProblemKind::ChecksumMismatch => "checksum-mismatch",
            ProblemKind::TooManyAttempts => "too-many-attempts",
            ProblemKind::RateLimited => "rate-limited",
            ProblemKind::EmailNotVerified => "email-not-verified",
            ProblemKind::InvalidToken => "invalid-token",
            ProblemKind::TokenExpired => "token-expired",
            ProblemKind::TokenUsed => "token-used",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ProblemKind::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::MalformedBody => StatusCode::BAD_REQUEST,
            ProblemKind::Unauthenticated => StatusCode::UNAUTHORIZED,
            ProblemKind::Forbidden => StatusCode::FORBIDDEN,
            ProblemKind::NotFound => StatusCode::NOT_FOUND,
            ProblemKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemKind::Conflict => StatusCode::CONFLICT,
            ProblemKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProblemKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ProblemKind::BadRequest => StatusCode::BAD_REQUEST,
            ProblemKind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ProblemKind::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
            ProblemKind::Locked => StatusCode::LOCKED,
            // tus checksum extension: 460 Checksum Mismatch.
            ProblemKind::ChecksumMismatch => {
                StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST)
            }
            ProblemKind::TooManyAttempts | ProblemKind::RateLimited => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ProblemKind::EmailNotVerified => StatusCode::FORBIDDEN,
            ProblemKind::InvalidToken => StatusCode::BAD_REQUEST,
            ProblemKind::TokenExpired | ProblemKind::TokenUsed => StatusCode::GONE,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::ValidationFailed => "The request has invalid values",
            ProblemKind::MalformedBody => "The request body is not valid JSON",
            ProblemKind::Unauthenticated => "Sign-in required",
            ProblemKind::Forbidden => "Not allowed",
            ProblemKind::NotFound => "Not found",
            ProblemKind::MethodNotAllowed => "Method not allowed",
            ProblemKind::Conflict => "Conflict with the current state",
            ProblemKind::PayloadTooLarge => "The request body is too large",
            ProblemKind::UnsupportedMediaType => "The request body must be JSON",
            ProblemKind::Unavailable => "Temporarily unavailable",
            ProblemKind::Internal => "Internal error",
            ProblemKind::BadRequest => "The request is malformed",
            ProblemKind::PreconditionFailed => "Unsupported protocol version",
            ProblemKind::RangeNotSatisfiable => "The range is outside the file",
            ProblemKind::Locked => "Busy with another request",
            ProblemKind::ChecksumMismatch => "Checksum mismatch",
            ProblemKind::TooManyAttempts => "Too many sign-in attempts",
            ProblemKind::RateLimited => "Too many requests",
            ProblemKind::EmailNotVerified => "Email address not verified",
            ProblemKind::InvalidToken => "The link is not valid",
            ProblemKind::TokenExpired => "The link has expired",
            ProblemKind::TokenUsed => "The link was already used",
        }
    }

    /// What the problem means and what to do about it, served at `/problems/<slug>`.
    pub fn explanation(self) -> &'static str {
        match self {
            ProblemKind::ValidationFailed => {
                "One or more values in the request break a rule. `errors` lists each field \
                 (dotted path, such as plans.0.pricing.amount) with a message. Fix them and retry. \
                 Nothing was changed."
            }
            ProblemKind::MalformedBody => {
                "The body could not be parsed as JSON. Nothing was changed."
            }
            ProblemKind::Unauthenticated => {
                "Sign in (POST /api/v1/auth/sign-in) or send `Authorization: Bearer <token>` \
                 with a valid, unrevoked personal API token."
            }
            ProblemKind::Forbidden => {
                "You are signed in but your roles do not allow this action. `detail` says who may."
            }
            ProblemKind::NotFound => {
                "There is no such resource, or you may not see it. vitrine answers both cases \
                 the same way so that hidden offerings and accounts stay hidden."
            }
            ProblemKind::MethodNotAllowed => {
                "This path exists but does not take this method; the OpenAPI document \
                 (/api/openapi.json) lists the methods of each path."
            }
            ProblemKind::Conflict => {
                "The change cannot be made in the current state (a taken name, a state that \
                 does not allow it, or a concurrent change). `detail` says which; reload and retry."
            }
            ProblemKind::PayloadTooLarge => {
                "The request body is larger than the server accepts. Nothing was changed."
            }
            ProblemKind::UnsupportedMediaType => {
                "The body is not of a type this operation takes: JSON with `Content-Type: \
                 application/json` for the API, `application/offset+octet-stream` for a tus \
                 PATCH, and for recordings a video in MP4, QuickTime, WebM or Matroska \
                 (sniffed from the bytes; nothing of a refused upload is kept)."
            }
            ProblemKind::Unavailable => {
                "The server cannot reach its database right now. Retry later."
            }
            ProblemKind::Internal => {
                "Something failed on the server. It was logged; retry later or contact the operator."
            }
            ProblemKind::BadRequest => {
                "A header or parameter is missing or malformed; `detail` names it. Nothing was \
                 changed."
            }
            ProblemKind::PreconditionFailed => {
                "Uploads speak tus 1.0.0: send `Tus-Resumable: 1.0.0` (the `Tus-Version` \
                 header lists the versions this server speaks)."
            }
            ProblemKind::RangeNotSatisfiable => {
                "The requested byte range starts past the end of the recording; \
                 `Content-Range` gives its length."
            }
            ProblemKind::Locked => {
                "Another request is writing to this upload right now. Wait, ask the offset \
                 with HEAD, and resume from there."
            }
            ProblemKind::ChecksumMismatch => {
                "The body's SHA-256 is not the one `Upload-Checksum` announced; its bytes were \
                 dropped and the offset is where it was. Resend the chunk."
            }
            ProblemKind::TooManyAttempts => {
                "Sign-in failed too many times for this email address (5 within 15 minutes). \
                 Every attempt is refused, even with the right password, until the time in \
                 `Retry-After` (seconds) has passed. Forgot the password? Ask for a reset \
                 link (POST /api/v1/auth/password-reset)."
            }
            ProblemKind::RateLimited => {
                "This was done too often in a short time (the detail says what the limit is). \
                 Nothing was changed; try again once `Retry-After` (seconds) has passed."
            }
            ProblemKind::EmailNotVerified => {
                "The password is right, but the address was never confirmed. Follow the link \
                 emailed at sign-up, or ask for a new one (POST \
                 /api/v1/auth/verify-email/resend)."
            }
            ProblemKind::InvalidToken => {
                "The link's token is unknown (mistyped, cut by the mail client, or made for \
                 something else). Ask for a new link. Nothing was changed."
            }
            ProblemKind::TokenExpired => {
                "The link's token has expired (email verification links work 48 hours, \
                 password reset links 1 hour). Ask for a new link. Nothing was changed."
            }
            ProblemKind::TokenUsed => {
                "The link's token was already used; a link works once. For an email \
                 verification, the address is confirmed: sign in. Nothing was changed."
            }
        }
    }

    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.slug() == slug)
    }
}

/// A problem document (RFC 9457).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Stable identifier of the kind of problem, such as `/problems/not-found`.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    /// What went wrong in this case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For `validation-failed`: every refused field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl<'s> utoipa::ToResponse<'s> for Problem {
    fn response() -> (&'s str, RefOr<utoipa::openapi::response::Response>) {
        let content = ContentBuilder::new()
            .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
            .build();
        let response = ResponseBuilder::new()
            .description("A problem document (RFC 9457)")
            .content(PROBLEM_CONTENT_TYPE, content)
            .build();
        ("Problem", response.into())
    }
}

/// An error answered as a problem document.
#[derive(Debug)]
pub struct ApiError {
    kind: ProblemKind,
    detail: Option<String>,
    errors: Vec<FieldError>,
    /// Seconds to send in `Retry-After` (429).
    retry_after: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: Some(detail.into()),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// The one answer for "missing or hidden": always the same bytes, so that a hidden
    /// offering or account cannot be told apart from one that does not exist.
    pub fn not_found() -> Self {
        Self {
            kind: ProblemKind::NotFound,
            detail: None,
            errors: Vec::new(),
            retry_after: None,
        }
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            ProblemKind::Unauthenticated,
            "sign in or send a valid API token",
        )
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        Self {
            kind: ProblemKind::ValidationFailed,
            detail: Some(
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            errors,
            retry_after: None,
        }
    }

    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError::new(field, message)])
    }

    /// Logs `error` with its context and answers a bare 500.
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "{context}");
        Self {
            kind: ProblemKind::Internal,
            detail: None,
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// Answers with `Retry-After: <seconds>`.
    pub fn kind(&self) -> ProblemKind {
        self.kind
    }

    pub fn detail(&self) -> &str {
        self.detail.as_deref().unwrap_or_default()
    }

    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn problem(&self) -> Problem {
        Problem {
            type_: format!("/problems/{}", self.kind.slug()),
            title: self.kind.title().to_owned(),
            status: self.kind.status().as_u16(),
            detail: self.detail.clone(),
            errors: self.errors.clone(),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Invalid(errors) => ApiError::invalid(errors),
            DomainError::Unauthenticated => ApiError::unauthenticated(),
            DomainError::Forbidden(reason) => ApiError::new(ProblemKind::Forbidden, reason),
            DomainError::NotFound => ApiError::not_found(),
            DomainError::Conflict(reason) => ApiError::new(ProblemKind::Conflict, reason),
            DomainError::RateLimited {
                reason,
                retry_after_secs,
            } => ApiError::new(ProblemKind::RateLimited, reason).retry_after(retry_after_secs),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Duplicate { field } => Self {
                kind: ProblemKind::Conflict,
                detail: Some(format!("{field} is already taken")),
                errors: vec![FieldError::new(field, "is already taken")],
                retry_after: None,
            },
            StoreError::Conflict { what } => ApiError::new(
                ProblemKind::Conflict,
                format!("{what} was changed by someone else meanwhile; reload and try again"),
            ),
            StoreError::NotFound => ApiError::not_found(),
            other => ApiError::internal("storage failed", other),
        }
    }
}

impl From<BlobError> for ApiError {
    fn from(error: BlobError) -> Self {
        let kind = match error.http_status() {
            400 => ProblemKind::BadRequest,
            404 => return ApiError::not_found(),
            409 => ProblemKind::Conflict,
            413 => ProblemKind::PayloadTooLarge,
            415 => ProblemKind::UnsupportedMediaType,
            423 => ProblemKind::Locked,
            460 => ProblemKind::ChecksumMismatch,
            _ => return ApiError::internal("recording storage failed", error),
        };
        ApiError::new(kind, error.to_string())
    }
}

impl From<JobError> for ApiError {
    fn from(error: JobError) -> Self {
        match error {
            JobError::Domain(error) => error.into(),
            JobError::Store(error) => error.into(),
            JobError::Blob(error) => error.into(),
            JobError::UnknownStep(_) => ApiError::not_found(),
            JobError::Internal { context, detail } => ApiError::internal(&context, detail),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = problem_response(&self.problem());
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
    );
    response
}
