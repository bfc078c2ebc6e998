//! The [`Store`], written once: each method runs its operation (written once over
//! [`Db`](super::sql::Db) in [`super::accounts`], [`super::common`], [`super::entities`],
//! [`super::messaging`] and [`super::campaigns`]) on the backend's connection (`run`) or
//! in a transaction (`write`). The two backends differ only in how they run, in their
//! migrations and in how commits wake the change streams of other nodes.

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;
use upzento_domain::resources::{
    AuditEntry, Call, CampaignRecipient, Change, ConsentEvent, Contact, Conversation, PhoneNumber,
    SmsCampaign, SmsMessage, SmsTemplate,
};

use super::sql::Db;
use super::{
    Actor, After, Apply, CallFilter, CampaignFilter, CarrierUpdate, ContactFilter,
    ConversationFilter, DueMessage, DueRecipient, Guard, NewMessage, NewRecipient, NewToken,
    NewUser, NumberFilter, RecipientOutcome, Store, Tenant, User,
};
use super::{accounts, campaigns, common, entities, messaging};
use crate::carrier::{InboundPart, MessageRef};
use crate::error::AppError;
use crate::events::ChangeHub;

/// The `Store` of a backend that has `run`, `write` and `notify_changes`.
macro_rules! store_impl {
    ($store:ty) => {
        #[async_trait]
        impl Store for $store {
            async fn create_tenant(
                &self,
                name: &str,
                now: OffsetDateTime,
            ) -> anyhow::Result<Tenant> {
                self.run(async |db| accounts::create_tenant(db, name, now).await)
                    .await
            }

            async fn tenant(&self, id: &str) -> anyhow::Result<Option<Tenant>> {
                self.run(async |db| accounts::tenant(db, id).await).await
            }

            async fn create_user(
                &self,
                user: NewUser,
                now: OffsetDateTime,
            ) -> anyhow::Result<User> {
                self.run(async |db| accounts::create_user(db, user, now).await)
                    .await
            }

            async fn user_for_sign_in(
                &self,
                email: &str,
            ) -> anyhow::Result<Option<(User, Option<String>)>> {
                self.run(async |db| accounts::user_for_sign_in(db, email).await)
                    .await
            }

            async fn insert_token(
                &self,
                token: NewToken,
                now: OffsetDateTime,
            ) -> anyhow::Result<()> {
                self.run(async |db| accounts::insert_token(db, token, now).await)
                    .await
            }

            async fn token_owner(
                &self,
                hash: &[u8],
                now: OffsetDateTime,
            ) -> anyhow::Result<Option<(User, Tenant)>> {
                self.run(async |db| accounts::token_owner(db, hash, now).await)
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
                self.run(async |db| {
                    accounts::audit_event(db, actor, action, entity, entity_id, now).await
                })
                .await
            }

            async fn list_api_tokens(
                &self,
                tenant_id: &str,
                user_id: Option<&str>,
            ) -> anyhow::Result<Vec<upzento_domain::wire::ApiTokenInfo>> {
                self.run(async |db| accounts::list_api_tokens(db, tenant_id, user_id).await)
                    .await
            }

            async fn revoke_api_token(
                &self,
                tenant_id: &str,
                user_id: Option<&str>,
                id: &str,
            ) -> anyhow::Result<bool> {
                self.run(async |db| accounts::revoke_api_token(db, tenant_id, user_id, id).await)
                    .await
            }

            async fn revoke_token(&self, hash: &[u8]) -> anyhow::Result<bool> {
                self.run(async |db| accounts::revoke_token(db, hash).await)
                    .await
            }

            async fn tenant_users(&self, tenant_id: &str) -> anyhow::Result<Vec<User>> {
                self.run(async |db| accounts::tenant_users(db, tenant_id).await)
                    .await
            }

            async fn user_in_tenant(&self, tenant_id: &str, user_id: &str) -> anyhow::Result<bool> {
                self.run(async |db| accounts::user_in_tenant(db, tenant_id, user_id).await)
                    .await
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

            async fn number(
                &self,
                tenant_id: &str,
                id: &str,
            ) -> anyhow::Result<Option<PhoneNumber>> {
                self.run(async |db| common::get(db, tenant_id, id, false).await)
                    .await
            }

            async fn list_numbers(
                &self,
                tenant_id: &str,
                filter: &NumberFilter,
                after: Option<&After>,
                limit: usize,
            ) -> anyhow::Result<Vec<PhoneNumber>> {
                self.run(async |db| {
                    let params = vec![(&filter.status).into(), (&filter.assigned_to).into()];
                    common::list(
                        db,
                        tenant_id,
                        Some(entities::NUMBER_FILTER),
                        params,
                        after,
                        limit,
                    )
                    .await
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
                    .write(async |tx| {
                        Ok(common::delete::<PhoneNumber, _>(tx, actor, id, now).await?)
                    })
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

            async fn template(
                &self,
                tenant_id: &str,
                id: &str,
            ) -> anyhow::Result<Option<SmsTemplate>> {
                self.run(async |db| common::get(db, tenant_id, id, false).await)
                    .await
            }

            async fn list_templates(
                &self,
                tenant_id: &str,
                after: Option<&After>,
                limit: usize,
            ) -> anyhow::Result<Vec<SmsTemplate>> {
                self.run(async |db| {
                    common::list(db, tenant_id, None, Vec::new(), after, limit).await
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
                    .write(async |tx| {
                        Ok(common::delete::<SmsTemplate, _>(tx, actor, id, now).await?)
                    })
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
                self.run(async |db| common::get(db, tenant_id, id, false).await)
                    .await
            }

            async fn list_contacts(
                &self,
                tenant_id: &str,
                filter: &ContactFilter,
                after: Option<&After>,
                limit: usize,
            ) -> anyhow::Result<Vec<Contact>> {
                self.run(async |db| {
                    let condition = entities::contact_filter(db.dialect());
                    let params = entities::contact_filter_params(filter);
                    common::list(db, tenant_id, Some(&condition), params, after, limit).await
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

            async fn route_inbound(
                &self,
                e164: &str,
            ) -> anyhow::Result<Option<(String, PhoneNumber)>> {
                self.run(async |db| messaging::route_inbound(db, e164).await)
                    .await
            }

            async fn contact_by_number(
                &self,
                tenant_id: &str,
                e164: &str,
            ) -> anyhow::Result<Option<Contact>> {
                self.run(async |db| messaging::contact_by_number(db, tenant_id, e164).await)
                    .await
            }

            async fn locate_message(
                &self,
                provider: &str,
                reference: &MessageRef,
            ) -> anyhow::Result<Option<(String, String)>> {
                self.run(async |db| messaging::locate_message(db, provider, reference).await)
                    .await
            }

            async fn add_inbound_part(
                &self,
                tenant_id: &str,
                part: &InboundPart,
                now: OffsetDateTime,
            ) -> anyhow::Result<Option<Vec<(String, String)>>> {
                Ok(self
                    .write(async |tx| {
                        Ok(messaging::add_inbound_part(tx, tenant_id, part, now).await?)
                    })
                    .await?)
            }

            async fn record_consent(
                &self,
                tenant_id: &str,
                event: ConsentEvent,
            ) -> anyhow::Result<()> {
                self.run(async |db| messaging::record_consent(db, tenant_id, &event).await)
                    .await
            }

            async fn consent_events(
                &self,
                tenant_id: &str,
                contact_id: &str,
            ) -> anyhow::Result<Vec<ConsentEvent>> {
                self.run(async |db| messaging::consent_events(db, tenant_id, contact_id).await)
                    .await
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
                self.run(async |db| common::get(db, tenant_id, id, false).await)
                    .await
            }

            async fn list_conversations(
                &self,
                tenant_id: &str,
                filter: &ConversationFilter,
                before: Option<&After>,
                limit: usize,
            ) -> anyhow::Result<Vec<Conversation>> {
                self.run(async |db| {
                    entities::list_conversations(db, tenant_id, filter, before, limit).await
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
                self.write(async |tx| common::update(tx, actor, id, &apply, now).await)
                    .await
            }

            async fn unread_counts(
                &self,
                tenant_id: &str,
                user_id: &str,
                conversation_ids: &[String],
            ) -> anyhow::Result<std::collections::HashMap<String, i64>> {
                self.run(async |db| {
                    entities::unread_counts(db, tenant_id, user_id, conversation_ids).await
                })
                .await
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

            async fn message(
                &self,
                tenant_id: &str,
                id: &str,
            ) -> anyhow::Result<Option<SmsMessage>> {
                self.run(async |db| common::get(db, tenant_id, id, false).await)
                    .await
            }

            async fn messages(
                &self,
                tenant_id: &str,
                conversation_id: &str,
                before: Option<&After>,
                limit: usize,
            ) -> anyhow::Result<Vec<SmsMessage>> {
                self.run(async |db| {
                    messaging::messages(db, tenant_id, conversation_id, before, limit).await
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
                self.run(async |db| {
                    messaging::claim_due_messages(db, now, lease_until, owner, limit).await
                })
                .await
            }

            async fn begin_send(
                &self,
                tenant_id: &str,
                id: &str,
                owner: &str,
                now: OffsetDateTime,
                recheck_at: OffsetDateTime,
            ) -> anyhow::Result<bool> {
                self.run(async |db| {
                    messaging::begin_send(db, tenant_id, id, owner, now, recheck_at).await
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
                Ok(self
                    .write(async |tx| {
                        Ok(messaging::carrier_update(tx, tenant_id, id, update, now).await?)
                    })
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
                self.run(async |db| common::get(db, tenant_id, id, false).await)
                    .await
            }

            async fn list_calls(
                &self,
                tenant_id: &str,
                filter: &CallFilter,
                before: Option<&After>,
                limit: usize,
            ) -> anyhow::Result<Vec<Call>> {
                self.run(async |db| {
                    entities::list_calls(db, tenant_id, filter, before, limit).await
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

            async fn campaign(
                &self,
                tenant_id: &str,
                id: &str,
            ) -> anyhow::Result<Option<SmsCampaign>> {
                self.run(async |db| common::get(db, tenant_id, id, false).await)
                    .await
            }

            async fn list_campaigns(
                &self,
                tenant_id: &str,
                filter: &CampaignFilter,
                after: Option<&After>,
                limit: usize,
            ) -> anyhow::Result<Vec<SmsCampaign>> {
                self.run(async |db| {
                    let params = vec![(&filter.status).into()];
                    let condition = Some(entities::CAMPAIGN_FILTER);
                    common::list(db, tenant_id, condition, params, after, limit).await
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
                    campaigns::add_recipients(tx, actor, campaign_id, &guard, &recipients, now)
                        .await
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
                self.run(async |db| {
                    campaigns::recipients(db, tenant_id, campaign_id, after, limit).await
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
                self.write(async |tx| {
                    campaigns::delete_recipient(tx, actor, campaign_id, recipient_id, &guard, now)
                        .await
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
                        Ok(
                            campaigns::claim_campaign_recipients(tx, now, lease_until, limit)
                                .await?,
                        )
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
                self.run(async |db| {
                    campaigns::finish_recipient(db, tenant_id, recipient_id, outcome, now).await
                })
                .await
            }

            async fn finish_campaigns(&self, now: OffsetDateTime) -> anyhow::Result<usize> {
                Ok(self
                    .write(async |tx| Ok(campaigns::finish_campaigns(tx, now).await?))
                    .await?)
            }

            async fn latest_change(&self, tenant_id: &str) -> anyhow::Result<i64> {
                self.run(async |db| accounts::latest_change(db, tenant_id).await)
                    .await
            }

            async fn start_change_notifications(&self, hub: Arc<ChangeHub>) -> anyhow::Result<()> {
                self.notify_changes(hub).await
            }

            async fn changes(
                &self,
                tenant_id: &str,
                since: i64,
                limit: usize,
            ) -> anyhow::Result<Vec<Change>> {
                self.run(async |db| accounts::changes(db, tenant_id, since, limit).await)
                    .await
            }

            async fn audit_log(
                &self,
                tenant_id: &str,
                before: Option<&After>,
                limit: usize,
            ) -> anyhow::Result<Vec<AuditEntry>> {
                self.run(async |db| accounts::audit_log(db, tenant_id, before, limit).await)
                    .await
            }
        }
    };
}

store_impl!(super::postgres::PgStore);
store_impl!(super::sqlite::SqliteStore);
