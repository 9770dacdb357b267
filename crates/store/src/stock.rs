//! The stock ledger. Every change of stock is a movement; the level of a product in a
//! warehouse (`stock_levels`) is updated in the same transaction and always equals the sum of
//! its movements. Reservations hold stock for orders; `reserved` always equals the sum of the
//! active reservations. Every update is a single conditional `UPDATE … WHERE available >= n`,
//! so two transactions racing for the last units cannot both win (on PostgreSQL the row lock
//! serialises them; on SQLite there is one writer), and CHECK constraints stop any write that
//! would leave available stock below zero even if the code were wrong.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::Shortage;
use crate::outbox::{self, topics};
use crate::{alerts, now, sql, Backend, Conn, FromRow, StoreError, StoreResult};
use bodega_domain::{limits, MovementKind, Page, PageRequest};

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Movement {
    pub id: i64,
    pub product_id: i64,
    pub warehouse_id: i64,
    /// entry, exit, adjustment, transfer_out, transfer_in, return, sale, opening.
    pub kind: String,
    /// Signed: positive adds stock, negative removes it.
    pub quantity: i64,
    pub unit_cost: Option<i64>,
    /// On-hand quantity after this movement.
    pub balance_after: i64,
    pub reference_type: Option<String>,
    pub reference_id: Option<String>,
    pub note: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct StockLevel {
    pub product_id: i64,
    pub warehouse_id: i64,
    pub on_hand: i64,
    pub reserved: i64,
    /// on_hand − reserved; never negative.
    pub available: i64,
    /// Moving average unit cost, updated on entries.
    pub avg_cost: i64,
    pub updated_at: DateTime<Utc>,
}

/// A movement to book. `quantity` is already signed (see `MovementKind::signed`).
#[derive(Debug, Clone)]
pub struct NewMovement<'a> {
    pub product_id: i64,
    pub warehouse_id: i64,
    pub kind: MovementKind,
    pub quantity: i64,
    /// Unit cost of inbound goods; moves the average cost.
    pub unit_cost: Option<i64>,
    pub reference_type: Option<&'a str>,
    pub reference_id: Option<String>,
    pub note: Option<&'a str>,
    pub created_by: &'a str,
}

/// Creates the (empty) level row of a product in a warehouse; true when it did not exist.
pub(crate) async fn ensure_level(c: &mut Conn<'_>, product_id: i64, warehouse_id: i64) -> StoreResult<bool> {
    sql::query(
        "INSERT INTO stock_levels (product_id, warehouse_id, on_hand, reserved, avg_cost, updated_at)
         VALUES ($1, $2, 0, 0, 0, $3) ON CONFLICT (product_id, warehouse_id) DO NOTHING",
    )
    .bind(product_id)
    .bind(warehouse_id)
    .bind(now())
    .execute(c)
    .await
    .map(|inserted| inserted == 1)
}

pub async fn level(c: &mut Conn<'_>, product_id: i64, warehouse_id: i64) -> StoreResult<StockLevel> {
    let found: Option<StockLevel> = sql::query_as(
        "SELECT product_id, warehouse_id, on_hand, reserved, on_hand - reserved AS available, avg_cost, updated_at
         FROM stock_levels WHERE product_id = $1 AND warehouse_id = $2",
    )
    .bind(product_id)
    .bind(warehouse_id)
    .fetch_optional(c)
    .await?;
    Ok(found.unwrap_or(StockLevel {
        product_id,
        warehouse_id,
        on_hand: 0,
        reserved: 0,
        available: 0,
        avg_cost: 0,
        updated_at: now(),
    }))
}

/// A product's sku and name, for a shortage to name its line (empty if the product is gone).
async fn product_names(c: &mut Conn<'_>, product_id: i64) -> StoreResult<(String, String)> {
    let found: Option<(String, String)> = sql::query_as("SELECT sku, name FROM products WHERE id = $1")
        .bind(product_id)
        .fetch_optional(c)
        .await?;
    Ok(found.unwrap_or_default())
}

/// The active warehouse with the most units of `product_id` available (the lowest id on a
/// tie); None when no active warehouse has any.
pub async fn best_stocked_warehouse(c: &mut Conn<'_>, product_id: i64) -> StoreResult<Option<i64>> {
    sql::query_scalar(
        "SELECT l.warehouse_id FROM stock_levels l JOIN warehouses w ON w.id = l.warehouse_id
         WHERE l.product_id = $1 AND w.is_active AND l.on_hand - l.reserved > 0
         ORDER BY l.on_hand - l.reserved DESC, l.warehouse_id LIMIT 1",
    )
    .bind(product_id)
    .fetch_optional(c)
    .await
}

