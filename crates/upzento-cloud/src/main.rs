//! `upzento-cloud serve`: the tenant cloud API server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use upzento_cloud::carrier::twilio::{Twilio, TwilioConfig};
use upzento_cloud::carrier::vonage::{Vonage, VonageConfig};
use upzento_cloud::carrier::{Provider, Sandbox};
use upzento_cloud::store::Store;
use upzento_cloud::store::postgres::PgStore;
use upzento_cloud::store::sqlite::SqliteStore;
use upzento_cloud::{AppState, demo, tenants};

#[derive(Debug, Parser)]
#[command(
    name = "upzento-cloud",
    version,
    about = "Upzento Phone & SMS tenant cloud API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum SandboxCommand {
    /// Make the sandbox carrier of a running server receive an SMS (as an admin).
    Inbound {
        /// The server, e.g. http://127.0.0.1:8787
        #[arg(long, default_value = "http://127.0.0.1:8787")]
        url: String,
        /// An admin's token (session or API token).
        #[arg(long, env = "UPZENTO_TOKEN", hide_env_values = true)]
        token: String,
        /// One of the tenant's numbers.
        #[arg(long)]
        to: String,
        #[arg(long)]
        from: String,
        #[arg(long)]
        body: String,
    },
}

/// Where the data is (for `serve` and the operator's commands alike).
#[derive(Debug, clap::Args)]
struct DbArgs {
    /// Directory of the embedded SQLite database (default: the user's data dir).
    #[arg(long, env = "UPZENTO_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL: postgres://user:password@host/db, or sqlite:///path/to/file.db.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// PEM file of the CA that signed the database's certificate, when not a system CA
    /// (the URL must then ask for TLS with `?sslmode=require`).
    #[arg(long, env = "UPZENTO_DATABASE_CA")]
    database_ca: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant and its first admin, whose initial password is printed once.
    Create {
        /// The business's name, as its people and its SMS replies show it.
        #[arg(long)]
        name: String,
        #[arg(long)]
        admin_email: String,
        /// The admin's name (default: the email's local part).
        #[arg(long)]
        admin_name: Option<String>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List the tenants.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Disable a tenant: its tokens, sign-ins and inbound SMS are refused at once and its
    /// campaigns paused; nothing is deleted.
    Disable {
        /// The tenant's id (see `tenant list`).
        id: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Enable a disabled tenant again (its paused campaigns stay paused).
    Enable {
        id: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

// Parsed once at start: the size of the `serve` variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// The built-in sandbox carrier.
    #[command(subcommand)]
    Sandbox(SandboxCommand),
    /// Tenants, for the cloud's operator (works on the database directly).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Fill the demo tenant of a SQLite data dir with many messages (load tests, benchmarks).
    #[command(hide = true)]
    Seed {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 100_000)]
        conversations: usize,
        #[arg(long, default_value_t = 1_000_000)]
        messages: usize,
    },
    /// Serve the /phone-sms API.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "UPZENTO_LISTEN", default_value = "127.0.0.1:8787")]
        listen: SocketAddr,
        #[command(flatten)]
        db: DbArgs,
        /// Create a demo tenant with an admin and an agent on first start.
        #[arg(long, env = "UPZENTO_DEMO")]
        demo: bool,
        /// Serve the API only: leave sending and campaigns to other nodes on the same database.
        #[arg(long, env = "UPZENTO_NO_WORKERS")]
        no_workers: bool,
        #[command(flatten)]
        carrier: CarrierArgs,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ProviderKind {
    Sandbox,
    Twilio,
    Vonage,
}

/// The SMS provider. Secrets come from the environment (or a secrets manager that
/// sets it), never from arguments that `ps` would show.
#[derive(Debug, clap::Args)]
struct CarrierArgs {
    /// Which provider sends and receives SMS.
    #[arg(long, env = "UPZENTO_PROVIDER", value_enum, default_value = "sandbox")]
    provider: ProviderKind,
    /// Our public base URL as the provider reaches it (e.g. https://cloud.example.com):
    /// delivery reports go there and webhook signatures cover it.
    #[arg(long, env = "UPZENTO_PUBLIC_URL")]
    public_url: Option<String>,
    /// Sandbox: milliseconds from sending to the delivery report.
    #[arg(long, env = "UPZENTO_SANDBOX_DELIVERY_MS", default_value_t = 500)]
    sandbox_delivery_ms: u64,
    /// Sandbox: segments per second each number sends (a long code: 1; 0: unlimited).
    #[arg(long, env = "UPZENTO_SANDBOX_RATE", default_value_t = 1.0)]
    sandbox_rate: f64,
    #[arg(long, env = "TWILIO_ACCOUNT_SID")]
    twilio_account_sid: Option<String>,
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true, hide = true)]
    twilio_auth_token: Option<String>,
    /// Send through this Messaging Service rather than from the conversation's number.
    #[arg(long, env = "TWILIO_MESSAGING_SERVICE_SID")]
    twilio_messaging_service_sid: Option<String>,
    #[arg(long, env = "TWILIO_API_URL", default_value = upzento_cloud::carrier::twilio::DEFAULT_API_URL)]
    twilio_api_url: String,
    #[arg(long, env = "VONAGE_API_KEY")]
    vonage_api_key: Option<String>,
    #[arg(long, env = "VONAGE_API_SECRET", hide_env_values = true, hide = true)]
    vonage_api_secret: Option<String>,
    #[arg(
        long,
        env = "VONAGE_SIGNATURE_SECRET",
        hide_env_values = true,
        hide = true
    )]
    vonage_signature_secret: Option<String>,
    /// The signing method chosen in the Vonage dashboard: md5hash, md5, sha1, sha256, sha512.
    #[arg(long, env = "VONAGE_SIGNATURE_METHOD", default_value = "md5hash")]
    vonage_signature_method: String,
    #[arg(long, env = "VONAGE_SMS_URL", default_value = upzento_cloud::carrier::vonage::DEFAULT_REST_URL)]
    vonage_sms_url: String,
    /// Milliseconds a node's claim on due messages lasts (how long messages wait when a node dies).
    #[arg(long, env = "UPZENTO_CARRIER_LEASE_MS", default_value_t = 30_000)]
    carrier_lease_ms: u64,
    /// Milliseconds the provider may take to answer a send before its outcome is uncertain.
    #[arg(
        long,
        env = "UPZENTO_CARRIER_SEND_TIMEOUT_MS",
        default_value_t = 20_000
    )]
    carrier_send_timeout_ms: u64,
    /// Milliseconds a user stays present with no live connection of theirs seen (how long
    /// teammates see them available after their app or its node is gone).
    #[arg(long, env = "UPZENTO_PRESENCE_LEASE_MS", default_value_t = 60_000)]
    presence_lease_ms: u64,
    /// Judges recipients' time of day for quiet hours this many milliseconds ahead of now
    /// (for tests and demos: their numbers at another hour). 0 in use.
    #[arg(
        long,
        env = "UPZENTO_QUIET_HOURS_AHEAD_MS",
        default_value_t = 0,
        hide = true
    )]
    quiet_hours_ahead_ms: i64,
    /// The SMTP server invitations are emailed through: `smtp://host:port` (STARTTLS when
    /// offered) or `smtps://user:password@host` (TLS). Without it, admins pass codes on.
    #[arg(long, env = "UPZENTO_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// The sender of those emails, e.g. `Upzento <no-reply@example.com>`.
    #[arg(
        long,
        env = "UPZENTO_MAIL_FROM",
        default_value = "Upzento Phone <no-reply@localhost>"
    )]
    mail_from: String,
}

