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
use tokio_postgres::config::SslMode;
use tokio_postgres::{NoTls, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

use serde_json::Value;
use tokio_postgres::Transaction;
use upzento_domain::resources::{
    AuditEntry, Call, CampaignRecipient, CampaignStatus, Change, ConsentEvent, Contact,
    Conversation, PhoneNumber, SmsCampaign, SmsMessage, SmsTemplate,
};

use super::sql::Dialect;
use super::{
    Actor, After, Apply, CallFilter, CampaignFilter, CarrierUpdate, ContactFilter,
    ConversationFilter, DueMessage, DueRecipient, Guard, NewMessage, NewRecipient, NewToken,
    NewUser, NumberFilter, RecipientOutcome, SYSTEM_ACTOR, Store, Tenant, User, entity,
};
use super::{accounts, common, entities, messaging};
use crate::carrier::{InboundPart, MessageRef};
use crate::clock;
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

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
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
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(anyhow::Error::from)?;
        let Some(campaign) = campaign_in(&*tx, &actor.tenant_id, campaign_id, true).await? else {
            return Ok(None);
        };
        guard(&campaign)?;
        let ids: Vec<String> = recipients.iter().map(|_| new_id()).collect();
        let contacts: Vec<Option<String>> =
            recipients.iter().map(|r| r.contact_id.clone()).collect();
        let numbers: Vec<String> = recipients.iter().map(|r| r.number.clone()).collect();
        // One statement for the whole list; ON CONFLICT keeps each number once.
        let added = tx
            .execute(
                "INSERT INTO campaign_recipient
                     (id, tenant_id, campaign_id, contact_id, number, status, created_at, updated_at)
                 SELECT id, $4, $5, contact_id, number, 'pending', $6, $6
                 FROM unnest($1::text[], $2::text[], $3::text[]) AS t(id, contact_id, number)
                 ON CONFLICT (campaign_id, number) DO NOTHING",
                &[&ids, &contacts, &numbers, &actor.tenant_id, &campaign_id, &now],
            )
            .await
            .map_err(anyhow::Error::from)?;
        let total: i64 = tx
            .query_one(
                "SELECT COUNT(*) FROM campaign_recipient WHERE campaign_id = $1",
                &[&campaign_id],
            )
            .await
            .map_err(anyhow::Error::from)?
            .get(0);
        let added = i64::try_from(added).unwrap_or(i64::MAX);
        audit_row(
            &tx,
            actor,
            "add_recipients",
            campaign_id,
            serde_json::json!({ "added": added, "total": total }),
            now,
        )
        .await?;
        tx.commit().await.map_err(anyhow::Error::from)?;
        Ok(Some((added, total)))
    }

    async fn recipients(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        after: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<CampaignRecipient>> {
        let (after_at, after_id) = after.map_or(
            (
                OffsetDateTime::UNIX_EPOCH - time::Duration::days(1),
                String::new(),
            ),
            |a| (clock::from_ms(a.created_at_ms), a.id.clone()),
        );
        let limit = i64::try_from(limit)?;
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT {RECIPIENT_COLUMNS} FROM {RECIPIENT_FROM}
                     WHERE r.tenant_id = $1 AND r.campaign_id = $2
                       AND (r.created_at, r.id) > ($3, $4)
                     ORDER BY r.created_at, r.id LIMIT $5"
                ),
                &[&tenant_id, &campaign_id, &after_at, &after_id, &limit],
            )
            .await?;
        rows.iter().map(recipient_from_row).collect()
    }

    async fn delete_recipient(
        &self,
        actor: &Actor,
        campaign_id: &str,
        recipient_id: &str,
        guard: Guard<SmsCampaign>,
        now: OffsetDateTime,
    ) -> Result<bool, AppError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(anyhow::Error::from)?;
        let Some(campaign) = campaign_in(&*tx, &actor.tenant_id, campaign_id, true).await? else {
            return Ok(false);
        };
        let Some(row) = tx
            .query_opt(
                "SELECT status FROM campaign_recipient WHERE campaign_id = $1 AND id = $2 FOR UPDATE",
                &[&campaign_id, &recipient_id],
            )
            .await
            .map_err(anyhow::Error::from)?
        else {
            return Ok(false);
        };
        guard(&campaign)?;
        if row.get::<_, String>(0) != "pending" {
            return Err(super::recipient_done());
        }
        tx.execute(
            "DELETE FROM campaign_recipient WHERE id = $1",
            &[&recipient_id],
        )
        .await
        .map_err(anyhow::Error::from)?;
        audit_row(
            &tx,
            actor,
            "remove_recipient",
            campaign_id,
            serde_json::json!({ "recipientId": recipient_id }),
            now,
        )
        .await?;
        tx.commit().await.map_err(anyhow::Error::from)?;
        Ok(true)
    }

    async fn start_due_campaigns(&self, now: OffsetDateTime) -> anyhow::Result<usize> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let rows = tx
            .query(
                "SELECT tenant_id, data FROM sms_campaign
                 WHERE status = 'scheduled' AND scheduled_for <= $1
                 FOR UPDATE SKIP LOCKED",
                &[&now],
            )
            .await?;
        let started = system_update(&tx, &rows, "start", now, |c| {
            c.status = CampaignStatus::Active;
            c.started_at = Some(clock::rfc3339(now));
        })
        .await?;
        tx.commit().await?;
        Ok(started)
    }

    async fn claim_campaign_recipients(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> anyhow::Result<Vec<DueRecipient>> {
        let limit = i64::try_from(limit)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // SKIP LOCKED: runners on several nodes each take different recipients.
        let claimed = tx
            .query(
                "WITH due AS (
                     SELECT r.id FROM sms_campaign c
                     JOIN campaign_recipient r ON r.campaign_id = c.id
                     WHERE c.status = 'active' AND r.status = 'pending'
                       AND (r.lease_until IS NULL OR r.lease_until <= $2)
                     ORDER BY r.created_at, r.id LIMIT $3
                     FOR UPDATE OF r SKIP LOCKED)
                 UPDATE campaign_recipient r SET lease_until = $1 FROM due
                 WHERE r.id = due.id
                 RETURNING r.tenant_id, r.campaign_id, r.id",
                &[&lease_until, &now, &limit],
            )
            .await?;
        let mut campaigns = std::collections::HashMap::new();
        let mut due = Vec::with_capacity(claimed.len());
        for row in &claimed {
            let tenant_id: String = row.try_get(0)?;
            let campaign_id: String = row.try_get(1)?;
            let id: String = row.try_get(2)?;
            let campaign = match campaigns.get(&campaign_id) {
                Some(campaign) => SmsCampaign::clone(campaign),
                None => {
                    let campaign = campaign_in(&*tx, &tenant_id, &campaign_id, false)
                        .await?
                        .context("claimed a recipient of a missing campaign")?;
                    campaigns.insert(campaign_id.clone(), campaign.clone());
                    campaign
                }
            };
            let recipient = recipient_from_row(
                &tx.query_one(
                    &format!("SELECT {RECIPIENT_COLUMNS} FROM {RECIPIENT_FROM} WHERE r.id = $1"),
                    &[&id],
                )
                .await?,
            )?;
            due.push(DueRecipient {
                tenant_id,
                campaign,
                recipient,
            });
        }
        tx.commit().await?;
        Ok(due)
    }

    async fn finish_recipient(
        &self,
        tenant_id: &str,
        recipient_id: &str,
        outcome: RecipientOutcome,
        now: OffsetDateTime,
    ) -> anyhow::Result<()> {
        let (status, message_id, code, message) = match outcome {
            RecipientOutcome::Queued { message_id } => ("queued", Some(message_id), None, None),
            RecipientOutcome::Skipped { code, message } => {
                ("skipped", None, Some(code), Some(message))
            }
        };
        self.client()
            .await?
            .execute(
                "UPDATE campaign_recipient
                 SET status = $1, message_id = $2, error_code = $3, error_message = $4,
                     lease_until = NULL, updated_at = $5
                 WHERE tenant_id = $6 AND id = $7 AND status = 'pending'",
                &[
                    &status,
                    &message_id,
                    &code,
                    &message,
                    &now,
                    &tenant_id,
                    &recipient_id,
                ],
            )
            .await?;
        Ok(())
    }

    async fn finish_campaigns(&self, now: OffsetDateTime) -> anyhow::Result<usize> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "UPDATE campaign_recipient
             SET status = 'skipped', error_code = $1, error_message = $2,
                 lease_until = NULL, updated_at = $3
             WHERE status = 'pending' AND campaign_id IN
                 (SELECT id FROM sms_campaign WHERE status = 'completed')",
            &[&super::STOPPED.0, &super::STOPPED.1, &now],
        )
        .await?;
        let rows = tx
            .query(
                "SELECT tenant_id, data FROM sms_campaign c
                 WHERE status = 'active' AND NOT EXISTS (
                     SELECT 1 FROM campaign_recipient r
                     WHERE r.campaign_id = c.id AND r.status = 'pending')
                 FOR UPDATE SKIP LOCKED",
                &[],
            )
            .await?;
        let completed = system_update(&tx, &rows, "complete", now, |c| {
            c.status = CampaignStatus::Completed;
            c.completed_at = Some(clock::rfc3339(now));
        })
        .await?;
        tx.commit().await?;
        Ok(completed)
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

