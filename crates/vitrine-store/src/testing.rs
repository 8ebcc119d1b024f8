//! Test support shared by the store's contract tests and the server's HTTP tests: a fresh,
//! empty database per test on each backend.
//!
//! SQLite is always available. PostgreSQL is used when `VITRINE_TEST_DATABASE_URL` names a
//! server (for example `postgres://postgres@127.0.0.1:5432/postgres`): each
//! [`TestDatabase`] creates its own database there and drops it afterwards. Without the
//! variable PostgreSQL tests say plainly that they skipped, unless
//! `VITRINE_TEST_REQUIRE_POSTGRES=1`, which turns the skip into a failure (CI sets it).

// STUB: the store implementation replaces this module.

/// A fresh database for one test.
pub struct TestDatabase {
    /// URL to pass to [`crate::open`].
    pub url: String,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
}

impl TestDatabase {
    /// A fresh SQLite database in a temporary directory.
    pub async fn sqlite() -> TestDatabase {
        todo!()
    }
    /// A fresh PostgreSQL database, or `None` (with a message) when none is configured.
    pub async fn postgres() -> Option<TestDatabase> {
        todo!()
    }
    /// One fresh database per available backend: SQLite, then PostgreSQL when configured.
    pub async fn all() -> Vec<TestDatabase> {
        todo!()
    }
}
