//! `/health` (status with each dependency) and `/metrics` (Prometheus text format).

use std::time::Instant;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(metrics))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` when every required dependency is up, `degraded` when an optional one is down,
    /// `down` when a required one is.
    pub status: &'static str,
    pub version: &'static str,
    pub uptime_seconds: u64,
    pub dependencies: Vec<Dependency>,
}

#[derive(Serialize, ToSchema)]
pub struct Dependency {
    pub name: &'static str,
    pub kind: &'static str,
    pub required: bool,
    /// `up` or `down`.
    pub status: &'static str,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Health of the service and of each dependency; 503 when a required one is down.
#[utoipa::path(get, path = "/health", tag = "system",
    responses((status = 200, body = Health), (status = 503, body = Health)), security(()))]
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let started = Instant::now();
    let ping = tokio::time::timeout(std::time::Duration::from_secs(5), state.db.ping()).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let error = match ping {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some("timed out after 5 s".to_string()),
    };
    let database = Dependency {
        name: "database",
        kind: state.db.backend().name(),
        required: true,
        status: if error.is_none() { "up" } else { "down" },
        latency_ms,
        error,
    };
    let dependencies = vec![database];
    let required_down = dependencies.iter().any(|d| d.required && d.status != "up");
    let optional_down = dependencies.iter().any(|d| !d.required && d.status != "up");
    let status = if required_down {
        "down"
    } else if optional_down {
        "degraded"
    } else {
        "ok"
    };
    let code = if required_down {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let body = Health {
        status,
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.started.elapsed().as_secs(),
        dependencies,
    };
    (code, Json(body))
}

/// Request counts and latencies per route, in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain")), security(()))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
