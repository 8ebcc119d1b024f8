//! Storage for the checked prerequisites: each offering's broker registration (its
//! password sealed by the caller), the check runs with their lease, report and verdicts,
//! and the resources a run has created on the broker and not yet removed.
//!
//! [`ChecksStore`] is an extension trait of every [`Store`]: written once here on the
//! store's own pools ([`Store::pools`]) for both backends, it writes audit events with the
//! store's own writer in the same transaction as the change. It lives outside
//! `vitrine-store`, which was at its crate size limit, the way the webhooks' storage does
//! (`vitrine-webhooks/src/store.rs`); below `vitrine-jobs`, whose publication step reads the
//! live broker. The report is stored as the checker wrote it (JSON text): the store reads
//! it back whole and never looks inside.

use async_trait::async_trait;
use vitrine_domain::audit::AuditEvent;
use vitrine_domain::checks::{BrokerRegistration, CheckRun, Verdicts};
use vitrine_domain::{CheckRunId, OfferingId, Timestamp};
use vitrine_store::{Pools, Result, Store};

/// A registration with its sealed password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBroker {
    pub registration: BrokerRegistration,
    pub password_sealed: Vec<u8>,
}

/// A run left running by a server that stopped: marked interrupted, with what it had
/// created on the broker (each resource as the checker serialised it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterruptedRun {
    pub run: CheckRun,
    pub resources: Vec<(String, String)>,
}

