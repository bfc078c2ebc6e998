//! What both backends do alike, written once over [`Db`]: the bookkeeping of every
//! write (change feed and audit log, in the write's transaction) and the create, get,
//! list, update and delete of a plain tenant-owned entity, described once by
//! [`Entity`].

use serde_json::Value;
use time::OffsetDateTime;
use upzento_domain::permissions::{Viewer, Work};
use upzento_domain::resources::entity;
use upzento_domain::wire::Role;

use super::sql::{Db, Dialect, Param, Row};
use super::{Actor, After, Apply};
use crate::clock;
use crate::error::AppError;

/// The PostgreSQL channel a commit's `pg_notify` wakes the change streams of every
/// node on (its payload is the tenant).
pub const CHANGES_CHANNEL: &str = "upzento_changes";

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub fn to_json<T: serde::Serialize>(value: &T) -> anyhow::Result<Value> {
    Ok(serde_json::to_value(value)?)
}

/// Appends the change-feed entry and the audit row of one write, in its transaction,
/// and has the tenant's change streams woken once it commits.
#[allow(clippy::too_many_arguments)]
pub async fn record<D: Db>(
    db: &D,
    actor: &Actor,
    entity: &str,
    entity_id: &str,
    action: &str,
    before: Option<Value>,
    after: Option<Value>,
    now: OffsetDateTime,
) -> anyhow::Result<()> {
    let audience = audience(
        db,
        &actor.tenant_id,
        entity,
        before.as_ref(),
        after.as_ref(),
    )
    .await?;
    append_change(
        db,
        &actor.tenant_id,
        (entity, entity_id),
        after.clone(),
        audience,
        now,
    )
    .await?;
    audit(db, actor, action, (entity, entity_id), before, after, now).await
}

