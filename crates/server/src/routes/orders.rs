//! `/api/orders`: idempotent creation and the saga steps.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use bodega_domain::error::optional_text;
use bodega_domain::{OrderAction, OrderStatus, Page, PageRequest};
use bodega_store::orders::{self, Created, NewOrder, Order, OrderChanges, OrderFilter, OrderWithItems};
use bodega_store::sales::LineRequest;
use bodega_store::StoreError;

use crate::auth::tokens::sha256_hex;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, OrNotFound};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::routes::catalog::{check_amount, check_quantity};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orders, create_order))
        .routes(routes!(get_order, update_order))
        .routes(routes!(confirm))
        .routes(routes!(process))
        .routes(routes!(ship))
        .routes(routes!(deliver))
        .routes(routes!(complete))
        .routes(routes!(cancel))
        .routes(routes!(return_order))
        .routes(routes!(set_payment))
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemRequest {
    pub product_id: i64,
    pub quantity: i64,
    /// Overrides the catalogue price for this line, in minor units.
    pub unit_price: Option<i64>,
}

pub fn lines(items: &[ItemRequest]) -> ApiResult<Vec<LineRequest>> {
    if items.is_empty() {
        return Err(ApiError::validation("items", "must hold at least one item"));
    }
    if items.len() > 500 {
        return Err(ApiError::validation("items", "at most 500 items"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            Ok(LineRequest {
                product_id: item.product_id,
                quantity: check_quantity(&format!("items[{i}].quantity"), item.quantity)?,
                unit_price: item
                    .unit_price
                    .map(|p| check_amount(&format!("items[{i}].unit_price"), p))
                    .transpose()?,
            })
        })
        .collect()
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    pub customer_id: Option<i64>,
    /// Warehouse that serves the order (default: the first active one).
    pub warehouse_id: Option<i64>,
    pub items: Vec<ItemRequest>,
    /// Order-level discount in minor units.
    pub discount: Option<i64>,
    pub notes: Option<String>,
}

/// The lines, discount and notes of an [`OrderRequest`], checked (422 otherwise).
struct CheckedOrder {
    items: Vec<LineRequest>,
    discount: i64,
    notes: Option<String>,
}

impl OrderRequest {
    fn checked(&self) -> ApiResult<CheckedOrder> {
        Ok(CheckedOrder {
            items: lines(&self.items)?,
            discount: check_amount("discount", self.discount.unwrap_or(0))?,
            notes: optional_text("notes", self.notes.as_deref().unwrap_or(""), 2000)?,
        })
    }
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| ApiError::validation("Idempotency-Key", "must be visible ASCII"))?
        .trim();
    if key.is_empty() || key.len() > 200 {
        return Err(ApiError::validation("Idempotency-Key", "must be 1 to 200 characters"));
    }
    Ok(Some(key.to_string()))
}

/// Creates a pending order. With an `Idempotency-Key` header a retry returns the order the first
/// request created (200 and `Idempotent-Replayed: true`); reusing a key with another body is 422.
#[utoipa::path(post, path = "/api/orders", tag = "orders", request_body = OrderRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = OrderWithItems), (status = 200, body = OrderWithItems, description = "replayed"),
        (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn create_order(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<OrderRequest>,
) -> ApiResult<Response> {
    caller.require("orders", "create")?;
    let key = idempotency_key(&headers)?;
    let hash = sha256_hex(&serde_json::to_string(&req).unwrap_or_default());
    let checked = req.checked()?;
    let new = NewOrder {
        customer_id: req.customer_id,
        warehouse_id: req.warehouse_id,
        items: checked.items,
        discount: checked.discount,
        notes: checked.notes,
        idempotency_key: key,
        request_hash: Some(hash),
    };
    let created = match state.order_steps.create(&caller.actor, new).await {
        Ok(created) => created,
        // Two requests with one key raced, and the other's order could not be read back.
        Err(StoreError::Conflict { field }) if field == "idempotency_key" => {
            return Err(ApiError::Conflict {
                field: Some("Idempotency-Key".into()),
                message: "concurrent request with this key".into(),
            })
        }
        Err(other) => return Err(other.into()),
    };
    Ok(match created {
        Created::New(order) => (StatusCode::CREATED, Json(order)).into_response(),
        Created::Replayed(order) => {
            let mut response = (StatusCode::OK, Json(order)).into_response();
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            response
        }
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    pub status: Option<String>,
    pub customer_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

#[utoipa::path(get, path = "/api/orders", tag = "orders", params(OrderQuery),
    responses((status = 200, body = Page<Order>), (status = 422, body = ErrorBody)), security(("bearer" = []), ("api_key" = [])))]
async fn list_orders(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<OrderQuery>,
) -> ApiResult<Json<Page<Order>>> {
    caller.require("orders", "read")?;
    let page = PageRequest::parse(q.page, q.per_page)?;
    if let Some(s) = &q.status {
        s.parse::<OrderStatus>()?;
    }
    let filter = OrderFilter {
        status: q.status,
        customer_id: q.customer_id,
        warehouse_id: q.warehouse_id,
        from: q.from,
        to: q.to,
    };
    let mut conn = state.db.read().await?;
    Ok(Json(orders::list(&mut conn.conn(), &filter, page).await?))
}

#[utoipa::path(get, path = "/api/orders/{id}", tag = "orders", params(("id" = i64, Path)),
    responses((status = 200, body = OrderWithItems), (status = 404, body = ErrorBody)), security(("bearer" = []), ("api_key" = [])))]
