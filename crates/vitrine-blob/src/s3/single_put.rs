//! A whole recording of known length in one S3 `PutObject`, its body streamed through as it
//! arrives.
//!
//! The streamed request (`PUT …/recordings`, an email's attachment, `recordings migrate`) is
//! not resumable: if it breaks, the client sends it again from the start. So it has no need
//! of a multipart upload, whose completion makes the bucket assemble the object from its
//! parts, a second pass over every byte on the store's side. When the length is known, the
//! bytes go to `recordings/<key>` in one request instead, the way any S3 client uploads a
//! file, and the object appears whole when its last byte is stored or not at all (S3 writes a
//! `PutObject` atomically).
//!
//! `object_store` only sends bodies it holds in memory, so the request is a SigV4 presigned
//! URL (`object_store`'s signer, which signs the payload as `UNSIGNED-PAYLOAD`) sent with the
//! same HTTP client `object_store` is built on, its body fed from a bounded channel. Hence
//! it is used only when the operator allowed unsigned payloads ([`S3Settings::unsigned_payload`]):
//! otherwise a body's hash must be in its signature, which needs the whole body first, and
//! the upload takes the multipart path, hashing part by part.
//!
//! Every check the multipart path makes happens before the last byte is sent: the type from
//! the first bytes, the declared length and the maximum size on every frame. A refused or
//! interrupted body aborts the request (the channel yields an error, the connection is cut),
//! so S3 stores nothing; the object is deleted anyway in case a server stored a partial body.
//!
//! [`S3Settings::unsigned_payload`]: super::S3Settings::unsigned_payload

use std::error::Error as StdError;
use std::io;
use std::pin::pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer as _;
use reqwest::header::HeaderMap;
use sha2::Digest as _;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{S3BlobStore, recording_path};
use crate::error::{BlobError, Result};
use crate::key::RecordingKey;
use crate::media::{self, SNIFF_LEN};
use crate::store::{RecordingInfo, hex};

/// S3's limit for one `PutObject`; a longer recording takes the multipart path.
pub(super) const MAX_SINGLE_PUT: u64 = 5 * 1024 * 1024 * 1024;
/// How long the presigned URL is valid. S3 checks it when the request starts, so this only
/// needs to cover the time between signing and sending.
const URL_VALIDITY: Duration = Duration::from_secs(15 * 60);
/// Frames waiting for the connection to the bucket: the request's memory is at most this
/// many of the client's frames (tens of KiB each).
const FRAMES_IN_FLIGHT: usize = 16;
/// How much of the bucket's answer to an error is kept for the message.
const ERROR_BODY_LIMIT: usize = 4096;

/// Builds the HTTP client for single PUTs: the one `object_store` uses (reqwest), with no
/// redirects (a presigned URL is for one address) and the same connect timeout; no total
/// timeout, since a recording's upload lasts as long as the client takes to send it.
pub(super) fn client() -> std::result::Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("the HTTP client for single uploads cannot be built: {e}"))
}

pub(super) fn put_error(
    location: &ObjectPath,
    detail: impl Into<Box<dyn StdError + Send + Sync>>,
) -> BlobError {
    BlobError::ObjectStore {
        action: "uploading",
        location: location.to_string(),
        source: detail.into(),
    }
}

impl S3BlobStore {
    /// Whether a recording of this declared length goes up in one `PutObject`.
    pub(super) fn takes_single_put(&self, declared_length: u64) -> bool {
        self.inner.single_put.is_some() && declared_length > 0 && declared_length <= MAX_SINGLE_PUT
    }

    /// Stores `body`, `declared_length` bytes, as `recordings/<recording>` in one request;
    /// the same refusals as the multipart path. On any failure nothing is left in the bucket.
    pub(super) async fn store_single_put<S, E>(
        &self,
        recording: &RecordingKey,
        declared_length: u64,
        max_size: u64,
        body: S,
    ) -> Result<RecordingInfo>
    where
        S: Stream<Item = std::result::Result<Bytes, E>>,
        E: Into<Box<dyn StdError + Send + Sync>>,
    {
        if declared_length > max_size {
            return Err(BlobError::TooLarge { max_size });
        }
        let location = recording_path(recording);
        if self.object_exists(&location).await? {
            return Err(BlobError::RecordingExists {
                key: recording.to_string(),
            });
        }
        let stored = self.put_streamed(&location, declared_length, body).await;
        let stored = match stored {
            Ok((sha256_hex, media_type)) => self
                .duration(&location, declared_length, media_type)
                .await
                .map(|duration_seconds| RecordingInfo {
                    size: declared_length,
                    sha256_hex,
                    media_type,
                    duration_seconds,
                }),
            Err(error) => Err(error),
        };
        if stored.is_err() {
            self.delete_object(&location).await?;
        }
        stored
    }

