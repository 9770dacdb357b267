//! `/api/alerts` (stock alerts) and `/api/reorder-requests`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use bodega_domain::error::optional_text;
use bodega_domain::{Page, PageRequest};
use bodega_store::alerts::{self, AlertFilter, StockAlert};
use bodega_store::reorders::{self, NewReorder, ReorderRequest};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, OrNotFound};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::routes::catalog::{check_amount, check_quantity, resolve_warehouse};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_alerts))
        .routes(routes!(ack_alert))
        .routes(routes!(list_reorders, create_reorder))
        .routes(routes!(get_reorder))
        .routes(routes!(advance_reorder))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// open, acknowledged or resolved.
    pub status: Option<String>,
    pub product_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

#[utoipa::path(get, path = "/api/alerts", tag = "alerts", params(AlertQuery),
    responses((status = 200, body = Page<StockAlert>), (status = 422, body = ErrorBody)), security(("bearer" = []), ("api_key" = [])))]
async fn list_alerts(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AlertQuery>,
) -> ApiResult<Json<Page<StockAlert>>> {
    caller.require("alerts", "read")?;
    let page = PageRequest::parse(q.page, q.per_page)?;
    if let Some(s) = &q.status {
        if !["open", "acknowledged", "resolved"].contains(&s.as_str()) {
            return Err(ApiError::validation("status", "must be open, acknowledged or resolved"));
        }
    }
    let filter = AlertFilter {
        status: q.status.as_deref(),
        product_id: q.product_id,
        warehouse_id: q.warehouse_id,
    };
    let mut conn = state.db.read().await?;
    Ok(Json(alerts::list(&mut conn.conn(), &filter, page).await?))
}

/// Acknowledges an open alert; no new alert opens for the pair until stock recovers.
#[utoipa::path(post, path = "/api/alerts/{id}/ack", tag = "alerts", params(("id" = i64, Path)),
    responses((status = 200, body = StockAlert), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn ack_alert(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> ApiResult<Json<StockAlert>> {
    caller.require("alerts", "update")?;
    let mut tx = state.db.begin().await?;
    let alert = alerts::acknowledge(&mut tx.conn(), id, &caller.actor.label)
        .await
        .or_not_found("alert")?;
    bodega_store::audit::record(
        &mut tx.conn(),
        &caller.actor,
        "acknowledge",
        "alert",
        id,
        None::<&()>,
        Some(&alert),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(alert))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReorderQuery {
    /// open, ordered, received or cancelled.
    pub status: Option<String>,
    pub product_id: Option<i64>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

#[utoipa::path(get, path = "/api/reorder-requests", tag = "alerts", params(ReorderQuery),
    responses((status = 200, body = Page<ReorderRequest>)), security(("bearer" = []), ("api_key" = [])))]
async fn list_reorders(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ReorderQuery>,
) -> ApiResult<Json<Page<ReorderRequest>>> {
    caller.require("reorders", "read")?;
    let page = PageRequest::parse(q.page, q.per_page)?;
    if let Some(s) = &q.status {
        if !["open", "ordered", "received", "cancelled"].contains(&s.as_str()) {
            return Err(ApiError::validation(
                "status",
                "must be open, ordered, received or cancelled",
            ));
        }
    }
    let mut conn = state.db.read().await?;
    Ok(Json(
        reorders::list(&mut conn.conn(), q.status.as_deref(), q.product_id, page).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReorderBody {
    pub product_id: i64,
    pub warehouse_id: Option<i64>,
    /// Default: the product's supplier.
    pub supplier_id: Option<i64>,
    pub quantity: i64,
    /// Default: the product's standard cost.
    pub unit_cost: Option<i64>,
    pub note: Option<String>,
}

#[utoipa::path(post, path = "/api/reorder-requests", tag = "alerts", request_body = ReorderBody,
    responses((status = 201, body = ReorderRequest), (status = 422, body = ErrorBody)), security(("bearer" = []), ("api_key" = [])))]
async fn create_reorder(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ReorderBody>,
) -> ApiResult<(StatusCode, Json<ReorderRequest>)> {
    caller.require("reorders", "create")?;
    let quantity = check_quantity("quantity", req.quantity)?;
    let unit_cost = req.unit_cost.map(|c| check_amount("unit_cost", c)).transpose()?;
    let note = optional_text("note", req.note.as_deref().unwrap_or(""), 500)?;
    let mut tx = state.db.begin().await?;
    let mut c = tx.conn();
    let warehouse_id = resolve_warehouse(&mut c, req.warehouse_id).await?;
    if let Some(id) = req.supplier_id {
        bodega_store::people::get::<bodega_store::people::Supplier>(&mut c, id)
            .await
            .map_err(|_| ApiError::validation("supplier_id", format!("no supplier {id}")))?;
    }
    let r = reorders::create(
        &mut c,
        &caller.actor,
        &NewReorder {
            product_id: req.product_id,
            warehouse_id,
            supplier_id: req.supplier_id,
            quantity,
            unit_cost,
            note: note.as_deref(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(r)))
}

#[utoipa::path(get, path = "/api/reorder-requests/{id}", tag = "alerts", params(("id" = i64, Path)),
    responses((status = 200, body = ReorderRequest), (status = 404, body = ErrorBody)), security(("bearer" = []), ("api_key" = [])))]
async fn get_reorder(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<ReorderRequest>> {
    caller.require("reorders", "read")?;
    let mut conn = state.db.read().await?;
    Ok(Json(
        reorders::get(&mut conn.conn(), id)
            .await
            .or_not_found("reorder request")?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvanceRequest {
    /// ordered, received (books the stock entry) or cancelled.
    pub status: String,
}

/// Moves a reorder request forward: open → ordered → received, or cancelled (from open or
/// ordered). Any other move, such as receiving a request never ordered, is a 409.
#[utoipa::path(post, path = "/api/reorder-requests/{id}/status", tag = "alerts", params(("id" = i64, Path)), request_body = AdvanceRequest,
    responses((status = 200, body = ReorderRequest), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn advance_reorder(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(req): ApiJson<AdvanceRequest>,
) -> ApiResult<Json<ReorderRequest>> {
    caller.require("reorders", "update")?;
    let mut tx = state.db.begin().await?;
    let r = reorders::advance(&mut tx.conn(), &caller.actor, id, req.status.trim())
        .await
        .or_not_found("reorder request")?;
    tx.commit().await?;
    Ok(Json(r))
}
