//! The user agent: one SIP endpoint (rsipstack) and the accounts registered through
//! it. Each account's registration runs as a task that drives the sans-IO
//! [`Registration`] machine: it performs the REGISTERs the machine asks for (digest
//! auth included) and tells it the answers and the time.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rsipstack::dialog::authenticate::Credential;
use rsipstack::sip::Header;
use rsipstack::transport::TransportLayer;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::{EndpointBuilder, transaction::endpoint::EndpointInnerRef};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use std::sync::Arc;

use rsipstack::dialog::DialogId;
use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver, TerminatedReason};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invitation::{InviteAsyncResult, InviteOption};
use rsipstack::transaction::TransactionReceiver;

use crate::call::{self, Call};
use crate::media::audio::{AudioSink, AudioSource};
use crate::media::sdp::{Codec, Direction, LocalAudio, RemoteAudio, parse_remote};
use crate::media::session::MediaSession;
use crate::registration::{Config, Input, Output, Registration, State};

/// How a SIP account reaches its registrar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    Ws,
}

impl Transport {
    fn param(self) -> &'static str {
        match self {
            Self::Udp => "",
            Self::Tcp => ";transport=tcp",
            Self::Ws => ";transport=ws",
        }
    }
}

/// One SIP account. The password comes from the keyring; it is never written anywhere.
#[derive(Clone)]
pub struct AccountConfig {
    /// The registrar's domain or address, with a port when not 5060.
    pub registrar: String,
    pub user: String,
    /// The digest user name, when it differs from `user`.
    pub auth_user: Option<String>,
    pub password: String,
    pub transport: Transport,
    /// Send everything through this proxy instead of the registrar's address.
    pub outbound_proxy: Option<SocketAddr>,
    /// Binding lifetime to ask for, in seconds.
    pub expires: u32,
}

impl std::fmt::Debug for AccountConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountConfig")
            .field("registrar", &self.registrar)
            .field("user", &self.user)
            .field("auth_user", &self.auth_user)
            .field("password", &"<secret>")
            .field("transport", &self.transport)
            .field("outbound_proxy", &self.outbound_proxy)
            .field("expires", &self.expires)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UaError {
    #[error("cannot open a SIP socket: {0}")]
    Bind(String),
    #[error("not a SIP address: {0}")]
    Address(String),
}

/// The running user agent.
pub struct UserAgent {
    endpoint: EndpointInnerRef,
    dialogs: Arc<DialogLayer>,
    /// The address media binds to (the one SIP uses).
    ip: IpAddr,
    cancel: CancellationToken,
}

impl std::fmt::Debug for UserAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserAgent")
            .field("addrs", &self.endpoint.transport_layer.get_addrs())
            .finish_non_exhaustive()
    }
}

impl UserAgent {
    /// Opens a UDP socket on `bind` (port chosen by the system; TCP and WebSocket
    /// connections are opened when an account needs them) and starts the endpoint.
    pub async fn start(bind: IpAddr) -> Result<Self, UaError> {
        let cancel = CancellationToken::new();
        let transport = TransportLayer::new(cancel.clone());
        let udp = UdpConnection::create_connection(
            SocketAddr::new(bind, 0),
            None,
            Some(cancel.child_token()),
        )
        .await
        .map_err(|e| UaError::Bind(e.to_string()))?;
        transport.add_transport(udp.into());
        let endpoint = EndpointBuilder::new()
            .with_cancel_token(cancel.clone())
            .with_transport_layer(transport)
            .with_user_agent(concat!("Upzento Phone/", env!("CARGO_PKG_VERSION")))
            .build();
        let inner = endpoint.inner.clone();
        let incoming = endpoint
            .incoming_transactions()
            .map_err(|e| UaError::Bind(e.to_string()))?;
        let dialogs = Arc::new(DialogLayer::new(inner.clone()));
        tokio::spawn(async move { endpoint.serve().await });
        tokio::spawn(serve_incoming(dialogs.clone(), incoming));
        Ok(Self {
            endpoint: inner,
            dialogs,
            ip: bind,
            cancel,
        })
    }

