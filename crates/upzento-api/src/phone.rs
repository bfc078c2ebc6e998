//! The softphone in the app: SIP accounts (settings in a file, passwords only in the
//! keyring), one user agent that keeps them registered, calls with the chosen sound
//! devices, and the record of every finished call on its way to the cloud's history
//! (through the cache's outbox, so it survives being offline or a restart).
//!
//! The UI gets the whole [`PhoneView`] with every change (`AppEvent::Phone`): a few
//! accounts and at most a couple of calls, so a snapshot is simpler than deltas.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use upzento_domain::phone::to_e164;
use upzento_domain::resources::{CallStatus, CallType, NewCall};
use upzento_voice::call::{EndReason, State as CallState};
use upzento_voice::media::audio::{AudioSink, AudioSource, FRAME, Tone};
use upzento_voice::media::device::{self, LevelMeter, Microphone, Speaker};
use upzento_voice::registration::{Failure, State as RegState};
use upzento_voice::transfer::{TransferRequest, percent_decode};
use upzento_voice::ua::{
    AccountConfig, AccountHandle, CallHandle, IncomingCall, Transport, UserAgent,
};

use crate::views::AppEvent;
use crate::{Api, ApiError, ErrorCode};

/// How long an ended call stays on screen with its outcome.
const ENDED_SHOWN: Duration = Duration::from_secs(4);
const LABEL_MAX: usize = 80;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum SipTransport {
    Udp,
    Tcp,
    Tls,
    Ws,
    Wss,
}

impl From<SipTransport> for Transport {
    fn from(t: SipTransport) -> Self {
        match t {
            SipTransport::Udp => Self::Udp,
            SipTransport::Tcp => Self::Tcp,
            SipTransport::Tls => Self::Tls,
            SipTransport::Ws => Self::Ws,
            SipTransport::Wss => Self::Wss,
        }
    }
}

/// A SIP account as kept in the settings file (no password: that is in the keyring).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SipAccountSettings {
    id: String,
    label: String,
    registrar: String,
    user: String,
    auth_user: Option<String>,
    transport: SipTransport,
    outbound_proxy: Option<String>,
    /// The number this account calls from, E.164 (for the call history).
    caller_id: Option<String>,
    enabled: bool,
    /// Encrypted media only (SRTP).
    #[serde(default)]
    srtp: bool,
    /// How its keys are agreed.
    #[serde(default)]
    srtp_keys: SrtpKeys,
}

/// How an account's SRTP keys are agreed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum SrtpKeys {
    /// In the SDP (`a=crypto`, RFC 4568).
    #[default]
    Sdes,
    /// By DTLS on the media path (RFC 5764), checked against the SDP's fingerprints.
    Dtls,
}

/// The sound devices chosen (`None`: the system's default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct AudioChoice {
    pub input: Option<String>,
    pub output: Option<String>,
    /// Where incoming calls ring (often the laptop's speaker, not the headset).
    pub ringer: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PhoneSettings {
    accounts: Vec<SipAccountSettings>,
    #[serde(default)]
    audio: AudioChoice,
}

/// A SIP account as Settings shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct SipAccountView {
    pub id: String,
    pub label: String,
    pub registrar: String,
    pub user: String,
    pub auth_user: Option<String>,
    pub transport: SipTransport,
    pub outbound_proxy: Option<String>,
    pub caller_id: Option<String>,
    pub enabled: bool,
    /// Calls only with encrypted media (SRTP).
    pub srtp: bool,
    pub srtp_keys: SrtpKeys,
    pub state: SipStateView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum SipStateView {
    Off,
    Registering,
    Registered,
    Failing { reason: String },
}

/// A new account (`id` absent) or changes to one; `password` absent keeps the stored one.
#[derive(Debug, Clone, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct SipAccountInput {
    pub id: Option<String>,
    pub label: String,
    pub registrar: String,
    pub user: String,
    pub auth_user: Option<String>,
    pub transport: SipTransport,
    pub outbound_proxy: Option<String>,
    pub caller_id: Option<String>,
    pub enabled: bool,
    pub srtp: bool,
    /// SDES when absent.
    #[serde(default)]
    pub srtp_keys: SrtpKeys,
    pub password: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum CallDirection {
    Incoming,
    Outgoing,
}

