//! `/api/pos/sales` (the till), `/api/sales` and `/api/sales/stats`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use bodega_domain::{Page, PageRequest};
use bodega_store::people::{self, Customer};
use bodega_store::sales::{self, ListedSale, PaymentMethodSales, SaleFilter, SaleWithItems, SalesStats, TopProduct};
use bodega_store::Conn;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, OrNotFound};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::routes::catalog::resolve_warehouse;
use crate::routes::orders::{lines, ItemRequest};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(pos_sale))
        .routes(routes!(list_sales))
        .routes(routes!(sales_stats))
        .routes(routes!(get_sale))
}

pub async fn check_customer(c: &mut Conn<'_>, id: Option<i64>) -> ApiResult<()> {
    if let Some(id) = id {
        people::get::<Customer>(c, id)
            .await
            .map_err(|_| ApiError::validation("customer_id", format!("no customer {id}")))?;
    }
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PosSaleRequest {
    /// Default: the first active warehouse.
    pub warehouse_id: Option<i64>,
    pub customer_id: Option<i64>,
    /// How it was paid: cash, card, transfer, credit, voucher or other. Omitted: not recorded.
    pub payment_method: Option<String>,
    pub items: Vec<ItemRequest>,
}

/// A till sale: the items leave the warehouse and the sale is recorded in one transaction;
/// 409 `insufficient_stock` lists every short line and changes nothing.
#[utoipa::path(post, path = "/api/pos/sales", tag = "sales", request_body = PosSaleRequest,
    responses((status = 201, body = SaleWithItems), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn pos_sale(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<PosSaleRequest>,
) -> ApiResult<(StatusCode, Json<SaleWithItems>)> {
    caller.require("sales", "create")?;
    let items = lines(&req.items)?;
    let mut tx = state.db.begin().await?;
    let mut c = tx.conn();
    let warehouse_id = resolve_warehouse(&mut c, req.warehouse_id).await?;
    check_customer(&mut c, req.customer_id).await?;
    let sale = sales::quick_sale(
        &mut c,
        &caller.actor,
        warehouse_id,
        req.customer_id,
        req.payment_method.as_deref(),
        &items,
    )
    .await?;
    tx.commit().await?;
    state.recommender.learn_committed_sale(&sale);
    Ok((StatusCode::CREATED, Json(sale)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SaleQuery {
    pub customer_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    /// pos, order or import.
    pub channel: Option<String>,
    /// cash, card, transfer, credit, voucher or other.
    pub payment_method: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

impl SaleQuery {
    /// The store's filter; an unknown channel or payment method is a 422 rather than an empty
    /// page.
    fn filter(&self) -> ApiResult<SaleFilter> {
        sales::check_payment_method("payment_method", self.payment_method.as_deref())?;
        if let Some(channel) = &self.channel {
            if !sales::CHANNELS.contains(&channel.as_str()) {
                return Err(ApiError::validation(
                    "channel",
                    format!("must be one of {}", sales::CHANNELS.join(", ")),
                ));
            }
        }
        Ok(SaleFilter {
            customer_id: self.customer_id,
            warehouse_id: self.warehouse_id,
            channel: self.channel.clone(),
            payment_method: self.payment_method.clone(),
            from: self.from,
            to: self.to,
        })
    }
}

/// Sales, newest first, each marked `returned` when its order was returned since.
#[utoipa::path(get, path = "/api/sales", tag = "sales", params(SaleQuery),
    responses((status = 200, body = Page<ListedSale>), (status = 422, body = ErrorBody)), security(("bearer" = []), ("api_key" = [])))]
async fn list_sales(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<SaleQuery>,
) -> ApiResult<Json<Page<ListedSale>>> {
    caller.require("sales", "read")?;
    let page = PageRequest::parse(q.page, q.per_page)?;
    let mut conn = state.db.read().await?;
    Ok(Json(sales::list(&mut conn.conn(), &q.filter()?, page).await?))
}

#[utoipa::path(get, path = "/api/sales/{id}", tag = "sales", params(("id" = i64, Path)),
    responses((status = 200, body = SaleWithItems), (status = 404, body = ErrorBody)), security(("bearer" = []), ("api_key" = [])))]
async fn get_sale(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> ApiResult<Json<SaleWithItems>> {
    caller.require("sales", "read")?;
    let mut conn = state.db.read().await?;
    Ok(Json(sales::get(&mut conn.conn(), id).await.or_not_found("sale")?))
}

#[derive(Serialize, ToSchema)]
pub struct StatsResponse {
    #[serde(flatten)]
    pub stats: SalesStats,
    /// Best sellers by revenue.
    pub top_products: Vec<TopProduct>,
    /// The sales and revenue of each payment method (null: not recorded), largest revenue
    /// first; they add up to `sales` and `revenue`.
    pub by_payment_method: Vec<PaymentMethodSales>,
}

/// Count, revenue, units, gross margin, average ticket, best sellers and the split by payment
/// method over the filter, with the returned sales among them and the revenue net of them.
#[utoipa::path(get, path = "/api/sales/stats", tag = "sales", params(SaleQuery),
    responses((status = 200, body = StatsResponse), (status = 422, body = ErrorBody)), security(("bearer" = []), ("api_key" = [])))]
async fn sales_stats(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<SaleQuery>,
) -> ApiResult<Json<StatsResponse>> {
    caller.require("sales", "read")?;
    let mut conn = state.db.read().await?;
    let (stats, top_products, by_payment_method) = sales::stats(&mut conn.conn(), &q.filter()?).await?;
    Ok(Json(StatsResponse {
        stats,
        top_products,
        by_payment_method,
    }))
}
