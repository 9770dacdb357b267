//! The HTTP test suite: every endpoint, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
mod helpers;

mod auth;
mod discount;
mod search;
