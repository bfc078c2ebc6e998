//! Queuing an outbound SMS: the one path by which agents (`POST /messages`) and
//! campaigns hand a message to the carrier worker, so both obey the same rules
//! (active number with SMS on, no text to an opted-out contact or a number on the
//! do-not-contact list, one message per idempotency key).

use time::OffsetDateTime;
use upzento_domain::resources::{
    Conversation, Direction, MessageStatus, NumberStatus, PhoneNumber, SmsMessage,
};

use crate::clock;
use crate::error::AppError;
use crate::store::{Actor, NewMessage, Store};

/// Refuses numbers that cannot send SMS right now.
pub fn can_text(number: &PhoneNumber) -> Result<(), AppError> {
    if number.status != NumberStatus::Active {
        return Err(AppError::bad_request(
            "number_inactive",
            format!("{} is inactive.", number.number),
        ));
    }
    if !number.sms_enabled {
        return Err(AppError::bad_request(
            "sms_disabled",
            format!("SMS is disabled on {}.", number.number),
        ));
    }
    Ok(())
}

fn released() -> AppError {
    AppError::bad_request(
        "number_released",
        "This conversation's number was released.",
    )
}

/// What to send, besides where.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub body: String,
    pub idempotency_key: Option<String>,
    pub campaign_id: Option<String>,
    /// The user who sends it; `None` for the system (campaigns record their creator).
    pub sent_by: Option<String>,
    /// The carrier's name, recorded on the message.
    pub provider: String,
    /// A reply the rules require (the confirmation of STOP, START, HELP): it goes even to a
    /// number on the do-not-contact list.
    pub compliance: bool,
}

/// Queues `out` in `conversation`. Returns the message and whether it is new (`false`
/// when the idempotency key was used before: nothing is queued again).
pub async fn queue(
    store: &dyn Store,
    actor: &Actor,
    conversation: &Conversation,
    out: Outbound,
    now: OffsetDateTime,
) -> Result<(SmsMessage, bool), AppError> {
    let tenant = &actor.tenant_id;
    let number_id = conversation.phone_number_id.clone().ok_or_else(released)?;
    let number = store
        .number(tenant, &number_id)
        .await?
        .ok_or_else(released)?;
    can_text(&number)?;
    if let Some(contact_id) = &conversation.contact_id
        && let Some(contact) = store.contact(tenant, contact_id).await?
        && contact.opted_out
    {
        return Err(AppError::Conflict {
            code: "opted_out",
            message: format!(
                "{} opted out of SMS; nothing is sent until they text START.",
                conversation.contact_number
            ),
            field: None,
        });
    }
    if !out.compliance
        && let Some(listed) = store
            .do_not_contact(tenant, &conversation.contact_number)
            .await?
    {
        return Err(AppError::Conflict {
            code: "do_not_contact",
            message: format!(
                "{} is on the do-not-contact list{}: nothing is sent to it.",
                conversation.contact_number,
                listed.reason.map(|r| format!(" ({r})")).unwrap_or_default()
            ),
            field: None,
        });
    }
    let segments = upzento_domain::sms::segments(&out.body);
    let stamp = clock::rfc3339(now);
    let message = SmsMessage {
        id: uuid::Uuid::now_v7().to_string(),
        conversation_id: conversation.id.clone(),
        phone_number_id: Some(number_id),
        contact_id: conversation.contact_id.clone(),
        direction: Direction::Outbound,
        message: out.body,
        status: MessageStatus::Queued,
        error_code: None,
        error_message: None,
        encoding: segments.encoding,
        segments: segments.segments,
        campaign_id: out.campaign_id,
        sent_by: out.sent_by,
        provider: out.provider,
        provider_message_id: None,
        created_at: stamp.clone(),
        updated_at: stamp,
    };
    let (stored, created) = store
        .create_message(
            actor,
            NewMessage {
                message: message.clone(),
                idempotency_key: out.idempotency_key,
                next_action_at: Some(now),
            },
            now,
        )
        .await?;
    if !created
        && (stored.message != message.message || stored.conversation_id != message.conversation_id)
    {
        return Err(AppError::Conflict {
            code: "idempotency_key_reused",
            message: "This Idempotency-Key was used for a different message.".into(),
            field: None,
        });
    }
    Ok((stored, created))
}