fn to_json<T: serde::Serialize>(value: &T) -> anyhow::Result<Value> {
    Ok(serde_json::to_value(value)?)
}

/// Appends the change-feed entry and the audit row of one write, in its transaction.
/// Bumping `tenant.change_seq` locks the tenant row until commit, which orders the
/// feed across every node writing for this tenant.
// The arguments are the audit row's columns; a struct for them would only rename them.
#[allow(clippy::too_many_arguments)]
async fn record(
    tx: &Transaction<'_>,
    actor: &Actor,
    entity: &str,
    entity_id: &str,
    action: &str,
    before: Option<Value>,
    after: Option<Value>,
    now: OffsetDateTime,
) -> anyhow::Result<()> {
    common::record(tx, actor, entity, entity_id, action, before, after, now).await
}

/// Changes that the campaign runner makes (start, complete) to the campaigns in
/// `rows` (`tenant_id`, `data`), each with its feed entry.
async fn system_update(
    tx: &Transaction<'_>,
    rows: &[Row],
    action: &str,
    now: OffsetDateTime,
    change: impl Fn(&mut SmsCampaign),
) -> anyhow::Result<usize> {
    for row in rows {
        let tenant_id: String = row.try_get("tenant_id")?;
        let before = campaign_from_row(row)?;
        let mut after = before.clone();
        change(&mut after);
        after.updated_at = clock::rfc3339(now);
        let after = write_campaign(tx, &tenant_id, after, false).await?;
        record(
            tx,
            &system(&tenant_id),
            entity::SMS_CAMPAIGN,
            &after.id,
            action,
            Some(to_json(&before)?),
            Some(to_json(&after)?),
            now,
        )
        .await?;
    }
    Ok(rows.len())
}

