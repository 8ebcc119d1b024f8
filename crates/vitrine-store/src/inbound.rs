//! Storage for email that comes back: reply keys, the inbound log, bouncing addresses.
//!
//! A trait of its own ([`InboundStore`], a supertrait of [`crate::Store`], so every store
//! has it), written once for both backends by [`impl_inbound_store!`] on the helpers of
//! `shared::impl_store!` (`begin_write`, `commit_all`, …). Reply keys themselves are
//! written with the outbox row of the email that carries them (`shared.rs`,
//! `write_outbox`): a key exists exactly when its email may be sent.

use async_trait::async_trait;
use vitrine_domain::audit::AuditEvent;
use vitrine_domain::thread::Message;
use vitrine_domain::{SubmissionId, Timestamp, UserId};

use crate::{NewEmail, Result, SecretHash};

/// A stored reply key: whose reply it admits, into which thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyKey {
    pub user_id: UserId,
    pub submission_id: SubmissionId,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// What an inbound email did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InboundOutcome {
    /// Its text became a message of the thread, its recordings recordings of the round.
    Posted,
    /// Nothing was posted; `reason` says why.
    Refused,
}

impl InboundOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            InboundOutcome::Posted => "posted",
            InboundOutcome::Refused => "refused",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [InboundOutcome::Posted, InboundOutcome::Refused]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// One inbound email in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundEmail {
    /// Its `Message-ID` (or, without one, a digest of its bytes): taken once.
    pub message_id: String,
    pub received_at: Timestamp,
    /// The From address (empty when it had none).
    pub sender: String,
    pub subject: String,
    /// The thread its reply address named, if any.
    pub submission_id: Option<SubmissionId>,
    /// The recipient its reply address named, if any.
    pub user_id: Option<UserId>,
    pub outcome: InboundOutcome,
    /// Why it was refused (a stable slug, `vitrine_ingest::Reason`).
    pub reason: Option<String>,
    /// How many recordings it attached.
    pub recordings: u32,
    /// Its sender was sent a polite answer (a refusal, at most one an hour per sender).
    pub answered: bool,
}

/// An address mail bounced from, and since when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bouncing {
    pub email: String,
    pub since: Timestamp,
    /// The Message-ID of the delivery report that said so.
    pub report: String,
}

#[async_trait]
pub trait InboundStore: Send + Sync {
    /// The reply key with this hash, revoked or not.
    async fn reply_key(&self, hash: &SecretHash) -> Result<Option<ReplyKey>>;
    /// Revokes every reply key of `user` (in `submission`'s thread only, when given);
    /// returns how many were live.
    async fn revoke_reply_keys(
        &self,
        user: UserId,
        submission: Option<SubmissionId>,
        at: Timestamp,
        events: &[AuditEvent],
    ) -> Result<u64>;
    /// The logged inbound email with this Message-ID.
    async fn inbound_email(&self, message_id: &str) -> Result<Option<InboundEmail>>;
    /// Logs an inbound email with what it caused, in one transaction: the thread message,
    /// audit events and emails. `StoreError::Duplicate { field: "message_id" }` when this
    /// Message-ID was logged already; then nothing is written.
    ///
    /// `answer`, the polite answer to a refused email's sender, is written only if that
    /// sender (compared without case) was not answered in the hour before
    /// `inbound.received_at`, decided in the same transaction by a row per sender
    /// (`inbound_answers`), so two refusals taken at once by two servers cannot both answer.
    /// The log row's `answered` says whether it was (`inbound.answered` is not read); the
    /// answer returns the same.
    async fn record_inbound(
        &self,
        inbound: &InboundEmail,
        message: Option<&Message>,
        events: &[AuditEvent],
        emails: &[NewEmail],
        answer: Option<&NewEmail>,
    ) -> Result<bool>;
    /// The inbound log, newest first: at most `limit` emails logged before `before` (a
    /// position from [`InboundStore::inbound_emails`]'s answer), with their positions.
    async fn inbound_emails(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(i64, InboundEmail)>>;
    /// How many logged emails from `sender` (compared without case) were answered at or
    /// after `since`: the polite answers' once-an-hour limit counts them.
    async fn answers_to(&self, sender: &str, since: Timestamp) -> Result<u64>;
    /// Marks `email` as bouncing (kept from the first report on).
    async fn mark_bouncing(
        &self,
        email: &str,
        since: Timestamp,
        report: &str,
        events: &[AuditEvent],
    ) -> Result<()>;
    /// Whether mail to `email` bounces.
    async fn bouncing(&self, email: &str) -> Result<Option<Bouncing>>;
    /// Every bouncing address, by address.
    async fn bouncing_addresses(&self) -> Result<Vec<Bouncing>>;
    /// Clears the mark (the address was fixed); `NotFound` if it was not marked.
    async fn clear_bouncing(&self, email: &str, events: &[AuditEvent]) -> Result<()>;
}

/// Writes [`InboundStore`] for a store type made by `shared::impl_store!`, in the same
/// module (it uses that macro's private helpers).
macro_rules! impl_inbound_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use uuid::Uuid;
            use vitrine_domain::audit::AuditEvent;
            use vitrine_domain::thread::Message;
            use vitrine_domain::{SubmissionId, Timestamp, UserId};
            use $crate::inbound::{Bouncing, InboundEmail, InboundOutcome, InboundStore, ReplyKey};
            use $crate::shared::{db, micros, opt_timestamp, timestamp, unique};
            use $crate::{NewEmail, Result, SecretHash, StoreError};

