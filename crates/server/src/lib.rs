//! Bodega's HTTP surface. A request crosses: middleware ([`app`]) → handler ([`routes`]) →
//! authorization ([`auth::Caller::require`]) → storage (`bodega_store`), and back through
//! [`error::ApiError`], the one place that maps failures to responses.

pub mod app;
pub mod auth;
pub mod config;
pub mod error;
pub mod extract;
pub mod forecasting;
pub mod jobs;
pub mod recommender;
pub mod routes;
pub mod state;
pub mod telemetry;

use std::future::Future;
use std::net::SocketAddr;

pub use config::Config;
pub use state::AppState;

/// Serves the application on `listener` until `shutdown` resolves, then drains requests.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    state.spawn_background();
    let app = app::router(state.clone());
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await?;
    state.db.close().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
