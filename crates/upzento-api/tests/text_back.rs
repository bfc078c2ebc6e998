//! Text back and the caller's screen-pop, against the real cloud: from a call or a contact
//! the agent gets the conversation with that number, the one that exists or a new one
//! opened on the cloud, shown at once (offline, a new one is refused with a reason); a
//! ringing number shows its contact, last conversation and calls, or says it is new; a call's
//! notes are a timeline, added by their author and kept by the cloud.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../upzento-client/tests/common/mod.rs"]
#[allow(unused_imports)]
mod cloud;

use std::sync::Arc;
use std::time::Duration;

use upzento_api::{
    Api, AppEvent, CallFilterView, CallKindFilter, ErrorCode, InboxFilterView, Paths,
    SignInRequest, SyncState,
};
use upzento_client::credentials::MemoryStore;

async fn online(api: &Api) {
    let mut events = api.subscribe();
    if api.sync_status().await.state == SyncState::Online {
        return;
    }
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let AppEvent::Sync { sync } = events.recv().await.unwrap()
                && sync.state == SyncState::Online
            {
                return;
            }
        }
    })
    .await
    .expect("never online");
}

/// The agent's app signed in to `cloud` and online (its files live as long as the guard).
async fn signed_in(cloud: &cloud::Cloud) -> (Api, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths {
        config_dir: dir.path().join("config"),
        data_dir: dir.path().join("data"),
        log_dir: dir.path().join("logs"),
    };
    let api = Api::new(&paths, Arc::new(MemoryStore::default()));
    api.sign_in(SignInRequest::Password {
        cloud_url: cloud.url.clone(),
        email: cloud::AGENT_EMAIL.into(),
        password: cloud::AGENT_PASSWORD.into(),
    })
    .await
    .unwrap();
    online(&api).await;
    (api, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_back_finds_or_opens_the_conversation_with_a_number() {
    let mut cloud = cloud::Cloud::start().await;
    let (api, _dir) = signed_in(&cloud).await;

    // A number with a conversation already: that one, in any notation.
    let inbox = api.inbox(InboxFilterView::All, None).await.unwrap();
    let existing = &inbox.items[0];
    let found = api
        .text_number(existing.contact_number.clone(), None)
        .await
        .unwrap();
    assert_eq!(found, existing.id);

    // A new number: opened on the cloud, and readable at once from the cache.
    let id = api
        .text_number("+1 (415) 555-0199".into(), None)
        .await
        .unwrap();
    let view = api.conversation(id.clone()).await.unwrap();
    assert_eq!(view.contact_number, "+14155550199");
    let token = cloud.token(cloud::AGENT_EMAIL, cloud::AGENT_PASSWORD).await;
    let remote = cloud
        .get(&token, &format!("phone-sms/conversations/{id}"))
        .await;
    assert_eq!(remote["contactNumber"], "+14155550199");
    // Again: the same conversation, not a second one.
    assert_eq!(
        api.text_number("+14155550199".into(), None).await.unwrap(),
        id
    );

    // Nonsense is refused with a reason.
    let err = api.text_number("call me".into(), None).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput);

    // Offline: the known conversation still opens; a new one is refused, and nothing is made.
    cloud.stop();
    assert_eq!(
        api.text_number("+14155550199".into(), None).await.unwrap(),
        id
    );
    let err = api
        .text_number("+14155550123".into(), None)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Unreachable, "{err:?}");
    cloud.resume().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_screen_pop_shows_who_calls_or_that_they_are_new() {
    let cloud = cloud::Cloud::start().await;
    let (api, _dir) = signed_in(&cloud).await;

    // A number of a contact the cache knows, as a SIP URI user part would carry it.
    let inbox = api.inbox(InboxFilterView::All, None).await.unwrap();
    let known = inbox
        .items
        .iter()
        .find(|i| i.title != i.contact_number)
        .expect("a conversation with a contact in the demo data");
    let digits: String = known
        .contact_number
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let pop = api.caller(digits).await.unwrap();
    assert_eq!(pop.number.as_deref(), Some(known.contact_number.as_str()));
    assert_eq!(
        pop.contact.as_ref().map(|c| c.name.as_str()),
        Some(known.title.as_str())
    );
    assert_eq!(
        pop.last_conversation.as_ref().map(|c| c.id.as_str()),
        Some(known.id.as_str())
    );
    assert!(pop.recent_calls.len() <= 3);

    // Someone new: nothing known, but the number to make a contact of.
    let new = api.caller("+1 415 555 0166".into()).await.unwrap();
    assert_eq!(new.number.as_deref(), Some("+14155550166"));
    assert!(
        new.contact.is_none() && new.last_conversation.is_none() && new.recent_calls.is_empty()
    );

    // A SIP user is not a number.
    let sip = api.caller("alice".into()).await.unwrap();
    assert_eq!(sip.number, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calls_notes_are_added_to_its_timeline_and_kept_by_the_cloud() {
    let mut cloud = cloud::Cloud::start().await;
    let (api, _dir) = signed_in(&cloud).await;
    let calls = api
        .calls(CallFilterView {
            kind: CallKindFilter::All,
            from_date: None,
            to_date: None,
            cursor: None,
        })
        .await
        .unwrap();
    let call = calls.items[0].id.clone();
    assert!(api.call_notes(call.clone()).await.unwrap().is_empty());

    let first = api
        .add_call_note(call.clone(), "  Wants a quote  ".into())
        .await
        .unwrap();
    assert_eq!((first.text.as_str(), first.mine), ("Wants a quote", true));
    api.add_call_note(call.clone(), "Quote sent".into())
        .await
        .unwrap();
    let notes = api.call_notes(call.clone()).await.unwrap();
    let texts: Vec<_> = notes.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(texts, ["Wants a quote", "Quote sent"]);
    let token = cloud.token(cloud::AGENT_EMAIL, cloud::AGENT_PASSWORD).await;
    let remote = cloud
        .get(&token, &format!("phone-sms/calls/{call}/notes"))
        .await;
    assert_eq!(remote["items"].as_array().unwrap().len(), 2);

    assert_eq!(
        api.add_call_note(call.clone(), " ".into())
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidInput
    );
    // Offline: the timeline still reads; a new note says why it cannot be added now.
    cloud.stop();
    assert_eq!(api.call_notes(call.clone()).await.unwrap().len(), 2);
    let err = api
        .add_call_note(call.clone(), "later".into())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Unreachable);
    cloud.resume().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_snoozes_out_of_the_inbox_and_keeps_the_teams_notes() {
    let cloud = cloud::Cloud::start().await;
    let (api, _dir) = signed_in(&cloud).await;
    let inbox = api.inbox(InboxFilterView::Open, None).await.unwrap();
    let id = inbox.items[0].id.clone();
    let open_before = inbox.counts.open;

    // Snoozed for an hour: out of Open, in Snoozed, shown at once (before the feed).
    let hour_later = f64::from(u32::MAX) * 1000.0;
    api.snooze_conversation(id.clone(), Some(hour_later))
        .await
        .unwrap();
    let open = api.inbox(InboxFilterView::Open, None).await.unwrap();
    assert!(open.items.iter().all(|c| c.id != id));
    assert_eq!(open.counts.open, open_before - 1);
    assert_eq!(open.counts.snoozed, 1);
    let snoozed = api.inbox(InboxFilterView::Snoozed, None).await.unwrap();
    assert_eq!(snoozed.items.len(), 1);
    assert!(snoozed.items[0].snoozed_until.is_some());
    let token = cloud.token(cloud::AGENT_EMAIL, cloud::AGENT_PASSWORD).await;
    let kept = cloud
        .get(&token, &format!("phone-sms/conversations/{id}"))
        .await;
    assert!(kept["snoozedUntil"].is_string(), "{kept}");
    // A time past is refused by the cloud, with its reason; waking it brings it back.
    let past = api.snooze_conversation(id.clone(), Some(1000.0)).await;
    assert_eq!(past.unwrap_err().code, ErrorCode::InvalidInput);
    api.snooze_conversation(id.clone(), None).await.unwrap();
    let open = api.inbox(InboxFilterView::Open, None).await.unwrap();
    assert!(open.items.iter().any(|c| c.id == id));

    // An internal note: in the conversation at once, on the cloud, never a message.
    let note = api
        .add_conversation_note(id.clone(), "  She prefers texts after 5 pm ".into())
        .await
        .unwrap();
    assert_eq!(note.text, "She prefers texts after 5 pm");
    assert!(note.mine);
    let shown = api.conversation(id.clone()).await.unwrap();
    assert_eq!(shown.notes.len(), 1);
    assert!(
        shown
            .messages
            .iter()
            .all(|m| m.body != "She prefers texts after 5 pm"),
        "a note is never a message"
    );
    let notes = cloud
        .get(&token, &format!("phone-sms/conversations/{id}/notes"))
        .await;
    assert_eq!(notes["items"][0]["text"], "She prefers texts after 5 pm");
    assert!(api.add_conversation_note(id, "   ".into()).await.is_err());
}
