//! `cargo xtask bench voice`: calls through a real kamailio to baresip (auto-answer),
//! started here on free ports like the tests' peers.
//! 1. Call set-up time: `call()` to answered (INVITE, 407 and its retry, 200, ACK), p50/p95/max.
//! 2. CPU of one G.711 call, as a share of one core, over ten seconds of audio both ways.
//! 3. CPU of one Opus call (baresip with Opus only), the same way.
//! 4. Audio latency the client adds between the microphone's frame and the speaker's
//!    (encode, RTP, jitter buffer, playout tick; two sessions on loopback), G.711 and Opus.
//! 5. 1,000 calls in a row, in turn placed (to baresip), received and answered, received
//!    and declined, received and missed (the caller gives up): resident memory and open
//!    file descriptors after half and after all of them, and the dialogs still held by us
//!    and by the calling UA (growth means a leak).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::{Baresip, Kamailio};
use upzento_voice::call::State;
use upzento_voice::media::audio::{AudioSink, AudioSource, FRAME};
use upzento_voice::media::sdp::Codec;
use upzento_voice::media::session::MediaSession;
use upzento_voice::ua::{AccountConfig, IncomingCall, UserAgent};

/// Silence, then a loud tone from the moment `start` is set; notes when it began.
struct Onset {
    began: std::sync::Arc<std::sync::Mutex<Option<Instant>>>,
    after: Instant,
    n: u64,
}

impl AudioSource for Onset {
    fn read(&mut self, frame: &mut [i16; FRAME]) {
        if Instant::now() < self.after {
            *frame = [0; FRAME];
            return;
        }
        if let Ok(mut began) = self.began.lock() {
            began.get_or_insert_with(Instant::now);
        }
        for s in frame.iter_mut() {
            self.n += 1;
            *s = if (self.n / 4).is_multiple_of(2) {
                16_000
            } else {
                -16_000
            };
        }
    }
}

/// Notes when the first loud frame is played.
struct FirstSound(std::sync::Arc<std::sync::Mutex<Option<Instant>>>);

impl AudioSink for FirstSound {
    fn write(&mut self, frame: &[i16]) {
        if frame.iter().any(|s| s.unsigned_abs() > 4000)
            && let Ok(mut heard) = self.0.lock()
        {
            heard.get_or_insert_with(Instant::now);
        }
    }
}

