//! Invitations, sessions and presence.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use upzento_domain::wire::{
    ErrorBody, InvitationAcceptance, InvitationInfo, InvitationIssued, InvitationLookup,
    InvitationPreview, InvitationRequest, Presence, PresenceUpdate, SessionInfo, TokenResponse,
    is_email, password_problem,
};

use super::auth::{start_session, tenant_info};
use super::support::{Body, optional_text, public_base, text};
use crate::auth::{self, Caller};
use crate::error::AppError;
use crate::store::people::NewInvitation;
use crate::{AppState, INVITATION_LIFETIME, clock};

/// Prefix of invitation codes (told apart from tokens in logs and by secret scanners).
const CODE_PREFIX: &str = "uzi_";

fn new_code() -> anyhow::Result<(String, Vec<u8>)> {
    let (token, _) = auth::new_token()?;
    let code = format!("{CODE_PREFIX}{}", token.trim_start_matches("uzt_"));
    let hash = auth::token_hash(&code);
    Ok((code, hash))
}

/// Emails the invitation when the cloud has a mailer: whether it went, or why not (the
/// invitation stands either way; the admin can pass the code on).
async fn mail_it(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    invitation: InvitationInfo,
    code: String,
) -> InvitationIssued {
    let Some(mailer) = &state.mailer else {
        return InvitationIssued {
            invitation,
            code,
            emailed: false,
            email_problem: None,
        };
    };
    let mail = crate::mail::invitation(
        &invitation.email,
        &caller.user.name,
        &caller.tenant.name,
        invitation.role,
        &format!("{}/", public_base(state, headers)),
        &code,
        &invitation.expires_at,
    );
    let (emailed, email_problem) = match mailer.send(mail).await {
        Ok(()) => (true, None),
        Err(e) => {
            tracing::warn!(error = %e, invitation = %invitation.id, "invitation not emailed");
            (
                false,
                Some(format!(
                    "The invitation could not be emailed ({e}): pass the code on yourself."
                )),
            )
        }
    };
    InvitationIssued {
        invitation,
        code,
        emailed,
        email_problem,
    }
}

fn unknown_code() -> AppError {
    AppError::Rejected {
        status: StatusCode::NOT_FOUND,
        code: "invitation_not_found",
        message: "This invitation code is unknown, used, revoked or expired: ask your admin for a new one.".into(),
    }
}

/// Invites someone by email with a role. The answer holds the invitation's one-time code,
/// shown this once: the invited person enters it on the app's sign-in screen. With an SMTP
/// server configured the cloud emails it too (`emailed`, or `emailProblem` saying why not).
#[utoipa::path(
    post,
    path = "/phone-sms/invitations",
    tag = "auth",
    extensions(("x-permission" = json!("invitation:create"))),
    request_body = InvitationRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, body = InvitationIssued),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "The email signs in already, or is invited already", body = ErrorBody),
    )
)]
pub async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Body(request): Body<InvitationRequest>,
) -> Result<(StatusCode, Json<InvitationIssued>), AppError> {
    let email = text("email", &request.email, 254)?.to_lowercase();
    if !is_email(&email) {
        return Err(AppError::invalid_field(
            "email",
            "That is not an email address.",
        ));
    }
    let now = clock::now();
    let (code, code_hash) = new_code()?;
    let invitation = state
        .store
        .create_invitation(
            &caller.actor(),
            NewInvitation {
                email,
                role: request.role,
                code_hash,
                expires_at: now + INVITATION_LIFETIME,
            },
            now,
        )
        .await?;
    tracing::info!(user = %caller.user.id, invitation = %invitation.id, "invitation issued");
    let issued = mail_it(&state, &caller, &headers, invitation, code).await;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// The tenant's invitations, newest first (never their codes).
#[utoipa::path(
    get,
    path = "/phone-sms/invitations",
    tag = "auth",
    extensions(("x-permission" = json!("invitation:read"))),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<InvitationInfo>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    )
)]
pub async fn invitations(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<InvitationInfo>>, AppError> {
    Ok(Json(
        state
            .store
            .invitations(&caller.tenant.id, clock::now())
            .await?,
    ))
}

/// Sends an invitation again: a new code and a new expiry; the old code stops working.
#[utoipa::path(
    post,
    path = "/phone-sms/invitations/{id}/resend",
    tag = "auth",
    extensions(("x-permission" = json!("invitation:change"))),
    params(("id" = String, Path, description = "Invitation id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = InvitationIssued),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Accepted or revoked", body = ErrorBody),
    )
)]
pub async fn resend(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<InvitationIssued>, AppError> {
    let now = clock::now();
    let (code, code_hash) = new_code()?;
    let invitation = state
        .store
        .resend_invitation(
            &caller.actor(),
            &id,
            &code_hash,
            now + INVITATION_LIFETIME,
            now,
        )
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(
        mail_it(&state, &caller, &headers, invitation, code).await,
    ))
}

