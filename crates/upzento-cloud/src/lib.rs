//! upzento-cloud: the tenant cloud API of the Phone & SMS module.
//!
//! Handlers read the clock and pass `now` down; storage sits behind [`store::Store`];
//! every failure becomes an [`error::AppError`] answered as `{code, message, field}`.

pub mod auth;
pub mod demo;
pub mod error;
pub mod store;

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use upzento_domain::wire::{
    Health, Me, SERVICE_NAME, TenantInfo, TokenRequest, TokenResponse, UserInfo,
};

use crate::auth::Caller;
use crate::error::AppError;
use crate::store::{NewToken, Store, Tenant, TokenKind, User};

/// Largest request body accepted; larger ones get 413.
pub const BODY_LIMIT: usize = 256 * 1024;
/// Lifetime of a session token issued at sign-in.
pub const SESSION_LIFETIME: time::Duration = time::Duration::days(30);

#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/phone-sms/auth/token", post(issue_token))
        .route("/phone-sms/me", get(me))
        .fallback(|| async { AppError::NotFound })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        service: SERVICE_NAME.into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

fn user_info(user: &User) -> UserInfo {
    UserInfo {
        id: user.id.clone(),
        name: user.name.clone(),
        email: user.email.clone(),
        role: user.role,
    }
}

fn tenant_info(tenant: &Tenant) -> TenantInfo {
    TenantInfo {
        id: tenant.id.clone(),
        name: tenant.name.clone(),
    }
}

async fn issue_token(
    State(state): State<AppState>,
    body: Result<Json<TokenRequest>, JsonRejection>,
) -> Result<Json<TokenResponse>, AppError> {
    let Json(request) = body?;
    if request.email.trim().is_empty() {
        return Err(AppError::invalid_field("email", "The email is empty."));
    }
    let now = OffsetDateTime::now_utc();
    let found = state.store.user_for_sign_in(request.email.trim()).await?;
    let (user, hash) = match &found {
        Some((user, hash)) => (Some(user), hash.as_deref()),
        None => (None, None),
    };
    let password = request.password.clone();
    let stored = hash.map(str::to_owned);
    // Argon2 takes tens of milliseconds: keep it off the async workers.
    let ok =
        tokio::task::spawn_blocking(move || auth::verify_password(&password, stored.as_deref()))
            .await
            .map_err(anyhow::Error::from)?;
    let user = match user {
        Some(user) if ok => user,
        _ => return Err(AppError::Unauthorized("Wrong email or password.")),
    };
    let tenant = state
        .store
        .tenant(&user.tenant_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("user {} has no tenant", user.id))?;
    let (token, hash) = auth::new_token()?;
    let expires_at = now + SESSION_LIFETIME;
    state
        .store
        .insert_token(
            NewToken {
                hash,
                user_id: user.id.clone(),
                tenant_id: tenant.id.clone(),
                kind: TokenKind::Session,
                label: None,
                expires_at: Some(expires_at),
            },
            now,
        )
        .await?;
    tracing::info!(user = %user.id, tenant = %tenant.id, "session token issued");
    Ok(Json(TokenResponse {
        token,
        expires_at: expires_at.format(&Rfc3339).map_err(anyhow::Error::from)?,
        user: user_info(user),
        tenant: tenant_info(&tenant),
    }))
}

async fn me(caller: Caller) -> Json<Me> {
    Json(Me {
        user: user_info(&caller.user),
        tenant: tenant_info(&caller.tenant),
    })
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
