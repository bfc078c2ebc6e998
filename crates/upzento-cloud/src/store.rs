//! The storage trait of the cloud. Implementations: SQLite (embedded default)
//! and PostgreSQL (tokio-postgres). Methods that touch a tenant's
//! data take the tenant explicitly.

pub mod accounts;
pub mod after_call;
pub mod campaigns;
pub mod common;
pub mod do_not_contact;
pub mod entities;
pub mod messaging;
pub mod people;
pub mod postgres;
pub mod sql;
pub mod sqlite;
pub mod teams;

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

use std::collections::BTreeMap;
use std::sync::Arc;

use upzento_domain::resources::{CampaignStats, RecipientStatus};

use async_trait::async_trait;
use time::OffsetDateTime;
use upzento_domain::permissions::Viewer;
use upzento_domain::resources::{
    AuditEntry, Call, CallNote, CampaignRecipient, Change, ConsentEvent, Contact, Conversation,
    ConversationNote, Disposition, DoNotContactEntry, MessageStatus, PhoneNumber, SmsCampaign,
    SmsMessage, SmsTemplate, Task, TenantSettings, WrapUp,
};
use upzento_domain::wire::Role;

use crate::carrier::{InboundPart, MessageRef};
use crate::error::AppError;
use crate::events::ChangeHub;
use sql::Db;

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
    /// Signed in with an initial password: only replacing it is allowed until then.
    pub password_change_required: bool,
    /// Deactivated by an admin: no sign-in, no token; their history stays.
    pub active: bool,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub tenant_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub password_hash: Option<String>,
    /// An initial password, to be replaced at first sign-in.
    pub password_change_required: bool,
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