/// Books a movement, consuming `consume_reserved` units of reservation at the same time (a
/// committed reservation becomes a sale exit). Fails with [`StoreError::Insufficient`] when it
/// would leave available stock below zero; nothing is written then.
pub async fn book(c: &mut Conn<'_>, m: &NewMovement<'_>, consume_reserved: i64) -> StoreResult<Movement> {
    book_at(c, m, consume_reserved, now()).await
}

/// [`book`] stamped at `at` instead of now: the movement, the level and any alert carry that
/// time (generated or replayed history, e.g. `bodega demo`).
pub async fn book_at(
    c: &mut Conn<'_>,
    m: &NewMovement<'_>,
    consume_reserved: i64,
    at: DateTime<Utc>,
) -> StoreResult<Movement> {
    let mut events = Vec::new();
    let movement = book_into(c, m, consume_reserved, at, &mut events).await?;
    outbox::emit_all(c, events).await?;
    Ok(movement)
}

/// [`book_at`], leaving its `erp.stock` event in `events` for the caller to write together
/// with others in one statement (events already there are written first if an alert event
/// has to follow them, so the outbox keeps the order things happened in).
pub async fn book_into(
    c: &mut Conn<'_>,
    m: &NewMovement<'_>,
    consume_reserved: i64,
    at: DateTime<Utc>,
    events: &mut Vec<outbox::NewEvent>,
) -> StoreResult<Movement> {
    let inbound_cost = if m.quantity > 0 { m.unit_cost } else { None };
    if m.quantity > 0 {
        ensure_takes_stock(c, m.warehouse_id).await?;
    }
    if let (MovementKind::Entry, Some(cost)) = (m.kind, inbound_cost) {
        // What comes in is bounded like a sale (`limits::MAX_TOTAL`), so that the stock's value,
        // and the cost of what is sold from it, stay far inside 64 bits.
        limits::entry_value("unit_cost", m.quantity, cost)?;
    }
    let mut updated = apply_movement(c, m, inbound_cost, consume_reserved, at).await?;
    if updated.is_none() && ensure_level(c, m.product_id, m.warehouse_id).await? {
        // The first movement of this product in this warehouse: its level row exists now.
        updated = apply_movement(c, m, inbound_cost, consume_reserved, at).await?;
    }
    let Some(after) = updated else {
        let current = level(c, m.product_id, m.warehouse_id).await?;
        let (sku, product_name) = product_names(c, m.product_id).await?;
        return Err(StoreError::Insufficient(vec![Shortage {
            product_id: m.product_id,
            sku,
            product_name,
            warehouse_id: m.warehouse_id,
            requested: -m.quantity,
            available: current.available + consume_reserved,
        }]));
    };
    let (on_hand, reserved) = (after.on_hand, after.reserved);
    let movement: Movement = sql::query_as(
        "INSERT INTO stock_movements (product_id, warehouse_id, kind, quantity, unit_cost, balance_after,
             reference_type, reference_id, note, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *",
    )
    .bind(m.product_id)
    .bind(m.warehouse_id)
    .bind(m.kind.as_str())
    .bind(m.quantity)
    .bind(m.unit_cost)
    .bind(on_hand)
    .bind(m.reference_type)
    .bind(&m.reference_id)
    .bind(m.note)
    .bind(m.created_by)
    .bind(at)
    .fetch_one(c)
    .await?;
    events.push(moved_event(&movement, on_hand, reserved));
    // Available stock moved by quantity + consume_reserved (a committed reservation was not
    // available before either).
    let check = after.alert_check(m.quantity + consume_reserved);
    if matches!(check, alerts::Check::Evaluate(_)) {
        outbox::emit_all(c, std::mem::take(events)).await?;
    }
    check.run(c, m.product_id, m.warehouse_id, at).await?;
    Ok(movement)
}

/// Refuses stock coming into a deactivated warehouse (409): nothing could ever take it out
/// again. On PostgreSQL the warehouse row stays share-locked until the caller commits, so a
/// deactivation (which locks the row before it checks that the warehouse is empty, see
/// `catalog::update_warehouse`) either waits for this stock and then refuses, or commits first
/// and this movement is refused.
async fn ensure_takes_stock(c: &mut Conn<'_>, warehouse_id: i64) -> StoreResult<()> {
    let sql = match c.backend() {
        Backend::Sqlite => "SELECT code, is_active FROM warehouses WHERE id = $1",
        Backend::Postgres => "SELECT code, is_active FROM warehouses WHERE id = $1 FOR SHARE",
    };
    let warehouse: Option<(String, bool)> = sql::query_as(sql).bind(warehouse_id).fetch_optional(c).await?;
    match warehouse {
        None => Err(StoreError::Rule {
            field: Some("warehouse_id".into()),
            message: format!("no warehouse {warehouse_id}"),
        }),
        Some((code, false)) => Err(StoreError::State(format!(
            "warehouse {code} is deactivated and takes no stock; reactivate it first"
        ))),
        Some(_) => Ok(()),
    }
}

