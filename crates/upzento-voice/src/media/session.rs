//! The RTP session of a call: 20 ms frames from the source, encoded and sent on time;
//! packets from the other side decoded into the sink in sequence order. Stray
//! packets (another source, garbage) are counted and dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use super::audio::{AudioSink, AudioSource, FRAME};
use super::g711;
use super::rtp::{self, Packet};
use super::sdp::Codec;

/// Counters of a session, readable while it runs.
#[derive(Debug, Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub received: AtomicU64,
    /// Not RTP, or not from the peer we talk to.
    pub dropped: AtomicU64,
}

#[derive(Debug)]
pub struct MediaSession {
    local: SocketAddr,
    stats: Arc<Stats>,
    muted: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl MediaSession {
    /// Binds the RTP socket, so its port can go into the SDP before the peer is known.
    pub async fn bind(ip: std::net::IpAddr) -> std::io::Result<UdpSocket> {
        UdpSocket::bind(SocketAddr::new(ip, 0)).await
    }

    /// Starts sending to and receiving from `remote`.
    pub fn start(
        socket: UdpSocket,
        remote: SocketAddr,
        codec: Codec,
        mut source: Box<dyn AudioSource>,
        mut sink: Box<dyn AudioSink>,
    ) -> std::io::Result<Self> {
        let local = socket.local_addr()?;
        let socket = Arc::new(socket);
        let stats = Arc::new(Stats::default());
        let muted = Arc::new(AtomicBool::new(false));
        let ssrc: u32 = rand_ssrc(local);
        let sender = {
            let (socket, stats, muted) = (socket.clone(), stats.clone(), muted.clone());
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(Duration::from_millis(20));
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                let mut frame = [0i16; FRAME];
                let mut payload = vec![0u8; FRAME];
                let mut buf = Vec::with_capacity(12 + FRAME);
                let (mut sequence, mut timestamp) =
                    (u16::try_from(ssrc & 0x7fff).unwrap_or(0), ssrc);
                let mut first = true;
                loop {
                    ticker.tick().await;
                    source.read(&mut frame);
                    if muted.load(Ordering::Relaxed) {
                        frame = [0; FRAME];
                    }
                    for (code, sample) in payload.iter_mut().zip(frame) {
                        *code = match codec {
                            Codec::Pcmu => g711::ulaw_encode(sample),
                            Codec::Pcma => g711::alaw_encode(sample),
                        };
                    }
                    rtp::write(
                        &Packet {
                            payload_type: codec.payload_type(),
                            marker: first,
                            sequence,
                            timestamp,
                            ssrc,
                            payload: &payload,
                        },
                        &mut buf,
                    );
                    first = false;
                    if socket.send_to(&buf, remote).await.is_ok() {
                        stats.sent.fetch_add(1, Ordering::Relaxed);
                    }
                    sequence = sequence.wrapping_add(1);
                    timestamp = timestamp.wrapping_add(FRAME as u32);
                }
            })
        };
        let receiver = {
            let stats = stats.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 2048];
                let mut pcm = Vec::with_capacity(FRAME);
                loop {
                    let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                        return;
                    };
                    // Symmetric RTP: only the peer's address (its port may differ from the
                    // SDP behind NAT, not on loopback) is listened to.
                    if from.ip() != remote.ip() {
                        stats.dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let Ok(packet) = rtp::parse(&buf[..n]) else {
                        stats.dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let decode: fn(u8) -> i16 = match packet.payload_type {
                        0 => g711::ulaw_decode,
                        8 => g711::alaw_decode,
                        // Telephone events and comfort noise are not audio to play.
                        _ => continue,
                    };
                    pcm.clear();
                    pcm.extend(packet.payload.iter().map(|&c| decode(c)));
                    sink.write(&pcm);
                    stats.received.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        Ok(Self {
            local,
            stats,
            muted,
            tasks: vec![sender, receiver],
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn set_muted(&self, muted: bool) {
        self.muted.store(muted, Ordering::Relaxed);
    }
}

impl Drop for MediaSession {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// An SSRC that differs between sessions (RFC 3550 wants it random; uniqueness per
/// call is what matters here).
fn rand_ssrc(local: SocketAddr) -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos ^ u32::from(local.port()).rotate_left(16) ^ 0x5eed_1234
}
