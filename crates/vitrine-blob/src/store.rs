//! The blob store on local disk. See the crate documentation for the layout and the
//! crash-safety rules; this module keeps them.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

use crate::checksum::Sha256Expectation;
use crate::duration::container_duration;
use crate::error::{BlobError, Result};
use crate::key::{RecordingKey, UploadKey};
use crate::media::{self, MediaType, SNIFF_LEN};

/// Received bytes are gathered up to this much before one write: fewer system calls and
/// blocking-pool hops than writing every network frame, and a bounded amount of memory
/// (at most this plus one frame per upload, and one more batch being written).
const WRITE_BATCH: usize = 1024 * 1024;

/// Buffer for hashing a finished file when its hash could not be kept while writing.
const HASH_READ_BUF: usize = 1024 * 1024;

const PART_SUFFIX: &str = ".part";
const UNVERIFIED_SUFFIX: &str = ".unverified";

/// What one PATCH (or the single streaming request) asks of [`LocalBlobStore::append`].
#[derive(Clone, Copy, Debug)]
pub struct AppendRequest {
    /// The client's `Upload-Offset`; it must equal the bytes stored.
    pub expected_offset: u64,
    /// The upload's total length if known (tus `Upload-Length`, possibly sent late).
    pub declared_length: Option<u64>,
    /// The configured maximum recording size.
    pub max_size: u64,
    /// The tus `Upload-Checksum` of this request's body, if the client sent one.
    pub checksum: Option<Sha256Expectation>,
    /// The body's length (`Content-Length`), if the client said it: the S3 backend then
    /// streams each part the body will fill to the bucket as it arrives.
    pub body_length: Option<u64>,
}

/// Where an upload stands after a successful append.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AppendOutcome {
    /// Bytes stored and synced: the new `Upload-Offset`.
    pub offset: u64,
    /// Whether the offset reached the declared length (then call [`LocalBlobStore::finish`]).
    pub complete: bool,
    /// The container, once enough bytes have arrived to tell it.
    pub media_type: Option<MediaType>,
}

/// What is known of a finished recording.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordingInfo {
    pub size: u64,
    /// SHA-256 of the whole file, lowercase hex.
    pub sha256_hex: String,
    pub media_type: MediaType,
    /// What the container header says, if it says it.
    pub duration_seconds: Option<f64>,
}

/// A finished recording opened for reading, for HTTP Range answers.
#[derive(Debug)]
pub struct OpenRecording {
    pub file: tokio::fs::File,
    pub size: u64,
}

/// Recordings and partial uploads in a directory on local disk. Cheap to clone; clones
/// share the in-memory hash states.
#[derive(Clone, Debug)]
pub struct LocalBlobStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    uploads_dir: PathBuf,
    recordings_dir: PathBuf,
    /// SHA-256 state of each upload's bytes `0..len`, kept while its appends run in this
    /// process, so that finishing need not read the file again. Only an optimisation: an
    /// entry is used only when `len` is still the file's length (bytes below an
    /// acknowledged offset never change), and is rebuilt from the file when missing, as
    /// after a restart or when another server took some of the chunks.
    content_hashes: Mutex<HashMap<UploadKey, ContentHash>>,
}

#[derive(Clone, Debug)]
struct ContentHash {
    len: u64,
    hasher: Sha256,
}

/// The files of one upload.
#[derive(Clone, Debug)]
struct UploadPaths {
    key: UploadKey,
    uploads_dir: PathBuf,
    part: PathBuf,
    /// Present while a checksummed request is being written: holds the offset the
    /// request started at, so that bytes not yet verified are cut off after a crash.
    unverified: PathBuf,
}

