//! `/api/warehouses`, `/api/categories`, `/api/products` (with seed 002's
//! `POST /api/products/{id}/sell`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use bodega_domain::error::{optional_text, required_text};
use bodega_domain::limits;
use bodega_domain::{MovementKind, Page, PageRequest};
use bodega_store::catalog::{
    self, Category, CategoryFilter, Product, ProductFilter, ProductInput, Warehouse, WarehouseFilter, WarehouseInput,
};
use bodega_store::sales::{self, LineRequest, SaleWithItems};
use bodega_store::stock::{self, NewMovement};
use bodega_store::{recommendations, Conn};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, OrNotFound};
use crate::extract::{parse_json, ApiJson, ApiQuery, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_warehouses, create_warehouse))
        .routes(routes!(get_warehouse, update_warehouse))
        .routes(routes!(list_categories, create_category))
        .routes(routes!(get_category, update_category, delete_category))
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product, update_product, patch_product, delete_product))
        .routes(routes!(sell_product))
}

pub use bodega_domain::limits::{MAX_AMOUNT, MAX_QUANTITY};

const PRODUCT_STATUSES: [&str; 3] = ["active", "inactive", "discontinued"];
const PRODUCT_STATUS_RULE: &str = "must be active, inactive or discontinued";
const WAREHOUSE_KINDS: [&str; 2] = ["warehouse", "store"];
const WAREHOUSE_KIND_RULE: &str = "must be 'warehouse' or 'store'";

pub fn check_quantity(field: &str, q: i64) -> ApiResult<i64> {
    Ok(limits::quantity(field, q)?)
}

pub fn check_amount(field: &str, v: i64) -> ApiResult<i64> {
    Ok(limits::amount(field, v)?)
}

/// The warehouse a request names, or the first active one when it names none.
pub async fn resolve_warehouse(c: &mut Conn<'_>, id: Option<i64>) -> ApiResult<i64> {
    let all = catalog::warehouses(c, false).await?;
    match id {
        Some(id) if all.iter().any(|w| w.id == id) => Ok(id),
        Some(id) => Err(ApiError::validation(
            "warehouse_id",
            format!("no active warehouse {id}"),
        )),
        None => all
            .first()
            .map(|w| w.id)
            .ok_or_else(|| ApiError::validation("warehouse_id", "no active warehouse; create one first")),
    }
}

// ---------------------------------------------------------------------------------------------
// Warehouses

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WarehouseRequest {
    /// Short unique code, e.g. `STGO-01`.
    pub code: String,
    pub name: String,
    /// `warehouse` (default) or `store`.
    pub kind: Option<String>,
    pub address: Option<String>,
    pub is_active: Option<bool>,
}

impl WarehouseRequest {
    fn validate(&self) -> ApiResult<WarehouseInput> {
        let kind = self.kind.clone().unwrap_or_else(|| "warehouse".into());
        if !WAREHOUSE_KINDS.contains(&kind.as_str()) {
            return Err(ApiError::validation("kind", WAREHOUSE_KIND_RULE));
        }
        Ok(WarehouseInput {
            code: limits::warehouse_code("code", &self.code)?,
            name: required_text("name", &self.name, limits::MAX_NAME)?,
            kind,
            address: optional_text("address", self.address.as_deref().unwrap_or(""), 300)?,
            is_active: self.is_active.unwrap_or(true),
        })
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WarehouseQuery {
    /// Include deactivated warehouses.
    pub include_inactive: Option<bool>,
    /// Substring of the code, name or address, case-insensitive.
    pub q: Option<String>,
    /// `warehouse` or `store`.
    pub kind: Option<String>,
}

#[utoipa::path(get, path = "/api/warehouses", tag = "catalogue", params(WarehouseQuery),
    responses((status = 200, body = Vec<Warehouse>)), security(("bearer" = []), ("api_key" = [])))]
