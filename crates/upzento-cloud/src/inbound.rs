//! Inbound SMS, from any provider: routed to the tenant of the number it was sent
//! to, threaded into the conversation of (our number, their number) with the contact
//! created when new, stored once per provider message id, and checked for the
//! compliance keywords (STOP and the like opt the contact out with one confirmation;
//! START opts back in; HELP gets the help text). Consent changes are recorded.

use std::sync::Arc;

use time::OffsetDateTime;
use upzento_domain::keywords::{Keyword, keyword};
use upzento_domain::resources::{
    ConsentEvent, Contact, Conversation, Direction, DoNotContactEntry, DoNotContactSource,
    MessageStatus, SmsMessage,
};

use crate::AppState;
use crate::clock;
use crate::error::AppError;
use crate::outbound::{self, Outbound};
use crate::store::{Actor, NewMessage, SYSTEM_ACTOR};

/// An SMS a provider delivered to one of our numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSms {
    pub to: String,
    pub from: String,
    pub body: String,
    pub provider: String,
    /// The provider's id of the message: a repeated webhook carries the same one.
    pub provider_message_id: String,
}

#[derive(Debug, Clone)]
pub enum Received {
    Stored(SmsMessage),
    /// Seen before (a provider retrying its webhook): nothing changed.
    Duplicate(SmsMessage),
    /// No active SMS number of any tenant is the recipient.
    UnknownNumber,
}

fn stamp(now: OffsetDateTime) -> String {
    clock::rfc3339(now)
}

/// Replies the cloud sends on its own; they bypass nothing but the agent's name.
fn reply(tenant: &str, kind: Keyword) -> String {
    match kind {
        Keyword::OptOut => format!(
            "{tenant}: you are unsubscribed and will get no more messages. Reply START to subscribe again."
        ),
        Keyword::OptIn => {
            format!("{tenant}: you are subscribed again. Reply STOP to unsubscribe, HELP for help.")
        }
        Keyword::Help => format!(
            "{tenant}: reply STOP to unsubscribe, START to subscribe again. Msg & data rates may apply."
        ),
    }
}

pub async fn receive(
    state: &AppState,
    sms: InboundSms,
    now: OffsetDateTime,
) -> Result<Received, AppError> {
    let store = state.store.as_ref();
    let to = upzento_domain::phone::to_e164(&sms.to, None)
        .map_err(|e| AppError::invalid_field("to", e.to_string()))?;
    let from = upzento_domain::phone::to_e164(&sms.from, None)
        .map_err(|e| AppError::invalid_field("from", e.to_string()))?;
    let Some((tenant_id, number)) = store.route_inbound(&to).await? else {
        tracing::warn!(%to, "inbound SMS to a number no tenant has; dropped");
        return Ok(Received::UnknownNumber);
    };
    if store.tenant_disabled(&tenant_id).await? {
        tracing::warn!(%to, tenant = %tenant_id, "inbound SMS to a disabled tenant; refused");
        return Err(AppError::Refused(
            "The tenant of this number is disabled.".into(),
        ));
    }
    let actor = Actor {
        tenant_id: tenant_id.clone(),
        user_id: SYSTEM_ACTOR.to_owned(),
    };
    let key = format!("inbound:{}:{}", sms.provider, sms.provider_message_id);

    // The contact first, so that a new conversation is linked to it.
    let contact = match store.contact_by_number(&tenant_id, &from).await? {
        Some(contact) => contact,
        None => {
            let at = stamp(now);
            let new = Contact {
                id: uuid::Uuid::now_v7().to_string(),
                first_name: from.clone(),
                last_name: None,
                phone_numbers: vec![from.clone()],
                email: None,
                tags: vec!["sms".into()],
                time_zone: None,
                opted_out: false,
                opted_out_at: None,
                created_at: at.clone(),
                updated_at: at,
            };
            match store.create_contact(&actor, new, now).await {
                Ok(contact) => contact,
                // Created meanwhile by a concurrent webhook: use that one.
                Err(AppError::Conflict { .. }) => store
                    .contact_by_number(&tenant_id, &from)
                    .await?
                    .ok_or(AppError::NotFound)?,
                Err(e) => return Err(e),
            }
        }
    };
    let (mut conversation, _) = store.open_conversation(&actor, &number, &from, now).await?;
    if conversation.contact_id.is_none() {
        let contact_id = contact.id.clone();
        let link = Arc::new(move |c: &Conversation| {
            let mut c = c.clone();
            c.contact_id = Some(contact_id.clone());
            Ok(c)
        });
        if let Some(linked) = store
            .update_conversation(&actor, &conversation.id, link, now)
            .await?
        {
            conversation = linked;
        }
    }

    let segments = upzento_domain::sms::segments(&sms.body);
    let at = stamp(now);
    let message = SmsMessage {
        id: uuid::Uuid::now_v7().to_string(),
        conversation_id: conversation.id.clone(),
        phone_number_id: Some(number.id.clone()),
        contact_id: Some(contact.id.clone()),
        direction: Direction::Inbound,
        message: sms.body.clone(),
        status: MessageStatus::Received,
        error_code: None,
        error_message: None,
        encoding: segments.encoding,
        segments: segments.segments,
        campaign_id: None,
        sent_by: None,
        provider: sms.provider.clone(),
        provider_message_id: Some(sms.provider_message_id.clone()),
        created_at: at.clone(),
        updated_at: at,
    };
    let (stored, created) = store
        .create_message(
            &actor,
            NewMessage {
                message,
                idempotency_key: Some(key),
                next_action_at: None,
            },
            now,
        )
        .await?;
    if !created {
        return Ok(Received::Duplicate(stored));
    }
    if let Some(kind) = keyword(&sms.body) {
        comply(state, &actor, &conversation, &contact, kind, &stored, now).await?;
    }
    Ok(Received::Stored(stored))
}

