//! The storage trait of the cloud. Implementations: SQLite (embedded default)
//! and PostgreSQL (tokio-postgres). Methods that touch a tenant's
//! data take the tenant explicitly.

pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use time::OffsetDateTime;
use upzento_domain::wire::Role;

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
}