async fn list_warehouses(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<WarehouseQuery>,
) -> ApiResult<Json<Vec<Warehouse>>> {
    caller.require("warehouses", "read")?;
    if let Some(kind) = q.kind.as_deref() {
        if !WAREHOUSE_KINDS.contains(&kind) {
            return Err(ApiError::validation("kind", WAREHOUSE_KIND_RULE));
        }
    }
    let filter = WarehouseFilter {
        include_inactive: q.include_inactive.unwrap_or(false),
        q: q.q,
        kind: q.kind,
    };
    let mut conn = state.db.read().await?;
    Ok(Json(catalog::search_warehouses(&mut conn.conn(), &filter).await?))
}

#[utoipa::path(post, path = "/api/warehouses", tag = "catalogue", request_body = WarehouseRequest,
    responses((status = 201, body = Warehouse), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn create_warehouse(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<WarehouseRequest>,
) -> ApiResult<(StatusCode, Json<Warehouse>)> {
    caller.require("warehouses", "create")?;
    let input = req.validate()?;
    let mut tx = state.db.begin().await?;
    let w = catalog::create_warehouse(&mut tx.conn(), &caller.actor, &input).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(w)))
}

#[utoipa::path(get, path = "/api/warehouses/{id}", tag = "catalogue", params(("id" = i64, Path)),
    responses((status = 200, body = Warehouse), (status = 404, body = ErrorBody)), security(("bearer" = []), ("api_key" = [])))]
async fn get_warehouse(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<Warehouse>> {
    caller.require("warehouses", "read")?;
    let mut conn = state.db.read().await?;
    Ok(Json(
        catalog::warehouse(&mut conn.conn(), id)
            .await
            .or_not_found("warehouse")?,
    ))
}

/// Replaces a warehouse; `is_active: false` retires it (its history stays).
#[utoipa::path(put, path = "/api/warehouses/{id}", tag = "catalogue", params(("id" = i64, Path)), request_body = WarehouseRequest,
    responses((status = 200, body = Warehouse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn update_warehouse(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(req): ApiJson<WarehouseRequest>,
) -> ApiResult<Json<Warehouse>> {
    caller.require("warehouses", "update")?;
    let input = req.validate()?;
    let mut tx = state.db.begin().await?;
    let w = catalog::update_warehouse(&mut tx.conn(), &caller.actor, id, &input)
        .await
        .or_not_found("warehouse")?;
    tx.commit().await?;
    Ok(Json(w))
}

// ---------------------------------------------------------------------------------------------
// Categories

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryRequest {
    pub name: String,
    /// Parent category; none for a root.
    pub parent_id: Option<i64>,
}

impl CategoryRequest {
    fn name(&self) -> ApiResult<String> {
        let name = required_text("name", &self.name, limits::MAX_CATEGORY)?;
        if name.contains('/') {
            return Err(ApiError::validation("name", "must not contain '/'"));
        }
        Ok(name)
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CategoryQuery {
    /// Substring of the name or the path, case-insensitive.
    pub q: Option<String>,
    /// Only the direct children of this category.
    pub parent_id: Option<i64>,
}

/// The tree, flat, ordered by path (a parent before its children); all of it without filters.
#[utoipa::path(get, path = "/api/categories", tag = "catalogue", params(CategoryQuery),
    responses((status = 200, body = Vec<Category>)), security(("bearer" = []), ("api_key" = [])))]
async fn list_categories(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<CategoryQuery>,
) -> ApiResult<Json<Vec<Category>>> {
    caller.require("categories", "read")?;
    let filter = CategoryFilter {
        q: q.q,
        parent_id: q.parent_id,
    };
    let mut conn = state.db.read().await?;
    Ok(Json(catalog::search_categories(&mut conn.conn(), &filter).await?))
}

#[utoipa::path(post, path = "/api/categories", tag = "catalogue", request_body = CategoryRequest,
    responses((status = 201, body = Category), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn create_category(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CategoryRequest>,
) -> ApiResult<(StatusCode, Json<Category>)> {
    caller.require("categories", "create")?;
    let name = req.name()?;
    let mut tx = state.db.begin().await?;
    let cat = catalog::create_category(&mut tx.conn(), &caller.actor, &name, req.parent_id)
        .await
        .map_err(path_conflict)?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(cat)))
}

fn path_conflict(e: bodega_store::StoreError) -> ApiError {
    match e {
        bodega_store::StoreError::Conflict { .. } => ApiError::Conflict {
            field: Some("name".into()),
            message: "a category with this name already exists under this parent".into(),
        },
        other => other.into(),
    }
}

#[utoipa::path(get, path = "/api/categories/{id}", tag = "catalogue", params(("id" = i64, Path)),
    responses((status = 200, body = Category), (status = 404, body = ErrorBody)), security(("bearer" = []), ("api_key" = [])))]
