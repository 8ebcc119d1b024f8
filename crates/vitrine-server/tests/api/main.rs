//! HTTP tests of the vitrine API: the real application on a loopback port, over every
//! available database backend (SQLite always; PostgreSQL with VITRINE_TEST_DATABASE_URL).

mod authz;
mod support;
mod world;
