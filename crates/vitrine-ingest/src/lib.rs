//! Inbound email: one path from the bytes of a received message to what it does, whether
//! it came from the IMAP mailbox or from an MTA's pipe (`vitrine mail ingest`).
//!
//! A message is read (`vitrine-inbound`), then: a bounce marks the failed addresses as
//! bouncing; automatic mail is logged and never answered; a reply to one of our reply
//! addresses from the address's own recipient becomes a message in the thread, exactly as
//! one typed in the page (`vitrine_jobs::thread`), and its recordings go through the same
//! storage path as uploads into the open round. Anything else is refused. Every message is
//! recorded once in the inbound log, keyed by its Message-ID, in the same transaction as
//! what it did: reading a message twice (a crash before the mailbox was told) changes
//! nothing the second time.

pub mod decide;

use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use vitrine_blob::BlobStore;
use vitrine_domain::go_live::{self, RoundInput, Submission};
use vitrine_domain::recording::Recording;
use vitrine_domain::{Actor, AuditEvent, RecordingId, Timestamp, User};
use vitrine_inbound::classify::Kind;
use vitrine_inbound::parse::InboundMessage;
use vitrine_inbound::reply_address::ReplyPattern;
use vitrine_inbound::triage;
use vitrine_jobs::{JobError, Services, recordings, scheduler, thread};
use vitrine_store::{InboundEmail, InboundOutcome, NewEmail, StoreError};

pub use decide::Reason;
use decide::{Facts, Verdict, decide};

/// How inbound email is taken.
#[derive(Clone, Debug)]
pub struct IngestSettings {
    /// The reply address pattern the outgoing emails carry.
    pub pattern: ReplyPattern,
    /// Largest message taken, in bytes (a recording is at most `max_recording_bytes`, and
    /// base64 makes it a third larger).
    pub max_message_bytes: u64,
    /// Largest recording taken, the same limit as for uploads.
    pub max_recording_bytes: u64,
    /// The `authserv-id` of the operator's receiving server, when it adds
    /// `Authentication-Results`: then a reply must pass DKIM, SPF or DMARC for its From
    /// domain by that server's word. `None`: the header is not trusted (anyone can write it).
    pub trusted_authserv_id: Option<String>,
    /// The MTA bounces mail to addresses that are not ours itself (`vitrine mail ingest`
    /// exits 67 for them): those refusals then get no answer of ours on top of its bounce.
    pub unknown_addresses_bounced: bool,
}

/// What one message did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Posted in a thread: a message (when it had new text) and recordings.
    Posted {
        submission: vitrine_domain::SubmissionId,
        recordings: usize,
        /// Attachments refused (not recordings, too large, a frozen round): the sender is
        /// told why.
        refused_attachments: usize,
    },
    Refused(Reason),
    /// This Message-ID was taken before: nothing done again.
    Duplicate,
}

/// Why a message could not be taken now; reading it again later may work (the mailbox
/// leaves it in place, an MTA retries on exit code 75).
#[derive(Debug, thiserror::Error)]
#[error("inbound email could not be taken now: {0}")]
pub struct Temporary(#[from] pub JobError);

impl From<StoreError> for Temporary {
    fn from(error: StoreError) -> Self {
        Temporary(error.into())
    }
}

/// The inbound path, with what it needs.
#[derive(Clone)]
pub struct Ingest {
    pub services: Services,
    pub blobs: Option<BlobStore>,
    pub settings: Arc<IngestSettings>,
}

/// Where a message's bytes are.
enum Source<'a> {
    Memory(&'a [u8]),
    /// A file of `len` bytes (a large message the mailbox spooled, or an MTA's pipe).
    Spooled {
        file: &'a Arc<std::fs::File>,
        len: u64,
    },
}

impl Source<'_> {
    /// The name of a message without a Message-ID: the digest of its bytes.
    fn fallback_message_id(&self) -> String {
        let mut digest = Sha256::new();
        match self {
            Source::Memory(raw) => digest.update(raw),
            Source::Spooled { file, len } => {
                let _ = for_each_piece(file, 0, *len, |piece| digest.update(piece));
            }
        }
        fallback_message_id(digest)
    }
}

