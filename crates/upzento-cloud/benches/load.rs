//! Load generator for `cargo xtask bench cloud`: drives a running upzento-cloud on loopback.
//!
//! Usage: `cargo bench -p upzento-cloud --bench load -- URL TOKEN LABEL`
//! 1. Open loop: `GET /phone-sms/conversations` at a fixed 1,000 requests/s for 10 s; latency
//!    percentiles are measured from each request's scheduled start (no coordinated omission).
//! 2. Closed loop: as many conversation-list requests as 64 connections manage in 5 s.
//! 3. `POST /phone-sms/messages` with 32 connections for 5 s.
//!
//! `-- URL TOKEN LABEL webhooks AUTH_TOKEN` instead drives a server configured with the
//! Twilio provider: signed inbound-SMS webhooks from 1,000 senders (each a new message)
//! with 32 connections for 10 s, and prints the throughput and latency percentiles.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const RATE: u64 = 1000;
const OPEN_LOOP: Duration = Duration::from_secs(10);
const CLOSED_LOOP: Duration = Duration::from_secs(5);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [url, token, label] = [&args[0], &args[1], &args[2]];
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    if args.get(3).map(String::as_str) == Some("webhooks") {
        webhooks(&client, url, token, label, &args[4]).await;
        return;
    }
    let list_url = format!("{url}/phone-sms/conversations?limit=50");
    let auth = format!("Bearer {token}");

    // Warm up (connections, caches).
    for _ in 0..200 {
        client
            .get(&list_url)
            .header("Authorization", &auth)
            .send()
            .await
            .unwrap();
    }

    // 1. Open loop at RATE requests/s.
    let total = RATE * OPEN_LOOP.as_secs();
    let interval = Duration::from_secs(1) / RATE as u32;
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    let errors = Arc::new(AtomicU64::new(0));
    for i in 0..total {
        let scheduled = start + interval * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let (client, list_url, auth, errors) = (
            client.clone(),
            list_url.clone(),
            auth.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let response = client
                .get(&list_url)
                .header("Authorization", &auth)
                .send()
                .await;
            match response {
                Ok(r) if r.status().is_success() => {
                    let _ = r.bytes().await;
                }
                Ok(r) => {
                    if r.status().is_server_error() {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(_) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            scheduled.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for task in tasks {
        latencies.push(task.await.unwrap());
    }
    let achieved = total as f64 / start.elapsed().as_secs_f64();
    latencies.sort();
    println!(
        "[{label}] conversation list at {RATE} req/s for {}s: p50 {}, p99 {}, max {}, achieved {achieved:.0} req/s, 5xx/errors {}",
        OPEN_LOOP.as_secs(),
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        ms(*latencies.last().unwrap()),
        errors.load(Ordering::Relaxed)
    );

    // 2. Closed loop: maximum throughput of the conversation list.
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + CLOSED_LOOP;
    let mut workers = Vec::new();
    for _ in 0..64 {
        let (client, list_url, auth, done, failed) = (
            client.clone(),
            list_url.clone(),
            auth.clone(),
            done.clone(),
            failed.clone(),
        );
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                match client
                    .get(&list_url)
                    .header("Authorization", &auth)
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    println!(
        "[{label}] conversation list, 64 connections: {:.0} req/s maximum, failures {}",
        done.load(Ordering::Relaxed) as f64 / CLOSED_LOOP.as_secs_f64(),
        failed.load(Ordering::Relaxed)
    );

    // 3. POST message throughput (each with its own Idempotency-Key), into demo conversations.
    let conversations: Value = client
        .get(format!("{url}/phone-sms/conversations"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Arc<Vec<String>> = Arc::new(
        conversations["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect(),
    );
    let sent = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + CLOSED_LOOP;
    let mut workers = Vec::new();
    for w in 0..32u64 {
        let (client, url, auth, ids, sent, refused) = (
            client.clone(),
            url.clone(),
            auth.clone(),
            ids.clone(),
            sent.clone(),
            refused.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let conversation = &ids[(n as usize + w as usize) % ids.len()];
                let response = client
                    .post(format!("{url}/phone-sms/messages"))
                    .header("Authorization", &auth)
                    .header("Idempotency-Key", format!("bench-{w}-{n}"))
                    .json(&json!({"conversationId": conversation, "message": format!("load test {w}/{n}")}))
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status().is_success() => {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    println!(
        "[{label}] POST /phone-sms/messages, 32 connections: {:.0} messages/s, failures {}",
        sent.load(Ordering::Relaxed) as f64 / CLOSED_LOOP.as_secs_f64(),
        refused.load(Ordering::Relaxed)
    );
}

/// Inbound-webhook throughput of a server with the Twilio provider.
async fn webhooks(client: &reqwest::Client, url: &str, token: &str, label: &str, auth_token: &str) {
    let numbers: Value = client
        .get(format!("{url}/phone-sms/phone-numbers"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ours = numbers["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["smsEnabled"] == true && n["status"] == "active")
        .expect("an SMS number")["number"]
        .as_str()
        .unwrap()
        .to_owned();
    let hook = format!("{url}/phone-sms/webhooks/twilio/inbound");
    let duration = Duration::from_secs(10);
    let deadline = Instant::now() + duration;
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for w in 0..32u64 {
        let (client, hook, ours, auth_token, done, failed) = (
            client.clone(),
            hook.clone(),
            ours.clone(),
            auth_token.to_owned(),
            done.clone(),
            failed.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let sender = format!("+1415555{:04}", (w * 7919 + n) % 1000 + 1000);
                let sid = format!("SMbench{w:02}{n:08}");
                let params: Vec<(String, String)> = [
                    ("AccountSid", "ACbenchbenchbenchbenchbenchbench00"),
                    ("Body", "Hi, is my order on its way?"),
                    ("From", sender.as_str()),
                    ("MessageSid", sid.as_str()),
                    ("NumMedia", "0"),
                    ("NumSegments", "1"),
                    ("SmsSid", sid.as_str()),
                    ("SmsStatus", "received"),
                    ("To", ours.as_str()),
                ]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
                let signature =
                    upzento_cloud::carrier::twilio::signature(&auth_token, &hook, &params);
                let body = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&params)
                    .finish();
                let started = Instant::now();
                let response = client
                    .post(&hook)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("X-Twilio-Signature", signature)
                    .body(body)
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        latencies.push(started.elapsed());
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.unwrap());
    }
    latencies.sort();
    println!(
        "[{label}] signed Twilio inbound webhooks, 32 connections: {:.0} webhooks/s, p50 {}, p99 {}, failures {}",
        done.load(Ordering::Relaxed) as f64 / duration.as_secs_f64(),
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        failed.load(Ordering::Relaxed)
    );
}
