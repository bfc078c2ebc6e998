//! The storage trait of the cloud. Implementations: SQLite (embedded default)
//! and PostgreSQL (tokio-postgres). Methods that touch a tenant's
//! data take the tenant explicitly.

pub mod accounts;
pub mod campaigns;
pub mod common;
pub mod entities;
pub mod messaging;
mod methods;
pub mod postgres;
pub mod sql;
pub mod sqlite;

/// `LIKE` pattern for "contains `text`", with `\` escaping `%` and `_`.
pub fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The start of a message as shown in the inbox: at most 100 characters, on one line.
pub fn preview(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(100) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// The pieces of a contact search: the lower-cased text pattern and, when the
/// query has digits, a pattern over the digits of phone numbers.
pub fn contact_search(query: &str) -> (String, Option<String>) {
    let text = contains_pattern(&query.trim().to_lowercase());
    let digits: String = query.chars().filter(char::is_ascii_digit).collect();
    let digits = (digits.len() >= 3).then(|| contains_pattern(&digits));
    (text, digits)
}

use std::sync::Arc;

use upzento_domain::resources::{CampaignStats, RecipientStatus};

use async_trait::async_trait;
use time::OffsetDateTime;
use upzento_domain::resources::{
    AuditEntry, Call, CampaignRecipient, Change, ConsentEvent, Contact, Conversation,
    MessageStatus, PhoneNumber, SmsCampaign, SmsMessage, SmsTemplate,
};
use upzento_domain::wire::Role;

use crate::error::AppError;
use crate::events::ChangeHub;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub tenant_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Issued at sign-in with a password; expires.
    Session,
    /// Long-lived, for machines.
    Api,
}

#[derive(Debug, Clone)]
pub struct NewToken {
    pub id: String,
    pub hash: Vec<u8>,
    pub user_id: String,
    pub tenant_id: String,
    pub kind: TokenKind,
    pub label: Option<String>,
    pub expires_at: Option<OffsetDateTime>,
}

/// Who makes a change: every write is scoped to `tenant_id` and audited under `user_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub tenant_id: String,
    pub user_id: String,
}

