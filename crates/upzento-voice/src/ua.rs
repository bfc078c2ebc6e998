//! The user agent: one SIP endpoint (rsipstack) and the accounts registered through
//! it. Each account's registration runs as a task that drives the sans-IO
//! [`Registration`] machine: it performs the REGISTERs the machine asks for (digest
//! auth included) and tells it the answers and the time.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rsipstack::dialog::authenticate::Credential;
use rsipstack::sip::Header;
use rsipstack::transport::TransportLayer;
use rsipstack::transport::tcp_listener::TcpListenerConnection;
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
use crate::media::dtls::{DtlsSetup, Identity};
use crate::media::ice::{IceCredentials, IceSetup};
use crate::media::quality::Quality;
use crate::media::sdp::{Codec, Direction, LocalAudio, RemoteAudio, fit_answer, parse_remote};
use crate::media::sdp::{CryptoSuite, LocalDtls, SdesKey, Setup};
use crate::media::session::{MediaSession, Srtp};
use crate::registration::{Config, Input, Output, Registration, State};
use crate::transfer::{DialogInfo, Replaces, TransferRequest};

/// The established calls of a UA, as their dialogs: an INVITE with Replaces is matched
/// against them.
type Registry = Arc<std::sync::Mutex<Vec<DialogInfo>>>;

/// How a SIP account reaches its registrar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    /// SIP over TLS (`sips`-less: `;transport=tls`), the server's certificate checked
    /// against the system's trust store.
    Tls,
    Ws,
    /// WebSocket over TLS (RFC 7118), checked the same way.
    Wss,
}

impl Transport {
    /// Time between keepalives: under the 30 s or so after which NAT routers forget a
    /// UDP mapping; over a connection, RFC 5626 §4.4.1's 95–120 s is plenty.
    pub fn keepalive(self) -> Duration {
        match self {
            Self::Udp => Duration::from_secs(25),
            Self::Tcp | Self::Tls | Self::Ws | Self::Wss => Duration::from_secs(90),
        }
    }

    fn param(self) -> &'static str {
        match self {
            Self::Udp => "",
            Self::Tcp => ";transport=tcp",
            Self::Tls => ";transport=tls",
            Self::Ws => ";transport=ws",
            Self::Wss => ";transport=wss",
        }
    }
}

