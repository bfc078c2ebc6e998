//! The adaptive jitter buffer with packet-loss concealment, sans-IO: packets go in
//! with the time they arrived ([`JitterBuffer::push`]); every 20 ms the playout takes
//! one frame out ([`JitterBuffer::pop`]). Tests drive it with made-up times.
//!
//! - The delay adapts to the interarrival jitter (RFC 3550 §6.4.1): about three times
//!   the jitter plus one frame, between 40 and 200 ms (Asterisk's ceiling; liblinphone
//!   starts at 60). When the buffer holds more than the target, frames are dropped one
//!   at a time so the delay comes down without a jump.
//! - A missing frame is concealed by repeating the last one, halved each time (a gentle
//!   fade; after five, silence), the way G.711 Appendix I does it in spirit, and far
//!   better than a click of silence. Packets that arrive after their turn are counted
//!   as late and dropped, and each one stretches the playout by a frame so that the
//!   buffer grows before the jitter estimate has caught up.
//! - A silence longer than a second (hold, the far end's VAD) empties the buffer: the
//!   next talk spurt fills it again to the target before playing.

use std::collections::BTreeMap;
use std::time::Instant;

use super::audio::FRAME;

const FRAME_MS: f64 = 20.0;
const MIN_FRAMES: usize = 2;
const MAX_FRAMES: usize = 10;
/// Concealed frames in a row before the buffer gives up and waits for a new spurt.
const RESET_AFTER: u32 = 50;
const FADE_FRAMES: u32 = 5;

/// What the playout gets for the next 20 ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// The frame that was sent for this moment.
    Frame(Vec<i16>),
    /// It was lost or is late: an estimate of it.
    Concealed(Vec<i16>),
    /// Nothing to play (not started, or between talk spurts).
    Silence,
}

impl Playout {
    pub fn samples(&self) -> &[i16] {
        const SILENCE: [i16; FRAME] = [0; FRAME];
        match self {
            Self::Frame(f) | Self::Concealed(f) => f,
            Self::Silence => &SILENCE,
        }
    }
}

/// What the receiving side has seen so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReceiveStats {
    pub received: u64,
    /// Expected minus received (RFC 3550 A.3), never negative.
    pub lost: u64,
    pub late: u64,
    pub concealed: u64,
    /// Interarrival jitter in milliseconds.
    pub jitter_ms: f64,
    /// The playout delay the buffer aims at, in milliseconds.
    pub target_ms: f64,
}

impl ReceiveStats {
    /// Lost packets as a percentage of those expected.
    pub fn loss_percent(&self) -> f64 {
        let expected = self.received + self.lost;
        if expected == 0 {
            return 0.0;
        }
        #[allow(clippy::cast_precision_loss)]
        let pct = self.lost as f64 * 100.0 / expected as f64;
        pct
    }
}

#[derive(Debug)]
pub struct JitterBuffer {
    frames: BTreeMap<u64, Vec<i16>>,
    /// The extended sequence number of the next frame to play; `None` until started.
    next: Option<u64>,
    highest: Option<u64>,
    first: Option<u64>,
    /// (arrival, RTP timestamp) of the previous packet, for the jitter.
    previous: Option<(Instant, u32)>,
    /// In RTP timestamp units.
    jitter: f64,
    /// The RTP clock of the stream (8000 for G.711, 48000 for Opus).
    clock: u32,
    last: Vec<i16>,
    missing_in_row: u32,
    /// Frames to hold the playout back by (one per late packet).
    stretch: usize,
    stats: ReceiveStats,
}

impl JitterBuffer {
    /// A buffer for a stream whose RTP clock runs at `clock` Hz.
    pub fn new(clock: u32) -> Self {
        Self {
            clock: clock.max(1),
            frames: BTreeMap::new(),
            next: None,
            highest: None,
            first: None,
            previous: None,
            jitter: 0.0,
            last: vec![0; FRAME],
            missing_in_row: 0,
            stretch: 0,
            stats: ReceiveStats::default(),
        }
    }

