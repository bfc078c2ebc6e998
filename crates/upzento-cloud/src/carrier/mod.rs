//! Carriers (SMS providers) and the worker that hands them queued messages.
//!
//! The worker is a driver: it reads the clock, claims due messages from the store
//! (leased, so several nodes never send one message twice at once), calls the
//! provider and records what happened. The providers are plain objects: they send,
//! and they verify and read their own webhooks (`webhook`), returning what happened
//! for the API layer to store.

pub mod sandbox;
pub mod twilio;
pub mod vonage;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::HeaderMap;
use time::OffsetDateTime;
use tokio::sync::Notify;
use upzento_domain::phone::SenderClass;
use upzento_domain::resources::MessageStatus;

pub use self::sandbox::Sandbox;
use crate::campaigns::{Allowed, NO_LAWFUL_HOUR, TenantHours};
use crate::clock;
use crate::inbound::InboundSms;
use crate::store::{CarrierUpdate, DueMessage, Store};

/// Name the sandbox carrier gives its messages' `provider`.
pub const SANDBOX: &str = "sandbox";

/// An SMS to hand to a provider.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// Our message id (providers that echo a reference get this one).
    pub id: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub body: &'a str,
}

/// What a provider said about a send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Accepted. `report_after`: when the worker itself should ask for the delivery
    /// report (the sandbox); `None` when the provider reports through a webhook.
    Accepted {
        provider_message_id: String,
        report_after: Option<Duration>,
    },
    /// Refused for good, with a stable code and the provider's words.
    Rejected { code: String, message: String },
    /// The request may have reached the provider but its answer did not reach us (a
    /// timeout, a dropped connection): the message may have been sent.
    Uncertain { reason: String },
}

/// A webhook request as it reached us.
#[derive(Debug, Clone, Copy)]
pub struct Webhook<'a> {
    /// The last path segment: `inbound`, `status`, ...
    pub kind: &'a str,
    /// The full public URL the provider called, query included (signatures cover it).
    pub url: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub now: OffsetDateTime,
}

/// Which message a delivery report is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageRef {
    /// The provider's id, as returned when sending.
    Provider(String),
    /// Our own id, echoed back by the provider (Vonage's `client-ref`).
    Ours(String),
}

/// A delivery report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    pub message: MessageRef,
    pub status: MessageStatus,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

/// One part of a concatenated (multi-part) inbound SMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundPart {
    /// The message as far as this part goes: `body` is this part's text and
    /// `provider_message_id` this part's id.
    pub sms: InboundSms,
    /// The reference all parts of one message share (per sender).
    pub reference: String,
    /// 1-based.
    pub part: u32,
    pub total: u32,
}

/// What a verified webhook says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvent {
    Inbound(InboundSms),
    InboundPart(InboundPart),
    Status(StatusReport),
    /// A valid report we have nothing to do with (e.g. "sending").
    Ignored,
}

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Missing or wrong signature: 403, logged, nothing stored.
    #[error("signature: {0}")]
    Forbidden(String),
    /// Signed but not a request we understand (missing fields): 400.
    #[error("{0}")]
    Invalid(String),
    /// The body is not of the content type this webhook is sent with: 415.
    #[error("unsupported content type")]
    MediaType,
    /// This provider has no such webhook: 404.
    #[error("no such webhook")]
    NotFound,
}

/// The response a provider expects from a webhook it delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookReply {
    pub content_type: &'static str,
    pub body: &'static str,
}

