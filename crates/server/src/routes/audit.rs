//! `GET /api/audit`: the audit log, newest first.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use bodega_domain::{Page, PageRequest};
use bodega_store::audit::{self, AuditEntry, AuditFilter};

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiQuery;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Kind of record: user, role, api_key, session, customer, employee, supplier, …
    pub resource: Option<String>,
    pub resource_id: Option<String>,
    /// The acting user or API key id.
    pub actor_id: Option<i64>,
    /// create, update, delete, login, logout, revoke, change_password, …
    pub action: Option<String>,
    /// RFC 3339 timestamp, inclusive.
    pub from: Option<DateTime<Utc>>,
    /// RFC 3339 timestamp, exclusive.
    pub to: Option<DateTime<Utc>>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

#[utoipa::path(get, path = "/api/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Page<AuditEntry>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    caller.require("audit", "read")?;
    let page = PageRequest::parse(q.page, q.per_page)?;
    let filter = AuditFilter {
        resource: q.resource,
        resource_id: q.resource_id,
        actor_id: q.actor_id,
        action: q.action,
        from: q.from,
        to: q.to,
    };
    let mut conn = state.db.read().await?;
    Ok(Json(audit::list(&mut conn.conn(), &filter, page).await?))
}
