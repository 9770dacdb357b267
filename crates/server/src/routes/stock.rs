//! `/api/stock/*`: the movement ledger, levels, transfers, reservations; and
//! `/api/inventory/low-stock`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use bodega_domain::error::optional_text;
use bodega_domain::{MovementKind, Page, PageRequest};
use bodega_store::reservations::{self, NewReservation, Reservation, ReservationFilter};
use bodega_store::stock::{self, LowStock, Movement, MovementFilter, NewMovement, StockLevel};
use bodega_store::{catalog, now, Conn};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, OrNotFound};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::routes::catalog::{check_amount, check_quantity, resolve_warehouse, MAX_QUANTITY};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_movements, create_movement))
        .routes(routes!(list_levels))
        .routes(routes!(create_transfer))
        .routes(routes!(list_reservations, create_reservation))
        .routes(routes!(get_reservation))
        .routes(routes!(commit_reservation))
        .routes(routes!(release_reservation))
        .routes(routes!(low_stock))
}

async fn live_product(c: &mut Conn<'_>, id: i64) -> ApiResult<()> {
    catalog::product(c, id)
        .await
        .map(|_| ())
        .map_err(|_| ApiError::validation("product_id", format!("no product {id}")))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MovementQuery {
    pub product_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    /// entry, exit, adjustment, transfer_out, transfer_in, return, sale, opening.
    pub kind: Option<String>,
    /// e.g. sale, order, transfer, reorder, import.
    pub reference_type: Option<String>,
    pub reference_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// The ledger, newest first.
#[utoipa::path(get, path = "/api/stock/movements", tag = "stock", params(MovementQuery),
    responses((status = 200, body = Page<Movement>), (status = 400, body = ErrorBody)), security(("bearer" = []), ("api_key" = [])))]
