//! SIGKILL of the client (the `upzento-sync` binary) in the middle of the initial
//! sync and in the middle of sending, again and again; then a clean run. The
//! cache must equal the cloud, and every outbox message must exist once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{ADMIN_EMAIL, ADMIN_PASSWORD, AGENT_EMAIL, AGENT_PASSWORD, Cloud};
use serde_json::json;
use upzento_client::cache::{Cache, CacheKey, Draft, InboxFilter, Owner};

/// Kill points, in ms after start: early (signing in), mid-page, between pages.
const KILL_AFTER_MS: &[u64] = &[10, 35, 70, 120, 20, 200, 50, 300, 90, 15];

async fn owner(cloud: &Cloud, token: &str) -> Owner {
    let me = cloud.get(token, "phone-sms/me").await;
    Owner {
        cloud: cloud.url.clone(),
        tenant_id: me["tenant"]["id"].as_str().unwrap().to_owned(),
        user_id: me["user"]["id"].as_str().unwrap().to_owned(),
    }
}

fn probe(cloud: &Cloud, token: &str, cache: &Path, key: &CacheKey) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_upzento-sync"));
    cmd.args(["--cloud", &cloud.url, "--cache"])
        .arg(cache)
        .env("UPZENTO_TOKEN", token)
        .env("UPZENTO_CACHE_KEY", key.to_hex())
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

/// Starts the probe and SIGKILLs it after `ms`.
async fn run_and_kill(cloud: &Cloud, token: &str, cache: &Path, key: &CacheKey, ms: u64) {
    let mut child = probe(cloud, token, cache, key).spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(ms)).await;
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
}

/// Runs the probe until it is online with an empty outbox.
fn run_to_idle(cloud: &Cloud, token: &str, cache: &Path, key: &CacheKey) {
    let out = probe(cloud, token, cache, key)
        .arg("--until-idle")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("idle"), "{stdout}");
}

/// Sends `n` messages spread over the demo conversations, as the admin.
async fn traffic(cloud: &Cloud, admin: &str, n: usize) {
    let conversations = cloud.all(admin, "phone-sms/conversations").await;
    let number = cloud.all(admin, "phone-sms/phone-numbers").await[0]["id"].clone();
    for i in 0..n {
        // New conversations too, not only the demo's.
        let body = if i % 3 == 0 {
            json!({"phoneNumberId": number, "to": format!("+1415555{:04}", 2000 + i % 97), "message": format!("bulk {i}")})
        } else {
            json!({"conversationId": conversations[i % conversations.len()]["id"], "message": format!("bulk {i}")})
        };
        cloud.post(admin, "phone-sms/messages", body).await;
    }
}

