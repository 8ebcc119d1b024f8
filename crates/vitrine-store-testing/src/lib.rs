//! Test support shared by the store's contract tests and the server's HTTP tests: a fresh,
//! empty database per test on each backend.
//!
//! SQLite is always available. PostgreSQL is used when `VITRINE_TEST_DATABASE_URL` names a
//! server (for example `postgres://postgres@127.0.0.1:5432/postgres`): each
//! [`TestDatabase`] creates its own database there and drops it afterwards. Without the
//! variable PostgreSQL tests say plainly that they skipped, unless
//! `VITRINE_TEST_REQUIRE_POSTGRES=1`, which turns the skip into a failure (CI sets it).
//!
//! This module panics instead of returning errors: it is only used by tests, where a
//! database that cannot be prepared should stop the test with a clear message.

use std::path::PathBuf;

use sqlx::{AssertSqlSafe, Connection};

/// The server PostgreSQL tests create their databases on.
pub const DATABASE_URL_VAR: &str = "VITRINE_TEST_DATABASE_URL";
/// Set to `1` to make a missing PostgreSQL a failure instead of a skip.
pub const REQUIRE_POSTGRES_VAR: &str = "VITRINE_TEST_REQUIRE_POSTGRES";

/// A fresh database for one test. Dropping it removes the database.
pub struct TestDatabase {
    /// URL to pass to [`vitrine_store::open`].
    pub url: String,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    _cleanup: Cleanup,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("url", &self.url)
            .field("backend", &self.backend)
            .finish()
    }
}

impl TestDatabase {
    /// A fresh SQLite database in a temporary directory.
    pub async fn sqlite() -> TestDatabase {
        let dir = std::env::temp_dir().join(format!("vitrine-test-{}", unique_suffix()));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create test directory {}: {e}", dir.display()));
        let path = dir.join("vitrine.db");
        TestDatabase {
            url: format!("sqlite://{}", path.display()),
            backend: "sqlite",
            _cleanup: Cleanup::Directory(dir),
        }
    }

    /// A fresh PostgreSQL database, or `None` (with a message) when none is configured.
    pub async fn postgres() -> Option<TestDatabase> {
        let Some(admin_url) = std::env::var(DATABASE_URL_VAR)
            .ok()
            .filter(|u| !u.trim().is_empty())
        else {
            if std::env::var(REQUIRE_POSTGRES_VAR).is_ok_and(|v| v == "1") {
                panic!(
                    "{REQUIRE_POSTGRES_VAR}=1 but {DATABASE_URL_VAR} is not set: \
                     set it to a PostgreSQL server URL such as \
                     postgres://postgres@127.0.0.1:5432/postgres"
                );
            }
            eprintln!("skipped: PostgreSQL (set {DATABASE_URL_VAR} to run)");
            return None;
        };
        let name = format!("vitrine_test_{}", unique_suffix());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {DATABASE_URL_VAR}={admin_url}: {e}"));
        // The name is generated here (letters, digits, underscores): safe to splice in.
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let _ = admin.close().await;
        Some(TestDatabase {
            url: with_database(&admin_url, &name),
            backend: "postgres",
            _cleanup: Cleanup::PgDatabase { admin_url, name },
        })
    }

    /// One fresh database per available backend: SQLite, then PostgreSQL when configured.
    pub async fn all() -> Vec<TestDatabase> {
        let mut all = vec![TestDatabase::sqlite().await];
        all.extend(TestDatabase::postgres().await);
        all
    }

    /// Opens the store on this database (running the migrations).
    pub async fn open(&self) -> Box<dyn vitrine_store::Store> {
        vitrine_store::open(&self.url).await.unwrap_or_else(|e| {
            panic!(
                "cannot open {} test database {}: {e}",
                self.backend, self.url
            )
        })
    }
}

/// What to remove when the test is over.
enum Cleanup {
    Directory(PathBuf),
    PgDatabase { admin_url: String, name: String },
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        match self {
            Cleanup::Directory(dir) => {
                // SQLite's WAL and shared-memory files live next to the database: remove all.
                if let Err(e) = std::fs::remove_dir_all(&*dir) {
                    eprintln!("could not remove test directory {}: {e}", dir.display());
                }
            }
            Cleanup::PgDatabase { admin_url, name } => {
                // Drop is synchronous and may run inside the test's runtime, where blocking on
                // a future is not allowed: run the DROP on a thread with its own runtime.
                let (admin_url, name) = (admin_url.clone(), name.clone());
                let dropped = std::thread::spawn(move || drop_pg_database(&admin_url, &name))
                    .join()
                    .map_err(|_| "the thread dropping the database panicked".to_owned())
                    .and_then(|r| r);
                if let Err(e) = dropped {
                    eprintln!("could not drop test database: {e}");
                }
            }
        }
    }
}

fn drop_pg_database(admin_url: &str, name: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    runtime.block_on(async {
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .map_err(|e| format!("cannot connect to {admin_url}: {e}"))?;
        // WITH (FORCE) ends the test's pooled connections that are still open.
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await
        .map_err(|e| format!("cannot drop {name}: {e}"))?;
        let _ = admin.close().await;
        Ok(())
    })
}

/// A suffix no other test (in this process or another) uses: UUID v7 carries 74 random bits.
fn unique_suffix() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// `url` with its database (path) replaced by `name`, keeping user, host and parameters.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_is_replaced_in_urls() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "t3"), "postgres://h/t3");
    }
}
