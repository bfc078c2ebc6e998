//! RTCP of one RTP session (RFC 3550 §6), sans-IO: the session tells it what it sent
//! and received (`on_sent`, `on_received`) and hands it the RTCP packets that arrive
//! (`handle_input`); it says when the next report is due (`poll_timeout`) and gives the
//! compound packet to send (`poll_output`). Time is passed in.
//!
//! What it is for here: the round-trip time (the other side echoes our last Sender
//! Report with how long it held it, §6.4.1), which the MOS estimate needs, and the
//! other side's view of our stream (its loss and jitter). Packets are encoded and
//! decoded with the `rtcp` crate of the webrtc-rs project.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rtcp::packet::Packet;
use rtcp::receiver_report::ReceiverReport;
use rtcp::reception_report::ReceptionReport;
use rtcp::sender_report::SenderReport;
use rtcp::source_description::{
    SdesType, SourceDescription, SourceDescriptionChunk, SourceDescriptionItem,
};

/// RFC 3550 §6.2: five seconds between reports on average.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// Seconds between 1900 (NTP's epoch) and 1970.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// What the other side says about the stream we send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RemoteView {
    /// Its loss of our packets since its previous report.
    pub loss_percent: f64,
    pub jitter_ms: f64,
}

/// RFC 3550 A.1/A.3/A.8 receive statistics of the source we listen to.
#[derive(Debug, Clone)]
struct Source {
    ssrc: u32,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    last_transit: Option<f64>,
    /// Interarrival jitter in timestamp units.
    jitter: f64,
}

impl Source {
    fn new(ssrc: u32, seq: u16) -> Self {
        Self {
            ssrc,
            max_seq: seq,
            cycles: 0,
            base_seq: u32::from(seq),
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            last_transit: None,
            jitter: 0.0,
        }
    }

    fn update(&mut self, seq: u16) {
        // A.1, without probation: in order or a small gap moves the maximum (counting
        // wraps); anything else is a late or repeated packet.
        let delta = seq.wrapping_sub(self.max_seq);
        if delta != 0 && delta < 3000 {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(1 << 16);
            }
            self.max_seq = seq;
        }
        self.received = self.received.wrapping_add(1);
    }

    fn extended_max(&self) -> u32 {
        self.cycles | u32::from(self.max_seq)
    }

    /// The report block about this source (A.3), and the interval counters moved on.
    fn report(&mut self, last_sr: u32, delay: u32) -> ReceptionReport {
        let expected = self
            .extended_max()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1);
        let lost = i64::from(expected) - i64::from(self.received);
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            u8::try_from((lost_interval << 8) / i64::from(expected_interval)).unwrap_or(255)
        };
        ReceptionReport {
            ssrc: self.ssrc,
            fraction_lost,
            // 24 bits, signed (duplicates can make it negative).
            total_lost: u32::try_from(lost.clamp(-0x80_0000, 0x7f_ffff) & 0xff_ffff).unwrap_or(0),
            last_sequence_number: self.extended_max(),
            jitter: self.jitter.max(0.0).round() as u32,
            last_sender_report: last_sr,
            delay,
        }
    }
}

/// The RTCP side of one session.
#[derive(Debug)]
pub struct Rtcp {
    ssrc: u32,
    cname: String,
    clock_rate: u32,
    interval: Duration,
    /// Our NTP clock: the wall time at `epoch`, moved on by the monotonic clock.
    epoch: Instant,
    epoch_ntp: u64,
    next_report: Instant,
    random: u64,
    sent_packets: u32,
    sent_octets: u32,
    /// When we last sent RTP, and its timestamp.
    last_sent: Option<(Instant, u32)>,
    sent_since_report: bool,
    source: Option<Source>,
    /// The middle 32 bits of the other side's last Sender Report, and when it came.
    last_sr: Option<(u32, u32, Instant)>,
    rtt: Option<Duration>,
    remote: Option<RemoteView>,
    malformed: u64,
}