/// From the frame the microphone gave to the frame the other side's speaker got.
async fn latency(codec: Codec) -> Duration {
    let (a, b) = (
        MediaSession::bind(LOOPBACK).await.unwrap(),
        MediaSession::bind(LOOPBACK).await.unwrap(),
    );
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let began = std::sync::Arc::new(std::sync::Mutex::new(None));
    let heard = std::sync::Arc::new(std::sync::Mutex::new(None));
    let _a = MediaSession::start(
        a,
        b_addr,
        codec,
        101,
        Box::new(Onset {
            began: began.clone(),
            after: Instant::now() + Duration::from_millis(500),
            n: 0,
        }),
        Box::new(FirstSound(std::sync::Arc::default())),
    )
    .unwrap();
    // b sends silence so a's playout has something to do; b's ear is measured.
    let _b = MediaSession::start(
        b,
        a_addr,
        codec,
        101,
        Box::new(Onset {
            began: std::sync::Arc::default(),
            after: Instant::now() + Duration::from_secs(3600),
            n: 0,
        }),
        Box::new(FirstSound(heard.clone())),
    )
    .unwrap();
    for _ in 0..300 {
        let (b0, h) = (*began.lock().unwrap(), *heard.lock().unwrap());
        if let (Some(b0), Some(h)) = (b0, h) {
            return h.saturating_duration_since(b0);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the onset never arrived");
}

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// (resident KiB, open fds) of this process.
fn footprint() -> (u64, usize) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir("/proc/self/fd")
        .map(Iterator::count)
        .unwrap_or(0);
    (rss, fds)
}

/// CPU time (user + system) of this process.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit(") ")
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

async fn one_call(ua: &UserAgent, account: &AccountConfig) -> Duration {
    let started = Instant::now();
    let call = common::call_answered(ua, account, "bob").await;
    let setup = started.elapsed();
    call.hangup();
    call.finished().await;
    setup
}

/// One call to `ua` from `caller`, answered, declined or missed (`turn` 1, 2, 3).
async fn one_incoming(
    ua: &UserAgent,
    incoming: &mut tokio::sync::mpsc::UnboundedReceiver<IncomingCall>,
    caller: &UserAgent,
    turn: u32,
) {
    let to = ua.local_addr().unwrap();
    let direct = AccountConfig {
        registrar: to.to_string(),
        user: "carl".into(),
        auth_user: None,
        password: String::new(),
        transport: upzento_voice::ua::Transport::Udp,
        outbound_proxy: None,
        expires: 600,
        srtp: None,
        keepalive: None,
    };
    let call = caller
        .call(
            &direct,
            &format!("sip:alice@{to}"),
            Box::new(upzento_voice::media::audio::Tone::new(440.0, 8000.0)),
            Box::new(upzento_voice::media::audio::Recorder::default()),
        )
        .await
        .unwrap();
    let ringing = incoming.recv().await.unwrap();
    match turn {
        1 => {
            ringing.answer(
                Box::new(upzento_voice::media::audio::Tone::new(440.0, 8000.0)),
                Box::new(upzento_voice::media::audio::Recorder::default()),
            );
            let _ = call
                .watch()
                .wait_for(|s| matches!(s, State::Active { .. } | State::Ended(_)))
                .await;
            call.hangup();
        }
        2 => ringing.decline(false),
        _ => call.hangup(),
    }
    let _ = ringing
        .call
        .watch()
        .wait_for(|s| matches!(s, State::Ended(_)))
        .await;
    call.finished().await;
    ringing.call.finished().await;
}

#[tokio::main]
async fn main() {
    let kamailio = Kamailio::start();
    let _bob = Baresip::start(&kamailio, 1000);
    let ua = UserAgent::start(LOOPBACK).await.unwrap();
    let account = common::alice(&kamailio);

    // 1. Set-up time.
    let mut setups = Vec::new();
    for _ in 0..100 {
        setups.push(one_call(&ua, &account).await);
    }
    setups.sort();
    println!(
        "call set-up through kamailio (digest auth) to baresip, 100 calls: p50 {}, p95 {}, max {}",
        ms(setups[50]),
        ms(setups[95]),
        ms(setups[99])
    );

    // 2. CPU of one call.
    let call = common::call_answered(&ua, &account, "bob").await;
    let (cpu0, t0) = (cpu(), Instant::now());
    tokio::time::sleep(Duration::from_secs(10)).await;
    let share = (cpu() - cpu0).as_secs_f64() / t0.elapsed().as_secs_f64() * 100.0;
    call.hangup();
    call.finished().await;
    println!("CPU of one G.711 call (RTP both ways, 20 ms frames): {share:.2}% of a core");

    // 3. CPU of one Opus call.
    let _carol = Baresip::start_with(&kamailio, "carol", 1000, "opus");
    let call = common::call_answered(&ua, &account, "carol").await;
    let (cpu0, t0) = (cpu(), Instant::now());
    tokio::time::sleep(Duration::from_secs(10)).await;
    let share = (cpu() - cpu0).as_secs_f64() / t0.elapsed().as_secs_f64() * 100.0;
    call.hangup();
    call.finished().await;
    println!("CPU of one Opus call (8 kHz, 20 ms frames, both ways): {share:.2}% of a core");

    // 4. Latency the client adds.
    for codec in [Codec::Pcmu, Codec::Opus(111)] {
        let mut delays = Vec::new();
        for _ in 0..20 {
            delays.push(latency(codec).await);
        }
        delays.sort();
        println!(
            "audio latency {codec:?}, microphone frame to speaker frame over loopback RTP, 20 runs: p50 {}, max {} (plus the sound devices' 10 ms buffers)",
            ms(delays[10]),
            ms(delays[19])
        );
    }

    // 5. 1,000 calls in a row, one every 100 ms (about an hour of a busy agent's calls in
    // 100 s). Finished calls keep their transactions for up to 64·T1 (32 s, RFC 6026
    // Timer M and friends), so the footprint is compared once that window is full:
    // after 500 calls (50 s) and after 1,000.
    let calls = std::env::var("BENCH_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let caller = UserAgent::start(LOOPBACK).await.unwrap();
    let mut incoming = ua.incoming_calls().unwrap();
    let started = Instant::now();
    let mut at_half = (0, 0);
    for i in 1..=calls {
        let next = Instant::now() + Duration::from_millis(100);
        match i % 4 {
            0 => {
                one_call(&ua, &account).await;
            }
            turn => one_incoming(&ua, &mut incoming, &caller, turn).await,
        }
        tokio::time::sleep_until(next.into()).await;
        if i == calls / 2 {
            at_half = footprint();
        }
    }
    let at_end = footprint();
    println!(
        "{calls} calls in a row (placed, answered, declined, missed in turn) in {:.0} s: resident {} KiB after {}, {} KiB after {calls}; open fds {} and {}; dialogs still held {} (the caller's {})",
        started.elapsed().as_secs_f64(),
        at_half.0,
        calls / 2,
        at_end.0,
        at_half.1,
        at_end.1,
        ua.open_dialogs(),
        caller.open_dialogs()
    );
}