/// How the cache differs from the cloud (conversations, each one's messages and their
/// statuses), or `None` when it holds exactly what the cloud holds.
async fn difference(cloud: &Cloud, token: &str, cache: &Cache) -> Option<String> {
    let server = cloud.all(token, "phone-sms/conversations").await;
    let inbox = cache.inbox(InboxFilter::All, None, 10_000, 0).unwrap();
    if inbox.len() != server.len() {
        return Some(format!(
            "{} conversations here, {} there",
            inbox.len(),
            server.len()
        ));
    }
    let mut total = 0;
    for conv in &server {
        let id = conv["id"].as_str().unwrap();
        let theirs: Vec<(String, String)> = cloud
            .all(token, &format!("phone-sms/conversations/{id}/messages"))
            .await
            .iter()
            .map(|m| {
                (
                    m["id"].as_str().unwrap().to_owned(),
                    m["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let ours: Vec<(String, String)> = cache
            .messages(id, None, 10_000)
            .unwrap()
            .into_iter()
            .map(|m| (m.id, m.status.as_str().to_owned()))
            .collect();
        if ours != theirs {
            return Some(format!("messages of {id}: {ours:?} here, {theirs:?} there"));
        }
        total += theirs.len();
    }
    let here = cache.counts().unwrap().1;
    (here != i64::try_from(total).unwrap())
        .then(|| format!("{here} messages here, {total} there: strays"))
}

/// Syncs to idle until the cache mirrors the cloud. The sandbox carrier is still moving
/// statuses (queued, sent, delivered) for a while after the traffic, so a difference
/// may be the cloud's own progress: sync again (up to ten times) before calling it one.
async fn assert_mirrors(cloud: &Cloud, token: &str, path: &Path, key: &CacheKey, owner: &Owner) {
    let mut last = None;
    for _ in 0..10 {
        run_to_idle(cloud, token, path, key);
        let cache = Cache::open(path, key, owner).unwrap();
        last = difference(cloud, token, &cache).await;
        if last.is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!(
        "the cache never matched the cloud: {}",
        last.unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_the_initial_sync_it_resumes_and_matches_the_cloud() {
    let cloud = Cloud::start().await;
    let admin = cloud.token(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    traffic(&cloud, &admin, 1500).await;
    // Let the carrier report on them: more feed entries, status updates included.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let token = cloud.token(AGENT_EMAIL, AGENT_PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    let key = CacheKey::generate().unwrap();
    let owner = owner(&cloud, &token).await;
    let mut cursors = Vec::new();
    for ms in KILL_AFTER_MS {
        run_and_kill(&cloud, &token, &path, &key, *ms).await;
        let cache = Cache::open(&path, &key, &owner).unwrap();
        cache.check().unwrap();
        cursors.push(cache.cursor().unwrap());
    }
    eprintln!("cursors after each kill: {cursors:?}");
    assert!(
        cursors.windows(2).all(|w| w[0] <= w[1]),
        "the cursor never goes back: {cursors:?}"
    );
    assert_mirrors(&cloud, &token, &path, &key, &owner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_sending_every_message_reaches_the_cloud_once() {
    let cloud = Cloud::start().await;
    let token = cloud.token(AGENT_EMAIL, AGENT_PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    let key = CacheKey::generate().unwrap();
    let owner = owner(&cloud, &token).await;
    // A first clean run fills the cache, so the drafts can name conversations.
    run_to_idle(&cloud, &token, &path, &key);
    let conversations: Vec<String> = {
        let mut cache = Cache::open(&path, &key, &owner).unwrap();
        let ids: Vec<String> = cache
            .inbox(InboxFilter::All, None, 100, 0)
            .unwrap()
            .into_iter()
            .map(|r| r.conversation.id)
            .collect();
        for i in 0..40 {
            cache
                .enqueue(
                    &Draft {
                        conversation_id: Some(ids[i % ids.len()].clone()),
                        phone_number_id: None,
                        to: None,
                        body: format!("draft {i}"),
                        template_id: None,
                    },
                    i64::try_from(i).unwrap(),
                )
                .unwrap();
        }
        ids
    };
    for ms in KILL_AFTER_MS {
        run_and_kill(&cloud, &token, &path, &key, *ms).await;
    }
    run_to_idle(&cloud, &token, &path, &key);
    let cache = Cache::open(&path, &key, &owner).unwrap();
    assert!(cache.outbox().unwrap().is_empty());
    let mut sent = Vec::new();
    for id in &conversations {
        for m in cloud
            .all(&token, &format!("phone-sms/conversations/{id}/messages"))
            .await
        {
            if let Some(body) = m["message"].as_str().filter(|b| b.starts_with("draft ")) {
                sent.push(body.to_owned());
            }
        }
    }
    sent.sort();
    let mut wanted: Vec<String> = (0..40).map(|i| format!("draft {i}")).collect();
    wanted.sort();
    assert_eq!(sent, wanted, "each draft exactly once");
    // In order within each conversation.
    for id in &conversations {
        let drafts: Vec<u32> = cache
            .messages(id, None, 1000)
            .unwrap()
            .iter()
            .rev()
            .filter_map(|m| m.message.strip_prefix("draft ").map(|n| n.parse().unwrap()))
            .collect();
        assert!(drafts.windows(2).all(|w| w[0] < w[1]), "{id}: {drafts:?}");
    }
    drop(cache);
    assert_mirrors(&cloud, &token, &path, &key, &owner).await;
}