/// The `erp.stock` event of a movement that left its level at `on_hand` and `reserved`.
fn moved_event(movement: &Movement, on_hand: i64, reserved: i64) -> outbox::NewEvent {
    outbox::event(
        topics::STOCK,
        "stock.moved",
        format!("{}:{}", movement.product_id, movement.warehouse_id),
        &StockMoved {
            movement,
            on_hand,
            reserved,
            available: on_hand - reserved,
        },
    )
}

/// The payload of [`moved_event`].
#[derive(Serialize)]
struct StockMoved<'a> {
    movement: &'a Movement,
    on_hand: i64,
    reserved: i64,
    available: i64,
}

/// A stock level right after a change, with what alert evaluation needs to know.
#[derive(Debug, FromRow)]
pub(crate) struct LevelAfter {
    pub on_hand: i64,
    pub reserved: i64,
    pub threshold: Option<i64>,
    pub product_status: Option<String>,
    pub product_id: i64,
    pub warehouse_id: i64,
}

/// `RETURNING` list of a stock level update: the level and its product's alert settings.
pub(crate) const LEVEL_AFTER: &str = "RETURNING on_hand, reserved,
    (SELECT low_stock_threshold FROM products WHERE id = stock_levels.product_id) AS threshold,
    (SELECT status FROM products WHERE id = stock_levels.product_id) AS product_status,
    stock_levels.product_id, stock_levels.warehouse_id";

impl LevelAfter {
    /// Whether the change (of `available_delta` units of available stock) can open or resolve
    /// an alert. A decrease that leaves stock at or above the threshold can do neither: stock
    /// was above it before too, and the alert of a product resolves as soon as stock rises
    /// above it. Skipping those saves two queries on nearly every sale.
    pub(crate) fn alert_check(&self, available_delta: i64) -> alerts::Check {
        let available = self.on_hand - self.reserved;
        let below = self.threshold.is_some_and(|t| available < t) && self.product_status.as_deref() == Some("active");
        if below || available_delta > 0 {
            alerts::Check::Evaluate(available)
        } else {
            alerts::Check::Skip
        }
    }
}

/// `SUM(on_hand × avg_cost)` over the rows of `levels` (an alias), saturated at the largest
/// BIGINT instead of overflowing: PostgreSQL multiplies in NUMERIC, SQLite in floating point
/// (whose cast to INTEGER saturates).
pub(crate) fn stock_value_sum(c: &Conn<'_>, levels: &str) -> String {
    match c.backend() {
        Backend::Postgres => format!(
            "CAST(LEAST(COALESCE(SUM(CAST({levels}.on_hand AS NUMERIC) * {levels}.avg_cost), 0), 9223372036854775807) AS BIGINT)"
        ),
        Backend::Sqlite => {
            format!("CAST(COALESCE(SUM(CAST({levels}.on_hand AS REAL) * {levels}.avg_cost), 0) AS INTEGER)")
        }
    }
}

/// The conditional update of a stock level; `None` when the level row is missing or the change
/// would leave reserved or available stock below zero.
async fn apply_movement(
    c: &mut Conn<'_>,
    m: &NewMovement<'_>,
    inbound_cost: Option<i64>,
    consume_reserved: i64,
    at: DateTime<Utc>,
) -> StoreResult<Option<LevelAfter>> {
    // The value before and after can pass 64 bits (10^7 units at a cost of 10^12): it is
    // summed in NUMERIC on PostgreSQL and in floating point on SQLite (exact to 2^53), and
    // the quotient, between the old and the new cost, is truncated back to an integer.
    let average = match c.backend() {
        Backend::Postgres => {
            "CAST(TRUNC((CAST(on_hand AS NUMERIC) * avg_cost + CAST($3 AS NUMERIC) * $4) / (on_hand + $3)) AS BIGINT)"
        }
        Backend::Sqlite => {
            "CAST((CAST(on_hand AS REAL) * avg_cost + CAST($3 AS REAL) * $4) / (on_hand + $3) AS INTEGER)"
        }
    };
    sql::query_as(format!(
        "UPDATE stock_levels SET
             avg_cost = CASE WHEN $4 IS NOT NULL AND on_hand + $3 > 0 THEN {average} ELSE avg_cost END,
             on_hand = on_hand + $3,
             reserved = reserved - $5,
             updated_at = $6
         WHERE product_id = $1 AND warehouse_id = $2
           AND reserved - $5 >= 0 AND on_hand + $3 - (reserved - $5) >= 0
         {LEVEL_AFTER}"
    ))
    .bind(m.product_id)
    .bind(m.warehouse_id)
    .bind(m.quantity)
    .bind(inbound_cost)
    .bind(consume_reserved)
    .bind(at)
    .fetch_optional(c)
    .await
}

