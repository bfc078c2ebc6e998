//! linphonec (Linphone's console client) calling us, with Opus and with G.711 only: a strict peer that aborted every call to us ("Incompatible SDP answer")
//! while our 200 OK had no Content-Type and answered events it had not offered. Audio is
//! checked by ear both ways: linphonec's microphone hears a 1 kHz tone, and what its
//! speaker plays of our 440 Hz is recorded from the speaker's monitor. Also: its hold of
//! us, our call to it with DTMF, hold and its blind transfer, and linphonec registered at
//! the proxy reached through its GRUU.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::{
    Kamailio, Linphonec, Playing, Pulse, alice, direct_account, record_monitor, registered,
};
use upzento_voice::call::{EndReason, State};
use upzento_voice::media::audio::{RATE, Recorder, Tone, goertzel};
use upzento_voice::ua::{CallHandle, UserAgent};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

async fn until(call: &CallHandle, what: &str, done: impl Fn(&State) -> bool) -> State {
    let mut watch = call.watch();
    tokio::time::timeout(Duration::from_secs(10), watch.wait_for(|s| done(s)))
        .await
        .unwrap_or_else(|_| panic!("the call never got {what}: {:?}", call.state()))
        .unwrap()
        .clone()
}

/// The strength of `hz` in the last second of what we heard, once two seconds are in.
async fn we_hear(heard: &Recorder, hz: f64) -> f64 {
    for _ in 0..400 {
        if heard.samples().len() >= 2 * RATE as usize {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let samples = heard.samples();
    assert!(
        samples.len() >= 2 * RATE as usize,
        "heard {} samples",
        samples.len()
    );
    goertzel(&samples[samples.len() - RATE as usize..], hz, RATE)
}

/// The strength of `hz` in a second of what linphonec plays.
async fn linphone_plays(pulse: &Pulse, hz: f64) -> f64 {
    let server = pulse.server();
    let samples =
        tokio::task::spawn_blocking(move || record_monitor(&Pulse::at(&server), "spk", 1.0))
            .await
            .unwrap();
    goertzel(&samples, hz, RATE)
}

/// Like [`linphone_plays`], for a tone that should be playing: linphonec may start playing a
/// moment late on a loaded machine, so up to four one-second windows are heard, the first
/// strong one kept (a tone that never comes still fails).
async fn linphone_starts_playing(pulse: &Pulse, hz: f64) -> f64 {
    let mut strongest = 0.0_f64;
    for _ in 0..4 {
        strongest = strongest.max(linphone_plays(pulse, hz).await);
        if strongest > 0.02 {
            break;
        }
    }
    strongest
}

async fn check_audio(pulse: &Pulse, heard: &Recorder, codecs: &[&str]) {
    let theirs = we_hear(heard, 1000.0).await;
    assert!(
        theirs > 0.02,
        "{codecs:?}: linphonec's 1 kHz at our ear: {theirs}"
    );
    let ours = linphone_starts_playing(pulse, 440.0).await;
    assert!(
        ours > 0.02,
        "{codecs:?}: our 440 Hz at linphonec's speaker: {ours}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linphone_calls_us_with_audio_both_ways() {
    common::capture_log();
    for codecs in [&["opus", "PCMU", "PCMA"][..], &["PCMU", "PCMA"][..]] {
        let pulse = Pulse::start();
        let _microphone = Playing::start(&pulse, "micsrc", 1000.0);
        let mut linphone = Linphonec::start(&pulse, codecs);
        let ua = UserAgent::start(LOOPBACK).await.unwrap();
        let mut incoming = ua.incoming_calls().unwrap();
        let ours = ua.local_addr().unwrap();

        // linphonec calls us.
        linphone.command(&format!("call sip:alice@{ours}"));
        let call = tokio::time::timeout(Duration::from_secs(10), incoming.recv())
            .await
            .unwrap_or_else(|_| panic!("no call from linphonec: {}", linphone.output()))
            .unwrap();
        let heard = Recorder::default();
        call.answer(
            Box::new(Tone::new(440.0, 12_000.0)),
            Box::new(heard.clone()),
        );
        until(&call.call, "answered", |s| {
            matches!(s, State::Active { .. })
        })
        .await;
        assert!(
            linphone.wait_for("connected", Duration::from_secs(10)),
            "{codecs:?}: {}",
            linphone.output()
        );
        check_audio(&pulse, &heard, codecs).await;
        // linphonec holds us (re-INVITE, sendonly; we answer recvonly) and takes us back:
        // its tone stops at our ear, then comes back.
        linphone.command("pause");
        assert!(
            linphone.wait_for("is now paused", Duration::from_secs(5)),
            "{codecs:?}: {}",
            linphone.output()
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let held = we_hear(&heard, 1000.0).await;
        assert!(
            held < 0.005,
            "{codecs:?}: linphonec's tone while it holds: {held}"
        );
        linphone.command("resume");
        assert!(
            linphone.wait_for("Resuming call", Duration::from_secs(5)),
            "{codecs:?}: {}",
            linphone.output()
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let back = we_hear(&heard, 1000.0).await;
        assert!(
            back > 0.02,
            "{codecs:?}: linphonec's tone after resume: {back}"
        );
        assert!(
            matches!(call.call.state(), State::Active { .. }),
            "{codecs:?}: the call did not last: {}",
            linphone.output()
        );
        linphone.command("terminate");
        let ended = until(&call.call, "ended", |s| matches!(s, State::Ended(_))).await;
        assert_eq!(ended, State::Ended(EndReason::Remote), "{codecs:?}");
        tokio::time::timeout(Duration::from_secs(15), call.call.finished())
            .await
            .expect("the call's task did not finish");
        let said = linphone.output();
        assert!(!said.contains("Incompatible"), "{codecs:?}: {said}");
        assert_eq!(ua.open_dialogs(), 0, "{codecs:?}");
    }
}

/// We call linphonec, with Opus and with G.711 only: audio both ways, our keypad's
/// RFC 4733 events arrive as tones, hold silences us at its ear and resume brings us
/// back; then, the call it transfers (REFER) is followed to the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_call_linphone_with_dtmf_hold_and_its_transfer() {
    common::capture_log();
    for codecs in [&["opus", "PCMU", "PCMA"][..], &["PCMU", "PCMA"][..]] {
        let pulse = Pulse::start();
        let _microphone = Playing::start(&pulse, "micsrc", 1000.0);
        let mut linphone = Linphonec::start(&pulse, codecs);
        let ua = UserAgent::start(LOOPBACK).await.unwrap();
        let them = SocketAddr::new(LOOPBACK, linphone.port);
        let heard = Recorder::default();
        let call = ua
            .call(
                &direct_account(them),
                &format!("sip:linphone@{them}"),
                Box::new(Tone::new(440.0, 12_000.0)),
                Box::new(heard.clone()),
            )
            .await
            .unwrap();
        assert!(
            linphone.wait_for("Receiving new incoming call", Duration::from_secs(10)),
            "{codecs:?}: {}",
            linphone.output()
        );
        linphone.command("answer");
        until(&call, "answered", |s| matches!(s, State::Active { .. })).await;
        check_audio(&pulse, &heard, codecs).await;

        // The keypad: each key a tone at linphonec.
        call.send_dtmf("19#");
        for key in ['1', '9', '#'] {
            assert!(
                linphone.wait_for(&format!("Receiving tone {key}"), Duration::from_secs(5)),
                "{codecs:?}: tone {key}: {}",
                linphone.output()
            );
        }

        // Hold: linphonec sees itself paused, and hears nothing of us; then back.
        call.set_on_hold(true);
        assert!(
            linphone.wait_for("has been paused by", Duration::from_secs(5)),
            "{codecs:?}: {}",
            linphone.output()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let held = linphone_plays(&pulse, 440.0).await;
        assert!(held < 0.005, "{codecs:?}: our tone on hold: {held}");
        call.set_on_hold(false);
        until(&call, "resumed", |s| {
            matches!(s, State::Active { on_hold: false, .. })
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let back = linphone_starts_playing(&pulse, 440.0).await;
        assert!(back > 0.02, "{codecs:?}: our tone after resume: {back}");

        // linphonec hands us over to carol (blind transfer, REFER): we call her in its
        // place, tell it how that went (NOTIFY), and our call with it ends.
        let carol = UserAgent::start(LOOPBACK).await.unwrap();
        let mut carol_calls = carol.incoming_calls().unwrap();
        let at_carol = carol.local_addr().unwrap();
        let mut asked = call.watch_transfer_request();
        linphone.command(&format!("transfer sip:carol@{at_carol}"));
        let request =
            tokio::time::timeout(Duration::from_secs(10), asked.wait_for(Option::is_some))
                .await
                .unwrap_or_else(|_| panic!("{codecs:?}: no REFER: {}", linphone.output()))
                .unwrap()
                .clone()
                .unwrap();
        assert_eq!(
            request.target,
            format!("sip:carol@{at_carol}"),
            "{codecs:?}"
        );
        assert_eq!(request.replaces, None, "{codecs:?}");
        let to_carol = ua
            .call(
                &direct_account(at_carol),
                &request.target,
                Box::new(Tone::new(440.0, 12_000.0)),
                Box::new(Recorder::default()),
            )
            .await
            .unwrap();
        let carol_side = tokio::time::timeout(Duration::from_secs(10), carol_calls.recv())
            .await
            .expect("the transferred call reached carol")
            .unwrap();
        carol_side.answer(
            Box::new(Tone::new(1000.0, 12_000.0)),
            Box::new(Recorder::default()),
        );
        until(&to_carol, "carol answered", |s| {
            matches!(s, State::Active { .. })
        })
        .await;
        call.transfer_outcome(true);
        assert!(
            linphone.wait_for("has been transfered", Duration::from_secs(10)),
            "{codecs:?}: linphonec never heard the transfer worked: {}",
            linphone.output()
        );
        let ended = until(&call, "ended", |s| matches!(s, State::Ended(_))).await;
        assert!(matches!(ended, State::Ended(_)), "{codecs:?}");
        tokio::time::timeout(Duration::from_secs(15), call.finished())
            .await
            .expect("the call's task did not finish");
        to_carol.hangup();
        tokio::time::timeout(Duration::from_secs(15), to_carol.finished())
            .await
            .expect("the call to carol did not finish");
        assert_eq!(ua.open_dialogs(), 0, "{codecs:?}");
    }
}

/// linphonec registered at the proxy (which hands it a GRUU, RFC 5627, and linphonec then
/// puts that in its Contact): our call through the proxy is answered, our ACK and BYE
/// reach it through its GRUU, and so does its BYE to us.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linphone_at_the_proxy_is_reached_through_its_gruu() {
    common::capture_log();
    let kamailio = Kamailio::start();
    let pulse = Pulse::start();
    let _microphone = Playing::start(&pulse, "micsrc", 1000.0);
    let mut linphone = Linphonec::start(&pulse, &["PCMU", "PCMA"]);
    let proxy = format!("127.0.0.1:{}", kamailio.port);
    linphone.command(&format!("register sip:bob@{proxy} sip:{proxy} bobpw"));
    // It says nothing when registered: ask until it does.
    let mut registered_there = false;
    for _ in 0..20 {
        linphone.command("status register");
        if linphone.wait_for("registered, identity=", Duration::from_millis(500)) {
            registered_there = true;
            break;
        }
    }
    assert!(
        registered_there,
        "linphonec did not register: {}\n{}",
        linphone.output(),
        kamailio.log()
    );
    let ua = UserAgent::start(LOOPBACK).await.unwrap();
    let account = alice(&kamailio);
    let registration = ua.register(account.clone()).unwrap();
    registered(&registration).await;

    for (round, who_hangs_up) in ["us", "linphonec"].into_iter().enumerate() {
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
        assert!(
            linphone.wait_for(
                &format!("assigned id {}", round + 1),
                Duration::from_secs(10)
            ),
            "{}",
            linphone.output()
        );
        linphone.command("answer");
        until(&call, "answered", |s| matches!(s, State::Active { .. })).await;
        // It counts the call connected once our ACK is in.
        assert!(
            linphone.wait_for(
                &format!("Call {} with sip:alice@", round + 1),
                Duration::from_secs(10)
            ) && linphone.wait_for("connected", Duration::from_secs(10)),
            "{}",
            linphone.output()
        );
        let theirs = we_hear(&heard, 1000.0).await;
        assert!(theirs > 0.02, "linphonec's 1 kHz at our ear: {theirs}");
        if who_hangs_up == "us" {
            call.hangup();
        } else {
            linphone.command("terminate");
        }
        assert!(
            linphone.wait_for(&format!("Call {} with", round + 1), Duration::from_secs(1))
                && linphone.wait_for("ended (", Duration::from_secs(10)),
            "{who_hangs_up} hung up, but linphonec's call went on: {}\n{}",
            linphone.output(),
            kamailio.log()
        );
        let ended = until(&call, "ended", |s| matches!(s, State::Ended(_))).await;
        let expected = if who_hangs_up == "us" {
            EndReason::Local
        } else {
            EndReason::Remote
        };
        assert_eq!(ended, State::Ended(expected));
        tokio::time::timeout(Duration::from_secs(15), call.finished())
            .await
            .expect("the call's task did not finish");
    }
    assert_eq!(ua.open_dialogs(), 0);
    registration.stop().await;
}
