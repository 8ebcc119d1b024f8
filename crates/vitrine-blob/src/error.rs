//! What can go wrong in the blob store, one variant per answer the HTTP layer gives.

use std::io;
use std::path::PathBuf;

/// An error from the blob store. [`BlobError::http_status`] gives the status a tus or
/// streaming endpoint answers with; the variants carry what the problem details need.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// A key is not a safe file name (see [`crate::UploadKey`]).
    #[error("invalid blob key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },

    /// No partial upload with this key (never created, finished, terminated or expired).
    #[error("upload {key} not found")]
    UploadNotFound { key: String },

    /// `create_upload` on a key that already has a partial upload.
    #[error("upload {key} already exists")]
    UploadExists { key: String },

    /// Another request (in this process or another one on the same disk) is writing,
    /// finishing or removing this upload right now.
    #[error("upload {key} is busy with another request")]
    UploadBusy { key: String },

    /// The client's `Upload-Offset` is not the number of bytes stored (tus: 409).
    #[error(
        "upload offset mismatch: the request starts at {requested} but {stored} bytes are stored"
    )]
    OffsetMismatch { requested: u64, stored: u64 },

    /// The upload would grow past the configured maximum size (HTTP 413). Nothing past the
    /// limit was written and the upload is back where this request found it.
    #[error("the recording would exceed the maximum size of {max_size} bytes")]
    TooLarge { max_size: u64 },

    /// The request carries more bytes than the upload's declared length (HTTP 413).
    #[error("the request goes past the declared upload length of {declared_length} bytes")]
    ExceedsDeclaredLength { declared_length: u64 },

    /// A declared length smaller than what is already stored (HTTP 400).
    #[error("declared length {declared_length} is below the {stored} bytes already stored")]
    DeclaredLengthBelowOffset { declared_length: u64, stored: u64 },

    /// The bytes are not a recording in an accepted container (HTTP 415). The upload has
    /// been removed; nothing of it is left on disk.
    #[error(
        "unsupported media type {}: accepted are MP4, QuickTime, WebM and Matroska",
        detected.as_deref().unwrap_or("(unrecognised)")
    )]
    UnsupportedMediaType { detected: Option<String> },

    /// The `Upload-Checksum` header names an algorithm other than sha256 (tus: 400).
    #[error("unsupported checksum algorithm {algorithm:?}: only sha256 is supported")]
    UnsupportedChecksumAlgorithm { algorithm: String },

    /// The `Upload-Checksum` header is not `sha256 <base64 of 32 bytes>` (HTTP 400).
    #[error("malformed Upload-Checksum header: {reason}")]
    MalformedChecksum { reason: &'static str },

    /// The body's sha256 is not the one the client sent (tus: 460). The request's bytes
    /// have been removed; the offset is what it was before the request.
    #[error("checksum mismatch: the request body's sha256 is not the one announced")]
    ChecksumMismatch,

    /// The request body failed part way (client gone, connection reset). Everything
    /// received before the failure is synced and kept, so the client resumes at `offset`,
    /// except with a checksum, where the request's bytes are dropped because they cannot
    /// be verified.
    #[error("the request body was interrupted; the upload is at offset {offset}")]
    BodyInterrupted {
        offset: u64,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// No finished recording with this key.
    #[error("recording {key} not found")]
    RecordingNotFound { key: String },

    /// `finish` into a recording key that is already taken.
    #[error("recording {key} already exists")]
    RecordingExists { key: String },

    /// The disk said no.
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The bucket said no (or could not be reached).
    #[error("{action} {location} in the bucket: {source}")]
    ObjectStore {
        action: &'static str,
        location: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The keeper of upload states (the database) said no; `what` says to what.
    #[error("{what}: {source}")]
    UploadState {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A blocking file task died (a panic in it); the upload's state on disk is still
    /// consistent because its length is the offset.
    #[error("a blob store task failed: {0}")]
    TaskFailed(String),
}

impl BlobError {
    /// The HTTP status a tus or streaming upload endpoint answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::InvalidKey { .. }
            | Self::DeclaredLengthBelowOffset { .. }
            | Self::UnsupportedChecksumAlgorithm { .. }
            | Self::MalformedChecksum { .. }
            | Self::BodyInterrupted { .. } => 400,
            Self::UploadNotFound { .. } | Self::RecordingNotFound { .. } => 404,
            Self::UploadExists { .. }
            | Self::OffsetMismatch { .. }
            | Self::RecordingExists { .. } => 409,
            Self::TooLarge { .. } | Self::ExceedsDeclaredLength { .. } => 413,
            Self::UnsupportedMediaType { .. } => 415,
            // tusd answers a locked upload with 423 Locked; clients retry after a HEAD.
            Self::UploadBusy { .. } => 423,
            Self::ChecksumMismatch => 460,
            Self::Io { .. }
            | Self::ObjectStore { .. }
            | Self::UploadState { .. }
            | Self::TaskFailed(_) => 500,
        }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = BlobError> = std::result::Result<T, E>;
