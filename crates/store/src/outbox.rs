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

/// Claims the oldest unpublished events for the relay and records them as published at `at`,
/// in the caller's transaction, which must hand them out *before* it commits: a rollback (or a
/// crash) leaves them unpublished, so delivery stays at least once. Returned in id order.
///
/// On PostgreSQL this is one statement: the rows are locked with `SKIP LOCKED` (relays of
/// several replicas share the work instead of publishing the same events) and stamped
/// `published_at = at`. Ids are assigned at insert, not at commit, so an event can be claimed
/// *after* events with higher ids (its transaction committed later). On SQLite (one writer,
/// ids in commit order) the events after the relay's cursor are read and the cursor moves
/// past them.
pub async fn claim_unpublished(c: &mut Conn<'_>, at: DateTime<Utc>, limit: i64) -> StoreResult<Vec<OutboxEvent>> {
    if c.backend() == Backend::Sqlite {
        let batch = unpublished(c, limit).await?;
        let ids: Vec<i64> = batch.iter().map(|e| e.id).collect();
        mark_published(c, &ids, at).await?;
        return Ok(batch);
    }
    let mut batch: Vec<OutboxEvent> = sql::query_as(
        "UPDATE outbox SET published_at = $1 WHERE id IN (
             SELECT id FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING id, event_id, topic, event_type, event_key, payload, created_at",
    )
    .bind(at)
    .bind(limit)
    .fetch_all(c)
    .await?;
    batch.sort_unstable_by_key(|e| e.id);
    Ok(batch)
}

/// The oldest unpublished events, in id order. On SQLite "unpublished" means after the
/// relay's cursor (see migration 0007) and id order is commit order; on PostgreSQL, not yet
/// stamped `published_at`, and an event whose transaction is still open is not there yet
/// even if events with higher ids are.
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

/// Whether any event waits to be published: a cheap look (one indexed probe) before a
/// relay round. A "no" is only as fresh as the statement: events committed afterwards are
/// found by the next round.
pub async fn any_unpublished(c: &mut Conn<'_>) -> StoreResult<bool> {
    let sql = match c.backend() {
        Backend::Sqlite => {
            "SELECT EXISTS (SELECT 1 FROM outbox
             WHERE id > COALESCE((SELECT last_id FROM outbox_cursor WHERE name = 'relay'), 0))"
        }
        Backend::Postgres => "SELECT EXISTS (SELECT 1 FROM outbox WHERE published_at IS NULL)",
    };
    sql::query_scalar(sql).fetch_one(c).await
}

/// Records events as published at `at`. On SQLite `ids` must be the events [`unpublished`]
/// returned (a prefix in commit order): the cursor moves to the last one, and `at` is not
/// kept. On PostgreSQL each row is stamped.
pub async fn mark_published(c: &mut Conn<'_>, ids: &[i64], at: DateTime<Utc>) -> StoreResult<()> {
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
    if ids.is_empty() {
        return Ok(());
    }
    // One statement text whatever the number of ids: prepared once per connection.
    sql::query("UPDATE outbox SET published_at = $1 WHERE id = ANY($2)")
        .bind(at)
        .bind(ids)
        .execute(c)
        .await?;
    Ok(())
}

/// The ids of the events published since a subscriber's position, for a subscriber that
/// missed some (see `bodega_events`). On SQLite ids are in commit order, and these are the
/// ids above `after_id` (published or about to be). On PostgreSQL ids are not in commit
/// order, so the position is a time: the events stamped `published_at >= since` (a full
/// scan of the outbox: this is for recovery, not for every event). Oldest first.
pub async fn published_since(c: &mut Conn<'_>, after_id: i64, since: DateTime<Utc>) -> StoreResult<Vec<i64>> {
    match c.backend() {
        Backend::Sqlite => {
            sql::query_scalar("SELECT id FROM outbox WHERE id > $1 ORDER BY id")
                .bind(after_id)
                .fetch_all(c)
                .await
        }
        Backend::Postgres => {
            sql::query_scalar("SELECT id FROM outbox WHERE published_at >= $1 ORDER BY published_at, id")
                .bind(since)
                .fetch_all(c)
                .await
        }
    }
}

/// The events with these ids, in id order.
pub async fn by_ids(c: &mut Conn<'_>, ids: &[i64]) -> StoreResult<Vec<OutboxEvent>> {
    let sql = match c.backend() {
        Backend::Sqlite => {
            "SELECT id, event_id, topic, event_type, event_key, payload, created_at FROM outbox
             WHERE id IN (SELECT value FROM json_each($1)) ORDER BY id"
        }
        Backend::Postgres => {
            "SELECT id, event_id, topic, event_type, event_key, payload, created_at FROM outbox
             WHERE id = ANY($1) ORDER BY id"
        }
    };
    sql::query_as(sql).bind(ids).fetch_all(c).await
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