    /// Calls `target` (a user at the account's registrar, or a full `sip:` URI) through
    /// `account`, with `source` as the microphone and `sink` as the speaker.
    pub async fn call(
        &self,
        account: &AccountConfig,
        target: &str,
        source: Box<dyn AudioSource>,
        sink: Box<dyn AudioSink>,
    ) -> Result<CallHandle, UaError> {
        let uri = |s: String| -> Result<rsipstack::sip::Uri, UaError> {
            s.as_str()
                .try_into()
                .map_err(|e: rsipstack::sip::Error| UaError::Address(e.to_string()))
        };
        let callee = if target.starts_with("sip:") {
            uri(target.to_owned())?
        } else {
            uri(format!(
                "sip:{target}@{}{}",
                account.registrar,
                account.transport.param()
            ))?
        };
        let caller = uri(format!("sip:{}@{}", account.user, account.registrar))?;
        let contact = self
            .dialogs
            .build_local_contact(Some(account.user.clone()), None)
            .map_err(|e| UaError::Address(e.to_string()))?;
        let socket = MediaSession::bind(self.ip)
            .await
            .map_err(|e| UaError::Bind(e.to_string()))?;
        let local = LocalAudio {
            address: socket
                .local_addr()
                .map_err(|e| UaError::Bind(e.to_string()))?,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            direction: Direction::SendRecv,
            version: 1,
            session_id: u64::from(socket.local_addr().map_or(0, |a| a.port())),
        };
        let option = InviteOption {
            caller,
            callee,
            contact,
            content_type: Some("application/sdp".into()),
            offer: Some(local.to_sdp().into_bytes()),
            credential: Some(Credential {
                username: account.user.clone(),
                password: account.password.clone(),
                realm: None,
                auth_username: account.auth_user.clone(),
            }),
            ..Default::default()
        };
        let (state_tx, state) = watch::channel(call::State::Dialing);
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (dialog_states_tx, dialog_states) = self.dialogs.new_dialog_state_channel();
        let (dialog, invite) = self
            .dialogs
            .do_invite_async(option, dialog_states_tx)
            .map_err(|e| UaError::Address(e.to_string()))?;
        let task = tokio::spawn(run_call(CallParts {
            dialogs: self.dialogs.clone(),
            dialog,
            invite,
            dialog_states,
            commands: commands_rx,
            state: state_tx,
            media: Media {
                socket: Some(socket),
                source: Some(source),
                sink: Some(sink),
                session: None,
                remote: None,
            },
        }));
        Ok(CallHandle {
            state,
            commands,
            task,
        })
    }

    /// Starts keeping `account` registered.
    pub fn register(&self, account: AccountConfig) -> Result<AccountHandle, UaError> {
        let server: rsipstack::sip::Uri =
            format!("sip:{}{}", account.registrar, account.transport.param())
                .as_str()
                .try_into()
                .map_err(|e: rsipstack::sip::Error| UaError::Address(e.to_string()))?;
        let (state_tx, state) = watch::channel(State::Idle);
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(keep_registered(
            self.endpoint.clone(),
            server,
            account,
            commands_rx,
            state_tx,
        ));
        Ok(AccountHandle {
            state,
            commands,
            task,
        })
    }
}

impl Drop for UserAgent {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[derive(Debug)]
enum Command {
    NetworkChanged,
    Stop,
}

/// A registered (or registering) account.
#[derive(Debug)]
pub struct AccountHandle {
    state: watch::Receiver<State>,
    commands: mpsc::UnboundedSender<Command>,
    task: tokio::task::JoinHandle<()>,
}

impl AccountHandle {
    pub fn state(&self) -> State {
        self.state.borrow().clone()
    }

    /// Changes of the state, for the UI.
    pub fn watch(&self) -> watch::Receiver<State> {
        self.state.clone()
    }

    /// The network changed or the computer woke up: register again now.
    pub fn network_changed(&self) {
        let _ = self.commands.send(Command::NetworkChanged);
    }

