//! SQLite storage: one file in WAL mode, one connection behind a mutex, every
//! call on the blocking pool. (A pool of readers comes with the load benchmark.)

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, anyhow};
use async_trait::async_trait;
use rusqlite::Connection;
use time::OffsetDateTime;

use rusqlite::{Transaction, TransactionBehavior};
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

/// Migrations in order; `PRAGMA user_version` counts the applied ones.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_init.sql"),
    include_str!("../../migrations/sqlite/0002_numbers_templates_feed.sql"),
    include_str!("../../migrations/sqlite/0003_contacts.sql"),
    include_str!("../../migrations/sqlite/0004_conversations_messages.sql"),
    include_str!("../../migrations/sqlite/0005_calls.sql"),
    include_str!("../../migrations/sqlite/0006_campaigns.sql"),
    include_str!("../../migrations/sqlite/0007_conversation_read.sql"),
    include_str!("../../migrations/sqlite/0008_token_ids.sql"),
    include_str!("../../migrations/sqlite/0009_consent.sql"),
    include_str!("../../migrations/sqlite/0010_provider_webhooks.sql"),
    include_str!("../../migrations/sqlite/0011_send_intent_number_owner.sql"),
];

#[derive(Debug, Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// SQLite serves one process: its own commits are all the changes there are.
    hub: Arc<std::sync::OnceLock<Arc<ChangeHub>>>,
}

