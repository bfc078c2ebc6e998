//! PostgreSQL storage (tokio-postgres + deadpool). Several server processes can
//! share one database: nothing here keeps state between requests, and
//! migrations run under an advisory lock so nodes starting together do not race.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use time::OffsetDateTime;
use tokio_postgres::NoTls;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use tokio_postgres::Transaction;
use upzento_domain::resources::{
    AuditEntry, Call, CampaignRecipient, Change, ConsentEvent, Contact, Conversation, PhoneNumber,
    SmsCampaign, SmsMessage, SmsTemplate,
};

use super::sql::Dialect;
use super::{
    Actor, After, Apply, CallFilter, CampaignFilter, CarrierUpdate, ContactFilter,
    ConversationFilter, DueMessage, DueRecipient, Guard, NewMessage, NewRecipient, NewToken,
    NewUser, NumberFilter, RecipientOutcome, Store, Tenant, User,
};
use super::{accounts, campaigns, common, entities, messaging};
use crate::carrier::{InboundPart, MessageRef};
use crate::error::AppError;
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

    /// Runs `op` in a transaction, committed when it succeeds.
    async fn write<T>(
        &self,
        op: impl AsyncFnOnce(&Transaction<'_>) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
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

#[async_trait]
impl Store for PgStore {
    async fn create_tenant(&self, name: &str, now: OffsetDateTime) -> anyhow::Result<Tenant> {
        accounts::create_tenant(pg(&self.client().await?), name, now).await
    }

    async fn tenant(&self, id: &str) -> anyhow::Result<Option<Tenant>> {
        accounts::tenant(pg(&self.client().await?), id).await
    }

    async fn create_user(&self, user: NewUser, now: OffsetDateTime) -> anyhow::Result<User> {
        accounts::create_user(pg(&self.client().await?), user, now).await
    }

    async fn user_for_sign_in(
        &self,
        email: &str,
    ) -> anyhow::Result<Option<(User, Option<String>)>> {
        accounts::user_for_sign_in(pg(&self.client().await?), email).await
    }

    async fn insert_token(&self, token: NewToken, now: OffsetDateTime) -> anyhow::Result<()> {
        accounts::insert_token(pg(&self.client().await?), token, now).await
    }

    async fn token_owner(
        &self,
        hash: &[u8],
        now: OffsetDateTime,
    ) -> anyhow::Result<Option<(User, Tenant)>> {
        accounts::token_owner(pg(&self.client().await?), hash, now).await
    }
    async fn audit_event(
        &self,
        actor: &Actor,
        action: &str,
        entity: &str,
        entity_id: &str,
        now: OffsetDateTime,
    ) -> anyhow::Result<()> {
        accounts::audit_event(
            pg(&self.client().await?),
            actor,
            action,
            entity,
            entity_id,
            now,
        )
        .await
    }

    async fn list_api_tokens(
        &self,
        tenant_id: &str,
        user_id: Option<&str>,
    ) -> anyhow::Result<Vec<upzento_domain::wire::ApiTokenInfo>> {
        accounts::list_api_tokens(pg(&self.client().await?), tenant_id, user_id).await
    }

    async fn revoke_api_token(
        &self,
        tenant_id: &str,
        user_id: Option<&str>,
        id: &str,
    ) -> anyhow::Result<bool> {
        accounts::revoke_api_token(pg(&self.client().await?), tenant_id, user_id, id).await
    }

    async fn revoke_token(&self, hash: &[u8]) -> anyhow::Result<bool> {
        accounts::revoke_token(pg(&self.client().await?), hash).await
    }

    async fn tenant_users(&self, tenant_id: &str) -> anyhow::Result<Vec<User>> {
        accounts::tenant_users(pg(&self.client().await?), tenant_id).await
    }

    async fn user_in_tenant(&self, tenant_id: &str, user_id: &str) -> anyhow::Result<bool> {
        accounts::user_in_tenant(pg(&self.client().await?), tenant_id, user_id).await
    }

    async fn create_number(
        &self,
        actor: &Actor,
        number: PhoneNumber,
        now: OffsetDateTime,
    ) -> Result<PhoneNumber, AppError> {
        self.write(async |tx| {
            entities::create_number(tx, actor, &number, now).await?;
            Ok(number)
        })
        .await
    }

    async fn number(&self, tenant_id: &str, id: &str) -> anyhow::Result<Option<PhoneNumber>> {
        common::get(pg(&self.client().await?), tenant_id, id, false).await
    }

    async fn list_numbers(
        &self,
        tenant_id: &str,
        filter: &NumberFilter,
        after: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<PhoneNumber>> {
        let params = vec![(&filter.status).into(), (&filter.assigned_to).into()];
        let client = self.client().await?;
        common::list(
            pg(&client),
            tenant_id,
            Some(entities::NUMBER_FILTER),
            params,
            after,
            limit,
        )
        .await
    }

    async fn update_number(
        &self,
        actor: &Actor,
        id: &str,
        apply: Apply<PhoneNumber>,
        now: OffsetDateTime,
    ) -> Result<Option<PhoneNumber>, AppError> {
        self.write(async |tx| entities::update_number(tx, actor, id, &apply, now).await)
            .await
    }

    async fn delete_number(
        &self,
        actor: &Actor,
        id: &str,
        now: OffsetDateTime,
    ) -> anyhow::Result<bool> {
        Ok(self
            .write(async |tx| Ok(common::delete::<PhoneNumber, _>(tx, actor, id, now).await?))
            .await?)
    }

    async fn create_template(
        &self,
        actor: &Actor,
        template: SmsTemplate,
        now: OffsetDateTime,
    ) -> Result<SmsTemplate, AppError> {
        self.write(async |tx| {
            common::create(tx, actor, &template, now).await?;
            Ok(template)
        })
        .await
    }

    async fn template(&self, tenant_id: &str, id: &str) -> anyhow::Result<Option<SmsTemplate>> {
        common::get(pg(&self.client().await?), tenant_id, id, false).await
    }

    async fn list_templates(
        &self,
        tenant_id: &str,
        after: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<SmsTemplate>> {
        let client = self.client().await?;
        common::list(pg(&client), tenant_id, None, Vec::new(), after, limit).await
    }

    async fn update_template(
        &self,
        actor: &Actor,
        id: &str,
        apply: Apply<SmsTemplate>,
        now: OffsetDateTime,
    ) -> Result<Option<SmsTemplate>, AppError> {
        self.write(async |tx| common::update(tx, actor, id, &apply, now).await)
            .await
    }

    async fn delete_template(
        &self,
        actor: &Actor,
        id: &str,
        now: OffsetDateTime,
    ) -> anyhow::Result<bool> {
        Ok(self
            .write(async |tx| Ok(common::delete::<SmsTemplate, _>(tx, actor, id, now).await?))
            .await?)
    }

    async fn create_contact(
        &self,
        actor: &Actor,
        contact: Contact,
        now: OffsetDateTime,
    ) -> Result<Contact, AppError> {
        self.write(async |tx| {
            common::create(tx, actor, &contact, now).await?;
            Ok(contact)
        })
        .await
    }

    async fn contact(&self, tenant_id: &str, id: &str) -> anyhow::Result<Option<Contact>> {
        common::get(pg(&self.client().await?), tenant_id, id, false).await
    }

    async fn list_contacts(
        &self,
        tenant_id: &str,
        filter: &ContactFilter,
        after: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<Contact>> {
        let condition = entities::contact_filter(Dialect::Postgres);
        let params = entities::contact_filter_params(filter);
        let client = self.client().await?;
        common::list(
            pg(&client),
            tenant_id,
            Some(&condition),
            params,
            after,
            limit,
        )
        .await
    }

    async fn update_contact(
        &self,
        actor: &Actor,
        id: &str,
        apply: Apply<Contact>,
        now: OffsetDateTime,
    ) -> Result<Option<Contact>, AppError> {
        self.write(async |tx| common::update(tx, actor, id, &apply, now).await)
            .await
    }

    async fn delete_contact(
        &self,
        actor: &Actor,
        id: &str,
        now: OffsetDateTime,
    ) -> anyhow::Result<bool> {
        Ok(self
            .write(async |tx| Ok(common::delete::<Contact, _>(tx, actor, id, now).await?))
            .await?)
    }

    async fn route_inbound(&self, e164: &str) -> anyhow::Result<Option<(String, PhoneNumber)>> {
        messaging::route_inbound(pg(&self.client().await?), e164).await
    }

    async fn contact_by_number(
        &self,
        tenant_id: &str,
        e164: &str,
    ) -> anyhow::Result<Option<Contact>> {
        messaging::contact_by_number(pg(&self.client().await?), tenant_id, e164).await
    }

    async fn locate_message(
        &self,
        provider: &str,
        reference: &MessageRef,
    ) -> anyhow::Result<Option<(String, String)>> {
        messaging::locate_message(pg(&self.client().await?), provider, reference).await
    }

    async fn add_inbound_part(
        &self,
        tenant_id: &str,
        part: &InboundPart,
        now: OffsetDateTime,
    ) -> anyhow::Result<Option<Vec<(String, String)>>> {
        Ok(self
            .write(async |tx| Ok(messaging::add_inbound_part(tx, tenant_id, part, now).await?))
            .await?)
    }

    async fn record_consent(&self, tenant_id: &str, event: ConsentEvent) -> anyhow::Result<()> {
        messaging::record_consent(pg(&self.client().await?), tenant_id, &event).await
    }

    async fn consent_events(
        &self,
        tenant_id: &str,
        contact_id: &str,
    ) -> anyhow::Result<Vec<ConsentEvent>> {
        messaging::consent_events(pg(&self.client().await?), tenant_id, contact_id).await
    }

    async fn open_conversation(
        &self,
        actor: &Actor,
        phone_number: &PhoneNumber,
        contact_number: &str,
        now: OffsetDateTime,
    ) -> Result<(Conversation, bool), AppError> {
        self.write(async |tx| {
            entities::open_conversation(tx, actor, phone_number, contact_number, now).await
        })
        .await
    }

    async fn conversation(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> anyhow::Result<Option<Conversation>> {
        common::get(pg(&self.client().await?), tenant_id, id, false).await
    }

    async fn list_conversations(
        &self,
        tenant_id: &str,
        filter: &ConversationFilter,
        before: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<Conversation>> {
        let client = self.client().await?;
        entities::list_conversations(pg(&client), tenant_id, filter, before, limit).await
    }

    async fn update_conversation(
        &self,
        actor: &Actor,
        id: &str,
        apply: Apply<Conversation>,
        now: OffsetDateTime,
    ) -> Result<Option<Conversation>, AppError> {
        self.write(async |tx| common::update(tx, actor, id, &apply, now).await)
            .await
    }

    async fn unread_counts(
        &self,
        tenant_id: &str,
        user_id: &str,
        conversation_ids: &[String],
    ) -> anyhow::Result<std::collections::HashMap<String, i64>> {
        let client = self.client().await?;
        entities::unread_counts(pg(&client), tenant_id, user_id, conversation_ids).await
    }

    async fn mark_read(
        &self,
        actor: &Actor,
        conversation_id: &str,
        read_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> anyhow::Result<bool> {
        Ok(self
            .write(async |tx| {
                Ok(entities::mark_read(tx, actor, conversation_id, read_at, now).await?)
            })
            .await?)
    }

    async fn create_message(
        &self,
        actor: &Actor,
        new: NewMessage,
        now: OffsetDateTime,
    ) -> Result<(SmsMessage, bool), AppError> {
        self.write(async |tx| messaging::create_message(tx, actor, new, now).await)
            .await
    }

    async fn message(&self, tenant_id: &str, id: &str) -> anyhow::Result<Option<SmsMessage>> {
        common::get(pg(&self.client().await?), tenant_id, id, false).await
    }

    async fn messages(
        &self,
        tenant_id: &str,
        conversation_id: &str,
        before: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<SmsMessage>> {
        let client = self.client().await?;
        messaging::messages(pg(&client), tenant_id, conversation_id, before, limit).await
    }

    async fn update_message(
        &self,
        actor: &Actor,
        id: &str,
        apply: Apply<SmsMessage>,
        now: OffsetDateTime,
    ) -> Result<Option<SmsMessage>, AppError> {
        self.write(async |tx| messaging::update_message(tx, actor, id, &apply, now).await)
            .await
    }

    async fn claim_due_messages(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        owner: &str,
        limit: usize,
    ) -> anyhow::Result<Vec<DueMessage>> {
        let client = self.client().await?;
        messaging::claim_due_messages(pg(&client), now, lease_until, owner, limit).await
    }

    async fn begin_send(
        &self,
        tenant_id: &str,
        id: &str,
        owner: &str,
        now: OffsetDateTime,
        recheck_at: OffsetDateTime,
    ) -> anyhow::Result<bool> {
        let client = self.client().await?;
        messaging::begin_send(pg(&client), tenant_id, id, owner, now, recheck_at).await
    }

    async fn carrier_update(
        &self,
        tenant_id: &str,
        id: &str,
        update: CarrierUpdate,
        now: OffsetDateTime,
    ) -> anyhow::Result<Option<SmsMessage>> {
        Ok(self
            .write(async |tx| Ok(messaging::carrier_update(tx, tenant_id, id, update, now).await?))
            .await?)
    }

    async fn create_call(
        &self,
        actor: &Actor,
        call: Call,
        now: OffsetDateTime,
    ) -> Result<(Call, bool), AppError> {
        self.write(async |tx| entities::create_call(tx, actor, call, now).await)
            .await
    }

    async fn call(&self, tenant_id: &str, id: &str) -> anyhow::Result<Option<Call>> {
        common::get(pg(&self.client().await?), tenant_id, id, false).await
    }

    async fn list_calls(
        &self,
        tenant_id: &str,
        filter: &CallFilter,
        before: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<Call>> {
        let client = self.client().await?;
        entities::list_calls(pg(&client), tenant_id, filter, before, limit).await
    }

    async fn update_call(
        &self,
        actor: &Actor,
        id: &str,
        apply: Apply<Call>,
        now: OffsetDateTime,
    ) -> Result<Option<Call>, AppError> {
        self.write(async |tx| common::update(tx, actor, id, &apply, now).await)
            .await
    }

    async fn create_campaign(
        &self,
        actor: &Actor,
        campaign: SmsCampaign,
        now: OffsetDateTime,
    ) -> Result<SmsCampaign, AppError> {
        let campaign = SmsCampaign {
            stats: None,
            ..campaign
        };
        self.write(async |tx| {
            common::create(tx, actor, &campaign, now).await?;
            Ok(campaign)
        })
        .await
    }

    async fn campaign(&self, tenant_id: &str, id: &str) -> anyhow::Result<Option<SmsCampaign>> {
        common::get(pg(&self.client().await?), tenant_id, id, false).await
    }

    async fn list_campaigns(
        &self,
        tenant_id: &str,
        filter: &CampaignFilter,
        after: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<SmsCampaign>> {
        let params = vec![(&filter.status).into()];
        let client = self.client().await?;
        let condition = Some(entities::CAMPAIGN_FILTER);
        common::list(pg(&client), tenant_id, condition, params, after, limit).await
    }

    async fn update_campaign(
        &self,
        actor: &Actor,
        id: &str,
        apply: Apply<SmsCampaign>,
        now: OffsetDateTime,
    ) -> Result<Option<SmsCampaign>, AppError> {
        self.write(async |tx| common::update(tx, actor, id, &apply, now).await)
            .await
    }

    async fn delete_campaign(
        &self,
        actor: &Actor,
        id: &str,
        guard: Guard<SmsCampaign>,
        now: OffsetDateTime,
    ) -> Result<bool, AppError> {
        self.write(async |tx| entities::delete_campaign(tx, actor, id, &guard, now).await)
            .await
    }

    async fn add_recipients(
        &self,
        actor: &Actor,
        campaign_id: &str,
        guard: Guard<SmsCampaign>,
        recipients: Vec<NewRecipient>,
        now: OffsetDateTime,
    ) -> Result<Option<(i64, i64)>, AppError> {
        self.write(async |tx| {
            campaigns::add_recipients(tx, actor, campaign_id, &guard, &recipients, now).await
        })
        .await
    }

    async fn recipients(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        after: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<CampaignRecipient>> {
        let client = self.client().await?;
        campaigns::recipients(pg(&client), tenant_id, campaign_id, after, limit).await
    }

    async fn delete_recipient(
        &self,
        actor: &Actor,
        campaign_id: &str,
        recipient_id: &str,
        guard: Guard<SmsCampaign>,
        now: OffsetDateTime,
    ) -> Result<bool, AppError> {
        self.write(async |tx| {
            campaigns::delete_recipient(tx, actor, campaign_id, recipient_id, &guard, now).await
        })
        .await
    }

    async fn start_due_campaigns(&self, now: OffsetDateTime) -> anyhow::Result<usize> {
        Ok(self
            .write(async |tx| Ok(campaigns::start_due_campaigns(tx, now).await?))
            .await?)
    }

    async fn claim_campaign_recipients(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> anyhow::Result<Vec<DueRecipient>> {
        Ok(self
            .write(async |tx| {
                Ok(campaigns::claim_campaign_recipients(tx, now, lease_until, limit).await?)
            })
            .await?)
    }

    async fn finish_recipient(
        &self,
        tenant_id: &str,
        recipient_id: &str,
        outcome: RecipientOutcome,
        now: OffsetDateTime,
    ) -> anyhow::Result<()> {
        let client = self.client().await?;
        campaigns::finish_recipient(pg(&client), tenant_id, recipient_id, outcome, now).await
    }

    async fn finish_campaigns(&self, now: OffsetDateTime) -> anyhow::Result<usize> {
        Ok(self
            .write(async |tx| Ok(campaigns::finish_campaigns(tx, now).await?))
            .await?)
    }

    async fn latest_change(&self, tenant_id: &str) -> anyhow::Result<i64> {
        accounts::latest_change(pg(&self.client().await?), tenant_id).await
    }

    async fn start_change_notifications(&self, hub: Arc<ChangeHub>) -> anyhow::Result<()> {
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

    async fn changes(
        &self,
        tenant_id: &str,
        since: i64,
        limit: usize,
    ) -> anyhow::Result<Vec<Change>> {
        accounts::changes(pg(&self.client().await?), tenant_id, since, limit).await
    }

    async fn audit_log(
        &self,
        tenant_id: &str,
        before: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<AuditEntry>> {
        accounts::audit_log(pg(&self.client().await?), tenant_id, before, limit).await
    }
}
