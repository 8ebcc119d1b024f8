//! The delivery worker: claims the deliveries at the head of each endpoint's queue (a
//! lease in the row, `SKIP LOCKED` on PostgreSQL, so several servers deliver each once),
//! builds each payload from its audited change, signs it, POSTs it through the guarded
//! client, and records the attempt: delivered, retried on the domain's schedule, or, once
//! the schedule is spent, failed with the endpoint disabled and its managers emailed, in
//! one transaction. At least once: a server killed after the receiver answered and before
//! the attempt was recorded sends it again when its lease ends, with the same
//! `webhook-id`.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use tokio::task::JoinSet;
use vitrine_checks::Sealer;
use vitrine_domain::{MembershipRole, Timestamp, User};
use vitrine_jobs::{JobError, JobResult, Services, notify, scheduler};
use vitrine_outbound::Failure;
use vitrine_store::StoreError;
use vitrine_webhook_rules::{self as webhooks, EventType, Owner};

use crate::sign;
use crate::store::{Attempt, DeliveryRow, Next, StoredEndpoint, WebhookStore};

/// How deliveries go out from this server.
#[derive(Clone, Debug)]
pub struct DeliverySettings {
    /// Loopback, private and link-local receivers are refused unless this is set (the
    /// operator's `--allow-private-broker-addresses`, the checker's setting).
    pub allow_private_addresses: bool,
    /// Each delivery's whole time limit.
    pub request_timeout: Duration,
    /// Most bytes of an answer read; more is a failed attempt.
    pub max_response_bytes: usize,
    /// How long a claimed delivery is this server's.
    pub lease: Duration,
    /// Deliveries claimed at once (at most one per endpoint), all sent concurrently.
    pub batch: u32,
    /// How often the worker looks for due deliveries.
    pub poll_every: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            allow_private_addresses: false,
            request_timeout: Duration::from_secs(10),
            max_response_bytes: 64 * 1024,
            lease: Duration::from_secs(60),
            batch: 32,
            poll_every: Duration::from_millis(500),
        }
    }
}

/// Where the signed requests go.
#[derive(Clone, Debug)]
enum Transport {
    Http(reqwest::Client),
    /// Builds and signs every request and records it delivered without sending it: the
    /// outbox's own cost, for the benchmark.
    Discard,
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub claimed: usize,
    pub delivered: usize,
    pub retried: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// The worker. Cheap to clone.
#[derive(Clone)]
pub struct Deliverer {
    services: Services,
    sealer: Sealer,
    settings: Arc<DeliverySettings>,
    transport: Transport,
}

fn internal(context: &str, e: impl std::fmt::Display) -> JobError {
    JobError::internal(context, e)
}

impl Deliverer {
    pub fn new(services: Services, sealer: Sealer, settings: DeliverySettings) -> JobResult<Self> {
        let client = vitrine_outbound::client(&vitrine_outbound::ClientSettings {
            allow_private_addresses: settings.allow_private_addresses,
            request_timeout: settings.request_timeout,
            user_agent: concat!("vitrine-webhooks/", env!("CARGO_PKG_VERSION")).to_owned(),
        })
        .map_err(|e| internal("the webhook client", e))?;
        Ok(Deliverer {
            services,
            sealer,
            settings: Arc::new(settings),
            transport: Transport::Http(client),
        })
    }

    /// A worker that signs and records but sends nothing (benchmarks).
    pub fn discarding(services: Services, sealer: Sealer, settings: DeliverySettings) -> Self {
        Deliverer {
            services,
            sealer,
            settings: Arc::new(settings),
            transport: Transport::Discard,
        }
    }

    fn store(&self) -> WebhookStore<'_> {
        WebhookStore::new(self.services.store.as_ref())
    }

