//! `/api/auth`: register, login, refresh, logout, me, profile, change-password.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use bodega_domain::error::{optional_text, required_text};
use bodega_domain::Email;
use bodega_store::audit::{self, Actor};
use bodega_store::sessions::{self, NewSession, RefreshLookup};
use bodega_store::users::{self, NewUser, User, UserChanges};
use bodega_store::{now, roles};

use crate::auth::caller::RequestMeta;
use crate::auth::password;
use crate::auth::tokens::{random_secret, sha256_hex};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, OrNotFound};
use crate::extract::ApiJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(update_profile))
        .routes(routes!(change_password))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    pub phone: Option<String>,
    /// Role name; only callers allowed to create users may choose it (default `employee`).
    pub role: Option<String>,
}

/// Validates a new user's fields and hashes the password; shared with `POST /api/users`.
pub async fn new_user(state: &AppState, req: &RegisterRequest, role: &str) -> ApiResult<NewUser> {
    let email = Email::parse("email", &req.email)?;
    password::check_policy("password", &req.password)?;
    let mut conn = state.db.read().await?;
    let role = roles::find_by_name(&mut conn.conn(), role)
        .await
        .map_err(|_| ApiError::validation("role", format!("unknown role '{role}'")))?;
    Ok(NewUser {
        email: email.into_inner(),
        password_hash: password::hash(&req.password).await?,
        first_name: optional_text("first_name", &req.first_name, 100)?.unwrap_or_default(),
        last_name: optional_text("last_name", &req.last_name, 100)?.unwrap_or_default(),
        phone: optional_text("phone", req.phone.as_deref().unwrap_or(""), 40)?,
        role_id: role.id,
    })
}

/// Creates a user. Needs `users:create`, unless open registration is configured, in which case
/// anonymous callers may register themselves with the `employee` role.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = User), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security((), ("bearer" = [])))]
async fn register(
    State(state): State<AppState>,
    caller: Option<Caller>,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, axum::Json<User>)> {
    let (actor, role) = match &caller {
        Some(caller) if caller.require("users", "create").is_ok() => (
            caller.actor.clone(),
            req.role.clone().unwrap_or_else(|| "employee".into()),
        ),
        _ if state.config.open_registration => {
            if req.role.as_deref().is_some_and(|r| r != "employee") {
                return Err(ApiError::Forbidden(
                    "self-registration can only take the employee role".into(),
                ));
            }
            let label = req.email.trim().to_lowercase();
            let actor = caller.as_ref().map(|c| c.actor.clone()).unwrap_or(Actor {
                kind: "anonymous",
                id: None,
                label,
                request_id: None,
                ip: None,
            });
            (actor, "employee".to_string())
        }
        Some(_) => return Err(ApiError::Forbidden("missing permission users:create".into())),
        None => {
            return Err(ApiError::Unauthorized(
                "registration is closed; an administrator creates accounts".into(),
            ))
        }
    };
    let new = new_user(&state, &req, &role).await?;
    let mut tx = state.db.begin().await?;
    if let Some(caller) = caller.as_ref().filter(|c| c.require("users", "create").is_ok()) {
        crate::routes::users::require_covers(caller, &roles::get(&mut tx.conn(), new.role_id).await?)?;
    }
    let user = users::create(&mut tx.conn(), &actor, &new).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(user)))
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub user: User,
}

