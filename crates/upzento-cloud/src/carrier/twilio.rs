//! Twilio: the Messages API for sending, and the inbound-SMS and status-callback
//! webhooks, each verified by its `X-Twilio-Signature` exactly as Twilio documents it
//! (HMAC-SHA1 keyed by the Auth Token over the full URL followed by every POST
//! parameter, name then value, sorted by name; base64; compared in constant time;
//! the URL tried with and without its default port).

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;
use upzento_domain::resources::MessageStatus;

use super::{
    Found, MessageRef, Outgoing, Provider, SendOutcome, StatusReport, Webhook, WebhookError,
    WebhookEvent, WebhookReply, content_type_is, error_reason, form_fields, lost_answer,
};
use crate::inbound::InboundSms;

pub const NAME: &str = "twilio";
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";
pub const DEFAULT_API_URL: &str = "https://api.twilio.com";

#[derive(Clone)]
pub struct TwilioConfig {
    pub account_sid: String,
    pub auth_token: String,
    /// Send through this Messaging Service instead of `From` the conversation's number.
    pub messaging_service_sid: Option<String>,
    /// The API's base URL (a local server in tests).
    pub api_url: String,
    /// Our public base URL, as Twilio calls it (status callbacks are sent there, and
    /// signatures cover it).
    pub public_url: String,
}

impl std::fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<secret>")
            .field("messaging_service_sid", &self.messaging_service_sid)
            .field("api_url", &self.api_url)
            .field("public_url", &self.public_url)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct Twilio {
    config: TwilioConfig,
    http: reqwest::Client,
}

impl Twilio {
    pub fn new(config: TwilioConfig) -> anyhow::Result<Self> {
        anyhow::ensure!(
            config.account_sid.starts_with("AC") && !config.auth_token.is_empty(),
            "Twilio needs an Account SID (AC...) and its Auth Token"
        );
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()?;
        Ok(Self { config, http })
    }

    /// A list resource of the account (`Messages.json`, ...), filtered by `query`.
    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        resource: &str,
        query: &[(&str, &str)],
    ) -> anyhow::Result<T> {
        let mut url = reqwest::Url::parse(&format!(
            "{}/2010-04-01/Accounts/{}/{resource}",
            self.config.api_url.trim_end_matches('/'),
            self.config.account_sid
        ))?;
        url.query_pairs_mut().extend_pairs(query);
        let response = self
            .http
            .get(url)
            .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
            .send()
            .await
            .context("Twilio is unreachable")?;
        let status = response.status();
        let text = response.text().await.context("reading Twilio's answer")?;
        anyhow::ensure!(status.is_success(), "Twilio answered {status}: {text:.300}");
        serde_json::from_str(&text)
            .with_context(|| format!("unexpected {resource} from Twilio: {text:.200}"))
    }

    /// Where Twilio reports this message's status. Our id rides along, so a report
    /// that overtakes our record of Twilio's SID still finds its message.
    fn status_callback(&self, id: &str) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("ref", id);
        format!(
            "{}/phone-sms/webhooks/twilio/status?{}",
            self.config.public_url.trim_end_matches('/'),
            query.finish()
        )
    }
}

