//! Demo recordings over HTTP: resumable uploads (tus 1.0: core, creation, termination,
//! expiration, checksum with sha256), one streamed request for scripts, and recordings served
//! with HTTP Range.
//!
//! The bytes go through `vitrine-blob` (streamed, never held whole); the database keeps an
//! `uploads` row per tus upload and a `recordings` row per finished recording. A finished
//! recording's id is its upload's id, so a server that died between moving the bytes into
//! place and committing the row finishes the job on the next request for that upload
//! instead of leaving a recording half attached. Attaching recordings to a round is the
//! submission's business (`edit_round`, with recording ids).
//!
//! Routes (every one but OPTIONS needs `Tus-Resumable: 1.0.0` where tus applies):
//! - `OPTIONS /api/v1/submissions/{id}/uploads`: what the server supports;
//! - `POST /api/v1/submissions/{id}/uploads`: creation (`Upload-Length`, `Upload-Metadata`);
//! - `HEAD|PATCH|DELETE|OPTIONS /api/v1/submissions/{id}/uploads/{upload_id}`;
//! - `PUT /api/v1/submissions/{id}/recordings?filename=…`: the whole file in one request;
//! - `GET /api/v1/recordings/{id}`: the bytes, with Range.

use vitrine_domain::tr;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vitrine_blob::{AppendRequest, BlobError, BlobStore, Sha256Expectation};
use vitrine_domain::go_live::Submission;
use vitrine_domain::recording::{Recording, Upload, UploadId};
use vitrine_domain::submission::{Party, SubmissionState};
use vitrine_domain::{RecordingId, SubmissionId, Timestamp};
use vitrine_store::StoreError;

use vitrine_http::AppState;
use vitrine_http::auth::{Caller, SignedIn};
use vitrine_http::extract::{ApiPath, ApiQuery};
use vitrine_http::problem::{ApiError, ApiResult, ProblemKind};
use vitrine_jobs::recordings::{
    UPLOAD_TTL, discard_upload_bytes, finish_upload, forget_upload_row, recording_key,
    recover_finished, store_recording, upload_key,
};

const TAG: &str = "recordings";
const TUS_VERSION: &str = "1.0.0";

/// The one tus version spoken, as the document shows the `Tus-Resumable` header (any other
/// value is answered 412, as tus says).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // only its schema is used: the header is read as text by `require_tus`
enum TusResumable {
    #[schema(rename = "1.0.0")]
    V1_0_0,
}
const TUS_EXTENSIONS: &str = "creation,termination,expiration,checksum";
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

static TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
static UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
static UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
static UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
static UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
static UPLOAD_CHECKSUM: HeaderName = HeaderName::from_static("upload-checksum");
static UPLOAD_DEFER_LENGTH: HeaderName = HeaderName::from_static("upload-defer-length");
/// Where a finished tus upload's recording is (on the PATCH that completes it).
static RECORDING_LOCATION: HeaderName = HeaderName::from_static("vitrine-recording");

/// The upload routes. Every answer carries `Tus-Resumable`, errors included.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tus_options, create_upload))
        .routes(routes!(
            upload_options,
            upload_offset,
            append_to_upload,
            terminate_upload
        ))
        .routes(routes!(put_recording, list_recordings))
        .routes(routes!(get_recording))
        .layer(axum::middleware::from_fn(tus_resumable_on_every_answer))
}

async fn tus_resumable_on_every_answer(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let tus = request.uri().path().contains("/uploads");
    let mut response = next.run(request).await;
    if tus {
        let headers = response.headers_mut();
        headers.insert(TUS_RESUMABLE.clone(), HeaderValue::from_static(TUS_VERSION));
        if response.status() == StatusCode::PRECONDITION_FAILED {
            response
                .headers_mut()
                .insert("tus-version", HeaderValue::from_static(TUS_VERSION));
        }
    }
    response
}

