//! Web pages: see web.rs for the client.