#[async_trait]
pub trait Provider: Send + Sync + std::fmt::Debug {
    fn name(&self) -> &'static str;
    /// Sends one SMS. `Err` means "the provider did not take it" (unreachable, or it
    /// answered with an error that is not the message's fault): the worker retries.
    async fn send(&self, sms: Outgoing<'_>) -> anyhow::Result<SendOutcome>;
    /// Whether our account with the provider holds `e164`, so that the number may be
    /// used (`None`: the provider has no such account, as the sandbox).
    async fn holds_number(&self, _e164: &str) -> anyhow::Result<Option<bool>> {
        Ok(None)
    }
    /// Messages the provider accepted since `since` that may be `sms` (same recipient,
    /// sender and text), for a send whose outcome was never recorded.
    async fn find_sent(&self, _sms: Outgoing<'_>, _since: OffsetDateTime) -> anyhow::Result<Found> {
        Ok(Found::CannotTell)
    }
    /// The status a delivery report the worker asked for gives (the sandbox only).
    fn delivery_report(&self, _message: &DueMessage) -> MessageStatus {
        MessageStatus::Delivered
    }
    /// Segments per second one sending number may send, when the worker must pace
    /// sends itself (`None`: the provider queues and paces).
    fn segments_per_second(&self) -> Option<f64> {
        None
    }
    /// Verifies and reads a webhook of this provider.
    fn webhook(&self, _hook: &Webhook<'_>) -> Result<WebhookEvent, WebhookError> {
        Err(WebhookError::NotFound)
    }
    /// What to answer an accepted webhook of `kind`.
    fn webhook_reply(&self, _kind: &str) -> WebhookReply {
        WebhookReply {
            content_type: "text/plain",
            body: "",
        }
    }
}

/// Stable codes for provider error numbers (Twilio's numbering, which the sandbox
/// simulates too): the reason an agent sees on a failed message.
pub fn error_reason(code: &str) -> (&'static str, &'static str) {
    match code {
        "21610" => (
            "opted_out",
            "The recipient has opted out of messages from this number.",
        ),
        "21211" | "21614" => ("invalid_number", "The recipient's number is not valid."),
        "21408" | "21612" => (
            "unreachable_destination",
            "Messages to this destination are not possible from this number.",
        ),
        "21617" => ("too_long", "The message is longer than 1,600 characters."),
        "21606" | "21659" => (
            "invalid_sender",
            "This number cannot send SMS to the recipient.",
        ),
        "30003" => ("unreachable", "The recipient's phone is unreachable."),
        "30004" => ("blocked", "The recipient blocks messages from this number."),
        "30005" => (
            "unknown_destination",
            "The recipient's number does not exist.",
        ),
        "30006" => (
            "landline",
            "The recipient's number is a landline or cannot receive SMS.",
        ),
        "30007" => ("filtered", "The carrier filtered the message."),
        "30008" => (
            "carrier_error",
            "The carrier could not deliver the message.",
        ),
        _ => ("carrier_error", "The carrier refused the message."),
    }
}

/// Retry delay after a provider could not be reached.
const RETRY: Duration = Duration::from_secs(5);
const BATCH: usize = 100;

/// The carrier worker's clocks. A claim outliving its lease is harmless (a worker begins a
/// send only while it still holds the claim), so the lease only bounds how long messages
/// wait when a node dies.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long a claimed message stays reserved for the worker that claimed it.
    pub lease: Duration,
    /// The longest a provider may take to answer a send; after it the send is uncertain.
    pub send_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            send_timeout: Duration::from_secs(20),
        }
    }
}

impl Timing {
    /// When others may look at a send in progress: after its worker must have finished or
    /// stopped (twice the timeout, for clocks and scheduling).
    fn recheck_after(&self) -> Duration {
        self.send_timeout * 2
    }
}

/// What a provider knows of a message we may have handed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The provider cannot look messages up.
    CannotTell,
    /// The provider's ids of messages that match ours (recipient, sender, text, time);
    /// empty: the provider never got it.
    Candidates(Vec<String>),
}

/// How fast `item`'s number may send, in segments a second: its own pace when set, else a
/// long code's with this provider scaled by the kind of number; `None`: not paced here
/// (the provider queues and paces each number itself).
async fn pace_of(
    store: &dyn Store,
    provider: &dyn Provider,
    item: &DueMessage,
) -> anyhow::Result<Option<f64>> {
    let own = match &item.message.phone_number_id {
        Some(id) => store
            .number(&item.tenant_id, id)
            .await?
            .and_then(|n| n.send_per_minute),
        None => None,
    };
    Ok(match own {
        Some(per_minute) => Some(f64::from(per_minute) / 60.0),
        None => provider
            .segments_per_second()
            .map(|rate| rate * SenderClass::of(&item.from).pace_factor()),
    })
}

