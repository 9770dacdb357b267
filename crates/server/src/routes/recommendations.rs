//! Recommendations: the seed-000 ML contract (`/api/ml/*`, called with `x-api-key`) and the
//! native endpoints (`/api/products/{id}/similar`, `/api/customers/{id}/recommendations`,
//! `/api/recommendations/basket`, `/api/sales/{id}/recommendations`, model training).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use bodega_recommend::{Answer, InteractionKind, Recommendation, Similar, Strategy};
use bodega_store::people::{self, Customer};
use bodega_store::recommendations::{self, Interaction};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::recommender::train::{self, TrainReport};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ml_recommendations))
        .routes(routes!(ml_interaction))
        .routes(routes!(ml_find_similar))
        .routes(routes!(ml_metrics))
        .routes(routes!(list_models, train_models))
        .routes(routes!(product_similar))
        .routes(routes!(customer_recommendations))
        .routes(routes!(basket_recommendations))
        .routes(routes!(sale_recommendations))
}

/// Largest `limit` / `top_k` accepted.
const MAX_RESULTS: i64 = 100;

/// An id sent as a JSON number or string (the seed's client sends strings).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum IdValue {
    Number(i64),
    Text(String),
}

impl IdValue {
    fn text(&self) -> String {
        match self {
            Self::Number(n) => n.to_string(),
            Self::Text(t) => t.trim().to_string(),
        }
    }

    fn product_id(&self, field: &str) -> ApiResult<i64> {
        match self {
            Self::Number(n) => Ok(*n),
            Self::Text(t) => t
                .trim()
                .parse()
                .map_err(|_| ApiError::validation(field, format!("'{t}' is not a product id"))),
        }
    }
}

fn check_count(field: &str, value: Option<i64>, default: i64) -> ApiResult<usize> {
    let n = value.unwrap_or(default);
    if !(1..=MAX_RESULTS).contains(&n) {
        return Err(ApiError::validation(
            field,
            format!("must be between 1 and {MAX_RESULTS}"),
        ));
    }
    Ok(n as usize)
}

fn check_user(user: &IdValue) -> ApiResult<String> {
    let user = user.text();
    if user.is_empty() || user.chars().count() > 128 {
        return Err(ApiError::validation("user_id", "must be 1 to 128 characters"));
    }
    Ok(user)
}

/// The product must exist: known to the engine, or in the catalogue (then the engine learns
/// it now; it may have been created a moment ago).
async fn known_product(state: &AppState, field: &str, product_id: i64) -> ApiResult<()> {
    if state.recommender.engine().knows_product(product_id) {
        return Ok(());
    }
    let profile = {
        let mut reader = state.db.read().await?;
        recommendations::product_profile(&mut reader.conn(), product_id).await?
    };
    match profile {
        Some(p) => {
            state.recommender.upsert_product(&p);
            Ok(())
        }
        None => Err(ApiError::NotFound(format!("product {product_id} ({field})"))),
    }
}