/// Reads `start..end` of `file` in pieces of 256 KiB (positioned reads: no shared cursor).
fn for_each_piece(
    file: &std::fs::File,
    start: u64,
    end: u64,
    mut each: impl FnMut(&[u8]),
) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buffer = vec![0; PIECE];
    let mut at = start;
    while at < end {
        let want = usize::try_from(end - at).unwrap_or(PIECE).min(PIECE);
        let got = file.read_at(&mut buffer[..want], at)?;
        if got == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the spooled message is shorter than it was",
            ));
        }
        each(&buffer[..got]);
        at += got as u64;
    }
    Ok(())
}

/// How much of a spooled message is read at a time.
const PIECE: usize = 256 * 1024;

/// The bytes of an attached recording.
enum RecordingBody {
    Memory(Vec<u8>),
    /// A large base64 body left in the spooled message, decoded as it is stored.
    Spooled {
        file: Arc<std::fs::File>,
        part: vitrine_inbound::outline::LargePart,
    },
}

impl RecordingBody {
    fn size(&self) -> u64 {
        match self {
            RecordingBody::Memory(bytes) => bytes.len() as u64,
            RecordingBody::Spooled { part, .. } => part.decoded_len,
        }
    }

    /// The decoded bytes, a piece at a time (never whole in memory when spooled).
    fn into_stream(
        self,
    ) -> futures_util::stream::BoxStream<'static, Result<Bytes, std::io::Error>> {
        use futures_util::StreamExt;
        match self {
            RecordingBody::Memory(bytes) => {
                futures_util::stream::once(async move { Ok(Bytes::from(bytes)) }).boxed()
            }
            RecordingBody::Spooled { file, part } => {
                let decoder = Some(vitrine_inbound::outline::Base64Decoder::new());
                futures_util::stream::try_unfold(
                    (file, part.start, decoder),
                    move |(file, at, decoder)| async move {
                        let Some(mut decoder) = decoder else {
                            return Ok(None);
                        };
                        let mut out = Vec::new();
                        if at >= part.end {
                            decoder.finish(&mut out);
                            return Ok(Some((Bytes::from(out), (file, at, None))));
                        }
                        let end = part.end.min(at + PIECE as u64);
                        for_each_piece(&file, at, end, |piece| decoder.push(piece, &mut out))?;
                        Ok(Some((Bytes::from(out), (file, end, Some(decoder)))))
                    },
                )
                .boxed()
            }
        }
    }
}

impl Ingest {
    /// Takes one received message (its raw bytes).
    pub async fn take(&self, raw: &[u8]) -> Result<Outcome, Temporary> {
        if raw.len() as u64 > self.settings.max_message_bytes {
            return self.take_too_large(header_of(raw)).await;
        }
        let message = InboundMessage::parse(raw);
        self.take_read(message, &Source::Memory(raw)).await
    }

    /// Takes one received message of `len` bytes from a file (a large one, spooled by the
    /// mailbox): it is read through in pieces into its outline (`vitrine_inbound::outline`),
    /// and a recording's base64 body is decoded from the file, a piece at a time, into the
    /// recording store. Memory use does not grow with the message.
    pub async fn take_spooled(
        &self,
        file: &Arc<std::fs::File>,
        len: u64,
    ) -> Result<Outcome, Temporary> {
        let spool_error = |error: std::io::Error| {
            Temporary(JobError::internal(
                "reading a spooled inbound email",
                error.to_string(),
            ))
        };
        if len > self.settings.max_message_bytes {
            let mut header = Vec::new();
            let head_len = len.min(64 * 1024);
            for_each_piece(file, 0, head_len, |piece| header.extend_from_slice(piece))
                .map_err(spool_error)?;
            return self.take_too_large(header_of(&header)).await;
        }
        let outline = {
            let file = file.clone();
            let scanned = tokio::task::spawn_blocking(move || {
                let mut builder = vitrine_inbound::outline::OutlineBuilder::new();
                for_each_piece(&file, 0, len, |piece| builder.push(piece))
                    .map(|()| builder.finish())
            })
            .await
            .map_err(|error| {
                Temporary(JobError::internal(
                    "reading a spooled inbound email",
                    error.to_string(),
                ))
            })?;
            scanned.map_err(spool_error)?
        };
        let message = InboundMessage::parse_outline(&outline);
        drop(outline);
        self.take_read(message, &Source::Spooled { file, len })
            .await
    }

