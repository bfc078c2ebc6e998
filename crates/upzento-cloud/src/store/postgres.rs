//! PostgreSQL storage (tokio-postgres + deadpool). Several server processes can
//! share one database: nothing here keeps state between requests, and
//! migrations run under an advisory lock so nodes starting together do not race.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio_postgres::NoTls;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use tokio_postgres::Transaction;

use crate::events::ChangeHub;

const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_init.sql"),
    include_str!("../../migrations/postgres/0002_numbers_templates_feed.sql"),
    include_str!("../../migrations/postgres/0003_contacts.sql"),
    include_str!("../../migrations/postgres/0004_conversations_messages.sql"),
    include_str!("../../migrations/postgres/0005_calls.sql"),
    include_str!("../../migrations/postgres/0006_campaigns.sql"),
    include_str!("../../migrations/postgres/0007_conversation_read.sql"),
    include_str!("../../migrations/postgres/0008_token_ids.sql"),
    include_str!("../../migrations/postgres/0009_consent.sql"),
    include_str!("../../migrations/postgres/0010_provider_webhooks.sql"),
    include_str!("../../migrations/postgres/0011_send_intent_number_owner.sql"),
    include_str!("../../migrations/postgres/0012_call_notes.sql"),
    include_str!("../../migrations/postgres/0013_wrap_up.sql"),
    include_str!("../../migrations/postgres/0014_conversation_notes_snooze.sql"),
    include_str!("../../migrations/postgres/0015_supervisor_role.sql"),
    include_str!("../../migrations/postgres/0016_tenant_disabled.sql"),
    include_str!("../../migrations/postgres/0017_passwords.sql"),
    include_str!("../../migrations/postgres/0018_user_deactivated.sql"),
    include_str!("../../migrations/postgres/0019_invitations_presence.sql"),
    include_str!("../../migrations/postgres/0020_teams.sql"),
    include_str!("../../migrations/postgres/0021_change_audience.sql"),
    include_str!("../../migrations/postgres/0022_quiet_hours.sql"),
    include_str!("../../migrations/postgres/0023_do_not_contact.sql"),
    include_str!("../../migrations/postgres/0024_send_pace.sql"),
    include_str!("../../migrations/postgres/0025_campaign_hours.sql"),
    include_str!("../../migrations/postgres/0026_campaign_audience.sql"),
];
/// Key of the advisory lock held while migrating (any constant unique to us).
const MIGRATION_LOCK: i64 = 0x5550_5a45_4e54_4f01;

#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// For the LISTEN connection, which lives outside the pool.
    config: tokio_postgres::Config,
    /// Set when the URL asks for TLS (`sslmode=require`).
    tls: Option<MakeRustlsConnect>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("config", &self.config)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// A TLS connector that verifies the server against the system's CAs and, when
/// given, the CAs in `ca_file` (PEM): what a managed database's certificate needs.
fn tls_connector(ca_file: Option<&Path>) -> anyhow::Result<MakeRustlsConnect> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A broken system certificate is skipped, as curl and browsers do.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .with_context(|| format!("reading the database CA file {}", path.display()))?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("{} is not a PEM certificate file", path.display()))?;
        anyhow::ensure!(!certs.is_empty(), "{} holds no certificate", path.display());
        for cert in certs {
            roots
                .add(cert)
                .with_context(|| format!("a certificate in {}", path.display()))?;
        }
    }
    anyhow::ensure!(
        !roots.is_empty(),
        "no CA certificates to verify the database with: install ca-certificates or pass --database-ca"
    );
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// The NOTIFY channel of the change feed; the payload is the tenant id.
const CHANGES_CHANNEL: &str = "upzento_changes";