/// The tus capabilities (no authentication needed: clients and browsers ask first).
#[utoipa::path(
    options,
    path = "/api/v1/submissions/{id}/uploads",
    tag = TAG,
    params(("id" = SubmissionId, Path, description = "The submission")),
    security(()),
    responses(
        (status = 204, description = "`Tus-Version`, `Tus-Extension`, `Tus-Max-Size`, `Tus-Checksum-Algorithm`"),
        (status = 404, description = "Not a submission id", body = vitrine_http::problem::Problem, content_type = "application/problem+json"),
    ),
)]
async fn tus_options(
    State(state): State<AppState>,
    // Parsed for its refusal only: capabilities are the same for every submission, but a
    // URL that cannot name one is not a tus endpoint.
    ApiPath(_id): ApiPath<SubmissionId>,
) -> Response {
    capabilities(&state)
}

/// The tus capabilities, on an upload's URL.
#[utoipa::path(
    options,
    path = "/api/v1/submissions/{id}/uploads/{upload_id}",
    tag = TAG,
    params(
        ("id" = SubmissionId, Path, description = "The submission"),
        ("upload_id" = String, Path, description = "The upload"),
    ),
    security(()),
    responses(
        (status = 204, description = "`Tus-Version`, `Tus-Extension`, `Tus-Max-Size`, `Tus-Checksum-Algorithm`"),
        (status = 404, description = "Not a submission or upload id", body = vitrine_http::problem::Problem, content_type = "application/problem+json"),
    ),
)]
async fn upload_options(
    State(state): State<AppState>,
    ApiPath(_ids): ApiPath<(SubmissionId, UploadId)>,
) -> Response {
    capabilities(&state)
}

fn capabilities(state: &AppState) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    headers.insert("tus-extension", HeaderValue::from_static(TUS_EXTENSIONS));
    headers.insert("tus-max-size", state.config.max_recording_bytes.into());
    headers.insert("tus-checksum-algorithm", HeaderValue::from_static("sha256"));
    response
}

/// Starts a resumable upload of a recording (tus creation). Only the provider's members, and
/// only while the submission's round is open (draft, or changes requested).
#[utoipa::path(
    post,
    path = "/api/v1/submissions/{id}/uploads",
    tag = TAG,
    params(
        ("id" = SubmissionId, Path, description = "The submission"),
        ("Tus-Resumable" = inline(TusResumable), Header, description = "The tus version: 1.0.0"),
        ("Upload-Length" = u64, Header, description = "The file's size in bytes"),
        ("Upload-Metadata" = Option<String>, Header, description = "`filename <base64>,filetype <base64>`"),
    ),
    responses(
        (status = 201, description = "Created; `Location` is the upload's URL, `Upload-Expires` when it is abandoned"),
        (status = 400, response = vitrine_http::problem::Problem),
        (status = 403, response = vitrine_http::problem::Problem),
        (status = 404, response = vitrine_http::problem::Problem),
        (status = 409, response = vitrine_http::problem::Problem),
        (status = 412, response = vitrine_http::problem::Problem),
        (status = 413, response = vitrine_http::problem::Problem),
        (status = 415, response = vitrine_http::problem::Problem),
    ),
)]
async fn create_upload(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<SubmissionId>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    require_tus(&headers)?;
    let blobs = blobs(&state)?;
    if headers.contains_key(&UPLOAD_DEFER_LENGTH) {
        return Err(ApiError::new(
            ProblemKind::BadRequest,
            tr!(
                "tus.defer_length",
                "Upload-Defer-Length is not supported: send Upload-Length",
                "Upload-Defer-Length n’est pas pris en charge : envoyez Upload-Length"
            ),
        ));
    }
    let length = header_u64(&headers, &UPLOAD_LENGTH)?.ok_or_else(|| {
        ApiError::new(
            ProblemKind::BadRequest,
            tr!(
                "tus.length_required",
                "Upload-Length is required",
                "Upload-Length est obligatoire"
            ),
        )
    })?;
    let metadata = parse_metadata(&headers)?;
    if let Some(filetype) = metadata.filetype.as_deref()
        && !plausibly_video(filetype)
    {
        return Err(ApiError::from(BlobError::UnsupportedMediaType {
            detected: Some(filetype.to_owned()),
        }));
    }
    let submission = submission_taking_recordings(&state, &caller, id).await?;
    let now = state.clock.now();
    let upload = Upload {
        id: UploadId::generate(),
        submission_id: submission.id,
        user_id: caller.user.id,
        declared_length: Some(length),
        file_name: metadata.filename,
        created_at: now,
        expires_at: expiry(now)?,
    };
    let key = upload_key(upload.id)?;
    blobs
        .create_upload(&key, Some(length), state.config.max_recording_bytes)
        .await
        .map_err(ApiError::from)?;
    if let Err(error) = state.store.insert_upload(&upload).await {
        discard_upload_bytes(blobs, &key).await;
        return Err(error.into());
    }
    let mut response = StatusCode::CREATED.into_response();
    let headers = response.headers_mut();
    insert_header(headers, header::LOCATION, &upload_path(&upload))?;
    insert_header(
        headers,
        UPLOAD_EXPIRES.clone(),
        &http_date(upload.expires_at),
    )?;
    Ok(response)
}