    /// Takes a message once read (or found unreadable).
    async fn take_read(
        &self,
        message: Result<InboundMessage, vitrine_inbound::parse::ParseError>,
        source: &Source<'_>,
    ) -> Result<Outcome, Temporary> {
        let now = self.services.clock.now();
        let Ok(message) = message else {
            return self
                .refuse(&Head::of(None, source, now), None, Reason::Unreadable)
                .await;
        };
        let mut head = Head::of(Some(&message), source, now);
        if self.taken_before(&head).await? {
            return Ok(Outcome::Duplicate);
        }
        let triaged = triage(
            &message,
            &self.settings.pattern,
            self.settings.max_recording_bytes,
        );
        match &triaged.kind {
            Kind::Bounce {
                failed_recipients, ..
            } => {
                let failed = failed_recipients.clone();
                return self.bounce(&head, &failed).await;
            }
            Kind::AutoReply { .. } => {
                head.automatic = true;
                return self.refuse(&head, None, Reason::AutoReply).await;
            }
            Kind::Reply => {}
        }
        let Some(key) = triaged.key.clone() else {
            return self.refuse(&head, None, Reason::NoReplyKey).await;
        };
        let Some(grant) = self.services.store.reply_key(&key.hash()).await? else {
            return self.refuse(&head, None, Reason::UnknownKey).await;
        };
        let context = Some(&grant);
        if grant.revoked_at.is_some() {
            return self.refuse(&head, context, Reason::RevokedKey).await;
        }
        let (Some(user), Some(submission)) = (
            self.services.store.user(grant.user_id).await?,
            self.services.store.submission(grant.submission_id).await?,
        ) else {
            return self.refuse(&head, context, Reason::RevokedKey).await;
        };
        let accounts = self.services.store.accounts_of_user(user.id).await?;
        let actor = vitrine_domain::account::actor_of(user.id, user.staff, &accounts);
        let unauthenticated = self
            .settings
            .trusted_authserv_id
            .as_deref()
            .is_some_and(|id| !message.sender_authenticated_by(id));
        let verdict = decide(Facts {
            sender_is_recipient: head.sender.eq_ignore_ascii_case(user.email.as_str()),
            unauthenticated,
            party: submission.party_of(&actor),
            state: submission.state,
            has_text: !triaged.text.is_empty(),
            has_recordings: !triaged.recordings.is_empty(),
        });
        let attach = match verdict {
            Verdict::Refuse(reason) => {
                return self.refuse(&head, context, reason).await;
            }
            Verdict::Post { attach } => attach,
        };
        let text = triaged.text.clone();
        let mut refused_attachments = triaged.refused_attachments.len();
        let recording_parts: Vec<(usize, Option<String>)> = if attach {
            triaged
                .recordings
                .iter()
                .filter_map(|r| {
                    message
                        .attachments
                        .iter()
                        .position(|a| std::ptr::eq(a, r.attachment))
                        .map(|i| (i, r.attachment.file_name.clone()))
                })
                .collect()
        } else {
            refused_attachments += triaged.recordings.len();
            Vec::new()
        };
        drop(triaged);
        let mut stored = Vec::new();
        if !recording_parts.is_empty() {
            let mut message = message;
            for (index, (part, file_name)) in recording_parts.into_iter().enumerate() {
                let attachment = &mut message.attachments[part];
                let bytes = match (attachment.spooled, source) {
                    (Some(part), Source::Spooled { file, .. }) => RecordingBody::Spooled {
                        file: Arc::clone(file),
                        part,
                    },
                    _ => RecordingBody::Memory(std::mem::take(&mut attachment.bytes)),
                };
                let recording = self
                    .store_recording(
                        &head.message_id,
                        index,
                        &submission,
                        &user,
                        file_name,
                        bytes,
                        now,
                    )
                    .await?;
                stored.push(recording);
            }
        }
        let submission = if stored.is_empty() {
            submission
        } else {
            self.attach(&actor, submission, &stored, now).await?
        };
        let inbound = head.logged(
            Some(&grant),
            InboundOutcome::Posted,
            None,
            u32::try_from(stored.len()).unwrap_or(u32::MAX),
            false,
        );
        let mut events = vec![
            AuditEvent::new(Some(user.id), "inbound.posted", now)
                .subject_submission(
                    submission.id,
                    submission.offering_id,
                    submission.provider_account_id,
                )
                .after(&serde_json::json!({
                    "message_id": head.message_id,
                    "recordings": stored.iter().map(|r| r.id).collect::<Vec<_>>(),
                })),
        ];
        let mut emails = Vec::new();
        let mut posted = None;
        if !text.is_empty() {
            let prepared =
                thread::prepare_message(&self.services, &user, &actor, &submission, &text, now)
                    .await?;
            events.extend(prepared.events);
            emails.extend(prepared.emails);
            posted = Some(prepared.message);
        }
        match self
            .services
            .store
            .record_inbound(&inbound, posted.as_ref(), &events, &emails, None)
            .await
        {
            Ok(_) => {}
            // Another server (or an earlier run of this one) took it meanwhile.
            Err(StoreError::Duplicate { .. }) => return Ok(Outcome::Duplicate),
            Err(error) => return Err(error.into()),
        }
        Ok(Outcome::Posted {
            submission: submission.id,
            recordings: stored.len(),
            refused_attachments,
        })
    }