impl From<CallDirection> for CallType {
    fn from(d: CallDirection) -> Self {
        match d {
            CallDirection::Incoming => Self::Incoming,
            CallDirection::Outgoing => Self::Outgoing,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum CallStateView {
    Incoming,
    Dialing,
    Ringing,
    #[serde(rename_all = "camelCase")]
    Active {
        on_hold: bool,
        muted: bool,
    },
    Ended {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ActiveCallView {
    /// The SIP Call-ID.
    pub id: String,
    pub account_id: String,
    pub direction: CallDirection,
    /// The other side: a number, or a SIP user.
    pub remote: String,
    /// The caller's display name, when the network gave one.
    pub remote_name: Option<String>,
    pub state: CallStateView,
    pub started_at: String,
    pub answered_at: Option<String>,
    /// How the line sounds, once audio flows (refreshed every second).
    pub quality: Option<CallQualityView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct CallQualityView {
    /// Mean opinion score ×10 (1.0–5.0 → 10–50): integers keep the view comparable.
    pub mos_tenths: u32,
    pub jitter_ms: u32,
    /// Lost packets, tenths of a percent.
    pub loss_permille: u32,
    pub rtt_ms: Option<u32>,
    /// Poor enough to tell the agent (MOS < 3.5, jitter > 30 ms, loss > 3 %, RTT > 400 ms).
    pub degraded: bool,
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn quality_view(q: &upzento_voice::media::quality::Quality) -> CallQualityView {
    let round = |x: f64| x.max(0.0).round() as u32;
    CallQualityView {
        mos_tenths: round(q.mos * 10.0),
        jitter_ms: round(q.jitter_ms),
        loss_permille: round(q.loss_percent * 10.0),
        rtt_ms: q.rtt_ms.map(round),
        degraded: q.degraded(),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct PhoneView {
    pub accounts: Vec<SipAccountView>,
    pub calls: Vec<ActiveCallView>,
    /// Answered calls that ended and wait for the agent's wrap-up, oldest first.
    pub wrap_ups: Vec<crate::wrap_up::WrapUpView>,
    /// Grows with every change: a command's answer and the events around it arrive in
    /// no set order, and the UI keeps the newest.
    pub revision: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct AudioDevicesView {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub chosen: AudioChoice,
    /// Why the list is empty, when no sound system answered.
    pub problem: Option<String>,
}

/// A call's microphone and speaker.
pub type CallAudio = (Box<dyn AudioSource>, Box<dyn AudioSink>);

/// Where call audio comes from and goes to; a trait so that tests can feed tones.
pub trait AudioDevices: Send + Sync + std::fmt::Debug {
    /// The microphone and speaker of a call.
    fn open(&self, choice: &AudioChoice) -> Result<CallAudio, String>;
    /// A speaker for the ringtone.
    fn ringer(&self, choice: &AudioChoice) -> Result<Box<dyn AudioSink>, String>;
    /// The level of the microphone of the latest call, while it is open.
    fn call_meter(&self) -> Option<LevelMeter> {
        None
    }
    /// Opens the chosen microphone on its own, to show its level (Settings > Sound).
    fn test_microphone(
        &self,
        choice: &AudioChoice,
    ) -> Result<(Box<dyn std::any::Any + Send>, LevelMeter), String> {
        let _ = choice;
        Err("no microphone to test".into())
    }
}

/// The computer's sound devices (cpal).
#[derive(Debug, Default)]
pub struct SystemAudio {
    meter: Mutex<Option<LevelMeter>>,
}

impl AudioDevices for SystemAudio {
    fn open(&self, choice: &AudioChoice) -> Result<CallAudio, String> {
        let microphone = Microphone::open(choice.input.as_deref())
            .map_err(|e| format!("The microphone cannot be opened: {e}."))?;
        let speaker = Speaker::open(choice.output.as_deref())
            .map_err(|e| format!("The speaker cannot be opened: {e}."))?;
        if let Ok(mut meter) = self.meter.lock() {
            *meter = Some(microphone.meter());
        }
        Ok((Box::new(microphone), Box::new(speaker)))
    }

    fn call_meter(&self) -> Option<LevelMeter> {
        self.meter.lock().ok()?.clone()
    }

    fn test_microphone(
        &self,
        choice: &AudioChoice,
    ) -> Result<(Box<dyn std::any::Any + Send>, LevelMeter), String> {
        let microphone = Microphone::open(choice.input.as_deref())
            .map_err(|e| format!("The microphone cannot be opened: {e}."))?;
        let meter = microphone.meter();
        Ok((Box::new(microphone), meter))
    }

    fn ringer(&self, choice: &AudioChoice) -> Result<Box<dyn AudioSink>, String> {
        let device = choice.ringer.as_deref().or(choice.output.as_deref());
        Speaker::open(device)
            .map(|s| Box::new(s) as Box<dyn AudioSink>)
            .map_err(|e| e.to_string())
    }
}

/// Our side of a call: one we placed, or one that came in (which can be answered).
#[derive(Debug)]
enum CallSide {
    Outgoing(CallHandle),
    Incoming(IncomingCall),
}

impl CallSide {
    fn handle(&self) -> &CallHandle {
        match self {
            Self::Outgoing(handle) => handle,
            Self::Incoming(incoming) => &incoming.call,
        }
    }
}

/// A call as the phone follows it.
struct LiveCall {
    view: ActiveCallView,
    side: CallSide,
    config: AccountSettingsWithNumber,
    started_ms: i64,
    answered_ms: Option<i64>,
    /// The ringtone of an incoming call, until it is answered or ends.
    ringing: Option<tokio::task::JoinHandle<()>>,
    /// Takes the incoming-call notification down (with a text to leave instead).
    notification: Option<crate::notify::CloseRing>,
}

impl std::fmt::Debug for LiveCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCall")
            .field("view", &self.view)
            .field("side", &self.side)
            .finish_non_exhaustive()
    }
}

impl LiveCall {
    /// Stops the ringing: the tone and the notification (`leave`: a missed call instead).
    fn stop_ringing(&mut self, leave: Option<crate::notify::Missed>) {
        if let Some(task) = self.ringing.take() {
            task.abort();
        }
        if let Some(close) = self.notification.take() {
            close(leave);
        }
    }
}

#[derive(Debug, Clone)]
struct AccountSettingsWithNumber {
    user: String,
    caller_id: Option<String>,
}

#[derive(Debug, Default)]
struct PhoneState {
    settings: PhoneSettings,
    loaded: bool,
    /// The enabled accounts were registered (once per run).
    started: bool,
    /// A link that asked for a call before the UI was there to show it.
    pending_dial: Option<String>,
    revision: u32,
    ua: Option<Arc<UserAgent>>,
    registrations: HashMap<String, AccountHandle>,
    states: HashMap<String, SipStateView>,
    calls: Vec<LiveCall>,
    wrap_ups: Vec<crate::wrap_up::WrapUpView>,
}

/// The phone's part of [`Api`].
#[derive(Debug)]
pub struct Phone {
    settings_path: PathBuf,
    state: Mutex<PhoneState>,
    audio: Arc<dyn AudioDevices>,
    /// Serialises starts of the user agent.
    starting: tokio::sync::Mutex<()>,
}

impl Phone {
    pub fn new(config_dir: &std::path::Path, audio: Arc<dyn AudioDevices>) -> Self {
        Self {
            settings_path: config_dir.join("phone.json"),
            state: Mutex::default(),
            audio,
            starting: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn add_wrap_up(&self, view: crate::wrap_up::WrapUpView) {
        let mut state = lock(&self.state);
        state.wrap_ups.retain(|w| w.id != view.id);
        state.wrap_ups.push(view);
    }

    pub(crate) fn remove_wrap_up(&self, id: &str) {
        lock(&self.state).wrap_ups.retain(|w| w.id != id);
    }
}

fn secret_key(account_id: &str) -> String {
    format!("sip-password:{account_id}")
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidInput, message)
}

fn lock(state: &Mutex<PhoneState>) -> std::sync::MutexGuard<'_, PhoneState> {
    // A panic while holding it leaves plain data behind: go on with it.
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Checks and tidies what the account form sent.
fn validate(input: &SipAccountInput, id: String) -> Result<SipAccountSettings, ApiError> {
    let text = |v: &str| v.trim().to_owned();
    let optional = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let registrar = text(&input.registrar);
    if registrar.is_empty() || registrar.contains(['/', '@', ' ']) {
        return Err(invalid(
            "The registrar is a domain or address, with :port when it is not 5060 (sip.example.com or 10.0.0.5:5080).",
        ));
    }
    let user = text(&input.user);
    if user.is_empty() || user.contains(['@', ':', ' ']) {
        return Err(invalid(
            "The user is the SIP user name alone, without @ or a domain.",
        ));
    }
    let outbound_proxy = optional(&input.outbound_proxy);
    if let Some(proxy) = &outbound_proxy
        && proxy.parse::<std::net::SocketAddr>().is_err()
    {
        return Err(invalid(
            "The outbound proxy is an address with its port, like 10.0.0.2:5060.",
        ));
    }
    let caller_id = optional(&input.caller_id)
        .map(|n| {
            to_e164(&n, None).map_err(|e| invalid(format!("Caller ID: {e}. Write it with +.")))
        })
        .transpose()?;
    let label = text(&input.label);
    Ok(SipAccountSettings {
        // Unnamed: the number callers see (what an agent calls the line), else the address.
        label: match (label.is_empty(), &caller_id) {
            (false, _) => label.chars().take(LABEL_MAX).collect(),
            (true, Some(number)) => number.clone(),
            (true, None) => format!("{user}@{registrar}"),
        },
        id,
        registrar,
        user,
        auth_user: optional(&input.auth_user),
        transport: input.transport,
        outbound_proxy,
        caller_id,
        enabled: input.enabled,
        srtp: input.srtp,
        srtp_keys: input.srtp_keys,
    })
}

fn account_config(settings: &SipAccountSettings, password: String) -> AccountConfig {
    AccountConfig {
        registrar: settings.registrar.clone(),
        user: settings.user.clone(),
        auth_user: settings.auth_user.clone(),
        password,
        transport: settings.transport.into(),
        outbound_proxy: settings
            .outbound_proxy
            .as_deref()
            .and_then(|p| p.parse().ok()),
        expires: 600,
        srtp: settings.srtp.then_some(match settings.srtp_keys {
            SrtpKeys::Sdes => upzento_voice::ua::KeyExchange::Sdes,
            SrtpKeys::Dtls => upzento_voice::ua::KeyExchange::Dtls,
        }),
        keepalive: None,
    }
}

fn reg_view(state: &RegState) -> SipStateView {
    match state {
        RegState::Idle => SipStateView::Off,
        RegState::Registering => SipStateView::Registering,
        RegState::Registered { .. } => SipStateView::Registered,
        RegState::Failing { failure, .. } => SipStateView::Failing {
            reason: failure_text(failure),
        },
    }
}

fn failure_text(failure: &Failure) -> String {
    let text = failure.to_string();
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

fn end_text(reason: &EndReason) -> String {
    match reason {
        EndReason::Local => "Call ended".into(),
        EndReason::Remote => "The other side hung up".into(),
        EndReason::Busy => "Busy".into(),
        EndReason::Declined => "Declined".into(),
        EndReason::NoAnswer => "No answer".into(),
        EndReason::Refused { code, reason } => format!("Refused: {code} {reason}"),
        EndReason::Failed { detail } => format!("Call failed: {detail}"),
        EndReason::Missed => "Missed call".into(),
        EndReason::Transferred => "Transferred".into(),
    }
}

fn state_view(state: &CallState) -> CallStateView {
    match state {
        CallState::Incoming => CallStateView::Incoming,
        CallState::Dialing => CallStateView::Dialing,
        CallState::Ringing { .. } => CallStateView::Ringing,
        CallState::Active { on_hold, muted } => CallStateView::Active {
            on_hold: *on_hold,
            muted: *muted,
        },
        CallState::Ended(reason) => CallStateView::Ended {
            reason: end_text(reason),
        },
    }
}

/// What to dial for what the agent typed: a `sip:` URI as it is, else the number
/// without its formatting (`+1 (415) 555-0101` → `+14155550101`).
pub fn dial_target(typed: &str) -> Result<String, ApiError> {
    let typed = typed.trim();
    if typed.starts_with("sip:") || typed.starts_with("sips:") {
        return Ok(typed.to_owned());
    }
    let typed = typed.strip_prefix("tel:").unwrap_or(typed);
    let cleaned: String = typed
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.' | '/'))
        .collect();
    let plus = cleaned.strip_prefix('+').unwrap_or(&cleaned);
    let ok = !plus.is_empty()
        && plus.len() <= 32
        && (plus
            .chars()
            .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
            || (!cleaned.starts_with('+')
                && plus
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))));
    if !ok {
        return Err(invalid(format!(
            "“{typed}” is not a number or SIP user to call."
        )));
    }
    Ok(cleaned)
}

/// The number or address of a `tel:`, `callto:` or `sip:` link (a click in a browser or
/// CRM, handed to the app by the desktop), for the dialer; `None` for anything else.
pub fn link_target(link: &str) -> Option<String> {
    let link = link.trim();
    let (scheme, rest) = link.split_once(':')?;
    let decoded = percent_decode(rest)?;
    match scheme.to_ascii_lowercase().as_str() {
        "tel" | "callto" => {
            // RFC 3966: parameters (;phone-context=…, ;ext=…) follow the number.
            let number = decoded.trim_start_matches("//").split(';').next()?.trim();
            dial_target(number).ok().filter(|n| {
                n.trim_start_matches('+')
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
            })
        }
        "sip" | "sips" => {
            let address = decoded.split('?').next()?;
            (!address.is_empty() && !address.contains(char::is_whitespace))
                .then(|| format!("{}:{address}", scheme.to_ascii_lowercase()))
        }
        _ => None,
    }
}

/// The user part of a SIP From/To value or URI (`"Bob" <sip:+1415@host>;tag=x` → `+1415`),
/// and the display name when there is one.
pub fn remote_party(value: &str) -> (String, Option<String>) {
    let value = value.trim();
    let (name, rest) = match value.find('<') {
        Some(i) => {
            let name = value[..i].trim().trim_matches('"').trim();
            ((!name.is_empty()).then(|| name.to_owned()), &value[i + 1..])
        }
        None => (None, value),
    };
    let uri = rest.split(['>', ';']).next().unwrap_or(rest);
    let uri = uri
        .strip_prefix("sips:")
        .or_else(|| uri.strip_prefix("sip:"))
        .or_else(|| uri.strip_prefix("tel:"))
        .unwrap_or(uri);
    let user = uri.split('@').next().unwrap_or(uri);
    (user.to_owned(), name)
}

/// A SIP user or dialled string as E.164, when it is a phone number.
fn as_number(value: &str) -> Option<String> {
    let digits = value.strip_prefix('+').unwrap_or(value);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    to_e164(&format!("+{digits}"), None).ok()
}

/// The history record of a finished call, when both ends are phone numbers (calls
/// between SIP extensions have no place in the tenant's phone history).
fn call_record(
    call: &ActiveCallView,
    account: &AccountSettingsWithNumber,
    started_ms: i64,
    answered_ms: Option<i64>,
    ended_ms: i64,
) -> Option<NewCall> {
    let ours = account
        .caller_id
        .clone()
        .or_else(|| as_number(&account.user))?;
    let theirs = as_number(&call.remote)?;
    let (from, to) = match call.direction {
        CallDirection::Outgoing => (ours, theirs),
        CallDirection::Incoming => (theirs, ours),
    };
    let status = match (answered_ms, call.direction) {
        (Some(_), _) => CallStatus::Completed,
        (None, CallDirection::Incoming) => CallStatus::Missed,
        (None, CallDirection::Outgoing) => CallStatus::Failed,
    };
    Some(NewCall {
        phone_number_id: None,
        kind: call.direction.into(),
        status,
        from,
        to,
        start_time: crate::session::stamp(started_ms),
        end_time: Some(crate::session::stamp(ended_ms.max(started_ms))),
        duration: answered_ms
            .map(|a| u32::try_from((ended_ms - a).max(0) / 1000).unwrap_or(u32::MAX)),
        notes: None,
        sip_call_id: Some(call.id.clone()),
    })
}

/// The address this computer reaches `registrar` from (no packet is sent: connecting a
/// UDP socket only picks the route).
fn local_ip_towards(registrar: &str) -> IpAddr {
    use std::net::ToSocketAddrs;
    let target = if registrar.contains(':') {
        registrar.to_owned()
    } else {
        format!("{registrar}:5060")
    };
    target
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .and_then(|addr| {
            let socket = std::net::UdpSocket::bind(if addr.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            })
            .ok()?;
            socket.connect(addr).ok()?;
            socket.local_addr().ok().map(|a| a.ip())
        })
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
}

/// US ringback cadence: 440 + 480 Hz, two seconds on, four off.
async fn ring(mut speaker: Box<dyn AudioSink>) {
    let mut low = Tone::new(440.0, 4000.0);
    let mut high = Tone::new(480.0, 4000.0);
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    let mut n = 0u32;
    loop {
        ticker.tick().await;
        let mut frame = [0i16; FRAME];
        if n % 300 < 100 {
            let (mut a, mut b) = ([0i16; FRAME], [0i16; FRAME]);
            low.read(&mut a);
            high.read(&mut b);
            for (out, (x, y)) in frame.iter_mut().zip(a.iter().zip(b)) {
                *out = x.saturating_add(y);
            }
        }
        speaker.write(&frame);
        n = n.wrapping_add(1);
    }
}

impl Api {
    pub(crate) fn phone_event(&self) {
        {
            let mut state = lock(&self.phone.state);
            state.revision = state.revision.wrapping_add(1);
        }
        let view = self.phone_view();
        // A call going (not merely ringing in) makes the agent busy for teammates.
        self.presence_on_call(view.calls.iter().any(|c| {
            !matches!(
                c.state,
                CallStateView::Incoming | CallStateView::Ended { .. }
            )
        }));
        let _ = self.events.send(AppEvent::Phone { phone: view });
    }

    /// The input level of the microphone in use by a call (dBFS), while one is open.
    pub fn call_input_level(&self) -> Option<f32> {
        self.phone.audio.call_meter()?.dbfs()
    }

    /// Streams the chosen microphone's level (dBFS, every 100 ms) to `on_level` for
    /// `seconds` (at most 30), so the agent sees it hears them before a call.
    pub async fn test_microphone(
        &self,
        seconds: u32,
        on_level: impl Fn(f32) -> bool + Send + 'static,
    ) -> Result<(), ApiError> {
        self.load_phone_settings();
        let choice = lock(&self.phone.state).settings.audio.clone();
        let audio = self.phone.audio.clone();
        let (device, meter) = tokio::task::spawn_blocking(move || audio.test_microphone(&choice))
            .await
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?
            .map_err(|message| ApiError::new(ErrorCode::AudioDevice, message))?;
        let mut ticker = tokio::time::interval(Duration::from_millis(100));
        for _ in 0..seconds.min(30) * 10 {
            ticker.tick().await;
            let Some(level) = meter.dbfs() else { break };
            if !on_level(level) {
                break;
            }
        }
        // Closing a device blocks for a moment: not on the async threads.
        let _ = tokio::task::spawn_blocking(move || drop(device)).await;
        Ok(())
    }

    /// A `tel:`/`sip:` link the app was opened with: the dialer gets its number (the
    /// agent presses Call; a link never dials by itself). `false` when it is no link.
    pub fn open_link(&self, link: &str) -> bool {
        let Some(number) = link_target(link) else {
            return false;
        };
        lock(&self.phone.state).pending_dial = Some(number.clone());
        let _ = self.events.send(AppEvent::Dial { number });
        true
    }

    /// The number of a link that came before the UI asked (once).
    pub fn take_pending_dial(&self) -> Option<String> {
        lock(&self.phone.state).pending_dial.take()
    }

    /// Accounts and calls as they are now.
    pub fn phone_view(&self) -> PhoneView {
        let state = lock(&self.phone.state);
        PhoneView {
            accounts: state
                .settings
                .accounts
                .iter()
                .map(|a| SipAccountView {
                    id: a.id.clone(),
                    label: a.label.clone(),
                    registrar: a.registrar.clone(),
                    user: a.user.clone(),
                    auth_user: a.auth_user.clone(),
                    transport: a.transport,
                    outbound_proxy: a.outbound_proxy.clone(),
                    caller_id: a.caller_id.clone(),
                    enabled: a.enabled,
                    srtp: a.srtp,
                    srtp_keys: a.srtp_keys,
                    state: state
                        .states
                        .get(&a.id)
                        .cloned()
                        .unwrap_or(SipStateView::Off),
                })
                .collect(),
            calls: state.calls.iter().map(|c| c.view.clone()).collect(),
            wrap_ups: state.wrap_ups.clone(),
            revision: state.revision,
        }
    }

    fn save_phone_settings(&self, settings: &PhoneSettings) -> Result<(), ApiError> {
        let json = serde_json::to_vec_pretty(settings)
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        if let Some(dir) = self.phone.settings_path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| ApiError::new(ErrorCode::StorageError, e.to_string()))?;
        }
        // Write then rename: a crash leaves the old file or the new one, never half.
        let tmp = self.phone.settings_path.with_extension("json.tmp");
        std::fs::write(&tmp, json)
            .and_then(|()| std::fs::rename(&tmp, &self.phone.settings_path))
            .map_err(|e| {
                ApiError::new(
                    ErrorCode::StorageError,
                    format!("The phone settings could not be saved: {e}"),
                )
            })
    }

    fn load_phone_settings(&self) {
        let mut state = lock(&self.phone.state);
        if state.loaded {
            return;
        }
        state.loaded = true;
        match std::fs::read(&self.phone.settings_path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(settings) => state.settings = settings,
                Err(e) => {
                    tracing::error!(error = %e, "the phone settings cannot be read; starting without accounts");
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::error!(error = %e, "the phone settings cannot be read"),
        }
    }

    /// The network changed or the computer woke up: every account registers again now
    /// (its binding may be gone, or point at an old address).
    pub fn reregister(&self) {
        for handle in lock(&self.phone.state).registrations.values() {
            handle.network_changed();
        }
    }

    /// Loads the SIP accounts and registers the enabled ones (at app start), and
    /// watches for resumes from sleep.
    pub async fn phone_start(&self) -> PhoneView {
        self.load_phone_settings();
        let ids: Vec<String> = {
            let mut state = lock(&self.phone.state);
            if std::mem::replace(&mut state.started, true) {
                Vec::new()
            } else {
                let api = self.clone();
                tokio::spawn(async move {
                    let mut wake = upzento_client::sync::machine::WakeDetector::new();
                    let mut ticker = tokio::time::interval(Duration::from_secs(5));
                    loop {
                        ticker.tick().await;
                        if wake.observe(std::time::Instant::now(), std::time::SystemTime::now()) {
                            tracing::info!(
                                "resumed from sleep: registering the SIP accounts again"
                            );
                            api.reregister();
                        }
                    }
                });
                state
                    .settings
                    .accounts
                    .iter()
                    .filter(|a| a.enabled)
                    .map(|a| a.id.clone())
                    .collect()
            }
        };
        for id in ids {
            if let Err(e) = self.register_account(&id).await {
                tracing::warn!(account = %id, error = %e, "SIP account not registered");
            }
        }
        self.phone_view()
    }

    async fn user_agent(&self, registrar: &str) -> Result<Arc<UserAgent>, ApiError> {
        let _starting = self.phone.starting.lock().await;
        if let Some(ua) = lock(&self.phone.state).ua.clone() {
            return Ok(ua);
        }
        let registrar = registrar.to_owned();
        let ip = tokio::task::spawn_blocking(move || local_ip_towards(&registrar))
            .await
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        let ua = Arc::new(UserAgent::start(ip).await.map_err(|e| {
            ApiError::new(
                ErrorCode::Internal,
                format!("The phone could not start: {e}"),
            )
        })?);
        if let Some(mut incoming) = ua.incoming_calls() {
            let api = self.clone();
            tokio::spawn(async move {
                while let Some(call) = incoming.recv().await {
                    api.on_incoming(call);
                }
            });
        }
        lock(&self.phone.state).ua = Some(ua.clone());
        Ok(ua)
    }

    fn account_settings(&self, id: &str) -> Result<SipAccountSettings, ApiError> {
        lock(&self.phone.state)
            .settings
            .accounts
            .iter()
            .find(|a| a.id == id)
            .cloned()
            .ok_or_else(|| ApiError::new(ErrorCode::NoSipAccount, "There is no such SIP account."))
    }

    fn password(&self, id: &str) -> Result<String, ApiError> {
        Ok(self.secrets.get(&secret_key(id))?.unwrap_or_default())
    }

    /// (Re)starts keeping `id` registered, following its state into the view.
    async fn register_account(&self, id: &str) -> Result<(), ApiError> {
        let settings = self.account_settings(id)?;
        let old = lock(&self.phone.state).registrations.remove(id);
        if let Some(old) = old {
            old.stop().await;
        }
        if !settings.enabled {
            lock(&self.phone.state)
                .states
                .insert(id.to_owned(), SipStateView::Off);
            self.phone_event();
            return Ok(());
        }
        let password = self.password(id)?;
        let ua = self.user_agent(&settings.registrar).await?;
        let handle = ua
            .register(account_config(&settings, password))
            .map_err(|e| invalid(e.to_string()))?;
        let mut watch = handle.watch();
        {
            let mut state = lock(&self.phone.state);
            state
                .states
                .insert(id.to_owned(), reg_view(&handle.state()));
            state.registrations.insert(id.to_owned(), handle);
        }
        self.phone_event();
        let api = self.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            while watch.changed().await.is_ok() {
                let view = reg_view(&watch.borrow_and_update());
                {
                    let mut state = lock(&api.phone.state);
                    if !state.registrations.contains_key(&id) {
                        break;
                    }
                    state.states.insert(id.clone(), view);
                }
                api.phone_event();
            }
        });
        Ok(())
    }

    /// Adds or changes a SIP account; the password goes to the keyring only.
    pub async fn save_sip_account(&self, input: SipAccountInput) -> Result<PhoneView, ApiError> {
        self.load_phone_settings();
        let id = input
            .id
            .clone()
            .unwrap_or_else(|| format!("sip-{}", crate::session::now_ms()));
        let settings = validate(&input, id.clone())?;
        let exists = self.account_settings(&id).is_ok();
        if input.id.is_some() && !exists {
            return Err(ApiError::new(
                ErrorCode::NoSipAccount,
                "There is no such SIP account.",
            ));
        }
        match input.password.as_deref() {
            Some(password) if !password.is_empty() => {
                self.secrets.set(&secret_key(&id), password)?;
            }
            _ if !exists => {
                return Err(invalid("A new SIP account needs its password."));
            }
            _ => {}
        }
        let all = {
            let mut state = lock(&self.phone.state);
            match state.settings.accounts.iter_mut().find(|a| a.id == id) {
                Some(a) => *a = settings,
                None => state.settings.accounts.push(settings),
            }
            state.settings.clone()
        };
        self.save_phone_settings(&all)?;
        self.register_account(&id).await?;
        Ok(self.phone_view())
    }

    pub async fn delete_sip_account(&self, id: String) -> Result<PhoneView, ApiError> {
        self.load_phone_settings();
        let (handle, all) = {
            let mut state = lock(&self.phone.state);
            let before = state.settings.accounts.len();
            state.settings.accounts.retain(|a| a.id != id);
            if state.settings.accounts.len() == before {
                return Err(ApiError::new(
                    ErrorCode::NoSipAccount,
                    "There is no such SIP account.",
                ));
            }
            state.states.remove(&id);
            (state.registrations.remove(&id), state.settings.clone())
        };
        if let Some(handle) = handle {
            handle.stop().await;
        }
        self.save_phone_settings(&all)?;
        self.secrets.delete(&secret_key(&id))?;
        self.phone_event();
        Ok(self.phone_view())
    }

    pub async fn audio_devices(&self) -> AudioDevicesView {
        self.load_phone_settings();
        let chosen = lock(&self.phone.state).settings.audio.clone();
        match tokio::task::spawn_blocking(device::devices).await {
            Ok(Ok(found)) => AudioDevicesView {
                inputs: found.inputs,
                outputs: found.outputs,
                chosen,
                problem: None,
            },
            Ok(Err(e)) => AudioDevicesView {
                inputs: Vec::new(),
                outputs: Vec::new(),
                chosen,
                problem: Some(e.to_string()),
            },
            Err(e) => AudioDevicesView {
                inputs: Vec::new(),
                outputs: Vec::new(),
                chosen,
                problem: Some(e.to_string()),
            },
        }
    }

    pub async fn set_audio_devices(
        &self,
        choice: AudioChoice,
    ) -> Result<AudioDevicesView, ApiError> {
        self.load_phone_settings();
        let all = {
            let mut state = lock(&self.phone.state);
            state.settings.audio = choice;
            state.settings.clone()
        };
        self.save_phone_settings(&all)?;
        Ok(self.audio_devices().await)
    }

    fn open_audio(&self) -> Result<CallAudio, ApiError> {
        let choice = lock(&self.phone.state).settings.audio.clone();
        self.phone
            .audio
            .open(&choice)
            .map_err(|message| ApiError::new(ErrorCode::AudioDevice, message))
    }

    /// Calls `number` (or a SIP user or URI) from `account_id`, or from the first
    /// registered account.
    pub async fn dial(
        &self,
        number: String,
        account_id: Option<String>,
    ) -> Result<ActiveCallView, ApiError> {
        self.load_phone_settings();
        let target = dial_target(&number)?;
        let settings = {
            let state = lock(&self.phone.state);
            let pick = |a: &&SipAccountSettings| match &account_id {
                Some(id) => &a.id == id,
                None => a.enabled && state.states.get(&a.id) == Some(&SipStateView::Registered),
            };
            state.settings.accounts.iter().find(pick).cloned()
        }
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::NoSipAccount,
                "No SIP account is registered: add one in Settings > Phone.",
            )
        })?;
        let password = self.password(&settings.id)?;
        let ua = self.user_agent(&settings.registrar).await?;
        let (source, sink) = self.open_audio()?;
        let handle = ua
            .call(&account_config(&settings, password), &target, source, sink)
            .await
            .map_err(|e| invalid(format!("That call cannot be placed: {e}")))?;
        Ok(self.follow_outgoing(handle, settings, &target))
    }

    /// Shows and follows a call we placed to `target` through `settings`' account.
    fn follow_outgoing(
        &self,
        handle: CallHandle,
        settings: SipAccountSettings,
        target: &str,
    ) -> ActiveCallView {
        let now = crate::session::now_ms();
        let view = ActiveCallView {
            id: handle.call_id().to_owned(),
            account_id: settings.id.clone(),
            direction: CallDirection::Outgoing,
            remote: remote_party(target).0,
            remote_name: None,
            state: state_view(&handle.state()),
            started_at: crate::session::stamp(now),
            answered_at: None,
            quality: None,
        };
        self.follow(LiveCall {
            view: view.clone(),
            side: CallSide::Outgoing(handle),
            config: AccountSettingsWithNumber {
                user: settings.user,
                caller_id: settings.caller_id,
            },
            started_ms: now,
            answered_ms: None,
            ringing: None,
            notification: None,
        });
        view
    }

    fn on_incoming(&self, call: IncomingCall) {
        // An attended transfer to us replaces one of our calls: taken at once, in its
        // place, without ringing (RFC 3891 §3).
        let replaced = call.replaces.clone().and_then(|old| {
            let state = lock(&self.phone.state);
            state
                .calls
                .iter()
                .find(|c| c.view.id == old && matches!(c.view.state, CallStateView::Active { .. }))
                .map(|c| (old.clone(), c.view.account_id.clone(), c.config.clone()))
        });
        if let Some((old, account_id, config)) = replaced {
            self.take_replacing(call, old, account_id, config);
            return;
        }
        let (user, name) = remote_party(&call.from);
        let now = crate::session::now_ms();
        // The account called: the first registered one (one UA serves them all).
        let account = {
            let state = lock(&self.phone.state);
            state
                .settings
                .accounts
                .iter()
                .find(|a| state.states.get(&a.id) == Some(&SipStateView::Registered))
                .cloned()
        };
        let Some(account) = account else {
            call.decline(false);
            return;
        };
        let choice = lock(&self.phone.state).settings.audio.clone();
        let ringing = match self.phone.audio.ringer(&choice) {
            Ok(speaker) => Some(tokio::spawn(ring(speaker))),
            Err(e) => {
                tracing::warn!(error = %e, "no ringtone");
                None
            }
        };
        let view = ActiveCallView {
            id: call.call.call_id().to_owned(),
            account_id: account.id.clone(),
            direction: CallDirection::Incoming,
            remote: user,
            remote_name: name,
            state: CallStateView::Incoming,
            started_at: crate::session::stamp(now),
            answered_at: None,
            quality: None,
        };
        let title = view
            .remote_name
            .clone()
            .unwrap_or_else(|| view.remote.clone());
        let id = view.id.clone();
        self.follow(LiveCall {
            view,
            side: CallSide::Incoming(call),
            config: AccountSettingsWithNumber {
                user: account.user,
                caller_id: account.caller_id,
            },
            started_ms: now,
            answered_ms: None,
            ringing,
            notification: None,
        });
        let api = self.clone();
        let id_for_close = id.clone();
        let _ = self.events.send(AppEvent::IncomingCall { id: id.clone() });
        // The notification's actions come on its own thread, outside the runtime.
        let runtime = tokio::runtime::Handle::current();
        let on_answer = Box::new(move |answer: bool| {
            let api = api.clone();
            let id = id.clone();
            runtime.spawn(async move {
                let outcome = if answer {
                    api.answer(id.clone()).await
                } else {
                    api.decline(id.clone()).await
                };
                if let Err(e) = outcome {
                    tracing::warn!(error = %e, "call notification action");
                }
                if answer {
                    let _ = api.events.send(AppEvent::ShowCall { id });
                }
            });
        });
        match self.notifier.ring(&title, on_answer) {
            Ok(close) => {
                let mut state = lock(&self.phone.state);
                match state.calls.iter_mut().find(|c| c.view.id == id_for_close) {
                    // Still ringing: the notification goes when the ringing stops.
                    Some(call) if call.view.state == CallStateView::Incoming => {
                        call.notification = Some(close);
                    }
                    _ => close(None),
                }
            }
            Err(e) => tracing::warn!(error = %e, "no incoming-call notification"),
        }
    }

    /// What "Call back" on a missed call's notification does: dials `remote` from the
    /// account the call came in on, and brings the window forward to the call. It runs on
    /// the notification's thread, so it hands the work to the runtime.
    fn call_back(&self, remote: String, account_id: String) -> Box<dyn FnOnce() + Send> {
        let api = self.clone();
        let runtime = tokio::runtime::Handle::current();
        Box::new(move || {
            runtime.spawn(async move {
                match api.dial(remote, Some(account_id)).await {
                    Ok(call) => {
                        let _ = api.events.send(AppEvent::ShowCall { id: call.id });
                    }
                    Err(e) => tracing::warn!(error = %e, "call back from a notification"),
                }
            });
        })
    }

    /// Answers `call`, which replaces our call `old` (hung up), with the same account.
    fn take_replacing(
        &self,
        call: IncomingCall,
        old: String,
        account_id: String,
        config: AccountSettingsWithNumber,
    ) {
        let (user, name) = remote_party(&call.from);
        let now = crate::session::now_ms();
        let view = ActiveCallView {
            id: call.call.call_id().to_owned(),
            account_id,
            direction: CallDirection::Incoming,
            remote: user,
            remote_name: name,
            state: CallStateView::Incoming,
            started_at: crate::session::stamp(now),
            answered_at: None,
            quality: None,
        };
        let id = view.id.clone();
        tracing::info!(%old, new = %id, "a transferred call takes the place of ours");
        let _ = self.hangup(old);
        self.follow(LiveCall {
            view,
            side: CallSide::Incoming(call),
            config,
            started_ms: now,
            answered_ms: None,
            ringing: None,
            notification: None,
        });
        // The old call is going: nothing to hold, the new one simply takes its place.
        if let Err(e) = self.take(&id) {
            tracing::warn!(error = %e, "answering a transferred call");
            let api = self.clone();
            tokio::spawn(async move {
                let _ = api.decline(id).await;
            });
        }
    }

    /// The far end of call `id` asked us to call someone else (REFER): the call is
    /// placed with the same account and devices, and the far end is told how it went;
    /// our old call ends once the new one is answered, or carries on if it is not.
    async fn carry_out_transfer(&self, id: String, request: TransferRequest) {
        let placed = async {
            let account_id = self.with_call(&id, |call| Ok(call.view.account_id.clone()))?;
            let settings = self.account_settings(&account_id)?;
            let password = self.password(&settings.id)?;
            let ua = self.user_agent(&settings.registrar).await?;
            let (source, sink) = self.open_audio()?;
            let handle = ua
                .call_with(
                    &account_config(&settings, password),
                    &request.target,
                    request.replaces.as_deref(),
                    source,
                    sink,
                )
                .await
                .map_err(|e| invalid(format!("The transfer cannot be placed: {e}")))?;
            Ok::<_, ApiError>((handle, settings))
        }
        .await;
        let (handle, settings) = match placed {
            Ok(placed) => placed,
            Err(e) => {
                tracing::warn!(error = %e, "transfer asked of us");
                let _ = self.with_call(&id, |call| {
                    call.side.handle().transfer_outcome(false);
                    Ok(())
                });
                return;
            }
        };
        let mut states = handle.watch();
        self.follow_outgoing(handle, settings, &request.target);
        let answered = states
            .wait_for(|s| matches!(s, CallState::Active { .. } | CallState::Ended(_)))
            .await
            .is_ok_and(|s| matches!(*s, CallState::Active { .. }));
        let _ = self.with_call(&id, |call| {
            call.side.handle().transfer_outcome(answered);
            Ok(())
        });
    }

    /// Follows a call's states into the view until it ends, then files its record.
    fn follow(&self, call: LiveCall) {
        let mut watch = call.side.handle().watch();
        let mut asked = call.side.handle().watch_transfer_request();
        let id = call.view.id.clone();
        {
            // Transfers asked of this call (they end with it).
            let (api, id) = (self.clone(), id.clone());
            tokio::spawn(async move {
                while asked.changed().await.is_ok() {
                    let request = asked.borrow_and_update().clone();
                    if let Some(request) = request {
                        api.carry_out_transfer(id.clone(), request).await;
                    }
                }
            });
        }
        lock(&self.phone.state).calls.push(call);
        self.phone_event();
        let api = self.clone();
        tokio::spawn(async move {
            loop {
                let current = watch.borrow_and_update().clone();
                let now = crate::session::now_ms();
                let record = {
                    let mut state = lock(&api.phone.state);
                    let Some(call) = state.calls.iter_mut().find(|c| c.view.id == id) else {
                        return;
                    };
                    call.view.state = state_view(&current);
                    match &current {
                        CallState::Active { .. } if call.answered_ms.is_none() => {
                            call.answered_ms = Some(now);
                            call.view.answered_at = Some(crate::session::stamp(now));
                            call.stop_ringing(None);
                            None
                        }
                        CallState::Ended(reason) => {
                            let missed = matches!(reason, EndReason::Missed).then(|| {
                                crate::notify::Missed {
                                    text: format!(
                                        "Missed call from {}",
                                        call.view
                                            .remote_name
                                            .as_deref()
                                            .unwrap_or(&call.view.remote)
                                    ),
                                    call_back: api.call_back(
                                        call.view.remote.clone(),
                                        call.view.account_id.clone(),
                                    ),
                                }
                            });
                            call.stop_ringing(missed);
                            let record = call_record(
                                &call.view,
                                &call.config,
                                call.started_ms,
                                call.answered_ms,
                                now,
                            );
                            // A call someone talked on, filed in the history, gets a
                            // wrap-up.
                            let wrap = record
                                .as_ref()
                                .zip(call.answered_ms)
                                .map(|(r, _)| (call.view.clone(), r.duration.unwrap_or_default()));
                            Some((record, wrap))
                        }
                        _ => None,
                    }
                };
                api.phone_event();
                if let Some((record, wrap)) = record {
                    api.file_call_record(record).await;
                    if let Some((view, duration)) = wrap {
                        // Aside: reading the tenant's wrap-up time must not hold the
                        // ended call on screen.
                        let api = api.clone();
                        tokio::spawn(async move {
                            api.begin_wrap_up(
                                view.id,
                                view.direction,
                                view.remote,
                                view.remote_name,
                                duration,
                            )
                            .await;
                        });
                    }
                    tokio::time::sleep(ENDED_SHOWN).await;
                    lock(&api.phone.state).calls.retain(|c| c.view.id != id);
                    api.phone_event();
                    return;
                }
                // The next state, refreshing the quality every second meanwhile.
                loop {
                    tokio::select! {
                        changed = watch.changed() => {
                            if changed.is_err() {
                                // The call's task ended without a final state.
                                lock(&api.phone.state).calls.retain(|c| c.view.id != id);
                                api.phone_event();
                                return;
                            }
                            break;
                        }
                        () = tokio::time::sleep(Duration::from_secs(1)) => {
                            let changed = {
                                let mut state = lock(&api.phone.state);
                                state.calls.iter_mut().find(|c| c.view.id == id).is_some_and(|call| {
                                    let q = call.side.handle().quality().map(|q| quality_view(&q));
                                    let changed = q != call.view.quality;
                                    call.view.quality = q;
                                    changed
                                })
                            };
                            if changed {
                                api.phone_event();
                            }
                        }
                    }
                }
            }
        });
    }

    /// Queues the record for the cloud (sent by the sync, offline or not).
    async fn file_call_record(&self, record: Option<NewCall>) {
        let Some(record) = record else {
            tracing::info!("a call between SIP users is not part of the phone history");
            return;
        };
        let now = crate::session::now_ms();
        let queued = self
            .read(move |cache, _| cache.queue_call_record(&record, now))
            .await;
        match queued {
            Ok(()) => {
                if let Some(session) = self.session.lock().await.as_ref() {
                    session.sync.outbox_queued();
                }
            }
            Err(e) => tracing::warn!(error = %e, "the call record was not kept"),
        }
    }

    fn with_call<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut LiveCall) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut state = lock(&self.phone.state);
        let call = state
            .calls
            .iter_mut()
            .find(|c| c.view.id == id)
            .ok_or_else(|| ApiError::new(ErrorCode::NoSuchCall, "That call has ended."))?;
        f(call)
    }

    /// Takes a ringing incoming call with the chosen microphone and speaker.
    pub async fn answer(&self, id: String) -> Result<(), ApiError> {
        // Only one call talks at a time: the others go on hold.
        let others: Vec<String> = lock(&self.phone.state)
            .calls
            .iter()
            .filter(|c| {
                c.view.id != id
                    && matches!(c.view.state, CallStateView::Active { on_hold: false, .. })
            })
            .map(|c| c.view.id.clone())
            .collect();
        for other in others {
            self.set_on_hold(other, true)?;
        }
        self.take(&id)
    }

    /// Answers a ringing call with the chosen devices, leaving the others as they are.
    fn take(&self, id: &str) -> Result<(), ApiError> {
        let (source, sink) = self.open_audio()?;
        self.with_call(id, |call| {
            if call.view.state != CallStateView::Incoming {
                return Err(invalid("That call is not ringing."));
            }
            call.stop_ringing(None);
            if let CallSide::Incoming(incoming) = &call.side {
                incoming.answer(source, sink);
            }
            Ok(())
        })
    }

    /// Turns a ringing incoming call down (603 Decline).
    pub async fn decline(&self, id: String) -> Result<(), ApiError> {
        self.with_call(&id, |call| {
            if call.view.state != CallStateView::Incoming {
                return Err(invalid("That call is not ringing."));
            }
            call.stop_ringing(None);
            if let CallSide::Incoming(incoming) = &call.side {
                incoming.decline(false);
            }
            Ok(())
        })
    }

    pub fn hangup(&self, id: String) -> Result<(), ApiError> {
        self.with_call(&id, |call| {
            call.side.handle().hangup();
            Ok(())
        })
    }

    pub fn set_muted(&self, id: String, muted: bool) -> Result<(), ApiError> {
        self.with_call(&id, |call| {
            call.side.handle().set_muted(muted);
            Ok(())
        })
    }

    pub fn set_on_hold(&self, id: String, hold: bool) -> Result<(), ApiError> {
        self.with_call(&id, |call| {
            call.side.handle().set_on_hold(hold);
            Ok(())
        })
    }

    /// Keypad keys during a call (0-9, *, #, A-D), as RFC 4733 events.
    pub fn send_dtmf(&self, id: String, keys: String) -> Result<(), ApiError> {
        if keys.is_empty()
            || !keys
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D'))
        {
            return Err(invalid("Keypad keys are 0-9, *, # and A-D."));
        }
        self.with_call(&id, |call| {
            call.side.handle().send_dtmf(&keys);
            Ok(())
        })
    }

    /// Attended transfer: connects the far end of call `id` with the far end of call
    /// `to` (REFER with Replaces); both our calls end once it is done.
    pub fn transfer_to_call(&self, id: String, to: String) -> Result<(), ApiError> {
        let state = lock(&self.phone.state);
        let find = |id: &str| {
            state
                .calls
                .iter()
                .find(|c| c.view.id == id)
                .ok_or_else(|| ApiError::new(ErrorCode::NoSuchCall, "That call has ended."))
        };
        let (call, other) = (find(&id)?, find(&to)?);
        if id == to {
            return Err(invalid("A call cannot be transferred to itself."));
        }
        if !call.side.handle().transfer_to(other.side.handle()) {
            return Err(invalid(
                "The other call is not connected yet: wait until it is answered.",
            ));
        }
        Ok(())
    }

    /// Blind transfer to a number or SIP user at the call's registrar.
    pub fn transfer(&self, id: String, to: String) -> Result<(), ApiError> {
        let target = dial_target(&to)?;
        let account_id = self.with_call(&id, |call| Ok(call.view.account_id.clone()))?;
        let settings = self.account_settings(&account_id)?;
        let uri = if target.starts_with("sip") {
            target
        } else {
            format!("sip:{target}@{}", settings.registrar)
        };
        self.with_call(&id, |call| {
            call.side.handle().transfer(&uri);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> SipAccountInput {
        SipAccountInput {
            id: None,
            label: " ".into(),
            registrar: " sip.example.com:5080 ".into(),
            user: "14155550100".into(),
            auth_user: Some(String::new()),
            transport: SipTransport::Udp,
            outbound_proxy: None,
            caller_id: Some("+1 415 555 2671".into()),
            enabled: true,
            srtp: false,
            srtp_keys: SrtpKeys::Sdes,
            password: Some("secret".into()),
        }
    }

    #[test]
    fn account_forms_are_tidied_and_bad_ones_explained() {
        let s = validate(&input(), "a".into()).unwrap();
        assert_eq!(s.registrar, "sip.example.com:5080");
        // Unnamed: called by its caller ID, else by its address.
        assert_eq!(s.label, "+14155552671");
        let no_caller_id = SipAccountInput {
            caller_id: None,
            ..input()
        };
        let s2 = validate(&no_caller_id, "b".into()).unwrap();
        assert_eq!(s2.label, "14155550100@sip.example.com:5080");
        assert_eq!(s.auth_user, None);
        assert_eq!(s.caller_id.as_deref(), Some("+14155552671"));
        for (field, value) in [
            ("registrar", "sip:alice@example.com"),
            ("user", "alice@example.com"),
            ("proxy", "proxy.example.com"),
            ("caller", "12345"),
        ] {
            let mut bad = input();
            match field {
                "registrar" => bad.registrar = value.into(),
                "user" => bad.user = value.into(),
                "proxy" => bad.outbound_proxy = Some(value.into()),
                _ => bad.caller_id = Some(value.into()),
            }
            let e = validate(&bad, "a".into()).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidInput, "{field}");
        }
    }

    #[test]
    fn what_the_agent_types_becomes_a_dial_string() {
        assert_eq!(dial_target(" +1 (415) 555-2671 ").unwrap(), "+14155552671");
        assert_eq!(dial_target("tel:+14155552671").unwrap(), "+14155552671");
        assert_eq!(
            dial_target("sip:bob@example.com").unwrap(),
            "sip:bob@example.com"
        );
        assert_eq!(dial_target("bob").unwrap(), "bob");
        assert_eq!(dial_target("*72#").unwrap(), "*72#");
        for bad in ["", "+", "+1 415 abc", "bob smith@x", "<script>"] {
            assert!(dial_target(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn links_become_dialer_input() {
        assert_eq!(
            link_target("tel:+1-415-555-2671").as_deref(),
            Some("+14155552671")
        );
        assert_eq!(
            link_target("tel:%2B1%20415%20555%202671;phone-context=example.com").as_deref(),
            Some("+14155552671")
        );
        assert_eq!(
            link_target("callto://+442079460018").as_deref(),
            Some("+442079460018")
        );
        assert_eq!(
            link_target("sip:bob@pbx.example.com?subject=hi").as_deref(),
            Some("sip:bob@pbx.example.com")
        );
        for not_a_call in [
            "https://example.com",
            "tel:",
            "tel:abc def",
            "mailto:a@b.c",
            "--flag",
            "tel:%zz",
        ] {
            assert_eq!(link_target(not_a_call), None, "{not_a_call}");
        }
    }

    #[test]
    fn callers_are_read_from_sip_headers() {
        assert_eq!(
            remote_party("\"Ann Lee\" <sip:+14155552671@10.0.0.1;user=phone>;tag=abc"),
            ("+14155552671".into(), Some("Ann Lee".into()))
        );
        assert_eq!(
            remote_party("<sip:bob@127.0.0.1:5060>;tag=1"),
            ("bob".into(), None)
        );
        assert_eq!(
            remote_party("sip:carol@example.com"),
            ("carol".into(), None)
        );
    }

    fn view(direction: CallDirection, remote: &str) -> ActiveCallView {
        ActiveCallView {
            id: "call-1@host".into(),
            account_id: "a".into(),
            direction,
            remote: remote.into(),
            remote_name: None,
            state: CallStateView::Dialing,
            started_at: String::new(),
            answered_at: None,
            quality: None,
        }
    }

    #[test]
    fn records_say_who_called_whom_for_how_long() {
        let account = AccountSettingsWithNumber {
            user: "agent7".into(),
            caller_id: Some("+14155552671".into()),
        };
        let start = 1_700_000_000_000;
        let out = call_record(
            &view(CallDirection::Outgoing, "+442079460018"),
            &account,
            start,
            Some(start + 3_000),
            start + 65_500,
        )
        .unwrap();
        assert_eq!(out.kind, CallType::Outgoing);
        assert_eq!(out.status, CallStatus::Completed);
        assert_eq!(
            (out.from.as_str(), out.to.as_str()),
            ("+14155552671", "+442079460018")
        );
        assert_eq!(out.duration, Some(62));
        assert_eq!(out.sip_call_id.as_deref(), Some("call-1@host"));
        assert_eq!(out.start_time, "2023-11-14T22:13:20Z");

        let missed = call_record(
            &view(CallDirection::Incoming, "442079460018"),
            &account,
            start,
            None,
            start + 20_000,
        )
        .unwrap();
        assert_eq!(missed.status, CallStatus::Missed);
        assert_eq!(
            (missed.from.as_str(), missed.to.as_str()),
            ("+442079460018", "+14155552671")
        );
        assert_eq!(missed.duration, None);

        let unanswered = call_record(
            &view(CallDirection::Outgoing, "+442079460018"),
            &account,
            start,
            None,
            start + 1_000,
        )
        .unwrap();
        assert_eq!(unanswered.status, CallStatus::Failed);

        // Between SIP users: not a phone call for the history.
        assert!(
            call_record(
                &view(CallDirection::Outgoing, "bob"),
                &account,
                start,
                None,
                start
            )
            .is_none()
        );
        let no_number = AccountSettingsWithNumber {
            user: "agent7".into(),
            caller_id: None,
        };
        assert!(
            call_record(
                &view(CallDirection::Outgoing, "+442079460018"),
                &no_number,
                start,
                None,
                start
            )
            .is_none()
        );
    }
}