impl LocalBlobStore {
    /// Opens (and creates if needed) the store under `root`: `root/uploads` and
    /// `root/recordings`. Blocking; meant for start-up.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let uploads_dir = root.join("uploads");
        let recordings_dir = root.join("recordings");
        for dir in [&uploads_dir, &recordings_dir] {
            fs::create_dir_all(dir).map_err(|e| BlobError::io("creating directory", dir, e))?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                uploads_dir,
                recordings_dir,
                content_hashes: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The directory the store keeps its files under.
    pub fn root(&self) -> &Path {
        self.inner
            .uploads_dir
            .parent()
            .unwrap_or(&self.inner.uploads_dir)
    }

    /// Starts an empty upload. A declared length over `max_size` is refused here, before
    /// any byte is sent; a declared length of 0 cannot be a video.
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
        self.forget_content_hash(key);
        let paths = self.upload_paths(key);
        blocking(move || {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&paths.part)
                .map_err(|e| upload_error(&paths, "creating", e))?;
            sync_dir(&paths.uploads_dir)
        })
        .await
    }

    /// The upload's offset (tus `HEAD`): the length of its file, after cutting off bytes
    /// a crash left unverified. While another request writes, the offset that request
    /// started from if it is checksummed, else the bytes written so far.
    pub async fn upload_offset(&self, key: &UploadKey) -> Result<u64> {
        let paths = self.upload_paths(key);
        blocking(move || {
            let file = open_part(&paths)?;
            match file.try_lock() {
                Ok(()) => {
                    ensure_still_linked(&file, &paths)?;
                    cut_unverified_tail(&file, &paths)?;
                    file_len(&file, &paths.part)
                }
                Err(TryLockError::WouldBlock) => match read_unverified_marker(&paths)? {
                    Some(offset) => Ok(offset),
                    None => file_len(&file, &paths.part),
                },
                Err(TryLockError::Error(e)) => Err(BlobError::io("locking", &paths.part, e)),
            }
        })
        .await
    }

    /// Appends one request body to an upload (tus `PATCH`), streaming it to disk.
    ///
    /// Refused before writing: an offset other than the stored length (409) and another
    /// request on the same upload (423). While writing: a byte past the declared length or
    /// `max_size` (413) is refused before it is written and the request's bytes are cut
    /// off; bytes that are not an accepted video (415, checked on the first [`SNIFF_LEN`]
    /// bytes, or on all of them when the declared length is smaller) remove the upload.
    /// The data is synced before this returns `Ok`; then a checksum is verified (460, the
    /// request's bytes cut off). A failing body keeps what arrived (see
    /// [`BlobError::BodyInterrupted`]).
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
        if let Some(declared) = request.declared_length
            && declared > request.max_size
        {
            return Err(BlobError::TooLarge {
                max_size: request.max_size,
            });
        }
        // Taken out now and put back only on success: if this future is dropped half way,
        // the next finish reads the file instead of trusting a stale state.
        let cached_hash = self.take_content_hash(key);
        let paths = self.upload_paths(key);
        let with_checksum = request.checksum.is_some();
        let (file, stored, prefix) = blocking({
            let paths = paths.clone();
            move || {
                let mut file = open_locked_part(&paths)?;
                cut_unverified_tail(&file, &paths)?;
                let stored = file_len(&file, &paths.part)?;
                if stored != request.expected_offset {
                    return Err(BlobError::OffsetMismatch {
                        requested: request.expected_offset,
                        stored,
                    });
                }
                if let Some(declared_length) = request.declared_length
                    && declared_length < stored
                {
                    return Err(BlobError::DeclaredLengthBelowOffset {
                        declared_length,
                        stored,
                    });
                }
                let prefix = read_prefix(&mut file, &paths.part)?;
                if with_checksum {
                    write_unverified_marker(&paths, stored)?;
                }
                file.seek(SeekFrom::End(0))
                    .map_err(|e| BlobError::io("seeking", &paths.part, e))?;
                Ok((file, stored, prefix))
            }
        })
        .await?;

        let content_hasher = if stored == 0 {
            Some(Sha256::new())
        } else {
            cached_hash
                .filter(|cached| cached.len == stored)
                .map(|cached| cached.hasher)
        };
        let ready_to_sniff = prefix.len() >= SNIFF_LEN;
        let mut session = AppendSession {
            store: self,
            request,
            stored,
            received: stored,
            hash_at_start: content_hasher.clone(),
            sniff: SniffState::Pending(prefix),
            batch: Vec::new(),
            batch_len: 0,
            writer: PartWriter {
                part: paths.part.clone(),
                idle: Some(OpenUpload {
                    file,
                    content_hasher,
                    body_hasher: request.checksum.map(|_| Sha256::new()),
                }),
                in_flight: None,
            },
            paths,
        };
        if ready_to_sniff && let Err(error) = session.decide_type() {
            session.remove_upload().await?;
            return Err(error);
        }
        session.run(body).await
    }

    /// Turns a complete upload into a recording: checks its type, computes its sha256 and
    /// duration, and only then renames the file into `recordings/` (atomic, and synced),
    /// so a crash leaves either the whole upload or the whole recording, never a part of
    /// one attached. Not a video: the upload is removed (415).
    pub async fn finish(
        &self,
        upload: &UploadKey,
        recording: &RecordingKey,
    ) -> Result<RecordingInfo> {
        let cached_hash = self.take_content_hash(upload);
        let paths = self.upload_paths(upload);
        let recording_path = self.recording_path(recording);
        let recordings_dir = self.inner.recordings_dir.clone();
        let recording = recording.clone();
        blocking(move || {
            let mut file = open_locked_part(&paths)?;
            cut_unverified_tail(&file, &paths)?;
            let info = match describe(&mut file, &paths.part, cached_hash) {
                Err(error @ BlobError::UnsupportedMediaType { .. }) => {
                    remove_upload_files(&paths)?;
                    return Err(error);
                }
                other => other?,
            };
            match fs::symlink_metadata(&recording_path) {
                Ok(_) => {
                    return Err(BlobError::RecordingExists {
                        key: recording.to_string(),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(BlobError::io("checking", &recording_path, e)),
            }
            fs::rename(&paths.part, &recording_path)
                .map_err(|e| BlobError::io("moving the upload to", &recording_path, e))?;
            sync_dir(&recordings_dir)?;
            sync_dir(&paths.uploads_dir)?;
            Ok(info)
        })
        .await
    }

    /// Stores a whole recording from one streamed request (the scripts' upload): the same
    /// path as tus (create, one append, finish). On any failure the upload is removed, as
    /// nothing can resume it.
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
        self.create_upload(upload, declared_length, max_size)
            .await?;
        let request = AppendRequest {
            expected_offset: 0,
            declared_length,
            max_size,
            checksum: None,
            body_length: None,
        };
        let stored = match self.append(upload, request, body).await {
            Ok(outcome) if declared_length.is_none() || outcome.complete => Ok(()),
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

    /// Removes an upload (tus termination). Refused while another request writes to it.
    pub async fn terminate(&self, key: &UploadKey) -> Result<()> {
        self.forget_content_hash(key);
        let paths = self.upload_paths(key);
        blocking(move || {
            let _locked = open_locked_part(&paths)?;
            remove_upload_files(&paths)
        })
        .await
    }

    /// Removes the given uploads (those whose expiry the caller has decided), skipping the
    /// ones already gone or being written right now. Returns the ones removed.
    pub async fn expire(&self, keys: &[UploadKey]) -> Result<Vec<UploadKey>> {
        let mut removed = Vec::new();
        for key in keys {
            match self.terminate(key).await {
                Ok(()) => removed.push(key.clone()),
                Err(BlobError::UploadNotFound { .. } | BlobError::UploadBusy { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(removed)
    }

    /// Uploads whose file was last written before `cutoff` (the caller's clock minus its
    /// expiry period). For sweeping files no database row knows of any more, such as
    /// those left by a crash; uploads the database tracks expire by their own dates.
    pub async fn stale_uploads(&self, cutoff: SystemTime) -> Result<Vec<UploadKey>> {
        let uploads_dir = self.inner.uploads_dir.clone();
        blocking(move || {
            let mut stale = Vec::new();
            for (name, path) in list_dir(&uploads_dir)? {
                let Some(key) = name
                    .strip_suffix(PART_SUFFIX)
                    .and_then(|k| UploadKey::new(k).ok())
                else {
                    continue;
                };
                let modified = match fs::metadata(&path).and_then(|m| m.modified()) {
                    Ok(modified) => modified,
                    // Finished or removed since the listing.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(BlobError::io("reading the time of", &path, e)),
                };
                if modified < cutoff {
                    stale.push(key);
                }
            }
            stale.sort();
            Ok(stale)
        })
        .await
    }

    /// Every finished recording on disk, for finding those no database row refers to (a
    /// crash between `finish` and the row's commit leaves one).
    pub async fn recording_keys(&self) -> Result<Vec<RecordingKey>> {
        let recordings_dir = self.inner.recordings_dir.clone();
        blocking(move || {
            let mut keys: Vec<_> = list_dir(&recordings_dir)?
                .into_iter()
                .filter_map(|(name, _)| RecordingKey::new(name).ok())
                .collect();
            keys.sort();
            Ok(keys)
        })
        .await
    }

    /// Recordings whose file was last written before `cutoff`. For finding those no
    /// database row refers to: a crash between `finish` and the commit of the row leaves
    /// one, and a recording younger than the caller's grace period may be one whose commit
    /// is under way on another server. The rename into `recordings/` keeps the time of the
    /// upload's last byte, which comes just before it.
    pub async fn recordings_written_before(&self, cutoff: SystemTime) -> Result<Vec<RecordingKey>> {
        let recordings_dir = self.inner.recordings_dir.clone();
        blocking(move || {
            let mut old = Vec::new();
            for (name, path) in list_dir(&recordings_dir)? {
                let Ok(key) = RecordingKey::new(name) else {
                    continue;
                };
                let modified = match fs::metadata(&path).and_then(|m| m.modified()) {
                    Ok(modified) => modified,
                    // Deleted since the listing.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(BlobError::io("reading the time of", &path, e)),
                };
                if modified < cutoff {
                    old.push(key);
                }
            }
            old.sort();
            Ok(old)
        })
        .await
    }

    /// Recomputes a finished recording's metadata by reading it (after a crash between
    /// `finish` and the database commit, the recording is there but its row is not).
    pub async fn recording_info(&self, key: &RecordingKey) -> Result<RecordingInfo> {
        let path = self.recording_path(key);
        let key = key.clone();
        blocking(move || {
            let mut file = File::open(&path).map_err(|e| recording_error(e, &key, &path))?;
            describe(&mut file, &path, None)
        })
        .await
    }

    /// Opens a recording for serving (seek to the range's start, read its length).
    pub async fn open_recording(&self, key: &RecordingKey) -> Result<OpenRecording> {
        let path = self.recording_path(key);
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| recording_error(e, key, &path))?;
        let size = file
            .metadata()
            .await
            .map_err(|e| BlobError::io("reading", &path, e))?
            .len();
        Ok(OpenRecording { file, size })
    }

    /// Where a recording's file is (whether or not it exists), for serving it with a
    /// file service that does its own Range handling.
    pub fn recording_path(&self, key: &RecordingKey) -> PathBuf {
        self.inner.recordings_dir.join(key.as_str())
    }

    pub async fn delete_recording(&self, key: &RecordingKey) -> Result<()> {
        let path = self.recording_path(key);
        let recordings_dir = self.inner.recordings_dir.clone();
        let key = key.clone();
        blocking(move || {
            fs::remove_file(&path).map_err(|e| recording_error(e, &key, &path))?;
            sync_dir(&recordings_dir)
        })
        .await
    }

    fn upload_paths(&self, key: &UploadKey) -> UploadPaths {
        let dir = &self.inner.uploads_dir;
        UploadPaths {
            key: key.clone(),
            uploads_dir: dir.clone(),
            part: dir.join(format!("{key}{PART_SUFFIX}")),
            unverified: dir.join(format!("{key}{UNVERIFIED_SUFFIX}")),
        }
    }

    fn content_hashes(&self) -> std::sync::MutexGuard<'_, HashMap<UploadKey, ContentHash>> {
        // The map holds no invariant a panic could break half way.
        self.inner
            .content_hashes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn take_content_hash(&self, key: &UploadKey) -> Option<ContentHash> {
        self.content_hashes().remove(key)
    }

    fn forget_content_hash(&self, key: &UploadKey) {
        self.content_hashes().remove(key);
    }

    fn keep_content_hash(&self, key: &UploadKey, len: u64, hasher: Option<Sha256>) {
        if let Some(hasher) = hasher {
            self.content_hashes()
                .insert(key.clone(), ContentHash { len, hasher });
        }
    }
}

enum SniffState {
    Decided(MediaType),
    /// The upload's first bytes, fewer than [`SNIFF_LEN`] so far.
    Pending(Vec<u8>),
}

/// One append in progress.
struct AppendSession<'a> {
    store: &'a LocalBlobStore,
    paths: UploadPaths,
    request: AppendRequest,
    /// The offset this request started at (and returns to when it is refused).
    stored: u64,
    /// `stored` plus the bytes accepted from the body so far.
    received: u64,
    hash_at_start: Option<Sha256>,
    sniff: SniffState,
    /// Accepted bytes not yet handed to the writer.
    batch: Vec<Bytes>,
    batch_len: usize,
    writer: PartWriter,
}

/// How the body ended.
enum BodyEnd {
    Complete,
    Interrupted(Box<dyn StdError + Send + Sync>),
}

impl AppendSession<'_> {
    async fn run<S, E>(mut self, body: S) -> Result<AppendOutcome>
    where
        S: Stream<Item = std::result::Result<Bytes, E>>,
        E: Into<Box<dyn StdError + Send + Sync>>,
    {
        match self.receive(body).await {
            Ok(end) => self.conclude(end).await,
            Err(Refusal::CutRequest(error)) => {
                self.cut_back().await?;
                Err(error)
            }
            Err(Refusal::RemoveUpload(error)) => {
                self.remove_upload().await?;
                Err(error)
            }
        }
    }

    /// Reads the body, checking each frame before it is kept.
    async fn receive<S, E>(&mut self, body: S) -> Result<BodyEnd, Refusal>
    where
        S: Stream<Item = std::result::Result<Bytes, E>>,
        E: Into<Box<dyn StdError + Send + Sync>>,
    {
        let mut body = pin!(body);
        let limit = self
            .request
            .declared_length
            .map_or(self.request.max_size, |declared| {
                declared.min(self.request.max_size)
            });
        while let Some(frame) = body.next().await {
            let frame = match frame {
                Ok(frame) => frame,
                Err(error) => return Ok(BodyEnd::Interrupted(error.into())),
            };
            let after = self.received.saturating_add(frame.len() as u64);
            if after > limit {
                return Err(Refusal::CutRequest(match self.request.declared_length {
                    Some(declared_length) if after > declared_length => {
                        BlobError::ExceedsDeclaredLength { declared_length }
                    }
                    _ => BlobError::TooLarge {
                        max_size: self.request.max_size,
                    },
                }));
            }
            self.received = after;
            if let SniffState::Pending(prefix) = &mut self.sniff {
                let wanted = SNIFF_LEN - prefix.len();
                prefix.extend_from_slice(&frame[..wanted.min(frame.len())]);
                if prefix.len() >= SNIFF_LEN {
                    self.decide_type().map_err(Refusal::RemoveUpload)?;
                }
            }
            self.batch_len += frame.len();
            self.batch.push(frame);
            // Nothing is written before the type is known, so a refused type never
            // leaves more than the previous requests' few bytes (which it removes).
            if self.batch_len >= WRITE_BATCH && matches!(self.sniff, SniffState::Decided(_)) {
                self.write_batch().await.map_err(Refusal::CutRequest)?;
            }
        }
        Ok(BodyEnd::Complete)
    }

    fn decide_type(&mut self) -> Result<()> {
        if let SniffState::Pending(prefix) = &self.sniff {
            self.sniff = SniffState::Decided(media::sniff(prefix)?);
        }
        Ok(())
    }

    async fn write_batch(&mut self) -> Result<()> {
        let batch = std::mem::take(&mut self.batch);
        self.batch_len = 0;
        self.writer.submit(batch).await
    }

    async fn conclude(mut self, end: BodyEnd) -> Result<AppendOutcome> {
        let end = match end {
            BodyEnd::Interrupted(source) if self.request.checksum.is_some() => {
                // A checksummed body that did not arrive whole cannot be verified.
                self.cut_back().await?;
                return Err(BlobError::BodyInterrupted {
                    offset: self.stored,
                    source,
                });
            }
            end => end,
        };
        // The whole upload is here and shorter than the sniffing window: decide now.
        let complete = self.request.declared_length == Some(self.received);
        if complete && let Err(error) = self.decide_type() {
            self.remove_upload().await?;
            return Err(error);
        }
        let written = match self.write_batch().await {
            Ok(()) => self.writer.sync().await,
            Err(error) => Err(error),
        };
        if let Err(error) = written {
            self.cut_back().await?;
            return Err(error);
        }
        let upload = self.writer.idle_mut()?;
        let content_hasher = upload.content_hasher.take();
        if let Some(expected) = self.request.checksum {
            let body_digest = upload.body_hasher.take().map(Sha256::finalize);
            if !body_digest.is_some_and(|digest| expected.matches(&digest)) {
                self.cut_back().await?;
                return Err(BlobError::ChecksumMismatch);
            }
            // The request's bytes are verified and synced: from now on they count.
            let paths = self.paths.clone();
            blocking(move || remove_unverified_marker(&paths)).await?;
        }
        self.store
            .keep_content_hash(&self.paths.key, self.received, content_hasher);
        match end {
            BodyEnd::Complete => Ok(AppendOutcome {
                offset: self.received,
                complete,
                media_type: match self.sniff {
                    SniffState::Decided(media_type) => Some(media_type),
                    SniffState::Pending(_) => None,
                },
            }),
            BodyEnd::Interrupted(source) => Err(BlobError::BodyInterrupted {
                offset: self.received,
                source,
            }),
        }
    }

    /// Cuts the file back to where this request found it and drops the marker; the
    /// upload stays as the previous request left it.
    async fn cut_back(&mut self) -> Result<()> {
        // A failed write hands the file back; a panicked one does not, and then the lock
        // went with it and the next request finds the file as the marker (if any) says.
        let _ = self.writer.wait().await;
        let Some(upload) = self.writer.idle.take() else {
            return Ok(());
        };
        let paths = self.paths.clone();
        let stored = self.stored;
        blocking(move || {
            upload
                .file
                .set_len(stored)
                .map_err(|e| BlobError::io("truncating", &paths.part, e))?;
            upload
                .file
                .sync_data()
                .map_err(|e| BlobError::io("syncing", &paths.part, e))?;
            remove_unverified_marker(&paths)
        })
        .await?;
        self.store
            .keep_content_hash(&self.paths.key, self.stored, self.hash_at_start.take());
        Ok(())
    }

    /// Removes the whole upload (its bytes are not a video).
    async fn remove_upload(&mut self) -> Result<()> {
        let _ = self.writer.wait().await;
        // Hold the lock (the open file) until the files are gone.
        let locked = self.writer.idle.take();
        let paths = self.paths.clone();
        blocking(move || {
            let removed = remove_upload_files(&paths);
            drop(locked);
            removed
        })
        .await?;
        self.store.forget_content_hash(&self.paths.key);
        Ok(())
    }
}

/// Why receiving stopped early, and what to undo.
enum Refusal {
    /// Undo this request only (size limit, failed write).
    CutRequest(BlobError),
    /// Remove the whole upload (not a video).
    RemoveUpload(BlobError),
}

/// An upload's file, locked, with the hash states that follow what is written to it.
struct OpenUpload {
    file: File,
    content_hasher: Option<Sha256>,
    body_hasher: Option<Sha256>,
}

impl OpenUpload {
    fn write_batch(&mut self, batch: &[Bytes]) -> io::Result<()> {
        for frame in batch {
            self.file.write_all(frame)?;
            if let Some(hasher) = &mut self.content_hasher {
                hasher.update(frame);
            }
            if let Some(hasher) = &mut self.body_hasher {
                hasher.update(frame);
            }
        }
        Ok(())
    }
}

/// Writes batches on the blocking pool, one at a time, while the next batch is received:
/// at most two batches in memory.
struct PartWriter {
    part: PathBuf,
    idle: Option<OpenUpload>,
    in_flight: Option<JoinHandle<(OpenUpload, io::Result<()>)>>,
}

impl PartWriter {
    async fn submit(&mut self, batch: Vec<Bytes>) -> Result<()> {
        self.wait().await?;
        if batch.is_empty() {
            return Ok(());
        }
        let mut upload = self.idle.take().ok_or_else(lost_file)?;
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            let written = upload.write_batch(&batch);
            (upload, written)
        }));
        Ok(())
    }

    /// Waits for the write in flight; its file comes back to `idle` even when it failed.
    async fn wait(&mut self) -> Result<()> {
        let Some(handle) = self.in_flight.take() else {
            return Ok(());
        };
        let (upload, written) = handle
            .await
            .map_err(|e| BlobError::TaskFailed(format!("writing an upload: {e}")))?;
        self.idle = Some(upload);
        written.map_err(|e| BlobError::io("writing", &self.part, e))
    }

    /// Waits for the last write, then makes the data durable before it is acknowledged.
    async fn sync(&mut self) -> Result<()> {
        self.wait().await?;
        let upload = self.idle_mut()?;
        // A second descriptor of the same open file: syncing it syncs the upload, and
        // the lock stays with the original.
        let file = upload
            .file
            .try_clone()
            .map_err(|e| BlobError::io("opening", &self.part, e))?;
        let part = self.part.clone();
        blocking(move || {
            file.sync_data()
                .map_err(|e| BlobError::io("syncing", &part, e))
        })
        .await
    }

    fn idle_mut(&mut self) -> Result<&mut OpenUpload> {
        self.idle.as_mut().ok_or_else(lost_file)
    }
}

fn lost_file() -> BlobError {
    BlobError::TaskFailed("the upload's file was lost with a failed task".into())
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| BlobError::TaskFailed(e.to_string()))?
}

