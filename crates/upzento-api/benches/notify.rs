//! Webhook-to-notification latency for `cargo xtask bench notify`: a signed Twilio
//! inbound webhook is posted to a running cloud (`--provider twilio`), and the clock
//! stops when the desktop's notification server has accepted the notification that
//! the app's own path (live event, cache, `Api`, notify-rust) raised for it.
//!
//! Usage (inside a D-Bus session with a notification server, e.g. dunst under Xvfb):
//! `cargo bench -p upzento-api --bench notify -- URL TWILIO_AUTH_TOKEN`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use tokio::sync::mpsc;
use upzento_api::notify::{DesktopNotifier, Notice, Notifier, OnAction};
use upzento_api::{Api, InboxFilterView, Paths, SignInRequest, SyncState};
use upzento_client::credentials::MemoryStore;

const ROUNDS: usize = 200;
const OURS: &str = "+14155552671";

/// The desktop notifier, noting when each notification was accepted.
#[derive(Debug)]
struct Timed {
    inner: DesktopNotifier,
    shown: mpsc::UnboundedSender<(String, Instant, Duration)>,
}

impl Notifier for Timed {
    fn show(&self, notice: Notice, on_action: OnAction) -> Result<(), String> {
        let body = notice.body.clone();
        let asked = Instant::now();
        self.inner.show(notice, on_action)?;
        let _ = self.shown.send((body, Instant::now(), asked.elapsed()));
        Ok(())
    }
}

fn signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [url, auth_token] = [&args[0], &args[1]];
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths {
        config_dir: dir.path().join("config"),
        data_dir: dir.path().join("data"),
        log_dir: dir.path().join("logs"),
    };
    let (shown_tx, mut shown) = mpsc::unbounded_channel();
    let api = Api::new(&paths, Arc::new(MemoryStore::default())).with_notifier(Arc::new(Timed {
        inner: DesktopNotifier,
        shown: shown_tx,
    }));
    api.sign_in(SignInRequest::Password {
        cloud_url: url.clone(),
        email: "agent@demo.upzento.test".into(),
        password: "demo-agent-password".into(),
    })
    .await
    .unwrap();
    api.inbox(InboxFilterView::All, None).await.unwrap();
    let started = Instant::now();
    while api.sync_status().await.state != SyncState::Online {
        assert!(started.elapsed() < Duration::from_secs(60), "never online");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let http = reqwest::Client::new();
    let hook = format!(
        "{}/phone-sms/webhooks/twilio/inbound",
        url.trim_end_matches('/')
    );
    // A busy agent's pace, then a flood: a notification server drawing dozens of
    // stacked notifications is slow at that, whoever sends them.
    for (label, gap) in [
        ("one every 250 ms", Duration::from_millis(250)),
        ("a burst, one every 20 ms", Duration::from_millis(20)),
    ] {
        rounds(&http, &hook, auth_token, &mut shown, label, gap).await;
    }
}

async fn rounds(
    http: &reqwest::Client,
    hook: &str,
    auth_token: &str,
    shown: &mut mpsc::UnboundedReceiver<(String, Instant, Duration)>,
    label: &str,
    gap: Duration,
) {
    let mut latencies = Vec::with_capacity(ROUNDS);
    let mut server_times = Vec::with_capacity(ROUNDS);
    for i in 0..ROUNDS {
        let body = format!("Bench message {i} ({label}): are you open today?");
        let sid = format!(
            "SMnotifybench{}{i:06}{}",
            gap.as_millis(),
            std::process::id()
        );
        let from = format!("+1415555{:04}", 2000 + i % 50);
        let params = [
            ("AccountSid", "ACbenchbenchbenchbenchbenchbench00"),
            ("Body", body.as_str()),
            ("From", from.as_str()),
            ("MessageSid", sid.as_str()),
            ("NumMedia", "0"),
            ("To", OURS),
        ];
        let form = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let t0 = Instant::now();
        let response = http
            .post(hook)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", signature(auth_token, hook, &params))
            .body(form)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        loop {
            let (text, at, server) = tokio::time::timeout(Duration::from_secs(10), shown.recv())
                .await
                .expect("no notification within 10 s")
                .unwrap();
            if text == body {
                latencies.push(at - t0);
                server_times.push(server);
                break;
            }
        }
        tokio::time::sleep(gap).await;
    }
    latencies.sort();
    server_times.sort();
    println!(
        "webhook to notification, {ROUNDS} signed Twilio webhooks on loopback, {label}: p50 {}, p95 {}, p99 {}, max {} (of which the notification server's Notify call: p50 {}, p99 {})",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 95.0)),
        ms(percentile(&latencies, 99.0)),
        ms(*latencies.last().unwrap()),
        ms(percentile(&server_times, 50.0)),
        ms(percentile(&server_times, 99.0)),
    );
}
