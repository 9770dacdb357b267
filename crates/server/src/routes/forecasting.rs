//! `/api/analytics/forecasting/*` (demand forecasts, their components and measured accuracy,
//! batches), `/api/analytics/reorder-advice` (+ `/apply`, which turns advice into reorder
//! requests) and `/api/products/{id}/replenishment` (lead time, review period, MOQ, pack).

use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use bodega_store::audit::Actor;
use bodega_store::forecasts::{self, Replenishment, Scope};
use bodega_store::reorders::{self, NewReorder, ReorderRequest};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::forecasting::{self, ComponentSeries, DemandForecast, Granularity, ProductAdvice};
use crate::routes::catalog::resolve_warehouse;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(demand))
        .routes(routes!(demand_components))
        .routes(routes!(accuracy))
        .routes(routes!(batch))
        .routes(routes!(reorder_advice))
        .routes(routes!(apply_reorder_advice))
        .routes(routes!(set_replenishment))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DemandQuery {
    /// One product; or
    pub product_id: Option<i64>,
    /// one category with its subcategories; with neither, every product (of the store).
    pub category_id: Option<i64>,
    /// Periods ahead: 1–365 days or 1–104 weeks; default 28 days or 8 weeks.
    pub horizon: Option<i64>,
    /// daily (default) or weekly.
    pub granularity: Option<String>,
    /// One store; default all.
    pub warehouse_id: Option<i64>,
    /// Components only: planned promotion days over the horizon, YYYY-MM-DD joined by commas.
    pub promotion_days: Option<String>,
}

fn promotion_days(raw: Option<&str>) -> ApiResult<Vec<chrono::NaiveDate>> {
    raw.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| ApiError::validation("promotion_days", format!("{d:?} is not a YYYY-MM-DD date")))
        })
        .collect()
}

fn granularity(raw: Option<&str>) -> ApiResult<Granularity> {
    match raw {
        None => Ok(Granularity::Daily),
        Some(g) => Granularity::parse(g).ok_or_else(|| ApiError::validation("granularity", "must be daily or weekly")),
    }
}

fn horizon(raw: Option<i64>, g: Granularity) -> ApiResult<usize> {
    let (default, max) = match g {
        Granularity::Daily => (28, 365),
        Granularity::Weekly => (8, 104),
    };
    let h = raw.unwrap_or(default);
    if !(1..=max).contains(&h) {
        return Err(ApiError::validation("horizon", format!("must be between 1 and {max}")));
    }
    Ok(h as usize)
}

async fn check_product(state: &AppState, id: i64) -> ApiResult<()> {
    let mut reader = state.db.read().await?;
    let exists: Option<i64> =
        bodega_store::sql::query_scalar("SELECT id FROM products WHERE id = $1 AND deleted_at IS NULL")
            .bind(id)
            .fetch_optional(&mut reader.conn())
            .await?;
    exists
        .map(|_| ())
        .ok_or_else(|| ApiError::NotFound(format!("product {id}")))
}

async fn check_category(state: &AppState, id: i64) -> ApiResult<()> {
    let mut reader = state.db.read().await?;
    let exists: Option<i64> = bodega_store::sql::query_scalar("SELECT id FROM categories WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut reader.conn())
        .await?;
    exists
        .map(|_| ())
        .ok_or_else(|| ApiError::NotFound(format!("category {id}")))
}

/// The scope a demand query names, checked: a product, a category, or every product; in one
/// store or all.
async fn scope(state: &AppState, q: &DemandQuery) -> ApiResult<Scope> {
    match (q.product_id, q.category_id) {
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(
                "category_id",
                "give product_id or category_id, not both",
            ))
        }
        (Some(id), None) => check_product(state, id).await?,
        (None, Some(id)) => check_category(state, id).await?,
        (None, None) => {}
    }
    check_warehouse(state, q.warehouse_id).await?;
    Ok(Scope {
        product_id: q.product_id,
        category_id: q.category_id,
        warehouse_id: q.warehouse_id,
    })
}