/// The body of a Twilio REST error.
#[derive(Debug, Deserialize)]
struct ApiError {
    code: Option<u32>,
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Created {
    sid: String,
}

/// A page of the account's IncomingPhoneNumbers (the fields we read).
#[derive(Debug, Deserialize)]
struct NumberPage {
    incoming_phone_numbers: Vec<IncomingNumber>,
}

#[derive(Debug, Deserialize)]
struct IncomingNumber {
    phone_number: String,
}

/// A page of Twilio's Message list (the fields we read).
#[derive(Debug, Deserialize)]
struct MessagePage {
    messages: Vec<ListedMessage>,
}

#[derive(Debug, Deserialize)]
struct ListedMessage {
    sid: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    direction: String,
    /// RFC 2822, e.g. "Thu, 30 Jul 2015 20:12:31 +0000".
    #[serde(default)]
    date_created: String,
}

#[async_trait]
impl Provider for Twilio {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, sms: Outgoing<'_>) -> anyhow::Result<SendOutcome> {
        // Built before any await: the serializer is not Send.
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("To", sms.to);
            match &self.config.messaging_service_sid {
                Some(service) => form.append_pair("MessagingServiceSid", service),
                None => form.append_pair("From", sms.from),
            };
            form.append_pair("Body", sms.body);
            form.append_pair("StatusCallback", &self.status_callback(sms.id));
            form.finish()
        };
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.config.api_url.trim_end_matches('/'),
            self.config.account_sid
        );
        let response = self
            .http
            .post(&url)
            .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(err) => return lost_answer("Twilio", &err),
        };
        let status = response.status();
        let text = match response.text().await {
            Ok(text) => text,
            Err(err) if status.is_success() => return lost_answer("Twilio", &err),
            Err(err) => anyhow::bail!("Twilio answered {status}: {err}"),
        };
        if status.is_success() {
            return Ok(match serde_json::from_str::<Created>(&text) {
                Ok(created) => SendOutcome::Accepted {
                    provider_message_id: created.sid,
                    report_after: None,
                },
                // Accepted, but we cannot tell under which id: found later by lookup.
                Err(_) => SendOutcome::Uncertain {
                    reason: format!("unexpected answer from Twilio: {text:.200}"),
                },
            });
        }
        // Credentials, account, rate limits and outages are not the message's fault:
        // it stays queued (the error is logged) and goes when they are fixed.
        if status.is_server_error() || matches!(status.as_u16(), 401 | 403 | 404 | 429) {
            anyhow::bail!("Twilio answered {status}: {text:.300}");
        }
        let error: ApiError = serde_json::from_str(&text).unwrap_or(ApiError {
            code: None,
            message: None,
        });
        let code = error.code.map(|c| c.to_string()).unwrap_or_default();
        let (reason, ours) = error_reason(&code);
        Ok(SendOutcome::Rejected {
            code: reason.to_owned(),
            message: match error.message {
                Some(theirs) => format!("{ours} (Twilio {code}: {theirs})"),
                None => format!("{ours} (Twilio answered {status})"),
            },
        })
    }

    /// The account's IncomingPhoneNumbers, filtered by the number.
    async fn holds_number(&self, e164: &str) -> anyhow::Result<Option<bool>> {
        let page: NumberPage = self
            .list("IncomingPhoneNumbers.json", &[("PhoneNumber", e164)])
            .await?;
        Ok(Some(
            page.incoming_phone_numbers
                .iter()
                .any(|n| n.phone_number == e164),
        ))
    }

    /// Twilio's Message list, newest first, filtered by recipient (and sender, unless a
    /// Messaging Service chooses it): outbound messages with our text created since
    /// shortly before `since` (clocks differ).
    async fn find_sent(&self, sms: Outgoing<'_>, since: OffsetDateTime) -> anyhow::Result<Found> {
        let mut query = vec![("To", sms.to), ("PageSize", "100")];
        if self.config.messaging_service_sid.is_none() {
            query.push(("From", sms.from));
        }
        let page: MessagePage = self.list("Messages.json", &query).await?;
        let earliest = since - time::Duration::minutes(5);
        Ok(Found::Candidates(
            page.messages
                .into_iter()
                .filter(|m| {
                    m.direction.starts_with("outbound")
                        // Trial accounts put a line in front of the text.
                        && m.body.ends_with(sms.body)
                        && OffsetDateTime::parse(&m.date_created, &Rfc2822)
                            .is_ok_and(|created| created >= earliest)
                })
                .map(|m| m.sid)
                .collect(),
        ))
    }

    fn webhook(&self, hook: &Webhook<'_>) -> Result<WebhookEvent, WebhookError> {
        if !matches!(hook.kind, "inbound" | "status") {
            return Err(WebhookError::NotFound);
        }
        if !content_type_is(hook.headers, "application/x-www-form-urlencoded") {
            return Err(WebhookError::MediaType);
        }
        let params = form_fields(hook.body);
        let signature = hook
            .headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| WebhookError::Forbidden("no X-Twilio-Signature".into()))?;
        if !verify(&self.config.auth_token, hook.url, &params, signature) {
            return Err(WebhookError::Forbidden(
                "X-Twilio-Signature does not match".into(),
            ));
        }
        let field = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let required = |name: &str| {
            field(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| WebhookError::Invalid(format!("{name} is missing")))
        };
        if field("AccountSid").is_some_and(|sid| sid != self.config.account_sid) {
            return Err(WebhookError::Invalid("AccountSid is not ours".into()));
        }
        let sid = required("MessageSid").or_else(|_| required("SmsSid"))?;
        if hook.kind == "inbound" {
            let mut body = field("Body").unwrap_or_default().to_owned();
            let media: u32 = field("NumMedia").and_then(|n| n.parse().ok()).unwrap_or(0);
            if media > 0 {
                // MMS content is not kept yet: say so rather than show nothing.
                let note = format!("[{media} attachment(s) not shown]");
                body = if body.is_empty() {
                    note
                } else {
                    format!("{body}\n{note}")
                };
            }
            return Ok(WebhookEvent::Inbound(InboundSms {
                to: required("To")?.to_owned(),
                from: required("From")?.to_owned(),
                body,
                provider: NAME.into(),
                provider_message_id: sid.to_owned(),
            }));
        }
        let state = required("MessageStatus").or_else(|_| required("SmsStatus"))?;
        let (status, failed) = match state {
            "sent" => (MessageStatus::Sent, false),
            "delivered" | "read" => (MessageStatus::Delivered, false),
            "undelivered" | "failed" => (MessageStatus::Failed, true),
            // queued, sending, accepted, scheduled, canceled...: nothing to record.
            _ => return Ok(WebhookEvent::Ignored),
        };
        let (error_code, error_message) = if failed {
            let code = field("ErrorCode").unwrap_or_default();
            let (reason, text) = error_reason(code);
            (
                Some(reason.to_owned()),
                Some(if code.is_empty() {
                    format!("{text} (Twilio: {state})")
                } else {
                    format!("{text} (Twilio {code})")
                }),
            )
        } else {
            (None, None)
        };
        let ours = hook
            .url
            .split_once('?')
            .and_then(|(_, query)| {
                form_fields(query.as_bytes())
                    .into_iter()
                    .find(|(k, _)| k == "ref")
            })
            .map(|(_, v)| v);
        Ok(WebhookEvent::Status(StatusReport {
            message: ours.map_or_else(|| MessageRef::Provider(sid.to_owned()), MessageRef::Ours),
            status,
            error_code,
            error_message,
        }))
    }

    fn webhook_reply(&self, kind: &str) -> WebhookReply {
        if kind == "inbound" {
            // Empty TwiML: no automatic reply from Twilio (ours go through the API).
            WebhookReply {
                content_type: "text/xml",
                body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>",
            }
        } else {
            WebhookReply {
                content_type: "text/plain",
                body: "",
            }
        }
    }
}