/// A change-feed entry and whose work it is about (`None`: everyone's to see).
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEntry {
    pub change: Change,
    pub audience: Option<Vec<upzento_domain::permissions::Work>>,
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
    /// Only the work this viewer sees (`None`: all of it).
    pub visible_to: Option<Viewer>,
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
    /// Only the work this viewer sees (`None`: all of it).
    pub visible_to: Option<Viewer>,
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
    /// The recipient contact's time zone, when known (campaign texts keep to its hours).
    pub time_zone: Option<String>,
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRecipient {
    pub contact_id: Option<String>,
    /// E.164.
    pub number: String,
    /// An imported file's name and other columns (merge fields).
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub fields: BTreeMap<String, String>,
}

/// A campaign's recipient as the audience report sees it.
#[derive(Debug, Clone)]
pub struct AudienceMember {
    pub recipient: CampaignRecipient,
    pub contact_first_name: Option<String>,
    pub contact_last_name: Option<String>,
    pub contact_email: Option<String>,
    pub time_zone: Option<String>,
    pub opted_out: bool,
    /// The source of the number's do-not-contact entry (`optOut`, `manual`, `import`).
    pub do_not_contact: Option<String>,
    /// The tenant has texted the number before (a campaign's opt-out footer goes only on
    /// a first text).
    pub texted_before: bool,
}

/// A campaign recipient whose text was queued, and what became of it.
#[derive(Debug, Clone)]
pub struct TextedRecipient {
    pub variant: Option<String>,
    pub phone_number_id: Option<String>,
    /// The message's status.
    pub status: String,
    pub error_code: Option<String>,
    pub queued_at: OffsetDateTime,
    /// The message's last change (its delivery, once delivered).
    pub updated_at: OffsetDateTime,
    /// The recipient's first answer after it.
    pub replied_at: Option<OffsetDateTime>,
    /// The recipient opted out after it.
    pub opted_out: bool,
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
    Queued {
        message_id: String,
        /// The A/B variant it got.
        variant: Option<String>,
    },
    Skipped {
        code: String,
        message: String,
    },
    /// Outside the recipient's allowed hours: still pending, taken again at `until`.
    Held {
        until: OffsetDateTime,
    },
}

/// Actor id of changes made by the server itself (carrier reports).
pub const SYSTEM_ACTOR: &str = "system";

/// The change a PATCH makes, applied to the current record inside the store's transaction.
pub type Apply<T> = Arc<dyn Fn(&T) -> Result<T, AppError> + Send + Sync>;

/// A check of the current record inside the store's transaction (e.g. "not while active").
pub type Guard<T> = Arc<dyn Fn(&T) -> Result<(), AppError> + Send + Sync>;

/// Entity names in the change feed and the audit log (wire format: defined in the domain).
pub use upzento_domain::resources::entity;

/// Declares the [`Store`] trait and implements it for each backend, from one list: each
/// method's signature, once, with the operation it runs (written once over
/// [`Db`](sql::Db), in [`accounts`], [`common`], [`entities`], [`messaging`] and
/// [`campaigns`]) and where: `run` on a connection, `write` in a transaction committed
/// when the operation succeeds, `own` on the backend itself. A backend provides `run`,
/// `write` and `notify_changes`; the two differ only there, in their migrations and in
/// how commits wake other nodes' change streams.
macro_rules! store {
    (backends: [$($backend:ty),*]; $($methods:tt)*) => {
        store!(@trait $($methods)*);
        store!(@impls [$($backend),*]; $($methods)*);
    };
    (@trait $(
        $(#[$meta:meta])*
        fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty = $how:ident |$op:ident| $body:expr;
    )*) => {
        #[async_trait]
        pub trait Store: Send + Sync + std::fmt::Debug + 'static {
            $($(#[$meta])* async fn $name(&self, $($arg: $ty),*) -> $ret;)*
        }
    };
    (@impls []; $($methods:tt)*) => {};
    (@impls [$backend:ty $(, $rest:ty)*]; $($methods:tt)*) => {
        store!(@impl $backend; $($methods)*);
        store!(@impls [$($rest),*]; $($methods)*);
    };
    (@impl $backend:ty; $(
        $(#[$meta:meta])*
        fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty = $how:ident |$op:ident| $body:expr;
    )*) => {
        #[async_trait]
        impl Store for $backend {
            $(async fn $name(&self, $($arg: $ty),*) -> $ret {
                store!(@$how self, $op, $body)
            })*
        }
    };
    (@run $self:ident, $op:ident, $body:expr) => { $self.run(async |$op| $body).await };
    (@write $self:ident, $op:ident, $body:expr) => { $self.write(async |$op| $body).await };
    (@own $self:ident, $op:ident, $body:expr) => {{ let $op = $self; $body }};
}

store! {
    backends: [postgres::PgStore, sqlite::SqliteStore];

    fn create_tenant(name: &str, now: OffsetDateTime) -> anyhow::Result<Tenant>
        = run |db| accounts::create_tenant(db, name, now).await;

    fn tenant(id: &str) -> anyhow::Result<Option<Tenant>>
        = run |db| accounts::tenant(db, id).await;

    fn create_user(user: NewUser, now: OffsetDateTime) -> anyhow::Result<User>
        = run |db| accounts::create_user(db, user, now).await;

    /// Replaces a user's password (clearing "change required") and ends their other
    /// sessions and tokens but `keep` (the caller's own session).
    fn set_password(
        actor: &Actor,
        password_hash: &str,
        keep: &[u8],
        now: OffsetDateTime,
    ) -> anyhow::Result<()>
        = write |tx| accounts::set_password(tx, actor, password_hash, keep, now).await;

    /// Failed sign-ins for `email` since `since`.
    fn sign_in_failures(email: &str, since: OffsetDateTime) -> anyhow::Result<i64>
        = run |db| accounts::sign_in_failures(db, email, since).await;

    /// Counts a failed sign-in (and forgets those before `forget_before`).
    fn record_sign_in_failure(
        email: &str,
        now: OffsetDateTime,
        forget_before: OffsetDateTime,
    ) -> anyhow::Result<()>
        = write |tx| accounts::record_sign_in_failure(tx, email, now, forget_before).await;

    /// A successful sign-in clears the count.
    fn clear_sign_in_failures(email: &str) -> anyhow::Result<()>
        = run |db| accounts::clear_sign_in_failures(db, email).await;

    /// Changes a user's role and whether they are active, keeping one active admin in the
    /// tenant; deactivating ends their tokens and hands their open work to `reassign_to`
    /// (or nobody). `None` without the user.
    fn update_user(
        actor: &Actor,
        user_id: &str,
        change: accounts::UserChange,
        now: OffsetDateTime,
    ) -> Result<Option<User>, AppError>
        = write |tx| accounts::update_user(tx, actor, user_id, change, now).await;

    /// Every tenant, for the operator.
    fn tenants() -> anyhow::Result<Vec<accounts::TenantSummary>>
        = run |db| accounts::tenants(db).await;

    fn tenant_disabled(id: &str) -> anyhow::Result<bool>
        = run |db| accounts::tenant_disabled(db, id).await;

    /// Disables (`Some(now)`) or enables a tenant; `false` without it.
    fn set_tenant_disabled(
        id: &str,
        disabled_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<bool, AppError>
        = write |tx| accounts::set_tenant_disabled(tx, id, disabled_at, now).await;

    /// Sign-in lookup across tenants (an email belongs to one tenant): the user and password hash.
    fn user_for_sign_in(email: &str) -> anyhow::Result<Option<(User, Option<String>)>>
        = run |db| accounts::user_for_sign_in(db, email).await;

    fn insert_token(token: NewToken, now: OffsetDateTime) -> anyhow::Result<()>
        = run |db| accounts::insert_token(db, token, now).await;

    /// The owner of an unexpired token.
    fn token_owner(hash: &[u8], now: OffsetDateTime) -> anyhow::Result<Option<(User, Tenant)>>
        = run |db| accounts::token_owner(db, hash, now).await;

    /// An audit row for an action that changes no record of the feed (sign-in, tokens).
    fn audit_event(
        actor: &Actor,
        action: &str,
        entity: &str,
        entity_id: &str,
        now: OffsetDateTime,
    ) -> anyhow::Result<()>
        = run |db| accounts::audit_event(db, actor, action, entity, entity_id, now).await;

    /// API tokens of the tenant, of one user when `user_id` is given; oldest first.
    fn list_api_tokens(
        tenant_id: &str,
        user_id: Option<&str>,
    ) -> anyhow::Result<Vec<upzento_domain::wire::ApiTokenInfo>>
        = run |db| accounts::list_api_tokens(db, tenant_id, user_id).await;

    /// Revokes the API token `id` of the tenant (of one user when `user_id` is given).
    /// Returns whether it existed.
    fn revoke_api_token(tenant_id: &str, user_id: Option<&str>, id: &str) -> anyhow::Result<bool>
        = run |db| accounts::revoke_api_token(db, tenant_id, user_id, id).await;

    /// Makes a token unusable. Returns whether it existed.
    fn revoke_token(hash: &[u8]) -> anyhow::Result<bool>
        = run |db| accounts::revoke_token(db, hash).await;

    /// Whether `user_id` is a user of `tenant_id`.
    fn user_in_tenant(tenant_id: &str, user_id: &str) -> anyhow::Result<bool>
        = run |db| accounts::user_in_tenant(db, tenant_id, user_id).await;

    /// The tenant's users, by name (teammates to assign work to).
    fn tenant_users(tenant_id: &str) -> anyhow::Result<Vec<User>>
        = run |db| accounts::tenant_users(db, tenant_id).await;

    /// Invites an email with a role (refused when it signs in already, or has an
    /// invitation waiting).
    fn create_invitation(
        actor: &Actor,
        invitation: people::NewInvitation,
        now: OffsetDateTime,
    ) -> Result<upzento_domain::wire::InvitationInfo, AppError>
        = write |tx| people::create_invitation(tx, actor, invitation, now).await;

    /// The tenant's invitations, newest first.
    fn invitations(
        tenant_id: &str,
        now: OffsetDateTime,
    ) -> anyhow::Result<Vec<upzento_domain::wire::InvitationInfo>>
        = run |db| people::invitations(db, tenant_id, now).await;

    /// A new code and expiry for a waiting or expired invitation; `None` without it.
    fn resend_invitation(
        actor: &Actor,
        id: &str,
        code_hash: &[u8],
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Option<upzento_domain::wire::InvitationInfo>, AppError>
        = write |tx| people::resend_invitation(tx, actor, id, code_hash, expires_at, now).await;

    /// Revokes an invitation not yet accepted; `None` without it.
    fn revoke_invitation(
        actor: &Actor,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<upzento_domain::wire::InvitationInfo>, AppError>
        = write |tx| people::revoke_invitation(tx, actor, id, now).await;

    /// The waiting invitation with this code, and its tenant.
    fn invitation_by_code(
        code_hash: &[u8],
        now: OffsetDateTime,
    ) -> anyhow::Result<Option<(upzento_domain::wire::InvitationInfo, Tenant)>>
        = run |db| people::invitation_by_code(db, code_hash, now).await;

    /// Makes the invited person a user (once); `None` when the code is not waiting.
    fn accept_invitation(
        code_hash: &[u8],
        name: &str,
        password_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(User, Tenant)>, AppError>
        = write |tx| people::accept_invitation(tx, code_hash, name, password_hash, now).await;

    /// The actor's unexpired sessions, newest first (`current`: the token hashing to it).
    fn sessions(
        actor: &Actor,
        current: &[u8],
        now: OffsetDateTime,
    ) -> anyhow::Result<Vec<upzento_domain::wire::SessionInfo>>
        = run |db| people::sessions(db, actor, current, now).await;

    /// Ends the session `only` of `user_id`, or all their sessions; how many ended.
    fn end_sessions(
        actor: &Actor,
        user_id: &str,
        only: Option<&str>,
        now: OffsetDateTime,
    ) -> anyhow::Result<u64>
        = write |tx| people::end_sessions(tx, actor, user_id, only, now).await;

    /// Sets the actor's presence (live connections keep it for `lease`).
    fn set_presence(
        actor: &Actor,
        status: upzento_domain::wire::PresenceStatus,
        now: OffsetDateTime,
        lease: time::Duration,
    ) -> Result<upzento_domain::wire::Presence, AppError>
        = write |tx| people::set_presence(tx, actor, status, now, lease).await;

    /// A live connection of the user was seen now.
    fn presence_seen(tenant_id: &str, user_id: &str, now: OffsetDateTime) -> anyhow::Result<()>
        = write |tx| people::presence_seen(tx, tenant_id, user_id, now).await;

    /// The user signed out: offline for teammates now.
    fn presence_gone(tenant_id: &str, user_id: &str, now: OffsetDateTime) -> anyhow::Result<()>
        = write |tx| people::presence_gone(tx, tenant_id, user_id, now).await;

    /// Tells the feeds who went offline (their lease lapsed before `cutoff`).
    fn sweep_presence(cutoff: OffsetDateTime, now: OffsetDateTime) -> anyhow::Result<usize>
        = write |tx| people::sweep_presence(tx, cutoff, now).await;

    /// Every active user's presence, as of `cutoff` (leases seen before it lapsed).
    fn presences(
        tenant_id: &str,
        cutoff: OffsetDateTime,
    ) -> anyhow::Result<Vec<upzento_domain::wire::Presence>>
        = run |db| people::presences(db, tenant_id, cutoff).await;

    /// A new team (its members active users of the tenant; its name unique).
    fn create_team(
        actor: &Actor,
        team: upzento_domain::resources::Team,
        now: OffsetDateTime,
    ) -> Result<upzento_domain::resources::Team, AppError>
        = write |tx| teams::create_team(tx, actor, team, now).await;

    /// Renames a team or replaces its members; `None` without it.
    fn update_team(
        actor: &Actor,
        id: &str,
        apply: Apply<upzento_domain::resources::Team>,
        now: OffsetDateTime,
    ) -> Result<Option<upzento_domain::resources::Team>, AppError>
        = write |tx| teams::update_team(tx, actor, id, &apply, now).await;

    /// Deletes a team (its conversations and numbers lose it); `false` without it.
    fn delete_team(actor: &Actor, id: &str, now: OffsetDateTime) -> Result<bool, AppError>
        = write |tx| teams::delete_team(tx, actor, id, now).await;

    fn team(tenant_id: &str, id: &str) -> anyhow::Result<Option<upzento_domain::resources::Team>>
        = run |db| common::get(db, tenant_id, id, false).await;

    /// Who `user_id` is as a viewer of the tenant's work (their teams and people).
    fn viewer(tenant_id: &str, user_id: &str, role: Role) -> anyhow::Result<upzento_domain::permissions::Viewer>
        = run |db| teams::viewer(db, tenant_id, user_id, role).await;

    /// The tenant's teams, by name.
    fn teams(tenant_id: &str) -> anyhow::Result<Vec<upzento_domain::resources::Team>>
        = run |db| teams::teams(db, tenant_id).await;

    // Every write below records its change-feed entry and audit row in the same transaction.

    /// Fails with `AppError::Conflict` when the tenant already has this number.
    fn create_number(
        actor: &Actor,
        number: PhoneNumber,
        now: OffsetDateTime,
    ) -> Result<PhoneNumber, AppError>
        = write |tx| {
            entities::create_number(tx, actor, &number, now).await?;
            Ok(number)
        };

    fn number(tenant_id: &str, id: &str) -> anyhow::Result<Option<PhoneNumber>>
        = run |db| common::get(db, tenant_id, id, false).await;

    fn list_numbers(
        tenant_id: &str,
        filter: &NumberFilter,
        after: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<PhoneNumber>>
        = run |db| {
            let params = vec![(&filter.status).into(), (&filter.assigned_to).into()];
            common::list(db, tenant_id, Some(entities::NUMBER_FILTER), params, after, limit).await
        };

    fn update_number(
        actor: &Actor,
        id: &str,
        apply: Apply<PhoneNumber>,
        now: OffsetDateTime,
    ) -> Result<Option<PhoneNumber>, AppError>
        = write |tx| entities::update_number(tx, actor, id, &apply, now).await;

    fn delete_number(actor: &Actor, id: &str, now: OffsetDateTime) -> anyhow::Result<bool>
        = write |tx| common::delete::<PhoneNumber, _>(tx, actor, id, now).await;

    fn create_template(
        actor: &Actor,
        template: SmsTemplate,
        now: OffsetDateTime,
    ) -> Result<SmsTemplate, AppError>
        = write |tx| {
            common::create(tx, actor, &template, now).await?;
            Ok(template)
        };

    fn template(tenant_id: &str, id: &str) -> anyhow::Result<Option<SmsTemplate>>
        = run |db| common::get(db, tenant_id, id, false).await;

    fn list_templates(
        tenant_id: &str,
        after: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<SmsTemplate>>
        = run |db| common::list(db, tenant_id, None, Vec::new(), after, limit).await;

    fn update_template(
        actor: &Actor,
        id: &str,
        apply: Apply<SmsTemplate>,
        now: OffsetDateTime,
    ) -> Result<Option<SmsTemplate>, AppError>
        = write |tx| common::update(tx, actor, id, &apply, now).await;

    fn delete_template(actor: &Actor, id: &str, now: OffsetDateTime) -> anyhow::Result<bool>
        = write |tx| common::delete::<SmsTemplate, _>(tx, actor, id, now).await;

    /// Fails with `AppError::Conflict` when one of its numbers belongs to another contact.
    fn create_contact(
        actor: &Actor,
        contact: Contact,
        now: OffsetDateTime,
    ) -> Result<Contact, AppError>
        = write |tx| {
            common::create(tx, actor, &contact, now).await?;
            Ok(contact)
        };

    fn contact(tenant_id: &str, id: &str) -> anyhow::Result<Option<Contact>>
        = run |db| common::get(db, tenant_id, id, false).await;

    fn list_contacts(
        tenant_id: &str,
        filter: &ContactFilter,
        after: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<Contact>>
        = run |db| {
            let condition = entities::contact_filter(db.dialect());
            let params = entities::contact_filter_params(filter);
            common::list(db, tenant_id, Some(&condition), params, after, limit).await
        };

    fn update_contact(
        actor: &Actor,
        id: &str,
        apply: Apply<Contact>,
        now: OffsetDateTime,
    ) -> Result<Option<Contact>, AppError>
        = write |tx| common::update(tx, actor, id, &apply, now).await;

    fn delete_contact(actor: &Actor, id: &str, now: OffsetDateTime) -> anyhow::Result<bool>
        = write |tx| common::delete::<Contact, _>(tx, actor, id, now).await;

    /// The tenant and number an inbound message to `e164` belongs to: the active number
    /// with SMS on, the oldest when several tenants list it.
    fn route_inbound(e164: &str) -> anyhow::Result<Option<(String, PhoneNumber)>>
        = run |db| messaging::route_inbound(db, e164).await;

    /// The contact that has this E.164 number.
    fn contact_by_number(tenant_id: &str, e164: &str) -> anyhow::Result<Option<Contact>>
        = run |db| messaging::contact_by_number(db, tenant_id, e164).await;

    fn record_consent(tenant_id: &str, event: ConsentEvent) -> anyhow::Result<()>
        = run |db| messaging::record_consent(db, tenant_id, &event).await;

    /// Finds an outbound message of `provider` by the provider's id or our own:
    /// `(tenant id, message id)`. Delivery reports carry no tenant.
    fn locate_message(
        provider: &str,
        reference: &MessageRef,
    ) -> anyhow::Result<Option<(String, String)>>
        = run |db| messaging::locate_message(db, provider, reference).await;

    /// Keeps one part of a multi-part inbound SMS (a repeated part changes nothing).
    /// Once every part is in, returns all of them in order as `(provider message id,
    /// text)`, and does so again for a repeated part, so the joined message is stored
    /// once under its first part's id.
    fn add_inbound_part(
        tenant_id: &str,
        part: &InboundPart,
        now: OffsetDateTime,
    ) -> anyhow::Result<Option<Vec<(String, String)>>>
        = write |tx| messaging::add_inbound_part(tx, tenant_id, part, now).await;

    /// A contact's consent history, oldest first.
    fn consent_events(tenant_id: &str, contact_id: &str) -> anyhow::Result<Vec<ConsentEvent>>
        = run |db| messaging::consent_events(db, tenant_id, contact_id).await;

    /// The conversation of (our number, the other number), created when new. `true` when created.
    fn open_conversation(
        actor: &Actor,
        phone_number: &PhoneNumber,
        contact_number: &str,
        now: OffsetDateTime,
    ) -> Result<(Conversation, bool), AppError>
        = write |tx|
            entities::open_conversation(tx, actor, phone_number, contact_number, now).await;

    fn conversation(tenant_id: &str, id: &str) -> anyhow::Result<Option<Conversation>>
        = run |db| common::get(db, tenant_id, id, false).await;

    /// Newest activity first, before `(last_activity_ms, id)` when given.
    fn list_conversations(
        tenant_id: &str,
        filter: &ConversationFilter,
        before: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<Conversation>>
        = run |db| entities::list_conversations(db, tenant_id, filter, before, limit).await;

    fn update_conversation(
        actor: &Actor,
        id: &str,
        apply: Apply<Conversation>,
        now: OffsetDateTime,
    ) -> Result<Option<Conversation>, AppError>
        = write |tx| common::update(tx, actor, id, &apply, now).await;

    /// Unread inbound messages of `user_id` in each of `conversation_ids` (missing ids: absent).
    fn unread_counts(
        tenant_id: &str,
        user_id: &str,
        conversation_ids: &[String],
    ) -> anyhow::Result<std::collections::HashMap<String, i64>>
        = run |db| entities::unread_counts(db, tenant_id, user_id, conversation_ids).await;

    /// Marks the conversation read by the actor up to `read_at` (a marker only moves
    /// forward). Returns `false` without such a conversation.
    fn mark_read(
        actor: &Actor,
        conversation_id: &str,
        read_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> anyhow::Result<bool>
        = write |tx| entities::mark_read(tx, actor, conversation_id, read_at, now).await;

    /// Stores a message and moves its conversation's last activity. With an idempotency key
    /// already used by the tenant, stores nothing and returns the first message (`false`).
    fn create_message(
        actor: &Actor,
        new: NewMessage,
        now: OffsetDateTime,
    ) -> Result<(SmsMessage, bool), AppError>
        = write |tx| messaging::create_message(tx, actor, new, now).await;

    fn message(tenant_id: &str, id: &str) -> anyhow::Result<Option<SmsMessage>>
        = run |db| common::get(db, tenant_id, id, false).await;

    /// A conversation's messages, newest first, before `(created_ms, id)` when given.
    fn messages(
        tenant_id: &str,
        conversation_id: &str,
        before: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<SmsMessage>>
        = run |db| messaging::messages(db, tenant_id, conversation_id, before, limit).await;

    fn update_message(
        actor: &Actor,
        id: &str,
        apply: Apply<SmsMessage>,
        now: OffsetDateTime,
    ) -> Result<Option<SmsMessage>, AppError>
        = write |tx| messaging::update_message(tx, actor, id, &apply, now).await;

    /// When a message may go by its number's pace, across every node (the slot it holds,
    /// or the number's next free one, which it then holds).
    fn reserve_send_slot(
        tenant_id: &str,
        message_id: &str,
        from: &str,
        interval_ms: i64,
        now: OffsetDateTime,
    ) -> anyhow::Result<OffsetDateTime>
        = write |tx| messaging::reserve_send_slot(tx, tenant_id, message_id, from, interval_ms, now).await;

    /// Gives up the pace slot a message holds (it waits for something else).
    fn release_send_slot(tenant_id: &str, message_id: &str) -> anyhow::Result<()>
        = run |db| messaging::release_send_slot(db, tenant_id, message_id).await;

    /// Claims up to `limit` messages due for the carrier at `now` for the worker `owner`,
    /// leasing them until `lease_until` so that no other node takes them meanwhile.
    fn claim_due_messages(
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        owner: &str,
        limit: usize,
    ) -> anyhow::Result<Vec<DueMessage>>
        = run |db| messaging::claim_due_messages(db, now, lease_until, owner, limit).await;

    /// Records that `owner` is about to hand a queued message to the provider, if it still
    /// holds the message's claim (`false`: another worker took it over; do not send). Until
    /// the outcome is recorded, the message waits until `recheck_at`, and is then reconciled
    /// with the provider by whichever worker claims it.
    fn begin_send(
        tenant_id: &str,
        id: &str,
        owner: &str,
        now: OffsetDateTime,
        recheck_at: OffsetDateTime,
    ) -> anyhow::Result<bool>
        = run |db| messaging::begin_send(db, tenant_id, id, owner, now, recheck_at).await;

    /// Records what the carrier said; ignored (returns `None`) when the status may not follow.
    fn carrier_update(
        tenant_id: &str,
        id: &str,
        update: CarrierUpdate,
        now: OffsetDateTime,
    ) -> anyhow::Result<Option<SmsMessage>>
        = write |tx| messaging::carrier_update(tx, tenant_id, id, update, now).await;

    /// Stores a call, finding its contact by the other party's number. With a SIP Call-ID the
    /// tenant has already posted, stores nothing and returns that record (`false`).
    fn create_call(actor: &Actor, call: Call, now: OffsetDateTime) -> Result<(Call, bool), AppError>
        = write |tx| entities::create_call(tx, actor, call, now).await;

    fn call(tenant_id: &str, id: &str) -> anyhow::Result<Option<Call>>
        = run |db| common::get(db, tenant_id, id, false).await;

    /// Newest first, before `(start_ms, id)` when given.
    fn list_calls(
        tenant_id: &str,
        filter: &CallFilter,
        before: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<Call>>
        = run |db| entities::list_calls(db, tenant_id, filter, before, limit).await;

    fn update_call(
        actor: &Actor,
        id: &str,
        apply: Apply<Call>,
        now: OffsetDateTime,
    ) -> Result<Option<Call>, AppError>
        = write |tx| common::update(tx, actor, id, &apply, now).await;

    /// Adds a note to a call's timeline; `None` without such a call in the tenant.
    fn add_call_note(
        actor: &Actor,
        note: CallNote,
        now: OffsetDateTime,
    ) -> Result<Option<CallNote>, AppError>
        = write |tx| entities::add_note(tx, actor, note, now).await;

    /// A call's notes, oldest first.
    fn call_notes(tenant_id: &str, call_id: &str, limit: usize) -> anyhow::Result<Vec<CallNote>>
        = run |db| entities::notes(db, tenant_id, call_id, limit).await;

    /// Adds an internal note to a conversation; `None` without it in the tenant.
    fn add_conversation_note(
        actor: &Actor,
        note: ConversationNote,
        now: OffsetDateTime,
    ) -> Result<Option<ConversationNote>, AppError>
        = write |tx| entities::add_note(tx, actor, note, now).await;

    /// A conversation's internal notes, oldest first.
    fn conversation_notes(
        tenant_id: &str,
        conversation_id: &str,
        limit: usize,
    ) -> anyhow::Result<Vec<ConversationNote>>
        = run |db| entities::notes(db, tenant_id, conversation_id, limit).await;

    /// Saves a call's wrap-up with its note and follow-up; `None` without the call.
    fn wrap_up_call(
        actor: &Actor,
        call_id: &str,
        wrap: WrapUp,
        now: OffsetDateTime,
    ) -> Result<Option<Call>, AppError>
        = write |tx| after_call::wrap_up(tx, actor, call_id, wrap, now).await;

    /// The tenant's dispositions in their order, archived ones too.
    fn dispositions(tenant_id: &str) -> anyhow::Result<Vec<Disposition>>
        = run |db| after_call::dispositions(db, tenant_id).await;

    /// Adds a disposition (at `position`, or after the others).
    fn create_disposition(
        actor: &Actor,
        disposition: Disposition,
        position: Option<u32>,
        now: OffsetDateTime,
    ) -> Result<Disposition, AppError>
        = write |tx| after_call::create_disposition(tx, actor, disposition, position, now).await;

    fn update_disposition(
        actor: &Actor,
        id: &str,
        apply: Apply<Disposition>,
        now: OffsetDateTime,
    ) -> Result<Option<Disposition>, AppError>
        = write |tx| after_call::update_disposition(tx, actor, id, &apply, now).await;

    /// Lists a number the tenant must not text: the entry and whether it is new (a listed
    /// number keeps its first entry).
    fn add_do_not_contact(
        actor: &Actor,
        entry: DoNotContactEntry,
        now: OffsetDateTime,
    ) -> Result<(DoNotContactEntry, bool), AppError>
        = write |tx| do_not_contact::add(tx, actor, entry, now).await;

    /// Lists many in one transaction: how many were new.
    fn import_do_not_contact(
        actor: &Actor,
        entries: Vec<DoNotContactEntry>,
        now: OffsetDateTime,
    ) -> Result<u32, AppError>
        = write |tx| do_not_contact::add_all(tx, actor, entries, now).await;

    /// The entry of a number (E.164), if the tenant must not text it.
    fn do_not_contact(tenant_id: &str, number: &str) -> anyhow::Result<Option<DoNotContactEntry>>
        = run |db| do_not_contact::find(db, tenant_id, number).await;

    /// A page of the list, in the order numbers were added (`query`: digits).
    fn list_do_not_contact(
        tenant_id: &str,
        query: Option<&str>,
        after: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<DoNotContactEntry>>
        = run |db| do_not_contact::list(db, tenant_id, query, after, limit).await;

    fn delete_do_not_contact(actor: &Actor, id: &str, now: OffsetDateTime) -> anyhow::Result<bool>
        = write |tx| common::delete::<DoNotContactEntry, _>(tx, actor, id, now).await;

    /// Takes a number off the list if an opt-out put it there.
    fn remove_opt_out(actor: &Actor, number: &str, now: OffsetDateTime) -> anyhow::Result<bool>
        = write |tx| do_not_contact::remove_opt_out(tx, actor, number, now).await;

    fn create_task(actor: &Actor, task: Task, now: OffsetDateTime) -> Result<(), AppError>
        = write |tx| common::create(tx, actor, &task, now).await;

    fn task(tenant_id: &str, id: &str) -> anyhow::Result<Option<Task>>
        = run |db| common::get(db, tenant_id, id, false).await;

    /// A page of tasks in creation order.
    fn list_tasks(
        tenant_id: &str,
        filter: &after_call::TaskFilter,
        after: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<Task>>
        = run |db| after_call::list_tasks(db, tenant_id, filter, after, limit).await;

    fn update_task(
        actor: &Actor,
        id: &str,
        apply: Apply<Task>,
        now: OffsetDateTime,
    ) -> Result<Option<Task>, AppError>
        = write |tx| common::update(tx, actor, id, &apply, now).await;

    /// The tenant's settings (defaults until first changed).
    fn settings(tenant_id: &str) -> anyhow::Result<TenantSettings>
        = run |db| after_call::settings(db, tenant_id).await;

    fn update_settings(
        actor: &Actor,
        apply: Apply<TenantSettings>,
        now: OffsetDateTime,
    ) -> Result<TenantSettings, AppError>
        = write |tx| after_call::update_settings(tx, actor, &apply, now).await;

    /// Stores a new campaign (its `stats` are not stored).
    fn create_campaign(
        actor: &Actor,
        campaign: SmsCampaign,
        now: OffsetDateTime,
    ) -> Result<SmsCampaign, AppError>
        = write |tx| {
            let campaign = SmsCampaign { stats: None, ..campaign };
            common::create(tx, actor, &campaign, now).await?;
            Ok(campaign)
        };

    /// A campaign with its live stats.
    fn campaign(tenant_id: &str, id: &str) -> anyhow::Result<Option<SmsCampaign>>
        = run |db| common::get(db, tenant_id, id, false).await;

    /// Oldest first, after `(created_ms, id)` when given; each with its live stats.
    fn list_campaigns(
        tenant_id: &str,
        filter: &CampaignFilter,
        after: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<SmsCampaign>>
        = run |db| {
            let params = vec![(&filter.status).into()];
            let condition = Some(entities::CAMPAIGN_FILTER);
            common::list(db, tenant_id, condition, params, after, limit).await
        };

    /// `apply` sees the campaign with its live stats.
    fn update_campaign(
        actor: &Actor,
        id: &str,
        apply: Apply<SmsCampaign>,
        now: OffsetDateTime,
    ) -> Result<Option<SmsCampaign>, AppError>
        = write |tx| common::update(tx, actor, id, &apply, now).await;

    /// Deletes a campaign and its list when `guard` allows; sent messages stay.
    fn delete_campaign(
        actor: &Actor,
        id: &str,
        guard: Guard<SmsCampaign>,
        now: OffsetDateTime,
    ) -> Result<bool, AppError>
        = write |tx| entities::delete_campaign(tx, actor, id, &guard, now).await;

    /// Adds numbers to a campaign's list when `guard` allows; numbers already on it are
    /// left alone. Returns (added, total on the list), `None` without such a campaign.
    fn add_recipients(
        actor: &Actor,
        campaign_id: &str,
        guard: Guard<SmsCampaign>,
        recipients: Vec<NewRecipient>,
        now: OffsetDateTime,
    ) -> Result<Option<(i64, i64)>, AppError>
        = write |tx|
            campaigns::add_recipients(tx, actor, campaign_id, &guard, &recipients, now).await;

    /// A campaign's list in the order it was added, after `(created_ms, id)` when given.
    fn recipients(
        tenant_id: &str,
        campaign_id: &str,
        after: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<CampaignRecipient>>
        = run |db| campaigns::recipients(db, tenant_id, campaign_id, after, limit).await;

    /// Removes a recipient not yet sent to, when `guard` allows (`Conflict` once queued).
    fn delete_recipient(
        actor: &Actor,
        campaign_id: &str,
        recipient_id: &str,
        guard: Guard<SmsCampaign>,
        now: OffsetDateTime,
    ) -> Result<bool, AppError>
        = write |tx|
            campaigns::delete_recipient(tx, actor, campaign_id, recipient_id, &guard, now).await;

    /// Every recipient of a campaign with its contact and do-not-contact entry.
    fn campaign_audience(tenant_id: &str, campaign_id: &str) -> anyhow::Result<Vec<AudienceMember>>
        = run |db| campaigns::audience(db, tenant_id, campaign_id).await;

    /// Every texted recipient of a campaign with its text's outcome.
    fn campaign_texted(tenant_id: &str, campaign_id: &str) -> anyhow::Result<Vec<TextedRecipient>>
        = run |db| campaigns::texted(db, tenant_id, campaign_id).await;

    /// The winner of a campaign's A/B test, decided now if it is not yet (once, across
    /// nodes: the campaign is locked while it is).
    fn decide_winner(
        tenant_id: &str,
        campaign_id: &str,
        now: OffsetDateTime,
    ) -> anyhow::Result<Option<String>>
        = write |tx| campaigns::decide_winner(tx, tenant_id, campaign_id, now).await;

    /// Whether the tenant has texted `number` before, and from which of its numbers last
    /// (`Some(None)`: only from numbers it no longer has).
    fn last_text_to(tenant_id: &str, number: &str) -> anyhow::Result<Option<Option<String>>>
        = run |db| campaigns::last_text_to(db, tenant_id, number).await;

    /// Starts scheduled campaigns whose time has come. Returns how many.
    fn start_due_campaigns(now: OffsetDateTime) -> anyhow::Result<usize>
        = write |tx| campaigns::start_due_campaigns(tx, now).await;

    /// Claims up to `limit` pending recipients of active campaigns, leased until `lease_until`.
    fn claim_campaign_recipients(
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> anyhow::Result<Vec<DueRecipient>>
        = write |tx| campaigns::claim_campaign_recipients(tx, now, lease_until, limit).await;

    fn finish_recipient(
        tenant_id: &str,
        recipient_id: &str,
        outcome: RecipientOutcome,
        now: OffsetDateTime,
    ) -> anyhow::Result<()>
        = run |db| campaigns::finish_recipient(db, tenant_id, recipient_id, outcome, now).await;

    /// Skips what stopped campaigns left pending, and completes active campaigns with
    /// nothing left to send. Returns how many campaigns it completed.
    fn finish_campaigns(now: OffsetDateTime) -> anyhow::Result<usize>
        = write |tx| campaigns::finish_campaigns(tx, now).await;

    /// The tenant's newest change-feed position (0 before any change).
    fn latest_change(tenant_id: &str) -> anyhow::Result<i64>
        = run |db| accounts::latest_change(db, tenant_id).await;

    /// From now on, tells `hub` which tenants have new changes (from any node).
    fn start_change_notifications(hub: Arc<ChangeHub>) -> anyhow::Result<()>
        = own |s| s.notify_changes(hub).await;

    /// Changes of the tenant with `seq > since`, oldest first, at most `limit`, each with
    /// whose work it is about (for the caller's scope).
    fn changes(tenant_id: &str, since: i64, limit: usize) -> anyhow::Result<Vec<FeedEntry>>
        = run |db| accounts::changes(db, tenant_id, since, limit).await;

    /// Audit rows of the tenant, newest first, before `(at_ms, id)` when given.
    fn audit_log(
        tenant_id: &str,
        before: Option<&After>,
        limit: usize,
    ) -> anyhow::Result<Vec<AuditEntry>>
        = run |db| accounts::audit_log(db, tenant_id, before, limit).await;
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
        "held" => {
            stats.pending += n;
            stats.held += n;
        }
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