    /// Claims one batch and delivers it.
    pub async fn deliver_once(&self) -> JobResult<DeliveryReport> {
        let clock = &self.services.clock;
        let lease_now = clock.lease_now();
        let lease_until = lease_now
            .checked_add(jiff::SignedDuration::try_from(self.settings.lease).unwrap_or_default())
            .map_err(|e| internal("a lease's end", e))?;
        let claimed = self
            .store()
            .claim(clock.now(), lease_now, lease_until, self.settings.batch)
            .await?;
        let mut report = DeliveryReport {
            claimed: claimed.len(),
            ..DeliveryReport::default()
        };
        let mut sends = JoinSet::new();
        for row in claimed {
            let this = self.clone();
            sends.spawn(async move { this.deliver(row).await });
        }
        while let Some(done) = sends.join_next().await {
            match done.map_err(|e| internal("a webhook delivery task", e))? {
                Ok(Some(next)) => match next {
                    Outcome::Delivered => report.delivered += 1,
                    Outcome::Retried => report.retried += 1,
                    Outcome::Failed => report.failed += 1,
                    Outcome::Skipped => report.skipped += 1,
                },
                Ok(None) => {}
                // One delivery's storage error leaves it to its lease; the others stand.
                Err(error) => tracing::warn!(%error, "a webhook delivery could not be recorded"),
            }
        }
        Ok(report)
    }