            #[derive(sqlx::FromRow)]
            struct ReplyKeyRow {
                user_id: Uuid,
                submission_id: Uuid,
                created_at: i64,
                revoked_at: Option<i64>,
            }

            #[derive(sqlx::FromRow)]
            struct InboundRow {
                seq: i64,
                message_id: String,
                received_at: i64,
                sender: String,
                subject: String,
                submission_id: Option<Uuid>,
                user_id: Option<Uuid>,
                outcome: String,
                reason: Option<String>,
                recordings: i64,
                answered: bool,
            }

            impl InboundRow {
                fn decode(self) -> Result<(i64, InboundEmail)> {
                    let outcome = InboundOutcome::parse(&self.outcome).ok_or_else(|| {
                        StoreError::Corrupt(format!("inbound_emails.outcome: {}", self.outcome))
                    })?;
                    Ok((
                        self.seq,
                        InboundEmail {
                            message_id: self.message_id,
                            received_at: timestamp(self.received_at)?,
                            sender: self.sender,
                            subject: self.subject,
                            submission_id: self.submission_id.map(SubmissionId),
                            user_id: self.user_id.map(UserId),
                            outcome,
                            reason: self.reason,
                            recordings: u32::try_from(self.recordings).unwrap_or(u32::MAX),
                            answered: self.answered,
                        },
                    ))
                }
            }

            #[derive(sqlx::FromRow)]
            struct BouncingRow {
                email: String,
                since: i64,
                report: String,
            }

            impl BouncingRow {
                fn decode(self) -> Result<Bouncing> {
                    Ok(Bouncing {
                        email: self.email,
                        since: timestamp(self.since)?,
                        report: self.report,
                    })
                }
            }

            const INBOUND_COLUMNS: &str = "seq, message_id, received_at, sender, subject, \
                 submission_id, user_id, outcome, reason, recordings, answered";

            #[async_trait]
            impl InboundStore for $store {
                async fn reply_key(&self, hash: &SecretHash) -> Result<Option<ReplyKey>> {
                    let row: Option<ReplyKeyRow> = sqlx::query_as(
                        "SELECT user_id, submission_id, created_at, revoked_at FROM reply_keys \
                         WHERE hash = $1",
                    )
                    .bind(hash.as_slice())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db("read a reply key"))?;
                    row.map(|r| {
                        Ok(ReplyKey {
                            user_id: UserId(r.user_id),
                            submission_id: SubmissionId(r.submission_id),
                            created_at: timestamp(r.created_at)?,
                            revoked_at: opt_timestamp(r.revoked_at)?,
                        })
                    })
                    .transpose()
                }

                async fn revoke_reply_keys(
                    &self,
                    user: UserId,
                    submission: Option<SubmissionId>,
                    at: Timestamp,
                    events: &[AuditEvent],
                ) -> Result<u64> {
                    let mut tx = self.begin_write().await?;
                    let done = sqlx::query(
                        "UPDATE reply_keys SET revoked_at = $3 WHERE user_id = $1 \
                         AND ($2 IS NULL OR submission_id = $2) AND revoked_at IS NULL",
                    )
                    .bind(user.0)
                    .bind(submission.map(|s| s.0))
                    .bind(micros(at))
                    .execute(&mut *tx)
                    .await
                    .map_err(db("revoke reply keys"))?;
                    Self::commit_all(tx, events, &[], "commit revoked reply keys").await?;
                    Ok(done.rows_affected())
                }

                async fn inbound_email(&self, message_id: &str) -> Result<Option<InboundEmail>> {
                    let sql = format!(
                        "SELECT {INBOUND_COLUMNS} FROM inbound_emails WHERE message_id = $1"
                    );
                    let row: Option<InboundRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(message_id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db("read an inbound email"))?;
                    Ok(row.map(InboundRow::decode).transpose()?.map(|(_, e)| e))
                }

