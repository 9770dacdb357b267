//! Roles: named sets of permissions. The built-in roles (admin, manager, employee) are written
//! from `bodega_domain::BUILTIN_ROLES` at start-up and cannot be edited; custom roles can.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audit::{self, Actor};
use crate::{now, sql, Conn, FromRow, StoreError, StoreResult};
use bodega_domain::{PermissionSet, BUILTIN_ROLES};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Role {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
    pub is_system: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct RoleRow {
    id: i64,
    name: String,
    description: String,
    permissions: String,
    is_system: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<RoleRow> for Role {
    fn from(r: RoleRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            description: r.description,
            permissions: PermissionSet::from_storage(&r.permissions).names(),
            is_system: r.is_system,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A validated role definition.
#[derive(Debug, Clone)]
pub struct RoleInput {
    pub name: String,
    pub description: String,
    pub permissions: PermissionSet,
}

/// Writes the built-in roles as the code defines them (idempotent; run at every start-up).
pub async fn sync_builtins(c: &mut Conn<'_>) -> StoreResult<()> {
    for role in BUILTIN_ROLES {
        let permissions = PermissionSet::parse_all(role.permissions)
            .map_err(|e| StoreError::Config(format!("built-in role {}: {e}", role.name)))?
            .to_storage();
        let at = now();
        sql::query(
            "INSERT INTO roles (name, description, permissions, is_system, created_at, updated_at)
             VALUES ($1, $2, $3, TRUE, $4, $4)
             ON CONFLICT (name) DO UPDATE SET description = excluded.description,
                 permissions = excluded.permissions, is_system = TRUE",
        )
        .bind(role.name)
        .bind(role.description)
        .bind(&permissions)
        .bind(at)
        .execute(c)
        .await?;
    }
    Ok(())
}

pub async fn list(c: &mut Conn<'_>) -> StoreResult<Vec<Role>> {
    let rows: Vec<RoleRow> = sql::query_as("SELECT * FROM roles ORDER BY id").fetch_all(c).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub async fn get(c: &mut Conn<'_>, id: i64) -> StoreResult<Role> {
    let row: RoleRow = sql::query_as("SELECT * FROM roles WHERE id = $1")
        .bind(id)
        .fetch_one(c)
        .await?;
    Ok(row.into())
}

pub async fn find_by_name(c: &mut Conn<'_>, name: &str) -> StoreResult<Role> {
    let row: RoleRow = sql::query_as("SELECT * FROM roles WHERE name = $1")
        .bind(name)
        .fetch_one(c)
        .await?;
    Ok(row.into())
}

pub async fn create(c: &mut Conn<'_>, actor: &Actor, input: &RoleInput) -> StoreResult<Role> {
    let at = now();
    let id: i64 = sql::query_scalar(
        "INSERT INTO roles (name, description, permissions, is_system, created_at, updated_at)
         VALUES ($1, $2, $3, FALSE, $4, $4) RETURNING id",
    )
    .bind(&input.name)
    .bind(&input.description)
    .bind(input.permissions.to_storage())
    .bind(at)
    .fetch_one(c)
    .await?;
    let role = get(c, id).await?;
    audit::record(c, actor, "create", "role", id, None::<&Role>, Some(&role)).await?;
    Ok(role)
}

pub async fn update(c: &mut Conn<'_>, actor: &Actor, id: i64, input: &RoleInput) -> StoreResult<Role> {
    let before = get(c, id).await?;
    if before.is_system {
        return Err(built_in_rule());
    }
    sql::query("UPDATE roles SET name = $1, description = $2, permissions = $3, updated_at = $4 WHERE id = $5")
        .bind(&input.name)
        .bind(&input.description)
        .bind(input.permissions.to_storage())
        .bind(now())
        .bind(id)
        .execute(c)
        .await?;
    let after = get(c, id).await?;
    audit::record(c, actor, "update", "role", id, Some(&before), Some(&after)).await?;
    Ok(after)
}

pub async fn delete(c: &mut Conn<'_>, actor: &Actor, id: i64) -> StoreResult<()> {
    let before = get(c, id).await?;
    if before.is_system {
        return Err(built_in_rule());
    }
    let holders: i64 = sql::query_scalar("SELECT COUNT(*) FROM users WHERE role_id = $1")
        .bind(id)
        .fetch_one(c)
        .await?;
    if holders > 0 {
        return Err(StoreError::Rule {
            field: None,
            message: format!(
                "role '{}' is held by {holders} user(s); move them to another role first",
                before.name
            ),
        });
    }
    sql::query("DELETE FROM roles WHERE id = $1")
        .bind(id)
        .execute(c)
        .await?;
    audit::record(c, actor, "delete", "role", id, Some(&before), None::<&Role>).await?;
    Ok(())
}

fn built_in_rule() -> StoreError {
    StoreError::Rule {
        field: None,
        message: "built-in roles cannot be changed or deleted".into(),
    }
}
