//! vitrine's rules, free of I/O.
//!
//! Every change to stored state is computed here first: a command function takes the
//! current aggregate, the caller ([`Actor`]), the input and the time, and returns the new
//! aggregate plus the [`AuditEvent`]s it causes. The store writes both in one transaction.
//! Nothing in this crate reads a clock, a file, the network or a database; time comes in as
//! an argument.

pub mod account;
pub mod assignment;
pub mod audit;
pub mod auth;
pub mod calendar;
pub mod checklist;
pub mod error;
pub mod go_live;
pub mod ids;
pub mod offering;
pub mod permissions;
pub mod recording;
pub mod review;
pub mod search;
pub mod submission;
pub mod thread;
pub mod user;
pub mod validate;
pub mod visibility;

pub use account::{Account, Membership, MembershipRole, ProviderApplication, ProviderStatus};
pub use audit::AuditEvent;
pub use checklist::{Checklist, ChecklistStep, StepState};
pub use error::{DomainError, FieldError};
pub use ids::{AccountId, OfferingId, RecordingId, SubmissionId, TokenId, UserId};
pub use offering::{Localized, Offering, OfferingName, Plan, Pricing, Visibility};
pub use permissions::Actor;
pub use user::{Email, Language, StaffRoles, User};
pub use visibility::Audience;

/// A point in time, UTC. Re-exported so every crate names time the same way.
pub type Timestamp = jiff::Timestamp;
