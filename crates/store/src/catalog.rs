//! The catalogue: warehouses and stores, the category tree, products.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::audit::{self, Actor};
use crate::outbox::{self, topics};
use crate::{alerts, now, sql, Backend, Conn, FromRow, StoreError, StoreResult};
use bodega_domain::{Page, PageRequest};

/// Writes a warehouse's or category's `<kind>.<what>` event on the catalogue's topic. Its key
/// names the kind (`warehouse:3`): the topic's product events are keyed by the bare product
/// id, which a consumer must never confuse with another record's.
async fn announce(c: &mut Conn<'_>, kind: &str, what: &str, id: i64, record: &impl Serialize) -> StoreResult<()> {
    outbox::emit(
        c,
        topics::PRODUCTS,
        &format!("{kind}.{what}"),
        format!("{kind}:{id}"),
        record,
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Warehouses

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Warehouse {
    pub id: i64,
    pub code: String,
    pub name: String,
    /// `warehouse` or `store`.
    pub kind: String,
    pub address: Option<String>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct WarehouseInput {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub address: Option<String>,
    pub is_active: bool,
}

pub async fn warehouses(c: &mut Conn<'_>, include_inactive: bool) -> StoreResult<Vec<Warehouse>> {
    let filter = WarehouseFilter {
        include_inactive,
        ..WarehouseFilter::default()
    };
    search_warehouses(c, &filter).await
}

/// What a warehouse search keeps: every field that is set must match.
#[derive(Debug, Clone, Default)]
pub struct WarehouseFilter {
    pub include_inactive: bool,
    /// Substring of the code, name or address, case-insensitive.
    pub q: Option<String>,
    /// `warehouse` or `store`.
    pub kind: Option<String>,
}

/// Warehouses and stores by id.
pub async fn search_warehouses(c: &mut Conn<'_>, f: &WarehouseFilter) -> StoreResult<Vec<Warehouse>> {
    sql::query_as(
        "SELECT * FROM warehouses WHERE ($1 OR is_active)
             AND ($2 IS NULL OR LOWER(code) LIKE $2 OR LOWER(name) LIKE $2 OR LOWER(address) LIKE $2)
             AND ($3 IS NULL OR kind = $3)
         ORDER BY id",
    )
    .bind(f.include_inactive)
    .bind(contains_pattern(f.q.as_deref()))
    .bind(&f.kind)
    .fetch_all(c)
    .await
}

/// The `LIKE` pattern of a case-insensitive substring search (`None` for no search).
fn contains_pattern(q: Option<&str>) -> Option<String> {
    q.map(|q| format!("%{}%", q.trim().to_lowercase()))
}

pub async fn warehouse(c: &mut Conn<'_>, id: i64) -> StoreResult<Warehouse> {
    sql::query_as("SELECT * FROM warehouses WHERE id = $1")
        .bind(id)
        .fetch_one(c)
        .await
}

pub async fn warehouse_by_code(c: &mut Conn<'_>, code: &str) -> StoreResult<Option<Warehouse>> {
    sql::query_as("SELECT * FROM warehouses WHERE code = $1")
        .bind(code)
        .fetch_optional(c)
        .await
}

pub async fn create_warehouse(c: &mut Conn<'_>, actor: &Actor, w: &WarehouseInput) -> StoreResult<Warehouse> {
    let at = now();
    let created: Warehouse = sql::query_as(
        "INSERT INTO warehouses (code, name, kind, address, is_active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING *",
    )
    .bind(&w.code)
    .bind(&w.name)
    .bind(&w.kind)
    .bind(&w.address)
    .bind(w.is_active)
    .bind(at)
    .fetch_one(c)
    .await?;
    audit::record(
        c,
        actor,
        "create",
        "warehouse",
        created.id,
        None::<&Warehouse>,
        Some(&created),
    )
    .await?;
    announce(c, "warehouse", "created", created.id, &created).await?;
    Ok(created)
}

pub async fn update_warehouse(c: &mut Conn<'_>, actor: &Actor, id: i64, w: &WarehouseInput) -> StoreResult<Warehouse> {
    let before = warehouse(c, id).await?;
    if before.is_active && !w.is_active {
        // An inactive warehouse takes no stock (`stock::book_into`), so stock left in it could
        // never leave. The row is locked first: stock coming in share-locks it, so it is either
        // committed before the sums below or refused after this commits.
        if c.backend() == Backend::Postgres {
            sql::query("SELECT id FROM warehouses WHERE id = $1 FOR UPDATE")
                .bind(id)
                .execute(c)
                .await?;
        }
        let (on_hand, reserved): (i64, i64) = sql::query_as(
            "SELECT CAST(COALESCE(SUM(on_hand), 0) AS BIGINT), CAST(COALESCE(SUM(reserved), 0) AS BIGINT)
             FROM stock_levels WHERE warehouse_id = $1",
        )
        .bind(id)
        .fetch_one(c)
        .await?;
        if on_hand > 0 || reserved > 0 {
            return Err(StoreError::State(format!(
                "warehouse {} still holds {on_hand} units ({reserved} reserved); move them out before deactivating it",
                before.code
            )));
        }
    }
    let after: Warehouse = sql::query_as(
        "UPDATE warehouses SET code = $1, name = $2, kind = $3, address = $4, is_active = $5, updated_at = $6
         WHERE id = $7 RETURNING *",
    )
    .bind(&w.code)
    .bind(&w.name)
    .bind(&w.kind)
    .bind(&w.address)
    .bind(w.is_active)
    .bind(now())
    .bind(id)
    .fetch_one(c)
    .await?;
    audit::record(c, actor, "update", "warehouse", id, Some(&before), Some(&after)).await?;
    announce(c, "warehouse", "updated", id, &after).await?;
    Ok(after)
}

// ---------------------------------------------------------------------------------------------
// Categories

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Category {
    pub id: i64,
    pub name: String,
    pub parent_id: Option<i64>,
    /// Names from the root, joined by " / ".
    pub path: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const PATH_SEPARATOR: &str = " / ";

pub async fn categories(c: &mut Conn<'_>) -> StoreResult<Vec<Category>> {
    search_categories(c, &CategoryFilter::default()).await
}

/// What a category search keeps: every field that is set must match.
#[derive(Debug, Clone, Default)]
pub struct CategoryFilter {
    /// Substring of the name or the path, case-insensitive.
    pub q: Option<String>,
    /// Only the direct children of this category.
    pub parent_id: Option<i64>,
}

/// Categories by path (a parent before its children).
pub async fn search_categories(c: &mut Conn<'_>, f: &CategoryFilter) -> StoreResult<Vec<Category>> {
    sql::query_as(
        "SELECT * FROM categories WHERE ($1 IS NULL OR LOWER(name) LIKE $1 OR LOWER(path) LIKE $1)
             AND ($2 IS NULL OR parent_id = $2)
         ORDER BY path",
    )
    .bind(contains_pattern(f.q.as_deref()))
    .bind(f.parent_id)
    .fetch_all(c)
    .await
}

pub async fn category(c: &mut Conn<'_>, id: i64) -> StoreResult<Category> {
    sql::query_as("SELECT * FROM categories WHERE id = $1")
        .bind(id)
        .fetch_one(c)
        .await
}

pub async fn category_by_path(c: &mut Conn<'_>, path: &str) -> StoreResult<Option<Category>> {
    sql::query_as("SELECT * FROM categories WHERE path = $1")
        .bind(path)
        .fetch_optional(c)
        .await
}

async fn child_path(c: &mut Conn<'_>, parent_id: Option<i64>, name: &str) -> StoreResult<String> {
    Ok(match parent_id {
        Some(pid) => {
            let parent = category(c, pid).await.map_err(|e| match e {
                StoreError::NotFound => StoreError::Rule {
                    field: Some("parent_id".into()),
                    message: format!("no category {pid}"),
                },
                other => other,
            })?;
            format!("{}{PATH_SEPARATOR}{name}", parent.path)
        }
        None => name.to_string(),
    })
}

pub async fn create_category(
    c: &mut Conn<'_>,
    actor: &Actor,
    name: &str,
    parent_id: Option<i64>,
) -> StoreResult<Category> {
    let path = child_path(c, parent_id, name).await?;
    let at = now();
    let created: Category = sql::query_as(
        "INSERT INTO categories (name, parent_id, path, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING *"
    )
    .bind(name)
    .bind(parent_id)
    .bind(&path)
    .bind(at)
    .fetch_one(c)
    .await?;
    audit::record(
        c,
        actor,
        "create",
        "category",
        created.id,
        None::<&Category>,
        Some(&created),
    )
    .await?;
    announce(c, "category", "created", created.id, &created).await?;
    Ok(created)
}

/// Finds or creates every level of `Root / Child / Leaf`; returns the leaf (imports use it).
pub async fn ensure_category_path(c: &mut Conn<'_>, actor: &Actor, path: &str) -> StoreResult<Category> {
    let mut parent: Option<Category> = None;
    for name in path.split('/').map(str::trim).filter(|n| !n.is_empty()) {
        let full = match &parent {
            Some(p) => format!("{}{PATH_SEPARATOR}{name}", p.path),
            None => name.to_string(),
        };
        parent = Some(match category_by_path(c, &full).await? {
            Some(found) => found,
            None => create_category(c, actor, name, parent.as_ref().map(|p| p.id)).await?,
        });
    }
    parent.ok_or_else(|| StoreError::Rule {
        field: Some("category".into()),
        message: "empty category path".into(),
    })
}

/// Renames or moves a category; the paths of its descendants follow.
pub async fn update_category(
    c: &mut Conn<'_>,
    actor: &Actor,
    id: i64,
    name: &str,
    parent_id: Option<i64>,
) -> StoreResult<Category> {
    let before = category(c, id).await?;
    if let Some(pid) = parent_id {
        let parent = category(c, pid).await?;
        if pid == id || parent.path.starts_with(&format!("{}{PATH_SEPARATOR}", before.path)) {
            return Err(StoreError::Rule {
                field: Some("parent_id".into()),
                message: "a category cannot move under itself".into(),
            });
        }
    }
    let path = child_path(c, parent_id, name).await?;
    let at = now();
    let after: Category = sql::query_as(
        "UPDATE categories SET name = $1, parent_id = $2, path = $3, updated_at = $4 WHERE id = $5 RETURNING *",
    )
    .bind(name)
    .bind(parent_id)
    .bind(&path)
    .bind(at)
    .bind(id)
    .fetch_one(c)
    .await?;
    let old_prefix = format!("{}{PATH_SEPARATOR}", before.path);
    let new_prefix = format!("{path}{PATH_SEPARATOR}");
    let mut descendants: Vec<Category> = sql::query_as(
        "UPDATE categories SET path = $1 || SUBSTR(path, CAST($2 AS INTEGER)), updated_at = $3 WHERE SUBSTR(path, 1, CAST($4 AS INTEGER)) = $5
         RETURNING *"
    )
    .bind(&new_prefix)
    .bind(old_prefix.chars().count() as i64 + 1)
    .bind(at)
    .bind(old_prefix.chars().count() as i64)
    .bind(&old_prefix)
    .fetch_all(c)
    .await?;
    audit::record(c, actor, "update", "category", id, Some(&before), Some(&after)).await?;
    announce(c, "category", "updated", id, &after).await?;
    // Their paths changed with it: a consumer that keeps the tree learns each new path.
    descendants.sort_by(|a, b| a.path.cmp(&b.path));
    for moved in &descendants {
        announce(c, "category", "updated", moved.id, moved).await?;
    }
    Ok(after)
}

/// Deletes a category with no sub-categories and no products.
pub async fn delete_category(c: &mut Conn<'_>, actor: &Actor, id: i64) -> StoreResult<()> {
    let before = category(c, id).await?;
    let used: i64 = sql::query_scalar(
        "SELECT (SELECT COUNT(*) FROM categories WHERE parent_id = $1) + (SELECT COUNT(*) FROM products WHERE category_id = $1)"
    )
    .bind(id)
    .fetch_one(c)
    .await?;
    if used > 0 {
        return Err(StoreError::State(format!(
            "category '{}' still has sub-categories or products",
            before.path
        )));
    }
    sql::query("DELETE FROM categories WHERE id = $1")
        .bind(id)
        .execute(c)
        .await?;
    audit::record(c, actor, "delete", "category", id, Some(&before), None::<&Category>).await?;
    announce(c, "category", "deleted", id, &before).await
}

// ---------------------------------------------------------------------------------------------
// Products

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Product {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category_id: Option<i64>,
    /// The category's path, e.g. "Ropa / Mujer / Vestidos".
    pub category: Option<String>,
    pub supplier_id: Option<i64>,
    /// Unit price in minor currency units.
    pub price: i64,
    /// Standard unit cost in minor currency units (the average cost lives on stock levels).
    pub cost: i64,
    /// active, inactive or discontinued.
    pub status: String,
    pub keywords: Vec<String>,
    pub image_url: Option<String>,
    pub low_stock_threshold: i64,
    #[schema(value_type = Object)]
    pub attributes: Value,
    /// Units on hand over all warehouses.
    pub on_hand: i64,
    /// Units available (on hand − reserved) over all warehouses.
    pub available: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct ProductRow {
    id: i64,
    sku: String,
    name: String,
    description: String,
    category_id: Option<i64>,
    category: Option<String>,
    supplier_id: Option<i64>,
    price: i64,
    cost: i64,
    status: String,
    keywords: String,
    image_url: Option<String>,
    low_stock_threshold: i64,
    attributes: String,
    on_hand: i64,
    available: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<ProductRow> for Product {
    fn from(r: ProductRow) -> Self {
        Self {
            id: r.id,
            sku: r.sku,
            name: r.name,
            description: r.description,
            category_id: r.category_id,
            category: r.category,
            supplier_id: r.supplier_id,
            price: r.price,
            cost: r.cost,
            status: r.status,
            keywords: serde_json::from_str(&r.keywords).unwrap_or_default(),
            image_url: r.image_url,
            low_stock_threshold: r.low_stock_threshold,
            attributes: serde_json::from_str(&r.attributes).unwrap_or(Value::Object(Default::default())),
            on_hand: r.on_hand,
            available: r.available,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const PRODUCT_SELECT: &str = "SELECT p.id, p.sku, p.name, p.description, p.category_id, c.path AS category, p.supplier_id,
    p.price, p.cost, p.status, p.keywords, p.image_url, p.low_stock_threshold, p.attributes,
    CAST(COALESCE((SELECT SUM(s.on_hand) FROM stock_levels s WHERE s.product_id = p.id), 0) AS BIGINT) AS on_hand,
    CAST(COALESCE((SELECT SUM(s.on_hand - s.reserved) FROM stock_levels s WHERE s.product_id = p.id), 0) AS BIGINT) AS available,
    p.created_at, p.updated_at
    FROM products p LEFT JOIN categories c ON c.id = p.category_id";

/// A validated product definition.
#[derive(Debug, Clone)]
pub struct ProductInput {
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category_id: Option<i64>,
    pub supplier_id: Option<i64>,
    pub price: i64,
    pub cost: i64,
    pub status: String,
    pub keywords: Vec<String>,
    pub image_url: Option<String>,
    pub low_stock_threshold: i64,
    pub attributes: Value,
}

pub async fn product(c: &mut Conn<'_>, id: i64) -> StoreResult<Product> {
    let row: ProductRow = sql::query_as(format!("{PRODUCT_SELECT} WHERE p.id = $1 AND p.deleted_at IS NULL"))
        .bind(id)
        .fetch_one(c)
        .await?;
    Ok(row.into())
}

pub async fn product_by_sku(c: &mut Conn<'_>, sku: &str) -> StoreResult<Option<Product>> {
    let row: Option<ProductRow> = sql::query_as(format!("{PRODUCT_SELECT} WHERE p.sku = $1"))
        .bind(sku)
        .fetch_optional(c)
        .await?;
    Ok(row.map(Into::into))
}

/// Filters of the product listing; all optional and combined with AND.
#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    /// Substring of name, SKU or keywords, case-insensitive.
    pub q: Option<String>,
    /// The category or any of its descendants.
    pub category_id: Option<i64>,
    pub supplier_id: Option<i64>,
    pub status: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
}

pub async fn products(c: &mut Conn<'_>, f: &ProductFilter, page: PageRequest) -> StoreResult<Page<Product>> {
    let pattern = contains_pattern(f.q.as_deref());
    let category_path = match f.category_id {
        Some(id) => Some(
            category(c, id)
                .await
                .map_err(|_| StoreError::Rule {
                    field: Some("category_id".into()),
                    message: format!("no category {id}"),
                })?
                .path,
        ),
        None => None,
    };
    // Descendants by path prefix: `%`, `_` and `\` in names are literal, not wildcards.
    let sub_pattern = category_path.as_ref().map(|p| {
        let literal = p.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        format!("{literal}{PATH_SEPARATOR}%")
    });
    const WHERE: &str = "WHERE p.deleted_at IS NULL
        AND ($1 IS NULL OR LOWER(p.name) LIKE $1 OR LOWER(p.sku) LIKE $1 OR LOWER(p.keywords) LIKE $1)
        AND ($2 IS NULL OR c.path = $2 OR c.path LIKE $3 ESCAPE '\\')
        AND ($4 IS NULL OR p.supplier_id = $4) AND ($5 IS NULL OR p.status = $5)
        AND ($6 IS NULL OR p.price >= $6) AND ($7 IS NULL OR p.price <= $7)";
    let total: i64 = sql::query_scalar(format!(
        "SELECT COUNT(*) FROM products p LEFT JOIN categories c ON c.id = p.category_id {WHERE}"
    ))
    .bind(&pattern)
    .bind(&category_path)
    .bind(&sub_pattern)
    .bind(f.supplier_id)
    .bind(&f.status)
    .bind(f.min_price)
    .bind(f.max_price)
    .fetch_one(c)
    .await?;
    let rows: Vec<ProductRow> = sql::query_as(format!("{PRODUCT_SELECT} {WHERE} ORDER BY p.id LIMIT $8 OFFSET $9"))
        .bind(&pattern)
        .bind(&category_path)
        .bind(&sub_pattern)
        .bind(f.supplier_id)
        .bind(&f.status)
        .bind(f.min_price)
        .bind(f.max_price)
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(c)
        .await?;
    Ok(Page::new(rows.into_iter().map(Into::into).collect(), total, page))
}

/// The payload of an `erp.products` product event: seed 003's record, plus the rest of the
/// product. One shape for the API's creates and updates and for imported products.
#[derive(Serialize)]
pub(crate) struct ProductRecord<'a> {
    pub product_id: i64,
    pub sku: &'a str,
    pub name: &'a str,
    pub category: Option<&'a str>,
    pub price: i64,
    pub cost: i64,
    pub status: &'a str,
    pub keywords: &'a [String],
    pub description: &'a str,
    pub supplier_id: Option<i64>,
}

fn product_event(p: &Product) -> ProductRecord<'_> {
    ProductRecord {
        product_id: p.id,
        sku: &p.sku,
        name: &p.name,
        category: p.category.as_deref(),
        price: p.price,
        cost: p.cost,
        status: &p.status,
        keywords: &p.keywords,
        description: &p.description,
        supplier_id: p.supplier_id,
    }
}

pub async fn create_product(c: &mut Conn<'_>, actor: &Actor, p: &ProductInput) -> StoreResult<Product> {
    let at = now();
    let id: i64 = sql::query_scalar(
        "INSERT INTO products (sku, name, description, category_id, supplier_id, price, cost, status, keywords, image_url,
             low_stock_threshold, attributes, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING id"
    )
    .bind(&p.sku)
    .bind(&p.name)
    .bind(&p.description)
    .bind(p.category_id)
    .bind(p.supplier_id)
    .bind(p.price)
    .bind(p.cost)
    .bind(&p.status)
    .bind(serde_json::to_string(&p.keywords).unwrap_or_else(|_| "[]".into()))
    .bind(&p.image_url)
    .bind(p.low_stock_threshold)
    .bind(p.attributes.to_string())
    .bind(at)
    .fetch_one(c)
    .await?;
    let created = product(c, id).await?;
    audit::record(c, actor, "create", "product", id, None::<&Product>, Some(&created)).await?;
    outbox::emit(c, topics::PRODUCTS, "product.created", id, &product_event(&created)).await?;
    Ok(created)
}

pub async fn update_product(c: &mut Conn<'_>, actor: &Actor, id: i64, p: &ProductInput) -> StoreResult<Product> {
    let before = product(c, id).await?;
    // A new threshold or status can open or resolve the product's alerts without any stock
    // moving (alerts only concern active products).
    let alerts_change = before.low_stock_threshold != p.low_stock_threshold || before.status != p.status;
    let levels = if alerts_change {
        available_by_warehouse(c, id).await?
    } else {
        Vec::new()
    };
    sql::query(
        "UPDATE products SET sku = $1, name = $2, description = $3, category_id = $4, supplier_id = $5, price = $6, cost = $7,
             status = $8, keywords = $9, image_url = $10, low_stock_threshold = $11, attributes = $12, updated_at = $13
         WHERE id = $14 AND deleted_at IS NULL"
    )
    .bind(&p.sku)
    .bind(&p.name)
    .bind(&p.description)
    .bind(p.category_id)
    .bind(p.supplier_id)
    .bind(p.price)
    .bind(p.cost)
    .bind(&p.status)
    .bind(serde_json::to_string(&p.keywords).unwrap_or_else(|_| "[]".into()))
    .bind(&p.image_url)
    .bind(p.low_stock_threshold)
    .bind(p.attributes.to_string())
    .bind(now())
    .bind(id)
    .execute(c)
    .await?;
    let after = product(c, id).await?;
    audit::record(c, actor, "update", "product", id, Some(&before), Some(&after)).await?;
    outbox::emit(c, topics::PRODUCTS, "product.updated", id, &product_event(&after)).await?;
    // After the product's event: the alerts' events follow the change that caused them.
    evaluate_alerts(c, id, &levels).await?;
    Ok(after)
}

/// The available stock (on hand − reserved) of a product in every warehouse holding a level
/// of it, in warehouse order. On PostgreSQL the levels are locked, in key order as every
/// writer locks them, and before the product row: a stock change under way is waited for and
/// counted, and none can change these levels before the caller commits. (One that waited
/// still judges by the threshold of its own snapshot whether to look at the alert at all.)
async fn available_by_warehouse(c: &mut Conn<'_>, product_id: i64) -> StoreResult<Vec<(i64, i64)>> {
    let sql = match c.backend() {
        Backend::Sqlite => {
            "SELECT warehouse_id, on_hand - reserved FROM stock_levels WHERE product_id = $1 ORDER BY warehouse_id"
        }
        Backend::Postgres => {
            "SELECT warehouse_id, on_hand - reserved FROM stock_levels WHERE product_id = $1
             ORDER BY warehouse_id FOR UPDATE"
        }
    };
    sql::query_as(sql).bind(product_id).fetch_all(c).await
}

/// Opens or resolves the product's alert in each of `levels` (warehouse, available stock) by
/// its current threshold and status; each alert opened or resolved writes its `erp.alerts` event.
async fn evaluate_alerts(c: &mut Conn<'_>, product_id: i64, levels: &[(i64, i64)]) -> StoreResult<()> {
    for &(warehouse_id, available) in levels {
        alerts::evaluate(c, product_id, warehouse_id, available).await?;
    }
    Ok(())
}

/// Retires a product: status `discontinued`, hidden from listings; its history stays.
pub async fn delete_product(c: &mut Conn<'_>, actor: &Actor, id: i64) -> StoreResult<()> {
    let before = product(c, id).await?;
    // A discontinued product has no alerts: its live ones resolve.
    let levels = available_by_warehouse(c, id).await?;
    sql::query("UPDATE products SET status = 'discontinued', deleted_at = $1, updated_at = $1 WHERE id = $2")
        .bind(now())
        .bind(id)
        .execute(c)
        .await?;
    audit::record(c, actor, "delete", "product", id, Some(&before), None::<&Product>).await?;
    outbox::emit(
        c,
        topics::PRODUCTS,
        "product.deleted",
        id,
        &serde_json::json!({"product_id": id}),
    )
    .await?;
    evaluate_alerts(c, id, &levels).await
}
