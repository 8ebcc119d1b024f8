//! Demo recordings and the resumable uploads that produce them (PRODUCT.md, journey step 4).
//! The bytes live in the blob store; what is kept here is what the database knows about
//! them: who uploaded what, for which submission, its size, checksum, type and duration.

use crate::Timestamp;
use crate::ids::{RecordingId, SubmissionId, UserId};
use serde::{Deserialize, Serialize};

/// Defines an identifier like those of [`crate::ids`]: a UUID v7 newtype.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize,
            serde::Deserialize, utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A new identifier, ordered after every one made before on this machine.
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map(Self)
            }
        }
    };
}
pub(crate) use uuid_id;

uuid_id!(
    /// A resumable (tus) upload in progress.
    UploadId
);

/// A finished demo recording attached to a submission.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Recording {
    pub id: RecordingId,
    pub submission_id: SubmissionId,
    pub uploaded_by: UserId,
    /// The name the provider's file had (tus `filename` metadata), for display.
    pub file_name: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256 of the bytes, lower-case hex.
    pub sha256: String,
    /// MIME type sniffed from the bytes (`video/mp4`, `video/webm`, …).
    pub media_type: String,
    /// Where the container says.
    pub duration_seconds: Option<f64>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// A resumable upload as the database knows it (the offset is the blob store's: the length
/// of the bytes it kept).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Upload {
    pub id: UploadId,
    pub submission_id: SubmissionId,
    pub user_id: UserId,
    /// `Upload-Length`, when the client declared it (tus creation; deferred otherwise).
    pub declared_length: Option<u64>,
    /// The `filename` of the tus `Upload-Metadata`.
    pub file_name: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// After this instant the upload is abandoned: its row and bytes are removed.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}
