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
    /// The transaction that wrote it (PostgreSQL; 0 on SQLite): see [`Position`].
    pub tx: i64,
}

impl OutboxEvent {
    pub fn position(&self) -> Position {
        Position {
            tx: self.tx,
            id: self.id,
        }
    }
}

/// Where an event stands in the order the relay publishes: by the transaction that wrote it,
/// then by id. On SQLite `tx` is always 0 and ids are taken in commit order (one writer). On
/// PostgreSQL ids are taken at insert, not at commit, so they are not in commit order; `tx` is
/// the writing transaction's 64-bit id, and the relay passes a position only once every
/// transaction below it has ended (migration 0012), so no event ever appears behind a
/// position already passed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Position {
    pub tx: i64,
    pub id: i64,
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

/// SQLite: the insert of a number of events, one row each.
static INSERT_SQLITE: sql::ByCount = sql::ByCount::new(|rows| {
    format!(
        "INSERT INTO outbox (event_id, topic, event_type, event_key, payload, created_at) VALUES {}",
        sql::value_rows(rows, 6, 1)
    )
});

/// Writes several events in one statement, in order.
pub async fn emit_all(c: &mut Conn<'_>, events: Vec<NewEvent>) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let insert = match c.backend() {
        Backend::Postgres => {
            let (insert, columns) = insert_columns(events, 1);
            sql::query(insert).bind_all(columns)
        }
        Backend::Sqlite => {
            let insert = INSERT_SQLITE.query(events.len());
            events.into_iter().fold(insert, |q, e| {
                q.bind(e.event_id)
                    .bind(e.topic)
                    .bind(e.event_type)
                    .bind(e.key)
                    .bind(e.envelope)
                    .bind(e.at)
            })
        }
    };
    insert.execute(c).await?;
    Ok(())
}

/// PostgreSQL: the insert of any number of events, bound as a column each from `first` on,
/// and those columns: one text whatever their number, prepared once per connection. Written in
/// the order given, so their ids follow it.
pub(crate) fn insert_columns(events: Vec<NewEvent>, first: usize) -> (String, Vec<sql::Value>) {
    let columns = vec![
        sql::column(events.iter().map(|e| e.event_id.as_str())),
        sql::column(events.iter().map(|e| e.topic)),
        sql::column(events.iter().map(|e| e.event_type.as_str())),
        sql::column(events.iter().map(|e| e.key.as_str())),
        sql::column(events.iter().map(|e| e.envelope.as_str())),
        sql::column(events.iter().map(|e| e.at)),
    ];
    let insert = format!(
        "INSERT INTO outbox (event_id, topic, event_type, event_key, payload, created_at)
         SELECT event_id, topic, event_type, event_key, payload, created_at
         FROM {} WITH ORDINALITY AS e (event_id, topic, event_type, event_key, payload, created_at, n)
         ORDER BY n",
        sql::unnest(first, &columns)
    );
    (insert, columns)
}

/// The columns of an [`OutboxEvent`].
const EVENT_COLUMNS: &str = "id, event_id, topic, event_type, event_key, payload, created_at, tx";

/// Where the relay stops on PostgreSQL: events of transactions at or above the fence wait. Every
/// transaction below it has ended, so its events, if it committed, are visible, and no event
/// can later appear below it (migration 0012).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fence {
    /// The oldest transaction still running on the whole server (the snapshot's xmin): free
    /// to compute, but a long transaction in another database holds this shop's events back.
    Server,
    /// The oldest transaction still running that may be of this database (`outbox_fence()`):
    /// leaves out those the server's activity shows in other databases, at the cost of
    /// reading that activity (a fraction of a millisecond).
    Database,
}

impl Fence {
    fn sql(self) -> &'static str {
        match self {
            Fence::Server => "pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
            Fence::Database => "outbox_fence()",
        }
    }
}

/// PostgreSQL: the events past the relay's position whose transactions are below `fence`,
/// oldest position first. `relay` is a row source with the position (`last_tx`, `last_id`).
/// Looked up key by key in the position's index, whatever the table's size.
fn postgres_pending(relay: &str, fence: Fence) -> String {
    format!(
        "SELECT o.{cols} FROM {relay} CROSS JOIN LATERAL (
             SELECT {EVENT_COLUMNS} FROM outbox
             WHERE tx > 0 AND (tx, id) > (relay.last_tx, relay.last_id) AND tx < {fence}
             ORDER BY tx, id LIMIT $1) o",
        cols = EVENT_COLUMNS.replace(", ", ", o."),
        fence = fence.sql()
    )
}

/// Claims the next events for the relay and moves its position past them, in the caller's
/// transaction, which must hand them out *before* it commits: a rollback (or a crash) leaves
/// the position where it was, so delivery stays at least once. Returned in position order.
///
/// On PostgreSQL this is one statement, which stops at `fence`. The position's row is locked
/// with `SKIP LOCKED`: while another replica's relay holds it, this one claims nothing (rather
/// than publishing the same events twice). No event row is written: publishing costs one row
/// update per round, not one per event. On SQLite (one writer, ids in commit order) the events
/// after the position are read and the position moves past them.
pub async fn claim_unpublished(c: &mut Conn<'_>, limit: i64, fence: Fence) -> StoreResult<Vec<OutboxEvent>> {
    if c.backend() == Backend::Sqlite {
        let batch = unpublished(c, limit).await?;
        if let Some(last) = batch.last() {
            mark_published(c, last.position()).await?;
        }
        return Ok(batch);
    }
    let claim = format!(
        "WITH relay AS MATERIALIZED (
             SELECT last_tx, last_id FROM outbox_cursor WHERE name = 'relay' FOR UPDATE SKIP LOCKED),
         batch AS MATERIALIZED ({pending}),
         moved AS (
             UPDATE outbox_cursor SET last_tx = b.tx, last_id = b.id
             FROM (SELECT tx, id FROM batch ORDER BY tx DESC, id DESC LIMIT 1) b
             WHERE name = 'relay')
         SELECT * FROM batch ORDER BY tx, id",
        pending = postgres_pending("relay", fence)
    );
    sql::query_as(claim).bind(limit).fetch_all(c).await
}

