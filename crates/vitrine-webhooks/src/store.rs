//! The webhooks' storage: endpoints (their secrets sealed), the audit actions they
//! subscribe to, and the deliveries the fan-out trigger (migration 0011) writes in the
//! transaction of each change. The SQL lives here and not in `vitrine-store`, which has
//! no room left under the crate size limit; it runs on the store's own pools
//! ([`vitrine_store::Store::pools`]) and writes audit events and emails with the store's
//! own writers, in the same transaction as the change, version-checked like every store
//! write. One macro writes it for both backends, as `vitrine-store`'s `impl_store!` does.

use uuid::Uuid;
use vitrine_domain::audit::AuditEvent;
use vitrine_domain::{AccountId, OfferingId, Timestamp};
pub(crate) use vitrine_store::sql::timestamp;
use vitrine_store::sql::{db, micros};
use vitrine_store::{NewEmail, Pools, Result, StoreError};
use vitrine_webhook_rules::{AuditedChange, Endpoint, EventType, Owner, WebhookEndpointId};

/// An endpoint with its sealed secrets.
#[derive(Clone, Debug)]
pub struct StoredEndpoint {
    pub endpoint: Endpoint,
    pub secret_sealed: Vec<u8>,
    pub previous_secret_sealed: Option<Vec<u8>>,
}

/// What a write does to the secrets.
#[derive(Clone, Debug)]
pub enum SecretChange {
    Keep,
    /// The current secret becomes the previous one (signing until the endpoint's
    /// `previous_secret_until`), this one the current.
    Rotate(Vec<u8>),
}

/// A delivery's state.
pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";
pub const SKIPPED: &str = "skipped";

/// A delivery as the log shows it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: i64,
    pub endpoint_id: Uuid,
    pub audit_seq: i64,
    pub message_id: String,
    pub manual: bool,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub last_attempt_at: Option<i64>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub last_excerpt: Option<String>,
    pub finished_at: Option<i64>,
}

/// The outcome of one attempt, as recorded.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub at: Timestamp,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub excerpt: Option<String>,
    /// How long the request took (none for what was not sent).
    pub duration_ms: Option<u32>,
}

/// One attempt of a delivery, as the log shows it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AttemptRow {
    pub delivery_id: i64,
    pub attempted_at: i64,
    pub status: Option<i32>,
    pub duration_ms: Option<i32>,
    pub excerpt: Option<String>,
    pub error: Option<String>,
}

/// What becomes of a delivery after an attempt.
#[derive(Clone, Debug)]
pub enum Next {
    Delivered,
    /// Not an event for this endpoint (or its audit record is gone): never sent.
    Skipped,
    RetryAt(Timestamp),
    /// The retry schedule is spent: the delivery failed, and the endpoint is disabled
    /// (the given new version, its audit event and the owner's emails).
    GiveUp {
        endpoint: Box<Endpoint>,
        events: Vec<AuditEvent>,
        emails: Vec<NewEmail>,
    },
}

fn actions_of(events: &[EventType]) -> Vec<&'static str> {
    events
        .iter()
        .flat_map(|e| e.actions().iter().copied())
        .collect()
}

#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: Uuid,
    account_id: Option<Uuid>,
    url: String,
    description: String,
    events: String,
    enabled: bool,
    disabled_reason: Option<String>,
    secret_sealed: Vec<u8>,
    previous_secret_sealed: Option<Vec<u8>>,
    previous_secret_until: Option<i64>,
    created_at: i64,
    updated_at: i64,
    version: i64,
}

