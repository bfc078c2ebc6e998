//! The sync against a real upzento-cloud process: initial sync, live events, the
//! outbox offline and against failing servers, an expired token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::proxy::{Mode, Proxy};
use common::{ADMIN_EMAIL, ADMIN_PASSWORD, AGENT_EMAIL, AGENT_PASSWORD, Cloud};
use serde_json::json;
use tokio::sync::broadcast;
use upzento_client::cache::{Cache, Draft, InboxFilter, Owner};
use upzento_client::cloud::{CloudClient, parse_base_url};
use upzento_client::sync::{SyncEvent, SyncHandle, SyncStatus, spawn};

struct Session {
    cache: Arc<Mutex<Cache>>,
    sync: SyncHandle,
    events: broadcast::Receiver<SyncEvent>,
    token: String,
}

async fn session(cloud: &Cloud, base: &str) -> Session {
    let token = cloud.token(AGENT_EMAIL, AGENT_PASSWORD).await;
    let client =
        CloudClient::with_timeout(parse_base_url(base).unwrap(), Duration::from_secs(1)).unwrap();
    let me = client.me(&token).await.unwrap();
    let role = me.user.role;
    let owner = Owner {
        cloud: base.to_owned(),
        tenant_id: me.tenant.id,
        user_id: me.user.id,
    };
    let cache = Arc::new(Mutex::new(Cache::in_memory(&owner).unwrap()));
    let (sync, events) = spawn(cache.clone(), client, token.clone(), role, 7);
    Session {
        cache,
        sync,
        events,
        token,
    }
}

impl Session {
    /// Waits until `done` holds on the cache, checking after each sync event.
    async fn until(&mut self, what: &str, done: impl Fn(&Cache) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if done(&self.cache.lock().unwrap()) {
                return;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(!left.is_zero(), "timed out waiting for {what}");
            let _ = tokio::time::timeout(left.min(Duration::from_millis(100)), self.events.recv())
                .await;
        }
    }

    async fn status(&mut self, what: &str, wanted: impl Fn(SyncStatus) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(!left.is_zero(), "timed out waiting for status {what}");
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Ok(SyncEvent::Status { status })) if wanted(status) => return,
                Ok(Err(broadcast::error::RecvError::Closed)) => panic!("sync ended"),
                _ => {}
            }
        }
    }

    fn compose(&self, conversation: &str, body: &str) -> String {
        let item = self
            .cache
            .lock()
            .unwrap()
            .enqueue(
                &Draft {
                    conversation_id: Some(conversation.to_owned()),
                    phone_number_id: None,
                    to: None,
                    body: body.to_owned(),
                    template_id: None,
                },
                0,
            )
            .unwrap();
        self.sync.outbox_queued();
        item.key
    }

    fn first_conversation(&self) -> String {
        self.cache
            .lock()
            .unwrap()
            .inbox(InboxFilter::All, None, 1, 0)
            .unwrap()[0]
            .conversation
            .id
            .clone()
    }
}