/// The upload's offset (tus HEAD): where to resume.
#[utoipa::path(
    head,
    path = "/api/v1/submissions/{id}/uploads/{upload_id}",
    tag = TAG,
    params(
        ("id" = SubmissionId, Path, description = "The submission"),
        ("upload_id" = String, Path, description = "The upload"),
        ("Tus-Resumable" = inline(TusResumable), Header, description = "The tus version: 1.0.0"),
    ),
    responses(
        (status = 200, description = "`Upload-Offset`, `Upload-Length`, `Upload-Expires`"),
        (status = 403, description = "Not the uploader's, or no longer taking recordings"),
        (status = 404, description = "No such upload (finished, terminated or expired)"),
        (status = 412, description = "`Tus-Resumable` is not 1.0.0"),
    ),
)]
async fn upload_offset(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath((id, upload_id)): ApiPath<(SubmissionId, UploadId)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    require_tus(&headers)?;
    let blobs = blobs(&state)?;
    let upload = upload_of(&state, &caller, id, upload_id, false).await?;
    let offset = match blobs.upload_offset(&upload_key(upload.id)?).await {
        Ok(offset) => offset,
        Err(BlobError::UploadNotFound { .. }) => {
            recover_finished(&state, blobs, &upload).await?;
            return Err(ApiError::not_found());
        }
        Err(error) => return Err(ApiError::from(error)),
    };
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    headers.insert(UPLOAD_OFFSET.clone(), offset.into());
    if let Some(length) = upload.declared_length {
        headers.insert(UPLOAD_LENGTH.clone(), length.into());
    }
    insert_header(
        headers,
        UPLOAD_EXPIRES.clone(),
        &http_date(upload.expires_at),
    )?;
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(name) = &upload.file_name {
        let encoded = base64::engine::general_purpose::STANDARD.encode(name.as_bytes());
        insert_header(
            headers,
            UPLOAD_METADATA.clone(),
            &format!("filename {encoded}"),
        )?;
    }
    Ok(response)
}