fn system(tenant_id: &str) -> Actor {
    Actor {
        tenant_id: tenant_id.to_owned(),
        user_id: SYSTEM_ACTOR.to_owned(),
    }
}

/// An audit row without a change-feed entry (records kept out of the feed).
async fn audit_row(
    tx: &Transaction<'_>,
    actor: &Actor,
    action: &str,
    campaign_id: &str,
    detail: Value,
    now: OffsetDateTime,
) -> anyhow::Result<()> {
    tx.execute(
        "INSERT INTO audit_log (id, tenant_id, actor_id, action, entity, entity_id, after, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &new_id(),
            &actor.tenant_id,
            &actor.user_id,
            &action,
            &entity::CAMPAIGN_RECIPIENT,
            &campaign_id,
            &detail,
            &now,
        ],
    )
    .await?;
    Ok(())
}

fn campaign_from_row(r: &Row) -> anyhow::Result<SmsCampaign> {
    let data: Value = r.try_get("data")?;
    Ok(serde_json::from_value(data)?)
}

async fn campaign_in<C: tokio_postgres::GenericClient + Sync>(
    client: &C,
    tenant_id: &str,
    id: &str,
    for_update: bool,
) -> anyhow::Result<Option<SmsCampaign>> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    client
        .query_opt(
            &format!("SELECT data FROM sms_campaign WHERE tenant_id = $1 AND id = $2{lock}"),
            &[&tenant_id, &id],
        )
        .await?
        .as_ref()
        .map(campaign_from_row)
        .transpose()
}

