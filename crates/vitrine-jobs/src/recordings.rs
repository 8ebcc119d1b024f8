//! A recording's life after its bytes arrive, whichever way they came (tus, one `PUT`, later
//! an email attachment): the bytes are moved into place and the row committed
//! ([`finish_upload`]); a crash between the two is recovered ([`recover_finished`]); and the
//! sweep removes what expired or what no row will ever claim.
//!
//! A finished recording's id is its upload's id, so a server that died between moving the
//! bytes into place and committing the row finishes the job on the next request for that
//! upload instead of leaving a recording half attached.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use vitrine_blob::{BlobError, BlobStore, RecordingInfo, RecordingKey, UploadKey};
use vitrine_domain::go_live::Submission;
use vitrine_domain::recording::{Recording, Upload, UploadId};
use vitrine_domain::{AuditEvent, RecordingId, SubmissionId, Timestamp, UserId};
use vitrine_store::{Store, StoreError};

use crate::{Clock, JobError, JobResult, Services};

/// How long an upload may sit unfinished before it expires (tus `Upload-Expires`).
pub const UPLOAD_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// How old a recording without a row must be before the sweep removes it. A server commits
/// a recording's row right after moving its bytes into place (seconds at most, even waiting
/// on a busy database), and another server on the same database may be in between: an hour
/// is far beyond that.
pub const UNATTACHED_RECORDING_GRACE: Duration = Duration::from_secs(60 * 60);

/// Removes expired uploads: their bytes, any recording a crash left unclaimed under their id,
/// and their rows; then partial uploads on disk that no row knows of and that nobody has
/// written to for [`UPLOAD_TTL`] (left by a crash, or by an interrupted single-request
/// upload); then recordings on disk that neither a recording row nor an upload row knows of
/// and that are older than [`UNATTACHED_RECORDING_GRACE`] (a single-request upload whose
/// server died between moving the bytes into place and committing the row). Returns how
/// many uploads and recordings were removed.
pub async fn sweep_expired_uploads(
    store: &dyn Store,
    blobs: &BlobStore,
    now: Timestamp,
) -> anyhow::Result<usize> {
    UploadSweep::default().run(store, blobs, now).await
}

/// What the sweep remembers between runs: the recordings found attached, which stay so (a
/// recording row is never removed without its bytes), so each is looked up once, not at
/// every run.
#[derive(Default)]
struct UploadSweep {
    attached: HashSet<RecordingKey>,
}

impl UploadSweep {
    async fn run(
        &mut self,
        store: &dyn Store,
        blobs: &BlobStore,
        now: Timestamp,
    ) -> anyhow::Result<usize> {
        let mut removed = Self::expired_uploads(store, blobs, now).await?;
        removed += self.unattached_recordings(store, blobs).await?;
        Ok(removed)
    }

    async fn expired_uploads(
        store: &dyn Store,
        blobs: &BlobStore,
        now: Timestamp,
    ) -> anyhow::Result<usize> {
        let mut removed = 0;
        for id in store
            .expired_uploads(now)
            .await
            .context("listing expired uploads")?
        {
            let key = upload_key(id).map_err(|e| anyhow::anyhow!("upload key: {e:?}"))?;
            match blobs.terminate(&key).await {
                Ok(()) | Err(BlobError::UploadNotFound { .. }) => {}
                // Being written right now: the next sweep takes it.
                Err(BlobError::UploadBusy { .. }) => continue,
                Err(error) => return Err(error).context("removing an expired upload's bytes"),
            }
            // A recording under this id without a row: finished on disk, never committed.
            if store
                .recording(RecordingId(id.0))
                .await
                .context("checking an expired upload's recording")?
                .is_none()
            {
                let key = recording_key(RecordingId(id.0))
                    .map_err(|e| anyhow::anyhow!("recording key: {e:?}"))?;
                match blobs.delete_recording(&key).await {
                    Ok(()) | Err(BlobError::RecordingNotFound { .. }) => {}
                    Err(error) => return Err(error).context("removing an unclaimed recording"),
                }
            }
            match store.delete_upload(id).await {
                Ok(()) | Err(StoreError::NotFound) => removed += 1,
                Err(error) => return Err(error).context("deleting an expired upload's row"),
            }
        }
        let cutoff = std::time::SystemTime::now()
            .checked_sub(UPLOAD_TTL)
            .unwrap_or(std::time::UNIX_EPOCH);
        let mut orphans = Vec::new();
        for key in blobs
            .stale_uploads(cutoff)
            .await
            .context("listing stale uploads")?
        {
            let tracked = match key.as_str().parse::<UploadId>() {
                Ok(id) => store
                    .upload(id)
                    .await
                    .context("checking a stale upload")?
                    .is_some(),
                Err(_) => false,
            };
            if !tracked {
                orphans.push(key);
            }
        }
        removed += blobs
            .expire(&orphans)
            .await
            .context("removing stale uploads")?
            .len();
        Ok(removed)
    }

