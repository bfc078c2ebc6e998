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
    for codec in [Codec::Pcmu, Codec::Pcma, Codec::Opus(111)] {
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

/// Forwards UDP from `to_relay` to `target`, dropping every packet for which `drop(n)`.
async fn lossy_relay(target: std::net::SocketAddr, drop: fn(u64) -> bool) -> std::net::SocketAddr {
    let socket = tokio::net::UdpSocket::bind((LOOPBACK, 0)).await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        let mut n = 0u64;
        while let Ok((len, _)) = socket.recv_from(&mut buf).await {
            n += 1;
            if !drop(n) {
                let _ = socket.send_to(&buf[..len], target).await;
            }
        }
    });
    addr
}

/// Three seconds of alice's 1 kHz tone to bob through a relay that drops per `drop`;
/// returns what bob played and his quality estimate.
async fn through_relay(
    drop: fn(u64) -> bool,
) -> (Vec<i16>, upzento_voice::media::quality::Quality) {
    let (a, b) = (
        MediaSession::bind(LOOPBACK).await.unwrap(),
        MediaSession::bind(LOOPBACK).await.unwrap(),
    );
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let relay = lossy_relay(b_addr, drop).await;
    let heard = Recorder::default();
    let _alice = MediaSession::start(
        a,
        relay,
        Codec::Pcmu,
        101,
        Box::new(Tone::new(1000.0, 12_000.0)),
        Box::new(Recorder::default()),
    )
    .unwrap();
    let bob = MediaSession::start(
        b,
        a_addr,
        Codec::Pcmu,
        101,
        Box::new(Tone::new(440.0, 12_000.0)),
        Box::new(heard.clone()),
    )
    .unwrap();
    let mut quality = bob.quality();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let q = quality
        .wait_for(Option::is_some)
        .await
        .unwrap()
        .expect("a quality estimate");
    (heard.samples(), q)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_percent_loss_is_concealed_and_lowers_the_mos() {
    let (clean, good) = through_relay(|_| false).await;
    assert!(good.loss_percent < 0.5, "{good:?}");
    assert!(good.mos > 4.0 && !good.degraded(), "{good:?}");
    assert!(clean.len() >= 2 * RATE as usize, "{} samples", clean.len());

    // Every fifth packet lost.
    let (lossy, poor) = through_relay(|n| n % 5 == 3).await;
    assert!(
        (15.0..25.0).contains(&poor.loss_percent),
        "loss {:.1} %",
        poor.loss_percent
    );
    assert!(poor.mos < 3.0 && poor.degraded(), "{poor:?}");
    assert!(poor.packets_concealed > 0, "{poor:?}");
    // The audio goes on: as many samples as time passed, the tone in every frame (the
    // lost ones concealed at a lower level, not silent).
    assert!(
        lossy.len() + RATE as usize / 2 >= clean.len(),
        "{} vs {} samples",
        lossy.len(),
        clean.len()
    );
    let tail = &lossy[lossy.len() - RATE as usize..];
    let silent_frames = tail
        .chunks(160)
        .filter(|f| goertzel(f, 1000.0, RATE) < 0.001)
        .count();
    assert_eq!(silent_frames, 0, "no frame of the last second went silent");
}

/// Forwards UDP to `target` after `delay`.
async fn slow_relay(target: std::net::SocketAddr, delay: Duration) -> std::net::SocketAddr {
    let socket = std::sync::Arc::new(tokio::net::UdpSocket::bind((LOOPBACK, 0)).await.unwrap());
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((len, _)) = socket.recv_from(&mut buf).await {
            let (socket, packet) = (socket.clone(), buf[..len].to_vec());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = socket.send_to(&packet, target).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtcp_reports_measure_the_round_trip_time() {
    use upzento_voice::media::session::{Options, Peer};
    let (a, b) = (
        MediaSession::bind(LOOPBACK).await.unwrap(),
        MediaSession::bind(LOOPBACK).await.unwrap(),
    );
    // RTCP on the port after RTP's.
    assert_eq!(
        a.rtcp_addr().unwrap().port(),
        a.local_addr().unwrap().port() + 1
    );
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    // alice → bob takes 80 ms more (RTP and RTCP alike); bob → alice is direct.
    let delay = Duration::from_millis(80);
    let to_bob = Peer {
        rtp: slow_relay(b_addr, delay).await,
        rtcp: slow_relay(b.rtcp_addr().unwrap(), delay).await,
    };
    let fast = Options {
        rtcp_interval: Duration::from_millis(300),
        ..Options::default()
    };
    let alice = MediaSession::start_with(
        a,
        to_bob,
        Codec::Pcmu,
        101,
        Box::new(Tone::new(1000.0, 12_000.0)),
        Box::new(Recorder::default()),
        fast.clone(),
    )
    .unwrap();
    let bob = MediaSession::start_with(
        b,
        Peer::from(a_addr),
        Codec::Pcmu,
        101,
        Box::new(Tone::new(440.0, 12_000.0)),
        Box::new(Recorder::default()),
        fast,
    )
    .unwrap();
    for session in [&alice, &bob] {
        let mut quality = session.quality();
        let q = tokio::time::timeout(
            Duration::from_secs(10),
            quality.wait_for(|q| q.is_some_and(|q| q.rtt_ms.is_some())),
        )
        .await
        .expect("an RTT within 10 s")
        .unwrap()
        .unwrap();
        let rtt = q.rtt_ms.unwrap();
        // 80 ms one way plus the timers of the relay and the sessions.
        assert!((75.0..200.0).contains(&rtt), "RTT {rtt:.1} ms");
    }
    let stats = alice.stats();
    assert!(stats.rtcp_sent.load(std::sync::atomic::Ordering::Relaxed) >= 2);
    assert!(
        stats
            .rtcp_received
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_far_end_that_moves_its_media_is_followed() {
    // alice talks with bob; then the far end's media moves to carol (a PBX re-anchoring
    // after a transfer): alice's audio goes there, and carol's is heard.
    let sockets = [
        MediaSession::bind(LOOPBACK).await.unwrap(),
        MediaSession::bind(LOOPBACK).await.unwrap(),
        MediaSession::bind(LOOPBACK).await.unwrap(),
    ];
    let [a, b, c] = sockets;
    let (a_addr, b_addr, c_addr) = (
        a.local_addr().unwrap(),
        b.local_addr().unwrap(),
        c.local_addr().unwrap(),
    );
    let (at_alice, at_bob, at_carol) = (
        Recorder::default(),
        Recorder::default(),
        Recorder::default(),
    );
    let alice = MediaSession::start(
        a,
        b_addr,
        Codec::Pcmu,
        101,
        Box::new(Tone::new(1000.0, 12_000.0)),
        Box::new(at_alice.clone()),
    )
    .unwrap();
    let bob = MediaSession::start(
        b,
        a_addr,
        Codec::Pcmu,
        101,
        Box::new(Tone::new(440.0, 12_000.0)),
        Box::new(at_bob.clone()),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    // bob's side is gone (transferred away); carol takes over from another address.
    drop(bob);
    assert!(alice.move_peer(c_addr.into()));
    let _carol = MediaSession::start(
        c,
        a_addr,
        Codec::Pcmu,
        101,
        Box::new(Tone::new(600.0, 12_000.0)),
        Box::new(at_carol.clone()),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let heard = at_carol.samples();
    assert!(heard.len() >= 4000, "{} samples at carol", heard.len());
    assert!(
        goertzel(&heard[heard.len() - 4000..], 1000.0, RATE) > 0.1,
        "alice at carol"
    );
    let heard = at_alice.samples();
    assert!(
        goertzel(&heard[heard.len() - 2000..], 600.0, RATE) > 0.1,
        "carol at alice"
    );
}