async fn check_warehouse(state: &AppState, id: Option<i64>) -> ApiResult<()> {
    if let Some(id) = id {
        let mut reader = state.db.read().await?;
        let exists: Option<i64> = bodega_store::sql::query_scalar("SELECT id FROM warehouses WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut reader.conn())
            .await?;
        exists.ok_or_else(|| ApiError::validation("warehouse_id", format!("no warehouse {id}")))?;
    }
    Ok(())
}

/// Demand forecast of a product, a category (with its subcategories) or a whole store (neither
/// given; all stores without `warehouse_id`): the model chosen by backtest, the mean and
/// 80%/95% intervals per period. The forecast is stored, and its accuracy measured when its
/// periods are over.
#[utoipa::path(get, path = "/api/analytics/forecasting/demand", tag = "forecasting", params(DemandQuery),
    responses((status = 200, body = DemandForecast), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn demand(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DemandQuery>,
) -> ApiResult<Json<DemandForecast>> {
    caller.require("forecasts", "read")?;
    let g = granularity(q.granularity.as_deref())?;
    let h = horizon(q.horizon, g)?;
    let scope = scope(&state, &q).await?;
    let forecast = forecasting::forecast(&state.db, scope, g, h).await?;
    Ok(Json(forecast))
}

/// Trend, weekly, yearly, holiday and promotion components of the decomposable (Prophet-style) model over the
/// history and the horizon, for plots (empty series, with a note, without enough history).
#[utoipa::path(get, path = "/api/analytics/forecasting/demand/components", tag = "forecasting", params(DemandQuery),
    responses((status = 200, body = ComponentSeries), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn demand_components(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DemandQuery>,
) -> ApiResult<Json<ComponentSeries>> {
    caller.require("forecasts", "read")?;
    let g = granularity(q.granularity.as_deref())?;
    let h = horizon(q.horizon, g)?;
    let calendar = forecasting::Calendar {
        holidays: state.config.holidays.clone(),
        planned_promotions: promotion_days(q.promotion_days.as_deref())?,
    };
    let scope = scope(&state, &q).await?;
    Ok(Json(forecasting::components(&state.db, scope, g, h, &calendar).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccuracyQuery {
    pub product_id: Option<i64>,
    /// A category's own forecasts and its products'.
    pub category_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    /// Forecasts of this level only: product, category or store.
    pub level: Option<String>,
    /// 1–1000, default 100.
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct AccuracyRecord {
    pub forecast_id: i64,
    /// product, category or store.
    pub level: &'static str,
    pub product_id: Option<i64>,
    pub category_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    pub granularity: String,
    pub periods: i64,
    /// mape, smape, mase, wape, bias, relative_bias, and the actual and forecast values.
    #[schema(value_type = Object)]
    pub metrics: serde_json::Value,
    pub computed_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct AccuracyReport {
    /// Mean of each measure over the records (null when undefined for all of them).
    #[schema(value_type = Object)]
    pub average: serde_json::Value,
    pub records: Vec<AccuracyRecord>,
}

/// Measured accuracy of past forecasts (of a product, a category, a store), newest first, with
/// averages.
#[utoipa::path(get, path = "/api/analytics/forecasting/accuracy", tag = "forecasting", params(AccuracyQuery),
    responses((status = 200, body = AccuracyReport), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn accuracy(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AccuracyQuery>,
) -> ApiResult<Json<AccuracyReport>> {
    caller.require("forecasts", "read")?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::validation("limit", "must be between 1 and 1000"));
    }
    let level = match q.level.as_deref() {
        None => None,
        Some(l @ ("product" | "category" | "store")) => Some(l),
        Some(_) => return Err(ApiError::validation("level", "must be product, category or store")),
    };
    let filter = forecasts::AccuracyFilter {
        product_id: q.product_id,
        category_id: q.category_id,
        warehouse_id: q.warehouse_id,
        level,
    };
    let mut reader = state.db.read().await?;
    let rows = forecasts::accuracy(&mut reader.conn(), &filter, limit).await?;
    let records: Vec<AccuracyRecord> = rows
        .into_iter()
        .map(|r| AccuracyRecord {
            metrics: serde_json::from_str(&r.metrics).unwrap_or_default(),
            forecast_id: r.forecast_id,
            level: match (r.product_id, r.category_id) {
                (Some(_), _) => "product",
                (None, Some(_)) => "category",
                (None, None) => "store",
            },
            product_id: r.product_id,
            category_id: r.category_id,
            warehouse_id: r.warehouse_id,
            granularity: r.granularity,
            periods: r.periods,
            computed_at: r.computed_at,
        })
        .collect();
    let mut average = serde_json::Map::new();
    for name in ["mape", "smape", "mase", "wape", "bias"] {
        let values: Vec<f64> = records.iter().filter_map(|r| r.metrics[name].as_f64()).collect();
        let mean = (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64);
        average.insert(name.into(), serde_json::json!(mean));
    }
    Ok(Json(AccuracyReport {
        average: serde_json::Value::Object(average),
        records,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// Products to forecast; default every active product.
    pub product_ids: Option<Vec<i64>>,
    pub horizon: Option<i64>,
    /// daily (default) or weekly.
    pub granularity: Option<String>,
    pub warehouse_id: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct BatchItem {
    pub product_id: i64,
    pub forecast_id: i64,
    pub model: String,
    pub total: f64,
}

#[derive(Serialize, ToSchema)]
pub struct BatchResponse {
    pub forecasts: Vec<BatchItem>,
    pub seconds: f64,
}

/// Forecasts many products at once (all active ones by default) and stores the forecasts.
#[utoipa::path(post, path = "/api/analytics/forecasting/batch", tag = "forecasting", request_body = BatchRequest,
    responses((status = 201, body = BatchResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn batch(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<BatchRequest>,
) -> ApiResult<(StatusCode, Json<BatchResponse>)> {
    caller.require("forecasts", "create")?;
    let g = granularity(req.granularity.as_deref())?;
    let h = horizon(req.horizon, g)?;
    check_warehouse(&state, req.warehouse_id).await?;
    let ids = match req.product_ids {
        Some(ids) => {
            if ids.is_empty() || ids.len() > 10_000 {
                return Err(ApiError::validation("product_ids", "must hold 1 to 10000 product ids"));
            }
            for &id in &ids {
                check_product(&state, id).await?;
            }
            ids
        }
        None => {
            let mut reader = state.db.read().await?;
            forecasts::active_products(&mut reader.conn())
                .await?
                .into_iter()
                .map(|p| p.0)
                .collect()
        }
    };
    let started = Instant::now();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let f = forecasting::forecast(&state.db, Scope::product(id, req.warehouse_id), g, h).await?;
        out.push(BatchItem {
            product_id: id,
            forecast_id: f.id,
            total: f.points.iter().map(|p| p.mean).sum(),
            model: f.model,
        });
    }
    Ok((
        StatusCode::CREATED,
        Json(BatchResponse {
            forecasts: out,
            seconds: started.elapsed().as_secs_f64(),
        }),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdviceQuery {
    /// One store; default all stores together.
    pub warehouse_id: Option<i64>,
    /// Cycle service level, 0.5–0.999; default 0.95.
    pub service_level: Option<f64>,
    /// One product only.
    pub product_id: Option<i64>,
    /// Include products that need no order now (default false).
    pub all: Option<bool>,
}

fn service_level(raw: Option<f64>) -> ApiResult<f64> {
    let s = raw.unwrap_or(0.95);
    if !(0.5..=0.999).contains(&s) {
        return Err(ApiError::validation("service_level", "must be between 0.5 and 0.999"));
    }
    Ok(s)
}

async fn advice_for(
    state: &AppState,
    warehouse_id: Option<i64>,
    level: f64,
    products: Option<Vec<i64>>,
) -> ApiResult<Vec<ProductAdvice>> {
    let ids = match products {
        Some(ids) => ids,
        None => {
            let mut reader = state.db.read().await?;
            forecasts::active_products(&mut reader.conn())
                .await?
                .into_iter()
                .map(|p| p.0)
                .collect()
        }
    };
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(forecasting::advise(&state.db, id, warehouse_id, level).await?);
    }
    Ok(out)
}

/// Reorder advice from each product's daily demand forecast: reorder point = demand over the
/// lead time + safety stock at the service level (from the forecast's error), order-up-to
/// over lead time + review period, quantity rounded to MOQ and pack size.
#[utoipa::path(get, path = "/api/analytics/reorder-advice", tag = "forecasting", params(AdviceQuery),
    responses((status = 200, body = Vec<ProductAdvice>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn reorder_advice(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AdviceQuery>,
) -> ApiResult<Json<Vec<ProductAdvice>>> {
    caller.require("forecasts", "read")?;
    let level = service_level(q.service_level)?;
    check_warehouse(&state, q.warehouse_id).await?;
    if let Some(id) = q.product_id {
        check_product(&state, id).await?;
    }
    let mut advice = advice_for(&state, q.warehouse_id, level, q.product_id.map(|id| vec![id])).await?;
    if !q.all.unwrap_or(false) && q.product_id.is_none() {
        advice.retain(|a| a.advice.reorder && a.advice.order_qty > 0.0);
    }
    Ok(Json(advice))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    /// The store the advice is for and where the goods go; default: advice over all stores,
    /// goods to the first active warehouse (as `GET /api/analytics/reorder-advice` without one).
    pub warehouse_id: Option<i64>,
    pub service_level: Option<f64>,
    /// Only these products (default: every product the advice says to reorder).
    pub product_ids: Option<Vec<i64>>,
}

#[derive(Serialize, ToSchema)]
pub struct ApplyResponse {
    pub created: Vec<ReorderRequest>,
}

/// Turns the current advice into reorder requests (one per product to reorder), in one
/// transaction.
#[utoipa::path(post, path = "/api/analytics/reorder-advice/apply", tag = "forecasting", request_body = ApplyRequest,
    responses((status = 201, body = ApplyResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn apply_reorder_advice(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ApplyRequest>,
) -> ApiResult<(StatusCode, Json<ApplyResponse>)> {
    caller.require("reorders", "create")?;
    let level = service_level(req.service_level)?;
    let warehouse_id = {
        let mut reader = state.db.read().await?;
        resolve_warehouse(&mut reader.conn(), req.warehouse_id).await?
    };
    if let Some(ids) = &req.product_ids {
        if ids.is_empty() || ids.len() > 10_000 {
            return Err(ApiError::validation("product_ids", "must hold 1 to 10000 product ids"));
        }
        for &id in ids {
            check_product(&state, id).await?;
        }
    }
    let advice = advice_for(&state, req.warehouse_id, level, req.product_ids).await?;
    let mut tx = state.db.begin().await?;
    let mut created = Vec::new();
    let actor: &Actor = &caller.actor;
    for a in advice.iter().filter(|a| a.advice.reorder && a.advice.order_qty > 0.0) {
        let note = format!(
            "reorder advice: position {:.0} ≤ reorder point {:.1} (service level {level}); model {}",
            a.advice.inventory_position, a.advice.reorder_point, a.model
        );
        created.push(
            reorders::create(
                &mut tx.conn(),
                actor,
                &NewReorder {
                    product_id: a.product_id,
                    warehouse_id,
                    supplier_id: None,
                    quantity: a.advice.order_qty.ceil() as i64,
                    unit_cost: None,
                    note: Some(&note),
                },
            )
            .await?,
        );
    }
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(ApplyResponse { created })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplenishmentBody {
    pub lead_time_days: i64,
    pub review_days: i64,
    pub min_order_qty: i64,
    pub pack_size: i64,
}

/// Sets how a product is replenished (used by reorder advice).
#[utoipa::path(put, path = "/api/products/{id}/replenishment", tag = "forecasting", params(("id" = i64, Path)),
    request_body = ReplenishmentBody,
    responses((status = 200, body = Replenishment), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn set_replenishment(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(body): ApiJson<ReplenishmentBody>,
) -> ApiResult<Json<Replenishment>> {
    caller.require("products", "update")?;
    for (field, value, min, max) in [
        ("lead_time_days", body.lead_time_days, 0, 365),
        ("review_days", body.review_days, 0, 365),
        ("min_order_qty", body.min_order_qty, 0, 1_000_000),
        ("pack_size", body.pack_size, 1, 1_000_000),
    ] {
        if !(min..=max).contains(&value) {
            return Err(ApiError::validation(field, format!("must be between {min} and {max}")));
        }
    }
    check_product(&state, id).await?;
    let settings = Replenishment {
        product_id: id,
        lead_time_days: body.lead_time_days,
        review_days: body.review_days,
        min_order_qty: body.min_order_qty,
        pack_size: body.pack_size,
    };
    let mut tx = state.db.begin().await?;
    forecasts::set_replenishment(&mut tx.conn(), &settings).await?;
    bodega_store::audit::record(
        &mut tx.conn(),
        &caller.actor,
        "update",
        "replenishment",
        id,
        None::<&()>,
        Some(&settings),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(settings))
}
