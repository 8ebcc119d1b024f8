//! What every vitrine rule shares, beneath `vitrine-domain` (which re-exports each module
//! at its old path): [`ids`] (UUID v7 identifiers), [`text`] (a sentence in English and
//! French with a stable code, written with [`tr!`], and [`Language`]), [`error`] (the
//! refusals, [`DomainError`]) and [`validate`] (field validators). No I/O.
//!
//! Split from the domain when it passed 5,000 lines, along the line between the vocabulary
//! rules speak and the rules themselves; `vitrine-calendar` sits on it too.

pub mod audit;
pub mod error;
pub mod field_schema;
pub mod ids;
pub mod text;
pub mod validate;

pub use error::{DomainError, FieldError};
pub use text::{Language, Text};

/// A point in time, UTC. Re-exported so every crate names time the same way.
pub type Timestamp = jiff::Timestamp;
