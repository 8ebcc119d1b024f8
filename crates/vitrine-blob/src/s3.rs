//! Recordings in an S3-compatible bucket (`object_store`'s S3 client, path-style requests to
//! the operator's endpoint).
//!
//! # Layout in the bucket
//!
//! - `recordings/<key>`: a finished recording. A tus upload is one S3 multipart upload aimed
//!   at `recordings/<upload key>` from its creation, so finishing it is S3's
//!   `CompleteMultipartUpload`, which makes the whole object appear at once.
//! - `uploads/<key>/tail-<offset>`: the tail, fewer bytes than one part. S3 takes parts of at
//!   least 5 MiB (except the last), while tus chunks may be any size, so the bytes after the
//!   last whole part wait here until the next request brings enough to cut a part.
//!
//! Where an upload stands ([`UploadState`]: the multipart upload's id, the parts stored and
//! their ETags, the tail's object, the running SHA-256 state, the sniffed type) is not in
//! the bucket but in an [`UploadStates`] keeper: the database, when a server binds the store
//! to it ([`S3BlobStore::with_upload_states`]). A chunk then costs the bucket only its own
//! bytes (no state object read and written back per request), and the expiry job finds
//! abandoned uploads with a query instead of a listing.
//!
//! # Any server resumes any upload
//!
//! Nothing of an upload is kept in a server's memory between requests: a request reads the
//! state, sends the tail back through the same cutting as its own body, uploads the whole
//! parts, writes the new tail, and commits by saving the new state (one row written). A
//! request that fails or whose server dies before that save changed nothing the next
//! request reads: parts it uploaded are not listed (a later request uploads the same part
//! number again), its tail object is not named.
//!
//! Parts are cut at fixed multiples of the part size from the upload's start, so part `n`
//! always holds the same bytes of the file: two servers taking the same chunk (a client
//! retrying on another server while the first still works) upload identical parts, and
//! whichever commits last describes the same bytes. (A client sending *different* bytes for
//! the same offset to two servers at once can only spoil its own upload: the ETags then
//! disagree and S3 refuses to complete it.) There is no lock, so the local store's 423
//! (busy) does not happen here.
//!
//! # SHA-256
//!
//! The hash is fed part by part as parts are cut, in file order, and its state after the
//! last whole part (sha2's `SerializableState`: the chaining value, the byte count and the
//! buffered block) is saved with the state; the next request, on any server, continues
//! from it. So the finished recording's digest is known when its last byte arrives and the
//! bytes are never read back. (The alternative, reading every part back at the end, would
//! double the traffic of every upload.)
//!
//! # Memory
//!
//! A request holds at most the part being cut plus two parts being uploaded (the part size
//! is [`S3Settings::part_size`], 8 MiB by default).

use std::error::Error as StdError;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientOptions, GetOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use sha2_resumable::Digest as _;
use sha2_resumable::digest::common::hazmat::{SerializableState, SerializedState};
use tokio::task::JoinHandle;

use crate::duration::container_duration;
use crate::error::{BlobError, Result};
use crate::key::{RecordingKey, UploadKey};
use crate::media::{self, MediaType, SNIFF_LEN};
use crate::store::{AppendOutcome, AppendRequest, RecordingInfo, hex};
use crate::upload_states::{MemoryUploadStates, StateError, UploadStates};

mod part_stream;
mod single_put;

/// S3 refuses parts smaller than this, except the last.
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
/// The part size unless configured: few requests per upload, 24 MiB held at most.
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;
/// The largest part size taken: an upload holds three parts at most, so this bounds the
/// memory one upload takes (384 MiB).
pub const MAX_PART_SIZE: usize = 128 * 1024 * 1024;
/// Parts uploaded at once by one request, while the next one is being received.
const PARTS_IN_FLIGHT: usize = 2;
/// Ranged reads for the duration parser fetch this much at a time: box and element headers
/// are small and usually close together.
const HEADER_READ: u64 = 64 * 1024;

/// How to reach the bucket. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// The endpoint's URL, such as `https://s3.eu-west-1.amazonaws.com` or
    /// `http://127.0.0.1:9000`. Requests are path-style (`<endpoint>/<bucket>/<key>`).
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Allow `http://` endpoints (a loopback test server, a store on a private network).
    pub allow_http: bool,
    /// Bytes per multipart part ([`MIN_PART_SIZE`] to [`MAX_PART_SIZE`]).
    pub part_size: usize,
    /// Sign requests without hashing their bodies (`UNSIGNED-PAYLOAD`), as the AWS SDKs do
    /// over HTTPS, where TLS already protects the bytes: one SHA-256 pass over every
    /// recording fewer, on the server and on the store.
    pub unsigned_payload: bool,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("allow_http", &self.allow_http)
            .field("part_size", &self.part_size)
            .field("unsigned_payload", &self.unsigned_payload)
            .finish_non_exhaustive()
    }
}

/// Why the bucket cannot be used, said so an operator knows what to fix.
#[derive(Debug, thiserror::Error)]
pub enum S3ConnectError {
    #[error("the S3 settings are not usable: {0}")]
    Settings(String),
    #[error(
        "the S3 endpoint {endpoint} refused the credentials of access key {access_key_id:?} for \
         bucket {bucket:?}: check the access key id and the secret access key (S3 said: {source})"
    )]
    CredentialsRefused {
        endpoint: String,
        bucket: String,
        access_key_id: String,
        #[source]
        source: Box<object_store::Error>,
    },
    #[error("the bucket {bucket:?} does not exist on the S3 endpoint {endpoint} ({source})")]
    NoSuchBucket {
        endpoint: String,
        bucket: String,
        #[source]
        source: Box<object_store::Error>,
    },
    #[error(
        "cannot use the bucket {bucket:?} on the S3 endpoint {endpoint}: {source}. Check the \
         endpoint's address and that it is running"
    )]
    Unreachable {
        endpoint: String,
        bucket: String,
        #[source]
        source: Box<object_store::Error>,
    },
}

