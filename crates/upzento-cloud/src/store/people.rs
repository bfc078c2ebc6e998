//! People around the users: invitations, sessions and presence, written once for both
//! backends.

use time::OffsetDateTime;
use upzento_domain::resources::entity;
use upzento_domain::wire::{
    InvitationInfo, InvitationStatus, Presence, PresenceStatus, Role, SessionInfo,
};

use super::accounts::{audit_event, create_user, parse_role, role_str};
use super::common::{new_id, record_change, to_json};
use super::sql::{Db, Row, is_unique_violation};
use super::{Actor, NewUser, Tenant, User};
use crate::clock;
use crate::error::AppError;

/// An invitation to be stored: its code only as a hash.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    pub email: String,
    pub role: Role,
    pub code_hash: Vec<u8>,
    pub expires_at: OffsetDateTime,
}

const INVITATION_COLUMNS: &str =
    "id, email, role, invited_by, created_at, expires_at, accepted_at, revoked_at";

fn invitation_from_row(r: &Row<'_>, now: OffsetDateTime) -> anyhow::Result<InvitationInfo> {
    let expires_at: OffsetDateTime = r.get("expires_at")?;
    let status = if r.get::<Option<OffsetDateTime>>("accepted_at")?.is_some() {
        InvitationStatus::Accepted
    } else if r.get::<Option<OffsetDateTime>>("revoked_at")?.is_some() {
        InvitationStatus::Revoked
    } else if expires_at <= now {
        InvitationStatus::Expired
    } else {
        InvitationStatus::Pending
    };
    Ok(InvitationInfo {
        id: r.get("id")?,
        email: r.get("email")?,
        role: parse_role(&r.get::<String>("role")?)?,
        status,
        invited_by: r.get("invited_by")?,
        created_at: clock::rfc3339(r.get("created_at")?),
        expires_at: clock::rfc3339(expires_at),
    })
}

fn email_taken() -> AppError {
    AppError::Conflict {
        code: "email_taken",
        message: "Someone already signs in with this email.".into(),
        field: Some("email".into()),
    }
}

/// Invites `email`: refused when it already signs in, or has an invitation still waiting
/// (resend that one).
pub async fn create_invitation<D: Db>(
    db: &D,
    actor: &Actor,
    invitation: NewInvitation,
    now: OffsetDateTime,
) -> Result<InvitationInfo, AppError> {
    let taken = db
        .row(
            "SELECT id FROM app_user WHERE lower(email) = lower($1)",
            &[invitation.email.as_str().into()],
            |r| r.get::<String>("id"),
        )
        .await?;
    if taken.is_some() {
        return Err(email_taken());
    }
    let waiting = db
        .row(
            "SELECT id FROM invitation
             WHERE tenant_id = $1 AND lower(email) = lower($2) AND accepted_at IS NULL
               AND revoked_at IS NULL AND expires_at > $3",
            &[
                actor.tenant_id.as_str().into(),
                invitation.email.as_str().into(),
                now.into(),
            ],
            |r| r.get::<String>("id"),
        )
        .await?;
    if waiting.is_some() {
        return Err(AppError::Conflict {
            code: "already_invited",
            message: "This email has an invitation waiting: resend it instead.".into(),
            field: Some("email".into()),
        });
    }
    let id = new_id();
    db.execute(
        "INSERT INTO invitation (id, tenant_id, email, role, code_hash, invited_by, created_at,
             expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            id.as_str().into(),
            actor.tenant_id.as_str().into(),
            invitation.email.as_str().into(),
            role_str(invitation.role).into(),
            invitation.code_hash.as_slice().into(),
            actor.user_id.as_str().into(),
            now.into(),
            invitation.expires_at.into(),
        ],
    )
    .await?;
    audit_event(db, actor, "invite", entity::INVITATION, &id, now).await?;
    Ok(InvitationInfo {
        id,
        email: invitation.email,
        role: invitation.role,
        status: InvitationStatus::Pending,
        invited_by: actor.user_id.clone(),
        created_at: clock::rfc3339(now),
        expires_at: clock::rfc3339(invitation.expires_at),
    })
}

/// The tenant's invitations, newest first.
pub async fn invitations<D: Db>(
    db: &D,
    tenant_id: &str,
    now: OffsetDateTime,
) -> anyhow::Result<Vec<InvitationInfo>> {
    db.rows(
        &format!(
            "SELECT {INVITATION_COLUMNS} FROM invitation WHERE tenant_id = $1
             ORDER BY created_at DESC, id DESC"
        ),
        &[tenant_id.into()],
        |r| invitation_from_row(r, now),
    )
    .await
}