// ---------------------------------------------------------------------------------------------
// The seed-000 contract
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MlRecommendationsRequest {
    pub user_id: IdValue,
    /// visual, collaborative or hybrid (default).
    pub strategy: Option<String>,
    /// 1–100, default 10.
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct MlRecommendation {
    /// The product id, as a string (the contract's type).
    pub product_id: String,
    pub score: f32,
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct MlRecommendationsResponse {
    pub success: bool,
    pub recommendations: Vec<MlRecommendation>,
    pub strategy: Strategy,
    /// True when no trained model covers this user and simple rules answered.
    pub fallback: bool,
    pub model_version: i64,
}

/// Recommendations for a user (seed 000). `user_id` is a customer id or any id the caller
/// uses for its users in interactions; unknown users get the cold-start answer.
#[utoipa::path(post, path = "/api/ml/recommendations/get", tag = "ml", request_body = MlRecommendationsRequest,
    responses((status = 200, body = MlRecommendationsResponse), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn ml_recommendations(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<MlRecommendationsRequest>,
) -> ApiResult<Json<MlRecommendationsResponse>> {
    caller.require("ml", "read")?;
    let user = check_user(&req.user_id)?;
    let strategy = match req.strategy.as_deref() {
        None => Strategy::Hybrid,
        Some(s) => Strategy::parse(s)
            .ok_or_else(|| ApiError::validation("strategy", "must be visual, collaborative or hybrid"))?,
    };
    let limit = check_count("limit", req.limit, 10)?;
    let answer = state.recommender.answer(|e| e.for_user(&user, strategy, limit));
    Ok(Json(MlRecommendationsResponse {
        success: true,
        recommendations: answer
            .recommendations
            .into_iter()
            .map(|r| MlRecommendation {
                product_id: r.product_id.to_string(),
                score: r.score,
                reason: r.reason,
            })
            .collect(),
        strategy,
        fallback: answer.fallback,
        model_version: answer.model_version,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MlInteractionRequest {
    pub user_id: IdValue,
    pub product_id: IdValue,
    /// view, like, cart or purchase.
    pub interaction_type: String,
}

#[derive(Serialize, ToSchema)]
pub struct MlInteractionResponse {
    pub success: bool,
    /// The interaction's weight in the models.
    pub weight: f32,
}

/// Records a user–product interaction (seed 000). The models learn it at once; it is stored
/// in the background, so this never waits for the database. 429 when the queue is full.
#[utoipa::path(post, path = "/api/ml/recommendations/interaction", tag = "ml", request_body = MlInteractionRequest,
    responses((status = 202, body = MlInteractionResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn ml_interaction(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<MlInteractionRequest>,
) -> ApiResult<(StatusCode, Json<MlInteractionResponse>)> {
    caller.require("ml", "create")?;
    let user = check_user(&req.user_id)?;
    let product_id = req.product_id.product_id("product_id")?;
    let kind = InteractionKind::parse(req.interaction_type.trim())
        .ok_or_else(|| ApiError::validation("interaction_type", "must be view, like, cart or purchase"))?;
    known_product(&state, "product_id", product_id).await?;
    let customer_id = match user.parse::<i64>() {
        Ok(id) => {
            let mut reader = state.db.read().await?;
            people::get::<Customer>(&mut reader.conn(), id).await.ok().map(|c| c.id)
        }
        Err(_) => None,
    };
    let interaction = Interaction {
        user_ref: user,
        customer_id,
        product_id,
        kind: kind.as_str().to_string(),
        occurred_at: bodega_store::now(),
    };
    if !state.recommender.record_interaction(interaction, kind) {
        return Err(ApiError::RateLimited { retry_after_secs: 1 });
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(MlInteractionResponse {
            success: true,
            weight: state.recommender.weights.weight(kind),
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MlFindSimilarRequest {
    pub product_id: IdValue,
    /// 1–100, default 10.
    pub top_k: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct MlSimilarProduct {
    pub product_id: String,
    /// Cosine similarity in [0, 1].
    pub similarity_score: f32,
    /// Cosine distance: 1 − similarity.
    pub distance: f32,
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct MlFindSimilarResponse {
    pub success: bool,
    pub similar_products: Vec<MlSimilarProduct>,
}

/// Products similar to a product (seed 000's embeddings search).
#[utoipa::path(post, path = "/api/ml/embeddings/find-similar", tag = "ml", request_body = MlFindSimilarRequest,
    responses((status = 200, body = MlFindSimilarResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn ml_find_similar(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<MlFindSimilarRequest>,
) -> ApiResult<Json<MlFindSimilarResponse>> {
    caller.require("ml", "read")?;
    let product_id = req.product_id.product_id("product_id")?;
    let k = check_count("top_k", req.top_k, 10)?;
    let similar = similar_to(&state, product_id, k).await?;
    Ok(Json(MlFindSimilarResponse {
        success: true,
        similar_products: similar
            .into_iter()
            .map(|s| MlSimilarProduct {
                product_id: s.product_id.to_string(),
                similarity_score: s.similarity,
                distance: 1.0 - s.similarity,
                reason: s.reason,
            })
            .collect(),
    }))
}

async fn similar_to(state: &AppState, product_id: i64, k: usize) -> ApiResult<Vec<Similar>> {
    known_product(state, "product_id", product_id).await?;
    state
        .recommender
        .answer(|e| e.similar(product_id, k))
        .ok_or_else(|| ApiError::NotFound(format!("product {product_id}")))
}

#[derive(Serialize, ToSchema)]
pub struct MlMetricsResponse {
    /// Share of evaluated customers with at least one bought product in their top 10
    /// (hit rate@10 of the latest offline evaluation).
    pub accuracy: f64,
    /// Precision@10 of the latest offline evaluation.
    pub precision: f64,
    /// Recall@10 of the latest offline evaluation.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1_score: f64,
    /// Recommendations served by this process since it started.
    pub total_predictions: u64,
    /// Mean time to compute one answer, in milliseconds, since start.
    pub average_inference_time: f64,
    /// The full latest evaluation (split, every model's scores).
    #[schema(value_type = Object)]
    pub evaluation: Option<serde_json::Value>,
}

/// Model quality (the latest offline evaluation) and live counters (seed 000).
#[utoipa::path(get, path = "/api/ml/metrics/overall", tag = "ml",
    responses((status = 200, body = MlMetricsResponse)), security(("bearer" = []), ("api_key" = [])))]
async fn ml_metrics(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<MlMetricsResponse>> {
    caller.require("ml", "read")?;
    let evaluation = state.recommender.evaluation();
    let served = evaluation
        .as_ref()
        .and_then(|e| e.get("served").and_then(|name| e["models"].get(name.as_str()?)))
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    let metric = |name: &str| served.get(name).and_then(serde_json::Value::as_f64).unwrap_or(0.0);
    let (precision, recall) = (metric("precision@10"), metric("recall@10"));
    let f1_score = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    let (total_predictions, average_inference_time) = state.recommender.live_counters();
    Ok(Json(MlMetricsResponse {
        accuracy: metric("hit_rate@10"),
        precision,
        recall,
        f1_score,
        total_predictions,
        average_inference_time,
        evaluation,
    }))
}

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct ModelSummary {
    pub version: i64,
    pub trained_at: chrono::DateTime<chrono::Utc>,
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    #[schema(value_type = Object)]
    pub metrics: serde_json::Value,
    pub products: i64,
    pub customers: i64,
    pub baskets: i64,
    pub train_ms: i64,
}

/// Trained model versions, newest first, with the settings and scores of each.
#[utoipa::path(get, path = "/api/ml/models", tag = "ml",
    responses((status = 200, body = Vec<ModelSummary>)), security(("bearer" = []), ("api_key" = [])))]
async fn list_models(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<ModelSummary>>> {
    caller.require("ml", "read")?;
    let mut reader = state.db.read().await?;
    let models = recommendations::list_models(&mut reader.conn(), 50).await?;
    Ok(Json(
        models
            .into_iter()
            .map(|m| ModelSummary {
                version: m.version,
                trained_at: m.trained_at,
                config: serde_json::from_str(&m.config).unwrap_or_default(),
                metrics: serde_json::from_str(&m.metrics).unwrap_or_default(),
                products: m.products,
                customers: m.customers,
                baskets: m.baskets,
                train_ms: m.train_ms,
            })
            .collect(),
    ))
}

/// Trains the recommendation models on everything sold so far, evaluates them and puts the
/// new version in service.
#[utoipa::path(post, path = "/api/ml/models", tag = "ml",
    responses((status = 201, body = TrainReport)), security(("bearer" = []), ("api_key" = [])))]
async fn train_models(State(state): State<AppState>, caller: Caller) -> ApiResult<(StatusCode, Json<TrainReport>)> {
    caller.require("ml", "update")?;
    let report = train::train(&state.db, Some(&state.recommender), &state.recommender_config())
        .await
        .map_err(ApiError::Internal)?;
    Ok((StatusCode::CREATED, Json(report)))
}

// ---------------------------------------------------------------------------------------------
// Native endpoints
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    /// 1–100, default 10.
    pub limit: Option<i64>,
}

/// Products similar to this one: bought by the same customers, else alike in text.
#[utoipa::path(get, path = "/api/products/{id}/similar", tag = "recommendations", params(("id" = i64, Path), LimitQuery),
    responses((status = 200, body = Vec<Similar>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn product_similar(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> ApiResult<Json<Vec<Similar>>> {
    caller.require("products", "read")?;
    let k = check_count("limit", q.limit, 10)?;
    Ok(Json(similar_to(&state, id, k).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerRecommendationsQuery {
    /// visual, collaborative or hybrid (default).
    pub strategy: Option<String>,
    /// 1–100, default 10.
    pub limit: Option<i64>,
}

/// Recommendations for a customer, each with its reason.
#[utoipa::path(get, path = "/api/customers/{id}/recommendations", tag = "recommendations",
    params(("id" = i64, Path), CustomerRecommendationsQuery),
    responses((status = 200, body = Answer), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn customer_recommendations(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ApiQuery(q): ApiQuery<CustomerRecommendationsQuery>,
) -> ApiResult<Json<Answer>> {
    caller.require("ml", "read")?;
    let strategy = match q.strategy.as_deref() {
        None => Strategy::Hybrid,
        Some(s) => Strategy::parse(s)
            .ok_or_else(|| ApiError::validation("strategy", "must be visual, collaborative or hybrid"))?,
    };
    let limit = check_count("limit", q.limit, 10)?;
    {
        let mut reader = state.db.read().await?;
        people::get::<Customer>(&mut reader.conn(), id)
            .await
            .map_err(|_| ApiError::NotFound(format!("customer {id}")))?;
    }
    let user = id.to_string();
    Ok(Json(state.recommender.answer(|e| e.for_user(&user, strategy, limit))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BasketRequest {
    /// Product ids in the basket (1–200).
    pub items: Vec<i64>,
    /// 1–100, default 10.
    pub limit: Option<i64>,
}

/// Products to suggest with a basket (like Gorse's session recommendation): the top products
/// not in it, each with relevance, confidence and reason.
#[utoipa::path(post, path = "/api/recommendations/basket", tag = "recommendations", request_body = BasketRequest,
    responses((status = 200, body = Answer), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn basket_recommendations(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<BasketRequest>,
) -> ApiResult<Json<Answer>> {
    caller.require("ml", "read")?;
    if req.items.is_empty() || req.items.len() > 200 {
        return Err(ApiError::validation("items", "must hold 1 to 200 product ids"));
    }
    let limit = check_count("limit", req.limit, 10)?;
    for (i, &id) in req.items.iter().enumerate() {
        known_product(&state, &format!("items[{i}]"), id).await?;
    }
    Ok(Json(state.recommender.answer(|e| e.for_basket(&req.items, limit))))
}

#[derive(Serialize, ToSchema)]
pub struct SaleRecommendations {
    pub sale_id: i64,
    pub model_version: i64,
    pub recommendations: Vec<Recommendation>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// The recommendation made when the sale was recorded (404 until it is computed, a few
/// milliseconds after the sale, or for imported history).
#[utoipa::path(get, path = "/api/sales/{id}/recommendations", tag = "recommendations", params(("id" = i64, Path)),
    responses((status = 200, body = SaleRecommendations), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn sale_recommendations(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<SaleRecommendations>> {
    caller.require("sales", "read")?;
    let mut reader = state.db.read().await?;
    let stored = recommendations::sale_recommendation(&mut reader.conn(), id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("recommendation for sale {id}")))?;
    Ok(Json(SaleRecommendations {
        sale_id: stored.sale_id,
        model_version: stored.model_version,
        recommendations: serde_json::from_str(&stored.items).map_err(|e| ApiError::Internal(e.into()))?,
        created_at: stored.created_at,
    }))
}