    /// Delivers until `shutdown` resolves (after the batch under way).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let busy = match self.deliver_once().await {
                Ok(report) => report.claimed > 0,
                Err(error) => {
                    tracing::warn!(%error, "webhook deliveries failed; trying again");
                    false
                }
            };
            if busy {
                tokio::select! {
                    () = &mut shutdown => return,
                    () = tokio::task::yield_now() => {}
                }
            } else {
                tokio::select! {
                    () = &mut shutdown => return,
                    () = tokio::time::sleep(self.settings.poll_every) => {}
                }
            }
        }
    }

    async fn deliver(&self, row: DeliveryRow) -> JobResult<Option<Outcome>> {
        let store = self.store();
        let endpoint = store
            .endpoint(webhooks::WebhookEndpointId(row.endpoint_id))
            .await?;
        let change = store.change(row.audit_seq).await?;
        let now = self.services.clock.now();
        let (Some(stored), Some(change)) = (endpoint, change) else {
            return self.finish(&row, skipped(now), Next::Skipped).await;
        };
        let owner = stored.endpoint.owner;
        let payload = EventType::of(&change.action, change.before.as_ref())
            .filter(|event| stored.endpoint.events.contains(event))
            .and_then(|event| webhooks::payload(owner, event, &change));
        let Some(payload) = payload else {
            return self.finish(&row, skipped(now), Next::Skipped).await;
        };
        let body = serde_json::to_vec(&payload).map_err(|e| internal("a webhook payload", e))?;
        let keys = self.keys(&stored, now)?;
        // The signature's time is the real one, even in a rehearsal: receivers compare it
        // with their own clock.
        let timestamp = self.services.clock.lease_now().as_second();
        let signature = sign::signature_header(&keys, &row.message_id, timestamp, &body);
        let started = std::time::Instant::now();
        let (status, failure, excerpt) = self
            .send(
                &stored.endpoint.url,
                &row.message_id,
                timestamp,
                &signature,
                body,
            )
            .await;
        let attempt = Attempt {
            at: now,
            status,
            error: failure.as_ref().map(ToString::to_string),
            excerpt,
            duration_ms: Some(u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX)),
        };
        if failure.is_none() && status.is_some_and(webhooks::delivered) {
            return self.finish(&row, attempt, Next::Delivered).await;
        }
        let attempts = u32::try_from(row.attempts).unwrap_or(0) + 1;
        if let Some(at) = webhooks::next_attempt(attempts, now) {
            return self.finish(&row, attempt, Next::RetryAt(at)).await;
        }
        let reason = match (&failure, status) {
            (Some(failure), _) => failure.to_string(),
            (None, Some(status)) => format!("the answer was {status}"),
            (None, None) => "no answer".to_owned(),
        };
        let (disabled, event) = webhooks::disable_after_failures(&stored.endpoint, &reason, now);
        let emails = self.disabled_emails(&disabled, &reason, now).await?;
        let next = Next::GiveUp {
            endpoint: Box::new(disabled),
            events: vec![event],
            emails,
        };
        self.finish(&row, attempt, next).await
    }

    async fn finish(
        &self,
        row: &DeliveryRow,
        attempt: Attempt,
        next: Next,
    ) -> JobResult<Option<Outcome>> {
        let outcome = match &next {
            Next::Delivered => Outcome::Delivered,
            Next::Skipped => Outcome::Skipped,
            Next::RetryAt(_) => Outcome::Retried,
            Next::GiveUp { .. } => Outcome::Failed,
        };
        match self.store().record(row.id, &attempt, &next).await {
            Ok(true) => Ok(Some(outcome)),
            // Recorded meanwhile by a server that took it over after this one's lease.
            Ok(false) | Err(StoreError::Conflict { .. }) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// The HMAC keys in force: the current secret, and the previous one during a
    /// rotation's overlap.
    fn keys(&self, stored: &StoredEndpoint, now: Timestamp) -> JobResult<Vec<Vec<u8>>> {
        let open = |sealed: &[u8]| -> JobResult<Vec<u8>> {
            let secret = self
                .sealer
                .open(sealed)
                .map_err(|e| internal("a webhook secret", e))?;
            sign::key_of(&secret).ok_or_else(|| internal("a webhook secret", "not base64"))
        };
        let mut keys = vec![open(&stored.secret_sealed)?];
        if let (Some(previous), Some(until)) = (
            &stored.previous_secret_sealed,
            stored.endpoint.previous_secret_until,
        ) && until > now
        {
            keys.push(open(previous)?);
        }
        Ok(keys)
    }

    /// POSTs the body; `(status, failure, excerpt of the answer)`.
    async fn send(
        &self,
        url: &str,
        message_id: &str,
        timestamp: i64,
        signature: &str,
        body: Vec<u8>,
    ) -> (Option<u16>, Option<Failure>, Option<String>) {
        let client = match &self.transport {
            Transport::Discard => return (Some(204), None, None),
            Transport::Http(client) => client,
        };
        let url = match url::Url::parse(url) {
            Ok(url) => url,
            Err(e) => {
                return (
                    None,
                    Some(Failure::Refused(format!("not a URL: {e}"))),
                    None,
                );
            }
        };
        if let Some(why) =
            vitrine_outbound::refuse_literal(&url, self.settings.allow_private_addresses)
        {
            return (None, Some(Failure::Refused(why)), None);
        }
        let request = client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body);
        // The client's timeout covers the exchange; this one is a backstop.
        let limit = self.settings.request_timeout + Duration::from_millis(250);
        let exchange = async {
            let response = request
                .send()
                .await
                .map_err(|e| vitrine_outbound::transport_error(&e))?;
            let status = response.status().as_u16();
            let (bytes, failure) = vitrine_outbound::read_capped(
                response,
                self.settings.max_response_bytes,
                webhooks::EXCERPT_BYTES,
            )
            .await;
            Ok::<_, Failure>((status, failure, excerpt(&bytes)))
        };
        match tokio::time::timeout(limit, exchange).await {
            Ok(Ok((status, failure, excerpt))) => (Some(status), failure, Some(excerpt)),
            Ok(Err(failure)) => (None, Some(failure), None),
            Err(_) => (None, Some(Failure::Timeout), None),
        }
    }

    async fn disabled_emails(
        &self,
        endpoint: &webhooks::Endpoint,
        reason: &str,
        now: Timestamp,
    ) -> JobResult<Vec<vitrine_store::NewEmail>> {
        let (managers, account_name) = match endpoint.owner {
            Owner::Marketplace => (
                notify::staff(&self.services, |u| u.staff.admin).await?,
                None,
            ),
            Owner::Account(id) => match self.services.store.account(id).await? {
                Some(account) => {
                    let mut owners: Vec<User> = Vec::new();
                    for member in account
                        .members
                        .iter()
                        .filter(|m| m.role == MembershipRole::Owner)
                    {
                        owners.extend(self.services.store.user(member.user_id).await?);
                    }
                    (owners, Some(account.name))
                }
                None => (Vec::new(), None),
            },
        };
        let email = vitrine_mail::WebhookDisabled {
            endpoint_id: endpoint.id.0,
            account_id: endpoint.owner.account().map(|a| a.0),
            account_name,
            url: endpoint.url.clone(),
            reason: reason.to_owned(),
            disabled_at: now,
        };
        let notices = notify::webhook_disabled(&self.services.mail, &email, &managers)?;
        scheduler::outbox(notices, None, now)
    }
}

#[derive(Clone, Copy, Debug)]
enum Outcome {
    Delivered,
    Retried,
    Failed,
    Skipped,
}

fn skipped(now: Timestamp) -> Attempt {
    Attempt {
        at: now,
        status: None,
        error: None,
        excerpt: None,
        duration_ms: None,
    }
}

/// At most [`webhooks::EXCERPT_BYTES`] of an answer, as text, cut on a character boundary.
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(webhooks::EXCERPT_BYTES)]);
    let mut text = text.into_owned();
    while text.len() > webhooks::EXCERPT_BYTES {
        text.pop();
    }
    text
}
