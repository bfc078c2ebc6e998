//! Health, sign-in and identity.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use upzento_domain::wire::{
    ApiTokenInfo, ApiTokenRequest, ApiTokenResponse, ErrorBody, Health, Me, PasswordChange, Role,
    SERVICE_NAME, TenantInfo, TokenRequest, TokenResponse, UserInfo, UserPatch, password_problem,
};

use super::support::{Body, text};
use crate::auth::{self, Caller};
use crate::error::AppError;
use crate::store::{Actor, NewToken, Tenant, TokenKind, User, entity};
use crate::{AppState, SESSION_LIFETIME, clock};

pub fn user_info(user: &User) -> UserInfo {
    UserInfo {
        id: user.id.clone(),
        name: user.name.clone(),
        email: user.email.clone(),
        role: user.role,
        password_change_required: user.password_change_required,
        active: user.active,
    }
}

pub fn tenant_info(tenant: &Tenant) -> TenantInfo {
    TenantInfo {
        id: tenant.id.clone(),
        name: tenant.name.clone(),
    }
}

/// Whether the server is up, and that it is an Upzento cloud.
#[utoipa::path(get, path = "/healthz", tag = "auth", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        service: SERVICE_NAME.into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// Exchanges a user's email and password for a session token.
#[utoipa::path(
    post,
    path = "/phone-sms/auth/token",
    tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, description = "Wrong email or password", body = ErrorBody),
        (status = 429, description = "Too many failed sign-ins for this email: locked for a while", body = ErrorBody),
    )
)]
pub async fn issue_token(
    State(state): State<AppState>,
    Body(request): Body<TokenRequest>,
) -> Result<Json<TokenResponse>, AppError> {
    if request.email.trim().is_empty() {
        return Err(AppError::invalid_field("email", "The email is empty."));
    }
    let now = clock::now();
    let email = request.email.trim().to_lowercase();
    // Guessing stops after a few tries, for any email (whether it exists is never told).
    let failures = state
        .store
        .sign_in_failures(&email, now - SIGN_IN_LOCKOUT)
        .await?;
    if failures >= SIGN_IN_TRIES {
        return Err(AppError::Rejected {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "too_many_attempts",
            message: format!(
                "Too many failed sign-ins for this email: try again in {} minutes.",
                SIGN_IN_LOCKOUT.whole_minutes()
            ),
        });
    }
    let found = state.store.user_for_sign_in(&email).await?;
    let (user, stored) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    let password = request.password;
    // Argon2 takes tens of milliseconds: keep it off the async workers.
    let ok =
        tokio::task::spawn_blocking(move || auth::verify_password(&password, stored.as_deref()))
            .await
            .map_err(anyhow::Error::from)?;
    let user = match user {
        Some(user) if ok => user,
        _ => {
            state
                .store
                .record_sign_in_failure(&email, now, now - SIGN_IN_LOCKOUT)
                .await?;
            return Err(AppError::Unauthorized("Wrong email or password."));
        }
    };
    state.store.clear_sign_in_failures(&email).await?;
    let tenant = state
        .store
        .tenant(&user.tenant_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("user {} has no tenant", user.id))?;
    let device = super::support::optional_text("device", request.device.as_deref(), 100)?;
    Ok(Json(
        start_session(&state, &user, &tenant, device, "sign_in", now).await?,
    ))
}

/// Issues a session token for `user` (signed in, or just joined through an invitation).
pub async fn start_session(
    state: &AppState,
    user: &User,
    tenant: &Tenant,
    device: Option<String>,
    action: &str,
    now: time::OffsetDateTime,
) -> Result<TokenResponse, AppError> {
    let (token, hash) = auth::new_token()?;
    let expires_at = now + SESSION_LIFETIME;
    state
        .store
        .insert_token(
            NewToken {
                id: uuid::Uuid::now_v7().to_string(),
                hash,
                user_id: user.id.clone(),
                tenant_id: tenant.id.clone(),
                kind: TokenKind::Session,
                label: device,
                expires_at: Some(expires_at),
            },
            now,
        )
        .await?;
    let actor = Actor {
        tenant_id: tenant.id.clone(),
        user_id: user.id.clone(),
    };
    state
        .store
        .audit_event(&actor, action, entity::TOKEN, "session", now)
        .await?;
    tracing::info!(user = %user.id, tenant = %tenant.id, "session token issued");
    Ok(TokenResponse {
        token,
        expires_at: clock::rfc3339(expires_at),
        user: user_info(user),
        tenant: tenant_info(tenant),
    })
}

