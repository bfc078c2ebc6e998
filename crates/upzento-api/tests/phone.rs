//! The app's phone end to end below the UI: a SIP account saved through the API
//! (password into the keyring store) registers with kamailio; a call to baresip is
//! placed, heard, hung up, and its record reaches the real cloud's history once; a
//! call from baresip rings, is answered, and is filed as incoming.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../upzento-client/tests/common/mod.rs"]
#[allow(unused_imports)]
mod cloud;
#[path = "../../upzento-voice/tests/common/mod.rs"]
#[allow(unused_imports)]
mod peers;

use std::sync::Arc;
use std::time::Duration;

use upzento_api::phone::{
    AudioChoice, AudioDevices, CallAudio, CallStateView, PhoneView, SipAccountInput, SipStateView,
    SipTransport,
};
use upzento_api::{Api, AppEvent, Paths, SignInRequest};
use upzento_client::credentials::{MemoryStore, SecretStore};
use upzento_voice::media::audio::{AudioSink, RATE, Recorder, Tone, goertzel};

const AGENT: &str = "14155552671";
const CUSTOMER: &str = "14155552672";

/// A 440 Hz "voice" for the microphone; the speaker records.
#[derive(Debug, Default)]
struct TestAudio {
    heard: Recorder,
}

impl AudioDevices for TestAudio {
    fn open(&self, _choice: &AudioChoice) -> Result<CallAudio, String> {
        Ok((
            Box::new(Tone::new(440.0, 8000.0)),
            Box::new(self.heard.clone()),
        ))
    }

    fn ringer(&self, _choice: &AudioChoice) -> Result<Box<dyn AudioSink>, String> {
        Ok(Box::new(Recorder::default()))
    }
}

/// An agent's app, signed in to `cloud`, with a keyring in memory and tones for sound.
struct Desk {
    api: Api,
    secrets: Arc<MemoryStore>,
    audio: Arc<TestAudio>,
    /// The app's directories (settings under `config`).
    dir: tempfile::TempDir,
}

/// A notification server that keeps what it was asked to show: the rings' Answer action
/// and the missed calls left behind, for the test to pick like a user would.
#[derive(Default)]
struct Notices {
    answer: std::sync::Mutex<Option<upzento_api::notify::OnAnswer>>,
    missed: std::sync::Mutex<Vec<upzento_api::notify::Missed>>,
}

#[derive(Debug, Default)]
struct FakeNotifier(Arc<Notices>);

impl std::fmt::Debug for Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notices").finish_non_exhaustive()
    }
}

impl upzento_api::notify::Notifier for FakeNotifier {
    fn show(
        &self,
        _notice: upzento_api::notify::Notice,
        _on_action: upzento_api::notify::OnAction,
    ) -> Result<(), String> {
        Ok(())
    }

    fn ring(
        &self,
        _caller: &str,
        on_answer: upzento_api::notify::OnAnswer,
    ) -> Result<upzento_api::notify::CloseRing, String> {
        *self.0.answer.lock().unwrap() = Some(on_answer);
        let notices = self.0.clone();
        Ok(Box::new(move |leave| {
            if let Some(missed) = leave {
                notices.missed.lock().unwrap().push(missed);
            }
        }))
    }
}

impl Desk {
    async fn signed_in(cloud: &cloud::Cloud) -> Self {
        Self::signed_in_with(cloud, Arc::new(upzento_api::notify::Silent)).await
    }

    async fn signed_in_with(
        cloud: &cloud::Cloud,
        notifier: Arc<dyn upzento_api::notify::Notifier>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths {
            config_dir: dir.path().join("config"),
            data_dir: dir.path().join("data"),
            log_dir: dir.path().join("logs"),
        };
        let secrets = Arc::new(MemoryStore::default());
        let audio = Arc::new(TestAudio::default());
        let api = Api::new(&paths, secrets.clone())
            .with_audio(&paths.config_dir, audio.clone())
            .with_notifier(notifier);
        api.sign_in(SignInRequest::Password {
            cloud_url: cloud.url.clone(),
            email: cloud::AGENT_EMAIL.into(),
            password: cloud::AGENT_PASSWORD.into(),
        })
        .await
        .unwrap();
        Self {
            api,
            secrets,
            audio,
            dir,
        }
    }
}

