//! Tenants, their users and tokens, and the reading of the change feed and the audit
//! log, written once for both backends.

use time::OffsetDateTime;
use upzento_domain::resources::{AuditEntry, Change, ChangeOp};
use upzento_domain::wire::{ApiTokenInfo, Role};

use super::common::new_id;
use super::sql::{Db, Row};
use super::{Actor, After, NewToken, NewUser, Tenant, TokenKind, User};
use crate::clock;

fn role_str(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Agent => "agent",
    }
}

fn user_from_row(r: &Row<'_>) -> anyhow::Result<User> {
    let role: String = r.get("role")?;
    Ok(User {
        id: r.get("id")?,
        tenant_id: r.get("tenant_id")?,
        name: r.get("name")?,
        email: r.get("email")?,
        role: match role.as_str() {
            "admin" => Role::Admin,
            "agent" => Role::Agent,
            other => anyhow::bail!("unknown role {other}"),
        },
    })
}

pub async fn create_tenant<D: Db>(
    db: &D,
    name: &str,
    now: OffsetDateTime,
) -> anyhow::Result<Tenant> {
    let tenant = Tenant {
        id: new_id(),
        name: name.to_owned(),
    };
    db.execute(
        "INSERT INTO tenant (id, name, created_at) VALUES ($1, $2, $3)",
        &[tenant.id.as_str().into(), name.into(), now.into()],
    )
    .await?;
    Ok(tenant)
}

pub async fn tenant<D: Db>(db: &D, id: &str) -> anyhow::Result<Option<Tenant>> {
    db.row(
        "SELECT id, name FROM tenant WHERE id = $1",
        &[id.into()],
        |r| {
            Ok(Tenant {
                id: r.get("id")?,
                name: r.get("name")?,
            })
        },
    )
    .await
}

pub async fn create_user<D: Db>(
    db: &D,
    user: NewUser,
    now: OffsetDateTime,
) -> anyhow::Result<User> {
    let id = new_id();
    db.execute(
        "INSERT INTO app_user (id, tenant_id, name, email, role, password_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            id.as_str().into(),
            user.tenant_id.as_str().into(),
            user.name.as_str().into(),
            user.email.as_str().into(),
            role_str(user.role).into(),
            (&user.password_hash).into(),
            now.into(),
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

/// The user with this email (any case), and their password hash.
pub async fn user_for_sign_in<D: Db>(
    db: &D,
    email: &str,
) -> anyhow::Result<Option<(User, Option<String>)>> {
    db.row(
        "SELECT id, tenant_id, name, email, role, password_hash FROM app_user
         WHERE lower(email) = lower($1)",
        &[email.into()],
        |r| Ok((user_from_row(r)?, r.get("password_hash")?)),
    )
    .await
}

pub async fn insert_token<D: Db>(
    db: &D,
    token: NewToken,
    now: OffsetDateTime,
) -> anyhow::Result<()> {
    let kind = match token.kind {
        TokenKind::Session => "session",
        TokenKind::Api => "api",
    };
    db.execute(
        "INSERT INTO api_token (token_hash, user_id, tenant_id, kind, label, created_at, expires_at, id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            token.hash.as_slice().into(),
            token.user_id.as_str().into(),
            token.tenant_id.as_str().into(),
            kind.into(),
            (&token.label).into(),
            now.into(),
            token.expires_at.into(),
            token.id.as_str().into(),
        ],
    )
    .await?;
    Ok(())
}

/// Whose unexpired token hashes to `hash`, and their tenant.
pub async fn token_owner<D: Db>(
    db: &D,
    hash: &[u8],
    now: OffsetDateTime,
) -> anyhow::Result<Option<(User, Tenant)>> {
    db.row(
        "SELECT u.id AS id, u.tenant_id AS tenant_id, u.name AS name, u.email AS email,
                u.role AS role, t.name AS tenant_name
         FROM api_token k
         JOIN app_user u ON u.id = k.user_id AND u.tenant_id = k.tenant_id
         JOIN tenant t ON t.id = k.tenant_id
         WHERE k.token_hash = $1 AND (k.expires_at IS NULL OR k.expires_at > $2)",
        &[hash.into(), now.into()],
        |r| {
            let user = user_from_row(r)?;
            let tenant = Tenant {
                id: user.tenant_id.clone(),
                name: r.get("tenant_name")?,
            };
            Ok((user, tenant))
        },
    )
    .await
}

/// An audit row for something that is not a write of a record (a sign-in, a token).
pub async fn audit_event<D: Db>(
    db: &D,
    actor: &Actor,
    action: &str,
    entity: &str,
    entity_id: &str,
    now: OffsetDateTime,
) -> anyhow::Result<()> {
    db.execute(
        "INSERT INTO audit_log (id, tenant_id, actor_id, action, entity, entity_id, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            new_id().into(),
            actor.tenant_id.as_str().into(),
            actor.user_id.as_str().into(),
            action.into(),
            entity.into(),
            entity_id.into(),
            now.into(),
        ],
    )
    .await?;
    Ok(())
}