/// Per-number send pacing: the slots are the number's, shared by every node
/// (`Store::reserve_send_slot`); a message deferred to its slot holds it, so whichever
/// worker claims it then sends it without taking another.
async fn pace_slot(
    store: &dyn Store,
    item: &DueMessage,
    rate: f64,
    now: OffsetDateTime,
) -> anyhow::Result<OffsetDateTime> {
    store
        .reserve_send_slot(
            &item.tenant_id,
            &item.message.id,
            &item.from,
            pace_interval_ms(item.message.segments, rate),
            now,
        )
        .await
}

/// How long `segments` take of a number's pace at `rate` segments a second, in ms (at
/// least one).
pub fn pace_interval_ms(segments: u32, rate: f64) -> i64 {
    let ms = (f64::from(segments.max(1)) * 1000.0 / rate.max(0.001)).ceil();
    // Within i64 by the bounds above (at most 2^32 segments at 0.001/s).
    #[allow(clippy::cast_possible_truncation)]
    let ms = ms as i64;
    ms.max(1)
}

/// One node's carrier worker: it claims due messages under its own name, records each send
/// before calling the provider, and reconciles sends that a stopped worker left unrecorded.
#[derive(Debug)]
pub struct Worker {
    /// Names this worker's claims (a new one each start).
    owner: String,
    timing: Timing,
    /// Read before each send of a batch: sends are slow, and each is timed from its start.
    clock: fn() -> OffsetDateTime,
    /// See `campaigns::Hours` (0 in use).
    quiet_ahead_ms: i64,
}

impl Worker {
    pub fn new(timing: Timing) -> Self {
        Self::with_clock(timing, clock::now)
    }

    pub fn with_clock(timing: Timing, clock: fn() -> OffsetDateTime) -> Self {
        Self {
            owner: uuid::Uuid::now_v7().to_string(),
            timing,
            clock,
            quiet_ahead_ms: 0,
        }
    }

    /// Judges recipients' time of day `ms` ahead of the clock (tests and demos).
    #[must_use]
    pub fn judging_hours_ahead(mut self, ms: i64) -> Self {
        self.quiet_ahead_ms = ms;
        self
    }

    /// Handles every message due at `now`; returns how many it claimed.
    pub async fn work_once(
        &mut self,
        store: &dyn Store,
        provider: &dyn Provider,
        now: OffsetDateTime,
    ) -> anyhow::Result<usize> {
        let due = store
            .claim_due_messages(now, after(now, self.timing.lease), &self.owner, BATCH)
            .await?;
        let claimed = due.len();
        let mut hours = TenantHours::new(self.quiet_ahead_ms);
        for item in due {
            // A batch can take a while: each send is timed from its own start.
            let now = now.max((self.clock)());
            let Some(update) = self.handle(store, provider, &item, &mut hours, now).await? else {
                continue;
            };
            store
                .carrier_update(&item.tenant_id, &item.message.id, update, now)
                .await?;
        }
        Ok(claimed)
    }