impl Rtcp {
    /// `wall`: the wall-clock time at `now` (only for the NTP timestamps of our reports;
    /// round trips are measured against our own echoed timestamps, so its accuracy does
    /// not matter). The first report is due after half an interval (RFC 3550 §6.2).
    pub fn new(
        now: Instant,
        wall: SystemTime,
        ssrc: u32,
        clock_rate: u32,
        cname: String,
        interval: Duration,
    ) -> Self {
        let since_unix = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
        let epoch_ntp = to_ntp(since_unix + Duration::from_secs(NTP_UNIX_OFFSET));
        let mut rtcp = Self {
            ssrc,
            cname,
            clock_rate,
            interval,
            epoch: now,
            epoch_ntp,
            next_report: now,
            random: u64::from(ssrc) | 1,
            sent_packets: 0,
            sent_octets: 0,
            last_sent: None,
            sent_since_report: false,
            source: None,
            last_sr: None,
            rtt: None,
            remote: None,
            malformed: 0,
        };
        rtcp.next_report = now + rtcp.randomised(interval / 2);
        rtcp
    }

    /// Between half and one and a half times `base` (RFC 3550 §6.3.1), so that the two
    /// sides do not report in lockstep.
    fn randomised(&mut self, base: Duration) -> Duration {
        // xorshift64: enough spread for timing, deterministic for a given SSRC.
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        let unit = (self.random >> 11) as f64 / (1u64 << 53) as f64;
        base.mul_f64(0.5 + unit)
    }

    fn ntp(&self, now: Instant) -> u64 {
        self.epoch_ntp
            .wrapping_add(to_ntp(now.saturating_duration_since(self.epoch)))
    }

    /// We sent an RTP packet with this timestamp and payload size.
    pub fn on_sent(&mut self, now: Instant, rtp_timestamp: u32, payload_len: usize) {
        self.sent_packets = self.sent_packets.wrapping_add(1);
        self.sent_octets = self
            .sent_octets
            .wrapping_add(u32::try_from(payload_len).unwrap_or(u32::MAX));
        self.last_sent = Some((now, rtp_timestamp));
        self.sent_since_report = true;
    }

    /// An RTP packet of the other side arrived.
    pub fn on_received(&mut self, now: Instant, ssrc: u32, sequence: u16, rtp_timestamp: u32) {
        let source = match &mut self.source {
            Some(s) if s.ssrc == ssrc => s,
            // A new source (the other side restarted its stream): statistics start over.
            other => other.insert(Source::new(ssrc, sequence)),
        };
        source.update(sequence);
        // A.8: transit time in timestamp units; only differences matter.
        let arrival =
            now.saturating_duration_since(self.epoch).as_secs_f64() * f64::from(self.clock_rate);
        let transit = arrival - f64::from(rtp_timestamp);
        if let Some(last) = source.last_transit {
            let d = (transit - last).abs();
            source.jitter += (d - source.jitter) / 16.0;
        }
        source.last_transit = Some(transit);
    }