    /// Unregisters and ends.
    pub async fn stop(self) {
        let _ = self.commands.send(Command::Stop);
        let _ = self.task.await;
    }
}

/// How long one REGISTER may take, authentication round trip included (64·T1).
const REGISTER_TIMEOUT: Duration = Duration::from_secs(32);

async fn keep_registered(
    endpoint: EndpointInnerRef,
    server: rsipstack::sip::Uri,
    account: AccountConfig,
    mut commands: mpsc::UnboundedReceiver<Command>,
    state: watch::Sender<State>,
) {
    let seed = account
        .user
        .bytes()
        .chain(account.registrar.bytes())
        .fold(0x9e37_79b9_7f4a_7c15_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let mut machine = Registration::new(
        Config {
            expires: account.expires,
            ..Config::default()
        },
        seed | 1,
    );
    let sip = fresh(&endpoint, &account);
    // The REGISTER in flight owns the SIP registration and hands it back with the answer,
    // so timers and commands are served meanwhile.
    let mut sip = Some(sip);
    let mut inflight: Option<InFlight> = None;
    machine.handle_input(Instant::now(), Input::Start);
    let mut stopping = false;
    loop {
        while let Some(output) = machine.poll_output() {
            match output {
                Output::Register { expires } => {
                    if let Some(mut registration) = sip.take() {
                        let server = server.clone();
                        inflight = Some(Box::pin(async move {
                            let input = register_once(&mut registration, &server, expires).await;
                            (registration, input)
                        }));
                    }
                }
                Output::Abandon => {
                    // Dropping the transaction; a fresh registration object takes over.
                    if inflight.take().is_some() {
                        sip = Some(fresh(&endpoint, &account));
                    }
                }
                Output::Unregister => {
                    if inflight.take().is_some() {
                        sip = Some(fresh(&endpoint, &account));
                    }
                    if let Some(registration) = sip.as_mut() {
                        let _ = tokio::time::timeout(
                            Duration::from_secs(5),
                            registration.register(server.clone(), Some(0)),
                        )
                        .await;
                    }
                }
                Output::State(s) => {
                    tracing::info!(user = %account.user, registrar = %account.registrar, state = ?s, "SIP registration");
                    state.send_replace(s);
                }
            }
        }
        if stopping {
            return;
        }
        let timeout = machine.poll_timeout();
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::NetworkChanged) => machine.handle_input(Instant::now(), Input::NetworkChanged),
                Some(Command::Stop) | None => {
                    machine.handle_input(Instant::now(), Input::Stop);
                    stopping = true;
                }
            },
            (registration, input) = answer(&mut inflight) => {
                inflight = None;
                sip = Some(registration);
                machine.handle_input(Instant::now(), input);
            }
            () = sleep_until(timeout) => machine.handle_timeout(Instant::now()),
        }
    }
}

type InFlight = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = (rsipstack::dialog::registration::Registration, Input)>
            + Send,
    >,
>;