async fn invitation<D: Db>(
    db: &D,
    tenant_id: &str,
    id: &str,
    now: OffsetDateTime,
) -> anyhow::Result<Option<InvitationInfo>> {
    db.row(
        &format!("SELECT {INVITATION_COLUMNS} FROM invitation WHERE tenant_id = $1 AND id = $2"),
        &[tenant_id.into(), id.into()],
        |r| invitation_from_row(r, now),
    )
    .await
}

fn invitation_closed(info: &InvitationInfo) -> AppError {
    AppError::Conflict {
        code: "invitation_closed",
        message: match info.status {
            InvitationStatus::Accepted => "This invitation was accepted already.".into(),
            _ => "This invitation was revoked: invite them again.".into(),
        },
        field: None,
    }
}

/// A new code and expiry for a waiting or expired invitation (the old code stops working).
pub async fn resend_invitation<D: Db>(
    db: &D,
    actor: &Actor,
    id: &str,
    code_hash: &[u8],
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<Option<InvitationInfo>, AppError> {
    let Some(info) = invitation(db, &actor.tenant_id, id, now).await? else {
        return Ok(None);
    };
    if !matches!(
        info.status,
        InvitationStatus::Pending | InvitationStatus::Expired
    ) {
        return Err(invitation_closed(&info));
    }
    db.execute(
        "UPDATE invitation SET code_hash = $3, expires_at = $4 WHERE tenant_id = $1 AND id = $2",
        &[
            actor.tenant_id.as_str().into(),
            id.into(),
            code_hash.into(),
            expires_at.into(),
        ],
    )
    .await?;
    audit_event(db, actor, "resend_invitation", entity::INVITATION, id, now).await?;
    Ok(Some(InvitationInfo {
        status: InvitationStatus::Pending,
        expires_at: clock::rfc3339(expires_at),
        ..info
    }))
}

/// Revokes a waiting invitation: its code stops working at once.
pub async fn revoke_invitation<D: Db>(
    db: &D,
    actor: &Actor,
    id: &str,
    now: OffsetDateTime,
) -> Result<Option<InvitationInfo>, AppError> {
    let Some(info) = invitation(db, &actor.tenant_id, id, now).await? else {
        return Ok(None);
    };
    match info.status {
        InvitationStatus::Revoked => return Ok(Some(info)),
        InvitationStatus::Accepted => return Err(invitation_closed(&info)),
        InvitationStatus::Pending | InvitationStatus::Expired => {}
    }
    db.execute(
        "UPDATE invitation SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2",
        &[actor.tenant_id.as_str().into(), id.into(), now.into()],
    )
    .await?;
    audit_event(db, actor, "revoke_invitation", entity::INVITATION, id, now).await?;
    Ok(Some(InvitationInfo {
        status: InvitationStatus::Revoked,
        ..info
    }))
}

/// A waiting invitation with this code, and its tenant (`None`: unknown, used, revoked,
/// expired, or its tenant disabled: never told apart).
pub async fn invitation_by_code<D: Db>(
    db: &D,
    code_hash: &[u8],
    now: OffsetDateTime,
) -> anyhow::Result<Option<(InvitationInfo, Tenant)>> {
    db.row(
        "SELECT i.id AS id, i.email AS email, i.role AS role, i.invited_by AS invited_by,
                i.created_at AS created_at, i.expires_at AS expires_at,
                i.accepted_at AS accepted_at, i.revoked_at AS revoked_at,
                t.id AS tenant_id, t.name AS tenant_name
         FROM invitation i JOIN tenant t ON t.id = i.tenant_id
         WHERE i.code_hash = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL
           AND i.expires_at > $2 AND t.disabled_at IS NULL",
        &[code_hash.into(), now.into()],
        |r| {
            Ok((
                invitation_from_row(r, now)?,
                Tenant {
                    id: r.get("tenant_id")?,
                    name: r.get("tenant_name")?,
                },
            ))
        },
    )
    .await
}

/// Accepts a waiting invitation: the invited person becomes a user with its email and
/// role (once: a second acceptance of the same code finds nothing).
pub async fn accept_invitation<D: Db>(
    db: &D,
    code_hash: &[u8],
    name: &str,
    password_hash: &str,
    now: OffsetDateTime,
) -> Result<Option<(User, Tenant)>, AppError> {
    let Some((info, tenant)) = invitation_by_code(db, code_hash, now).await? else {
        return Ok(None);
    };
    let taken = db
        .execute(
            "UPDATE invitation SET accepted_at = $2 WHERE id = $1 AND accepted_at IS NULL",
            &[info.id.as_str().into(), now.into()],
        )
        .await?;
    if taken == 0 {
        return Ok(None);
    }
    let user = create_user(
        db,
        NewUser {
            tenant_id: tenant.id.clone(),
            name: name.to_owned(),
            email: info.email.clone(),
            role: info.role,
            password_hash: Some(password_hash.to_owned()),
            password_change_required: false,
        },
        now,
    )
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            email_taken()
        } else {
            e.into()
        }
    })?;
    let actor = Actor {
        tenant_id: tenant.id.clone(),
        user_id: user.id.clone(),
    };
    audit_event(
        db,
        &actor,
        "accept_invitation",
        entity::INVITATION,
        &info.id,
        now,
    )
    .await?;
    Ok(Some((user, tenant)))
}