fn open_part(paths: &UploadPaths) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(&paths.part)
        .map_err(|e| upload_error(paths, "opening", e))
}

fn upload_error(paths: &UploadPaths, action: &'static str, e: io::Error) -> BlobError {
    let key = paths.key.to_string();
    match e.kind() {
        io::ErrorKind::NotFound => BlobError::UploadNotFound { key },
        io::ErrorKind::AlreadyExists => BlobError::UploadExists { key },
        _ => BlobError::io(action, &paths.part, e),
    }
}

/// Opens the upload's file and takes its exclusive lock (`flock`): one request at a
/// time per upload, across threads and across server processes sharing the disk. The
/// lock goes with the file, so a killed process never leaves it held.
fn open_locked_part(paths: &UploadPaths) -> Result<File> {
    let file = open_part(paths)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(BlobError::UploadBusy {
                key: paths.key.to_string(),
            });
        }
        Err(TryLockError::Error(e)) => return Err(BlobError::io("locking", &paths.part, e)),
    }
    ensure_still_linked(&file, paths)?;
    Ok(file)
}

/// After waiting for a lock, the upload may have been finished (renamed away) or removed
/// by its holder: the file opened is then no longer the one at the upload's path.
fn ensure_still_linked(file: &File, paths: &UploadPaths) -> Result<()> {
    let opened = file
        .metadata()
        .map_err(|e| BlobError::io("reading", &paths.part, e))?;
    match fs::metadata(&paths.part) {
        Ok(current) if current.dev() == opened.dev() && current.ino() == opened.ino() => Ok(()),
        Ok(_) => Err(BlobError::UploadNotFound {
            key: paths.key.to_string(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(BlobError::UploadNotFound {
            key: paths.key.to_string(),
        }),
        Err(e) => Err(BlobError::io("reading", &paths.part, e)),
    }
}

fn file_len(file: &File, path: &Path) -> Result<u64> {
    Ok(file
        .metadata()
        .map_err(|e| BlobError::io("reading the length of", path, e))?
        .len())
}

/// The first [`SNIFF_LEN`] bytes (fewer if the file is shorter).
fn read_prefix(file: &mut File, path: &Path) -> Result<Vec<u8>> {
    let mut prefix = Vec::with_capacity(SNIFF_LEN);
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.take(SNIFF_LEN as u64).read_to_end(&mut prefix))
        .map_err(|e| BlobError::io("reading", path, e))?;
    Ok(prefix)
}

/// Size, type, sha256 (from `cached_hash` when it covers the whole file) and duration.
fn describe(
    file: &mut File,
    path: &Path,
    cached_hash: Option<ContentHash>,
) -> Result<RecordingInfo> {
    let size = file_len(file, path)?;
    let media_type = media::sniff(&read_prefix(file, path)?)?;
    let sha256 = match cached_hash.filter(|cached| cached.len == size) {
        Some(cached) => cached.hasher.finalize().to_vec(),
        None => hash_file(file, path)?,
    };
    let duration_seconds = container_duration(file, size, media_type)
        .map_err(|e| BlobError::io("reading the container of", path, e))?;
    Ok(RecordingInfo {
        size,
        sha256_hex: hex(&sha256),
        media_type,
        duration_seconds,
    })
}

fn hash_file(file: &mut File, path: &Path) -> Result<Vec<u8>> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; HASH_READ_BUF];
    file.seek(SeekFrom::Start(0))
        .map_err(|e| BlobError::io("reading", path, e))?;
    loop {
        let read = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(BlobError::io("reading", path, e)),
        };
        hasher.update(&buffer[..read]);
    }
    Ok(hasher.finalize().to_vec())
}

