//! The built-in carrier of the embedded setup: accepts every send, reports delivery
//! after a delay, paces each number like a long code, and fails on purpose for
//! bodies that contain `error<CODE>` (e.g. `error21610`, Twilio's numbering).
//! Inbound messages come through `POST /phone-sms/sandbox/inbound`.

use std::time::Duration;

use async_trait::async_trait;

use super::{Outgoing, Provider, SANDBOX, SendOutcome, error_reason};

#[derive(Debug, Clone)]
pub struct Sandbox {
    /// Time from sending to the delivery report.
    pub delivery_delay: Duration,
    /// Segments per second per sending number (`None`: unlimited).
    pub segments_per_second: Option<f64>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self {
            delivery_delay: Duration::from_millis(500),
            // A US long code: one segment a second.
            segments_per_second: Some(1.0),
        }
    }
}

#[async_trait]
impl Provider for Sandbox {
    fn name(&self) -> &'static str {
        SANDBOX
    }

    async fn send(&self, sms: Outgoing<'_>) -> anyhow::Result<SendOutcome> {
        if let Some(rest) = sms.body.split("error").nth(1) {
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
            report_after: Some(self.delivery_delay),
        })
    }

    fn segments_per_second(&self) -> Option<f64> {
        self.segments_per_second.filter(|r| *r > 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms(body: &str) -> Outgoing<'_> {
        Outgoing {
            id: "m1",
            from: "+1",
            to: "+2",
            body,
        }
    }

    #[tokio::test]
    async fn sandbox_fails_on_error_codes_and_accepts_the_rest() {
        let sandbox = Sandbox::default();
        match sandbox.send(sms("hello")).await.unwrap() {
            SendOutcome::Accepted { report_after, .. } => {
                assert_eq!(report_after, Some(sandbox.delivery_delay));
            }
            other => panic!("{other:?}"),
        }
        match sandbox.send(sms("test error21610 please")).await.unwrap() {
            SendOutcome::Rejected { code, .. } => assert_eq!(code, "opted_out"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            sandbox.send(sms("no errors here")).await.unwrap(),
            SendOutcome::Accepted { .. }
        ));
    }
}
