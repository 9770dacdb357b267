//! Key/value settings kept in the database, such as the generated JWT signing key, so that
//! every replica of a deployment shares them without extra configuration.

use crate::{now, sql, Conn, StoreResult};

pub async fn get(c: &mut Conn<'_>, key: &str) -> StoreResult<Option<String>> {
    sql::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(key)
        .fetch_optional(c)
        .await
}

/// Stores `value` under `key` unless a value is there already, and returns the stored one:
/// two replicas starting at once agree on the first writer's value.
pub async fn get_or_insert(c: &mut Conn<'_>, key: &str, value: &str) -> StoreResult<String> {
    sql::query("INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING")
        .bind(key)
        .bind(value)
        .bind(now())
        .execute(c)
        .await?;
    get(c, key).await?.ok_or(crate::StoreError::NotFound)
}
