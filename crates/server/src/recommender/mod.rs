//! The recommender service: one [`Engine`] in memory, fed every sale (from the event bus) and
//! every interaction (from the API) as they happen, replaced by a freshly trained one after
//! each training run, with live counters for `/api/ml/metrics/overall`.
//!
//! Reads take a read lock for the few microseconds an answer costs; a sale or an interaction
//! takes the write lock for its update. Interactions are written to the database by a
//! background task in batches, so recording one never waits for (nor delays) a sale on the
//! single SQLite writer.

mod subscriber;
pub mod train;

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use bodega_recommend::{Engine, InteractionKind, InteractionWeights, Product};
use bodega_store::orders::OrderWithItems;
use bodega_store::recommendations::{self, Interaction, ProductProfile};
use bodega_store::sales::SaleWithItems;
use bodega_store::Db;

pub use subscriber::spawn_sale_subscriber;

/// Interactions waiting to be written; beyond this the API answers 429.
const INTERACTION_QUEUE: usize = 20_000;

pub struct Recommender {
    engine: RwLock<Engine>,
    /// Set while a training run reads the data: what arrived meanwhile, replayed on the new
    /// engine before it replaces the old one.
    journal: Mutex<Option<Vec<Observation>>>,
    interactions: mpsc::Sender<Interaction>,
    predictions: AtomicU64,
    inference_nanos: AtomicU64,
    /// The highest event seq the sale subscriber has handled.
    learnt_seq: AtomicI64,
    /// The newest sale id the engine in service was trained on.
    trained_through: AtomicI64,
    /// Sales learnt since training, by id: a sale arrives twice (from its request, then from
    /// the bus) and is learnt by whichever comes first.
    sales_learnt: Mutex<RecentIds>,
    /// The latest training run's offline evaluation (JSON object), for the metrics endpoint.
    evaluation: RwLock<Option<serde_json::Value>>,
    pub weights: InteractionWeights,
    pub per_sale: usize,
}

/// Something the engine learnt between a training run's snapshot and its swap.
#[derive(Debug, Clone)]
pub enum Observation {
    Sale {
        sale_id: i64,
        customer: Option<i64>,
        lines: Vec<(i64, i64)>,
        at: i64,
    },
    Interaction {
        user: String,
        product_id: i64,
        kind: InteractionKind,
        at: i64,
    },
    /// A product created or changed (a training run's snapshot may predate it).
    Product(Product),
    /// A product removed from the catalogue.
    ProductGone(i64),
}

impl Recommender {
    /// An untrained recommender and the receiver its interaction writer drains.
    pub fn new(weights: InteractionWeights, per_sale: usize) -> (Arc<Self>, mpsc::Receiver<Interaction>) {
        let (sender, receiver) = mpsc::channel(INTERACTION_QUEUE);
        let recommender = Arc::new(Self {
            engine: RwLock::new(Engine::untrained(Vec::new(), weights.clone())),
            journal: Mutex::new(None),
            interactions: sender,
            predictions: AtomicU64::new(0),
            learnt_seq: AtomicI64::new(0),
            trained_through: AtomicI64::new(0),
            sales_learnt: Mutex::new(RecentIds::default()),
            inference_nanos: AtomicU64::new(0),
            evaluation: RwLock::new(None),
            weights,
            per_sale,
        });
        (recommender, receiver)
    }

    /// The engine, for reading. Hold it only for the answer.
    pub fn engine(&self) -> RwLockReadGuard<'_, Engine> {
        self.engine.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `answer` on the engine and counts it in the live metrics.
    pub fn answer<T>(&self, answer: impl FnOnce(&Engine) -> T) -> T {
        let started = Instant::now();
        let result = answer(&self.engine());
        self.predictions.fetch_add(1, Ordering::Relaxed);
        self.inference_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        result
    }

    /// The highest event seq handled from the bus. Events are handled in the order the relay
    /// handed them out, so every event handed out before that one has been handled too. It is
    /// not a watermark of seqs: on PostgreSQL an event with a lower seq can still come (written
    /// by a transaction younger than the one that wrote this event).
    pub fn learnt_seq(&self) -> i64 {
        self.learnt_seq.load(Ordering::Acquire)
    }

