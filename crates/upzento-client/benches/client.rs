//! `cargo xtask bench client`: the local cache and the sync, measured.
//!
//! `cargo bench -p upzento-client --bench client -- cache [MESSAGES CONVERSATIONS]`
//!   ingests synthetic feed pages into an encrypted cache file, then times inbox pages
//!   and searches, and prints the size on disk.
//! `cargo bench -p upzento-client --bench client -- sync URL AGENT_TOKEN ADMIN_TOKEN`
//!   times the initial sync from a cloud (seeded beforehand) and the delay from a
//!   message posted on the cloud to the sync's change event (what the UI reacts to).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use upzento_client::cache::{Cache, CacheKey, InboxCursor, InboxFilter, Owner, ms_of};
use upzento_client::cloud::{CloudClient, parse_base_url};
use upzento_client::sync::{SyncEvent, SyncStatus, spawn};
use upzento_domain::resources::{Change, ChangeOp, entity};

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let rank = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    samples[rank.min(samples.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn stamp(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap();
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

const WORDS: &[&str] = &[
    "appointment",
    "tomorrow",
    "thanks",
    "please",
    "confirm",
    "cleaning",
    "invoice",
    "call",
    "morning",
    "afternoon",
    "reschedule",
    "insurance",
    "question",
    "great",
    "sorry",
    "late",
];

/// splitmix64: a fixed, well-spread sequence from a counter.
fn mix(n: u64) -> u64 {
    let mut r = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    r = (r ^ (r >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    r = (r ^ (r >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    r ^ (r >> 31)
}

/// A UUIDv7 as the cloud makes them: creation time first, then random bits.
fn uuid7(ms: i64, salt: u64) -> String {
    let (ms, r) = (ms as u64, mix(salt));
    format!(
        "{:08x}-{:04x}-7{:03x}-{:04x}-{:012x}",
        ms >> 16,
        ms & 0xffff,
        (r >> 52) & 0xfff,
        0x8000 | ((r >> 36) & 0x3fff),
        r & 0xffff_ffff_ffff
    )
}

/// Conversation `n` opens with message `n` (see [`page`]).
fn conversation_id(n: usize, base_ms: i64) -> String {
    uuid7(base_ms + n as i64 * 10, n as u64)
}

/// One feed page of synthetic records, in feed order: message `i` is at `base_ms + 10 i`;
/// the first `conversations` messages open a conversation each, later ones land in any
/// of them (as replies do), so a page of the feed touches conversations all over.
fn page(first: usize, count: usize, conversations: usize, base_ms: i64) -> Vec<Change> {
    let mut changes = Vec::with_capacity(count);
    for i in first..first + count {
        let conversation = if i < conversations {
            i
        } else {
            (mix(i as u64 ^ 0x5eed) % conversations as u64) as usize
        };
        let conversation_id = conversation_id(conversation, base_ms);
        let message_id = uuid7(base_ms + i as i64 * 10, i as u64);
        let at = base_ms + i as i64 * 10;
        let mut body = String::new();
        for k in 0..8 {
            body.push_str(WORDS[(i * 7 + k * 13) % WORDS.len()]);
            body.push(' ');
        }
        // "the" is in every message; "zebra" in one of 10,000.
        body.push_str("see the details");
        if i.is_multiple_of(10_000) {
            body.push_str(" zebra");
        }
        if i < conversations {
            changes.push(Change {
                seq: 0,
                entity: entity::CONVERSATION.into(),
                id: conversation_id.clone(),
                op: ChangeOp::Upsert,
                data: Some(json!({"id": conversation_id, "phoneNumberId": "n1",
                    "ourNumber": "+14155552671", "contactNumber": format!("+1415{:07}", conversation),
                    "contactId": null, "status": if conversation.is_multiple_of(3) { "closed" } else { "open" },
                    "assignedTo": if conversation.is_multiple_of(4) { "me" } else { "other" },
                    "lastMessageAt": stamp(at), "lastMessagePreview": body.clone(),
                    "lastActivityAt": stamp(at), "createdAt": stamp(at), "updatedAt": stamp(at)})),
                changed_at: stamp(at),
                entered_scope: false,
            });
        }
        changes.push(Change {
            seq: 0,
            entity: entity::SMS_MESSAGE.into(),
            id: message_id.clone(),
            op: ChangeOp::Upsert,
            data: Some(
                json!({"id": message_id, "conversationId": conversation_id,
                "phoneNumberId": "n1", "contactId": null,
                "direction": if i.is_multiple_of(2) { "inbound" } else { "outbound" }, "message": body,
                "status": if i.is_multiple_of(2) { "received" } else { "delivered" }, "errorCode": null,
                "errorMessage": null, "encoding": "gsm7", "segments": 1, "campaignId": null,
                "sentBy": null, "provider": "sandbox", "providerMessageId": null,
                "createdAt": stamp(at), "updatedAt": stamp(at)}),
            ),
            changed_at: stamp(at),
            entered_scope: false,
        });
    }
    changes
}

/// Live messages applied right after a bulk sync: enough writes for FTS5's merges of
/// the small segments they add (and of the bulk's large one) to show.
const LIVE_AFTER_BULK: usize = 300;

fn cache_bench(messages: usize, conversations: usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    let owner = Owner {
        cloud: "http://bench/".into(),
        tenant_id: "t".into(),
        user_id: "me".into(),
    };
    let mut cache = Cache::open(&path, &CacheKey::generate().unwrap(), &owner).unwrap();
    let base_ms = 1_750_000_000_000;
    let page_size = upzento_client::sync::driver::PAGE as usize;
    println!(
        "ingest: {messages} messages in {conversations} conversations (UUIDv7 ids, replies spread over all of them), \
         feed pages of {page_size} (one transaction each, as the sync applies them)"
    );
    let mut building = Duration::ZERO;
    let start = Instant::now();
    // As the sync does with a backlog into an empty cache: the search and thread
    // indexes are built once at the end.
    cache.begin_bulk().unwrap();
    let mut seq = 0_i64;
    for first in (0..messages).step_by(page_size) {
        let t = Instant::now();
        let mut changes = page(
            first,
            page_size.min(messages - first),
            conversations,
            base_ms,
        );
        for c in &mut changes {
            seq += 1;
            c.seq = seq;
        }
        building += t.elapsed();
        cache.apply(&changes, seq).unwrap();
        let t = Instant::now();
        drop(changes);
        building += t.elapsed();
    }
    let total = start.elapsed();
    let cached = total - building;
    println!(
        "  into the cache: {:.2} s (inbox browsable; plus {:.2} s making and freeing the test records)",
        cached.as_secs_f64(),
        building.as_secs_f64()
    );
    // Opening a conversation before the thread index exists (during an initial sync).
    let mut samples: Vec<Duration> = (0..20)
        .map(|i| {
            let t = Instant::now();
            cache
                .messages(
                    &conversation_id((i * 4_999) % conversations, base_ms),
                    None,
                    50,
                )
                .unwrap();
            t.elapsed()
        })
        .collect();
    println!(
        "  conversation messages while the initial sync runs (no thread index yet): p95 {}",
        ms(percentile(&mut samples, 95.0))
    );
    let t = Instant::now();
    cache.finish_bulk().unwrap();
    let index = t.elapsed();
    println!(
        "  search and thread indexes: {:.2} s | ingest, the target (< 10 s): {:.2} s",
        index.as_secs_f64(),
        (cached + index).as_secs_f64(),
    );
    assert_eq!(
        cache.counts().unwrap(),
        (conversations as i64, messages as i64)
    );
    // Live messages right after: each its own transaction, indexed as it comes.
    let mut samples: Vec<Duration> = (0..LIVE_AFTER_BULK)
        .map(|k| {
            let i = messages + k;
            let mut change = page(i, 1, conversations, base_ms).pop().unwrap();
            change.seq = seq + 1 + k as i64;
            let t = Instant::now();
            cache.apply(&[change], seq + 1 + k as i64).unwrap();
            t.elapsed()
        })
        .collect();
    println!(
        "  live messages right after (one transaction each, {LIVE_AFTER_BULK}): p50 {} p99 {} max {}",
        ms(percentile(&mut samples, 50.0)),
        ms(percentile(&mut samples, 99.0)),
        ms(percentile(&mut samples, 100.0))
    );

    let runs = 300;
    for (label, filter) in [
        ("all", InboxFilter::All),
        ("mine", InboxFilter::Mine),
        ("closed", InboxFilter::Closed),
    ] {
        let mut first_page = Vec::new();
        let mut deep_page = Vec::new();
        let mut cursor: Option<InboxCursor> = None;
        for _ in 0..runs {
            let t = Instant::now();
            let rows = cache.inbox(filter, None, 50, 0).unwrap();
            first_page.push(t.elapsed());
            assert_eq!(rows.len(), 50);
            // Walk down the inbox page by page.
            let t = Instant::now();
            let rows = cache.inbox(filter, cursor.as_ref(), 50, 0).unwrap();
            deep_page.push(t.elapsed());
            // At the end of the list, start over.
            cursor = rows.last().map(|last| InboxCursor {
                last_activity_ms: ms_of(&last.conversation.last_activity_at),
                id: last.conversation.id.clone(),
            });
        }
        println!(
            "  inbox page ({label}, 50 rows with unread counts): p50 {} p95 {} | paging down the list: p95 {}",
            ms(percentile(&mut first_page, 50.0)),
            ms(percentile(&mut first_page, 95.0)),
            ms(percentile(&mut deep_page, 95.0)),
        );
    }
    let mut thread = Vec::new();
    for i in 0..runs {
        let t = Instant::now();
        let m = cache
            .messages(
                &conversation_id((i * 331) % conversations, base_ms),
                None,
                50,
            )
            .unwrap();
        thread.push(t.elapsed());
        assert!(!m.is_empty());
    }
    println!(
        "  conversation messages (newest 50): p95 {}",
        ms(percentile(&mut thread, 95.0))
    );
    let rare = messages.div_ceil(10_000);
    for (label, query, expected) in [
        (format!("rare term, {rare} hits"), "zebra", rare.min(50)),
        ("very common term, every message".to_owned(), "the ", 50),
        (
            "two common words, each in half the messages".to_owned(),
            "appointment tomorrow ",
            50,
        ),
        (
            "prefix of a word in 1/16 of the messages, as typed".to_owned(),
            "resched",
            50,
        ),
    ] {
        let mut samples = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            let found = cache.search(query, 50).unwrap();
            samples.push(t.elapsed());
            assert_eq!(found.messages.len(), expected, "{query}");
        }
        println!(
            "  search newest 50 ({label}): p50 {} p95 {}",
            ms(percentile(&mut samples, 50.0)),
            ms(percentile(&mut samples, 95.0))
        );
    }
    let space = cache.space().unwrap();
    let listed: Vec<String> = space
        .iter()
        .take(6)
        .map(|(name, bytes)| format!("{name} {:.1}", *bytes as f64 / 1_048_576.0))
        .collect();
    println!("  largest tables and indexes (MiB): {}", listed.join(", "));
    drop(cache);
    let size: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    println!(
        "  cache on disk: {:.1} MiB ({:.0} bytes per message, FTS index included, encrypted)",
        size as f64 / 1_048_576.0,
        size as f64 / messages as f64
    );
}

async fn sync_bench(url: &str, agent: &str, admin: &str) {
    let base = parse_base_url(url).unwrap();
    let client = CloudClient::new(base.clone()).unwrap();
    let me = client.me(agent).await.unwrap();
    let owner = Owner {
        cloud: base.to_string(),
        tenant_id: me.tenant.id,
        user_id: me.user.id,
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(
        &dir.path().join("cache.db"),
        &CacheKey::generate().unwrap(),
        &owner,
    )
    .unwrap();
    let cache = Arc::new(Mutex::new(cache));
    let start = Instant::now();
    let (sync, mut events) = spawn(cache.clone(), client, agent.to_owned(), me.user.role, 1);
    loop {
        if let SyncEvent::Status {
            status: SyncStatus::Online,
        } = events.recv().await.unwrap()
        {
            break;
        }
    }
    let took = start.elapsed();
    let (conversations, messages) = cache.lock().unwrap().counts().unwrap();
    println!(
        "initial sync: {messages} messages in {conversations} conversations in {:.1} s ({:.0} messages/s)",
        took.as_secs_f64(),
        messages as f64 / took.as_secs_f64()
    );

    // Live: a message posted on the cloud, until the sync says the cache has it.
    let http = reqwest::Client::new();
    let conversation = cache
        .lock()
        .unwrap()
        .inbox(InboxFilter::All, None, 1, 0)
        .unwrap()[0]
        .conversation
        .id
        .clone();
    let mut latencies = Vec::new();
    // The slowest message, and how much of it the cloud took to answer the post.
    let mut slowest = (Duration::ZERO, 0, Duration::ZERO);
    for i in 0..200 {
        while events.try_recv().is_ok() {}
        let t = Instant::now();
        let sent: serde_json::Value = http
            .post(format!("{url}/phone-sms/messages"))
            .bearer_auth(admin)
            .json(&json!({"conversationId": conversation, "message": format!("live {i}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = sent["id"].as_str().unwrap().to_owned();
        let posted = t.elapsed();
        loop {
            match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
                Ok(Ok(SyncEvent::Changed { conversations, .. }))
                    if conversations.contains(&conversation) =>
                {
                    let cache = cache.lock().unwrap();
                    if cache
                        .messages(&conversation, None, 5)
                        .unwrap()
                        .iter()
                        .any(|m| m.id == id)
                    {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => panic!("live message {i} never arrived"),
            }
        }
        let took = t.elapsed();
        if took > slowest.0 {
            slowest = (took, i, posted);
        }
        latencies.push(took);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "live event to UI (post on the cloud -> change event with the message in the cache), 200 messages: p50 {} p99 {} max {} (message {}, of which {} until the cloud answered the post)",
        ms(percentile(&mut latencies, 50.0)),
        ms(percentile(&mut latencies, 99.0)),
        ms(slowest.0),
        slowest.1,
        ms(slowest.2),
    );
    sync.stop();
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.first().map(String::as_str) {
        Some("sync") => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(sync_bench(&args[1], &args[2], &args[3]));
        }
        _ => {
            let messages = args
                .get(1)
                .and_then(|a| a.parse().ok())
                .unwrap_or(1_000_000);
            let conversations = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100_000);
            cache_bench(messages, conversations);
        }
    }
}