    /// Refuses a message too large to be fetched, of which only its `header` was read: it
    /// is logged under its Message-ID, with its sender.
    pub async fn take_too_large(&self, header: &[u8]) -> Result<Outcome, Temporary> {
        let parsed = InboundMessage::parse(header).ok();
        let mut head = Head::of(
            parsed.as_ref(),
            &Source::Memory(header),
            self.services.clock.now(),
        );
        head.automatic = parsed
            .as_ref()
            .is_none_or(|m| vitrine_inbound::classify::classify(m).should_never_answer());
        if self.taken_before(&head).await? {
            return Ok(Outcome::Duplicate);
        }
        self.refuse(&head, None, Reason::TooLarge).await
    }

    /// Whether this Message-ID is in the log already.
    async fn taken_before(&self, head: &Head) -> Result<bool, Temporary> {
        Ok(self
            .services
            .store
            .inbound_email(&head.message_id)
            .await?
            .is_some())
    }

    /// Records a refusal in the inbound log with, when one is due, the polite answer to its
    /// sender (nothing else is written).
    async fn refuse(
        &self,
        head: &Head,
        grant: Option<&vitrine_store::ReplyKey>,
        reason: Reason,
    ) -> Result<Outcome, Temporary> {
        let answer = self.answer(head, grant, reason).await?;
        let inbound = head.logged(
            grant,
            InboundOutcome::Refused,
            Some(reason),
            0,
            answer.is_some(),
        );
        // The store sends the answer only if no other refusal answered this sender within
        // the hour meanwhile (decided in the transaction that logs this one).
        match self
            .services
            .store
            .record_inbound(&inbound, None, &[], &[], answer.as_ref())
            .await
        {
            Ok(answered) => {
                tracing::info!(
                    message_id = head.message_id,
                    sender = head.sender,
                    reason = reason.slug(),
                    answered,
                    "inbound email refused"
                );
                Ok(Outcome::Refused(reason))
            }
            Err(StoreError::Duplicate { .. }) => Ok(Outcome::Duplicate),
            Err(error) => Err(error.into()),
        }
    }

