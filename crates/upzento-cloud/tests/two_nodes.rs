//! Two server processes on one PostgreSQL: live events cross nodes, and a message
//! is sent exactly once although both nodes run a carrier worker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::client::Client;
use serde_json::json;
use upzento_cloud::demo;

/// A server process, killed when dropped.
struct Node {
    child: Child,
    url: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn node(database_url: &str, demo: bool) -> Node {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_upzento-cloud"));
    command
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            database_url,
        ])
        .env("UPZENTO_LOG", "warn")
        .stdout(Stdio::null());
    if demo {
        command.arg("--demo");
    }
    let node = Node {
        child: command.spawn().unwrap(),
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..200 {
        if reqwest::get(format!("{}/healthz", node.url)).await.is_ok() {
            return node;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("node on port {port} did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_cross_nodes_and_messages_are_sent_once() {
    let (url, _db) = common::fresh_pg_database().await;
    let a = node(&url, true).await;
    let b = node(&url, false).await;
    let admin_on_a = Client::sign_in_at(&a.url, demo::ADMIN_EMAIL, demo::ADMIN_PASSWORD).await;
    let agent_on_b = Client::sign_in_at(&b.url, demo::AGENT_EMAIL, demo::AGENT_PASSWORD).await;

    let mut stream_on_b = agent_on_b.events(None).await;
    let (_, template) = admin_on_a
        .post(
            "/phone-sms/templates",
            json!({"name": "Cross", "message": "from node A"}),
        )
        .await;
    let event = stream_on_b.next(Duration::from_secs(10)).await;
    assert_eq!(
        event.data["data"], template,
        "a change made on A reaches a client of B"
    );

    // Many messages, two carrier workers racing for them: each is sent once.
    let (_, number) = admin_on_a
        .post(
            "/phone-sms/phone-numbers",
            json!({"number": "+13105550199", "type": "Main"}),
        )
        .await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let client = if i % 2 == 0 { &admin_on_a } else { &agent_on_b };
        let (_, sent) = client
            .post("/phone-sms/messages", json!({"phoneNumberId": number["id"], "to": format!("+1415555{:04}", 100 + i), "message": format!("message {i}")}))
            .await;
        ids.push(sent["id"].as_str().unwrap().to_owned());
    }
    let mut delivered = 0;
    let mut feed = Vec::new();
    for _ in 0..400 {
        let (_, page) = agent_on_b.get("/phone-sms/changes?limit=1000").await;
        feed = page["changes"].as_array().unwrap().clone();
        delivered = feed
            .iter()
            .filter(|c| {
                c["entity"] == "smsMessage"
                    && c["data"]["status"] == "delivered"
                    && ids.iter().any(|id| c["id"] == id.as_str())
            })
            .count();
        if delivered == ids.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(delivered, ids.len(), "every message delivered");
    for id in &ids {
        let statuses: Vec<&str> = feed
            .iter()
            .filter(|c| c["entity"] == "smsMessage" && c["id"] == id.as_str())
            .map(|c| c["data"]["status"].as_str().unwrap())
            .collect();
        assert_eq!(
            statuses,
            vec!["queued", "sent", "delivered"],
            "message {id}"
        );
    }
    let seqs: Vec<i64> = feed.iter().map(|c| c["seq"].as_i64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "the feed has no gaps or repeats"
    );
}