async fn answer(
    inflight: &mut Option<InFlight>,
) -> (rsipstack::dialog::registration::Registration, Input) {
    match inflight {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

fn fresh(
    endpoint: &EndpointInnerRef,
    account: &AccountConfig,
) -> rsipstack::dialog::registration::Registration {
    let mut sip = rsipstack::dialog::registration::Registration::new(
        endpoint.clone(),
        Some(Credential {
            username: account.user.clone(),
            password: account.password.clone(),
            realm: None,
            auth_username: account.auth_user.clone(),
        }),
    );
    sip.outbound_proxy = account.outbound_proxy;
    sip
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

async fn register_once(
    sip: &mut rsipstack::dialog::registration::Registration,
    server: &rsipstack::sip::Uri,
    expires: u32,
) -> Input {
    match tokio::time::timeout(
        REGISTER_TIMEOUT,
        sip.register(server.clone(), Some(expires)),
    )
    .await
    {
        Ok(Ok(response)) => {
            let min_expires = response.headers.iter().find_map(|h| match h {
                Header::MinExpires(m) => m.value().trim().parse().ok(),
                _ => None,
            });
            Input::Response {
                code: response.status_code.code(),
                reason: response
                    .wire_reason
                    .clone()
                    .unwrap_or_else(|| response.status_code.to_string()),
                expires: sip.granted_expires,
                min_expires,
            }
        }
        Ok(Err(e)) => Input::NoAnswer {
            detail: e.to_string(),
        },
        Err(_) => Input::NoAnswer {
            detail: "no answer within 32 s".into(),
        },
    }
}

/// Requests from outside: in-dialog ones (a BYE from the other side, a re-INVITE) go to
/// their dialog; new calls are not taken yet (480, so the caller's system tries
/// elsewhere); anything else is answered as RFC 3261 asks.
async fn serve_incoming(dialogs: Arc<DialogLayer>, mut incoming: TransactionReceiver) {
    use rsipstack::sip::{Method, StatusCode};
    while let Some(mut tx) = incoming.recv().await {
        if let Some(mut dialog) = dialogs.match_dialog(&tx) {
            tokio::spawn(async move {
                if let Err(e) = dialog.handle(&mut tx).await {
                    tracing::debug!(error = %e, "in-dialog request");
                }
            });
            continue;
        }
        let reply = match tx.original.method {
            Method::Options => StatusCode::OK,
            Method::Invite => StatusCode::TemporarilyUnavailable,
            Method::Ack => continue,
            Method::Bye | Method::Cancel => StatusCode::CallTransactionDoesNotExist,
            _ => StatusCode::MethodNotAllowed,
        };
        if let Err(e) = tx.reply(reply).await {
            tracing::debug!(error = %e, "reply to an out-of-dialog request");
        }
    }
}

/// A call in progress.
#[derive(Debug)]
pub struct CallHandle {
    state: watch::Receiver<call::State>,
    commands: mpsc::UnboundedSender<call::Input>,
    task: tokio::task::JoinHandle<()>,
}

impl CallHandle {
    pub fn state(&self) -> call::State {
        self.state.borrow().clone()
    }

    pub fn watch(&self) -> watch::Receiver<call::State> {
        self.state.clone()
    }

    pub fn hangup(&self) {
        let _ = self.commands.send(call::Input::Hangup);
    }

    pub fn set_muted(&self, muted: bool) {
        let _ = self.commands.send(call::Input::Mute(muted));
    }

    /// Waits until the call has ended and its SIP and media are finished.
    pub async fn finished(self) {
        let _ = self.task.await;
    }
}

struct Media {
    socket: Option<tokio::net::UdpSocket>,
    source: Option<Box<dyn AudioSource>>,
    sink: Option<Box<dyn AudioSink>>,
    session: Option<MediaSession>,
    remote: Option<RemoteAudio>,
}

impl Media {
    fn start(&mut self) -> Result<(), String> {
        let remote = self.remote.as_ref().ok_or("the other side sent no SDP")?;
        let codec = *remote.codecs.first().ok_or("no codec in common")?;
        if let (Some(socket), Some(source), Some(sink)) =
            (self.socket.take(), self.source.take(), self.sink.take())
        {
            let session = MediaSession::start(socket, remote.address, codec, source, sink)
                .map_err(|e| e.to_string())?;
            self.session = Some(session);
        }
        Ok(())
    }
}

struct CallParts {
    dialogs: Arc<DialogLayer>,
    dialog: rsipstack::dialog::invite_dialog::InviteDialog,
    invite: tokio::task::JoinHandle<InviteAsyncResult>,
    dialog_states: DialogStateReceiver,
    commands: mpsc::UnboundedReceiver<call::Input>,
    state: watch::Sender<call::State>,
    media: Media,
}

fn remote_sdp(body: &[u8]) -> Option<RemoteAudio> {
    if body.is_empty() {
        return None;
    }
    match parse_remote(&String::from_utf8_lossy(body)) {
        Ok(remote) => Some(remote),
        Err(e) => {
            tracing::warn!(error = %e, "unusable SDP from the other side");
            None
        }
    }
}

async fn run_call(mut parts: CallParts) {
    let mut machine = Call::outgoing(Instant::now());
    let mut invite_done = false;
    let mut confirmed: Option<DialogId> = None;
    loop {
        while let Some(output) = machine.poll_output() {
            match output {
                call::Output::Cancel => {
                    if let Err(e) = parts.dialog.cancel().await {
                        tracing::debug!(error = %e, "CANCEL");
                    }
                }
                call::Output::Bye => {
                    if let Err(e) = parts.dialog.bye().await {
                        tracing::warn!(error = %e, "BYE not sent");
                    }
                }
                call::Output::StartMedia => {
                    if let Err(detail) = parts.media.start() {
                        machine.handle_input(Instant::now(), call::Input::Failed { detail });
                    }
                }
                call::Output::StopMedia => parts.media.session = None,
                call::Output::Mute(muted) => {
                    if let Some(session) = &parts.media.session {
                        session.set_muted(muted);
                    }
                }
                call::Output::Reinvite { hold } => {
                    tracing::warn!(hold, "hold is not implemented yet");
                }
                call::Output::State(s) => {
                    tracing::info!(state = ?s, "call");
                    parts.state.send_replace(s);
                }
            }
        }
        if matches!(machine.state(), call::State::Ended(_)) {
            if let Some(id) = confirmed {
                parts.dialogs.remove_dialog(&id);
            }
            return;
        }
        let timeout = machine.poll_timeout();
        tokio::select! {
            command = parts.commands.recv() => {
                machine.handle_input(Instant::now(), command.unwrap_or(call::Input::Hangup));
            }
            Some(state) = parts.dialog_states.recv() => {
                let input = match state {
                    DialogState::Early(_, response) => {
                        parts.media.remote = remote_sdp(&response.body).or(parts.media.remote.take());
                        Some(call::Input::Provisional {
                            code: response.status_code.code(),
                            early_media: !response.body.is_empty(),
                        })
                    }
                    DialogState::Confirmed(id, response) => {
                        confirmed = Some(id);
                        if let Some(remote) = remote_sdp(&response.body) {
                            parts.media.remote = Some(remote);
                        }
                        Some(call::Input::Answered)
                    }
                    DialogState::Terminated(_, reason) => match reason {
                        TerminatedReason::UasBye => Some(call::Input::RemoteHangup),
                        TerminatedReason::UasBusy => Some(call::Input::Refused { code: 486, reason: "Busy Here".into() }),
                        TerminatedReason::UasDecline => Some(call::Input::Refused { code: 603, reason: "Decline".into() }),
                        TerminatedReason::ProxyAuthRequired => Some(call::Input::Refused { code: 407, reason: "wrong user name or password".into() }),
                        TerminatedReason::ProxyError(code) | TerminatedReason::UasOther(code) => Some(call::Input::Refused { code: code.code(), reason: code.to_string() }),
                        TerminatedReason::Timeout => Some(call::Input::Failed { detail: "no answer from the other side".into() }),
                        // Our own CANCEL or BYE: the machine knows already.
                        TerminatedReason::UacCancel | TerminatedReason::UacBye | TerminatedReason::UacBusy | TerminatedReason::UacOther(_) => None,
                    },
                    _ => None,
                };
                if let Some(input) = input {
                    machine.handle_input(Instant::now(), input);
                }
            }
            result = &mut parts.invite, if !invite_done => {
                invite_done = true;
                let input = match result {
                    Ok(Ok((_, Some(response)))) if response.status_code.code() >= 300 => Some(call::Input::Refused {
                        code: response.status_code.code(),
                        reason: response.wire_reason.clone().unwrap_or_else(|| response.status_code.to_string()),
                    }),
                    Ok(Ok(_)) => None,
                    Ok(Err(e)) => Some(call::Input::Failed { detail: e.to_string() }),
                    Err(e) => Some(call::Input::Failed { detail: e.to_string() }),
                };
                if let Some(input) = input {
                    machine.handle_input(Instant::now(), input);
                }
            }
            () = sleep_until(timeout) => machine.handle_timeout(Instant::now()),
        }
    }
}