/// What a store keeps of the checked prerequisites; every [`Store`] has it.
#[async_trait]
pub trait ChecksStore: Send + Sync {
    async fn broker(&self, offering: OfferingId) -> Result<Option<StoredBroker>>;
    /// Registers or changes the offering's broker; `password_sealed: None` keeps the sealed
    /// password already stored (there must be one).
    async fn put_broker(
        &self,
        registration: &BrokerRegistration,
        password_sealed: Option<&[u8]>,
        events: &[AuditEvent],
    ) -> Result<()>;
    /// Queues a run.
    async fn insert_check_run(&self, run: &CheckRun, events: &[AuditEvent]) -> Result<()>;
    async fn check_run(&self, id: CheckRunId) -> Result<Option<CheckRun>>;
    /// The report of a finished (or interrupted) run, as stored.
    async fn check_report(&self, id: CheckRunId) -> Result<Option<String>>;
    /// The offering's runs, newest first, at most `limit`.
    async fn check_runs(&self, offering: OfferingId, limit: u32) -> Result<Vec<CheckRun>>;
    /// The offering's latest finished run: the evidence the checklist reads.
    async fn latest_finished_run(&self, offering: OfferingId) -> Result<Option<CheckRun>>;
    /// Claims the oldest queued run: it becomes running, leased to `lease_until`.
    async fn claim_check_run(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<CheckRun>>;
    /// Extends a running run's lease; `false` if it is no longer running (interrupted by
    /// another server that saw the lease run out: this one must stop).
    async fn renew_check_run(&self, id: CheckRunId, lease_until: Timestamp) -> Result<bool>;
    /// Records a resource the run is about to create on the broker.
    async fn add_check_resource(
        &self,
        run: CheckRunId,
        key: &str,
        resource: &str,
        at: Timestamp,
    ) -> Result<()>;
    /// Forgets a resource the run removed from the broker.
    async fn remove_check_resource(&self, run: CheckRunId, key: &str) -> Result<()>;
    /// Finishes a running run with its verdicts and report, and forgets its resources (the
    /// report names any left behind).
    async fn finish_check_run(
        &self,
        id: CheckRunId,
        finished_at: Timestamp,
        verdicts: &Verdicts,
        report: &str,
        events: &[AuditEvent],
    ) -> Result<()>;
    /// Marks interrupted every running run whose lease ended by `now`, and returns them with
    /// their recorded resources, for the caller to clean up until `cleanup_until`. An
    /// interrupted run not closed by the end of its cleanup lease (the cleaning server died
    /// too) is returned again, so what it left on the broker is not forgotten.
    async fn interrupt_stale_check_runs(
        &self,
        now: Timestamp,
        cleanup_until: Timestamp,
    ) -> Result<Vec<InterruptedRun>>;
    /// Ends the cleanup of an interrupted run: stores its report (what was removed, what
    /// could not be) and forgets its resources.
    async fn close_interrupted_run(
        &self,
        id: CheckRunId,
        finished_at: Timestamp,
        report: &str,
    ) -> Result<()>;
}

/// Calls the backend's function of the same name on the store's pool.
macro_rules! both {
    ($store:ident, $f:ident ( $($arg:expr),* )) => {
        match $store.pools() {
            Pools::Sqlite(pool) => sqlite::$f(pool, $($arg),*).await,
            Pools::Postgres(pool) => postgres::$f(pool, $($arg),*).await,
        }
    };
}

#[async_trait]
impl<S: Store + ?Sized> ChecksStore for S {
    async fn broker(&self, offering: OfferingId) -> Result<Option<StoredBroker>> {
        both!(self, broker(offering))
    }
    async fn put_broker(
        &self,
        registration: &BrokerRegistration,
        password_sealed: Option<&[u8]>,
        events: &[AuditEvent],
    ) -> Result<()> {
        both!(self, put_broker(registration, password_sealed, events))
    }
    async fn insert_check_run(&self, run: &CheckRun, events: &[AuditEvent]) -> Result<()> {
        both!(self, insert_check_run(run, events))
    }
    async fn check_run(&self, id: CheckRunId) -> Result<Option<CheckRun>> {
        both!(self, check_run(id))
    }
    async fn check_report(&self, id: CheckRunId) -> Result<Option<String>> {
        both!(self, check_report(id))
    }
    async fn check_runs(&self, offering: OfferingId, limit: u32) -> Result<Vec<CheckRun>> {
        both!(self, check_runs(offering, limit))
    }
    async fn latest_finished_run(&self, offering: OfferingId) -> Result<Option<CheckRun>> {
        both!(self, latest_finished_run(offering))
    }
    async fn claim_check_run(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<CheckRun>> {
        both!(self, claim_check_run(now, lease_until))
    }
    async fn renew_check_run(&self, id: CheckRunId, lease_until: Timestamp) -> Result<bool> {
        both!(self, renew_check_run(id, lease_until))
    }
    async fn add_check_resource(
        &self,
        run: CheckRunId,
        key: &str,
        resource: &str,
        at: Timestamp,
    ) -> Result<()> {
        both!(self, add_check_resource(run, key, resource, at))
    }
    async fn remove_check_resource(&self, run: CheckRunId, key: &str) -> Result<()> {
        both!(self, remove_check_resource(run, key))
    }
    async fn finish_check_run(
        &self,
        id: CheckRunId,
        finished_at: Timestamp,
        verdicts: &Verdicts,
        report: &str,
        events: &[AuditEvent],
    ) -> Result<()> {
        both!(
            self,
            finish_check_run(id, finished_at, verdicts, report, events)
        )
    }
    async fn interrupt_stale_check_runs(
        &self,
        now: Timestamp,
        cleanup_until: Timestamp,
    ) -> Result<Vec<InterruptedRun>> {
        both!(self, interrupt_stale_check_runs(now, cleanup_until))
    }
    async fn close_interrupted_run(
        &self,
        id: CheckRunId,
        finished_at: Timestamp,
        report: &str,
    ) -> Result<()> {
        both!(self, close_interrupted_run(id, finished_at, report))
    }
}

/// The SQL of both backends, written once: `$skip_locked` is what a claim adds to its
/// subquery (PostgreSQL's `FOR UPDATE SKIP LOCKED`; nothing on SQLite, whose writes take
/// the database's one write lock from their start) and `$begin` how a write starts (SQLite:
/// `BEGIN IMMEDIATE`, as the store's own writes).
macro_rules! backend {
    ($module:ident, $db:ty, $store:ty, $skip_locked:literal, |$pool:ident| $begin:expr) => {
        mod $module {
            use uuid::Uuid;
            use vitrine_domain::audit::AuditEvent;
            use vitrine_domain::checks::{
                BrokerRegistration, CheckRun, RunState, RunTrigger, Verdicts,
            };
            use vitrine_domain::{CheckRunId, OfferingId, Timestamp, UserId};
            use vitrine_store::{Result, StoreError};

            use vitrine_store::sql::{db, micros, opt_timestamp, timestamp, unique};

            use super::{InterruptedRun, StoredBroker};

            type Pool = sqlx::Pool<$db>;

            async fn begin($pool: &Pool) -> Result<sqlx::Transaction<'static, $db>> {
                $begin.await.map_err(db("begin a checks write"))
            }

            /// Ends a change: writes its audit events, then commits.
            async fn commit(
                mut tx: sqlx::Transaction<'static, $db>,
                events: &[AuditEvent],
                context: &'static str,
            ) -> Result<()> {
                <$store>::write_audit(&mut tx, events).await?;
                tx.commit().await.map_err(db(context))
            }

            #[derive(sqlx::FromRow)]
            struct BrokerRow {
                offering_id: Uuid,
                url: String,
                username: String,
                password_sealed: Vec<u8>,
                api_version: String,
                updated_at: i64,
                updated_by: Uuid,
            }

            #[derive(sqlx::FromRow)]
            struct RunRow {
                id: Uuid,
                offering_id: Uuid,
                trigger: String,
                started_by: Option<Uuid>,
                state: String,
                created_at: i64,
                started_at: Option<i64>,
                finished_at: Option<i64>,
                verdicts: Option<String>,
                broker: Option<String>,
            }

            impl RunRow {
                fn decode(self) -> Result<CheckRun> {
                    let corrupt = |what: &str, value: &str| {
                        StoreError::Corrupt(format!("check_runs.{what}: {value}"))
                    };
                    Ok(CheckRun {
                        id: CheckRunId(self.id),
                        offering_id: OfferingId(self.offering_id),
                        trigger: RunTrigger::parse(&self.trigger)
                            .ok_or_else(|| corrupt("trigger", &self.trigger))?,
                        started_by: self.started_by.map(UserId),
                        state: RunState::parse(&self.state)
                            .ok_or_else(|| corrupt("state", &self.state))?,
                        created_at: timestamp(self.created_at)?,
                        started_at: opt_timestamp(self.started_at)?,
                        finished_at: opt_timestamp(self.finished_at)?,
                        verdicts: self
                            .verdicts
                            .as_deref()
                            .map(serde_json::from_str::<Verdicts>)
                            .transpose()
                            .map_err(|e| corrupt("verdicts", &e.to_string()))?,
                        broker: self
                            .broker
                            .as_deref()
                            .map(serde_json::from_str)
                            .transpose()
                            .map_err(|e| corrupt("broker", &e.to_string()))?,
                    })
                }
            }

            const RUN_COLUMNS: &str = "id, offering_id, trigger, started_by, state, \
                 created_at, started_at, finished_at, verdicts, broker";

            fn encode_verdicts(verdicts: &Verdicts) -> Result<String> {
                serde_json::to_string(verdicts)
                    .map_err(|e| StoreError::Corrupt(format!("verdicts do not serialise: {e}")))
            }

            pub(super) async fn broker(
                pool: &Pool,
                offering: OfferingId,
            ) -> Result<Option<StoredBroker>> {
                let row: Option<BrokerRow> = sqlx::query_as(
                    "SELECT offering_id, url, username, password_sealed, api_version, \
                     updated_at, updated_by FROM broker_registrations WHERE offering_id = $1",
                )
                .bind(offering.0)
                .fetch_optional(pool)
                .await
                .map_err(db("read a broker registration"))?;
                row.map(|r| {
                    Ok(StoredBroker {
                        registration: BrokerRegistration {
                            offering_id: OfferingId(r.offering_id),
                            url: r.url,
                            username: r.username,
                            api_version: r.api_version,
                            updated_at: timestamp(r.updated_at)?,
                            updated_by: UserId(r.updated_by),
                        },
                        password_sealed: r.password_sealed,
                    })
                })
                .transpose()
            }

            pub(super) async fn put_broker(
                pool: &Pool,
                registration: &BrokerRegistration,
                password_sealed: Option<&[u8]>,
                events: &[AuditEvent],
            ) -> Result<()> {
                let mut tx = begin(pool).await?;
                let done = match password_sealed {
                    Some(sealed) => sqlx::query(
                        "INSERT INTO broker_registrations (offering_id, url, username, \
                         password_sealed, api_version, updated_at, updated_by) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (offering_id) \
                         DO UPDATE SET url = excluded.url, username = excluded.username, \
                         password_sealed = excluded.password_sealed, \
                         api_version = excluded.api_version, \
                         updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                    )
                    .bind(registration.offering_id.0)
                    .bind(registration.url.as_str())
                    .bind(registration.username.as_str())
                    .bind(sealed)
                    .bind(registration.api_version.as_str())
                    .bind(micros(registration.updated_at))
                    .bind(registration.updated_by.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("register a broker"))?,
                    None => sqlx::query(
                        "UPDATE broker_registrations SET url = $2, username = $3, \
                         api_version = $4, updated_at = $5, updated_by = $6 \
                         WHERE offering_id = $1",
                    )
                    .bind(registration.offering_id.0)
                    .bind(registration.url.as_str())
                    .bind(registration.username.as_str())
                    .bind(registration.api_version.as_str())
                    .bind(micros(registration.updated_at))
                    .bind(registration.updated_by.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("change a broker registration"))?,
                };
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                commit(tx, events, "commit a broker registration").await
            }

            pub(super) async fn insert_check_run(
                pool: &Pool,
                run: &CheckRun,
                events: &[AuditEvent],
            ) -> Result<()> {
                let mut tx = begin(pool).await?;
                sqlx::query(
                    "INSERT INTO check_runs (id, offering_id, trigger, started_by, state, \
                     created_at, broker) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(run.id.0)
                .bind(run.offering_id.0)
                .bind(run.trigger.as_str())
                .bind(run.started_by.map(|u| u.0))
                .bind(run.state.as_str())
                .bind(micros(run.created_at))
                .bind(run.broker.as_ref().and_then(|b| serde_json::to_string(b).ok()))
                .execute(&mut *tx)
                .await
                .map_err(unique("id", "queue a check run"))?;
                commit(tx, events, "commit a check run").await
            }

            pub(super) async fn check_run(
                pool: &Pool,
                id: CheckRunId,
            ) -> Result<Option<CheckRun>> {
                let sql = format!("SELECT {RUN_COLUMNS} FROM check_runs WHERE id = $1");
                let row: Option<RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(id.0)
                    .fetch_optional(pool)
                    .await
                    .map_err(db("read a check run"))?;
                row.map(RunRow::decode).transpose()
            }

            pub(super) async fn check_report(
                pool: &Pool,
                id: CheckRunId,
            ) -> Result<Option<String>> {
                let row: Option<(Option<String>,)> =
                    sqlx::query_as("SELECT report FROM check_runs WHERE id = $1")
                        .bind(id.0)
                        .fetch_optional(pool)
                        .await
                        .map_err(db("read a check report"))?;
                Ok(row.and_then(|(r,)| r))
            }

            pub(super) async fn check_runs(
                pool: &Pool,
                offering: OfferingId,
                limit: u32,
            ) -> Result<Vec<CheckRun>> {
                let sql = format!(
                    "SELECT {RUN_COLUMNS} FROM check_runs WHERE offering_id = $1 \
                     ORDER BY created_at DESC, id DESC LIMIT $2"
                );
                let rows: Vec<RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(offering.0)
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await
                    .map_err(db("list check runs"))?;
                rows.into_iter().map(RunRow::decode).collect()
            }

            pub(super) async fn latest_finished_run(
                pool: &Pool,
                offering: OfferingId,
            ) -> Result<Option<CheckRun>> {
                let sql = format!(
                    "SELECT {RUN_COLUMNS} FROM check_runs WHERE offering_id = $1 \
                     AND state = 'finished' ORDER BY finished_at DESC, id DESC LIMIT 1"
                );
                let row: Option<RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(offering.0)
                    .fetch_optional(pool)
                    .await
                    .map_err(db("read the latest check run"))?;
                row.map(RunRow::decode).transpose()
            }

            pub(super) async fn claim_check_run(
                pool: &Pool,
                now: Timestamp,
                lease_until: Timestamp,
            ) -> Result<Option<CheckRun>> {
                let sql = format!(
                    "UPDATE check_runs SET state = 'running', started_at = $1, \
                     locked_until = $2 WHERE id IN (SELECT id FROM check_runs \
                     WHERE state = 'queued' ORDER BY created_at, id LIMIT 1{}) \
                     RETURNING {RUN_COLUMNS}",
                    $skip_locked
                );
                let mut tx = begin(pool).await?;
                let row: Option<RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(micros(now))
                    .bind(micros(lease_until))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db("claim a check run"))?;
                tx.commit().await.map_err(db("commit a check run claim"))?;
                row.map(RunRow::decode).transpose()
            }

            pub(super) async fn renew_check_run(
                pool: &Pool,
                id: CheckRunId,
                lease_until: Timestamp,
            ) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE check_runs SET locked_until = $2 \
                     WHERE id = $1 AND state = 'running'",
                )
                .bind(id.0)
                .bind(micros(lease_until))
                .execute(pool)
                .await
                .map_err(db("renew a check run's lease"))?;
                Ok(done.rows_affected() == 1)
            }

            pub(super) async fn add_check_resource(
                pool: &Pool,
                run: CheckRunId,
                key: &str,
                resource: &str,
                at: Timestamp,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO check_resources (run_id, key, resource, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (run_id, key) DO NOTHING",
                )
                .bind(run.0)
                .bind(key)
                .bind(resource)
                .bind(micros(at))
                .execute(pool)
                .await
                .map_err(db("record a check resource"))?;
                Ok(())
            }

            pub(super) async fn remove_check_resource(
                pool: &Pool,
                run: CheckRunId,
                key: &str,
            ) -> Result<()> {
                sqlx::query("DELETE FROM check_resources WHERE run_id = $1 AND key = $2")
                    .bind(run.0)
                    .bind(key)
                    .execute(pool)
                    .await
                    .map_err(db("forget a check resource"))?;
                Ok(())
            }

            pub(super) async fn finish_check_run(
                pool: &Pool,
                id: CheckRunId,
                finished_at: Timestamp,
                verdicts: &Verdicts,
                report: &str,
                events: &[AuditEvent],
            ) -> Result<()> {
                let verdicts = encode_verdicts(verdicts)?;
                let mut tx = begin(pool).await?;
                let done = sqlx::query(
                    "UPDATE check_runs SET state = 'finished', finished_at = $2, \
                     locked_until = NULL, verdicts = $3, report = $4 \
                     WHERE id = $1 AND state = 'running'",
                )
                .bind(id.0)
                .bind(micros(finished_at))
                .bind(verdicts)
                .bind(report)
                .execute(&mut *tx)
                .await
                .map_err(db("finish a check run"))?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::Conflict { what: "the check run" });
                }
                sqlx::query("DELETE FROM check_resources WHERE run_id = $1")
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("forget a finished run's resources"))?;
                commit(tx, events, "commit a finished check run").await
            }

            pub(super) async fn interrupt_stale_check_runs(
                pool: &Pool,
                now: Timestamp,
                cleanup_until: Timestamp,
            ) -> Result<Vec<InterruptedRun>> {
                // `locked_until` of an interrupted run is its cleanup's lease (none on
                // rows interrupted before it was kept: they are cleaned up now).
                let sql = format!(
                    "UPDATE check_runs SET state = 'interrupted', locked_until = $2 \
                     WHERE (state = 'running' AND locked_until <= $1) \
                        OR (state = 'interrupted' AND finished_at IS NULL \
                            AND COALESCE(locked_until, 0) <= $1) \
                     RETURNING {RUN_COLUMNS}"
                );
                let mut tx = begin(pool).await?;
                let rows: Vec<RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(micros(now))
                    .bind(micros(cleanup_until))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db("interrupt stale check runs"))?;
                let mut interrupted = Vec::with_capacity(rows.len());
                for row in rows {
                    let run = row.decode()?;
                    let resources: Vec<(String, String)> = sqlx::query_as(
                        "SELECT key, resource FROM check_resources WHERE run_id = $1 \
                         ORDER BY created_at, key",
                    )
                    .bind(run.id.0)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db("read an interrupted run's resources"))?;
                    interrupted.push(InterruptedRun { run, resources });
                }
                tx.commit().await.map_err(db("commit interrupted check runs"))?;
                Ok(interrupted)
            }

            pub(super) async fn close_interrupted_run(
                pool: &Pool,
                id: CheckRunId,
                finished_at: Timestamp,
                report: &str,
            ) -> Result<()> {
                let mut tx = begin(pool).await?;
                sqlx::query(
                    "UPDATE check_runs SET finished_at = $2, report = $3, \
                     locked_until = NULL \
                     WHERE id = $1 AND state = 'interrupted' AND finished_at IS NULL",
                )
                .bind(id.0)
                .bind(micros(finished_at))
                .bind(report)
                .execute(&mut *tx)
                .await
                .map_err(db("close an interrupted run"))?;
                sqlx::query("DELETE FROM check_resources WHERE run_id = $1")
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("forget an interrupted run's resources"))?;
                tx.commit().await.map_err(db("commit a closed run"))
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
    " FOR UPDATE SKIP LOCKED",
    |pool| pool.begin()
);
