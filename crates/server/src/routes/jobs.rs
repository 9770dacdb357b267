//! `/api/jobs`: the scheduled jobs, their runs, and runs on demand.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use bodega_domain::{Page, PageRequest};
use bodega_store::jobs::{self, JobRun};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiQuery;
use crate::jobs::{run_now, RunError};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(list_runs))
        .routes(routes!(run_job))
}

#[derive(Serialize, ToSchema)]
pub struct JobInfo {
    pub name: String,
    pub description: String,
    /// Cron expression (minute hour day-of-month month day-of-week), UTC.
    pub cron: String,
    pub next_run_at: Option<DateTime<Utc>>,
    pub last_run: Option<JobRun>,
}

/// The scheduled jobs with their schedule, next run and last run.
#[utoipa::path(get, path = "/api/jobs", tag = "jobs",
    responses((status = 200, body = Vec<JobInfo>)), security(("bearer" = []), ("api_key" = [])))]
async fn list_jobs(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<JobInfo>>> {
    caller.require("jobs", "read")?;
    let mut reader = state.db.read().await?;
    let mut out = Vec::with_capacity(state.jobs.len());
    for job in state.jobs.iter() {
        out.push(JobInfo {
            name: job.name.to_string(),
            description: job.description.to_string(),
            cron: job.cron.clone(),
            next_run_at: job.next_after(Utc::now()),
            last_run: jobs::last_run(&mut reader.conn(), job.name).await?,
        });
    }
    Ok(Json(out))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// Only this job's runs.
    pub job: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// Runs, newest first: when each started and ended, how it went, what it did.
#[utoipa::path(get, path = "/api/jobs/runs", tag = "jobs", params(RunsQuery),
    responses((status = 200, body = Page<JobRun>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn list_runs(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<RunsQuery>,
) -> ApiResult<Json<Page<JobRun>>> {
    caller.require("jobs", "read")?;
    let page = PageRequest::parse(q.page, q.per_page)?;
    if let Some(job) = &q.job {
        if !state.jobs.iter().any(|j| j.name == job) {
            return Err(ApiError::NotFound(format!("job '{job}'")));
        }
    }
    let mut reader = state.db.read().await?;
    Ok(Json(jobs::runs(&mut reader.conn(), q.job.as_deref(), page).await?))
}

/// Runs a job now and answers with the finished run (its status says whether it succeeded).
/// 409 when a run of the job is in progress.
#[utoipa::path(post, path = "/api/jobs/{name}/run", tag = "jobs", params(("name" = String, Path)),
    responses((status = 201, body = JobRun), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn run_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<(StatusCode, Json<JobRun>)> {
    caller.require("jobs", "create")?;
    match run_now(&state, &name, "manual", None).await {
        Ok(run) => Ok((StatusCode::CREATED, Json(run))),
        Err(RunError::Unknown(name)) => Err(ApiError::NotFound(format!("job '{name}'"))),
        Err(e @ RunError::Busy(_)) => Err(ApiError::Conflict {
            field: None,
            message: e.to_string(),
        }),
        Err(RunError::Failed(e)) => Err(ApiError::Internal(e)),
    }
}
