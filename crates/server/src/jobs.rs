//! Scheduled jobs: a registry of named jobs with cron expressions, a scheduler that runs them
//! when due, and on-demand runs (`POST /api/jobs/{name}/run`). Every run is recorded in
//! `job_runs` (start, end, status, summary or error). A run is claimed in the database, so one
//! run of a job runs at a time and one replica takes each scheduled occurrence.
//!
//! Adding a job is one entry in [`registry`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use croner::Cron;

use bodega_store::jobs::{self, JobRun};
use bodega_store::{analytics, Db};

use crate::state::AppState;

type JobFuture = Pin<Box<dyn Future<Output = anyhow::Result<String>> + Send>>;
type JobFn = Arc<dyn Fn(AppState) -> JobFuture + Send + Sync>;

/// A named job and when it runs.
#[derive(Clone)]
pub struct Job {
    pub name: &'static str,
    pub description: &'static str,
    pub cron: String,
    schedule: Cron,
    run: JobFn,
}

impl Job {
    fn new<F, Fut>(name: &'static str, description: &'static str, cron: &str, run: F) -> anyhow::Result<Self>
    where
        F: Fn(AppState) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<String>> + Send + 'static,
    {
        let schedule = Cron::new(cron)
            .parse()
            .map_err(|e| anyhow::anyhow!("job {name}: bad cron expression '{cron}': {e}"))?;
        Ok(Self {
            name,
            description,
            cron: cron.to_string(),
            schedule,
            run: Arc::new(move |state| Box::pin(run(state))),
        })
    }

    /// The next time the job is due after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.find_next_occurrence(&after, false).ok()
    }
}

/// The built-in jobs; `overrides` (job name → cron, from the configuration) change schedules.
pub fn registry(overrides: &std::collections::BTreeMap<String, String>) -> anyhow::Result<Vec<Job>> {
    let cron = |name: &str, default: &str| overrides.get(name).cloned().unwrap_or_else(|| default.to_string());
    Ok(vec![
        Job::new(
            "daily-sales",
            "Rebuilds the daily sales aggregates of every day that received sales since the last run",
            &cron("daily-sales", "15 2 * * *"),
            |state: AppState| async move { daily_sales(&state.db).await },
        )?,
        Job::new(
            "forecast-accuracy",
            "Measures every stored forecast whose periods are over against the actual sales",
            &cron("forecast-accuracy", "45 2 * * *"),
            |state: AppState| async move { crate::forecasting::accuracy_job(&state.db).await },
        )?,
        Job::new(
            "recommendations-train",
            "Retrains the recommendation models, evaluates them on the newest four weeks and serves the new version",
            &cron("recommendations-train", "30 3 * * *"),
            |state: AppState| async move {
                let report =
                    crate::recommender::train::train(&state.db, Some(&state.recommender), &state.recommender_config())
                        .await?;
                let ndcg = report.metrics["models"]["served"]["ndcg@10"].as_f64();
                Ok(format!(
                    "model v{} trained on {} sales in {} ms{}",
                    report.version,
                    report.baskets,
                    report.train_ms,
                    ndcg.map(|n| format!("; hybrid NDCG@10 {n:.3} on the newest four weeks"))
                        .unwrap_or_default()
                ))
            },
        )?,
    ])
}

/// Rebuilds `sales_daily` for every closed day that received sales since the previous
/// successful run (all days on the first run). Idempotent.
pub async fn daily_sales(db: &Db) -> anyhow::Result<String> {
    let since = {
        let mut reader = db.read().await?;
        let mut c = reader.conn();
        // The run in progress is the newest; the one before it tells what is already done.
        let runs = jobs::runs(
            &mut c,
            Some("daily-sales"),
            bodega_domain::PageRequest::parse(Some(1), Some(10))?,
        )
        .await?;
        // From the midnight before it: sales of that day recorded before it started were not
        // in it (their day was still open).
        runs.items
            .iter()
            .find(|r| r.status == "succeeded")
            .and_then(|r| r.started_at.date_naive().and_hms_opt(0, 0, 0))
            .map(|midnight| midnight.and_utc())
    };
    let touched = {
        let mut reader = db.read().await?;
        analytics::days_touched_since(&mut reader.conn(), since).await?
    };
    let Some((first, last)) = touched else {
        return Ok("no new sales".into());
    };
    let yesterday = (Utc::now() - TimeDelta::days(1)).date_naive();
    let (from, to) = (first.date_naive(), last.date_naive().min(yesterday));
    if from > to {
        return Ok("only today's sales are new; today is read live".into());
    }
    let mut tx = db.begin().await?;
    let rows = analytics::rebuild_daily_sales(&mut tx.conn(), from, to).await?;
    tx.commit().await?;
    Ok(format!("rebuilt {from}..{to}: {rows} product-day rows"))
}

