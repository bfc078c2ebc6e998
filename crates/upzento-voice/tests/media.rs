//! Two RTP sessions on loopback hear each other's tone; garbage on the socket is dropped.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use upzento_voice::media::audio::{RATE, Recorder, Tone, goertzel};
use upzento_voice::media::sdp::Codec;
use upzento_voice::media::session::MediaSession;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_hear_each_other_and_drop_garbage() {
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let (a, b) = (
            MediaSession::bind(LOOPBACK).await.unwrap(),
            MediaSession::bind(LOOPBACK).await.unwrap(),
        );
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let (heard_by_a, heard_by_b) = (Recorder::default(), Recorder::default());
        let alice = MediaSession::start(
            a,
            b_addr,
            codec,
            101,
            Box::new(Tone::new(1000.0, 12_000.0)),
            Box::new(heard_by_a.clone()),
        )
        .unwrap();
        let bob = MediaSession::start(
            b,
            a_addr,
            codec,
            101,
            Box::new(Tone::new(440.0, 12_000.0)),
            Box::new(heard_by_b.clone()),
        )
        .unwrap();
        // Garbage from the peer's address is counted and dropped.
        let junk = std::net::UdpSocket::bind((LOOPBACK, 0)).unwrap();
        junk.send_to(b"not rtp at all", b_addr).unwrap();
        for _ in 0..200 {
            if heard_by_a.samples().len() >= 8000 && heard_by_b.samples().len() >= 8000 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (at_a, at_b) = (heard_by_a.samples(), heard_by_b.samples());
        assert!(
            goertzel(&at_a[..8000], 440.0, RATE) > 0.1,
            "{codec:?}: alice hears bob"
        );
        assert!(goertzel(&at_a[..8000], 1000.0, RATE) < 0.01);
        assert!(
            goertzel(&at_b[..8000], 1000.0, RATE) > 0.1,
            "{codec:?}: bob hears alice"
        );
        assert!(
            bob.stats()
                .dropped
                .load(std::sync::atomic::Ordering::Relaxed)
                >= 1
        );
        // Muted: silence goes out.
        alice.set_muted(true);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let from = heard_by_b.samples().len();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let muted = heard_by_b.samples()[from..].to_vec();
        assert!(muted.len() >= 1600);
        assert!(goertzel(&muted, 1000.0, RATE) < 0.001, "{codec:?}: mute");
    }
}
