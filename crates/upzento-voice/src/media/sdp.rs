//! SDP offer/answer for SIP audio (RFC 3264, RFC 4566). Offers and answers are written
//! here; what the other side sends is parsed with `webrtc-sdp` (the parser Firefox
//! uses), tolerant of what it does not need.

use std::net::{IpAddr, SocketAddr};

use webrtc_sdp::attribute_type::{SdpAttribute, SdpAttributeType};
use webrtc_sdp::media_type::SdpMediaValue;

/// The audio codecs offered, in order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Opus (RFC 7587) with its dynamic payload type: ours in offers, theirs in answers.
    Opus(u8),
    Pcmu,
    Pcma,
}

/// Our payload type for Opus in offers.
pub const OPUS: u8 = 111;

impl Codec {
    pub fn payload_type(self) -> u8 {
        match self {
            Self::Opus(pt) => pt,
            Self::Pcmu => 0,
            Self::Pcma => 8,
        }
    }

    /// The RTP clock: 48 kHz for Opus whatever it codes (RFC 7587 §4.1), 8 kHz for G.711.
    pub fn clock_rate(self) -> u32 {
        match self {
            Self::Opus(_) => 48_000,
            Self::Pcmu | Self::Pcma => 8000,
        }
    }

    fn rtpmap(self) -> String {
        match self {
            Self::Opus(pt) => {
                format!("a=rtpmap:{pt} opus/48000/2\r\na=fmtp:{pt} minptime=10;useinbandfec=1\r\n")
            }
            Self::Pcmu => "a=rtpmap:0 PCMU/8000\r\n".into(),
            Self::Pcma => "a=rtpmap:8 PCMA/8000\r\n".into(),
        }
    }

    fn static_payload_type(pt: u32) -> Option<Self> {
        match pt {
            0 => Some(Self::Pcmu),
            8 => Some(Self::Pcma),
            _ => None,
        }
    }
}

/// RFC 4733 telephone events (DTMF) at 8 kHz use this dynamic payload type in our offers.
pub const TELEPHONE_EVENT: u8 = 101;
/// ... and at 48 kHz, for calls in Opus (events share the audio's RTP clock).
pub const TELEPHONE_EVENT_48K: u8 = 110;

/// The SRTP suites we take in SDES keys (RFC 4568 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptoSuite {
    AesCm128HmacSha1_80,
    AesCm128HmacSha1_32,
}

impl CryptoSuite {
    fn name(self) -> &'static str {
        match self {
            Self::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Self::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "AES_CM_128_HMAC_SHA1_80" => Some(Self::AesCm128HmacSha1_80),
            "AES_CM_128_HMAC_SHA1_32" => Some(Self::AesCm128HmacSha1_32),
            _ => None,
        }
    }
}

/// An SDES master key and salt (16 + 14 bytes) for one direction of SRTP, as an
/// `a=crypto` line carries it. Its Debug output hides the key.
#[derive(Clone, PartialEq, Eq)]
pub struct SdesKey {
    pub tag: u32,
    pub suite: CryptoSuite,
    pub key_salt: [u8; 30],
}

impl std::fmt::Debug for SdesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SdesKey")
            .field("tag", &self.tag)
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl SdesKey {
    /// A fresh random key (the system's CSPRNG).
    pub fn generate(tag: u32, suite: CryptoSuite) -> Result<Self, String> {
        let mut key_salt = [0u8; 30];
        getrandom::fill(&mut key_salt).map_err(|e| e.to_string())?;
        Ok(Self {
            tag,
            suite,
            key_salt,
        })
    }

    fn attribute(&self) -> String {
        use base64::Engine as _;
        format!(
            "a=crypto:{} {} inline:{}\r\n",
            self.tag,
            self.suite.name(),
            base64::engine::general_purpose::STANDARD.encode(self.key_salt)
        )
    }

    /// `a=crypto:<tag> <suite> inline:<key||salt>[|lifetime][|MKI] [params]`; `None` for
    /// suites or forms we do not take.
    fn parse(value: &str) -> Option<Self> {
        use base64::Engine as _;
        let mut fields = value.split_whitespace();
        let tag = fields.next()?.parse().ok()?;
        let suite = CryptoSuite::parse(fields.next()?)?;
        let inline = fields.next()?.strip_prefix("inline:")?;
        let material = inline.split('|').next()?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(material)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(material))
            .ok()?;
        Some(Self {
            tag,
            suite,
            key_salt: bytes.try_into().ok()?,
        })
    }
}