    /// An RTCP packet of the other side (a compound one, or a single report).
    pub fn handle_input(&mut self, now: Instant, packet: &[u8]) {
        let mut bytes = Bytes::copy_from_slice(packet);
        let Ok(packets) = rtcp::packet::unmarshal(&mut bytes) else {
            self.malformed += 1;
            return;
        };
        for packet in &packets {
            let any = packet.as_any();
            if let Some(sr) = any.downcast_ref::<SenderReport>() {
                self.last_sr = Some((sr.ssrc, middle(sr.ntp_time), now));
                self.take_reports(now, &sr.reports);
            } else if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                self.take_reports(now, &rr.reports);
            }
        }
    }

    fn take_reports(&mut self, now: Instant, reports: &[ReceptionReport]) {
        for report in reports.iter().filter(|r| r.ssrc == self.ssrc) {
            self.remote = Some(RemoteView {
                loss_percent: f64::from(report.fraction_lost) * 100.0 / 256.0,
                jitter_ms: f64::from(report.jitter) * 1000.0 / f64::from(self.clock_rate),
            });
            // RFC 3550 §6.4.1: RTT = arrival − LSR − DLSR, in 1/65536 s.
            if report.last_sender_report != 0 {
                let arrival = middle(self.ntp(now));
                let rtt = arrival
                    .wrapping_sub(report.last_sender_report)
                    .wrapping_sub(report.delay);
                // A negative result (clock steps, a forged report) is no measurement.
                if rtt < 1 << 31 {
                    self.rtt = Some(Duration::from_secs_f64(f64::from(rtt) / 65536.0));
                }
            }
        }
    }

    /// When the next report is due.
    pub fn poll_timeout(&self) -> Instant {
        self.next_report
    }

    /// The compound packet to send now, if a report is due: a Sender Report when we
    /// sent RTP since the last one, else a Receiver Report; then our CNAME.
    pub fn poll_output(&mut self, now: Instant) -> Option<Vec<u8>> {
        if now < self.next_report {
            return None;
        }
        self.next_report = now + self.randomised(self.interval);
        let reports: Vec<ReceptionReport> = match (&mut self.source, self.last_sr) {
            (Some(source), last_sr) => {
                let (lsr, delay) = match last_sr {
                    Some((ssrc, lsr, at)) if ssrc == source.ssrc => {
                        (lsr, to_dlsr(now.saturating_duration_since(at)))
                    }
                    _ => (0, 0),
                };
                vec![source.report(lsr, delay)]
            }
            (None, _) => Vec::new(),
        };
        let first: Box<dyn Packet + Send + Sync> = match self.last_sent {
            Some((at, timestamp)) if self.sent_since_report => {
                // The RTP timestamp that corresponds to the NTP time of the report.
                let elapsed = now.saturating_duration_since(at).as_secs_f64();
                let rtp_time =
                    timestamp.wrapping_add((elapsed * f64::from(self.clock_rate)).round() as u32);
                Box::new(SenderReport {
                    ssrc: self.ssrc,
                    ntp_time: self.ntp(now),
                    rtp_time,
                    packet_count: self.sent_packets,
                    octet_count: self.sent_octets,
                    reports,
                    profile_extensions: Bytes::new(),
                })
            }
            _ => Box::new(ReceiverReport {
                ssrc: self.ssrc,
                reports,
                profile_extensions: Bytes::new(),
            }),
        };
        self.sent_since_report = false;
        let sdes: Box<dyn Packet + Send + Sync> = Box::new(SourceDescription {
            chunks: vec![SourceDescriptionChunk {
                source: self.ssrc,
                items: vec![SourceDescriptionItem {
                    sdes_type: SdesType::SdesCname,
                    text: Bytes::from(self.cname.clone()),
                }],
            }],
        });
        rtcp::packet::marshal(&[first, sdes])
            .ok()
            .map(|b| b.to_vec())
    }

    /// The last round-trip time measured.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// What the other side last said about our stream.
    pub fn remote_view(&self) -> Option<RemoteView> {
        self.remote
    }

    /// RTCP packets that could not be read.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }
}

/// A duration as NTP's 32.32 fixed point.
fn to_ntp(d: Duration) -> u64 {
    (d.as_secs() << 32) | ((u64::from(d.subsec_nanos()) << 32) / 1_000_000_000)
}

/// The middle 32 bits of an NTP timestamp (the unit of LSR, DLSR and RTT: 1/65536 s).
fn middle(ntp: u64) -> u32 {
    ((ntp >> 16) & 0xffff_ffff) as u32
}

fn to_dlsr(d: Duration) -> u32 {
    u32::try_from(to_ntp(d) >> 16).unwrap_or(u32::MAX)
}

