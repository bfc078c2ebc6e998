//! The sync state the UI shows has one source, numbered: a relaunched app with a signed-in
//! account reports the real state from its first answer, every event carries a higher
//! revision than the one before, and an answer to `sync_status` is never older than an
//! event already sent. Against the real cloud, killed and restarted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../upzento-client/tests/common/mod.rs"]
#[allow(unused_imports)]
mod cloud;

use std::sync::Arc;
use std::time::Duration;

use upzento_api::{Api, AppEvent, Paths, SignInRequest, SyncState, SyncView};
use upzento_client::credentials::MemoryStore;

fn paths(dir: &std::path::Path) -> Paths {
    Paths {
        config_dir: dir.join("config"),
        data_dir: dir.join("data"),
        log_dir: dir.join("logs"),
    }
}

/// Sync events until one is in `state`. `last` is the newest revision known (from an
/// answer or an event): no event may be older, and each event is newer than the one before.
async fn until_state(
    events: &mut tokio::sync::broadcast::Receiver<AppEvent>,
    last: &mut u32,
    state: SyncState,
) -> SyncView {
    let mut previous_event = None;
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let AppEvent::Sync { sync } = events.recv().await.unwrap() {
                assert!(
                    sync.revision >= *last,
                    "revision {} after {last}",
                    sync.revision
                );
                assert!(previous_event < Some(sync.revision), "events out of order");
                previous_event = Some(sync.revision);
                *last = sync.revision;
                if sync.state == state {
                    return sync;
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("never {state:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_shown_is_the_real_one_from_launch_and_never_goes_back() {
    let mut cloud = cloud::Cloud::start().await;
    let dir = tempfile::tempdir().unwrap();
    let secrets = Arc::new(MemoryStore::default());
    {
        let api = Api::new(&paths(dir.path()), secrets.clone());
        api.sign_in(SignInRequest::Password {
            cloud_url: cloud.url.clone(),
            email: cloud::AGENT_EMAIL.into(),
            password: cloud::AGENT_PASSWORD.into(),
        })
        .await
        .unwrap();
        api.shut_down().await;
    }

    for launch in 0..5 {
        // A launch: a new core on the same files and keyring.
        let api = Api::new(&paths(dir.path()), secrets.clone());
        let mut events = api.subscribe();
        let first = api.sync_status().await;
        assert_ne!(
            first.state,
            SyncState::Idle,
            "launch {launch}: a signed-in account is shown as not signed in"
        );
        let mut last = first.revision;
        let online = until_state(&mut events, &mut last, SyncState::Online).await;
        // Asked after the event, the answer is that state or a newer one, never older.
        let asked = api.sync_status().await;
        assert!(asked.revision >= online.revision);
        assert_eq!(asked.state, SyncState::Online, "launch {launch}");
        api.shut_down().await;
    }

    // The cloud goes away and comes back: offline, then online again, in order.
    let api = Api::new(&paths(dir.path()), secrets.clone());
    let mut events = api.subscribe();
    let mut last = api.sync_status().await.revision;
    until_state(&mut events, &mut last, SyncState::Online).await;
    cloud.stop();
    let offline = until_state(&mut events, &mut last, SyncState::Offline).await;
    assert!(offline.retry_in_seconds.is_some());
    assert_eq!(api.sync_status().await.state, SyncState::Offline);
    cloud.resume().await;
    api.network_changed().await;
    until_state(&mut events, &mut last, SyncState::Online).await;
    let asked = api.sync_status().await;
    assert_eq!((asked.state, asked.revision), (SyncState::Online, last));
}
