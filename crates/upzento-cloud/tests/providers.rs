//! Twilio and Vonage end to end against local servers that speak their documented
//! wire formats: the exact send requests they receive, the answers (and errors) they
//! give, and their webhooks signed as they sign them, delivered to a real server on
//! both backends. Bad webhooks (wrong or missing signature, missing fields, a huge
//! body, a wrong content type, a replay) are refused and store nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::IntoResponse;
use base64::Engine;
use common::client::{Client, admin, agent};
use common::{Backend, Server, fresh_store, start_on};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest;
use upzento_cloud::carrier::Provider;
use upzento_cloud::carrier::twilio::{self, Twilio, TwilioConfig};
use upzento_cloud::carrier::vonage::{self, SignatureMethod, Vonage, VonageConfig};

on_both_backends!(
    twilio_sends_exact_requests_and_follows_status_callbacks,
    twilio_refusals_become_clear_reasons,
    twilio_inbound_is_verified_threaded_once_and_honours_stop,
    vonage_sends_joins_parts_and_verifies_both_signatures,
);

const OURS: &str = "+14155552671";
const SID: &str = "ACf00dfeedf00dfeedf00dfeedf00dfeed";
const TOKEN: &str = "twilio-auth-token-for-tests";
const VONAGE_KEY: &str = "abcd1234";
const VONAGE_SECRET: &str = "vonage-api-secret";
const SIGNING_SECRET: &str = "vonage-signature-secret";

/// One request a fake provider received.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    authorization: Option<String>,
    content_type: Option<String>,
    form: Vec<(String, String)>,
}

#[derive(Default)]
struct Fake {
    seen: Mutex<Vec<Seen>>,
    /// Answer 500 to this many sends first (an outage).
    fail_next: Mutex<u32>,
}

async fn start_fake(router: Router<Arc<Fake>>) -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = router.with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, fake)
}

fn record(fake: &Fake, path: String, headers: &HeaderMap, body: &[u8]) -> Seen {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let seen = Seen {
        path,
        authorization: header("authorization"),
        content_type: header("content-type"),
        form: form_urlencoded::parse(body).into_owned().collect(),
    };
    fake.seen.lock().unwrap().push(seen.clone());
    seen
}

fn field<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.form
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The Messages resource of Twilio's REST API, with the behaviour of its test
/// credentials' magic numbers (+15005550001 invalid, +15005550004 opted out, ...).
async fn twilio_messages(
    State(fake): State<Arc<Fake>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let seen = record(
        &fake,
        format!("/2010-04-01/Accounts/{account}/Messages.json"),
        &headers,
        &body,
    );
    let error = |status: u16, code: u32, message: &str| {
        (
            AxumStatus::from_u16(status).unwrap(),
            axum::Json(json!({
                "code": code,
                "message": message,
                "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
                "status": status,
            })),
        )
            .into_response()
    };
    {
        let mut fail = fake.fail_next.lock().unwrap();
        if *fail > 0 {
            *fail -= 1;
            return error(500, 20500, "Internal Server Error");
        }
    }
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
    );
    if account != SID || seen.authorization.as_deref() != Some(basic.as_str()) {
        return error(401, 20003, "Authenticate");
    }
    let Some(to) = field(&seen, "To") else {
        return error(400, 21604, "A 'To' phone number is required.");
    };
    match to {
        "+15005550001" => {
            return error(
                400,
                21211,
                &format!("The 'To' number {to} is not a valid phone number."),
            );
        }
        "+15005550002" => {
            return error(
                400,
                21612,
                "The 'To' phone number is not currently reachable via SMS.",
            );
        }
        "+15005550004" => return error(400, 21610, "Attempt to send to unsubscribed recipient"),
        _ => {}
    }
    let body_text = field(&seen, "Body").unwrap_or_default();
    if body_text.chars().count() > 1600 {
        return error(
            400,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        );
    }
    let sid = format!("SM{}", uuid::Uuid::now_v7().simple());
    (
        AxumStatus::CREATED,
        axum::Json(json!({
            "account_sid": SID,
            "api_version": "2010-04-01",
            "body": body_text,
            "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
            "date_sent": null,
            "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000",
            "direction": "outbound-api",
            "error_code": null,
            "error_message": null,
            "from": field(&seen, "From"),
            "messaging_service_sid": field(&seen, "MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": null,
            "price_unit": null,
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": format!("/2010-04-01/Accounts/{SID}/Messages/{sid}/Media.json")},
            "to": to,
            "uri": format!("/2010-04-01/Accounts/{SID}/Messages/{sid}.json"),
        })),
    )
        .into_response()
}