async fn get_order(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<OrderWithItems>> {
    caller.require("orders", "read")?;
    let mut conn = state.db.read().await?;
    Ok(Json(orders::get(&mut conn.conn(), id).await.or_not_found("order")?))
}

/// Changes a pending order: customer, warehouse (omitted: the one it has), discount, notes and
/// items, which replace the old ones and are priced as the products are now. Stock is not
/// touched (nothing is reserved before confirm). A confirmed, shipped or cancelled order no
/// longer changes (409): cancel it and create another.
#[utoipa::path(put, path = "/api/orders/{id}", tag = "orders", params(("id" = i64, Path)), request_body = OrderRequest,
    responses((status = 200, body = OrderWithItems), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn update_order(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(req): ApiJson<OrderRequest>,
) -> ApiResult<Json<OrderWithItems>> {
    caller.require("orders", "update")?;
    let checked = req.checked()?;
    let mut tx = state.db.begin().await?;
    let mut c = tx.conn();
    let changes = OrderChanges {
        customer_id: req.customer_id,
        warehouse_id: req.warehouse_id,
        items: &checked.items,
        discount: checked.discount,
        notes: checked.notes.as_deref(),
    };
    let order = orders::update(&mut c, &caller.actor, id, &changes)
        .await
        .or_not_found("order")?;
    tx.commit().await?;
    Ok(Json(order))
}

async fn step(state: &AppState, caller: &Caller, id: i64, action: OrderAction) -> ApiResult<Json<OrderWithItems>> {
    caller.require("orders", "update")?;
    let order = state
        .order_steps
        .run(&caller.actor, id, action)
        .await
        .or_not_found("order")?;
    if action == OrderAction::Ship {
        state.recommender.learn_shipped_order(&order);
    }
    Ok(Json(order))
}

/// Reserves stock for every line, all or nothing: 409 `insufficient_stock` lists the short lines.
#[utoipa::path(post, path = "/api/orders/{id}/confirm", tag = "orders", params(("id" = i64, Path)),
    responses((status = 200, body = OrderWithItems), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn confirm(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> ApiResult<Json<OrderWithItems>> {
    step(&state, &caller, id, OrderAction::Confirm).await
}

#[utoipa::path(post, path = "/api/orders/{id}/process", tag = "orders", params(("id" = i64, Path)),
    responses((status = 200, body = OrderWithItems), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn process(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> ApiResult<Json<OrderWithItems>> {
    step(&state, &caller, id, OrderAction::Process).await
}

/// Commits the reservations into sale exits and records the sale.
#[utoipa::path(post, path = "/api/orders/{id}/ship", tag = "orders", params(("id" = i64, Path)),
    responses((status = 200, body = OrderWithItems), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn ship(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> ApiResult<Json<OrderWithItems>> {
    step(&state, &caller, id, OrderAction::Ship).await
}

#[utoipa::path(post, path = "/api/orders/{id}/deliver", tag = "orders", params(("id" = i64, Path)),
    responses((status = 200, body = OrderWithItems), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn deliver(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> ApiResult<Json<OrderWithItems>> {
    step(&state, &caller, id, OrderAction::Deliver).await
}

#[utoipa::path(post, path = "/api/orders/{id}/complete", tag = "orders", params(("id" = i64, Path)),
    responses((status = 200, body = OrderWithItems), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn complete(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<OrderWithItems>> {
    step(&state, &caller, id, OrderAction::Complete).await
}

/// Cancels an order that has not shipped; its reservations are released.
#[utoipa::path(post, path = "/api/orders/{id}/cancel", tag = "orders", params(("id" = i64, Path)),
    responses((status = 200, body = OrderWithItems), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn cancel(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> ApiResult<Json<OrderWithItems>> {
    step(&state, &caller, id, OrderAction::Cancel).await
}

/// Books the goods of a shipped order back into stock (return movements).
#[utoipa::path(post, path = "/api/orders/{id}/return", tag = "orders", params(("id" = i64, Path)),
    responses((status = 200, body = OrderWithItems), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn return_order(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<OrderWithItems>> {
    step(&state, &caller, id, OrderAction::Return).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// unpaid, paid or refunded.
    pub status: String,
}

/// Sets the payment status, independent of fulfilment: only a paid order is refunded, a refund
/// is final, and a cancelled or returned order takes no payment (409).
#[utoipa::path(post, path = "/api/orders/{id}/payment", tag = "orders", params(("id" = i64, Path)), request_body = PaymentRequest,
    responses((status = 200, body = OrderWithItems), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn set_payment(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(req): ApiJson<PaymentRequest>,
) -> ApiResult<Json<OrderWithItems>> {
    caller.require("orders", "update")?;
    if !["unpaid", "paid", "refunded"].contains(&req.status.as_str()) {
        return Err(ApiError::validation("status", "must be unpaid, paid or refunded"));
    }
    let mut tx = state.db.begin().await?;
    let mut c = tx.conn();
    let order = orders::set_payment(&mut c, &caller.actor, id, &req.status)
        .await
        .or_not_found("order")?;
    tx.commit().await?;
    Ok(Json(order))
}