/// Stores the campaign without its stats; returns what was stored.
async fn write_campaign(
    tx: &Transaction<'_>,
    tenant_id: &str,
    campaign: SmsCampaign,
    insert: bool,
) -> anyhow::Result<SmsCampaign> {
    let campaign = SmsCampaign {
        stats: None,
        ..campaign
    };
    let scheduled = campaign
        .scheduled_for
        .as_deref()
        .map(clock::parse_rfc3339)
        .transpose()?;
    let data = to_json(&campaign)?;
    if insert {
        tx.execute(
            "INSERT INTO sms_campaign (id, tenant_id, status, scheduled_for, created_at, data)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &campaign.id,
                &tenant_id,
                &campaign.status.as_str(),
                &scheduled,
                &clock::parse_rfc3339(&campaign.created_at)?,
                &data,
            ],
        )
        .await?;
    } else {
        tx.execute(
            "UPDATE sms_campaign SET status = $3, scheduled_for = $4, data = $5
             WHERE id = $1 AND tenant_id = $2",
            &[
                &campaign.id,
                &tenant_id,
                &campaign.status.as_str(),
                &scheduled,
                &data,
            ],
        )
        .await?;
    }
    Ok(campaign)
}

/// Columns of a recipient joined with its message, whose state is the recipient's once queued.
const RECIPIENT_COLUMNS: &str = "r.id, r.campaign_id, r.contact_id, r.number, r.status, \
     r.message_id, r.error_code, r.error_message, r.created_at, \
     GREATEST(r.updated_at, m.updated_at) AS updated_at, m.status AS message_status, \
     m.error_code AS message_error_code, m.error_message AS message_error_message";
const RECIPIENT_FROM: &str = "campaign_recipient r LEFT JOIN sms_message m ON m.id = r.message_id";

fn recipient_from_row(r: &Row) -> anyhow::Result<CampaignRecipient> {
    let own: String = r.try_get("status")?;
    let message_status: Option<String> = r.try_get("message_status")?;
    let status = super::recipient_status(&own, message_status.as_deref())
        .with_context(|| format!("recipient status {own}"))?;
    let (error_code, error_message) = if message_status.is_some() {
        (
            r.try_get("message_error_code")?,
            r.try_get("message_error_message")?,
        )
    } else {
        (r.try_get("error_code")?, r.try_get("error_message")?)
    };
    let created: OffsetDateTime = r.try_get("created_at")?;
    let updated: OffsetDateTime = r.try_get("updated_at")?;
    Ok(CampaignRecipient {
        id: r.try_get("id")?,
        campaign_id: r.try_get("campaign_id")?,
        contact_id: r.try_get("contact_id")?,
        number: r.try_get("number")?,
        status,
        message_id: r.try_get("message_id")?,
        error_code,
        error_message,
        created_at: clock::rfc3339(created),
        updated_at: clock::rfc3339(updated),
    })
}