/// Whose work a change is about, for the feed's scope (`Viewer::sees_any`): the record's
/// assignee and team before and after it, in that order and once when the same (a
/// reassignment reaches both sides, and tells the new one it entered their scope), or, for what
/// hangs off a conversation or a call, theirs as they are now. `None`: a record everyone
/// in the tenant sees.
async fn audience<D: Db>(
    db: &D,
    tenant_id: &str,
    entity: &str,
    before: Option<&Value>,
    after: Option<&Value>,
) -> anyhow::Result<Option<Vec<Work>>> {
    fn each<T: serde::de::DeserializeOwned>(
        records: [Option<&Value>; 2],
        work: fn(&T) -> Work,
    ) -> anyhow::Result<Vec<Work>> {
        let mut works = Vec::new();
        for record in records.into_iter().flatten() {
            let w = work(&serde_json::from_value::<T>(record.clone())?);
            if !works.contains(&w) {
                works.push(w);
            }
        }
        Ok(works)
    }
    let of = |field: &str| {
        after
            .or(before)
            .and_then(|v| v.get(field))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let records = [before, after];
    Ok(Some(match entity {
        entity::CONVERSATION => each(records, Work::of_conversation)?,
        entity::CALL => each(records, Work::of_call)?,
        entity::TASK => each(records, Work::of_task)?,
        entity::SMS_MESSAGE | entity::CONVERSATION_NOTE | entity::CONVERSATION_READ => {
            let Some(id) = of("conversationId") else {
                return Ok(Some(Vec::new()));
            };
            db.row(
                "SELECT assigned_to, team_id FROM conversation WHERE tenant_id = $1 AND id = $2",
                &[tenant_id.into(), id.into()],
                |r| {
                    Ok(Work {
                        user: r.get("assigned_to")?,
                        team: r.get("team_id")?,
                    })
                },
            )
            .await?
            .into_iter()
            .collect()
        }
        entity::CALL_NOTE => {
            let Some(id) = of("callId") else {
                return Ok(Some(Vec::new()));
            };
            db.row(
                "SELECT assigned_to FROM call WHERE tenant_id = $1 AND id = $2",
                &[tenant_id.into(), id.into()],
                |r| {
                    Ok(Work {
                        user: r.get("assigned_to")?,
                        team: None,
                    })
                },
            )
            .await?
            .into_iter()
            .collect()
        }
        _ => return Ok(None),
    }))
}

/// Appends one audit row: who did what to which record, and the record before and after
/// (both absent for what changes no record: a sign-in, a token, an invitation).
pub async fn audit<D: Db>(
    db: &D,
    actor: &Actor,
    action: &str,
    (entity, entity_id): (&str, &str),
    before: Option<Value>,
    after: Option<Value>,
    now: OffsetDateTime,
) -> anyhow::Result<()> {
    db.execute(
        "INSERT INTO audit_log (id, tenant_id, actor_id, action, entity, entity_id, before, after, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            new_id().into(),
            actor.tenant_id.as_str().into(),
            actor.user_id.as_str().into(),
            action.into(),
            entity.into(),
            entity_id.into(),
            before.into(),
            after.into(),
            now.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Appends a change-feed entry alone (live state that is not audited, such as presence)
/// and has the tenant's change streams woken once the transaction commits.
pub async fn record_change<D: Db>(
    db: &D,
    tenant_id: &str,
    entity: &str,
    entity_id: &str,
    after: Option<Value>,
    now: OffsetDateTime,
) -> anyhow::Result<()> {
    let audience = audience(db, tenant_id, entity, None, after.as_ref()).await?;
    append_change(db, tenant_id, (entity, entity_id), after, audience, now).await
}

async fn append_change<D: Db>(
    db: &D,
    tenant_id: &str,
    (entity, entity_id): (&str, &str),
    after: Option<Value>,
    audience: Option<Vec<Work>>,
    now: OffsetDateTime,
) -> anyhow::Result<()> {
    let seq: i64 = db
        .row(
            "UPDATE tenant SET change_seq = change_seq + 1 WHERE id = $1 RETURNING change_seq",
            &[tenant_id.into()],
            |r| r.get("change_seq"),
        )
        .await?
        .ok_or_else(|| anyhow::anyhow!("no tenant {tenant_id}"))?;
    match db.dialect() {
        // Delivered at commit, to every node listening.
        Dialect::Postgres => {
            db.rows(
                "SELECT pg_notify($1, $2)",
                &[CHANGES_CHANNEL.into(), tenant_id.into()],
                |_| Ok(()),
            )
            .await?;
        }
        // One process: its writer announces the tenant after the commit.
        Dialect::Sqlite => super::sqlite::changed(tenant_id),
    }
    let op = if after.is_some() { "upsert" } else { "delete" };
    db.execute(
        "INSERT INTO change_log (tenant_id, seq, entity, entity_id, op, data, changed_at, audience)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            tenant_id.into(),
            seq.into(),
            entity.into(),
            entity_id.into(),
            op.into(),
            after.into(),
            now.into(),
            audience.map(|a| to_json(&a)).transpose()?.into(),
        ],
    )
    .await?;
    Ok(())
}

/// The SQL form of [`Viewer::sees`], over a row's assignee column `user` and team column
/// `team`, with the viewer as the parameters `$n` and `$n+1` ([`viewer_params`]). Written
/// beside the rule so that lists page in SQL; `tests/scope.rs` holds the two to the same
/// answers (every list beside every single read, per role).
pub fn visible_sql(user: &str, team: Option<&str>, n: usize) -> String {
    let m = n + 1;
    let (unassigned, of_team) = match team {
        Some(team) => (
            format!("({user} IS NULL AND {team} IS NULL)"),
            format!(" OR {team} IN (SELECT team_id FROM team_member WHERE user_id = ${n})"),
        ),
        None => (format!("{user} IS NULL"), String::new()),
    };
    format!(
        "(CAST(${n} AS TEXT) IS NULL OR {unassigned} OR {user} = ${n}{of_team}
          OR {user} IN (SELECT m.user_id FROM team_member m
                        JOIN team_member s ON s.team_id = m.team_id WHERE s.user_id = ${m}))"
    )
}

/// The parameters of [`visible_sql`]: the viewer (NULL: sees everything), and the viewer
/// again if a supervisor (NULL otherwise).
pub fn viewer_params(viewer: Option<&Viewer>) -> [Param; 2] {
    let viewer = viewer.filter(|v| !v.sees_everything());
    let supervisor = viewer.filter(|v| v.role == Role::Supervisor);
    [
        viewer.map(|v| v.user_id.as_str()).into(),
        supervisor.map(|v| v.user_id.as_str()).into(),
    ]
}

/// A tenant-owned record kept in one table: its description, from which the generic
/// operations below are made. A new plain entity is this and its migration.
#[allow(async_fn_in_trait)] // see `Db`
pub trait Entity: serde::Serialize + Sized + Send + 'static {
    /// Its table; every row also has `tenant_id`.
    const TABLE: &'static str;
    /// Its name in the audit log and the change feed.
    const NAME: &'static str;
    /// Its columns other than `tenant_id`, `id` first, in the order of [`Self::values`].
    const COLUMNS: &'static [&'static str];

    /// What follows the `INSERT` (e.g. `ON CONFLICT … DO NOTHING` for an idempotent one).
    const ON_INSERT: &'static str = "";

    fn id(&self) -> &str;
    /// The values of [`Self::COLUMNS`].
    fn values(&self) -> anyhow::Result<Vec<Param>>;
    fn from_row(row: &Row<'_>) -> anyhow::Result<Self>;

    /// The record as the audit log and the change feed keep it.
    fn recorded(&self) -> anyhow::Result<Value> {
        to_json(self)
    }

    /// Writes the rows of other tables the record owns, after its own row.
    async fn write_owned<D: Db>(&self, _db: &D, _tenant_id: &str) -> Result<(), AppError> {
        Ok(())
    }

    /// Fills in what rows of other tables hold, for records just read.
    async fn read_owned<D: Db>(_records: &mut [Self], _db: &D) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Values of rows that records own (a contact's numbers, a team's people), by record:
/// `sql` selects `parent` and `value` where `{in}` is the parent column's place in the list
/// of ids (`$1`), in the order the values are to keep.
pub async fn owned_values<D: Db>(
    db: &D,
    sql: &str,
    parent: &str,
    ids: Vec<String>,
) -> anyhow::Result<std::collections::HashMap<String, Vec<String>>> {
    let mut out: std::collections::HashMap<String, Vec<String>> = Default::default();
    if ids.is_empty() {
        return Ok(out);
    }
    let sql = sql.replace("{in}", &db.dialect().in_list(parent, 1));
    let rows: Vec<(String, String)> = db
        .rows(&sql, &[Param::TextList(ids)], |r| {
            Ok((r.get("parent")?, r.get("value")?))
        })
        .await?;
    for (parent, value) in rows {
        out.entry(parent).or_default().push(value);
    }
    Ok(out)
}

/// `SELECT` of an entity's columns.
pub fn select<E: Entity>() -> String {
    format!("SELECT {} FROM {}", E::COLUMNS.join(", "), E::TABLE)
}

/// The record `id` of the tenant; locked until the transaction ends when `lock` (for
/// an update: PostgreSQL's `FOR UPDATE`; SQLite's writer is alone anyway).
pub async fn get<E: Entity, D: Db>(
    db: &D,
    tenant_id: &str,
    id: &str,
    lock: bool,
) -> anyhow::Result<Option<E>> {
    let lock = if lock && db.dialect() == Dialect::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let mut found = db
        .rows(
            &format!("{} WHERE tenant_id = $1 AND id = $2{lock}", select::<E>()),
            &[tenant_id.into(), id.into()],
            E::from_row,
        )
        .await?;
    E::read_owned(&mut found, db).await?;
    Ok(found.pop())
}

/// A page of the tenant's records in creation order, after `after`, that also meet
/// `condition` (SQL over the entity's columns, its placeholders numbered from `$5`,
/// bound to `params`).
pub async fn list<E: Entity, D: Db>(
    db: &D,
    tenant_id: &str,
    condition: Option<&str>,
    params: Vec<Param>,
    after: Option<&After>,
    limit: usize,
) -> anyhow::Result<Vec<E>> {
    let (after_at, after_id) = after.map_or(
        (
            OffsetDateTime::UNIX_EPOCH - time::Duration::days(1),
            String::new(),
        ),
        |a| (clock::from_ms(a.created_at_ms), a.id.clone()),
    );
    let condition = condition.map(|c| format!(" AND ({c})")).unwrap_or_default();
    let mut bound: Vec<Param> = vec![
        tenant_id.into(),
        after_at.into(),
        after_id.into(),
        i64::try_from(limit)?.into(),
    ];
    bound.extend(params);
    let mut page = db
        .rows(
            &format!(
                "{} WHERE tenant_id = $1 AND (created_at, id) > ($2, $3){condition}
                 ORDER BY created_at, id LIMIT $4",
                select::<E>()
            ),
            &bound,
            E::from_row,
        )
        .await?;
    E::read_owned(&mut page, db).await?;
    Ok(page)
}

/// Writes `record` as a new row (`insert`) or over its row, and the rows it owns.
pub async fn save<E: Entity, D: Db>(
    db: &D,
    tenant_id: &str,
    record: &E,
    insert: bool,
) -> Result<(), AppError> {
    write(db, tenant_id, record, insert).await?;
    record.write_owned(db, tenant_id).await
}

/// Writes `record`'s own row as a new row (`insert`) or over its row.
pub async fn write<E: Entity, D: Db>(
    db: &D,
    tenant_id: &str,
    record: &E,
    insert: bool,
) -> anyhow::Result<u64> {
    let mut params: Vec<Param> = vec![tenant_id.into()];
    params.extend(record.values()?);
    let sql = if insert {
        let places: Vec<String> = (1..=params.len()).map(|i| format!("${i}")).collect();
        format!(
            "INSERT INTO {} (tenant_id, {}) VALUES ({}) {}",
            E::TABLE,
            E::COLUMNS.join(", "),
            places.join(", "),
            E::ON_INSERT
        )
    } else {
        // $1 the tenant, $2 the id, then the other columns.
        let sets: Vec<String> = E::COLUMNS
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, column)| format!("{column} = ${}", i + 2))
            .collect();
        format!(
            "UPDATE {} SET {} WHERE tenant_id = $1 AND id = $2",
            E::TABLE,
            sets.join(", ")
        )
    };
    db.execute(&sql, &params).await
}

