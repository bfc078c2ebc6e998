//! upzento-cloud: the tenant cloud API of the Phone & SMS module.
//!
//! Handlers read the clock and pass `now` down; storage sits behind [`store::Store`];
//! every failure becomes an [`error::AppError`] answered as `{code, message, field}`.

pub mod api;
pub mod auth;
pub mod campaigns;
pub mod carrier;
pub mod clock;
pub mod demo;
pub mod error;
pub mod events;
pub mod inbound;
pub mod mail;
pub mod outbound;
pub mod store;
pub mod tenants;

use std::sync::Arc;

use axum::Router;

use tokio::sync::Notify;

use crate::carrier::{Provider, Sandbox};
use crate::events::ChangeHub;
use crate::store::Store;

/// Largest request body accepted; larger ones get 413.
pub const BODY_LIMIT: usize = 256 * 1024;
/// Lifetime of a session token issued at sign-in.
pub const SESSION_LIFETIME: time::Duration = time::Duration::days(30);
/// How long an invitation's code works.
pub const INVITATION_LIFETIME: time::Duration = time::Duration::days(7);
/// How long a user stays present without a live connection of theirs being seen (each
/// open event stream renews it three times per lease).
pub const PRESENCE_LEASE: time::Duration = time::Duration::seconds(60);

#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub carrier: Arc<dyn Provider>,
    /// Wakes this node's carrier worker when a message is queued here.
    pub carrier_wake: Arc<Notify>,
    /// Wakes this node's campaign runner when a campaign starts here.
    pub campaign_wake: Arc<Notify>,
    /// Wakes open event streams when their tenant has new changes.
    pub hub: Arc<ChangeHub>,
    /// Whether this node runs the carrier worker and the campaign runner (an
    /// API-only node leaves them to the others).
    pub workers: bool,
    /// Our public base URL as providers call it (webhook signatures cover it); `None`:
    /// the Host header the request came with.
    pub public_url: Option<String>,
    /// The carrier worker's lease and send timeout.
    pub carrier_timing: carrier::Timing,
    /// See [`PRESENCE_LEASE`].
    pub presence_lease: time::Duration,
    /// Sends invitation emails; `None`: admins pass the code on themselves.
    pub mailer: Option<Arc<dyn mail::Mailer>>,
    /// How far ahead of now the campaign runner judges recipients' time of day (0 in use;
    /// tests and demos set it: see `campaigns::run`).
    pub quiet_hours_ahead_ms: i64,
}

impl AppState {
    /// A state with the built-in sandbox carrier.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_carrier(store, Arc::new(Sandbox::default()))
    }

    pub fn with_carrier(store: Arc<dyn Store>, carrier: Arc<dyn Provider>) -> Self {
        Self {
            store,
            carrier,
            carrier_wake: Arc::new(Notify::new()),
            campaign_wake: Arc::new(Notify::new()),
            hub: Arc::new(ChangeHub::default()),
            workers: true,
            public_url: None,
            carrier_timing: carrier::Timing::default(),
            presence_lease: PRESENCE_LEASE,
            mailer: None,
            quiet_hours_ahead_ms: 0,
        }
    }
}

/// How often the carrier worker looks for due messages queued by other nodes.
pub const CARRIER_POLL: std::time::Duration = std::time::Duration::from_millis(200);
/// How often the campaign runner looks for due schedules and pending recipients.
pub const CAMPAIGN_POLL: std::time::Duration = std::time::Duration::from_secs(1);

pub fn router(state: AppState) -> Router {
    api::router(state)
}

/// Serves until Ctrl+C or SIGTERM.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> anyhow::Result<()> {
    state
        .store
        .start_change_notifications(state.hub.clone())
        .await?;
    // Every node sweeps: presence must lapse even when the nodes with workers are gone.
    let mut workers = vec![tokio::spawn(sweep_presence(
        state.store.clone(),
        state.presence_lease,
    ))];
    if state.workers {
        workers.push(tokio::spawn(carrier::run_worker(
            state.store.clone(),
            state.carrier.clone(),
            state.carrier_wake.clone(),
            CARRIER_POLL,
            state.carrier_timing,
            state.quiet_hours_ahead_ms,
        )));
        workers.push(tokio::spawn(campaigns::run(
            state.store.clone(),
            state.carrier.name().to_owned(),
            state.campaign_wake.clone(),
            state.carrier_wake.clone(),
            CAMPAIGN_POLL,
            // Twice the carrier's: 60 s by default. A runner outliving it is harmless (each
            // recipient's message is queued under an idempotency key).
            state.carrier_timing.lease * 2,
            state.quiet_hours_ahead_ms,
        )));
    }
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await;
    for worker in workers {
        worker.abort();
    }
    Ok(served?)
}

/// Tells teammates, through the change feed, who went offline: users with no live
/// connection seen for a lease.
async fn sweep_presence(store: Arc<dyn Store>, lease: time::Duration) {
    let every = (lease / 4_i32)
        .unsigned_abs()
        .max(std::time::Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        let now = clock::now();
        if let Err(e) = store.sweep_presence(now - lease, now).await {
            tracing::warn!(error = ?e, "presence sweep");
        }
    }
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
