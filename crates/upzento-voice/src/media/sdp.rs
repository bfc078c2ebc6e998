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
        let opus = self.codecs.iter().any(|c| matches!(c, Codec::Opus(_)));
        let narrow = self.codecs.iter().any(|c| c.clock_rate() == 8000);
        if opus {
            formats.push(TELEPHONE_EVENT_48K.to_string());
        }
        if narrow {
            formats.push(TELEPHONE_EVENT.to_string());
        }
        let mut sdp = format!(
            "v=0\r\no=upzento {} {} IN {family} {ip}\r\ns=Upzento Phone\r\nc=IN {family} {ip}\r\nt=0 0\r\nm=audio {} {} {}\r\n",
            self.session_id,
            self.version,
            self.address.port(),
            if self.crypto.is_some() {
                "RTP/SAVP"
            } else {
                "RTP/AVP"
            },
            formats.join(" ")
        );
        if let Some(crypto) = &self.crypto {
            sdp.push_str(&crypto.attribute());
        }
        for codec in &self.codecs {
            sdp.push_str(&codec.rtpmap());
        }
        if opus {
            sdp.push_str(&format!(
                "a=rtpmap:{TELEPHONE_EVENT_48K} telephone-event/48000\r\na=fmtp:{TELEPHONE_EVENT_48K} 0-16\r\n"
            ));
        }
        if narrow {
            sdp.push_str(&format!(
                "a=rtpmap:{TELEPHONE_EVENT} telephone-event/8000\r\na=fmtp:{TELEPHONE_EVENT} 0-16\r\n"
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

pub fn parse_remote(body: &str) -> Result<RemoteAudio, SdpError> {
    let session = webrtc_sdp::parse_sdp(body, false).map_err(|e| SdpError::Parse(e.to_string()))?;
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
    let secure = matches!(
        media.get_proto(),
        webrtc_sdp::media_type::SdpProtocolValue::RtpSavp
            | webrtc_sdp::media_type::SdpProtocolValue::RtpSavpf
    );
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
    })
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_offer_parses_and_a_baresip_answer_is_understood() {
        let ours = LocalAudio {
            address: "127.0.0.1:40000".parse().unwrap(),
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            direction: Direction::SendRecv,
            version: 1,
            session_id: 42,
            crypto: None,
        };
        let back = parse_remote(&ours.to_sdp()).unwrap();
        assert_eq!(back.address, ours.address);
        assert_eq!(
            back.rtcp,
            "127.0.0.1:40001".parse().unwrap(),
            "RTP port + 1"
        );
        assert_eq!(back.codecs, vec![Codec::Pcmu, Codec::Pcma]);
        assert_eq!(back.telephone_event(8000), Some(101));
        assert_eq!(back.direction, Direction::SendRecv);

        let answer = "v=0\r\no=- 1871566637 1455101432 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
            m=audio 10004 RTP/AVP 0 101\r\nb=AS:80\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
            a=fmtp:101 0-15\r\na=sendonly\r\na=label:1\r\na=ssrc:2112 cname:xyz\r\n";
        let remote = parse_remote(answer).unwrap();
        assert_eq!(remote.address, "127.0.0.1:10004".parse().unwrap());
        assert_eq!(remote.codecs, vec![Codec::Pcmu]);
        assert_eq!(remote.direction, Direction::SendOnly);
        let elsewhere = answer.replace("a=label:1\r\n", "a=rtcp:10009 IN IP4 127.0.0.2\r\n");
        assert_eq!(
            parse_remote(&elsewhere).unwrap().rtcp,
            "127.0.0.2:10009".parse().unwrap()
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
