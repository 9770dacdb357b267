//! Orders created, and saga steps run, for concurrent requests together.
//!
//! On PostgreSQL most of a create's, a confirm's or a ship's cost is fixed work per statement
//! and per transaction, not per line (docs/BENCHMARKS.md, sessions 11 and 15). So when many
//! orders are created (or confirmed, or shipped) at once, a worker takes every request queued
//! for that work and runs them in one transaction ([`orders::create_all`],
//! [`orders::transition_all`]): one statement for each kind of work of them all, one insert of
//! all the audit entries and events, one commit. A request refused on its own (an unknown
//! product, a state that does not allow the step) gets its answer and changes nothing. When the
//! batch fails as a whole (a shortage, a database error), the transaction is rolled back and
//! each request runs alone, exactly as without batching, so each caller gets its own answer. A
//! caller waits at most for the work of the batch before its own (one batch of a kind works at
//! a time, the previous one commits meanwhile): nothing waits for a batch to fill.
//!
//! SQLite batches too (session 16): its writer already shares one COMMIT between queued
//! transactions (`group_commit.rs`), but a batch also shares one savepoint, the look-ups of
//! products and customers and the insert of audit entries and events, and the server spends
//! less CPU per order (docs/BENCHMARKS.md). The other steps are rare: those run at once, alone.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex, OwnedMutexGuard};

use crate::audit::Actor;
use crate::orders::{self, Created, NewOrder, OrderWithItems};
use crate::{Conn, Db, StoreError, StoreResult};
use bodega_domain::OrderAction;

/// The work run together.
const BATCHED: [Kind; 3] = [
    Kind::Create,
    Kind::Step(OrderAction::Confirm),
    Kind::Step(OrderAction::Ship),
];
/// Workers per batched kind of work: while one commits a batch, the next gathers what queued
/// meanwhile and runs it.
const WORKERS: usize = 2;
/// Orders in one batch at most: past this, the statements grow without saving more.
const MAX_BATCH: usize = 32;

/// Creates orders and runs their saga steps, batching concurrent creates, confirms and ships.
pub struct OrderSteps {
    db: Db,
    /// One queue per kind of work batched.
    queues: Vec<(Kind, mpsc::UnboundedSender<Asked>)>,
}

/// The kinds of work run together: those of one batch share its statements.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Create,
    Step(OrderAction),
}

/// What a caller asked for.
enum Work {
    Create(NewOrder),
    Step(OrderAction, i64),
}

/// What it got.
enum Done {
    Created(Created),
    Stepped(OrderWithItems),
}

/// A kind of work's queue, shared by its workers.
type Queue = Arc<Mutex<mpsc::UnboundedReceiver<Asked>>>;

/// A worker's turn at its queue: held while it gathers a batch and until the batch's work is
/// done, released before the commit. So one batch of a kind works at a time and the next one
/// gathers everything that queued meanwhile, while this one commits: batches as large as the
/// load makes them (a second worker taking whatever had queued at once made batches half as
/// large, and PostgreSQL spent ≈ 25 % more per order, docs/BENCHMARKS.md, session 16), with
/// the commits' waits still overlapped.
type Turn = OwnedMutexGuard<mpsc::UnboundedReceiver<Asked>>;

/// Work asked for, by whom, and where its outcome goes.
struct Asked {
    actor: Actor,
    work: Work,
    reply: oneshot::Sender<StoreResult<Done>>,
}

impl Work {
    fn kind(&self) -> Kind {
        match self {
            Work::Create(_) => Kind::Create,
            Work::Step(action, _) => Kind::Step(*action),
        }
    }

    /// Whether two requests must not share a batch: an order stepped twice (the second gets
    /// what a second request gets), a key used twice (the second gets the first one's order).
    fn clashes(&self, other: &Work) -> bool {
        match (self, other) {
            (Work::Step(_, a), Work::Step(_, b)) => a == b,
            (Work::Create(a), Work::Create(b)) => a.idempotency_key.is_some() && a.idempotency_key == b.idempotency_key,
            _ => false,
        }
    }
}

impl OrderSteps {
    /// Starts the workers, so it must be called inside a tokio runtime; they stop once this is
    /// dropped.
    pub fn new(db: Db) -> Self {
        let mut queues = Vec::new();
        for kind in BATCHED {
            let (sender, receiver) = mpsc::unbounded_channel();
            let receiver = Arc::new(Mutex::new(receiver));
            for _ in 0..WORKERS {
                tokio::spawn(work(db.clone(), Arc::clone(&receiver)));
            }
            queues.push((kind, sender));
        }
        Self { db, queues }
    }

    /// Creates an order, committed when it returns Ok. When another request with the same
    /// idempotency key committed first (they raced), its order is the answer, replayed; a
    /// `Conflict` on `idempotency_key` means that order could not be read back.
    pub async fn create(&self, actor: &Actor, new: NewOrder) -> StoreResult<Created> {
        let (key, hash) = (new.idempotency_key.clone(), new.request_hash.clone());
        match self.ask(actor, Work::Create(new)).await {
            Ok(Done::Created(created)) => Ok(created),
            Ok(Done::Stepped(_)) => Err(StoreError::Database("a create was answered with a step".into())),
            Err(StoreError::Conflict { field }) if field == "idempotency_key" => {
                let key = key.ok_or(StoreError::Conflict { field })?;
                let mut reader = self.db.read().await?;
                orders::find_by_key(&mut reader.conn(), &key, hash.as_deref())
                    .await?
                    .map(Created::Replayed)
                    .ok_or_else(|| StoreError::Conflict {
                        field: "idempotency_key".into(),
                    })
            }
            Err(other) => Err(other),
        }
    }