    /// The newest sale id the engine in service was trained on; later sales are learnt
    /// from the bus.
    pub fn trained_through(&self) -> i64 {
        self.trained_through.load(Ordering::Acquire)
    }

    pub(crate) fn mark_learnt(&self, seq: i64) {
        self.learnt_seq.fetch_max(seq, Ordering::AcqRel);
    }

    /// Answers served since start and their mean time in milliseconds.
    pub fn live_counters(&self) -> (u64, f64) {
        let n = self.predictions.load(Ordering::Relaxed);
        let nanos = self.inference_nanos.load(Ordering::Relaxed);
        let mean_ms = if n == 0 { 0.0 } else { nanos as f64 / n as f64 / 1e6 };
        (n, mean_ms)
    }

    pub fn evaluation(&self) -> Option<serde_json::Value> {
        self.evaluation.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Applies what was learnt to the engine now (and to the journal when a training run is
    /// reading).
    pub fn observe(&self, observation: Observation) {
        // Journal first, then engine, as in `install`: an observation is either applied to
        // the old engine and journalled, or applied after the swap, never lost in between.
        let mut journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        apply(
            &mut self.engine.write().unwrap_or_else(|p| p.into_inner()),
            &observation,
        );
        let user = match &observation {
            Observation::Sale {
                customer: Some(customer),
                ..
            } => Some(customer.to_string()),
            Observation::Interaction { user, .. } => Some(user.clone()),
            _ => None,
        };
        if let Some(journal) = journal.as_mut() {
            journal.push(observation);
        }
        drop(journal);
        // The customer's ALS factor no longer matches their events: fold them in now, under
        // the read lock, rather than in their next recommendation request.
        if let Some(user) = user {
            self.engine().prepare_user(&user);
        }
    }

    /// Learns a sale once: the request that committed it calls this right after its commit, so
    /// the very next request is answered with the sale learnt, and the bus delivers it again a
    /// moment later. Sales the engine was trained on are skipped.
    pub fn learn_sale(&self, sale_id: i64, customer: Option<i64>, lines: Vec<(i64, i64)>, at: i64) {
        if sale_id <= self.trained_through() {
            return;
        }
        if !self
            .sales_learnt
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sale_id)
        {
            return;
        }
        self.observe(Observation::Sale {
            sale_id,
            customer,
            lines,
            at,
        });
    }

    /// [`Self::learn_sale`] for a sale just committed at the till.
    pub fn learn_committed_sale(&self, sale: &SaleWithItems) {
        if sale.sale.historical {
            return;
        }
        let lines = sale.items.iter().map(|i| (i.product_id, i.quantity)).collect();
        self.learn_sale_early(
            sale.sale.id,
            sale.sale.customer_id,
            lines,
            sale.sale.sold_at.timestamp(),
        );
    }

    /// [`Self::learn_sale`] for the sale of an order that just shipped.
    pub fn learn_shipped_order(&self, order: &OrderWithItems) {
        let Some(sale_id) = order.sale_id else {
            return;
        };
        let lines = order.items.iter().map(|i| (i.product_id, i.quantity)).collect();
        let at = order.order.shipped_at.unwrap_or(order.order.updated_at).timestamp();
        self.learn_sale_early(sale_id, order.order.customer_id, lines, at);
    }

    /// A sale learnt ahead of the bus, which keeps everything else in order: a product created
    /// moments ago may not have reached the engine yet, and a sale of it is then left to the
    /// bus, which delivers the product first.
    fn learn_sale_early(&self, sale_id: i64, customer: Option<i64>, lines: Vec<(i64, i64)>, at: i64) {
        let engine = self.engine();
        if !lines.iter().all(|&(product, _)| engine.knows_product(product)) {
            return;
        }
        drop(engine);
        self.learn_sale(sale_id, customer, lines, at);
    }

    /// A product created or changed in the catalogue.
    pub fn upsert_product(&self, profile: &ProductProfile) {
        self.observe(Observation::Product(product(profile)));
    }

    pub fn deactivate_product(&self, product_id: i64) {
        self.observe(Observation::ProductGone(product_id));
    }

    /// Records an interaction: the engine learns it at once, the database gets it from the
    /// background writer. False when the writer's queue is full.
    pub fn record_interaction(&self, interaction: Interaction, kind: InteractionKind) -> bool {
        let observation = Observation::Interaction {
            user: interaction.user_ref.clone(),
            product_id: interaction.product_id,
            kind,
            at: interaction.occurred_at.timestamp(),
        };
        if self.interactions.try_send(interaction).is_err() {
            return false;
        }
        self.observe(observation);
        true
    }

    /// Starts journalling what arrives while a training run reads its snapshot.
    pub(crate) fn begin_training(&self) {
        *self.journal.lock().unwrap_or_else(|p| p.into_inner()) = Some(Vec::new());
    }

    /// Replaces the engine by a trained one, after replaying what arrived since its snapshot
    /// was read (sales it already contains are skipped by id).
    pub(crate) fn install(&self, mut engine: Engine, last_sale_id: i64, evaluation: Option<serde_json::Value>) {
        let mut journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        let mut current = self.engine.write().unwrap_or_else(|p| p.into_inner());
        for observation in journal.take().unwrap_or_default() {
            match &observation {
                Observation::Sale { sale_id, .. } if *sale_id <= last_sale_id => {}
                _ => apply(&mut engine, &observation),
            }
        }
        *current = engine;
        self.trained_through.fetch_max(last_sale_id, Ordering::AcqRel);
        if evaluation.is_some() {
            *self.evaluation.write().unwrap_or_else(|p| p.into_inner()) = evaluation;
        }
    }

    /// Abandons a training run's journal (the run failed).
    pub(crate) fn abort_training(&self) {
        *self.journal.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// The last [`RecentIds::CAPACITY`] ids seen. A sale's second arrival comes within moments of
/// its first; only a bus lagging that many sales behind could bring one back unrecognised.
#[derive(Default)]
struct RecentIds {
    set: HashSet<i64>,
    order: VecDeque<i64>,
}

impl RecentIds {
    const CAPACITY: usize = 65_536;

    /// False when `id` was seen already.
    fn insert(&mut self, id: i64) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > Self::CAPACITY {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
        true
    }
}

fn apply(engine: &mut Engine, observation: &Observation) {
    match observation {
        Observation::Sale {
            customer, lines, at, ..
        } => engine.observe_sale(*customer, lines, *at),
        Observation::Interaction {
            user,
            product_id,
            kind,
            at,
        } => engine.observe_interaction(user, *product_id, *kind, *at),
        Observation::Product(p) => engine.upsert_product(p.clone()),
        Observation::ProductGone(id) => engine.deactivate_product(*id),
    }
}

/// The engine's view of a catalogue product.
pub fn product(p: &ProductProfile) -> Product {
    let mut text = format!("{} {} {}", p.name, p.description, p.keywords);
    if let Some(category) = &p.category_name {
        text.push(' ');
        text.push_str(category);
    }
    Product {
        id: p.id,
        name: p.name.clone(),
        text,
        category_id: p.category_id,
        category: p.category_name.clone(),
        active: p.status == "active",
    }
}

/// Writes queued interactions in batches: whatever has queued up, at most every 100 ms, in
/// one transaction.
pub fn spawn_interaction_writer(db: Db, mut receiver: mpsc::Receiver<Interaction>) {
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(1024);
        while receiver.recv_many(&mut batch, 4096).await > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            while let Ok(more) = receiver.try_recv() {
                batch.push(more);
            }
            if let Err(e) = write_interactions(&db, &batch).await {
                tracing::warn!(error = %e, count = batch.len(), "writing interactions failed; they are lost");
            }
            batch.clear();
        }
    });
}

async fn write_interactions(db: &Db, batch: &[Interaction]) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    recommendations::record_interactions(&mut tx.conn(), batch).await?;
    tx.commit().await?;
    Ok(())
}

/// Unix seconds of a timestamp, the engine's clock.
pub fn seconds(at: DateTime<Utc>) -> i64 {
    at.timestamp()
}