/// Which way media flows (a=sendrecv, sendonly: on hold, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn attribute(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }
}

/// Who opens the DTLS handshake (RFC 4145 `a=setup`, as RFC 5763 uses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// We connect (the DTLS client).
    Active,
    /// We wait for the other side.
    Passive,
    /// Either: what an offer says; the answer decides.
    ActPass,
}

impl Setup {
    fn attribute(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Passive => "passive",
            Self::ActPass => "actpass",
        }
    }
}

/// Our DTLS-SRTP parameters (RFC 5763): the certificate's fingerprint and the role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalDtls {
    /// SHA-256 of our certificate.
    pub fingerprint: Vec<u8>,
    pub setup: Setup,
}

/// The other side's DTLS-SRTP parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteDtls {
    /// SHA-256 of its certificate (other hashes are not taken).
    pub fingerprint: Vec<u8>,
    pub setup: Setup,
}

/// Our side of the session: where we receive, what we offer.
#[derive(Debug, Clone)]
pub struct LocalAudio {
    pub address: SocketAddr,
    pub codecs: Vec<Codec>,
    pub direction: Direction,
    /// Increases with each new offer of this session (RFC 3264 §8).
    pub version: u64,
    pub session_id: u64,
    /// Our SRTP key (SDES): the stream is `RTP/SAVP` with an `a=crypto` line.
    pub crypto: Option<SdesKey>,
    /// SRTP keyed by DTLS: the stream is `UDP/TLS/RTP/SAVP` with a fingerprint.
    pub dtls: Option<LocalDtls>,
    /// RTCP on the RTP port (RFC 5761): offered with DTLS, answered when offered.
    pub rtcp_mux: bool,
    /// ICE (RFC 8445, RFC 8839): our credentials, and our address as the host candidate.
    pub ice: Option<super::ice::IceCredentials>,
    /// Telephone events (payload type, clock) to list: `None` in an offer (ours, one per
    /// codec clock); in an answer only what the offer had, with its numbers (RFC 3264 §6.1).
    pub events: Option<Vec<(u8, u32)>>,
}

impl LocalAudio {
    /// The SDP body (an offer, or an answer when `codecs` holds the chosen one).
    pub fn to_sdp(&self) -> String {
        let ip = self.address.ip();
        let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
        let mut formats: Vec<String> = self
            .codecs
            .iter()
            .map(|c| c.payload_type().to_string())
            .collect();
        let events = self.events.clone().unwrap_or_else(|| {
            let mut ours = Vec::new();
            if self.codecs.iter().any(|c| matches!(c, Codec::Opus(_))) {
                ours.push((TELEPHONE_EVENT_48K, 48_000));
            }
            if self.codecs.iter().any(|c| c.clock_rate() == 8000) {
                ours.push((TELEPHONE_EVENT, 8000));
            }
            ours
        });
        formats.extend(events.iter().map(|(pt, _)| pt.to_string()));
        let mut sdp = format!(
            "v=0\r\no=upzento {} {} IN {family} {ip}\r\ns=Upzento Phone\r\nc=IN {family} {ip}\r\nt=0 0\r\nm=audio {} {} {}\r\n",
            self.session_id,
            self.version,
            self.address.port(),
            if self.dtls.is_some() {
                "UDP/TLS/RTP/SAVP"
            } else if self.crypto.is_some() {
                "RTP/SAVP"
            } else {
                "RTP/AVP"
            },
            formats.join(" ")
        );
        if let Some(crypto) = &self.crypto {
            sdp.push_str(&crypto.attribute());
        }
        if let Some(dtls) = &self.dtls {
            sdp.push_str(&format!(
                "a=fingerprint:sha-256 {}\r\na=setup:{}\r\n",
                super::dtls::fingerprint_text(&dtls.fingerprint),
                dtls.setup.attribute()
            ));
        }
        if self.rtcp_mux {
            sdp.push_str("a=rtcp-mux\r\n");
        }
        if let Some(ice) = &self.ice {
            sdp.push_str(&format!(
                "a=ice-ufrag:{}\r\na=ice-pwd:{}\r\na=candidate:1 1 UDP {} {} {} typ host\r\n",
                ice.ufrag,
                ice.pwd,
                super::ice::HOST_PRIORITY,
                self.address.ip(),
                self.address.port()
            ));
        }
        for codec in &self.codecs {
            sdp.push_str(&codec.rtpmap());
        }
        for (pt, clock) in &events {
            sdp.push_str(&format!(
                "a=rtpmap:{pt} telephone-event/{clock}\r\na=fmtp:{pt} 0-16\r\n"
            ));
        }
        sdp.push_str(&format!(
            "a=ptime:20\r\na={}\r\n",
            self.direction.attribute()
        ));
        sdp
    }
}