/// How the SRTP keys of a call are agreed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyExchange {
    /// In the SDP (RFC 4568 `a=crypto`): simple, but the keys are as safe as the signalling.
    Sdes,
    /// By a DTLS handshake on the media path (RFC 5763/5764), checked against the
    /// certificate fingerprints in the SDP; what WebRTC uses.
    Dtls,
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
    /// Calls only with encrypted media (SRTP), the keys exchanged as said: a far end
    /// that will not encrypt gets no audio from us and the call fails with the reason.
    pub srtp: Option<KeyExchange>,
    /// Time between keepalives while registered; `None` for the transport's default.
    pub keepalive: Option<Duration>,
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
            .field("srtp", &self.srtp)
            .field("keepalive", &self.keepalive)
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
    /// Our DTLS certificate, for every DTLS-SRTP call of this UA.
    identity: Identity,
    registry: Registry,
    dialogs: Arc<DialogLayer>,
    incoming: std::sync::Mutex<Option<mpsc::UnboundedReceiver<IncomingCall>>>,
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
    /// Opens a UDP socket on `bind` (port chosen by the system) and a TCP listener on the
    /// same port (RFC 3261 §18.1.1: a proxy sends a request too large for UDP over TCP to
    /// the same address), and starts the endpoint. Connections of accounts over TCP, TLS
    /// and WebSocket are opened when an account needs them.
    pub async fn start(bind: IpAddr) -> Result<Self, UaError> {
        let cancel = CancellationToken::new();
        let transport = TransportLayer::new(cancel.clone());
        transport.set_tls_config(rsipstack::transport::tls::TlsConfig {
            ca_certs: Some(system_trust_pem()),
            ..Default::default()
        });
        let mut tries = 0;
        let (udp, tcp) = loop {
            let udp = UdpConnection::create_connection(
                SocketAddr::new(bind, 0),
                None,
                Some(cancel.child_token()),
            )
            .await
            .map_err(|e| UaError::Bind(e.to_string()))?;
            let port = udp
                .get_addr()
                .get_socketaddr()
                .map_err(|e| UaError::Bind(e.to_string()))?
                .port();
            // The port is free for UDP; TCP's may be taken: then another pair. The
            // listener is listening when this returns, so the UA is reachable at once.
            match TcpListenerConnection::bind(SocketAddr::new(bind, port), None).await {
                Ok(tcp) => break (udp, tcp),
                Err(e) if tries >= 10 => return Err(UaError::Bind(e.to_string())),
                Err(_) => tries += 1,
            }
        };
        transport.add_transport(udp.into());
        transport.add_transport(tcp.into());
        let endpoint = EndpointBuilder::new()
            .with_cancel_token(cancel.clone())
            .with_transport_layer(transport)
            .with_user_agent(concat!("Upzento Phone/", env!("CARGO_PKG_VERSION")))
            .with_inspector(Box::new(crate::wire::WireFixes))
            .with_transport_inspector(Box::new(crate::wire::BadRequests))
            .build();
        let inner = endpoint.inner.clone();
        let incoming = endpoint
            .incoming_transactions()
            .map_err(|e| UaError::Bind(e.to_string()))?;
        let dialogs = Arc::new(DialogLayer::new(inner.clone()));
        let (calls_tx, calls) = mpsc::unbounded_channel();
        let identity = Identity::generate().map_err(UaError::Bind)?;
        let registry = Registry::default();
        tokio::spawn(async move { endpoint.serve().await });
        tokio::spawn(serve_incoming(
            dialogs.clone(),
            incoming,
            calls_tx,
            bind,
            identity.clone(),
            registry.clone(),
        ));
        Ok(Self {
            endpoint: inner,
            identity,
            registry,
            dialogs,
            incoming: std::sync::Mutex::new(Some(calls)),
            ip: bind,
            cancel,
        })
    }

    /// Dialogs the SIP stack still holds (diagnostics: a leak shows here).
    pub fn open_dialogs(&self) -> usize {
        self.dialogs.len()
    }

    /// Where the UA receives SIP over UDP.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.endpoint
            .transport_layer
            .get_addrs()
            .first()
            .and_then(|a| a.get_socketaddr().ok())
    }

    /// Incoming calls, as they arrive (the receiver can be taken once).
    pub fn incoming_calls(&self) -> Option<mpsc::UnboundedReceiver<IncomingCall>> {
        self.incoming.lock().ok().and_then(|mut r| r.take())
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
        self.call_with(account, target, None, source, sink).await
    }

    /// The same, with a `Replaces` header (RFC 3891): the call a transferee places for
    /// an attended transfer ([`CallHandle::transfer_request`]).
    pub async fn call_with(
        &self,
        account: &AccountConfig,
        target: &str,
        replaces: Option<&str>,
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
        let remote_uri = callee.to_string();
        let caller = uri(format!("sip:{}@{}", account.user, account.registrar))?;
        let contact = self
            .dialogs
            .build_local_contact(Some(account.user.clone()), None)
            .map_err(|e| UaError::Address(e.to_string()))?;
        let socket = MediaSession::bind(self.ip)
            .await
            .map_err(|e| UaError::Bind(e.to_string()))?;
        let local = LocalAudio {
            events: None,
            address: socket
                .local_addr()
                .map_err(|e| UaError::Bind(e.to_string()))?,
            codecs: vec![
                Codec::Opus(crate::media::sdp::OPUS),
                Codec::Pcmu,
                Codec::Pcma,
            ],
            direction: Direction::SendRecv,
            version: 1,
            session_id: u64::from(socket.local_addr().map_or(0, |a| a.port())),
            crypto: if account.srtp == Some(KeyExchange::Sdes) {
                Some(
                    SdesKey::generate(1, CryptoSuite::AesCm128HmacSha1_80)
                        .map_err(UaError::Bind)?,
                )
            } else {
                None
            },
            dtls: (account.srtp == Some(KeyExchange::Dtls)).then(|| LocalDtls {
                fingerprint: self.identity.fingerprint().to_vec(),
                setup: Setup::ActPass,
            }),
            // WebRTC-style: with DTLS, RTCP shares the RTP port (one handshake), and ICE
            // finds the path (gateways to WebRTC want it).
            rtcp_mux: account.srtp == Some(KeyExchange::Dtls),
            ice: if account.srtp == Some(KeyExchange::Dtls) {
                Some(IceCredentials::generate().map_err(UaError::Bind)?)
            } else {
                None
            },
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
            headers: replaces.map(|r| {
                vec![rsipstack::sip::headers::make_header(
                    "Replaces",
                    r.to_owned(),
                )]
            }),
            ..Default::default()
        };
        let (state_tx, state) = watch::channel(call::State::Dialing);
        let (links, ends) = links();
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (dialog_states_tx, dialog_states) = self.dialogs.new_dialog_state_channel();
        let (dialog, invite) = self
            .dialogs
            .do_invite_async(option, dialog_states_tx)
            .map_err(|e| UaError::Address(e.to_string()))?;
        let call_id = dialog.id().call_id;
        let (quality_tx, quality) = watch::channel(None);
        let quality_tx = Arc::new(quality_tx);
        let task = tokio::spawn(run_call(
            Call::outgoing(Instant::now()),
            CallParts {
                links,
                remote_uri,
                registry: self.registry.clone(),
                dialogs: self.dialogs.clone(),
                dialog,
                invite: Some(invite),
                dialog_states,
                commands: commands_rx,
                state: state_tx,
                media: Media {
                    offered: true,
                    offer: None,
                    held_by_remote: false,
                    identity: self.identity.clone(),
                    local: Some(local),
                    socket: Some(socket),
                    source: Some(source),
                    sink: Some(sink),
                    session: None,
                    remote: None,
                    quality: quality_tx,
                },
            },
        ));
        Ok(CallHandle {
            call_id,
            quality,
            state,
            ends,
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

/// The system's trust anchors as PEM, for rsipstack's TLS client (which trusts nothing
/// by itself). `rustls-native-certs` reads the system store, or `SSL_CERT_FILE` /
/// `SSL_CERT_DIR` when set.
fn system_trust_pem() -> Vec<u8> {
    use base64::Engine as _;
    crate::media::dtls::ensure_tls_provider();
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "reading the system's certificates");
    }
    let mut pem = Vec::new();
    for cert in &found.certs {
        let body = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    pem
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
            keepalive: Some(account.keepalive.unwrap_or(account.transport.keepalive())),
            ..Config::default()
        },
        seed | 1,
    );
    let sip = fresh(&endpoint, &account);
    // The REGISTER in flight owns the SIP registration and hands it back with the answer,
    // so timers and commands are served meanwhile.
    let mut sip = Some(sip);
    let mut inflight: Option<InFlight> = None;
    let mut probe: Option<Probe> = None;
    machine.handle_input(Instant::now(), Input::Start);
    let mut stopping = false;
    loop {
        while let Some(output) = machine.poll_output() {
            match output {
                Output::Register { expires } => {
                    if let Some(mut registration) = sip.take() {
                        let (endpoint, server, account) =
                            (endpoint.clone(), server.clone(), account.clone());
                        inflight = Some(Box::pin(async move {
                            // A connection that cannot be opened fails at once, with its
                            // reason (the stack would only time out 32 s later).
                            let input = match connect(&endpoint, &server, &account).await {
                                Ok(_) => register_once(&mut registration, &server, expires).await,
                                Err(detail) => Input::NoAnswer { detail },
                            };
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
                Output::Keepalive => {
                    let (endpoint, server, account) =
                        (endpoint.clone(), server.clone(), account.clone());
                    probe = Some(Box::pin(async move {
                        keepalive_once(&endpoint, &server, &account).await
                    }));
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
            input = answer_probe(&mut probe) => {
                probe = None;
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

type Probe = std::pin::Pin<Box<dyn std::future::Future<Output = Input> + Send>>;

async fn answer_probe(probe: &mut Option<Probe>) -> Input {
    match probe {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

/// How long a keepalive may go unanswered (the transaction's own limit is 32 s; a
/// registrar that is there answers an OPTIONS at once).
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(8);

/// One keepalive: an OPTIONS to the registrar, on the connection (or the UDP path) the
/// registration uses. Any answer counts, a challenge included: someone is there.
async fn keepalive_once(
    endpoint: &EndpointInnerRef,
    server: &rsipstack::sip::Uri,
    account: &AccountConfig,
) -> Input {
    match tokio::time::timeout(KEEPALIVE_TIMEOUT, options_ping(endpoint, server, account)).await {
        Ok(Ok(code)) => {
            tracing::debug!(user = %account.user, code, "keepalive answered");
            Input::KeepaliveAnswered
        }
        Ok(Err(detail)) => Input::KeepaliveFailed { detail },
        Err(_) => Input::KeepaliveFailed {
            detail: format!("no answer within {} s", KEEPALIVE_TIMEOUT.as_secs()),
        },
    }
}

/// The connection requests to the registrar go out on (opened now for TCP, TLS and
/// WebSocket, and kept by the transport layer for the requests that follow), and the
/// outbound proxy they go through. A failure says why: refused, certificate not trusted…
async fn connect(
    endpoint: &EndpointInnerRef,
    server: &rsipstack::sip::Uri,
    account: &AccountConfig,
) -> Result<
    (
        rsipstack::transport::SipConnection,
        Option<rsipstack::transport::SipAddr>,
    ),
    String,
> {
    use rsipstack::transport::SipAddr;
    let transport = server.params.iter().find_map(|p| match p {
        rsipstack::sip::Param::Transport(t) => Some(*t),
        _ => None,
    });
    let proxy = account.outbound_proxy.map(|addr| {
        let mut target = SipAddr::from(addr);
        target.r#type = transport;
        target
    });
    let target = match &proxy {
        Some(p) => p.clone(),
        None => SipAddr::try_from(server).map_err(|e| e.to_string())?,
    };
    let (connection, _) = endpoint
        .transport_layer
        .lookup(&target, None)
        .await
        .map_err(|e| e.to_string())?;
    Ok((connection, proxy))
}

async fn options_ping(
    endpoint: &EndpointInnerRef,
    server: &rsipstack::sip::Uri,
    account: &AccountConfig,
) -> Result<u16, String> {
    use rsipstack::sip::{Method, SipMessage, StatusCodeKind, typed};
    use rsipstack::transaction::key::{TransactionKey, TransactionRole};
    use rsipstack::transaction::{make_tag, transaction::Transaction};
    // The registration's own connection (TCP, WS): keeping it open is the point.
    let (connection, proxy) = connect(endpoint, server, account).await?;
    let via = endpoint
        .get_via(Some(connection.get_addr().clone()), None)
        .map_err(|e| e.to_string())?;
    let us: rsipstack::sip::Uri = format!("sip:{}@{}", account.user, account.registrar)
        .as_str()
        .try_into()
        .map_err(|e: rsipstack::sip::Error| e.to_string())?;
    let from = typed::From {
        display_name: None,
        uri: us,
        params: vec![],
    }
    .with_tag(make_tag());
    let to = typed::To {
        display_name: None,
        uri: server.clone(),
        params: vec![],
    };
    let request = endpoint.make_request(Method::Options, server.clone(), via, from, to, 1, None);
    let key = TransactionKey::from_request(&request, TransactionRole::Client)
        .map_err(|e| e.to_string())?;
    let mut tx = Transaction::new_client(key, request, endpoint.clone(), None);
    if proxy.is_some() {
        tx.destination = proxy;
    }
    tx.send().await.map_err(|e| e.to_string())?;
    while let Some(message) = tx.receive().await {
        if let SipMessage::Response(response) = message
            && response.status_code.kind() != StatusCodeKind::Provisional
        {
            return Ok(response.status_code.code());
        }
    }
    Err("the keepalive went unanswered".into())
}

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
/// their dialog; a new INVITE becomes an [`IncomingCall`]; anything else is answered as
/// RFC 3261 asks.
async fn serve_incoming(
    dialogs: Arc<DialogLayer>,
    mut incoming: TransactionReceiver,
    calls: mpsc::UnboundedSender<IncomingCall>,
    ip: IpAddr,
    identity: Identity,
    registry: Registry,
) {
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
        // What RFC 3261 §8.2 checks before acting on a request we take (416, 420, 415, 406).
        if matches!(tx.original.method, Method::Invite | Method::Options)
            && let Some(refusal) = crate::uas::screen(&tx.original)
        {
            if let Err(e) = tx.reply_with(refusal.status, refusal.headers, None).await {
                tracing::debug!(error = %e, "refusal of an out-of-dialog request");
            }
            continue;
        }
        let reply = match tx.original.method {
            Method::Invite => match offer_call(
                &dialogs,
                &tx,
                ip,
                &calls,
                (identity.clone(), registry.clone()),
            )
            .await
            {
                Ok(mut dialog) => {
                    // The INVITE transaction runs until we answer or refuse (or CANCEL).
                    tokio::spawn(async move {
                        if let Err(e) = dialog.handle(&mut tx).await {
                            tracing::debug!(error = %e, "incoming INVITE");
                        }
                    });
                    continue;
                }
                Err(status) => status,
            },
            Method::Options => StatusCode::OK,
            Method::Ack => continue,
            Method::Bye | Method::Cancel => StatusCode::CallTransactionDoesNotExist,
            // A method we have never heard of (§8.2.1), rather than one we know and refuse.
            Method::Extension(_) => StatusCode::NotImplemented,
            _ => StatusCode::MethodNotAllowed,
        };
        // What we take (RFC 3261 §11.2: an OPTIONS answer says it; §21.4.6: a 405 must).
        let headers = match reply {
            StatusCode::OK => capabilities(true),
            StatusCode::MethodNotAllowed | StatusCode::NotImplemented => capabilities(false),
            _ => Vec::new(),
        };
        if let Err(e) = tx.reply_with(reply, headers, None).await {
            tracing::debug!(error = %e, "reply to an out-of-dialog request");
        }
    }
}

/// Our established dialog `id`: in the registry, where an INVITE with Replaces finds it
/// (RFC 3891), and in the call's handle (for an attended transfer of it).
fn remember_dialog(parts: &CallParts, id: &rsipstack::dialog::DialogId) {
    let info = DialogInfo {
        call_id: id.call_id.clone(),
        local_tag: id.local_tag.clone(),
        remote_tag: id.remote_tag.clone(),
        remote_uri: parts.remote_uri.clone(),
    };
    if let Ok(mut calls) = parts.registry.lock() {
        calls.retain(|c| c.call_id != info.call_id);
        calls.push(info.clone());
    }
    parts.links.info.send_replace(Some(info));
}

/// The methods the UA takes (the value of an Allow header).
pub(crate) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, INFO, UPDATE";

/// The methods we take, and (for OPTIONS) the bodies and extensions we understand.
fn capabilities(all: bool) -> Vec<rsipstack::sip::Header> {
    use rsipstack::sip::headers::make_header;
    let mut headers = vec![make_header("Allow", ALLOW.into())];
    if all {
        headers.push(make_header("Accept", "application/sdp".into()));
        headers.push(make_header("Supported", crate::uas::SUPPORTED.join(", ")));
    }
    headers
}

/// Sets up the dialog and the call of a new INVITE, and hands the call to the app.
async fn offer_call(
    dialogs: &Arc<DialogLayer>,
    tx: &rsipstack::transaction::transaction::Transaction,
    ip: IpAddr,
    calls: &mpsc::UnboundedSender<IncomingCall>,
    (identity, registry): (Identity, Registry),
) -> Result<rsipstack::dialog::invite_dialog::InviteDialog, rsipstack::sip::StatusCode> {
    use rsipstack::sip::StatusCode;
    use rsipstack::sip::prelude::HeadersExt;
    // Offerless INVITEs (the offer in our 200) are not supported yet.
    let Some(remote) = remote_sdp(&tx.original.body) else {
        // An offer that is not SDP at all is a bad request, not one we cannot take.
        let body = String::from_utf8_lossy(&tx.original.body);
        if !body.trim().is_empty()
            && matches!(
                parse_remote(&body),
                Err(crate::media::sdp::SdpError::Parse(_))
            )
        {
            return Err(StatusCode::BadRequest);
        }
        return Err(StatusCode::NotAcceptableHere);
    };
    // SRTP offered without a key suite we take: we cannot answer it (RFC 4568 §7.1.2).
    if remote.codecs.is_empty()
        || (remote.secure && remote.crypto.is_empty() && remote.dtls.is_none())
    {
        return Err(StatusCode::NotAcceptableHere);
    }
    // An attended transfer's call (RFC 3891): it must name one of our calls.
    let replaces = match tx
        .original
        .headers
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case("Replaces"))
    {
        Some(header) => {
            let wanted = Replaces::parse(header.value()).ok_or(StatusCode::BadRequest)?;
            let found = registry.lock().ok().and_then(|calls| {
                calls
                    .iter()
                    .find(|c| c.is_replaced_by(&wanted))
                    .map(|c| c.call_id.clone())
            });
            Some(found.ok_or(StatusCode::CallTransactionDoesNotExist)?)
        }
        None => None,
    };
    let from = tx
        .original
        .from_header()
        .map(|f| f.value().to_string())
        .unwrap_or_default();
    let remote_uri = tx
        .original
        .from_header()
        .ok()
        .and_then(|f| rsipstack::sip::ToTypedHeader::typed(f).ok())
        .map(|f| f.uri.to_string())
        .unwrap_or_default();
    let user = tx.original.uri.auth.as_ref().map(|a| a.user.clone());
    let contact = dialogs.build_local_contact(user, None).ok();
    let (states_tx, dialog_states) = dialogs.new_dialog_state_channel();
    let dialog = dialogs
        .get_or_create_server_invite(tx, states_tx, None, contact)
        .map_err(|_| StatusCode::ServerInternalError)?;
    let socket = MediaSession::bind(ip)
        .await
        .map_err(|_| StatusCode::ServerInternalError)?;
    let (state_tx, state) = watch::channel(call::State::Incoming);
    let (commands, commands_rx) = mpsc::unbounded_channel();
    let (links, ends) = links();
    let call_id = dialog.id().call_id;
    let (quality_tx, quality) = watch::channel(None);
    let quality_tx = Arc::new(quality_tx);
    let task = tokio::spawn(run_call(
        Call::incoming(Instant::now()),
        CallParts {
            links,
            remote_uri,
            registry,
            dialogs: dialogs.clone(),
            dialog: dialog.clone(),
            invite: None,
            dialog_states,
            commands: commands_rx,
            state: state_tx,
            media: Media {
                offered: false,
                offer: Some(String::from_utf8_lossy(&tx.original.body).into_owned()),
                held_by_remote: false,
                identity,
                local: None,
                socket: Some(socket),
                source: None,
                sink: None,
                session: None,
                remote: Some(remote),
                quality: quality_tx,
            },
        },
    ));
    let _ = calls.send(IncomingCall {
        from,
        replaces,
        call: CallHandle {
            call_id,
            quality,
            state,
            ends,
            commands,
            task,
        },
    });
    Ok(dialog)
}

/// Someone calls: answer or decline it; it rings until then.
#[derive(Debug)]
pub struct IncomingCall {
    /// The caller, as its From header says (display name and URI).
    pub from: String,
    /// The Call-ID of our established call this one takes the place of (an attended
    /// transfer to us): answer it at once and hang that one up (RFC 3891 §3).
    pub replaces: Option<String>,
    pub call: CallHandle,
}

impl IncomingCall {
    /// Takes the call with `source` as the microphone and `sink` as the speaker.
    pub fn answer(&self, source: Box<dyn AudioSource>, sink: Box<dyn AudioSink>) {
        let _ = self.call.commands.send(CallCommand::Answer(source, sink));
    }

    /// Turns it down: 486 Busy Here or 603 Decline.
    pub fn decline(&self, busy: bool) {
        let _ = self
            .call
            .commands
            .send(CallCommand::Input(call::Input::Decline { busy }));
    }
}

/// What the app asks of a call.
enum CallCommand {
    Input(call::Input),
    Answer(Box<dyn AudioSource>, Box<dyn AudioSink>),
    Dtmf(char),
    /// How the transfer we were asked for went (RFC 3515 NOTIFY); hang up if it worked.
    TransferOutcome(bool),
}

/// What a call's task tells its handle beyond its state.
struct CallLinks {
    info: watch::Sender<Option<DialogInfo>>,
    referred: watch::Sender<Option<TransferRequest>>,
}

/// The handle's ends of [`CallLinks`].
#[derive(Debug)]
struct CallEnds {
    info: watch::Receiver<Option<DialogInfo>>,
    referred: watch::Receiver<Option<TransferRequest>>,
}

fn links() -> (CallLinks, CallEnds) {
    let (info, info_rx) = watch::channel(None);
    let (referred, referred_rx) = watch::channel(None);
    (
        CallLinks { info, referred },
        CallEnds {
            info: info_rx,
            referred: referred_rx,
        },
    )
}

impl std::fmt::Debug for CallCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Input(input) => write!(f, "{input:?}"),
            Self::Answer(..) => f.write_str("Answer"),
            Self::Dtmf(key) => write!(f, "Dtmf({key})"),
            Self::TransferOutcome(ok) => write!(f, "TransferOutcome({ok})"),
        }
    }
}

/// A call in progress.
#[derive(Debug)]
pub struct CallHandle {
    call_id: String,
    quality: watch::Receiver<Option<Quality>>,
    state: watch::Receiver<call::State>,
    ends: CallEnds,
    commands: mpsc::UnboundedSender<CallCommand>,
    task: tokio::task::JoinHandle<()>,
}

impl CallHandle {
    /// The call's dialog, once it is established.
    pub fn dialog_info(&self) -> Option<DialogInfo> {
        self.ends.info.borrow().clone()
    }

    /// Attended transfer: asks the other side of this call to call the other side of
    /// `consultation` in its place (REFER with Replaces). Both our calls end once it is
    /// done: this one when the REFER is accepted, the consultation when its far end
    /// takes the new call. `false` when `consultation` is not established.
    pub fn transfer_to(&self, consultation: &CallHandle) -> bool {
        let Some(info) = consultation.dialog_info() else {
            return false;
        };
        self.transfer(&info.refer_to());
        true
    }

    /// What the other side asked us (REFER): place that call (with
    /// [`UserAgent::call_with`]), then tell this call how it went
    /// ([`CallHandle::transfer_outcome`]).
    pub fn transfer_request(&self) -> Option<TransferRequest> {
        self.ends.referred.borrow().clone()
    }

    pub fn watch_transfer_request(&self) -> watch::Receiver<Option<TransferRequest>> {
        self.ends.referred.clone()
    }

    /// Reports the transfer we were asked for to the transferor (NOTIFY with the final
    /// status); when it worked, this call is hung up.
    pub fn transfer_outcome(&self, ok: bool) {
        let _ = self.commands.send(CallCommand::TransferOutcome(ok));
    }

    /// The SIP Call-ID: the call's identity in the cloud's history too.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    pub fn state(&self) -> call::State {
        self.state.borrow().clone()
    }

    /// Jitter, loss and the MOS estimate of what we receive, once audio flows.
    pub fn quality(&self) -> Option<Quality> {
        *self.quality.borrow()
    }

    /// Changes of the quality estimate (about once a second while audio flows).
    pub fn watch_quality(&self) -> watch::Receiver<Option<Quality>> {
        self.quality.clone()
    }

    pub fn watch(&self) -> watch::Receiver<call::State> {
        self.state.clone()
    }

    pub fn hangup(&self) {
        let _ = self.commands.send(CallCommand::Input(call::Input::Hangup));
    }

    pub fn set_muted(&self, muted: bool) {
        let _ = self
            .commands
            .send(CallCommand::Input(call::Input::Mute(muted)));
    }

    /// Puts the call on hold (re-INVITE with `a=sendonly`) or takes it off.
    pub fn set_on_hold(&self, hold: bool) {
        let input = if hold {
            call::Input::Hold
        } else {
            call::Input::Resume
        };
        let _ = self.commands.send(CallCommand::Input(input));
    }

    /// Blind transfer: asks the other side to call `target` (a `sip:` URI); the call
    /// ends as `Transferred` once it accepts.
    pub fn transfer(&self, target: &str) {
        let _ = self
            .commands
            .send(CallCommand::Input(call::Input::Transfer {
                target: target.to_owned(),
            }));
    }

    /// Sends keypad keys (0-9, *, #, A-D) as RFC 4733 telephone events.
    pub fn send_dtmf(&self, keys: &str) {
        for key in keys.chars() {
            let _ = self.commands.send(CallCommand::Dtmf(key));
        }
    }

    /// Waits until the call has ended and its SIP and media are finished.
    pub async fn finished(self) {
        let _ = self.task.await;
    }
}

struct Media {
    identity: Identity,
    /// We made the offer (our call): ICE's controlling side.
    offered: bool,
    /// The caller's offer, which our answer mirrors line for line (its other streams).
    offer: Option<String>,
    /// The other side put us on hold (its offer was sendonly or inactive).
    held_by_remote: bool,
    /// Our side of the SDP, as last offered or answered (re-INVITEs bump its version).
    local: Option<LocalAudio>,
    socket: Option<crate::media::session::MediaSockets>,
    source: Option<Box<dyn AudioSource>>,
    sink: Option<Box<dyn AudioSink>>,
    session: Option<MediaSession>,
    remote: Option<RemoteAudio>,
    /// The call's quality, for its handle (fed from the session once media runs).
    quality: Arc<watch::Sender<Option<Quality>>>,
}

impl Media {
    /// Our answer to an offer within the call (a re-INVITE or UPDATE: hold, resume, a
    /// session refresh): same codec and keys, the direction mirrored (RFC 3264 §6.1),
    /// our version moved on. An offerless re-INVITE gets our current SDP as the offer.
    /// `None` when the offer is unusable (488).
    fn answer_in_dialog(&mut self, body: &[u8]) -> Option<String> {
        let local = self.local.as_mut()?;
        local.version += 1;
        if body.is_empty() {
            return Some(local.to_sdp());
        }
        let offer = remote_sdp(body)?;
        let codec = self
            .remote
            .as_ref()
            .and_then(|r| r.codecs.first().copied())
            .filter(|c| offer.codecs.contains(c))
            .or_else(|| offer.codecs.first().copied())?;
        let mirrored = match offer.direction {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
            Direction::SendRecv => Direction::SendRecv,
        };
        // We keep what we said about ourselves (on hold stays sendonly) unless asked
        // for less.
        local.direction = match (local.direction, mirrored) {
            (Direction::SendOnly, Direction::SendRecv) => Direction::SendOnly,
            (_, d) => d,
        };
        local.codecs = vec![codec];
        local.events = Some(offer.answer_events(codec));
        // Their hold: nothing of ours is sent to them meanwhile.
        self.held_by_remote = matches!(local.direction, Direction::RecvOnly | Direction::Inactive);
        let sdp = fit_answer(&local.to_sdp(), &String::from_utf8_lossy(body));
        if let Some(remote) = self.remote.as_mut() {
            // A new address (a PBX re-anchoring media after a transfer): followed. An
            // unspecified one is the old way of saying hold (RFC 2543), not a move.
            let moved = offer.address != remote.address
                && offer.address.port() != 0
                && !offer.address.ip().is_unspecified();
            if moved {
                tracing::info!(from = %remote.address, to = %offer.address, "the other side moved its media");
                let mux = self.local.as_ref().is_some_and(|l| l.rtcp_mux) && offer.rtcp_mux;
                let peer = crate::media::session::Peer {
                    rtp: offer.address,
                    rtcp: if mux { offer.address } else { offer.rtcp },
                };
                if self.session.as_ref().is_some_and(|s| s.move_peer(peer)) {
                    remote.address = offer.address;
                    remote.rtcp = offer.rtcp;
                }
            }
            remote.direction = offer.direction;
        }
        Some(sdp)
    }

    /// Our answer to the caller's offer: its first codec we support, sendrecv.
    fn answer_sdp(&mut self) -> Option<String> {
        let remote = self.remote.as_ref()?;
        let codec = *remote.codecs.first()?;
        let address = self.socket.as_ref()?.local_addr().ok()?;
        // DTLS-SRTP offered: our fingerprint, and we open the handshake unless the
        // offerer insists on doing so (RFC 5763 §5).
        let dtls = remote.dtls.as_ref().map(|theirs| LocalDtls {
            fingerprint: self.identity.fingerprint().to_vec(),
            setup: if theirs.setup == Setup::Active {
                Setup::Passive
            } else {
                Setup::Active
            },
        });
        // SDES offered: our own key for the first suite of theirs we take, same tag.
        let crypto = if remote.secure && dtls.is_none() {
            let theirs = remote.crypto.first()?;
            Some(SdesKey::generate(theirs.tag, theirs.suite).ok()?)
        } else {
            None
        };
        let local = LocalAudio {
            events: Some(remote.answer_events(codec)),
            address,
            codecs: vec![codec],
            direction: Direction::SendRecv,
            version: 1,
            session_id: u64::from(address.port()),
            crypto,
            dtls,
            rtcp_mux: remote.rtcp_mux,
            // ICE offered: we take part (controlled).
            ice: remote
                .ice
                .as_ref()
                .and_then(|_| IceCredentials::generate().ok()),
        };
        let sdp = match &self.offer {
            Some(offer) => fit_answer(&local.to_sdp(), offer),
            None => local.to_sdp(),
        };
        self.local = Some(local);
        Some(sdp)
    }

    fn start(&mut self) -> Result<(), String> {
        let remote = self.remote.as_ref().ok_or("the other side sent no SDP")?;
        let codec = *remote.codecs.first().ok_or("no codec in common")?;
        if let (Some(socket), Some(source), Some(sink)) =
            (self.socket.take(), self.source.take(), self.sink.take())
        {
            // Events at the audio's clock, else whatever events the other side takes
            // (baresip 1.0 answers Opus with telephone-event/8000).
            let events = remote
                .telephone_event(codec.clock_rate())
                .or_else(|| remote.telephone_events.first().map(|(pt, _)| *pt))
                .unwrap_or(if codec.clock_rate() == 8000 {
                    crate::media::sdp::TELEPHONE_EVENT
                } else {
                    crate::media::sdp::TELEPHONE_EVENT_48K
                });
            // Our key and the one of theirs with the same tag (the accepted offer's).
            let srtp = match self.local.as_ref().and_then(|l| l.crypto.clone()) {
                Some(ours) => {
                    let theirs = remote
                        .crypto
                        .iter()
                        .find(|k| k.tag == ours.tag && k.suite == ours.suite)
                        .filter(|_| remote.secure)
                        .cloned()
                        .ok_or("the other side did not accept encrypted media (SRTP)")?;
                    Some(Srtp { ours, theirs })
                }
                None => None,
            };
            // DTLS: the answer's roles decide who opens the handshake.
            let dtls = match self.local.as_ref().and_then(|l| l.dtls.clone()) {
                Some(ours) => {
                    let theirs = remote
                        .dtls
                        .as_ref()
                        .ok_or("the other side did not accept encrypted media (DTLS-SRTP)")?;
                    let client = match ours.setup {
                        Setup::Active => true,
                        Setup::Passive => false,
                        Setup::ActPass => theirs.setup == Setup::Passive,
                    };
                    // Re-offers keep the role (RFC 5763 §5: no new handshake).
                    if let Some(local) = self.local.as_mut().and_then(|l| l.dtls.as_mut()) {
                        local.setup = if client {
                            Setup::Active
                        } else {
                            Setup::Passive
                        };
                    }
                    Some(DtlsSetup {
                        identity: self.identity.clone(),
                        client,
                        remote_fingerprint: theirs.fingerprint.clone(),
                    })
                }
                None => None,
            };
            let rtcp_mux = remote.rtcp_mux && self.local.as_ref().is_some_and(|l| l.rtcp_mux);
            // ICE when both sides speak it: candidates of our socket's address family.
            let ice = match (self.local.as_ref().and_then(|l| l.ice.clone()), &remote.ice) {
                (Some(local), Some(theirs)) => {
                    let ours_v4 = socket.local_addr().is_ok_and(|a| a.is_ipv4());
                    let candidates: Vec<SocketAddr> = theirs
                        .candidates
                        .iter()
                        .copied()
                        .filter(|c| c.is_ipv4() == ours_v4)
                        .collect();
                    (!candidates.is_empty()).then(|| IceSetup {
                        local,
                        remote: crate::media::ice::RemoteIce {
                            candidates,
                            ..theirs.clone()
                        },
                        // The offerer controls (RFC 8445 §6.1.1).
                        controlling: self.offered,
                    })
                }
                _ => None,
            };
            let peer = crate::media::session::Peer {
                rtp: remote.address,
                rtcp: if rtcp_mux {
                    remote.address
                } else {
                    remote.rtcp
                },
            };
            let options = crate::media::session::Options {
                srtp,
                dtls,
                rtcp_mux,
                ice,
                ..Default::default()
            };
            let session =
                MediaSession::start_with(socket, peer, codec, events, source, sink, options)
                    .map_err(|e| e.to_string())?;
            let (mut from, to) = (session.quality(), self.quality.clone());
            // Ends with the session (its sender goes away).
            tokio::spawn(async move {
                while from.changed().await.is_ok() {
                    let q = *from.borrow_and_update();
                    to.send_replace(q);
                }
            });
            self.session = Some(session);
        }
        Ok(())
    }
}

struct CallParts {
    links: CallLinks,
    /// The other side's address (for a transfer to it).
    remote_uri: String,
    registry: Registry,
    dialogs: Arc<DialogLayer>,
    dialog: rsipstack::dialog::invite_dialog::InviteDialog,
    /// The INVITE transaction of an outgoing call.
    invite: Option<tokio::task::JoinHandle<InviteAsyncResult>>,
    dialog_states: DialogStateReceiver,
    commands: mpsc::UnboundedReceiver<CallCommand>,
    state: watch::Sender<call::State>,
    media: Media,
}

fn remote_sdp(body: &[u8]) -> Option<RemoteAudio> {
    if body.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(body);
    tracing::debug!(sdp = %text, "the other side's SDP");
    match parse_remote(&text) {
        Ok(remote) => Some(remote),
        Err(e) => {
            tracing::warn!(error = %e, "unusable SDP from the other side");
            None
        }
    }
}

/// The media's failure, when there is one to wait for.
async fn failed(failure: &mut Option<watch::Receiver<Option<String>>>) -> String {
    if let Some(rx) = failure
        && let Ok(detail) = rx.wait_for(Option::is_some).await
        && let Some(detail) = detail.clone()
    {
        return detail;
    }
    std::future::pending().await
}

async fn run_call(mut machine: Call, mut parts: CallParts) {
    let mut invite_done = parts.invite.is_none();
    // Why the media cannot flow, when it cannot (a failed DTLS handshake).
    let mut media_failure: Option<watch::Receiver<Option<String>>> = None;
    let mut confirmed: Option<DialogId> = None;
    loop {
        while let Some(output) = machine.poll_output() {
            match output {
                call::Output::Ring => {
                    if let Err(e) = parts.dialog.ringing(None, None) {
                        tracing::debug!(error = %e, "180 Ringing");
                    }
                }
                call::Output::Accept => {
                    let accepted = parts
                        .media
                        .answer_sdp()
                        .ok_or_else(|| "no SDP answer".to_owned())
                        .and_then(|sdp| {
                            // RFC 3261 §20.15: a body needs its Content-Type (strict peers
                            // such as linphone drop the call without it).
                            let content_type =
                                rsipstack::sip::Header::ContentType("application/sdp".into());
                            parts
                                .dialog
                                .accept(Some(vec![content_type]), Some(sdp.into_bytes()))
                                .map_err(|e| e.to_string())
                        });
                    match accepted {
                        // Confirmed for us once our 2xx is out (RFC 3261 §12.1.1), before
                        // the ACK: a transfer may name this dialog that soon.
                        Ok(()) => remember_dialog(&parts, &parts.dialog.id()),
                        Err(detail) => {
                            machine.handle_input(Instant::now(), call::Input::Failed { detail });
                        }
                    }
                }
                call::Output::Reject { code } => {
                    let status = rsipstack::sip::StatusCode::from(code);
                    if let Err(e) = parts.dialog.reject(Some(status), None) {
                        tracing::debug!(error = %e, "reject");
                    }
                }
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
                    media_failure = parts.media.session.as_ref().map(MediaSession::failure);
                }
                call::Output::StopMedia => parts.media.session = None,
                call::Output::Mute(muted) => {
                    let held = matches!(machine.state(), call::State::Active { on_hold: true, .. })
                        || parts.media.held_by_remote;
                    if let Some(session) = &parts.media.session {
                        session.set_muted(muted || held);
                    }
                }
                call::Output::Refer { target } => {
                    let refer_to = rsipstack::sip::headers::ReferTo::new(format!("<{target}>"));
                    let input = match parts.dialog.refer(refer_to, None, None).await {
                        Ok(Some(response)) if response.status_code.code() < 300 => {
                            call::Input::TransferAccepted
                        }
                        Ok(response) => call::Input::TransferRefused {
                            code: response.map_or(0, |r| r.status_code.code()),
                        },
                        Err(e) => {
                            tracing::warn!(error = %e, "REFER failed");
                            call::Input::TransferRefused { code: 0 }
                        }
                    };
                    machine.handle_input(Instant::now(), input);
                }
                call::Output::Reinvite { hold } => {
                    reinvite(&mut parts, hold).await;
                    // On hold our microphone is not sent (the far end may play music).
                    if let (Some(session), call::State::Active { muted, .. }) =
                        (&parts.media.session, machine.state())
                    {
                        session.set_muted(hold || *muted || parts.media.held_by_remote);
                    }
                }
                call::Output::State(s) => {
                    tracing::info!(state = ?s, "call");
                    parts.state.send_replace(s);
                }
            }
        }
        if matches!(machine.state(), call::State::Ended(_)) {
            // Remembered when confirmed, or when we sent our 2xx (even if no ACK came).
            if let Ok(mut calls) = parts.registry.lock() {
                let call_id = parts.dialog.id().call_id;
                calls.retain(|c| c.call_id != call_id);
            }
            if let Some(id) = confirmed {
                parts.dialogs.remove_dialog(&id);
            }
            // A call that never got confirmed (declined, missed, cancelled, refused) holds
            // its early dialog until removed here too.
            parts.dialogs.remove_dialog(&parts.dialog.id());
            return;
        }
        let timeout = machine.poll_timeout();
        tokio::select! {
            detail = failed(&mut media_failure) => {
                media_failure = None;
                machine.handle_input(Instant::now(), call::Input::Failed { detail });
            }
            command = parts.commands.recv() => {
                let input = match command {
                    Some(CallCommand::Input(input)) => input,
                    Some(CallCommand::Answer(source, sink)) => {
                        parts.media.source = Some(source);
                        parts.media.sink = Some(sink);
                        call::Input::Answer
                    }
                    Some(CallCommand::TransferOutcome(ok)) => {
                        let status = if ok {
                            rsipstack::sip::StatusCode::OK
                        } else {
                            rsipstack::sip::StatusCode::ServiceUnavailable
                        };
                        if let Err(e) = parts.dialog.notify_refer(status, "terminated;reason=noresource").await {
                            tracing::debug!(error = %e, "NOTIFY of the transfer");
                        }
                        parts.links.referred.send_replace(None);
                        if !ok {
                            continue;
                        }
                        call::Input::Hangup
                    }
                    Some(CallCommand::Dtmf(key)) => {
                        let events = parts
                            .media
                            .remote
                            .as_ref()
                            .is_some_and(|r| !r.telephone_events.is_empty());
                        match &parts.media.session {
                            Some(session) if events && !session.send_dtmf(key) => {
                                tracing::debug!(%key, "not a keypad key");
                            }
                            Some(_) if !events => send_info_key(parts.dialog.clone(), key).await,
                            _ => {}
                        }
                        continue;
                    }
                    None => call::Input::Hangup,
                };
                machine.handle_input(Instant::now(), input);
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
                        remember_dialog(&parts, &id);
                        confirmed = Some(id);
                        // The answer to our offer; on calls to us this is our own 200.
                        if parts.invite.is_some()
                            && let Some(remote) = remote_sdp(&response.body)
                        {
                            parts.media.remote = Some(remote);
                        }
                        Some(call::Input::Answered)
                    }
                    DialogState::Terminated(_, reason) => match reason {
                        // The other side hung up: as callee (UAS) on our calls, as
                        // caller (UAC) on calls to us, where a CANCEL is its giving up.
                        TerminatedReason::UasBye => Some(call::Input::RemoteHangup),
                        TerminatedReason::UacBye | TerminatedReason::UacCancel
                            if matches!(machine.state(), call::State::Incoming | call::State::Active { .. }) && parts.invite.is_none() =>
                        {
                            Some(call::Input::RemoteHangup)
                        }
                        TerminatedReason::UasBusy => Some(call::Input::Refused { code: 486, reason: "Busy Here".into() }),
                        TerminatedReason::UasDecline => Some(call::Input::Refused { code: 603, reason: "Decline".into() }),
                        TerminatedReason::ProxyAuthRequired => Some(call::Input::Refused { code: 407, reason: "wrong user name or password".into() }),
                        TerminatedReason::ProxyError(code) | TerminatedReason::UasOther(code) => Some(call::Input::Refused { code: code.code(), reason: code.to_string() }),
                        TerminatedReason::Timeout => Some(call::Input::Failed { detail: "no answer from the other side".into() }),
                        // Our own CANCEL or BYE: the machine knows already.
                        TerminatedReason::UacCancel | TerminatedReason::UacBye | TerminatedReason::UacBusy | TerminatedReason::UacOther(_) => None,
                    },
                    // Asked to transfer (RFC 3515): accepted, and the app places the call.
                    DialogState::Refer(_, request, handle) => {
                        let wanted = request
                            .headers
                            .iter()
                            .find(|h| h.name().eq_ignore_ascii_case("Refer-To"))
                            .and_then(|h| TransferRequest::from_refer_to(h.value()));
                        let active = matches!(machine.state(), call::State::Active { .. });
                        match wanted {
                            Some(wanted) if active => {
                                let _ = handle.reply(rsipstack::sip::StatusCode::Accepted).await;
                                tracing::info!(target = %wanted.target, attended = wanted.replaces.is_some(), "asked to transfer");
                                parts.links.referred.send_replace(Some(wanted));
                                let dialog = parts.dialog.clone();
                                tokio::spawn(async move {
                                    let _ = dialog.notify_refer(rsipstack::sip::StatusCode::Trying, "active;expires=60").await;
                                });
                            }
                            Some(_) => {
                                let _ = handle.reply(rsipstack::sip::StatusCode::CallTransactionDoesNotExist).await;
                            }
                            None => {
                                let _ = handle.reply(rsipstack::sip::StatusCode::BadRequest).await;
                            }
                        }
                        None
                    }
                    // An offer within the call (re-INVITE or UPDATE): hold, resume, refresh.
                    DialogState::Updated(_, request, handle) => {
                        match parts.media.answer_in_dialog(&request.body) {
                            Some(sdp) => {
                                if let (Some(session), call::State::Active { muted, on_hold }) = (&parts.media.session, machine.state()) {
                                    session.set_muted(*muted || *on_hold || parts.media.held_by_remote);
                                }
                                let content_type = rsipstack::sip::Header::ContentType("application/sdp".into());
                                let _ = handle
                                    .respond(rsipstack::sip::StatusCode::OK, Some(vec![content_type]), Some(sdp.into_bytes()))
                                    .await;
                            }
                            None => {
                                let _ = handle.reply(rsipstack::sip::StatusCode::NotAcceptableHere).await;
                            }
                        }
                        None
                    }
                    // The progress of a transfer we asked for: noted (the call ends on 202).
                    DialogState::Notify(_, _, handle) => {
                        let _ = handle.reply(rsipstack::sip::StatusCode::OK).await;
                        None
                    }
                    _ => None,
                };
                if let Some(input) = input {
                    machine.handle_input(Instant::now(), input);
                }
            }
            result = async { parts.invite.as_mut().expect("outgoing").await }, if !invite_done => {
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

/// A keypad key as SIP INFO (`application/dtmf-relay`), for far ends that take no
/// RFC 4733 events (their SDP offers no telephone-event).
async fn send_info_key(dialog: rsipstack::dialog::invite_dialog::InviteDialog, key: char) {
    if crate::media::session::dtmf_event(key).is_none() {
        tracing::debug!(%key, "not a keypad key");
        return;
    }
    let body = format!("Signal={key}\r\nDuration=160\r\n");
    let content_type = rsipstack::sip::Header::ContentType("application/dtmf-relay".into());
    match dialog
        .info(Some(vec![content_type]), Some(body.into_bytes()))
        .await
    {
        Ok(Some(response)) if response.status_code.code() < 300 => {}
        other => tracing::warn!(?other, %key, "the key sent as INFO was not accepted"),
    }
}

/// Offers the session again with the new direction (hold: `sendonly`; resume: `sendrecv`).
async fn reinvite(parts: &mut CallParts, hold: bool) {
    let Some(local) = parts.media.local.as_mut() else {
        return;
    };
    local.version += 1;
    local.direction = if hold {
        Direction::SendOnly
    } else {
        Direction::SendRecv
    };
    let body = local.to_sdp().into_bytes();
    let content_type = rsipstack::sip::Header::ContentType("application/sdp".into());
    match parts
        .dialog
        .reinvite(Some(vec![content_type]), Some(body))
        .await
    {
        Ok(Some(response)) if response.status_code.code() < 300 => {
            if let Some(remote) = remote_sdp(&response.body) {
                parts.media.remote = Some(remote);
            }
        }
        Ok(other) => {
            tracing::warn!(status = ?other.map(|r| r.status_code), hold, "re-INVITE refused");
        }
        Err(e) => tracing::warn!(error = %e, hold, "re-INVITE failed"),
    }
}
