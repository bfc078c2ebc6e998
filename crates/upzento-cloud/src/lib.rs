//! upzento-cloud: the tenant cloud API of the Phone & SMS module.
//!
//! Handlers read the clock and pass `now` down; storage sits behind [`store::Store`];
//! every failure becomes an [`error::AppError`] answered as `{code, message, field}`.

pub mod api;
pub mod auth;
pub mod clock;
pub mod demo;
pub mod error;
pub mod store;

use std::sync::Arc;

use axum::Router;

use crate::store::Store;

/// Largest request body accepted; larger ones get 413.
pub const BODY_LIMIT: usize = 256 * 1024;
/// Lifetime of a session token issued at sign-in.
pub const SESSION_LIFETIME: time::Duration = time::Duration::days(30);

#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
}

pub fn router(state: AppState) -> Router {
    api::router(state)
}

/// Serves until Ctrl+C or SIGTERM.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> anyhow::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
