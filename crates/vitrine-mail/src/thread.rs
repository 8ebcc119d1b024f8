//! Threading: every email about one submission names the same root,
//! `<submission-{uuid}@{domain}>`, in `In-Reply-To` and `References`, and has its own
//! unique `Message-ID` (made by [`crate::message::OutgoingEmailBuilder`]). The root is never
//! sent as a message of its own: mail clients (Thunderbird, Gmail, Apple Mail, Outlook)
//! group by `References`, and a missing parent is shown as a thread all the same. Pointing
//! every email at the root, rather than at the previous email, keeps the headers
//! computable from the submission alone: the outbox writer needs no knowledge of what was
//! sent before, emails written in one transaction need no order, and a lost or failed email
//! never breaks the chain. Replies by email (later) will carry the root in `References`,
//! which is how they will find their submission.
//!
//! A leaf: [`crate::email`] names an email's thread and [`crate::message`] writes its
//! headers, and this module imports neither.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The thread an email belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ThreadKey {
    /// All emails about one go-live submission.
    Submission(Uuid),
}

impl ThreadKey {
    pub fn submission(submission_id: Uuid) -> Self {
        ThreadKey::Submission(submission_id)
    }

    /// The Message-ID every email of the thread refers to, with its angle brackets.
    pub fn root_message_id(&self, domain: &str) -> String {
        match self {
            ThreadKey::Submission(id) => format!("<submission-{id}@{domain}>"),
        }
    }
}