/// The `X-Twilio-Signature` of a form-encoded request to `url` with `params`.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    // Stable: repeated names keep their order, as Twilio's own libraries do.
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()) else {
        return String::new();
    };
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `header` signs the request, for `url` as given or with its default port
/// added or removed (proxies and Twilio differ on that).
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], header: &str) -> bool {
    let header = header.trim().as_bytes();
    url_variants(url).iter().any(|candidate| {
        bool::from(
            signature(auth_token, candidate, params)
                .as_bytes()
                .ct_eq(header),
        )
    })
}

fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return variants;
    };
    let default = match scheme.to_ascii_lowercase().as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => return variants,
    };
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(split);
    let other = if let Some(host) = authority.strip_suffix(default) {
        format!("{scheme}://{host}{tail}")
    } else if authority
        .rsplit_once(':')
        .is_none_or(|(_, port)| port.contains(']'))
    {
        // No port (an IPv6 literal's colons are inside brackets).
        format!("{scheme}://{authority}{default}{tail}")
    } else {
        return variants;
    };
    variants.push(other);
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The example of Twilio's webhook-security documentation.
    const DOC_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    #[test]
    fn signatures_match_twilios_documented_examples() {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(
            signature("12345", DOC_URL, &params),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        // The same example in its older form, with other numbers.
        let older = pairs(&[
            ("To", "+18005551212"),
            ("From", "+12349013030"),
            ("Digits", "1234"),
            ("Caller", "+12349013030"),
            ("CallSid", "CA1234567890ABCDE"),
        ]);
        assert_eq!(
            signature("12345", DOC_URL, &older),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    #[test]
    fn verification_tries_the_default_port_both_ways_and_nothing_else() {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]);
        let sig = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        assert!(verify("12345", DOC_URL, &params, sig));
        assert!(verify(
            "12345",
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            &params,
            sig
        ));
        // Signed with the port, checked without.
        let with_port = signature(
            "12345",
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            &params,
        );
        assert!(verify("12345", DOC_URL, &params, &with_port));
        // Another port, token, parameter or URL does not pass.
        assert!(!verify(
            "12345",
            "https://mycompany.com:8443/myapp.php?foo=1&bar=2",
            &params,
            sig
        ));
        assert!(!verify("54321", DOC_URL, &params, sig));
        let mut tampered = params.clone();
        tampered[2].1 = "9999".into();
        assert!(!verify("12345", DOC_URL, &tampered, sig));
        assert!(!verify(
            "12345",
            "https://mycompany.com/myapp.php?foo=1",
            &params,
            sig
        ));
        assert!(!verify("12345", DOC_URL, &params, ""));
    }
}
