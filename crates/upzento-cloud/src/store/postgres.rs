//! PostgreSQL storage (tokio-postgres + deadpool). Several server processes can
//! share one database: nothing here keeps state between requests, and
//! migrations run under an advisory lock so nodes starting together do not race.

use anyhow::Context;
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use time::OffsetDateTime;
use tokio_postgres::{NoTls, Row};
use upzento_domain::wire::Role;

use super::{NewToken, NewUser, Store, Tenant, TokenKind, User};

const MIGRATIONS: &[&str] = &[include_str!("../../migrations/postgres/0001_init.sql")];
/// Key of the advisory lock held while migrating (any constant unique to us).
const MIGRATION_LOCK: i64 = 0x5550_5a45_4e54_4f01;

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: Pool,
}

impl PgStore {
    /// Connects to `url` (postgres://user:password@host:port/database) and migrates.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let config: tokio_postgres::Config = url.parse().context("invalid PostgreSQL URL")?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .build()
            .context("PostgreSQL pool")?;
        let store = Self { pool };
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
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn role_str(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Agent => "agent",
    }
}

fn user_from_row(row: &Row) -> anyhow::Result<User> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        role: match role.as_str() {
            "admin" => Role::Admin,
            "agent" => Role::Agent,
            other => anyhow::bail!("unknown role {other}"),
        },
    })
}

#[async_trait]
impl Store for PgStore {
    async fn create_tenant(&self, name: &str, now: OffsetDateTime) -> anyhow::Result<Tenant> {
        let tenant = Tenant {
            id: new_id(),
            name: name.to_owned(),
        };
        self.client()
            .await?
            .execute(
                "INSERT INTO tenant (id, name, created_at) VALUES ($1, $2, $3)",
                &[&tenant.id, &tenant.name, &now],
            )
            .await?;
        Ok(tenant)
    }

    async fn tenant(&self, id: &str) -> anyhow::Result<Option<Tenant>> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT id, name FROM tenant WHERE id = $1", &[&id])
            .await?;
        Ok(row.map(|r| Tenant {
            id: r.get(0),
            name: r.get(1),
        }))
    }

    async fn create_user(&self, user: NewUser, now: OffsetDateTime) -> anyhow::Result<User> {
        let id = new_id();
        self.client()
            .await?
            .execute(
                "INSERT INTO app_user (id, tenant_id, name, email, role, password_hash, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &id,
                    &user.tenant_id,
                    &user.name,
                    &user.email,
                    &role_str(user.role),
                    &user.password_hash,
                    &now,
                ],
            )
            .await?;
        Ok(User {
            id,
            tenant_id: user.tenant_id,
            name: user.name,
            email: user.email,
            role: user.role,
        })
    }

    async fn user_for_sign_in(
        &self,
        email: &str,
    ) -> anyhow::Result<Option<(User, Option<String>)>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT id, tenant_id, name, email, role, password_hash FROM app_user
                 WHERE lower(email) = lower($1)",
                &[&email],
            )
            .await?;
        row.map(|r| Ok((user_from_row(&r)?, r.try_get("password_hash")?)))
            .transpose()
    }

    async fn insert_token(&self, token: NewToken, now: OffsetDateTime) -> anyhow::Result<()> {
        let kind = match token.kind {
            TokenKind::Session => "session",
            TokenKind::Api => "api",
        };
        self.client()
            .await?
            .execute(
                "INSERT INTO api_token (token_hash, user_id, tenant_id, kind, label, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &token.hash,
                    &token.user_id,
                    &token.tenant_id,
                    &kind,
                    &token.label,
                    &now,
                    &token.expires_at,
                ],
            )
            .await?;
        Ok(())
    }

    async fn token_owner(
        &self,
        hash: &[u8],
        now: OffsetDateTime,
    ) -> anyhow::Result<Option<(User, Tenant)>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT u.id, u.tenant_id, u.name, u.email, u.role, t.name AS tenant_name
                 FROM api_token k
                 JOIN app_user u ON u.id = k.user_id AND u.tenant_id = k.tenant_id
                 JOIN tenant t ON t.id = k.tenant_id
                 WHERE k.token_hash = $1 AND (k.expires_at IS NULL OR k.expires_at > $2)",
                &[&hash, &now],
            )
            .await?;
        row.map(|r| {
            let user = user_from_row(&r)?;
            let tenant = Tenant {
                id: user.tenant_id.clone(),
                name: r.try_get("tenant_name")?,
            };
            Ok((user, tenant))
        })
        .transpose()
    }
}
