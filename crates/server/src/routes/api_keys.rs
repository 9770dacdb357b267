//! `/api/api-keys`: keys for services, sent as `x-api-key`. The secret is returned once, at
//! creation; only its hash is stored.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use bodega_domain::error::required_text;
use bodega_domain::PermissionSet;
use bodega_store::api_keys::{self, ApiKey, NewApiKey};
use bodega_store::now;

use crate::auth::tokens::{random_secret, sha256_hex};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, OrNotFound};
use crate::extract::{ApiJson, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    pub name: String,
    /// Permissions of the key; each must be held by the creator.
    pub permissions: Vec<String>,
    /// Days until the key expires; without it the key lives until revoked.
    pub expires_in_days: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub api_key: ApiKey,
    /// The secret to send as `x-api-key`. Shown only now.
    pub key: String,
}

#[utoipa::path(post, path = "/api/api-keys", tag = "api-keys", request_body = CreateApiKeyRequest,
    responses((status = 201, body = CreatedApiKey), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateApiKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    caller.require("api_keys", "create")?;
    let name = required_text("name", &req.name, 100)?;
    let permissions = PermissionSet::parse_all(&req.permissions)?;
    if permissions.is_empty() {
        return Err(ApiError::validation("permissions", "must name at least one permission"));
    }
    if !caller.permissions.covers(&permissions) {
        return Err(ApiError::Forbidden(
            "an API key cannot hold permissions its creator does not hold".into(),
        ));
    }
    let expires_at = match req.expires_in_days {
        Some(days) if !(1..=3650).contains(&days) => {
            return Err(ApiError::validation("expires_in_days", "must be between 1 and 3650"))
        }
        Some(days) => Some(now() + chrono::Duration::days(days)),
        None => None,
    };
    let key = random_secret("bdg_");
    let prefix: String = key.chars().take(12).collect();
    let mut tx = state.db.begin().await?;
    let api_key = api_keys::create(
        &mut tx.conn(),
        &caller.actor,
        &NewApiKey {
            name: &name,
            prefix: &prefix,
            key_hash: &sha256_hex(&key),
            permissions: &permissions,
            created_by: caller.user_id(),
            expires_at,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(CreatedApiKey { api_key, key })))
}

#[utoipa::path(get, path = "/api/api-keys", tag = "api-keys",
    responses((status = 200, body = Vec<ApiKey>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn list_keys(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<ApiKey>>> {
    caller.require("api_keys", "read")?;
    let mut conn = state.db.read().await?;
    Ok(Json(api_keys::list(&mut conn.conn()).await?))
}

/// Revokes a key at once; it stays listed as revoked.
#[utoipa::path(delete, path = "/api/api-keys/{id}", tag = "api-keys", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn revoke_key(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> ApiResult<StatusCode> {
    caller.require("api_keys", "delete")?;
    let mut tx = state.db.begin().await?;
    api_keys::revoke(&mut tx.conn(), &caller.actor, id)
        .await
        .or_not_found("api key")?;
    tx.commit().await?;
    state.known_callers.forget_all();
    Ok(StatusCode::NO_CONTENT)
}
