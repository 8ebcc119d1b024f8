//! What can go wrong in work done apart from a request. The API maps each case onto its
//! problem type (`vitrine-api`'s `From<JobError> for ApiError`); background tasks log it.

use vitrine_blob::BlobError;
use vitrine_domain::DomainError;
use vitrine_store::StoreError;

pub type JobResult<T> = Result<T, JobError>;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A rule refused the change (what a handler shows as 4xx).
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The recording bytes could not be kept or read.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// A scheduler step by a name that does not exist.
    #[error("there is no scheduler step {0:?}")]
    UnknownStep(String),
    /// A fault of ours (a stored setting that no longer parses, a template that fails):
    /// `context` says what was being done.
    #[error("{context}: {detail}")]
    Internal { context: String, detail: String },
}

impl JobError {
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        Self::Internal {
            context: context.to_owned(),
            detail: error.to_string(),
        }
    }
}
