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
use super::jitter::{JitterBuffer, Playout};
use super::quality::Quality;
use super::rtp::{self, Packet};
use super::sdp::{Codec, CryptoSuite, SdesKey};

/// The SRTP keys of a session (SDES): ours encrypts what we send, theirs decrypts what
/// we receive.
#[derive(Debug, Clone)]
pub struct Srtp {
    pub ours: SdesKey,
    pub theirs: SdesKey,
}

fn srtp_context(key: &SdesKey) -> std::io::Result<webrtc_srtp::context::Context> {
    let profile = match key.suite {
        CryptoSuite::AesCm128HmacSha1_80 => {
            webrtc_srtp::protection_profile::ProtectionProfile::Aes128CmHmacSha1_80
        }
        CryptoSuite::AesCm128HmacSha1_32 => {
            webrtc_srtp::protection_profile::ProtectionProfile::Aes128CmHmacSha1_32
        }
    };
    webrtc_srtp::context::Context::new(
        &key.key_salt[..16],
        &key.key_salt[16..],
        profile,
        None,
        None,
    )
    .map_err(std::io::Error::other)
}

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
    dtmf: tokio::sync::mpsc::UnboundedSender<u8>,
    quality: tokio::sync::watch::Receiver<Option<Quality>>,
    tasks: Vec<JoinHandle<()>>,
}

/// How often the quality estimate is refreshed, in 20 ms ticks.
const QUALITY_TICKS: u32 = 50;

/// The RFC 4733 event code of a keypad key.
pub fn dtmf_event(key: char) -> Option<u8> {
    match key {
        '0'..='9' => u8::try_from(u32::from(key) - u32::from('0')).ok(),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => u8::try_from(u32::from(key) - u32::from('A') + 12).ok(),
        _ => None,
    }
}

/// Encodes our 20 ms frames in the session's codec.
enum Encoder {
    Ulaw,
    Alaw,
    Opus(Box<audiopus::coder::Encoder>),
}

impl Encoder {
    fn new(codec: Codec) -> std::io::Result<Self> {
        Ok(match codec {
            Codec::Pcmu => Self::Ulaw,
            Codec::Pcma => Self::Alaw,
            // Narrowband input (the call pipeline runs at 8 kHz); VoIP tuning, in-band FEC.
            Codec::Opus(_) => {
                let mut encoder = audiopus::coder::Encoder::new(
                    audiopus::SampleRate::Hz8000,
                    audiopus::Channels::Mono,
                    audiopus::Application::Voip,
                )
                .map_err(std::io::Error::other)?;
                encoder
                    .set_inband_fec(true)
                    .map_err(std::io::Error::other)?;
                encoder
                    .set_packet_loss_perc(10)
                    .map_err(std::io::Error::other)?;
                Self::Opus(Box::new(encoder))
            }
        })
    }

    fn encode(&mut self, frame: &[i16; FRAME], out: &mut Vec<u8>) {
        out.clear();
        match self {
            Self::Ulaw => out.extend(frame.iter().map(|&s| g711::ulaw_encode(s))),
            Self::Alaw => out.extend(frame.iter().map(|&s| g711::alaw_encode(s))),
            Self::Opus(encoder) => {
                out.resize(400, 0);
                match encoder.encode(frame, out) {
                    Ok(n) => out.truncate(n),
                    Err(e) => {
                        tracing::warn!(error = %e, "opus encode");
                        out.clear();
                    }
                }
            }
        }
    }
}

/// Decodes what the other side sends: G.711 always (its static payload types), Opus
/// under the negotiated payload type.
struct Decoder {
    opus: Option<(u8, audiopus::coder::Decoder)>,
}

impl Decoder {
    fn new(codec: Codec) -> std::io::Result<Self> {
        let opus = match codec {
            Codec::Opus(pt) => Some((
                pt,
                audiopus::coder::Decoder::new(
                    audiopus::SampleRate::Hz8000,
                    audiopus::Channels::Mono,
                )
                .map_err(std::io::Error::other)?,
            )),
            Codec::Pcmu | Codec::Pcma => None,
        };
        Ok(Self { opus })
    }

