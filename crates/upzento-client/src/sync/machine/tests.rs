#![allow(clippy::unwrap_used)]

use super::*;

/// Runs the machine on a simulated clock.
struct Sim {
    now: Instant,
    machine: SyncMachine,
}

impl Sim {
    fn new() -> Self {
        Self {
            now: Instant::now(),
            machine: SyncMachine::new(42),
        }
    }

    fn outputs(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.machine.poll_output()).collect()
    }

    fn input(&mut self, input: Input) -> Vec<Output> {
        self.machine.handle_input(self.now, input);
        self.outputs()
    }

    /// Advances to the machine's next timeout (or by `max`), runs it.
    fn advance(&mut self, max: Duration) -> Vec<Output> {
        let target = match self.machine.poll_timeout() {
            Some(at) if at <= self.now + max => at,
            _ => self.now + max,
        };
        self.now = target.max(self.now);
        self.machine.handle_timeout(self.now);
        self.outputs()
    }

    fn online(&mut self) {
        let _ = self.outputs();
        assert_eq!(
            self.input(Input::PageApplied { has_more: false }).first(),
            Some(&Output::OpenStream)
        );
        self.input(Input::StreamOpened);
        self.input(Input::OutboxEmpty);
        assert_eq!(self.machine.status(), Some(SyncStatus::Online));
    }
}

#[test]
fn catches_up_page_by_page_then_goes_live() {
    let mut sim = Sim::new();
    assert_eq!(
        sim.outputs(),
        vec![Output::FetchPage, Output::Status(SyncStatus::Syncing)]
    );
    // The first answer lets the outbox go while the rest of the feed comes in.
    assert_eq!(
        sim.input(Input::PageApplied { has_more: true }),
        vec![Output::FetchPage, Output::SendNext]
    );
    assert_eq!(sim.input(Input::OutboxEmpty), vec![]);
    assert_eq!(
        sim.input(Input::PageApplied { has_more: false }),
        vec![Output::OpenStream]
    );
    assert_eq!(
        sim.input(Input::StreamOpened),
        vec![Output::Status(SyncStatus::Online)]
    );
    // Composing while online sends at once; one at a time, in order.
    assert_eq!(sim.input(Input::OutboxQueued), vec![Output::SendNext]);
    assert_eq!(
        sim.input(Input::OutboxQueued),
        vec![],
        "one send in flight at a time"
    );
    assert_eq!(sim.input(Input::OutboxHandled), vec![Output::SendNext]);
    assert_eq!(sim.input(Input::OutboxEmpty), vec![]);
}

#[test]
fn backs_off_with_jitter_and_recovers() {
    let mut sim = Sim::new();
    sim.outputs();
    let mut delays = Vec::new();
    for _ in 0..8 {
        let out = sim.input(Input::FetchFailed(Failure::Unreachable));
        let Some(Output::Status(SyncStatus::Offline { retry_in_ms })) = out.last().copied() else {
            panic!("{out:?}");
        };
        delays.push(retry_in_ms);
        // Nothing happens before the retry time.
        assert_eq!(sim.advance(Duration::from_millis(retry_in_ms - 1)), vec![]);
        assert_eq!(
            sim.advance(Duration::from_millis(1)),
            vec![Output::FetchPage, Output::Status(SyncStatus::Syncing)]
        );
    }
    // Growing, capped at 30 s, each within [half, full] of its step.
    for (i, d) in delays.iter().enumerate() {
        let step = (500_u64 << i).min(30_000);
        assert!(
            (step / 2..=step).contains(d),
            "attempt {i}: {d} ms for a {step} ms step"
        );
    }
    assert!(delays[7] >= 15_000);
    // Success resets the schedule.
    sim.online();
    sim.input(Input::StreamEnded(Some(Failure::Unreachable)));
    let Some(SyncStatus::Offline { retry_in_ms }) = sim.machine.status() else {
        panic!()
    };
    assert!(retry_in_ms <= 500);
}

