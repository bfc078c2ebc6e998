//! Vonage: the SMS API for sending; its inbound-SMS and delivery-receipt webhooks,
//! signed with the account's signature secret (`sig`: MD5 hash or HMAC-MD5/SHA-1/
//! SHA-256/SHA-512 over the sorted `&name=value` pairs); and the Messages API's
//! inbound and status webhooks, signed with a JWT (HS256 over the same secret) whose
//! `payload_hash` is the SHA-256 of the body. Concatenated inbound SMS arrive in
//! parts (`concat-ref`, `concat-part`, `concat-total`) that the API layer joins.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Digest;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use upzento_domain::resources::MessageStatus;

use super::{
    InboundPart, MessageRef, Outgoing, Provider, SendOutcome, StatusReport, Webhook, WebhookError,
    WebhookEvent, content_type_is, form_fields, lost_answer,
};
use crate::inbound::InboundSms;

pub const NAME: &str = "vonage";
pub const DEFAULT_REST_URL: &str = "https://rest.nexmo.com";
/// How far a signed webhook's `timestamp` may be from our clock (replays).
const MAX_SKEW: time::Duration = time::Duration::minutes(5);

/// The signing method chosen in the Vonage dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureMethod {
    Md5Hash,
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl std::str::FromStr for SignatureMethod {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "md5hash" => Self::Md5Hash,
            "md5" => Self::Md5,
            "sha1" => Self::Sha1,
            "sha256" => Self::Sha256,
            "sha512" => Self::Sha512,
            other => anyhow::bail!(
                "unknown Vonage signature method {other}: use md5hash, md5, sha1, sha256 or sha512"
            ),
        })
    }
}

#[derive(Clone)]
pub struct VonageConfig {
    pub api_key: String,
    pub api_secret: String,
    pub signature_secret: String,
    pub signature_method: SignatureMethod,
    /// The SMS API's base URL (a local server in tests).
    pub rest_url: String,
    /// Our public base URL (delivery receipts are sent there).
    pub public_url: String,
}

impl std::fmt::Debug for VonageConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VonageConfig")
            .field("api_key", &self.api_key)
            .field("api_secret", &"<secret>")
            .field("signature_secret", &"<secret>")
            .field("signature_method", &self.signature_method)
            .field("rest_url", &self.rest_url)
            .field("public_url", &self.public_url)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct Vonage {
    config: VonageConfig,
    http: reqwest::Client,
}

impl Vonage {
    pub fn new(config: VonageConfig) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !config.api_key.is_empty() && !config.api_secret.is_empty(),
            "Vonage needs an API key and secret"
        );
        // Unsigned webhooks would let anyone inject messages: no secret, no Vonage.
        anyhow::ensure!(
            !config.signature_secret.is_empty(),
            "Vonage needs the account's signature secret to verify its webhooks"
        );
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()?;
        Ok(Self { config, http })
    }
}

#[derive(Debug, Deserialize)]
struct SendResponse {
    messages: Vec<SendPart>,
}

#[derive(Debug, Deserialize)]
struct SendPart {
    status: String,
    #[serde(rename = "message-id")]
    message_id: Option<String>,
    #[serde(rename = "error-text")]
    error_text: Option<String>,
}

/// The account's numbers (the fields we read; `numbers` is absent when there are none).
#[derive(Debug, Deserialize)]
struct OwnedNumbers {
    #[serde(default)]
    numbers: Vec<OwnedNumber>,
}

#[derive(Debug, Deserialize)]
struct OwnedNumber {
    msisdn: String,
}

/// E.164 without the plus, as the SMS API writes numbers.
fn bare(number: &str) -> &str {
    number.trim_start_matches('+')
}

/// A number from a webhook (digits, no plus) in E.164.
fn plus(number: &str) -> String {
    if number.starts_with('+') {
        number.to_owned()
    } else {
        format!("+{number}")
    }
}

