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
use vitrine_domain::{DomainError, FieldError, Language, Text, tr};
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

    /// The problem's title in both languages (its code is the slug).
    pub fn title(self) -> Text {
        let (en, fr) = match self {
            ProblemKind::ValidationFailed => (
                "The request has invalid values",
                "La requête contient des valeurs invalides",
            ),
            ProblemKind::MalformedBody => (
                "The request body is not valid JSON",
                "Le corps de la requête n’est pas du JSON valide",
            ),
            ProblemKind::Unauthenticated => ("Sign-in required", "Connexion requise"),
            ProblemKind::Forbidden => ("Not allowed", "Non autorisé"),
            ProblemKind::NotFound => ("Not found", "Introuvable"),
            ProblemKind::MethodNotAllowed => ("Method not allowed", "Méthode non acceptée"),
            ProblemKind::Conflict => (
                "Conflict with the current state",
                "Incompatible avec l’état actuel",
            ),
            ProblemKind::PayloadTooLarge => (
                "The request body is too large",
                "Le corps de la requête est trop volumineux",
            ),
            ProblemKind::UnsupportedMediaType => (
                "This type of content is not accepted here",
                "Ce type de contenu n’est pas accepté ici",
            ),
            ProblemKind::Unavailable => ("Temporarily unavailable", "Momentanément indisponible"),
            ProblemKind::Internal => ("Internal error", "Erreur interne"),
            ProblemKind::BadRequest => ("The request is malformed", "La requête est mal formée"),
            ProblemKind::PreconditionFailed => (
                "Unsupported protocol version",
                "Version de protocole non prise en charge",
            ),
            ProblemKind::RangeNotSatisfiable => (
                "The range is outside the file",
                "La plage demandée est hors du fichier",
            ),
            ProblemKind::Locked => ("Busy with another request", "Occupé par une autre requête"),
            ProblemKind::ChecksumMismatch => ("Checksum mismatch", "Somme de contrôle incorrecte"),
            ProblemKind::TooManyAttempts => (
                "Too many sign-in attempts",
                "Trop de tentatives de connexion",
            ),
            ProblemKind::RateLimited => ("Too many requests", "Trop de requêtes"),
            ProblemKind::EmailNotVerified => {
                ("Email address not verified", "Adresse e-mail non confirmée")
            }
            ProblemKind::InvalidToken => ("The link is not valid", "Le lien n’est pas valide"),
            ProblemKind::TokenExpired => ("The link has expired", "Le lien a expiré"),
            ProblemKind::TokenUsed => ("The link was already used", "Le lien a déjà servi"),
        };
        Text::new(self.slug(), en, fr)
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

/// A problem document (RFC 9457), in the language the request asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Stable identifier of the kind of problem, such as `/problems/not-found`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The kind's title, in the reader's language (`Accept-Language`: English or French).
    pub title: String,
    pub status: u16,
    /// What went wrong in this case, in the reader's language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Stable identifier of this case's reason (the same in every language), such as
    /// `submission.state_forbids`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// For `validation-failed`: every refused field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
}

/// One refused field of a problem document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ProblemField {
    /// Path of the field in the request, dotted (`plans.0.pricing.amount`).
    pub field: String,
    /// Stable identifier of the reason, such as `field.too_long`.
    pub code: String,
    /// Why it was refused, in the reader's language.
    pub message: String,
}

tokio::task_local! {
    /// The language this request's problems are written in (see [`negotiate_language`]).
    static RESPONSE_LANGUAGE: Language;
}

/// Middleware: the problems answered inside this request are written in the language its
/// `Accept-Language` prefers (English or French; English when it names neither). The
/// pages call the API in process with the reader's language in that header.
pub async fn negotiate_language(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let language = request
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(Language::from_accept_language)
        .unwrap_or_default();
    RESPONSE_LANGUAGE.scope(language, next.run(request)).await
}

/// The language of the request being answered (English outside [`negotiate_language`]).
pub fn response_language() -> Language {
    RESPONSE_LANGUAGE.try_with(|l| *l).unwrap_or_default()
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
    detail: Option<Text>,
    errors: Vec<FieldError>,
    /// Seconds to send in `Retry-After` (429).
    retry_after: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(kind: ProblemKind, detail: Text) -> Self {
        Self {
            kind,
            detail: Some(detail),
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
            tr!(
                "auth.required",
                "sign in or send a valid API token",
                "connectez-vous ou envoyez un jeton d’API valide"
            ),
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            ProblemKind::MethodNotAllowed,
            tr!(
                "method_not_allowed",
                "this path does not take this method",
                "ce chemin n’accepte pas cette méthode"
            ),
        )
    }

    /// A `validation-failed` problem; its detail lists every field, in each language.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let joined = |language: Language| {
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message.get(language)))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let detail = Text::new("input.invalid", joined(Language::En), joined(Language::Fr));
        Self {
            kind: ProblemKind::ValidationFailed,
            detail: Some(detail),
            errors,
            retry_after: None,
        }
    }

    pub fn invalid_field(field: impl Into<String>, message: Text) -> Self {
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

    pub fn kind(&self) -> ProblemKind {
        self.kind
    }

    /// The detail in English (for logs and tests; clients get their language).
    pub fn detail(&self) -> &str {
        self.detail.as_ref().map(Text::en).unwrap_or_default()
    }

    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after
    }

    /// Answers with `Retry-After: <seconds>`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The problem document in the language of the request being answered.
    pub fn problem(&self) -> Problem {
        self.problem_in(response_language())
    }

    pub fn problem_in(&self, language: Language) -> Problem {
        Problem {
            type_: format!("/problems/{}", self.kind.slug()),
            title: self.kind.title().get(language).to_owned(),
            status: self.kind.status().as_u16(),
            detail: self.detail.as_ref().map(|d| d.get(language).to_owned()),
            code: self
                .detail
                .as_ref()
                .filter(|_| self.errors.is_empty())
                .map(|d| d.code().to_owned()),
            errors: self
                .errors
                .iter()
                .map(|e| ProblemField {
                    field: e.field.clone(),
                    code: e.message.code().to_owned(),
                    message: e.message.get(language).to_owned(),
                })
                .collect(),
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
                detail: Some(tr!(
                    "duplicate",
                    "{field} is already taken",
                    "{field} est déjà pris"
                )),
                errors: vec![FieldError::new(
                    field,
                    tr!("duplicate", "is already taken", "est déjà pris"),
                )],
                retry_after: None,
            },
            StoreError::Conflict { what } => ApiError::new(
                ProblemKind::Conflict,
                tr!(
                    "concurrent_change",
                    "{what} was changed by someone else meanwhile; reload and try again",
                    "{what} a été modifié par quelqu’un d’autre entre-temps ; rechargez et réessayez"
                ),
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
        ApiError::new(kind, blob_text(&error))
    }
}