/// A change of one stock level in a batch (see [`change_levels`]): signed deltas of the on-hand
/// and reserved units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LevelChange {
    pub product_id: i64,
    pub warehouse_id: i64,
    pub on_hand: i64,
    pub reserved: i64,
}

impl LevelChange {
    pub(crate) fn key(&self) -> (i64, i64) {
        (self.product_id, self.warehouse_id)
    }

    /// The change of available stock (on hand − reserved).
    pub(crate) fn available_delta(&self) -> i64 {
        self.on_hand - self.reserved
    }

    /// What to report when the change does not fit: the units it takes (out of stock or into
    /// the reserve), against what is available to it (reserved units it consumes count).
    fn shortage(&self, level: &StockLevel, (sku, product_name): (String, String)) -> Shortage {
        Shortage {
            product_id: self.product_id,
            sku,
            product_name,
            warehouse_id: self.warehouse_id,
            requested: (-self.on_hand).max(self.reserved),
            available: level.available - self.reserved.min(0),
        }
    }
}

/// Sums changes per level, in (product, warehouse) order: the order every writer locks stock
/// levels in.
pub(crate) fn per_level(changes: impl IntoIterator<Item = LevelChange>) -> Vec<LevelChange> {
    let mut summed: Vec<LevelChange> = Vec::new();
    for change in changes {
        match summed.iter_mut().find(|s| s.key() == change.key()) {
            Some(s) => {
                s.on_hand += change.on_hand;
                s.reserved += change.reserved;
            }
            None => summed.push(change),
        }
    }
    summed.sort_by_key(LevelChange::key);
    summed
}

/// Applies [`per_level`] changes to their stock levels in one conditional update and returns
/// each level after its change, in the same order. Fails with every short level when a level
/// is missing or a change would leave reserved or available stock below zero; the levels that
/// did fit are changed then, so the caller's transaction must be given up (as any error does).
pub(crate) async fn change_levels(
    c: &mut Conn<'_>,
    changes: &[LevelChange],
    at: DateTime<Utc>,
) -> StoreResult<Vec<LevelAfter>> {
    change_levels_with(c, changes, at, None).await
}

/// A data-modifying statement that [`change_levels_with`] runs inside its own statement, on
/// PostgreSQL only: one round trip fewer. Its parameters are numbered from
/// [`Alongside::FIRST_PARAM`] on (`$1` is the time of the change). It runs whether the changes
/// fit or not: a shortage fails the caller's transaction, which undoes it too.
pub(crate) struct Alongside {
    pub sql: String,
    pub args: Vec<sql::Value>,
}

impl Alongside {
    /// The number of its first parameter, after the time (`$1`) and the four columns of the
    /// changes.
    pub(crate) const FIRST_PARAM: usize = 6;
}

/// [`change_levels`], with another write in the same statement.
///
/// On PostgreSQL the changes are bound as four columns (arrays): one statement text for any
/// number of levels, prepared once per connection. SQLite has no arrays: its statement lists
/// the changes (`VALUES`), and one with many is not kept prepared.
pub(crate) async fn change_levels_with(
    c: &mut Conn<'_>,
    changes: &[LevelChange],
    at: DateTime<Utc>,
    alongside: Option<Alongside>,
) -> StoreResult<Vec<LevelAfter>> {
    let postgres = c.backend() == Backend::Postgres;
    let (alongside_cte, alongside_args) = match alongside {
        Some(_) if !postgres => {
            return Err(StoreError::Database("SQLite has no writable CTEs".into()));
        }
        Some(a) => (format!(",\n         alongside AS ({})", a.sql), a.args),
        None => (String::new(), Vec::new()),
    };
    let (lock, after_lock) = if postgres && changes.len() > 1 {
        (LOCK_IN_KEY_ORDER, AFTER_THE_LOCK)
    } else {
        ("", "")
    };
    let columns = if postgres {
        vec![
            sql::column(changes.iter().map(|ch| ch.product_id)),
            sql::column(changes.iter().map(|ch| ch.warehouse_id)),
            sql::column(changes.iter().map(|ch| ch.on_hand)),
            sql::column(changes.iter().map(|ch| ch.reserved)),
        ]
    } else {
        Vec::new()
    };
    let query = if postgres {
        let source = format!("SELECT * FROM {}", sql::unnest(2, &columns));
        sql::query_as(levels_sql(&source, lock, &alongside_cte, after_lock))
            .bind(at)
            .bind_all(columns)
    } else {
        SQLITE_LEVELS.query_as(changes.len()).bind(at).bind_all(
            changes
                .iter()
                .flat_map(|ch| [ch.product_id, ch.warehouse_id, ch.on_hand, ch.reserved]),
        )
    };
    let mut changed: Vec<LevelAfter> = query.bind_all(alongside_args).fetch_all(c).await?;
    if changed.len() < changes.len() {
        return Err(StoreError::Insufficient(shortages(c, changes, &changed).await?));
    }
    // RETURNING's row order is not promised.
    changed.sort_by_key(|l| (l.product_id, l.warehouse_id));
    Ok(changed)
}