/// Where a page of a list starts: after the record with this creation time and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    pub created_at_ms: i64,
    pub id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NumberFilter {
    pub status: Option<String>,
    pub assigned_to: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactFilter {
    /// Case-insensitive text in the name or email, or digits in one of the numbers.
    pub query: Option<String>,
    pub tag: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationFilter {
    pub status: Option<String>,
    pub assigned_to: Option<String>,
    pub contact_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFilter {
    pub kind: Option<String>,
    pub status: Option<String>,
    pub assigned_to: Option<String>,
    pub contact_id: Option<String>,
    /// Calls that started at or after this time (ms).
    pub from_ms: Option<i64>,
    /// Calls that started before this time (ms).
    pub until_ms: Option<i64>,
}

/// A message to store, with what only the server knows about it.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub message: SmsMessage,
    pub idempotency_key: Option<String>,
    /// When the carrier worker should act on it (queued outbound: now).
    pub next_action_at: Option<OffsetDateTime>,
}

/// An outbound message the carrier worker has claimed.
#[derive(Debug, Clone)]
pub struct DueMessage {
    pub tenant_id: String,
    pub message: SmsMessage,
    pub from: String,
    pub to: String,
    /// When a worker began handing it to the provider without recording the outcome (it
    /// stopped, or the answer was lost): it may have been sent, so it is reconciled with the
    /// provider, never simply sent again.
    pub send_started_at: Option<OffsetDateTime>,
}

/// What the carrier reported about a message.
#[derive(Debug, Clone)]
pub struct CarrierUpdate {
    pub status: MessageStatus,
    pub provider_message_id: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// When to act again (e.g. expect the delivery report); `None` when final.
    pub next_action_at: Option<OffsetDateTime>,
    /// The message stays queued and may have reached the provider (the answer was lost):
    /// keep the record of the send in progress, so the next attempt reconciles.
    pub keep_intent: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignFilter {
    pub status: Option<String>,
}

/// A number to put on a campaign's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecipient {
    pub contact_id: Option<String>,
    /// E.164.
    pub number: String,
}

/// A pending recipient of an active campaign, claimed by the campaign runner.
#[derive(Debug, Clone)]
pub struct DueRecipient {
    pub tenant_id: String,
    pub campaign: SmsCampaign,
    pub recipient: CampaignRecipient,
}

/// What the campaign runner did with a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientOutcome {
    Queued { message_id: String },
    Skipped { code: String, message: String },
}

/// Actor id of changes made by the server itself (carrier reports).
pub const SYSTEM_ACTOR: &str = "system";

/// The change a PATCH makes, applied to the current record inside the store's transaction.
pub type Apply<T> = Arc<dyn Fn(&T) -> Result<T, AppError> + Send + Sync>;

/// A check of the current record inside the store's transaction (e.g. "not while active").
pub type Guard<T> = Arc<dyn Fn(&T) -> Result<(), AppError> + Send + Sync>;

/// Entity names in the change feed and the audit log (wire format: defined in the domain).
pub use upzento_domain::resources::entity;

#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    async fn create_tenant(&self, name: &str, now: OffsetDateTime) -> anyhow::Result<Tenant>;
    async fn tenant(&self, id: &str) -> anyhow::Result<Option<Tenant>>;
    async fn create_user(&self, user: NewUser, now: OffsetDateTime) -> anyhow::Result<User>;
    /// Sign-in lookup across tenants (an email belongs to one tenant): the user and password hash.
    async fn user_for_sign_in(&self, email: &str)
    -> anyhow::Result<Option<(User, Option<String>)>>;
    async fn insert_token(&self, token: NewToken, now: OffsetDateTime) -> anyhow::Result<()>;
    /// The owner of an unexpired token.
    async fn token_owner(
        &self,
        hash: &[u8],
        now: OffsetDateTime,
    ) -> anyhow::Result<Option<(User, Tenant)>>;
    /// An audit row for an action that changes no record of the feed (sign-in, tokens).
    async fn audit_event(
        &self,
        actor: &Actor,
        action: &str,
        entity: &str,
        entity_id: &str,
        now: OffsetDateTime,
    ) -> anyhow::Result<()>;
    /// API tokens of the tenant, of one user when `user_id` is given; oldest first.
    async fn list_api_tokens(
        &self,
        tenant_id: &str,
        user_id: Option<&str>,
    ) -> anyhow::Result<Vec<upzento_domain::wire::ApiTokenInfo>>;
    /// Revokes the API token `id` of the tenant (of one user when `user_id` is given).
    /// Returns whether it existed.
    async fn revoke_api_token(
        &self,
        tenant_id: &str,
        user_id: Option<&str>,
        id: &str,
    ) -> anyhow::Result<bool>;
    /// Makes a token unusable. Returns whether it existed.
    async fn revoke_token(&self, hash: &[u8]) -> anyhow::Result<bool>;
    /// Whether `user_id` is a user of `tenant_id`.
    async fn user_in_tenant(&self, tenant_id: &str, user_id: &str) -> anyhow::Result<bool>;
    /// The tenant's users, by name (teammates to assign work to).
    async fn tenant_users(&self, tenant_id: &str) -> anyhow::Result<Vec<User>>;

    // Every write below records its change-feed entry and audit row in the same transaction.

    /// Fails with `AppError::Conflict` when the tenant already has this number.
    async fn create_number(
        &self,
        actor: &Actor,
        number: PhoneNumber,
        now: OffsetDateTime,
    ) -> Result<PhoneNumber, AppError>;
    async fn number(&self, tenant_id: &str, id: &str) -> anyhow::Result<Option<PhoneNumber>>;
    async fn list_numbers(
        &self,
        tenant_id: &str,
        filter: &NumberFilter,
        after: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<PhoneNumber>>;
    async fn update_number(
        &self,
        actor: &Actor,
        id: &str,
        apply: Apply<PhoneNumber>,
        now: OffsetDateTime,
    ) -> Result<Option<PhoneNumber>, AppError>;
    async fn delete_number(
        &self,
        actor: &Actor,
        id: &str,
        now: OffsetDateTime,
    ) -> anyhow::Result<bool>;

    async fn create_template(
        &self,
        actor: &Actor,
        template: SmsTemplate,
        now: OffsetDateTime,
    ) -> Result<SmsTemplate, AppError>;
    async fn template(&self, tenant_id: &str, id: &str) -> anyhow::Result<Option<SmsTemplate>>;
    async fn list_templates(
        &self,
        tenant_id: &str,
        after: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<SmsTemplate>>;
    async fn update_template(
        &self,
        actor: &Actor,
        id: &str,
        apply: Apply<SmsTemplate>,
        now: OffsetDateTime,
    ) -> Result<Option<SmsTemplate>, AppError>;
    async fn delete_template(
        &self,
        actor: &Actor,
        id: &str,
        now: OffsetDateTime,
    ) -> anyhow::Result<bool>;

    /// Fails with `AppError::Conflict` when one of its numbers belongs to another contact.
    async fn create_contact(
        &self,
        actor: &Actor,
        contact: Contact,
        now: OffsetDateTime,
    ) -> Result<Contact, AppError>;
    async fn contact(&self, tenant_id: &str, id: &str) -> anyhow::Result<Option<Contact>>;
    async fn list_contacts(
        &self,
        tenant_id: &str,
        filter: &ContactFilter,
        after: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<Contact>>;
    async fn update_contact(
        &self,
        actor: &Actor,
        id: &str,
        apply: Apply<Contact>,
        now: OffsetDateTime,
    ) -> Result<Option<Contact>, AppError>;
    async fn delete_contact(
        &self,
        actor: &Actor,
        id: &str,
        now: OffsetDateTime,
    ) -> anyhow::Result<bool>;

    /// The tenant and number an inbound message to `e164` belongs to: the active number
    /// with SMS on, the oldest when several tenants list it.
    async fn route_inbound(&self, e164: &str) -> anyhow::Result<Option<(String, PhoneNumber)>>;
    /// The contact that has this E.164 number.
    async fn contact_by_number(
        &self,
        tenant_id: &str,
        e164: &str,
    ) -> anyhow::Result<Option<Contact>>;
    async fn record_consent(&self, tenant_id: &str, event: ConsentEvent) -> anyhow::Result<()>;
    /// Finds an outbound message of `provider` by the provider's id or our own:
    /// `(tenant id, message id)`. Delivery reports carry no tenant.
    async fn locate_message(
        &self,
        provider: &str,
        reference: &crate::carrier::MessageRef,
    ) -> anyhow::Result<Option<(String, String)>>;
    /// Keeps one part of a multi-part inbound SMS (a repeated part changes nothing).
    /// Once every part is in, returns all of them in order as `(provider message id,
    /// text)`, and does so again for a repeated part, so the joined message is stored
    /// once under its first part's id.
    async fn add_inbound_part(
        &self,
        tenant_id: &str,
        part: &crate::carrier::InboundPart,
        now: OffsetDateTime,
    ) -> anyhow::Result<Option<Vec<(String, String)>>>;
    /// A contact's consent history, oldest first.
    async fn consent_events(
        &self,
        tenant_id: &str,
        contact_id: &str,
    ) -> anyhow::Result<Vec<ConsentEvent>>;

    /// The conversation of (our number, the other number), created when new. `true` when created.
    async fn open_conversation(
        &self,
        actor: &Actor,
        phone_number: &PhoneNumber,
        contact_number: &str,
        now: OffsetDateTime,
    ) -> Result<(Conversation, bool), AppError>;
    async fn conversation(&self, tenant_id: &str, id: &str)
    -> anyhow::Result<Option<Conversation>>;
    /// Newest activity first, before `(last_activity_ms, id)` when given.
    async fn list_conversations(
        &self,
        tenant_id: &str,
        filter: &ConversationFilter,
        before: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<Conversation>>;
    async fn update_conversation(
        &self,
        actor: &Actor,
        id: &str,
        apply: Apply<Conversation>,
        now: OffsetDateTime,
    ) -> Result<Option<Conversation>, AppError>;

    /// Unread inbound messages of `user_id` in each of `conversation_ids` (missing ids: absent).
    async fn unread_counts(
        &self,
        tenant_id: &str,
        user_id: &str,
        conversation_ids: &[String],
    ) -> anyhow::Result<std::collections::HashMap<String, i64>>;
    /// Marks the conversation read by the actor up to `read_at` (a marker only moves
    /// forward). Returns `false` without such a conversation.
    async fn mark_read(
        &self,
        actor: &Actor,
        conversation_id: &str,
        read_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> anyhow::Result<bool>;

    /// Stores a message and moves its conversation's last activity. With an idempotency key
    /// already used by the tenant, stores nothing and returns the first message (`false`).
    async fn create_message(
        &self,
        actor: &Actor,
        message: NewMessage,
        now: OffsetDateTime,
    ) -> Result<(SmsMessage, bool), AppError>;
    async fn message(&self, tenant_id: &str, id: &str) -> anyhow::Result<Option<SmsMessage>>;
    /// A conversation's messages, newest first, before `(created_ms, id)` when given.
    async fn messages(
        &self,
        tenant_id: &str,
        conversation_id: &str,
        before: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<SmsMessage>>;
    async fn update_message(
        &self,
        actor: &Actor,
        id: &str,
        apply: Apply<SmsMessage>,
        now: OffsetDateTime,
    ) -> Result<Option<SmsMessage>, AppError>;
    /// Claims up to `limit` messages due for the carrier at `now` for the worker `owner`,
    /// leasing them until `lease_until` so that no other node takes them meanwhile.
    async fn claim_due_messages(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        owner: &str,
        limit: usize,
    ) -> anyhow::Result<Vec<DueMessage>>;
    /// Records that `owner` is about to hand a queued message to the provider, if it still
    /// holds the message's claim (`false`: another worker took it over; do not send). Until
    /// the outcome is recorded, the message waits until `recheck_at`, and is then reconciled
    /// with the provider by whichever worker claims it.
    async fn begin_send(
        &self,
        tenant_id: &str,
        id: &str,
        owner: &str,
        now: OffsetDateTime,
        recheck_at: OffsetDateTime,
    ) -> anyhow::Result<bool>;
    /// Records what the carrier said; ignored (returns `None`) when the status may not follow.
    async fn carrier_update(
        &self,
        tenant_id: &str,
        id: &str,
        update: CarrierUpdate,
        now: OffsetDateTime,
    ) -> anyhow::Result<Option<SmsMessage>>;

    /// Stores a call, finding its contact by the other party's number. With a SIP Call-ID the
    /// tenant has already posted, stores nothing and returns that record (`false`).
    async fn create_call(
        &self,
        actor: &Actor,
        call: Call,
        now: OffsetDateTime,
    ) -> Result<(Call, bool), AppError>;
    async fn call(&self, tenant_id: &str, id: &str) -> anyhow::Result<Option<Call>>;
    /// Newest first, before `(start_ms, id)` when given.
    async fn list_calls(
        &self,
        tenant_id: &str,
        filter: &CallFilter,
        before: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<Call>>;
    async fn update_call(
        &self,
        actor: &Actor,
        id: &str,
        apply: Apply<Call>,
        now: OffsetDateTime,
    ) -> Result<Option<Call>, AppError>;

    /// Stores a new campaign (its `stats` are not stored).
    async fn create_campaign(
        &self,
        actor: &Actor,
        campaign: SmsCampaign,
        now: OffsetDateTime,
    ) -> Result<SmsCampaign, AppError>;
    /// A campaign with its live stats.
    async fn campaign(&self, tenant_id: &str, id: &str) -> anyhow::Result<Option<SmsCampaign>>;
    /// Oldest first, after `(created_ms, id)` when given; each with its live stats.
    async fn list_campaigns(
        &self,
        tenant_id: &str,
        filter: &CampaignFilter,
        after: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<SmsCampaign>>;
    /// `apply` sees the campaign with its live stats.
    async fn update_campaign(
        &self,
        actor: &Actor,
        id: &str,
        apply: Apply<SmsCampaign>,
        now: OffsetDateTime,
    ) -> Result<Option<SmsCampaign>, AppError>;
    /// Deletes a campaign and its list when `guard` allows; sent messages stay.
    async fn delete_campaign(
        &self,
        actor: &Actor,
        id: &str,
        guard: Guard<SmsCampaign>,
        now: OffsetDateTime,
    ) -> Result<bool, AppError>;
    /// Adds numbers to a campaign's list when `guard` allows; numbers already on it are
    /// left alone. Returns (added, total on the list), `None` without such a campaign.
    async fn add_recipients(
        &self,
        actor: &Actor,
        campaign_id: &str,
        guard: Guard<SmsCampaign>,
        recipients: Vec<NewRecipient>,
        now: OffsetDateTime,
    ) -> Result<Option<(i64, i64)>, AppError>;
    /// A campaign's list in the order it was added, after `(created_ms, id)` when given.
    async fn recipients(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        after: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<CampaignRecipient>>;
    /// Removes a recipient not yet sent to, when `guard` allows (`Conflict` once queued).
    async fn delete_recipient(
        &self,
        actor: &Actor,
        campaign_id: &str,
        recipient_id: &str,
        guard: Guard<SmsCampaign>,
        now: OffsetDateTime,
    ) -> Result<bool, AppError>;
    /// Starts scheduled campaigns whose time has come. Returns how many.
    async fn start_due_campaigns(&self, now: OffsetDateTime) -> anyhow::Result<usize>;
    /// Claims up to `limit` pending recipients of active campaigns, leased until `lease_until`.
    async fn claim_campaign_recipients(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> anyhow::Result<Vec<DueRecipient>>;
    async fn finish_recipient(
        &self,
        tenant_id: &str,
        recipient_id: &str,
        outcome: RecipientOutcome,
        now: OffsetDateTime,
    ) -> anyhow::Result<()>;
    /// Skips what stopped campaigns left pending, and completes active campaigns with
    /// nothing left to send. Returns how many campaigns it completed.
    async fn finish_campaigns(&self, now: OffsetDateTime) -> anyhow::Result<usize>;

    /// The tenant's newest change-feed position (0 before any change).
    async fn latest_change(&self, tenant_id: &str) -> anyhow::Result<i64>;
    /// From now on, tells `hub` which tenants have new changes (from any node).
    async fn start_change_notifications(&self, hub: Arc<ChangeHub>) -> anyhow::Result<()>;

    /// Changes of the tenant with `seq > since`, oldest first, at most `limit`.
    async fn changes(
        &self,
        tenant_id: &str,
        since: i64,
        limit: usize,
    ) -> anyhow::Result<Vec<Change>>;
    /// Audit rows of the tenant, newest first, before `(at_ms, id)` when given.
    async fn audit_log(
        &self,
        tenant_id: &str,
        before: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<AuditEntry>>;
}

/// Why a stopped campaign's remaining recipients were not texted.
pub const STOPPED: (&str, &str) = (
    "campaign_stopped",
    "The campaign was stopped before this number was texted.",
);

/// A recipient's status: its message's once queued, else its own (`pending`, `skipped`).
pub fn recipient_status(own: &str, message_status: Option<&str>) -> Option<RecipientStatus> {
    match message_status {
        Some(status) => match MessageStatus::parse(status)? {
            MessageStatus::Queued => Some(RecipientStatus::Queued),
            MessageStatus::Sent => Some(RecipientStatus::Sent),
            MessageStatus::Delivered => Some(RecipientStatus::Delivered),
            MessageStatus::Failed => Some(RecipientStatus::Failed),
            MessageStatus::Received => None,
        },
        None => RecipientStatus::parse(own),
    }
}

/// Adds `n` recipients whose status is `status` (their message's once queued, else
/// their own: `pending` or `skipped`).
pub fn count_recipients(stats: &mut CampaignStats, status: &str, n: i64, replied: i64) {
    stats.recipients += n;
    stats.replied += replied;
    match status {
        "pending" => stats.pending += n,
        "queued" => stats.queued += n,
        "sent" => stats.sent += n,
        "delivered" => stats.delivered += n,
        "failed" => stats.failed += n,
        "skipped" => stats.skipped += n,
        _ => {}
    }
}

/// A recipient that was texted cannot be taken off the list.
pub fn recipient_done() -> AppError {
    AppError::Conflict {
        code: "recipient_sent",
        message: "This recipient was already handled and stays on the list.".into(),
        field: None,
    }
}

/// `ours`: the tenant itself has the number on another record.
pub fn number_conflict(n: &PhoneNumber, ours: bool) -> AppError {
    if ours {
        AppError::Conflict {
            code: "duplicate_number",
            message: format!("The tenant already has the number {}.", n.number),
            field: Some("number".into()),
        }
    } else {
        AppError::Conflict {
            code: "number_taken",
            message: format!(
                "The number {} belongs to another account. A number can be used by one account only.",
                n.number
            ),
            field: Some("number".into()),
        }
    }
}
