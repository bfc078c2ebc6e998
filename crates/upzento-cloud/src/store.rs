//! The storage trait of the cloud. Implementations: SQLite (embedded default)
//! and PostgreSQL (tokio-postgres). Methods that touch a tenant's
//! data take the tenant explicitly.

pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;
use upzento_domain::resources::{AuditEntry, Change, PhoneNumber, SmsTemplate};
use upzento_domain::wire::Role;

use crate::error::AppError;

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

/// The change a PATCH makes, applied to the current record inside the store's transaction.
pub type Apply<T> = Arc<dyn Fn(&T) -> Result<T, AppError> + Send + Sync>;

/// Entity names in the change feed and the audit log.
pub mod entity {
    pub const PHONE_NUMBER: &str = "phoneNumber";
    pub const SMS_TEMPLATE: &str = "smsTemplate";
}

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
    /// Whether `user_id` is a user of `tenant_id`.
    async fn user_in_tenant(&self, tenant_id: &str, user_id: &str) -> anyhow::Result<bool>;

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
