use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

use bodega_domain::PermissionSet;
use bodega_store::audit::Actor;
use bodega_store::{api_keys, sessions};

use crate::auth::tokens::sha256_hex;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Who is making the request, resolved from `Authorization: Bearer …` or `x-api-key`.
#[derive(Debug, Clone)]
pub struct Caller {
    pub identity: Identity,
    pub permissions: PermissionSet,
    /// The audit identity of this request.
    pub actor: Actor,
}

#[derive(Debug, Clone)]
pub enum Identity {
    User {
        user_id: i64,
        session_id: String,
        email: String,
        role: String,
    },
    ApiKey {
        key_id: i64,
        name: String,
    },
}

impl Caller {
    /// Fails with 403 unless the caller holds `resource:action`.
    pub fn require(&self, resource: &str, action: &str) -> ApiResult<()> {
        if self.permissions.allows(resource, action) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("missing permission {resource}:{action}")))
        }
    }

    pub fn user_id(&self) -> Option<i64> {
        match &self.identity {
            Identity::User { user_id, .. } => Some(*user_id),
            Identity::ApiKey { .. } => None,
        }
    }

    /// The signed-in user and session, or 403 for API keys (which have no profile).
    pub fn user_session(&self) -> ApiResult<(i64, &str)> {
        match &self.identity {
            Identity::User {
                user_id, session_id, ..
            } => Ok((*user_id, session_id)),
            Identity::ApiKey { .. } => Err(ApiError::Forbidden(
                "this endpoint is for signed-in users, not API keys".into(),
            )),
        }
    }

    /// This caller as the author of one request.
    fn with_request(mut self, request_id: Option<String>, ip: Option<String>) -> Self {
        self.actor.request_id = request_id;
        self.actor.ip = ip;
        self
    }

    /// A stable key for per-caller rate limiting.
    pub fn limit_key(&self) -> String {
        match &self.identity {
            Identity::User { user_id, .. } => format!("user:{user_id}"),
            Identity::ApiKey { key_id, .. } => format!("key:{key_id}"),
        }
    }
}

/// The request id set by the request-id layer, and the client address when known.
pub fn request_meta(parts: &Parts) -> (Option<String>, Option<String>) {
    let request_id = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string());
    (request_id, ip)
}

/// Request id, client address and user agent, for audit and sessions; never fails.
pub struct RequestMeta {
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let (request_id, ip) = request_meta(parts);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        Ok(Self {
            request_id,
            ip,
            user_agent,
        })
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let (request_id, ip) = request_meta(parts);
        if let Some(token) = bearer(&parts.headers) {
            let claims = state.tokens.verify(token)?;
            let caller = match state.known_callers.get(&claims.sid) {
                Some(known) if known.user_id().is_some_and(|id| id.to_string() == claims.sub) => known,
                _ => {
                    let generation = state.known_callers.generation();
                    let mut conn = state.db.read().await?;
                    let principal = sessions::principal(&mut conn.conn(), &claims.sid)
                        .await?
                        .filter(|p| p.user_id.to_string() == claims.sub)
                        .ok_or_else(|| ApiError::Unauthorized("session revoked or expired; sign in again".into()))?;
                    let caller = Caller {
                        actor: Actor {
                            kind: "user",
                            id: Some(principal.user_id),
                            label: principal.email.clone(),
                            request_id: None,
                            ip: None,
                        },
                        permissions: principal.permissions,
                        identity: Identity::User {
                            user_id: principal.user_id,
                            session_id: claims.sid.clone(),
                            email: principal.email,
                            role: principal.role,
                        },
                    };
                    state
                        .known_callers
                        .remember(&claims.sid, generation, &caller, Some(principal.session_expires_at));
                    caller
                }
            };
            state.api_limiter.check(&caller.limit_key())?;
            return Ok(caller.with_request(request_id, ip));
        }
        if let Some(key) = parts.headers.get("x-api-key") {
            let key = key
                .to_str()
                .map_err(|_| ApiError::Unauthorized("invalid API key".into()))?;
            let hash = sha256_hex(key.trim());
            let caller = match state.known_callers.get(&hash) {
                Some(known) => known,
                None => {
                    let generation = state.known_callers.generation();
                    let mut conn = state.db.read().await?;
                    let api_key = api_keys::authenticate(&mut conn.conn(), &hash)
                        .await?
                        .ok_or_else(|| ApiError::Unauthorized("invalid, revoked or expired API key".into()))?;
                    drop(conn);
                    let expires_at = api_key.expires_at;
                    let caller = Caller {
                        actor: Actor {
                            kind: "api_key",
                            id: Some(api_key.id),
                            label: format!("api key {}", api_key.name),
                            request_id: None,
                            ip: None,
                        },
                        permissions: PermissionSet::parse_all(&api_key.permissions).unwrap_or_default(),
                        identity: Identity::ApiKey {
                            key_id: api_key.id,
                            name: api_key.name,
                        },
                    };
                    state.known_callers.remember(&hash, generation, &caller, expires_at);
                    caller
                }
            };
            if let Identity::ApiKey { key_id, .. } = caller.identity {
                state.note_api_key_use(key_id);
            }
            state.api_limiter.check(&caller.limit_key())?;
            return Ok(caller.with_request(request_id, ip));
        }
        Err(ApiError::Unauthorized(
            "authentication required: send a bearer token or an x-api-key".into(),
        ))
    }
}

/// For endpoints open to anonymous callers that behave differently when signed in.
impl OptionalFromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        if bearer(&parts.headers).is_none() && !parts.headers.contains_key("x-api-key") {
            return Ok(None);
        }
        <Caller as FromRequestParts<AppState>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}