    /// The audio of a packet; `None` for what is not audio (events, comfort noise, junk).
    fn decode(&mut self, payload_type: u8, payload: &[u8]) -> Option<Vec<i16>> {
        match payload_type {
            0 => Some(payload.iter().map(|&c| g711::ulaw_decode(c)).collect()),
            8 => Some(payload.iter().map(|&c| g711::alaw_decode(c)).collect()),
            pt => {
                let (opus_pt, decoder) = self.opus.as_mut()?;
                if pt != *opus_pt {
                    return None;
                }
                // Up to 120 ms per packet at 8 kHz.
                let mut out = vec![0i16; 960];
                let n = decoder.decode(Some(payload), &mut out[..], false).ok()?;
                out.truncate(n);
                Some(out)
            }
        }
    }
}

/// A key press lasts this many 20 ms packets, then three end packets follow (RFC 4733 §2.5.1.4).
const DTMF_TICKS: u16 = 5;

impl MediaSession {
    /// Binds the RTP socket, so its port can go into the SDP before the peer is known.
    pub async fn bind(ip: std::net::IpAddr) -> std::io::Result<UdpSocket> {
        UdpSocket::bind(SocketAddr::new(ip, 0)).await
    }

    /// Starts sending to and receiving from `remote`, in plain RTP.
    /// `telephone_event`: the peer's payload type for RFC 4733 events (DTMF).
    pub fn start(
        socket: UdpSocket,
        remote: SocketAddr,
        codec: Codec,
        telephone_event: u8,
        source: Box<dyn AudioSource>,
        sink: Box<dyn AudioSink>,
    ) -> std::io::Result<Self> {
        Self::start_with(socket, remote, codec, telephone_event, source, sink, None)
    }