impl CarrierArgs {
    fn provider(&self) -> anyhow::Result<Arc<dyn Provider>> {
        let public_url = || {
            self.public_url
                .clone()
                .context("--public-url (UPZENTO_PUBLIC_URL) is needed for a real provider: its webhooks are signed over it")
        };
        Ok(match self.provider {
            ProviderKind::Sandbox => Arc::new(Sandbox {
                delivery_delay: std::time::Duration::from_millis(self.sandbox_delivery_ms),
                segments_per_second: (self.sandbox_rate > 0.0).then_some(self.sandbox_rate),
            }),
            ProviderKind::Twilio => Arc::new(Twilio::new(TwilioConfig {
                account_sid: self
                    .twilio_account_sid
                    .clone()
                    .context("TWILIO_ACCOUNT_SID is not set")?,
                auth_token: self
                    .twilio_auth_token
                    .clone()
                    .context("TWILIO_AUTH_TOKEN is not set")?,
                messaging_service_sid: self.twilio_messaging_service_sid.clone(),
                api_url: self.twilio_api_url.clone(),
                public_url: public_url()?,
            })?),
            ProviderKind::Vonage => Arc::new(Vonage::new(VonageConfig {
                api_key: self
                    .vonage_api_key
                    .clone()
                    .context("VONAGE_API_KEY is not set")?,
                api_secret: self
                    .vonage_api_secret
                    .clone()
                    .context("VONAGE_API_SECRET is not set")?,
                signature_secret: self
                    .vonage_signature_secret
                    .clone()
                    .context("VONAGE_SIGNATURE_SECRET is not set")?,
                signature_method: self.vonage_signature_method.parse()?,
                rest_url: self.vonage_sms_url.clone(),
                public_url: public_url()?,
            })?),
        })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The log on stderr: stdout is the commands' output (a new tenant's password).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_env("UPZENTO_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match Cli::parse().command {
        Command::Sandbox(SandboxCommand::Inbound {
            url,
            token,
            to,
            from,
            body,
        }) => {
            let response = reqwest::Client::new()
                .post(format!(
                    "{}/phone-sms/sandbox/inbound",
                    url.trim_end_matches('/')
                ))
                .bearer_auth(token)
                .json(&serde_json::json!({"to": to, "from": from, "body": body}))
                .send()
                .await
                .with_context(|| format!("cannot reach {url}"))?;
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            anyhow::ensure!(status.is_success(), "{status}: {text}");
            println!("{text}");
            Ok(())
        }
        Command::Seed {
            data_dir,
            conversations,
            messages,
        } => {
            let store = SqliteStore::open(&data_dir.join("upzento-cloud.db"))?;
            let started = std::time::Instant::now();
            demo::seed_volume(
                &store,
                conversations.max(1),
                messages,
                time::OffsetDateTime::now_utc(),
                |n| {
                    eprintln!(
                        "seeded {n} messages after {:.0} s",
                        started.elapsed().as_secs_f64()
                    );
                },
            )
            .await?;
            eprintln!(
                "seeded {messages} messages in {conversations} conversations in {:.0} s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Tenant(command) => tenant(command).await,
        Command::Serve {
            listen,
            db,
            demo,
            no_workers,
            carrier,
        } => {
            let node = Node {
                workers: !no_workers,
                provider: carrier.provider()?,
                public_url: carrier.public_url,
                timing: upzento_cloud::carrier::Timing {
                    lease: std::time::Duration::from_millis(carrier.carrier_lease_ms.max(100)),
                    send_timeout: std::time::Duration::from_millis(
                        carrier.carrier_send_timeout_ms.max(100),
                    ),
                },
                presence_lease: time::Duration::milliseconds(
                    i64::try_from(carrier.presence_lease_ms.max(300)).unwrap_or(i64::MAX),
                ),
                quiet_hours_ahead_ms: carrier.quiet_hours_ahead_ms,
                mailer: match &carrier.smtp_url {
                    Some(url) => Some(Arc::new(upzento_cloud::mail::Smtp::new(
                        url,
                        &carrier.mail_from,
                    )?)
                        as Arc<dyn upzento_cloud::mail::Mailer>),
                    None => None,
                },
            };
            serve(listen, db, demo, node).await
        }
    }
}

/// What this node does besides serving the API.
struct Node {
    workers: bool,
    provider: Arc<dyn Provider>,
    public_url: Option<String>,
    timing: upzento_cloud::carrier::Timing,
    presence_lease: time::Duration,
    quiet_hours_ahead_ms: i64,
    mailer: Option<Arc<dyn upzento_cloud::mail::Mailer>>,
}

/// The database `db` names, migrated.
async fn open_store(db: DbArgs) -> anyhow::Result<Arc<dyn Store>> {
    let DbArgs {
        data_dir,
        database_url,
        database_ca,
    } = db;
    Ok(match database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let store = PgStore::connect_with(&url, database_ca.as_deref()).await?;
            tracing::info!(tls = url.contains("sslmode=require"), "PostgreSQL storage");
            Arc::new(store)
        }
        other => {
            anyhow::ensure!(
                database_ca.is_none(),
                "--database-ca is for PostgreSQL; the database here is SQLite"
            );
            let path = match other {
                Some(url) => PathBuf::from(url.strip_prefix("sqlite://").with_context(|| {
                    format!("unsupported database URL {url}: use sqlite:// or postgres://")
                })?),
                None => data_dir
                    .or_else(|| dirs::data_dir().map(|d| d.join("upzento-cloud")))
                    .context("no data directory: pass --data-dir")?
                    .join("upzento-cloud.db"),
            };
            let store = SqliteStore::open(&path)?;
            tracing::info!(db = %path.display(), "SQLite storage");
            Arc::new(store)
        }
    })
}

