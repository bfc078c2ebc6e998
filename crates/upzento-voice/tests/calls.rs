//! Calls through kamailio to baresip: two-way audio checked by ear (Goertzel) on both
//! sides, hang-up from either side, refusals with their reasons.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::{Baresip, Kamailio, alice, call_answered, registered};
use upzento_voice::call::{EndReason, State};
use upzento_voice::media::audio::{RATE, Recorder, Tone, goertzel};
use upzento_voice::ua::{CallHandle, UserAgent};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

async fn until(call: &CallHandle, what: &str, done: impl Fn(&State) -> bool) -> State {
    let mut watch = call.watch();
    let wait = async {
        loop {
            let state = watch.borrow_and_update().clone();
            if done(&state) {
                return state;
            }
            if watch.changed().await.is_err() {
                return call.state();
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), wait)
        .await
        .unwrap_or_else(|_| panic!("not {what}: {:?}", call.state()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_to_baresip_carries_audio_both_ways_and_hangs_up() {
    let kamailio = Kamailio::start();
    let bob = Baresip::start(&kamailio, 1000);
    let ua = UserAgent::start(LOOPBACK).await.unwrap();
    let account = alice(&kamailio);
    let registration = ua.register(account.clone()).unwrap();
    registered(&registration).await;

    let heard = Recorder::default();
    let call = ua
        .call(
            &account,
            "bob",
            Box::new(Tone::new(440.0, 12_000.0)),
            Box::new(heard.clone()),
        )
        .await
        .unwrap();
    until(&call, "answered", |s| matches!(s, State::Active { .. })).await;
    // Two seconds of conversation.
    for _ in 0..300 {
        if heard.samples().len() >= 2 * RATE as usize {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ours = heard.samples();
    assert!(
        ours.len() >= 2 * RATE as usize,
        "heard only {} samples",
        ours.len()
    );
    let tail = &ours[ours.len() - RATE as usize..];
    let tone = goertzel(tail, 1000.0, RATE);
    assert!(tone > 0.05, "bob's 1 kHz tone at our speaker: {tone}");
    assert!(goertzel(tail, 440.0, RATE) < 0.01);

    call.hangup();
    let ended = until(&call, "ended", |s| matches!(s, State::Ended(_))).await;
    assert_eq!(ended, State::Ended(EndReason::Local));
    call.finished().await;
    // bob's recording of what it heard (finished at hang-up) holds our 440 Hz.
    let (samples, rate) = bob.heard().await;
    assert!(samples.len() > rate as usize, "{} samples", samples.len());
    let mid = &samples[samples.len() / 4..samples.len() * 3 / 4];
    let tone = goertzel(mid, 440.0, rate);
    assert!(tone > 0.05, "our 440 Hz at bob: {tone}");
    registration.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_far_end_hanging_up_and_an_unknown_callee_are_reported() {
    let kamailio = Kamailio::start();
    let bob = Baresip::start(&kamailio, 1000);
    let ua = UserAgent::start(LOOPBACK).await.unwrap();
    let account = alice(&kamailio);
    let call = call_answered(&ua, &account, "bob").await;
    bob.wait_established(1);
    bob.command("hangup", "");
    let ended = until(&call, "ended", |s| matches!(s, State::Ended(_))).await;
    assert_eq!(ended, State::Ended(EndReason::Remote));
    call.finished().await;

    let nobody = ua
        .call(
            &account,
            "nobody",
            Box::new(Tone::new(440.0, 12_000.0)),
            Box::new(Recorder::default()),
        )
        .await
        .unwrap();
    let ended = until(&nobody, "refused", |s| matches!(s, State::Ended(_))).await;
    assert!(
        matches!(&ended, State::Ended(EndReason::Refused { code: 404, .. })),
        "{ended:?}"
    );
    nobody.finished().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_calls_are_answered_declined_or_missed() {
    let kamailio = Kamailio::start();
    let bob = Baresip::start(&kamailio, 1000);
    let ua = UserAgent::start(LOOPBACK).await.unwrap();
    let mut calls = ua.incoming_calls().unwrap();
    assert!(ua.incoming_calls().is_none(), "taken once");
    let registration = ua.register(alice(&kamailio)).unwrap();
    registered(&registration).await;
    let alice_uri = format!("sip:alice@127.0.0.1:{}", kamailio.port);
    // Answered: two-way audio, then bob hangs up.
    bob.command("dial", &alice_uri);
    let incoming = next_call(&mut calls).await;
    assert!(incoming.from.contains("bob"), "{}", incoming.from);
    assert_eq!(incoming.call.state(), State::Incoming);
    let heard = Recorder::default();
    incoming.answer(
        Box::new(Tone::new(440.0, 12_000.0)),
        Box::new(heard.clone()),
    );
    until(&incoming.call, "answered", |s| {
        matches!(s, State::Active { .. })
    })
    .await;
    for _ in 0..300 {
        if heard.samples().len() >= RATE as usize {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let samples = heard.samples();
    assert!(
        samples.len() >= RATE as usize,
        "heard {} samples",
        samples.len()
    );
    let tone = goertzel(&samples[samples.len() - 4000..], 1000.0, RATE);
    assert!(tone > 0.05, "bob's tone: {tone}");
    bob.command("hangup", "");
    let ended = until(&incoming.call, "ended", |s| matches!(s, State::Ended(_))).await;
    assert_eq!(ended, State::Ended(EndReason::Remote));

    // Declined: bob hears 603.
    bob.command("dial", &alice_uri);
    let incoming = next_call(&mut calls).await;
    incoming.decline(false);
    let ended = until(&incoming.call, "declined", |s| matches!(s, State::Ended(_))).await;
    assert_eq!(ended, State::Ended(EndReason::Local));
    for _ in 0..100 {
        if bob.log().contains("603") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(bob.log().contains("603"), "{}", bob.log());

    // Missed: bob gives up while it rings here.
    bob.command("dial", &alice_uri);
    let incoming = next_call(&mut calls).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    bob.command("hangup", "");
    let ended = until(&incoming.call, "missed", |s| matches!(s, State::Ended(_))).await;
    assert_eq!(ended, State::Ended(EndReason::Missed));
    registration.stop().await;
}

async fn next_call(
    calls: &mut tokio::sync::mpsc::UnboundedReceiver<upzento_voice::ua::IncomingCall>,
) -> upzento_voice::ua::IncomingCall {
    tokio::time::timeout(Duration::from_secs(10), calls.recv())
        .await
        .expect("no incoming call")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_stops_the_far_ends_audio_and_keys_reach_it_as_telephone_events() {
    let kamailio = Kamailio::start();
    let bob = Baresip::start(&kamailio, 1000);
    let ua = UserAgent::start(LOOPBACK).await.unwrap();
    let account = alice(&kamailio);
    let heard = Recorder::default();
    let call = ua
        .call(
            &account,
            "bob",
            Box::new(Tone::new(440.0, 12_000.0)),
            Box::new(heard.clone()),
        )
        .await
        .unwrap();
    until(&call, "answered", |s| matches!(s, State::Active { .. })).await;
    // The far end's tone in what we play during the next second (the playout goes on
    // with silence when nothing comes).
    let tone_in_one_second = || {
        let heard = heard.clone();
        async move {
            let from = heard.samples().len();
            tokio::time::sleep(Duration::from_secs(1)).await;
            let samples = heard.samples();
            assert!(samples.len() - from >= 7000, "the playout runs on");
            goertzel(&samples[from..], 1000.0, RATE)
        }
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(tone_in_one_second().await > 0.05, "audio flows");

    call.set_on_hold(true);
    until(&call, "on hold", |s| {
        matches!(s, State::Active { on_hold: true, .. })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = tone_in_one_second().await;
    assert!(
        held < 0.001,
        "bob's tone still heard ({held}) while we hold"
    );
    call.set_on_hold(false);
    until(&call, "resumed", |s| {
        matches!(s, State::Active { on_hold: false, .. })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(tone_in_one_second().await > 0.05, "audio flows again");

    call.send_dtmf("19#");
    let ends = || {
        bob.log()
            .split(['\n', '\r'])
            .map(str::trim)
            .filter(|l| l.starts_with("received event:") && l.ends_with("(end=1)"))
            .map(|l| l.chars().nth(17).unwrap_or('?'))
            .collect::<String>()
    };
    for _ in 0..200 {
        if ends().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Each key once, in order, with its end (baresip logs "received event: '1' (end=1)").
    assert_eq!(ends(), "19#", "{}", bob.log());
    call.hangup();
    call.finished().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blind_transfer_hands_the_call_to_a_third_party() {
    let kamailio = Kamailio::start();
    let bob = Baresip::start(&kamailio, 1000);
    let carol = Baresip::start_as(&kamailio, "carol", 500);
    let ua = UserAgent::start(LOOPBACK).await.unwrap();
    let account = alice(&kamailio);
    let call = call_answered(&ua, &account, "bob").await;
    call.transfer(&format!("sip:carol@127.0.0.1:{}", kamailio.port));
    let ended = until(&call, "transferred", |s| matches!(s, State::Ended(_))).await;
    assert_eq!(ended, State::Ended(EndReason::Transferred));
    call.finished().await;
    // bob called carol, and she answered.
    for _ in 0..200 {
        if carol.log().contains("Call established: sip:bob@") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        carol.log().contains("Call established: sip:bob@"),
        "carol:\n{}\nbob:\n{}",
        carol.log(),
        bob.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opus_call_carries_audio_both_ways_and_keys() {
    let kamailio = Kamailio::start();
    let bob = common::Baresip::start_with(&kamailio, "bob", 1000, "opus");
    let ua = UserAgent::start(LOOPBACK).await.unwrap();
    let account = alice(&kamailio);
    let heard = Recorder::default();
    let call = ua
        .call(
            &account,
            "bob",
            Box::new(Tone::new(440.0, 12_000.0)),
            Box::new(heard.clone()),
        )
        .await
        .unwrap();
    until(&call, "answered", |s| matches!(s, State::Active { .. })).await;
    for _ in 0..300 {
        if heard.samples().len() >= 2 * RATE as usize {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ours = heard.samples();
    assert!(
        ours.len() >= 2 * RATE as usize,
        "heard {} samples",
        ours.len()
    );
    let tail = &ours[ours.len() - RATE as usize..];
    let tone = goertzel(tail, 1000.0, RATE);
    assert!(tone > 0.05, "bob's 1 kHz through Opus: {tone}");
    assert!(
        bob.log().contains("opus"),
        "baresip negotiated something else:\n{}",
        bob.log()
    );

    call.send_dtmf("5*");
    let ends = || {
        bob.log()
            .split(['\n', '\r'])
            .map(str::trim)
            .filter(|l| l.starts_with("received event:") && l.ends_with("(end=1)"))
            .map(|l| l.chars().nth(17).unwrap_or('?'))
            .collect::<String>()
    };
    for _ in 0..200 {
        if ends().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(ends(), "5*", "{}", bob.log());
    call.hangup();
    call.finished().await;
    let (samples, rate) = bob.heard().await;
    let mid = &samples[samples.len() / 4..samples.len() * 3 / 4];
    let tone = goertzel(mid, 440.0, rate);
    assert!(
        tone > 0.05,
        "our 440 Hz at bob through Opus ({rate} Hz): {tone}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_srtp_call_is_encrypted_both_ways_and_a_plain_one_is_refused() {
    let kamailio = Kamailio::start();
    // bob takes encrypted media only (SDES keys in the SDP).
    let bob = common::Baresip::start_with(&kamailio, "bob", 1000, "PCMU,PCMA;mediaenc=srtp-mand");
    let ua = UserAgent::start(LOOPBACK).await.unwrap();
    let plain = alice(&kamailio);
    let registration = ua.register(plain.clone()).unwrap();
    registered(&registration).await;

    // Without SRTP, bob refuses the call.
    let call = ua
        .call(
            &plain,
            "bob",
            Box::new(Tone::new(440.0, 12_000.0)),
            Box::new(Recorder::default()),
        )
        .await
        .unwrap();
    let ended = until(&call, "refused", |s| matches!(s, State::Ended(_))).await;
    assert!(
        matches!(ended, State::Ended(EndReason::Refused { code: 488, .. })),
        "{ended:?}"
    );
    call.finished().await;

    // With SRTP: audio both ways, encrypted.
    let secure = upzento_voice::ua::AccountConfig {
        srtp: Some(upzento_voice::ua::KeyExchange::Sdes),
        ..plain
    };
    let heard = Recorder::default();
    let call = ua
        .call(
            &secure,
            "bob",
            Box::new(Tone::new(440.0, 12_000.0)),
            Box::new(heard.clone()),
        )
        .await
        .unwrap();
    until(&call, "answered", |s| matches!(s, State::Active { .. })).await;
    for _ in 0..300 {
        if heard.samples().len() >= 2 * RATE as usize {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ours = heard.samples();
    assert!(
        ours.len() >= 2 * RATE as usize,
        "heard {} samples",
        ours.len()
    );
    let tone = goertzel(&ours[ours.len() - RATE as usize..], 1000.0, RATE);
    assert!(
        tone > 0.05,
        "bob's 1 kHz through SRTP: {tone}\n{}",
        bob.log()
    );
    call.hangup();
    call.finished().await;
    let (samples, rate) = bob.heard().await;
    let mid = &samples[samples.len() / 4..samples.len() * 3 / 4];
    let tone = goertzel(mid, 440.0, rate);
    assert!(tone > 0.05, "our 440 Hz at bob through SRTP: {tone}");

    // bob calls with an SRTP offer: our answer carries our key, and audio flows.
    let mut calls = ua.incoming_calls().unwrap();
    bob.command("dial", &format!("sip:alice@127.0.0.1:{}", kamailio.port));
    let incoming = next_call(&mut calls).await;
    let heard = Recorder::default();
    incoming.answer(
        Box::new(Tone::new(440.0, 12_000.0)),
        Box::new(heard.clone()),
    );
    until(&incoming.call, "answered", |s| {
        matches!(s, State::Active { .. })
    })
    .await;
    for _ in 0..300 {
        if heard.samples().len() >= 2 * RATE as usize {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ours = heard.samples();
    assert!(
        ours.len() >= 2 * RATE as usize,
        "heard {} samples",
        ours.len()
    );
    let tone = goertzel(&ours[ours.len() - RATE as usize..], 1000.0, RATE);
    assert!(tone > 0.05, "bob's 1 kHz on his SRTP call to us: {tone}");
    // RTCP reports (SRTCP here) go both ways: baresip echoes our Sender Report, which
    // gives the round-trip time. Reports come every 5 s or so (2.5–7.5 s apart), ours
    // and baresip's unsynchronised: two or three rounds at most.
    let mut quality = incoming.call.watch_quality();
    let q = tokio::time::timeout(
        Duration::from_secs(30),
        quality.wait_for(|q| q.is_some_and(|q| q.rtt_ms.is_some())),
    )
    .await
    .unwrap_or_else(|_| panic!("no RTT from baresip's RTCP: {:?}", incoming.call.quality()))
    .unwrap()
    .unwrap();
    assert!(q.rtt_ms.unwrap() < 50.0, "{q:?} on loopback");
    incoming.call.hangup();
    incoming.call.finished().await;
    registration.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registrar_that_challenges_with_sha256_takes_our_registers_and_calls_reach_tcp() {
    // RFC 7616 / RFC 8760: `algorithm=SHA-256` on REGISTER (401) and INVITE (407).
    // bob registers over TCP: the call for him comes back over his connection.
    let kamailio = Kamailio::start_with(&["WITH_SHA256"]);
    let ua = UserAgent::start(LOOPBACK).await.unwrap();
    let mut calls = ua.incoming_calls().unwrap();
    let alice_account = alice(&kamailio);
    let alice_reg = ua.register(alice_account.clone()).unwrap();
    let bob_reg = ua
        .register(common::account(
            &kamailio,
            "bob",
            upzento_voice::ua::Transport::Tcp,
        ))
        .unwrap();
    registered(&alice_reg).await;
    registered(&bob_reg).await;
    let call = ua
        .call(
            &alice_account,
            "bob",
            Box::new(Tone::new(440.0, 12_000.0)),
            Box::new(Recorder::default()),
        )
        .await
        .unwrap();
    // The INVITE got through the proxy's SHA-256 challenge and reached bob.
    let Ok(Some(incoming)) = tokio::time::timeout(Duration::from_secs(10), calls.recv()).await
    else {
        panic!("no call for bob: {:?}\n{}", call.state(), kamailio.log());
    };
    assert!(incoming.from.contains("alice"), "{}", incoming.from);
    incoming.decline(true);
    let ended = until(&call, "refused", |s| matches!(s, State::Ended(_))).await;
    assert!(matches!(&ended, State::Ended(EndReason::Busy)), "{ended:?}");
    call.finished().await;
    let log = kamailio.log();
    assert!(log.contains("REQ INVITE"), "{log}");
    alice_reg.stop().await;
    bob_reg.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dtls_srtp_call_agrees_its_keys_on_the_media_path_both_ways() {
    let kamailio = Kamailio::start();
    // bob takes DTLS-SRTP only (fingerprints in the SDP, keys by the handshake).
    let bob = common::Baresip::start_with(&kamailio, "bob", 1000, "PCMU,PCMA;mediaenc=dtls_srtp");
    let ua = UserAgent::start(LOOPBACK).await.unwrap();
    let mut calls = ua.incoming_calls().unwrap();
    let account = upzento_voice::ua::AccountConfig {
        srtp: Some(upzento_voice::ua::KeyExchange::Dtls),
        ..alice(&kamailio)
    };
    let registration = ua.register(account.clone()).unwrap();
    registered(&registration).await;

    // Our offer (actpass): bob connects, keys agreed, audio both ways.
    let heard = Recorder::default();
    let call = ua
        .call(
            &account,
            "bob",
            Box::new(Tone::new(440.0, 12_000.0)),
            Box::new(heard.clone()),
        )
        .await
        .unwrap();
    until(&call, "answered", |s| matches!(s, State::Active { .. })).await;
    for _ in 0..500 {
        if heard.samples().len() >= 2 * RATE as usize {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ours = heard.samples();
    assert!(
        ours.len() >= 2 * RATE as usize,
        "heard {} samples\n{}",
        ours.len(),
        bob.log()
    );
    let tone = goertzel(&ours[ours.len() - RATE as usize..], 1000.0, RATE);
    assert!(tone > 0.05, "bob's 1 kHz through DTLS-SRTP: {tone}");
    call.hangup();
    call.finished().await;
    let (samples, rate) = bob.heard().await;
    let mid = &samples[samples.len() / 4..samples.len() * 3 / 4];
    let tone = goertzel(mid, 440.0, rate);
    assert!(tone > 0.05, "our 440 Hz at bob through DTLS-SRTP: {tone}");
    assert!(bob.log().contains("DTLS-SRTP complete"), "{}", bob.log());

    // bob's offer: we answer active and open the handshake.
    bob.command("dial", &format!("sip:alice@127.0.0.1:{}", kamailio.port));
    let incoming = next_call(&mut calls).await;
    let heard = Recorder::default();
    incoming.answer(
        Box::new(Tone::new(440.0, 12_000.0)),
        Box::new(heard.clone()),
    );
    until(&incoming.call, "answered", |s| {
        matches!(s, State::Active { .. })
    })
    .await;
    for _ in 0..500 {
        if heard.samples().len() >= 2 * RATE as usize {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ours = heard.samples();
    assert!(
        ours.len() >= 2 * RATE as usize,
        "heard {} samples on bob's DTLS call",
        ours.len()
    );
    let tone = goertzel(&ours[ours.len() - RATE as usize..], 1000.0, RATE);
    assert!(
        tone > 0.05,
        "bob's 1 kHz on his DTLS-SRTP call to us: {tone}"
    );
    incoming.call.hangup();
    incoming.call.finished().await;

    // An account that wants DTLS calling a peer without it: refused, not sent in clear.
    let plain_bob = common::Baresip::start_as(&kamailio, "carol", 600);
    let call = ua
        .call(
            &account,
            "carol",
            Box::new(Tone::new(440.0, 12_000.0)),
            Box::new(Recorder::default()),
        )
        .await
        .unwrap();
    let ended = until(&call, "refused", |s| matches!(s, State::Ended(_))).await;
    assert!(
        matches!(
            &ended,
            State::Ended(EndReason::Refused { .. } | EndReason::Failed { .. })
        ),
        "{ended:?}"
    );
    call.finished().await;
    drop(plain_bob);
    registration.stop().await;
}

/// Waits until `recorder` holds a second of audio and returns the last half second.
async fn last_half_second(recorder: &Recorder, what: &str) -> Vec<i16> {
    for _ in 0..500 {
        if recorder.samples().len() >= RATE as usize {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let samples = recorder.samples();
    assert!(
        samples.len() >= RATE as usize,
        "{what}: {} samples",
        samples.len()
    );
    samples[samples.len() - RATE as usize / 2..].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attended_transfer_connects_the_two_far_ends_and_frees_the_agent() {
    // Three phones of ours: alice the agent, bob the customer, carol the expert.
    common::capture_log();
    let kamailio = Kamailio::start();
    let accounts = ["alice", "bob", "carol"]
        .map(|user| common::account(&kamailio, user, upzento_voice::ua::Transport::Udp));
    let mut phones = Vec::new();
    for account in &accounts {
        let ua = UserAgent::start(LOOPBACK).await.unwrap();
        let incoming = ua.incoming_calls().unwrap();
        let registration = ua.register(account.clone()).unwrap();
        registered(&registration).await;
        phones.push((ua, incoming, registration));
    }
    let [
        (alice, _, alice_reg),
        (bob, bob_calls, bob_reg),
        (_carol, carol_calls, carol_reg),
    ] = <[_; 3]>::try_from(phones).unwrap();
    let (mut bob_calls, mut carol_calls) = (bob_calls, carol_calls);

    // alice talks with bob, holds him, and asks carol.
    let alice_hears_bob = Recorder::default();
    let to_bob = alice
        .call(
            &accounts[0],
            "bob",
            Box::new(Tone::new(300.0, 12_000.0)),
            Box::new(alice_hears_bob.clone()),
        )
        .await
        .unwrap();
    let bob_side = next_call(&mut bob_calls).await;
    bob_side.answer(
        Box::new(Tone::new(440.0, 12_000.0)),
        Box::new(Recorder::default()),
    );
    until(&to_bob, "bob answered", |s| {
        matches!(s, State::Active { .. })
    })
    .await;
    let before = last_half_second(&alice_hears_bob, "alice").await;
    assert!(goertzel(&before, 440.0, RATE) > 0.05, "bob's tone at alice");
    to_bob.set_on_hold(true);
    // bob's phone answers the hold (sendonly) with recvonly and stops sending.
    until(&to_bob, "held", |s| {
        matches!(s, State::Active { on_hold: true, .. })
    })
    .await;
    // More than the half second looked at, and the jitter buffer's delay.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let held = last_half_second(&alice_hears_bob, "alice").await;
    assert!(
        goertzel(&held, 440.0, RATE) < 0.01,
        "bob is silent while held"
    );
    let to_carol = alice
        .call(
            &accounts[0],
            "carol",
            Box::new(Tone::new(300.0, 12_000.0)),
            Box::new(Recorder::default()),
        )
        .await
        .unwrap();
    let carol_side = next_call(&mut carol_calls).await;
    assert_eq!(carol_side.replaces, None);
    carol_side.answer(
        Box::new(Tone::new(1000.0, 12_000.0)),
        Box::new(Recorder::default()),
    );
    until(&to_carol, "carol answered", |s| {
        matches!(s, State::Active { .. })
    })
    .await;

    // The transfer: bob is asked to call carol in alice's place.
    assert!(to_bob.transfer_to(&to_carol));
    let mut asked = bob_side.call.watch_transfer_request();
    let request = tokio::time::timeout(Duration::from_secs(10), asked.wait_for(Option::is_some))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "bob was not asked to transfer: alice-bob {:?}, bob {:?}",
                to_bob.state(),
                bob_side.call.state()
            )
        })
        .unwrap()
        .clone()
        .unwrap();
    assert!(request.target.starts_with("sip:carol@"), "{request:?}");
    assert!(
        request
            .replaces
            .as_deref()
            .is_some_and(|r| r.starts_with(to_carol.call_id())),
        "{request:?}"
    );
    // bob's phone places the call (what the app does) …
    let bob_hears = Recorder::default();
    let bob_to_carol = bob
        .call_with(
            &accounts[1],
            &request.target,
            request.replaces.as_deref(),
            Box::new(Tone::new(440.0, 12_000.0)),
            Box::new(bob_hears.clone()),
        )
        .await
        .unwrap();
    // … and carol's phone sees it replace her call with alice: taken at once, the old
    // one hung up.
    let replacing = next_call(&mut carol_calls).await;
    assert_eq!(
        replacing.replaces.as_deref(),
        Some(carol_side.call.call_id())
    );
    let carol_hears = Recorder::default();
    replacing.answer(
        Box::new(Tone::new(1000.0, 12_000.0)),
        Box::new(carol_hears.clone()),
    );
    carol_side.call.hangup();
    until(&bob_to_carol, "carol took bob", |s| {
        matches!(s, State::Active { .. })
    })
    .await;
    bob_side.call.transfer_outcome(true);

    // alice is free: her call with bob ended as transferred, carol hung up the other.
    let ended = until(&to_bob, "transferred", |s| matches!(s, State::Ended(_))).await;
    assert_eq!(ended, State::Ended(EndReason::Transferred));
    let ended = until(&to_carol, "replaced", |s| matches!(s, State::Ended(_))).await;
    assert_eq!(ended, State::Ended(EndReason::Remote));
    let ended = until(&bob_side.call, "bob's old call", |s| {
        matches!(s, State::Ended(_))
    })
    .await;
    assert!(matches!(ended, State::Ended(_)), "{ended:?}");
    // bob and carol hear each other.
    let at_bob = last_half_second(&bob_hears, "bob").await;
    assert!(
        goertzel(&at_bob, 1000.0, RATE) > 0.05,
        "carol's tone at bob"
    );
    let at_carol = last_half_second(&carol_hears, "carol").await;
    assert!(
        goertzel(&at_carol, 440.0, RATE) > 0.05,
        "bob's tone at carol"
    );

    // A Replaces naming no call of carol's is refused (481), not rung.
    let stray = alice
        .call_with(
            &accounts[0],
            "carol",
            Some("nonexistent@x;to-tag=1;from-tag=2"),
            Box::new(Tone::new(300.0, 12_000.0)),
            Box::new(Recorder::default()),
        )
        .await
        .unwrap();
    let ended = until(&stray, "refused", |s| matches!(s, State::Ended(_))).await;
    assert!(
        matches!(&ended, State::Ended(EndReason::Refused { code: 481, .. })),
        "{ended:?}"
    );
    bob_to_carol.hangup();
    bob_to_carol.finished().await;
    for registration in [alice_reg, bob_reg, carol_reg] {
        registration.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webrtc_style_call_finds_its_path_by_ice_both_ways() {
    // bob does what WebRTC gateways do: ICE, DTLS-SRTP, RTCP muxed. His candidates are
    // the machine's interfaces, not the SDP's connection line.
    common::capture_log();
    let kamailio = Kamailio::start();
    let bob = common::Baresip::start_with(
        &kamailio,
        "bob",
        1000,
        "PCMU,PCMA;medianat=ice;mediaenc=dtls_srtp",
    );
    let ua = UserAgent::start(LOOPBACK).await.unwrap();
    let mut calls = ua.incoming_calls().unwrap();
    let account = upzento_voice::ua::AccountConfig {
        srtp: Some(upzento_voice::ua::KeyExchange::Dtls),
        ..alice(&kamailio)
    };
    let registration = ua.register(account.clone()).unwrap();
    registered(&registration).await;

    // Our offer: we control and nominate; bob answers the checks.
    let heard = Recorder::default();
    let call = ua
        .call(
            &account,
            "bob",
            Box::new(Tone::new(440.0, 12_000.0)),
            Box::new(heard.clone()),
        )
        .await
        .unwrap();
    until(&call, "answered", |s| matches!(s, State::Active { .. })).await;
    let at_us = last_half_second(&heard, "us").await;
    assert!(
        goertzel(&at_us, 1000.0, RATE) > 0.05,
        "bob's tone over the ICE pair\n{}",
        bob.log()
    );
    call.hangup();
    call.finished().await;
    let (samples, rate) = bob.heard().await;
    let mid = &samples[samples.len() / 4..samples.len() * 3 / 4];
    assert!(goertzel(mid, 440.0, rate) > 0.05, "our tone at bob");

    // bob's offer: he controls, we follow his nomination.
    bob.command("dial", &format!("sip:alice@127.0.0.1:{}", kamailio.port));
    let incoming = next_call(&mut calls).await;
    let heard = Recorder::default();
    incoming.answer(
        Box::new(Tone::new(440.0, 12_000.0)),
        Box::new(heard.clone()),
    );
    until(&incoming.call, "answered", |s| {
        matches!(s, State::Active { .. })
    })
    .await;
    let at_us = last_half_second(&heard, "us on bob's call").await;
    assert!(
        goertzel(&at_us, 1000.0, RATE) > 0.05,
        "bob's tone on his call over ICE\n{}",
        bob.log()
    );
    incoming.call.hangup();
    incoming.call.finished().await;
    registration.stop().await;
}
