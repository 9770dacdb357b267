//! Saga steps of concurrent requests, run together on PostgreSQL.
//!
//! On PostgreSQL most of a confirm's or a ship's cost is fixed work per statement and per
//! transaction, not per line (docs/BENCHMARKS.md, session 11). So when many orders are
//! confirmed (or shipped) at once, a worker takes every request queued for that step and runs
//! them in one transaction ([`orders::transition_all`]): one claim of all the orders, one
//! statement for the stock work of them all, one insert of all the audit entries and events,
//! one commit. When any order's work fails (a shortage, a database error),
//! the transaction is rolled back and each order of the batch runs alone, exactly as without
//! batching, so each caller gets its own answer. A caller waits at most for the batch before
//! its own: the queue is never held back to let a batch grow.
//!
//! SQLite gains nothing from it (one writer that already commits in groups, see
//! `group_commit.rs`), and the other steps are rare: those run at once, alone.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex};

use crate::audit::Actor;
use crate::orders::{self, OrderWithItems};
use crate::{Backend, Db, StoreError, StoreResult};
use bodega_domain::OrderAction;

/// The steps run together.
const BATCHED: [OrderAction; 2] = [OrderAction::Confirm, OrderAction::Ship];
/// Workers per batched step: while one runs a batch, the next gathers what queues meanwhile.
const WORKERS: usize = 2;
/// Orders in one batch at most: past this, the statements grow without saving more.
const MAX_BATCH: usize = 32;

/// Runs saga steps of orders, batching concurrent confirms and ships on PostgreSQL.
pub struct OrderSteps {
    db: Db,
    queues: Vec<(OrderAction, mpsc::UnboundedSender<Step>)>,
}

/// A step asked for, and where its outcome goes.
struct Step {
    actor: Actor,
    id: i64,
    reply: oneshot::Sender<StoreResult<OrderWithItems>>,
}

impl OrderSteps {
    /// On PostgreSQL it starts the workers, so it must be called inside a tokio runtime; they
    /// stop once this is dropped.
    pub fn new(db: Db) -> Self {
        let mut queues = Vec::new();
        if db.backend() == Backend::Postgres {
            for action in BATCHED {
                let (sender, receiver) = mpsc::unbounded_channel();
                let receiver = Arc::new(Mutex::new(receiver));
                for _ in 0..WORKERS {
                    tokio::spawn(work(db.clone(), action, Arc::clone(&receiver)));
                }
                queues.push((action, sender));
            }
        }
        Self { db, queues }
    }

    /// Runs `action` on order `id`, committed when it returns Ok.
    pub async fn run(&self, actor: &Actor, id: i64, action: OrderAction) -> StoreResult<OrderWithItems> {
        let Some((_, queue)) = self.queues.iter().find(|(batched, _)| *batched == action) else {
            return run_alone(&self.db, actor, id, action).await;
        };
        let (reply, outcome) = oneshot::channel();
        queue
            .send(Step {
                actor: actor.clone(),
                id,
                reply,
            })
            .map_err(|_| StoreError::Database("the order step workers stopped".into()))?;
        outcome
            .await
            .map_err(|_| StoreError::Database("the order step was dropped unanswered".into()))?
    }
}

async fn run_alone(db: &Db, actor: &Actor, id: i64, action: OrderAction) -> StoreResult<OrderWithItems> {
    let mut tx = db.begin().await?;
    let order = orders::transition(&mut tx.conn(), actor, id, action).await?;
    tx.commit().await?;
    Ok(order)
}

/// Takes whatever is queued (at least one step), runs it, and again, until the queue closes.
async fn work(db: Db, action: OrderAction, queue: Arc<Mutex<mpsc::UnboundedReceiver<Step>>>) {
    loop {
        let steps = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut steps = vec![first];
            while steps.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(step) => steps.push(step),
                    Err(_) => break,
                }
            }
            steps
        };
        // In its own task: a panic loses that batch's answers (its callers get an error), not
        // the worker.
        if let Err(e) = tokio::spawn(run_batch(db.clone(), action, steps)).await {
            tracing::error!(error = %e, "a batch of order steps failed");
        }
    }
}

async fn run_batch(db: Db, action: OrderAction, steps: Vec<Step>) {
    // An order asked twice runs again after the batch, alone: it gets what a second request
    // for the same step gets.
    let (mut batch, mut again) = (Vec::<Step>::new(), Vec::new());
    for step in steps {
        if batch.iter().any(|s| s.id == step.id) {
            again.push(step);
        } else {
            batch.push(step);
        }
    }
    if batch.len() > 1 {
        match run_together(&db, action, &batch).await {
            Ok(outcomes) => {
                for (step, outcome) in batch.drain(..).zip(outcomes) {
                    let _ = step.reply.send(outcome);
                }
            }
            Err(Failed::Commit(e)) => {
                // Whether the commit took is unknown: each caller gets the error, as one alone
                // would have.
                let message = e.to_string();
                for step in batch.drain(..) {
                    let _ = step.reply.send(Err(StoreError::Database(message.clone().into())));
                }
            }
            Err(Failed::Work(e)) => {
                tracing::debug!(error = %e, orders = batch.len(), "order steps run together failed; each runs alone");
            }
        }
    }
    for step in batch.into_iter().chain(again) {
        let outcome = run_alone(&db, &step.actor, step.id, action).await;
        let _ = step.reply.send(outcome);
    }
}

/// How a batch failed: before its commit (rolled back, nothing done) or at it.
enum Failed {
    Work(StoreError),
    Commit(StoreError),
}

async fn run_together(
    db: &Db,
    action: OrderAction,
    batch: &[Step],
) -> Result<Vec<StoreResult<OrderWithItems>>, Failed> {
    let mut tx = db.begin().await.map_err(Failed::Work)?;
    let steps: Vec<(&Actor, i64)> = batch.iter().map(|s| (&s.actor, s.id)).collect();
    let outcomes = orders::transition_all(&mut tx.conn(), &steps, action)
        .await
        .map_err(Failed::Work)?;
    tx.commit().await.map_err(Failed::Commit)?;
    Ok(outcomes)
}