/// The tenant's API tokens (of one user when given).
pub async fn list_api_tokens<D: Db>(
    db: &D,
    tenant_id: &str,
    user_id: Option<&str>,
) -> anyhow::Result<Vec<ApiTokenInfo>> {
    db.rows(
        "SELECT id, label, user_id, created_at FROM api_token
         WHERE tenant_id = $1 AND kind = 'api' AND (CAST($2 AS TEXT) IS NULL OR user_id = $2)
         ORDER BY created_at, id",
        &[tenant_id.into(), user_id.into()],
        |r| {
            Ok(ApiTokenInfo {
                id: r.get("id")?,
                label: r.get::<Option<String>>("label")?.unwrap_or_default(),
                user_id: r.get("user_id")?,
                created_at: clock::rfc3339(r.get("created_at")?),
            })
        },
    )
    .await
}

pub async fn revoke_api_token<D: Db>(
    db: &D,
    tenant_id: &str,
    user_id: Option<&str>,
    id: &str,
) -> anyhow::Result<bool> {
    Ok(db
        .execute(
            "DELETE FROM api_token
             WHERE tenant_id = $1 AND kind = 'api' AND id = $3
               AND (CAST($2 AS TEXT) IS NULL OR user_id = $2)",
            &[tenant_id.into(), user_id.into(), id.into()],
        )
        .await?
        > 0)
}

pub async fn revoke_token<D: Db>(db: &D, hash: &[u8]) -> anyhow::Result<bool> {
    Ok(db
        .execute(
            "DELETE FROM api_token WHERE token_hash = $1",
            &[hash.into()],
        )
        .await?
        > 0)
}

pub async fn tenant_users<D: Db>(db: &D, tenant_id: &str) -> anyhow::Result<Vec<User>> {
    db.rows(
        "SELECT id, tenant_id, name, email, role FROM app_user
         WHERE tenant_id = $1 ORDER BY lower(name), id",
        &[tenant_id.into()],
        user_from_row,
    )
    .await
}

pub async fn user_in_tenant<D: Db>(db: &D, tenant_id: &str, user_id: &str) -> anyhow::Result<bool> {
    Ok(db
        .row(
            "SELECT 1 AS found FROM app_user WHERE tenant_id = $1 AND id = $2",
            &[tenant_id.into(), user_id.into()],
            |_| Ok(()),
        )
        .await?
        .is_some())
}

/// The tenant's newest change-feed sequence number.
pub async fn latest_change<D: Db>(db: &D, tenant_id: &str) -> anyhow::Result<i64> {
    Ok(db
        .row(
            "SELECT change_seq FROM tenant WHERE id = $1",
            &[tenant_id.into()],
            |r| r.get("change_seq"),
        )
        .await?
        .unwrap_or(0))
}

/// The tenant's changes after `since`, in order.
pub async fn changes<D: Db>(
    db: &D,
    tenant_id: &str,
    since: i64,
    limit: usize,
) -> anyhow::Result<Vec<Change>> {
    db.rows(
        "SELECT seq, entity, entity_id, op, data, changed_at FROM change_log
         WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        &[tenant_id.into(), since.into(), i64::try_from(limit)?.into()],
        |r| {
            let op: String = r.get("op")?;
            Ok(Change {
                seq: r.get("seq")?,
                entity: r.get("entity")?,
                id: r.get("entity_id")?,
                op: if op == "delete" {
                    ChangeOp::Delete
                } else {
                    ChangeOp::Upsert
                },
                data: r.get("data")?,
                changed_at: clock::rfc3339(r.get("changed_at")?),
            })
        },
    )
    .await
}

/// A page of the tenant's audit log, newest first.
pub async fn audit_log<D: Db>(
    db: &D,
    tenant_id: &str,
    before: Option<&After>,
    limit: usize,
) -> anyhow::Result<Vec<AuditEntry>> {
    let (before_at, before_id) = before.map_or(
        (
            time::macros::datetime!(9999-12-31 23:59:59 UTC),
            String::new(),
        ),
        |a| (clock::from_ms(a.created_at_ms), a.id.clone()),
    );
    db.rows(
        "SELECT id, actor_id, action, entity, entity_id, before, after, at FROM audit_log
         WHERE tenant_id = $1 AND (at < $2 OR (at = $2 AND id < $3))
         ORDER BY at DESC, id DESC LIMIT $4",
        &[
            tenant_id.into(),
            before_at.into(),
            before_id.into(),
            i64::try_from(limit)?.into(),
        ],
        |r| {
            Ok(AuditEntry {
                id: r.get("id")?,
                actor_id: r.get("actor_id")?,
                action: r.get("action")?,
                entity: r.get("entity")?,
                entity_id: r.get("entity_id")?,
                before: r.get("before")?,
                after: r.get("after")?,
                at: clock::rfc3339(r.get("at")?),
            })
        },
    )
    .await
}
