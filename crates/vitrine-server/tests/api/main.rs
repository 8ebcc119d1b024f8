//! HTTP tests of the vitrine API: the real application on a loopback port, over every
//! available database backend (SQLite always; PostgreSQL with VITRINE_TEST_DATABASE_URL).

mod audit;
mod authz;
mod bad_input;
mod calendar;
mod catalog;
mod checks;
mod down;
mod go_live;
mod inbound;
mod languages;
mod ops;
mod outbox;
mod providers;
mod revisions;
mod sign_in;
mod signup;
mod smtp;
mod support;
mod uploads;
mod uploads_s3;
mod visibility;
mod web;
mod web_admin;
mod web_provider;
mod web_review;
mod web_revisions;
mod webhooks;
mod world;