/// Why a run did not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no job named '{0}'")]
    Unknown(String),
    #[error("job '{0}' is already running")]
    Busy(String),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Claims and runs a job now; the finished run (succeeded or failed).
pub async fn run_now(
    state: &AppState,
    name: &str,
    trigger: &str,
    due: Option<DateTime<Utc>>,
) -> Result<JobRun, RunError> {
    let job = state
        .jobs
        .iter()
        .find(|j| j.name == name)
        .ok_or_else(|| RunError::Unknown(name.to_string()))?;
    let claimed = {
        let mut tx = state.db.begin().await.map_err(anyhow::Error::from)?;
        let claimed = jobs::claim(&mut tx.conn(), job.name, trigger, due)
            .await
            .map_err(anyhow::Error::from)?;
        tx.commit().await.map_err(anyhow::Error::from)?;
        claimed
    };
    let Some(run) = claimed else {
        return Err(RunError::Busy(name.to_string()));
    };
    let outcome = (job.run)(state.clone()).await;
    if let Err(e) = &outcome {
        tracing::warn!(job = job.name, error = %e, "job failed");
    }
    let error = outcome.as_ref().err().map(|e| format!("{e:#}"));
    let mut tx = state.db.begin().await.map_err(anyhow::Error::from)?;
    let finished = jobs::finish(
        &mut tx.conn(),
        run.id,
        match (&outcome, &error) {
            (Ok(summary), _) => Ok(summary.as_str()),
            (Err(_), Some(e)) => Err(e.as_str()),
            (Err(_), None) => Err("failed"),
        },
    )
    .await
    .map_err(anyhow::Error::from)?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    Ok(finished)
}

/// Runs every job when its cron expression says, until the process ends. Runs left
/// `running` by a process that died more than six hours ago are marked failed first.
pub fn spawn_scheduler(state: AppState) {
    tokio::spawn(async move {
        if let Ok(mut tx) = state.db.begin().await {
            if jobs::abandon_stale(&mut tx.conn(), Utc::now() - TimeDelta::hours(6))
                .await
                .is_ok()
            {
                let _ = tx.commit().await;
            }
        }
        let mut next: Vec<Option<DateTime<Utc>>> = state.jobs.iter().map(|j| j.next_after(Utc::now())).collect();
        loop {
            let now = Utc::now();
            for (job, due) in state.jobs.iter().zip(next.iter_mut()) {
                let Some(at) = *due else { continue };
                if at <= now {
                    let (state, name) = (state.clone(), job.name);
                    tokio::spawn(async move {
                        match run_now(&state, name, "scheduled", Some(at)).await {
                            Ok(run) => {
                                tracing::info!(job = name, status = %run.status, summary = ?run.summary, "scheduled job ran")
                            }
                            Err(RunError::Busy(_)) => {
                                tracing::info!(job = name, "scheduled job skipped: taken or still running")
                            }
                            Err(e) => tracing::warn!(job = name, error = %e, "scheduled job could not run"),
                        }
                    });
                    *due = job.next_after(now);
                }
            }
            let wake = next.iter().flatten().min().copied();
            let wait = wake
                .map(|w| (w - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(Duration::from_secs(60))
                .min(Duration::from_secs(60));
            tokio::time::sleep(wait.max(Duration::from_millis(200))).await;
        }
    });
}
