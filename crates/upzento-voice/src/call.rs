//! One call's life, sans-IO: what the user asks (hang up, hold, mute), what the
//! network says (ringing, answered, refused, the other side hung up) and the time
//! (an unanswered call gives up after the ring timeout). The driver does the SIP
//! (INVITE, CANCEL, BYE, re-INVITE) and the media the machine asks for.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// We hung up (or cancelled before the answer).
    Local,
    /// The other side hung up.
    Remote,
    /// 486/600: busy.
    Busy,
    /// 603: declined.
    Declined,
    /// Nobody answered within the ring timeout.
    NoAnswer,
    /// Another final refusal (404, 480, 488, ...).
    Refused { code: u16, reason: String },
    /// No answer at all, or the connection failed.
    Failed { detail: String },
    /// An incoming call the caller gave up on, or nobody took in time.
    Missed,
    /// Handed to someone else (blind transfer): the other side called them.
    Transferred,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Someone calls us: it rings here.
    Incoming,
    /// The INVITE is on its way.
    Dialing,
    /// 180/183: it rings (with early media when the far end sends it).
    Ringing {
        early_media: bool,
    },
    Active {
        on_hold: bool,
        muted: bool,
    },
    Ended(EndReason),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    // The user.
    /// Take the incoming call.
    Answer,
    /// Turn the incoming call down: busy (486) or declined (603).
    Decline {
        busy: bool,
    },
    Hangup,
    Hold,
    Resume,
    Mute(bool),
    /// Blind transfer: ask the other side to call `target` (a SIP URI) instead.
    Transfer {
        target: String,
    },
    // The network.
    Provisional {
        code: u16,
        early_media: bool,
    },
    Answered,
    Refused {
        code: u16,
        reason: String,
    },
    RemoteHangup,
    Failed {
        detail: String,
    },
    /// The other side accepted the transfer (202 to our REFER).
    TransferAccepted,
    /// It refused the transfer; the call goes on.
    TransferRefused {
        code: u16,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Tell the caller it rings (180).
    Ring,
    /// Answer the incoming INVITE (200 with our SDP).
    Accept,
    /// Refuse the incoming INVITE with this status.
    Reject {
        code: u16,
    },
    /// Cancel the INVITE (not answered yet).
    Cancel,
    /// End the established call.
    Bye,
    /// Re-INVITE with `a=sendonly` (hold) or `a=sendrecv` (resume).
    Reinvite {
        hold: bool,
    },
    /// REFER the other side to `target`.
    Refer {
        target: String,
    },
    StartMedia,
    StopMedia,
    Mute(bool),
    State(State),
}

#[derive(Debug)]
pub struct Call {
    state: State,
    /// When an unanswered call gives up.
    ring_deadline: Instant,
    out: VecDeque<Output>,
}

/// How long an outgoing call may ring (RFC 3261's Timer C is three minutes; agents
/// expect a minute).
pub const RING_TIMEOUT: Duration = Duration::from_secs(60);

impl Call {
    /// An outgoing call whose INVITE goes out at `now`.
    pub fn outgoing(now: Instant) -> Self {
        Self {
            state: State::Dialing,
            ring_deadline: now + RING_TIMEOUT,
            out: VecDeque::from([Output::State(State::Dialing)]),
        }
    }

