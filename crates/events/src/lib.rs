//! The event relay. Business changes write their events to the outbox in the same transaction
//! (`bodega_store::outbox`); the relay reads committed, unpublished events, hands each to every
//! subscriber, and marks them published. Delivery is at least once: a crash after handing an
//! event out but before marking it re-delivers it, and subscribers deduplicate (on `event_id`
//! or `seq`, see [`Seen`]).
//!
//! Order: events are handed out in the order of their position in the outbox
//! ([`outbox::Position`]: the writing transaction, then the id), which never goes back. On
//! SQLite ids are taken in commit order, so that is commit order. On PostgreSQL an id is taken
//! when the row is inserted, before its transaction commits, and the position orders by the
//! transaction's id, not by its commit: an event can be published after events with higher ids
//! (a transaction that took id 10 commits after the one that took id 11; the relay waits for
//! it before passing it). A subscriber must not treat "seq below the last one seen" as a repeat.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::{broadcast, Mutex, Notify};

use bodega_store::outbox::OutboxEvent;
use bodega_store::{outbox, Backend, Db};

/// A published domain event.
#[derive(Debug, Clone)]
pub struct Event {
    /// The event's outbox id: unique, in commit order on SQLite but not on PostgreSQL (see
    /// the crate's documentation).
    pub seq: i64,
    /// Where it stands in the order the relay publishes (see the crate's documentation).
    pub position: outbox::Position,
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
            position: row.position(),
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

/// Events a round hands out at most; a full round is followed at once by another.
pub const RELAY_BATCH: i64 = 500;

/// How long events wait behind the server-wide fence before the relay tries the fence that
/// leaves other databases out (and again at this interval while they still wait).
const FENCE_PATIENCE: Duration = Duration::from_secs(1);
/// How long the relay waits after a round that published events before it looks again (a full
/// round is followed at once): events wait at most this much longer, and a busy outbox is
/// published in a few dozen rounds a second instead of one per write.
const RELAY_GATHER: Duration = Duration::from_millis(20);

/// What a subscriber has received: tells a repeat (at-least-once delivery) from a new event
/// without assuming seqs arrive in increasing order, and knows where to re-read the outbox
/// from when the bus dropped events for it (`Lagged`).
///
/// Repeats are recognised among the last [`Seen::CAPACITY`] events received. A repeat comes
/// from a relay round that failed after handing its events out: they are claimed again by the
/// next round (oldest first), long before that many other events pass. After a restart
/// nothing is remembered: consumers that must not apply an event twice across restarts keep
/// their own record (the recommender skips sales its training already read).
pub struct Seen {
    ids: HashSet<i64>,
    order: VecDeque<i64>,
    /// The highest position received: the relay publishes in position order, so everything
    /// past it is still to come.
    high: outbox::Position,
}

impl Seen {
    /// Four times the bus's capacity: a catch-up re-reads at most what the bus dropped plus
    /// what it still holds.
    pub const CAPACITY: usize = 4 * CHANNEL_CAPACITY;

    /// Nothing received yet. Create it when subscribing.
    pub fn new() -> Self {
        Self {
            ids: HashSet::with_capacity(1024),
            order: VecDeque::with_capacity(1024),
            high: outbox::Position::default(),
        }
    }

    /// Records an event; false if it was received before (a repeat to skip).
    pub fn first_time(&mut self, event: &Event) -> bool {
        if !self.ids.insert(event.seq) {
            return false;
        }
        self.high = self.high.max(event.position);
        self.order.push_back(event.seq);
        if self.order.len() > Self::CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
        true
    }