/// Creates `record` with its bookkeeping.
pub async fn create<E: Entity, D: Db>(
    db: &D,
    actor: &Actor,
    record: &E,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    save(db, &actor.tenant_id, record, true).await?;
    let after = Some(record.recorded()?);
    self::record(db, actor, E::NAME, record.id(), "create", None, after, now).await?;
    Ok(())
}

/// Changes the record `id` with `apply`, with its bookkeeping; `None` when there is no
/// such record in the tenant.
pub async fn update<E: Entity, D: Db>(
    db: &D,
    actor: &Actor,
    id: &str,
    apply: &Apply<E>,
    now: OffsetDateTime,
) -> Result<Option<E>, AppError> {
    let Some(before) = get::<E, D>(db, &actor.tenant_id, id, true).await? else {
        return Ok(None);
    };
    let after = apply(&before)?;
    save(db, &actor.tenant_id, &after, false).await?;
    let (before_json, after_json) = (Some(before.recorded()?), Some(after.recorded()?));
    record(
        db,
        actor,
        E::NAME,
        id,
        "update",
        before_json,
        after_json,
        now,
    )
    .await?;
    Ok(Some(after))
}

/// Deletes the record `id`, with its bookkeeping; `false` when there was none.
pub async fn delete<E: Entity, D: Db>(
    db: &D,
    actor: &Actor,
    id: &str,
    now: OffsetDateTime,
) -> anyhow::Result<bool> {
    let Some(before) = get::<E, D>(db, &actor.tenant_id, id, true).await? else {
        return Ok(false);
    };
    db.execute(
        &format!("DELETE FROM {} WHERE tenant_id = $1 AND id = $2", E::TABLE),
        &[actor.tenant_id.as_str().into(), id.into()],
    )
    .await?;
    let before = Some(before.recorded()?);
    record(db, actor, E::NAME, id, "delete", before, None, now).await?;
    Ok(true)
}
