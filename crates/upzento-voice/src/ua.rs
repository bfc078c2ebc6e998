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
        tokio::spawn(async move { endpoint.serve().await });
        Ok(Self {
            endpoint: inner,
            cancel,
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
