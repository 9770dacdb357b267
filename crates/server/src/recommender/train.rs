//! Training runs: read a snapshot of sales, interactions and products, train every model,
//! evaluate on a temporal holdout, store the version with its settings and scores, and put
//! the new engine in service.

use std::time::Instant;

use anyhow::Context;
use chrono::Utc;
use serde::Serialize;

use bodega_recommend::engine::{Basket, EngineConfig, TrainingData, UserEvent};
use bodega_recommend::{Engine, InteractionKind};
use bodega_store::recommendations::{self, ModelVersion};
use bodega_store::Db;

use super::{product, Recommender};

/// What a training run did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrainReport {
    pub version: i64,
    pub trained_at: chrono::DateTime<Utc>,
    pub products: i64,
    pub customers: i64,
    pub baskets: i64,
    pub interactions: i64,
    pub train_ms: i64,
    /// The offline evaluation on the newest weeks (empty when there is too little history).
    #[schema(value_type = Object)]
    pub metrics: serde_json::Value,
}

/// Reads what the models learn from.
pub async fn snapshot(db: &Db) -> anyhow::Result<TrainingData> {
    let mut reader = db.read().await?;
    let mut c = reader.conn();
    let products = recommendations::product_profiles(&mut c).await?;
    let lines = recommendations::sale_lines_since(&mut c, None).await?;
    let interactions = recommendations::interactions_since(&mut c, None).await?;
    let mut baskets: Vec<Basket> = Vec::new();
    for l in lines {
        match baskets.last_mut() {
            Some(b) if b.sale_id == l.sale_id => b.lines.push((l.product_id, l.quantity)),
            _ => baskets.push(Basket {
                sale_id: l.sale_id,
                customer: l.customer_id,
                at: l.sold_at.timestamp(),
                lines: vec![(l.product_id, l.quantity)],
            }),
        }
    }
    // Imported history arrives in any order; the models learn in time order.
    baskets.sort_by_key(|b| (b.at, b.sale_id));
    let interactions = interactions
        .into_iter()
        .filter_map(|i| {
            Some(UserEvent {
                user: i.user_ref,
                product_id: i.product_id,
                kind: InteractionKind::parse(&i.kind)?,
                at: i.occurred_at.timestamp(),
            })
        })
        .collect();
    Ok(TrainingData {
        products: products.iter().map(product).collect(),
        baskets,
        interactions,
    })
}

/// Trains on everything in the database, stores the new version and, when a running
/// recommender is given, puts it in service (with whatever arrived during the run replayed).
pub async fn train(db: &Db, recommender: Option<&Recommender>, config: &EngineConfig) -> anyhow::Result<TrainReport> {
    if let Some(r) = recommender {
        r.begin_training();
    }
    let outcome = run(db, config).await;
    match (outcome, recommender) {
        (Ok((engine, last_sale_id, report)), Some(r)) => {
            r.install(engine, last_sale_id, Some(report.metrics.clone()));
            Ok(report)
        }
        (Ok((_, _, report)), None) => Ok(report),
        (Err(e), r) => {
            if let Some(r) = r {
                r.abort_training();
            }
            Err(e)
        }
    }
}

async fn run(db: &Db, config: &EngineConfig) -> anyhow::Result<(Engine, i64, TrainReport)> {
    let data = snapshot(db).await.context("reading the training data")?;
    let next_version = {
        let mut reader = db.read().await?;
        recommendations::latest_model(&mut reader.conn())
            .await?
            .map_or(1, |m| m.version + 1)
    };
    let mut config_for_run = config.clone();
    let (mut engine, data, metrics, train_ms, config) = tokio::task::spawn_blocking(move || {
        let metrics = bodega_recommend::evaluate::holdout(&data, &config_for_run);
        // The holdout chose how much the hybrid leans on best sellers for this shop.
        config_for_run.hybrid_popular_weight = bodega_recommend::evaluate::chosen_popular_weight(&metrics);
        let started = Instant::now();
        let engine = Engine::train(&data, &config_for_run, next_version);
        let train_ms = started.elapsed().as_millis() as i64;
        (engine, data, metrics, train_ms, config_for_run)
    })
    .await
    .context("training panicked")?;
    let trained_at = bodega_store::now();
    let model = ModelVersion {
        version: next_version,
        trained_at,
        config: serde_json::to_string(&config)?,
        metrics: metrics.to_string(),
        products: data.products.len() as i64,
        customers: data.customers() as i64,
        baskets: data.baskets.len() as i64,
        train_ms,
        artifact: engine.artifact().to_string(),
    };
    let version = {
        let mut tx = db.begin().await?;
        let version = recommendations::save_model(&mut tx.conn(), &model).await?;
        tx.commit().await?;
        version
    };
    engine.set_version(version);
    let report = TrainReport {
        version,
        trained_at,
        products: model.products,
        customers: model.customers,
        baskets: model.baskets,
        interactions: data.interactions.len() as i64,
        train_ms,
        metrics,
    };
    Ok((engine, data.last_sale_id(), report))
}

/// Builds the engine from what is in the database with the latest version's settings (or
/// the given ones), without storing a new version, and puts it in service. Returns the number
/// of sales learnt.
pub async fn warm_up(db: &Db, recommender: &Recommender, config: &EngineConfig) -> anyhow::Result<usize> {
    recommender.begin_training();
    let loaded = async {
        let latest = {
            let mut reader = db.read().await?;
            recommendations::latest_model(&mut reader.conn()).await?
        };
        let data = snapshot(db).await?;
        let (config, version, metrics) = match latest {
            Some(m) => (
                serde_json::from_str(&m.config).unwrap_or_else(|_| config.clone()),
                m.version,
                serde_json::from_str(&m.metrics).ok(),
            ),
            None => (config.clone(), 0, None),
        };
        let engine = tokio::task::spawn_blocking(move || {
            let engine = Engine::train(&data, &config, version);
            (engine, data.last_sale_id(), data.baskets.len())
        })
        .await?;
        anyhow::Ok((engine, metrics))
    }
    .await;
    match loaded {
        Ok(((engine, last_sale_id, baskets), metrics)) => {
            recommender.install(engine, last_sale_id, metrics);
            Ok(baskets)
        }
        Err(e) => {
            recommender.abort_training();
            Err(e)
        }
    }
}
