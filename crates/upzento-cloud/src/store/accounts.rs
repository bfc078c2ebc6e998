//! Tenants, their users and tokens, and the reading of the change feed and the audit
//! log, written once for both backends.

use time::OffsetDateTime;
use upzento_domain::resources::{AuditEntry, Change, ChangeOp};
use upzento_domain::wire::{ApiTokenInfo, Role};

use serde_json::Value;

use super::FeedEntry;
use super::common::new_id;
use super::sql::{Db, Row};
use super::{Actor, After, NewToken, NewUser, Tenant, TokenKind, User};
use crate::clock;

pub(super) fn role_str(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Supervisor => "supervisor",
        Role::Agent => "agent",
    }
}

pub(super) fn parse_role(role: &str) -> anyhow::Result<Role> {
    Ok(match role {
        "admin" => Role::Admin,
        "supervisor" => Role::Supervisor,
        "agent" => Role::Agent,
        other => anyhow::bail!("unknown role {other}"),
    })
}

pub(super) fn user_from_row(r: &Row<'_>) -> anyhow::Result<User> {
    let role: String = r.get("role")?;
    Ok(User {
        id: r.get("id")?,
        tenant_id: r.get("tenant_id")?,
        name: r.get("name")?,
        email: r.get("email")?,
        role: parse_role(&role)?,
        password_change_required: r.get("password_change_required")?,
        active: r.get::<Option<OffsetDateTime>>("deactivated_at")?.is_none(),
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
        "INSERT INTO app_user (id, tenant_id, name, email, role, password_hash, created_at,
             password_change_required)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            id.as_str().into(),
            user.tenant_id.as_str().into(),
            user.name.as_str().into(),
            user.email.as_str().into(),
            role_str(user.role).into(),
            (&user.password_hash).into(),
            now.into(),
            user.password_change_required.into(),
        ],
    )
    .await?;
    Ok(User {
        id,
        tenant_id: user.tenant_id,
        name: user.name,
        email: user.email,
        role: user.role,
        password_change_required: user.password_change_required,
        active: true,
    })
}

