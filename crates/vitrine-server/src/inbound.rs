//! The inbound mailbox wired to the inbound path: each message the IMAP poller fetches is
//! taken by `vitrine-ingest`, and the mailbox moves it only once it was stored or refused.

use vitrine_ingest::{Ingest, Outcome};
use vitrine_mailbox::{Content, Fetched, Handled, Handler, ImapSettings};

/// Hands each fetched message to `ingest`.
pub struct IngestHandler(pub Ingest);

impl Handler for IngestHandler {
    fn handle(&mut self, message: Fetched) -> impl Future<Output = Handled> + Send {
        let ingest = self.0.clone();
        async move {
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
