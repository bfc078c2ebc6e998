//! SQLite storage: one file in WAL mode, one connection behind a mutex, every
//! call on the blocking pool. (A pool of readers comes with the load benchmark.)

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, anyhow};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;
use upzento_domain::wire::Role;

use super::{NewToken, NewUser, Store, Tenant, TokenKind, User};

/// Migrations in order; `PRAGMA user_version` counts the applied ones.
const MIGRATIONS: &[&str] = &[include_str!("../../migrations/sqlite/0001_init.sql")];

#[derive(Debug, Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
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

/// Times are stored as Unix milliseconds: compact, and ordered as integers.
fn ts(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
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

fn parse_role(s: &str) -> rusqlite::Result<Role> {
    match s {
        "admin" => Ok(Role::Admin),
        "agent" => Ok(Role::Agent),
        other => Err(rusqlite::Error::InvalidColumnType(
            0,
            format!("role {other}"),
            rusqlite::types::Type::Text,
        )),
    }
}

fn user_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get("id")?,
        tenant_id: row.get("tenant_id")?,
        name: row.get("name")?,
        email: row.get("email")?,
        role: parse_role(&row.get::<_, String>("role")?)?,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_tenant(&self, name: &str, now: OffsetDateTime) -> anyhow::Result<Tenant> {
        let tenant = Tenant {
            id: new_id(),
            name: name.to_owned(),
        };
        let row = tenant.clone();
        self.with(move |c| {
            c.execute(
                "INSERT INTO tenant (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![row.id, row.name, ts(now)],
            )?;
            Ok(())
        })
        .await?;
        Ok(tenant)
    }

    async fn tenant(&self, id: &str) -> anyhow::Result<Option<Tenant>> {
        let id = id.to_owned();
        self.with(move |c| {
            Ok(
                c.query_row("SELECT id, name FROM tenant WHERE id = ?1", [id], |r| {
                    Ok(Tenant {
                        id: r.get(0)?,
                        name: r.get(1)?,
                    })
                })
                .optional()?,
            )
        })
        .await
    }

    async fn create_user(&self, user: NewUser, now: OffsetDateTime) -> anyhow::Result<User> {
        let id = new_id();
        let created = User {
            id: id.clone(),
            tenant_id: user.tenant_id.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            role: user.role,
        };
        self.with(move |c| {
            c.execute(
                "INSERT INTO app_user (id, tenant_id, name, email, role, password_hash, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    user.tenant_id,
                    user.name,
                    user.email,
                    role_str(user.role),
                    user.password_hash,
                    ts(now)
                ],
            )?;
            Ok(())
        })
        .await?;
        Ok(created)
    }

    async fn user_for_sign_in(
        &self,
        email: &str,
    ) -> anyhow::Result<Option<(User, Option<String>)>> {
        let email = email.to_owned();
        self.with(move |c| {
            Ok(c.query_row(
                "SELECT id, tenant_id, name, email, role, password_hash FROM app_user
                 WHERE lower(email) = lower(?1)",
                [email],
                |r| Ok((user_from_row(r)?, r.get("password_hash")?)),
            )
            .optional()?)
        })
        .await
    }

    async fn insert_token(&self, token: NewToken, now: OffsetDateTime) -> anyhow::Result<()> {
        self.with(move |c| {
            let expires = token.expires_at.map(ts);
            let kind = match token.kind {
                TokenKind::Session => "session",
                TokenKind::Api => "api",
            };
            c.execute(
                "INSERT INTO api_token (token_hash, user_id, tenant_id, kind, label, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![token.hash, token.user_id, token.tenant_id, kind, token.label, ts(now), expires],
            )?;
            Ok(())
        })
        .await
    }

    async fn token_owner(
        &self,
        hash: &[u8],
        now: OffsetDateTime,
    ) -> anyhow::Result<Option<(User, Tenant)>> {
        let hash = hash.to_vec();
        self.with(move |c| {
            let row = c
                .query_row(
                    "SELECT u.id, u.tenant_id, u.name, u.email, u.role, t.name AS tenant_name,
                            k.expires_at
                     FROM api_token k
                     JOIN app_user u ON u.id = k.user_id AND u.tenant_id = k.tenant_id
                     JOIN tenant t ON t.id = k.tenant_id
                     WHERE k.token_hash = ?1",
                    [hash],
                    |r| {
                        let user = user_from_row(r)?;
                        let tenant = Tenant {
                            id: user.tenant_id.clone(),
                            name: r.get("tenant_name")?,
                        };
                        Ok((user, tenant, r.get::<_, Option<i64>>("expires_at")?))
                    },
                )
                .optional()?;
            let Some((user, tenant, expires)) = row else {
                return Ok(None);
            };
            if let Some(expires) = expires
                && expires <= ts(now)
            {
                return Ok(None);
            }
            Ok(Some((user, tenant)))
        })
        .await
    }
}