#[test]
fn a_silent_stream_is_dropped_and_reopened() {
    let mut sim = Sim::new();
    sim.online();
    // Keep-alives hold it open.
    for _ in 0..5 {
        assert_eq!(sim.advance(Duration::from_secs(15)), vec![]);
        sim.input(Input::StreamActivity);
    }
    // Then silence.
    let out = sim.advance(Duration::from_secs(60));
    assert_eq!(out[0], Output::CloseStream);
    assert!(matches!(out[1], Output::Status(SyncStatus::Offline { .. })));
    let out = sim.advance(Duration::from_secs(1));
    assert_eq!(out[0], Output::FetchPage);
}

#[test]
fn a_network_change_reconnects_now_and_retries_the_outbox() {
    let mut sim = Sim::new();
    sim.online();
    sim.input(Input::OutboxQueued);
    sim.input(Input::OutboxFailed(Failure::Server));
    // Waiting for the outbox retry; then the network changes (Wi-Fi back, resume from sleep).
    let out = sim.input(Input::NetworkChanged);
    assert_eq!(out[0], Output::CloseStream);
    assert_eq!(out[1], Output::FetchPage);
    assert!(
        !out.contains(&Output::SendNext),
        "not before the cloud answers again"
    );
    let out = sim.input(Input::PageApplied { has_more: false });
    assert_eq!(out, vec![Output::OpenStream, Output::SendNext]);
    // Offline (down) and the network comes back: no need to wait for the backoff.
    sim.input(Input::OutboxEmpty);
    sim.input(Input::StreamEnded(Some(Failure::Unreachable)));
    for _ in 0..5 {
        sim.advance(Duration::from_secs(60));
        sim.input(Input::FetchFailed(Failure::Unreachable));
    }
    assert_eq!(sim.input(Input::NetworkChanged)[0], Output::FetchPage);
}

#[test]
fn the_outbox_waits_its_own_backoff_after_server_errors() {
    let mut sim = Sim::new();
    sim.online();
    assert_eq!(sim.input(Input::OutboxQueued), vec![Output::SendNext]);
    assert_eq!(sim.input(Input::OutboxFailed(Failure::Server)), vec![]);
    assert_eq!(
        sim.input(Input::OutboxQueued),
        vec![],
        "a new message waits for the retry too"
    );
    let out = sim.advance(Duration::from_secs(1));
    assert_eq!(out, vec![Output::SendNext]);
}

#[test]
fn an_expired_token_stops_everything_but_keeps_the_outbox() {
    let mut sim = Sim::new();
    sim.online();
    sim.input(Input::OutboxQueued);
    let out = sim.input(Input::OutboxFailed(Failure::Unauthorized));
    assert_eq!(
        out,
        vec![Output::CloseStream, Output::Status(SyncStatus::SignedOut)]
    );
    assert_eq!(sim.machine.poll_timeout(), None);
    assert_eq!(sim.input(Input::OutboxQueued), vec![]);
    assert_eq!(sim.input(Input::NetworkChanged), vec![]);
    assert_eq!(sim.advance(Duration::from_secs(3600)), vec![]);
}

#[test]
fn a_clean_end_of_stream_reconnects_quickly() {
    let mut sim = Sim::new();
    sim.online();
    let out = sim.input(Input::StreamEnded(None));
    let Some(Output::Status(SyncStatus::Offline { retry_in_ms })) = out.last().copied() else {
        panic!("{out:?}")
    };
    assert!(retry_in_ms <= 500);
}

#[test]
fn a_wall_clock_jump_beyond_the_monotonic_clock_is_a_resume() {
    let mut wake = WakeDetector::new();
    let (m, w) = (
        Instant::now(),
        std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
    );
    assert!(!wake.observe(m, w));
    // Five seconds of both: awake.
    assert!(!wake.observe(m + Duration::from_secs(5), w + Duration::from_secs(5)));
    // A small NTP step: still awake.
    assert!(!wake.observe(m + Duration::from_secs(10), w + Duration::from_secs(12)));
    // The lid was closed for an hour: the monotonic clock stood still.
    assert!(wake.observe(m + Duration::from_secs(15), w + Duration::from_secs(3_617)));
    // The wall clock set back: not a resume.
    assert!(!wake.observe(m + Duration::from_secs(20), w));
}
