//! Bodega's storage. One set of queries runs on two backends: an embedded SQLite file (the
//! default, zero set-up) and PostgreSQL (by URL, for production and several replicas).
//!
//! Queries are written once with `$1` placeholders and run through [`sql`], which executes
//! them on sqlx (PostgreSQL) or rusqlite (SQLite, in-thread: see `sql.rs` for why).
//! Timestamps are always bound from Rust (never SQL defaults) so both backends store them alike.

pub mod alerts;
pub mod analytics;
pub mod api_keys;
pub mod audit;
pub mod catalog;
mod db;
pub mod error;
pub mod forecasts;
mod group_commit;
pub mod import;
pub mod jobs;
pub mod orders;
pub mod outbox;
pub mod people;
pub mod recommendations;
pub mod reorders;
pub mod reservations;
pub mod roles;
pub mod sales;
pub mod sessions;
pub mod settings;
pub mod sql;
pub mod stock;
pub mod users;

// The derive's expansion names `::bodega_store`, also inside this crate.
extern crate self as bodega_store;

pub use bodega_store_derive::FromRow;
pub use db::{Backend, Conn, Db, PooledReader, ReadConn, SqliteDb, Tx};
pub use error::{Shortage, StoreError, StoreResult};
pub use group_commit::WriteTx;

/// A `LIKE` pattern matching `text` anywhere, with `%`, `_` and `\` taken literally; use it
/// with `LIKE $n ESCAPE '\'`.
pub fn contains_pattern(text: &str) -> String {
    let literal = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{literal}%")
}

/// Current time truncated to microseconds, the precision both backends keep, so that a value
/// read back equals the value written.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{DurationRound, TimeDelta};
    let now = chrono::Utc::now();
    now.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(now)
}