    /// A new source (another SSRC: the far end restarted its stream, or media moved to
    /// another party): its sequence numbers and timestamps have nothing to do with the
    /// old ones, so the buffer starts over; the counters of what was received stay.
    pub fn restart(&mut self) {
        let stats = self.stats;
        *self = Self::new(self.clock);
        self.stats = stats;
    }

    /// The sequence number extended past its 16-bit wrap, relative to the highest seen.
    fn extend(&self, sequence: u16) -> u64 {
        let Some(highest) = self.highest else {
            // Far from zero, so a few reordered packets before the first stay positive.
            return (1 << 32) | u64::from(sequence);
        };
        let cycle = highest & !0xffff;
        let candidates = [
            cycle.wrapping_sub(0x1_0000) | u64::from(sequence),
            cycle | u64::from(sequence),
            (cycle + 0x1_0000) | u64::from(sequence),
        ];
        candidates
            .into_iter()
            .min_by_key(|c| c.abs_diff(highest))
            .unwrap_or(cycle | u64::from(sequence))
    }

    fn target_frames(&self) -> usize {
        let jitter_ms = self.jitter * 1000.0 / f64::from(self.clock);
        let frames = ((3.0 * jitter_ms + FRAME_MS) / FRAME_MS).ceil();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let frames = frames.max(0.0) as usize;
        frames.clamp(MIN_FRAMES, MAX_FRAMES)
    }

