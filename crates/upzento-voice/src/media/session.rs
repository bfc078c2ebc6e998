//! The RTP session of a call: 20 ms frames from the source, encoded and sent on time;
//! packets from the other side decoded into the sink in sequence order. Stray
//! packets (another source, garbage) are counted and dropped. RTCP runs beside it on the
//! next port (reports every few seconds, see [`super::rtcp`]): it gives the round-trip
//! time of the quality estimate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use super::audio::{AudioSink, AudioSource, FRAME};
use super::dtls::DtlsSetup;
use super::g711;
use super::ice::{IceAgent, IceSetup};
use super::jitter::{JitterBuffer, Playout};
use super::quality::Quality;
use super::rtcp::{self as rtcp_mod, Rtcp};
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

/// The sockets of a session: RTP on an even port and RTCP on the next one (RFC 3550
/// §11), which is where a peer that reads no `a=rtcp` sends its reports.
#[derive(Debug)]
pub struct MediaSockets {
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

impl MediaSockets {
    /// Where RTP arrives (the port for the SDP).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.rtp.local_addr()
    }

    pub fn rtcp_addr(&self) -> std::io::Result<SocketAddr> {
        self.rtcp.local_addr()
    }
}

/// Where the other side takes RTP and RTCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub rtp: SocketAddr,
    pub rtcp: SocketAddr,
}

impl From<SocketAddr> for Peer {
    /// RTCP on the next port, as RFC 3550 §11 has it.
    fn from(rtp: SocketAddr) -> Self {
        Self {
            rtp,
            rtcp: SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1)),
        }
    }
}

/// How a session runs beyond its codec.
#[derive(Debug, Clone)]
pub struct Options {
    /// SRTP keys (SDES); `None` for plain RTP, or when `dtls` brings them.
    pub srtp: Option<Srtp>,
    /// SRTP keyed by a DTLS handshake on the RTP socket: no media flows until it is done.
    pub dtls: Option<DtlsSetup>,
    /// RTCP on the RTP port (RFC 5761) instead of the next one.
    pub rtcp_mux: bool,
    /// ICE: media goes to the pair its checks choose (nothing is sent before).
    pub ice: Option<IceSetup>,
    /// The mean time between RTCP reports.
    pub rtcp_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            srtp: None,
            dtls: None,
            rtcp_mux: false,
            ice: None,
            rtcp_interval: rtcp_mod::DEFAULT_INTERVAL,
        }
    }
}

/// The SRTP context of one direction of a stream: plain RTP, keys at hand, or keys
/// still to come from the DTLS handshake (nothing is sent or taken until then).
enum Protect {
    Plain,
    Ready(Box<webrtc_srtp::context::Context>),
    /// `ours`: encrypting with our key (else decrypting with theirs).
    Waiting(tokio::sync::watch::Receiver<Option<Srtp>>, bool),
}

/// What [`Protect::get`] says while the DTLS handshake runs.
struct NotYet;

impl Protect {
    fn new(
        srtp: Option<&Srtp>,
        dtls: Option<&tokio::sync::watch::Receiver<Option<Srtp>>>,
        ours: bool,
    ) -> std::io::Result<Self> {
        Ok(match (srtp, dtls) {
            (Some(keys), _) => Self::Ready(Box::new(srtp_context(if ours {
                &keys.ours
            } else {
                &keys.theirs
            })?)),
            (None, Some(rx)) => Self::Waiting(rx.clone(), ours),
            (None, None) => Self::Plain,
        })
    }

    /// The context (`None` for plain RTP), or [`NotYet`].
    fn get(&mut self) -> Result<Option<&mut webrtc_srtp::context::Context>, NotYet> {
        if let Self::Waiting(rx, ours) = self {
            let keys = rx.borrow().clone().ok_or(NotYet)?;
            let key = if *ours { &keys.ours } else { &keys.theirs };
            match srtp_context(key) {
                Ok(ctx) => *self = Self::Ready(Box::new(ctx)),
                Err(e) => {
                    tracing::warn!(error = %e, "SRTP context from DTLS keys");
                    return Err(NotYet);
                }
            }
        }
        match self {
            Self::Plain => Ok(None),
            Self::Ready(ctx) => Ok(Some(ctx)),
            Self::Waiting(..) => Err(NotYet),
        }
    }
}

