//! The outbox dispatcher: sends the emails the store wrote to its outbox with the changes
//! that caused them.
//!
//! Each round claims the due emails with a lease (`Store::claim_outbox`), so two servers
//! never send one email at the same time, sends each through the configured
//! [`MailTransport`], and marks it sent, or records the failure: a transient one is retried
//! with exponential backoff (`base × 2^(attempts-1)`, capped), a permanent one, or the last
//! allowed attempt, leaves the email `failed` for an admin to see and retry. A server that
//! dies between sending and marking leaves the email claimed; when the lease runs out it is
//! sent again: at least once, never lost. A failed send changes nothing but the email's row.
//!
//! The emails of a batch are sent side by side, up to `concurrency` at once (the SMTP
//! transport keeps as many connections), and the accepted ones are marked sent a few at a
//! time in one statement ([`Store::mark_many_sent`]): one commit per email was most of what
//! the outbox cost on PostgreSQL (`bench/README.md`). A crash between a send and its mark
//! resends that email once its lease runs out, as before: at least once.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use vitrine_mail::{MailTransport, OutgoingEmail, SendError};
use vitrine_store::{OutboxEmail, Store, StoreError};

use crate::Clock;

/// How the dispatcher paces itself.
#[derive(Clone, Debug)]
pub struct DispatcherSettings {
    /// How long a claimed email is held before another dispatcher may take it; longer than
    /// one send can take.
    pub lease: Duration,
    /// Emails claimed at once.
    pub batch: u32,
    /// Emails of a batch being sent at the same time (at least 1). The SMTP transport keeps
    /// up to 10 connections open, so more than 10 would only wait for one.
    pub concurrency: usize,
    /// Delay after the first failed attempt; doubles with each further one.
    pub base_backoff: Duration,
    /// Longest delay between attempts.
    pub max_backoff: Duration,
    /// After this many failed attempts the email is `failed`.
    pub max_attempts: u32,
    /// How often the outbox is polled when it was found empty.
    pub poll_interval: Duration,
}

impl Default for DispatcherSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(5 * 60),
            batch: 50,
            concurrency: 10,
            base_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(60 * 60),
            max_attempts: 10,
            poll_interval: Duration::from_secs(1),
        }
    }
}

impl DispatcherSettings {
    /// The delay before the next attempt, after `attempts` failed ones (at least 1).
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exponent = attempts.saturating_sub(1).min(31);
        self.base_backoff
            .checked_mul(1 << exponent)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }
}

/// What one drain did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DispatchReport {
    pub sent: u32,
    /// Failed this time, due again later.
    pub retrying: u32,
    /// Given up on (permanent failure or the last allowed attempt).
    pub failed: u32,
}

/// What became of one email.
#[derive(Clone, Copy, Debug)]
enum Outcome {
    /// Accepted by the transport; to be marked sent (with others, in one statement).
    Sent(i64),
    Retrying,
    Failed,
}

impl DispatchReport {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Sent(_) => self.sent += 1,
            Outcome::Retrying => self.retrying += 1,
            Outcome::Failed => self.failed += 1,
        }
    }
}