/// Recordings and partial uploads in a bucket. Cheap to clone.
#[derive(Clone, Debug)]
pub struct S3BlobStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    s3: AmazonS3,
    part_size: usize,
    /// The HTTP client for recordings sent in one request ([`single_put`]), when payloads
    /// may go unsigned.
    single_put: Option<reqwest::Client>,
    /// Where uploads stand between requests.
    states: Arc<dyn UploadStates>,
    /// `<endpoint>/<bucket>`, for messages.
    name: String,
}

/// Where an upload stands, kept by the [`UploadStates`] as JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct UploadState {
    declared_length: Option<u64>,
    part_size: u64,
    /// Bytes stored: the tus offset.
    offset: u64,
    multipart_id: String,
    /// ETags of parts `1..=parts.len()`, each `part_size` bytes (the last may be shorter
    /// once the upload is complete).
    parts: Vec<String>,
    /// sha2's serialised SHA-256 state after the bytes the parts hold, base64.
    parts_sha256: String,
    /// The object holding the bytes after the last whole part, if any.
    tail: Option<String>,
    /// The container, once sniffed.
    media_type: Option<String>,
    /// Lowercase hex SHA-256 of the whole recording, once its last byte is stored.
    sha256_hex: Option<String>,
}

impl UploadState {
    fn complete(&self) -> bool {
        self.sha256_hex.is_some()
    }

    fn parts_end(&self) -> u64 {
        self.parts.len() as u64 * self.part_size
    }

    fn media_type(&self) -> Option<MediaType> {
        self.media_type.as_deref().and_then(MediaType::from_mime)
    }
}

type ResumableSha256 = sha2_resumable::Sha256;

fn save_hash(hasher: &ResumableSha256) -> String {
    STANDARD.encode(hasher.serialize().as_slice())
}

fn load_hash(saved: &str) -> Result<ResumableSha256> {
    let corrupt = |what: &str| BlobError::TaskFailed(format!("an upload's saved hash {what}"));
    let bytes = STANDARD
        .decode(saved)
        .map_err(|_| corrupt("is not base64"))?;
    let state = SerializedState::<ResumableSha256>::try_from(bytes.as_slice())
        .map_err(|_| corrupt("has the wrong length"))?;
    ResumableSha256::deserialize(&state).map_err(|_| corrupt("cannot be read"))
}

fn s3_error(action: &'static str, location: &ObjectPath, source: object_store::Error) -> BlobError {
    BlobError::ObjectStore {
        action,
        location: location.to_string(),
        source: Box::new(source),
    }
}

fn state_error(action: &str, key: &UploadKey, source: StateError) -> BlobError {
    BlobError::UploadState {
        what: format!("{action} the state of upload {key}"),
        source,
    }
}

fn state_json(state: &UploadState) -> Result<String> {
    serde_json::to_string(state)
        .map_err(|e| BlobError::TaskFailed(format!("writing an upload's state: {e}")))
}

fn recording_path(key: &RecordingKey) -> ObjectPath {
    ObjectPath::from(format!("recordings/{key}"))
}

fn upload_target(key: &UploadKey) -> ObjectPath {
    ObjectPath::from(format!("recordings/{key}"))
}

fn upload_dir(key: &UploadKey) -> ObjectPath {
    ObjectPath::from(format!("uploads/{key}"))
}

impl S3BlobStore {
    /// Builds the client and probes the bucket (a listing, signed like every request), so a
    /// wrong secret, a missing bucket or an unreachable endpoint stops the start-up with a
    /// message saying which, instead of failing the first upload.
    pub async fn connect(settings: &S3Settings) -> Result<Self, S3ConnectError> {
        let store = Self::new(settings)?;
        store.probe(settings).await?;
        Ok(store)
    }