/// The user's unexpired sign-in sessions, newest first; `current` marks the one whose
/// token hashes to `current`.
pub async fn sessions<D: Db>(
    db: &D,
    actor: &Actor,
    current: &[u8],
    now: OffsetDateTime,
) -> anyhow::Result<Vec<SessionInfo>> {
    db.rows(
        "SELECT id, label, created_at, expires_at, token_hash = $3 AS current
         FROM api_token
         WHERE tenant_id = $1 AND user_id = $2 AND kind = 'session'
           AND (expires_at IS NULL OR expires_at > $4)
         ORDER BY created_at DESC, id DESC",
        &[
            actor.tenant_id.as_str().into(),
            actor.user_id.as_str().into(),
            current.into(),
            now.into(),
        ],
        |r| {
            Ok(SessionInfo {
                id: r.get("id")?,
                device: r.get::<Option<String>>("label")?.unwrap_or_default(),
                created_at: clock::rfc3339(r.get("created_at")?),
                expires_at: r
                    .get::<Option<OffsetDateTime>>("expires_at")?
                    .map(clock::rfc3339),
                current: r.get("current")?,
            })
        },
    )
    .await
}

/// Ends sessions of `user_id`: the one with id `only`, or all of them. Returns how many.
pub async fn end_sessions<D: Db>(
    db: &D,
    actor: &Actor,
    user_id: &str,
    only: Option<&str>,
    now: OffsetDateTime,
) -> anyhow::Result<u64> {
    let ended = db
        .execute(
            "DELETE FROM api_token
             WHERE tenant_id = $1 AND user_id = $2 AND kind = 'session'
               AND (CAST($3 AS TEXT) IS NULL OR id = $3)",
            &[actor.tenant_id.as_str().into(), user_id.into(), only.into()],
        )
        .await?;
    if ended > 0 {
        let (action, what) = match only {
            Some(id) => ("end_session", id),
            None => ("sign_out_everywhere", user_id),
        };
        audit_event(db, actor, action, entity::TOKEN, what, now).await?;
    }
    Ok(ended)
}

fn presence_value(user_id: &str, status: PresenceStatus, since: OffsetDateTime) -> Presence {
    Presence {
        user_id: user_id.to_owned(),
        status,
        since: Some(clock::rfc3339(since)),
    }
}

async fn tell_presence<D: Db>(
    db: &D,
    tenant_id: &str,
    presence: &Presence,
    now: OffsetDateTime,
) -> anyhow::Result<()> {
    record_change(
        db,
        tenant_id,
        entity::PRESENCE,
        &presence.user_id,
        Some(to_json(presence)?),
        now,
    )
    .await
}

/// Sets the actor's status (they are seen now); teammates hear of it through the feed
/// when what they see changes. `Offline` is refused: it is the cloud's to say.
pub async fn set_presence<D: Db>(
    db: &D,
    actor: &Actor,
    status: PresenceStatus,
    now: OffsetDateTime,
    lease: time::Duration,
) -> Result<Presence, AppError> {
    if status == PresenceStatus::Offline {
        return Err(AppError::invalid_field(
            "status",
            "Offline is what teammates see when the app is not connected; choose another.",
        ));
    }
    let before = presence_of(db, &actor.tenant_id, &actor.user_id, now - lease).await?;
    let unchanged = before.as_ref().is_some_and(|p| p.status == status);
    db.execute(
        "INSERT INTO presence (tenant_id, user_id, status, changed_at, seen_at, offline_told)
         VALUES ($1, $2, $3, $4, $4, $5)
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET status = excluded.status,
             changed_at = CASE WHEN $6 THEN presence.changed_at ELSE excluded.changed_at END,
             seen_at = excluded.seen_at, offline_told = excluded.offline_told",
        &[
            actor.tenant_id.as_str().into(),
            actor.user_id.as_str().into(),
            status.as_str().into(),
            now.into(),
            false.into(),
            unchanged.into(),
        ],
    )
    .await?;
    if let (true, Some(before)) = (unchanged, before) {
        return Ok(before);
    }
    let presence = presence_value(&actor.user_id, status, now);
    tell_presence(db, &actor.tenant_id, &presence, now).await?;
    Ok(presence)
}