    /// After `Lagged`: the ids of the events the bus may have dropped for this subscriber,
    /// oldest first, without those already received. Read them with [`read`] (in chunks), and
    /// pass each through [`Seen::first_time`]. Those the bus still holds come again
    /// afterwards, and are then recognised as repeats.
    pub async fn missed(&self, db: &Db) -> Result<Vec<i64>, bodega_store::StoreError> {
        let mut reader = db.read().await?;
        let ids = outbox::published_since(&mut reader.conn(), self.high).await?;
        Ok(ids.into_iter().filter(|id| !self.ids.contains(id)).collect())
    }
}

impl Default for Seen {
    fn default() -> Self {
        Self::new()
    }
}

/// The events with these ids from the outbox, in position order (for a catch-up: see
/// [`Seen::missed`]).
pub async fn read(db: &Db, ids: &[i64]) -> Result<Vec<Event>, bodega_store::StoreError> {
    let mut reader = db.read().await?;
    let rows = outbox::by_ids(&mut reader.conn(), ids).await?;
    Ok(rows.into_iter().map(Event::from).collect())
}

/// Which fence the relay's loop stops at on PostgreSQL. The server-wide one is free; the one
/// that leaves other databases out reads the server's activity, so it is tried only once
/// committed events have waited behind the other for `patience` (and again each `patience`
/// while they still wait), and kept while it drains full batches.
struct FenceChoice {
    patience: Duration,
    /// Since when committed events have waited while rounds published nothing: a transaction
    /// of another database, or a long one of this database, is open.
    held_since: Option<Instant>,
    /// The last round past other databases published a full batch: more may wait behind the
    /// server-wide fence.
    draining: bool,
}

impl FenceChoice {
    fn new(patience: Duration) -> Self {
        Self {
            patience,
            held_since: None,
            draining: false,
        }
    }

    fn next(&self) -> outbox::Fence {
        if self.draining || self.held_since.is_some_and(|since| since.elapsed() >= self.patience) {
            outbox::Fence::Database
        } else {
            outbox::Fence::Server
        }
    }