/// Failed sign-ins an email may have within [`SIGN_IN_LOCKOUT`] before it is locked.
const SIGN_IN_TRIES: i64 = 5;
/// How long failed sign-ins count, and so how long a lock-out lasts.
const SIGN_IN_LOCKOUT: time::Duration = time::Duration::minutes(15);

/// Replaces the caller's password (an initial one must be, before anything else). Every
/// other session and token of theirs ends; this one goes on.
#[utoipa::path(
    post,
    path = "/phone-sms/me/password",
    tag = "auth",
    extensions(("x-permission" = json!("account:change"))),
    request_body = PasswordChange,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Changed"),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The current password is wrong", body = ErrorBody),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    Body(change): Body<PasswordChange>,
) -> Result<StatusCode, AppError> {
    if let Some(problem) = password_problem(&change.new_password, &caller.user.email) {
        return Err(AppError::invalid_field("newPassword", problem));
    }
    if change.new_password == change.current_password {
        return Err(AppError::invalid_field(
            "newPassword",
            "The new password is the current one.",
        ));
    }
    let (_, stored) = state
        .store
        .user_for_sign_in(&caller.user.email)
        .await?
        .ok_or(AppError::Unauthorized(
            "The token is unknown or has expired.",
        ))?;
    let (current, new) = (change.current_password, change.new_password);
    // Argon2 takes tens of milliseconds: off the async workers.
    let hash = tokio::task::spawn_blocking(move || {
        auth::verify_password(&current, stored.as_deref())
            .then(|| auth::hash_password(&new))
            .transpose()
    })
    .await
    .map_err(anyhow::Error::from)??
    .ok_or_else(|| AppError::Rejected {
        status: StatusCode::FORBIDDEN,
        code: "wrong_password",
        message: "The current password is wrong.".into(),
    })?;
    state
        .store
        .set_password(&caller.actor(), &hash, &caller.token_hash, clock::now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tenant's users (teammates to assign conversations and calls to), by name.
#[utoipa::path(
    get,
    path = "/phone-sms/users",
    tag = "auth",
    extensions(("x-permission" = json!("user:read"))),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<UserInfo>), (status = 401, body = ErrorBody))
)]
pub async fn users(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<UserInfo>>, AppError> {
    let users = state.store.tenant_users(&caller.tenant.id).await?;
    Ok(Json(users.iter().map(user_info).collect()))
}

/// Changes a user's role, or deactivates (their sessions and tokens end at once, their open
/// work goes to `reassignTo` or waits unassigned, their history stays) or reactivates them.
/// The tenant always keeps one active admin.
#[utoipa::path(
    patch,
    path = "/phone-sms/users/{id}",
    tag = "auth",
    extensions(("x-permission" = json!("user:change"))),
    params(("id" = String, Path, description = "User id")),
    request_body = UserPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, body = UserInfo),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The last active admin", body = ErrorBody),
    )
)]
pub async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(patch): Body<UserPatch>,
) -> Result<Json<UserInfo>, AppError> {
    if let Some(to) = &patch.reassign_to {
        let users = state.store.tenant_users(&caller.tenant.id).await?;
        if *to == id || !users.iter().any(|u| u.id == *to && u.active) {
            return Err(AppError::invalid_field(
                "reassignTo",
                "Their work goes to another active user of this tenant.",
            ));
        }
    }
    let change = crate::store::accounts::UserChange {
        role: patch.role,
        active: patch.active,
        reassign_to: patch.reassign_to,
    };
    let user = state
        .store
        .update_user(&caller.actor(), &id, change, clock::now())
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(user_info(&user)))
}

