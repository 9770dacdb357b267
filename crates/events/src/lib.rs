//! The event relay. Business changes write their events to the outbox in the same transaction
//! (`bodega_store::outbox`); the relay reads committed, unpublished events in commit order,
//! hands each to every subscriber, and marks them published. Delivery is at least once: a crash
//! after handing an event out but before marking it re-delivers it, and subscribers deduplicate
//! on `event_id`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::{broadcast, Mutex, Notify};

use bodega_store::outbox::OutboxEvent;
use bodega_store::{outbox, Backend, Db};

/// A published domain event.
#[derive(Debug, Clone)]
pub struct Event {
    /// Position in the outbox (commit order).
    pub seq: i64,
    pub event_id: String,
    pub topic: String,
    pub event_type: String,
    pub key: Option<String>,
    /// The envelope as stored: schema_version, event_id, event_type, occurred_at, data.
    pub envelope: String,
    /// The envelope decoded on first use: most subscribers skip most topics, so the relay
    /// does not decode what nobody reads.
    decoded: OnceLock<Value>,
    pub created_at: DateTime<Utc>,
}

impl Event {
    /// The envelope as JSON (`Null` if it is not JSON).
    pub fn payload(&self) -> &Value {
        self.decoded
            .get_or_init(|| serde_json::from_str(&self.envelope).unwrap_or(Value::Null))
    }

    /// The `data` part of the envelope.
    pub fn data(&self) -> &Value {
        &self.payload()["data"]
    }
}

impl From<OutboxEvent> for Event {
    fn from(row: OutboxEvent) -> Self {
        Self {
            seq: row.id,
            envelope: row.payload,
            decoded: OnceLock::new(),
            event_id: row.event_id,
            topic: row.topic,
            event_type: row.event_type,
            key: row.event_key,
            created_at: row.created_at,
        }
    }
}

/// The in-process bus: subscribers get every event the relay publishes, in order.
#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<Event>>,
    wake: Arc<Notify>,
    /// One publishing round at a time in this process.
    publishing: Arc<Mutex<()>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(16_384);
        Self {
            sender,
            wake: Arc::new(Notify::new()),
            publishing: Arc::new(Mutex::new(())),
        }
    }

    /// A receiver of every event published from now on. A subscriber that falls more than the
    /// channel's capacity behind gets `Lagged` and should re-read the outbox from its last seq.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }

    /// Tells the relay that events were just committed, so it publishes them without waiting
    /// for its next tick.
    pub fn nudge(&self) {
        self.wake.notify_one();
    }

    /// Publishes what is in the outbox, then keeps doing so until the process ends.
    pub fn spawn_relay(&self, db: Db) -> tokio::task::JoinHandle<()> {
        let bus = self.clone();
        tokio::spawn(async move {
            loop {
                match bus.publish_pending(&db, 500).await {
                    Ok(n) if n > 0 => continue,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "event relay: publishing failed; retrying"),
                }
                tokio::select! {
                    _ = bus.wake.notified() => {},
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {},
                }
            }
        })
    }

    /// Publishes up to `limit` pending events; returns how many.
    ///
    /// On PostgreSQL the events are claimed (`FOR UPDATE SKIP LOCKED`) and marked in one
    /// transaction, so replicas share the work. On SQLite there is one process and one writer:
    /// events are read and decoded on a read connection, and the writer is taken only for the
    /// short update that marks them, not while they are decoded and handed out.
    pub async fn publish_pending(&self, db: &Db, limit: i64) -> Result<usize, bodega_store::StoreError> {
        let _round = self.publishing.lock().await;
        if db.backend() == Backend::Sqlite {
            let batch = {
                let mut reader = db.read().await?;
                outbox::unpublished(&mut reader.conn(), limit).await?
            };
            if batch.is_empty() {
                return Ok(0);
            }
            let ids = self.hand_out(batch);
            let mut tx = db.begin().await?;
            outbox::mark_published(&mut tx.conn(), &ids).await?;
            tx.commit().await?;
            return Ok(ids.len());
        }
        let mut tx = db.begin().await?;
        let batch = outbox::claim_unpublished(&mut tx.conn(), limit).await?;
        if batch.is_empty() {
            return Ok(0);
        }
        let ids = self.hand_out(batch);
        outbox::mark_published(&mut tx.conn(), &ids).await?;
        tx.commit().await?;
        Ok(ids.len())
    }

    /// Sends each event to the subscribers, in order; the ids sent.
    fn hand_out(&self, batch: Vec<OutboxEvent>) -> Vec<i64> {
        let ids: Vec<i64> = batch.iter().map(|e| e.id).collect();
        if self.sender.receiver_count() == 0 {
            // Nobody listens in this process: nothing to decode. The events stay in the
            // outbox for replays.
            return ids;
        }
        for row in batch {
            let event = Event::from(row);
            // No subscriber is not an error: the event stays in the outbox for replays.
            let _ = self.sender.send(Arc::new(event));
        }
        ids
    }
}
