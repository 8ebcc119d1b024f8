//! The PostgreSQL implementation of [`crate::Store`], for several server instances sharing
//! one database.
//!
//! The queries are shared with SQLite (`shared::impl_store!`); this file holds the
//! connection setup and the `Dialect` parts: id lists are bound as one `uuid[]` parameter
//! (`= ANY($n)`), and full-text search matches a GIN-indexed tsvector of the document's words
//! against a prefix tsquery.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::{Change, ChangeHandler, Result};

/// The channel migration 0010's triggers notify: `write` or `clock`.
const CHANGES_CHANNEL: &str = "vitrine_changes";
use crate::shared::{CatalogCache, Dialect, db, impl_store};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per server instance.
const MAX_CONNECTIONS: u32 = 16;

/// A vitrine store in a PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    catalog: Arc<CatalogCache>,
}

impl PgStore {
    const BACKEND: &'static str = "postgres";

    /// Connects to the database `url` names (`postgres://user@host:port/database`) and runs
    /// pending migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let options: PgConnectOptions = url.parse().map_err(db("read the PostgreSQL URL"))?;
        // One direct attempt first: a pool retries until its acquire timeout and then says
        // only "pool timed out", hiding the real cause (connection refused, unknown
        // database, authentication) from the operator starting the server.
        PgConnection::connect_with(&options)
            .await
            .map_err(db("connect to PostgreSQL"))?
            .close()
            .await
            .map_err(db("close the first PostgreSQL connection"))?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(db("connect to PostgreSQL"))?;
        Self::open(pool, &MIGRATOR).await
    }

    /// READ COMMITTED is enough for writes: every update checks the version it read.
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(db("begin a write"))
    }

    /// One snapshot for every statement of a read (a catalog page and its count agree).
    async fn begin_read(&self) -> Result<Transaction<'static, Postgres>> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(db("begin a read"))
    }

    /// Listens on `vitrine_changes` (notified by the triggers of migration 0010) on a
    /// connection of its own, and hands each notice to `on_change` until it answers
    /// `false`. A lost connection is opened again by the next receive; what was notified
    /// meanwhile is unknown, hence [`Change::Missed`].
    async fn spawn_change_watch(&self, on_change: ChangeHandler) -> Result<bool> {
        let mut listener = PgListener::connect_with(&self.pool)
            .await
            .map_err(db("open a connection to listen for changes"))?;
        listener
            .listen(CHANGES_CHANNEL)
            .await
            .map_err(db("listen for changes"))?;
        tokio::spawn(async move {
            loop {
                let change = match listener.try_recv().await {
                    Ok(Some(notice)) if notice.payload() == "clock" => Change::Clock,
                    Ok(Some(_)) => Change::Write,
                    Ok(None) => Change::Missed,
                    Err(error) => {
                        tracing::warn!(%error, "listening for other servers' changes failed; retrying in 1 s");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        Change::Missed
                    }
                };
                if !on_change(change) {
                    return;
                }
            }
        });
        Ok(true)
    }

    fn ids_value(ids: &[Uuid]) -> Vec<Uuid> {
        ids.to_vec()
    }
}

impl Dialect for PgStore {
    /// Each statement is a round trip: 1,000 rows of up to 11 values stay far below the
    /// limit of 65,535 parameters.
    const ROWS_PER_STATEMENT: usize = 1000;

    fn ids_in(column: &str, param: &str) -> String {
        format!("{column} = ANY({param})")
    }

    fn id_rows(param: &str) -> String {
        format!("(SELECT unnest({param}::uuid[]) AS id)")
    }

    /// PostgreSQL's planner weighs the `LIMIT` against the name index itself.
    fn unindexed(column: &str) -> String {
        column.to_owned()
    }

    fn skip_locked() -> &'static str {
        " FOR UPDATE SKIP LOCKED"
    }

    /// `search_words` holds the document's words exactly (see the migrations).
    fn search_condition(param: &str) -> String {
        format!("o.search_words @@ {param}::tsquery")
    }

    /// `'term':* & ...`, read by the tsquery input function without any parser or
    /// dictionary, so terms stay exactly as folded. Quotes and backslashes are escaped.
    fn search_value(terms: &[String]) -> String {
        terms
            .iter()
            .map(|t| format!("'{}':*", t.replace('\\', "\\\\").replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(" & ")
    }
}

impl_store!(PgStore, Postgres);
crate::inbound::impl_inbound_store!(PgStore, Postgres);

impl<'a> From<&'a PgPool> for crate::Pools<'a> {
    fn from(pool: &'a PgPool) -> Self {
        crate::Pools::Postgres(pool)
    }
}