#[async_trait]
impl Provider for Vonage {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The account's numbers (`GET /account/numbers`), searched for this one.
    async fn holds_number(&self, e164: &str) -> anyhow::Result<Option<bool>> {
        let mut url = reqwest::Url::parse(&format!(
            "{}/account/numbers",
            self.config.rest_url.trim_end_matches('/')
        ))?;
        url.query_pairs_mut()
            .append_pair("api_key", &self.config.api_key)
            .append_pair("api_secret", &self.config.api_secret)
            .append_pair("pattern", bare(e164))
            .append_pair("search_pattern", "0");
        let response = self
            .http
            .get(url)
            .send()
            .await
            .context("Vonage is unreachable")?;
        let status = response.status();
        let text = response.text().await.context("reading Vonage's answer")?;
        anyhow::ensure!(status.is_success(), "Vonage answered {status}: {text:.300}");
        let owned: OwnedNumbers = serde_json::from_str(&text)
            .with_context(|| format!("unexpected number list from Vonage: {text:.200}"))?;
        Ok(Some(owned.numbers.iter().any(|n| n.msisdn == bare(e164))))
    }

    async fn send(&self, sms: Outgoing<'_>) -> anyhow::Result<SendOutcome> {
        let unicode =
            upzento_domain::sms::segments(sms.body).encoding != upzento_domain::sms::Encoding::Gsm7;
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("api_key", &self.config.api_key)
                .append_pair("api_secret", &self.config.api_secret)
                .append_pair("from", bare(sms.from))
                .append_pair("to", bare(sms.to))
                .append_pair("text", sms.body)
                .append_pair("client-ref", sms.id)
                .append_pair(
                    "callback",
                    &format!(
                        "{}/phone-sms/webhooks/vonage/status",
                        self.config.public_url.trim_end_matches('/')
                    ),
                );
            if unicode {
                form.append_pair("type", "unicode");
            }
            form.finish()
        };
        let response = self
            .http
            .post(format!(
                "{}/sms/json",
                self.config.rest_url.trim_end_matches('/')
            ))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(err) => return lost_answer("Vonage", &err),
        };
        let status = response.status();
        let text = match response.text().await {
            Ok(text) => text,
            Err(err) if status.is_success() => return lost_answer("Vonage", &err),
            Err(err) => anyhow::bail!("Vonage answered {status}: {err}"),
        };
        anyhow::ensure!(status.is_success(), "Vonage answered {status}: {text:.300}");
        let Ok(answer) = serde_json::from_str::<SendResponse>(&text) else {
            return Ok(SendOutcome::Uncertain {
                reason: format!("unexpected answer from Vonage: {text:.200}"),
            });
        };
        // A long text goes out as several parts, each with its own status and id.
        // Receipts name our `client-ref`, so the first id is enough to keep.
        let first = answer.messages.first().context("Vonage sent no status")?;
        if let Some(bad) = answer.messages.iter().find(|m| m.status != "0") {
            let theirs = bad.error_text.clone().unwrap_or_default();
            return match bad.status.as_str() {
                // Throttled, internal error, credentials, account barred, no credit:
                // not the message's fault; it stays queued.
                "1" | "4" | "5" | "8" | "9" => {
                    anyhow::bail!("Vonage refused the send ({}: {theirs})", bad.status)
                }
                code => {
                    let (reason, ours) = send_error(code, &theirs);
                    Ok(SendOutcome::Rejected {
                        code: reason.to_owned(),
                        message: format!("{ours} (Vonage {code}: {theirs})"),
                    })
                }
            };
        }
        Ok(SendOutcome::Accepted {
            provider_message_id: first.message_id.clone().context("no message-id")?,
            report_after: None,
        })
    }

    fn webhook(&self, hook: &Webhook<'_>) -> Result<WebhookEvent, WebhookError> {
        match hook.kind {
            "inbound" | "status" => {
                let params = sms_api_params(hook)?;
                self.verify_sig(&params, hook.now)?;
                if hook.kind == "inbound" {
                    inbound(&params)
                } else {
                    receipt(&params)
                }
            }
            "messages-inbound" | "messages-status" => {
                if !content_type_is(hook.headers, "application/json") {
                    return Err(WebhookError::MediaType);
                }
                verify_jwt(
                    &self.config.signature_secret,
                    hook.headers,
                    hook.body,
                    hook.now,
                )?;
                let event: MessagesEvent = serde_json::from_slice(hook.body)
                    .map_err(|e| WebhookError::Invalid(format!("not a Messages API event: {e}")))?;
                messages_event(event, hook.kind == "messages-inbound")
            }
            _ => Err(WebhookError::NotFound),
        }
    }
}

