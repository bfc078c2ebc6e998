//! ICE (RFC 8445) for a call's one media component (RTP and RTCP muxed) on our host
//! candidate, sans-IO: the session hands it the STUN datagrams that arrive
//! (`handle_stun`) and the time (`handle_timeout`); it says what to send
//! (`poll_transmit`), when it next wants the clock (`poll_timeout`), and which address
//! the media goes to once a pair is chosen (`selected`).
//!
//! What WebRTC peers and gateways need of a softphone: connectivity checks with
//! short-term credentials (USERNAME, MESSAGE-INTEGRITY, FINGERPRINT), the offerer
//! controlling and nominating aggressively (USE-CANDIDATE on its checks), the answerer
//! following the nomination, and consent freshness once media flows (RFC 7675: a check
//! every few seconds, media stops after 30 s without an answer). Only host candidates:
//! no STUN or TURN servers. Messages are encoded by the `stun` crate (webrtc-rs).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use stun::agent::TransactionId;
use stun::attributes::{
    ATTR_ICE_CONTROLLED, ATTR_ICE_CONTROLLING, ATTR_PRIORITY, ATTR_USE_CANDIDATE, ATTR_USERNAME,
};
use stun::fingerprint::FINGERPRINT;
use stun::integrity::MessageIntegrity;
use stun::message::{BINDING_REQUEST, BINDING_SUCCESS, Message, Setter};
use stun::textattrs::TextAttribute;
use stun::xoraddr::XorMappedAddress;

/// Pacing of checks before a pair is chosen (RFC 8445 §14.2: Ta, 50 ms).
const TA: Duration = Duration::from_millis(50);
/// Without a working pair by then, the media path failed.
const GIVE_UP: Duration = Duration::from_secs(10);
/// Consent freshness (RFC 7675): a check every 5 s, lost after 30 s unanswered.
const CONSENT_EVERY: Duration = Duration::from_secs(5);
const CONSENT_LOST: Duration = Duration::from_secs(30);
/// Host candidate, component 1 (RFC 8445 §5.1.2.1: 126 << 24 | 65535 << 8 | 255).
pub const HOST_PRIORITY: u32 = 2_130_706_431;

/// Our ICE credentials for a session (RFC 8445 §5.3: ufrag ≥ 4, pwd ≥ 22 ice-chars).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceCredentials {
    pub ufrag: String,
    pub pwd: String,
}

impl IceCredentials {
    pub fn generate() -> Result<Self, String> {
        const ICE_CHARS: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bytes = [0u8; 8 + 24];
        getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
        let text: String = bytes
            .iter()
            .map(|b| char::from(ICE_CHARS[usize::from(*b) % ICE_CHARS.len()]))
            .collect();
        Ok(Self {
            ufrag: text[..8].to_owned(),
            pwd: text[8..].to_owned(),
        })
    }
}

/// The other side's ICE parameters from its SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteIce {
    pub ufrag: String,
    pub pwd: String,
    /// Its UDP candidates for component 1 we can reach, best first.
    pub candidates: Vec<SocketAddr>,
}

/// The ICE side of a session.
#[derive(Debug, Clone)]
pub struct IceSetup {
    pub local: IceCredentials,
    pub remote: RemoteIce,
    /// The offerer controls (RFC 8445 §6.1.1) and nominates.
    pub controlling: bool,
}

#[derive(Debug)]
struct Pending {
    id: [u8; 12],
    to: SocketAddr,
    nominate: bool,
}

/// ICE for one component (see the module docs).
#[derive(Debug)]
pub struct IceAgent {
    setup: IceSetup,
    tie_breaker: u64,
    started: Instant,
    next_check: Instant,
    /// Round-robin over the remote candidates until a pair works.
    next_candidate: usize,
    pending: VecDeque<Pending>,
    /// Pairs whose check succeeded.
    valid: Vec<SocketAddr>,
    /// Addresses that proved they know the credentials (answers and checks): media
    /// from them is the peer's, even from an address it did not list (a peer-reflexive
    /// candidate, RFC 8445 §7.3.1.3).
    verified: Vec<SocketAddr>,
    /// What the controlling peer nominated (we are controlled).
    nominated: Option<SocketAddr>,
    selected: Option<SocketAddr>,
    last_answer: Option<Instant>,
    failed: Option<String>,
    out: VecDeque<(SocketAddr, Vec<u8>)>,
}

impl IceAgent {
    pub fn new(now: Instant, setup: IceSetup, tie_breaker: u64) -> Self {
        Self {
            setup,
            tie_breaker,
            started: now,
            next_check: now,
            next_candidate: 0,
            pending: VecDeque::new(),
            valid: Vec::new(),
            verified: Vec::new(),
            nominated: None,
            selected: None,
            last_answer: None,
            failed: None,
            out: VecDeque::new(),
        }
    }