/// The update of [`change_levels_with`]: the changes from `source` (product, warehouse and the
/// two deltas), with PostgreSQL's lock in key order and another write alongside, if any.
fn levels_sql(source: &str, lock: &str, alongside_cte: &str, after_lock: &str) -> String {
    format!(
        "WITH change (product_id, warehouse_id, on_hand_delta, reserved_delta) AS ({source}){lock}{alongside_cte}
         UPDATE stock_levels SET on_hand = on_hand + change.on_hand_delta,
             reserved = reserved + change.reserved_delta, updated_at = $1
         FROM change
         WHERE stock_levels.product_id = change.product_id AND stock_levels.warehouse_id = change.warehouse_id
           AND reserved + change.reserved_delta >= 0
           AND on_hand + change.on_hand_delta - (reserved + change.reserved_delta) >= 0{after_lock}
         {LEVEL_AFTER}"
    )
}

/// SQLite's [`levels_sql`] by the number of levels changed, listed in the statement (`VALUES`).
static SQLITE_LEVELS: sql::ByCount =
    sql::ByCount::new(|levels| levels_sql(&format!("VALUES {}", sql::value_rows(levels, 4, 2)), "", "", ""));

/// On PostgreSQL a multi-row update locks its rows in whatever order its plan reads them, and
/// two transactions locking the same levels in different orders could deadlock. So the levels
/// are locked in key order first, in the same statement: `locked` takes the row locks
/// (`ORDER BY … FOR UPDATE` locks as it returns, in order), and the update's condition on it
/// has no column of the updated rows, so PostgreSQL evaluates it once, as a one-time filter,
/// before the update reads any row. SQLite has a single writer and needs neither part.
const LOCK_IN_KEY_ORDER: &str = ",
         locked AS MATERIALIZED (SELECT 1 FROM stock_levels
             WHERE (product_id, warehouse_id) IN (SELECT product_id, warehouse_id FROM change)
             ORDER BY product_id, warehouse_id FOR UPDATE)";
const AFTER_THE_LOCK: &str = "
           AND (SELECT count(*) FROM locked) >= 0";

/// Locks the stock levels of `keys` (product, warehouse) in key order, on PostgreSQL, for a
/// transaction about to change them over several statements (saga steps of several orders run
/// together): each statement locks its own levels in key order, but a second statement's
/// levels can sort before the first's, and two such transactions could deadlock. SQLite has a
/// single writer and needs no lock.
pub(crate) async fn lock_levels(c: &mut Conn<'_>, keys: &[(i64, i64)]) -> StoreResult<()> {
    if keys.is_empty() || c.backend() == Backend::Sqlite {
        return Ok(());
    }
    let (products, warehouses): (Vec<i64>, Vec<i64>) = keys.iter().copied().unzip();
    sql::query(
        "SELECT 1 FROM stock_levels WHERE (product_id, warehouse_id) IN (SELECT * FROM unnest($1, $2))
         ORDER BY product_id, warehouse_id FOR UPDATE",
    )
    .bind(products)
    .bind(warehouses)
    .execute(c)
    .await?;
    Ok(())
}

/// The changes that [`change_levels`] could not apply, with the stock available to each.
pub(crate) async fn shortages(
    c: &mut Conn<'_>,
    changes: &[LevelChange],
    changed: &[LevelAfter],
) -> StoreResult<Vec<Shortage>> {
    let mut short = Vec::new();
    for change in changes {
        if !changed.iter().any(|l| (l.product_id, l.warehouse_id) == change.key()) {
            let current = level(c, change.product_id, change.warehouse_id).await?;
            short.push(change.shortage(&current, product_names(c, change.product_id).await?));
        }
    }
    Ok(short)
}