/// Whether a datagram on a muxed port is RTCP (RFC 5761 §4: payload types 64–95 are
/// not used by RTP, so RTCP's packet types 192–223 fall there).
pub fn is_rtcp(packet: &[u8]) -> bool {
    packet.len() >= 8 && packet[0] >> 6 == 2 && (192..=223).contains(&packet[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 8000;

    /// Two peers on a simulated clock, with a one-way delay each direction.
    struct Pair {
        a: Rtcp,
        b: Rtcp,
        now: Instant,
        seq: u16,
    }

    impl Pair {
        fn new(interval: Duration) -> Self {
            let now = Instant::now();
            let wall = UNIX_EPOCH + Duration::from_secs(1_790_000_000);
            Self {
                // The two clocks disagree by a minute: RTT must not care.
                a: Rtcp::new(now, wall, 0xa, RATE, "a@test".into(), interval),
                b: Rtcp::new(
                    now,
                    wall + Duration::from_secs(60),
                    0xb,
                    RATE,
                    "b@test".into(),
                    interval,
                ),
                now,
                seq: 100,
            }
        }

        /// Runs `seconds` of a call: 50 packets a second each way, `lost(n)` packets of
        /// a's stream dropped, every packet and report delayed by `delay`.
        fn run(&mut self, seconds: u32, delay: Duration, lost: impl Fn(u32) -> bool) {
            let mut in_flight: Vec<(Instant, bool, Vec<u8>)> = Vec::new();
            let step = Duration::from_millis(20);
            for n in 0..seconds * 50 {
                self.now += step;
                let now = self.now;
                let ts = u32::from(self.seq) * 160;
                self.a.on_sent(now, ts, 160);
                if !lost(n) {
                    self.b.on_received(now + delay, 0xa, self.seq, ts);
                }
                self.b.on_sent(now, ts, 160);
                self.a.on_received(now + delay, 0xb, self.seq, ts);
                self.seq = self.seq.wrapping_add(1);
                if let Some(p) = self.a.poll_output(now) {
                    in_flight.push((now + delay, true, p));
                }
                if let Some(p) = self.b.poll_output(now) {
                    in_flight.push((now + delay, false, p));
                }
                in_flight.retain(|(at, to_b, p)| {
                    if *at > now {
                        return true;
                    }
                    if *to_b {
                        self.b.handle_input(*at, p);
                    } else {
                        self.a.handle_input(*at, p);
                    }
                    false
                });
            }
        }
    }

    #[test]
    fn the_round_trip_time_comes_from_echoed_sender_reports() {
        let mut pair = Pair::new(Duration::from_secs(1));
        pair.run(5, Duration::from_millis(60), |_| false);
        let rtt = pair.a.rtt().expect("a round trip measured");
        // 60 ms each way.
        assert!((118..=122).contains(&rtt.as_millis()), "{rtt:?} for 120 ms");
        assert!(pair.b.rtt().is_some());
        assert_eq!(pair.a.malformed(), 0);
    }

    #[test]
    fn the_far_end_reports_the_loss_of_our_stream() {
        let mut pair = Pair::new(Duration::from_secs(1));
        // Every tenth packet of a's stream lost.
        pair.run(6, Duration::from_millis(10), |n| n % 10 == 0);
        let view = pair.a.remote_view().expect("b reported");
        assert!(
            (5.0..15.0).contains(&view.loss_percent),
            "{view:?} for 10 %"
        );
        let clean = pair.b.remote_view().expect("a reported");
        assert!(clean.loss_percent < 0.5, "{clean:?}");
    }

    #[test]
    fn reports_come_about_every_interval_and_not_in_lockstep() {
        let now = Instant::now();
        let mut rtcp = Rtcp::new(
            now,
            SystemTime::now(),
            7,
            RATE,
            "x".into(),
            DEFAULT_INTERVAL,
        );
        let first = rtcp.poll_timeout() - now;
        assert!(first >= Duration::from_millis(1250) && first <= Duration::from_millis(3750));
        assert!(rtcp.poll_output(now).is_none(), "not due yet");
        let mut at = rtcp.poll_timeout();
        let mut gaps = Vec::new();
        for _ in 0..50 {
            assert!(rtcp.poll_output(at).is_some());
            let next = rtcp.poll_timeout();
            gaps.push(next - at);
            at = next;
        }
        assert!(
            gaps.iter()
                .all(|g| *g >= Duration::from_millis(2500) && *g <= Duration::from_millis(7500))
        );
        let mean = gaps.iter().sum::<Duration>() / 50;
        assert!(
            mean > Duration::from_secs(4) && mean < Duration::from_secs(6),
            "{mean:?}"
        );
        assert!(gaps.windows(2).any(|w| w[0] != w[1]), "randomised");
    }

    #[test]
    fn garbage_and_reports_about_others_change_nothing() {
        let now = Instant::now();
        let mut rtcp = Rtcp::new(
            now,
            SystemTime::now(),
            7,
            RATE,
            "x".into(),
            DEFAULT_INTERVAL,
        );
        rtcp.handle_input(now, b"\x80\xc8\x00\x01garbage!");
        rtcp.handle_input(now, &[]);
        assert_eq!(rtcp.malformed(), 2);
        let about_someone_else = rtcp::packet::marshal(&[Box::new(ReceiverReport {
            ssrc: 9,
            reports: vec![ReceptionReport {
                ssrc: 8,
                fraction_lost: 128,
                last_sender_report: 1,
                ..Default::default()
            }],
            profile_extensions: Bytes::new(),
        })
            as Box<dyn Packet + Send + Sync>])
        .unwrap();
        rtcp.handle_input(now, &about_someone_else);
        assert_eq!(rtcp.remote_view(), None);
        assert_eq!(rtcp.rtt(), None);
        assert!(is_rtcp(&about_someone_else));
        assert!(!is_rtcp(&[0x80, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]));
    }
}
