//! The sync state machine, sans-IO: it decides when to catch up on the change
//! feed, when to (re)open the live stream, when to send the outbox and what to
//! tell the user, and touches neither sockets nor clocks. The driver feeds it
//! what happened ([`SyncMachine::handle_input`]) with the time, performs what it
//! asks for ([`SyncMachine::poll_output`]) and wakes it at
//! [`SyncMachine::poll_timeout`]. Tests run it on a simulated clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Why a request to the cloud failed, as far as the schedule cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No answer: offline, refused, timed out.
    Unreachable,
    /// The cloud answered with a 5xx (or a 429): try again later.
    Server,
    /// The token is no longer accepted: the user must sign in again.
    Unauthorized,
}

/// What the user sees of the sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum SyncStatus {
    /// Catching up with the change feed.
    Syncing,
    /// Up to date and receiving live events.
    Online,
    /// The cloud cannot be reached; the next attempt is in `retryInMs`.
    Offline {
        #[serde(rename = "retryInMs")]
        retry_in_ms: u64,
    },
    /// The token expired or was revoked: sign in again (the outbox is kept).
    SignedOut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A feed page was applied to the cache; `has_more` when the cloud holds more now.
    PageApplied {
        has_more: bool,
    },
    FetchFailed(Failure),
    StreamOpened,
    /// Bytes arrived on the live stream (events or keep-alives).
    StreamActivity,
    /// The stream ended: cleanly (`None`) or not.
    StreamEnded(Option<Failure>),
    /// The user wrote a message into the outbox.
    OutboxQueued,
    /// One outbox message was handled (accepted, or refused for good); try the next.
    OutboxHandled,
    OutboxEmpty,
    OutboxFailed(Failure),
    /// The network changed or the computer woke up: connections may be dead.
    NetworkChanged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Fetch the next page of the change feed from the cache's cursor and apply it.
    FetchPage,
    /// Open the live stream from the cache's cursor.
    OpenStream,
    CloseStream,
    /// Send the oldest pending outbox message.
    SendNext,
    Status(SyncStatus),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting to try again.
    Down {
        retry_at: Instant,
    },
    CatchingUp,
    Opening,
    Live {
        deadline: Instant,
    },
    SignedOut,
}

/// The live stream sends a keep-alive every 15 s: silence for longer than this
/// means the connection is dead even if TCP has not noticed.
pub const STREAM_SILENCE: Duration = Duration::from_secs(45);
const BACKOFF_BASE: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct SyncMachine {
    phase: Phase,
    /// The cloud answered since the last failure: the outbox may go.
    reachable: bool,
    attempt: u32,
    outbox_pending: bool,
    sending: bool,
    outbox_attempt: u32,
    outbox_retry_at: Option<Instant>,
    status: Option<SyncStatus>,
    rng: u64,
    outputs: VecDeque<Output>,
}

impl SyncMachine {
    /// A machine that starts catching up at once. `seed` drives the backoff jitter.
    pub fn new(seed: u64) -> Self {
        let mut machine = Self {
            phase: Phase::CatchingUp,
            reachable: false,
            attempt: 0,
            // The outbox may hold messages from before a restart: look.
            outbox_pending: true,
            sending: false,
            outbox_attempt: 0,
            outbox_retry_at: None,
            status: None,
            rng: seed | 1,
            outputs: VecDeque::new(),
        };
        machine.outputs.push_back(Output::FetchPage);
        machine.set_status(SyncStatus::Syncing);
        machine
    }

