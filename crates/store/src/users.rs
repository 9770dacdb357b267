//! Users who sign in to Bodega. Password hashes never leave this module except to the login
//! check ([`Credentials`]); every public view is [`User`].

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audit::{self, Actor};
use crate::{now, sql, Backend, Conn, FromRow, StoreResult};
use bodega_domain::{Page, PageRequest};

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub role_id: i64,
    pub role: String,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

/// What the login check needs.
#[derive(Debug, Clone, FromRow)]
pub struct Credentials {
    pub id: i64,
    pub password_hash: String,
    pub is_active: bool,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub role_id: i64,
}

/// Fields an administrator may change; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<Option<String>>,
    pub role_id: Option<i64>,
    pub is_active: Option<bool>,
}

const SELECT: &str = "SELECT u.id, u.email, u.first_name, u.last_name, u.phone, u.role_id, r.name AS role,
    u.is_active, u.created_at, u.updated_at, u.last_login_at FROM users u JOIN roles r ON r.id = u.role_id";

pub async fn get(c: &mut Conn<'_>, id: i64) -> StoreResult<User> {
    sql::query_as(format!("{SELECT} WHERE u.id = $1"))
        .bind(id)
        .fetch_one(c)
        .await
}

pub async fn credentials_by_email(c: &mut Conn<'_>, email: &str) -> StoreResult<Option<Credentials>> {
    sql::query_as("SELECT id, password_hash, is_active FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(c)
        .await
}

pub async fn credentials_by_id(c: &mut Conn<'_>, id: i64) -> StoreResult<Credentials> {
    sql::query_as("SELECT id, password_hash, is_active FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(c)
        .await
}

pub async fn list(c: &mut Conn<'_>, q: Option<&str>, page: PageRequest) -> StoreResult<Page<User>> {
    let pattern = q.map(|q| crate::contains_pattern(&q.to_lowercase()));
    const WHERE: &str =
        "WHERE ($1 IS NULL OR LOWER(u.email) LIKE $1 ESCAPE '\\' OR LOWER(u.first_name || ' ' || u.last_name) LIKE $1 ESCAPE '\\')";
    let total: i64 = sql::query_scalar(format!("SELECT COUNT(*) FROM users u {WHERE}"))
        .bind(&pattern)
        .fetch_one(c)
        .await?;
    let items: Vec<User> = sql::query_as(format!("{SELECT} {WHERE} ORDER BY u.id LIMIT $2 OFFSET $3"))
        .bind(&pattern)
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(c)
        .await?;
    Ok(Page::new(items, total, page))
}

pub async fn create(c: &mut Conn<'_>, actor: &Actor, new: &NewUser) -> StoreResult<User> {
    let at = now();
    let id: i64 = sql::query_scalar(
        "INSERT INTO users (email, password_hash, first_name, last_name, phone, role_id, is_active, created_at, updated_at, password_changed_at)
         VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7, $7, $7) RETURNING id"
    )
    .bind(&new.email)
    .bind(&new.password_hash)
    .bind(&new.first_name)
    .bind(&new.last_name)
    .bind(&new.phone)
    .bind(new.role_id)
    .bind(at)
    .fetch_one(c)
    .await?;
    let user = get(c, id).await?;
    audit::record(c, actor, "create", "user", id, None::<&User>, Some(&user)).await?;
    Ok(user)
}

pub async fn update(c: &mut Conn<'_>, actor: &Actor, id: i64, changes: &UserChanges) -> StoreResult<User> {
    let before = get(c, id).await?;
    let phone = match &changes.phone {
        Some(p) => p.clone(),
        None => before.phone.clone(),
    };
    sql::query(
        "UPDATE users SET email = $1, first_name = $2, last_name = $3, phone = $4, role_id = $5, is_active = $6, updated_at = $7
         WHERE id = $8"
    )
    .bind(changes.email.as_ref().unwrap_or(&before.email))
    .bind(changes.first_name.as_ref().unwrap_or(&before.first_name))
    .bind(changes.last_name.as_ref().unwrap_or(&before.last_name))
    .bind(&phone)
    .bind(changes.role_id.unwrap_or(before.role_id))
    .bind(changes.is_active.unwrap_or(before.is_active))
    .bind(now())
    .bind(id)
    .execute(c)
    .await?;
    let after = get(c, id).await?;
    audit::record(c, actor, "update", "user", id, Some(&before), Some(&after)).await?;
    Ok(after)
}

pub async fn set_password(c: &mut Conn<'_>, actor: &Actor, id: i64, password_hash: &str) -> StoreResult<()> {
    let at = now();
    let done =
        sql::query("UPDATE users SET password_hash = $1, password_changed_at = $2, updated_at = $2 WHERE id = $3")
            .bind(password_hash)
            .bind(at)
            .bind(id)
            .execute(c)
            .await?;
    if done == 0 {
        return Err(crate::StoreError::NotFound);
    }
    audit::record(c, actor, "change_password", "user", id, None::<&()>, None::<&()>).await
}

pub async fn touch_login(c: &mut Conn<'_>, id: i64) -> StoreResult<()> {
    sql::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
        .bind(now())
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

/// Active users holding the `admin` role: the last one cannot be demoted or deactivated.
///
/// Two admins demoting each other at once must not both see two admins and leave none. On
/// PostgreSQL the admin role's row is locked first, so such checks run one after the other
/// and each counts what the one before committed; SQLite runs one write transaction at a time.
pub async fn count_active_admins(c: &mut Conn<'_>) -> StoreResult<i64> {
    if c.backend() == Backend::Postgres {
        sql::query("SELECT id FROM roles WHERE name = 'admin' FOR UPDATE")
            .execute(c)
            .await?;
    }
    sql::query_scalar(
        "SELECT COUNT(*) FROM users u JOIN roles r ON r.id = u.role_id WHERE r.name = 'admin' AND u.is_active",
    )
    .fetch_one(c)
    .await
}