    /// Builds the client without contacting the endpoint. Upload states are kept in this
    /// process's memory until [`Self::with_upload_states`] names their keeper.
    pub fn new(settings: &S3Settings) -> Result<Self, S3ConnectError> {
        if settings.part_size < MIN_PART_SIZE {
            return Err(S3ConnectError::Settings(format!(
                "the part size {} is below S3's minimum of {MIN_PART_SIZE} bytes",
                settings.part_size
            )));
        }
        if settings.part_size > MAX_PART_SIZE {
            return Err(S3ConnectError::Settings(format!(
                "the part size {} is above {MAX_PART_SIZE} bytes (an upload holds three parts)",
                settings.part_size
            )));
        }
        for (name, value) in [
            ("endpoint", &settings.endpoint),
            ("bucket", &settings.bucket),
            ("access key id", &settings.access_key_id),
            ("secret access key", &settings.secret_access_key),
        ] {
            if value.trim().is_empty() {
                return Err(S3ConnectError::Settings(format!("the {name} is empty")));
            }
        }
        let client_options = ClientOptions::new()
            .with_allow_http(settings.allow_http)
            .with_connect_timeout(Duration::from_secs(5));
        // Retries for a minute at most: a request held longer than that is a failed
        // request for the client too.
        let retry = RetryConfig {
            max_retries: 5,
            retry_timeout: Duration::from_secs(60),
            ..RetryConfig::default()
        };
        let s3 = AmazonS3Builder::new()
            .with_endpoint(settings.endpoint.trim_end_matches('/'))
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(&settings.secret_access_key)
            .with_virtual_hosted_style_request(false)
            .with_unsigned_payload(settings.unsigned_payload)
            .with_allow_http(settings.allow_http)
            .with_client_options(client_options)
            .with_retry(retry)
            .build()
            .map_err(|error| S3ConnectError::Settings(error.to_string()))?;
        let single_put = match settings.unsigned_payload {
            true => Some(single_put::client().map_err(S3ConnectError::Settings)?),
            false => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                s3,
                part_size: settings.part_size,
                single_put,
                states: Arc::new(MemoryUploadStates::default()),
                name: format!(
                    "{}/{}",
                    settings.endpoint.trim_end_matches('/'),
                    settings.bucket
                ),
            }),
        })
    }

    async fn probe(&self, settings: &S3Settings) -> Result<(), S3ConnectError> {
        let prefix = ObjectPath::from("recordings");
        let endpoint = settings.endpoint.clone();
        let bucket = settings.bucket.clone();
        match self.inner.s3.list_with_delimiter(Some(&prefix)).await {
            Ok(_) => Ok(()),
            Err(
                source @ (object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }),
            ) => Err(S3ConnectError::CredentialsRefused {
                endpoint,
                bucket,
                access_key_id: settings.access_key_id.clone(),
                source: Box::new(source),
            }),
            Err(source @ object_store::Error::NotFound { .. }) => {
                Err(S3ConnectError::NoSuchBucket {
                    endpoint,
                    bucket,
                    source: Box::new(source),
                })
            }
            Err(source) => {
                // Some servers answer a bad signature with a generic error whose body names it.
                let text = source.to_string();
                if text.contains("SignatureDoesNotMatch") || text.contains("InvalidAccessKeyId") {
                    Err(S3ConnectError::CredentialsRefused {
                        endpoint,
                        bucket,
                        access_key_id: settings.access_key_id.clone(),
                        source: Box::new(source),
                    })
                } else if text.contains("NoSuchBucket") {
                    Err(S3ConnectError::NoSuchBucket {
                        endpoint,
                        bucket,
                        source: Box::new(source),
                    })
                } else {
                    Err(S3ConnectError::Unreachable {
                        endpoint,
                        bucket,
                        source: Box::new(source),
                    })
                }
            }
        }
    }

    /// The same bucket, with upload states kept by `states` (a server's database, so that
    /// every server sharing it resumes every upload).
    pub fn with_upload_states(&self, states: Arc<dyn UploadStates>) -> Self {
        Self {
            inner: Arc::new(Inner {
                s3: self.inner.s3.clone(),
                part_size: self.inner.part_size,
                single_put: self.inner.single_put.clone(),
                states,
                name: self.inner.name.clone(),
            }),
        }
    }

    /// `<endpoint>/<bucket>`, for logs and messages.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The object store itself, for tests and tools that look into the bucket.
    pub fn object_store(&self) -> &AmazonS3 {
        &self.inner.s3
    }

    /// Starts an upload: its multipart upload, then its state (a crash in between leaves a
    /// multipart upload nothing names; a bucket lifecycle rule aborting incomplete multipart
    /// uploads after a few days removes those). Two requests creating the same key at once:
    /// one saves its state, the other aborts its multipart upload and is refused.
    pub async fn create_upload(
        &self,
        key: &UploadKey,
        declared_length: Option<u64>,
        max_size: u64,
    ) -> Result<()> {
        match declared_length {
            Some(declared) if declared > max_size => return Err(BlobError::TooLarge { max_size }),
            Some(0) => return Err(BlobError::UnsupportedMediaType { detected: None }),
            _ => {}
        }
        if self.load_state(key).await?.is_some() {
            return Err(BlobError::UploadExists {
                key: key.to_string(),
            });
        }
        let target = upload_target(key);
        let multipart_id = self
            .inner
            .s3
            .create_multipart(&target)
            .await
            .map_err(|e| s3_error("starting a multipart upload of", &target, e))?;
        let state = UploadState {
            declared_length,
            part_size: self.inner.part_size as u64,
            offset: 0,
            multipart_id,
            parts: Vec::new(),
            parts_sha256: save_hash(&ResumableSha256::new()),
            tail: None,
            media_type: None,
            sha256_hex: None,
        };
        let created = self
            .inner
            .states
            .create(key, &state_json(&state)?)
            .await
            .map_err(|e| state_error("saving", key, e))?;
        if created {
            return Ok(());
        }
        if let Err(error) = self
            .inner
            .s3
            .abort_multipart(&target, &state.multipart_id)
            .await
        {
            tracing::warn!(%error, "aborting the multipart upload of a refused creation");
        }
        Err(BlobError::UploadExists {
            key: key.to_string(),
        })
    }

    /// The upload's offset (tus `HEAD`). An upload whose recording is already complete in
    /// the bucket (its server died before removing the state) answers as gone, so the caller
    /// commits the recording's row.
    pub async fn upload_offset(&self, key: &UploadKey) -> Result<u64> {
        let state = self.read_state(key).await?;
        if state.complete() && self.object_exists(&upload_target(key)).await? {
            self.remove_upload_objects(key, None).await?;
            return Err(BlobError::UploadNotFound {
                key: key.to_string(),
            });
        }
        Ok(state.offset)
    }

    /// Appends one request body (tus `PATCH`). The same refusals as the local store's
    /// `append`, apart from 423: see the module documentation.
    pub async fn append<S, E>(
        &self,
        key: &UploadKey,
        request: AppendRequest,
        body: S,
    ) -> Result<AppendOutcome>
    where
        S: Stream<Item = std::result::Result<Bytes, E>>,
        E: Into<Box<dyn StdError + Send + Sync>>,
    {
        self.append_inner(key, request, body, false).await
    }

    /// `last`: the body ends the upload whatever its declared length (the single streamed
    /// request, whose length may not be declared).
    async fn append_inner<S, E>(
        &self,
        key: &UploadKey,
        request: AppendRequest,
        body: S,
        last: bool,
    ) -> Result<AppendOutcome>
    where
        S: Stream<Item = std::result::Result<Bytes, E>>,
        E: Into<Box<dyn StdError + Send + Sync>>,
    {
        if let Some(declared) = request.declared_length
            && declared > request.max_size
        {
            return Err(BlobError::TooLarge {
                max_size: request.max_size,
            });
        }
        let state = self.read_state(key).await?;
        if state.offset != request.expected_offset {
            return Err(BlobError::OffsetMismatch {
                requested: request.expected_offset,
                stored: state.offset,
            });
        }
        if state.complete() {
            // Everything is stored; a request with bytes goes past the end.
            let mut body = pin!(body);
            while let Some(frame) = body.next().await {
                if frame.is_ok_and(|frame| !frame.is_empty()) {
                    return Err(BlobError::ExceedsDeclaredLength {
                        declared_length: state.offset,
                    });
                }
            }
            return Ok(AppendOutcome {
                offset: state.offset,
                complete: true,
                media_type: state.media_type(),
            });
        }
        let declared_length = request.declared_length.or(state.declared_length);
        if let Some(declared_length) = declared_length
            && declared_length < state.offset
        {
            return Err(BlobError::DeclaredLengthBelowOffset {
                declared_length,
                stored: state.offset,
            });
        }
        let mut session = Session::start(self, key, state, request, declared_length).await?;
        let end = session.receive(body).await;
        session.conclude(end, last).await
    }

    /// Completes the multipart upload into `recordings/<key>` and reads the duration from
    /// the container's headers with ranged reads; then removes the upload's state. Run again
    /// after a crash, it finds the recording complete and finishes the rest.
    pub async fn finish(
        &self,
        upload: &UploadKey,
        recording: &RecordingKey,
    ) -> Result<RecordingInfo> {
        let state = self.read_state(upload).await?;
        let (Some(sha256_hex), Some(media_type)) = (state.sha256_hex.clone(), state.media_type())
        else {
            return Err(BlobError::BodyInterrupted {
                offset: state.offset,
                source: "the upload is not complete".into(),
            });
        };
        let target = upload_target(upload);
        let final_location = recording_path(recording);
        let completed_before = match self.inner.s3.head(&target).await {
            Ok(meta) if meta.size == state.offset => true,
            Ok(_) if target != final_location => false,
            Ok(_) => {
                return Err(BlobError::RecordingExists {
                    key: recording.to_string(),
                });
            }
            Err(object_store::Error::NotFound { .. }) => false,
            Err(error) => return Err(s3_error("checking", &target, error)),
        };
        if !completed_before {
            let parts = state
                .parts
                .iter()
                .map(|etag| PartId {
                    content_id: etag.clone(),
                })
                .collect();
            self.inner
                .s3
                .complete_multipart(&target, &state.multipart_id, parts)
                .await
                .map_err(|e| s3_error("completing the multipart upload of", &target, e))?;
        }
        if target != final_location {
            if self.object_exists(&final_location).await? {
                return Err(BlobError::RecordingExists {
                    key: recording.to_string(),
                });
            }
            self.inner
                .s3
                .copy(&target, &final_location)
                .await
                .map_err(|e| s3_error("copying to", &final_location, e))?;
            self.delete_object(&target).await?;
        }
        let duration_seconds = self
            .duration(&final_location, state.offset, media_type)
            .await?;
        self.remove_upload_objects(upload, None).await?;
        Ok(RecordingInfo {
            size: state.offset,
            sha256_hex,
            media_type,
            duration_seconds,
        })
    }

    /// Stores a whole recording from one streamed request: one `PutObject` when its length
    /// is known and payloads may go unsigned ([`single_put`]), else create, one append,
    /// finish. On any failure nothing is kept.
    pub async fn store_stream<S, E>(
        &self,
        upload: &UploadKey,
        recording: &RecordingKey,
        declared_length: Option<u64>,
        max_size: u64,
        body: S,
    ) -> Result<RecordingInfo>
    where
        S: Stream<Item = std::result::Result<Bytes, E>>,
        E: Into<Box<dyn StdError + Send + Sync>>,
    {
        if let Some(declared_length) = declared_length
            && self.takes_single_put(declared_length)
        {
            return self
                .store_single_put(recording, declared_length, max_size, body)
                .await;
        }
        self.create_upload(upload, declared_length, max_size)
            .await?;
        let request = AppendRequest {
            expected_offset: 0,
            declared_length,
            max_size,
            checksum: None,
            body_length: None,
        };
        let stored = match self.append_inner(upload, request, body, true).await {
            Ok(outcome) if outcome.complete => Ok(()),
            Ok(outcome) => Err(BlobError::BodyInterrupted {
                offset: outcome.offset,
                source: "the body ended before its declared length".into(),
            }),
            Err(error) => Err(error),
        };
        let finished = match stored {
            Ok(()) => self.finish(upload, recording).await,
            Err(error) => Err(error),
        };
        if finished.is_err() {
            match self.terminate(upload).await {
                Ok(()) | Err(BlobError::UploadNotFound { .. }) => {}
                Err(cleanup) => return Err(cleanup),
            }
        }
        finished
    }

    /// Removes an upload: aborts its multipart upload (S3 drops the parts) and deletes its
    /// tail and state.
    pub async fn terminate(&self, key: &UploadKey) -> Result<()> {
        let state = self.read_state(key).await?;
        self.remove_upload_objects(key, Some(&state))
            .await
            .map(drop)
    }

    /// Removes the given uploads, skipping those already gone. Returns the ones removed.
    /// One without a state but with objects left under `uploads/<key>/` counts as removed
    /// once they are deleted.
    pub async fn expire(&self, keys: &[UploadKey]) -> Result<Vec<UploadKey>> {
        let mut removed = Vec::new();
        for key in keys {
            match self.terminate(key).await {
                Ok(()) => removed.push(key.clone()),
                Err(BlobError::UploadNotFound { .. }) => {
                    if self.remove_upload_objects(key, None).await? > 0 {
                        removed.push(key.clone());
                    }
                }
                Err(error) => return Err(error),
            }
        }
        Ok(removed)
    }

    /// Uploads whose state was last saved before `cutoff` (every request that stores bytes
    /// saves it), and those with objects under `uploads/<key>/` older than `cutoff` but no
    /// state: a tail written by a request whose server died after the upload was removed,
    /// or the `state.json` of the versions that kept the state in the bucket (their
    /// multipart uploads are the bucket's lifecycle rule's to abort).
    pub async fn stale_uploads(&self, cutoff: SystemTime) -> Result<Vec<UploadKey>> {
        let mut stale: std::collections::BTreeSet<UploadKey> = self
            .inner
            .states
            .saved_before(cutoff)
            .await
            .map_err(|source| BlobError::UploadState {
                what: "listing the stale uploads".to_owned(),
                source,
            })?
            .into_iter()
            .collect();
        let prefix = ObjectPath::from("uploads");
        let mut listing = self.inner.s3.list(Some(&prefix));
        let mut candidates = std::collections::BTreeSet::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| s3_error("listing", &prefix, e))?;
            if SystemTime::from(meta.last_modified) >= cutoff {
                continue;
            }
            if let Some(Ok(key)) = meta
                .location
                .parts()
                .nth(1)
                .map(|key| UploadKey::new(key.as_ref()))
                && !stale.contains(&key)
            {
                candidates.insert(key);
            }
        }
        drop(listing);
        for key in candidates {
            if self.load_state(&key).await?.is_none() {
                stale.insert(key);
            }
        }
        Ok(stale.into_iter().collect())
    }

    /// Every finished recording in the bucket.
    pub async fn recording_keys(&self) -> Result<Vec<RecordingKey>> {
        self.recordings_written_before(None).await
    }

    /// Recordings written before `cutoff` (all of them without one).
    pub async fn recordings_written_before(
        &self,
        cutoff: Option<SystemTime>,
    ) -> Result<Vec<RecordingKey>> {
        let prefix = ObjectPath::from("recordings");
        let mut listing = self.inner.s3.list(Some(&prefix));
        let mut keys = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| s3_error("listing", &prefix, e))?;
            let Some(name) = meta.location.filename() else {
                continue;
            };
            let Ok(key) = RecordingKey::new(name) else {
                continue;
            };
            if cutoff.is_none_or(|cutoff| SystemTime::from(meta.last_modified) < cutoff) {
                keys.push(key);
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// Recomputes a recording's metadata by reading it once (recovery after a crash between
    /// finishing and committing, and `recordings migrate` checking what is already there).
    pub async fn recording_info(&self, key: &RecordingKey) -> Result<RecordingInfo> {
        let location = recording_path(key);
        let size = self.recording_size(key).await?;
        let prefix_end = size.min(SNIFF_LEN as u64);
        let prefix = self.read(&location, 0..prefix_end).await?;
        let media_type = media::sniff(&prefix)?;
        let mut hasher = sha2::Sha256::new();
        let mut stream = self.stream_range(key, 0, size);
        let mut read = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| BlobError::ObjectStore {
                action: "reading",
                location: location.to_string(),
                source: Box::new(e),
            })?;
            read += chunk.len() as u64;
            hasher.update(&chunk);
        }
        if read != size {
            return Err(BlobError::TaskFailed(format!(
                "{location} gave {read} bytes of its {size}"
            )));
        }
        let duration_seconds = self.duration(&location, size, media_type).await?;
        Ok(RecordingInfo {
            size,
            sha256_hex: hex(&hasher.finalize()),
            media_type,
            duration_seconds,
        })
    }

    /// A recording's size in bytes.
    pub async fn recording_size(&self, key: &RecordingKey) -> Result<u64> {
        let location = recording_path(key);
        match self.inner.s3.head(&location).await {
            Ok(meta) => Ok(meta.size),
            Err(object_store::Error::NotFound { .. }) => Err(BlobError::RecordingNotFound {
                key: key.to_string(),
            }),
            Err(error) => Err(s3_error("reading", &location, error)),
        }
    }

    /// Bytes `start..start + length` of a recording, streamed from the bucket.
    pub fn stream_range(
        &self,
        key: &RecordingKey,
        start: u64,
        length: u64,
    ) -> BoxStream<'static, io::Result<Bytes>> {
        let store = self.clone();
        let location = recording_path(key);
        if length == 0 {
            return futures_util::stream::empty().boxed();
        }
        futures_util::stream::once(async move {
            let options = GetOptions {
                range: Some((start..start + length).into()),
                ..GetOptions::default()
            };
            store
                .inner
                .s3
                .get_opts(&location, options)
                .await
                .map(|got| got.into_stream().map_err(io::Error::other))
                .map_err(io::Error::other)
        })
        .try_flatten()
        .boxed()
    }

    pub async fn delete_recording(&self, key: &RecordingKey) -> Result<()> {
        self.recording_size(key).await?;
        self.delete_object(&recording_path(key)).await
    }

    async fn duration(
        &self,
        location: &ObjectPath,
        size: u64,
        media_type: MediaType,
    ) -> Result<Option<f64>> {
        let mut reader = RangeReader {
            store: self.clone(),
            location: location.clone(),
            size,
            position: 0,
            window: (0, Bytes::new()),
            runtime: tokio::runtime::Handle::current(),
        };
        let location = location.clone();
        tokio::task::spawn_blocking(move || container_duration(&mut reader, size, media_type))
            .await
            .map_err(|e| BlobError::TaskFailed(format!("reading a duration: {e}")))?
            .map_err(|e| BlobError::ObjectStore {
                action: "reading the container of",
                location: location.to_string(),
                source: Box::new(e),
            })
    }

    async fn read(&self, location: &ObjectPath, range: Range<u64>) -> Result<Bytes> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        self.inner
            .s3
            .get_range(location, range)
            .await
            .map_err(|e| s3_error("reading", location, e))
    }

    async fn object_exists(&self, location: &ObjectPath) -> Result<bool> {
        match self.inner.s3.head(location).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(s3_error("checking", location, error)),
        }
    }

    async fn delete_object(&self, location: &ObjectPath) -> Result<()> {
        match self.inner.s3.delete(location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(s3_error("deleting", location, error)),
        }
    }

    async fn load_state(&self, key: &UploadKey) -> Result<Option<UploadState>> {
        let Some(json) = self
            .inner
            .states
            .load(key)
            .await
            .map_err(|e| state_error("reading", key, e))?
        else {
            return Ok(None);
        };
        serde_json::from_str(&json)
            .map(Some)
            .map_err(|e| state_error("reading", key, Box::new(e)))
    }

    async fn read_state(&self, key: &UploadKey) -> Result<UploadState> {
        self.load_state(key)
            .await?
            .ok_or_else(|| BlobError::UploadNotFound {
                key: key.to_string(),
            })
    }

    async fn write_state(&self, key: &UploadKey, state: &UploadState) -> Result<()> {
        self.inner
            .states
            .save(key, &state_json(state)?)
            .await
            .map_err(|e| state_error("saving", key, e))
    }

    /// Aborts the multipart upload when `state` is given (not after completing it), then
    /// deletes every object under `uploads/<key>/` (the tail, and any a failed request
    /// left), then the state. Returns how many objects it deleted.
    async fn remove_upload_objects(
        &self,
        key: &UploadKey,
        state: Option<&UploadState>,
    ) -> Result<usize> {
        if let Some(state) = state {
            let target = upload_target(key);
            match self
                .inner
                .s3
                .abort_multipart(&target, &state.multipart_id)
                .await
            {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(error) => {
                    return Err(s3_error("aborting the multipart upload of", &target, error));
                }
            }
        }
        let dir = upload_dir(key);
        let mut listing = self.inner.s3.list(Some(&dir));
        let mut objects = Vec::new();
        while let Some(meta) = listing.next().await {
            objects.push(meta.map_err(|e| s3_error("listing", &dir, e))?.location);
        }
        drop(listing);
        for location in &objects {
            self.delete_object(location).await?;
        }
        self.inner
            .states
            .remove(key)
            .await
            .map_err(|e| state_error("removing", key, e))?;
        Ok(objects.len())
    }
}