    /// What to record for one claimed message (`None`: nothing, another worker has it).
    async fn handle(
        &mut self,
        store: &dyn Store,
        provider: &dyn Provider,
        item: &DueMessage,
        hours: &mut TenantHours,
        now: OffsetDateTime,
    ) -> anyhow::Result<Option<CarrierUpdate>> {
        Ok(Some(match item.message.status {
            MessageStatus::Queued => {
                if let Some(started) = item.send_started_at {
                    match self.reconcile(store, provider, item, started).await {
                        Reconciled::Sent(update) => return Ok(Some(update)),
                        Reconciled::Later => return Ok(Some(requeue(after(now, RETRY), true))),
                        Reconciled::NotSent => {}
                    }
                }
                // A campaign text keeps to the recipient's hours when it leaves, not only
                // when it was queued: its number's pace may have held it past them.
                if item.message.campaign_id.is_some() {
                    let hours = hours.of(store, &item.tenant_id).await?;
                    match hours.allowed(now, item.time_zone.as_deref(), &item.to) {
                        Allowed::Now => {}
                        Allowed::From(at) => {
                            store
                                .release_send_slot(&item.tenant_id, &item.message.id)
                                .await?;
                            return Ok(Some(requeue(at, false)));
                        }
                        Allowed::Never => {
                            return Ok(Some(CarrierUpdate {
                                status: MessageStatus::Failed,
                                provider_message_id: None,
                                error_code: Some(NO_LAWFUL_HOUR.0.to_owned()),
                                error_message: Some(NO_LAWFUL_HOUR.1.to_owned()),
                                next_action_at: None,
                                keep_intent: false,
                            }));
                        }
                    }
                }
                let slot = match pace_of(store, provider, item).await? {
                    Some(rate) => Some(pace_slot(store, item, rate, now).await?),
                    None => None,
                };
                match slot {
                    Some(slot) if slot > now => requeue(slot, false),
                    _ => {
                        let recheck = after(now, self.timing.recheck_after());
                        if !store
                            .begin_send(
                                &item.tenant_id,
                                &item.message.id,
                                &self.owner,
                                now,
                                recheck,
                            )
                            .await?
                        {
                            tracing::debug!(id = %item.message.id, "claim taken over; not sent here");
                            return Ok(None);
                        }
                        send(provider, item, now, self.timing.send_timeout).await
                    }
                }
            }
            MessageStatus::Sent => CarrierUpdate {
                status: provider.delivery_report(item),
                provider_message_id: None,
                error_code: None,
                error_message: None,
                next_action_at: None,
                keep_intent: false,
            },
            // Nothing to do for final states (a manual update got there first).
            _ => CarrierUpdate {
                status: item.message.status,
                provider_message_id: None,
                error_code: item.message.error_code.clone(),
                error_message: item.message.error_message.clone(),
                next_action_at: None,
                keep_intent: false,
            },
        }))
    }

    /// A send that began at `started` and was never recorded: ask the provider.
    async fn reconcile(
        &self,
        store: &dyn Store,
        provider: &dyn Provider,
        item: &DueMessage,
        started: OffsetDateTime,
    ) -> Reconciled {
        let found = match provider.find_sent(outgoing(item), started).await {
            Ok(found) => found,
            Err(err) => {
                tracing::warn!(error = %err, id = %item.message.id, "cannot reconcile an unrecorded send yet");
                return Reconciled::Later;
            }
        };
        let Found::Candidates(candidates) = found else {
            // Never resend without knowing: at most once, flagged for a person to check.
            tracing::warn!(id = %item.message.id, provider = provider.name(), "send outcome unknown; flagged");
            return Reconciled::Sent(CarrierUpdate {
                status: MessageStatus::Failed,
                provider_message_id: None,
                error_code: Some(SEND_UNCERTAIN.to_owned()),
                error_message: Some(
                    "The server stopped while handing this message to the carrier, which cannot \
                     say whether it got it. It may have been sent: check before sending it again."
                        .to_owned(),
                ),
                next_action_at: None,
                keep_intent: false,
            });
        };
        // A candidate that is already another message of ours is not this one.
        for id in candidates {
            let reference = MessageRef::Provider(id.clone());
            match store.locate_message(provider.name(), &reference).await {
                Ok(Some((_, ours))) if ours != item.message.id => continue,
                Ok(_) => {
                    tracing::info!(id = %item.message.id, provider_id = %id, "unrecorded send found at the provider");
                    return Reconciled::Sent(CarrierUpdate {
                        status: MessageStatus::Sent,
                        provider_message_id: Some(id),
                        error_code: None,
                        error_message: None,
                        next_action_at: None,
                        keep_intent: false,
                    });
                }
                Err(err) => {
                    tracing::warn!(error = %err, "reconciling");
                    return Reconciled::Later;
                }
            }
        }
        tracing::info!(id = %item.message.id, "unrecorded send never reached the provider; sending");
        Reconciled::NotSent
    }
}

/// The code of a message whose send may or may not have reached the provider.
pub const SEND_UNCERTAIN: &str = "send_uncertain";

enum Reconciled {
    /// The provider has it (or cannot tell: then it is flagged): record this.
    Sent(CarrierUpdate),
    /// The provider never got it: send it.
    NotSent,
    /// The provider could not be asked: try again later.
    Later,
}

