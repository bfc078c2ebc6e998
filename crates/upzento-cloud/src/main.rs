//! `upzento-cloud serve`: the tenant cloud API server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use upzento_cloud::store::Store;
use upzento_cloud::store::postgres::PgStore;
use upzento_cloud::store::sqlite::SqliteStore;
use upzento_cloud::{AppState, demo};

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

#[derive(Debug, Subcommand)]
enum Command {
    /// The built-in sandbox carrier.
    #[command(subcommand)]
    Sandbox(SandboxCommand),
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
        /// Create a demo tenant with an admin and an agent on first start.
        #[arg(long, env = "UPZENTO_DEMO")]
        demo: bool,
        /// Serve the API only: leave sending and campaigns to other nodes on the same database.
        #[arg(long, env = "UPZENTO_NO_WORKERS")]
        no_workers: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
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
        Command::Serve {
            listen,
            data_dir,
            database_url,
            database_ca,
            demo,
            no_workers,
        } => {
            serve(
                listen,
                data_dir,
                database_url,
                database_ca,
                demo,
                !no_workers,
            )
            .await
        }
    }
}

async fn serve(
    listen: SocketAddr,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    database_ca: Option<PathBuf>,
    demo: bool,
    workers: bool,
) -> anyhow::Result<()> {
    let store: Arc<dyn Store> = match database_url {
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
    };
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
    let mut state = AppState::new(store);
    state.workers = workers;
    upzento_cloud::serve(listener, state).await
}
