//! The transactional outbox: every business change writes its domain event here, in the same
//! transaction, and the relay publishes it afterwards. A crash between commit and publish
//! loses nothing: the row is still unpublished when the process comes back.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use crate::{now, sql, Backend, Conn, FromRow, StoreResult};

/// Schema version of the event envelope; bumped on breaking payload changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Topics, as in seed 003 (`erp.*`).
pub mod topics {
    pub const PRODUCTS: &str = "erp.products";
    pub const CUSTOMERS: &str = "erp.customers";
    pub const SALES: &str = "erp.sales";
    pub const SALES_ITEMS: &str = "erp.sales_items";
    pub const STOCK: &str = "erp.stock";
    pub const ALERTS: &str = "erp.alerts";
    pub const ORDERS: &str = "erp.orders";
    pub const RECOMMENDATIONS: &str = "erp.recommendations";
}

/// A stored event, as handed to publishers.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct OutboxEvent {
    pub id: i64,
    pub event_id: String,
    pub topic: String,
    pub event_type: String,
    pub event_key: Option<String>,
    pub payload: String,
    pub created_at: DateTime<Utc>,
}

impl OutboxEvent {
    pub fn payload_json(&self) -> Value {
        serde_json::from_str(&self.payload).unwrap_or(Value::Null)
    }
}

/// An event about to be written: the payload wrapped in an envelope with the schema version,
/// a unique event id (consumers deduplicate on it: delivery is at least once) and the time.
pub struct NewEvent {
    event_id: String,
    topic: &'static str,
    event_type: String,
    key: String,
    envelope: String,
    at: DateTime<Utc>,
}

pub fn event(topic: &'static str, event_type: &str, key: impl ToString, data: &impl Serialize) -> NewEvent {
    let event_id = uuid::Uuid::now_v7().to_string();
    let at = now();
    // Serialised straight from the data (no intermediate JSON tree): this runs inside the
    // transaction, several times per order.
    let envelope = serde_json::to_string(&Envelope {
        schema_version: SCHEMA_VERSION,
        event_id: &event_id,
        event_type,
        occurred_at: at,
        data,
    })
    .unwrap_or_else(|e| {
        json!({"schema_version": SCHEMA_VERSION, "event_id": event_id, "error": e.to_string()}).to_string()
    });
    NewEvent {
        event_id,
        topic,
        event_type: event_type.to_string(),
        key: key.to_string(),
        envelope,
        at,
    }
}

#[derive(Serialize)]
struct Envelope<'a, T: Serialize + ?Sized> {
    schema_version: u32,
    event_id: &'a str,
    event_type: &'a str,
    occurred_at: DateTime<Utc>,
    data: &'a T,
}

/// Writes one event.
pub async fn emit(
    c: &mut Conn<'_>,
    topic: &'static str,
    event_type: &str,
    key: impl ToString,
    data: &impl Serialize,
) -> StoreResult<()> {
    emit_all(c, vec![event(topic, event_type, key, data)]).await
}

/// Writes several events in one statement, in order.
pub async fn emit_all(c: &mut Conn<'_>, events: Vec<NewEvent>) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let insert = sql::query(insert_sql(events.len(), 1));
    bind_all(insert, events).execute(c).await?;
    Ok(())
}

/// The insert of `count` events whose parameters are numbered from `first` on (see
/// [`bind_all`]); for statements that write events together with other rows.
pub(crate) fn insert_sql(count: usize, first: usize) -> String {
    format!(
        "INSERT INTO outbox (event_id, topic, event_type, event_key, payload, created_at) VALUES {}",
        sql::value_rows(count, 6, first)
    )
}

/// Binds the parameters of [`insert_sql`], in order.
pub(crate) fn bind_all(mut q: sql::Query<'_>, events: Vec<NewEvent>) -> sql::Query<'_> {
    for e in events {
        q = q
            .bind(e.event_id)
            .bind(e.topic)
            .bind(e.event_type)
            .bind(e.key)
            .bind(e.envelope)
            .bind(e.at);
    }
    q
}

/// Claims the oldest unpublished events, in commit order, for the relay. On PostgreSQL the rows
/// are locked with `SKIP LOCKED`, so relays of several replicas share the work instead of
/// publishing the same events; SQLite has a single writer and needs no lock.
pub async fn claim_unpublished(c: &mut Conn<'_>, limit: i64) -> StoreResult<Vec<OutboxEvent>> {
    if c.backend() == Backend::Sqlite {
        return unpublished(c, limit).await;
    }
    sql::query_as(
        "SELECT id, event_id, topic, event_type, event_key, payload, created_at FROM outbox
         WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(c)
    .await
}

/// The oldest unpublished events, in commit order. On SQLite "unpublished" means after the
/// relay's cursor (see migration 0007); on PostgreSQL, not yet stamped `published_at`.
pub async fn unpublished(c: &mut Conn<'_>, limit: i64) -> StoreResult<Vec<OutboxEvent>> {
    let sql = match c.backend() {
        Backend::Sqlite => {
            "SELECT id, event_id, topic, event_type, event_key, payload, created_at FROM outbox
             WHERE id > COALESCE((SELECT last_id FROM outbox_cursor WHERE name = 'relay'), 0)
             ORDER BY id LIMIT $1"
        }
        Backend::Postgres => {
            "SELECT id, event_id, topic, event_type, event_key, payload, created_at FROM outbox
             WHERE published_at IS NULL ORDER BY id LIMIT $1"
        }
    };
    sql::query_as(sql).bind(limit).fetch_all(c).await
}

/// Records events as published. On SQLite `ids` must be the events [`unpublished`] returned
/// (a prefix in commit order): the cursor moves to the last one. On PostgreSQL each row is
/// stamped.
pub async fn mark_published(c: &mut Conn<'_>, ids: &[i64]) -> StoreResult<()> {
    if c.backend() == Backend::Sqlite {
        let Some(&last) = ids.iter().max() else {
            return Ok(());
        };
        sql::query(
            "INSERT INTO outbox_cursor (name, last_id) VALUES ('relay', $1)
             ON CONFLICT (name) DO UPDATE SET last_id = MAX(last_id, excluded.last_id)",
        )
        .bind(last)
        .execute(c)
        .await?;
        return Ok(());
    }
    let at = now();
    for chunk in ids.chunks(500) {
        let list = chunk.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        sql::query(format!("UPDATE outbox SET published_at = $1 WHERE id IN ({list})"))
            .once()
            .bind(at)
            .execute(c)
            .await?;
    }
    Ok(())
}

/// Events of a topic after `after_id`, for replays and tests.
pub async fn list(c: &mut Conn<'_>, topic: Option<&str>, after_id: i64, limit: i64) -> StoreResult<Vec<OutboxEvent>> {
    sql::query_as(
        "SELECT id, event_id, topic, event_type, event_key, payload, created_at FROM outbox
         WHERE ($1 IS NULL OR topic = $1) AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(topic)
    .bind(after_id)
    .bind(limit)
    .fetch_all(c)
    .await
}
