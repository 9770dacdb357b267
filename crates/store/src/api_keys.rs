//! API keys for services (such as the ERP client of the `/api/ml` contract), sent as
//! `x-api-key`. Only a SHA-256 hash of the key is stored: keys are 256-bit random, so a fast
//! hash is safe and keeps the per-request look-up cheap (unlike passwords, which use Argon2).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audit::{self, Actor};
use crate::{now, sql, Conn, FromRow, StoreResult};
use bodega_domain::PermissionSet;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    /// The first characters of the key, to tell keys apart without revealing them.
    pub prefix: String,
    pub permissions: Vec<String>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(FromRow)]
struct ApiKeyRow {
    id: i64,
    name: String,
    prefix: String,
    permissions: String,
    created_by: Option<i64>,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyRow> for ApiKey {
    fn from(r: ApiKeyRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            prefix: r.prefix,
            permissions: PermissionSet::from_storage(&r.permissions).names(),
            created_by: r.created_by,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        }
    }
}

const COLUMNS: &str = "id, name, prefix, permissions, created_by, created_at, expires_at, last_used_at, revoked_at";

pub struct NewApiKey<'a> {
    pub name: &'a str,
    pub prefix: &'a str,
    pub key_hash: &'a str,
    pub permissions: &'a PermissionSet,
    pub created_by: Option<i64>,
    pub expires_at: Option<DateTime<Utc>>,
}

pub async fn create(c: &mut Conn<'_>, actor: &Actor, new: &NewApiKey<'_>) -> StoreResult<ApiKey> {
    let row: ApiKeyRow = sql::query_as(format!(
        "INSERT INTO api_keys (name, prefix, key_hash, permissions, created_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(new.name)
    .bind(new.prefix)
    .bind(new.key_hash)
    .bind(new.permissions.to_storage())
    .bind(new.created_by)
    .bind(now())
    .bind(new.expires_at)
    .fetch_one(c)
    .await?;
    let key = ApiKey::from(row);
    audit::record(c, actor, "create", "api_key", key.id, None::<&ApiKey>, Some(&key)).await?;
    Ok(key)
}

pub async fn list(c: &mut Conn<'_>) -> StoreResult<Vec<ApiKey>> {
    let rows: Vec<ApiKeyRow> = sql::query_as(format!("SELECT {COLUMNS} FROM api_keys ORDER BY id"))
        .fetch_all(c)
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub async fn get(c: &mut Conn<'_>, id: i64) -> StoreResult<ApiKey> {
    let row: ApiKeyRow = sql::query_as(format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1"))
        .bind(id)
        .fetch_one(c)
        .await?;
    Ok(row.into())
}

/// Revokes a key; it stays listed, marked revoked, for the audit trail.
pub async fn revoke(c: &mut Conn<'_>, actor: &Actor, id: i64) -> StoreResult<ApiKey> {
    let before = get(c, id).await?;
    sql::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now())
        .bind(id)
        .execute(c)
        .await?;
    let after = get(c, id).await?;
    audit::record(c, actor, "revoke", "api_key", id, Some(&before), Some(&after)).await?;
    Ok(after)
}

/// The key behind a presented secret's hash, when it is live: not revoked, not expired, and its
/// creator still an active user (deactivating a person retires the keys they made).
pub async fn authenticate(c: &mut Conn<'_>, key_hash: &str) -> StoreResult<Option<ApiKey>> {
    let row: Option<ApiKeyRow> = sql::query_as(format!(
        "SELECT {COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
           AND (created_by IS NULL OR EXISTS (SELECT 1 FROM users u WHERE u.id = api_keys.created_by AND u.is_active))"
    ))
    .bind(key_hash)
    .bind(now())
    .fetch_optional(c)
    .await?;
    Ok(row.map(Into::into))
}

pub async fn touch(c: &mut Conn<'_>, id: i64) -> StoreResult<()> {
    sql::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
        .bind(now())
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}