/// The other side's audio, as its offer or answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteAudio {
    /// Where to send RTP; port 0 means the stream is refused.
    pub address: SocketAddr,
    /// Where to send RTCP: its `a=rtcp` (RFC 3605), else the next port (RFC 3550 §11).
    pub rtcp: SocketAddr,
    /// Codecs it accepts that we support, in its order.
    pub codecs: Vec<Codec>,
    /// Its payload types for telephone events, with their clock rates.
    pub telephone_events: Vec<(u8, u32)>,
    pub direction: Direction,
    /// The stream is SRTP (`RTP/SAVP`): media only with one of `crypto`.
    pub secure: bool,
    /// Its SDES keys we could use, in its order.
    pub crypto: Vec<SdesKey>,
    /// DTLS-SRTP (`UDP/TLS/RTP/SAVP(F)` with a SHA-256 fingerprint we can check).
    pub dtls: Option<RemoteDtls>,
    /// It sends and takes RTCP on the RTP port (RFC 5761).
    pub rtcp_mux: bool,
    /// Its ICE credentials and UDP candidates (component 1), when it does ICE.
    pub ice: Option<super::ice::RemoteIce>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("not valid SDP: {0}")]
    Parse(String),
    #[error("no audio stream")]
    NoAudio,
    #[error("no connection address for the audio")]
    NoAddress,
    #[error("no codec in common")]
    NoCodec,
}

/// The session description in `body`. An attribute line that cannot be read is left out
/// rather than failing the whole offer (RFC 8866 §5.13: attributes a receiver does not
/// understand are ignored): RFC 4475's messages offer `a=rtpmap:31 LPC`, with no clock
/// rate, for a video stream, and a phone that rejects the call over it loses the audio.
fn parse_lenient(body: &str) -> Result<webrtc_sdp::SdpSession, SdpError> {
    let mut lines: Vec<&str> = body.lines().collect();
    loop {
        let text: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
        match webrtc_sdp::parse_sdp(&text, false) {
            Ok(session) => return Ok(session),
            Err(
                webrtc_sdp::error::SdpParserError::Line { line, .. }
                | webrtc_sdp::error::SdpParserError::Unsupported { line, .. },
            ) if line.starts_with("a=") => {
                let before = lines.len();
                lines.retain(|l| l.trim_end() != line.trim_end());
                if lines.len() == before {
                    return Err(SdpError::Parse(format!("unreadable attribute {line}")));
                }
            }
            Err(e) => return Err(SdpError::Parse(e.to_string())),
        }
    }
}

