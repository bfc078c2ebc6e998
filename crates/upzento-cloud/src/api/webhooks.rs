//! `/phone-sms/webhooks/{provider}/{kind}`: where providers deliver inbound SMS and
//! delivery reports. No bearer token here: the configured provider verifies its own
//! signature, and a request that fails that gets 403, is logged and stores nothing.
//! Kept out of the OpenAPI document: providers, not clients, call these.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use time::OffsetDateTime;

use crate::carrier::{InboundPart, MessageRef, StatusReport, Webhook, WebhookError, WebhookEvent};
use crate::error::AppError;
use crate::inbound::{self, InboundSms, Received};
use crate::store::CarrierUpdate;
use crate::{AppState, clock};

/// Providers' webhooks are small; anything bigger is not one of theirs.
pub const WEBHOOK_BODY_LIMIT: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/phone-sms/webhooks/{provider}/{kind}", post(webhook))
        .layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT))
}

/// The public URL the provider called: our configured base, or the Host it used.
fn called_url(state: &AppState, headers: &HeaderMap, uri: &axum::http::Uri) -> String {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    format!("{}{path}", super::support::public_base(state, headers))
}

async fn webhook(
    State(state): State<AppState>,
    Path((provider, kind)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if provider != state.carrier.name() {
        return AppError::NotFound.into_response();
    }
    let now = clock::now();
    let url = called_url(&state, &headers, &uri);
    let hook = Webhook {
        kind: &kind,
        url: &url,
        headers: &headers,
        body: &body,
        now,
    };
    let event = match state.carrier.webhook(&hook) {
        Ok(event) => without_nul(event),
        Err(WebhookError::Forbidden(why)) => {
            tracing::warn!(%provider, %kind, %why, "webhook refused: not signed by the provider");
            return (StatusCode::FORBIDDEN, "invalid signature").into_response();
        }
        Err(WebhookError::Invalid(why)) => {
            tracing::warn!(%provider, %kind, %why, "webhook refused: malformed");
            return AppError::bad_request("invalid_webhook", why).into_response();
        }
        Err(WebhookError::MediaType) => {
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported content type",
            )
                .into_response();
        }
        Err(WebhookError::NotFound) => return AppError::NotFound.into_response(),
    };
    if let Err(e) = handle(&state, event, now).await {
        // A 4xx here (a number that is not E.164) is the provider's data, not a fault
        // worth retrying; a 5xx makes the provider retry later, which is what we want.
        return e.into_response();
    }
    let reply = state.carrier.webhook_reply(&kind);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, reply.content_type)],
        reply.body,
    )
        .into_response()
}

/// A customer's message is never lost for a character storage cannot hold: NUL (which
/// PostgreSQL refuses) becomes U+FFFD, the replacement character, on both backends.
fn without_nul(event: WebhookEvent) -> WebhookEvent {
    fn clean(text: &mut String) {
        if text.contains('\0') {
            *text = text.replace('\0', "\u{FFFD}");
        }
    }
    fn clean_sms(sms: &mut InboundSms) {
        for text in [
            &mut sms.to,
            &mut sms.from,
            &mut sms.body,
            &mut sms.provider_message_id,
        ] {
            clean(text);
        }
    }
    match event {
        WebhookEvent::Inbound(mut sms) => {
            clean_sms(&mut sms);
            WebhookEvent::Inbound(sms)
        }
        WebhookEvent::InboundPart(mut part) => {
            clean_sms(&mut part.sms);
            clean(&mut part.reference);
            WebhookEvent::InboundPart(part)
        }
        WebhookEvent::Status(mut report) => {
            for text in [&mut report.error_code, &mut report.error_message]
                .into_iter()
                .flatten()
            {
                clean(text);
            }
            let (MessageRef::Ours(id) | MessageRef::Provider(id)) = &mut report.message;
            clean(id);
            WebhookEvent::Status(report)
        }
        WebhookEvent::Ignored => WebhookEvent::Ignored,
    }
}

async fn handle(
    state: &AppState,
    event: WebhookEvent,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    match event {
        WebhookEvent::Ignored => Ok(()),
        WebhookEvent::Inbound(sms) => receive(state, sms, now).await,
        WebhookEvent::InboundPart(part) => receive_part(state, part, now).await,
        WebhookEvent::Status(report) => status(state, report, now).await,
    }
}

async fn receive(state: &AppState, sms: InboundSms, now: OffsetDateTime) -> Result<(), AppError> {
    let id = sms.provider_message_id.clone();
    match inbound::receive(state, sms, now).await? {
        Received::Stored(_) => {}
        Received::Duplicate(_) => tracing::debug!(%id, "repeated inbound webhook"),
        // Answered 200 all the same: retrying will not make the number ours.
        Received::UnknownNumber => {}
    }
    Ok(())
}

async fn receive_part(
    state: &AppState,
    part: InboundPart,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let to = upzento_domain::phone::to_e164(&part.sms.to, None)
        .map_err(|e| AppError::invalid_field("to", e.to_string()))?;
    let Some((tenant_id, _)) = state.store.route_inbound(&to).await? else {
        tracing::warn!(%to, "inbound SMS part to a number no tenant has; dropped");
        return Ok(());
    };
    let Some(parts) = state.store.add_inbound_part(&tenant_id, &part, now).await? else {
        return Ok(());
    };
    let first = parts.first().map(|(id, _)| id.clone()).unwrap_or_default();
    let body: String = parts.into_iter().map(|(_, text)| text).collect();
    let joined = InboundSms {
        body,
        provider_message_id: first,
        ..part.sms
    };
    receive(state, joined, now).await
}

async fn status(
    state: &AppState,
    report: StatusReport,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let provider = state.carrier.name();
    let Some((tenant_id, id)) = state
        .store
        .locate_message(provider, &report.message)
        .await?
    else {
        // Reports for messages sent before this database, or by another system on the
        // same account: nothing of ours to update.
        tracing::info!(reference = ?report.message, "delivery report for an unknown message");
        return Ok(());
    };
    let update = CarrierUpdate {
        status: report.status,
        provider_message_id: None,
        error_code: report.error_code,
        error_message: report.error_message,
        next_action_at: None,
        keep_intent: false,
    };
    state
        .store
        .carrier_update(&tenant_id, &id, update, now)
        .await?;
    Ok(())
}
