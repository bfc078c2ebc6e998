//! `/phone-sms/messages`: sending SMS (exactly once per `Idempotency-Key`) and
//! correcting a message's status.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use upzento_domain::resources::{
    MessageStatus, MessageStatusUpdate, NewSmsMessage, SmsMessage, SmsTemplate,
};
use upzento_domain::wire::ErrorBody;

use super::support::{
    Body, MESSAGE_MAX, e164, found, opened_in_scope, optional_text, text, visible_conversation,
};
use crate::auth::Caller;
use crate::error::AppError;
use crate::outbound::{self, Outbound, can_text};
use crate::{AppState, clock};

const KEY_MAX: usize = 200;

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, AppError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= KEY_MAX)
        .ok_or_else(|| {
            AppError::bad_request(
                "invalid_idempotency_key",
                format!("Idempotency-Key must be 1 to {KEY_MAX} visible ASCII characters."),
            )
        })?;
    Ok(Some(key.to_owned()))
}

/// Sends an SMS: in a conversation, or to `to` from the number `phoneNumberId` (the
/// conversation is opened when new). The message starts `queued`; its status then moves
/// as the carrier reports. Retrying with the same `Idempotency-Key` returns the first
/// message (200) and sends nothing again.
#[utoipa::path(
    post,
    path = "/phone-sms/messages",
    tag = "messages",
    extensions(("x-permission" = json!("message:create"))),
    request_body = NewSmsMessage,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: one message per key")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Queued", body = SmsMessage),
        (status = 200, description = "Sent before with this Idempotency-Key", body = SmsMessage),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such conversation", body = ErrorBody),
        (status = 409, description = "The recipient opted out or is on the do-not-contact list (`do_not_contact`), the key was used for another message, or the conversation with this number is out of the caller's scope (`assigned_elsewhere`)", body = ErrorBody),
    )
)]
pub async fn send(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Body(new): Body<NewSmsMessage>,
) -> Result<(StatusCode, Json<SmsMessage>), AppError> {
    let key = idempotency_key(&headers)?;
    let body = text("message", &new.message, MESSAGE_MAX)?;
    let tenant = &caller.tenant.id;
    if let Some(template_id) = &new.template_id
        && state.store.template(tenant, template_id).await?.is_none()
    {
        return Err(AppError::invalid_field(
            "templateId",
            "No such template in this tenant.",
        ));
    }
    let now = clock::now();
    let conversation = match (&new.conversation_id, &new.phone_number_id, &new.to) {
        (Some(id), None, None) => visible_conversation(&state, &caller, id).await?,
        (None, Some(number_id), Some(to)) => {
            let to = e164("to", to)?;
            let number = state
                .store
                .number(tenant, number_id)
                .await?
                .ok_or_else(|| {
                    AppError::invalid_field("phoneNumberId", "No such number in this tenant.")
                })?;
            can_text(&number)?;
            let (opened, _) = state
                .store
                .open_conversation(&caller.actor(), &number, &to, now)
                .await?;
            opened_in_scope(&state, &caller, opened).await?
        }
        _ => {
            return Err(AppError::bad_request(
                "invalid_target",
                "Give either conversationId, or phoneNumberId and to.",
            ));
        }
    };
    let (stored, created) = outbound::queue(
        state.store.as_ref(),
        &caller.actor(),
        &conversation,
        Outbound {
            body,
            idempotency_key: key,
            campaign_id: None,
            sent_by: Some(caller.user.id.clone()),
            provider: state.carrier.name().to_owned(),
            compliance: false,
        },
        now,
    )
    .await?;
    if !created {
        return Ok((StatusCode::OK, Json(stored)));
    }
    if let Some(template_id) = &new.template_id {
        let stamp = clock::rfc3339(now);
        let used = Arc::new(move |t: &SmsTemplate| {
            let mut t = t.clone();
            t.usage_count += 1;
            t.updated_at.clone_from(&stamp);
            Ok(t)
        });
        // Counted once per message: a retried send (same key) returned above.
        state
            .store
            .update_template(&caller.actor(), template_id, used, now)
            .await?;
    }
    state.carrier_wake.notify_one();
    Ok((StatusCode::CREATED, Json(stored)))
}

/// Corrects a message's status by hand (admins). Statuses only move forward:
/// `queued → sent → delivered | failed`.
#[utoipa::path(
    patch,
    path = "/phone-sms/messages/{id}/status",
    tag = "messages",
    extensions(("x-permission" = json!("message:change"))),
    params(("id" = String, Path, description = "Message id")),
    request_body = MessageStatusUpdate,
    security(("bearer" = [])),
    responses(
        (status = 200, body = SmsMessage),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The status cannot move that way", body = ErrorBody),
    )
)]
pub async fn set_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(update): Body<MessageStatusUpdate>,
) -> Result<Json<SmsMessage>, AppError> {
    let error_code = optional_text("errorCode", update.error_code.as_deref(), 64)?;
    let error_message = optional_text("errorMessage", update.error_message.as_deref(), 500)?;
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let apply = Arc::new(move |current: &SmsMessage| {
        if !current.status.may_become(update.status) {
            return Err(AppError::Conflict {
                code: "invalid_transition",
                message: format!(
                    "A {} message cannot become {}.",
                    current.status.as_str(),
                    update.status.as_str()
                ),
                field: Some("status".into()),
            });
        }
        let mut next = current.clone();
        next.status = update.status;
        if update.status == MessageStatus::Failed {
            next.error_code = error_code.clone().or_else(|| Some("marked_failed".into()));
            next.error_message.clone_from(&error_message);
        }
        next.updated_at.clone_from(&stamp);
        Ok(next)
    });
    found(
        state
            .store
            .update_message(&caller.actor(), &id, apply, now)
            .await?,
    )
}
