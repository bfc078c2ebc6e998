//! SIPp, a second SIP implementation, as the far end: its built-in UAS scenario answers
//! our call; its UAC scenario calls us, and we answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::direct_account;
use upzento_voice::call::{EndReason, State};
use upzento_voice::media::audio::{Recorder, Tone};
use upzento_voice::ua::UserAgent;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind((LOOPBACK, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_answers_our_call_and_calls_us() {
    let ua = UserAgent::start(LOOPBACK).await.unwrap();
    let mut incoming = ua.incoming_calls().unwrap();

    // SIPp as UAS: answers any INVITE, then waits for our BYE.
    let port = free_udp_port();
    let mut uas = Command::new("sipp")
        .args([
            "-sn",
            "uas",
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-m",
            "1",
            "-nostdin",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sipp");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let account = direct_account(std::net::SocketAddr::new(LOOPBACK, port));
    let call = ua
        .call(
            &account,
            &format!("sip:service@127.0.0.1:{port}"),
            Box::new(Tone::new(440.0, 8000.0)),
            Box::new(Recorder::default()),
        )
        .await
        .unwrap();
    let mut states = call.watch();
    tokio::time::timeout(
        Duration::from_secs(10),
        states.wait_for(|s| matches!(s, State::Active { .. })),
    )
    .await
    .expect("SIPp did not answer")
    .unwrap();
    call.hangup();
    call.finished().await;
    let status = tokio::task::spawn_blocking(move || uas.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "SIPp's UAS scenario failed: {status}");

    // SIPp as UAC: calls us, pauses, hangs up.
    let ours = ua.local_addr().unwrap();
    let mut uac = Command::new("sipp")
        .args([
            "-sn",
            "uac",
            "-i",
            "127.0.0.1",
            "-p",
            &free_udp_port().to_string(),
            "-s",
            "alice",
            "-m",
            "1",
            "-d",
            "500",
            "-nostdin",
        ])
        .arg(ours.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sipp");
    let call = tokio::time::timeout(Duration::from_secs(10), incoming.recv())
        .await
        .expect("no call from SIPp")
        .unwrap();
    call.answer(
        Box::new(Tone::new(440.0, 8000.0)),
        Box::new(Recorder::default()),
    );
    let mut states = call.call.watch();
    let ended = tokio::time::timeout(
        Duration::from_secs(15),
        states.wait_for(|s| matches!(s, State::Ended(_))),
    )
    .await
    .expect("SIPp did not hang up")
    .unwrap()
    .clone();
    assert_eq!(ended, State::Ended(EndReason::Remote));
    let status = tokio::task::spawn_blocking(move || uac.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "SIPp's UAC scenario failed: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_go_as_sip_info_to_a_far_end_without_telephone_events() {
    let ua = UserAgent::start(LOOPBACK).await.unwrap();
    let port = free_udp_port();
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/uas_info_dtmf.xml");
    let uas = Command::new("sipp")
        .args(["-sf", scenario, "-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "20s"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sipp");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let account = direct_account(std::net::SocketAddr::new(LOOPBACK, port));
    let call = ua
        .call(
            &account,
            &format!("sip:service@127.0.0.1:{port}"),
            Box::new(Tone::new(440.0, 8000.0)),
            Box::new(Recorder::default()),
        )
        .await
        .unwrap();
    let mut states = call.watch();
    tokio::time::timeout(
        Duration::from_secs(10),
        states.wait_for(|s| matches!(s, State::Active { .. })),
    )
    .await
    .expect("SIPp did not answer")
    .unwrap();
    call.send_dtmf("4#");
    tokio::time::sleep(Duration::from_millis(500)).await;
    call.hangup();
    call.finished().await;
    sipp_passed(uas, "SIPp did not get the keys as INFO").await;
}

/// Waits for SIPp to end and asserts that its scenario passed.
async fn sipp_passed(sipp: std::process::Child, what: &str) {
    let output = tokio::task::spawn_blocking(move || sipp.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        output.status.success(),
        "{what}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strict_caller_gets_an_answer_within_its_offer() {
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/peers/uac_strict_offer.xml"
    );
    sipp_calls_us(&["-sf", scenario], "our 200 OK did not fit the offer").await;
}

/// SIPp (`args`: its scenario and transport) calls a new UA of ours, which answers;
/// SIPp's scenario must pass.
async fn sipp_calls_us(args: &[&str], what: &str) {
    let ua = UserAgent::start(LOOPBACK).await.unwrap();
    let mut incoming = ua.incoming_calls().unwrap();
    let ours = ua.local_addr().unwrap();
    let uac = Command::new("sipp")
        .args(args)
        .args(["-i", "127.0.0.1", "-p", &free_udp_port().to_string()])
        .args(["-s", "alice", "-m", "1", "-nostdin", "-timeout", "20s"])
        .arg(ours.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sipp");
    let call = tokio::time::timeout(Duration::from_secs(10), incoming.recv())
        .await
        .unwrap_or_else(|_| panic!("{what}: no call from SIPp"))
        .unwrap();
    call.answer(
        Box::new(Tone::new(440.0, 8000.0)),
        Box::new(Recorder::default()),
    );
    sipp_passed(uac, what).await;
}

/// alice's UA calling bob's directly (no registrar), bob's address taken from his UA.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_and_missed_calls_leave_no_dialog_behind() {
    let alice = UserAgent::start(LOOPBACK).await.unwrap();
    let bob = UserAgent::start(LOOPBACK).await.unwrap();
    let mut incoming = bob.incoming_calls().unwrap();
    let to = bob.local_addr().unwrap();
    for i in 0..6 {
        let call = alice
            .call(
                &direct_account(to),
                &format!("sip:bob@{to}"),
                Box::new(Tone::new(440.0, 8000.0)),
                Box::new(Recorder::default()),
            )
            .await
            .unwrap();
        let ringing = tokio::time::timeout(Duration::from_secs(10), incoming.recv())
            .await
            .expect("the call did not reach bob")
            .unwrap();
        if i % 2 == 0 {
            ringing.decline(i % 4 == 0); // declined, busy or not
        } else {
            call.hangup(); // the caller gives up: missed
        }
        let mut states = ringing.call.watch();
        tokio::time::timeout(
            Duration::from_secs(10),
            states.wait_for(|s| matches!(s, State::Ended(_))),
        )
        .await
        .expect("the call did not end at bob's")
        .unwrap();
        call.finished().await;
        ringing.call.finished().await;
    }
    // Transactions linger a moment (RFC 3261 timers); dialogs must not.
    let mut open = (usize::MAX, usize::MAX);
    for _ in 0..50 {
        open = (alice.open_dialogs(), bob.open_dialogs());
        if open == (0, 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(open, (0, 0), "dialogs held by (caller, callee)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_over_tcp_reaches_the_port_we_listen_on_for_udp() {
    // A proxy switches to TCP for a large request, to the same address (RFC 3261 §18.1.1).
    sipp_calls_us(
        &["-sn", "uac", "-t", "t1", "-d", "300"],
        "SIPp's call over TCP failed",
    )
    .await;
}
