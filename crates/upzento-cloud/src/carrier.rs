//! Carriers (SMS providers) and the worker that hands them queued messages.
//!
//! The worker is a driver: it reads the clock, claims due messages from the store
//! (leased, so several nodes never send one message twice at once), calls the
//! provider and records what happened. The providers are plain objects.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio::sync::Notify;
use upzento_domain::resources::MessageStatus;

use crate::clock;
use crate::store::{CarrierUpdate, DueMessage, Store};

/// Name the sandbox carrier gives its messages' `provider`.
pub const SANDBOX: &str = "sandbox";

/// What a provider said about a send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Accepted; a delivery report is expected after `report_after`.
    Accepted {
        provider_message_id: String,
        report_after: Duration,
    },
    /// Refused for good, with a stable code and the provider's words.
    Rejected { code: String, message: String },
}

#[async_trait]
pub trait Provider: Send + Sync + std::fmt::Debug {
    fn name(&self) -> &'static str;
    async fn send(&self, from: &str, to: &str, body: &str) -> anyhow::Result<SendOutcome>;
    /// The status a delivery report gives a sent message (the sandbox decides here;
    /// real providers report through webhooks instead).
    fn delivery_report(&self, message: &DueMessage) -> MessageStatus;
}

/// The built-in carrier: accepts every send, reports delivery after a delay, and
/// fails on purpose for bodies that contain `error<CODE>` (e.g. `error21610`).
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub delivery_delay: Duration,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self {
            delivery_delay: Duration::from_millis(500),
        }
    }
}

/// Stable codes for the provider error numbers the sandbox can simulate (Twilio's numbering).
fn error_reason(code: &str) -> (&'static str, &'static str) {
    match code {
        "21610" => (
            "opted_out",
            "The recipient has opted out of messages from this number.",
        ),
        "21211" => ("invalid_number", "The recipient's number is not valid."),
        "30007" => ("filtered", "The carrier filtered the message."),
        "30003" => ("unreachable", "The recipient's phone is unreachable."),
        _ => ("carrier_error", "The carrier refused the message."),
    }
}

#[async_trait]
impl Provider for Sandbox {
    fn name(&self) -> &'static str {
        SANDBOX
    }

    async fn send(&self, _from: &str, _to: &str, body: &str) -> anyhow::Result<SendOutcome> {
        if let Some(rest) = body.split("error").nth(1) {
            let code: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if !code.is_empty() {
                let (reason, message) = error_reason(&code);
                return Ok(SendOutcome::Rejected {
                    code: reason.to_owned(),
                    message: format!("{message} (sandbox error {code})"),
                });
            }
        }
        Ok(SendOutcome::Accepted {
            provider_message_id: format!("SB{}", uuid::Uuid::now_v7().simple()),
            report_after: self.delivery_delay,
        })
    }

    fn delivery_report(&self, _message: &DueMessage) -> MessageStatus {
        MessageStatus::Delivered
    }
}

/// How long a claimed message stays reserved for the node that claimed it.
const LEASE: Duration = Duration::from_secs(30);
/// Retry delay after a provider could not be reached.
const RETRY: Duration = Duration::from_secs(5);
const BATCH: usize = 100;

/// Runs until the process ends: polls for due messages every `interval`, or at once
/// when `wake` is notified (a message was queued on this node).
pub async fn run_worker(
    store: Arc<dyn Store>,
    provider: Arc<dyn Provider>,
    wake: Arc<Notify>,
    interval: Duration,
) {
    loop {
        match work_once(store.as_ref(), provider.as_ref(), clock::now()).await {
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

/// Handles every message due at `now`; returns how many it claimed.
pub async fn work_once(
    store: &dyn Store,
    provider: &dyn Provider,
    now: OffsetDateTime,
) -> anyhow::Result<usize> {
    let due = store
        .claim_due_messages(now, after(now, LEASE), BATCH)
        .await?;
    let claimed = due.len();
    for item in due {
        let update = match item.message.status {
            MessageStatus::Queued => {
                match provider
                    .send(&item.from, &item.to, &item.message.message)
                    .await
                {
                    Ok(SendOutcome::Accepted {
                        provider_message_id,
                        report_after,
                    }) => CarrierUpdate {
                        status: MessageStatus::Sent,
                        provider_message_id: Some(provider_message_id),
                        error_code: None,
                        error_message: None,
                        next_action_at: Some(after(now, report_after)),
                    },
                    Ok(SendOutcome::Rejected { code, message }) => CarrierUpdate {
                        status: MessageStatus::Failed,
                        provider_message_id: None,
                        error_code: Some(code),
                        error_message: Some(message),
                        next_action_at: None,
                    },
                    Err(err) => {
                        // Not the message's fault: keep it queued and try again soon.
                        tracing::warn!(error = %err, id = %item.message.id, "provider unreachable; will retry");
                        CarrierUpdate {
                            status: MessageStatus::Queued,
                            provider_message_id: None,
                            error_code: None,
                            error_message: None,
                            next_action_at: Some(after(now, RETRY)),
                        }
                    }
                }
            }
            MessageStatus::Sent => CarrierUpdate {
                status: provider.delivery_report(&item),
                provider_message_id: None,
                error_code: None,
                error_message: None,
                next_action_at: None,
            },
            // Nothing to do for final states (a manual update got there first).
            _ => CarrierUpdate {
                status: item.message.status,
                provider_message_id: None,
                error_code: item.message.error_code.clone(),
                error_message: item.message.error_message.clone(),
                next_action_at: None,
            },
        };
        store
            .carrier_update(&item.tenant_id, &item.message.id, update, now)
            .await?;
    }
    Ok(claimed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sandbox_fails_on_error_codes_and_accepts_the_rest() {
        let sandbox = Sandbox::default();
        match sandbox.send("+1", "+2", "hello").await.unwrap() {
            SendOutcome::Accepted { report_after, .. } => {
                assert_eq!(report_after, sandbox.delivery_delay);
            }
            other => panic!("{other:?}"),
        }
        match sandbox
            .send("+1", "+2", "test error21610 please")
            .await
            .unwrap()
        {
            SendOutcome::Rejected { code, .. } => assert_eq!(code, "opted_out"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            sandbox.send("+1", "+2", "no errors here").await.unwrap(),
            SendOutcome::Accepted { .. }
        ));
    }
}