/// Sends outbox emails. Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    transport: Arc<dyn MailTransport>,
    settings: DispatcherSettings,
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        transport: Arc<dyn MailTransport>,
        settings: DispatcherSettings,
    ) -> Self {
        Self {
            store,
            clock,
            transport,
            settings,
        }
    }

    /// Sends every email due now, batch after batch, until none is due (emails that fail are
    /// due later, so this ends). Deterministic: what tests call.
    pub async fn drain_once(&self) -> Result<DispatchReport, StoreError> {
        let mut report = DispatchReport::default();
        loop {
            let claimed = self
                .store
                .claim_outbox_leased(
                    self.clock.now(),
                    self.clock.lease_now(),
                    self.settings.lease,
                    self.settings.batch,
                )
                .await?;
            if claimed.is_empty() {
                return Ok(report);
            }
            self.dispatch_batch(claimed, &mut report).await?;
        }
    }

    /// Sends the claimed emails, `concurrency` at a time. A database error stops the batch
    /// from going further, once the sends under way are over and marked: what is left stays
    /// claimed and comes back when its lease runs out.
    async fn dispatch_batch(
        &self,
        claimed: Vec<OutboxEmail>,
        report: &mut DispatchReport,
    ) -> Result<(), StoreError> {
        let concurrency = self.settings.concurrency.max(1);
        // Read once a batch: the list is short (addresses mail came back from), and a query
        // per email would stand between the sends.
        let bouncing: Arc<HashSet<String>> = Arc::new(
            self.store
                .bouncing_addresses()
                .await?
                .into_iter()
                .map(|b| b.email)
                .collect(),
        );
        let mut under_way = JoinSet::new();
        let mut first_error = None;
        let mut accepted = Vec::new();
        let mut finished = |joined: Result<Result<Outcome, StoreError>, tokio::task::JoinError>,
                            first_error: &mut Option<StoreError>,
                            accepted: &mut Vec<i64>| {
            match joined {
                Ok(Ok(outcome)) => {
                    if let Outcome::Sent(id) = outcome {
                        accepted.push(id);
                    }
                    report.count(outcome);
                }
                Ok(Err(error)) => {
                    first_error.get_or_insert(error);
                }
                Err(error) => {
                    // A send that panicked: its email stays claimed until its lease runs
                    // out, then it is sent again.
                    tracing::error!(%error, "an email's dispatch task failed");
                }
            }
        };
        for email in claimed {
            if first_error.is_some() {
                break;
            }
            if under_way.len() >= concurrency
                && let Some(joined) = under_way.join_next().await
            {
                finished(joined, &mut first_error, &mut accepted);
                // Marked as soon as a handful are accepted, so a crash resends few.
                if accepted.len() >= concurrency
                    && let Err(error) = self.mark_sent(&mut accepted).await
                {
                    first_error.get_or_insert(error);
                }
            }
            let dispatcher = self.clone();
            let bouncing = bouncing.clone();
            under_way.spawn(async move { dispatcher.dispatch(email, &bouncing).await });
        }
        while let Some(joined) = under_way.join_next().await {
            finished(joined, &mut first_error, &mut accepted);
        }
        if let Err(error) = self.mark_sent(&mut accepted).await {
            first_error.get_or_insert(error);
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Marks the accepted emails sent, in one statement, and empties the list.
    async fn mark_sent(&self, accepted: &mut Vec<i64>) -> Result<(), StoreError> {
        if accepted.is_empty() {
            return Ok(());
        }
        let ids = std::mem::take(accepted);
        let marked = self.store.mark_many_sent(&ids, self.clock.now()).await?;
        if marked.len() < ids.len() {
            // Our lease ran out and another dispatcher dealt with them: nothing is lost.
            let elsewhere: Vec<i64> = ids.into_iter().filter(|id| !marked.contains(id)).collect();
            tracing::warn!(
                outbox_ids = ?elsewhere,
                "emails were dealt with elsewhere meanwhile"
            );
        }
        Ok(())
    }

    async fn dispatch(
        &self,
        email: OutboxEmail,
        bouncing: &HashSet<String>,
    ) -> Result<Outcome, StoreError> {
        let outcome = match serde_json::from_value::<OutgoingEmail>(email.payload.clone()) {
            Ok(mut message) => match bouncing_recipient(&message, bouncing) {
                // Mail to it came back as undeliverable: sending again would only bounce
                // again (and hurt the sender's reputation). Failed, for an admin to retry
                // once the address is fixed.
                Some(address) => Err(SendError::permanent(format!(
                    "mail to {address} bounces; fix the address, then retry"
                ))),
                None => {
                    // Dated when the change that caused it happened, on vitrine's clock.
                    message.date.get_or_insert(email.created_at);
                    self.transport.send(&message).await
                }
            },
            Err(error) => Err(SendError::permanent(format!(
                "the stored email cannot be read: {error}"
            ))),
        };
        let now = self.clock.now();
        let (outcome, result) = match outcome {
            Ok(()) => {
                tracing::info!(outbox_id = email.id, subject = %email.subject, "email sent");
                return Ok(Outcome::Sent(email.id));
            }
            Err(error) => {
                let attempts = email.attempts.saturating_add(1);
                let give_up = error.permanent || attempts >= self.settings.max_attempts;
                let delay = self.settings.backoff(attempts);
                let next = jiff::SignedDuration::try_from(delay)
                    .ok()
                    .and_then(|delay| now.checked_add(delay).ok())
                    .unwrap_or(now);
                let outcome = if give_up {
                    tracing::warn!(outbox_id = email.id, attempts, %error, "email failed; an admin may retry it");
                    Outcome::Failed
                } else {
                    tracing::info!(outbox_id = email.id, attempts, %error, retry_at = %next, "email send failed; will retry");
                    Outcome::Retrying
                };
                let result = self
                    .store
                    .mark_failed_attempt(email.id, &error.to_string(), next, give_up)
                    .await;
                (outcome, result)
            }
        };
        match result {
            Ok(()) => Ok(outcome),
            // Our lease ran out and another dispatcher dealt with it: nothing is lost.
            Err(StoreError::NotFound) => {
                tracing::warn!(
                    outbox_id = email.id,
                    "the email was dealt with elsewhere meanwhile"
                );
                Ok(outcome)
            }
            Err(error) => Err(error),
        }
    }

    /// Drains the outbox, then waits `poll_interval`, until `shutdown` resolves. A failing
    /// database is logged and retried at the next round.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            if let Err(error) = self.drain_once().await {
                tracing::warn!(%error, "the outbox could not be read; retrying");
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
    }
}

/// Sends every email due now (see [`Dispatcher::drain_once`]).
pub async fn drain_outbox_once(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    transport: Arc<dyn MailTransport>,
    settings: DispatcherSettings,
) -> Result<DispatchReport, StoreError> {
    Dispatcher::new(store, clock, transport, settings)
        .drain_once()
        .await
}

/// A recipient of `message` marked as bouncing (stored lowercase), if any.
fn bouncing_recipient(message: &OutgoingEmail, bouncing: &HashSet<String>) -> Option<String> {
    message
        .to
        .iter()
        .map(|mailbox| mailbox.email.to_string().to_lowercase())
        .find(|address| bouncing.contains(address))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let settings = DispatcherSettings::default();
        let secs = |attempts| settings.backoff(attempts).as_secs();
        assert_eq!(
            [secs(1), secs(2), secs(3), secs(4)],
            [30, 60, 120, 240],
            "30 s × 2^(attempts-1)"
        );
        assert_eq!(secs(8), 3600);
        assert_eq!(secs(40), 3600);
    }
}