async fn list_movements(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<MovementQuery>,
) -> ApiResult<Json<Page<Movement>>> {
    caller.require("stock", "read")?;
    let page = PageRequest::parse(q.page, q.per_page)?;
    if let Some(kind) = &q.kind {
        kind.parse::<MovementKind>()?;
    }
    let filter = MovementFilter {
        product_id: q.product_id,
        warehouse_id: q.warehouse_id,
        kind: q.kind,
        reference_type: q.reference_type,
        reference_id: q.reference_id,
        from: q.from,
        to: q.to,
    };
    let mut conn = state.db.read().await?;
    Ok(Json(stock::movements(&mut conn.conn(), &filter, page).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MovementRequest {
    pub product_id: i64,
    /// Default: the first active warehouse.
    pub warehouse_id: Option<i64>,
    /// entry, exit, adjustment or return (sales, transfers and openings have their own endpoints).
    pub kind: MovementKind,
    /// Positive for entry/exit/return; a signed delta for an adjustment.
    pub quantity: i64,
    /// Unit cost of stock coming in, in minor units (moves the average cost); ignored for stock
    /// going out, which leaves at its average cost.
    pub unit_cost: Option<i64>,
    pub note: Option<String>,
}

/// Books one movement. An exit or negative adjustment that would leave available stock below
/// zero is refused with 409 `insufficient_stock`.
#[utoipa::path(post, path = "/api/stock/movements", tag = "stock", request_body = MovementRequest,
    responses((status = 201, body = Movement), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn create_movement(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<MovementRequest>,
) -> ApiResult<(StatusCode, Json<Movement>)> {
    caller.require("stock", "create")?;
    if !matches!(
        req.kind,
        MovementKind::Entry | MovementKind::Exit | MovementKind::Adjustment | MovementKind::Return
    ) {
        return Err(ApiError::validation(
            "kind",
            "use entry, exit, adjustment or return here; sales, transfers and orders have their own endpoints",
        ));
    }
    if req.quantity.unsigned_abs() > MAX_QUANTITY.unsigned_abs() {
        return Err(ApiError::validation(
            "quantity",
            format!("must be at most {MAX_QUANTITY} in size"),
        ));
    }
    let quantity = req.kind.signed(req.quantity)?;
    let unit_cost = req.unit_cost.map(|c| check_amount("unit_cost", c)).transpose()?;
    // Stock leaves at its average cost: a cost sent with an exit is not the movement's cost,
    // and is not stored as if it were.
    let unit_cost = unit_cost.filter(|_| quantity > 0);
    let note = optional_text("note", req.note.as_deref().unwrap_or(""), 500)?;
    let mut tx = state.db.begin().await?;
    let mut c = tx.conn();
    live_product(&mut c, req.product_id).await?;
    let warehouse_id = resolve_warehouse(&mut c, req.warehouse_id).await?;
    let movement = NewMovement {
        product_id: req.product_id,
        warehouse_id,
        kind: req.kind,
        quantity,
        unit_cost,
        reference_type: Some("manual"),
        reference_id: None,
        note: note.as_deref(),
        created_by: &caller.actor.label,
    };
    let booked = stock::book(&mut c, &movement, 0).await?;
    bodega_store::audit::record(
        &mut c,
        &caller.actor,
        "create",
        "stock_movement",
        booked.id,
        None::<&()>,
        Some(&booked),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(booked)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LevelQuery {
    pub product_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// On hand, reserved, available and average cost per product and warehouse.
#[utoipa::path(get, path = "/api/stock/levels", tag = "stock", params(LevelQuery),
    responses((status = 200, body = Page<StockLevel>)), security(("bearer" = []), ("api_key" = [])))]
async fn list_levels(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<LevelQuery>,
) -> ApiResult<Json<Page<StockLevel>>> {
    caller.require("stock", "read")?;
    let page = PageRequest::parse(q.page, q.per_page)?;
    let mut conn = state.db.read().await?;
    Ok(Json(
        stock::levels(&mut conn.conn(), q.product_id, q.warehouse_id, page).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    pub product_id: i64,
    pub from_warehouse_id: i64,
    pub to_warehouse_id: i64,
    pub quantity: i64,
    pub note: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TransferResponse {
    pub transfer_out: Movement,
    pub transfer_in: Movement,
}

/// Moves stock between warehouses in one transaction (transfer_out + transfer_in).
#[utoipa::path(post, path = "/api/stock/transfers", tag = "stock", request_body = TransferRequest,
    responses((status = 201, body = TransferResponse), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn create_transfer(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<TransferRequest>,
) -> ApiResult<(StatusCode, Json<TransferResponse>)> {
    caller.require("stock", "create")?;
    let quantity = check_quantity("quantity", req.quantity)?;
    if req.from_warehouse_id == req.to_warehouse_id {
        return Err(ApiError::validation(
            "to_warehouse_id",
            "must differ from from_warehouse_id",
        ));
    }
    let note = optional_text("note", req.note.as_deref().unwrap_or(""), 500)?;
    let mut tx = state.db.begin().await?;
    let mut c = tx.conn();
    live_product(&mut c, req.product_id).await?;
    resolve_warehouse(&mut c, Some(req.from_warehouse_id))
        .await
        .map_err(|_| ApiError::validation("from_warehouse_id", "no such active warehouse"))?;
    resolve_warehouse(&mut c, Some(req.to_warehouse_id))
        .await
        .map_err(|_| ApiError::validation("to_warehouse_id", "no such active warehouse"))?;
    let (out, inbound) = stock::transfer(
        &mut c,
        req.product_id,
        req.from_warehouse_id,
        req.to_warehouse_id,
        quantity,
        note.as_deref(),
        &caller.actor.label,
    )
    .await?;
    bodega_store::audit::record(
        &mut c,
        &caller.actor,
        "transfer",
        "stock_movement",
        out.id,
        None::<&()>,
        Some(&(&out, &inbound)),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(TransferResponse {
            transfer_out: out,
            transfer_in: inbound,
        }),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReservationQuery {
    /// active, committed, released or expired.
    pub status: Option<String>,
    pub product_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    /// The reservations of one order (its lines, held at confirm).
    pub order_id: Option<i64>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// Reservations, newest first: what holds stock now (`status=active`) and what held it.
#[utoipa::path(get, path = "/api/stock/reservations", tag = "stock", params(ReservationQuery),
    responses((status = 200, body = Page<Reservation>), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn list_reservations(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ReservationQuery>,
) -> ApiResult<Json<Page<Reservation>>> {
    caller.require("stock", "read")?;
    let page = PageRequest::parse(q.page, q.per_page)?;
    if let Some(s) = &q.status {
        if !["active", "committed", "released", "expired"].contains(&s.as_str()) {
            return Err(ApiError::validation(
                "status",
                "must be active, committed, released or expired",
            ));
        }
    }
    let filter = ReservationFilter {
        status: q.status,
        product_id: q.product_id,
        warehouse_id: q.warehouse_id,
        order_id: q.order_id,
    };
    let mut conn = state.db.read().await?;
    Ok(Json(reservations::list(&mut conn.conn(), &filter, page).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReservationRequest {
    pub product_id: i64,
    pub warehouse_id: Option<i64>,
    pub quantity: i64,
    /// Seconds until the reservation expires and is released by the background job
    /// (default 900; 0 means never).
    pub expires_in_seconds: Option<i64>,
    /// Free reference of the holder (a cart id, say).
    pub reference: Option<String>,
}

/// Holds stock; 409 `insufficient_stock` when not enough is available.
#[utoipa::path(post, path = "/api/stock/reservations", tag = "stock", request_body = ReservationRequest,
    responses((status = 201, body = Reservation), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn create_reservation(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ReservationRequest>,
) -> ApiResult<(StatusCode, Json<Reservation>)> {
    caller.require("stock", "create")?;
    let quantity = check_quantity("quantity", req.quantity)?;
    let ttl = req.expires_in_seconds.unwrap_or(900);
    if !(0..=30 * 24 * 3600).contains(&ttl) {
        return Err(ApiError::validation(
            "expires_in_seconds",
            "must be between 0 and 2592000",
        ));
    }
    let reference = optional_text("reference", req.reference.as_deref().unwrap_or(""), 200)?;
    let mut tx = state.db.begin().await?;
    let mut c = tx.conn();
    live_product(&mut c, req.product_id).await?;
    let warehouse_id = resolve_warehouse(&mut c, req.warehouse_id).await?;
    let r = reservations::reserve(
        &mut c,
        &NewReservation {
            product_id: req.product_id,
            warehouse_id,
            quantity,
            order_id: None,
            reference: reference.as_deref(),
            expires_at: (ttl > 0).then(|| now() + chrono::Duration::seconds(ttl)),
        },
    )
    .await?;
    bodega_store::audit::record(
        &mut c,
        &caller.actor,
        "create",
        "reservation",
        r.id,
        None::<&()>,
        Some(&r),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(r)))
}

#[utoipa::path(get, path = "/api/stock/reservations/{id}", tag = "stock", params(("id" = i64, Path)),
    responses((status = 200, body = Reservation), (status = 404, body = ErrorBody)), security(("bearer" = []), ("api_key" = [])))]
async fn get_reservation(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<Reservation>> {
    caller.require("stock", "read")?;
    let mut conn = state.db.read().await?;
    Ok(Json(
        reservations::get(&mut conn.conn(), id)
            .await
            .or_not_found("reservation")?,
    ))
}

/// Turns an active reservation into a stock exit (a sale of the reserved units).
#[utoipa::path(post, path = "/api/stock/reservations/{id}/commit", tag = "stock", params(("id" = i64, Path)),
    responses((status = 200, body = Reservation), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn commit_reservation(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<Reservation>> {
    caller.require("stock", "create")?;
    let mut tx = state.db.begin().await?;
    let mut c = tx.conn();
    let existing = reservations::get(&mut c, id).await.or_not_found("reservation")?;
    if existing.order_id.is_some() {
        return Err(ApiError::Conflict {
            field: None,
            message: "this reservation belongs to an order; ship the order instead".into(),
        });
    }
    let r = reservations::commit(
        &mut c,
        id,
        MovementKind::Exit,
        "reservation",
        &id.to_string(),
        &caller.actor.label,
    )
    .await?;
    bodega_store::audit::record(
        &mut c,
        &caller.actor,
        "commit",
        "reservation",
        id,
        Some(&existing),
        Some(&r),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(r))
}

/// Gives the reserved units back.
#[utoipa::path(post, path = "/api/stock/reservations/{id}/release", tag = "stock", params(("id" = i64, Path)),
    responses((status = 200, body = Reservation), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn release_reservation(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<Reservation>> {
    caller.require("stock", "create")?;
    let mut tx = state.db.begin().await?;
    let mut c = tx.conn();
    let existing = reservations::get(&mut c, id).await.or_not_found("reservation")?;
    if existing.order_id.is_some() {
        return Err(ApiError::Conflict {
            field: None,
            message: "this reservation belongs to an order; cancel the order instead".into(),
        });
    }
    let r = reservations::release(&mut c, id, "released").await?;
    bodega_store::audit::record(
        &mut c,
        &caller.actor,
        "release",
        "reservation",
        id,
        Some(&existing),
        Some(&r),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(r))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LowStockQuery {
    pub warehouse_id: Option<i64>,
}

/// Active products whose available stock is below their threshold, lowest first.
#[utoipa::path(get, path = "/api/inventory/low-stock", tag = "stock", params(LowStockQuery),
    responses((status = 200, body = Vec<LowStock>)), security(("bearer" = []), ("api_key" = [])))]
async fn low_stock(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<LowStockQuery>,
) -> ApiResult<Json<Vec<LowStock>>> {
    caller.require("stock", "read")?;
    let mut conn = state.db.read().await?;
    Ok(Json(stock::low_stock(&mut conn.conn(), q.warehouse_id).await?))
}
