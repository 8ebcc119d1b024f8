//! vitrine's rules, free of I/O.
//!
//! Every change to stored state is computed here first: a command function takes the
//! current aggregate, the caller ([`Actor`]), the input and the time, and returns the new
//! aggregate plus the [`AuditEvent`]s it causes. The store writes both in one transaction.
//! Nothing in this crate reads a clock, a file, the network or a database; time comes in as
//! an argument.
//!
//! Modules import one another in one direction only (no file imports a file that imports
//! it back). Where two aggregates need the same small types, those types live in a leaf
//! module of their own and the aggregates re-export them at their old paths:
//!
//! - [`permissions`]: the roles, [`StaffRoles`] (a user's) and [`MembershipRole`] (in an
//!   account), and the caller [`Actor`] with every permission check. It imports neither
//!   [`user`] nor [`account`], which re-export `user::StaffRoles` and
//!   `account::MembershipRole`.
//! - [`attestation`]: the five [`ChecklistStep`]s, their [`StepState`] and the provider's
//!   attestations, which an [`Offering`] stores. [`offering`] and [`checklist`] both import
//!   it; [`checklist`] (which derives the steps from an offering) re-exports these types.
//! - [`user`], [`account`], [`offering`]: the aggregates and their commands;
//!   [`checklist`], [`visibility`], [`search`]: rules read from an offering;
//!   [`submission`] (the state machine), [`go_live`] (the submission aggregate),
//!   [`calendar`], [`agenda`] (the calendar view: the coming sessions as each reader
//!   may see them), [`review`], [`assignment`], [`recording`], [`thread`]: the go-live
//!   review; [`revision`] (what a revision of a live offering proposes, its diff from the
//!   live version, the operator's rule of what needs review), [`revising`] (its commands),
//!   [`appeal`] (appealing a rejection): revisions and appeals ride on the go-live
//!   submission; [`checks`]: the broker registration and the prerequisite check runs, whose
//!   verdicts the [`checklist`] reads; [`auth`]: sign-up and one-time tokens; [`audit`], [`ids`], [`validate`],
//!   [`error`], [`text`] (sentences in both languages, and [`Language`]): what every module
//!   shares.

// The vocabulary every rule speaks (with the audit events), the review calendar and the
// submission state machine live in crates of their own beneath this one; they are
// re-exported at the paths they always had.
pub use vitrine_base::{audit, error, field_schema, ids, text, tr, validate};
pub use vitrine_calendar as calendar;
pub use vitrine_submission as submission;

pub mod account;
pub mod agenda;
pub mod appeal;
pub mod assignment;
pub mod attestation;
pub mod auth;
pub mod checklist;
pub mod checks;
pub mod go_live;
pub mod offering;
pub mod permissions;
pub mod recording;
pub mod review;
pub mod revising;
pub mod revision;
pub mod search;
pub mod thread;
pub mod user;
pub mod visibility;

pub use account::{Account, Membership, ProviderApplication, ProviderStatus};
pub use attestation::{ChecklistStep, StepState};
pub use audit::AuditEvent;
pub use checklist::Checklist;
pub use error::{DomainError, FieldError};
pub use ids::{AccountId, CheckRunId, OfferingId, RecordingId, SubmissionId, TokenId, UserId};
pub use offering::{Localized, Offering, OfferingName, Plan, Pricing, Visibility};
pub use permissions::{Actor, MembershipRole, StaffRoles};
pub use text::{Language, Text};
pub use user::{Email, User};
pub use visibility::Audience;

/// A point in time, UTC. Re-exported so every crate names time the same way.
pub use vitrine_base::Timestamp;