    /// Runs `action` on order `id`, committed when it returns Ok.
    pub async fn run(&self, actor: &Actor, id: i64, action: OrderAction) -> StoreResult<OrderWithItems> {
        match self.ask(actor, Work::Step(action, id)).await? {
            Done::Stepped(order) => Ok(order),
            Done::Created(_) => Err(StoreError::Database("a step was answered with a create".into())),
        }
    }

    /// Queues `work` for its workers, or runs it alone when it is not batched.
    async fn ask(&self, actor: &Actor, work: Work) -> StoreResult<Done> {
        let kind = work.kind();
        let Some((_, queue)) = self.queues.iter().find(|(batched, _)| *batched == kind) else {
            return alone(&self.db, actor, &work, &mut None).await;
        };
        let (reply, outcome) = oneshot::channel();
        queue
            .send(Asked {
                actor: actor.clone(),
                work,
                reply,
            })
            .map_err(|_| StoreError::Database("the order workers stopped".into()))?;
        outcome
            .await
            .map_err(|_| StoreError::Database("the order work was dropped unanswered".into()))?
    }
}

/// Runs `work` in a transaction of its own; a worker's turn, if given, ends before the commit.
async fn alone(db: &Db, actor: &Actor, work: &Work, turn: &mut Option<Turn>) -> StoreResult<Done> {
    let mut tx = db.begin().await?;
    let mut c = tx.conn();
    let done = match work {
        Work::Create(new) => Done::Created(orders::create(&mut c, actor, new).await?),
        Work::Step(action, id) => Done::Stepped(orders::transition(&mut c, actor, *id, *action).await?),
    };
    drop(turn.take());
    tx.commit().await?;
    Ok(done)
}

/// Takes whatever is queued (at least one request), runs it, and again, until the queue closes.
async fn work(db: Db, queue: Queue) {
    loop {
        let mut turn = Arc::clone(&queue).lock_owned().await;
        let Some(first) = turn.recv().await else {
            return;
        };
        let mut asked = vec![first];
        while asked.len() < MAX_BATCH {
            match turn.try_recv() {
                Ok(next) => asked.push(next),
                Err(_) => break,
            }
        }
        // In its own task: a panic loses that batch's answers (its callers get an error), not
        // the worker; the turn ends with the task.
        if let Err(e) = tokio::spawn(run_batch(db.clone(), asked, turn)).await {
            tracing::error!(error = %e, "a batch of order work failed");
        }
    }
}

async fn run_batch(db: Db, asked: Vec<Asked>, turn: Turn) {
    let mut turn = Some(turn);
    // Work that clashes with work before it runs again after the batch, alone.
    let (mut batch, mut again) = (Vec::<Asked>::new(), Vec::new());
    for next in asked {
        if batch.iter().any(|a| a.work.clashes(&next.work)) {
            again.push(next);
        } else {
            batch.push(next);
        }
    }
    if batch.len() > 1 {
        match run_together(&db, &batch, &mut turn).await {
            Ok(outcomes) => {
                for (asked, outcome) in batch.drain(..).zip(outcomes) {
                    let _ = asked.reply.send(outcome);
                }
            }
            Err(Failed::Commit(e)) => {
                // Whether the commit took is unknown: each caller gets the error, as one alone
                // would have.
                let message = e.to_string();
                for asked in batch.drain(..) {
                    let _ = asked.reply.send(Err(StoreError::Database(message.clone().into())));
                }
            }
            Err(Failed::Work(e)) => {
                tracing::debug!(error = %e, orders = batch.len(), "order work run together failed; each runs alone");
            }
        }
    }
    for asked in batch.into_iter().chain(again) {
        let outcome = alone(&db, &asked.actor, &asked.work, &mut turn).await;
        let _ = asked.reply.send(outcome);
    }
}

/// How a batch failed: before its commit (rolled back, nothing done) or at it.
enum Failed {
    Work(StoreError),
    Commit(StoreError),
}

/// Runs the batch in one transaction; the worker's turn ends before the commit.
async fn run_together(db: &Db, batch: &[Asked], turn: &mut Option<Turn>) -> Result<Vec<StoreResult<Done>>, Failed> {
    let mut tx = db.begin().await.map_err(Failed::Work)?;
    let outcomes = together(&mut tx.conn(), batch).await.map_err(Failed::Work)?;
    drop(turn.take());
    tx.commit().await.map_err(Failed::Commit)?;
    Ok(outcomes)
}

/// The batch's work (all of one kind) in the caller's transaction.
async fn together(c: &mut Conn<'_>, batch: &[Asked]) -> StoreResult<Vec<StoreResult<Done>>> {
    let kind = batch.first().map(|a| a.work.kind());
    if batch.iter().any(|a| Some(a.work.kind()) != kind) {
        return Err(StoreError::Database("a batch of order work mixes kinds".into()));
    }
    match kind {
        None => Ok(Vec::new()),
        Some(Kind::Create) => {
            let creates: Vec<(&Actor, &NewOrder)> = batch
                .iter()
                .filter_map(|a| match &a.work {
                    Work::Create(new) => Some((&a.actor, new)),
                    Work::Step(..) => None,
                })
                .collect();
            let outcomes = orders::create_all(c, &creates).await?;
            Ok(outcomes.into_iter().map(|o| o.map(Done::Created)).collect())
        }
        Some(Kind::Step(action)) => {
            let steps: Vec<(&Actor, i64)> = batch
                .iter()
                .filter_map(|a| match a.work {
                    Work::Step(_, id) => Some((&a.actor, id)),
                    Work::Create(_) => None,
                })
                .collect();
            let outcomes = orders::transition_all(c, &steps, action).await?;
            Ok(outcomes.into_iter().map(|o| o.map(Done::Stepped)).collect())
        }
    }
}
