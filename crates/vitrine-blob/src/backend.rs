//! [`BlobStore`]: the recording store the rest of vitrine holds, on local disk or in a
//! bucket. An enum rather than a trait object: there are two backends, both known here, and
//! the streaming methods are generic over the body, which a trait object could not be.

use std::error::Error as StdError;
use std::io::{self, SeekFrom};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::error::Result;
use crate::key::{RecordingKey, UploadKey};
use crate::s3::S3BlobStore;
use crate::store::{AppendOutcome, AppendRequest, LocalBlobStore, RecordingInfo};
use crate::upload_states::UploadStates;

/// Local files are read and sent in pieces of this size.
const READ_CHUNK: usize = 256 * 1024;

/// Where recordings and partial uploads are kept.
#[derive(Clone, Debug)]
pub enum BlobStore {
    /// Files under the data directory (the embedded default).
    Local(LocalBlobStore),
    /// An S3-compatible bucket (several servers share it).
    S3(S3BlobStore),
}

/// A finished recording about to be served: its size, then the bytes of a range.
pub struct RecordingReader {
    size: u64,
    source: ReaderSource,
}

enum ReaderSource {
    File(tokio::fs::File),
    S3(S3BlobStore, RecordingKey),
}

impl RecordingReader {
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes `start..start + length`, streamed in pieces.
    pub async fn into_stream(
        self,
        start: u64,
        length: u64,
    ) -> io::Result<BoxStream<'static, io::Result<Bytes>>> {
        match self.source {
            ReaderSource::S3(store, key) => Ok(store.stream_range(&key, start, length)),
            ReaderSource::File(mut file) => {
                if start > 0 {
                    file.seek(SeekFrom::Start(start)).await?;
                }
                Ok(futures_util::stream::unfold(
                    (file, length),
                    |(mut file, remaining)| async move {
                        if remaining == 0 {
                            return None;
                        }
                        let want =
                            usize::try_from(remaining.min(READ_CHUNK as u64)).unwrap_or(READ_CHUNK);
                        let mut buffer = vec![0; want];
                        match file.read(&mut buffer).await {
                            Ok(0) => Some((
                                Err(io::Error::new(
                                    io::ErrorKind::UnexpectedEof,
                                    "the recording is shorter than its size",
                                )),
                                (file, 0),
                            )),
                            Ok(n) => {
                                buffer.truncate(n);
                                Some((Ok(Bytes::from(buffer)), (file, remaining - n as u64)))
                            }
                            Err(error) => Some((Err(error), (file, 0))),
                        }
                    },
                )
                .boxed())
            }
        }
    }
}

macro_rules! each_backend {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            BlobStore::Local($store) => $call,
            BlobStore::S3($store) => $call,
        }
    };
}

impl BlobStore {
    /// Where the recordings are, for logs: a directory or `<endpoint>/<bucket>`.
    pub fn describe(&self) -> String {
        match self {
            Self::Local(store) => store.root().display().to_string(),
            Self::S3(store) => store.name().to_owned(),
        }
    }

    /// This store with its uploads' states kept by `states` (a server's database). The
    /// local store keeps them on its own disk (the file is the state), so it is unchanged.
    pub fn with_upload_states(&self, states: Arc<dyn UploadStates>) -> Self {
        match self {
            Self::Local(store) => Self::Local(store.clone()),
            Self::S3(store) => Self::S3(store.with_upload_states(states)),
        }
    }

    pub async fn create_upload(
        &self,
        key: &UploadKey,
        declared_length: Option<u64>,
        max_size: u64,
    ) -> Result<()> {
        each_backend!(self, store => store.create_upload(key, declared_length, max_size).await)
    }

    pub async fn upload_offset(&self, key: &UploadKey) -> Result<u64> {
        each_backend!(self, store => store.upload_offset(key).await)
    }

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
        each_backend!(self, store => store.append(key, request, body).await)
    }

    pub async fn finish(
        &self,
        upload: &UploadKey,
        recording: &RecordingKey,
    ) -> Result<RecordingInfo> {
        each_backend!(self, store => store.finish(upload, recording).await)
    }

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
        each_backend!(self, store => store
            .store_stream(upload, recording, declared_length, max_size, body)
            .await)
    }

    pub async fn terminate(&self, key: &UploadKey) -> Result<()> {
        each_backend!(self, store => store.terminate(key).await)
    }

    pub async fn expire(&self, keys: &[UploadKey]) -> Result<Vec<UploadKey>> {
        each_backend!(self, store => store.expire(keys).await)
    }

    pub async fn stale_uploads(&self, cutoff: SystemTime) -> Result<Vec<UploadKey>> {
        each_backend!(self, store => store.stale_uploads(cutoff).await)
    }

    pub async fn recording_keys(&self) -> Result<Vec<RecordingKey>> {
        each_backend!(self, store => store.recording_keys().await)
    }

    pub async fn recordings_written_before(&self, cutoff: SystemTime) -> Result<Vec<RecordingKey>> {
        match self {
            Self::Local(store) => store.recordings_written_before(cutoff).await,
            Self::S3(store) => store.recordings_written_before(Some(cutoff)).await,
        }
    }

    pub async fn recording_info(&self, key: &RecordingKey) -> Result<RecordingInfo> {
        each_backend!(self, store => store.recording_info(key).await)
    }

    pub async fn delete_recording(&self, key: &RecordingKey) -> Result<()> {
        each_backend!(self, store => store.delete_recording(key).await)
    }

    /// Opens a recording for serving: its size now, its bytes by range after.
    pub async fn open_recording(&self, key: &RecordingKey) -> Result<RecordingReader> {
        match self {
            Self::Local(store) => {
                let opened = store.open_recording(key).await?;
                Ok(RecordingReader {
                    size: opened.size,
                    source: ReaderSource::File(opened.file),
                })
            }
            Self::S3(store) => Ok(RecordingReader {
                size: store.recording_size(key).await?,
                source: ReaderSource::S3(store.clone(), key.clone()),
            }),
        }
    }
}

impl From<LocalBlobStore> for BlobStore {
    fn from(store: LocalBlobStore) -> Self {
        Self::Local(store)
    }
}

impl From<S3BlobStore> for BlobStore {
    fn from(store: S3BlobStore) -> Self {
        Self::S3(store)
    }
}