/// Opens or resolves the alerts of levels after [`change_levels`], level by level (see
/// [`run_alert_check`]).
pub(crate) async fn check_alerts(
    c: &mut Conn<'_>,
    levels: &[LevelAfter],
    changes: &[LevelChange],
    at: DateTime<Utc>,
    events: &mut Vec<outbox::NewEvent>,
) -> StoreResult<()> {
    for (level, change) in levels.iter().zip(changes) {
        run_alert_check(c, level.alert_check(change.available_delta()), change.key(), at, events).await?;
    }
    Ok(())
}

/// An exit of stock booked by [`book_exits`]: a movement with a negative quantity, and the
/// reserved units it consumes (a committed reservation becomes a sale exit).
pub struct Exit<'a> {
    pub movement: NewMovement<'a>,
    pub consume_reserved: i64,
}

impl Exit<'_> {
    fn level_change(&self) -> LevelChange {
        LevelChange {
            product_id: self.movement.product_id,
            warehouse_id: self.movement.warehouse_id,
            on_hand: self.movement.quantity,
            reserved: -self.consume_reserved,
        }
    }
}

/// Books several exits at once (the lines of a sale): one update of their stock levels and one
/// insert of their movements instead of two statements a line, leaving their `erp.stock`
/// events in `events`. All or nothing: fails with every short line listed.
pub async fn book_exits(
    c: &mut Conn<'_>,
    exits: &[Exit<'_>],
    at: DateTime<Utc>,
    events: &mut Vec<outbox::NewEvent>,
) -> StoreResult<Vec<Movement>> {
    if exits.is_empty() {
        return Ok(Vec::new());
    }
    // Entries may need a new level row and move the average cost: they go through `book`.
    if let Some(entry) = exits.iter().find(|e| e.movement.quantity >= 0) {
        return Err(StoreError::Database(
            format!("book_exits given an entry of product {}", entry.movement.product_id).into(),
        ));
    }
    let exit_changes: Vec<LevelChange> = exits.iter().map(Exit::level_change).collect();
    let changes = per_level(exit_changes.iter().copied());
    let levels = change_levels(c, &changes, at).await?;
    let after_each = replay_exits(&exit_changes, &levels, &changes);
    let movements = insert_movements(c, exits, &after_each, at).await?;
    exits_booked(c, &exit_changes, &movements, &levels, &changes, at, events).await?;
    Ok(movements)
}

/// After exits were booked (their movements written, in order, and their levels changed):
/// leaves each movement's `erp.stock` event in `events` and runs each level's alert check.
/// `exit_changes` are the exits' own level changes, in movement order; `levels` and `changes`
/// as [`change_levels`] took and returned them.
pub(crate) async fn exits_booked(
    c: &mut Conn<'_>,
    exit_changes: &[LevelChange],
    movements: &[Movement],
    levels: &[LevelAfter],
    changes: &[LevelChange],
    at: DateTime<Utc>,
    events: &mut Vec<outbox::NewEvent>,
) -> StoreResult<()> {
    let after_each = replay_exits(exit_changes, levels, changes);
    let mut checks: Vec<Option<alerts::Check>> = levels
        .iter()
        .zip(changes)
        .map(|(level, change)| Some(level.alert_check(change.available_delta())))
        .collect();
    for (i, (movement, &(on_hand, reserved))) in movements.iter().zip(&after_each).enumerate() {
        events.push(moved_event(movement, on_hand, reserved));
        // A level's alert follows its last movement's event, as if booked one by one.
        let key = exit_changes[i].key();
        if exit_changes[i + 1..].iter().all(|e| e.key() != key) {
            let level = changes.iter().position(|ch| ch.key() == key);
            if let Some(check) = level.and_then(|l| checks[l].take()) {
                run_alert_check(c, check, key, at, events).await?;
            }
        }
    }
    Ok(())
}

/// Runs one level's alert check; events already in `events` are written first when an alert
/// event follows them, so the outbox keeps the order things happened in.
async fn run_alert_check(
    c: &mut Conn<'_>,
    check: alerts::Check,
    (product_id, warehouse_id): (i64, i64),
    at: DateTime<Utc>,
    events: &mut Vec<outbox::NewEvent>,
) -> StoreResult<()> {
    if matches!(check, alerts::Check::Evaluate(_)) {
        outbox::emit_all(c, std::mem::take(events)).await?;
    }
    check.run(c, product_id, warehouse_id, at).await
}

/// `(on_hand, reserved)` of its level right after each exit, as if they had been booked one
/// after the other: from each level's state before the batch, the exits in order.
fn replay_exits(exit_changes: &[LevelChange], levels: &[LevelAfter], changes: &[LevelChange]) -> Vec<(i64, i64)> {
    let mut state: Vec<((i64, i64), i64, i64)> = levels
        .iter()
        .zip(changes)
        .map(|(level, change)| {
            (
                change.key(),
                level.on_hand - change.on_hand,
                level.reserved - change.reserved,
            )
        })
        .collect();
    exit_changes
        .iter()
        .map(
            |change| match state.iter_mut().find(|(key, _, _)| *key == change.key()) {
                Some((_, on_hand, reserved)) => {
                    *on_hand += change.on_hand;
                    *reserved += change.reserved;
                    (*on_hand, *reserved)
                }
                None => unreachable!("every exit's level was changed"),
            },
        )
        .collect()
}

/// The insert of a number of movements, returning them.
static INSERT_MOVEMENTS: sql::ByCount = sql::ByCount::new(|rows| {
    format!(
        "INSERT INTO stock_movements (product_id, warehouse_id, kind, quantity, unit_cost, balance_after,
             reference_type, reference_id, note, created_by, created_at)
         VALUES {} RETURNING *",
        sql::value_rows(rows, 11, 1)
    )
});