/// Appends a chunk (tus PATCH) at `Upload-Offset`, optionally checked by `Upload-Checksum:
/// sha256 <base64>`. The chunk that completes the upload turns it into a recording, whose
/// URL is in the `Vitrine-Recording` header.
#[utoipa::path(
    patch,
    path = "/api/v1/submissions/{id}/uploads/{upload_id}",
    tag = TAG,
    params(
        ("id" = SubmissionId, Path, description = "The submission"),
        ("upload_id" = String, Path, description = "The upload"),
        ("Tus-Resumable" = inline(TusResumable), Header, description = "The tus version: 1.0.0"),
        ("Upload-Offset" = u64, Header, description = "Bytes already stored (from HEAD)"),
        ("Upload-Checksum" = Option<String>, Header, description = "`sha256 <base64 of the chunk's digest>`"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses(
        (status = 204, description = "Stored; `Upload-Offset` is the new offset"),
        (status = 403, response = vitrine_http::problem::Problem),
        (status = 404, response = vitrine_http::problem::Problem),
        (status = 409, response = vitrine_http::problem::Problem),
        (status = 412, response = vitrine_http::problem::Problem),
        (status = 423, response = vitrine_http::problem::Problem),
        (status = 460, response = vitrine_http::problem::Problem),
    ),
)]
async fn append_to_upload(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath((id, upload_id)): ApiPath<(SubmissionId, UploadId)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    require_tus(&headers)?;
    let blobs = blobs(&state)?;
    if content_type(&headers) != Some(OFFSET_OCTET_STREAM) {
        return Err(ApiError::new(
            ProblemKind::UnsupportedMediaType,
            tr!(
                "tus.patch_type",
                "a tus PATCH carries Content-Type: application/offset+octet-stream",
                "un PATCH tus porte Content-Type: application/offset+octet-stream"
            ),
        ));
    }
    let offset = header_u64(&headers, &UPLOAD_OFFSET)?.ok_or_else(|| {
        ApiError::new(
            ProblemKind::BadRequest,
            tr!(
                "tus.offset_required",
                "Upload-Offset is required",
                "Upload-Offset est obligatoire"
            ),
        )
    })?;
    let checksum = match headers.get(&UPLOAD_CHECKSUM) {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| {
                    ApiError::new(
                        ProblemKind::BadRequest,
                        tr!(
                            "upload.checksum_malformed",
                            "malformed Upload-Checksum header: not text",
                            "en-tête Upload-Checksum mal formé : ce n’est pas du texte"
                        ),
                    )
                })
                .and_then(|v| Sha256Expectation::from_tus_header(v).map_err(ApiError::from))?,
        ),
        None => None,
    };
    let upload = upload_of(&state, &caller, id, upload_id, true).await?;
    let max_size = state.config.max_recording_bytes;
    // Refused before a byte is read when the request says it is too long.
    if let (Some(length), Some(declared)) = (content_length(&headers), upload.declared_length)
        && offset.saturating_add(length) > declared
    {
        return Err(ApiError::from(BlobError::ExceedsDeclaredLength {
            declared_length: declared,
        }));
    }
    let key = upload_key(upload.id)?;
    let request = AppendRequest {
        expected_offset: offset,
        declared_length: upload.declared_length,
        max_size,
        checksum,
        body_length: content_length(&headers),
    };
    let outcome = match blobs.append(&key, request, body.into_data_stream()).await {
        Ok(outcome) => outcome,
        Err(BlobError::UploadNotFound { .. }) => {
            recover_finished(&state, blobs, &upload).await?;
            return Err(ApiError::not_found());
        }
        Err(error @ BlobError::UnsupportedMediaType { .. }) => {
            // The blob store removed the bytes; the row goes too.
            forget_upload_row(&state, upload.id).await;
            return Err(ApiError::from(error));
        }
        Err(error) => return Err(ApiError::from(error)),
    };
    let mut response = StatusCode::NO_CONTENT.into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(UPLOAD_OFFSET.clone(), outcome.offset.into());
    insert_header(
        response_headers,
        UPLOAD_EXPIRES.clone(),
        &http_date(upload.expires_at),
    )?;
    if outcome.complete {
        let recording = finish_upload(&state, blobs, &upload).await?;
        insert_header(
            response.headers_mut(),
            RECORDING_LOCATION.clone(),
            &recording_path(recording.id),
        )?;
    }
    Ok(response)
}