/// The marker is `<offset>\n`; without its newline it was cut by a crash before any of
/// the request's bytes were written (the marker is synced first), so it is ignored.
fn write_unverified_marker(paths: &UploadPaths, offset: u64) -> Result<()> {
    let mut marker = File::create(&paths.unverified)
        .map_err(|e| BlobError::io("creating", &paths.unverified, e))?;
    marker
        .write_all(format!("{offset}\n").as_bytes())
        .and_then(|()| marker.sync_all())
        .map_err(|e| BlobError::io("writing", &paths.unverified, e))?;
    sync_dir(&paths.uploads_dir)
}

fn read_unverified_marker(paths: &UploadPaths) -> Result<Option<u64>> {
    match fs::read_to_string(&paths.unverified) {
        Ok(text) => Ok(text
            .strip_suffix('\n')
            .and_then(|offset| offset.parse().ok())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BlobError::io("reading", &paths.unverified, e)),
    }
}

fn remove_unverified_marker(paths: &UploadPaths) -> Result<()> {
    match fs::remove_file(&paths.unverified) {
        Ok(()) => sync_dir(&paths.uploads_dir),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(BlobError::io("removing", &paths.unverified, e)),
    }
}

/// Under the upload's lock: if a checksummed request was cut short by a crash, its bytes
/// were never verified, so the file goes back to where that request started.
fn cut_unverified_tail(file: &File, paths: &UploadPaths) -> Result<()> {
    if !paths.unverified.exists() {
        return Ok(());
    }
    if let Some(offset) = read_unverified_marker(paths)?
        && offset < file_len(file, &paths.part)?
    {
        file.set_len(offset)
            .map_err(|e| BlobError::io("truncating", &paths.part, e))?;
        file.sync_data()
            .map_err(|e| BlobError::io("syncing", &paths.part, e))?;
    }
    remove_unverified_marker(paths)
}

