//! What the recommender reads and keeps: explicit interactions, the training data drawn from
//! sales, the recommendation made for each sale, and the trained model versions.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::outbox::{self, topics};
use crate::{now, sql, Conn, FromRow, StoreResult};

/// Interaction kinds of the seed-000 contract.
pub const INTERACTION_KINDS: &[&str] = &["view", "like", "cart", "purchase"];

/// An explicit interaction from `POST /api/ml/recommendations/interaction`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct Interaction {
    pub user_ref: String,
    pub customer_id: Option<i64>,
    pub product_id: i64,
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
}

/// Rows per INSERT: one statement text for every full chunk, so it stays prepared.
const INTERACTION_CHUNK: usize = 64;

/// Stores interactions in multi-row inserts. Interactions naming unknown products must have
/// been filtered out by the caller (the foreign key would fail the whole batch).
pub async fn record_interactions(c: &mut Conn<'_>, interactions: &[Interaction]) -> StoreResult<()> {
    for chunk in interactions.chunks(INTERACTION_CHUNK) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| {
                let n = i * 5;
                format!("(${}, ${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4, n + 5)
            })
            .collect();
        let mut q = sql::query(format!(
            "INSERT INTO interactions (user_ref, customer_id, product_id, kind, occurred_at) VALUES {}",
            rows.join(", ")
        ));
        if chunk.len() != INTERACTION_CHUNK {
            q = q.once();
        }
        for i in chunk {
            q = q
                .bind(&i.user_ref)
                .bind(i.customer_id)
                .bind(i.product_id)
                .bind(&i.kind)
                .bind(i.occurred_at);
        }
        q.execute(c).await?;
    }
    Ok(())
}

/// Interactions recorded at or after `since` (all of them when None), oldest first.
pub async fn interactions_since(c: &mut Conn<'_>, since: Option<DateTime<Utc>>) -> StoreResult<Vec<Interaction>> {
    match since {
        Some(since) => {
            sql::query_as(
                "SELECT user_ref, customer_id, product_id, kind, occurred_at FROM interactions \
                 WHERE occurred_at >= $1 ORDER BY occurred_at, id",
            )
            .bind(since)
            .fetch_all(c)
            .await
        }
        None => {
            sql::query_as(
                "SELECT user_ref, customer_id, product_id, kind, occurred_at FROM interactions \
                 ORDER BY occurred_at, id",
            )
            .fetch_all(c)
            .await
        }
    }
}

/// One line of a sale, as the recommender trains on it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SaleLine {
    pub sale_id: i64,
    pub customer_id: Option<i64>,
    pub sold_at: DateTime<Utc>,
    pub product_id: i64,
    pub quantity: i64,
}

/// Every sale line sold at or after `since`, grouped by sale (sale ids ascending).
pub async fn sale_lines_since(c: &mut Conn<'_>, since: Option<DateTime<Utc>>) -> StoreResult<Vec<SaleLine>> {
    const SELECT: &str = "SELECT s.id AS sale_id, s.customer_id, s.sold_at, i.product_id, i.quantity \
                          FROM sales s JOIN sale_items i ON i.sale_id = s.id";
    match since {
        Some(since) => {
            sql::query_as(format!("{SELECT} WHERE s.sold_at >= $1 ORDER BY s.id, i.id"))
                .bind(since)
                .fetch_all(c)
                .await
        }
        None => {
            sql::query_as(format!("{SELECT} ORDER BY s.id, i.id"))
                .fetch_all(c)
                .await
        }
    }
}

/// A product as the recommender describes it: text for content similarity, category for
/// cold start and reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct ProductProfile {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub keywords: String,
    pub category_id: Option<i64>,
    pub category_name: Option<String>,
    pub status: String,
    pub price: i64,
}

/// The columns of a [`ProductProfile`]; callers add the WHERE clause.
const PROFILE: &str = "SELECT p.id, p.sku, p.name, p.description, p.keywords, p.category_id, \
                       c.name AS category_name, p.status, p.price \
                       FROM products p LEFT JOIN categories c ON c.id = p.category_id";

/// Every product that is not deleted, by id.
pub async fn product_profiles(c: &mut Conn<'_>) -> StoreResult<Vec<ProductProfile>> {
    sql::query_as(format!("{PROFILE} WHERE p.deleted_at IS NULL ORDER BY p.id"))
        .fetch_all(c)
        .await
}