/// Abandons an upload (tus termination): its bytes and row are removed.
#[utoipa::path(
    delete,
    path = "/api/v1/submissions/{id}/uploads/{upload_id}",
    tag = TAG,
    params(
        ("id" = SubmissionId, Path, description = "The submission"),
        ("upload_id" = String, Path, description = "The upload"),
        ("Tus-Resumable" = inline(TusResumable), Header, description = "The tus version: 1.0.0"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, response = vitrine_http::problem::Problem),
        (status = 404, response = vitrine_http::problem::Problem),
        (status = 412, response = vitrine_http::problem::Problem),
        (status = 423, response = vitrine_http::problem::Problem),
    ),
)]
async fn terminate_upload(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath((id, upload_id)): ApiPath<(SubmissionId, UploadId)>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    require_tus(&headers)?;
    let blobs = blobs(&state)?;
    let upload = upload_of(&state, &caller, id, upload_id, false).await?;
    match blobs.terminate(&upload_key(upload.id)?).await {
        Ok(()) | Err(BlobError::UploadNotFound { .. }) => {}
        Err(error) => return Err(ApiError::from(error)),
    }
    match state.store.delete_upload(upload.id).await {
        Ok(()) | Err(StoreError::NotFound) => Ok(StatusCode::NO_CONTENT),
        Err(error) => Err(error.into()),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PutRecordingParams {
    /// The file's name, for display.
    filename: Option<String>,
}

/// Uploads a whole recording in one streamed request (for scripts: `curl -T demo.mp4`).
/// Not resumable: an interrupted request leaves nothing. Answers the recording.
#[utoipa::path(
    put,
    path = "/api/v1/submissions/{id}/recordings",
    tag = TAG,
    params(("id" = SubmissionId, Path, description = "The submission"), PutRecordingParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 201, body = Recording, description = "Stored; `Location` is the recording's URL"),
        (status = 403, response = vitrine_http::problem::Problem),
        (status = 404, response = vitrine_http::problem::Problem),
        (status = 409, response = vitrine_http::problem::Problem),
    ),
)]
async fn put_recording(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<SubmissionId>,
    ApiQuery(params): ApiQuery<PutRecordingParams>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let blobs = blobs(&state)?;
    let max_size = state.config.max_recording_bytes;
    let declared = content_length(&headers);
    if declared.is_some_and(|length| length > max_size) {
        return Err(ApiError::from(BlobError::TooLarge { max_size }));
    }
    let submission = submission_taking_recordings(&state, &caller, id).await?;
    let file_name = params
        .filename
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| "recording".to_owned());
    let recording = store_recording(
        &state,
        blobs,
        RecordingId::generate(),
        &submission,
        caller.user.id,
        file_name,
        declared,
        max_size,
        body.into_data_stream(),
        state.clock.now(),
    )
    .await?;
    let mut response = (StatusCode::CREATED, axum::Json(&recording)).into_response();
    insert_header(
        response.headers_mut(),
        header::LOCATION,
        &recording_path(recording.id),
    )?;
    Ok(response)
}

