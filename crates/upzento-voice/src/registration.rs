//! Keeping one SIP account registered: REGISTER at start, refresh before the binding
//! expires, back off after failures (wrong credentials slowly: no hammering a
//! registrar), re-register at once after a network change or a resume from sleep,
//! and unregister on stop. The driver performs each REGISTER (digest auth included)
//! and reports its final answer. While registered, a keepalive (an OPTIONS to the
//! registrar) goes out at an interval: it keeps NAT bindings and connections open, and
//! when it goes unanswered the account registers again at once instead of believing
//! in a binding nobody can reach until it expires.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Why an account is not registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// 401/403 after authenticating: the user name or password is wrong.
    Credentials { code: u16, reason: String },
    /// Another final refusal (404 unknown user, 488, ...).
    Rejected { code: u16, reason: String },
    /// 5xx, 408, or no answer at all (timeout, transport error).
    Unreachable { detail: String },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Credentials { code, reason } => {
                write!(f, "wrong user name or password ({code} {reason})")
            }
            Self::Rejected { code, reason } => write!(f, "refused by the server ({code} {reason})"),
            Self::Unreachable { detail } => write!(f, "server not reachable ({detail})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Not started, or stopped.
    Idle,
    /// The first REGISTER (or one after a failure or a network change) is on its way.
    Registering,
    /// Bound until `until`; a refresh goes out before then.
    Registered { until: Instant },
    /// The last attempt failed; the next is at `retry_at`.
    Failing { failure: Failure, retry_at: Instant },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Start,
    Stop,
    /// The final answer to the REGISTER in flight. `expires`: the binding's lifetime the
    /// registrar granted; `min_expires`: its Min-Expires on a 423.
    Response {
        code: u16,
        reason: String,
        expires: Option<u32>,
        min_expires: Option<u32>,
    },
    /// The REGISTER got no answer (timeout, transport error).
    NoAnswer {
        detail: String,
    },
    /// The network changed or the computer woke up: bindings may be stale.
    NetworkChanged,
    /// The registrar answered the keepalive (any answer: it is there).
    KeepaliveAnswered,
    /// The keepalive got no answer (timeout, transport error).
    KeepaliveFailed {
        detail: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send a REGISTER asking for `expires` seconds.
    Register {
        expires: u32,
    },
    /// Send a REGISTER with `Expires: 0`.
    Unregister,
    /// Give up on the REGISTER in flight (the binding lapsed while it went unanswered).
    Abandon,
    /// Send a keepalive to the registrar and report the outcome.
    Keepalive,
    State(State),
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The binding lifetime asked for, in seconds.
    pub expires: u32,
    /// First retry delay after a failure; doubles per failure up to `max_retry`.
    pub min_retry: Duration,
    pub max_retry: Duration,
    /// Retry delay after wrong credentials (a person has to fix them).
    pub credentials_retry: Duration,
    /// Time between keepalives while registered; `None` for none.
    pub keepalive: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            expires: 600,
            min_retry: Duration::from_secs(2),
            max_retry: Duration::from_secs(60),
            credentials_retry: Duration::from_secs(300),
            keepalive: None,
        }
    }
}

#[derive(Debug)]
pub struct Registration {
    config: Config,
    state: State,
    /// A REGISTER is in flight.
    pending: bool,
    /// When the next refresh goes out (while registered).
    refresh_at: Option<Instant>,
    failures: u32,
    /// When the next keepalive goes out (while registered and none is in flight).
    keepalive_at: Option<Instant>,
    /// A keepalive is in flight.
    probing: bool,
    /// The lifetime to ask for (raised by a 423).
    expires: u32,
    /// Deterministic jitter: spreads the retries of many phones after an outage.
    jitter_seed: u64,
    out: VecDeque<Output>,
}