/// The user with this email (any case), and their password hash.
pub async fn user_for_sign_in<D: Db>(
    db: &D,
    email: &str,
) -> anyhow::Result<Option<(User, Option<String>)>> {
    // A disabled tenant's users are not there to sign in (told apart from a wrong
    // password by nobody: no enumeration).
    db.row(
        "SELECT u.id AS id, u.tenant_id AS tenant_id, u.name AS name, u.email AS email,
                u.role AS role, u.password_hash AS password_hash,
                u.password_change_required AS password_change_required,
                u.deactivated_at AS deactivated_at
         FROM app_user u JOIN tenant t ON t.id = u.tenant_id
         WHERE lower(u.email) = lower($1) AND t.disabled_at IS NULL
           AND u.deactivated_at IS NULL",
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
                u.role AS role, u.password_change_required AS password_change_required,
                u.deactivated_at AS deactivated_at, t.name AS tenant_name
         FROM api_token k
         JOIN app_user u ON u.id = k.user_id AND u.tenant_id = k.tenant_id
         JOIN tenant t ON t.id = k.tenant_id
         WHERE k.token_hash = $1 AND (k.expires_at IS NULL OR k.expires_at > $2)
           AND t.disabled_at IS NULL AND u.deactivated_at IS NULL",
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
    super::common::audit(db, actor, action, (entity, entity_id), None, None, now).await
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
        "SELECT id, tenant_id, name, email, role, password_change_required, deactivated_at
         FROM app_user WHERE tenant_id = $1 ORDER BY lower(name), id",
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
) -> anyhow::Result<Vec<FeedEntry>> {
    db.rows(
        "SELECT seq, entity, entity_id, op, data, changed_at, audience FROM change_log
         WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        &[tenant_id.into(), since.into(), i64::try_from(limit)?.into()],
        |r| {
            let op: String = r.get("op")?;
            let audience: Option<Value> = r.get("audience")?;
            let change = Change {
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
                entered_scope: false,
            };
            Ok(FeedEntry {
                change,
                audience: audience.map(serde_json::from_value).transpose()?,
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

/// A tenant as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSummary {
    pub id: String,
    pub name: String,
    pub created_at: OffsetDateTime,
    pub users: i64,
    pub disabled_at: Option<OffsetDateTime>,
}

/// Every tenant, oldest first, with its number of users.
pub async fn tenants<D: Db>(db: &D) -> anyhow::Result<Vec<TenantSummary>> {
    db.rows(
        "SELECT t.id AS id, t.name AS name, t.created_at AS created_at,
                t.disabled_at AS disabled_at,
                (SELECT COUNT(*) FROM app_user u WHERE u.tenant_id = t.id) AS users
         FROM tenant t ORDER BY t.created_at, t.id",
        &[],
        |r| {
            Ok(TenantSummary {
                id: r.get("id")?,
                name: r.get("name")?,
                created_at: r.get("created_at")?,
                users: r.get("users")?,
                disabled_at: r.get("disabled_at")?,
            })
        },
    )
    .await
}

/// Whether the tenant is disabled.
pub async fn tenant_disabled<D: Db>(db: &D, id: &str) -> anyhow::Result<bool> {
    Ok(db
        .row(
            "SELECT id FROM tenant WHERE id = $1 AND disabled_at IS NOT NULL",
            &[id.into()],
            |r| r.get::<String>("id"),
        )
        .await?
        .is_some())
}

/// Disables (at `now`) or enables (`None`) a tenant; `false` without it. Disabling pauses
/// its active campaigns (each change audited and in its feed, by the operator): enabling
/// leaves them paused for the tenant's admins to resume.
pub async fn set_tenant_disabled<D: Db>(
    db: &D,
    id: &str,
    disabled_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<bool, crate::error::AppError> {
    let changed = db
        .execute(
            "UPDATE tenant SET disabled_at = $2 WHERE id = $1",
            &[id.into(), disabled_at.into()],
        )
        .await?;
    if changed == 0 {
        return Ok(false);
    }
    let operator = Actor {
        tenant_id: id.to_owned(),
        user_id: OPERATOR_ACTOR.to_owned(),
    };
    audit_event(
        db,
        &operator,
        if disabled_at.is_some() {
            "disable"
        } else {
            "enable"
        },
        "tenant",
        id,
        now,
    )
    .await?;
    if disabled_at.is_some() {
        super::campaigns::pause_active(db, &operator, now).await?;
    }
    Ok(true)
}

/// Who the audit log names for what the cloud's operator did from the command line.
pub const OPERATOR_ACTOR: &str = "operator";

/// Replaces the actor's password hash, clears "change required", and ends every other
/// token of theirs (a password changed because it leaked must not leave a way in).
pub async fn set_password<D: Db>(
    db: &D,
    actor: &Actor,
    password_hash: &str,
    keep: &[u8],
    now: OffsetDateTime,
) -> anyhow::Result<()> {
    db.execute(
        "UPDATE app_user SET password_hash = $3, password_change_required = $4
         WHERE tenant_id = $1 AND id = $2",
        &[
            actor.tenant_id.as_str().into(),
            actor.user_id.as_str().into(),
            password_hash.into(),
            false.into(),
        ],
    )
    .await?;
    db.execute(
        "DELETE FROM api_token WHERE tenant_id = $1 AND user_id = $2 AND token_hash <> $3",
        &[
            actor.tenant_id.as_str().into(),
            actor.user_id.as_str().into(),
            keep.into(),
        ],
    )
    .await?;
    audit_event(db, actor, "change_password", "user", &actor.user_id, now).await
}

pub async fn sign_in_failures<D: Db>(
    db: &D,
    email: &str,
    since: OffsetDateTime,
) -> anyhow::Result<i64> {
    Ok(db
        .row(
            "SELECT COUNT(*) AS failures FROM sign_in_failure WHERE email = $1 AND at >= $2",
            &[email.to_lowercase().into(), since.into()],
            |r| r.get("failures"),
        )
        .await?
        .unwrap_or(0))
}

pub async fn record_sign_in_failure<D: Db>(
    db: &D,
    email: &str,
    now: OffsetDateTime,
    forget_before: OffsetDateTime,
) -> anyhow::Result<()> {
    db.execute(
        "DELETE FROM sign_in_failure WHERE at < $1",
        &[forget_before.into()],
    )
    .await?;
    db.execute(
        "INSERT INTO sign_in_failure (id, email, at) VALUES ($1, $2, $3)",
        &[new_id().into(), email.to_lowercase().into(), now.into()],
    )
    .await?;
    Ok(())
}

pub async fn clear_sign_in_failures<D: Db>(db: &D, email: &str) -> anyhow::Result<()> {
    db.execute(
        "DELETE FROM sign_in_failure WHERE email = $1",
        &[email.to_lowercase().into()],
    )
    .await?;
    Ok(())
}

/// What an admin changes about a user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChange {
    pub role: Option<Role>,
    pub active: Option<bool>,
    /// Deactivating: who takes over their open conversations and their calls to follow
    /// up (`None`: nobody; they wait unassigned).
    pub reassign_to: Option<String>,
}

/// See [`crate::store::Store::update_user`].
pub async fn update_user<D: Db>(
    db: &D,
    actor: &Actor,
    user_id: &str,
    change: UserChange,
    now: OffsetDateTime,
) -> Result<Option<User>, crate::error::AppError> {
    let users = tenant_users(db, &actor.tenant_id).await?;
    let Some(before) = users.iter().find(|u| u.id == user_id).cloned() else {
        return Ok(None);
    };
    let role = change.role.unwrap_or(before.role);
    let active = change.active.unwrap_or(before.active);
    let admins_left = users
        .iter()
        .filter(|u| u.active && u.role == Role::Admin && u.id != user_id)
        .count();
    if before.active
        && before.role == Role::Admin
        && (!active || role != Role::Admin)
        && admins_left == 0
    {
        return Err(crate::error::AppError::Conflict {
            code: "last_admin",
            message: "A tenant keeps at least one active admin: make someone else admin first."
                .into(),
            field: None,
        });
    }
    let deactivated: Option<OffsetDateTime> = (!active).then_some(now);
    db.execute(
        "UPDATE app_user SET role = $3, deactivated_at = $4 WHERE tenant_id = $1 AND id = $2",
        &[
            actor.tenant_id.as_str().into(),
            user_id.into(),
            role_str(role).into(),
            deactivated.into(),
        ],
    )
    .await?;
    if role != before.role {
        audit_event(
            db,
            actor,
            &format!("role_{}", role_str(role)),
            "user",
            user_id,
            now,
        )
        .await?;
        // Their apps sign in again, and so learn what the new role may do and see.
        db.execute(
            "DELETE FROM api_token WHERE tenant_id = $1 AND user_id = $2 AND kind = 'session'",
            &[actor.tenant_id.as_str().into(), user_id.into()],
        )
        .await?;
    }
    if active != before.active {
        let action = if active { "reactivate" } else { "deactivate" };
        audit_event(db, actor, action, "user", user_id, now).await?;
    }
    if before.active && !active {
        // Their sessions and API tokens end now.
        db.execute(
            "DELETE FROM api_token WHERE tenant_id = $1 AND user_id = $2",
            &[actor.tenant_id.as_str().into(), user_id.into()],
        )
        .await?;
        super::entities::reassign_work(db, actor, user_id, change.reassign_to.as_deref(), now)
            .await?;
        super::teams::leave_teams(db, actor, user_id, now).await?;
    }
    Ok(Some(User {
        role,
        active,
        ..before
    }))
}