/// Who the bearer token belongs to.
#[utoipa::path(
    get,
    path = "/phone-sms/me",
    tag = "auth",
    extensions(("x-permission" = json!("account:read"))),
    security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody))
)]
pub async fn me(caller: Caller) -> Json<Me> {
    Json(Me {
        user: user_info(&caller.user),
        tenant: tenant_info(&caller.tenant),
    })
}

/// Signs out: the bearer token of this request stops working.
#[utoipa::path(
    delete,
    path = "/phone-sms/auth/token",
    tag = "auth",
    extensions(("x-permission" = json!("apiToken:delete"))),
    security(("bearer" = [])),
    responses((status = 204, description = "Revoked"), (status = 401, body = ErrorBody))
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<StatusCode, AppError> {
    state.store.revoke_token(&caller.token_hash).await?;
    state
        .store
        .presence_gone(&caller.tenant.id, &caller.user.id, clock::now())
        .await?;
    state
        .store
        .audit_event(
            &caller.actor(),
            "sign_out",
            entity::TOKEN,
            "current",
            clock::now(),
        )
        .await?;
    tracing::info!(user = %caller.user.id, "token revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// Issues a long-lived API token for the caller (a machine, an integration, a shared desk).
/// The token is shown once; the cloud keeps only its hash.
#[utoipa::path(
    post,
    path = "/phone-sms/auth/api-tokens",
    tag = "auth",
    extensions(("x-permission" = json!("apiToken:create"))),
    request_body = ApiTokenRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, body = ApiTokenResponse),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn issue_api_token(
    State(state): State<AppState>,
    caller: Caller,
    Body(request): Body<ApiTokenRequest>,
) -> Result<(StatusCode, Json<ApiTokenResponse>), AppError> {
    let label = text("label", &request.label, 100)?;
    let now = clock::now();
    let (token, hash) = auth::new_token()?;
    let id = uuid::Uuid::now_v7().to_string();
    state
        .store
        .insert_token(
            NewToken {
                id: id.clone(),
                hash,
                user_id: caller.user.id.clone(),
                tenant_id: caller.tenant.id.clone(),
                kind: TokenKind::Api,
                label: Some(label.clone()),
                expires_at: None,
            },
            now,
        )
        .await?;
    state
        .store
        .audit_event(&caller.actor(), "issue_api_token", entity::TOKEN, &id, now)
        .await?;
    tracing::info!(user = %caller.user.id, %label, "API token issued");
    Ok((
        StatusCode::CREATED,
        Json(ApiTokenResponse {
            id,
            token,
            label,
            created_at: clock::rfc3339(now),
        }),
    ))
}

/// The caller's API tokens; an admin's list holds every API token of the tenant.
#[utoipa::path(
    get,
    path = "/phone-sms/auth/api-tokens",
    tag = "auth",
    extensions(("x-permission" = json!("apiToken:read"))),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<ApiTokenInfo>), (status = 401, body = ErrorBody))
)]
pub async fn list_api_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ApiTokenInfo>>, AppError> {
    let only = (caller.user.role != Role::Admin).then_some(caller.user.id.as_str());
    Ok(Json(
        state.store.list_api_tokens(&caller.tenant.id, only).await?,
    ))
}

/// Revokes an API token at once (one's own; an admin any of the tenant's).
#[utoipa::path(
    delete,
    path = "/phone-sms/auth/api-tokens/{id}",
    tag = "auth",
    extensions(("x-permission" = json!("apiToken:delete"))),
    params(("id" = String, Path, description = "API token id")),
    security(("bearer" = [])),
    responses((status = 204, description = "Revoked"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn revoke_api_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let only = (caller.user.role != Role::Admin).then_some(caller.user.id.as_str());
    if !state
        .store
        .revoke_api_token(&caller.tenant.id, only, &id)
        .await?
    {
        return Err(AppError::NotFound);
    }
    state
        .store
        .audit_event(
            &caller.actor(),
            "revoke_api_token",
            entity::TOKEN,
            &id,
            clock::now(),
        )
        .await?;
    tracing::info!(user = %caller.user.id, %id, "API token revoked");
    Ok(StatusCode::NO_CONTENT)
}