/// Every recording uploaded to a submission (in any round), oldest first, for whoever may
/// see the submission. A round names the recordings it holds by id.
#[utoipa::path(
    get,
    path = "/api/v1/submissions/{id}/recordings",
    tag = TAG,
    params(("id" = SubmissionId, Path, description = "The submission")),
    responses(
        (status = 200, body = Vec<Recording>),
        (status = 404, response = vitrine_http::problem::Problem),
    ),
)]
async fn list_recordings(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<SubmissionId>,
) -> ApiResult<axum::Json<Vec<Recording>>> {
    let submission = state
        .store
        .submission(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    submission.require_visible_to(&caller.actor)?;
    Ok(axum::Json(state.store.recordings_of(id).await?))
}

/// A recording's bytes, for the provider's members and staff (anyone else: 404). Supports
/// one `Range: bytes=…` (206), so browsers can seek.
#[utoipa::path(
    get,
    path = "/api/v1/recordings/{id}",
    tag = TAG,
    params(
        ("id" = RecordingId, Path, description = "The recording"),
        ("Range" = Option<String>, Header, description = "`bytes=start-end`, `bytes=start-` or `bytes=-suffix`"),
    ),
    responses(
        (status = 200, description = "The whole recording", content_type = "video/mp4"),
        (status = 206, description = "The requested range; `Content-Range` says which"),
        (status = 404, response = vitrine_http::problem::Problem),
        (status = 416, response = vitrine_http::problem::Problem),
    ),
)]
async fn get_recording(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    ApiPath(id): ApiPath<RecordingId>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let blobs = blobs(&state)?;
    let recording = state
        .store
        .recording(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let submission = state
        .store
        .submission(recording.submission_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    submission.require_visible_to(&caller.actor)?;
    let opened = blobs
        .open_recording(&recording_key(id)?)
        .await
        .map_err(ApiError::from)?;
    let size = opened.size();
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(value) => parse_range(value, size),
        None => RangeAnswer::Whole,
    };
    let (status, start, length) = match range {
        RangeAnswer::Whole => (StatusCode::OK, 0, size),
        RangeAnswer::Part { start, end } => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        RangeAnswer::Unsatisfiable => {
            let mut response = ApiError::new(
                ProblemKind::RangeNotSatisfiable,
                tr!(
                    "recording.range",
                    "the recording has {size} bytes",
                    "l’enregistrement compte {size} octets"
                ),
            )
            .into_response();
            insert_header(
                response.headers_mut(),
                header::CONTENT_RANGE,
                &format!("bytes */{size}"),
            )?;
            return Ok(response);
        }
    };
    // Streamed from the file or the bucket as it is sent; the permission check above is the
    // only way to these bytes (the bucket is never exposed to clients).
    let stream = opened
        .into_stream(start, length)
        .await
        .map_err(|e| ApiError::internal("reading a recording", e))?;
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    insert_header(headers, header::CONTENT_TYPE, &recording.media_type)?;
    headers.insert(header::CONTENT_LENGTH, length.into());
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    insert_header(headers, header::ETAG, &format!("\"{}\"", recording.sha256))?;
    if status == StatusCode::PARTIAL_CONTENT {
        insert_header(
            headers,
            header::CONTENT_RANGE,
            &format!("bytes {start}-{}/{size}", start + length - 1),
        )?;
    }
    Ok(response)
}

/// What a `Range` header asks of a file of a given size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RangeAnswer {
    /// No usable range (absent, not bytes, several ranges, malformed): the whole file, 200.
    Whole,
    /// Bytes `start..=end`, 206.
    Part { start: u64, end: u64 },
    /// A well-formed range wholly past the end: 416.
    Unsatisfiable,
}

/// One byte range (RFC 9110 §14.1.2). Several ranges are answered with the whole file, which
/// the RFC allows and every player copes with.
fn parse_range(value: &str, size: u64) -> RangeAnswer {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Whole;
    };
    if spec.contains(',') {
        return RangeAnswer::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    match (first.is_empty(), last.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match parse(last) {
            Some(0) => RangeAnswer::Unsatisfiable,
            Some(_) if size == 0 => RangeAnswer::Unsatisfiable,
            Some(n) => RangeAnswer::Part {
                start: size.saturating_sub(n),
                end: size - 1,
            },
            None => RangeAnswer::Whole,
        },
        (false, _) => {
            let Some(start) = parse(first) else {
                return RangeAnswer::Whole;
            };
            let end = if last.is_empty() {
                None
            } else {
                match parse(last) {
                    Some(end) if end >= start => Some(end),
                    _ => return RangeAnswer::Whole,
                }
            };
            if start >= size {
                return RangeAnswer::Unsatisfiable;
            }
            RangeAnswer::Part {
                start,
                end: end.map_or(size - 1, |end| end.min(size - 1)),
            }
        }
        (true, true) => RangeAnswer::Whole,
    }
}

// --- helpers ---

fn blobs(state: &AppState) -> ApiResult<&BlobStore> {
    state.blobs.as_ref().ok_or_else(|| {
        ApiError::new(
            ProblemKind::Unavailable,
            tr!(
                "recording.storage_off",
                "recording storage is not available on this server",
                "le stockage des enregistrements n’est pas disponible sur ce serveur"
            ),
        )
    })
}