enum SniffState {
    Decided(MediaType),
    Pending(Vec<u8>),
}

/// How receiving ended.
enum BodyEnd {
    Complete,
    Interrupted(Box<dyn StdError + Send + Sync>),
    /// Refused: nothing of this request is committed.
    Refused(BlobError),
    /// Not a video: the whole upload goes.
    NotAVideo(BlobError),
}

/// One append in progress: cuts parts at fixed offsets and uploads them, at most
/// [`PARTS_IN_FLIGHT`] at a time.
struct Session<'a> {
    store: &'a S3BlobStore,
    key: UploadKey,
    state: UploadState,
    request: AppendRequest,
    declared_length: Option<u64>,
    /// `state.offset` plus the body's bytes accepted so far.
    received: u64,
    /// Bytes after the last part cut (the previous tail first), fewer than a part.
    pending: Vec<Bytes>,
    pending_len: usize,
    /// SHA-256 over every part cut so far.
    parts_hash: ResumableSha256,
    /// ETags of the parts cut by this request, by index from `state.parts.len()`.
    new_parts: Vec<Option<String>>,
    in_flight: Vec<JoinHandle<(usize, Result<PartId>)>>,
    /// The part being sent as its bytes arrive ([`part_stream`]), if any.
    streaming: Option<part_stream::PartStream>,
    /// A part stream failed in this request: the rest goes the buffered way.
    streaming_failed: bool,
    sniff: SniffState,
    body_hash: Option<sha2::Sha256>,
}