                async fn record_inbound(
                    &self,
                    inbound: &InboundEmail,
                    message: Option<&Message>,
                    events: &[AuditEvent],
                    emails: &[NewEmail],
                    answer: Option<&NewEmail>,
                ) -> Result<bool> {
                    let mut tx = self.begin_write().await?;
                    // The once-an-hour slot of this sender: taken (inserted, or moved on
                    // when the last answer is an hour old) or not, atomically; a concurrent
                    // transaction for the same sender waits on the row and then sees it taken.
                    let answered = match answer {
                        None => false,
                        Some(_) => {
                            let hour_before = inbound
                                .received_at
                                .checked_sub(jiff::SignedDuration::from_hours(1))
                                .unwrap_or(inbound.received_at);
                            sqlx::query(
                                "INSERT INTO inbound_answers (sender, answered_at) VALUES ($1, $2) \
                                 ON CONFLICT (sender) DO UPDATE SET answered_at = excluded.answered_at \
                                 WHERE inbound_answers.answered_at < $3",
                            )
                            .bind(inbound.sender.to_lowercase())
                            .bind(micros(inbound.received_at))
                            .bind(micros(hour_before))
                            .execute(&mut *tx)
                            .await
                            .map_err(db("take a sender's answer slot"))?
                            .rows_affected()
                                == 1
                        }
                    };
                    sqlx::query(
                        "INSERT INTO inbound_emails (message_id, received_at, sender, subject, \
                         submission_id, user_id, outcome, reason, recordings, answered) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(inbound.message_id.as_str())
                    .bind(micros(inbound.received_at))
                    .bind(inbound.sender.as_str())
                    .bind(inbound.subject.as_str())
                    .bind(inbound.submission_id.map(|s| s.0))
                    .bind(inbound.user_id.map(|u| u.0))
                    .bind(inbound.outcome.as_str())
                    .bind(inbound.reason.as_deref())
                    .bind(i64::from(inbound.recordings))
                    .bind(answered)
                    .execute(&mut *tx)
                    .await
                    .map_err(unique("message_id", "log an inbound email"))?;
                    if let Some(message) = message {
                        sqlx::query(
                            "INSERT INTO messages (id, submission_id, author, side, body, \
                             created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                        )
                        .bind(message.id.0)
                        .bind(message.submission_id.0)
                        .bind(message.author.0)
                        .bind(message.side.as_str())
                        .bind(message.body.as_str())
                        .bind(micros(message.created_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(unique("id", "insert an emailed message"))?;
                    }
                    if answered && let Some(answer) = answer {
                        Self::write_outbox(&mut tx, std::slice::from_ref(answer)).await?;
                    }
                    Self::commit_all(tx, events, emails, "commit an inbound email").await?;
                    Ok(answered)
                }

                async fn inbound_emails(
                    &self,
                    before: Option<i64>,
                    limit: u32,
                ) -> Result<Vec<(i64, InboundEmail)>> {
                    let sql = format!(
                        "SELECT {INBOUND_COLUMNS} FROM inbound_emails \
                         WHERE ($1 IS NULL OR seq < $1) ORDER BY seq DESC LIMIT $2"
                    );
                    let rows: Vec<InboundRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(before)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db("list inbound emails"))?;
                    rows.into_iter().map(InboundRow::decode).collect()
                }

                async fn answers_to(&self, sender: &str, since: Timestamp) -> Result<u64> {
                    let (n,): (i64,) = sqlx::query_as(
                        "SELECT COUNT(*) FROM inbound_emails WHERE LOWER(sender) = $1 \
                         AND received_at >= $2 AND answered",
                    )
                    .bind(sender.to_lowercase())
                    .bind(micros(since))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db("count the answers to a sender"))?;
                    Ok(u64::try_from(n).unwrap_or(0))
                }

                async fn mark_bouncing(
                    &self,
                    email: &str,
                    since: Timestamp,
                    report: &str,
                    events: &[AuditEvent],
                ) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(
                        "INSERT INTO bouncing_addresses (email, since, report) \
                         VALUES ($1, $2, $3) ON CONFLICT (email) DO NOTHING",
                    )
                    .bind(email.to_lowercase())
                    .bind(micros(since))
                    .bind(report)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("mark an address bouncing"))?;
                    Self::commit_all(tx, events, &[], "commit a bouncing address").await
                }

                async fn bouncing(&self, email: &str) -> Result<Option<Bouncing>> {
                    let row: Option<BouncingRow> = sqlx::query_as(
                        "SELECT email, since, report FROM bouncing_addresses WHERE email = $1",
                    )
                    .bind(email.to_lowercase())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db("read a bouncing address"))?;
                    row.map(BouncingRow::decode).transpose()
                }

                async fn bouncing_addresses(&self) -> Result<Vec<Bouncing>> {
                    let rows: Vec<BouncingRow> = sqlx::query_as(
                        "SELECT email, since, report FROM bouncing_addresses ORDER BY email",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("list bouncing addresses"))?;
                    rows.into_iter().map(BouncingRow::decode).collect()
                }

                async fn clear_bouncing(&self, email: &str, events: &[AuditEvent]) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    let done = sqlx::query("DELETE FROM bouncing_addresses WHERE email = $1")
                        .bind(email.to_lowercase())
                        .execute(&mut *tx)
                        .await
                        .map_err(db("clear a bouncing address"))?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    Self::commit_all(tx, events, &[], "commit a cleared address").await
                }
            }
        };
    };
}
pub(crate) use impl_inbound_store;