/// Writes the movements of exits in one statement, with each one's balance after it; in order.
async fn insert_movements(
    c: &mut Conn<'_>,
    exits: &[Exit<'_>],
    after_each: &[(i64, i64)],
    at: DateTime<Utc>,
) -> StoreResult<Vec<Movement>> {
    let mut insert = INSERT_MOVEMENTS.query_as(exits.len());
    for (exit, (on_hand, _)) in exits.iter().zip(after_each) {
        let m = &exit.movement;
        insert = insert
            .bind(m.product_id)
            .bind(m.warehouse_id)
            .bind(m.kind.as_str())
            .bind(m.quantity)
            .bind(m.unit_cost)
            .bind(*on_hand)
            .bind(m.reference_type)
            .bind(&m.reference_id)
            .bind(m.note)
            .bind(m.created_by)
            .bind(at);
    }
    let mut movements: Vec<Movement> = insert.fetch_all(c).await?;
    // Ids follow the VALUES order; RETURNING's row order is not promised.
    movements.sort_by_key(|m| m.id);
    Ok(movements)
}

/// Moves stock between warehouses: a transfer_out and a transfer_in with one reference, at the
/// source's average cost.
pub async fn transfer(
    c: &mut Conn<'_>,
    product_id: i64,
    from: i64,
    to: i64,
    quantity: i64,
    note: Option<&str>,
    created_by: &str,
) -> StoreResult<(Movement, Movement)> {
    let reference = uuid::Uuid::now_v7().to_string();
    // Every other writer locks levels in (product, warehouse) order; lock both levels of the
    // transfer in that order too, or opposite transfers (A→B beside B→A) deadlock on PostgreSQL.
    for warehouse_id in [from.min(to), from.max(to)] {
        ensure_level(c, product_id, warehouse_id).await?;
        sql::query("UPDATE stock_levels SET updated_at = updated_at WHERE product_id = $1 AND warehouse_id = $2")
            .bind(product_id)
            .bind(warehouse_id)
            .execute(c)
            .await?;
    }
    let cost = level(c, product_id, from).await?.avg_cost;
    let out = NewMovement {
        product_id,
        warehouse_id: from,
        kind: MovementKind::TransferOut,
        quantity: -quantity,
        unit_cost: Some(cost),
        reference_type: Some("transfer"),
        reference_id: Some(reference.clone()),
        note,
        created_by,
    };
    let out = book(c, &out, 0).await?;
    let inbound = NewMovement {
        product_id,
        warehouse_id: to,
        kind: MovementKind::TransferIn,
        quantity,
        unit_cost: Some(cost),
        reference_type: Some("transfer"),
        reference_id: Some(reference),
        note,
        created_by,
    };
    let inbound = book(c, &inbound, 0).await?;
    Ok((out, inbound))
}

/// Filters of the movement listing.
#[derive(Debug, Clone, Default)]
pub struct MovementFilter {
    pub product_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    pub kind: Option<String>,
    pub reference_type: Option<String>,
    pub reference_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Newest first.
pub async fn movements(c: &mut Conn<'_>, f: &MovementFilter, page: PageRequest) -> StoreResult<Page<Movement>> {
    const WHERE: &str = "WHERE ($1 IS NULL OR product_id = $1) AND ($2 IS NULL OR warehouse_id = $2)
        AND ($3 IS NULL OR kind = $3) AND ($4 IS NULL OR reference_type = $4) AND ($5 IS NULL OR reference_id = $5)
        AND ($6 IS NULL OR created_at >= $6) AND ($7 IS NULL OR created_at < $7)";
    let total: i64 = sql::query_scalar(format!("SELECT COUNT(*) FROM stock_movements {WHERE}"))
        .bind(f.product_id)
        .bind(f.warehouse_id)
        .bind(&f.kind)
        .bind(&f.reference_type)
        .bind(&f.reference_id)
        .bind(f.from)
        .bind(f.to)
        .fetch_one(c)
        .await?;
    let items: Vec<Movement> = sql::query_as(format!(
        "SELECT * FROM stock_movements {WHERE} ORDER BY id DESC LIMIT $8 OFFSET $9"
    ))
    .bind(f.product_id)
    .bind(f.warehouse_id)
    .bind(&f.kind)
    .bind(&f.reference_type)
    .bind(&f.reference_id)
    .bind(f.from)
    .bind(f.to)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(c)
    .await?;
    Ok(Page::new(items, total, page))
}

/// Stock levels, optionally of one product or warehouse.
pub async fn levels(
    c: &mut Conn<'_>,
    product_id: Option<i64>,
    warehouse_id: Option<i64>,
    page: PageRequest,
) -> StoreResult<Page<StockLevel>> {
    const WHERE: &str = "WHERE ($1 IS NULL OR product_id = $1) AND ($2 IS NULL OR warehouse_id = $2)";
    let total: i64 = sql::query_scalar(format!("SELECT COUNT(*) FROM stock_levels {WHERE}"))
        .bind(product_id)
        .bind(warehouse_id)
        .fetch_one(c)
        .await?;
    let items: Vec<StockLevel> = sql::query_as(format!(
        "SELECT product_id, warehouse_id, on_hand, reserved, on_hand - reserved AS available, avg_cost, updated_at
         FROM stock_levels {WHERE} ORDER BY product_id, warehouse_id LIMIT $3 OFFSET $4"
    ))
    .bind(product_id)
    .bind(warehouse_id)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(c)
    .await?;
    Ok(Page::new(items, total, page))
}

/// A product below its low-stock threshold in a warehouse.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct LowStock {
    pub product_id: i64,
    pub sku: String,
    pub product_name: String,
    pub warehouse_id: i64,
    pub warehouse_name: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub threshold: i64,
}

/// Active products whose available stock is below their threshold, lowest first.
pub async fn low_stock(c: &mut Conn<'_>, warehouse_id: Option<i64>) -> StoreResult<Vec<LowStock>> {
    sql::query_as(
        "SELECT p.id AS product_id, p.sku, p.name AS product_name, w.id AS warehouse_id, w.name AS warehouse_name,
                s.on_hand, s.reserved, s.on_hand - s.reserved AS available, p.low_stock_threshold AS threshold
         FROM stock_levels s JOIN products p ON p.id = s.product_id JOIN warehouses w ON w.id = s.warehouse_id
         WHERE p.status = 'active' AND p.deleted_at IS NULL AND s.on_hand - s.reserved < p.low_stock_threshold
           AND ($1 IS NULL OR s.warehouse_id = $1)
         ORDER BY s.on_hand - s.reserved, p.id",
    )
    .bind(warehouse_id)
    .fetch_all(c)
    .await
}

/// One broken ledger invariant (for tests and `bodega check`).
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Drift {
    pub product_id: i64,
    pub warehouse_id: i64,
    pub on_hand: i64,
    pub movements_sum: i64,
    pub reserved: i64,
    pub active_reservations_sum: i64,
}

/// Every stock level whose on_hand differs from the sum of its movements or whose reserved
/// differs from the sum of its active reservations, or that is negative. Empty when the ledger
/// is consistent.
pub async fn drift(c: &mut Conn<'_>) -> StoreResult<Vec<Drift>> {
    sql::query_as(
        "SELECT s.product_id, s.warehouse_id, s.on_hand,
                CAST(COALESCE((SELECT SUM(m.quantity) FROM stock_movements m
                          WHERE m.product_id = s.product_id AND m.warehouse_id = s.warehouse_id), 0) AS BIGINT) AS movements_sum,
                s.reserved,
                CAST(COALESCE((SELECT SUM(r.quantity) FROM reservations r
                          WHERE r.product_id = s.product_id AND r.warehouse_id = s.warehouse_id AND r.status = 'active'), 0) AS BIGINT)
                    AS active_reservations_sum
         FROM stock_levels s
         WHERE s.on_hand <> COALESCE((SELECT SUM(m.quantity) FROM stock_movements m
                                      WHERE m.product_id = s.product_id AND m.warehouse_id = s.warehouse_id), 0)
            OR s.reserved <> COALESCE((SELECT SUM(r.quantity) FROM reservations r
                                       WHERE r.product_id = s.product_id AND r.warehouse_id = s.warehouse_id AND r.status = 'active'), 0)
            OR s.on_hand - s.reserved < 0 OR s.reserved < 0"
    )
    .fetch_all(c)
    .await
}