/// Signs in with e-mail and password. Rate limited per e-mail and per client address.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(()))]
async fn login(
    State(state): State<AppState>,
    meta: RequestMeta,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<axum::Json<TokenResponse>> {
    let RequestMeta {
        request_id,
        ip,
        user_agent,
    } = meta;
    let email = req.email.trim().to_lowercase();
    state.login_limiter.check(&format!("email:{email}"))?;
    state
        .login_limiter
        .check(&format!("ip:{}", ip.as_deref().unwrap_or("unknown")))?;

    let credentials = {
        let mut conn = state.db.read().await?;
        users::credentials_by_email(&mut conn.conn(), &email).await?
    };
    let stored = credentials.as_ref().map(|c| c.password_hash.clone());
    let valid = password::verify(stored, &req.password).await?;
    let credentials = match credentials {
        Some(c) if valid && c.is_active => c,
        _ => {
            tracing::warn!(email = %email, "failed login");
            return Err(ApiError::Unauthorized("invalid e-mail or password".into()));
        }
    };
    let actor = Actor {
        kind: "user",
        id: Some(credentials.id),
        label: email,
        request_id,
        ip: ip.clone(),
    };
    let tokens = start_session(&state, credentials.id, &actor, ip.as_deref(), user_agent.as_deref()).await?;
    Ok(axum::Json(tokens))
}

async fn start_session(
    state: &AppState,
    user_id: i64,
    actor: &Actor,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> ApiResult<TokenResponse> {
    let session_id = uuid::Uuid::new_v4().to_string();
    let refresh_token = random_secret("rt_");
    let refresh_hash = sha256_hex(&refresh_token);
    let mut tx = state.db.begin().await?;
    let mut c = tx.conn();
    sessions::create(
        &mut c,
        &NewSession {
            id: &session_id,
            user_id,
            refresh_hash: &refresh_hash,
            expires_at: now() + chrono::Duration::days(state.config.refresh_token_days),
            ip,
            user_agent,
        },
    )
    .await?;
    users::touch_login(&mut c, user_id).await?;
    audit::record(&mut c, actor, "login", "session", &session_id, None::<&()>, None::<&()>).await?;
    let user = users::get(&mut c, user_id).await?;
    tx.commit().await?;
    let (access_token, expires_in) = state.tokens.issue(user_id, &session_id, &user.role)?;
    Ok(TokenResponse {
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in,
        user,
    })
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Trades a refresh token for a new access token and a new refresh token (rotation). A refresh
/// token used twice revokes its session.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = ErrorBody)), security(()))]
async fn refresh(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<axum::Json<TokenResponse>> {
    let old_hash = sha256_hex(req.refresh_token.trim());
    let mut tx = state.db.begin().await?;
    let lookup = sessions::lookup_refresh(&mut tx.conn(), &old_hash).await?;
    let (session_id, user_id) = match lookup {
        RefreshLookup::Current { session_id, user_id } => (session_id, user_id),
        RefreshLookup::Replayed => {
            tx.commit().await?;
            state.known_callers.forget_all();
            return Err(ApiError::Unauthorized(
                "refresh token already used; the session has been revoked".into(),
            ));
        }
        RefreshLookup::Invalid => {
            return Err(ApiError::Unauthorized(
                "invalid, expired or revoked refresh token".into(),
            ))
        }
    };
    let refresh_token = random_secret("rt_");
    if !sessions::rotate(&mut tx.conn(), &session_id, &old_hash, &sha256_hex(&refresh_token)).await? {
        return Err(ApiError::Unauthorized("refresh token already used".into()));
    }
    let user = users::get(&mut tx.conn(), user_id).await?;
    if !user.is_active {
        return Err(ApiError::Unauthorized("account deactivated".into()));
    }
    tx.commit().await?;
    let (access_token, expires_in) = state.tokens.issue(user_id, &session_id, &user.role)?;
    Ok(axum::Json(TokenResponse {
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in,
        user,
    }))
}

/// Ends the caller's session: its access and refresh tokens stop working at once.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
async fn logout(State(state): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    let (_, session_id) = caller.user_session()?;
    let mut tx = state.db.begin().await?;
    sessions::revoke(&mut tx.conn(), session_id, "logout").await?;
    audit::record(
        &mut tx.conn(),
        &caller.actor,
        "logout",
        "session",
        session_id,
        None::<&()>,
        None::<&()>,
    )
    .await?;
    tx.commit().await?;
    state.known_callers.forget_all();
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    #[serde(flatten)]
    pub user: User,
    pub permissions: Vec<String>,
}

/// The signed-in user with their effective permissions.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<axum::Json<Me>> {
    let (user_id, _) = caller.user_session()?;
    let mut conn = state.db.read().await?;
    let user = users::get(&mut conn.conn(), user_id).await.or_not_found("user")?;
    Ok(axum::Json(Me {
        user,
        permissions: caller.permissions.names(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileRequest {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// Updates the caller's own name, phone or e-mail (fields left out stay as they are).
#[utoipa::path(put, path = "/api/auth/profile", tag = "auth", request_body = ProfileRequest,
    responses((status = 200, body = User), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_profile(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ProfileRequest>,
) -> ApiResult<axum::Json<User>> {
    let (user_id, _) = caller.user_session()?;
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
        ..UserChanges::default()
    };
    let mut tx = state.db.begin().await?;
    let user = users::update(&mut tx.conn(), &caller.actor, user_id, &changes).await?;
    tx.commit().await?;
    state.known_callers.forget_all();
    Ok(axum::Json(user))
}

#[derive(Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// Changes the caller's password after checking the current one; every other session of the
/// user is revoked.
#[utoipa::path(post, path = "/api/auth/change-password", tag = "auth", request_body = ChangePasswordRequest,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    let (user_id, session_id) = caller.user_session()?;
    password::check_policy("new_password", &req.new_password)?;
    state.login_limiter.check(&format!("password:{user_id}"))?;
    let stored = {
        let mut conn = state.db.read().await?;
        users::credentials_by_id(&mut conn.conn(), user_id).await?.password_hash
    };
    if !password::verify(Some(stored), &req.current_password).await? {
        return Err(ApiError::validation("current_password", "is not correct"));
    }
    let hash = password::hash(&req.new_password).await?;
    let mut tx = state.db.begin().await?;
    users::set_password(&mut tx.conn(), &caller.actor, user_id, &hash).await?;
    sessions::revoke_all_for_user(&mut tx.conn(), user_id, Some(session_id), "password changed").await?;
    tx.commit().await?;
    state.known_callers.forget_all();
    Ok(StatusCode::NO_CONTENT)
}