    /// Where media goes, once a pair is chosen.
    pub fn selected(&self) -> Option<SocketAddr> {
        self.selected
    }

    /// Addresses media may come from (see `verified`).
    pub fn verified(&self) -> &[SocketAddr] {
        &self.verified
    }

    fn verify(&mut self, from: SocketAddr) {
        if !self.verified.contains(&from) {
            self.verified.push(from);
        }
    }

    /// Why the media path failed, if it did.
    pub fn failed(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.failed.is_none().then_some(self.next_check)
    }

    /// Whether a datagram is STUN (RFC 7983: first byte 0–3, and the magic cookie).
    pub fn is_stun(packet: &[u8]) -> bool {
        packet.len() >= 20 && packet[0] < 4 && stun::message::is_message(packet)
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.failed.is_some() || now < self.next_check {
            return;
        }
        match self.selected {
            None => {
                if now.saturating_duration_since(self.started) > GIVE_UP {
                    self.failed = Some(format!(
                        "no media path to the other side (ICE: none of its {} candidates answered)",
                        self.setup.remote.candidates.len()
                    ));
                    return;
                }
                let candidates = &self.setup.remote.candidates;
                if !candidates.is_empty() {
                    let to = candidates[self.next_candidate % candidates.len()];
                    self.next_candidate += 1;
                    self.check(to, self.setup.controlling);
                }
                self.next_check = now + TA;
            }
            Some(to) => {
                if self
                    .last_answer
                    .is_some_and(|t| now.saturating_duration_since(t) > CONSENT_LOST)
                {
                    self.failed =
                        Some("the other side stopped answering (ICE consent lost)".into());
                    return;
                }
                self.check(to, self.setup.controlling);
                self.next_check = now + CONSENT_EVERY;
            }
        }
    }

    /// A STUN datagram from `from`.
    pub fn handle_stun(&mut self, now: Instant, from: SocketAddr, packet: &[u8]) {
        let mut message = Message::new();
        if message.unmarshal_binary(packet).is_err() || FINGERPRINT.check(&message).is_err() {
            return;
        }
        if message.typ == BINDING_REQUEST {
            self.answer(now, from, &mut message);
        } else if message.typ == BINDING_SUCCESS {
            self.answered(now, from, &mut message);
        }
    }

    /// The peer's check: answered when its credentials are right; nomination followed.
    fn answer(&mut self, now: Instant, from: SocketAddr, request: &mut Message) {
        let expected = format!("{}:{}", self.setup.local.ufrag, self.setup.remote.ufrag);
        let user = TextAttribute::get_from_as(request, ATTR_USERNAME).map(|u| u.text);
        // The remote ufrag part may be absent in early checks from some peers: ours decides.
        let ours = user
            .as_deref()
            .is_ok_and(|u| u == expected || u.split(':').next() == Some(&self.setup.local.ufrag));
        let integrity = MessageIntegrity::new_short_term_integrity(self.setup.local.pwd.clone());
        if !ours || integrity.check(request).is_err() {
            return;
        }
        let mut response = Message::new();
        let built = response.build(&[
            Box::new(BINDING_SUCCESS),
            Box::new(request.transaction_id),
            Box::new(XorMappedAddress {
                ip: from.ip(),
                port: from.port(),
            }),
        ]);
        if built.is_err()
            || integrity.add_to(&mut response).is_err()
            || FINGERPRINT.add_to(&mut response).is_err()
        {
            return;
        }
        self.out.push_back((from, response.raw.clone()));
        self.last_answer.get_or_insert(now);
        self.verify(from);
        if !self.setup.controlling && request.contains(ATTR_USE_CANDIDATE) {
            self.nominated = Some(from);
            if self.selected.is_none() {
                self.selected = Some(from);
                self.next_check = now + CONSENT_EVERY;
            }
        }
        // A triggered check (RFC 8445 §7.3.1.4): the pair works both ways.
        if !self.valid.contains(&from) && !self.pending.iter().any(|p| p.to == from) {
            self.check(from, false);
        }
    }

    fn answered(&mut self, now: Instant, from: SocketAddr, response: &mut Message) {
        let Some(index) = self
            .pending
            .iter()
            .position(|p| p.id == response.transaction_id.0)
        else {
            return;
        };
        let integrity = MessageIntegrity::new_short_term_integrity(self.setup.remote.pwd.clone());
        if integrity.check(response).is_err() {
            return;
        }
        let Some(check) = self.pending.remove(index) else {
            return;
        };
        self.last_answer = Some(now);
        self.verify(from);
        if !self.valid.contains(&from) {
            self.valid.push(from);
        }
        if self.selected.is_none() && (check.nominate || self.nominated == Some(check.to)) {
            self.selected = Some(check.to);
            self.next_check = now + CONSENT_EVERY;
        }
    }

