//! What the caller is handed, what it answers, and what a poll reports.

use std::future::Future;

/// One message found in the polled mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// Its UID in the polled mailbox (for logs; the caller deduplicates by Message-ID, since
    /// a message the poller could not move after it was stored is handed over again).
    pub uid: u32,
    /// Its size as the server counts it (`RFC822.SIZE`).
    pub size: u64,
    pub content: Content,
}

/// What was fetched of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// The whole message, as the server stores it (RFC 5322 bytes, CRLF line ends).
    Message(Vec<u8>),
    /// Larger than [`crate::ImapSettings::max_message_bytes`]: only its header (at most
    /// [`TOO_LARGE_HEADER_BYTES`]), enough to answer the sender or log who sent what.
    TooLarge { header: Vec<u8> },
    /// Larger than [`crate::ImapSettings::spool_above`]: the whole message in a temporary
    /// file, never whole in memory.
    Spooled(Spool),
}

/// A message fetched into an unnamed temporary file (removed when the last handle closes).
#[derive(Clone)]
pub struct Spool {
    file: std::sync::Arc<std::fs::File>,
    len: u64,
}

impl Spool {
    pub fn new(file: std::fs::File, len: u64) -> Spool {
        Spool {
            file: std::sync::Arc::new(file),
            len,
        }
    }

    /// The file (read it with positioned reads, `std::os::unix::fs::FileExt::read_at`, so
    /// that clones do not share a cursor).
    pub fn file(&self) -> &std::sync::Arc<std::fs::File> {
        &self.file
    }

    /// The message's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl PartialEq for Spool {
    fn eq(&self, other: &Spool) -> bool {
        std::sync::Arc::ptr_eq(&self.file, &other.file)
    }
}

impl Eq for Spool {}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool").field("len", &self.len).finish()
    }
}

/// How much of a spooled message one `UID FETCH` asks for.
pub const SPOOL_PIECE_BYTES: u64 = 1024 * 1024;

/// How much of an oversized message's header is fetched.
pub const TOO_LARGE_HEADER_BYTES: u32 = 64 * 1024;

impl Fetched {
    /// The whole message, when it is held in memory (not too large, not spooled).
    pub fn message(&self) -> Option<&[u8]> {
        match &self.content {
            Content::Message(bytes) => Some(bytes),
            Content::TooLarge { .. } | Content::Spooled(_) => None,
        }
    }
}

/// The handler's answer for one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    /// Stored for good (committed): the message is done with, and moved (or marked) as the
    /// settings say.
    Stored,
    /// Not wanted (spam, unparseable, too large, unknown recipient): done with as well, moved
    /// like a stored one, never handed over again.
    Refused,
    /// A temporary fault (database down): left in the mailbox, handed over again at the next
    /// poll. Nothing is lost.
    Retry,
}

/// What the poller calls for each message. Implemented for every
/// `FnMut(Fetched) -> impl Future<Output = Handled>` (both `Send`, so the poller can run in a
/// spawned task); [`crate::poll_once`] and [`crate::run`] borrow it, so it keeps its state
/// between calls.
///
/// Between the handler's answer and the move there is a window where a crash leaves the
/// message in the mailbox: it is handed over again on the next connection, so storing must
/// be idempotent (deduplicate by Message-ID).
pub trait Handler: Send {
    fn handle(&mut self, message: Fetched) -> impl Future<Output = Handled> + Send;

    /// Several messages of one fetch (at most [`GROUP_MESSAGES`], held in memory together:
    /// at most [`GROUP_BYTES`] besides the last): their answers, in their order. By default
    /// one after the other; a handler whose messages may be taken side by side overrides it,
    /// so that their storage overlaps (on PostgreSQL, their commits share the log's flush).
    fn handle_all(&mut self, messages: Vec<Fetched>) -> impl Future<Output = Vec<Handled>> + Send {
        async move {
            let mut answers = Vec::with_capacity(messages.len());
            for message in messages {
                answers.push(self.handle(message).await);
            }
            answers
        }
    }
}

/// The most messages handed to [`Handler::handle_all`] at once.
pub const GROUP_MESSAGES: usize = 16;
/// The most bytes of messages held for one [`Handler::handle_all`] before it is called.
pub const GROUP_BYTES: u64 = 16 * 1024 * 1024;

impl<F, Fut> Handler for F
where
    F: FnMut(Fetched) -> Fut + Send,
    Fut: Future<Output = Handled> + Send,
{
    fn handle(&mut self, message: Fetched) -> impl Future<Output = Handled> + Send {
        self(message)
    }
}

/// What one poll did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Messages waiting in the mailbox when it was searched (not counting those skipped
    /// because they were already answered [`Handled::Retry`] in this round).
    pub found: usize,
    /// Handed over and answered [`Handled::Stored`].
    pub stored: usize,
    /// Answered [`Handled::Refused`].
    pub refused: usize,
    /// Answered [`Handled::Retry`]: still in the mailbox.
    pub retried: usize,
    /// Handed over as [`Content::TooLarge`] (also counted under their answer).
    pub too_large: usize,
    /// Stored or refused and then moved (or marked) on the server.
    pub moved: usize,
    /// UIDs answered [`Handled::Retry`].
    pub retry_uids: Vec<u32>,
}

impl PollReport {
    /// How many messages the handler saw.
    pub fn handed_over(&self) -> usize {
        self.stored + self.refused + self.retried
    }

    pub(crate) fn add(&mut self, other: &PollReport) {
        self.found += other.found;
        self.stored += other.stored;
        self.refused += other.refused;
        self.retried += other.retried;
        self.too_large += other.too_large;
        self.moved += other.moved;
        self.retry_uids.extend_from_slice(&other.retry_uids);
    }
}
