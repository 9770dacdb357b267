//! Bodega's storage. One set of queries runs on two backends: an embedded SQLite file (the
//! default, zero set-up) and PostgreSQL (by URL, for production and several replicas).
//!
//! Queries are written once with `$1` placeholders, which both backends accept, and dispatched
//! to the typed pool of the backend in use by the [`exec!`] macro. Typed pools rather than
//! sqlx's `Any` driver: `Any` cannot decode booleans on SQLite nor timestamps on PostgreSQL.
//! Timestamps are always bound from Rust (never SQL defaults) so both backends store them alike.

pub mod alerts;
pub mod api_keys;
pub mod audit;
pub mod catalog;
mod db;
pub mod error;
pub mod import;
pub mod orders;
pub mod outbox;
pub mod people;
pub mod reorders;
pub mod reservations;
pub mod roles;
pub mod sales;
pub mod sessions;
pub mod settings;
pub mod stock;
pub mod users;

pub use db::{Backend, Conn, Db, Tx};
pub use error::{Shortage, StoreError, StoreResult};

/// Runs `$body` with `$e` bound to the backend's connection (an sqlx executor) behind `$conn`,
/// a `&mut Conn`. The body is compiled once per backend, so it must be valid for both.
#[macro_export]
macro_rules! exec {
    ($conn:expr, |$e:ident| $body:expr) => {
        match $conn {
            $crate::Conn::Sqlite($e) => {
                let $e = &mut **$e;
                $body
            }
            $crate::Conn::Postgres($e) => {
                let $e = &mut **$e;
                $body
            }
        }
    };
}

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