/// Revokes an invitation not accepted yet: its code stops working at once.
#[utoipa::path(
    delete,
    path = "/phone-sms/invitations/{id}",
    tag = "auth",
    extensions(("x-permission" = json!("invitation:delete"))),
    params(("id" = String, Path, description = "Invitation id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = InvitationInfo),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Accepted already", body = ErrorBody),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<InvitationInfo>, AppError> {
    state
        .store
        .revoke_invitation(&caller.actor(), &id, clock::now())
        .await?
        .map(Json)
        .ok_or(AppError::NotFound)
}

/// What an invitation code is for (the tenant, the email, the role), before accepting it.
#[utoipa::path(
    post,
    path = "/phone-sms/invitations/lookup",
    tag = "auth",
    request_body = InvitationLookup,
    responses(
        (status = 200, body = InvitationPreview),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 404, description = "Unknown, used, revoked or expired", body = ErrorBody),
    )
)]
pub async fn lookup(
    State(state): State<AppState>,
    Body(request): Body<InvitationLookup>,
) -> Result<Json<InvitationPreview>, AppError> {
    let hash = auth::token_hash(request.code.trim());
    let (invitation, tenant) = state
        .store
        .invitation_by_code(&hash, clock::now())
        .await?
        .ok_or_else(unknown_code)?;
    Ok(Json(InvitationPreview {
        email: invitation.email,
        role: invitation.role,
        tenant: tenant_info(&tenant),
        expires_at: invitation.expires_at,
    }))
}

/// Accepts an invitation: the invited person chooses their name and password, becomes a
/// user of the tenant with the invitation's email and role, and is signed in.
#[utoipa::path(
    post,
    path = "/phone-sms/invitations/accept",
    tag = "auth",
    request_body = InvitationAcceptance,
    responses(
        (status = 201, body = TokenResponse),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 404, description = "Unknown, used, revoked or expired", body = ErrorBody),
        (status = 409, description = "The email signs in already", body = ErrorBody),
    )
)]
pub async fn accept(
    State(state): State<AppState>,
    Body(request): Body<InvitationAcceptance>,
) -> Result<(StatusCode, Json<TokenResponse>), AppError> {
    let now = clock::now();
    let hash = auth::token_hash(request.code.trim());
    let name = text("name", &request.name, 100)?;
    let device = optional_text("device", request.device.as_deref(), 100)?;
    let (invitation, _) = state
        .store
        .invitation_by_code(&hash, now)
        .await?
        .ok_or_else(unknown_code)?;
    if let Some(problem) = password_problem(&request.password, &invitation.email) {
        return Err(AppError::invalid_field("password", problem));
    }
    let password = request.password;
    // Argon2 takes tens of milliseconds: off the async workers.
    let password_hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(anyhow::Error::from)??;
    let (user, tenant) = state
        .store
        .accept_invitation(&hash, &name, &password_hash, now)
        .await?
        .ok_or_else(unknown_code)?;
    tracing::info!(user = %user.id, tenant = %tenant.id, "invitation accepted");
    let session = start_session(&state, &user, &tenant, device, "sign_in", now).await?;
    Ok((StatusCode::CREATED, Json(session)))
}

/// The caller's signed-in sessions (their devices), newest first.
#[utoipa::path(
    get,
    path = "/phone-sms/me/sessions",
    tag = "auth",
    extensions(("x-permission" = json!("account:read"))),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<SessionInfo>), (status = 401, body = ErrorBody))
)]
pub async fn sessions(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<SessionInfo>>, AppError> {
    Ok(Json(
        state
            .store
            .sessions(&caller.actor(), &caller.token_hash, clock::now())
            .await?,
    ))
}

/// Ends one of the caller's sessions (a lost laptop): its token stops working at once.
#[utoipa::path(
    delete,
    path = "/phone-sms/me/sessions/{id}",
    tag = "auth",
    extensions(("x-permission" = json!("account:change"))),
    params(("id" = String, Path, description = "Session id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn end_session(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let ended = state
        .store
        .end_sessions(&caller.actor(), &caller.user.id, Some(&id), clock::now())
        .await?;
    if ended == 0 {
        return Err(AppError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Signs a user out everywhere (admins): every session of theirs ends at once (their API
/// tokens, for integrations, are revoked one by one).
#[utoipa::path(
    delete,
    path = "/phone-sms/users/{id}/sessions",
    tag = "auth",
    extensions(("x-permission" = json!("user:change"))),
    params(("id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out everywhere"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    if !state.store.user_in_tenant(&caller.tenant.id, &id).await? {
        return Err(AppError::NotFound);
    }
    state
        .store
        .end_sessions(&caller.actor(), &id, None, clock::now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets the caller's availability (`busy` is what the softphone says on a call; `offline`
/// is the cloud's to say, when no live connection of theirs is seen). Teammates see it
/// through the change feed, as `presence` changes.
#[utoipa::path(
    put,
    path = "/phone-sms/me/presence",
    tag = "auth",
    extensions(("x-permission" = json!("account:change"))),
    request_body = PresenceUpdate,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Presence),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn set_presence(
    State(state): State<AppState>,
    caller: Caller,
    Body(update): Body<PresenceUpdate>,
) -> Result<Json<Presence>, AppError> {
    Ok(Json(
        state
            .store
            .set_presence(
                &caller.actor(),
                update.status,
                clock::now(),
                state.presence_lease,
            )
            .await?,
    ))
}

/// Every active user's presence, in the order of `GET /phone-sms/users`.
#[utoipa::path(
    get,
    path = "/phone-sms/presence",
    tag = "auth",
    extensions(("x-permission" = json!("user:read"))),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<Presence>), (status = 401, body = ErrorBody))
)]
pub async fn presence(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Presence>>, AppError> {
    Ok(Json(
        state
            .store
            .presences(&caller.tenant.id, clock::now() - state.presence_lease)
            .await?,
    ))
}
