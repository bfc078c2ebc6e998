//! The do-not-contact list: an entity over [`common`], one row per number of a tenant.
//! Adding a number that is already listed changes nothing (and records nothing); an
//! opt-out adds its number, an opt-in takes off only what an opt-out put there.

use time::OffsetDateTime;
use upzento_domain::resources::{DoNotContactEntry, DoNotContactSource, entity};

use super::common::{self, Entity};
use super::sql::{Db, Param, Row};
use super::{Actor, After};
use crate::clock;
use crate::error::AppError;

impl Entity for DoNotContactEntry {
    const TABLE: &'static str = "do_not_contact";
    const NAME: &'static str = entity::DO_NOT_CONTACT;
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "number",
        "reason",
        "source",
        "created_by",
        "created_at",
        "updated_at",
    ];
    /// Listed once: a number already there keeps its entry.
    const ON_INSERT: &'static str = "ON CONFLICT (tenant_id, number) DO NOTHING";

    fn id(&self) -> &str {
        &self.id
    }

    fn values(&self) -> anyhow::Result<Vec<Param>> {
        Ok(vec![
            self.id.as_str().into(),
            self.number.as_str().into(),
            (&self.reason).into(),
            self.source.as_str().into(),
            (&self.created_by).into(),
            clock::parse_rfc3339(&self.created_at)?.into(),
            clock::parse_rfc3339(&self.updated_at)?.into(),
        ])
    }

    fn from_row(r: &Row<'_>) -> anyhow::Result<Self> {
        let source: String = r.get("source")?;
        Ok(Self {
            id: r.get("id")?,
            number: r.get("number")?,
            reason: r.get("reason")?,
            source: DoNotContactSource::parse(&source)
                .ok_or_else(|| anyhow::anyhow!("do-not-contact source {source}"))?,
            created_by: r.get("created_by")?,
            created_at: clock::rfc3339(r.get("created_at")?),
            updated_at: clock::rfc3339(r.get("updated_at")?),
        })
    }
}

/// The entry of `number` (E.164), if it is listed.
pub async fn find<D: Db>(
    db: &D,
    tenant_id: &str,
    number: &str,
) -> anyhow::Result<Option<DoNotContactEntry>> {
    db.row(
        &format!(
            "{} WHERE tenant_id = $1 AND number = $2",
            common::select::<DoNotContactEntry>()
        ),
        &[tenant_id.into(), number.into()],
        DoNotContactEntry::from_row,
    )
    .await
}

/// Lists `entry`'s number: the entry and `true`, or the one already there and `false`.
pub async fn add<D: Db>(
    db: &D,
    actor: &Actor,
    entry: DoNotContactEntry,
    now: OffsetDateTime,
) -> Result<(DoNotContactEntry, bool), AppError> {
    if common::write(db, &actor.tenant_id, &entry, true).await? == 0 {
        let listed = find(db, &actor.tenant_id, &entry.number)
            .await?
            .ok_or_else(|| anyhow::anyhow!("a listed number vanished"))?;
        return Ok((listed, false));
    }
    let after = Some(entry.recorded()?);
    common::record(
        db,
        actor,
        entity::DO_NOT_CONTACT,
        &entry.id,
        "create",
        None,
        after,
        now,
    )
    .await?;
    Ok((entry, true))
}

/// Lists each of `entries` in one transaction: how many were added (the rest were
/// listed already).
pub async fn add_all<D: Db>(
    db: &D,
    actor: &Actor,
    entries: Vec<DoNotContactEntry>,
    now: OffsetDateTime,
) -> Result<u32, AppError> {
    let mut added = 0;
    for entry in entries {
        if add(db, actor, entry, now).await?.1 {
            added += 1;
        }
    }
    Ok(added)
}

/// Takes `number` off the list if an opt-out put it there (the person texted START).
pub async fn remove_opt_out<D: Db>(
    db: &D,
    actor: &Actor,
    number: &str,
    now: OffsetDateTime,
) -> anyhow::Result<bool> {
    match find(db, &actor.tenant_id, number).await? {
        Some(entry) if entry.source == DoNotContactSource::OptOut => {
            common::delete::<DoNotContactEntry, D>(db, actor, &entry.id, now).await
        }
        _ => Ok(false),
    }
}

/// A page of the list in the order numbers were added; `query`: digits the number
/// contains.
pub async fn list<D: Db>(
    db: &D,
    tenant_id: &str,
    query: Option<&str>,
    after: Option<&After>,
    limit: usize,
) -> anyhow::Result<Vec<DoNotContactEntry>> {
    let digits = query.map(|q| q.chars().filter(char::is_ascii_digit).collect::<String>());
    common::list(
        db,
        tenant_id,
        Some("CAST($5 AS TEXT) IS NULL OR number LIKE $5 ESCAPE '\\'"),
        vec![
            digits
                .filter(|d| !d.is_empty())
                .map(|d| super::contains_pattern(&d))
                .into(),
        ],
        after,
        limit,
    )
    .await
}