/// Counters of a session, readable while it runs.
#[derive(Debug, Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub received: AtomicU64,
    /// Not RTP, or not from the peer we talk to.
    pub dropped: AtomicU64,
    pub rtcp_sent: AtomicU64,
    pub rtcp_received: AtomicU64,
}

/// Where a stream goes; changed when the far end moves.
type Destination = tokio::sync::watch::Sender<Option<SocketAddr>>;

#[derive(Debug)]
pub struct MediaSession {
    local: SocketAddr,
    stats: Arc<Stats>,
    muted: Arc<AtomicBool>,
    dtmf: tokio::sync::mpsc::UnboundedSender<u8>,
    quality: tokio::sync::watch::Receiver<Option<Quality>>,
    /// Why media cannot flow (the DTLS handshake failed), once it is known.
    failure: tokio::sync::watch::Receiver<Option<String>>,
    /// Where RTP and RTCP go, for a far end that moves (none with ICE: it decides).
    moves: Option<(Destination, Option<Destination>)>,
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
    /// Binds the RTP and RTCP sockets (an even port and the next), so the port can go
    /// into the SDP before the peer is known.
    pub async fn bind(ip: std::net::IpAddr) -> std::io::Result<MediaSockets> {
        let mut last_error = None;
        // The system hands out ports at random: a few tries find an even one with a free
        // neighbour.
        for _ in 0..64 {
            let rtp = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
            let port = rtp.local_addr()?.port();
            if port % 2 != 0 || port == u16::MAX {
                continue;
            }
            match UdpSocket::bind(SocketAddr::new(ip, port + 1)).await {
                Ok(rtcp) => return Ok(MediaSockets { rtp, rtcp }),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "no free pair of ports for RTP and RTCP",
            )
        }))
    }

    /// Starts sending to and receiving from `peer`, in plain RTP.
    /// `telephone_event`: the peer's payload type for RFC 4733 events (DTMF).
    pub fn start(
        sockets: MediaSockets,
        peer: impl Into<Peer>,
        codec: Codec,
        telephone_event: u8,
        source: Box<dyn AudioSource>,
        sink: Box<dyn AudioSink>,
    ) -> std::io::Result<Self> {
        Self::start_with(
            sockets,
            peer.into(),
            codec,
            telephone_event,
            source,
            sink,
            Options::default(),
        )
    }

    /// The same with `options`: in SRTP (and SRTCP) when they hold the keys, where
    /// packets that do not authenticate with the other side's key are dropped like any
    /// other garbage.
    pub fn start_with(
        sockets: MediaSockets,
        peer: Peer,
        codec: Codec,
        telephone_event: u8,
        mut source: Box<dyn AudioSource>,
        mut sink: Box<dyn AudioSink>,
        options: Options,
    ) -> std::io::Result<Self> {
        let Options {
            srtp,
            dtls,
            rtcp_mux,
            ice,
            rtcp_interval,
        } = options;
        let remote = peer.rtp;
        // Where media goes: the SDP's address, or the pair ICE chooses (none until then).
        let (dest_tx, dest) =
            tokio::sync::watch::channel(if ice.is_some() { None } else { Some(remote) });
        let mut dest_tx = Some(dest_tx);
        // With ICE, who media may come from: the addresses that passed its checks.
        let (peers_tx, peers) = tokio::sync::watch::channel(Vec::<SocketAddr>::new());
        // DTLS: the handshake's keys arrive here; its failure (or ICE's) ends the call.
        let (dtls_keys_tx, dtls_keys) = tokio::sync::watch::channel(None::<Srtp>);
        let (failure_tx, failure) = tokio::sync::watch::channel(None::<String>);
        let failure_tx = Arc::new(failure_tx);
        let dtls_keys = dtls.as_ref().map(|_| dtls_keys);
        let mut encrypt = Protect::new(srtp.as_ref(), dtls_keys.as_ref(), true)?;
        let mut decrypt = Protect::new(srtp.as_ref(), dtls_keys.as_ref(), false)?;
        let (dtmf, mut dtmf_rx) = tokio::sync::mpsc::unbounded_channel::<u8>();
        let MediaSockets {
            rtp: socket,
            rtcp: rtcp_socket,
        } = sockets;
        let local = socket.local_addr()?;
        let socket = Arc::new(socket);
        let stats = Arc::new(Stats::default());
        let muted = Arc::new(AtomicBool::new(false));
        let ssrc: u32 = rand_ssrc(local);
        let reports = Arc::new(std::sync::Mutex::new(Rtcp::new(
            Instant::now(),
            SystemTime::now(),
            ssrc,
            codec.clock_rate(),
            format!("upzento-{ssrc:08x}@{}", local.ip()),
            rtcp_interval,
        )));
        let mut encoder = Encoder::new(codec)?;
        let mut decoder = Decoder::new(codec)?;
        // RTP timestamp units per 20 ms frame.
        let step = codec.clock_rate() / 50;
        let sender = {
            let (socket, stats, muted) = (socket.clone(), stats.clone(), muted.clone());
            let dest = dest.clone();
            let reports = reports.clone();
            let sent_report = move |timestamp: u32, len: usize| {
                if let Ok(mut r) = reports.lock() {
                    r.on_sent(Instant::now(), timestamp, len);
                }
            };
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
                        let to = *dest.borrow();
                        if let (Some(to), Ok(ctx)) = (to, encrypt.get())
                            && send(&socket, &buf, to, ctx).await
                        {
                            stats.sent.fetch_add(1, Ordering::Relaxed);
                            sent_report(*start, body.len());
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
                    let to = *dest.borrow();
                    if let (Some(to), Ok(ctx)) = (to, encrypt.get())
                        && send(&socket, &buf, to, ctx).await
                    {
                        stats.sent.fetch_add(1, Ordering::Relaxed);
                        sent_report(timestamp, payload.len());
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
            let reports = reports.clone();
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
                        let rtt = reports
                            .lock()
                            .ok()
                            .and_then(|r| r.rtt())
                            .map(|d| d.as_secs_f64() * 1000.0);
                        let _ = quality_tx.send(Some(Quality::new(
                            rtt,
                            stats.jitter_ms,
                            stats.loss_percent(),
                            stats.received,
                            stats.concealed,
                        )));
                    }
                }
            })
        };
        let (dtls_in, dtls_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        let (stun_in, stun_rx) = tokio::sync::mpsc::unbounded_channel::<(SocketAddr, Vec<u8>)>();
        let receiver = {
            let stats = stats.clone();
            let reports = reports.clone();
            let socket = socket.clone();
            let dtls_in = dtls.as_ref().map(|_| dtls_in);
            let stun_in = ice.as_ref().map(|_| stun_in);
            let peers = peers.clone();
            let dest = dest.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 2048];
                // The SSRC being played: a new one restarts the jitter buffer.
                let mut source: Option<u32> = None;
                // Where the peer's media really comes from, when that is not the SDP's
                // address (behind NAT, or a host that writes one interface's address and
                // sends from another): latched on its first packet, as long as nothing
                // came from the SDP's address (RFC 4961's symmetric RTP, "comedia").
                let mut latched: Option<std::net::IpAddr> = None;
                let mut from_sdp_address = false;
                loop {
                    let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                        return;
                    };
                    // ICE's checks (RFC 7983) go to it: their credentials say whose they are.
                    if let Some(tx) = &stun_in
                        && IceAgent::is_stun(&buf[..n])
                    {
                        let _ = tx.send((from, buf[..n].to_vec()));
                        continue;
                    }
                    // Symmetric RTP: only the peer's address (its port may differ from the
                    // SDP behind NAT, not on loopback) is listened to; with ICE, the pair's.
                    let expected = if stun_in.is_some() {
                        peers.borrow().contains(&from)
                    } else if dest.borrow().is_some_and(|to| to.ip() == from.ip()) {
                        from_sdp_address = true;
                        true
                    } else if latched == Some(from.ip()) {
                        !from_sdp_address
                    } else if latched.is_none() && !from_sdp_address && looks_like_rtp(&buf[..n]) {
                        tracing::info!(%from, "media comes from another address than the SDP says; following it");
                        latched = Some(from.ip());
                        true
                    } else {
                        false
                    };
                    if !expected {
                        stats.dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    // The DTLS handshake's packets (RFC 7983) go to it.
                    if super::dtls::is_dtls(&buf[..n]) {
                        if let Some(tx) = &dtls_in {
                            let _ = tx.send(buf[..n].to_vec());
                        } else {
                            stats.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        continue;
                    }
                    // Keys still to come: nothing can be read yet.
                    let Ok(decrypt) = decrypt.get() else {
                        stats.dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    // RTCP muxed onto the RTP port (RFC 5761), from a peer that does so.
                    if rtcp_mod::is_rtcp(&buf[..n]) {
                        let clear = match decrypt {
                            Some(ctx) => ctx.decrypt_rtcp(&buf[..n]).ok().map(|b| b.to_vec()),
                            None => Some(buf[..n].to_vec()),
                        };
                        if let (Some(clear), Ok(mut r)) = (clear, reports.lock()) {
                            r.handle_input(Instant::now(), &clear);
                            stats.rtcp_received.fetch_add(1, Ordering::Relaxed);
                        }
                        continue;
                    }
                    let clear;
                    let bytes = match decrypt {
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
                    if let Ok(mut r) = reports.lock() {
                        r.on_received(
                            Instant::now(),
                            packet.ssrc,
                            packet.sequence,
                            packet.timestamp,
                        );
                    }
                    // Telephone events and comfort noise are not audio to play.
                    let Some(pcm) = decoder.decode(packet.payload_type, packet.payload) else {
                        continue;
                    };
                    if let Ok(mut jb) = jitter.lock() {
                        if source.is_some_and(|s| s != packet.ssrc) {
                            jb.restart();
                        }
                        source = Some(packet.ssrc);
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
        let mut tasks = vec![sender, receiver, playout];
        if let Some(setup) = ice {
            let (socket, failure_tx) = (socket.clone(), failure_tx.clone());
            tasks.push(tokio::spawn(run_ice(
                socket,
                setup,
                stun_rx,
                (dest_tx.take().expect("ICE's destination"), peers_tx),
                failure_tx,
            )));
        }
        if let Some(setup) = dtls {
            let (socket, keys_tx, failure_tx) = (socket.clone(), dtls_keys_tx, failure_tx.clone());
            let mut dest = dest.clone();
            tasks.push(tokio::spawn(async move {
                // Over ICE, the handshake waits for the pair.
                let Ok(peer) = dest
                    .wait_for(Option::is_some)
                    .await
                    .map(|d| d.unwrap_or(remote))
                else {
                    return;
                };
                match super::dtls::handshake(socket, peer, dtls_rx, setup).await {
                    Ok((keys, connection)) => {
                        tracing::info!(suite = ?keys.ours.suite, "DTLS-SRTP keys agreed");
                        let _ = keys_tx.send(Some(keys));
                        // Kept for the call: it answers a peer that repeats its last flight.
                        std::future::pending::<()>().await;
                        drop(connection);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "DTLS-SRTP");
                        let _ = failure_tx.send(Some(e));
                    }
                }
            }));
        }
        // Muxed: reports go out on the RTP socket (to wherever media goes) and come in
        // through the receiver.
        let (rtcp_out, rtcp_in, rtcp_to, rtcp_moves) = if rtcp_mux {
            (socket.clone(), None, dest.clone(), None)
        } else {
            let (moves, to) = tokio::sync::watch::channel(Some(peer.rtcp));
            (Arc::new(rtcp_socket), Some(()), to, Some(moves))
        };
        tasks.push(tokio::spawn(run_rtcp(
            rtcp_out,
            rtcp_in.is_some(),
            rtcp_to,
            reports,
            stats.clone(),
            (
                Protect::new(srtp.as_ref(), dtls_keys.as_ref(), true)?,
                Protect::new(srtp.as_ref(), dtls_keys.as_ref(), false)?,
            ),
        )));
        Ok(Self {
            local,
            stats,
            muted,
            dtmf,
            quality,
            failure,
            moves: dest_tx.map(|rtp| (rtp, rtcp_moves)),
            tasks,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The far end moved its media (a re-INVITE with a new address): send there, and
    /// take its packets from there. `false` with ICE, where the checks decide.
    pub fn move_peer(&self, peer: Peer) -> bool {
        let Some((rtp, rtcp)) = &self.moves else {
            return false;
        };
        rtp.send_replace(Some(peer.rtp));
        if let Some(rtcp) = rtcp {
            rtcp.send_replace(Some(peer.rtcp));
        }
        true
    }

    /// Why media cannot flow, once known (the DTLS handshake failed): the call should end.
    pub fn failure(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.failure.clone()
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

/// Sends our reports when they are due and reads the other side's: on the RTCP socket
/// (`listen`), or only sending on the RTP socket when RTCP is muxed (the receiver reads
/// them there). SRTCP with the session's keys when it is SRTP.
async fn run_rtcp(
    socket: Arc<UdpSocket>,
    listen: bool,
    to: tokio::sync::watch::Receiver<Option<SocketAddr>>,
    reports: Arc<std::sync::Mutex<Rtcp>>,
    stats: Arc<Stats>,
    // Contexts of their own: SRTCP keeps its own index and replay window.
    (mut encrypt, mut decrypt): (Protect, Protect),
) {
    let mut buf = vec![0u8; 1500];
    loop {
        let due = match reports.lock() {
            Ok(r) => r.poll_timeout(),
            Err(_) => return,
        };
        let received = async {
            if listen {
                socket.recv_from(&mut buf).await
            } else {
                std::future::pending().await
            }
        };
        tokio::select! {
            () = tokio::time::sleep_until(due.into()) => {
                let packet = match reports.lock() {
                    Ok(mut r) => r.poll_output(Instant::now()),
                    Err(_) => return,
                };
                let Some(packet) = packet else { continue };
                let sealed = match encrypt.get() {
                    Ok(Some(ctx)) => match ctx.encrypt_rtcp(&packet) {
                        Ok(b) => b.to_vec(),
                        Err(e) => {
                            tracing::warn!(error = %e, "SRTCP encrypt");
                            continue;
                        }
                    },
                    Ok(None) => packet,
                    Err(NotYet) => continue,
                };
                let dest = *to.borrow();
                if let Some(dest) = dest
                    && socket.send_to(&sealed, dest).await.is_ok()
                {
                    stats.rtcp_sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            received = received => {
                let Ok((n, from)) = received else { return };
                if to.borrow().is_none_or(|to| from.ip() != to.ip()) {
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let clear = match decrypt.get() {
                    Ok(Some(ctx)) => match ctx.decrypt_rtcp(&buf[..n]) {
                        Ok(b) => b.to_vec(),
                        Err(_) => {
                            stats.dropped.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    },
                    Ok(None) => buf[..n].to_vec(),
                    Err(NotYet) => continue,
                };
                if let Ok(mut r) = reports.lock() {
                    r.handle_input(Instant::now(), &clear);
                }
                stats.rtcp_received.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Runs ICE on the RTP socket: checks out, STUN in, and the chosen pair published to
/// the tasks that send; a failure (no pair, consent lost) ends the call.
async fn run_ice(
    socket: Arc<UdpSocket>,
    setup: IceSetup,
    mut stun: tokio::sync::mpsc::UnboundedReceiver<(SocketAddr, Vec<u8>)>,
    (dest, peers): (
        tokio::sync::watch::Sender<Option<SocketAddr>>,
        tokio::sync::watch::Sender<Vec<SocketAddr>>,
    ),
    failure: Arc<tokio::sync::watch::Sender<Option<String>>>,
) {
    let mut tie_breaker = [0u8; 8];
    let _ = getrandom::fill(&mut tie_breaker);
    let mut agent = IceAgent::new(Instant::now(), setup, u64::from_be_bytes(tie_breaker));
    loop {
        agent.handle_timeout(Instant::now());
        while let Some((to, packet)) = agent.poll_transmit() {
            let _ = socket.send_to(&packet, to).await;
        }
        if agent.verified() != peers.borrow().as_slice() {
            peers.send_replace(agent.verified().to_vec());
        }
        if agent.selected() != *dest.borrow() {
            tracing::info!(pair = ?agent.selected(), "ICE chose the media path");
            dest.send_replace(agent.selected());
        }
        if let Some(why) = agent.failed() {
            tracing::warn!(%why, "ICE");
            failure.send_replace(Some(why.to_owned()));
            return;
        }
        let Some(wake) = agent.poll_timeout() else {
            return;
        };
        tokio::select! {
            () = tokio::time::sleep_until(wake.into()) => {}
            received = stun.recv() => {
                let Some((from, packet)) = received else { return };
                agent.handle_stun(Instant::now(), from, &packet);
            }
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

/// An RTP or RTCP packet by its first byte (version 2), or DTLS/SRTP's: worth latching on.
fn looks_like_rtp(packet: &[u8]) -> bool {
    packet.len() >= 12 && packet[0] >> 6 == 2
}