/// The messages of a conversation on the server with this body.
async fn on_server(cloud: &Cloud, token: &str, conversation: &str, body: &str) -> usize {
    cloud
        .all(
            token,
            &format!("phone-sms/conversations/{conversation}/messages"),
        )
        .await
        .iter()
        .filter(|m| m["message"] == body)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_sync_mirrors_the_cloud_and_live_events_follow() {
    let cloud = Cloud::start().await;
    let mut s = session(&cloud, &cloud.url).await;
    s.status("online", |st| st == SyncStatus::Online).await;
    let server = cloud.all(&s.token, "phone-sms/conversations").await;
    let inbox = s
        .cache
        .lock()
        .unwrap()
        .inbox(InboxFilter::All, None, 500, 0)
        .unwrap();
    assert!(!server.is_empty());
    let ids = |items: Vec<String>| items;
    assert_eq!(
        ids(inbox.iter().map(|r| r.conversation.id.clone()).collect()),
        ids(server
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()),
        "same conversations in the same order"
    );
    for (row, conv) in inbox.iter().zip(&server) {
        assert_eq!(
            row.unread,
            conv["unreadCount"].as_i64().unwrap(),
            "unread of {}",
            row.conversation.id
        );
        let theirs: Vec<String> = cloud
            .all(
                &s.token,
                &format!("phone-sms/conversations/{}/messages", row.conversation.id),
            )
            .await
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect();
        let ours: Vec<String> = s
            .cache
            .lock()
            .unwrap()
            .messages(&row.conversation.id, None, 500)
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(ours, theirs, "messages of {}", row.conversation.id);
    }
    let calls = cloud.all(&s.token, "phone-sms/calls").await;
    let cached = s
        .cache
        .lock()
        .unwrap()
        .calls(&Default::default(), None, 500)
        .unwrap();
    assert_eq!(cached.len(), calls.len());

    // Live: another user writes; it arrives without asking.
    let admin = cloud.token(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let conversation = s.first_conversation();
    let sent = cloud
        .post(
            &admin,
            "phone-sms/messages",
            json!({"conversationId": conversation, "message": "Live from the admin"}),
        )
        .await;
    let id = sent["id"].as_str().unwrap().to_owned();
    s.until("the live message", |c| {
        c.messages(&conversation, None, 5)
            .unwrap()
            .iter()
            .any(|m| m.id == id)
    })
    .await;
    // And its delivery report follows.
    s.until("delivered", |c| {
        c.messages(&conversation, None, 5)
            .unwrap()
            .iter()
            .any(|m| m.id == id && m.status == upzento_domain::resources::MessageStatus::Delivered)
    })
    .await;
    assert!(
        !s.cache
            .lock()
            .unwrap()
            .search("admin", 10)
            .unwrap()
            .messages
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_written_offline_is_sent_once_when_the_cloud_returns() {
    let mut cloud = Cloud::start().await;
    let mut s = session(&cloud, &cloud.url).await;
    s.status("online", |st| st == SyncStatus::Online).await;
    let conversation = s.first_conversation();
    cloud.stop();
    s.status("offline", |st| matches!(st, SyncStatus::Offline { .. }))
        .await;
    let key = s.compose(&conversation, "Written on the train");
    tokio::time::sleep(Duration::from_millis(300)).await;
    {
        let cache = s.cache.lock().unwrap();
        let outbox = cache.outbox().unwrap();
        assert_eq!((outbox.len(), outbox[0].state.as_str()), (1, "pending"));
        // History stays readable offline.
        assert!(!cache.messages(&conversation, None, 10).unwrap().is_empty());
    }
    cloud.resume().await;
    s.sync.network_changed();
    s.until("the outbox to empty", |c| c.outbox().unwrap().is_empty())
        .await;
    s.status("online", |st| st == SyncStatus::Online).await;
    let cache_has = s
        .cache
        .lock()
        .unwrap()
        .messages(&conversation, None, 10)
        .unwrap()
        .iter()
        .filter(|m| m.message == "Written on the train")
        .count();
    assert_eq!(cache_has, 1);
    assert_eq!(
        on_server(&cloud, &s.token, &conversation, "Written on the train").await,
        1
    );
    assert!(s.cache.lock().unwrap().outbox_item(&key).unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_messages_fail_with_the_reason_and_keep_their_place() {
    let cloud = Cloud::start().await;
    let mut s = session(&cloud, &cloud.url).await;
    s.status("online", |st| st == SyncStatus::Online).await;
    let number = s
        .cache
        .lock()
        .unwrap()
        .records::<serde_json::Value>("phoneNumber")
        .unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad = s
        .cache
        .lock()
        .unwrap()
        .enqueue(
            &Draft {
                conversation_id: None,
                phone_number_id: Some(number),
                to: Some("+1 555".into()),
                body: "Hello".into(),
                template_id: None,
            },
            0,
        )
        .unwrap();
    s.sync.outbox_queued();
    let conversation = s.first_conversation();
    s.compose(&conversation, "After the bad one");
    s.until("the good one sent", |c| c.outbox().unwrap().len() == 1)
        .await;
    let failed = s.cache.lock().unwrap().outbox().unwrap().remove(0);
    assert_eq!(
        (failed.key.as_str(), failed.state.as_str()),
        (bad.key.as_str(), "failed")
    );
    assert_eq!(failed.error_code.as_deref(), Some("invalid_field"));
    assert!(failed.error_message.unwrap().len() > 5);
    assert!(s.cache.lock().unwrap().outbox_delete(&bad.key).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_timeouts_keep_the_outbox_until_it_goes_through_once() {
    let cloud = Cloud::start().await;
    let proxy = Proxy::start(cloud.port).await;
    let mut s = session(&cloud, &proxy.url).await;
    s.status("online", |st| st == SyncStatus::Online).await;
    let conversation = s.first_conversation();
    proxy.set(Mode::Error500);
    let key = s.compose(&conversation, "Through the storm");
    s.until("a failed attempt", |c| {
        c.outbox_item(&key).unwrap().unwrap().attempts >= 1
    })
    .await;
    proxy.set(Mode::Blackhole);
    s.until("a timed-out attempt", |c| {
        c.outbox_item(&key).unwrap().unwrap().attempts >= 2
    })
    .await;
    assert_eq!(
        s.cache
            .lock()
            .unwrap()
            .outbox_item(&key)
            .unwrap()
            .unwrap()
            .state,
        "pending"
    );
    proxy.set(Mode::Pass);
    s.sync.network_changed();
    s.until("sent", |c| c.outbox_item(&key).unwrap().is_none())
        .await;
    assert_eq!(
        on_server(&cloud, &s.token, &conversation, "Through the storm").await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_signs_out_and_keeps_the_outbox() {
    let mut cloud = Cloud::start().await;
    let mut s = session(&cloud, &cloud.url).await;
    s.status("online", |st| st == SyncStatus::Online).await;
    let conversation = s.first_conversation();
    reqwest::Client::new()
        .delete(format!("{}phone-sms/auth/token", cloud.url))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    // The open stream does not notice; the next request does. Restart the cloud to cut it.
    cloud.stop();
    cloud.resume().await;
    s.sync.network_changed();
    s.compose(&conversation, "Never lost");
    s.status("signed out", |st| st == SyncStatus::SignedOut)
        .await;
    let outbox = s.cache.lock().unwrap().outbox().unwrap();
    assert_eq!((outbox.len(), outbox[0].body.as_str()), (1, "Never lost"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_inbound_messages_are_announced_and_the_history_is_not() {
    let cloud = Cloud::start().await;
    let mut s = session(&cloud, &cloud.url).await;
    // The first sync brings inbound history: nothing of it is announced.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, s.events.recv()).await {
            Ok(Ok(SyncEvent::Changed { arrivals, .. })) => {
                assert!(arrivals.is_empty(), "history announced: {arrivals:?}");
            }
            Ok(Ok(SyncEvent::Status {
                status: SyncStatus::Online,
            })) => break,
            Ok(Ok(_)) => {}
            other => panic!("no online status: {other:?}"),
        }
    }
    assert!(
        s.cache
            .lock()
            .unwrap()
            .inbox(InboxFilter::All, None, 500, 0)
            .unwrap()
            .iter()
            .any(|row| row.unread > 0),
        "the demo has unread inbound history"
    );

    // A new inbound SMS: announced once, with its text and conversation.
    let admin = cloud.token(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let inbound = json!({"to": "+14155552671", "from": "+14155550142", "body": "Can I move my appointment?", "messageId": "SBIN-arrival-1"});
    let stored = cloud
        .post(&admin, "phone-sms/sandbox/inbound", inbound.clone())
        .await;
    let mut announced = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while announced.is_empty() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(!left.is_zero(), "the arrival was not announced");
        if let Ok(Ok(SyncEvent::Changed { arrivals, .. })) =
            tokio::time::timeout(left, s.events.recv()).await
        {
            announced.extend(arrivals);
        }
    }
    assert_eq!(announced.len(), 1, "{announced:?}");
    assert_eq!(announced[0].message_id, stored["id"].as_str().unwrap());
    assert_eq!(
        announced[0].conversation_id,
        stored["conversationId"].as_str().unwrap()
    );
    assert_eq!(announced[0].body, "Can I move my appointment?");

    // The provider repeating its webhook, and later changes: nothing more is announced.
    cloud
        .post(&admin, "phone-sms/sandbox/inbound", inbound)
        .await;
    let conversation = stored["conversationId"].as_str().unwrap().to_owned();
    cloud
        .post(
            &admin,
            "phone-sms/messages",
            json!({"conversationId": conversation, "message": "Sure, which day?"}),
        )
        .await;
    let quiet_until = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(event) = tokio::time::timeout_at(quiet_until, s.events.recv()).await {
        if let Ok(SyncEvent::Changed { arrivals, .. }) = event {
            assert!(arrivals.is_empty(), "announced again: {arrivals:?}");
        }
    }
}

/// Messages of a conversation in the cache.
fn cached_messages(cache: &Cache, conversation: &str) -> Vec<String> {
    cache
        .messages(conversation, None, 100)
        .unwrap()
        .into_iter()
        .map(|m| m.message)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_holds_only_the_users_work_and_gets_the_history_of_what_they_are_handed() {
    let cloud = Cloud::start().await;
    let admin = cloud.token(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let admin_id = cloud.get(&admin, "phone-sms/me").await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut s = session(&cloud, &cloud.url).await;
    s.status("online", |st| st == SyncStatus::Online).await;
    let me = cloud.get(&s.token, "phone-sms/me").await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let numbers = cloud.all(&admin, "phone-sms/phone-numbers").await;
    let number = numbers[0]["id"].as_str().unwrap();

    // The agent's conversation, with two messages.
    let opened = cloud
        .post(
            &admin,
            "phone-sms/conversations",
            json!({"phoneNumberId": number, "contactNumber": "+14155550777"}),
        )
        .await;
    let conversation = opened["id"].as_str().unwrap().to_owned();
    let assign = format!("phone-sms/conversations/{conversation}/assign");
    cloud.patch(&admin, &assign, json!({"userId": me})).await;
    for text in ["First", "Second"] {
        cloud
            .post(
                &admin,
                "phone-sms/messages",
                json!({"conversationId": conversation, "message": text}),
            )
            .await;
    }
    s.until("the agent's thread", |c| {
        cached_messages(c, &conversation).len() == 2
    })
    .await;

    // Handed to someone else: gone from the cache, messages and all.
    cloud
        .patch(&admin, &assign, json!({"userId": admin_id}))
        .await;
    s.until("the thread dropped", |c| {
        c.conversation(&conversation).unwrap().is_none()
            && cached_messages(c, &conversation).is_empty()
    })
    .await;
    cloud
        .post(
            &admin,
            "phone-sms/messages",
            json!({"conversationId": conversation, "message": "While away"}),
        )
        .await;

    // Handed back: the history comes with it, what was said meanwhile too.
    cloud.patch(&admin, &assign, json!({"userId": me})).await;
    s.until("the history back", |c| {
        let mut texts = cached_messages(c, &conversation);
        texts.sort();
        texts == ["First", "Second", "While away"]
    })
    .await;

    // Joining a team brings the team's work, with its history.
    let team = cloud
        .post(
            &admin,
            "phone-sms/teams",
            json!({"name": "Night", "memberIds": [admin_id]}),
        )
        .await;
    let team = team["id"].as_str().unwrap().to_owned();
    let night = cloud
        .post(
            &admin,
            "phone-sms/conversations",
            json!({"phoneNumberId": number, "contactNumber": "+14155550778"}),
        )
        .await;
    let night = night["id"].as_str().unwrap().to_owned();
    cloud
        .patch(
            &admin,
            &format!("phone-sms/conversations/{night}/assign"),
            json!({"userId": null, "teamId": team}),
        )
        .await;
    cloud
        .post(
            &admin,
            "phone-sms/messages",
            json!({"conversationId": night, "message": "For the night team"}),
        )
        .await;
    s.until("the team's work out of the cache", |c| {
        c.conversation(&night)
            .unwrap()
            .is_none_or(|n| n.team_id.as_deref() != Some(team.as_str()))
    })
    .await;
    cloud
        .patch(
            &admin,
            &format!("phone-sms/teams/{team}"),
            json!({"memberIds": [admin_id, me]}),
        )
        .await;
    s.until("the team's thread", |c| {
        c.conversation(&night).unwrap().is_some()
            && cached_messages(c, &night) == ["For the night team"]
    })
    .await;
    // Leaving it takes the work away again.
    cloud
        .patch(
            &admin,
            &format!("phone-sms/teams/{team}"),
            json!({"memberIds": [admin_id]}),
        )
        .await;
    s.until("the team's thread dropped", |c| {
        c.conversation(&night).unwrap().is_none() && cached_messages(c, &night).is_empty()
    })
    .await;
}
