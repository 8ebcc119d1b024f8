//! The inbound mailbox wired to the inbound path: each message the IMAP poller fetches is
//! taken by `vitrine-ingest`, and the mailbox moves it only once it was stored or refused.

use vitrine_ingest::{Ingest, Outcome};
use vitrine_mailbox::{Content, Fetched, Handled, Handler, ImapSettings};

/// Hands each fetched message to `ingest`.
pub struct IngestHandler(pub Ingest);

impl Handler for IngestHandler {
    fn handle(&mut self, message: Fetched) -> impl Future<Output = Handled> + Send {
        take(self.0.clone(), message)
    }

    /// Side by side: each message is its own transaction, so on PostgreSQL their commits
    /// share the log's flush instead of waiting for one another (one at a time, ingest was
    /// bound by one commit per message). Two replies to one thread taken at once may land
    /// in either order (both are dated as received); one that loses a write race is
    /// retried at the next poll.
    fn handle_all(&mut self, messages: Vec<Fetched>) -> impl Future<Output = Vec<Handled>> + Send {
        let taken: Vec<_> = messages
            .into_iter()
            .map(|message| take(self.0.clone(), message))
            .collect();
        futures_util::future::join_all(taken)
    }
}

async fn take(ingest: Ingest, message: Fetched) -> Handled {
    let taken = match &message.content {
        Content::Message(bytes) => ingest.take(bytes).await,
        Content::TooLarge { header } => ingest.take_too_large(header).await,
        Content::Spooled(spool) => ingest.take_spooled(spool.file(), spool.len()).await,
    };
    match taken {
        Ok(Outcome::Posted { .. } | Outcome::Duplicate) => Handled::Stored,
        Ok(Outcome::Refused(_)) => Handled::Refused,
        Err(error) => {
            tracing::warn!(%error, uid = message.uid, "an inbound email is left for the next poll");
            Handled::Retry
        }
    }
}

/// Polls the mailbox `imap` names until the runtime stops, taking every message with
/// `ingest` (IDLE where the server offers it; reconnects with backoff on errors).
pub fn spawn_imap_ingest(imap: ImapSettings, ingest: Ingest) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut handler = IngestHandler(ingest);
        if let Err(error) = vitrine_mailbox::run(&imap, &mut handler, std::future::pending()).await
        {
            tracing::error!(%error, "the inbound mailbox cannot be polled; replies are not taken");
        }
    })
}