impl EndpointRow {
    fn decode(self) -> Result<StoredEndpoint> {
        let events: Vec<EventType> = serde_json::from_str(&self.events)
            .map_err(|e| StoreError::Corrupt(format!("webhook_endpoints.events: {e}")))?;
        Ok(StoredEndpoint {
            endpoint: Endpoint {
                id: WebhookEndpointId(self.id),
                owner: match self.account_id {
                    Some(id) => Owner::Account(AccountId(id)),
                    None => Owner::Marketplace,
                },
                url: self.url,
                description: self.description,
                events,
                enabled: self.enabled,
                disabled_reason: self.disabled_reason,
                previous_secret_until: self.previous_secret_until.map(timestamp).transpose()?,
                created_at: timestamp(self.created_at)?,
                updated_at: timestamp(self.updated_at)?,
                version: self.version,
            },
            secret_sealed: self.secret_sealed,
            previous_secret_sealed: self.previous_secret_sealed,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ChangeRow {
    action: String,
    subject_id: String,
    account_id: Option<Uuid>,
    offering_id: Option<Uuid>,
    offering_name: Option<String>,
    before: Option<String>,
    after: Option<String>,
    at: i64,
}

impl ChangeRow {
    fn decode(self) -> Result<AuditedChange> {
        let json = |text: Option<String>| {
            text.map(|t| serde_json::from_str(&t))
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("audit_events: {e}")))
        };
        Ok(AuditedChange {
            action: self.action,
            subject_id: self.subject_id,
            account_id: self.account_id.map(AccountId),
            offering_id: self.offering_id.map(OfferingId),
            offering_name: self.offering_name,
            before: json(self.before)?,
            after: json(self.after)?,
            at: timestamp(self.at)?,
        })
    }
}

const ENDPOINT_COLUMNS: &str = "id, account_id, url, description, events, enabled, \
     disabled_reason, secret_sealed, previous_secret_sealed, previous_secret_until, \
     created_at, updated_at, version";

const DELIVERY_COLUMNS: &str = "id, endpoint_id, audit_seq, message_id, manual, state, \
     attempts, next_attempt_at, created_at, last_attempt_at, last_status, last_error, \
     last_excerpt, finished_at";

macro_rules! backend {
    ($module:ident, $db:ty, $store:ty, $lock:literal, |$pool:ident| $begin:expr) => {
        mod $module {
            use super::*;
            use sqlx::AssertSqlSafe;

            type Pool = sqlx::Pool<$db>;
            type Connection = <$db as sqlx::Database>::Connection;

            async fn begin(
                $pool: &Pool,
            ) -> Result<sqlx::Transaction<'static, $db>> {
                $begin.await.map_err(db("begin a webhooks write"))
            }

            async fn write_subscriptions(
                conn: &mut Connection,
                endpoint: &Endpoint,
            ) -> Result<()> {
                sqlx::query("DELETE FROM webhook_subscriptions WHERE endpoint_id = $1")
                    .bind(endpoint.id.0)
                    .execute(&mut *conn)
                    .await
                    .map_err(db("clear webhook subscriptions"))?;
                for action in actions_of(&endpoint.events) {
                    sqlx::query(
                        "INSERT INTO webhook_subscriptions (endpoint_id, action) VALUES ($1, $2)",
                    )
                    .bind(endpoint.id.0)
                    .bind(action)
                    .execute(&mut *conn)
                    .await
                    .map_err(db("write a webhook subscription"))?;
                }
                Ok(())
            }

            fn events_json(endpoint: &Endpoint) -> Result<String> {
                serde_json::to_string(&endpoint.events)
                    .map_err(|e| StoreError::Corrupt(format!("webhook events: {e}")))
            }

            pub async fn insert_endpoint(
                pool: &Pool,
                endpoint: &Endpoint,
                secret_sealed: &[u8],
                events: &[AuditEvent],
            ) -> Result<()> {
                let mut tx = begin(pool).await?;
                sqlx::query(
                    "INSERT INTO webhook_endpoints (id, account_id, url, description, events, \
                     enabled, disabled_reason, secret_sealed, previous_secret_sealed, \
                     previous_secret_until, created_at, updated_at, version) \
                     VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, NULL, NULL, $8, $8, $9)",
                )
                .bind(endpoint.id.0)
                .bind(endpoint.owner.account().map(|a| a.0))
                .bind(&endpoint.url)
                .bind(&endpoint.description)
                .bind(events_json(endpoint)?)
                .bind(endpoint.enabled)
                .bind(secret_sealed)
                .bind(micros(endpoint.created_at))
                .bind(endpoint.version)
                .execute(&mut *tx)
                .await
                .map_err(db("insert a webhook endpoint"))?;
                write_subscriptions(&mut tx, endpoint).await?;
                <$store>::write_audit(&mut tx, events).await?;
                tx.commit().await.map_err(db("commit a webhook endpoint"))
            }

            pub async fn update_endpoint(
                pool: &Pool,
                endpoint: &Endpoint,
                secret: &SecretChange,
                events: &[AuditEvent],
                emails: &[NewEmail],
            ) -> Result<()> {
                let mut tx = begin(pool).await?;
                let rotate = matches!(secret, SecretChange::Rotate(_));
                let new_secret: Option<&[u8]> = match secret {
                    SecretChange::Rotate(sealed) => Some(sealed),
                    SecretChange::Keep => None,
                };
                let done = sqlx::query(
                    "UPDATE webhook_endpoints SET url = $1, description = $2, events = $3, \
                     enabled = $4, disabled_reason = $5, previous_secret_until = $6, \
                     previous_secret_sealed = CASE WHEN $7 THEN secret_sealed \
                         ELSE previous_secret_sealed END, \
                     secret_sealed = COALESCE($8, secret_sealed), \
                     updated_at = $9, version = $10 WHERE id = $11 AND version = $12",
                )
                .bind(&endpoint.url)
                .bind(&endpoint.description)
                .bind(events_json(endpoint)?)
                .bind(endpoint.enabled)
                .bind(&endpoint.disabled_reason)
                .bind(endpoint.previous_secret_until.map(micros))
                .bind(rotate)
                .bind(new_secret)
                .bind(micros(endpoint.updated_at))
                .bind(endpoint.version)
                .bind(endpoint.id.0)
                .bind(endpoint.version - 1)
                .execute(&mut *tx)
                .await
                .map_err(db("update a webhook endpoint"))?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Conflict {
                        what: "the webhook endpoint",
                    });
                }
                write_subscriptions(&mut tx, endpoint).await?;
                <$store>::write_audit(&mut tx, events).await?;
                <$store>::write_outbox(&mut tx, emails).await?;
                tx.commit().await.map_err(db("commit a webhook endpoint"))
            }

            pub async fn delete_endpoint(
                pool: &Pool,
                endpoint: &Endpoint,
                events: &[AuditEvent],
            ) -> Result<()> {
                let mut tx = begin(pool).await?;
                let done = sqlx::query(
                    "DELETE FROM webhook_endpoints WHERE id = $1 AND version = $2",
                )
                .bind(endpoint.id.0)
                .bind(endpoint.version)
                .execute(&mut *tx)
                .await
                .map_err(db("delete a webhook endpoint"))?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Conflict {
                        what: "the webhook endpoint",
                    });
                }
                <$store>::write_audit(&mut tx, events).await?;
                tx.commit().await.map_err(db("commit a webhook endpoint removal"))
            }

            pub async fn endpoint(
                pool: &Pool,
                id: WebhookEndpointId,
            ) -> Result<Option<StoredEndpoint>> {
                let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1");
                let row: Option<EndpointRow> = sqlx::query_as(AssertSqlSafe(sql))
                    .bind(id.0)
                    .fetch_optional(pool)
                    .await
                    .map_err(db("read a webhook endpoint"))?;
                row.map(EndpointRow::decode).transpose()
            }

            pub async fn endpoints_of(pool: &Pool, owner: Owner) -> Result<Vec<Endpoint>> {
                let sql = format!(
                    "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints \
                     WHERE account_id IS NOT DISTINCT FROM $1 ORDER BY id"
                );
                let rows: Vec<EndpointRow> = sqlx::query_as(AssertSqlSafe(sql))
                    .bind(owner.account().map(|a| a.0))
                    .fetch_all(pool)
                    .await
                    .map_err(db("list webhook endpoints"))?;
                rows.into_iter()
                    .map(|r| r.decode().map(|s| s.endpoint))
                    .collect()
            }

            pub async fn claim(
                pool: &Pool,
                now: Timestamp,
                lease_now: Timestamp,
                lease_until: Timestamp,
                limit: u32,
            ) -> Result<Vec<DeliveryRow>> {
                let mut tx = begin(pool).await?;
                let sql = format!(
                    "SELECT {} FROM webhook_deliveries d \
                     WHERE d.state = 'pending' AND d.next_attempt_at <= $1 \
                       AND (d.locked_until IS NULL OR d.locked_until <= $2) \
                       AND d.id = (SELECT MIN(h.id) FROM webhook_deliveries h \
                                   WHERE h.endpoint_id = d.endpoint_id AND h.state = 'pending') \
                       AND EXISTS (SELECT 1 FROM webhook_endpoints e \
                                   WHERE e.id = d.endpoint_id AND e.enabled) \
                     ORDER BY d.id LIMIT $3{}",
                    DELIVERY_COLUMNS
                        .split(", ")
                        .map(|c| format!("d.{c}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    $lock
                );
                let rows: Vec<DeliveryRow> = sqlx::query_as(AssertSqlSafe(sql))
                    .bind(micros(now))
                    .bind(micros(lease_now))
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db("claim webhook deliveries"))?;
                for row in &rows {
                    sqlx::query("UPDATE webhook_deliveries SET locked_until = $1 WHERE id = $2")
                        .bind(micros(lease_until))
                        .bind(row.id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db("lease a webhook delivery"))?;
                }
                tx.commit().await.map_err(db("commit webhook claims"))?;
                Ok(rows)
            }

            pub async fn change(pool: &Pool, seq: i64) -> Result<Option<AuditedChange>> {
                let row: Option<ChangeRow> = sqlx::query_as(
                    "SELECT a.action, a.subject_id, a.account_id, a.offering_id, \
                     o.name AS offering_name, a.before, a.after, a.at \
                     FROM audit_events a LEFT JOIN offerings o ON o.id = a.offering_id \
                     WHERE a.seq = $1",
                )
                .bind(seq)
                .fetch_optional(pool)
                .await
                .map_err(db("read an audited change"))?;
                row.map(ChangeRow::decode).transpose()
            }

            pub async fn record(
                pool: &Pool,
                id: i64,
                attempt: &Attempt,
                next: &Next,
            ) -> Result<bool> {
                let mut tx = begin(pool).await?;
                let (state, next_at, counts) = match next {
                    Next::Delivered => (DELIVERED, None, true),
                    Next::Skipped => (SKIPPED, None, false),
                    Next::RetryAt(at) => (PENDING, Some(micros(*at)), true),
                    Next::GiveUp { .. } => (FAILED, None, true),
                };
                let finished = (state != PENDING).then(|| micros(attempt.at));
                let done = sqlx::query(
                    "UPDATE webhook_deliveries SET state = $1, \
                     attempts = attempts + $2, next_attempt_at = COALESCE($3, next_attempt_at), \
                     locked_until = NULL, last_attempt_at = $4, last_status = $5, \
                     last_error = $6, last_excerpt = $7, finished_at = $8 \
                     WHERE id = $9 AND state = 'pending'",
                )
                .bind(state)
                .bind(i32::from(counts))
                .bind(next_at)
                .bind(counts.then(|| micros(attempt.at)))
                .bind(attempt.status.map(i32::from))
                .bind(&attempt.error)
                .bind(&attempt.excerpt)
                .bind(finished)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db("record a webhook attempt"))?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                if counts {
                    sqlx::query(
                        "INSERT INTO webhook_delivery_attempts (delivery_id, attempted_at, \
                         status, duration_ms, excerpt, error) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(id)
                    .bind(micros(attempt.at))
                    .bind(attempt.status.map(i32::from))
                    .bind(attempt.duration_ms.map(|ms| i32::try_from(ms).unwrap_or(i32::MAX)))
                    .bind(&attempt.excerpt)
                    .bind(&attempt.error)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("log a webhook attempt"))?;
                }
                if let Next::GiveUp { endpoint, events, emails } = next {
                    let done = sqlx::query(
                        "UPDATE webhook_endpoints SET enabled = $1, disabled_reason = $2, \
                         updated_at = $3, version = $4 WHERE id = $5 AND version = $6",
                    )
                    .bind(endpoint.enabled)
                    .bind(&endpoint.disabled_reason)
                    .bind(micros(endpoint.updated_at))
                    .bind(endpoint.version)
                    .bind(endpoint.id.0)
                    .bind(endpoint.version - 1)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("disable a webhook endpoint"))?;
                    if done.rows_affected() != 1 {
                        return Err(StoreError::Conflict {
                            what: "the webhook endpoint",
                        });
                    }
                    <$store>::write_audit(&mut tx, events).await?;
                    <$store>::write_outbox(&mut tx, emails).await?;
                }
                tx.commit().await.map_err(db("commit a webhook attempt"))?;
                Ok(true)
            }

            pub async fn deliveries(
                pool: &Pool,
                endpoint: WebhookEndpointId,
                before: Option<i64>,
                limit: u32,
            ) -> Result<Vec<DeliveryRow>> {
                let sql = format!(
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
                     WHERE endpoint_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
                );
                sqlx::query_as(AssertSqlSafe(sql))
                    .bind(endpoint.0)
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await
                    .map_err(db("list webhook deliveries"))
            }

            pub async fn attempts(
                pool: &Pool,
                endpoint: WebhookEndpointId,
                (from, to): (i64, i64),
            ) -> Result<Vec<AttemptRow>> {
                sqlx::query_as(
                    "SELECT a.delivery_id, a.attempted_at, a.status, a.duration_ms, \
                     a.excerpt, a.error FROM webhook_delivery_attempts a \
                     JOIN webhook_deliveries d ON d.id = a.delivery_id \
                     WHERE d.endpoint_id = $1 AND a.delivery_id BETWEEN $2 AND $3 \
                     ORDER BY a.delivery_id, a.id",
                )
                .bind(endpoint.0)
                .bind(from)
                .bind(to)
                .fetch_all(pool)
                .await
                .map_err(db("list webhook attempts"))
            }

            pub async fn manual_since(
                pool: &Pool,
                endpoint: WebhookEndpointId,
                since: Timestamp,
            ) -> Result<u64> {
                let (n,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM webhook_deliveries \
                     WHERE endpoint_id = $1 AND manual AND created_at >= $2",
                )
                .bind(endpoint.0)
                .bind(micros(since))
                .fetch_one(pool)
                .await
                .map_err(db("count webhook redeliveries"))?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            pub async fn redeliver(
                pool: &Pool,
                endpoint: WebhookEndpointId,
                delivery: i64,
                now: Timestamp,
                events: &[AuditEvent],
            ) -> Result<Option<i64>> {
                let mut tx = begin(pool).await?;
                let id: Option<(i64,)> = sqlx::query_as(
                    "INSERT INTO webhook_deliveries (endpoint_id, audit_seq, message_id, manual, \
                     state, attempts, next_attempt_at, created_at) \
                     SELECT endpoint_id, audit_seq, message_id, TRUE, 'pending', 0, $1, $1 \
                     FROM webhook_deliveries WHERE id = $2 AND endpoint_id = $3 \
                     AND state <> 'skipped' RETURNING id",
                )
                .bind(micros(now))
                .bind(delivery)
                .bind(endpoint.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("redeliver a webhook"))?;
                let Some((id,)) = id else {
                    return Ok(None);
                };
                <$store>::write_audit(&mut tx, events).await?;
                tx.commit().await.map_err(db("commit a webhook redelivery"))?;
                Ok(Some(id))
            }

            /// Counts, for the benchmark and the tests: deliveries per state.
            pub async fn counts(pool: &Pool) -> Result<Vec<(String, i64)>> {
                sqlx::query_as(
                    "SELECT state, COUNT(*) FROM webhook_deliveries GROUP BY state ORDER BY state",
                )
                .fetch_all(pool)
                .await
                .map_err(db("count webhook deliveries"))
            }
        }
    };
}