/// A live connection of the user was seen: the lease goes on, and one that had lapsed
/// (teammates were told "offline") comes back with the status they had.
pub async fn presence_seen<D: Db>(
    db: &D,
    tenant_id: &str,
    user_id: &str,
    now: OffsetDateTime,
) -> anyhow::Result<()> {
    let back = db
        .row(
            "UPDATE presence SET seen_at = $3, changed_at = $3, offline_told = $4
             WHERE tenant_id = $1 AND user_id = $2 AND offline_told = $5
             RETURNING status",
            &[
                tenant_id.into(),
                user_id.into(),
                now.into(),
                false.into(),
                true.into(),
            ],
            |r| r.get::<String>("status"),
        )
        .await?;
    match back.as_deref().and_then(PresenceStatus::parse) {
        Some(status) => {
            let presence = presence_value(user_id, status, now);
            tell_presence(db, tenant_id, &presence, now).await?;
        }
        None => {
            db.execute(
                "UPDATE presence SET seen_at = $3 WHERE tenant_id = $1 AND user_id = $2",
                &[tenant_id.into(), user_id.into(), now.into()],
            )
            .await?;
        }
    }
    Ok(())
}

/// The user signed out here: teammates are told "offline" at once (a device of theirs
/// still connected says otherwise at its next renewal).
pub async fn presence_gone<D: Db>(
    db: &D,
    tenant_id: &str,
    user_id: &str,
    now: OffsetDateTime,
) -> anyhow::Result<()> {
    let gone = db
        .execute(
            "UPDATE presence SET offline_told = $3
             WHERE tenant_id = $1 AND user_id = $2 AND offline_told = $4",
            &[tenant_id.into(), user_id.into(), true.into(), false.into()],
        )
        .await?;
    if gone > 0 {
        let presence = presence_value(user_id, PresenceStatus::Offline, now);
        tell_presence(db, tenant_id, &presence, now).await?;
    }
    Ok(())
}

/// Tells the feed of every user whose lease lapsed before `cutoff` that they are offline
/// (once: several nodes sweeping at once tell it once). Returns how many.
pub async fn sweep_presence<D: Db>(
    db: &D,
    cutoff: OffsetDateTime,
    now: OffsetDateTime,
) -> anyhow::Result<usize> {
    let gone = db
        .rows(
            "UPDATE presence SET offline_told = $2
             WHERE offline_told = $3 AND seen_at < $1
             RETURNING tenant_id, user_id",
            &[cutoff.into(), true.into(), false.into()],
            |r| Ok((r.get::<String>("tenant_id")?, r.get::<String>("user_id")?)),
        )
        .await?;
    for (tenant_id, user_id) in &gone {
        let presence = presence_value(user_id, PresenceStatus::Offline, now);
        tell_presence(db, tenant_id, &presence, now).await?;
    }
    Ok(gone.len())
}

fn presence_from_row(r: &Row<'_>, cutoff: OffsetDateTime) -> anyhow::Result<Presence> {
    let user_id: String = r.get("user_id")?;
    let seen_at: OffsetDateTime = r.get("seen_at")?;
    let lapsed = r.get::<bool>("offline_told")? || seen_at < cutoff;
    Ok(if lapsed {
        presence_value(&user_id, PresenceStatus::Offline, seen_at)
    } else {
        let status = PresenceStatus::parse(&r.get::<String>("status")?)
            .ok_or_else(|| anyhow::anyhow!("unknown presence of {user_id}"))?;
        presence_value(&user_id, status, r.get("changed_at")?)
    })
}

async fn presence_of<D: Db>(
    db: &D,
    tenant_id: &str,
    user_id: &str,
    cutoff: OffsetDateTime,
) -> anyhow::Result<Option<Presence>> {
    db.row(
        "SELECT user_id, status, changed_at, seen_at, offline_told FROM presence
         WHERE tenant_id = $1 AND user_id = $2",
        &[tenant_id.into(), user_id.into()],
        |r| presence_from_row(r, cutoff),
    )
    .await
}

/// Every active user's presence (`offline` for those never seen or whose lease lapsed
/// before `cutoff`), in the order of [`super::accounts::tenant_users`].
pub async fn presences<D: Db>(
    db: &D,
    tenant_id: &str,
    cutoff: OffsetDateTime,
) -> anyhow::Result<Vec<Presence>> {
    db.rows(
        "SELECT u.id AS user_id, p.status AS status, p.changed_at AS changed_at,
                p.seen_at AS seen_at, p.offline_told AS offline_told
         FROM app_user u
         LEFT JOIN presence p ON p.tenant_id = u.tenant_id AND p.user_id = u.id
         WHERE u.tenant_id = $1 AND u.deactivated_at IS NULL
         ORDER BY lower(u.name), u.id",
        &[tenant_id.into()],
        |r| match r.get::<Option<String>>("status")? {
            Some(_) => presence_from_row(r, cutoff),
            None => Ok(Presence {
                user_id: r.get("user_id")?,
                status: PresenceStatus::Offline,
                since: None,
            }),
        },
    )
    .await
}
