//! Inbound SMS through the sandbox carrier: threading, new contacts, unread counts,
//! repeated deliveries, and the compliance keywords with their consent records.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::client::{Client, admin, agent, other_tenant};
use common::{Backend, start};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(
    an_inbound_sms_threads_creates_the_contact_and_is_unread,
    stop_opts_out_with_one_confirmation_and_start_opts_back_in,
    only_admins_inject_and_only_into_their_tenant,
);

const OURS: &str = "+14155552671";

async fn number(admin: &Client) -> String {
    let (status, body) = admin
        .post(
            "/phone-sms/phone-numbers",
            json!({"number": OURS, "type": "Support"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn text(admin: &Client, from: &str, body: &str) -> (StatusCode, Value) {
    admin
        .post(
            "/phone-sms/sandbox/inbound",
            json!({"to": OURS, "from": from, "body": body}),
        )
        .await
}

async fn thread(client: &Client, conversation: &str) -> Vec<Value> {
    let (_, page) = client
        .get(&format!(
            "/phone-sms/conversations/{conversation}/messages?limit=200"
        ))
        .await;
    let mut items = page["items"].as_array().unwrap().clone();
    items.reverse();
    items
}

async fn an_inbound_sms_threads_creates_the_contact_and_is_unread(backend: Backend) {
    let server = start(backend).await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    number(&admin).await;
    let (status, first) = admin
        .post(
            "/phone-sms/sandbox/inbound",
            json!({"to": "+1 (415) 555-2671", "from": "+1 415 555 0188", "body": "Is the clinic open Saturday?", "messageId": "SM1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(
        (first["direction"].as_str(), first["status"].as_str()),
        (Some("inbound"), Some("received"))
    );
    let conversation = first["conversationId"].as_str().unwrap().to_owned();
    // The same delivery again (a webhook retry): nothing new.
    let (status, again) = admin
        .post(
            "/phone-sms/sandbox/inbound",
            json!({"to": OURS, "from": "+14155550188", "body": "Is the clinic open Saturday?", "messageId": "SM1"}),
        )
        .await;
    assert_eq!((status, &again["id"]), (StatusCode::OK, &first["id"]));
    let (_, second) = text(&admin, "+14155550188", "Or Sunday?").await;
    assert_eq!(
        second["conversationId"],
        conversation.as_str(),
        "one thread per pair of numbers"
    );
    assert_eq!(thread(&agent, &conversation).await.len(), 2);

    let (_, conv) = agent
        .get(&format!("/phone-sms/conversations/{conversation}"))
        .await;
    assert_eq!(conv["unreadCount"], 2);
    assert_eq!(conv["contactNumber"], "+14155550188");
    let contact_id = conv["contactId"]
        .as_str()
        .expect("a contact was created")
        .to_owned();
    let (_, contact) = agent
        .get(&format!("/phone-sms/contacts/{contact_id}"))
        .await;
    assert_eq!(contact["phoneNumbers"], json!(["+14155550188"]));
    assert_eq!(contact["tags"], json!(["sms"]));
    assert_eq!(first["contactId"], contact_id.as_str());
}

async fn stop_opts_out_with_one_confirmation_and_start_opts_back_in(backend: Backend) {
    let server = start(backend).await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    number(&admin).await;
    let from = "+14155550177";
    let (_, hello) = text(&admin, from, "Hello").await;
    let conversation = hello["conversationId"].as_str().unwrap().to_owned();
    let contact = hello["contactId"].as_str().unwrap().to_owned();
    let contact_path = format!("/phone-sms/contacts/{contact}");

    text(&admin, from, "Stop").await;
    let messages = thread(&agent, &conversation).await;
    let bodies: Vec<&str> = messages
        .iter()
        .map(|m| m["message"].as_str().unwrap())
        .collect();
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    assert_eq!(bodies[1], "Stop");
    assert!(
        bodies[2].contains("unsubscribed") && bodies[2].contains("START"),
        "{}",
        bodies[2]
    );
    assert_eq!(messages[2]["direction"], "outbound");
    assert_eq!(agent.get(&contact_path).await.1["optedOut"], true);
    let (status, refused) = agent
        .post(
            "/phone-sms/messages",
            json!({"conversationId": conversation, "message": "Are you sure?"}),
        )
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::CONFLICT, Some("opted_out"))
    );
    // A second STOP: no second confirmation.
    text(&admin, from, "STOP").await;
    assert_eq!(thread(&agent, &conversation).await.len(), 4);

    // YES from someone opted out is an opt-in; START too.
    text(&admin, from, "start").await;
    let messages = thread(&agent, &conversation).await;
    assert!(
        messages.last().unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("subscribed again")
    );
    assert_eq!(agent.get(&contact_path).await.1["optedOut"], false);
    let (status, _) = agent
        .post(
            "/phone-sms/messages",
            json!({"conversationId": conversation, "message": "Welcome back"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // HELP answers; YES from someone subscribed is just a yes.
    let before = thread(&agent, &conversation).await.len();
    text(&admin, from, "HELP").await;
    let messages = thread(&agent, &conversation).await;
    assert_eq!(messages.len(), before + 2);
    assert!(
        messages.last().unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("STOP")
    );
    text(&admin, from, "yes").await;
    assert_eq!(thread(&agent, &conversation).await.len(), before + 3);

    // A clear phrase opts out too.
    text(&admin, from, "Please stop texting me.").await;
    assert_eq!(agent.get(&contact_path).await.1["optedOut"], true);

    let (status, consent) = agent.get(&format!("{contact_path}/consent")).await;
    assert_eq!(status, StatusCode::OK);
    let kinds: Vec<(&str, &str, &str)> = consent
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["method"].as_str().unwrap(),
                e["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("optOut", "keyword", "Stop"),
            ("optIn", "keyword", "start"),
            ("optOut", "keyword", "Please stop texting me."),
        ]
    );
}

async fn only_admins_inject_and_only_into_their_tenant(backend: Backend) {
    let server = start(backend).await;
    let (admin, agent, other) = (
        admin(&server).await,
        agent(&server).await,
        other_tenant(&server).await,
    );
    number(&admin).await;
    let (status, _) = agent
        .post(
            "/phone-sms/sandbox/inbound",
            json!({"to": OURS, "from": "+14155550100", "body": "hi"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = other
        .post(
            "/phone-sms/sandbox/inbound",
            json!({"to": OURS, "from": "+14155550100", "body": "hi"}),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("to"))
    );
    let (status, body) = admin
        .post(
            "/phone-sms/sandbox/inbound",
            json!({"to": OURS, "from": "12", "body": "hi"}),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("from"))
    );
    let (_, hello) = text(&admin, "+14155550100", "hi").await;
    let contact = hello["contactId"].as_str().unwrap();
    let (status, _) = other
        .get(&format!("/phone-sms/contacts/{contact}/consent"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        other.get("/phone-sms/conversations").await.1["items"],
        json!([])
    );
}
