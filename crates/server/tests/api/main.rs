//! The HTTP test suite: every endpoint, on SQLite and on PostgreSQL.

mod helpers;

mod auth;