    /// A decoded frame of packet `sequence` (sent at `timestamp`) arrived at `now`.
    pub fn push(&mut self, now: Instant, sequence: u16, timestamp: u32, frame: Vec<i16>) {
        let ext = self.extend(sequence);
        if let Some((at, ts)) = self.previous {
            // RFC 3550 §6.4.1: D = (Rj - Ri) - (Sj - Si), J += (|D| - J) / 16.
            let arrival = now.saturating_duration_since(at).as_secs_f64() * f64::from(self.clock);
            let sent = f64::from(timestamp.wrapping_sub(ts).cast_signed());
            let d = (arrival - sent).abs();
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.previous = Some((now, timestamp));
        self.first = Some(self.first.map_or(ext, |f| f.min(ext)));
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        if self.frames.contains_key(&ext) {
            self.stats.late += 1;
            return;
        }
        if self.next.is_some_and(|next| ext < next) {
            self.stats.late += 1;
            self.stretch = (self.stretch + 1).min(MAX_FRAMES);
            return;
        }
        self.stats.received += 1;
        self.frames.insert(ext, frame);
    }

    /// The next 20 ms to play.
    pub fn pop(&mut self) -> Playout {
        let target = self.target_frames();
        let Some(next) = self.next else {
            // Filling: start once the target delay is buffered.
            if self.frames.len() < target {
                return Playout::Silence;
            }
            let Some((&start, _)) = self.frames.first_key_value() else {
                return Playout::Silence;
            };
            self.next = Some(start);
            return self.pop();
        };
        // Packets came too late: hold the playout back a frame, so the buffer deepens.
        if self.stretch > 0 && self.frames.len() < MAX_FRAMES {
            self.stretch -= 1;
            self.stats.concealed += 1;
            return Playout::Concealed(self.last.iter().map(|&s| s / 2).collect());
        }
        // Too much delay built up: drop the oldest frame to come down towards the target.
        if self.frames.len() > target + 2
            && let Some((&oldest, _)) = self.frames.first_key_value()
        {
            self.frames.remove(&oldest);
            self.next = Some(next.max(oldest + 1));
            return self.pop();
        }
        self.next = Some(next + 1);
        if let Some(frame) = self.frames.remove(&next) {
            self.missing_in_row = 0;
            self.last.clone_from(&frame);
            return Playout::Frame(frame);
        }
        self.missing_in_row += 1;
        if self.frames.is_empty() && self.missing_in_row >= RESET_AFTER {
            // The far end went quiet: wait for its next talk spurt.
            self.next = None;
            self.missing_in_row = 0;
            return Playout::Silence;
        }
        if self.missing_in_row > FADE_FRAMES {
            return Playout::Silence;
        }
        self.stats.concealed += 1;
        let gain = 0.5f32.powi(self.missing_in_row.cast_signed());
        #[allow(clippy::cast_possible_truncation)]
        let concealed = self
            .last
            .iter()
            .map(|&s| (f32::from(s) * gain) as i16)
            .collect();
        Playout::Concealed(concealed)
    }

    pub fn stats(&self) -> ReceiveStats {
        let expected = match (self.first, self.highest) {
            (Some(first), Some(highest)) => highest - first + 1,
            _ => 0,
        };
        ReceiveStats {
            lost: expected.saturating_sub(self.stats.received),
            jitter_ms: self.jitter * 1000.0 / f64::from(self.clock),
            #[allow(clippy::cast_precision_loss)]
            target_ms: self.target_frames() as f64 * FRAME_MS,
            ..self.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::audio::RATE;
    use std::time::Duration;

    fn frame(value: i16) -> Vec<i16> {
        vec![value; FRAME]
    }

    /// Packets every 20 ms with `delay(n)` ms of network delay, minus those `lost(n)`.
    fn run(
        packets: u16,
        delay: impl Fn(u16) -> u64,
        lost: impl Fn(u16) -> bool,
    ) -> (Vec<Playout>, ReceiveStats) {
        run_sent(packets, |n| u64::from(n) * 20, delay, lost)
    }

    /// Packet `n` sent at `sent(n)` ms (its RTP timestamp), arriving `delay(n)` later.
    fn run_sent(
        packets: u16,
        sent: impl Fn(u16) -> u64,
        delay: impl Fn(u16) -> u64,
        lost: impl Fn(u16) -> bool,
    ) -> (Vec<Playout>, ReceiveStats) {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(RATE);
        let mut arrivals: Vec<(u64, u16)> = (0..packets)
            .filter(|n| !lost(*n))
            .map(|n| (sent(n) + delay(n), n))
            .collect();
        arrivals.sort_unstable();
        let mut out = Vec::new();
        let mut next_arrival = 0;
        // The playout ticks every 20 ms from the first arrival on.
        let end = arrivals.last().map_or(0, |a| a.0) + 400;
        let mut tick = 0;
        while tick <= end {
            while next_arrival < arrivals.len() && arrivals[next_arrival].0 <= tick {
                let (at, n) = arrivals[next_arrival];
                jb.push(
                    t0 + Duration::from_millis(at),
                    n.wrapping_add(65_500),
                    u32::try_from(sent(n) * 8).unwrap(),
                    frame(i16::try_from(n % 1000).unwrap() + 1),
                );
                next_arrival += 1;
            }
            out.push(jb.pop());
            tick += 20;
        }
        let stats = jb.stats();
        (out, stats)
    }

    /// Concealed frames before the stream's last real frame (its end fades too).
    fn concealed_between_frames(out: &[Playout]) -> usize {
        let last = out
            .iter()
            .rposition(|p| matches!(p, Playout::Frame(_)))
            .unwrap_or(0);
        out[..last]
            .iter()
            .filter(|p| matches!(p, Playout::Concealed(_)))
            .count()
    }

    #[test]
    fn a_steady_stream_plays_in_order_with_the_minimum_delay() {
        let (out, stats) = run(200, |_| 5, |_| false);
        let played: Vec<i16> = out
            .iter()
            .filter_map(|p| match p {
                Playout::Frame(f) => Some(f[0]),
                _ => None,
            })
            .collect();
        assert_eq!(
            played.len(),
            200,
            "every frame once, across the sequence wrap"
        );
        assert!(played.windows(2).all(|w| w[1] == w[0] + 1));
        assert_eq!(stats.lost, 0);
        assert_eq!(concealed_between_frames(&out), 0);
        assert!(stats.jitter_ms < 1.0, "{stats:?}");
        assert!((stats.target_ms - 40.0).abs() < f64::EPSILON);
    }

    #[test]
    fn jitter_grows_the_delay_and_reordered_packets_still_play_in_order() {
        // Up to 60 ms of random-looking delay: packets overtake each other.
        let (out, stats) = run(500, |n| u64::from((n * 37) % 61), |_| false);
        assert!(stats.jitter_ms > 10.0, "{stats:?}");
        assert!(stats.target_ms >= 60.0, "{stats:?}");
        let played: Vec<i16> = out
            .iter()
            .filter_map(|p| match p {
                Playout::Frame(f) => Some(f[0]),
                _ => None,
            })
            .collect();
        assert!(played.windows(2).all(|w| w[1] > w[0]), "in order");
        // Once the delay has adapted (the first second), nearly everything is in time.
        let adapted = played.iter().filter(|&&n| n > 50).count();
        assert!(
            adapted >= 440,
            "{adapted} of the last 450 played; {stats:?}"
        );
    }

    #[test]
    fn losses_are_concealed_by_fading_the_last_frame() {
        let (out, stats) = run(300, |_| 5, |n| n % 5 == 2);
        assert_eq!(stats.lost, 60);
        assert!((stats.loss_percent() - 20.0).abs() < 0.01);
        assert_eq!(concealed_between_frames(&out), 60);
        // Each gap is the previous frame at half its level.
        let i = out
            .iter()
            .position(|p| matches!(p, Playout::Concealed(_)))
            .unwrap();
        let (Playout::Frame(before), Playout::Concealed(guess)) = (&out[i - 1], &out[i]) else {
            panic!("{:?}", &out[i - 1..=i]);
        };
        assert_eq!(guess[0], before[0] / 2);
    }

    #[test]
    fn a_long_silence_empties_the_buffer_and_the_next_spurt_refills_it() {
        // 100 packets, then nothing for 2 s (hold), then 100 more.
        let (out, _) = run_sent(
            200,
            |n| u64::from(n) * 20 + if n >= 100 { 2000 } else { 0 },
            |_| 5,
            |_| false,
        );
        let frames = out
            .iter()
            .filter(|p| matches!(p, Playout::Frame(_)))
            .count();
        assert_eq!(frames, 200);
        assert_eq!(
            concealed_between_frames(&out),
            5,
            "a short fade, then silence, not noise"
        );
    }

    #[test]
    fn late_and_repeated_packets_are_dropped() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(RATE);
        for n in 0..4u16 {
            jb.push(t0, n, u32::from(n) * 160, frame(1));
        }
        jb.push(t0, 2, 320, frame(1));
        assert!(matches!(jb.pop(), Playout::Frame(_)));
        assert!(matches!(jb.pop(), Playout::Frame(_)));
        jb.push(t0, 0, 0, frame(1));
        assert_eq!(jb.stats().late, 2);
        assert_eq!(jb.stats().received, 4);
    }

    #[test]
    fn a_new_source_plays_at_once_after_a_restart() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(RATE);
        let tick = Duration::from_millis(20);
        let mut now = t0;
        // Source A for a while.
        for n in 0..20u16 {
            jb.push(now, 1000 + n, u32::from(n) * 160, frame(1));
            let _ = jb.pop();
            now += tick;
        }
        // Source B: unrelated numbers. Without a restart its frames would wait for a
        // second of losses; with one they play after the usual two-frame delay.
        jb.restart();
        let mut played = Vec::new();
        for n in 0..6u16 {
            jb.push(now, 40_000 + n, 9_000_000 + u32::from(n) * 160, frame(2));
            played.push(jb.pop());
            now += tick;
        }
        assert!(
            played
                .iter()
                .skip(2)
                .all(|p| *p == Playout::Frame(frame(2))),
            "{played:?}"
        );
        assert!(
            jb.stats().received >= 26,
            "the counters stay: {:?}",
            jb.stats()
        );
    }
}