    /// Removes recordings older than the grace period that no row refers to. Never served
    /// meanwhile: recordings are served only through their row.
    async fn unattached_recordings(
        &mut self,
        store: &dyn Store,
        blobs: &BlobStore,
    ) -> anyhow::Result<usize> {
        let cutoff = std::time::SystemTime::now()
            .checked_sub(UNATTACHED_RECORDING_GRACE)
            .unwrap_or(std::time::UNIX_EPOCH);
        let mut removed = 0;
        for key in blobs
            .recordings_written_before(cutoff)
            .await
            .context("listing recordings on disk")?
        {
            if self.attached.contains(&key) {
                continue;
            }
            // Not named by us: not ours to remove, and never served.
            let Ok(id) = key.as_str().parse::<RecordingId>() else {
                continue;
            };
            // The upload row first: `finish_upload` deletes it and inserts the recording
            // row in one transaction, so when it is gone, a row committed meanwhile is
            // already there to be found next.
            if store
                .upload(UploadId(id.0))
                .await
                .context("checking a recording's upload")?
                .is_some()
            {
                // The tus case: the next HEAD or PATCH commits the row, or the upload
                // expires and the expiry sweep removes both.
                continue;
            }
            if store
                .recording(id)
                .await
                .context("checking a recording's row")?
                .is_some()
            {
                self.attached.insert(key);
                continue;
            }
            match blobs.delete_recording(&key).await {
                Ok(()) => {
                    tracing::warn!(recording = %key, "removed a recording no row refers to");
                    removed += 1;
                }
                Err(BlobError::RecordingNotFound { .. }) => {}
                Err(error) => return Err(error).context("removing an unattached recording"),
            }
        }
        Ok(removed)
    }
}

/// Runs [`sweep_expired_uploads`] at once (so what a crash left is cleaned at start-up),
/// then every `every` until the task is dropped.
pub fn spawn_upload_sweeper(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    blobs: BlobStore,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut sweep = UploadSweep::default();
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match sweep.run(store.as_ref(), &blobs, clock.now()).await {
                Ok(0) => {}
                Ok(removed) => {
                    tracing::info!(removed, "expired uploads and unattached recordings removed")
                }
                Err(error) => tracing::warn!(error = format!("{error:#}"), "upload sweep failed"),
            }
            // Expired sessions and old one-time links go with them: nothing reads them.
            match store.delete_expired_credentials(clock.now()).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "expired sessions and links removed"),
                Err(error) => tracing::warn!(%error, "removing expired sessions failed"),
            }
        }
    })
}

/// Stores a whole recording from `body` (a single-request upload, an email's attachment)
/// under `id` and commits its row; on a refusal (type, size) nothing is kept. A server killed
/// between the bytes' rename and the row's commit leaves a file no row names, which the sweep
/// removes once it is [`UNATTACHED_RECORDING_GRACE`] old.
#[allow(clippy::too_many_arguments)]
pub async fn store_recording<S, E>(
    services: &Services,
    blobs: &BlobStore,
    id: RecordingId,
    submission: &Submission,
    uploaded_by: UserId,
    file_name: String,
    declared: Option<u64>,
    max_size: u64,
    body: S,
    now: Timestamp,
) -> JobResult<Recording>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let info = blobs
        .store_stream(
            &upload_key(UploadId(id.0))?,
            &recording_key(id)?,
            declared,
            max_size,
            body,
        )
        .await?;
    let recording = recording_row(id, submission.id, uploaded_by, file_name, &info, now);
    let event = recording_event(submission, &recording);
    if let Err(error) = services.store.insert_recording(&recording, &[event]).await {
        delete_recording_bytes(blobs, id).await;
        return Err(error.into());
    }
    Ok(recording)
}