impl<'a> Session<'a> {
    async fn start(
        store: &'a S3BlobStore,
        key: &UploadKey,
        state: UploadState,
        request: AppendRequest,
        declared_length: Option<u64>,
    ) -> Result<Session<'a>> {
        let parts_hash = load_hash(&state.parts_sha256)?;
        let mut pending = Vec::new();
        let mut pending_len = 0;
        if let Some(tail) = &state.tail {
            let location = ObjectPath::from(tail.as_str());
            let bytes = store
                .read(&location, 0..state.offset - state.parts_end())
                .await?;
            pending_len = bytes.len();
            pending.push(bytes);
        }
        let sniff = match state.media_type() {
            Some(media_type) => SniffState::Decided(media_type),
            None => {
                let mut prefix = Vec::with_capacity(SNIFF_LEN);
                for bytes in &pending {
                    let wanted = SNIFF_LEN - prefix.len();
                    prefix.extend_from_slice(&bytes[..wanted.min(bytes.len())]);
                }
                SniffState::Pending(prefix)
            }
        };
        Ok(Session {
            store,
            key: key.clone(),
            received: state.offset,
            state,
            request,
            declared_length,
            pending,
            pending_len,
            parts_hash,
            new_parts: Vec::new(),
            in_flight: Vec::new(),
            streaming: None,
            streaming_failed: false,
            sniff,
            body_hash: request.checksum.map(|_| sha2::Sha256::new()),
        })
    }

    fn part_size(&self) -> usize {
        usize::try_from(self.state.part_size).unwrap_or(MIN_PART_SIZE)
    }

    async fn receive<S, E>(&mut self, body: S) -> BodyEnd
    where
        S: Stream<Item = std::result::Result<Bytes, E>>,
        E: Into<Box<dyn StdError + Send + Sync>>,
    {
        let mut body = pin!(body);
        let limit = self
            .declared_length
            .map_or(self.request.max_size, |declared| {
                declared.min(self.request.max_size)
            });
        if let Err(error) = self.decide_type_if_ready() {
            return BodyEnd::NotAVideo(error);
        }
        while let Some(frame) = body.next().await {
            let frame = match frame {
                Ok(frame) => frame,
                Err(error) => return BodyEnd::Interrupted(error.into()),
            };
            let after = self.received.saturating_add(frame.len() as u64);
            if after > limit {
                return BodyEnd::Refused(match self.declared_length {
                    Some(declared_length) if after > declared_length => {
                        BlobError::ExceedsDeclaredLength { declared_length }
                    }
                    _ => BlobError::TooLarge {
                        max_size: self.request.max_size,
                    },
                });
            }
            self.received = after;
            if let Some(hasher) = &mut self.body_hash {
                hasher.update(&frame);
            }
            if let SniffState::Pending(prefix) = &mut self.sniff {
                let wanted = SNIFF_LEN - prefix.len();
                prefix.extend_from_slice(&frame[..wanted.min(frame.len())]);
                if let Err(error) = self.decide_type_if_ready() {
                    return BodyEnd::NotAVideo(error);
                }
            }
            self.pending_len += frame.len();
            self.pending.push(frame);
            if let Err(error) = self.advance().await {
                return BodyEnd::Refused(error);
            }
        }
        BodyEnd::Complete
    }

    fn decide_type_if_ready(&mut self) -> Result<()> {
        if let SniffState::Pending(prefix) = &self.sniff
            && prefix.len() >= SNIFF_LEN
        {
            self.sniff = SniffState::Decided(media::sniff(prefix)?);
        }
        Ok(())
    }

    fn decide_type_now(&mut self) -> Result<MediaType> {
        match &self.sniff {
            SniffState::Decided(media_type) => Ok(*media_type),
            SniffState::Pending(prefix) => {
                let media_type = media::sniff(prefix)?;
                self.sniff = SniffState::Decided(media_type);
                Ok(media_type)
            }
        }
    }

    /// Takes the first `len` pending bytes as the next part, hashes them, and starts
    /// uploading them (waiting first when [`PARTS_IN_FLIGHT`] uploads are under way).
    async fn cut_part(&mut self, len: usize) -> Result<()> {
        let frames = self.take_part(len);
        while self.in_flight.len() >= PARTS_IN_FLIGHT {
            self.wait_for_oldest().await?;
        }
        let index = self.state.parts.len() + self.new_parts.len();
        self.new_parts.push(None);
        let s3 = self.store.inner.s3.clone();
        let target = upload_target(&self.key);
        let multipart_id = self.state.multipart_id.clone();
        let payload: PutPayload = frames.into_iter().collect();
        self.in_flight.push(tokio::spawn(async move {
            let stored = s3
                .put_part(&target, &multipart_id, index, payload)
                .await
                .map_err(|e| s3_error("uploading a part of", &target, e));
            (index, stored)
        }));
        Ok(())
    }

    /// Takes the first `len` pending bytes (all there are if fewer) as the next part's, and
    /// feeds them to the upload's hash.
    fn take_part(&mut self, len: usize) -> Vec<Bytes> {
        let mut frames = Vec::new();
        let mut wanted = len;
        while wanted > 0 {
            let Some(mut frame) = (!self.pending.is_empty()).then(|| self.pending.remove(0)) else {
                break;
            };
            if frame.len() > wanted {
                let rest = frame.split_off(wanted);
                self.pending.insert(0, rest);
            }
            wanted -= frame.len();
            self.parts_hash.update(&frame);
            frames.push(frame);
        }
        let cut = len - wanted;
        self.pending_len -= cut;
        frames
    }

    async fn wait_for_oldest(&mut self) -> Result<()> {
        if self.in_flight.is_empty() {
            return Ok(());
        }
        let handle = self.in_flight.remove(0);
        let (index, stored) = handle
            .await
            .map_err(|e| BlobError::TaskFailed(format!("uploading a part: {e}")))?;
        let part = stored?;
        let slot = index - self.state.parts.len();
        if let Some(entry) = self.new_parts.get_mut(slot) {
            *entry = Some(part.content_id);
        }
        Ok(())
    }

    async fn wait_for_all(&mut self) -> Result<()> {
        while !self.in_flight.is_empty() {
            self.wait_for_oldest().await?;
        }
        Ok(())
    }

    /// Stops the part uploads of a request that is not committed (they would be overwritten
    /// by the next request anyway).
    fn abandon(&mut self) {
        self.stop_streaming();
        for handle in self.in_flight.drain(..) {
            handle.abort();
        }
    }

    async fn conclude(mut self, end: BodyEnd, last: bool) -> Result<AppendOutcome> {
        let interrupted = match end {
            BodyEnd::Complete => None,
            BodyEnd::Refused(error) => {
                self.abandon();
                return Err(error);
            }
            BodyEnd::NotAVideo(error) => {
                self.abandon();
                self.store
                    .remove_upload_objects(&self.key, Some(&self.state))
                    .await?;
                return Err(error);
            }
            BodyEnd::Interrupted(source) if self.request.checksum.is_some() => {
                // A checksummed body that did not arrive whole cannot be verified.
                self.abandon();
                return Err(BlobError::BodyInterrupted {
                    offset: self.state.offset,
                    source,
                });
            }
            BodyEnd::Interrupted(source) => Some(source),
        };
        // A part still being streamed will not be filled: its bytes stay pending.
        self.stop_streaming();
        if let Some(expected) = self.request.checksum {
            let digest = self.body_hash.take().map(sha2::Sha256::finalize);
            if !digest.is_some_and(|digest| expected.matches(&digest)) {
                self.abandon();
                return Err(BlobError::ChecksumMismatch);
            }
        }
        let complete =
            interrupted.is_none() && (last || self.declared_length == Some(self.received));
        if complete && let Err(error) = self.decide_type_now() {
            self.abandon();
            self.store
                .remove_upload_objects(&self.key, Some(&self.state))
                .await?;
            return Err(error);
        }
        if complete && self.pending_len > 0 {
            self.cut_part(self.pending_len).await?;
        }
        if let Err(error) = self.wait_for_all().await {
            self.abandon();
            return Err(error);
        }
        let old_tail = self.state.tail.take();
        let mut state = self.state.clone();
        state.parts.extend(self.new_parts.iter().flatten().cloned());
        state.offset = self.received;
        state.declared_length = self.declared_length;
        if let SniffState::Decided(media_type) = self.sniff {
            state.media_type = Some(media_type.mime().to_owned());
        }
        if complete {
            state.declared_length = Some(self.received);
            state.sha256_hex = Some(hex(&self.parts_hash.clone().finalize()));
        } else if self.pending_len > 0 {
            let location = ObjectPath::from(format!("uploads/{}/tail-{}", self.key, self.received));
            let payload: PutPayload = std::mem::take(&mut self.pending).into_iter().collect();
            self.store
                .inner
                .s3
                .put(&location, payload)
                .await
                .map_err(|e| s3_error("writing", &location, e))?;
            state.tail = Some(location.to_string());
        }
        state.parts_sha256 = save_hash(&self.parts_hash);
        self.store.write_state(&self.key, &state).await?;
        if let Some(old_tail) = old_tail
            && state.tail.as_deref() != Some(old_tail.as_str())
            && let Err(error) = self
                .store
                .delete_object(&ObjectPath::from(old_tail.as_str()))
                .await
        {
            // Removed with the upload's other objects when it finishes or expires.
            tracing::warn!(%error, "removing an upload's previous tail");
        }
        match interrupted {
            None => Ok(AppendOutcome {
                offset: state.offset,
                complete,
                media_type: state.media_type(),
            }),
            Some(source) => Err(BlobError::BodyInterrupted {
                offset: state.offset,
                source,
            }),
        }
    }
}