impl Vonage {
    fn verify_sig(
        &self,
        params: &HashMap<String, String>,
        now: OffsetDateTime,
    ) -> Result<(), WebhookError> {
        let sig = params
            .get("sig")
            .ok_or_else(|| WebhookError::Forbidden("no sig parameter".into()))?;
        let expected = signature(
            self.config.signature_method,
            &self.config.signature_secret,
            params,
        );
        // Hex either case (the libraries differ).
        if !bool::from(
            expected
                .to_ascii_lowercase()
                .as_bytes()
                .ct_eq(sig.to_ascii_lowercase().as_bytes()),
        ) {
            return Err(WebhookError::Forbidden("sig does not match".into()));
        }
        let signed_at = params
            .get("timestamp")
            .and_then(|t| t.parse::<i64>().ok())
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
            .ok_or_else(|| WebhookError::Forbidden("no valid timestamp".into()))?;
        if (now - signed_at).abs() > MAX_SKEW {
            return Err(WebhookError::Forbidden(
                "timestamp too far from now (a replay?)".into(),
            ));
        }
        Ok(())
    }
}

/// The parameters of an SMS API webhook, sent form-encoded or as JSON.
fn sms_api_params(hook: &Webhook<'_>) -> Result<HashMap<String, String>, WebhookError> {
    if content_type_is(hook.headers, "application/x-www-form-urlencoded") {
        return Ok(form_fields(hook.body).into_iter().collect());
    }
    if content_type_is(hook.headers, "application/json") {
        let value: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(hook.body)
                .map_err(|e| WebhookError::Invalid(format!("not a JSON object: {e}")))?;
        return Ok(value
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect());
    }
    Err(WebhookError::MediaType)
}

/// The `sig` of SMS API parameters (every one but `sig` itself).
pub fn signature(
    method: SignatureMethod,
    secret: &str,
    params: &HashMap<String, String>,
) -> String {
    let mut names: Vec<&String> = params.keys().filter(|k| *k != "sig").collect();
    names.sort();
    let mut signed = String::new();
    for name in names {
        // `&` and `=` in values become `_`, so the string cannot be forged by shifting.
        let value = params[name].replace(['&', '='], "_");
        signed.push('&');
        signed.push_str(name);
        signed.push('=');
        signed.push_str(&value);
    }
    match method {
        SignatureMethod::Md5Hash => {
            hex::encode(md5::Md5::digest(format!("{signed}{secret}").as_bytes()))
        }
        SignatureMethod::Md5 => hmac_hex::<Hmac<md5::Md5>>(secret, &signed),
        SignatureMethod::Sha1 => hmac_hex::<Hmac<sha1::Sha1>>(secret, &signed),
        SignatureMethod::Sha256 => hmac_hex::<Hmac<sha2::Sha256>>(secret, &signed),
        SignatureMethod::Sha512 => hmac_hex::<Hmac<sha2::Sha512>>(secret, &signed),
    }
}

fn hmac_hex<M: Mac + hmac::digest::KeyInit>(secret: &str, data: &str) -> String {
    match <M as Mac>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(data.as_bytes());
            hex::encode_upper(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

fn required<'a>(params: &'a HashMap<String, String>, name: &str) -> Result<&'a str, WebhookError> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| WebhookError::Invalid(format!("{name} is missing")))
}

fn inbound(params: &HashMap<String, String>) -> Result<WebhookEvent, WebhookError> {
    let text = if params.get("type").is_some_and(|t| t == "binary") {
        "[binary message not shown]".to_owned()
    } else {
        params.get("text").cloned().unwrap_or_default()
    };
    let sms = InboundSms {
        to: plus(required(params, "to")?),
        from: plus(required(params, "msisdn")?),
        body: text,
        provider: NAME.into(),
        provider_message_id: required(params, "messageId")?.to_owned(),
    };
    if params.get("concat").is_some_and(|c| c == "true") {
        let number = |name: &str| -> Result<u32, WebhookError> {
            required(params, name)?
                .parse()
                .map_err(|_| WebhookError::Invalid(format!("{name} is not a number")))
        };
        let (part, total) = (number("concat-part")?, number("concat-total")?);
        if part == 0 || part > total || total > 255 {
            return Err(WebhookError::Invalid(format!(
                "part {part} of {total} is not possible"
            )));
        }
        return Ok(WebhookEvent::InboundPart(InboundPart {
            sms,
            reference: required(params, "concat-ref")?.to_owned(),
            part,
            total,
        }));
    }
    Ok(WebhookEvent::Inbound(sms))
}