backend!(
    sqlite,
    sqlx::Sqlite,
    vitrine_store::sqlite::SqliteStore,
    "",
    |pool| pool.begin_with("BEGIN IMMEDIATE")
);
backend!(
    postgres,
    sqlx::Postgres,
    vitrine_store::postgres::PgStore,
    " FOR UPDATE OF d SKIP LOCKED",
    |pool| pool.begin()
);

/// The webhooks' storage on a store's pools.
#[derive(Clone, Copy)]
pub struct WebhookStore<'a> {
    pools: Pools<'a>,
}

macro_rules! both {
    ($self:ident, $f:ident ( $($arg:expr),* )) => {
        match $self.pools {
            Pools::Sqlite(pool) => sqlite::$f(pool, $($arg),*).await,
            Pools::Postgres(pool) => postgres::$f(pool, $($arg),*).await,
        }
    };
}

impl<'a> WebhookStore<'a> {
    pub fn new(store: &'a dyn vitrine_store::Store) -> Self {
        WebhookStore {
            pools: store.pools(),
        }
    }

    pub async fn insert_endpoint(
        self,
        endpoint: &Endpoint,
        secret_sealed: &[u8],
        events: &[AuditEvent],
    ) -> Result<()> {
        both!(self, insert_endpoint(endpoint, secret_sealed, events))
    }