/// `Read + Seek` over a recording in the bucket, for the duration parsers (which walk box
/// and element headers): each read outside the window fetched last fetches the next
/// [`HEADER_READ`] bytes with one ranged GET. Runs on a blocking thread, so it may wait.
struct RangeReader {
    store: S3BlobStore,
    location: ObjectPath,
    size: u64,
    position: u64,
    /// Bytes from `.0` on, fetched last.
    window: (u64, Bytes),
    runtime: tokio::runtime::Handle,
}

impl Read for RangeReader {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if self.position >= self.size || buffer.is_empty() {
            return Ok(0);
        }
        let (start, bytes) = &self.window;
        let in_window = self.position >= *start && self.position < start + bytes.len() as u64;
        if !in_window {
            let end = self.size.min(self.position + HEADER_READ);
            let range = self.position..end;
            let fetched = self
                .runtime
                .block_on(self.store.read(&self.location, range))
                .map_err(io::Error::other)?;
            self.window = (self.position, fetched);
        }
        let (start, bytes) = &self.window;
        let from = usize::try_from(self.position - start).map_err(io::Error::other)?;
        let available = &bytes[from..];
        let n = available.len().min(buffer.len());
        buffer[..n].copy_from_slice(&available[..n]);
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for RangeReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let position = match to {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(delta) => self.size.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        self.position = position
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.position)
    }
}
