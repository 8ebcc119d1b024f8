//! The SQLite implementation of [`crate::Store`], the embedded default.
//!
//! Settings, and why: WAL, so readers never wait for the writer; `synchronous = NORMAL`,
//! durable across application crashes and fast (WAL makes it safe); foreign keys on; a busy
//! timeout, so concurrent writers queue instead of failing. Write transactions start with
//! `BEGIN IMMEDIATE`: a deferred transaction that reads first and writes later can fail with
//! `SQLITE_BUSY` when another writer got in between, whatever the timeout.
//!
//! The queries are shared with PostgreSQL (`shared::impl_store!`); this file holds
//! the connection setup and the `Dialect` parts: id lists are bound as a JSON array of hex
//! strings (`json_each`, `unhex`), and full-text search uses the FTS5 table `offerings_fts`.

use std::str::FromStr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqliteOperation, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous, UpdateHookResult,
};
use sqlx::{Sqlite, Transaction};
use tokio::sync::watch;
use uuid::Uuid;

use crate::shared::{CatalogCache, Dialect, db, impl_store};
use crate::{Change, Result, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Connections kept for a file database. Readers run in parallel under WAL; writers queue
/// on SQLite's single write lock whatever the pool size.
const MAX_CONNECTIONS: u32 = 8;

/// Counts the writes this process made to its SQLite databases that a cached answer may
/// show: the rows PostgreSQL's change notices stand for (an audit event, which every state
/// change writes; a session ended). Bumped by SQLite's update hook on every connection, so
/// the work done outside requests (the scheduler, inbound mail, check runs) reaches the
/// caches as a request's write does. One counter for the process: a notice about another
/// database opened by the same process (tests) only costs a cache miss.
static LOCAL_WRITES: LazyLock<watch::Sender<u64>> = LazyLock::new(|| watch::Sender::new(0));

/// The update hook fires before its transaction commits; the change is told again this
/// long after, when the commit is surely visible, so an answer computed in between from
/// the old rows is not kept.
const COMMIT_GRACE: Duration = Duration::from_millis(50);

fn note_write(change: UpdateHookResult<'_>) {
    let counts = match change.table {
        "audit_events" => matches!(change.operation, SqliteOperation::Insert),
        "sessions" => matches!(change.operation, SqliteOperation::Delete),
        _ => false,
    };
    if counts {
        LOCAL_WRITES.send_modify(|writes| *writes = writes.wrapping_add(1));
    }
}

/// A vitrine store in a SQLite database.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    catalog: Arc<CatalogCache>,
}

impl SqliteStore {
    const BACKEND: &'static str = "sqlite";

    /// Opens (creating it if missing, with its directory) the database `url` names
    /// (`sqlite://path/to/file.db` or `sqlite::memory:`) and runs pending migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut options = SqliteConnectOptions::from_str(url)
            .map_err(db("read the SQLite URL"))?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            .synchronous(SqliteSynchronous::Normal);
        let mut pool = SqlitePoolOptions::new();
        if memory {
            // An in-memory database lives as long as a connection to it: keep exactly one,
            // forever, so every query sees the same database.
            pool = pool
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        } else {
            options = options.journal_mode(SqliteJournalMode::Wal);
            if let Some(dir) = options.get_filename().parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Database {
                    context: "create the database directory",
                    source: sqlx::Error::Io(e),
                })?;
            }
            pool = pool.max_connections(MAX_CONNECTIONS);
        }
        let pool = pool
            .after_connect(|connection, _| {
                Box::pin(async move {
                    connection.lock_handle().await?.set_update_hook(note_write);
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(db("open the SQLite database"))?;
        Self::open(pool, &MIGRATOR).await
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db("begin a write"))
    }

    /// A deferred transaction: its reads see one snapshot, and it never blocks the writer.
    async fn begin_read(&self) -> Result<Transaction<'static, Sqlite>> {
        self.pool.begin().await.map_err(db("begin a read"))
    }

    /// One server per database file (`vitrine serve` locks it): no other server's changes
    /// to hear of, but this process's own writes outside requests ([`LOCAL_WRITES`]).
    async fn spawn_change_watch(&self, on_change: crate::ChangeHandler) -> Result<bool> {
        let mut writes = LOCAL_WRITES.subscribe();
        tokio::spawn(async move {
            // The sender is a static: it is never dropped.
            while writes.changed().await.is_ok() {
                if !on_change(Change::Write) {
                    return;
                }
                tokio::time::sleep(COMMIT_GRACE).await;
                if !on_change(Change::Write) {
                    return;
                }
            }
        });
        Ok(true)
    }

    /// Ids travel as a JSON array of hex strings, turned back into 16-byte blobs in SQL.
    fn ids_value(ids: &[Uuid]) -> String {
        let quoted: Vec<String> = ids
            .iter()
            .map(|id| format!("\"{}\"", id.simple()))
            .collect();
        format!("[{}]", quoted.join(","))
    }
}

/// The database file a SQLite URL names (`None` for an in-memory database, or a URL that
/// is not SQLite's), read as [`SqliteStore::connect`] reads it.
pub fn database_file(url: &str) -> Option<std::path::PathBuf> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_path_buf())
}

impl Dialect for SqliteStore {
    /// Binding costs grow faster than the number of parameters of a statement (measured:
    /// 10,000 audit rows took 1.7 s in statements of 1,000 rows), while a statement costs
    /// no round trip: small statements are cheapest.
    const ROWS_PER_STATEMENT: usize = 50;

    fn ids_in(column: &str, param: &str) -> String {
        format!("{column} IN {}", Self::id_rows(param))
    }

    fn id_rows(param: &str) -> String {
        format!("(SELECT unhex(value) AS id FROM json_each({param}))")
    }

    /// A unary `+` keeps SQLite's planner from using an index for the term.
    fn unindexed(column: &str) -> String {
        format!("+{column}")
    }

    /// `BEGIN IMMEDIATE` holds the database's write lock for the whole transaction.
    fn skip_locked() -> &'static str {
        ""
    }

    /// The matches are gathered once per statement; the page still walks the name index
    /// (`unindexed`): sorting every match of a broad search costs more than skipping the
    /// offerings that do not match.
    fn search_condition(param: &str) -> String {
        format!(
            "{} IN (SELECT rowid FROM offerings_fts WHERE offerings_fts MATCH {param})",
            Self::unindexed("o.seq")
        )
    }

    /// `"term"* AND ...`: each term a quoted prefix query. Terms hold only letters and
    /// digits; a double quote would still be escaped by doubling it.
    fn search_value(terms: &[String]) -> String {
        terms
            .iter()
            .map(|t| format!("\"{}\"*", t.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(" AND ")
    }
}

impl_store!(SqliteStore, Sqlite);
crate::inbound::impl_inbound_store!(SqliteStore, Sqlite);

impl<'a> From<&'a SqlitePool> for crate::Pools<'a> {
    fn from(pool: &'a SqlitePool) -> Self {
        crate::Pools::Sqlite(pool)
    }
}
