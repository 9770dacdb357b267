//! `/api/roles` and `/api/permissions`: built-in and custom roles.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use bodega_domain::error::{optional_text, required_text};
use bodega_domain::permission::CATALOGUE;
use bodega_domain::PermissionSet;
use bodega_store::roles::{self, Role, RoleInput};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, OrNotFound};
use crate::extract::{ApiJson, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_roles, create_role))
        .routes(routes!(get_role, update_role, delete_role))
        .routes(routes!(list_permissions))
}

#[utoipa::path(get, path = "/api/roles", tag = "roles",
    responses((status = 200, body = Vec<Role>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn list_roles(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Role>>> {
    caller.require("roles", "read")?;
    let mut conn = state.db.read().await?;
    Ok(Json(roles::list(&mut conn.conn()).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// Lower-case letters, digits, `_` and `-`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// `resource:action` strings, `resource:*`, or `*`; see `GET /api/permissions`.
    pub permissions: Vec<String>,
}

fn validate(caller: &Caller, req: &RoleRequest) -> ApiResult<RoleInput> {
    let name = required_text("name", &req.name, 50)?;
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(ApiError::validation(
            "name",
            "use lower-case letters, digits, '_' and '-'",
        ));
    }
    let permissions = PermissionSet::parse_all(&req.permissions)?;
    if permissions.is_empty() {
        return Err(ApiError::validation("permissions", "must name at least one permission"));
    }
    if !caller.permissions.covers(&permissions) {
        return Err(ApiError::Forbidden(
            "a role cannot grant permissions its creator does not hold".into(),
        ));
    }
    Ok(RoleInput {
        name,
        description: optional_text("description", &req.description, 500)?.unwrap_or_default(),
        permissions,
    })
}

#[utoipa::path(post, path = "/api/roles", tag = "roles", request_body = RoleRequest,
    responses((status = 201, body = Role), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_role(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<RoleRequest>,
) -> ApiResult<(StatusCode, Json<Role>)> {
    caller.require("roles", "create")?;
    let input = validate(&caller, &req)?;
    let mut tx = state.db.begin().await?;
    let role = roles::create(&mut tx.conn(), &caller.actor, &input).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(role)))
}

#[utoipa::path(get, path = "/api/roles/{id}", tag = "roles", params(("id" = i64, Path)),
    responses((status = 200, body = Role), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_role(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> ApiResult<Json<Role>> {
    caller.require("roles", "read")?;
    let mut conn = state.db.read().await?;
    Ok(Json(roles::get(&mut conn.conn(), id).await.or_not_found("role")?))
}

/// Replaces a custom role; built-in roles answer 409.
#[utoipa::path(put, path = "/api/roles/{id}", tag = "roles", params(("id" = i64, Path)), request_body = RoleRequest,
    responses((status = 200, body = Role), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_role(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(req): ApiJson<RoleRequest>,
) -> ApiResult<Json<Role>> {
    caller.require("roles", "update")?;
    let input = validate(&caller, &req)?;
    let mut tx = state.db.begin().await?;
    let role = roles::update(&mut tx.conn(), &caller.actor, id, &input)
        .await
        .or_not_found("role")?;
    tx.commit().await?;
    state.known_callers.forget_all();
    Ok(Json(role))
}

/// Deletes a custom role that no user holds.
#[utoipa::path(delete, path = "/api/roles/{id}", tag = "roles", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
async fn delete_role(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> ApiResult<StatusCode> {
    caller.require("roles", "delete")?;
    let mut tx = state.db.begin().await?;
    roles::delete(&mut tx.conn(), &caller.actor, id)
        .await
        .or_not_found("role")?;
    tx.commit().await?;
    state.known_callers.forget_all();
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct PermissionCatalogueEntry {
    pub resource: &'static str,
    pub actions: Vec<&'static str>,
}

/// Every permission that exists, for building custom roles and API keys.
#[utoipa::path(get, path = "/api/permissions", tag = "roles",
    responses((status = 200, body = Vec<PermissionCatalogueEntry>)), security(("bearer" = [])))]
async fn list_permissions(caller: Caller) -> ApiResult<Json<Vec<PermissionCatalogueEntry>>> {
    caller.require("roles", "read")?;
    Ok(Json(
        CATALOGUE
            .iter()
            .map(|(resource, actions)| PermissionCatalogueEntry {
                resource,
                actions: actions.to_vec(),
            })
            .collect(),
    ))
}