/// The account's IncomingPhoneNumbers (`?PhoneNumber=` filter): it holds `OURS` only.
async fn twilio_numbers(
    Path(account): Path<String>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
    );
    if account != SID || headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&basic)
    {
        return (
            AxumStatus::UNAUTHORIZED,
            axum::Json(json!({"code": 20003, "message": "Authenticate", "status": 401})),
        )
            .into_response();
    }
    let held: Vec<Value> = [OURS]
        .into_iter()
        .filter(|n| query.get("PhoneNumber").is_none_or(|q| q == n))
        .map(|n| {
            json!({"sid": "PN0123456789abcdef0123456789abcdef", "phone_number": n,
                        "capabilities": {"sms": true, "voice": true, "mms": false}})
        })
        .collect();
    axum::Json(json!({"incoming_phone_numbers": held, "page": 0, "page_size": 50})).into_response()
}

/// The account's numbers (`GET /account/numbers`): it holds `OURS` only.
async fn vonage_numbers(
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> axum::Json<Value> {
    if query.get("api_key").map(String::as_str) != Some(VONAGE_KEY)
        || query.get("api_secret").map(String::as_str) != Some(VONAGE_SECRET)
    {
        return axum::Json(
            json!({"error-code": "401", "error-code-label": "authentication failed"}),
        );
    }
    let pattern = query.get("pattern").cloned().unwrap_or_default();
    let ours = OURS.trim_start_matches('+');
    if ours.starts_with(&pattern) {
        axum::Json(
            json!({"count": 1, "numbers": [{"country": "US", "msisdn": ours, "type": "mobile-lvn", "features": ["VOICE", "SMS"]}]}),
        )
    } else {
        axum::Json(json!({"count": 0}))
    }
}

/// The SMS API of Vonage (`POST /sms/json`).
async fn vonage_sms(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> axum::Json<Value> {
    let seen = record(&fake, "/sms/json".into(), &headers, &body);
    if field(&seen, "api_key") != Some(VONAGE_KEY)
        || field(&seen, "api_secret") != Some(VONAGE_SECRET)
    {
        return axum::Json(
            json!({"message-count": "1", "messages": [{"status": "4", "error-text": "Bad Credentials"}]}),
        );
    }
    let to = field(&seen, "to").unwrap_or_default().to_owned();
    if to == "14155550999" {
        return axum::Json(
            json!({"message-count": "1", "messages": [{"status": "7", "error-text": "Number barred"}]}),
        );
    }
    axum::Json(json!({
        "message-count": "1",
        "messages": [{
            "to": to,
            "message-id": format!("0A{:014X}", rand_id()),
            "status": "0",
            "remaining-balance": "3.14159265",
            "message-price": "0.03330000",
            "network": "12345",
            "client-ref": field(&seen, "client-ref"),
        }]
    }))
}

fn rand_id() -> u64 {
    u64::from_le_bytes(uuid::Uuid::now_v7().as_bytes()[8..16].try_into().unwrap()) >> 8
}

async fn cloud_with(backend: Backend, make: impl FnOnce(&str) -> Arc<dyn Provider>) -> Server {
    let (store, db) = fresh_store(backend).await;
    upzento_cloud::demo::ensure_accounts(store.as_ref(), time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let provider = make(&url);
    start_on(listener, store, db, provider, true, Some(url))
}

async fn twilio_cloud(backend: Backend) -> (Server, Arc<Fake>, String) {
    let (api, fake) = start_fake(
        Router::new()
            .route(
                "/2010-04-01/Accounts/{account}/Messages.json",
                axum::routing::post(twilio_messages),
            )
            .route(
                "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json",
                axum::routing::get(twilio_numbers),
            ),
    )
    .await;
    let server = cloud_with(backend, |public| {
        Arc::new(
            Twilio::new(TwilioConfig {
                account_sid: SID.into(),
                auth_token: TOKEN.into(),
                messaging_service_sid: None,
                api_url: api.clone(),
                public_url: public.into(),
            })
            .unwrap(),
        )
    })
    .await;
    (server, fake, api)
}

async fn number(admin: &Client) -> String {
    // A number the provider account does not hold cannot be used.
    let (status, body) = admin
        .post(
            "/phone-sms/phone-numbers",
            json!({"number": "+14155552600", "type": "Support"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("number_not_in_account")),
        "{body}"
    );
    let (status, body) = admin
        .post(
            "/phone-sms/phone-numbers",
            json!({"number": OURS, "type": "Support"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn send(agent: &Client, number_id: &str, to: &str, text: &str) -> Value {
    let (status, body) = agent
        .post(
            "/phone-sms/messages",
            json!({"phoneNumberId": number_id, "to": to, "message": text}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// Waits (up to 10 s) until `check` gives a value.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..400 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn message(client: &Client, conversation: &str, id: &str) -> Value {
    let (_, page) = client
        .get(&format!(
            "/phone-sms/conversations/{conversation}/messages?limit=200"
        ))
        .await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

async fn status_of(client: &Client, sent: &Value) -> Value {
    message(
        client,
        sent["conversationId"].as_str().unwrap(),
        sent["id"].as_str().unwrap(),
    )
    .await
}

async fn wait_status(client: &Client, sent: &Value, status: &str) -> Value {
    eventually(&format!("status {status}"), || async {
        let m = status_of(client, sent).await;
        (m["status"] == status).then_some(m)
    })
    .await
}

fn sent_to(fake: &Fake, to_field: &str, to: &str) -> Option<Seen> {
    fake.seen
        .lock()
        .unwrap()
        .iter()
        .find(|s| field(s, to_field) == Some(to))
        .cloned()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Posts a form to the cloud as Twilio does, signed with `token` over `url`.
async fn twilio_post(
    url: &str,
    params: &[(String, String)],
    token: Option<&str>,
) -> (StatusCode, String, String) {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("user-agent", "TwilioProxy/1.1")
        .body(body);
    if let Some(token) = token {
        request = request.header("X-Twilio-Signature", twilio::signature(token, url, params));
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

async fn twilio_sends_exact_requests_and_follows_status_callbacks(backend: Backend) {
    let (server, fake, _) = twilio_cloud(backend).await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    let from = number(&admin).await;

    let sent = send(&agent, &from, "+14155550123", "Your table is ready").await;
    let id = sent["id"].as_str().unwrap();
    let request = eventually("the send", || async {
        sent_to(&fake, "To", "+14155550123")
    })
    .await;
    let callback = format!("{}/phone-sms/webhooks/twilio/status?ref={id}", server.url);
    assert_eq!(
        request.path,
        format!("/2010-04-01/Accounts/{SID}/Messages.json")
    );
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        request.form,
        pairs(&[
            ("To", "+14155550123"),
            ("From", OURS),
            ("Body", "Your table is ready"),
            ("StatusCallback", &callback),
        ])
    );
    let accepted = wait_status(&agent, &sent, "sent").await;
    let message_sid = accepted["providerMessageId"].as_str().unwrap().to_owned();
    assert!(message_sid.starts_with("SM"), "{accepted}");
    assert_eq!(accepted["provider"], "twilio");

    let report = |state: &str| {
        pairs(&[
            ("AccountSid", SID),
            ("ApiVersion", "2010-04-01"),
            ("From", OURS),
            ("MessageSid", &message_sid),
            ("MessageStatus", state),
            ("SmsSid", &message_sid),
            ("SmsStatus", state),
            ("To", "+14155550123"),
        ])
    };
    // Forged (another token) or unsigned: 403, nothing changes.
    let (status, _, _) = twilio_post(&callback, &report("delivered"), Some("not-the-token")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = twilio_post(&callback, &report("delivered"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Signed over another URL (our id swapped): 403 too.
    let other = format!(
        "{}/phone-sms/webhooks/twilio/status?ref=someone-else",
        server.url
    );
    let forged = twilio::signature(TOKEN, &callback, &report("failed"));
    let response = reqwest::Client::new()
        .post(&other)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", forged)
        .body(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(report("failed"))
                .finish(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(status_of(&agent, &sent).await["status"], "sent");

    // Twilio's own: sending (nothing to record), delivered, then a late "sent".
    for state in ["sending", "delivered", "sent"] {
        let (status, _, _) = twilio_post(&callback, &report(state), Some(TOKEN)).await;
        assert_eq!(status, StatusCode::OK, "{state}");
    }
    assert_eq!(status_of(&agent, &sent).await["status"], "delivered");

    // A report without our reference finds the message by its SID.
    let second = send(&agent, &from, "+14155550124", "See you at 8").await;
    let sid2 = wait_status(&agent, &second, "sent").await["providerMessageId"]
        .as_str()
        .unwrap()
        .to_owned();
    let plain = format!("{}/phone-sms/webhooks/twilio/status", server.url);
    let (status, _, _) = twilio_post(
        &plain,
        &pairs(&[
            ("AccountSid", SID),
            ("ErrorCode", "30007"),
            ("MessageSid", &sid2),
            ("MessageStatus", "undelivered"),
            ("To", "+14155550124"),
        ]),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let failed = wait_status(&agent, &second, "failed").await;
    assert_eq!(failed["errorCode"], "filtered");
    assert!(
        failed["errorMessage"].as_str().unwrap().contains("30007"),
        "{failed}"
    );
    // Exactly one request per message reached Twilio.
    assert_eq!(fake.seen.lock().unwrap().len(), 2);
}

async fn twilio_refusals_become_clear_reasons(backend: Backend) {
    let (server, fake, _) = twilio_cloud(backend).await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    let from = number(&admin).await;
    for (to, code, words) in [
        ("+15005550001", "invalid_number", "21211"),
        ("+15005550002", "unreachable_destination", "21612"),
        ("+15005550004", "opted_out", "21610"),
    ] {
        let sent = send(&agent, &from, to, "Hello").await;
        let failed = wait_status(&agent, &sent, "failed").await;
        assert_eq!(failed["errorCode"], code, "{failed}");
        assert!(
            failed["errorMessage"].as_str().unwrap().contains(words),
            "{failed}"
        );
    }
    // An outage (HTTP 500) is not the message's fault: it stays queued and goes later.
    *fake.fail_next.lock().unwrap() = 1;
    let sent = send(&agent, &from, "+14155550130", "After the outage").await;
    eventually("the failed attempt", || async {
        (fake
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| field(s, "To") == Some("+14155550130"))
            .count()
            == 1)
            .then_some(())
    })
    .await;
    assert_eq!(status_of(&agent, &sent).await["status"], "queued");
    // The worker retries after 5 s.
    let retried = wait_status(&agent, &sent, "sent").await;
    assert!(retried["errorCode"].is_null(), "{retried}");
}

async fn conversation_with(client: &Client, number: &str) -> Option<Value> {
    let (_, page) = client.get("/phone-sms/conversations?limit=100").await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["contactNumber"] == number)
        .cloned()
}

async fn thread(client: &Client, conversation: &Value) -> Vec<Value> {
    let (_, page) = client
        .get(&format!(
            "/phone-sms/conversations/{}/messages?limit=200",
            conversation["id"].as_str().unwrap()
        ))
        .await;
    let mut items = page["items"].as_array().unwrap().clone();
    items.reverse();
    items
}

async fn twilio_inbound_is_verified_threaded_once_and_honours_stop(backend: Backend) {
    let (server, fake, _) = twilio_cloud(backend).await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    let from = number(&admin).await;
    let url = format!("{}/phone-sms/webhooks/twilio/inbound", server.url);
    let inbound = |sid: &str, sender: &str, body: &str| {
        // As Twilio sends them, with parameters we do not use (tolerated).
        pairs(&[
            ("ToCountry", "US"),
            ("ToState", "CA"),
            ("SmsMessageSid", sid),
            ("NumMedia", "0"),
            ("ToCity", "SAN FRANCISCO"),
            ("FromZip", "94105"),
            ("SmsSid", sid),
            ("FromState", "CA"),
            ("SmsStatus", "received"),
            ("FromCity", "SAN FRANCISCO"),
            ("Body", body),
            ("FromCountry", "US"),
            ("To", OURS),
            ("MessagingServiceSid", ""),
            ("ToZip", "94105"),
            ("NumSegments", "1"),
            ("MessageSid", sid),
            ("AccountSid", SID),
            ("From", sender),
            ("ApiVersion", "2010-04-01"),
        ])
    };
    let (status, content_type, body) = twilio_post(
        &url,
        &inbound("SM100", "+14155550188", "Is the clinic open Saturday?"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(content_type.starts_with("text/xml"), "{content_type}");
    assert!(body.contains("<Response>"), "{body}");
    let conversation = conversation_with(&agent, "+14155550188")
        .await
        .expect("threaded");
    let messages = thread(&agent, &conversation).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        (
            messages[0]["message"].as_str(),
            messages[0]["providerMessageId"].as_str()
        ),
        (Some("Is the clinic open Saturday?"), Some("SM100"))
    );
    assert!(
        conversation["contactId"].is_string(),
        "a contact was created"
    );

    // A signed message with a NUL in it is stored, the NUL replaced, on both backends
    // (PostgreSQL cannot hold it); refusing it would make Twilio retry it for hours.
    let (status, _, body) = twilio_post(
        &url,
        &inbound("SM101", "+14155550166", "before\u{0}after"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let with_nul = conversation_with(&agent, "+14155550166")
        .await
        .expect("threaded");
    assert_eq!(
        thread(&agent, &with_nul).await[0]["message"].as_str(),
        Some("before\u{FFFD}after")
    );

    // Twilio retries: the same MessageSid changes nothing.
    let (status, _, _) = twilio_post(
        &url,
        &inbound("SM100", "+14155550188", "Is the clinic open Saturday?"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(thread(&agent, &conversation).await.len(), 1);

    // Bad webhooks from someone else: refused, nothing stored.
    let stranger = "+14155550177";
    let (status, _, _) = twilio_post(&url, &inbound("SM101", stranger, "hi"), Some("guess")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = twilio_post(&url, &inbound("SM102", stranger, "hi"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut no_from = inbound("SM103", stranger, "hi");
    no_from.retain(|(k, _)| k != "From");
    let (status, _, body) = twilio_post(&url, &no_from, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let json_body = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .header("X-Twilio-Signature", twilio::signature(TOKEN, &url, &[]))
        .body(r#"{"From":"+14155550177","To":"+14155552671","Body":"hi","MessageSid":"SM104"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = inbound("SM105", stranger, &"x".repeat(100 * 1024));
    let (status, _, _) = twilio_post(&url, &huge, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        conversation_with(&agent, stranger).await.is_none(),
        "nothing stored"
    );
    // Another provider's webhook path does not exist on a Twilio server.
    let (status, _, _) = twilio_post(
        &format!("{}/phone-sms/webhooks/vonage/inbound", server.url),
        &inbound("SM106", stranger, "hi"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // STOP: one confirmation, sent through Twilio exactly once; then sends are refused.
    let (status, _, _) =
        twilio_post(&url, &inbound("SM107", "+14155550188", "STOP"), Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    let confirmation = eventually("the confirmation", || async {
        sent_to(&fake, "To", "+14155550188")
    })
    .await;
    assert_eq!(field(&confirmation, "From"), Some(OURS));
    assert!(
        field(&confirmation, "Body")
            .unwrap()
            .contains("unsubscribed"),
        "{confirmation:?}"
    );
    let (status, refused) = agent
        .post(
            "/phone-sms/messages",
            json!({"phoneNumberId": from, "to": "+14155550188", "message": "Still there?"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["code"], "opted_out");
    // A repeated STOP webhook sends nothing more.
    let (status, _, _) =
        twilio_post(&url, &inbound("SM107", "+14155550188", "STOP"), Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let to_them = fake
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| field(s, "To") == Some("+14155550188"))
        .count();
    assert_eq!(to_them, 1);
}

fn vonage_signed(
    params: &[(&str, &str)],
    secret: &str,
    at: time::OffsetDateTime,
) -> Vec<(String, String)> {
    let mut map: std::collections::HashMap<String, String> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    map.insert("timestamp".into(), at.unix_timestamp().to_string());
    map.insert("nonce".into(), uuid::Uuid::now_v7().to_string());
    let sig = vonage::signature(SignatureMethod::Sha256, secret, &map);
    map.insert("sig".into(), sig);
    map.into_iter().collect()
}

async fn post_form(url: &str, params: &[(String, String)]) -> StatusCode {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish(),
        )
        .send()
        .await
        .unwrap()
        .status()
}

async fn post_json(url: &str, body: &str, bearer: Option<&str>) -> StatusCode {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().status()
}

/// A Messages API webhook token as Vonage makes it.
fn vonage_jwt(secret: &str, body: &str) -> String {
    let claims = json!({
        "iat": time::OffsetDateTime::now_utc().unix_timestamp(),
        "jti": uuid::Uuid::now_v7().to_string(),
        "iss": "Vonage",
        "payload_hash": hex::encode(sha2::Sha256::digest(body.as_bytes())),
        "api_key": VONAGE_KEY,
        "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn vonage_sends_joins_parts_and_verifies_both_signatures(backend: Backend) {
    let (api, fake) = start_fake(
        Router::new()
            .route("/sms/json", axum::routing::post(vonage_sms))
            .route("/account/numbers", axum::routing::get(vonage_numbers)),
    )
    .await;
    let server = cloud_with(backend, |public| {
        Arc::new(
            Vonage::new(VonageConfig {
                api_key: VONAGE_KEY.into(),
                api_secret: VONAGE_SECRET.into(),
                signature_secret: SIGNING_SECRET.into(),
                signature_method: SignatureMethod::Sha256,
                rest_url: api.clone(),
                public_url: public.into(),
            })
            .unwrap(),
        )
    })
    .await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    let from = number(&admin).await;

    // Sending: numbers without "+", our id as client-ref, UCS-2 as type=unicode.
    let sent = send(&agent, &from, "+14155550123", "Grüße 👋").await;
    let id = sent["id"].as_str().unwrap().to_owned();
    let request = eventually("the send", || async { sent_to(&fake, "to", "14155550123") }).await;
    let callback = format!("{}/phone-sms/webhooks/vonage/status", server.url);
    assert_eq!(
        request.form,
        pairs(&[
            ("api_key", VONAGE_KEY),
            ("api_secret", VONAGE_SECRET),
            ("from", "14155552671"),
            ("to", "14155550123"),
            ("text", "Grüße 👋"),
            ("client-ref", &id),
            ("callback", &callback),
            ("type", "unicode"),
        ])
    );
    let accepted = wait_status(&agent, &sent, "sent").await;
    let vonage_id = accepted["providerMessageId"].as_str().unwrap().to_owned();

    // Delivery receipts: forged, stale and unsigned ones are refused.
    let now = time::OffsetDateTime::now_utc();
    let receipt = [
        ("msisdn", "14155550123"),
        ("to", "14155552671"),
        ("network-code", "310090"),
        ("messageId", vonage_id.as_str()),
        ("price", "0.03330000"),
        ("status", "delivered"),
        ("scts", "2001011400"),
        ("err-code", "0"),
        ("api-key", VONAGE_KEY),
        ("client-ref", id.as_str()),
        ("message-timestamp", "2020-01-01 12:00:00"),
    ];
    assert_eq!(
        post_form(&callback, &vonage_signed(&receipt, "wrong-secret", now)).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post_form(
            &callback,
            &vonage_signed(&receipt, SIGNING_SECRET, now - time::Duration::hours(1))
        )
        .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post_form(&callback, &pairs(&receipt)).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(status_of(&agent, &sent).await["status"], "sent");
    assert_eq!(
        post_form(&callback, &vonage_signed(&receipt, SIGNING_SECRET, now)).await,
        StatusCode::OK
    );
    assert_eq!(status_of(&agent, &sent).await["status"], "delivered");

    // A refusal (the number is barred) becomes a clear reason.
    let barred = send(&agent, &from, "+14155550999", "Hello").await;
    let failed = wait_status(&agent, &barred, "failed").await;
    assert_eq!(failed["errorCode"], "opted_out", "{failed}");

    // A two-part inbound SMS, parts out of order and one repeated, as JSON: one message.
    let inbound_url = format!("{}/phone-sms/webhooks/vonage/inbound", server.url);
    let part = |n: &str, message_id: &str, text: &str| {
        let signed = vonage_signed(
            &[
                ("msisdn", "14155550188"),
                ("to", "14155552671"),
                ("messageId", message_id),
                ("text", text),
                ("type", "text"),
                ("keyword", "HELLO"),
                ("api-key", VONAGE_KEY),
                ("message-timestamp", "2020-01-01 12:00:00"),
                ("concat", "true"),
                ("concat-ref", "7"),
                ("concat-total", "2"),
                ("concat-part", n),
            ],
            SIGNING_SECRET,
            time::OffsetDateTime::now_utc(),
        );
        let object: serde_json::Map<String, Value> = signed
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        Value::Object(object).to_string()
    };
    let first_half = "Hello, this is a long message that did not fit into one SMS, ";
    let second_half = "so it came in two parts.";
    for body in [
        part("2", "0B00000000000002", second_half),
        part("1", "0B00000000000001", first_half),
        part("2", "0B00000000000002", second_half),
    ] {
        assert_eq!(post_json(&inbound_url, &body, None).await, StatusCode::OK);
    }
    let conversation = conversation_with(&agent, "+14155550188")
        .await
        .expect("threaded");
    let messages = thread(&agent, &conversation).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["message"], format!("{first_half}{second_half}"));
    assert_eq!(messages[0]["providerMessageId"], "0B00000000000001");

    // The Messages API: a JWT whose payload_hash covers the body.
    let messages_url = format!("{}/phone-sms/webhooks/vonage/messages-inbound", server.url);
    let body = json!({
        "channel": "sms",
        "message_uuid": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        "to": "14155552671",
        "from": "14155550199",
        "timestamp": "2025-02-03T12:14:25Z",
        "text": "Hello from the Messages API",
        "sms": {"num_messages": "1", "count_total": "1"},
        "message_type": "text",
    })
    .to_string();
    let token = vonage_jwt(SIGNING_SECRET, &body);
    let tampered = body.replace("Hello", "Hijack");
    assert_eq!(
        post_json(&messages_url, &tampered, Some(&token)).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post_json(
            &messages_url,
            &body,
            Some(&vonage_jwt("other-secret", &body))
        )
        .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post_json(&messages_url, &body, None).await,
        StatusCode::FORBIDDEN
    );
    assert!(conversation_with(&agent, "+14155550199").await.is_none());
    assert_eq!(
        post_json(&messages_url, &body, Some(&token)).await,
        StatusCode::OK
    );
    let conversation = conversation_with(&agent, "+14155550199")
        .await
        .expect("threaded");
    assert_eq!(
        thread(&agent, &conversation).await[0]["message"],
        "Hello from the Messages API"
    );
}