std::thread_local! {
    /// Tenants whose changes the running write transaction recorded; announced after commit.
    static PENDING: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl SqliteStore {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
        }
        let conn = Connection::open(path).with_context(|| path.display().to_string())?;
        Self::init(conn)
    }

    pub fn in_memory() -> anyhow::Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> anyhow::Result<Self> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            hub: Arc::default(),
        })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| anyhow!("sqlite connection poisoned"))?;
            f(&mut guard)
        })
        .await?
    }
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let applied: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let applied = usize::try_from(applied).context("negative schema version")?;
    if applied > MIGRATIONS.len() {
        anyhow::bail!(
            "the database was written by a newer upzento-cloud (schema {applied}, this one knows {})",
            MIGRATIONS.len()
        );
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .with_context(|| format!("migration {}", i + 1))?;
        tx.pragma_update(None, "user_version", i64::try_from(i + 1)?)?;
        tx.commit()?;
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_tenant(&self, name: &str, now: OffsetDateTime) -> anyhow::Result<Tenant> {
        let name = name.to_owned();
        self.with(move |c| now_or_error(accounts::create_tenant(&*c, &name, now)))
            .await
    }

    async fn tenant(&self, id: &str) -> anyhow::Result<Option<Tenant>> {
        let id = id.to_owned();
        self.with(move |c| now_or_error(accounts::tenant(&*c, &id)))
            .await
    }

    async fn create_user(&self, user: NewUser, now: OffsetDateTime) -> anyhow::Result<User> {
        self.with(move |c| now_or_error(accounts::create_user(&*c, user, now)))
            .await
    }

    async fn user_for_sign_in(
        &self,
        email: &str,
    ) -> anyhow::Result<Option<(User, Option<String>)>> {
        let email = email.to_owned();
        self.with(move |c| now_or_error(accounts::user_for_sign_in(&*c, &email)))
            .await
    }

    async fn insert_token(&self, token: NewToken, now: OffsetDateTime) -> anyhow::Result<()> {
        self.with(move |c| now_or_error(accounts::insert_token(&*c, token, now)))
            .await
    }

    async fn token_owner(
        &self,
        hash: &[u8],
        now: OffsetDateTime,
    ) -> anyhow::Result<Option<(User, Tenant)>> {
        let hash = hash.to_vec();
        self.with(move |c| now_or_error(accounts::token_owner(&*c, &hash, now)))
            .await
    }
    async fn audit_event(
        &self,
        actor: &Actor,
        action: &str,
        entity: &str,
        entity_id: &str,
        now: OffsetDateTime,
    ) -> anyhow::Result<()> {
        let (actor, action, entity, entity_id) = (
            actor.clone(),
            action.to_owned(),
            entity.to_owned(),
            entity_id.to_owned(),
        );
        self.with(move |c| {
            now_or_error(accounts::audit_event(
                &*c, &actor, &action, &entity, &entity_id, now,
            ))
        })
        .await
    }

    async fn list_api_tokens(
        &self,
        tenant_id: &str,
        user_id: Option<&str>,
    ) -> anyhow::Result<Vec<upzento_domain::wire::ApiTokenInfo>> {
        let (tenant_id, user_id) = (tenant_id.to_owned(), user_id.map(str::to_owned));
        self.with(move |c| {
            now_or_error(accounts::list_api_tokens(
                &*c,
                &tenant_id,
                user_id.as_deref(),
            ))
        })
        .await
    }

    async fn revoke_api_token(
        &self,
        tenant_id: &str,
        user_id: Option<&str>,
        id: &str,
    ) -> anyhow::Result<bool> {
        let (tenant_id, user_id, id) = (
            tenant_id.to_owned(),
            user_id.map(str::to_owned),
            id.to_owned(),
        );
        self.with(move |c| {
            now_or_error(accounts::revoke_api_token(
                &*c,
                &tenant_id,
                user_id.as_deref(),
                &id,
            ))
        })
        .await
    }

    async fn revoke_token(&self, hash: &[u8]) -> anyhow::Result<bool> {
        let hash = hash.to_vec();
        self.with(move |c| now_or_error(accounts::revoke_token(&*c, &hash)))
            .await
    }

    async fn tenant_users(&self, tenant_id: &str) -> anyhow::Result<Vec<User>> {
        let tenant_id = tenant_id.to_owned();
        self.with(move |c| now_or_error(accounts::tenant_users(&*c, &tenant_id)))
            .await
    }

    async fn user_in_tenant(&self, tenant_id: &str, user_id: &str) -> anyhow::Result<bool> {
        let (tenant_id, user_id) = (tenant_id.to_owned(), user_id.to_owned());
        self.with(move |c| now_or_error(accounts::user_in_tenant(&*c, &tenant_id, &user_id)))
            .await
    }

    async fn create_number(
        &self,
        actor: &Actor,
        number: PhoneNumber,
        now: OffsetDateTime,
    ) -> Result<PhoneNumber, AppError> {
        let actor = actor.clone();
        self.write(move |tx| {
            now_or_error(entities::create_number(&**tx, &actor, &number, now))?;
            Ok(number)
        })
        .await
    }

    async fn number(&self, tenant_id: &str, id: &str) -> anyhow::Result<Option<PhoneNumber>> {
        let (tenant_id, id) = (tenant_id.to_owned(), id.to_owned());
        self.with(move |c| now_or_error(common::get(&*c, &tenant_id, &id, false)))
            .await
    }

    async fn list_numbers(
        &self,
        tenant_id: &str,
        filter: &NumberFilter,
        after: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<PhoneNumber>> {
        let (tenant_id, after) = (tenant_id.to_owned(), after.cloned());
        let params = vec![(&filter.status).into(), (&filter.assigned_to).into()];
        self.with(move |c| {
            now_or_error(common::list(
                &*c,
                &tenant_id,
                Some(entities::NUMBER_FILTER),
                params,
                after.as_ref(),
                limit,
            ))
        })
        .await
    }

    async fn update_number(
        &self,
        actor: &Actor,
        id: &str,
        apply: Apply<PhoneNumber>,
        now: OffsetDateTime,
    ) -> Result<Option<PhoneNumber>, AppError> {
        let (actor, id) = (actor.clone(), id.to_owned());
        self.write(move |tx| now_or_error(entities::update_number(&**tx, &actor, &id, &apply, now)))
            .await
    }

    async fn delete_number(
        &self,
        actor: &Actor,
        id: &str,
        now: OffsetDateTime,
    ) -> anyhow::Result<bool> {
        let (actor, id) = (actor.clone(), id.to_owned());
        Ok(self
            .write(move |tx| {
                Ok(now_or_error(common::delete::<PhoneNumber, _>(
                    &**tx, &actor, &id, now,
                ))?)
            })
            .await?)
    }

    async fn create_template(
        &self,
        actor: &Actor,
        template: SmsTemplate,
        now: OffsetDateTime,
    ) -> Result<SmsTemplate, AppError> {
        let actor = actor.clone();
        self.write(move |tx| {
            now_or_error(common::create(&**tx, &actor, &template, now))?;
            Ok(template)
        })
        .await
    }

    async fn template(&self, tenant_id: &str, id: &str) -> anyhow::Result<Option<SmsTemplate>> {
        let (tenant_id, id) = (tenant_id.to_owned(), id.to_owned());
        self.with(move |c| now_or_error(common::get(&*c, &tenant_id, &id, false)))
            .await
    }

    async fn list_templates(
        &self,
        tenant_id: &str,
        after: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<SmsTemplate>> {
        let (tenant_id, after) = (tenant_id.to_owned(), after.cloned());
        self.with(move |c| {
            now_or_error(common::list(
                &*c,
                &tenant_id,
                None,
                Vec::new(),
                after.as_ref(),
                limit,
            ))
        })
        .await
    }

    async fn update_template(
        &self,
        actor: &Actor,
        id: &str,
        apply: Apply<SmsTemplate>,
        now: OffsetDateTime,
    ) -> Result<Option<SmsTemplate>, AppError> {
        let (actor, id) = (actor.clone(), id.to_owned());
        self.write(move |tx| now_or_error(common::update(&**tx, &actor, &id, &apply, now)))
            .await
    }

    async fn delete_template(
        &self,
        actor: &Actor,
        id: &str,
        now: OffsetDateTime,
    ) -> anyhow::Result<bool> {
        let (actor, id) = (actor.clone(), id.to_owned());
        Ok(self
            .write(move |tx| {
                Ok(now_or_error(common::delete::<SmsTemplate, _>(
                    &**tx, &actor, &id, now,
                ))?)
            })
            .await?)
    }

    async fn create_contact(
        &self,
        actor: &Actor,
        contact: Contact,
        now: OffsetDateTime,
    ) -> Result<Contact, AppError> {
        let actor = actor.clone();
        self.write(move |tx| {
            now_or_error(common::create(&**tx, &actor, &contact, now))?;
            Ok(contact)
        })
        .await
    }

    async fn contact(&self, tenant_id: &str, id: &str) -> anyhow::Result<Option<Contact>> {
        let (tenant_id, id) = (tenant_id.to_owned(), id.to_owned());
        self.with(move |c| now_or_error(common::get(&*c, &tenant_id, &id, false)))
            .await
    }

    async fn list_contacts(
        &self,
        tenant_id: &str,
        filter: &ContactFilter,
        after: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<Contact>> {
        let (tenant_id, after) = (tenant_id.to_owned(), after.cloned());
        let params = entities::contact_filter_params(filter);
        self.with(move |c| {
            let condition = entities::contact_filter(Dialect::Sqlite);
            now_or_error(common::list(
                &*c,
                &tenant_id,
                Some(&condition),
                params,
                after.as_ref(),
                limit,
            ))
        })
        .await
    }

    async fn update_contact(
        &self,
        actor: &Actor,
        id: &str,
        apply: Apply<Contact>,
        now: OffsetDateTime,
    ) -> Result<Option<Contact>, AppError> {
        let (actor, id) = (actor.clone(), id.to_owned());
        self.write(move |tx| now_or_error(common::update(&**tx, &actor, &id, &apply, now)))
            .await
    }

    async fn delete_contact(
        &self,
        actor: &Actor,
        id: &str,
        now: OffsetDateTime,
    ) -> anyhow::Result<bool> {
        let (actor, id) = (actor.clone(), id.to_owned());
        Ok(self
            .write(move |tx| {
                Ok(now_or_error(common::delete::<Contact, _>(
                    &**tx, &actor, &id, now,
                ))?)
            })
            .await?)
    }

    async fn route_inbound(&self, e164: &str) -> anyhow::Result<Option<(String, PhoneNumber)>> {
        let e164 = e164.to_owned();
        self.with(move |c| now_or_error(messaging::route_inbound(&*c, &e164)))
            .await
    }

    async fn contact_by_number(
        &self,
        tenant_id: &str,
        e164: &str,
    ) -> anyhow::Result<Option<Contact>> {
        let (tenant_id, e164) = (tenant_id.to_owned(), e164.to_owned());
        self.with(move |c| now_or_error(messaging::contact_by_number(&*c, &tenant_id, &e164)))
            .await
    }

    async fn locate_message(
        &self,
        provider: &str,
        reference: &MessageRef,
    ) -> anyhow::Result<Option<(String, String)>> {
        let (provider, reference) = (provider.to_owned(), reference.clone());
        self.with(move |c| now_or_error(messaging::locate_message(&*c, &provider, &reference)))
            .await
    }

    async fn add_inbound_part(
        &self,
        tenant_id: &str,
        part: &InboundPart,
        now: OffsetDateTime,
    ) -> anyhow::Result<Option<Vec<(String, String)>>> {
        let (tenant_id, part) = (tenant_id.to_owned(), part.clone());
        Ok(self
            .write(move |tx| {
                Ok(now_or_error(messaging::add_inbound_part(
                    &**tx, &tenant_id, &part, now,
                ))?)
            })
            .await?)
    }

    async fn record_consent(&self, tenant_id: &str, event: ConsentEvent) -> anyhow::Result<()> {
        let tenant_id = tenant_id.to_owned();
        self.with(move |c| now_or_error(messaging::record_consent(&*c, &tenant_id, &event)))
            .await
    }

    async fn consent_events(
        &self,
        tenant_id: &str,
        contact_id: &str,
    ) -> anyhow::Result<Vec<ConsentEvent>> {
        let (tenant_id, contact_id) = (tenant_id.to_owned(), contact_id.to_owned());
        self.with(move |c| now_or_error(messaging::consent_events(&*c, &tenant_id, &contact_id)))
            .await
    }

    async fn open_conversation(
        &self,
        actor: &Actor,
        phone_number: &PhoneNumber,
        contact_number: &str,
        now: OffsetDateTime,
    ) -> Result<(Conversation, bool), AppError> {
        let (actor, phone_number, contact_number) = (
            actor.clone(),
            phone_number.clone(),
            contact_number.to_owned(),
        );
        self.write(move |tx| {
            now_or_error(entities::open_conversation(
                &**tx,
                &actor,
                &phone_number,
                &contact_number,
                now,
            ))
        })
        .await
    }

    async fn conversation(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> anyhow::Result<Option<Conversation>> {
        let (tenant_id, id) = (tenant_id.to_owned(), id.to_owned());
        self.with(move |c| now_or_error(common::get(&*c, &tenant_id, &id, false)))
            .await
    }

    async fn list_conversations(
        &self,
        tenant_id: &str,
        filter: &ConversationFilter,
        before: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<Conversation>> {
        let (tenant_id, filter, before) = (tenant_id.to_owned(), filter.clone(), before.cloned());
        self.with(move |c| {
            now_or_error(entities::list_conversations(
                &*c,
                &tenant_id,
                &filter,
                before.as_ref(),
                limit,
            ))
        })
        .await
    }

    async fn update_conversation(
        &self,
        actor: &Actor,
        id: &str,
        apply: Apply<Conversation>,
        now: OffsetDateTime,
    ) -> Result<Option<Conversation>, AppError> {
        let (actor, id) = (actor.clone(), id.to_owned());
        self.write(move |tx| now_or_error(common::update(&**tx, &actor, &id, &apply, now)))
            .await
    }

    async fn unread_counts(
        &self,
        tenant_id: &str,
        user_id: &str,
        conversation_ids: &[String],
    ) -> anyhow::Result<std::collections::HashMap<String, i64>> {
        let (tenant_id, user_id, ids) = (
            tenant_id.to_owned(),
            user_id.to_owned(),
            conversation_ids.to_vec(),
        );
        self.with(move |c| now_or_error(entities::unread_counts(&*c, &tenant_id, &user_id, &ids)))
            .await
    }

    async fn mark_read(
        &self,
        actor: &Actor,
        conversation_id: &str,
        read_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> anyhow::Result<bool> {
        let (actor, id) = (actor.clone(), conversation_id.to_owned());
        Ok(self
            .write(move |tx| {
                Ok(now_or_error(entities::mark_read(
                    &**tx, &actor, &id, read_at, now,
                ))?)
            })
            .await?)
    }

    async fn create_message(
        &self,
        actor: &Actor,
        new: NewMessage,
        now: OffsetDateTime,
    ) -> Result<(SmsMessage, bool), AppError> {
        let actor = actor.clone();
        self.write(move |tx| now_or_error(messaging::create_message(&**tx, &actor, new, now)))
            .await
    }

    async fn message(&self, tenant_id: &str, id: &str) -> anyhow::Result<Option<SmsMessage>> {
        let (tenant_id, id) = (tenant_id.to_owned(), id.to_owned());
        self.with(move |c| now_or_error(common::get(&*c, &tenant_id, &id, false)))
            .await
    }

    async fn messages(
        &self,
        tenant_id: &str,
        conversation_id: &str,
        before: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<SmsMessage>> {
        let (tenant_id, id, before) = (
            tenant_id.to_owned(),
            conversation_id.to_owned(),
            before.cloned(),
        );
        self.with(move |c| {
            now_or_error(messaging::messages(
                &*c,
                &tenant_id,
                &id,
                before.as_ref(),
                limit,
            ))
        })
        .await
    }

    async fn update_message(
        &self,
        actor: &Actor,
        id: &str,
        apply: Apply<SmsMessage>,
        now: OffsetDateTime,
    ) -> Result<Option<SmsMessage>, AppError> {
        let (actor, id) = (actor.clone(), id.to_owned());
        self.write(move |tx| {
            now_or_error(messaging::update_message(&**tx, &actor, &id, &apply, now))
        })
        .await
    }

    async fn claim_due_messages(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        owner: &str,
        limit: usize,
    ) -> anyhow::Result<Vec<DueMessage>> {
        let owner = owner.to_owned();
        Ok(self
            .write(move |tx| {
                Ok(now_or_error(messaging::claim_due_messages(
                    &**tx,
                    now,
                    lease_until,
                    &owner,
                    limit,
                ))?)
            })
            .await?)
    }

    async fn begin_send(
        &self,
        tenant_id: &str,
        id: &str,
        owner: &str,
        now: OffsetDateTime,
        recheck_at: OffsetDateTime,
    ) -> anyhow::Result<bool> {
        let (tenant_id, id, owner) = (tenant_id.to_owned(), id.to_owned(), owner.to_owned());
        self.with(move |c| {
            now_or_error(messaging::begin_send(
                &*c, &tenant_id, &id, &owner, now, recheck_at,
            ))
        })
        .await
    }

    async fn carrier_update(
        &self,
        tenant_id: &str,
        id: &str,
        update: CarrierUpdate,
        now: OffsetDateTime,
    ) -> anyhow::Result<Option<SmsMessage>> {
        let (tenant_id, id) = (tenant_id.to_owned(), id.to_owned());
        Ok(self
            .write(move |tx| {
                Ok(now_or_error(messaging::carrier_update(
                    &**tx, &tenant_id, &id, update, now,
                ))?)
            })
            .await?)
    }

    async fn create_call(
        &self,
        actor: &Actor,
        call: Call,
        now: OffsetDateTime,
    ) -> Result<(Call, bool), AppError> {
        let actor = actor.clone();
        self.write(move |tx| now_or_error(entities::create_call(&**tx, &actor, call, now)))
            .await
    }

    async fn call(&self, tenant_id: &str, id: &str) -> anyhow::Result<Option<Call>> {
        let (tenant_id, id) = (tenant_id.to_owned(), id.to_owned());
        self.with(move |c| now_or_error(common::get(&*c, &tenant_id, &id, false)))
            .await
    }

    async fn list_calls(
        &self,
        tenant_id: &str,
        filter: &CallFilter,
        before: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<Call>> {
        let (tenant_id, filter, before) = (tenant_id.to_owned(), filter.clone(), before.cloned());
        self.with(move |c| {
            now_or_error(entities::list_calls(
                &*c,
                &tenant_id,
                &filter,
                before.as_ref(),
                limit,
            ))
        })
        .await
    }

    async fn update_call(
        &self,
        actor: &Actor,
        id: &str,
        apply: Apply<Call>,
        now: OffsetDateTime,
    ) -> Result<Option<Call>, AppError> {
        let (actor, id) = (actor.clone(), id.to_owned());
        self.write(move |tx| now_or_error(common::update(&**tx, &actor, &id, &apply, now)))
            .await
    }

    async fn create_campaign(
        &self,
        actor: &Actor,
        campaign: SmsCampaign,
        now: OffsetDateTime,
    ) -> Result<SmsCampaign, AppError> {
        let actor = actor.clone();
        let campaign = SmsCampaign {
            stats: None,
            ..campaign
        };
        self.write(move |tx| {
            now_or_error(common::create(&**tx, &actor, &campaign, now))?;
            Ok(campaign)
        })
        .await
    }

    async fn campaign(&self, tenant_id: &str, id: &str) -> anyhow::Result<Option<SmsCampaign>> {
        let (tenant_id, id) = (tenant_id.to_owned(), id.to_owned());
        self.with(move |c| now_or_error(common::get(&*c, &tenant_id, &id, false)))
            .await
    }

    async fn list_campaigns(
        &self,
        tenant_id: &str,
        filter: &CampaignFilter,
        after: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<SmsCampaign>> {
        let (tenant_id, after) = (tenant_id.to_owned(), after.cloned());
        let params = vec![(&filter.status).into()];
        self.with(move |c| {
            now_or_error(common::list(
                &*c,
                &tenant_id,
                Some(entities::CAMPAIGN_FILTER),
                params,
                after.as_ref(),
                limit,
            ))
        })
        .await
    }

    async fn update_campaign(
        &self,
        actor: &Actor,
        id: &str,
        apply: Apply<SmsCampaign>,
        now: OffsetDateTime,
    ) -> Result<Option<SmsCampaign>, AppError> {
        let (actor, id) = (actor.clone(), id.to_owned());
        self.write(move |tx| now_or_error(common::update(&**tx, &actor, &id, &apply, now)))
            .await
    }

    async fn delete_campaign(
        &self,
        actor: &Actor,
        id: &str,
        guard: Guard<SmsCampaign>,
        now: OffsetDateTime,
    ) -> Result<bool, AppError> {
        let (actor, id) = (actor.clone(), id.to_owned());
        self.write(move |tx| {
            now_or_error(entities::delete_campaign(&**tx, &actor, &id, &guard, now))
        })
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
        let (actor, campaign_id) = (actor.clone(), campaign_id.to_owned());
        self.write(move |tx| {
            now_or_error(campaigns::add_recipients(
                &**tx,
                &actor,
                &campaign_id,
                &guard,
                &recipients,
                now,
            ))
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
        let (tenant_id, campaign_id, after) =
            (tenant_id.to_owned(), campaign_id.to_owned(), after.cloned());
        self.with(move |c| {
            now_or_error(campaigns::recipients(
                &*c,
                &tenant_id,
                &campaign_id,
                after.as_ref(),
                limit,
            ))
        })
        .await
    }

    async fn delete_recipient(
        &self,
        actor: &Actor,
        campaign_id: &str,
        recipient_id: &str,
        guard: Guard<SmsCampaign>,
        now: OffsetDateTime,
    ) -> Result<bool, AppError> {
        let (actor, campaign_id, recipient_id) = (
            actor.clone(),
            campaign_id.to_owned(),
            recipient_id.to_owned(),
        );
        self.write(move |tx| {
            now_or_error(campaigns::delete_recipient(
                &**tx,
                &actor,
                &campaign_id,
                &recipient_id,
                &guard,
                now,
            ))
        })
        .await
    }

    async fn start_due_campaigns(&self, now: OffsetDateTime) -> anyhow::Result<usize> {
        Ok(self
            .write(move |tx| Ok(now_or_error(campaigns::start_due_campaigns(&**tx, now))?))
            .await?)
    }

    async fn claim_campaign_recipients(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> anyhow::Result<Vec<DueRecipient>> {
        Ok(self
            .write(move |tx| {
                Ok(now_or_error(campaigns::claim_campaign_recipients(
                    &**tx,
                    now,
                    lease_until,
                    limit,
                ))?)
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
        let (tenant_id, recipient_id) = (tenant_id.to_owned(), recipient_id.to_owned());
        self.with(move |c| {
            now_or_error(campaigns::finish_recipient(
                &*c,
                &tenant_id,
                &recipient_id,
                outcome,
                now,
            ))
        })
        .await
    }

    async fn finish_campaigns(&self, now: OffsetDateTime) -> anyhow::Result<usize> {
        Ok(self
            .write(move |tx| Ok(now_or_error(campaigns::finish_campaigns(&**tx, now))?))
            .await?)
    }

    async fn latest_change(&self, tenant_id: &str) -> anyhow::Result<i64> {
        let tenant_id = tenant_id.to_owned();
        self.with(move |c| now_or_error(accounts::latest_change(&*c, &tenant_id)))
            .await
    }

    async fn start_change_notifications(&self, hub: Arc<ChangeHub>) -> anyhow::Result<()> {
        self.hub
            .set(hub)
            .map_err(|_| anyhow!("change notifications already started"))
    }

    async fn changes(
        &self,
        tenant_id: &str,
        since: i64,
        limit: usize,
    ) -> anyhow::Result<Vec<Change>> {
        let tenant_id = tenant_id.to_owned();
        self.with(move |c| now_or_error(accounts::changes(&*c, &tenant_id, since, limit)))
            .await
    }

    async fn audit_log(
        &self,
        tenant_id: &str,
        before: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<AuditEntry>> {
        let (tenant_id, before) = (tenant_id.to_owned(), before.cloned());
        self.with(move |c| {
            now_or_error(accounts::audit_log(&*c, &tenant_id, before.as_ref(), limit))
        })
        .await
    }
}

/// A tenant the running write transaction changed: its streams are woken after commit.
pub(super) fn changed(tenant_id: &str) {
    PENDING.with_borrow_mut(|pending| {
        if !pending.iter().any(|t| t == tenant_id) {
            pending.push(tenant_id.to_owned());
        }
    });
}

/// The outcome of a statement function written once over [`Db`](super::sql::Db): on
/// SQLite every statement runs at once, so its future is ready when first polled.
fn now_or_error<T, E: From<anyhow::Error>>(
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    use futures_util::FutureExt;
    f.now_or_never()
        .unwrap_or_else(|| Err(anyhow!("a SQLite statement did not complete at once").into()))
}

impl SqliteStore {
    /// Runs `f` in an IMMEDIATE transaction (the write lock up front: no upgrade deadlocks).
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let conn = Arc::clone(&self.conn);
        let hub = self.hub.get().cloned();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| anyhow!("sqlite connection poisoned"))?;
            PENDING.with_borrow_mut(Vec::clear);
            let tx = guard
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(anyhow::Error::from)?;
            let out = f(&tx)?;
            tx.commit().map_err(anyhow::Error::from)?;
            let tenants = PENDING.with_borrow_mut(std::mem::take);
            if let Some(hub) = hub {
                for tenant in tenants {
                    hub.notify(&tenant);
                }
            }
            Ok(out)
        })
        .await
        .map_err(anyhow::Error::from)?
    }
}