    /// An incoming call whose INVITE arrived at `now`: it rings until answered,
    /// declined, given up by the caller, or the ring timeout.
    pub fn incoming(now: Instant) -> Self {
        Self {
            state: State::Incoming,
            ring_deadline: now + RING_TIMEOUT,
            out: VecDeque::from([Output::Ring, Output::State(State::Incoming)]),
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        matches!(
            self.state,
            State::Incoming | State::Dialing | State::Ringing { .. }
        )
        .then_some(self.ring_deadline)
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if now < self.ring_deadline {
            return;
        }
        match self.state {
            State::Dialing | State::Ringing { .. } => {
                self.out.push_back(Output::Cancel);
                self.end(EndReason::NoAnswer);
            }
            State::Incoming => {
                // 480 Temporarily Unavailable: the caller's side may try voicemail.
                self.out.push_back(Output::Reject { code: 480 });
                self.end(EndReason::Missed);
            }
            State::Active { .. } | State::Ended(_) => {}
        }
    }

    pub fn handle_input(&mut self, _now: Instant, input: Input) {
        if matches!(self.state, State::Ended(_)) {
            return;
        }
        match (input, self.state.clone()) {
            (Input::Answer, State::Incoming) => {
                self.out.push_back(Output::Accept);
                self.out.push_back(Output::StartMedia);
                self.set(State::Active {
                    on_hold: false,
                    muted: false,
                });
            }
            (Input::Decline { busy }, State::Incoming) => {
                self.out.push_back(Output::Reject {
                    code: if busy { 486 } else { 603 },
                });
                self.end(EndReason::Local);
            }
            (Input::Hangup, State::Incoming) => {
                self.out.push_back(Output::Reject { code: 603 });
                self.end(EndReason::Local);
            }
            (Input::RemoteHangup, State::Incoming) => self.end(EndReason::Missed),
            (Input::Hangup, State::Dialing | State::Ringing { .. }) => {
                self.out.push_back(Output::Cancel);
                self.end(EndReason::Local);
            }
            (Input::Hangup, State::Active { .. }) => {
                self.out.push_back(Output::Bye);
                self.end(EndReason::Local);
            }
            (
                Input::Hold,
                State::Active {
                    on_hold: false,
                    muted,
                },
            ) => {
                self.out.push_back(Output::Reinvite { hold: true });
                self.set(State::Active {
                    on_hold: true,
                    muted,
                });
            }
            (
                Input::Resume,
                State::Active {
                    on_hold: true,
                    muted,
                },
            ) => {
                self.out.push_back(Output::Reinvite { hold: false });
                self.set(State::Active {
                    on_hold: false,
                    muted,
                });
            }
            (Input::Mute(mute), State::Active { on_hold, muted }) if mute != muted => {
                self.out.push_back(Output::Mute(mute));
                self.set(State::Active {
                    on_hold,
                    muted: mute,
                });
            }
            (Input::Transfer { target }, State::Active { .. }) => {
                self.out.push_back(Output::Refer { target });
            }
            // RFC 5589 §6: once the transferee has accepted, the transferor hangs up.
            (Input::TransferAccepted, State::Active { .. }) => {
                self.out.push_back(Output::Bye);
                self.end(EndReason::Transferred);
            }
            (Input::Provisional { early_media, .. }, State::Dialing | State::Ringing { .. }) => {
                if early_media && !matches!(self.state, State::Ringing { early_media: true }) {
                    self.out.push_back(Output::StartMedia);
                }
                self.set(State::Ringing { early_media });
            }
            (Input::Answered, State::Dialing | State::Ringing { .. }) => {
                if !matches!(self.state, State::Ringing { early_media: true }) {
                    self.out.push_back(Output::StartMedia);
                }
                self.set(State::Active {
                    on_hold: false,
                    muted: false,
                });
            }
            (Input::Refused { code, reason }, State::Dialing | State::Ringing { .. }) => {
                self.end(match code {
                    486 | 600 => EndReason::Busy,
                    603 => EndReason::Declined,
                    408 | 480 => EndReason::NoAnswer,
                    _ => EndReason::Refused { code, reason },
                });
            }
            (Input::RemoteHangup, _) => self.end(EndReason::Remote),
            (Input::Failed { detail }, _) => self.end(EndReason::Failed { detail }),
            // Everything else does not apply in this state (e.g. hold while ringing).
            _ => {}
        }
    }

    fn end(&mut self, reason: EndReason) {
        self.out.push_back(Output::StopMedia);
        self.set(State::Ended(reason));
    }

    fn set(&mut self, state: State) {
        if self.state != state {
            self.state = state.clone();
            self.out.push_back(Output::State(state));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(c: &mut Call) -> Vec<Output> {
        std::iter::from_fn(|| c.poll_output()).collect()
    }

    #[test]
    fn an_answered_call_is_held_resumed_muted_and_hung_up() {
        let t0 = Instant::now();
        let mut c = Call::outgoing(t0);
        assert_eq!(drain(&mut c), vec![Output::State(State::Dialing)]);
        c.handle_input(
            t0,
            Input::Provisional {
                code: 180,
                early_media: false,
            },
        );
        assert_eq!(
            drain(&mut c),
            vec![Output::State(State::Ringing { early_media: false })]
        );
        // Hold while ringing means nothing.
        c.handle_input(t0, Input::Hold);
        assert!(drain(&mut c).is_empty());
        c.handle_input(t0, Input::Answered);
        let active = State::Active {
            on_hold: false,
            muted: false,
        };
        assert_eq!(
            drain(&mut c),
            vec![Output::StartMedia, Output::State(active)]
        );
        assert_eq!(c.poll_timeout(), None, "no ring timeout once answered");
        c.handle_input(t0, Input::Hold);
        c.handle_input(t0, Input::Resume);
        c.handle_input(t0, Input::Mute(true));
        c.handle_input(t0, Input::Mute(true));
        assert_eq!(
            drain(&mut c),
            vec![
                Output::Reinvite { hold: true },
                Output::State(State::Active {
                    on_hold: true,
                    muted: false
                }),
                Output::Reinvite { hold: false },
                Output::State(State::Active {
                    on_hold: false,
                    muted: false
                }),
                Output::Mute(true),
                Output::State(State::Active {
                    on_hold: false,
                    muted: true
                }),
            ]
        );
        c.handle_input(t0, Input::Hangup);
        assert_eq!(
            drain(&mut c),
            vec![
                Output::Bye,
                Output::StopMedia,
                Output::State(State::Ended(EndReason::Local))
            ]
        );
        // A late BYE from the other side changes nothing.
        c.handle_input(t0, Input::RemoteHangup);
        assert!(drain(&mut c).is_empty());
    }

    #[test]
    fn a_blind_transfer_hangs_up_once_accepted_and_goes_on_when_refused() {
        let t0 = Instant::now();
        let mut c = Call::outgoing(t0);
        c.handle_input(t0, Input::Answered);
        drain(&mut c);
        c.handle_input(
            t0,
            Input::Transfer {
                target: "sip:carol@example.com".into(),
            },
        );
        assert_eq!(
            drain(&mut c),
            vec![Output::Refer {
                target: "sip:carol@example.com".into()
            }]
        );
        c.handle_input(t0, Input::TransferRefused { code: 603 });
        assert!(
            matches!(c.state(), State::Active { .. }),
            "refused: the call goes on"
        );
        c.handle_input(
            t0,
            Input::Transfer {
                target: "sip:carol@example.com".into(),
            },
        );
        drain(&mut c);
        c.handle_input(t0, Input::TransferAccepted);
        assert_eq!(
            drain(&mut c),
            vec![
                Output::Bye,
                Output::StopMedia,
                Output::State(State::Ended(EndReason::Transferred))
            ]
        );
        // Not before the answer.
        let mut c = Call::outgoing(t0);
        drain(&mut c);
        c.handle_input(
            t0,
            Input::Transfer {
                target: "sip:x@y".into(),
            },
        );
        assert!(drain(&mut c).is_empty());
    }

    #[test]
    fn early_media_starts_once_and_refusals_say_why() {
        let t0 = Instant::now();
        let mut c = Call::outgoing(t0);
        drain(&mut c);
        c.handle_input(
            t0,
            Input::Provisional {
                code: 183,
                early_media: true,
            },
        );
        c.handle_input(t0, Input::Answered);
        let out = drain(&mut c);
        assert_eq!(
            out.iter().filter(|o| **o == Output::StartMedia).count(),
            1,
            "{out:?}"
        );

        for (code, reason) in [
            (486, EndReason::Busy),
            (603, EndReason::Declined),
            (480, EndReason::NoAnswer),
        ] {
            let mut c = Call::outgoing(t0);
            c.handle_input(
                t0,
                Input::Refused {
                    code,
                    reason: "x".into(),
                },
            );
            assert_eq!(c.state(), &State::Ended(reason));
        }
        let mut c = Call::outgoing(t0);
        c.handle_input(
            t0,
            Input::Refused {
                code: 404,
                reason: "Not Found".into(),
            },
        );
        assert_eq!(
            c.state(),
            &State::Ended(EndReason::Refused {
                code: 404,
                reason: "Not Found".into()
            })
        );
    }

    #[test]
    fn an_incoming_call_rings_and_is_answered_declined_or_missed() {
        let t0 = Instant::now();
        let mut c = Call::incoming(t0);
        assert_eq!(
            drain(&mut c),
            vec![Output::Ring, Output::State(State::Incoming)]
        );
        // Mute and hold mean nothing before the answer.
        c.handle_input(t0, Input::Mute(true));
        assert!(drain(&mut c).is_empty());
        c.handle_input(t0, Input::Answer);
        assert_eq!(
            drain(&mut c),
            vec![
                Output::Accept,
                Output::StartMedia,
                Output::State(State::Active {
                    on_hold: false,
                    muted: false
                })
            ]
        );
        c.handle_input(t0, Input::RemoteHangup);
        assert_eq!(c.state(), &State::Ended(EndReason::Remote));

        for (busy, code) in [(true, 486), (false, 603)] {
            let mut c = Call::incoming(t0);
            drain(&mut c);
            c.handle_input(t0, Input::Decline { busy });
            assert_eq!(drain(&mut c)[0], Output::Reject { code });
            assert_eq!(c.state(), &State::Ended(EndReason::Local));
        }
        // The caller gives up: missed.
        let mut c = Call::incoming(t0);
        c.handle_input(t0, Input::RemoteHangup);
        assert_eq!(c.state(), &State::Ended(EndReason::Missed));
        // Nobody answers: 480 at the ring timeout, missed.
        let mut c = Call::incoming(t0);
        drain(&mut c);
        assert_eq!(c.poll_timeout(), Some(t0 + RING_TIMEOUT));
        c.handle_timeout(t0 + RING_TIMEOUT);
        assert_eq!(drain(&mut c)[0], Output::Reject { code: 480 });
        assert_eq!(c.state(), &State::Ended(EndReason::Missed));
    }

    #[test]
    fn an_unanswered_call_is_cancelled_at_the_ring_timeout_or_by_the_user() {
        let t0 = Instant::now();
        let mut c = Call::outgoing(t0);
        drain(&mut c);
        assert_eq!(c.poll_timeout(), Some(t0 + RING_TIMEOUT));
        c.handle_timeout(t0 + RING_TIMEOUT - Duration::from_millis(1));
        assert!(drain(&mut c).is_empty());
        c.handle_timeout(t0 + RING_TIMEOUT);
        assert_eq!(
            drain(&mut c),
            vec![
                Output::Cancel,
                Output::StopMedia,
                Output::State(State::Ended(EndReason::NoAnswer))
            ]
        );
        let mut c = Call::outgoing(t0);
        drain(&mut c);
        c.handle_input(t0, Input::Hangup);
        assert_eq!(drain(&mut c)[0], Output::Cancel);
        assert_eq!(c.state(), &State::Ended(EndReason::Local));
    }
}
