//! Two server processes on one PostgreSQL: live events cross nodes, and a message
//! is sent exactly once although both nodes run a carrier worker, are slow, and are
//! killed at random moments (counted by a fake Twilio that speaks its wire format).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::client::Client;
use serde_json::json;
use upzento_cloud::demo;

/// A server process, killed when dropped; it can be killed (SIGKILL) and started again
/// on the same port.
struct Node {
    child: Option<Child>,
    port: u16,
    url: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Node {
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn start(&mut self) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_upzento-cloud"));
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{}", self.port)])
            .args(&self.args)
            .env("UPZENTO_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null());
        self.child = Some(command.spawn().unwrap());
        for _ in 0..400 {
            if reqwest::get(format!("{}/healthz", self.url)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("node on port {} did not start", self.port);
    }
}

async fn node(database_url: &str, demo: bool) -> Node {
    node_with(database_url, demo, Vec::new()).await
}

async fn node_with(database_url: &str, demo: bool, env: Vec<(String, String)>) -> Node {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut args = vec!["--database-url".to_owned(), database_url.to_owned()];
    if demo {
        args.push("--demo".to_owned());
    }
    let mut node = Node {
        child: None,
        port,
        url: format!("http://127.0.0.1:{port}"),
        args,
        env,
    };
    node.start().await;
    node
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

/// xorshift64*: the test's random moments, repeatable from the seed it prints.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// A message the fake Twilio accepted.
#[derive(Debug, Clone)]
struct Accepted {
    sid: String,
    to: String,
    from: String,
    body: String,
    created: time::OffsetDateTime,
}

/// Twilio's Messages API as far as the carrier uses it: create (form-encoded, answered
/// 201 with the SID) and list (newest first, filtered by To and From). It records a
/// message before it answers, after a random delay, as Twilio does: a node killed while
/// it waits has sent the message without knowing it.
#[derive(Default)]
struct FakeTwilio {
    accepted: Mutex<Vec<Accepted>>,
    lists: std::sync::atomic::AtomicUsize,
    rng: Mutex<Option<Rng>>,
    max_delay_ms: u64,
}

async fn fake_twilio(seed: u64, max_delay_ms: u64) -> (String, Arc<FakeTwilio>) {
    use axum::extract::{Form, Query, State};
    use axum::routing::post;
    type Fake = State<Arc<FakeTwilio>>;
    async fn create(
        State(fake): Fake,
        Form(form): Form<HashMap<String, String>>,
    ) -> (reqwest::StatusCode, axum::Json<serde_json::Value>) {
        let (sid, delay) = {
            let mut accepted = fake.accepted.lock().unwrap();
            let sid = format!("SM{:032x}", accepted.len() + 1);
            accepted.push(Accepted {
                sid: sid.clone(),
                to: form["To"].clone(),
                from: form["From"].clone(),
                body: form["Body"].clone(),
                created: time::OffsetDateTime::now_utc(),
            });
            let delay = fake
                .rng
                .lock()
                .unwrap()
                .as_mut()
                .unwrap()
                .below(fake.max_delay_ms + 1);
            (sid, delay)
        };
        tokio::time::sleep(Duration::from_millis(delay)).await;
        (
            reqwest::StatusCode::CREATED,
            axum::Json(json!({"sid": sid, "status": "queued"})),
        )
    }
    async fn list(
        State(fake): Fake,
        Query(query): Query<HashMap<String, String>>,
    ) -> axum::Json<serde_json::Value> {
        fake.lists
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let accepted = fake.accepted.lock().unwrap();
        let messages: Vec<_> = accepted
            .iter()
            .rev()
            .filter(|m| query.get("To").is_none_or(|to| *to == m.to))
            .filter(|m| query.get("From").is_none_or(|from| *from == m.from))
            .take(50)
            .map(|m| {
                json!({
                    "sid": m.sid, "to": m.to, "from": m.from, "body": m.body,
                    "direction": "outbound-api", "status": "sent",
                    "date_created": m.created
                        .format(&time::format_description::well_known::Rfc2822).unwrap(),
                })
            })
            .collect();
        axum::Json(json!({"messages": messages, "page": 0, "page_size": 50}))
    }
    let fake = Arc::new(FakeTwilio {
        rng: Mutex::new(Some(Rng(seed | 1))),
        max_delay_ms,
        ..FakeTwilio::default()
    });
    let app = axum::Router::new()
        .route(
            "/2010-04-01/Accounts/{sid}/Messages.json",
            post(create).get(list),
        )
        .route(
            "/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json",
            axum::routing::get(|Query(q): Query<HashMap<String, String>>| async move {
                // The account holds every number it is asked about.
                axum::Json(json!({"incoming_phone_numbers": [{"phone_number": q["PhoneNumber"]}]}))
            }),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, fake)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_texts_each_recipient_once_while_nodes_are_killed() {
    const RECIPIENTS: usize = 1000;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("seed {seed}");
    let mut rng = Rng(seed | 1);
    let (twilio_url, twilio) = fake_twilio(seed.rotate_left(17), 30).await;
    // Both runners judge the recipients' hours at their midday, whenever this runs.
    let ahead = common::midday_ahead_ms().to_string();
    let env: Vec<(String, String)> = [
        ("UPZENTO_PROVIDER", "twilio"),
        ("UPZENTO_PUBLIC_URL", "http://127.0.0.1:9"),
        ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000001"),
        ("TWILIO_AUTH_TOKEN", "test-auth-token"),
        ("TWILIO_API_URL", twilio_url.as_str()),
        // Short clocks, so the messages of a killed node come back within the test; a
        // batch of 100 slow sends outlives the lease, so claims are taken over too.
        ("UPZENTO_CARRIER_LEASE_MS", "1500"),
        ("UPZENTO_CARRIER_SEND_TIMEOUT_MS", "1000"),
        ("UPZENTO_QUIET_HOURS_AHEAD_MS", &ahead),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let (db, _db) = common::fresh_pg_database().await;
    let mut nodes = [
        node_with(&db, true, env.clone()).await,
        node_with(&db, false, env).await,
    ];
    let admin = Client::sign_in_at(&nodes[0].url, demo::ADMIN_EMAIL, demo::ADMIN_PASSWORD).await;
    let (status, number) = admin
        .post(
            "/phone-sms/phone-numbers",
            json!({"number": "+13105550142", "type": "Marketing"}),
        )
        .await;
    assert!(status.is_success(), "{number}");
    let (_, campaign) = admin
        .post(
            "/phone-sms/campaigns",
            json!({"name": "Crash test", "message": "Hello {{contact.firstName|there}}", "phoneNumberId": number["id"]}),
        )
        .await;
    let campaign_id = campaign["id"].as_str().unwrap().to_owned();
    let path = format!("/phone-sms/campaigns/{campaign_id}");
    let numbers: Vec<String> = (0..RECIPIENTS)
        .map(|i| format!("+1415557{:04}", 1000 + i))
        .collect();
    let (status, added) = admin
        .post(&format!("{path}/recipients"), json!({"numbers": numbers}))
        .await;
    assert!(status.is_success(), "{added}");
    let (status, started) = admin
        .patch(&format!("{path}/status"), json!({"status": "active"}))
        .await;
    assert!(status.is_success(), "{started}");

    // Ten SIGKILLs at random moments of the run, of either node, each started again.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(200 + rng.below(1200))).await;
        let node = &mut nodes[usize::try_from(rng.below(2)).unwrap()];
        node.kill();
        tokio::time::sleep(Duration::from_millis(rng.below(300))).await;
        node.start().await;
    }

    // Wait until no message is left queued and every recipient is done.
    let (pg, conn) = tokio_postgres::connect(&db, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut statuses: HashMap<String, i64> = HashMap::new();
    for _ in 0..1200 {
        let pending: i64 = pg
            .query_one(
                "SELECT count(*) FROM campaign_recipient
                 WHERE campaign_id = $1 AND status = 'pending'",
                &[&campaign_id],
            )
            .await
            .unwrap()
            .get(0);
        statuses = pg
            .query(
                "SELECT coalesce(error_code, status), count(*) FROM sms_message
                 WHERE campaign_id = $1 GROUP BY 1",
                &[&campaign_id],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        if pending == 0 && !statuses.contains_key("queued") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let accepted = twilio.accepted.lock().unwrap().clone();
    let mut per_recipient: HashMap<&str, usize> = HashMap::new();
    for m in &accepted {
        *per_recipient.entry(m.to.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = per_recipient.iter().filter(|(_, n)| **n > 1).collect();
    eprintln!(
        "seed {seed}: {} sends accepted by the provider, {} lookups, messages {statuses:?}",
        accepted.len(),
        twilio.lists.load(std::sync::atomic::Ordering::Relaxed)
    );
    assert!(twice.is_empty(), "texted more than once: {twice:?}");
    // Twilio can be asked, so nothing is left uncertain: exactly once.
    assert_eq!(
        statuses,
        HashMap::from([("sent".to_owned(), RECIPIENTS as i64)]),
        "every message sent, none flagged"
    );
    assert_eq!(per_recipient.len(), RECIPIENTS, "everyone texted");
    for n in &numbers {
        assert_eq!(per_recipient.get(n.as_str()), Some(&1), "{n}");
    }
}