/// Reason for a delivery receipt's `err-code`.
fn receipt_error(code: &str) -> (&'static str, &'static str) {
    match code {
        "2" | "3" | "12" => ("unreachable", "The recipient's phone is unreachable."),
        "4" | "14" => (
            "blocked",
            "The recipient or their carrier blocks the message.",
        ),
        "6" | "50" | "51" | "52" | "53" => ("filtered", "The carrier filtered the message."),
        "9" => ("invalid_number", "The recipient's number is not valid."),
        "11" => (
            "unreachable_destination",
            "Messages to this destination are not possible.",
        ),
        _ => (
            "carrier_error",
            "The carrier could not deliver the message.",
        ),
    }
}

/// Reason for a refused send's `status`.
fn send_error(code: &str, text: &str) -> (&'static str, &'static str) {
    match code {
        "7" => (
            "opted_out",
            "The recipient is on the barred list (they opted out).",
        ),
        "15" => (
            "invalid_sender",
            "This number cannot send SMS to the recipient.",
        ),
        "6" | "29" => (
            "unreachable_destination",
            "Messages to this destination are not possible.",
        ),
        "2" | "3" if text.to_ascii_lowercase().contains("to") => {
            ("invalid_number", "The recipient's number is not valid.")
        }
        _ => ("carrier_error", "The carrier refused the message."),
    }
}

fn receipt(params: &HashMap<String, String>) -> Result<WebhookEvent, WebhookError> {
    let state = required(params, "status")?;
    let (status, failed) = match state {
        "delivered" => (MessageStatus::Delivered, false),
        "expired" | "failed" | "rejected" => (MessageStatus::Failed, true),
        // accepted, buffered, unknown: nothing final yet.
        _ => return Ok(WebhookEvent::Ignored),
    };
    let message = match params.get("client-ref").filter(|r| !r.is_empty()) {
        Some(ours) => MessageRef::Ours(ours.clone()),
        None => MessageRef::Provider(required(params, "messageId")?.to_owned()),
    };
    let (error_code, error_message) = if failed {
        let code = params.get("err-code").map_or("", String::as_str);
        let (reason, text) = receipt_error(code);
        (
            Some(reason.to_owned()),
            Some(format!("{text} (Vonage {state}, error {code})")),
        )
    } else {
        (None, None)
    };
    Ok(WebhookEvent::Status(StatusReport {
        message,
        status,
        error_code,
        error_message,
    }))
}

#[derive(Debug, Deserialize)]
struct MessagesEvent {
    message_uuid: String,
    to: Option<String>,
    from: Option<String>,
    channel: Option<String>,
    text: Option<String>,
    status: Option<String>,
    client_ref: Option<String>,
    error: Option<MessagesError>,
}

#[derive(Debug, Deserialize)]
struct MessagesError {
    title: Option<serde_json::Value>,
    detail: Option<String>,
}

fn messages_event(event: MessagesEvent, inbound: bool) -> Result<WebhookEvent, WebhookError> {
    if event.channel.as_deref().is_some_and(|c| c != "sms") {
        return Ok(WebhookEvent::Ignored);
    }
    let missing = |name: &str| WebhookError::Invalid(format!("{name} is missing"));
    if inbound {
        return Ok(WebhookEvent::Inbound(InboundSms {
            to: plus(&event.to.ok_or_else(|| missing("to"))?),
            from: plus(&event.from.ok_or_else(|| missing("from"))?),
            body: event.text.unwrap_or_default(),
            provider: NAME.into(),
            provider_message_id: event.message_uuid,
        }));
    }
    let state = event.status.ok_or_else(|| missing("status"))?;
    let (status, failed) = match state.as_str() {
        "delivered" | "read" => (MessageStatus::Delivered, false),
        "rejected" | "undeliverable" | "failed" => (MessageStatus::Failed, true),
        // submitted and the rest: nothing final yet.
        _ => return Ok(WebhookEvent::Ignored),
    };
    let (error_code, error_message) = if failed {
        let detail = event
            .error
            .map(|e| {
                let title = e.title.map(|t| t.to_string()).unwrap_or_default();
                format!("{title} {}", e.detail.unwrap_or_default())
                    .trim()
                    .to_owned()
            })
            .unwrap_or_default();
        (
            Some("carrier_error".to_owned()),
            Some(format!(
                "The carrier could not deliver the message (Vonage {state}: {detail})"
            )),
        )
    } else {
        (None, None)
    };
    Ok(WebhookEvent::Status(StatusReport {
        message: match event.client_ref {
            Some(ours) if !ours.is_empty() => MessageRef::Ours(ours),
            _ => MessageRef::Provider(event.message_uuid),
        },
        status,
        error_code,
        error_message,
    }))
}