    pub fn status(&self) -> Option<SyncStatus> {
        self.status
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let phase = match self.phase {
            Phase::Down { retry_at } => Some(retry_at),
            Phase::Live { deadline } => Some(deadline),
            _ => None,
        };
        [phase, self.outbox_retry_at].into_iter().flatten().min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Down { retry_at } if now >= retry_at => self.catch_up(),
            Phase::Live { deadline } if now >= deadline => {
                // Silent too long: the connection is gone.
                self.outputs.push_back(Output::CloseStream);
                self.go_down(now, Failure::Unreachable);
            }
            _ => {}
        }
        if self.outbox_retry_at.is_some_and(|at| now >= at) {
            self.outbox_retry_at = None;
            self.outbox_pending = true;
            self.maybe_send();
        }
    }

    pub fn handle_input(&mut self, now: Instant, input: Input) {
        if self.phase == Phase::SignedOut {
            return;
        }
        match input {
            Input::PageApplied { has_more } => {
                if self.phase != Phase::CatchingUp {
                    return;
                }
                if has_more {
                    self.outputs.push_back(Output::FetchPage);
                } else {
                    self.phase = Phase::Opening;
                    self.outputs.push_back(Output::OpenStream);
                }
                // The cloud answered: sending may start while the rest comes in.
                self.attempt = 0;
                self.reachable = true;
                self.maybe_send();
            }
            Input::FetchFailed(failure) => self.fail(now, failure),
            Input::StreamOpened => {
                if self.phase == Phase::Opening {
                    self.phase = Phase::Live {
                        deadline: now + STREAM_SILENCE,
                    };
                    self.attempt = 0;
                    self.reachable = true;
                    self.set_status(SyncStatus::Online);
                    self.maybe_send();
                }
            }
            Input::StreamActivity => {
                if let Phase::Live { .. } = self.phase {
                    self.phase = Phase::Live {
                        deadline: now + STREAM_SILENCE,
                    };
                }
            }
            Input::StreamEnded(failure) => {
                if matches!(self.phase, Phase::Opening | Phase::Live { .. }) {
                    match failure {
                        Some(failure) => self.fail(now, failure),
                        // A clean end (the server restarting): reconnect soon, no penalty.
                        None => self.go_down(now, Failure::Server),
                    }
                }
            }
            Input::OutboxQueued => {
                self.outbox_pending = true;
                self.maybe_send();
            }
            Input::OutboxHandled => {
                self.sending = false;
                self.outbox_attempt = 0;
                self.maybe_send();
            }
            Input::OutboxEmpty => {
                self.sending = false;
                self.outbox_pending = false;
            }
            Input::OutboxFailed(failure) => {
                self.sending = false;
                if failure == Failure::Unauthorized {
                    self.sign_out();
                } else {
                    let delay = self.backoff(self.outbox_attempt);
                    self.outbox_attempt = self.outbox_attempt.saturating_add(1);
                    self.outbox_retry_at = Some(now + delay);
                    self.outbox_pending = false;
                }
            }
            Input::NetworkChanged => {
                self.attempt = 0;
                self.outbox_attempt = 0;
                match self.phase {
                    Phase::Down { .. } => self.catch_up(),
                    Phase::Live { .. } | Phase::Opening => {
                        self.outputs.push_back(Output::CloseStream);
                        self.catch_up();
                    }
                    Phase::CatchingUp | Phase::SignedOut => {}
                }
                if self.outbox_retry_at.take().is_some() {
                    self.outbox_pending = true;
                    self.maybe_send();
                }
            }
        }
    }

    fn catch_up(&mut self) {
        // Until the cloud answers again, the old connection's success proves nothing.
        self.reachable = false;
        self.phase = Phase::CatchingUp;
        self.outputs.push_back(Output::FetchPage);
        self.set_status(SyncStatus::Syncing);
    }

    fn fail(&mut self, now: Instant, failure: Failure) {
        if failure == Failure::Unauthorized {
            self.sign_out();
        } else {
            self.go_down(now, failure);
        }
    }

    fn sign_out(&mut self) {
        if matches!(self.phase, Phase::Opening | Phase::Live { .. }) {
            self.outputs.push_back(Output::CloseStream);
        }
        self.phase = Phase::SignedOut;
        self.reachable = false;
        self.outbox_retry_at = None;
        self.set_status(SyncStatus::SignedOut);
    }

    fn go_down(&mut self, now: Instant, _failure: Failure) {
        self.reachable = false;
        let delay = self.backoff(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        self.phase = Phase::Down {
            retry_at: now + delay,
        };
        self.set_status(SyncStatus::Offline {
            retry_in_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        });
    }

    fn maybe_send(&mut self) {
        if self.reachable && self.outbox_pending && !self.sending && self.outbox_retry_at.is_none()
        {
            self.sending = true;
            self.outputs.push_back(Output::SendNext);
        }
    }

    fn set_status(&mut self, status: SyncStatus) {
        if self.status != Some(status) {
            self.status = Some(status);
            self.outputs.push_back(Output::Status(status));
        }
    }

    /// Exponential backoff with jitter: half the step fixed, half random, so that many
    /// clients cut off together do not return together.
    fn backoff(&mut self, attempt: u32) -> Duration {
        let step = BACKOFF_BASE
            .saturating_mul(1_u32 << attempt.min(16))
            .min(BACKOFF_MAX);
        // xorshift64: deterministic for a seed, good enough for jitter.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let half = step / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(0).max(1);
        half + Duration::from_millis(self.rng % jitter_ms)
    }
}

/// Tells a resume from sleep: while suspended, Linux's monotonic clock stands still
/// and the wall clock does not, so after waking the wall clock is ahead by the
/// nap. Fed both clocks by the driver; pure.
#[derive(Debug, Clone, Copy)]
pub struct WakeDetector {
    last: Option<(Instant, std::time::SystemTime)>,
}

/// Wall-clock lead over the monotonic clock that counts as having slept (NTP steps are smaller).
pub const SLEPT: Duration = Duration::from_secs(20);

impl WakeDetector {
    pub fn new() -> Self {
        Self { last: None }
    }

    /// Whether the computer slept since the previous observation.
    pub fn observe(&mut self, mono: Instant, wall: std::time::SystemTime) -> bool {
        let slept = self.last.is_some_and(|(m, w)| {
            let mono_step = mono.saturating_duration_since(m);
            wall.duration_since(w)
                .is_ok_and(|wall_step| wall_step > mono_step + SLEPT)
        });
        self.last = Some((mono, wall));
        slept
    }
}

impl Default for WakeDetector {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests;
