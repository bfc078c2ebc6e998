//! `/phone-sms/sandbox`: the built-in carrier's side door, for demos and tests:
//! an admin makes it "receive" an SMS, which then goes through the same inbound
//! path as a provider's webhook. Absent (404) when a real provider is configured.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use upzento_domain::resources::{SandboxInbound, SmsMessage};
use upzento_domain::wire::ErrorBody;

use super::support::{Body, text};
use crate::auth::Caller;
use crate::error::AppError;
use crate::inbound::{self, InboundSms, Received};
use crate::{AppState, carrier, clock};

/// Delivers an inbound SMS through the sandbox carrier (admins).
#[utoipa::path(
    post,
    path = "/phone-sms/sandbox/inbound",
    tag = "sandbox",
    extensions(("x-permission" = json!("sandbox:create"))),
    request_body = SandboxInbound,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Received", body = SmsMessage),
        (status = 200, description = "The same message id was delivered before", body = SmsMessage),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No tenant has that number, or no sandbox here", body = ErrorBody),
    )
)]
pub async fn inbound(
    State(state): State<AppState>,
    caller: Caller,
    Body(sms): Body<SandboxInbound>,
) -> Result<(StatusCode, Json<SmsMessage>), AppError> {
    if state.carrier.name() != carrier::SANDBOX {
        return Err(AppError::NotFound);
    }
    let body = text("body", &sms.body, 1600)?;
    // Only into the caller's own tenant: the number must be one of its numbers.
    let to = super::support::e164("to", &sms.to)?;
    match state.store.route_inbound(&to).await? {
        Some((tenant, _)) if tenant == caller.tenant.id => {}
        _ => {
            return Err(AppError::invalid_field(
                "to",
                "Not an active SMS number of this tenant.",
            ));
        }
    }
    let message_id = match sms.message_id {
        Some(id) => text("messageId", &id, 64)?,
        None => format!("SBIN{}", uuid::Uuid::now_v7().simple()),
    };
    let received = inbound::receive(
        &state,
        InboundSms {
            to,
            from: sms.from,
            body,
            provider: carrier::SANDBOX.into(),
            provider_message_id: message_id,
        },
        clock::now(),
    )
    .await?;
    match received {
        Received::Stored(m) => Ok((StatusCode::CREATED, Json(m))),
        Received::Duplicate(m) => Ok((StatusCode::OK, Json(m))),
        Received::UnknownNumber => Err(AppError::NotFound),
    }
}