pub fn parse_remote(body: &str) -> Result<RemoteAudio, SdpError> {
    let session = parse_lenient(body)?;
    let media = session
        .media
        .iter()
        .find(|m| *m.get_type() == SdpMediaValue::Audio)
        .ok_or(SdpError::NoAudio)?;
    let connection = media
        .get_connection()
        .as_ref()
        .or(session.get_connection().as_ref())
        .ok_or(SdpError::NoAddress)?;
    // A domain name here would need a DNS lookup: we ask the other side for addresses.
    let ip: IpAddr = match &connection.address {
        webrtc_sdp::address::ExplicitlyTypedAddress::Ip(ip) => *ip,
        webrtc_sdp::address::ExplicitlyTypedAddress::Fqdn { .. } => {
            return Err(SdpError::NoAddress);
        }
    };
    let port = u16::try_from(media.get_port()).map_err(|_| SdpError::NoAddress)?;
    use webrtc_sdp::media_type::SdpProtocolValue;
    let dtls_profile = matches!(
        media.get_proto(),
        SdpProtocolValue::UdpTlsRtpSavp | SdpProtocolValue::UdpTlsRtpSavpf
    );
    let secure = dtls_profile
        || matches!(
            media.get_proto(),
            SdpProtocolValue::RtpSavp | SdpProtocolValue::RtpSavpf
        );
    let media_or_session = |t: SdpAttributeType| {
        media
            .get_attribute(t.clone())
            .or_else(|| session.get_attribute(t))
    };
    // Read from the text: webrtc-sdp drops a fingerprint whose hash is in capitals
    // (baresip writes `SHA-256`), and DTLS attributes may sit at session level.
    let dtls = if dtls_profile {
        let audio = audio_section(body);
        let session_part = session_section(body);
        let attribute = |name: &str| {
            let prefix = format!("a={name}:");
            audio
                .lines()
                .chain(session_part.lines())
                .find_map(|l| l.trim().strip_prefix(prefix.as_str()).map(str::to_owned))
        };
        let fingerprint = audio
            .lines()
            .chain(session_part.lines())
            .filter_map(|l| l.trim().strip_prefix("a=fingerprint:"))
            .find_map(parse_sha256_fingerprint);
        let setup = match attribute("setup").as_deref().map(str::trim) {
            Some(s) if s.eq_ignore_ascii_case("active") => Setup::Active,
            Some(s) if s.eq_ignore_ascii_case("passive") => Setup::Passive,
            Some(_) => Setup::ActPass,
            // RFC 4145 §4: absent means active.
            None => Setup::Active,
        };
        fingerprint.map(|fingerprint| RemoteDtls { fingerprint, setup })
    } else {
        None
    };
    let rtcp_mux = media_or_session(SdpAttributeType::RtcpMux).is_some();
    let ice = remote_ice(body);
    // webrtc-sdp keeps no a=crypto (WebRTC has none): read them from the audio section.
    let crypto = audio_section(body)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("a=crypto:"))
        .filter_map(SdesKey::parse)
        .collect();
    let formats: Vec<u32> = match media.get_formats() {
        webrtc_sdp::media_type::SdpFormatList::Integers(list) => list.clone(),
        _ => Vec::new(),
    };
    let rtpmaps: Vec<_> = media
        .get_attributes_of_type(SdpAttributeType::Rtpmap)
        .into_iter()
        .filter_map(|a| match a {
            SdpAttribute::Rtpmap(map) => Some(map),
            _ => None,
        })
        .collect();
    let codecs: Vec<Codec> = formats
        .iter()
        .filter_map(|pt| {
            Codec::static_payload_type(*pt).or_else(|| {
                rtpmaps
                    .iter()
                    .find(|m| u32::from(m.payload_type) == *pt)
                    .filter(|m| m.codec_name.eq_ignore_ascii_case("opus") && m.frequency == 48_000)
                    .map(|m| Codec::Opus(m.payload_type))
            })
        })
        .collect();
    if codecs.is_empty() && port != 0 {
        return Err(SdpError::NoCodec);
    }
    let telephone_events = rtpmaps
        .iter()
        .filter(|m| m.codec_name.eq_ignore_ascii_case("telephone-event"))
        .map(|m| (m.payload_type, m.frequency))
        .collect();
    let direction = [
        (SdpAttributeType::Sendonly, Direction::SendOnly),
        (SdpAttributeType::Recvonly, Direction::RecvOnly),
        (SdpAttributeType::Inactive, Direction::Inactive),
    ]
    .into_iter()
    .find(|(t, _)| {
        media.get_attribute(t.clone()).is_some() || session.get_attribute(t.clone()).is_some()
    })
    .map_or(Direction::SendRecv, |(_, d)| d);
    let rtcp = media
        .get_attribute(SdpAttributeType::Rtcp)
        .and_then(|a| match a {
            SdpAttribute::Rtcp(rtcp) => Some(rtcp),
            _ => None,
        })
        .map_or_else(
            || SocketAddr::new(ip, port.wrapping_add(1)),
            |rtcp| {
                let at = match &rtcp.unicast_addr {
                    Some(webrtc_sdp::address::ExplicitlyTypedAddress::Ip(addr)) => *addr,
                    _ => ip,
                };
                SocketAddr::new(at, rtcp.port)
            },
        );
    Ok(RemoteAudio {
        address: SocketAddr::new(ip, port),
        rtcp,
        codecs,
        telephone_events,
        direction,
        secure,
        crypto,
        dtls,
        rtcp_mux,
        ice,
    })
}