    /// The same, in SRTP when `srtp` holds the keys: packets that do not authenticate
    /// with the other side's key are dropped like any other garbage.
    pub fn start_with(
        socket: UdpSocket,
        remote: SocketAddr,
        codec: Codec,
        telephone_event: u8,
        mut source: Box<dyn AudioSource>,
        mut sink: Box<dyn AudioSink>,
        srtp: Option<Srtp>,
    ) -> std::io::Result<Self> {
        let (mut encrypt, mut decrypt) = match &srtp {
            Some(keys) => (
                Some(srtp_context(&keys.ours)?),
                Some(srtp_context(&keys.theirs)?),
            ),
            None => (None, None),
        };
        let (dtmf, mut dtmf_rx) = tokio::sync::mpsc::unbounded_channel::<u8>();
        let local = socket.local_addr()?;
        let socket = Arc::new(socket);
        let stats = Arc::new(Stats::default());
        let muted = Arc::new(AtomicBool::new(false));
        let ssrc: u32 = rand_ssrc(local);
        let mut encoder = Encoder::new(codec)?;
        let mut decoder = Decoder::new(codec)?;
        // RTP timestamp units per 20 ms frame.
        let step = codec.clock_rate() / 50;
        let sender = {
            let (socket, stats, muted) = (socket.clone(), stats.clone(), muted.clone());
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(Duration::from_millis(20));
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                let mut frame = [0i16; FRAME];
                let mut payload = Vec::with_capacity(400);
                let mut buf = Vec::with_capacity(12 + FRAME);
                let (mut sequence, mut timestamp) =
                    (u16::try_from(ssrc & 0x7fff).unwrap_or(0), ssrc);
                let mut first = true;
                // The key being sent: (event, its timestamp, packets sent so far).
                let mut key: Option<(u8, u32, u16)> = None;
                loop {
                    ticker.tick().await;
                    source.read(&mut frame);
                    if key.is_none()
                        && let Ok(event) = dtmf_rx.try_recv()
                    {
                        key = Some((event, timestamp, 0));
                    }
                    if let Some((event, start, sent)) = key.as_mut() {
                        // Events replace the audio of their packets; the audio clock runs on.
                        let end = *sent >= DTMF_TICKS;
                        let duration = u16::try_from(
                            u32::from((*sent).min(DTMF_TICKS).saturating_add(1)) * step,
                        )
                        .unwrap_or(u16::MAX);
                        let volume = 10; // -10 dBm0
                        let body = [
                            *event,
                            if end { 0x80 | volume } else { volume },
                            (duration >> 8) as u8,
                            (duration & 0xff) as u8,
                        ];
                        rtp::write(
                            &Packet {
                                payload_type: telephone_event,
                                marker: *sent == 0,
                                sequence,
                                timestamp: *start,
                                ssrc,
                                payload: &body,
                            },
                            &mut buf,
                        );
                        if send(&socket, &buf, remote, encrypt.as_mut()).await {
                            stats.sent.fetch_add(1, Ordering::Relaxed);
                        }
                        sequence = sequence.wrapping_add(1);
                        timestamp = timestamp.wrapping_add(step);
                        *sent += 1;
                        // Three end packets, then back to audio.
                        if *sent >= DTMF_TICKS + 3 {
                            key = None;
                        }
                        continue;
                    }
                    if muted.load(Ordering::Relaxed) {
                        frame = [0; FRAME];
                    }
                    encoder.encode(&frame, &mut payload);
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
                    if send(&socket, &buf, remote, encrypt.as_mut()).await {
                        stats.sent.fetch_add(1, Ordering::Relaxed);
                    }
                    sequence = sequence.wrapping_add(1);
                    timestamp = timestamp.wrapping_add(step);
                }
            })
        };
        let jitter = Arc::new(std::sync::Mutex::new(JitterBuffer::new(codec.clock_rate())));
        let (quality_tx, quality) = tokio::sync::watch::channel(None);
        // Plays one frame every 20 ms from the jitter buffer, once the first has come.
        let playout = {
            let jitter = jitter.clone();
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(Duration::from_millis(20));
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                let mut playing = false;
                let mut ticks = 0u32;
                loop {
                    ticker.tick().await;
                    let (out, stats) = {
                        let Ok(mut jb) = jitter.lock() else { return };
                        (jb.pop(), jb.stats())
                    };
                    playing |= matches!(out, Playout::Frame(_));
                    if playing {
                        sink.write(out.samples());
                    }
                    ticks += 1;
                    if playing && ticks.is_multiple_of(QUALITY_TICKS) {
                        let _ = quality_tx.send(Some(Quality::new(
                            None,
                            stats.jitter_ms,
                            stats.loss_percent(),
                            stats.received,
                            stats.concealed,
                        )));
                    }
                }
            })
        };
        let receiver = {
            let stats = stats.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 2048];
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
                    let clear;
                    let bytes = match decrypt.as_mut() {
                        Some(ctx) => match ctx.decrypt_rtp(&buf[..n]) {
                            Ok(plain) => {
                                clear = plain;
                                &clear[..]
                            }
                            Err(_) => {
                                stats.dropped.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                        },
                        None => &buf[..n],
                    };
                    let Ok(packet) = rtp::parse(bytes) else {
                        stats.dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    // Telephone events and comfort noise are not audio to play.
                    let Some(pcm) = decoder.decode(packet.payload_type, packet.payload) else {
                        continue;
                    };
                    if let Ok(mut jb) = jitter.lock() {
                        jb.push(
                            std::time::Instant::now(),
                            packet.sequence,
                            packet.timestamp,
                            pcm,
                        );
                    }
                    stats.received.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        Ok(Self {
            local,
            stats,
            muted,
            dtmf,
            quality,
            tasks: vec![sender, receiver, playout],
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The call quality, refreshed every second once audio flows.
    pub fn quality(&self) -> tokio::sync::watch::Receiver<Option<Quality>> {
        self.quality.clone()
    }

    pub fn set_muted(&self, muted: bool) {
        self.muted.store(muted, Ordering::Relaxed);
    }

    /// Sends a keypad key as RFC 4733 telephone events; `false` for a key that is not one.
    pub fn send_dtmf(&self, key: char) -> bool {
        dtmf_event(key).is_some_and(|event| self.dtmf.send(event).is_ok())
    }
}

impl Drop for MediaSession {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Sends one RTP packet, encrypted first when the session is SRTP.
async fn send(
    socket: &UdpSocket,
    packet: &[u8],
    to: SocketAddr,
    encrypt: Option<&mut webrtc_srtp::context::Context>,
) -> bool {
    match encrypt {
        Some(ctx) => match ctx.encrypt_rtp(packet) {
            Ok(sealed) => socket.send_to(&sealed, to).await.is_ok(),
            Err(e) => {
                tracing::warn!(error = %e, "SRTP encrypt");
                false
            }
        },
        None => socket.send_to(packet, to).await.is_ok(),
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