async fn until(api: &Api, what: &str, done: impl Fn(&PhoneView) -> bool) -> PhoneView {
    for _ in 0..300 {
        let view = api.phone_view();
        if done(&view) {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not {what}: {:?}", api.phone_view());
}

/// Waits until the cloud says the demo agent's presence is `want`.
async fn presence_becomes(cloud: &cloud::Cloud, token: &str, want: &str) {
    let me = cloud.get(token, "phone-sms/me").await;
    let id = me["user"]["id"].clone();
    let mut last = serde_json::Value::Null;
    for _ in 0..200 {
        let all = cloud.get(token, "phone-sms/presence").await;
        last = all
            .as_array()
            .and_then(|a| a.iter().find(|p| p["userId"] == id).cloned())
            .unwrap_or_default();
        if last["status"] == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the agent's presence never became {want}: {last}");
}

async fn history(cloud: &cloud::Cloud, token: &str, n: usize) -> Vec<serde_json::Value> {
    for _ in 0..200 {
        let calls = cloud.all(token, "phone-sms/calls").await;
        let ours: Vec<_> = calls
            .into_iter()
            .filter(|c| c["sipCallId"].is_string())
            .collect();
        if ours.len() >= n {
            return ours;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the cloud's history never got {n} calls from the phone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_placed_and_taken_in_the_app_reach_the_history() {
    let cloud = cloud::Cloud::start().await;
    let kamailio = peers::Kamailio::start();
    let customer = peers::Baresip::start_as(&kamailio, CUSTOMER, 1000);
    let desk = Desk::signed_in(&cloud).await;
    let (api, secrets, audio) = (&desk.api, &desk.secrets, &desk.audio);
    let mut events = api.subscribe();

    // A wrong password: the account says why it fails.
    let mut input = SipAccountInput {
        id: None,
        label: "Desk line".into(),
        registrar: format!("127.0.0.1:{}", kamailio.port),
        user: AGENT.into(),
        auth_user: None,
        transport: SipTransport::Udp,
        outbound_proxy: None,
        caller_id: Some("+1 415 555 2671".into()),
        enabled: true,
        srtp: false,
        srtp_keys: upzento_api::phone::SrtpKeys::Sdes,
        password: Some("wrong".into()),
    };
    let saved = api.save_sip_account(input.clone()).await.unwrap();
    let id = saved.accounts[0].id.clone();
    let failing = until(api, "failing", |v| {
        matches!(v.accounts[0].state, SipStateView::Failing { .. })
    })
    .await;
    let SipStateView::Failing { reason } = &failing.accounts[0].state else {
        unreachable!()
    };
    assert!(reason.contains("password"), "{reason}");
    // The password is in the keyring store, nowhere in the settings file.
    let settings = std::fs::read_to_string(desk.dir.path().join("config/phone.json")).unwrap();
    assert!(!settings.contains("wrong"), "{settings}");
    assert_eq!(
        secrets
            .get(&format!("sip-password:{id}"))
            .unwrap()
            .as_deref(),
        Some("wrong")
    );

    input.id = Some(id.clone());
    input.password = Some(format!("{AGENT}pw"));
    api.save_sip_account(input).await.unwrap();
    until(api, "registered", |v| {
        v.accounts[0].state == SipStateView::Registered
    })
    .await;
    // The UI hears it too.
    let mut told = false;
    while let Ok(event) = events.try_recv() {
        told |= matches!(&event, AppEvent::Phone { phone } if phone.accounts[0].state == SipStateView::Registered);
    }
    assert!(told, "no Phone event with the account registered");

    // Signed in and online, the agent is available to teammates.
    let watcher = cloud.token(cloud::AGENT_EMAIL, cloud::AGENT_PASSWORD).await;
    presence_becomes(&cloud, &watcher, "available").await;

    // Out: the agent dials the customer's number as people write it.
    let call = api.dial("+1 (415) 555-2672".into(), None).await.unwrap();
    until(api, "answered", |v| {
        v.calls
            .iter()
            .any(|c| c.id == call.id && matches!(c.state, CallStateView::Active { .. }))
    })
    .await;
    // On a call, the softphone makes them busy (and free again after, below).
    presence_becomes(&cloud, &watcher, "busy").await;
    for _ in 0..200 {
        if audio.heard.samples().len() > 2 * RATE as usize {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let heard = audio.heard.samples();
    let tail = &heard[heard.len() - RATE as usize..];
    assert!(goertzel(tail, 1000.0, RATE) > 0.05, "the customer's tone");
    // The line's quality shows once audio flows: a clean loopback call.
    let rated = until(api, "rated", |v| {
        v.calls
            .iter()
            .any(|c| c.id == call.id && c.quality.is_some())
    })
    .await;
    let quality = rated.calls[0].quality.clone().unwrap();
    assert!(quality.mos_tenths >= 40 && !quality.degraded, "{quality:?}");
    api.send_dtmf(call.id.clone(), "12#".into()).unwrap();
    assert!(api.send_dtmf(call.id.clone(), "x".into()).is_err());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    api.hangup(call.id.clone()).unwrap();
    until(api, "ended", |v| {
        v.calls
            .iter()
            .all(|c| c.id != call.id || matches!(c.state, CallStateView::Ended { .. }))
    })
    .await;
    presence_becomes(&cloud, &watcher, "available").await;

    // The call was answered: its wrap-up waits for the agent, with the tenant's
    // dispositions to pick from (synced like everything else).
    let waiting = until(api, "waiting for its wrap-up", |v| {
        v.wrap_ups.iter().any(|w| w.id == call.id)
    })
    .await;
    let wrap = waiting.wrap_ups.iter().find(|w| w.id == call.id).unwrap();
    assert_eq!(wrap.direction, upzento_api::phone::CallDirection::Outgoing);
    assert!(wrap.duration_seconds >= 1, "{wrap:?}");
    assert_eq!(wrap.deadline, None, "the demo tenant sets no wrap-up time");
    let mut options = api.wrap_up_options().await.unwrap();
    for _ in 0..200 {
        if !options.dispositions.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        options = api.wrap_up_options().await.unwrap();
    }
    let sale = options
        .dispositions
        .iter()
        .find(|d| d.name == "Sale")
        .expect("the demo's dispositions")
        .id
        .clone();
    let due_ms = 1_900_000_000_000.0;
    api.finish_wrap_up(
        call.id.clone(),
        upzento_api::wrap_up::WrapUpInput {
            disposition_id: Some(sale.clone()),
            tags: vec!["vip".into(), " renewal ".into()],
            note: Some("Wants the yearly plan".into()),
            follow_up: Some(upzento_api::wrap_up::FollowUpInput {
                title: "Send the quote".into(),
                due_ms,
            }),
        },
    )
    .await
    .unwrap();
    assert!(
        api.phone_view().wrap_ups.is_empty(),
        "the card goes once filed"
    );

    let token = cloud.token(cloud::AGENT_EMAIL, cloud::AGENT_PASSWORD).await;
    let calls = history(&cloud, &token, 1).await;
    let out = &calls[0];
    // The wrap-up follows the call's record to the cloud, with its note and follow-up.
    let cloud_id = out["id"].as_str().unwrap().to_owned();
    let mut filed = serde_json::Value::Null;
    for _ in 0..200 {
        filed = cloud
            .get(&token, &format!("phone-sms/calls/{cloud_id}"))
            .await;
        if filed["wrappedUpAt"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(filed["dispositionId"], sale.as_str(), "{filed}");
    assert_eq!(filed["tags"], serde_json::json!(["vip", "renewal"]));
    let notes = cloud
        .get(&token, &format!("phone-sms/calls/{cloud_id}/notes"))
        .await;
    assert_eq!(notes["items"][0]["text"], "Wants the yearly plan");
    let mut tasks = Vec::new();
    for _ in 0..200 {
        tasks = api.tasks().await.unwrap();
        if !tasks.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0].title, "Send the quote");
    assert_eq!(tasks[0].call_id.as_deref(), Some(cloud_id.as_str()));
    assert!(!tasks[0].done);
    api.set_task_done(tasks[0].id.clone(), true).await.unwrap();
    assert!(api.tasks().await.unwrap()[0].done, "ticked at once");
    assert_eq!(out["sipCallId"], call.id.as_str());
    assert_eq!(out["type"], "outgoing");
    assert_eq!(out["status"], "completed");
    assert_eq!(out["from"], "+14155552671");
    assert_eq!(out["to"], "+14155552672");
    assert!(out["duration"].as_u64().unwrap() >= 1, "{out}");

    // Follow-up from the history: notes and an assignee reach the cloud, and come back
    // into the app's history through the sync.
    api.set_call_notes(cloud_id.clone(), "  Wants a callback on Monday  ".into())
        .await
        .unwrap();
    let me = api
        .teammates()
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.me)
        .unwrap();
    api.assign_call(cloud_id.clone(), Some(me.id.clone()))
        .await
        .unwrap();
    assert!(
        api.assign_call(cloud_id.clone(), Some("nobody-here".into()))
            .await
            .is_err()
    );
    let filed = cloud
        .get(&token, &format!("phone-sms/calls/{cloud_id}"))
        .await;
    assert_eq!(filed["notes"], "Wants a callback on Monday");
    assert_eq!(filed["assignedTo"], me.id.as_str());
    let mut seen = None;
    for _ in 0..200 {
        let page = api
            .calls(upzento_api::views::CallFilterView {
                kind: upzento_api::views::CallKindFilter::All,
                from_date: None,
                to_date: None,
                cursor: None,
            })
            .await
            .unwrap();
        seen = page.items.into_iter().find(|c| c.id == cloud_id);
        if seen.as_ref().is_some_and(|c| c.assigned_to.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = seen.expect("the call in the app's history");
    assert_eq!(seen.notes.as_deref(), Some("Wants a callback on Monday"));
    assert_eq!(seen.assigned_to, Some(me.id));

    // In: the customer calls the agent; it rings in the app and is answered there.
    customer.command("dial", &format!("sip:{AGENT}@127.0.0.1:{}", kamailio.port));
    let ringing = until(api, "ringing", |v| {
        v.calls.iter().any(|c| c.state == CallStateView::Incoming)
    })
    .await;
    let incoming = ringing
        .calls
        .iter()
        .find(|c| c.state == CallStateView::Incoming)
        .unwrap()
        .clone();
    assert_eq!(incoming.remote, CUSTOMER);
    let mut announced = false;
    while let Ok(event) = events.try_recv() {
        announced |= matches!(event, AppEvent::IncomingCall { ref id } if *id == incoming.id);
    }
    assert!(announced, "the UI was told a call rings");
    api.answer(incoming.id.clone()).await.unwrap();
    until(api, "taken", |v| {
        v.calls
            .iter()
            .any(|c| c.id == incoming.id && matches!(c.state, CallStateView::Active { .. }))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    customer.wait_established(2);
    customer.command("hangup", "");
    until(api, "ended by the customer", |v| {
        v.calls.iter().any(|c| {
            c.id == incoming.id
                && c.state
                    == CallStateView::Ended {
                        reason: "The other side hung up".into(),
                    }
        })
    })
    .await;
    // An incoming call's wrap-up can be left undone.
    until(api, "the incoming call's wrap-up", |v| {
        v.wrap_ups.iter().any(|w| w.id == incoming.id)
    })
    .await;
    api.skip_wrap_up(&incoming.id);
    assert!(api.phone_view().wrap_ups.is_empty());
    let calls = history(&cloud, &token, 2).await;
    let taken = calls
        .iter()
        .find(|c| c["sipCallId"] == incoming.id.as_str())
        .expect("the incoming call in the history");
    assert_eq!(taken["type"], "incoming");
    assert_eq!(taken["status"], "completed");
    assert_eq!(taken["from"], "+14155552672");
    assert_eq!(taken["to"], "+14155552671");
    // Each call once, whatever the retries.
    assert_eq!(calls.len(), 2, "{calls:?}");

    // The account goes away with its password.
    api.delete_sip_account(id.clone()).await.unwrap();
    assert_eq!(secrets.get(&format!("sip-password:{id}")).unwrap(), None);
    assert!(api.dial("+14155552672".into(), None).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_call_waits_and_answering_it_holds_the_first() {
    let cloud = cloud::Cloud::start().await;
    let kamailio = peers::Kamailio::start();
    let customer = peers::Baresip::start_as(&kamailio, CUSTOMER, 1000);
    let caller = peers::Baresip::start_as(&kamailio, "14155552673", 500);
    let desk = registered_desk(&cloud, &kamailio, AGENT).await;
    let api = &desk.api;
    let first = api.dial(CUSTOMER.into(), None).await.unwrap();
    until(api, "answered", |v| {
        v.calls
            .iter()
            .any(|c| c.id == first.id && matches!(c.state, CallStateView::Active { .. }))
    })
    .await;

    // Call waiting: the second call rings while the first goes on.
    caller.command("dial", &format!("sip:{AGENT}@127.0.0.1:{}", kamailio.port));
    let view = until(api, "the second call rings", |v| {
        v.calls.iter().any(|c| c.state == CallStateView::Incoming)
    })
    .await;
    let second = view
        .calls
        .iter()
        .find(|c| c.state == CallStateView::Incoming)
        .unwrap()
        .id
        .clone();
    assert!(
        view.calls.iter().any(|c| c.id == first.id
            && c.state
                == CallStateView::Active {
                    on_hold: false,
                    muted: false
                }),
        "{view:?}"
    );
    // Taking it puts the first on hold.
    api.answer(second.clone()).await.unwrap();
    until(api, "first held, second talking", |v| {
        v.calls.iter().any(|c| {
            c.id == first.id && matches!(c.state, CallStateView::Active { on_hold: true, .. })
        }) && v.calls.iter().any(|c| {
            c.id == second && matches!(c.state, CallStateView::Active { on_hold: false, .. })
        })
    })
    .await;
    api.hangup(second.clone()).unwrap();
    api.set_on_hold(first.id.clone(), false).unwrap();
    until(api, "back to the first", |v| {
        v.calls.iter().any(|c| {
            c.id == first.id && matches!(c.state, CallStateView::Active { on_hold: false, .. })
        })
    })
    .await;
    api.hangup(first.id.clone()).unwrap();
    until(api, "all ended", |v| {
        v.calls
            .iter()
            .all(|c| matches!(c.state, CallStateView::Ended { .. }))
    })
    .await;
    drop(customer);
}

/// Saves and registers the account of SIP user `user` at `kamailio` on `desk`.
async fn registered_desk(cloud: &cloud::Cloud, kamailio: &peers::Kamailio, user: &str) -> Desk {
    registered_desk_with(cloud, kamailio, user, Arc::new(upzento_api::notify::Silent)).await
}

async fn registered_desk_with(
    cloud: &cloud::Cloud,
    kamailio: &peers::Kamailio,
    user: &str,
    notifier: Arc<dyn upzento_api::notify::Notifier>,
) -> Desk {
    let desk = Desk::signed_in_with(cloud, notifier).await;
    desk.api
        .save_sip_account(SipAccountInput {
            id: None,
            label: String::new(),
            registrar: format!("127.0.0.1:{}", kamailio.port),
            user: user.into(),
            auth_user: None,
            transport: SipTransport::Udp,
            outbound_proxy: None,
            caller_id: None,
            enabled: true,
            srtp: false,
            srtp_keys: upzento_api::phone::SrtpKeys::Sdes,
            password: Some(format!("{user}pw")),
        })
        .await
        .unwrap();
    until(&desk.api, "registered", |v| {
        v.accounts[0].state == SipStateView::Registered
    })
    .await;
    desk
}

/// The id of the call on `desk` that `pick` finds, once there is one.
async fn call_where(
    desk: &Desk,
    what: &str,
    pick: impl Fn(&upzento_api::phone::ActiveCallView) -> bool,
) -> String {
    let view = until(&desk.api, what, |v| v.calls.iter().any(&pick)).await;
    view.calls.iter().find(|c| pick(c)).unwrap().id.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attended_transfer_leaves_the_agent_free_and_the_two_others_talking() {
    // The SIP side's log, shown if this fails (it failed once in CI, unreproduced: the
    // customer never placed the new call).
    let _ = tracing_subscriber::fmt()
        .with_env_filter("upzento_voice=debug,upzento_api=debug,rsipstack=info")
        .with_test_writer()
        .try_init();
    // Three apps: the agent, a customer and an expert.
    let cloud = cloud::Cloud::start().await;
    let kamailio = peers::Kamailio::start();
    let agent = registered_desk(&cloud, &kamailio, AGENT).await;
    let customer = registered_desk(&cloud, &kamailio, CUSTOMER).await;
    let expert = registered_desk(&cloud, &kamailio, "14155552673").await;
    let active =
        |c: &upzento_api::phone::ActiveCallView| matches!(c.state, CallStateView::Active { .. });

    // The agent talks with the customer, holds, and asks the expert.
    let with_customer = agent.api.dial(CUSTOMER.into(), None).await.unwrap().id;
    let at_customer = call_where(&customer, "ringing at the customer", |c| {
        c.state == CallStateView::Incoming
    })
    .await;
    customer.api.answer(at_customer.clone()).await.unwrap();
    call_where(&agent, "the customer answered", |c| {
        c.id == with_customer && active(c)
    })
    .await;
    agent.api.set_on_hold(with_customer.clone(), true).unwrap();
    let with_expert = agent.api.dial("14155552673".into(), None).await.unwrap().id;
    let at_expert = call_where(&expert, "ringing at the expert", |c| {
        c.state == CallStateView::Incoming
    })
    .await;
    expert.api.answer(at_expert.clone()).await.unwrap();
    call_where(&agent, "the expert answered", |c| {
        c.id == with_expert && active(c)
    })
    .await;
    assert!(
        agent
            .api
            .transfer_to_call(with_customer.clone(), with_customer.clone())
            .is_err()
    );

    // Connect them.
    agent
        .api
        .transfer_to_call(with_customer.clone(), with_expert.clone())
        .unwrap();

    // The customer's app called the expert in the agent's place …
    let new_at_customer = call_where(&customer, "the customer's new call", |c| {
        c.id != at_customer && active(c) && c.remote.contains("14155552673")
    })
    .await;
    // … the expert's app took it at once, without ringing, and dropped the agent's …
    let new_at_expert = call_where(&expert, "the expert's replacing call", |c| {
        c.id != at_expert && active(c)
    })
    .await;
    assert_eq!(
        new_at_expert, new_at_customer,
        "one call, seen from both ends"
    );
    // … and the agent is free: both calls ended, as did the customer's first one.
    for (desk, id, what) in [
        (&agent, &with_customer, "the agent's call with the customer"),
        (&agent, &with_expert, "the agent's call with the expert"),
        (
            &customer,
            &at_customer,
            "the customer's call with the agent",
        ),
        (&expert, &at_expert, "the expert's call with the agent"),
    ] {
        until(&desk.api, what, |v| {
            v.calls
                .iter()
                .all(|c| &c.id != id || matches!(c.state, CallStateView::Ended { .. }))
        })
        .await;
    }
    customer.api.hangup(new_at_customer).unwrap();
}

/// The desktop notification's buttons act from the notification server's own thread:
/// Answer takes the call, and a missed call's Call back dials the caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_is_answered_from_its_notification_and_a_missed_call_called_back() {
    let cloud = cloud::Cloud::start().await;
    let kamailio = peers::Kamailio::start();
    let customer = peers::Baresip::start_as(&kamailio, CUSTOMER, 1000);
    let notices = Arc::new(Notices::default());
    let desk = registered_desk_with(
        &cloud,
        &kamailio,
        AGENT,
        Arc::new(FakeNotifier(notices.clone())),
    )
    .await;
    let api = &desk.api;
    let mut events = api.subscribe();
    let target = format!("sip:{AGENT}@127.0.0.1:{}", kamailio.port);

    // Answer, picked on the notification: from a thread that is not the runtime's.
    customer.command("dial", &target);
    let ringing = call_where(&desk, "ringing", |c| c.state == CallStateView::Incoming).await;
    let answer = notices
        .answer
        .lock()
        .unwrap()
        .take()
        .expect("a ring notification");
    std::thread::spawn(move || answer(true)).join().unwrap();
    until(api, "answered from the notification", |v| {
        v.calls
            .iter()
            .any(|c| c.id == ringing && matches!(c.state, CallStateView::Active { .. }))
    })
    .await;
    customer.wait_established(1);
    customer.command("hangup", "");
    until(api, "ended", |v| {
        v.calls
            .iter()
            .all(|c| matches!(c.state, CallStateView::Ended { .. }))
    })
    .await;

    // The customer gives up before anyone answers: a missed call, left with Call back.
    customer.command("dial", &target);
    let missed_id = call_where(&desk, "ringing again", |c| {
        c.id != ringing && c.state == CallStateView::Incoming
    })
    .await;
    customer.command("hangup", "");
    until(api, "missed", |v| {
        v.calls
            .iter()
            .all(|c| c.id != missed_id || matches!(c.state, CallStateView::Ended { .. }))
    })
    .await;
    let missed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(m) = notices.missed.lock().unwrap().pop() {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("no missed-call notification");
    assert!(
        missed.text.starts_with("Missed call from"),
        "{}",
        missed.text
    );
    std::thread::spawn(move || (missed.call_back)())
        .join()
        .unwrap();
    let back = call_where(&desk, "called back", |c| {
        c.direction == upzento_api::phone::CallDirection::Outgoing
            && matches!(c.state, CallStateView::Active { .. })
    })
    .await;
    // The window is brought to the call.
    let mut shown = false;
    while let Ok(event) = events.try_recv() {
        shown |= matches!(&event, AppEvent::ShowCall { id } if *id == back);
    }
    assert!(shown, "no ShowCall for the call back");
    api.hangup(back).unwrap();
    drop(customer);
}
