//! vitrine's outgoing mail.
//!
//! - [`render()`]: an [`Email`] (one variant per email of PRODUCT.md) in the recipient's
//!   language, as subject, plain text and HTML, from templates compiled into the binary;
//! - [`OutgoingEmail`] ([`message`]): the message with its Message-ID and the submission
//!   thread's `In-Reply-To` and `References`;
//! - [`ThreadKey`] ([`thread`]): which thread an email belongs to and the root Message-ID
//!   its emails point at (see there for why every email points at one root);
//! - [`MailTransport`]: `.eml` files ([`FileTransport`], the default) or SMTP
//!   ([`SmtpTransport`]), with failures sorted into permanent and transient so the outbox
//!   dispatcher knows whether to retry.
//!
//! No database and no HTTP here: the store writes [`OutgoingEmail`]s to its outbox in the
//! transaction that causes them, and the server's dispatcher sends them.

pub mod dates;
pub mod email;
pub mod error;
pub mod message;
pub mod render;
pub mod thread;
pub mod transport;

pub use email::*;
pub use error::MailError;
pub use message::{Mailbox, OutgoingEmail, OutgoingEmailBuilder};
pub use render::{RenderContext, Rendered, render};
pub use thread::ThreadKey;
pub use transport::{
    FileTransport, MailTransport, SendError, SmtpConfig, SmtpCredentials, SmtpTransport, TlsMode,
};
