//! Shared state of the HTTP layer, built once at start-up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use bodega_events::EventBus;
use bodega_store::api_keys;
use bodega_store::audit::Actor;
use bodega_store::catalog::{self, WarehouseInput};
use bodega_store::orders::OrderSteps;
use bodega_store::{reservations, roles, settings, Db};

use crate::auth::known::KnownCallers;
use crate::auth::limiter::Limiter;
use crate::auth::tokens::{random_secret, TokenKeys};
use crate::config::Config;
use crate::recommender::{self, Recommender};

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub tokens: Arc<TokenKeys>,
    pub login_limiter: Limiter<String>,
    pub api_limiter: Limiter<String>,
    pub metrics: PrometheusHandle,
    pub events: EventBus,
    pub recommender: Arc<Recommender>,
    /// Runs the orders' saga steps (confirms and ships of concurrent requests together, on
    /// PostgreSQL).
    pub order_steps: Arc<OrderSteps>,
    /// The scheduled jobs (`server/src/jobs.rs`).
    pub jobs: Arc<Vec<crate::jobs::Job>>,
    pub started: Instant,
    api_key_touches: Arc<Mutex<HashMap<i64, Instant>>>,
    /// Callers resolved in the last second (`auth/known.rs`).
    pub known_callers: Arc<KnownCallers>,
}

impl AppState {
    /// Connects to the database, applies migrations, writes the built-in roles and loads (or
    /// creates) the token signing key.
    pub async fn new(config: Config) -> anyhow::Result<Self> {
        let db = Db::connect_with(&config.database_url, config.postgres_pool())
            .await
            .context("connecting to the database")?;
        Self::with_db(config, db).await
    }

    pub async fn with_db(config: Config, db: Db) -> anyhow::Result<Self> {
        db.migrate().await.context("applying migrations")?;
        let mut tx = db.begin().await?;
        roles::sync_builtins(&mut tx.conn())
            .await
            .context("writing built-in roles")?;
        let secret = match &config.jwt_secret {
            Some(secret) if secret.len() >= 32 => secret.clone(),
            Some(_) => anyhow::bail!("jwt_secret must be at least 32 characters"),
            None => settings::get_or_insert(&mut tx.conn(), "jwt_secret", &random_secret("")).await?,
        };
        // A new shop starts with one warehouse so that products can hold stock at once.
        if catalog::warehouses(&mut tx.conn(), true).await?.is_empty() {
            let main = WarehouseInput {
                code: "MAIN".into(),
                name: "Bodega principal".into(),
                kind: "warehouse".into(),
                address: None,
                is_active: true,
            };
            catalog::create_warehouse(&mut tx.conn(), &Actor::system("setup"), &main).await?;
        }
        tx.commit().await?;
        BODY_LIMIT.store(config.max_body_bytes, Ordering::Relaxed);
        let (recommender, interactions) =
            Recommender::new(config.interaction_weights.clone(), config.recommendations_per_sale);
        recommender::spawn_interaction_writer(db.clone(), interactions);
        let jobs = Arc::new(crate::jobs::registry(&config.jobs).context("job schedules")?);
        Ok(Self {
            recommender,
            order_steps: Arc::new(OrderSteps::new(db.clone())),
            jobs,
            tokens: Arc::new(TokenKeys::new(secret.as_bytes(), config.access_token_minutes * 60)),
            login_limiter: Limiter::per_minute(config.login_attempts_per_minute),
            api_limiter: Limiter::per_second(config.rate_limit_per_second),
            metrics: prometheus(),
            events: EventBus::new(),
            started: Instant::now(),
            api_key_touches: Arc::default(),
            known_callers: Arc::default(),
            config: Arc::new(config),
            db,
        })
    }

    /// Records an API key's last use, at most once a minute per key, off the request path.
    pub fn note_api_key_use(&self, key_id: i64) {
        let due = {
            let mut touches = self.api_key_touches.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let due = touches
                .get(&key_id)
                .is_none_or(|last| now.duration_since(*last) > Duration::from_secs(60));
            if due {
                touches.insert(key_id, now);
            }
            due
        };
        if due {
            let db = self.db.clone();
            let id = key_id;
            tokio::spawn(async move {
                if let Ok(mut tx) = db.begin().await {
                    if api_keys::touch(&mut tx.conn(), id).await.is_ok() {
                        let _ = tx.commit().await;
                    }
                }
            });
        }
    }

    /// The recommender's settings for training runs.
    pub fn recommender_config(&self) -> bodega_recommend::EngineConfig {
        bodega_recommend::EngineConfig {
            weights: self.config.interaction_weights.clone(),
            ..Default::default()
        }
    }

    /// Starts the recommender: learns from every sale published from now on, and loads the
    /// models from what is in the database (in the background: the API serves meanwhile,
    /// with fallback answers); the handle ends when the models are loaded.
    pub fn spawn_recommender(&self) -> tokio::task::JoinHandle<()> {
        recommender::spawn_sale_subscriber(&self.events, self.db.clone(), self.recommender.clone());
        let state = self.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            match recommender::train::warm_up(&state.db, &state.recommender, &state.recommender_config()).await {
                Ok(baskets) => tracing::info!(baskets, ms = started.elapsed().as_millis() as u64, "recommender loaded"),
                Err(e) => tracing::warn!(error = %e, "recommender could not load; answering with fallbacks"),
            }
        })
    }

    /// Background work of a serving process: the event relay, the recommender, the release
    /// of expired reservations (every 15 s) and forgetting idle rate-limit keys (every minute).
    pub fn spawn_background(&self) {
        // Serving does not wait for the recommender's warm-up: it answers with fallbacks until then.
        drop(self.spawn_recommender());
        if self.config.scheduler {
            crate::jobs::spawn_scheduler(self.clone());
        }
        self.events.spawn_relay(self.db.clone());
        let state = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(15));
            let mut ticks: u64 = 0;
            loop {
                tick.tick().await;
                ticks += 1;
                match state.expire_reservations().await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(released = n, "expired reservations released");
                        state.events.nudge();
                    }
                    Err(e) => tracing::warn!(error = %e, "releasing expired reservations failed"),
                }
                if ticks.is_multiple_of(4) {
                    state.login_limiter.prune();
                    state.api_limiter.prune();
                }
            }
        });
    }

    /// Releases every active reservation past its expiry, each in its own transaction.
    pub async fn expire_reservations(&self) -> anyhow::Result<usize> {
        let due = {
            let mut conn = self.db.read().await?;
            reservations::due_for_expiry(&mut conn.conn(), 1000).await?
        };
        let mut released = 0;
        for id in due {
            let mut tx = self.db.begin().await?;
            match reservations::release(&mut tx.conn(), id, "expired").await {
                Ok(r) => {
                    bodega_store::audit::record(
                        &mut tx.conn(),
                        &Actor::system("reservation-expiry"),
                        "expire",
                        "reservation",
                        id,
                        None::<&()>,
                        Some(&r),
                    )
                    .await?;
                    tx.commit().await?;
                    released += 1;
                }
                // Committed or released meanwhile: nothing to do.
                Err(bodega_store::StoreError::State(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(released)
    }
}

static BODY_LIMIT: AtomicUsize = AtomicUsize::new(2 * 1024 * 1024);

/// The configured request body limit (read by the JSON extractor for its error message).
pub fn body_limit() -> usize {
    BODY_LIMIT.load(Ordering::Relaxed)
}

/// The process-wide Prometheus recorder; installed once, shared by every app in the process.
fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ])
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
