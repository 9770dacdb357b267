//! Runs of scheduled jobs. A run is claimed by inserting it as `running`: the partial unique
//! index `ux_job_runs_running` lets one run of a job be running at a time, across replicas.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{now, sql, Conn, FromRow, StoreResult};
use bodega_domain::{Page, PageRequest};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct JobRun {
    pub id: i64,
    pub job: String,
    /// scheduled or manual.
    pub trigger: String,
    /// running, succeeded or failed.
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// What the run did, in a line.
    pub summary: Option<String>,
    pub error: Option<String>,
}

const COLUMNS: &str = "id, job, trigger, status, started_at, finished_at, summary, error";

/// Claims a run of `job`. None when a run of it is already running, or (for scheduled runs)
/// when a run already started at or after `due` (another replica took this occurrence).
pub async fn claim(
    c: &mut Conn<'_>,
    job: &str,
    trigger: &str,
    due: Option<DateTime<Utc>>,
) -> StoreResult<Option<JobRun>> {
    if let Some(due) = due {
        let taken: Option<i64> = sql::query_scalar(
            "SELECT id FROM job_runs WHERE job = $1 AND trigger = 'scheduled' AND started_at >= $2 LIMIT 1",
        )
        .bind(job)
        .bind(due)
        .fetch_optional(c)
        .await?;
        if taken.is_some() {
            return Ok(None);
        }
    }
    // ON CONFLICT … DO NOTHING rather than catching the unique violation: on PostgreSQL an
    // error would abort the caller's transaction.
    sql::query_as(format!(
        "INSERT INTO job_runs (job, trigger, status, started_at) VALUES ($1, $2, 'running', $3) \
         ON CONFLICT (job) WHERE status = 'running' DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(job)
    .bind(trigger)
    .bind(now())
    .fetch_optional(c)
    .await
}

/// Records a run's outcome.
pub async fn finish(c: &mut Conn<'_>, id: i64, outcome: Result<&str, &str>) -> StoreResult<JobRun> {
    let (status, summary, error) = match outcome {
        Ok(summary) => ("succeeded", Some(summary), None),
        Err(error) => ("failed", None, Some(error)),
    };
    sql::query_as(format!(
        "UPDATE job_runs SET status = $1, summary = $2, error = $3, finished_at = $4 WHERE id = $5 RETURNING {COLUMNS}"
    ))
    .bind(status)
    .bind(summary)
    .bind(error)
    .bind(now())
    .bind(id)
    .fetch_one(c)
    .await
}

/// Marks runs still `running` since before `before` as failed: their process died.
pub async fn abandon_stale(c: &mut Conn<'_>, before: DateTime<Utc>) -> StoreResult<u64> {
    sql::query(
        "UPDATE job_runs SET status = 'failed', error = 'abandoned: the process running it stopped', finished_at = $1 \
         WHERE status = 'running' AND started_at < $2",
    )
    .bind(now())
    .bind(before)
    .execute(c)
    .await
}

/// The newest run of a job.
pub async fn last_run(c: &mut Conn<'_>, job: &str) -> StoreResult<Option<JobRun>> {
    sql::query_as(format!(
        "SELECT {COLUMNS} FROM job_runs WHERE job = $1 ORDER BY id DESC LIMIT 1"
    ))
    .bind(job)
    .fetch_optional(c)
    .await
}

/// Runs, newest first, of one job or all.
pub async fn runs(c: &mut Conn<'_>, job: Option<&str>, page: PageRequest) -> StoreResult<Page<JobRun>> {
    const WHERE: &str = "WHERE ($1 IS NULL OR job = $1)";
    let total: i64 = sql::query_scalar(format!("SELECT COUNT(*) FROM job_runs {WHERE}"))
        .bind(job)
        .fetch_one(c)
        .await?;
    let items: Vec<JobRun> = sql::query_as(format!(
        "SELECT {COLUMNS} FROM job_runs {WHERE} ORDER BY id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(job)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(c)
    .await?;
    Ok(Page::new(items, total, page))
}