    /// Writes the endpoint's new version (`endpoint.version`, checked against the one
    /// before), its subscriptions, audit events and emails, in one transaction.
    pub async fn update_endpoint(
        self,
        endpoint: &Endpoint,
        secret: &SecretChange,
        events: &[AuditEvent],
        emails: &[NewEmail],
    ) -> Result<()> {
        both!(self, update_endpoint(endpoint, secret, events, emails))
    }

    pub async fn delete_endpoint(self, endpoint: &Endpoint, events: &[AuditEvent]) -> Result<()> {
        both!(self, delete_endpoint(endpoint, events))
    }

    pub async fn endpoint(self, id: WebhookEndpointId) -> Result<Option<StoredEndpoint>> {
        both!(self, endpoint(id))
    }

    pub async fn endpoints_of(self, owner: Owner) -> Result<Vec<Endpoint>> {
        both!(self, endpoints_of(owner))
    }

    /// Claims up to `limit` deliveries that are due and first in their endpoint's queue,
    /// leased to `lease_until` (measured on the real time, as the outbox's leases).
    pub async fn claim(
        self,
        now: Timestamp,
        lease_now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<DeliveryRow>> {
        both!(self, claim(now, lease_now, lease_until, limit))
    }

    /// The audited change a delivery announces.
    pub async fn change(self, seq: i64) -> Result<Option<AuditedChange>> {
        both!(self, change(seq))
    }

    /// Records an attempt; `false` if the delivery was no longer pending.
    pub async fn record(self, id: i64, attempt: &Attempt, next: &Next) -> Result<bool> {
        both!(self, record(id, attempt, next))
    }

    /// An endpoint's deliveries, newest first, before `before` (a delivery id).
    pub async fn deliveries(
        self,
        endpoint: WebhookEndpointId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeliveryRow>> {
        both!(self, deliveries(endpoint, before, limit))
    }

    /// The attempts of an endpoint's deliveries whose ids are in `from..=to`, by delivery,
    /// oldest first.
    pub async fn attempts(
        self,
        endpoint: WebhookEndpointId,
        from: i64,
        to: i64,
    ) -> Result<Vec<AttemptRow>> {
        both!(self, attempts(endpoint, (from, to)))
    }

    pub async fn manual_since(self, endpoint: WebhookEndpointId, since: Timestamp) -> Result<u64> {
        both!(self, manual_since(endpoint, since))
    }

    /// Queues a delivery again (same message id), at the end of the endpoint's queue.
    /// `None` if the endpoint has no such delivery (or it was skipped).
    pub async fn redeliver(
        self,
        endpoint: WebhookEndpointId,
        delivery: i64,
        now: Timestamp,
        events: &[AuditEvent],
    ) -> Result<Option<i64>> {
        both!(self, redeliver(endpoint, delivery, now, events))
    }

    /// How many deliveries are in each state.
    pub async fn counts(self) -> Result<Vec<(String, i64)>> {
        both!(self, counts())
    }
}