/// A recording refusal for people, in both languages.
fn blob_text(error: &BlobError) -> Text {
    match error {
        BlobError::InvalidKey { .. } => tr!(
            "upload.invalid_id",
            "this is not an upload id",
            "ce n’est pas un identifiant de dépôt"
        ),
        BlobError::UploadNotFound { .. } | BlobError::RecordingNotFound { .. } => tr!(
            "upload.not_found",
            "no such upload or recording",
            "aucun dépôt ou enregistrement de ce nom"
        ),
        BlobError::UploadExists { .. } | BlobError::RecordingExists { .. } => tr!(
            "upload.exists",
            "this upload already exists",
            "ce dépôt existe déjà"
        ),
        BlobError::UploadBusy { .. } => tr!(
            "upload.busy",
            "another request is writing to this upload; ask its offset with HEAD and resume",
            "une autre requête écrit dans ce dépôt ; demandez sa position avec HEAD et reprenez"
        ),
        BlobError::OffsetMismatch { requested, stored } => tr!(
            "upload.offset_mismatch",
            "the request starts at byte {requested} but {stored} bytes are stored; resume from {stored}",
            "la requête commence à l’octet {requested} mais {stored} octets sont enregistrés ; reprenez à {stored}"
        ),
        BlobError::TooLarge { max_size } => tr!(
            "upload.too_large",
            "the recording would exceed the maximum size of {max_size} bytes",
            "l’enregistrement dépasserait la taille maximale de {max_size} octets"
        ),
        BlobError::ExceedsDeclaredLength { declared_length } => tr!(
            "upload.past_length",
            "the request goes past the declared upload length of {declared_length} bytes",
            "la requête dépasse la longueur déclarée du dépôt, {declared_length} octets"
        ),
        BlobError::DeclaredLengthBelowOffset {
            declared_length,
            stored,
        } => tr!(
            "upload.length_below_offset",
            "declared length {declared_length} is below the {stored} bytes already stored",
            "la longueur déclarée, {declared_length}, est inférieure aux {stored} octets déjà enregistrés"
        ),
        BlobError::UnsupportedMediaType { detected } => {
            let (en, fr) = match detected.as_deref() {
                Some(kind) => (kind.to_owned(), kind.to_owned()),
                None => (
                    "an unrecognised type".to_owned(),
                    "un type non reconnu".to_owned(),
                ),
            };
            Text::new(
                "recording.unsupported_type",
                format!(
                    "this file is {en}, not a video: send an MP4, QuickTime, WebM or Matroska recording"
                ),
                format!(
                    "ce fichier est de type {fr}, pas une vidéo : envoyez un enregistrement MP4, QuickTime, WebM ou Matroska"
                ),
            )
        }
        BlobError::UnsupportedChecksumAlgorithm { algorithm } => tr!(
            "upload.checksum_algorithm",
            "unsupported checksum algorithm {algorithm:?}: only sha256 is supported",
            "algorithme de somme de contrôle {algorithm:?} non pris en charge : seul sha256 l’est"
        ),
        BlobError::MalformedChecksum { reason } => tr!(
            "upload.checksum_malformed",
            "malformed Upload-Checksum header: {reason}",
            "en-tête Upload-Checksum mal formé : {reason}"
        ),
        BlobError::ChecksumMismatch => tr!(
            "upload.checksum_mismatch",
            "the body's sha256 is not the one announced; its bytes were dropped, resend them",
            "le sha256 du corps n’est pas celui annoncé ; ses octets ont été écartés, renvoyez-les"
        ),
        BlobError::BodyInterrupted { offset, .. } => tr!(
            "upload.interrupted",
            "the request body was interrupted; the upload is at offset {offset}",
            "le corps de la requête a été interrompu ; le dépôt en est à la position {offset}"
        ),
        BlobError::Io { .. }
        | BlobError::ObjectStore { .. }
        | BlobError::UploadState { .. }
        | BlobError::TaskFailed(_) => tr!(
            "upload.failed",
            "the recording could not be stored",
            "l’enregistrement n’a pas pu être stocké"
        ),
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
        let language = response_language();
        let mut response = problem_response(&self.problem_in(language));
        response.headers_mut().insert(
            header::CONTENT_LANGUAGE,
            HeaderValue::from_static(language.code()),
        );
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