    /// The polite answer a refusal gets, if one is due: only for the reasons that are
    /// answered (never automatic mail, bounces, mailing lists — RFC 3834 — nor forgeries),
    /// to a sender that is a plain address (not one of our reply addresses), not bouncing,
    /// and not answered in the last hour (read here to spare rendering an answer that is not
    /// due; the store decides it again atomically). It says nothing the sender does not know: every
    /// address problem reads the same, and only a verified participant is pointed at the
    /// submission.
    async fn answer(
        &self,
        head: &Head,
        grant: Option<&vitrine_store::ReplyKey>,
        reason: Reason,
    ) -> Result<Option<NewEmail>, Temporary> {
        use vitrine_jobs::notify::{InboundRefused, RefusalAnswer};
        if !reason.answered()
            || head.automatic
            || head.sender.is_empty()
            || (self.settings.unknown_addresses_bounced && reason.unknown_address())
        {
            return Ok(None);
        }
        let Ok(address) = vitrine_domain::user::Email::parse("sender", &head.sender) else {
            return Ok(None);
        };
        if self.settings.pattern.key_in(address.as_str()).is_some() {
            return Ok(None);
        }
        let store = &self.services.store;
        if store.bouncing(address.as_str()).await?.is_some() {
            return Ok(None);
        }
        let hour_ago = head
            .received_at
            .checked_sub(jiff::SignedDuration::from_hours(1))
            .unwrap_or(head.received_at);
        if store.answers_to(address.as_str(), hour_ago).await? > 0 {
            return Ok(None);
        }
        let (answer, submission_id) = match reason {
            Reason::TooLarge => (RefusalAnswer::TooLarge, None),
            // Reached only when the sender is the key's verified recipient and still takes
            // part (`decide`): they know the submission.
            Reason::Closed => (RefusalAnswer::Closed, grant.map(|g| g.submission_id.0)),
            Reason::EmptyReply => (RefusalAnswer::Empty, grant.map(|g| g.submission_id.0)),
            _ => (RefusalAnswer::NotAccepted, None),
        };
        let user = store.user_by_email(&address).await?.map(|(user, _)| user);
        let language = match head.language {
            Some(vitrine_inbound::Language::Fr) => vitrine_domain::Language::Fr,
            _ => vitrine_domain::Language::En,
        };
        let email = vitrine_jobs::notify::inbound_refused(
            &self.services.mail,
            address.as_str(),
            user.as_ref(),
            language,
            InboundRefused {
                reason: answer,
                received_at: head.received_at,
                max_megabytes: self.settings.max_message_bytes.div_ceil(1 << 20),
                submission_id,
            },
            &head.message_id,
            head.received_at,
        )?;
        Ok(Some(email))
    }

    /// A delivery failure: each failed address is marked bouncing (emails to it stop until
    /// it is fixed), and the report is logged.
    async fn bounce(&self, head: &Head, failed: &[String]) -> Result<Outcome, Temporary> {
        let now = head.received_at;
        let message_id = head.message_id.as_str();
        for address in failed {
            let event = AuditEvent::new(None, "email.bouncing", now)
                .after(&serde_json::json!({"address": address, "report": message_id}));
            self.services
                .store
                .mark_bouncing(address, now, message_id, &[event])
                .await?;
        }
        self.refuse(head, None, Reason::Bounce).await
    }

    /// Stores one attached recording through the uploads' path. Its id comes from the
    /// Message-ID and its place among the attachments, so reading the message again after a
    /// crash finds it instead of storing it twice.
    #[allow(clippy::too_many_arguments)]
    async fn store_recording(
        &self,
        message_id: &str,
        index: usize,
        submission: &Submission,
        user: &User,
        file_name: Option<String>,
        bytes: RecordingBody,
        now: Timestamp,
    ) -> Result<Recording, Temporary> {
        let id = recording_id_of(message_id, index);
        if let Some(existing) = self.services.store.recording(id).await? {
            return Ok(existing);
        }
        let Some(blobs) = &self.blobs else {
            return Err(Temporary(JobError::internal(
                "storing an emailed recording",
                "the recording store is not available on this server",
            )));
        };
        let size = bytes.size();
        let body = bytes.into_stream();
        let recording = recordings::store_recording(
            &self.services,
            blobs,
            id,
            submission,
            user.id,
            file_name.unwrap_or_else(|| "recording".to_owned()),
            Some(size),
            self.settings.max_recording_bytes,
            body,
            now,
        )
        .await?;
        Ok(recording)
    }