/// Moves a complete upload into place and commits its recording row (the upload row goes
/// in the same transaction).
pub async fn finish_upload(
    services: &Services,
    blobs: &BlobStore,
    upload: &Upload,
) -> JobResult<Recording> {
    let recording_id = RecordingId(upload.id.0);
    let info = match blobs
        .finish(&upload_key(upload.id)?, &recording_key(recording_id)?)
        .await
    {
        Ok(info) => info,
        Err(error @ BlobError::UnsupportedMediaType { .. }) => {
            forget_upload_row(services, upload.id).await;
            return Err(error.into());
        }
        Err(error) => return Err(error.into()),
    };
    commit_recording(services, blobs, upload, &info).await
}

/// After a crash between moving an upload's bytes into place and committing the row, the
/// upload row is still there and its bytes are a recording: commit the row now.
pub async fn recover_finished(
    services: &Services,
    blobs: &BlobStore,
    upload: &Upload,
) -> JobResult<()> {
    let recording_id = RecordingId(upload.id.0);
    if services.store.recording(recording_id).await?.is_some() {
        return Ok(());
    }
    match blobs.recording_info(&recording_key(recording_id)?).await {
        Ok(info) => {
            commit_recording(services, blobs, upload, &info).await?;
            Ok(())
        }
        Err(BlobError::RecordingNotFound { .. }) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

async fn commit_recording(
    services: &Services,
    blobs: &BlobStore,
    upload: &Upload,
    info: &RecordingInfo,
) -> JobResult<Recording> {
    let submission = services
        .store
        .submission(upload.submission_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let recording = recording_row(
        RecordingId(upload.id.0),
        upload.submission_id,
        upload.user_id,
        upload
            .file_name
            .clone()
            .unwrap_or_else(|| "recording".to_owned()),
        info,
        services.clock.now(),
    );
    let event = recording_event(&submission, &recording);
    match services
        .store
        .finish_upload(upload.id, &recording, &[event])
        .await
    {
        Ok(()) => Ok(recording),
        Err(StoreError::NotFound) => {
            // Terminated or expired meanwhile: the recording is not kept.
            delete_recording_bytes(blobs, recording.id).await;
            Err(StoreError::NotFound.into())
        }
        Err(error) => Err(error.into()),
    }
}

pub fn recording_row(
    id: RecordingId,
    submission_id: SubmissionId,
    uploaded_by: UserId,
    file_name: String,
    info: &RecordingInfo,
    now: Timestamp,
) -> Recording {
    Recording {
        id,
        submission_id,
        uploaded_by,
        file_name,
        size: info.size,
        sha256: info.sha256_hex.clone(),
        media_type: info.media_type.mime().to_owned(),
        duration_seconds: info.duration_seconds,
        created_at: now,
    }
}

pub fn recording_event(submission: &Submission, recording: &Recording) -> AuditEvent {
    AuditEvent::new(
        Some(recording.uploaded_by),
        "recording.uploaded",
        recording.created_at,
    )
    .subject_submission(
        submission.id,
        submission.offering_id,
        submission.provider_account_id,
    )
    .after(&serde_json::json!({
        "recording": recording.id,
        "file_name": recording.file_name,
        "size": recording.size,
        "sha256": recording.sha256,
        "media_type": recording.media_type,
    }))
}

pub async fn forget_upload_row(services: &Services, id: UploadId) {
    match services.store.delete_upload(id).await {
        Ok(()) | Err(StoreError::NotFound) => {}
        // The sweep removes it when it expires.
        Err(error) => tracing::warn!(%error, upload = %id, "deleting a refused upload's row"),
    }
}

pub async fn discard_upload_bytes(blobs: &BlobStore, key: &UploadKey) {
    if let Err(error) = blobs.terminate(key).await {
        tracing::warn!(%error, "removing the bytes of an upload that was not recorded");
    }
}

pub async fn delete_recording_bytes(blobs: &BlobStore, id: RecordingId) {
    match recording_key(id) {
        Ok(key) => match blobs.delete_recording(&key).await {
            Ok(()) | Err(BlobError::RecordingNotFound { .. }) => {}
            Err(error) => tracing::warn!(%error, "removing an unrecorded recording's bytes"),
        },
        Err(error) => tracing::warn!(?error, "recording key"),
    }
}

pub fn upload_key(id: UploadId) -> JobResult<UploadKey> {
    UploadKey::new(id.to_string()).map_err(|e| JobError::internal("upload key", e))
}

pub fn recording_key(id: RecordingId) -> JobResult<RecordingKey> {
    RecordingKey::new(id.to_string()).map_err(|e| JobError::internal("recording key", e))
}