fn require_tus(headers: &HeaderMap) -> ApiResult<()> {
    match headers.get(&TUS_RESUMABLE).and_then(|v| v.to_str().ok()) {
        Some(TUS_VERSION) => Ok(()),
        Some(other) => Err(ApiError::new(
            ProblemKind::PreconditionFailed,
            tr!(
                "tus.version",
                "tus version {other:?} is not supported; this server speaks {TUS_VERSION}",
                "la version tus {other:?} n’est pas prise en charge ; ce serveur parle {TUS_VERSION}"
            ),
        )),
        None => Err(ApiError::new(
            ProblemKind::PreconditionFailed,
            tr!(
                "tus.version",
                "send Tus-Resumable: {TUS_VERSION}",
                "envoyez Tus-Resumable: {TUS_VERSION}"
            ),
        )),
    }
}

/// The submission, if `caller` is a member of its provider (others who may see it get 403,
/// anyone else 404).
async fn provider_submission(
    state: &AppState,
    caller: &Caller,
    id: SubmissionId,
) -> ApiResult<Submission> {
    let submission = state
        .store
        .submission(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if submission.require_visible_to(&caller.actor)? != Party::Provider {
        return Err(ApiError::new(
            ProblemKind::Forbidden,
            tr!(
                "recording.members_only",
                "only members of the provider account upload recordings",
                "seuls les membres du compte fournisseur déposent des enregistrements"
            ),
        ));
    }
    Ok(submission)
}

/// The submission, if `caller` may upload recordings to it now: a provider member while its
/// round is open (409 otherwise).
async fn submission_taking_recordings(
    state: &AppState,
    caller: &Caller,
    id: SubmissionId,
) -> ApiResult<Submission> {
    let submission = provider_submission(state, caller, id).await?;
    if !matches!(
        submission.state,
        SubmissionState::Draft | SubmissionState::ChangesRequested
    ) {
        return Err(ApiError::new(ProblemKind::Conflict, {
            let (state_en, state_fr) = submission.state.label();
            tr!(
                "submission.frozen",
                "this submission takes no recordings: it is {state_en}, and its round stays \
                     as it is until a decision asks for changes",
                "cette soumission ne prend pas d’enregistrement : son état est {state_fr}, et \
                     son tour reste tel quel jusqu’à ce qu’une décision demande des modifications"
            )
        }));
    }
    Ok(submission)
}

/// The upload, if it belongs to the submission of the path, has not expired, and `caller`
/// may use it (`writing`: the round must be open too).
async fn upload_of(
    state: &AppState,
    caller: &Caller,
    submission: SubmissionId,
    id: UploadId,
    writing: bool,
) -> ApiResult<Upload> {
    let upload = state
        .store
        .upload(id)
        .await?
        .filter(|u| u.submission_id == submission)
        .filter(|u| u.expires_at > state.clock.now())
        .ok_or_else(ApiError::not_found)?;
    if writing {
        submission_taking_recordings(state, caller, submission).await?;
    } else {
        provider_submission(state, caller, submission).await?;
    }
    Ok(upload)
}

fn upload_path(upload: &Upload) -> String {
    format!(
        "/api/v1/submissions/{}/uploads/{}",
        upload.submission_id, upload.id
    )
}

fn recording_path(id: RecordingId) -> String {
    format!("/api/v1/recordings/{id}")
}

fn expiry(now: Timestamp) -> ApiResult<Timestamp> {
    let ttl = jiff::SignedDuration::try_from(UPLOAD_TTL)
        .map_err(|e| ApiError::internal("upload expiry", e))?;
    now.checked_add(ttl)
        .map_err(|e| ApiError::internal("upload expiry", e))
}

/// An HTTP date (RFC 9110 §5.6.7), as tus's `Upload-Expires` wants.
fn http_date(at: Timestamp) -> String {
    at.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn insert_header(headers: &mut HeaderMap, name: HeaderName, value: &str) -> ApiResult<()> {
    let value = HeaderValue::from_str(value).map_err(|e| ApiError::internal("header value", e))?;
    headers.insert(name, value);
    Ok(())
}

fn header_u64(headers: &HeaderMap, name: &HeaderName) -> ApiResult<Option<u64>> {
    headers
        .get(name)
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::new(
                        ProblemKind::BadRequest,
                        tr!(
                            "header.integer",
                            "{name} must be a non-negative integer",
                            "{name} doit être un entier positif ou nul"
                        ),
                    )
                })
        })
        .transpose()
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim())
}

