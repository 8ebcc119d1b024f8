//! `vitrine recordings migrate`: copies every recording from one store to another (local
//! disk to a bucket, or back), checking each against its row's size and SHA-256.
//!
//! Resumable: a recording already at the destination is read back and kept when its size
//! and SHA-256 are the row's (else replaced), so a migration stopped half way is run again
//! from the start and only copies what is missing. The copy goes through the destination's
//! `store_stream`, which hashes the bytes as it stores them: the digest it returns is that of
//! what the destination holds, compared with the row's. Nothing is deleted from the source.

use vitrine_blob::{BlobError, BlobStore, RecordingKey, UploadKey};
use vitrine_domain::RecordingId;
use vitrine_store::Store;

use crate::{JobError, JobResult};

/// What happened to one recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MigrationStep {
    /// Copied, and its checksum verified.
    Copied { bytes: u64 },
    /// Already at the destination with the right size and checksum.
    AlreadyThere { bytes: u64 },
    /// Not named by any recording row (left by a crash, or not vitrine's): not copied.
    NoRow,
}

/// One line of progress: the `index`-th (from 1) of `total` recordings.
#[derive(Clone, Debug)]
pub struct MigrationProgress {
    pub index: usize,
    pub total: usize,
    pub key: RecordingKey,
    pub step: MigrationStep,
}

/// What a migration did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MigrationSummary {
    pub copied: usize,
    pub already_there: usize,
    pub without_row: usize,
    pub bytes_copied: u64,
}

/// Copies every recording of `source` to `target`, calling `progress` after each. Stops at
/// the first recording whose bytes do not match its row (the source is damaged: the
/// operator must look), leaving nothing of it at the destination.
pub async fn migrate_recordings(
    store: &dyn Store,
    source: &BlobStore,
    target: &BlobStore,
    mut progress: impl FnMut(&MigrationProgress),
) -> JobResult<MigrationSummary> {
    let keys = source.recording_keys().await?;
    let total = keys.len();
    let mut summary = MigrationSummary::default();
    for (position, key) in keys.into_iter().enumerate() {
        let step = migrate_one(store, source, target, &key).await?;
        match step {
            MigrationStep::Copied { bytes } => {
                summary.copied += 1;
                summary.bytes_copied += bytes;
            }
            MigrationStep::AlreadyThere { .. } => summary.already_there += 1,
            MigrationStep::NoRow => summary.without_row += 1,
        }
        progress(&MigrationProgress {
            index: position + 1,
            total,
            key,
            step,
        });
    }
    Ok(summary)
}

async fn migrate_one(
    store: &dyn Store,
    source: &BlobStore,
    target: &BlobStore,
    key: &RecordingKey,
) -> JobResult<MigrationStep> {
    let Ok(id) = key.as_str().parse::<RecordingId>() else {
        return Ok(MigrationStep::NoRow);
    };
    let Some(row) = store.recording(id).await? else {
        return Ok(MigrationStep::NoRow);
    };
    match target.recording_info(key).await {
        Ok(there) if there.size == row.size && there.sha256_hex == row.sha256 => {
            return Ok(MigrationStep::AlreadyThere { bytes: row.size });
        }
        // A copy cut short, or a different file: replaced.
        Ok(_) | Err(BlobError::UnsupportedMediaType { .. }) => {
            target.delete_recording(key).await?;
        }
        Err(BlobError::RecordingNotFound { .. }) => {}
        Err(error) => return Err(error.into()),
    }
    // The upload a previous run left half done, if any, is dropped first.
    let upload = UploadKey::new(key.as_str()).map_err(|e| JobError::internal("upload key", e))?;
    match target.terminate(&upload).await {
        Ok(()) | Err(BlobError::UploadNotFound { .. }) => {}
        Err(error) => return Err(error.into()),
    }
    let reader = source.open_recording(key).await?;
    if reader.size() != row.size {
        return Err(JobError::internal(
            "migrating recordings",
            format!(
                "recording {key} has {} bytes at the source but its row says {}; nothing copied",
                reader.size(),
                row.size
            ),
        ));
    }
    let bytes = reader
        .into_stream(0, row.size)
        .await
        .map_err(|e| JobError::internal("reading a recording to migrate", e))?;
    let copied = target
        .store_stream(&upload, key, Some(row.size), u64::MAX, bytes)
        .await?;
    if copied.sha256_hex != row.sha256 {
        target.delete_recording(key).await?;
        return Err(JobError::internal(
            "migrating recordings",
            format!(
                "recording {key} read from the source has SHA-256 {} but its row says {}; the \
                 copy was removed",
                copied.sha256_hex, row.sha256
            ),
        ));
    }
    Ok(MigrationStep::Copied { bytes: row.size })
}