#[derive(Debug, Deserialize)]
struct WebhookClaims {
    payload_hash: Option<String>,
    exp: Option<i64>,
}

/// Checks the Messages API's `Authorization: Bearer <JWT>`: HS256 with our signature
/// secret, not expired at `now`, and `payload_hash` the SHA-256 of this very body.
pub fn verify_jwt(
    secret: &str,
    headers: &axum::http::HeaderMap,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<(), WebhookError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| WebhookError::Forbidden("no bearer token".into()))?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    // Expiry is checked below against the `now` we were given, not the system clock.
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<WebhookClaims>(
        token.trim(),
        &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map_err(|e| WebhookError::Forbidden(format!("bad token: {e}")))?;
    if data
        .claims
        .exp
        .is_some_and(|exp| exp < now.unix_timestamp())
    {
        return Err(WebhookError::Forbidden("token expired".into()));
    }
    let hash = data
        .claims
        .payload_hash
        .ok_or_else(|| WebhookError::Forbidden("no payload_hash".into()))?;
    let actual = hex::encode(sha2::Sha256::digest(body));
    if !bool::from(
        actual
            .as_bytes()
            .ct_eq(hash.to_ascii_lowercase().as_bytes()),
    ) {
        return Err(WebhookError::Forbidden(
            "payload_hash does not match the body".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(list: &[(&str, &str)]) -> HashMap<String, String> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The MD5-hash vector of Vonage's SDK tests (secret "secret"). The older SDK's
    /// SHA vectors are plain hashes, which Vonage no longer uses: its current SDK
    /// signs with HMACs, checked in the next test.
    #[test]
    fn the_md5_hash_signature_matches_the_sdk_vector() {
        let p = params(&[("a", "1"), ("b", "2"), ("timestamp", "1461605396")]);
        assert_eq!(
            signature(SignatureMethod::Md5Hash, "secret", &p),
            "6af838ef94998832dbfc29020b564830"
        );
        let mut signed = p.clone();
        signed.insert("sig".into(), "6af838ef94998832dbfc29020b564830".into());
        assert_eq!(
            signature(SignatureMethod::Md5Hash, "secret", &signed),
            "6af838ef94998832dbfc29020b564830",
            "sig itself is not signed"
        );
    }

    /// A real inbound webhook's parameters and signatures, from the current Vonage
    /// Ruby SDK's tests.
    #[test]
    fn signatures_of_an_inbound_webhook_match() {
        let p = params(&[
            ("message-timestamp", "2013-11-21 15:27:30"),
            ("messageId", "020000001B0FE827"),
            ("msisdn", "14843472194"),
            ("text", "Test again"),
            ("timestamp", "1385047698"),
            ("to", "13239877404"),
            ("type", "text"),
        ]);
        let secret = "my_secret_key_for_testing";
        let cases = [
            (SignatureMethod::Md5Hash, "d2e7b1dc968737c5998ad624e02f90b7"),
            (SignatureMethod::Md5, "DDEBD46008C2D4E93CCE578A332A52D5"),
            (
                SignatureMethod::Sha1,
                "27D0D05C2876C7CB1720DBCDBA4D492E1E55C09A",
            ),
            (
                SignatureMethod::Sha256,
                "DDB8397C2B90AAC7F3882D306475C9A5058C92322EEF43C92B298B6E0FC0D330",
            ),
            (
                SignatureMethod::Sha512,
                "E0D3C650F8C9D1A5C174D10DDDBFB003E561F59B265616208B0487C5D819481CD3C311D59CF6165ECD1139622D5BA3A256C0D763AC4A9AD9144B5A426B94FE82",
            ),
        ];
        for (method, expected) in cases {
            assert!(
                signature(method, secret, &p).eq_ignore_ascii_case(expected),
                "{method:?}"
            );
        }
        // `&` and `=` in a value are signed as `_`.
        for v in ["_", "&", "="] {
            assert_eq!(
                signature(SignatureMethod::Md5Hash, secret, &params(&[("k", v)])),
                "c3d6a686ab9c7e7408bb1c0506e9629a"
            );
        }
    }
}