/// Marker first: a crash in between leaves a plain partial upload, which expiry removes.
fn remove_upload_files(paths: &UploadPaths) -> Result<()> {
    remove_unverified_marker(paths)?;
    match fs::remove_file(&paths.part) {
        Ok(()) => sync_dir(&paths.uploads_dir),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(BlobError::io("removing", &paths.part, e)),
    }
}

/// Makes a directory's entries durable (a new, renamed or removed file).
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| BlobError::io("syncing directory", dir, e))
}

fn list_dir(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| BlobError::io("listing", dir, e))? {
        let entry = entry.map_err(|e| BlobError::io("listing", dir, e))?;
        if let Ok(name) = entry.file_name().into_string() {
            entries.push((name, entry.path()));
        }
    }
    Ok(entries)
}

fn recording_error(e: io::Error, key: &RecordingKey, path: &Path) -> BlobError {
    if e.kind() == io::ErrorKind::NotFound {
        BlobError::RecordingNotFound {
            key: key.to_string(),
        }
    } else {
        BlobError::io("opening", path, e)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_store() -> (tempfile::TempDir, LocalBlobStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).unwrap();
        (dir, store)
    }

    /// What a process killed in the middle of a checksummed request leaves: the marker
    /// with the request's start, and some of its bytes after it.
    fn leave_unverified_bytes(store: &LocalBlobStore, key: &UploadKey, marker: &str) {
        let paths = store.upload_paths(key);
        std::fs::write(&paths.unverified, marker).unwrap();
        let mut part = OpenOptions::new().append(true).open(&paths.part).unwrap();
        part.write_all(&[0xAB; 3000]).unwrap();
    }

    async fn upload_with_5000_bytes(store: &LocalBlobStore, key: &UploadKey) {
        store
            .create_upload(key, Some(20_000), 1 << 20)
            .await
            .unwrap();
        let mut prefix = b"\0\0\0\x14ftypisom\0\0\x02\0isom".to_vec();
        prefix.resize(5000, 0);
        let request = AppendRequest {
            expected_offset: 0,
            declared_length: Some(20_000),
            max_size: 1 << 20,
            checksum: None,
            body_length: None,
        };
        let body = futures_util::stream::iter([Ok::<_, io::Error>(Bytes::from(prefix))]);
        assert_eq!(store.append(key, request, body).await.unwrap().offset, 5000);
    }

    #[tokio::test]
    async fn bytes_a_crash_left_unverified_are_cut_off() {
        let (_dir, store) = open_store();
        let key = UploadKey::new("crashed").unwrap();
        upload_with_5000_bytes(&store, &key).await;
        leave_unverified_bytes(&store, &key, "5000\n");

        assert_eq!(store.upload_offset(&key).await.unwrap(), 5000);
        let paths = store.upload_paths(&key);
        assert_eq!(std::fs::metadata(&paths.part).unwrap().len(), 5000);
        assert!(!paths.unverified.exists());
    }

    #[tokio::test]
    async fn a_marker_cut_by_a_crash_is_ignored() {
        // The marker is synced before any byte of its request: one without its newline
        // means the crash came first, and the bytes after 5000 were acknowledged before.
        let (_dir, store) = open_store();
        let key = UploadKey::new("torn-marker").unwrap();
        upload_with_5000_bytes(&store, &key).await;
        leave_unverified_bytes(&store, &key, "50");

        assert_eq!(store.upload_offset(&key).await.unwrap(), 8000);
        assert!(!store.upload_paths(&key).unverified.exists());
    }
}