/// ICE credentials (audio section, else session level) and the UDP candidates of
/// component 1, highest priority first. Read from the text: webrtc-sdp wants every
/// candidate well-formed or drops the lot.
fn remote_ice(body: &str) -> Option<super::ice::RemoteIce> {
    let audio = audio_section(body);
    let session_part = session_section(body);
    let attribute = |name: &str| {
        let prefix = format!("a={name}:");
        audio.lines().chain(session_part.lines()).find_map(|l| {
            l.trim()
                .strip_prefix(prefix.as_str())
                .map(|v| v.trim().to_owned())
        })
    };
    let (ufrag, pwd) = (attribute("ice-ufrag")?, attribute("ice-pwd")?);
    let mut candidates: Vec<(u32, SocketAddr)> = audio
        .lines()
        .filter_map(|l| l.trim().strip_prefix("a=candidate:"))
        .filter_map(|c| {
            // foundation component transport priority address port typ type …
            let f: Vec<&str> = c.split_whitespace().collect();
            if f.len() < 8 || f[1] != "1" || !f[2].eq_ignore_ascii_case("udp") {
                return None;
            }
            let priority: u32 = f[3].parse().ok()?;
            let ip: IpAddr = f[4].parse().ok()?;
            let port: u16 = f[5].parse().ok()?;
            Some((priority, SocketAddr::new(ip, port)))
        })
        .collect();
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    Some(super::ice::RemoteIce {
        ufrag,
        pwd,
        candidates: candidates.into_iter().map(|(_, a)| a).collect(),
    })
}

/// `sha-256 AB:CD:…` as bytes; `None` for another hash or a malformed value.
fn parse_sha256_fingerprint(value: &str) -> Option<Vec<u8>> {
    let (hash, hex) = value.trim().split_once(' ')?;
    if !hash.eq_ignore_ascii_case("sha-256") {
        return None;
    }
    let bytes: Option<Vec<u8>> = hex
        .trim()
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).ok())
        .collect();
    bytes.filter(|b| b.len() == 32)
}

