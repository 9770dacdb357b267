//! `/api/users`: user administration (admins, or any role granted `users:*`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use bodega_domain::error::{optional_text, required_text};
use bodega_domain::{Email, Page, PageRequest, PermissionSet};
use bodega_store::roles::Role;
use bodega_store::users::{self, User, UserChanges};
use bodega_store::{roles, sessions, Conn};

use crate::auth::{password, Caller};
use crate::error::{ApiError, ApiResult, ErrorBody, OrNotFound};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::routes::auth::{new_user, RegisterRequest};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, deactivate_user))
        .routes(routes!(reset_password))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Substring of e-mail or name.
    pub q: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

#[utoipa::path(get, path = "/api/users", tag = "users", params(UserQuery),
    responses((status = 200, body = Page<User>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<UserQuery>,
) -> ApiResult<Json<Page<User>>> {
    caller.require("users", "read")?;
    let page = PageRequest::parse(q.page, q.per_page)?;
    let mut conn = state.db.read().await?;
    Ok(Json(
        users::list(&mut conn.conn(), q.q.as_deref().filter(|s| !s.trim().is_empty()), page).await?,
    ))
}

/// Creates a user with any role (default `employee`).
#[utoipa::path(post, path = "/api/users", tag = "users", request_body = RegisterRequest,
    responses((status = 201, body = User), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<User>)> {
    caller.require("users", "create")?;
    let role = req.role.clone().unwrap_or_else(|| "employee".into());
    let new = new_user(&state, &req, &role).await?;
    let mut tx = state.db.begin().await?;
    require_covers(&caller, &roles::get(&mut tx.conn(), new.role_id).await?)?;
    let user = users::create(&mut tx.conn(), &caller.actor, &new).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[utoipa::path(get, path = "/api/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = User), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_user(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> ApiResult<Json<User>> {
    caller.require("users", "read")?;
    let mut conn = state.db.read().await?;
    Ok(Json(users::get(&mut conn.conn(), id).await.or_not_found("user")?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    /// Role name.
    pub role: Option<String>,
    pub is_active: Option<bool>,
}

/// Changes a user's details, role or active flag (fields left out stay as they are).
/// Deactivating a user ends their sessions. The last active admin cannot be demoted.
#[utoipa::path(put, path = "/api/users/{id}", tag = "users", params(("id" = i64, Path)), request_body = UpdateUserRequest,
    responses((status = 200, body = User), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(req): ApiJson<UpdateUserRequest>,
) -> ApiResult<Json<User>> {
    caller.require("users", "update")?;
    let mut tx = state.db.begin().await?;
    let mut c = tx.conn();
    let current = users::get(&mut c, id).await.or_not_found("user")?;
    require_covers(&caller, &roles::get(&mut c, current.role_id).await?)?;
    let role_id = match req.role.as_deref() {
        Some(name) => {
            let role = roles::find_by_name(&mut c, name)
                .await
                .map_err(|_| ApiError::validation("role", format!("unknown role '{name}'")))?;
            require_covers(&caller, &role)?;
            Some(role.id)
        }
        None => None,
    };
    let changes = UserChanges {
        email: req
            .email
            .as_deref()
            .map(|e| Email::parse("email", e))
            .transpose()?
            .map(Email::into_inner),
        first_name: req
            .first_name
            .as_deref()
            .map(|v| required_text("first_name", v, 100))
            .transpose()?,
        last_name: req
            .last_name
            .as_deref()
            .map(|v| optional_text("last_name", v, 100).map(Option::unwrap_or_default))
            .transpose()?,
        phone: req
            .phone
            .as_deref()
            .map(|v| optional_text("phone", v, 40))
            .transpose()?,
        role_id,
        is_active: req.is_active,
    };
    let loses_admin = current.role == "admin"
        && current.is_active
        && (changes.is_active == Some(false) || role_id.is_some_and(|r| r != current.role_id));
    if loses_admin {
        guard_last_admin(&mut c).await?;
    }
    let user = users::update(&mut c, &caller.actor, id, &changes).await?;
    if !user.is_active {
        sessions::revoke_all_for_user(&mut c, id, None, "user deactivated").await?;
    }
    tx.commit().await?;
    state.known_callers.forget_all();
    Ok(Json(user))
}

/// Deactivates a user (kept for the audit trail) and ends their sessions.
#[utoipa::path(delete, path = "/api/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
async fn deactivate_user(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> ApiResult<StatusCode> {
    caller.require("users", "delete")?;
    let mut tx = state.db.begin().await?;
    let mut c = tx.conn();
    let current = users::get(&mut c, id).await.or_not_found("user")?;
    require_covers(&caller, &roles::get(&mut c, current.role_id).await?)?;
    if current.role == "admin" && current.is_active {
        guard_last_admin(&mut c).await?;
    }
    let changes = UserChanges {
        is_active: Some(false),
        ..UserChanges::default()
    };
    users::update(&mut c, &caller.actor, id, &changes).await?;
    sessions::revoke_all_for_user(&mut c, id, None, "user deactivated").await?;
    tx.commit().await?;
    state.known_callers.forget_all();
    Ok(StatusCode::NO_CONTENT)
}

/// Like custom roles and API keys, a user administrator may only give, and only manage, roles
/// whose permissions they hold themselves: `users:*` must not be a way to more power (making
/// oneself admin, or resetting an admin's password and signing in as them).
pub(crate) fn require_covers(caller: &Caller, role: &Role) -> ApiResult<()> {
    if caller.permissions.covers(&PermissionSet::parse_all(&role.permissions)?) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "role '{}' holds permissions the caller does not hold",
            role.name
        )))
    }
}

async fn guard_last_admin(c: &mut Conn<'_>) -> ApiResult<()> {
    if users::count_active_admins(c).await? <= 1 {
        return Err(ApiError::Conflict {
            field: None,
            message: "the last active admin cannot be demoted or deactivated".into(),
        });
    }
    Ok(())
}

#[derive(Deserialize, ToSchema)]
pub struct ResetPasswordRequest {
    pub new_password: String,
}

/// Sets a new password for a user and ends all their sessions.
#[utoipa::path(post, path = "/api/users/{id}/reset-password", tag = "users", params(("id" = i64, Path)),
    request_body = ResetPasswordRequest,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(req): ApiJson<ResetPasswordRequest>,
) -> ApiResult<StatusCode> {
    caller.require("users", "update")?;
    password::check_policy("new_password", &req.new_password)?;
    {
        let mut conn = state.db.read().await?;
        let target = users::get(&mut conn.conn(), id).await.or_not_found("user")?;
        require_covers(&caller, &roles::get(&mut conn.conn(), target.role_id).await?)?;
    }
    let hash = password::hash(&req.new_password).await?;
    let mut tx = state.db.begin().await?;
    users::set_password(&mut tx.conn(), &caller.actor, id, &hash)
        .await
        .or_not_found("user")?;
    sessions::revoke_all_for_user(&mut tx.conn(), id, None, "password reset").await?;
    tx.commit().await?;
    state.known_callers.forget_all();
    Ok(StatusCode::NO_CONTENT)
}
