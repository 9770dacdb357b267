//! Learning from the event bus: every sale updates the engine as it is published, and every
//! sale made at the till or by an order gets its recommendation stored and announced
//! (`erp.recommendations`); catalogue changes reach the engine's product list.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use bodega_events::{Event, EventBus, Seen};
use bodega_store::outbox::topics;
use bodega_store::{recommendations, Db};

use super::Recommender;

#[derive(Deserialize)]
struct SaleRecorded {
    sale_id: i64,
    customer_id: Option<i64>,
    #[serde(default)]
    historical: bool,
    timestamp: chrono::DateTime<chrono::Utc>,
    items: Vec<SaleLine>,
}

#[derive(Deserialize)]
struct SaleLine {
    product_id: i64,
    quantity: i64,
}

/// Subscribes to the bus now (so nothing published after this call is missed) and spawns the
/// task that learns from it.
pub fn spawn_sale_subscriber(bus: &EventBus, db: Db, recommender: Arc<Recommender>) {
    let mut events = bus.subscribe();
    let (to_store, stored) = mpsc::unbounded_channel();
    spawn_recommendation_writer(db.clone(), stored, bus.clone());
    tokio::spawn(async move {
        // The relay delivers at least once, and not in seq order on PostgreSQL (an older
        // transaction's event can hold a higher seq than a younger one's, and is published
        // first): a repeat is an event already seen, not one below the highest seq seen.
        let mut seen = Seen::new();
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                Err(RecvError::Lagged(missed)) => {
                    // The bus dropped events for us; they are all in the outbox.
                    tracing::info!(missed, "recommender catching up from the outbox");
                    if let Err(e) = catch_up(&db, &recommender, &to_store, &mut seen).await {
                        tracing::warn!(error = %e, "recommender could not catch up; the next training run will");
                    }
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            learn(&event, &db, &recommender, &to_store, &mut seen).await;
        }
    });
}

async fn learn(
    event: &Event,
    db: &Db,
    recommender: &Recommender,
    to_store: &mpsc::UnboundedSender<(i64, i64, serde_json::Value)>,
    seen: &mut Seen,
) {
    if !seen.first_time(event) {
        return;
    }
    if let Err(e) = handle(event, db, recommender, to_store).await {
        tracing::warn!(error = %e, seq = event.seq, topic = %event.topic, "recommender could not learn from an event");
    }
    recommender.mark_learnt(event.seq);
}

/// Reads from the outbox what the bus dropped (everything published since the last event
/// received, less what was seen), then goes back to the bus, whose remaining events are
/// then repeats or new.
async fn catch_up(
    db: &Db,
    recommender: &Recommender,
    to_store: &mpsc::UnboundedSender<(i64, i64, serde_json::Value)>,
    seen: &mut Seen,
) -> anyhow::Result<()> {
    let missed = seen.missed(db).await?;
    for chunk in missed.chunks(1000) {
        for event in bodega_events::read(db, chunk).await? {
            learn(&event, db, recommender, to_store, seen).await;
        }
    }
    Ok(())
}

async fn handle(
    event: &Event,
    db: &Db,
    recommender: &Recommender,
    to_store: &mpsc::UnboundedSender<(i64, i64, serde_json::Value)>,
) -> anyhow::Result<()> {
    match (event.topic.as_str(), event.event_type.as_str()) {
        (topics::SALES, "sale.recorded") => {
            let sale: SaleRecorded = serde_json::from_value(event.data().clone())?;
            let lines: Vec<(i64, i64)> = sale.items.iter().map(|l| (l.product_id, l.quantity)).collect();
            let basket: Vec<i64> = lines.iter().map(|l| l.0).collect();
            if sale.sale_id <= recommender.trained_through() {
                // Already in the engine's training data (events published after a restart).
                return Ok(());
            }
            // Usually learnt already, by the request that committed the sale.
            recommender.learn_sale(sale.sale_id, sale.customer_id, lines, sale.timestamp.timestamp());
            // A recommendation is for the moment of the sale: none for imported history nor
            // for sales whose events are published a day late (after an outage).
            let fresh = chrono::Utc::now() - sale.timestamp < chrono::TimeDelta::hours(24);
            if !sale.historical && fresh && recommender.per_sale > 0 {
                let answer = recommender.answer(|engine| engine.for_basket(&basket, recommender.per_sale));
                let items = serde_json::to_value(&answer.recommendations)?;
                let _ = to_store.send((sale.sale_id, answer.model_version, items));
            }
        }
        // The catalogue's topic also carries warehouses and categories (`warehouse.*`,
        // `category.*`): only products are the engine's.
        (topics::PRODUCTS, kind) if kind.starts_with("product.") => {
            let Some(id) = event.key.as_deref().and_then(|k| k.parse::<i64>().ok()) else {
                return Ok(());
            };
            let profile = {
                let mut reader = db.read().await?;
                recommendations::product_profile(&mut reader.conn(), id).await?
            };
            match profile {
                Some(profile) => recommender.upsert_product(&profile),
                None if kind == "product.deleted" => recommender.deactivate_product(id),
                None => {}
            }
        }
        _ => {}
    }
    Ok(())
}

/// Stores per-sale recommendations in batches (one transaction per batch), so a burst of
/// sales costs the writer one commit instead of one each.
fn spawn_recommendation_writer(
    db: Db,
    mut stored: mpsc::UnboundedReceiver<(i64, i64, serde_json::Value)>,
    bus: EventBus,
) {
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(256);
        while stored.recv_many(&mut batch, 512).await > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            while let Ok(more) = stored.try_recv() {
                batch.push(more);
            }
            match save(&db, &batch).await {
                Ok(0) => {}
                Ok(_) => bus.nudge(),
                Err(e) => tracing::warn!(error = %e, count = batch.len(), "storing sale recommendations failed"),
            }
            batch.clear();
        }
    });
}

async fn save(db: &Db, batch: &[(i64, i64, serde_json::Value)]) -> anyhow::Result<usize> {
    let mut tx = db.begin().await?;
    let n = recommendations::save_sale_recommendations(&mut tx.conn(), batch).await?;
    tx.commit().await?;
    Ok(n)
}