async fn tenant(command: TenantCommand) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc();
    match command {
        TenantCommand::Create {
            name,
            admin_email,
            admin_name,
            db,
        } => {
            let store = open_store(db).await?;
            let password = tenants::initial_password()?;
            let (tenant, admin) = tenants::create(
                store.as_ref(),
                tenants::NewTenant {
                    name,
                    admin_email,
                    admin_name,
                    admin_password: password.clone(),
                    initial_password: true,
                },
                now,
            )
            .await?;
            println!("Tenant \"{}\" created: {}", tenant.name, tenant.id);
            println!(
                "Its admin signs in as {} with the initial password {password}",
                admin.email
            );
            println!("(shown this once; the admin chooses a new one at first sign-in).");
            Ok(())
        }
        TenantCommand::List { db } => {
            let store = open_store(db).await?;
            println!(
                "{:<36}  {:<10}  {:>5}  {:<8}  name",
                "id", "created", "users", "state"
            );
            for t in store.tenants().await? {
                println!(
                    "{:<36}  {:<10}  {:>5}  {:<8}  {}",
                    t.id,
                    t.created_at.date(),
                    t.users,
                    if t.disabled_at.is_some() {
                        "disabled"
                    } else {
                        "active"
                    },
                    t.name
                );
            }
            Ok(())
        }
        TenantCommand::Disable { id, db } => set_disabled(db, &id, Some(now), now).await,
        TenantCommand::Enable { id, db } => set_disabled(db, &id, None, now).await,
    }
}