impl PgStore {
    /// Connects to `url` (postgres://user:password@host:port/database) and migrates.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, None).await
    }

    /// Like [`connect`](Self::connect). With `?sslmode=require` in the URL the connection
    /// is TLS, and the server's certificate must chain to a system CA or to one in
    /// `ca_file`; otherwise it is plain TCP (a database on the same host or network).
    pub async fn connect_with(url: &str, ca_file: Option<&Path>) -> anyhow::Result<Self> {
        let config: tokio_postgres::Config = url.parse().context("invalid PostgreSQL URL")?;
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let tls = if config.get_ssl_mode() == SslMode::Require {
            Some(tls_connector(ca_file)?)
        } else {
            anyhow::ensure!(
                ca_file.is_none(),
                "a database CA file was given, but the URL does not ask for TLS: add ?sslmode=require"
            );
            None
        };
        let manager = match &tls {
            Some(tls) => Manager::from_config(config.clone(), tls.clone(), manager_config),
            None => Manager::from_config(config.clone(), NoTls, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(16)
            .build()
            .context("PostgreSQL pool")?;
        let store = Self { pool, config, tls };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let mut client = self.pool.get().await.context("connecting to PostgreSQL")?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migration (
                 version     INTEGER PRIMARY KEY,
                 applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await?;
        let applied: i32 = tx
            .query_one(
                "SELECT coalesce(max(version), 0) FROM schema_migration",
                &[],
            )
            .await?
            .get(0);
        let applied = usize::try_from(applied).context("negative schema version")?;
        if applied > MIGRATIONS.len() {
            anyhow::bail!(
                "the database was written by a newer upzento-cloud (schema {applied}, this one knows {})",
                MIGRATIONS.len()
            );
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
            let version = i32::try_from(i + 1)?;
            tx.batch_execute(sql)
                .await
                .with_context(|| format!("migration {version}"))?;
            tx.execute(
                "INSERT INTO schema_migration (version) VALUES ($1)",
                &[&version],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn client(&self) -> anyhow::Result<deadpool_postgres::Object> {
        self.pool.get().await.context("connecting to PostgreSQL")
    }

    /// Runs `op` on a pooled connection (each statement on its own).
    pub(super) async fn run<T>(
        &self,
        op: impl AsyncFnOnce(&tokio_postgres::Client) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let client = self.client().await?;
        op(pg(&client)).await
    }

    /// Wakes `hub`'s streams on every commit of any node: a LISTEN connection, kept up.
    pub(super) async fn notify_changes(&self, hub: Arc<ChangeHub>) -> anyhow::Result<()> {
        let config = self.config.clone();
        let tls = self.tls.clone();
        // Connect once now so that a bad configuration fails at start-up, not later.
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            let mut backoff = std::time::Duration::from_millis(100);
            loop {
                let first = ready.is_some();
                let outcome = listen_and_forward(&config, tls.as_ref(), &hub, || {
                    backoff = std::time::Duration::from_millis(100);
                    match ready.take() {
                        Some(ready) => {
                            let _ = ready.send(Ok(()));
                        }
                        // Whatever was notified while we were away: look again.
                        None => hub.notify_all(),
                    }
                })
                .await;
                match outcome {
                    Ok(()) => tracing::warn!("LISTEN connection lost; reconnecting"),
                    Err(err) if first => {
                        if let Some(ready) = ready.take() {
                            let _ = ready.send(Err(err));
                        }
                        return;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "LISTEN connection failed; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
                    }
                }
            }
        });
        ready_rx
            .await
            .context("the LISTEN task ended before connecting")?
    }

    /// Runs `op` in a transaction, committed when it succeeds. `op` fails with the error
    /// type its `Store` method returns.
    pub(super) async fn write<T, E: From<anyhow::Error>>(
        &self,
        op: impl AsyncFnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(anyhow::Error::from)?;
        let out = op(&tx).await?;
        tx.commit().await.map_err(anyhow::Error::from)?;
        Ok(out)
    }
}

/// The driver's client inside a pooled connection.
fn pg(client: &deadpool_postgres::Object) -> &tokio_postgres::Client {
    client
}

/// A LISTEN connection: the client (kept alive by the caller) and its connection driver.
type Listener<T> = (
    tokio_postgres::Client,
    tokio_postgres::Connection<tokio_postgres::Socket, T>,
);

/// Opens a LISTEN connection and forwards its notifications to `hub` until it ends.
/// Returns an error when it cannot connect.
async fn listen_and_forward(
    config: &tokio_postgres::Config,
    tls: Option<&MakeRustlsConnect>,
    hub: &ChangeHub,
    connected: impl FnOnce(),
) -> anyhow::Result<()> {
    match tls {
        Some(tls) => {
            let listener = listen(config, tls.clone()).await?;
            connected();
            forward_notifications(listener, hub).await;
        }
        None => {
            let listener = listen(config, NoTls).await?;
            connected();
            forward_notifications(listener, hub).await;
        }
    }
    Ok(())
}

async fn listen<T>(config: &tokio_postgres::Config, tls: T) -> anyhow::Result<Listener<T::Stream>>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
    T::Stream: Send + 'static,
{
    let (client, mut connection) = config.connect(tls).await?;
    let command = format!("LISTEN {CHANGES_CHANNEL}");
    {
        // The LISTEN command's answer comes through the connection: drive it meanwhile.
        let listen = client.batch_execute(&command);
        tokio::pin!(listen);
        loop {
            tokio::select! {
                result = &mut listen => { result?; break; }
                message = std::future::poll_fn(|cx| connection.poll_message(cx)) => {
                    if let Some(Err(e)) = message { return Err(e.into()); }
                }
            }
        }
    }
    Ok((client, connection))
}

/// Wakes the hub for each notification until the connection ends.
async fn forward_notifications<T>((_client, mut connection): Listener<T>, hub: &ChangeHub)
where
    T: tokio_postgres::tls::TlsStream + Unpin,
{
    while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
        match message {
            Ok(tokio_postgres::AsyncMessage::Notification(n)) => hub.notify(n.payload()),
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err, "LISTEN connection error");
                break;
            }
        }
    }
}
