//! vitrine's inbound mailbox (issue 10, "Email both ways"): polls the operator's IMAP
//! mailbox and hands each raw message to a caller-supplied async handler. It knows nothing of
//! vitrine's storage; reading a message is `vitrine-inbound`'s job, storing it the caller's.
//!
//! A message is moved (or marked) only after the handler answered that it is done with it
//! ([`Handled::Stored`] or [`Handled::Refused`]); nothing is marked `\Seen` before that, since
//! bodies are fetched with `BODY.PEEK[]`. A crash between storing and moving therefore hands
//! the message over again on the next connection: the caller deduplicates by Message-ID.
//! [`Handled::Retry`] leaves the message where it is for the next poll.
//!
//! - [`poll_once`]: one connection: login, select, search what is waiting (`UID SEARCH
//!   UNDELETED`, or `UNSEEN UNDELETED` with [`AfterHandling::MarkSeen`]), then per batch of
//!   [`ImapSettings::batch`] UIDs: `UID FETCH (UID RFC822.SIZE)`, the bodies of those within
//!   [`ImapSettings::max_message_bytes`] (`BODY.PEEK[]`; those above
//!   [`ImapSettings::spool_above`] in 1 MiB pieces into a temporary file,
//!   [`Content::Spooled`]), the first 64 KiB of the header of
//!   the others ([`Content::TooLarge`]), then `\Seen` and `UID MOVE` (or `UID COPY`,
//!   `\Deleted`, `UID EXPUNGE` where MOVE is not offered) of the handled ones.
//! - [`run`]: the same on a connection kept open, IDLE where offered, reconnecting with
//!   backoff, until a shutdown future completes.
//! - [`testing`]: a real Dovecot for tests (this crate's and other crates').
//!
//! Every error names the server and the step ([`MailboxError`]); a refused login names the
//! user, a missing mailbox names the mailbox.

mod connection;
mod error;
mod handler;
mod poll;
mod run;
mod settings;
pub mod testing;

use std::collections::HashSet;

pub use error::{MailboxError, Step};
pub use handler::{
    Content, Fetched, GROUP_BYTES, GROUP_MESSAGES, Handled, Handler, PollReport, SPOOL_PIECE_BYTES,
    Spool, TOO_LARGE_HEADER_BYTES,
};
pub use run::run;
pub use settings::{AfterHandling, ImapSettings, Security};

/// One poll on a connection of its own: everything waiting in the mailbox when it is
/// searched is handed to `handler` once, and what it is done with is moved. Messages that
/// arrive meanwhile wait for the next poll.
pub async fn poll_once<H: Handler>(
    settings: &ImapSettings,
    handler: &mut H,
) -> Result<PollReport, MailboxError> {
    let mut connection = connection::Connection::open(settings).await?;
    connection.select(&settings.mailbox).await?;
    let report = poll::poll_selected(
        &mut connection,
        settings,
        handler,
        &HashSet::new(),
        &mut || false,
    )
    .await?;
    connection.logout().await;
    Ok(report)
}
