//! Assembles the router: every area's routes, the OpenAPI document and its docs page, and the
//! middleware every request crosses (request id, one log line and metrics per request, CORS,
//! security headers, body limit, panic catching, JSON fallbacks).

use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tracing::Instrument;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;
use crate::routes;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Bodega API", description = "Retail ERP with machine learning built in. Errors always have the shape {\"error\":{\"code\",\"message\",\"field\"}}."),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Sign in, tokens, profile"),
        (name = "users", description = "User administration"),
        (name = "roles", description = "Roles and permissions"),
        (name = "api-keys", description = "Keys for services (x-api-key)"),
        (name = "audit", description = "Audit log"),
        (name = "customers"), (name = "employees"), (name = "suppliers"),
        (name = "catalogue", description = "Warehouses, categories, products"),
        (name = "stock", description = "Movement ledger, levels, transfers, reservations"),
        (name = "orders", description = "Sales orders and their saga"),
        (name = "sales", description = "Till sales, sales history and stats"),
        (name = "alerts", description = "Stock alerts and reorder requests"),
        (name = "imports", description = "CSV import and export"),
        (name = "ml", description = "The ML contract of seed 000 (x-api-key): recommendations, interactions, similar products, model metrics and training"),
        (name = "recommendations", description = "Recommendations for baskets, customers and sales; similar products"),
        (name = "analytics", description = "Sales metrics and reports over a date range, JSON or CSV"),
        (name = "jobs", description = "Scheduled jobs and their runs"),
        (name = "forecasting", description = "Demand forecasts, their accuracy, reorder advice"),
        (name = "system", description = "Health and metrics"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))),
        );
    }
}

const CSP: &str =
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'";

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::auth::router())
        .merge(routes::users::router())
        .merge(routes::roles::router())
        .merge(routes::api_keys::router())
        .merge(routes::audit::router())
        .merge(routes::people::router())
        .merge(routes::catalog::router())
        .merge(routes::stock::router())
        .merge(routes::orders::router())
        .merge(routes::sales::router())
        .merge(routes::alerts::router())
        .merge(routes::imports::router())
        .merge(routes::recommendations::router())
        .merge(routes::analytics::router())
        .merge(routes::forecasting::router())
        .merge(routes::jobs::router())
        .merge(routes::system::router())
}

/// The whole application, ready to serve.
pub fn router(state: AppState) -> Router {
    let (api, doc) = api_router().split_for_parts();
    let x_request_id = HeaderName::from_static("x-request-id");
    api.merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", doc))
        .route("/", axum::routing::get(|| async { Redirect::temporary("/api/docs/") }))
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed("method not allowed on this route".into()) })
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("handler panicked");
            ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        // Security headers, unless a handler set its own: no MIME sniffing, no framing, no
        // referrer, and a same-origin content security policy.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(cors(&state.config.cors_origin_list()))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        .with_state(state)
}

/// One structured log line and the Prometheus series per request, inside a span that carries
/// the request id so every log line of the request can be found by it.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let span = tracing::info_span!("request", request_id = %request_id, method = %method, route = %route);
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    if method != Method::GET && response.status().is_success() {
        // A write committed: let the relay publish its events now rather than at its next tick.
        state.events.nudge();
    }
    let labels = [
        ("method", method.to_string()),
        ("route", route),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
    span.in_scope(|| {
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        if status >= 500 {
            tracing::error!(status, latency_ms, "request failed");
        } else {
            tracing::info!(status, latency_ms, "request");
        }
    });
    response
}

/// CORS from the configured allow-list. `*` allows any origin but then never credentials.
fn cors(origins: &[String]) -> CorsLayer {
    let base = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-api-key"),
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([HeaderName::from_static("x-request-id")])
        .max_age(Duration::from_secs(600));
    if origins.iter().any(|o| o == "*") {
        return base.allow_origin(AllowOrigin::any());
    }
    let list: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    base.allow_origin(AllowOrigin::list(list)).allow_credentials(true)
}

/// Status for unknown routes (used by tests).
pub const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;
