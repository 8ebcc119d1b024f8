use thiserror::Error;

/// Why a storage call failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A unique value is already taken (an email, an offering name).
    #[error("{field} is already taken")]
    Duplicate { field: &'static str },
    /// The row changed since it was read (or was deleted); nothing was written.
    #[error("{what} was changed by someone else; reload and try again")]
    Conflict { what: &'static str },
    /// The row to change does not exist.
    #[error("not found")]
    NotFound,
    /// The database could not be reached or answered with an error.
    #[error("database error during {context}: {source}")]
    Database {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back (corrupt or written by a newer version).
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
}