/// One product's profile, if it exists and is not deleted.
pub async fn product_profile(c: &mut Conn<'_>, id: i64) -> StoreResult<Option<ProductProfile>> {
    sql::query_as(format!("{PROFILE} WHERE p.id = $1 AND p.deleted_at IS NULL"))
        .bind(id)
        .fetch_optional(c)
        .await
}

/// The recommendation stored for a sale.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SaleRecommendation {
    pub sale_id: i64,
    pub model_version: i64,
    /// JSON array of the ranked items, as served.
    pub items: String,
    pub created_at: DateTime<Utc>,
}

/// Stores the recommendations made for sales (a sale already recommended keeps its first
/// one: the relay delivers at least once) and emits one `erp.recommendations` event for each
/// one stored. One statement per 64 sales: this runs on the writer beside the sales.
pub async fn save_sale_recommendations(
    c: &mut Conn<'_>,
    recommendations: &[(i64, i64, serde_json::Value)],
) -> StoreResult<usize> {
    const CHUNK: usize = 64;
    let at = now();
    let mut stored_total = 0;
    for chunk in recommendations.chunks(CHUNK) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| format!("(${}, ${}, ${}, $1)", 3 * i + 2, 3 * i + 3, 3 * i + 4))
            .collect();
        let mut q = sql::query_scalar::<i64>(format!(
            "INSERT INTO sale_recommendations (sale_id, model_version, items, created_at) VALUES {} \
             ON CONFLICT (sale_id) DO NOTHING RETURNING sale_id",
            rows.join(", ")
        ))
        .bind(at);
        if chunk.len() != CHUNK {
            q = q.once();
        }
        for (sale_id, model_version, items) in chunk {
            q = q.bind(*sale_id).bind(*model_version).bind(items.to_string());
        }
        let stored: Vec<i64> = q.fetch_all(c).await?;
        let events = chunk
            .iter()
            .filter(|(sale_id, _, _)| stored.contains(sale_id))
            .map(|(sale_id, model_version, items)| {
                outbox::event(
                    topics::RECOMMENDATIONS,
                    "recommendation.made",
                    sale_id,
                    &serde_json::json!({
                        "sale_id": sale_id, "model_version": model_version,
                        "recommendations": items, "timestamp": at,
                    }),
                )
            })
            .collect();
        stored_total += stored.len();
        outbox::emit_all(c, events).await?;
    }
    Ok(stored_total)
}

pub async fn sale_recommendation(c: &mut Conn<'_>, sale_id: i64) -> StoreResult<Option<SaleRecommendation>> {
    sql::query_as("SELECT sale_id, model_version, items, created_at FROM sale_recommendations WHERE sale_id = $1")
        .bind(sale_id)
        .fetch_optional(c)
        .await
}

/// A trained model version. `config` and `metrics` are JSON objects; `artifact` is the
/// model's own serialisation.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ModelVersion {
    pub version: i64,
    pub trained_at: DateTime<Utc>,
    pub config: String,
    pub metrics: String,
    pub products: i64,
    pub customers: i64,
    pub baskets: i64,
    pub train_ms: i64,
    pub artifact: String,
}

/// Stores a new model version, numbered one above the latest; returns the number.
pub async fn save_model(c: &mut Conn<'_>, model: &ModelVersion) -> StoreResult<i64> {
    let latest: Option<i64> = sql::query_scalar("SELECT MAX(version) FROM recommendation_models")
        .fetch_one(c)
        .await?;
    let version = latest.unwrap_or(0) + 1;
    sql::query(
        "INSERT INTO recommendation_models \
         (version, trained_at, config, metrics, products, customers, baskets, train_ms, artifact) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(version)
    .bind(model.trained_at)
    .bind(&model.config)
    .bind(&model.metrics)
    .bind(model.products)
    .bind(model.customers)
    .bind(model.baskets)
    .bind(model.train_ms)
    .bind(&model.artifact)
    .execute(c)
    .await?;
    Ok(version)
}

/// The newest model version, artifact included.
pub async fn latest_model(c: &mut Conn<'_>) -> StoreResult<Option<ModelVersion>> {
    sql::query_as(
        "SELECT version, trained_at, config, metrics, products, customers, baskets, train_ms, artifact \
         FROM recommendation_models ORDER BY version DESC LIMIT 1",
    )
    .fetch_optional(c)
    .await
}

/// Model versions, newest first, without their artifacts.
pub async fn list_models(c: &mut Conn<'_>, limit: i64) -> StoreResult<Vec<ModelVersion>> {
    sql::query_as(
        "SELECT version, trained_at, config, metrics, products, customers, baskets, train_ms, '' AS artifact \
         FROM recommendation_models ORDER BY version DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(c)
    .await
}