/// Runs until the process ends: polls for due messages every `interval`, or at once
/// when `wake` is notified (a message was queued on this node).
pub async fn run_worker(
    store: Arc<dyn Store>,
    provider: Arc<dyn Provider>,
    wake: Arc<Notify>,
    interval: Duration,
    timing: Timing,
    quiet_ahead_ms: i64,
) {
    let mut worker = Worker::new(timing).judging_hours_ahead(quiet_ahead_ms);
    loop {
        match worker
            .work_once(store.as_ref(), provider.as_ref(), clock::now())
            .await
        {
            Ok(n) if n == BATCH => continue,
            Ok(_) => {}
            Err(err) => tracing::error!(error = ?err, "carrier worker"),
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
}

fn after(now: OffsetDateTime, d: Duration) -> OffsetDateTime {
    now + time::Duration::try_from(d).unwrap_or(time::Duration::ZERO)
}

fn requeue(at: OffsetDateTime, keep_intent: bool) -> CarrierUpdate {
    CarrierUpdate {
        status: MessageStatus::Queued,
        provider_message_id: None,
        error_code: None,
        error_message: None,
        next_action_at: Some(at),
        keep_intent,
    }
}

fn outgoing(item: &DueMessage) -> Outgoing<'_> {
    Outgoing {
        id: &item.message.id,
        from: &item.from,
        to: &item.to,
        body: &item.message.message,
    }
}

async fn send(
    provider: &dyn Provider,
    item: &DueMessage,
    now: OffsetDateTime,
    timeout: Duration,
) -> CarrierUpdate {
    let outcome = match tokio::time::timeout(timeout, provider.send(outgoing(item))).await {
        Ok(outcome) => outcome,
        Err(_) => Ok(SendOutcome::Uncertain {
            reason: format!("no answer within {timeout:?}"),
        }),
    };
    match outcome {
        Ok(SendOutcome::Accepted {
            provider_message_id,
            report_after,
        }) => CarrierUpdate {
            status: MessageStatus::Sent,
            provider_message_id: Some(provider_message_id),
            error_code: None,
            error_message: None,
            next_action_at: report_after.map(|d| after(now, d)),
            keep_intent: false,
        },
        Ok(SendOutcome::Rejected { code, message }) => CarrierUpdate {
            status: MessageStatus::Failed,
            provider_message_id: None,
            error_code: Some(code),
            error_message: Some(message),
            next_action_at: None,
            keep_intent: false,
        },
        Ok(SendOutcome::Uncertain { reason }) => {
            // It may have gone: the next attempt asks the provider before sending.
            tracing::warn!(%reason, id = %item.message.id, provider = provider.name(), "send outcome unknown; will reconcile");
            requeue(after(now, RETRY), true)
        }
        Err(err) => {
            // Not the message's fault: keep it queued and try again soon.
            tracing::warn!(error = %err, id = %item.message.id, provider = provider.name(), "provider unreachable; will retry");
            requeue(after(now, RETRY), false)
        }
    }
}

/// What a send request that got no usable answer means: a connection that was never made
/// reached nobody (`Err`: retry); any later failure may come after the provider took the
/// message (uncertain: reconciled before any retry).
pub(crate) fn lost_answer(provider: &str, err: &reqwest::Error) -> anyhow::Result<SendOutcome> {
    if err.is_connect() {
        anyhow::bail!("{provider} is unreachable: {err}");
    }
    Ok(SendOutcome::Uncertain {
        reason: format!("{provider}'s answer was lost: {err}"),
    })
}

/// Form fields of a webhook body, in order (names may repeat).
pub(crate) fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// Whether the request's content type is `expected` (parameters such as charset ignored).
pub(crate) fn content_type_is(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_takes_its_segments_of_the_numbers_pace() {
        assert_eq!(pace_interval_ms(1, 1.0), 1000);
        assert_eq!(pace_interval_ms(3, 1.0), 3000);
        assert_eq!(
            pace_interval_ms(0, 1.0),
            1000,
            "an empty message is one segment"
        );
        assert_eq!(pace_interval_ms(1, 3.0), 334);
        assert_eq!(pace_interval_ms(1, 100_000.0), 1);
    }
}