/// A declared type that may be a video: sniffing the bytes decides; this only refuses
/// declared types that cannot be one before anything is stored.
fn plausibly_video(filetype: &str) -> bool {
    let filetype = filetype.trim().to_ascii_lowercase();
    filetype.is_empty()
        || filetype.starts_with("video/")
        || filetype == "application/octet-stream"
        || filetype == "application/mp4"
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Metadata {
    filename: Option<String>,
    filetype: Option<String>,
}

/// tus `Upload-Metadata`: comma-separated `key base64value` pairs (the value may be absent).
fn parse_metadata(headers: &HeaderMap) -> ApiResult<Metadata> {
    let Some(value) = headers.get(&UPLOAD_METADATA) else {
        return Ok(Metadata::default());
    };
    // The reason names the protocol's parts (base64, UTF-8): it is kept as it is.
    let bad = |why: &str| {
        ApiError::new(
            ProblemKind::BadRequest,
            tr!(
                "tus.metadata",
                "Upload-Metadata {why}",
                "Upload-Metadata mal formé ({why})"
            ),
        )
    };
    let value = value.to_str().map_err(|_| bad("is not text"))?;
    let mut metadata = Metadata::default();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, encoded) = pair.split_once(' ').unwrap_or((pair, ""));
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| bad(&format!("value of {key} is not base64")))?;
        let text =
            String::from_utf8(decoded).map_err(|_| bad(&format!("value of {key} is not UTF-8")))?;
        match key {
            "filename" => metadata.filename = Some(text.chars().take(255).collect()),
            "filetype" => metadata.filetype = Some(text),
            _ => {}
        }
    }
    Ok(metadata)
}

/// The problem a blob store error answers with (its `http_status`).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeAnswer::*;
        let size = 1000;
        let cases = [
            ("bytes=0-99", Part { start: 0, end: 99 }),
            (
                "bytes=900-",
                Part {
                    start: 900,
                    end: 999,
                },
            ),
            (
                "bytes=-100",
                Part {
                    start: 900,
                    end: 999,
                },
            ),
            ("bytes=-5000", Part { start: 0, end: 999 }),
            (
                "bytes=990-5000",
                Part {
                    start: 990,
                    end: 999,
                },
            ),
            ("bytes=1000-", Unsatisfiable),
            ("bytes=-0", Unsatisfiable),
            ("bytes=5-1", Whole),
            ("bytes=0-1,5-6", Whole),
            ("items=0-1", Whole),
            ("bytes=x-1", Whole),
            ("bytes=-", Whole),
        ];
        for (header, expected) in cases {
            assert_eq!(parse_range(header, size), expected, "{header}");
        }
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
    }

    #[test]
    fn metadata() {
        let mut headers = HeaderMap::new();
        headers.insert(
            UPLOAD_METADATA.clone(),
            HeaderValue::from_static("filename ZGVtby5tcDQ=,filetype dmlkZW8vbXA0,is_confidential"),
        );
        let metadata = parse_metadata(&headers).expect("parses");
        assert_eq!(metadata.filename.as_deref(), Some("demo.mp4"));
        assert_eq!(metadata.filetype.as_deref(), Some("video/mp4"));
        headers.insert(
            UPLOAD_METADATA.clone(),
            HeaderValue::from_static("filename !!!"),
        );
        assert!(parse_metadata(&headers).is_err());
    }

    #[test]
    fn http_dates() {
        let at: Timestamp = "2014-06-25T16:00:00Z".parse().expect("time");
        assert_eq!(http_date(at), "Wed, 25 Jun 2014 16:00:00 GMT");
    }
}