    /// After a round at `fence`: `held` when committed events waited and it published none,
    /// `full` when it published a full batch.
    fn after(&mut self, fence: outbox::Fence, held: bool, full: bool) {
        self.draining = fence == outbox::Fence::Database && full;
        self.held_since = match (held, fence) {
            (false, _) => None,
            (true, outbox::Fence::Server) => Some(self.held_since.unwrap_or_else(Instant::now)),
            // Still held past other databases: try again after the patience.
            (true, outbox::Fence::Database) => Some(Instant::now()),
        };
    }
}

const CHANNEL_CAPACITY: usize = 16_384;

/// The in-process bus: subscribers get every event the relay publishes, in the order it
/// publishes them (see the crate's documentation for what that order is).
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
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        Self {
            sender,
            wake: Arc::new(Notify::new()),
            publishing: Arc::new(Mutex::new(())),
        }
    }

    /// A receiver of every event published from now on. A subscriber that falls more than the
    /// channel's capacity behind gets `Lagged` and should re-read from the outbox what it
    /// missed: see [`Seen::missed`].
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }

    /// Tells the relay that events were just committed, so it publishes them without waiting
    /// for its next tick.
    pub fn nudge(&self) {
        self.wake.notify_one();
    }

    /// Publishes what is in the outbox, then keeps doing so until the process ends: a full
    /// round is followed at once by another; otherwise the relay waits for a nudge or its
    /// tick. A nudge that arrives during a round is not lost: `Notify` keeps it as a permit,
    /// and the wait after the round returns at once.
    pub fn spawn_relay(&self, db: Db) -> tokio::task::JoinHandle<()> {
        let bus = self.clone();
        tokio::spawn(async move {
            let mut found_nothing = false;
            let mut fences = FenceChoice::new(FENCE_PATIENCE);
            loop {
                let run = if found_nothing && db.backend() == Backend::Postgres {
                    // After an empty round the next is often empty too (a tick, or a nudge for
                    // events the last round already took): one indexed probe instead of the
                    // round's BEGIN, UPDATE, COMMIT. Anything committed after the probe
                    // nudges (or waits for the tick) as usual.
                    let probe = bus.anything_pending(&db).await;
                    tracing::trace!(pending = ?probe.as_ref().ok(), "relay probe");
                    probe
                } else {
                    Ok(true)
                };
                let fence = fences.next();
                // The probe saw committed events waiting: a round that publishes none is held.
                let probed_pending = found_nothing && matches!(run, Ok(true));
                let round = match run {
                    Ok(true) => bus.publish(&db, RELAY_BATCH, fence).await,
                    Ok(false) => Ok(0),
                    Err(e) => Err(e),
                };
                match round {
                    Ok(n) => {
                        tracing::trace!(published = n, ?fence, "relay round");
                        fences.after(fence, probed_pending && n == 0, n as i64 >= RELAY_BATCH);
                        if n as i64 >= RELAY_BATCH {
                            found_nothing = false;
                            continue;
                        }
                        found_nothing = n == 0;
                    }
                    Err(e) => tracing::warn!(error = %e, "event relay: publishing failed; retrying"),
                }
                if !found_nothing {
                    // Busy: let the next round gather what commits meanwhile. Each round is a
                    // write transaction (it moves the relay's position); under load rounds
                    // nudged by every write ran ≈ 200 times a second on PostgreSQL, a few events
                    // each. Idle, the first round after a nudge still runs at once.
                    tokio::time::sleep(RELAY_GATHER).await;
                }
                tokio::select! {
                    _ = bus.wake.notified() => {},
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {},
                }
            }
        })
    }

    /// Whether the outbox holds unpublished events (see [`outbox::any_unpublished`]).
    async fn anything_pending(&self, db: &Db) -> Result<bool, bodega_store::StoreError> {
        let mut reader = db.read().await?;
        outbox::any_unpublished(&mut reader.conn()).await
    }

    /// Publishes up to `limit` pending events; returns how many.
    ///
    /// On PostgreSQL one statement claims the events and moves the relay's position past them
    /// (`FOR UPDATE SKIP LOCKED` on the position: while one replica's relay runs a round, the
    /// others claim nothing), in a transaction that commits only after they are handed out:
    /// BEGIN, the claim, COMMIT. On SQLite there is one process and one writer: events are read
    /// and decoded on a read connection, and the writer is taken only for the short update that
    /// moves the position, not while they are handed out.
    ///
    /// On PostgreSQL it passes every transaction that has ended, of any database, but none of
    /// this database still open, nor any that began after one (see [`outbox::Fence::Database`]).
    pub async fn publish_pending(&self, db: &Db, limit: i64) -> Result<usize, bodega_store::StoreError> {
        self.publish(db, limit, outbox::Fence::Database).await
    }

    /// [`EventBus::publish_pending`], stopping at `fence` on PostgreSQL.
    async fn publish(&self, db: &Db, limit: i64, fence: outbox::Fence) -> Result<usize, bodega_store::StoreError> {
        let _round = self.publishing.lock().await;
        if db.backend() == Backend::Sqlite {
            let batch = {
                let mut reader = db.read().await?;
                outbox::unpublished(&mut reader.conn(), limit).await?
            };
            let Some(last) = batch.last().map(OutboxEvent::position) else {
                return Ok(0);
            };
            let n = batch.len();
            self.hand_out(batch);
            let mut tx = db.begin().await?;
            outbox::mark_published(&mut tx.conn(), last).await?;
            tx.commit().await?;
            return Ok(n);
        }
        let mut tx = db.begin().await?;
        let batch = outbox::claim_unpublished(&mut tx.conn(), limit, fence).await?;
        let n = batch.len();
        self.hand_out(batch);
        tx.commit().await?;
        Ok(n)
    }

    /// Sends each event to the subscribers, in order.
    fn hand_out(&self, batch: Vec<OutboxEvent>) {
        if self.sender.receiver_count() == 0 {
            // Nobody listens in this process: nothing to decode. The events stay in the
            // outbox for replays.
            return;
        }
        for row in batch {
            // No subscriber is not an error: the event stays in the outbox for replays.
            let _ = self.sender.send(Arc::new(Event::from(row)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outbox::Fence::{Database, Server};

    #[test]
    fn the_fence_past_other_databases_is_tried_when_held_and_kept_while_draining() {
        let mut now = FenceChoice::new(Duration::ZERO);
        assert_eq!(now.next(), Server);
        now.after(Server, false, false);
        assert_eq!(now.next(), Server, "not held: the free fence");
        now.after(Server, true, false);
        assert_eq!(now.next(), Database, "held past the patience");
        now.after(Database, false, true);
        assert_eq!(now.next(), Database, "a full batch: more may wait");
        now.after(Database, false, false);
        assert_eq!(now.next(), Server, "drained");
        now.after(Server, true, false);
        now.after(Database, true, false);
        assert_eq!(now.next(), Database, "still held: tried again after the patience");

        let mut later = FenceChoice::new(Duration::from_secs(3600));
        later.after(Server, true, false);
        assert_eq!(later.next(), Server, "held, but not for the patience yet");
    }
}