async fn set_disabled(
    db: DbArgs,
    id: &str,
    disabled_at: Option<time::OffsetDateTime>,
    now: time::OffsetDateTime,
) -> anyhow::Result<()> {
    let store = open_store(db).await?;
    let found = store
        .set_tenant_disabled(id, disabled_at, now)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(found, "no tenant {id} (see `upzento-cloud tenant list`)");
    if disabled_at.is_some() {
        println!(
            "Tenant {id} disabled: its tokens, sign-ins and inbound SMS are refused, its campaigns paused."
        );
    } else {
        println!(
            "Tenant {id} enabled: its people can sign in again (paused campaigns stay paused)."
        );
    }
    Ok(())
}

async fn serve(listen: SocketAddr, db: DbArgs, demo: bool, node: Node) -> anyhow::Result<()> {
    let store = open_store(db).await?;
    if demo {
        let now = time::OffsetDateTime::now_utc();
        if demo::ensure(store.as_ref(), now).await? {
            tracing::info!(tenant = demo::TENANT, "demo tenant created");
        }
        println!(
            "Demo tenant \"{}\": sign in at http://{listen} as {} / {} (agent) or {} / {} (admin)",
            demo::TENANT,
            demo::AGENT_EMAIL,
            demo::AGENT_PASSWORD,
            demo::ADMIN_EMAIL,
            demo::ADMIN_PASSWORD
        );
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    tracing::info!(provider = node.provider.name(), "SMS provider");
    let mut state = AppState::with_carrier(store, node.provider);
    state.workers = node.workers;
    state.public_url = node.public_url;
    state.carrier_timing = node.timing;
    state.presence_lease = node.presence_lease;
    state.quiet_hours_ahead_ms = node.quiet_hours_ahead_ms;
    if node.quiet_hours_ahead_ms != 0 {
        tracing::warn!(
            ahead_ms = node.quiet_hours_ahead_ms,
            "recipients' hours are judged at another time than now (tests and demos only)"
        );
    }
    state.mailer = node.mailer;
    upzento_cloud::serve(listener, state).await
}