/// Acts on a compliance keyword: consent recorded, at most one reply.
async fn comply(
    state: &AppState,
    actor: &Actor,
    conversation: &Conversation,
    contact: &Contact,
    kind: Keyword,
    message: &SmsMessage,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let store = state.store.as_ref();
    let tenant = store
        .tenant(&actor.tenant_id)
        .await?
        .map_or_else(|| "Upzento".to_owned(), |t| t.name);
    let answer = match kind {
        // A repeated STOP gets no second confirmation; a YES from someone subscribed
        // is just a yes.
        Keyword::OptOut if contact.opted_out => return Ok(()),
        Keyword::OptIn if !contact.opted_out => return Ok(()),
        _ => reply(&tenant, kind),
    };
    // The confirmation goes out before the opt-out takes effect (it is the one text
    // the rules allow after it); sent once per inbound message.
    let out = Outbound {
        compliance: true,
        body: answer,
        idempotency_key: Some(format!("compliance:{}", message.id)),
        campaign_id: None,
        sent_by: None,
        provider: state.carrier.name().to_owned(),
    };
    if kind == Keyword::OptIn {
        set_opted_out(state, actor, contact, false, now).await?;
        // What their STOP put on the do-not-contact list goes; what people put there stays.
        store
            .remove_opt_out(actor, &conversation.contact_number, now)
            .await?;
    }
    match outbound::queue(store, actor, conversation, out, now).await {
        Ok(_) => state.carrier_wake.notify_one(),
        Err(e) => tracing::warn!(error = %e, "compliance reply not queued"),
    }
    if kind == Keyword::Help {
        return Ok(());
    }
    if kind == Keyword::OptOut {
        set_opted_out(state, actor, contact, true, now).await?;
        let stamp = stamp(now);
        store
            .add_do_not_contact(
                actor,
                DoNotContactEntry {
                    id: uuid::Uuid::now_v7().to_string(),
                    number: conversation.contact_number.clone(),
                    reason: Some(format!("Texted {}", message.message.trim())),
                    source: DoNotContactSource::OptOut,
                    created_by: None,
                    created_at: stamp.clone(),
                    updated_at: stamp,
                },
                now,
            )
            .await?;
    }
    store
        .record_consent(
            &actor.tenant_id,
            ConsentEvent {
                id: uuid::Uuid::now_v7().to_string(),
                contact_id: contact.id.clone(),
                number: conversation.contact_number.clone(),
                kind: if kind == Keyword::OptOut {
                    "optOut"
                } else {
                    "optIn"
                }
                .into(),
                method: "keyword".into(),
                message: Some(message.message.clone()),
                at: stamp(now),
            },
        )
        .await?;
    Ok(())
}

async fn set_opted_out(
    state: &AppState,
    actor: &Actor,
    contact: &Contact,
    opted_out: bool,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let at = stamp(now);
    let apply = Arc::new(move |c: &Contact| {
        let mut c = c.clone();
        c.opted_out = opted_out;
        c.opted_out_at = opted_out.then(|| at.clone());
        c.updated_at.clone_from(&at);
        Ok(c)
    });
    state
        .store
        .update_contact(actor, &contact.id, apply, now)
        .await?;
    Ok(())
}