    /// Sends the body to `location`, checking each frame before it goes; returns the SHA-256
    /// (hex) and the sniffed type once the bucket has stored every byte.
    async fn put_streamed<S, E>(
        &self,
        location: &ObjectPath,
        declared_length: u64,
        body: S,
    ) -> Result<(String, media::MediaType)>
    where
        S: Stream<Item = std::result::Result<Bytes, E>>,
        E: Into<Box<dyn StdError + Send + Sync>>,
    {
        let Some(client) = &self.inner.single_put else {
            return Err(BlobError::TaskFailed(
                "a single upload without its HTTP client".into(),
            ));
        };
        let url = self
            .inner
            .s3
            .signed_url(reqwest::Method::PUT, location, URL_VALIDITY)
            .await
            .map_err(|e| put_error(location, e))?;
        let StreamedPut { frames, sending } = StreamedPut::start(client, url, declared_length);
        match check_frames(body, declared_length, &frames).await {
            Ok(digest) => {
                drop(frames);
                sending_outcome(sending, location).await.map(|_| digest)
            }
            Err(Refusal::BucketGone) => {
                // The request to the bucket ended early: its error says why.
                drop(frames);
                match sending_outcome(sending, location).await {
                    Ok(_) => Err(put_error(location, "the bucket ended the upload early")),
                    Err(error) => Err(error),
                }
            }
            Err(Refusal::Blob(error)) => {
                cut(frames, sending).await;
                Err(error)
            }
        }
    }
}

/// One PUT to a presigned URL whose body is fed, frame by frame, through `frames`; the
/// task answers the bucket's response headers, or why there are none.
pub(super) struct StreamedPut {
    pub(super) frames: mpsc::Sender<io::Result<Bytes>>,
    pub(super) sending: JoinHandle<std::result::Result<HeaderMap, String>>,
}

impl StreamedPut {
    /// Starts the request: `length` bytes (its `Content-Length`) to come through `frames`.
    pub(super) fn start(client: &reqwest::Client, url: reqwest::Url, length: u64) -> Self {
        let (frames, receiver) = mpsc::channel::<io::Result<Bytes>>(FRAMES_IN_FLIGHT);
        let outgoing = futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|frame| (frame, receiver))
        });
        let request = client
            .put(url)
            .header(reqwest::header::CONTENT_LENGTH, length)
            .body(reqwest::Body::wrap_stream(outgoing))
            .send();
        let sending = tokio::spawn(async move {
            let response = request.await.map_err(|e| e.to_string())?;
            let status = response.status();
            if status.is_success() {
                return Ok(response.headers().clone());
            }
            // The bucket's own words (an XML error document), cut short.
            let mut text = response.text().await.unwrap_or_default();
            text.truncate(text.floor_char_boundary(ERROR_BODY_LIMIT));
            Err(format!("the bucket answered {status}: {text}"))
        });
        Self { frames, sending }
    }
}

/// Cuts a request whose body will not be sent whole, so the bucket stores nothing.
pub(super) async fn cut(
    frames: mpsc::Sender<io::Result<Bytes>>,
    sending: JoinHandle<std::result::Result<HeaderMap, String>>,
) {
    // An error frame makes the client abort the request; aborting the task closes the
    // connection if the frame could not be taken.
    let _ = frames.try_send(Err(io::Error::other("the upload was refused")));
    drop(frames);
    sending.abort();
}

/// The response headers of a request whose body has been sent whole.
pub(super) async fn sending_outcome(
    sending: JoinHandle<std::result::Result<HeaderMap, String>>,
    location: &ObjectPath,
) -> Result<HeaderMap> {
    match sending.await {
        Ok(Ok(headers)) => Ok(headers),
        Ok(Err(refusal)) => Err(put_error(location, refusal)),
        Err(error) => Err(BlobError::TaskFailed(format!("uploading: {error}"))),
    }
}

enum Refusal {
    Blob(BlobError),
    /// The channel to the request is closed: the request failed.
    BucketGone,
}

/// Reads the client's body, checks every frame (length, type) and passes it on; returns the
/// SHA-256 (hex) and type once all `declared_length` bytes have gone. The type is decided
/// before the first frame goes, or before the last when the file is shorter than the sniffed
/// prefix, so a refused type never completes the request.
async fn check_frames<S, E>(
    body: S,
    declared_length: u64,
    frames: &mpsc::Sender<io::Result<Bytes>>,
) -> std::result::Result<(String, media::MediaType), Refusal>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    let mut body = pin!(body);
    let mut hasher = sha2::Sha256::new();
    let mut received: u64 = 0;
    let mut prefix: Vec<u8> = Vec::with_capacity(SNIFF_LEN);
    let mut media_type = None;
    // Frames held back until the type is known.
    let mut held: Vec<Bytes> = Vec::new();
    while let Some(frame) = body.next().await {
        let frame = frame.map_err(|error| {
            Refusal::Blob(BlobError::BodyInterrupted {
                offset: 0,
                source: error.into(),
            })
        })?;
        received = received.saturating_add(frame.len() as u64);
        if received > declared_length {
            return Err(Refusal::Blob(BlobError::ExceedsDeclaredLength {
                declared_length,
            }));
        }
        hasher.update(&frame);
        if media_type.is_none() {
            let wanted = SNIFF_LEN - prefix.len();
            prefix.extend_from_slice(&frame[..wanted.min(frame.len())]);
            held.push(frame);
            if prefix.len() < SNIFF_LEN && received < declared_length {
                continue;
            }
            media_type = Some(media::sniff(&prefix).map_err(Refusal::Blob)?);
            for frame in held.drain(..) {
                frames
                    .send(Ok(frame))
                    .await
                    .map_err(|_| Refusal::BucketGone)?;
            }
            continue;
        }
        frames
            .send(Ok(frame))
            .await
            .map_err(|_| Refusal::BucketGone)?;
    }
    match media_type {
        Some(media_type) if received == declared_length => {
            Ok((hex(&hasher.finalize()), media_type))
        }
        _ => Err(Refusal::Blob(BlobError::BodyInterrupted {
            offset: 0,
            source: "the body ended before its declared length".into(),
        })),
    }
}
