//! Reorder requests: open → ordered → received (which books the stock entry), or cancelled.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audit::{self, Actor};
use crate::outbox::{self, topics};
use crate::stock::{self, NewMovement};
use crate::{now, sql, Conn, FromRow, StoreError, StoreResult};
use bodega_domain::{MovementKind, Page, PageRequest};

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct ReorderRequest {
    pub id: i64,
    pub product_id: i64,
    pub warehouse_id: i64,
    pub supplier_id: Option<i64>,
    pub quantity: i64,
    pub unit_cost: Option<i64>,
    /// open, ordered, received or cancelled.
    pub status: String,
    pub note: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ordered_at: Option<DateTime<Utc>>,
    pub received_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

pub struct NewReorder<'a> {
    pub product_id: i64,
    pub warehouse_id: i64,
    pub supplier_id: Option<i64>,
    pub quantity: i64,
    pub unit_cost: Option<i64>,
    pub note: Option<&'a str>,
}

pub async fn get(c: &mut Conn<'_>, id: i64) -> StoreResult<ReorderRequest> {
    sql::query_as("SELECT * FROM reorder_requests WHERE id = $1")
        .bind(id)
        .fetch_one(c)
        .await
}

pub async fn create(c: &mut Conn<'_>, actor: &Actor, r: &NewReorder<'_>) -> StoreResult<ReorderRequest> {
    let product: Option<(Option<i64>, i64)> =
        sql::query_as("SELECT supplier_id, cost FROM products WHERE id = $1 AND deleted_at IS NULL")
            .bind(r.product_id)
            .fetch_optional(c)
            .await?;
    let (default_supplier, cost) = product.ok_or_else(|| StoreError::Rule {
        field: Some("product_id".into()),
        message: format!("no product {}", r.product_id),
    })?;
    let warehouse: Option<i64> = sql::query_scalar("SELECT id FROM warehouses WHERE id = $1")
        .bind(r.warehouse_id)
        .fetch_optional(c)
        .await?;
    if warehouse.is_none() {
        return Err(StoreError::Rule {
            field: Some("warehouse_id".into()),
            message: format!("no warehouse {}", r.warehouse_id),
        });
    }
    let at = now();
    let created: ReorderRequest = sql::query_as(
        "INSERT INTO reorder_requests (product_id, warehouse_id, supplier_id, quantity, unit_cost, status, note, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $8, $8) RETURNING *"
    )
    .bind(r.product_id)
    .bind(r.warehouse_id)
    .bind(r.supplier_id.or(default_supplier))
    .bind(r.quantity)
    .bind(r.unit_cost.or(Some(cost)))
    .bind(r.note)
    .bind(&actor.label)
    .bind(at)
    .fetch_one(c)
    .await?;
    audit::record(
        c,
        actor,
        "create",
        "reorder_request",
        created.id,
        None::<&()>,
        Some(&created),
    )
    .await?;
    outbox::emit(c, topics::STOCK, "reorder.created", created.product_id, &created).await?;
    Ok(created)
}

/// `ordered`, `received` (books the entry at the request's unit cost) or `cancelled`. Goods
/// are received only against a placed order: an open request is ordered first, so every
/// receipt has the `ordered_at` it was delivered against.
pub async fn advance(c: &mut Conn<'_>, actor: &Actor, id: i64, to: &str) -> StoreResult<ReorderRequest> {
    let before = get(c, id).await?;
    let (allowed, stamp): (&[&str], &str) = match to {
        "ordered" => (&["open"], "ordered_at"),
        "received" => (&["ordered"], "received_at"),
        "cancelled" => (&["open", "ordered"], "cancelled_at"),
        other => {
            return Err(StoreError::Rule {
                field: Some("status".into()),
                message: format!("unknown reorder status '{other}'"),
            })
        }
    };
    if !allowed.contains(&before.status.as_str()) {
        return Err(StoreError::State(format!(
            "cannot move a reorder request from {} to {to}",
            before.status
        )));
    }
    let at = now();
    let claimed = sql::query(format!(
        "UPDATE reorder_requests SET status = $1, {stamp} = $2, updated_at = $2 WHERE id = $3 AND status = $4"
    ))
    .bind(to)
    .bind(at)
    .bind(id)
    .bind(&before.status)
    .execute(c)
    .await?;
    if claimed != 1 {
        return Err(StoreError::State(format!(
            "reorder request {id} changed concurrently; retry"
        )));
    }
    if to == "received" {
        let entry = NewMovement {
            product_id: before.product_id,
            warehouse_id: before.warehouse_id,
            kind: MovementKind::Entry,
            quantity: before.quantity,
            unit_cost: before.unit_cost,
            reference_type: Some("reorder"),
            reference_id: Some(id.to_string()),
            note: None,
            created_by: &actor.label,
        };
        stock::book(c, &entry, 0).await?;
    }
    let after = get(c, id).await?;
    audit::record(c, actor, to, "reorder_request", id, Some(&before), Some(&after)).await?;
    outbox::emit(c, topics::STOCK, &format!("reorder.{to}"), after.product_id, &after).await?;
    Ok(after)
}

pub async fn list(
    c: &mut Conn<'_>,
    status: Option<&str>,
    product_id: Option<i64>,
    page: PageRequest,
) -> StoreResult<Page<ReorderRequest>> {
    const WHERE: &str = "WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR product_id = $2)";
    let total: i64 = sql::query_scalar(format!("SELECT COUNT(*) FROM reorder_requests {WHERE}"))
        .bind(status)
        .bind(product_id)
        .fetch_one(c)
        .await?;
    let items: Vec<ReorderRequest> = sql::query_as(format!(
        "SELECT * FROM reorder_requests {WHERE} ORDER BY id DESC LIMIT $3 OFFSET $4"
    ))
    .bind(status)
    .bind(product_id)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(c)
    .await?;
    Ok(Page::new(items, total, page))
}