    fn check(&mut self, to: SocketAddr, nominate: bool) {
        let id = TransactionId::new();
        let mut request = Message::new();
        let username = format!("{}:{}", self.setup.remote.ufrag, self.setup.local.ufrag);
        if request
            .build(&[
                Box::new(BINDING_REQUEST),
                Box::new(id),
                Box::new(TextAttribute::new(ATTR_USERNAME, username)),
            ])
            .is_err()
        {
            return;
        }
        request.add(ATTR_PRIORITY, &HOST_PRIORITY.to_be_bytes());
        let role = if self.setup.controlling {
            ATTR_ICE_CONTROLLING
        } else {
            ATTR_ICE_CONTROLLED
        };
        request.add(role, &self.tie_breaker.to_be_bytes());
        if nominate {
            request.add(ATTR_USE_CANDIDATE, &[]);
        }
        let integrity = MessageIntegrity::new_short_term_integrity(self.setup.remote.pwd.clone());
        if integrity.add_to(&mut request).is_err() || FINGERPRINT.add_to(&mut request).is_err() {
            return;
        }
        // A few checks in flight at most: the oldest unanswered ones are forgotten.
        if self.pending.len() >= 16 {
            self.pending.pop_front();
        }
        self.pending.push_back(Pending {
            id: id.0,
            to,
            nominate,
        });
        self.out.push_back((to, request.raw.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(b_pwd_seen_by_a: &str) -> (IceAgent, IceAgent, SocketAddr, SocketAddr) {
        let a_addr: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let b_addr: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        let (a_cred, b_cred) = (
            IceCredentials::generate().unwrap(),
            IceCredentials::generate().unwrap(),
        );
        let now = Instant::now();
        let a = IceAgent::new(
            now,
            IceSetup {
                local: a_cred.clone(),
                remote: RemoteIce {
                    ufrag: b_cred.ufrag.clone(),
                    pwd: b_pwd_seen_by_a.replace("{b}", &b_cred.pwd),
                    candidates: vec![b_addr],
                },
                controlling: true,
            },
            1,
        );
        let b = IceAgent::new(
            now,
            IceSetup {
                local: b_cred,
                remote: RemoteIce {
                    ufrag: a_cred.ufrag,
                    pwd: a_cred.pwd,
                    candidates: vec![a_addr],
                },
                controlling: false,
            },
            2,
        );
        (a, b, a_addr, b_addr)
    }

    /// Runs both on a simulated clock, packets delivered at once, for `duration`.
    fn run(
        a: &mut IceAgent,
        b: &mut IceAgent,
        a_addr: SocketAddr,
        b_addr: SocketAddr,
        duration: Duration,
    ) {
        let start = Instant::now();
        let mut now = start;
        while now < start + duration {
            a.handle_timeout(now);
            b.handle_timeout(now);
            for _ in 0..10 {
                while let Some((to, packet)) = a.poll_transmit() {
                    assert!(IceAgent::is_stun(&packet));
                    if to == b_addr {
                        b.handle_stun(now, a_addr, &packet);
                    }
                }
                while let Some((to, packet)) = b.poll_transmit() {
                    if to == a_addr {
                        a.handle_stun(now, b_addr, &packet);
                    }
                }
            }
            now += Duration::from_millis(10);
        }
    }

    #[test]
    fn the_controlling_side_nominates_and_both_choose_the_pair() {
        let (mut a, mut b, a_addr, b_addr) = pair("{b}");
        run(&mut a, &mut b, a_addr, b_addr, Duration::from_millis(200));
        assert_eq!(a.selected(), Some(b_addr));
        assert_eq!(b.selected(), Some(a_addr));
        assert_eq!((a.verified(), b.verified()), (&[b_addr][..], &[a_addr][..]));
        // Consent keeps both alive well past 30 s.
        run(&mut a, &mut b, a_addr, b_addr, Duration::from_secs(40));
        assert_eq!((a.failed(), b.failed()), (None, None));
    }

    #[test]
    fn wrong_credentials_choose_nothing_and_fail_after_a_while() {
        let (mut a, mut b, a_addr, b_addr) = pair("not-the-password");
        run(&mut a, &mut b, a_addr, b_addr, Duration::from_secs(11));
        assert_eq!(a.selected(), None);
        assert_eq!(
            b.selected(),
            None,
            "b refuses checks signed with the wrong key"
        );
        assert!(
            a.failed().is_some_and(|f| f.contains("ICE")),
            "{:?}",
            a.failed()
        );
        assert!(!IceAgent::is_stun(&[0x80, 0, 0, 0]));
    }
}