async fn get_category(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> ApiResult<Json<Category>> {
    caller.require("categories", "read")?;
    let mut conn = state.db.read().await?;
    Ok(Json(
        catalog::category(&mut conn.conn(), id).await.or_not_found("category")?,
    ))
}

/// Renames or moves a category; sub-categories follow.
#[utoipa::path(put, path = "/api/categories/{id}", tag = "catalogue", params(("id" = i64, Path)), request_body = CategoryRequest,
    responses((status = 200, body = Category), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn update_category(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(req): ApiJson<CategoryRequest>,
) -> ApiResult<Json<Category>> {
    caller.require("categories", "update")?;
    let name = req.name()?;
    let mut tx = state.db.begin().await?;
    let cat = catalog::update_category(&mut tx.conn(), &caller.actor, id, &name, req.parent_id)
        .await
        .map_err(|e| match e {
            bodega_store::StoreError::NotFound => ApiError::not_found("category"),
            other => path_conflict(other),
        })?;
    tx.commit().await?;
    Ok(Json(cat))
}

/// Deletes a category without sub-categories or products (409 otherwise).
#[utoipa::path(delete, path = "/api/categories/{id}", tag = "catalogue", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = []), ("api_key" = [])))]
async fn delete_category(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> ApiResult<StatusCode> {
    caller.require("categories", "delete")?;
    let mut tx = state.db.begin().await?;
    catalog::delete_category(&mut tx.conn(), &caller.actor, id)
        .await
        .or_not_found("category")?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Products

/// Keywords as a JSON list or one comma-separated string (seed 002 sends a list).
#[derive(Deserialize, ToSchema, Clone)]
#[serde(untagged)]
pub enum Keywords {
    List(Vec<String>),
    Text(String),
}

impl Keywords {
    fn normalise(&self) -> ApiResult<Vec<String>> {
        let raw: Vec<String> = match self {
            Keywords::List(v) => v.clone(),
            Keywords::Text(s) => s.split(',').map(String::from).collect(),
        };
        let mut out: Vec<String> = Vec::new();
        for k in raw {
            let k = k.trim().to_lowercase();
            if k.is_empty() || out.contains(&k) {
                continue;
            }
            if k.chars().count() > 50 {
                return Err(ApiError::validation(
                    "keywords",
                    "each keyword must be at most 50 characters",
                ));
            }
            out.push(k);
        }
        if out.len() > 30 {
            return Err(ApiError::validation("keywords", "at most 30 keywords"));
        }
        Ok(out)
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductRequest {
    /// Unique stock-keeping unit; generated when left out.
    pub sku: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub category_id: Option<i64>,
    /// A category path such as "Ropa / Mujer"; created when missing. Alternative to category_id.
    pub category: Option<String>,
    pub supplier_id: Option<i64>,
    /// Unit price in minor currency units.
    pub price: i64,
    /// Standard unit cost in minor currency units.
    pub cost: Option<i64>,
    /// active (default), inactive or discontinued.
    pub status: Option<String>,
    pub keywords: Option<Keywords>,
    pub image_url: Option<String>,
    /// Available stock below which an alert opens (default 10).
    pub low_stock_threshold: Option<i64>,
    /// Free attributes (size, colour, …) as a JSON object.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
    /// Opening stock booked as an entry on creation (seed 002's `stock`).
    #[serde(alias = "stock")]
    pub initial_stock: Option<i64>,
    /// Warehouse of the opening stock (default: the first active one).
    pub warehouse_id: Option<i64>,
}

impl ProductRequest {
    async fn validate(&self, c: &mut Conn<'_>, caller: &Caller) -> ApiResult<ProductInput> {
        let name = required_text("name", &self.name, limits::MAX_NAME)?;
        let sku = match &self.sku {
            Some(s) => limits::sku("sku", s)?,
            None => format!("BDG-{}", uuid::Uuid::now_v7().simple().to_string()[20..].to_uppercase()),
        };
        let status = self.status.clone().unwrap_or_else(|| "active".into());
        if !PRODUCT_STATUSES.contains(&status.as_str()) {
            return Err(ApiError::validation("status", PRODUCT_STATUS_RULE));
        }
        let category_id = match (&self.category_id, &self.category) {
            (Some(id), _) => {
                catalog::category(c, *id)
                    .await
                    .map_err(|_| ApiError::validation("category_id", format!("no category {id}")))?;
                Some(*id)
            }
            (None, Some(path)) if !path.trim().is_empty() => {
                limits::category_path("category", path)?;
                caller.require("categories", "create")?;
                Some(catalog::ensure_category_path(c, &caller.actor, path).await?.id)
            }
            _ => None,
        };
        if let Some(id) = self.supplier_id {
            bodega_store::people::get::<bodega_store::people::Supplier>(c, id)
                .await
                .map_err(|_| ApiError::validation("supplier_id", format!("no supplier {id}")))?;
        }
        let attributes = match &self.attributes {
            None | Some(Value::Null) => Value::Object(Default::default()),
            Some(Value::Object(o)) => Value::Object(o.clone()),
            Some(_) => return Err(ApiError::validation("attributes", "must be a JSON object")),
        };
        let threshold = limits::count("low_stock_threshold", self.low_stock_threshold.unwrap_or(10))?;
        if let Some(url) = &self.image_url {
            let acceptable =
                url.is_empty() || url.starts_with("http://") || url.starts_with("https://") || url.starts_with('/');
            if !acceptable {
                return Err(ApiError::validation("image_url", "must be an http(s) URL or a path"));
            }
        }
        Ok(ProductInput {
            sku,
            name,
            description: optional_text("description", self.description.as_deref().unwrap_or(""), 5000)?
                .unwrap_or_default(),
            category_id,
            supplier_id: self.supplier_id,
            price: check_amount("price", self.price)?,
            cost: check_amount("cost", self.cost.unwrap_or(0))?,
            status,
            keywords: self
                .keywords
                .as_ref()
                .map(Keywords::normalise)
                .transpose()?
                .unwrap_or_default(),
            image_url: self.image_url.clone().filter(|u| !u.is_empty()),
            low_stock_threshold: threshold,
            attributes,
        })
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// Substring of name, SKU or keywords.
    pub q: Option<String>,
    /// The category or any of its sub-categories.
    pub category_id: Option<i64>,
    pub supplier_id: Option<i64>,
    pub status: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

#[utoipa::path(get, path = "/api/products", tag = "catalogue", params(ProductQuery),
    responses((status = 200, body = Page<Product>), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn list_products(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ProductQuery>,
) -> ApiResult<Json<Page<Product>>> {
    caller.require("products", "read")?;
    let page = PageRequest::parse(q.page, q.per_page)?;
    if let Some(s) = &q.status {
        if !PRODUCT_STATUSES.contains(&s.as_str()) {
            return Err(ApiError::validation("status", PRODUCT_STATUS_RULE));
        }
    }
    let filter = ProductFilter {
        q: q.q.filter(|s| !s.trim().is_empty()),
        category_id: q.category_id,
        supplier_id: q.supplier_id,
        status: q.status,
        min_price: q.min_price,
        max_price: q.max_price,
    };
    let mut conn = state.db.read().await?;
    Ok(Json(catalog::products(&mut conn.conn(), &filter, page).await?))
}

/// Creates a product, optionally with opening stock (booked as an entry movement).
#[utoipa::path(post, path = "/api/products", tag = "catalogue", request_body = ProductRequest,
    responses((status = 201, body = Product), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn create_product(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ProductRequest>,
) -> ApiResult<(StatusCode, Json<Product>)> {
    caller.require("products", "create")?;
    let initial = req
        .initial_stock
        .map(|q| check_quantity("initial_stock", q))
        .transpose()?;
    let mut tx = state.db.begin().await?;
    let mut c = tx.conn();
    let input = req.validate(&mut c, &caller).await?;
    if initial.is_none() && req.warehouse_id.is_some() {
        // Named without opening stock it does nothing, but a wrong one is still an error.
        resolve_warehouse(&mut c, req.warehouse_id).await?;
    }
    let product = catalog::create_product(&mut c, &caller.actor, &input).await?;
    let product = match initial {
        Some(quantity) => {
            caller.require("stock", "create")?;
            let warehouse_id = resolve_warehouse(&mut c, req.warehouse_id).await?;
            let entry = NewMovement {
                product_id: product.id,
                warehouse_id,
                kind: MovementKind::Entry,
                quantity,
                unit_cost: Some(product.cost),
                reference_type: Some("product"),
                reference_id: Some(product.id.to_string()),
                note: Some("opening stock"),
                created_by: &caller.actor.label,
            };
            stock::book(&mut c, &entry, 0).await?;
            catalog::product(&mut c, product.id).await?
        }
        None => product,
    };
    let profile = recommendations::product_profile(&mut c, product.id).await?;
    tx.commit().await?;
    // The recommender knows the product before the answer (the bus brings it again, idempotent),
    // so a sale of it right after is learnt at once too.
    if let Some(profile) = profile {
        state.recommender.upsert_product(&profile);
    }
    Ok((StatusCode::CREATED, Json(product)))
}

#[utoipa::path(get, path = "/api/products/{id}", tag = "catalogue", params(("id" = i64, Path)),
    responses((status = 200, body = Product), (status = 404, body = ErrorBody)), security(("bearer" = []), ("api_key" = [])))]
async fn get_product(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> ApiResult<Json<Product>> {
    caller.require("products", "read")?;
    let mut conn = state.db.read().await?;
    Ok(Json(
        catalog::product(&mut conn.conn(), id).await.or_not_found("product")?,
    ))
}

/// Replaces a product's definition (stock is changed through movements, not here).
#[utoipa::path(put, path = "/api/products/{id}", tag = "catalogue", params(("id" = i64, Path)), request_body = ProductRequest,
    responses((status = 200, body = Product), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn update_product(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(req): ApiJson<ProductRequest>,
) -> ApiResult<Json<Product>> {
    caller.require("products", "update")?;
    let mut tx = state.db.begin().await?;
    let mut c = tx.conn();
    let existing = catalog::product(&mut c, id).await.or_not_found("product")?;
    let product = replace_product(&mut c, &caller, existing, &req).await?;
    tx.commit().await?;
    Ok(Json(product))
}

/// Changes only the fields sent, e.g. `{"price": 1290}`: a JSON merge patch (RFC 7396) over the
/// product as it is, checked as a `PUT` of the result. A field sent as null takes the value a
/// `PUT` without it gives; `attributes` merge key by key (null removes one); a `category` path
/// replaces the category.
#[utoipa::path(patch, path = "/api/products/{id}", tag = "catalogue", params(("id" = i64, Path)),
    request_body(content = Object, description = "Any fields of ProductRequest but initial_stock"),
    responses((status = 200, body = Product), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn patch_product(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(patch): ApiJson<Map<String, Value>>,
) -> ApiResult<Json<Product>> {
    caller.require("products", "update")?;
    let mut tx = state.db.begin().await?;
    let mut c = tx.conn();
    let existing = catalog::product(&mut c, id).await.or_not_found("product")?;
    // The product as a `PUT` would describe it: its representation without the fields that
    // are read, not written (a new one of those fails every patch until it is listed here).
    let mut merged = serde_json::to_value(&existing).map_err(anyhow::Error::from)?;
    if let Value::Object(fields) = &mut merged {
        for read_only in ["id", "category", "on_hand", "available", "created_at", "updated_at"] {
            fields.remove(read_only);
        }
    }
    if patch.contains_key("category") && !patch.contains_key("category_id") {
        merged["category_id"] = Value::Null;
    }
    json_patch::merge(&mut merged, &Value::Object(patch));
    let req: ProductRequest = parse_json(merged.to_string().as_bytes())?;
    let product = replace_product(&mut c, &caller, existing, &req).await?;
    tx.commit().await?;
    Ok(Json(product))
}

/// The `PUT` of `existing` as `req` describes it (its SKU kept when `req` has none).
async fn replace_product(
    c: &mut Conn<'_>,
    caller: &Caller,
    existing: Product,
    req: &ProductRequest,
) -> ApiResult<Product> {
    if req.initial_stock.is_some() {
        return Err(ApiError::validation(
            "initial_stock",
            "stock changes through /api/stock/movements",
        ));
    }
    let mut input = req.validate(c, caller).await?;
    if req.sku.is_none() {
        input.sku = existing.sku;
    }
    Ok(catalog::update_product(c, &caller.actor, existing.id, &input).await?)
}

/// Retires a product (status discontinued, hidden from listings; history kept).
#[utoipa::path(delete, path = "/api/products/{id}", tag = "catalogue", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = []), ("api_key" = [])))]
async fn delete_product(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> ApiResult<StatusCode> {
    caller.require("products", "delete")?;
    let mut tx = state.db.begin().await?;
    catalog::delete_product(&mut tx.conn(), &caller.actor, id)
        .await
        .or_not_found("product")?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SellRequest {
    pub quantity: i64,
    /// Default: the active warehouse with the most units of the product available (the
    /// first active warehouse when none has any).
    pub warehouse_id: Option<i64>,
    pub customer_id: Option<i64>,
    /// How it was paid: cash, card, transfer, credit, voucher or other. Omitted: not recorded.
    pub payment_method: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SellResponse {
    pub sale: SaleWithItems,
    /// Available stock of the product in that warehouse after the sale.
    pub updated_stock: i64,
    /// The open alert of the product in that warehouse, if its stock is now low.
    pub alert: Option<bodega_store::alerts::StockAlert>,
}

/// Seed 002's "simulate sale": sells `quantity` units of one product in one transaction.
#[utoipa::path(post, path = "/api/products/{id}/sell", tag = "sales", params(("id" = i64, Path)), request_body = SellRequest,
    responses((status = 201, body = SellResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn sell_product(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(req): ApiJson<SellRequest>,
) -> ApiResult<(StatusCode, Json<SellResponse>)> {
    caller.require("sales", "create")?;
    let quantity = check_quantity("quantity", req.quantity)?;
    let mut tx = state.db.begin().await?;
    let mut c = tx.conn();
    catalog::product(&mut c, id).await.or_not_found("product")?;
    let warehouse_id = match req.warehouse_id {
        None => match stock::best_stocked_warehouse(&mut c, id).await? {
            Some(stocked) => stocked,
            None => resolve_warehouse(&mut c, None).await?,
        },
        given => resolve_warehouse(&mut c, given).await?,
    };
    crate::routes::sales::check_customer(&mut c, req.customer_id).await?;
    let line = LineRequest {
        product_id: id,
        quantity,
        unit_price: None,
    };
    let sale = sales::quick_sale(
        &mut c,
        &caller.actor,
        warehouse_id,
        req.customer_id,
        req.payment_method.as_deref(),
        &[line],
    )
    .await?;
    let updated_stock = stock::level(&mut c, id, warehouse_id).await?.available;
    let alert = bodega_store::alerts::live_for(&mut c, id, warehouse_id).await?;
    tx.commit().await?;
    state.recommender.learn_committed_sale(&sale);
    Ok((
        StatusCode::CREATED,
        Json(SellResponse {
            sale,
            updated_stock,
            alert,
        }),
    ))
}