/// The session-level lines of `body` (before the first m-section).
fn session_section(body: &str) -> String {
    body.lines()
        .take_while(|l| !l.starts_with("m="))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The lines of the first audio m-section of `body`.
fn audio_section(body: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in body.lines() {
        if line.starts_with("m=") {
            if inside {
                break;
            }
            inside = line.starts_with("m=audio");
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

impl RemoteAudio {
    /// The payload type of its telephone events at `clock` Hz (the audio codec's clock).
    pub fn telephone_event(&self, clock: u32) -> Option<u8> {
        self.telephone_events
            .iter()
            .find(|(_, rate)| *rate == clock)
            .map(|(pt, _)| *pt)
    }

    /// The telephone events an answer choosing `codec` lists: the offer's at the codec's
    /// clock (RFC 4733 §2.1), under the offer's number; none when it offered none.
    pub fn answer_events(&self, codec: Codec) -> Vec<(u8, u32)> {
        self.telephone_event(codec.clock_rate())
            .map(|pt| (pt, codec.clock_rate()))
            .into_iter()
            .collect()
    }
}

/// Our answer (session lines and one audio section, as [`LocalAudio::to_sdp`] writes it)
/// shaped to the offer it answers: one media section per offered one, in the offer's order
/// (RFC 3264 §6). The first audio section is ours; every other is refused with port 0,
/// keeping its media type, transport and formats.
pub fn fit_answer(answer: &str, offer: &str) -> String {
    let Some(at) = answer.find("m=") else {
        return answer.to_owned();
    };
    let (session, audio) = answer.split_at(at);
    let mut out = session.to_owned();
    let mut audio_used = false;
    for line in offer.lines().filter_map(|l| l.trim().strip_prefix("m=")) {
        let mut fields = line.split_whitespace();
        let kind = fields.next().unwrap_or("audio");
        if kind == "audio" && !audio_used {
            audio_used = true;
            out.push_str(audio);
            continue;
        }
        let _port = fields.next();
        let proto = fields.next().unwrap_or("RTP/AVP");
        let formats: Vec<&str> = fields.collect();
        let formats = if formats.is_empty() {
            "0".to_owned()
        } else {
            formats.join(" ")
        };
        out.push_str(&format!("m={kind} 0 {proto} {formats}\r\n"));
    }
    if !audio_used {
        out.push_str(audio);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_attribute_is_left_out_not_the_offer() {
        // RFC 4475's offer: rtpmap without a clock rate on the video stream.
        let offer = "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.1\r\ns=-\r\n\
            c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\n\
            m=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n";
        let remote = parse_remote(offer).unwrap();
        assert_eq!(
            remote.address,
            "192.0.2.1:49217".parse::<SocketAddr>().unwrap()
        );
        assert!(matches!(
            parse_remote("v=0\r\nthis is not SDP\r\n"),
            Err(SdpError::Parse(_))
        ));
    }

    #[test]
    fn our_offer_parses_and_a_baresip_answer_is_understood() {
        let ours = LocalAudio {
            events: None,
            address: "127.0.0.1:40000".parse().unwrap(),
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            direction: Direction::SendRecv,
            version: 1,
            session_id: 42,
            crypto: None,
            dtls: None,
            rtcp_mux: false,
            ice: None,
        };
        let back = parse_remote(&ours.to_sdp()).unwrap();
        assert_eq!(back.address, ours.address);
        assert_eq!(
            back.rtcp,
            "127.0.0.1:40001".parse::<SocketAddr>().unwrap(),
            "RTP port + 1"
        );
        assert_eq!(back.codecs, vec![Codec::Pcmu, Codec::Pcma]);
        assert_eq!(back.telephone_event(8000), Some(101));
        assert_eq!(back.direction, Direction::SendRecv);

        let answer = "v=0\r\no=- 1871566637 1455101432 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
            m=audio 10004 RTP/AVP 0 101\r\nb=AS:80\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
            a=fmtp:101 0-15\r\na=sendonly\r\na=label:1\r\na=ssrc:2112 cname:xyz\r\n";
        let remote = parse_remote(answer).unwrap();
        assert_eq!(
            remote.address,
            "127.0.0.1:10004".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(remote.codecs, vec![Codec::Pcmu]);
        assert_eq!(remote.direction, Direction::SendOnly);
        let elsewhere = answer.replace("a=label:1\r\n", "a=rtcp:10009 IN IP4 127.0.0.2\r\n");
        assert_eq!(
            parse_remote(&elsewhere).unwrap().rtcp,
            "127.0.0.2:10009".parse::<SocketAddr>().unwrap()
        );

        assert!(matches!(parse_remote("not sdp"), Err(SdpError::Parse(_))));
        let video_only = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n";
        assert_eq!(parse_remote(video_only), Err(SdpError::NoAudio));
        let opus_only = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 96 97\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:97 telephone-event/48000\r\n";
        let opus = parse_remote(opus_only).unwrap();
        assert_eq!(opus.codecs, vec![Codec::Opus(96)]);
        assert_eq!(opus.telephone_event(48_000), Some(97));
        let speex = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 98\r\na=rtpmap:98 speex/8000\r\n";
        assert_eq!(parse_remote(speex), Err(SdpError::NoCodec));

        // Offering Opus too: both event clocks, Opus first.
        let both = LocalAudio {
            events: None,
            codecs: vec![Codec::Opus(OPUS), Codec::Pcmu],
            ..ours
        };
        let back = parse_remote(&both.to_sdp()).unwrap();
        assert_eq!(back.codecs, vec![Codec::Opus(111), Codec::Pcmu]);
        assert_eq!(back.telephone_event(48_000), Some(110));
        assert_eq!(back.telephone_event(8000), Some(101));
        assert!(!back.secure && back.crypto.is_empty());

        // SRTP: RTP/SAVP with our key, read back whole; baresip's form with a lifetime.
        let key = SdesKey::generate(1, CryptoSuite::AesCm128HmacSha1_80).unwrap();
        let secure = LocalAudio {
            events: None,
            crypto: Some(key.clone()),
            ..both
        };
        let sdp = secure.to_sdp();
        assert!(
            sdp.contains("RTP/SAVP") && sdp.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:")
        );
        assert!(
            !format!("{key:?}").contains(&format!("{:?}", key.key_salt)),
            "Debug hides the key"
        );
        let back = parse_remote(&sdp).unwrap();
        assert!(back.secure);
        assert_eq!(back.crypto, vec![key]);
        let baresip = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
            a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31\r\n\
            a=crypto:2 F8_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\r\n";
        let remote = parse_remote(baresip).unwrap();
        assert_eq!(remote.crypto.len(), 1, "F8 is not taken");
        assert_eq!(remote.crypto[0].suite, CryptoSuite::AesCm128HmacSha1_32);
        assert_eq!(remote.crypto[0].key_salt[29], 29);
    }
}

#[cfg(test)]
mod dtls_tests {
    use super::*;

    /// baresip 1.0's answer: setup and fingerprint at session level, hash in capitals.
    const BARESIP_DTLS_ANSWER: &str = "v=0\r\no=- 306911976 1257751054 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
        a=tool:baresip 1.0.0\r\na=setup:active\r\n\
        a=fingerprint:SHA-256 AE:12:28:6E:D2:95:AE:7A:97:BC:15:1F:69:83:5F:43:98:0B:CF:F2:70:05:B2:44:AC:57:4C:C7:4C:13:7A:89\r\n\
        m=audio 41826 UDP/TLS/RTP/SAVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\na=label:1\r\n\
        a=ssrc:260549813 cname:sip:bob@127.0.0.1:45991\r\na=minptime:20\r\n";

    #[test]
    fn a_dtls_answer_with_session_level_attributes_is_understood() {
        let remote = parse_remote(BARESIP_DTLS_ANSWER).unwrap();
        let dtls = remote.dtls.expect("DTLS parameters");
        assert_eq!(dtls.setup, Setup::Active);
        assert_eq!(dtls.fingerprint.len(), 32);
        assert_eq!(dtls.fingerprint[0], 0xae);
        assert!(remote.secure);
        assert!(!remote.rtcp_mux);
        // Another hash than SHA-256 cannot be checked: no DTLS then (the call is refused).
        let sha1 = BARESIP_DTLS_ANSWER.replace("SHA-256 AE:12:28:6E:D2:95:AE:7A:97:BC:15:1F:69:83:5F:43:98:0B:CF:F2:70:05:B2:44:AC:57:4C:C7:4C:13:7A:89", "SHA-1 AE:12");
        assert_eq!(parse_remote(&sha1).unwrap().dtls, None);
    }

    #[test]
    fn our_dtls_offer_reads_back() {
        let ours = LocalAudio {
            events: None,
            address: "127.0.0.1:40000".parse().unwrap(),
            codecs: vec![Codec::Pcmu],
            direction: Direction::SendRecv,
            version: 1,
            session_id: 42,
            crypto: None,
            dtls: Some(LocalDtls {
                fingerprint: (0..32).collect(),
                setup: Setup::ActPass,
            }),
            rtcp_mux: true,
            ice: Some(crate::media::ice::IceCredentials {
                ufrag: "abcd".into(),
                pwd: "0123456789012345678901".into(),
            }),
        };
        let sdp = ours.to_sdp();
        assert!(
            sdp.contains("m=audio 40000 UDP/TLS/RTP/SAVP 0 101\r\n"),
            "{sdp}"
        );
        assert!(sdp.contains("a=fingerprint:sha-256 00:01:02:"), "{sdp}");
        let back = parse_remote(&sdp).unwrap();
        assert_eq!(
            back.dtls,
            Some(RemoteDtls {
                fingerprint: (0..32).collect(),
                setup: Setup::ActPass
            })
        );
        assert!(back.rtcp_mux && back.secure);
        let ice = back.ice.expect("ICE read back");
        assert_eq!(
            (ice.ufrag.as_str(), ice.pwd.as_str()),
            ("abcd", "0123456789012345678901")
        );
        assert_eq!(
            ice.candidates,
            ["127.0.0.1:40000".parse::<SocketAddr>().unwrap()]
        );
    }

    #[test]
    fn baresip_ice_candidates_are_read_best_first() {
        let offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
            a=ice-ufrag:GNlzThC\r\na=ice-pwd:1OQIupv86qQZ4UaFtqNckmCcUJV933k\r\n\
            m=audio 39786 UDP/TLS/RTP/SAVPF 0 101\r\nc=IN IP4 192.0.2.2\r\na=rtpmap:0 PCMU/8000\r\n\
            a=rtcp-mux\r\na=candidate:low 1 UDP 100 10.0.0.9 4000 typ host\r\n\
            a=candidate:c0000202 1 UDP 2113929471 192.0.2.2 39786 typ host\r\n\
            a=candidate:rtcp 2 UDP 2113929470 192.0.2.2 39787 typ host\r\n\
            a=candidate:020000fd 1 UDP 2113929471 fd00::2 39786 typ host\r\n";
        let ice = parse_remote(offer).unwrap().ice.unwrap();
        assert_eq!(ice.ufrag, "GNlzThC");
        assert_eq!(
            ice.candidates,
            ["192.0.2.2:39786", "[fd00::2]:39786", "10.0.0.9:4000"]
                .map(|a| a.parse::<SocketAddr>().unwrap())
        );
    }

    #[test]
    fn an_answer_holds_only_what_was_offered_with_the_offers_numbers() {
        let offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
            m=audio 5000 RTP/AVP 0 99\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:99 telephone-event/8000\r\n\
            m=video 5002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n";
        let remote = parse_remote(offer).unwrap();
        let ours = LocalAudio {
            events: Some(remote.answer_events(Codec::Pcmu)),
            address: "127.0.0.1:6000".parse().unwrap(),
            codecs: vec![Codec::Pcmu],
            direction: Direction::SendRecv,
            version: 1,
            session_id: 1,
            crypto: None,
            dtls: None,
            rtcp_mux: false,
            ice: None,
        };
        let answer = fit_answer(&ours.to_sdp(), offer);
        let media: Vec<&str> = answer.lines().filter(|l| l.starts_with("m=")).collect();
        assert_eq!(
            media,
            vec!["m=audio 6000 RTP/AVP 0 99", "m=video 0 RTP/AVP 96"],
            "{answer}"
        );
        assert!(
            answer.contains("a=rtpmap:99 telephone-event/8000"),
            "{answer}"
        );
        assert!(
            !answer.contains(" 101") && !answer.contains(":110"),
            "{answer}"
        );
        parse_remote(&answer).expect("the answer is valid SDP");

        // No events offered: none answered; an offer of Opus with events at 8 kHz only
        // gets none either (events share the audio's clock).
        let plain = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
            m=audio 5000 RTP/AVP 96 101\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n";
        let remote = parse_remote(plain).unwrap();
        assert!(remote.answer_events(Codec::Opus(96)).is_empty());
        assert_eq!(remote.answer_events(Codec::Pcmu), vec![(101, 8000)]);
    }
}