    /// Adds the stored recordings to the open round (those already there stay once).
    async fn attach(
        &self,
        actor: &Actor,
        submission: Submission,
        stored: &[Recording],
        now: Timestamp,
    ) -> Result<Submission, Temporary> {
        let mut recordings = submission.current_round().recordings.clone();
        for recording in stored {
            if !recordings.contains(&recording.id) {
                recordings.push(recording.id);
            }
        }
        if recordings == submission.current_round().recordings {
            return Ok(submission);
        }
        let today = scheduler::calendar(&self.services).await?.date_of(now);
        let input = RoundInput {
            recordings: Some(recordings),
            notes: None,
            requested_go_live: None,
        };
        let (next, event) = go_live::edit_round(actor, &submission, input, today, now)
            .map_err(|e| Temporary(e.into()))?;
        self.services
            .store
            .update_submission(&next, &[event], &[])
            .await?;
        Ok(next)
    }
}

/// A received message as the inbound log names it.
struct Head {
    /// Its Message-ID, or without one (or unreadable) the digest of its bytes.
    message_id: String,
    /// The From address; empty when it has none.
    sender: String,
    subject: String,
    received_at: Timestamp,
    /// Sent by a program (RFC 3834 and the usual markers), or not known to be a person's:
    /// never answered.
    automatic: bool,
    /// The language the message shows (`Content-Language`, its quote's attribution line).
    language: Option<vitrine_inbound::Language>,
}

impl Head {
    fn of(message: Option<&InboundMessage>, source: &Source<'_>, now: Timestamp) -> Head {
        Head {
            message_id: message
                .and_then(|m| m.message_id.clone())
                .filter(|id| !id.trim().is_empty())
                .unwrap_or_else(|| source.fallback_message_id()),
            sender: message
                .and_then(|m| m.from.as_ref())
                .map(|f| f.address.clone())
                .unwrap_or_default(),
            subject: message.and_then(|m| m.subject.clone()).unwrap_or_default(),
            received_at: now,
            automatic: message.is_none(),
            language: message.and_then(|m| m.language),
        }
    }

    /// Its log row: the thread and person its reply key named, what it did and why.
    fn logged(
        &self,
        grant: Option<&vitrine_store::ReplyKey>,
        outcome: InboundOutcome,
        reason: Option<Reason>,
        recordings: u32,
        answered: bool,
    ) -> InboundEmail {
        InboundEmail {
            message_id: self.message_id.clone(),
            received_at: self.received_at,
            sender: self.sender.clone(),
            subject: self.subject.clone(),
            submission_id: grant.map(|g| g.submission_id),
            user_id: grant.map(|g| g.user_id),
            outcome,
            reason: reason.map(|r| r.slug().to_owned()),
            recordings,
            answered,
        }
    }
}

/// The header of a raw message: up to its first empty line (all of it without one).
fn header_of(raw: &[u8]) -> &[u8] {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| i + 2))
        .unwrap_or(raw.len());
    &raw[..end]
}

/// A message without a Message-ID is known by the digest of its bytes.
fn fallback_message_id(digest: Sha256) -> String {
    let digest = digest.finalize();
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("sha256-{hex}@vitrine.invalid")
}

/// The id of the `index`th recording of a message: the same on every reading.
fn recording_id_of(message_id: &str, index: usize) -> RecordingId {
    let digest = Sha256::new()
        .chain_update(b"vitrine inbound recording\0")
        .chain_update(message_id.as_bytes())
        .chain_update(index.to_be_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    RecordingId(uuid::Builder::from_custom_bytes(bytes).into_uuid())
}
