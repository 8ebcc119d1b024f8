//! Recording storage for vitrine: demo recordings uploaded resumably (tus) or in one
//! streamed request, kept on local disk ([`LocalBlobStore`], described below) or in an
//! S3-compatible bucket ([`S3BlobStore`], described in its module). The rest of vitrine
//! holds a [`BlobStore`], which is either.
//!
//! # Layout
//!
//! Under the root the server gives (`<data_dir>/blobs`):
//!
//! - `uploads/<upload-key>.part`: a partial upload. Its length on disk is the upload's
//!   offset (tus `Upload-Offset`); nothing else records it, so it cannot disagree.
//! - `uploads/<upload-key>.unverified`: present only while a request with a checksum is
//!   being written; it holds the offset that request started at.
//! - `recordings/<recording-key>`: a finished recording, named by the recording's id.
//!   Not content-addressed: two providers uploading the same file is rare, and naming by
//!   id makes deletion a plain `unlink` with no reference counting shared with the
//!   database.
//!
//! # Crash safety
//!
//! - An append writes, then `sync_data`s, and only then returns the new offset; a crash
//!   before that leaves some unacknowledged bytes at the end, which the client learns
//!   about from the offset (the file length) and does not resend.
//! - A request with a checksum writes the `.unverified` marker (synced) before its bytes;
//!   whoever next opens the upload cuts the file back to the marker's offset if the marker
//!   is still there, so unverified bytes never count.
//! - `finish` sniffs, hashes and parses the complete file, and only then renames it into
//!   `recordings/` (one atomic `rename`, then both directories are synced). A crash leaves
//!   the whole upload or the whole recording, never a recording with a part missing; a
//!   leftover `.part` is removed by expiry.
//! - One request at a time per upload: each holds an exclusive `flock` on the `.part` file,
//!   which dies with the process that held it.
//!
//! # Memory
//!
//! Bodies are streamed: received frames are gathered up to 1 MiB, written on the blocking
//! pool while the next megabyte arrives, and dropped. The type is sniffed from the first
//! 4 KiB ([`SNIFF_LEN`]), and nothing is written until it is known (except a short first
//! request of an upload whose length is larger or not declared yet, which waits for more).
//!
//! # SHA-256
//!
//! Computed while writing, so the single streamed request and a tus upload whose chunks
//! all reach this process are never read back. The running state lives in memory only;
//! after a restart, or when another server took some chunks, `finish` reads the file once
//! with a 1 MiB buffer instead.

mod backend;
mod checksum;
mod duration;
mod error;
mod key;
mod media;
mod s3;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod upload_states;

pub use backend::{BlobStore, RecordingReader};
pub use checksum::Sha256Expectation;
pub use error::{BlobError, Result};
pub use key::{RecordingKey, UploadKey};
pub use media::{MediaType, SNIFF_LEN, sniff};
pub use s3::{
    DEFAULT_PART_SIZE, MAX_PART_SIZE, MIN_PART_SIZE, S3BlobStore, S3ConnectError, S3Settings,
};
pub use store::{AppendOutcome, AppendRequest, LocalBlobStore, OpenRecording, RecordingInfo};
pub use upload_states::{MemoryUploadStates, StateError, StateFuture, UploadStates};