impl Registration {
    pub fn new(config: Config, jitter_seed: u64) -> Self {
        let expires = config.expires;
        Self {
            config,
            state: State::Idle,
            pending: false,
            refresh_at: None,
            failures: 0,
            keepalive_at: None,
            probing: false,
            expires,
            jitter_seed,
            out: VecDeque::new(),
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When `handle_timeout` wants to run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            // A refresh in flight: the binding lapses at `until` if it stays unanswered.
            State::Registered { until } if self.pending => Some(*until),
            _ if self.pending => None,
            State::Registered { .. } => match (self.refresh_at, self.keepalive_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            State::Failing { retry_at, .. } => Some(*retry_at),
            State::Idle | State::Registering => None,
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.pending {
            if let State::Registered { until } = self.state
                && now >= until
            {
                // Not registered any more, whatever the refresh may still bring.
                self.pending = false;
                self.out.push_back(Output::Abandon);
                let retry = self.backoff();
                self.fail(
                    now,
                    Failure::Unreachable {
                        detail: "no answer to the refresh before the binding expired".into(),
                    },
                    retry,
                );
            }
            return;
        }
        let refresh_due = self.refresh_at.is_some_and(|t| now >= t);
        if matches!(self.state, State::Registered { .. })
            && !refresh_due
            && !self.probing
            && self.keepalive_at.is_some_and(|t| now >= t)
        {
            self.keepalive_at = None;
            self.probing = true;
            self.out.push_back(Output::Keepalive);
            return;
        }
        let due = match &self.state {
            State::Registered { .. } => refresh_due,
            State::Failing { retry_at, .. } => now >= *retry_at,
            State::Idle | State::Registering => false,
        };
        if due {
            if matches!(self.state, State::Failing { .. }) {
                self.set_state(State::Registering);
            }
            self.register();
        }
    }

    pub fn handle_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::Start => {
                if self.state == State::Idle {
                    self.failures = 0;
                    self.set_state(State::Registering);
                    self.register();
                }
            }
            Input::Stop => {
                let was_bound = matches!(self.state, State::Registered { .. });
                self.refresh_at = None;
                self.keepalive_at = None;
                self.set_state(State::Idle);
                if was_bound {
                    self.out.push_back(Output::Unregister);
                }
            }
            Input::KeepaliveAnswered => {
                self.probing = false;
                if matches!(self.state, State::Registered { .. }) && !self.pending {
                    self.keepalive_at = self.config.keepalive.map(|k| now + k);
                }
            }
            Input::KeepaliveFailed { detail } => {
                self.probing = false;
                if matches!(self.state, State::Registered { .. }) && !self.pending {
                    tracing::info!(%detail, "keepalive unanswered: registering again");
                    self.keepalive_at = None;
                    self.set_state(State::Registering);
                    self.register();
                }
            }
            Input::NetworkChanged => match self.state {
                State::Registered { .. } | State::Failing { .. } if !self.pending => {
                    self.failures = 0;
                    self.set_state(State::Registering);
                    self.register();
                }
                _ => {}
            },
            Input::Response {
                code,
                reason,
                expires,
                min_expires,
            } => {
                if !self.pending || self.state == State::Idle {
                    // An answer to a REGISTER sent before a stop: nothing to do.
                    self.pending = false;
                    return;
                }
                self.pending = false;
                match code {
                    200..=299 => {
                        let granted = expires.unwrap_or(self.expires).max(1);
                        self.failures = 0;
                        self.refresh_at = Some(now + refresh_after(granted));
                        if !self.probing {
                            self.keepalive_at = self.config.keepalive.map(|k| now + k);
                        }
                        self.set_state(State::Registered {
                            until: now + Duration::from_secs(u64::from(granted)),
                        });
                    }
                    423 if min_expires.is_some_and(|m| m > self.expires) => {
                        // Interval too brief: ask again with the registrar's minimum.
                        self.expires = min_expires.unwrap_or(self.expires);
                        self.register();
                    }
                    401 | 403 | 407 => {
                        let retry = self.config.credentials_retry;
                        self.fail(now, Failure::Credentials { code, reason }, retry);
                    }
                    408 | 500..=599 => {
                        let retry = self.backoff();
                        self.fail(
                            now,
                            Failure::Unreachable {
                                detail: format!("{code} {reason}"),
                            },
                            retry,
                        );
                    }
                    _ => {
                        let retry = self.config.max_retry;
                        self.fail(now, Failure::Rejected { code, reason }, retry);
                    }
                }
            }
            Input::NoAnswer { detail } => {
                if !self.pending || self.state == State::Idle {
                    self.pending = false;
                    return;
                }
                self.pending = false;
                let retry = self.backoff();
                self.fail(now, Failure::Unreachable { detail }, retry);
            }
        }
    }

    fn register(&mut self) {
        self.pending = true;
        // The REGISTER's answer says as much as a keepalive would.
        self.keepalive_at = None;
        self.out.push_back(Output::Register {
            expires: self.expires,
        });
    }

    fn fail(&mut self, now: Instant, failure: Failure, retry: Duration) {
        self.failures = self.failures.saturating_add(1);
        self.refresh_at = None;
        self.keepalive_at = None;
        self.set_state(State::Failing {
            failure,
            retry_at: now + retry,
        });
    }

    /// min_retry · 2^(failures), capped, minus up to a quarter of jitter.
    fn backoff(&mut self) -> Duration {
        let exp = self.failures.min(16);
        let base = self
            .config
            .min_retry
            .saturating_mul(1 << exp)
            .min(self.config.max_retry);
        // xorshift: deterministic per seed, different per phone.
        self.jitter_seed ^= self.jitter_seed << 13;
        self.jitter_seed ^= self.jitter_seed >> 7;
        self.jitter_seed ^= self.jitter_seed << 17;
        let quarter = base / 4;
        let cut = quarter.mul_f64((self.jitter_seed % 1000) as f64 / 1000.0);
        base - cut
    }

    fn set_state(&mut self, state: State) {
        if self.state != state {
            self.state = state.clone();
            self.out.push_back(Output::State(state));
        }
    }
}

/// When to refresh a binding of `expires` seconds: well before it lapses, so that one
/// lost REGISTER and its retransmissions still fit (RFC 3261 leaves this to the UA).
fn refresh_after(expires: u32) -> Duration {
    let expires = u64::from(expires);
    let margin = (expires / 10).clamp(5.min(expires / 2), 60);
    Duration::from_secs(expires.saturating_sub(margin).max(1))
}

#[cfg(test)]
mod tests;
