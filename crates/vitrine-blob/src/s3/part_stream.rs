//! A part sent to the bucket while its bytes arrive, instead of once they are all in.
//!
//! A tus PATCH of one part's size (the usual chunked client) would otherwise be received
//! whole, then sent whole: the two one after the other. When the request says its length
//! (`Content-Length`, [`AppendRequest::body_length`]) and it fills the part being cut, and
//! that part is the last it fills, the part goes up as an `UploadPart` whose body is fed
//! frame by frame as they arrive (a presigned URL, as for the single PUT: so only with
//! unsigned payloads), and the PATCH is answered soon after its last byte. The parts before
//! it, in a longer body, are cut from the buffer as before: received ahead while two go up
//! at once, they go faster than one connection's pace.
//!
//! The bytes stay in `pending` until the part is whole, exactly as when it is cut from a
//! buffer, so nothing else changes: the hash is fed when the part is complete, a body that
//! ends early leaves them as the tail (the stream is cut, the bucket keeps no part), and a
//! stream that fails (the request to the bucket died) is dropped and its part cut the
//! buffered way, with `object_store`'s retries.
//!
//! [`AppendRequest::body_length`]: crate::AppendRequest::body_length

use object_store::multipart::PartId;
use object_store::signer::SignedUrlOptions;
use object_store::signer::Signer as _;

use super::single_put::{StreamedPut, cut, put_error, sending_outcome};
use super::{PARTS_IN_FLIGHT, Session, SniffState, upload_target};
use crate::error::{BlobError, Result};

/// How long a part's presigned URL is valid: checked when the request starts.
const URL_VALIDITY: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The part being streamed.
pub(super) struct PartStream {
    /// The part's index (its part number less one).
    index: usize,
    /// Its length, in bytes.
    len: usize,
    /// Bytes of `pending` (from its start) already passed on.
    sent: usize,
    put: StreamedPut,
}

impl Session<'_> {
    /// Moves the pending bytes on: into the part being streamed (opening one when the
    /// request will fill it), else cut into whole parts held in memory.
    pub(super) async fn advance(&mut self) -> Result<()> {
        loop {
            if self.streaming.is_none() {
                self.open_stream_if_filled().await?;
            }
            if self.streaming.is_some() {
                if !self.feed_stream().await {
                    tracing::warn!("a part streamed to the bucket failed; it is sent again whole");
                    self.stop_streaming();
                    self.streaming_failed = true;
                    continue;
                }
                if self.streaming.as_ref().is_some_and(|s| s.sent == s.len) {
                    self.end_stream();
                    continue;
                }
                return Ok(());
            }
            if self.pending_len >= self.part_size() {
                self.cut_part(self.part_size()).await?;
                continue;
            }
            return Ok(());
        }
    }

    /// Cuts the part being streamed, if any: the bucket keeps nothing of it, and its bytes
    /// stay pending.
    pub(super) fn stop_streaming(&mut self) {
        if let Some(stream) = self.streaming.take() {
            // Its slot is the last one: no part is cut while a stream is open.
            self.new_parts.pop();
            let PartStream { put, .. } = stream;
            tokio::spawn(cut(put.frames, put.sending));
        }
    }

    /// Opens a stream for the next part if this request's body will fill it, its type is
    /// known and payloads may go unsigned.
    async fn open_stream_if_filled(&mut self) -> Result<()> {
        let (Some(client), Some(body_length)) =
            (&self.store.inner.single_put, self.request.body_length)
        else {
            return Ok(());
        };
        if self.streaming_failed || !matches!(self.sniff, SniffState::Decided(_)) {
            return Ok(());
        }
        let part_size = self.state.part_size;
        let index = self.state.parts.len() + self.new_parts.len();
        let part_start = index as u64 * part_size;
        let part_end = match self.declared_length {
            Some(declared) => declared.min(part_start + part_size),
            None => part_start + part_size,
        };
        let request_end = self.state.offset.saturating_add(body_length);
        // Past the end of the upload: nothing to open.
        if part_end <= part_start || part_end > request_end {
            return Ok(());
        }
        // A short part only as the last of the upload.
        if part_end - part_start < part_size && Some(part_end) != self.declared_length {
            return Ok(());
        }
        // Only the last part this body fills: before it, the body gains more from being
        // received ahead while two parts go up at once (a part streamed goes at the pace of
        // one connection to the bucket).
        if request_end - part_end >= part_size {
            return Ok(());
        }
        let Ok(len) = usize::try_from(part_end - part_start) else {
            return Ok(());
        };
        let client = client.clone();
        while self.in_flight.len() >= PARTS_IN_FLIGHT {
            self.wait_for_oldest().await?;
        }
        let target = upload_target(&self.key);
        let options = SignedUrlOptions::new().with_query([
            ("partNumber", (index + 1).to_string()),
            ("uploadId", self.state.multipart_id.clone()),
        ]);
        let url = self
            .store
            .inner
            .s3
            .signed_url_opts(reqwest::Method::PUT, &target, URL_VALIDITY, &options)
            .await
            .map_err(|e| put_error(&target, e))?;
        self.new_parts.push(None);
        self.streaming = Some(PartStream {
            index,
            len,
            sent: 0,
            put: StreamedPut::start(&client, url, len as u64),
        });
        Ok(())
    }

    /// Passes on the pending bytes the stream has not had yet, up to its part's end.
    /// `false` if the request to the bucket is gone.
    async fn feed_stream(&mut self) -> bool {
        let Some(stream) = self.streaming.as_mut() else {
            return true;
        };
        let mut position = 0;
        for frame in &self.pending {
            let frame_end = position + frame.len();
            if frame_end > stream.sent && stream.sent < stream.len {
                let from = stream.sent - position;
                let to = frame.len().min(stream.len - position);
                if stream
                    .put
                    .frames
                    .send(Ok(frame.slice(from..to)))
                    .await
                    .is_err()
                {
                    return false;
                }
                stream.sent = position + to;
            }
            position = frame_end;
            if position >= stream.len {
                break;
            }
        }
        true
    }

    /// The stream's part is all sent: its bytes leave `pending` into the hash, and its
    /// answer (the ETag) is awaited with the other parts in flight.
    fn end_stream(&mut self) {
        let Some(stream) = self.streaming.take() else {
            return;
        };
        let _ = self.take_part(stream.len);
        let PartStream { index, put, .. } = stream;
        let StreamedPut { frames, sending } = put;
        drop(frames);
        let target = upload_target(&self.key);
        self.in_flight.push(tokio::spawn(async move {
            let stored = sending_outcome(sending, &target).await.and_then(|headers| {
                headers
                    .get(reqwest::header::ETAG)
                    .and_then(|etag| etag.to_str().ok())
                    .map(|etag| PartId {
                        content_id: etag.to_owned(),
                    })
                    .ok_or_else(|| BlobError::ObjectStore {
                        action: "uploading a part of",
                        location: target.to_string(),
                        source: "the bucket's answer has no ETag".into(),
                    })
            });
            (index, stored)
        }));
    }
}
