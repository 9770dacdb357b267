//! Sign-in sessions. A session holds the hash of its current refresh token; each refresh
//! rotates it and keeps the previous hash, so a replayed (stolen) refresh token is recognised
//! and revokes the whole session. Access tokens name their session, so revoking a session
//! (logout, password change, replay) invalidates its access tokens at once.

use chrono::{DateTime, Utc};

use crate::{now, sql, Conn, FromRow, StoreResult};
use bodega_domain::PermissionSet;

pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: i64,
    pub refresh_hash: &'a str,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

pub async fn create(c: &mut Conn<'_>, s: &NewSession<'_>) -> StoreResult<()> {
    let at = now();
    sql::query(
        "INSERT INTO sessions (id, user_id, refresh_hash, created_at, refreshed_at, expires_at, ip, user_agent)
         VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
    )
    .bind(s.id)
    .bind(s.user_id)
    .bind(s.refresh_hash)
    .bind(at)
    .bind(s.expires_at)
    .bind(s.ip)
    .bind(s.user_agent)
    .execute(c)
    .await?;
    Ok(())
}

/// The outcome of presenting a refresh token.
pub enum RefreshLookup {
    /// The current token of a live session.
    Current { session_id: String, user_id: i64 },
    /// A token already rotated away: someone replayed it. The session has been revoked.
    Replayed,
    /// Unknown, expired or revoked.
    Invalid,
}

#[derive(FromRow)]
struct SessionRow {
    id: String,
    user_id: i64,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

/// Finds the session of a refresh token; a replayed token revokes its session.
pub async fn lookup_refresh(c: &mut Conn<'_>, refresh_hash: &str) -> StoreResult<RefreshLookup> {
    let current: Option<SessionRow> =
        sql::query_as("SELECT id, user_id, expires_at, revoked_at FROM sessions WHERE refresh_hash = $1")
            .bind(refresh_hash)
            .fetch_optional(c)
            .await?;
    if let Some(s) = current {
        if s.revoked_at.is_none() && s.expires_at > now() {
            return Ok(RefreshLookup::Current {
                session_id: s.id,
                user_id: s.user_id,
            });
        }
        return Ok(RefreshLookup::Invalid);
    }
    let replayed: Option<String> = sql::query_scalar("SELECT id FROM sessions WHERE previous_hash = $1")
        .bind(refresh_hash)
        .fetch_optional(c)
        .await?;
    match replayed {
        Some(id) => {
            revoke(c, &id, "refresh token replayed").await?;
            Ok(RefreshLookup::Replayed)
        }
        None => Ok(RefreshLookup::Invalid),
    }
}

/// Swaps in a new refresh token, guarded on the old one so that two concurrent refreshes
/// with the same token cannot both succeed. Returns false when the old token was not current.
pub async fn rotate(c: &mut Conn<'_>, session_id: &str, old_hash: &str, new_hash: &str) -> StoreResult<bool> {
    let done = sql::query(
        "UPDATE sessions SET previous_hash = refresh_hash, refresh_hash = $1, refreshed_at = $2
         WHERE id = $3 AND refresh_hash = $4 AND revoked_at IS NULL",
    )
    .bind(new_hash)
    .bind(now())
    .bind(session_id)
    .bind(old_hash)
    .execute(c)
    .await?;
    Ok(done == 1)
}

pub async fn revoke(c: &mut Conn<'_>, session_id: &str, reason: &str) -> StoreResult<()> {
    sql::query("UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL")
        .bind(now())
        .bind(reason)
        .bind(session_id)
        .execute(c)
        .await?;
    Ok(())
}

/// Revokes every live session of a user except `keep` (used on password change).
pub async fn revoke_all_for_user(c: &mut Conn<'_>, user_id: i64, keep: Option<&str>, reason: &str) -> StoreResult<()> {
    sql::query(
        "UPDATE sessions SET revoked_at = $1, revoked_reason = $2
         WHERE user_id = $3 AND revoked_at IS NULL AND ($4 IS NULL OR id <> $4)",
    )
    .bind(now())
    .bind(reason)
    .bind(user_id)
    .bind(keep)
    .execute(c)
    .await?;
    Ok(())
}

/// The caller behind an access token, loaded once per request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i64,
    pub email: String,
    pub role: String,
    pub permissions: PermissionSet,
    pub session_expires_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct PrincipalRow {
    user_id: i64,
    email: String,
    role: String,
    permissions: String,
    expires_at: DateTime<Utc>,
}

/// The active user of a live session, or `None` when the session is revoked or expired or the
/// user deactivated.
pub async fn principal(c: &mut Conn<'_>, session_id: &str) -> StoreResult<Option<Principal>> {
    let row: Option<PrincipalRow> = sql::query_as(
        "SELECT u.id AS user_id, u.email, r.name AS role, r.permissions, s.expires_at
         FROM sessions s JOIN users u ON u.id = s.user_id JOIN roles r ON r.id = u.role_id
         WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND u.is_active",
    )
    .bind(session_id)
    .bind(now())
    .fetch_optional(c)
    .await?;
    Ok(row.map(|r| Principal {
        user_id: r.user_id,
        email: r.email,
        role: r.role,
        permissions: PermissionSet::from_storage(&r.permissions),
        session_expires_at: r.expires_at,
    }))
}
