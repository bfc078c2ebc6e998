//! Conversations and messages over real HTTP on both backends, with the sandbox carrier.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::client::{Client, admin, agent, other_tenant};
use common::{Backend, Server, start, start_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use upzento_cloud::store::Actor;

on_both_backends!(
    a_message_is_sent_once_and_reaches_delivered,
    carrier_failures_and_opt_outs_are_reported,
    the_inbox_sorts_filters_and_assigns,
    another_tenant_cannot_touch_a_conversation,
    unread_counts_are_per_user,
    templates_count_their_use,
    templates_preview_for_a_real_contact,
    a_send_whose_outcome_is_unknown_is_reconciled_never_repeated_blindly,
    a_conversation_snoozes_and_keeps_internal_notes,
    a_number_keeps_its_pace_whichever_worker_sends,
);

async fn number(admin: &Client, e164: &str) -> String {
    let (status, body) = admin
        .post(
            "/phone-sms/phone-numbers",
            json!({"number": e164, "type": "Support"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Polls a message until `done` holds (the carrier works in the background).
async fn wait_for(
    client: &Client,
    conversation: &str,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..200 {
        let (_, page) = client
            .get(&format!("/phone-sms/conversations/{conversation}/messages"))
            .await;
        if let Some(m) = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            && done(m)
        {
            return m.clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("message {id} never reached the expected state");
}

async fn a_message_is_sent_once_and_reaches_delivered(backend: Backend) {
    let server = start(backend).await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    let from = number(&admin, "+14155552671").await;
    let body = json!({"phoneNumberId": from, "to": "(415) 555-0100", "message": "Your appointment is at 10 — reply C to confirm"});
    let (status, bad_target) = agent
        .post_keyed("/phone-sms/messages", "k-1", body.clone())
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a number without country code: {bad_target}"
    );
    let body = json!({"phoneNumberId": from, "to": "+1 (415) 555-0100", "message": "Your appointment is at 10 — reply C to confirm"});
    let (status, sent) = agent
        .post_keyed("/phone-sms/messages", "k-1", body.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["status"], "queued");
    assert_eq!(sent["direction"], "outbound");
    assert_eq!(sent["encoding"], "ucs2", "the em dash is not GSM-7");
    assert_eq!(sent["segments"], 1);
    assert_eq!(sent["provider"], "sandbox");
    let id = sent["id"].as_str().unwrap();
    let conversation = sent["conversationId"].as_str().unwrap();

    // A retry with the same key sends nothing new; the same key for another text is refused.
    let (status, again) = agent
        .post_keyed("/phone-sms/messages", "k-1", body.clone())
        .await;
    assert_eq!((status, again["id"].as_str()), (StatusCode::OK, Some(id)));
    let mut other = body.clone();
    other["message"] = json!("something else");
    let (status, reused) = agent.post_keyed("/phone-sms/messages", "k-1", other).await;
    assert_eq!(
        (status, reused["code"].as_str()),
        (StatusCode::CONFLICT, Some("idempotency_key_reused"))
    );

    let delivered = wait_for(&agent, conversation, id, |m| m["status"] == "delivered").await;
    assert!(
        delivered["providerMessageId"]
            .as_str()
            .unwrap()
            .starts_with("SB")
    );
    let (_, page) = agent
        .get(&format!("/phone-sms/conversations/{conversation}/messages"))
        .await;
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        1,
        "exactly one message"
    );

    // The same pair of numbers is the same conversation.
    let (status, follow_up) = agent
        .post_keyed(
            "/phone-sms/messages",
            "k-2",
            json!({"conversationId": conversation, "message": "See you!"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(follow_up["conversationId"], conversation);
    let (_, thread) = agent
        .get(&format!("/phone-sms/conversations/{conversation}"))
        .await;
    assert_eq!(thread["lastMessagePreview"], "See you!");
    assert_eq!(thread["ourNumber"], "+14155552671");
    assert_eq!(thread["contactNumber"], "+14155550100");
    wait_for(
        &agent,
        conversation,
        follow_up["id"].as_str().unwrap(),
        |m| m["status"] == "delivered",
    )
    .await;
    let (_, page) = agent
        .get(&format!(
            "/phone-sms/conversations/{conversation}/messages?limit=1"
        ))
        .await;
    assert_eq!(page["items"][0]["message"], "See you!", "newest first");
    let cursor = page["nextCursor"].as_str().unwrap();
    let (_, older) = agent
        .get(&format!(
            "/phone-sms/conversations/{conversation}/messages?limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(older["items"][0]["id"], id);

    // Every status the first message went through is in the change feed, in order.
    let (_, feed) = agent.get("/phone-sms/changes?limit=1000").await;
    let statuses: Vec<&str> = feed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["entity"] == "smsMessage" && c["id"] == id)
        .map(|c| c["data"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["queued", "sent", "delivered"]);

    // Statuses only move forward, and only admins correct them.
    let path = format!("/phone-sms/messages/{id}/status");
    assert_eq!(
        agent.patch(&path, json!({"status": "failed"})).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, error) = admin.patch(&path, json!({"status": "queued"})).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_transition"))
    );
}

async fn carrier_failures_and_opt_outs_are_reported(backend: Backend) {
    let server = start(backend).await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    let from = number(&admin, "+14155552671").await;
    let (_, failing) = agent
        .post(
            "/phone-sms/messages",
            json!({"phoneNumberId": from, "to": "+14155550100", "message": "sandbox: error21211"}),
        )
        .await;
    let conversation = failing["conversationId"].as_str().unwrap().to_owned();
    let failed = wait_for(
        &agent,
        &conversation,
        failing["id"].as_str().unwrap(),
        |m| m["status"] == "failed",
    )
    .await;
    assert_eq!(failed["errorCode"], "invalid_number");
    assert!(
        failed["errorMessage"]
            .as_str()
            .unwrap()
            .contains("not valid")
    );

    // A contact who opted out gets nothing: the send is refused and nothing is stored.
    let (_, contact) = agent
        .post(
            "/phone-sms/contacts",
            json!({"firstName": "Stop", "phoneNumbers": ["+14155550101"]}),
        )
        .await;
    opt_out(&server, contact["id"].as_str().unwrap()).await;
    let (status, error) = agent
        .post(
            "/phone-sms/messages",
            json!({"phoneNumberId": from, "to": "+14155550101", "message": "hello?"}),
        )
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::CONFLICT, Some("opted_out")),
        "{error}"
    );
    let (_, convs) = agent
        .get(&format!(
            "/phone-sms/conversations?contactId={}",
            contact["id"].as_str().unwrap()
        ))
        .await;
    let thread = convs["items"][0]["id"].as_str().unwrap();
    let (_, messages) = agent
        .get(&format!("/phone-sms/conversations/{thread}/messages"))
        .await;
    assert_eq!(messages["items"], json!([]));

    // An inactive number does not send.
    admin
        .patch(
            &format!("/phone-sms/phone-numbers/{from}"),
            json!({"status": "inactive"}),
        )
        .await;
    let (status, error) = agent
        .post(
            "/phone-sms/messages",
            json!({"conversationId": conversation, "message": "still there?"}),
        )
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("number_inactive"))
    );
    for bad in [
        json!({"message": "no target"}),
        json!({"conversationId": conversation, "phoneNumberId": from, "to": "+14155550100", "message": "both"}),
        json!({"conversationId": conversation, "message": "   "}),
    ] {
        assert_eq!(
            agent.post("/phone-sms/messages", bad.clone()).await.0,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
}

/// Opt-out comes from the SMS flow (STOP), which has no endpoint of its own yet: set it in the store.
async fn opt_out(server: &Server, contact_id: &str) {
    let (user, _) = server
        .store
        .user_for_sign_in(upzento_cloud::demo::ADMIN_EMAIL)
        .await
        .unwrap()
        .unwrap();
    let actor = Actor {
        tenant_id: user.tenant_id,
        user_id: user.id,
    };
    let now = upzento_cloud::clock::now();
    let stamp = upzento_cloud::clock::rfc3339(now);
    server
        .store
        .update_contact(
            &actor,
            contact_id,
            Arc::new(move |c| {
                let mut next = c.clone();
                next.opted_out = true;
                next.opted_out_at = Some(stamp.clone());
                Ok(next)
            }),
            now,
        )
        .await
        .unwrap()
        .unwrap();
}

async fn the_inbox_sorts_filters_and_assigns(backend: Backend) {
    let server = start(backend).await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    let from = number(&admin, "+14155552671").await;
    let agent_id = agent.get("/phone-sms/me").await.1["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut ids = Vec::new();
    for to in ["+14155550100", "+14155550101", "+14155550102"] {
        let (status, c) = agent
            .post(
                "/phone-sms/conversations",
                json!({"phoneNumberId": from, "contactNumber": to}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        ids.push(c["id"].as_str().unwrap().to_owned());
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let (status, same) = agent
        .post(
            "/phone-sms/conversations",
            json!({"phoneNumberId": from, "contactNumber": "+1 415 555 0100"}),
        )
        .await;
    assert_eq!(
        (status, same["id"].as_str()),
        (StatusCode::OK, Some(ids[0].as_str()))
    );

    let order = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, inbox) = agent.get("/phone-sms/conversations").await;
    assert_eq!(
        order(&inbox),
        vec![ids[2].clone(), ids[1].clone(), ids[0].clone()],
        "newest activity first"
    );
    tokio::time::sleep(Duration::from_millis(3)).await;
    agent
        .post(
            "/phone-sms/messages",
            json!({"conversationId": ids[0], "message": "bump"}),
        )
        .await;
    let (_, inbox) = agent.get("/phone-sms/conversations?limit=2").await;
    assert_eq!(order(&inbox), vec![ids[0].clone(), ids[2].clone()]);
    let cursor = inbox["nextCursor"].as_str().unwrap();
    let (_, rest) = agent
        .get(&format!("/phone-sms/conversations?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(order(&rest), vec![ids[1].clone()]);
    let (_, before) = agent.get("/phone-sms/conversations").await;

    let (status, assigned) = agent
        .patch(
            &format!("/phone-sms/conversations/{}/assign", ids[1]),
            json!({"userId": agent_id}),
        )
        .await;
    assert_eq!(
        (status, assigned["assignedTo"].as_str()),
        (StatusCode::OK, Some(agent_id.as_str()))
    );
    let (_, mine) = agent.get("/phone-sms/conversations?assignedTo=me").await;
    assert_eq!(order(&mine), vec![ids[1].clone()]);
    let (_, closed) = agent
        .patch(
            &format!("/phone-sms/conversations/{}/status", ids[2]),
            json!({"status": "closed"}),
        )
        .await;
    assert_eq!(closed["status"], "closed");
    let (_, open) = agent.get("/phone-sms/conversations?status=open").await;
    assert!(!order(&open).contains(&ids[2]));
    // Assigning and closing are not activity: the order and times follow messages only.
    let (_, after) = agent.get("/phone-sms/conversations").await;
    assert_eq!(order(&after), order(&before));
    let times = |page: &Value| -> Vec<Value> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["lastActivityAt"].clone())
            .collect()
    };
    assert_eq!(times(&after), times(&before));
    let (status, error) = agent
        .patch(
            &format!("/phone-sms/conversations/{}/assign", ids[1]),
            json!({"userId": "nobody"}),
        )
        .await;
    assert_eq!(
        (status, error["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("userId"))
    );
    let (_, unassigned) = agent
        .patch(
            &format!("/phone-sms/conversations/{}/assign", ids[1]),
            json!({"userId": null}),
        )
        .await;
    assert_eq!(unassigned["assignedTo"], Value::Null);
    let (status, error) = agent
        .post(
            "/phone-sms/conversations",
            json!({"phoneNumberId": from, "contactNumber": "+14155552671"}),
        )
        .await;
    assert_eq!(
        (status, error["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("contactNumber"))
    );
}

async fn another_tenant_cannot_touch_a_conversation(backend: Backend) {
    let server = start(backend).await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    let other = other_tenant(&server).await;
    let from = number(&admin, "+14155552671").await;
    let (_, sent) = agent
        .post(
            "/phone-sms/messages",
            json!({"phoneNumberId": from, "to": "+14155550100", "message": "private"}),
        )
        .await;
    let conversation = sent["conversationId"].as_str().unwrap();
    let message = sent["id"].as_str().unwrap();
    assert_eq!(
        other
            .get(&format!("/phone-sms/conversations/{conversation}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other
            .get(&format!("/phone-sms/conversations/{conversation}/messages"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other
            .patch(
                &format!("/phone-sms/conversations/{conversation}/status"),
                json!({"status": "closed"})
            )
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other
            .patch(
                &format!("/phone-sms/conversations/{conversation}/assign"),
                json!({"userId": null})
            )
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other
            .post(
                "/phone-sms/messages",
                json!({"conversationId": conversation, "message": "hijack"})
            )
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other
            .patch(
                &format!("/phone-sms/messages/{message}/status"),
                json!({"status": "failed"})
            )
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (status, error) = other
        .post(
            "/phone-sms/messages",
            json!({"phoneNumberId": from, "to": "+14155550100", "message": "from your number"}),
        )
        .await;
    assert_eq!(
        (status, error["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("phoneNumberId"))
    );
    assert_eq!(
        other.get("/phone-sms/conversations").await.1["items"],
        json!([])
    );
    // The first tenant's thread is untouched.
    let (_, thread) = agent
        .get(&format!("/phone-sms/conversations/{conversation}/messages"))
        .await;
    assert_eq!(thread["items"].as_array().unwrap().len(), 1);
}

/// Stores an inbound message as the SMS webhooks will (they arrive with the SMS issue).
async fn inbound(server: &Server, tenant_id: &str, conversation_id: &str, text: &str) {
    let conversation = server
        .store
        .conversation(tenant_id, conversation_id)
        .await
        .unwrap()
        .unwrap();
    let now = upzento_cloud::clock::now();
    let stamp = upzento_cloud::clock::rfc3339(now);
    let segments = upzento_domain::sms::segments(text);
    let message = upzento_domain::resources::SmsMessage {
        id: uuid::Uuid::now_v7().to_string(),
        conversation_id: conversation.id.clone(),
        phone_number_id: conversation.phone_number_id.clone(),
        contact_id: conversation.contact_id.clone(),
        direction: upzento_domain::resources::Direction::Inbound,
        message: text.to_owned(),
        status: upzento_domain::resources::MessageStatus::Received,
        error_code: None,
        error_message: None,
        encoding: segments.encoding,
        segments: segments.segments,
        campaign_id: None,
        sent_by: None,
        provider: "sandbox".into(),
        provider_message_id: None,
        created_at: stamp.clone(),
        updated_at: stamp,
    };
    let actor = Actor {
        tenant_id: tenant_id.to_owned(),
        user_id: "system".into(),
    };
    server
        .store
        .create_message(
            &actor,
            upzento_cloud::store::NewMessage {
                message,
                idempotency_key: None,
                next_action_at: None,
            },
            now,
        )
        .await
        .unwrap();
    // Message times have millisecond precision: keep the next one strictly later.
    tokio::time::sleep(Duration::from_millis(2)).await;
}

async fn unread_counts_are_per_user(backend: Backend) {
    let server = start(backend).await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    let other = other_tenant(&server).await;
    let tenant = admin.tenant_id().await;
    let from = number(&admin, "+14155552671").await;
    let (_, conv) = agent
        .post(
            "/phone-sms/conversations",
            json!({"phoneNumberId": from, "contactNumber": "+14155550100"}),
        )
        .await;
    let id = conv["id"].as_str().unwrap();
    let path = format!("/phone-sms/conversations/{id}");
    assert_eq!(conv["unreadCount"], 0);
    inbound(&server, &tenant, id, "Hello?").await;
    inbound(&server, &tenant, id, "Anyone there?").await;
    // An outbound message is never unread.
    agent
        .post(
            "/phone-sms/messages",
            json!({"conversationId": id, "message": "Yes, how can I help?"}),
        )
        .await;
    assert_eq!(unread(&agent, &path).await, Some(2));
    assert_eq!(unread(&admin, &path).await, Some(2));
    let (_, inbox) = agent.get("/phone-sms/conversations").await;
    assert_eq!(inbox["items"][0]["unreadCount"], 2);

    let (status, read) = agent.post(&format!("{path}/read"), json!(null)).await;
    assert_eq!(
        (status, read["unreadCount"].as_i64()),
        (StatusCode::OK, Some(0))
    );
    assert_eq!(unread(&agent, &path).await, Some(0));
    assert_eq!(
        unread(&admin, &path).await,
        Some(2),
        "each user reads for themselves"
    );
    tokio::time::sleep(Duration::from_millis(2)).await;
    inbound(&server, &tenant, id, "Thanks").await;
    assert_eq!(unread(&agent, &path).await, Some(1));
    assert_eq!(unread(&admin, &path).await, Some(3));

    // The marker syncs through the feed for the user's other devices.
    let (_, feed) = agent.get("/phone-sms/changes?limit=1000").await;
    let agent_id = agent.get("/phone-sms/me").await.1["user"]["id"].clone();
    let marker = feed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["entity"] == "conversationRead")
        .unwrap()
        .clone();
    assert_eq!(marker["data"]["conversationId"], id);
    assert_eq!(marker["data"]["userId"], agent_id);
    assert!(
        feed["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["entity"] == "conversation")
            .all(|c| c["data"].get("unreadCount").is_none()),
        "the feed carries no per-user counts"
    );
    let (status, _) = other.post(&format!("{path}/read"), json!(null)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(unread(&admin, &path).await, Some(3));
}

async fn unread(client: &Client, path: &str) -> Option<i64> {
    client.get(path).await.1["unreadCount"].as_i64()
}

async fn templates_count_their_use(backend: Backend) {
    let server = start(backend).await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    let from = number(&admin, "+14155552671").await;
    let (_, template) = agent
        .post(
            "/phone-sms/templates",
            json!({"name": "Reminder", "message": "See you tomorrow"}),
        )
        .await;
    let template_id = template["id"].as_str().unwrap();
    let path = format!("/phone-sms/templates/{template_id}");
    let send = |key: &'static str, template: Value| {
        let body = json!({"phoneNumberId": from, "to": "+14155550100",
            "message": "See you tomorrow", "templateId": template});
        let agent = &agent;
        async move { agent.post_keyed("/phone-sms/messages", key, body).await }
    };
    let (status, err) = send("k-0", json!("missing")).await;
    assert_eq!(
        (status, err["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("templateId"))
    );
    assert_eq!(send("k-1", json!(template_id)).await.0, StatusCode::CREATED);
    assert_eq!(send("k-1", json!(template_id)).await.0, StatusCode::OK);
    assert_eq!(
        agent.get(&path).await.1["usageCount"],
        1,
        "a retry is not a use"
    );
    assert_eq!(send("k-2", json!(template_id)).await.0, StatusCode::CREATED);
    assert_eq!(agent.get(&path).await.1["usageCount"], 2);
    let (_, convs) = agent.get("/phone-sms/conversations").await;
    let conv = convs["items"][0]["id"].as_str().unwrap();
    let (_, msgs) = agent
        .get(&format!("/phone-sms/conversations/{conv}/messages"))
        .await;
    assert_eq!(
        msgs["items"].as_array().unwrap().len(),
        2,
        "the refused send stored nothing"
    );
}

async fn templates_preview_for_a_real_contact(backend: Backend) {
    let server = start(backend).await;
    let agent = agent(&server).await;
    let (status, contact) = agent
        .post(
            "/phone-sms/contacts",
            json!({"firstName": "Zoë", "lastName": "Park", "phoneNumbers": ["+14155550123"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    let (_, template) = agent
        .post(
            "/phone-sms/templates",
            json!({"name": "Hello", "message": "Hi {{contact.firstName|there}}, your number is {{contact.phone}}."}),
        )
        .await;
    let preview = |body: Value| {
        let agent = &agent;
        async move { agent.post("/phone-sms/templates/preview", body).await }
    };
    let (status, shown) =
        preview(json!({"templateId": template["id"], "contactId": contact["id"]})).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["text"], "Hi Zoë, your number is +14155550123.");
    // "ë" is not in the GSM-7 alphabet: the whole text is UCS-2.
    assert_eq!(
        (shown["encoding"].as_str(), shown["segments"].as_u64()),
        (Some("ucs2"), Some(1))
    );
    assert_eq!(shown["nonGsmCharacters"], json!(["ë"]));
    // Without a contact: the fallbacks; a draft text works too, and is checked.
    let (_, shown) = preview(json!({"message": "Hi {{contact.firstName|there}}!"})).await;
    assert_eq!(
        (shown["text"].as_str(), shown["encoding"].as_str()),
        (Some("Hi there!"), Some("gsm7"))
    );
    let (status, err) = preview(json!({"message": "Hi {{contact.nickname}}"})).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_template"))
    );
    let (status, _) = preview(json!({"templateId": template["id"], "message": "both"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = preview(json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = preview(json!({"templateId": template["id"], "contactId": "nobody"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Another tenant sees neither the template nor the contact.
    let other = other_tenant(&server).await;
    let (status, _) = other
        .post(
            "/phone-sms/templates/preview",
            json!({"templateId": template["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A provider whose first answer is lost, and which knows (or cannot tell) what it got.
#[derive(Debug)]
struct LostAnswer {
    sends: std::sync::atomic::AtomicUsize,
    found: upzento_cloud::carrier::Found,
}

#[async_trait::async_trait]
impl upzento_cloud::carrier::Provider for LostAnswer {
    fn name(&self) -> &'static str {
        "sandbox"
    }
    async fn send(
        &self,
        _sms: upzento_cloud::carrier::Outgoing<'_>,
    ) -> anyhow::Result<upzento_cloud::carrier::SendOutcome> {
        use upzento_cloud::carrier::SendOutcome;
        let n = self.sends.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(if n == 0 {
            SendOutcome::Uncertain {
                reason: "connection reset".into(),
            }
        } else {
            SendOutcome::Accepted {
                provider_message_id: format!("P{n}"),
                report_after: None,
            }
        })
    }
    async fn find_sent(
        &self,
        _sms: upzento_cloud::carrier::Outgoing<'_>,
        _since: time::OffsetDateTime,
    ) -> anyhow::Result<upzento_cloud::carrier::Found> {
        Ok(self.found.clone())
    }
}

async fn a_send_whose_outcome_is_unknown_is_reconciled_never_repeated_blindly(backend: Backend) {
    use upzento_cloud::carrier::{Found, Timing, Worker};
    let server = start_with(backend, false).await;
    let admin = admin(&server).await;
    let tenant = admin.tenant_id().await;
    let from = number(&admin, "+14155552671").await;
    // The worker's clock stays behind the times the test passes in.
    let clock = || time::OffsetDateTime::UNIX_EPOCH;
    for (i, found, sends, status, provider_id, code) in [
        // The provider cannot be asked: at most once, flagged for a person.
        (
            0,
            Found::CannotTell,
            1,
            "failed",
            None,
            Some("send_uncertain"),
        ),
        // The provider never got it: sent again, once.
        (1, Found::Candidates(vec![]), 2, "sent", Some("P1"), None),
        // The provider has it: recorded under its id, not sent again.
        (
            2,
            Found::Candidates(vec!["SMfound".into()]),
            1,
            "sent",
            Some("SMfound"),
            None,
        ),
    ] {
        let provider = LostAnswer {
            sends: Default::default(),
            found: found.clone(),
        };
        let (_, queued) = admin
            .post(
                "/phone-sms/messages",
                json!({"phoneNumberId": from, "to": format!("+1415555010{i}"), "message": "Hi"}),
            )
            .await;
        let id = queued["id"].as_str().unwrap();
        let t0 = time::OffsetDateTime::now_utc();
        let mut worker = Worker::with_clock(Timing::default(), clock);
        worker
            .work_once(server.store.as_ref(), &provider, t0)
            .await
            .unwrap();
        let m = server.store.message(&tenant, id).await.unwrap().unwrap();
        assert_eq!(
            m.status.as_str(),
            "queued",
            "{found:?}: still queued after a lost answer"
        );
        // Not due before its retry time; then reconciled (by another node's worker).
        let mut other = Worker::with_clock(Timing::default(), clock);
        let later = t0 + time::Duration::seconds(6);
        other
            .work_once(server.store.as_ref(), &provider, later)
            .await
            .unwrap();
        let m = server.store.message(&tenant, id).await.unwrap().unwrap();
        assert_eq!(
            (
                provider.sends.load(std::sync::atomic::Ordering::SeqCst),
                m.status.as_str(),
                m.provider_message_id.as_deref(),
                m.error_code.as_deref()
            ),
            (sends, status, provider_id, code),
            "{found:?}"
        );
    }

    // A node that stopped between recording its intent and the outcome: the message
    // waits out the send timeout, twice, and is then reconciled by whoever claims it.
    let provider = LostAnswer {
        sends: std::sync::atomic::AtomicUsize::new(1),
        found: Found::Candidates(vec!["SMdead".into()]),
    };
    let (_, queued) = admin
        .post(
            "/phone-sms/messages",
            json!({"phoneNumberId": from, "to": "+14155550109", "message": "Hi"}),
        )
        .await;
    let id = queued["id"].as_str().unwrap();
    let t0 = time::OffsetDateTime::now_utc();
    let store = server.store.as_ref();
    let lease = t0 + time::Duration::seconds(30);
    let claimed = store
        .claim_due_messages(t0, lease, "dead", 100)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(
        store
            .begin_send(&tenant, id, "dead", t0, t0 + time::Duration::seconds(40))
            .await
            .unwrap()
    );
    assert!(
        !store
            .begin_send(&tenant, id, "someone else", t0, lease)
            .await
            .unwrap(),
        "only the claim's holder may begin a send"
    );
    let mut worker = Worker::with_clock(Timing::default(), clock);
    let early = t0 + time::Duration::seconds(35);
    assert_eq!(
        worker.work_once(store, &provider, early).await.unwrap(),
        0,
        "in flight"
    );
    let late = t0 + time::Duration::seconds(41);
    assert_eq!(worker.work_once(store, &provider, late).await.unwrap(), 1);
    let m = store.message(&tenant, id).await.unwrap().unwrap();
    assert_eq!(
        (m.status.as_str(), m.provider_message_id.as_deref()),
        ("sent", Some("SMdead"))
    );
    assert_eq!(
        provider.sends.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "never sent again"
    );
}

async fn a_conversation_snoozes_and_keeps_internal_notes(backend: Backend) {
    let server = start(backend).await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    let from = number(&admin, "+14155552671").await;
    let (_, c) = agent
        .post(
            "/phone-sms/conversations",
            json!({"phoneNumberId": from, "contactNumber": "+14155550100"}),
        )
        .await;
    let id = c["id"].as_str().unwrap();
    assert_eq!(c["snoozedUntil"], Value::Null);

    // Snoozed until a time to come; a past time or a bad one is refused.
    let path = format!("/phone-sms/conversations/{id}/snooze");
    let (status, snoozed) = agent
        .patch(&path, json!({"until": "2999-01-01T09:00:00+01:00"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{snoozed}");
    assert_eq!(snoozed["snoozedUntil"], "2999-01-01T08:00:00.000Z");
    for until in ["2001-01-01T00:00:00Z", "soon"] {
        let (status, error) = agent.patch(&path, json!({"until": until})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert_eq!(error["field"], "until");
    }
    // A message from the other side wakes it.
    let (status, _) = admin
        .post(
            "/phone-sms/sandbox/inbound",
            json!({"to": "+14155552671", "from": "+14155550100", "body": "Any news?"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, woken) = agent.get(&format!("/phone-sms/conversations/{id}")).await;
    assert_eq!(woken["snoozedUntil"], Value::Null, "{woken}");
    agent
        .patch(&path, json!({"until": "2999-01-01T09:00:00Z"}))
        .await;
    let (status, back) = agent.patch(&path, json!({"until": null})).await;
    assert_eq!(
        (status, back["snoozedUntil"].clone()),
        (StatusCode::OK, Value::Null)
    );

    // Internal notes: the team's, in order, each with its author; never sent.
    let notes = format!("/phone-sms/conversations/{id}/notes");
    let (status, first) = agent
        .post(&notes, json!({"text": " Asked for the manager "}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["text"], "Asked for the manager");
    admin
        .post(&notes, json!({"text": "I'll call her back"}))
        .await;
    let (_, list) = agent.get(&notes).await;
    let texts: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Asked for the manager", "I'll call her back"]);
    let (_, messages) = agent
        .get(&format!("/phone-sms/conversations/{id}/messages"))
        .await;
    assert_eq!(
        messages["items"].as_array().unwrap().len(),
        1,
        "only the customer's message: notes are never messages"
    );
    assert_eq!(
        agent.post(&notes, json!({"text": "  "})).await.0,
        StatusCode::BAD_REQUEST
    );
    let stranger = other_tenant(&server).await;
    assert_eq!(stranger.get(&notes).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        stranger.post(&notes, json!({"text": "x"})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        stranger.patch(&path, json!({"until": null})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        agent
            .post("/phone-sms/conversations/nope/notes", json!({"text": "x"}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

/// A provider that paces nothing itself and notes when each number sent (the test sets
/// the time before each pass).
#[derive(Debug)]
struct Paced {
    at: std::sync::Mutex<time::OffsetDateTime>,
    sent: std::sync::Mutex<Vec<(String, time::OffsetDateTime)>>,
}

#[async_trait::async_trait]
impl upzento_cloud::carrier::Provider for Paced {
    fn name(&self) -> &'static str {
        "sandbox"
    }
    async fn send(
        &self,
        sms: upzento_cloud::carrier::Outgoing<'_>,
    ) -> anyhow::Result<upzento_cloud::carrier::SendOutcome> {
        let at = *self.at.lock().unwrap();
        let mut sent = self.sent.lock().unwrap();
        sent.push((sms.from.to_owned(), at));
        Ok(upzento_cloud::carrier::SendOutcome::Accepted {
            provider_message_id: format!("P{}", sent.len()),
            report_after: None,
        })
    }
    fn segments_per_second(&self) -> Option<f64> {
        Some(1.0)
    }
}

/// Two nodes' workers share each number's pace (one segment a second for a long code, three
/// for a toll-free number, or the number's own): together they never send faster, and
/// everything goes.
async fn a_number_keeps_its_pace_whichever_worker_sends(backend: Backend) {
    use upzento_cloud::carrier::{Timing, Worker};
    let server = start_with(backend, false).await;
    let admin = admin(&server).await;
    let long = number(&admin, "+14155552671").await;
    let toll_free = number(&admin, "+18007233456").await;
    // A number with a pace of its own (its carrier registration allows two a second).
    let own = number(&admin, "+14155552672").await;
    let path = format!("/phone-sms/phone-numbers/{own}");
    let (status, body) = admin.patch(&path, json!({"sendPerMinute": 0})).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("sendPerMinute"))
    );
    let (status, body) = admin.patch(&path, json!({"sendPerMinute": 120})).await;
    assert_eq!(
        (status, body["sendPerMinute"].as_u64()),
        (StatusCode::OK, Some(120))
    );
    for from in [&long, &toll_free, &own] {
        for i in 0..6 {
            let (status, body) = admin
                .post(
                    "/phone-sms/messages",
                    json!({"phoneNumberId": from, "to": format!("+1415555020{i}"), "message": "Hi"}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
    }
    let provider = Paced {
        at: std::sync::Mutex::new(time::OffsetDateTime::UNIX_EPOCH),
        sent: Default::default(),
    };
    let clock = || time::OffsetDateTime::UNIX_EPOCH;
    // A short lease, so that what one worker deferred the other may take over.
    let timing = Timing {
        lease: std::time::Duration::from_millis(150),
        ..Timing::default()
    };
    let (mut a, mut b) = (
        Worker::with_clock(timing, clock),
        Worker::with_clock(timing, clock),
    );
    let t0 = time::OffsetDateTime::now_utc();
    for step in 0..=70 {
        let now = t0 + time::Duration::milliseconds(step * 100);
        *provider.at.lock().unwrap() = now;
        let worker = if step % 3 == 0 { &mut b } else { &mut a };
        worker
            .work_once(server.store.as_ref(), &provider, now)
            .await
            .unwrap();
        let other = if step % 3 == 0 { &mut a } else { &mut b };
        other
            .work_once(server.store.as_ref(), &provider, now)
            .await
            .unwrap();
    }
    let sent = provider.sent.into_inner().unwrap();
    for (from, interval, count) in [
        ("+14155552671", 1000, 6),
        ("+18007233456", 334, 6),
        ("+14155552672", 500, 6),
    ] {
        let times: Vec<_> = sent
            .iter()
            .filter(|(f, _)| f == from)
            .map(|(_, t)| *t)
            .collect();
        assert_eq!(
            times.len(),
            count,
            "{from}: everything went once: {times:?}"
        );
        for pair in times.windows(2) {
            assert!(
                pair[1] - pair[0] >= time::Duration::milliseconds(interval - 100),
                "{from} sent faster than its pace: {times:?}"
            );
        }
    }
}