/// The next events the relay would publish, in position order, without claiming them. On
/// PostgreSQL an event whose transaction is still open is not there yet, nor are events of
/// transactions of this database that began after it (until it ends): [`Fence::Database`].
pub async fn unpublished(c: &mut Conn<'_>, limit: i64) -> StoreResult<Vec<OutboxEvent>> {
    let sql = match c.backend() {
        Backend::Sqlite => format!(
            "SELECT {EVENT_COLUMNS} FROM outbox
             WHERE id > COALESCE((SELECT last_id FROM outbox_cursor WHERE name = 'relay'), 0)
             ORDER BY id LIMIT $1"
        ),
        Backend::Postgres => postgres_pending(
            "(SELECT last_tx, last_id FROM outbox_cursor WHERE name = 'relay') relay",
            Fence::Database,
        ),
    };
    sql::query_as(sql).bind(limit).fetch_all(c).await
}

/// Whether any committed event waits past the relay's position: a cheap look (one indexed
/// probe) before a relay round. A "yes" may be an event a fence still holds back; a "no" is
/// only as fresh as the statement: events committed afterwards are found by the next round.
pub async fn any_unpublished(c: &mut Conn<'_>) -> StoreResult<bool> {
    let sql = match c.backend() {
        Backend::Sqlite => {
            "SELECT EXISTS (SELECT 1 FROM outbox
             WHERE id > COALESCE((SELECT last_id FROM outbox_cursor WHERE name = 'relay'), 0))"
        }
        // The first event past the position, in position order: the planner then reads
        // `ix_outbox_position` from the position on. Written as a plain join under EXISTS, it
        // expected a match early in a sequential scan and read the whole outbox each time.
        Backend::Postgres => {
            "SELECT EXISTS (SELECT 1 FROM outbox_cursor relay CROSS JOIN LATERAL
                 (SELECT 1 FROM outbox o WHERE o.tx > 0 AND (o.tx, o.id) > (relay.last_tx, relay.last_id)
                  ORDER BY o.tx, o.id LIMIT 1) next
             WHERE relay.name = 'relay')"
        }
    };
    sql::query_scalar(sql).fetch_one(c).await
}

/// Moves the relay's position to `to` (never back): the events up to it are published.
pub async fn mark_published(c: &mut Conn<'_>, to: Position) -> StoreResult<()> {
    sql::query(
        "INSERT INTO outbox_cursor (name, last_tx, last_id) VALUES ('relay', $1, $2)
         ON CONFLICT (name) DO UPDATE SET last_tx = excluded.last_tx, last_id = excluded.last_id
         WHERE (outbox_cursor.last_tx, outbox_cursor.last_id) < (excluded.last_tx, excluded.last_id)",
    )
    .bind(to.tx)
    .bind(to.id)
    .execute(c)
    .await?;
    Ok(())
}

/// The ids of the events past a subscriber's position, in position order, for a subscriber
/// that missed some (see `bodega_events`): published, or about to be.
pub async fn published_since(c: &mut Conn<'_>, after: Position) -> StoreResult<Vec<i64>> {
    let sql = match c.backend() {
        // Every tx is 0 here: the position is the id, and the rowid range finds them.
        Backend::Sqlite => "SELECT id FROM outbox WHERE id > $2 AND (tx, id) > ($1, $2) ORDER BY id",
        Backend::Postgres => "SELECT id FROM outbox WHERE tx > 0 AND (tx, id) > ($1, $2) ORDER BY tx, id",
    };
    sql::query_scalar(sql).bind(after.tx).bind(after.id).fetch_all(c).await
}

/// The events with these ids, in position order.
pub async fn by_ids(c: &mut Conn<'_>, ids: &[i64]) -> StoreResult<Vec<OutboxEvent>> {
    let wanted = sql::one_of(c.backend(), "id", 1);
    sql::query_as(format!(
        "SELECT {EVENT_COLUMNS} FROM outbox WHERE {wanted} ORDER BY tx, id"
    ))
    .bind(ids)
    .fetch_all(c)
    .await
}

/// Events of a topic after `after_id`, for replays and tests.
pub async fn list(c: &mut Conn<'_>, topic: Option<&str>, after_id: i64, limit: i64) -> StoreResult<Vec<OutboxEvent>> {
    sql::query_as(format!(
        "SELECT {EVENT_COLUMNS} FROM outbox WHERE ($1 IS NULL OR topic = $1) AND id > $2 ORDER BY id LIMIT $3"
    ))
    .bind(topic)
    .bind(after_id)
    .bind(limit)
    .fetch_all(c)
    .await
}
