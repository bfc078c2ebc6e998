//! Live events: the change feed pushed as server-sent events, on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::client::{admin, agent, other_tenant};
use common::{Backend, start};
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(changes_arrive_live_and_resume_after_a_gap);

const WAIT: Duration = Duration::from_secs(10);

async fn changes_arrive_live_and_resume_after_a_gap(backend: Backend) {
    let server = start(backend).await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    let other = other_tenant(&server).await;
    let (_, before) = admin
        .post(
            "/phone-sms/templates",
            json!({"name": "Old", "message": "before the stream"}),
        )
        .await;

    let mut live = agent.events(None).await;
    let mut others = other.events(None).await;
    let (_, created) = admin
        .post(
            "/phone-sms/templates",
            json!({"name": "Hi", "message": "Hello"}),
        )
        .await;
    let event = live.next(WAIT).await;
    assert_eq!(event.event.as_deref(), Some("change"));
    assert_eq!(event.data["entity"], "smsTemplate");
    assert_eq!(
        event.data["data"], created,
        "a stream starts from now: the older template is not replayed"
    );
    assert_eq!(
        event.id.as_deref(),
        Some(event.data["seq"].to_string().as_str())
    );
    let seen = event.data["seq"].as_i64().unwrap();

    // A sent message: its creation, its conversation, then the carrier's reports.
    let (_, number) = admin
        .post(
            "/phone-sms/phone-numbers",
            json!({"number": "+14155552671", "type": "Main"}),
        )
        .await;
    let (status, sent) = agent
        .post(
            "/phone-sms/messages",
            json!({"phoneNumberId": number["id"], "to": "+14155550100", "message": "hi"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut statuses = Vec::new();
    while statuses.last().map(String::as_str) != Some("delivered") {
        let event = live.next(WAIT).await;
        if event.data["entity"] == "smsMessage" {
            statuses.push(event.data["data"]["status"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(statuses, vec!["queued", "sent", "delivered"]);
    assert_eq!(sent["status"], "queued");

    // Reconnecting with Last-Event-ID replays exactly what came after it.
    let mut resumed = agent.events(Some(seen - 1)).await;
    assert_eq!(resumed.next(WAIT).await.data["seq"].as_i64(), Some(seen));
    assert_eq!(
        resumed.next(WAIT).await.data["seq"].as_i64(),
        Some(seen + 1)
    );
    let mut from_start = agent.events(Some(0)).await;
    assert_eq!(from_start.next(WAIT).await.data["data"], before);

    // The other tenant's stream saw none of it: its first event is its own change.
    let (_, own) = other
        .post(
            "/phone-sms/templates",
            json!({"name": "Mine", "message": "other tenant"}),
        )
        .await;
    assert_eq!(others.next(WAIT).await.data["data"], own);
}
