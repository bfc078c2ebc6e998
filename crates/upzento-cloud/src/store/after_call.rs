//! After-call work: the tenant's dispositions, a call's wrap-up, follow-up tasks and the
//! tenant's settings (its wrap-up timer). Plain entities over [`common`], plus the
//! wrap-up, which changes a call, its wrap-up note and its follow-up in one transaction.

use time::OffsetDateTime;
use upzento_domain::permissions::Viewer;
use upzento_domain::resources::{
    Call, CallNote, Disposition, Task, TenantSettings, WrapUp, campaign_hours_end,
    campaign_hours_start, entity,
};

use super::common::{self, Entity};
use super::sql::{Db, Row, is_unique_violation};
use super::{Actor, Apply};
use crate::clock;
use crate::error::AppError;

impl Entity for Disposition {
    const TABLE: &'static str = "disposition";
    const NAME: &'static str = entity::DISPOSITION;
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "name",
        "position",
        "archived",
        "created_at",
        "updated_at",
    ];

    fn id(&self) -> &str {
        &self.id
    }

    fn values(&self) -> anyhow::Result<Vec<super::sql::Param>> {
        Ok(vec![
            self.id.as_str().into(),
            self.name.as_str().into(),
            self.position.into(),
            self.archived.into(),
            clock::parse_rfc3339(&self.created_at)?.into(),
            clock::parse_rfc3339(&self.updated_at)?.into(),
        ])
    }

    fn from_row(r: &Row<'_>) -> anyhow::Result<Self> {
        let position: i64 = r.get("position")?;
        Ok(Self {
            id: r.get("id")?,
            name: r.get("name")?,
            position: u32::try_from(position)?,
            archived: r.get("archived")?,
            created_at: clock::rfc3339(r.get("created_at")?),
            updated_at: clock::rfc3339(r.get("updated_at")?),
        })
    }
}

impl Entity for Task {
    const TABLE: &'static str = "task";
    const NAME: &'static str = entity::TASK;
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "title",
        "due_at",
        "assignee_id",
        "call_id",
        "contact_id",
        "conversation_id",
        "done_at",
        "created_by",
        "created_at",
        "updated_at",
    ];

    fn id(&self) -> &str {
        &self.id
    }

    fn values(&self) -> anyhow::Result<Vec<super::sql::Param>> {
        Ok(vec![
            self.id.as_str().into(),
            self.title.as_str().into(),
            clock::parse_rfc3339(&self.due_at)?.into(),
            self.assignee_id.as_str().into(),
            (&self.call_id).into(),
            (&self.contact_id).into(),
            (&self.conversation_id).into(),
            self.done_at
                .as_deref()
                .map(clock::parse_rfc3339)
                .transpose()?
                .into(),
            self.created_by.as_str().into(),
            clock::parse_rfc3339(&self.created_at)?.into(),
            clock::parse_rfc3339(&self.updated_at)?.into(),
        ])
    }

    fn from_row(r: &Row<'_>) -> anyhow::Result<Self> {
        let done_at: Option<OffsetDateTime> = r.get("done_at")?;
        Ok(Self {
            id: r.get("id")?,
            title: r.get("title")?,
            due_at: clock::rfc3339(r.get("due_at")?),
            assignee_id: r.get("assignee_id")?,
            call_id: r.get("call_id")?,
            contact_id: r.get("contact_id")?,
            conversation_id: r.get("conversation_id")?,
            done_at: done_at.map(clock::rfc3339),
            created_by: r.get("created_by")?,
            created_at: clock::rfc3339(r.get("created_at")?),
            updated_at: clock::rfc3339(r.get("updated_at")?),
        })
    }
}

impl Entity for TenantSettings {
    const TABLE: &'static str = "tenant_settings";
    const NAME: &'static str = entity::TENANT_SETTINGS;
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "wrap_up_seconds",
        "campaign_hours_start",
        "campaign_hours_end",
        "created_at",
        "updated_at",
    ];

    fn id(&self) -> &str {
        &self.id
    }

    fn values(&self) -> anyhow::Result<Vec<super::sql::Param>> {
        let updated = clock::parse_rfc3339(&self.updated_at)?;
        Ok(vec![
            self.id.as_str().into(),
            self.wrap_up_seconds.into(),
            self.campaign_hours_start.as_str().into(),
            self.campaign_hours_end.as_str().into(),
            // Created when first changed: the same instant.
            updated.into(),
            updated.into(),
        ])
    }

    fn from_row(r: &Row<'_>) -> anyhow::Result<Self> {
        let seconds: Option<i64> = r.get("wrap_up_seconds")?;
        Ok(Self {
            id: r.get("id")?,
            wrap_up_seconds: seconds.map(u32::try_from).transpose()?,
            campaign_hours_start: r
                .get::<Option<String>>("campaign_hours_start")?
                .unwrap_or_else(campaign_hours_start),
            campaign_hours_end: r
                .get::<Option<String>>("campaign_hours_end")?
                .unwrap_or_else(campaign_hours_end),
            updated_at: clock::rfc3339(r.get("updated_at")?),
        })
    }
}

/// The tenant's settings: the defaults until an admin first changes one.
pub async fn settings<D: Db>(db: &D, tenant_id: &str) -> anyhow::Result<TenantSettings> {
    Ok(common::get(db, tenant_id, tenant_id, false)
        .await?
        .unwrap_or_else(|| TenantSettings {
            id: tenant_id.to_owned(),
            wrap_up_seconds: None,
            campaign_hours_start: campaign_hours_start(),
            campaign_hours_end: campaign_hours_end(),
            updated_at: clock::rfc3339(OffsetDateTime::UNIX_EPOCH),
        }))
}

/// Changes the tenant's settings with `apply` (creating their record the first time).
pub async fn update_settings<D: Db>(
    db: &D,
    actor: &Actor,
    apply: &Apply<TenantSettings>,
    now: OffsetDateTime,
) -> Result<TenantSettings, AppError> {
    let tenant = &actor.tenant_id;
    if let Some(changed) = common::update(db, actor, tenant, apply, now).await? {
        return Ok(changed);
    }
    let first = apply(&settings(db, tenant).await?)?;
    common::create(db, actor, &first, now).await?;
    Ok(first)
}

fn duplicate_disposition(name: &str) -> AppError {
    AppError::Conflict {
        code: "duplicate_disposition",
        message: format!("There is already a disposition called {name}."),
        field: Some("name".into()),
    }
}

/// Whether another disposition of the tenant has this name (whatever its case).
async fn name_taken<D: Db>(db: &D, tenant_id: &str, name: &str, not: &str) -> anyhow::Result<bool> {
    Ok(db
        .row(
            "SELECT id FROM disposition WHERE tenant_id = $1 AND lower(name) = lower($2) AND id <> $3",
            &[tenant_id.into(), name.into(), not.into()],
            |r| r.get::<String>("id"),
        )
        .await?
        .is_some())
}

/// Adds a disposition, after the others unless it says where.
pub async fn create_disposition<D: Db>(
    db: &D,
    actor: &Actor,
    mut d: Disposition,
    position: Option<u32>,
    now: OffsetDateTime,
) -> Result<Disposition, AppError> {
    if name_taken(db, &actor.tenant_id, &d.name, &d.id).await? {
        return Err(duplicate_disposition(&d.name));
    }
    d.position = match position {
        Some(p) => {
            // Those at its place and after it move down one, each through its own update
            // (so the feed and the audit log have them).
            let after: Vec<Disposition> = dispositions(db, &actor.tenant_id)
                .await?
                .into_iter()
                .filter(|o| o.position >= p)
                .collect();
            for other in after {
                let apply: Apply<Disposition> = std::sync::Arc::new(|o: &Disposition| {
                    Ok(Disposition {
                        position: o.position.saturating_add(1),
                        ..o.clone()
                    })
                });
                common::update(db, actor, &other.id, &apply, now).await?;
            }
            p
        }
        None => {
            let last: Option<i64> = db
                .row(
                    "SELECT MAX(position) AS last FROM disposition WHERE tenant_id = $1",
                    &[actor.tenant_id.as_str().into()],
                    |r| r.get("last"),
                )
                .await?
                .flatten();
            last.map_or(Ok(0), |l| u32::try_from(l + 1))
                .map_err(anyhow::Error::from)?
        }
    };
    match common::create(db, actor, &d, now).await {
        Err(AppError::Internal(e)) if is_unique_violation(&e) => {
            Err(duplicate_disposition(&d.name))
        }
        other => other.map(|()| d),
    }
}

/// Changes a disposition; `None` without it in the tenant.
pub async fn update_disposition<D: Db>(
    db: &D,
    actor: &Actor,
    id: &str,
    apply: &Apply<Disposition>,
    now: OffsetDateTime,
) -> Result<Option<Disposition>, AppError> {
    if let Some(current) = common::get::<Disposition, D>(db, &actor.tenant_id, id, false).await? {
        let next = apply(&current)?;
        if next.name != current.name && name_taken(db, &actor.tenant_id, &next.name, id).await? {
            return Err(duplicate_disposition(&next.name));
        }
    }
    common::update(db, actor, id, apply, now).await
}

/// The tenant's dispositions in their order.
pub async fn dispositions<D: Db>(db: &D, tenant_id: &str) -> anyhow::Result<Vec<Disposition>> {
    db.rows(
        &format!(
            "{} WHERE tenant_id = $1 ORDER BY position, lower(name), id",
            common::select::<Disposition>()
        ),
        &[tenant_id.into()],
        Disposition::from_row,
    )
    .await
}

/// The id of a call's wrap-up note and of its follow-up: one of each per call, so that
/// a wrap-up put again changes them instead of adding more.
fn wrap_up_id(call_id: &str, what: &str) -> String {
    format!("{call_id}-{what}")
}

/// Saves a call's wrap-up (already checked by the API): the call's disposition, tags and
/// who wrapped it up when, its wrap-up note and its follow-up for the actor. `None`
/// without the call in the tenant.
pub async fn wrap_up<D: Db>(
    db: &D,
    actor: &Actor,
    call_id: &str,
    wrap: WrapUp,
    now: OffsetDateTime,
) -> Result<Option<Call>, AppError> {
    let tenant = &actor.tenant_id;
    if let Some(id) = &wrap.disposition_id {
        let current: Option<Call> = common::get(db, tenant, call_id, false).await?;
        let kept = current.is_some_and(|c| c.disposition_id.as_ref() == Some(id));
        match common::get::<Disposition, D>(db, tenant, id, false).await? {
            // An archived one stays on the calls that have it, and is offered no more.
            Some(d) if !d.archived || kept => {}
            _ => {
                return Err(AppError::invalid_field(
                    "dispositionId",
                    "No such disposition is offered.",
                ));
            }
        }
    }
    let stamp = clock::rfc3339(now);
    let (disposition, tags, by) = (
        wrap.disposition_id.clone(),
        wrap.tags.clone(),
        actor.user_id.clone(),
    );
    let at = stamp.clone();
    let apply: Apply<Call> = std::sync::Arc::new(move |c: &Call| {
        Ok(Call {
            disposition_id: disposition.clone(),
            tags: tags.clone(),
            wrapped_up_at: Some(at.clone()),
            wrapped_up_by: Some(by.clone()),
            updated_at: at.clone(),
            ..c.clone()
        })
    });
    let Some(call) = common::update(db, actor, call_id, &apply, now).await? else {
        return Ok(None);
    };
    if let Some(text) = wrap.note {
        let id = wrap_up_id(call_id, "wrap-up");
        let note = CallNote {
            id: id.clone(),
            call_id: call_id.to_owned(),
            author_id: actor.user_id.clone(),
            text,
            created_at: stamp.clone(),
            updated_at: stamp.clone(),
        };
        upsert(db, actor, &id, note, now).await?;
    }
    if let Some(follow_up) = wrap.follow_up {
        let id = wrap_up_id(call_id, "follow-up");
        let task = Task {
            id: id.clone(),
            title: follow_up.title,
            due_at: follow_up.due_at,
            assignee_id: actor.user_id.clone(),
            call_id: Some(call_id.to_owned()),
            contact_id: call.contact_id.clone(),
            conversation_id: None,
            done_at: None,
            created_by: actor.user_id.clone(),
            created_at: stamp.clone(),
            updated_at: stamp,
        };
        upsert(db, actor, &id, task, now).await?;
    }
    Ok(Some(call))
}

/// Creates `record`, or changes the one with its id keeping its creation time.
async fn upsert<E, D>(
    db: &D,
    actor: &Actor,
    id: &str,
    record: E,
    now: OffsetDateTime,
) -> Result<(), AppError>
where
    E: Entity + Clone + Sync + Stamped,
    D: Db,
{
    let next = record.clone();
    let apply: Apply<E> = std::sync::Arc::new(move |old: &E| Ok(next.restamped(old)));
    if common::update(db, actor, id, &apply, now).await?.is_none() {
        common::create(db, actor, &record, now).await?;
    }
    Ok(())
}

/// A record whose creation time (and author) an upsert keeps.
trait Stamped {
    fn restamped(&self, old: &Self) -> Self;
}

impl Stamped for CallNote {
    fn restamped(&self, old: &Self) -> Self {
        Self {
            created_at: old.created_at.clone(),
            ..self.clone()
        }
    }
}

impl Stamped for Task {
    fn restamped(&self, old: &Self) -> Self {
        Self {
            created_at: old.created_at.clone(),
            created_by: old.created_by.clone(),
            // A follow-up done stays done when the wrap-up is saved again.
            done_at: old.done_at.clone(),
            ..self.clone()
        }
    }
}

/// Which tasks a list returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// Only this user's.
    pub assignee_id: Option<String>,
    /// `Some(true)`: only done; `Some(false)`: only to do.
    pub done: Option<bool>,
    /// Only the work this viewer sees (`None`: all of it).
    pub visible_to: Option<Viewer>,
}

/// A page of the tenant's tasks, in creation order.
pub async fn list_tasks<D: Db>(
    db: &D,
    tenant_id: &str,
    filter: &TaskFilter,
    after: Option<&super::After>,
    limit: usize,
) -> anyhow::Result<Vec<Task>> {
    let visible = common::visible_sql("assignee_id", None, 6);
    let mut conditions = vec![
        "(CAST($5 AS TEXT) IS NULL OR assignee_id = $5)",
        visible.as_str(),
    ];
    match filter.done {
        Some(true) => conditions.push("done_at IS NOT NULL"),
        Some(false) => conditions.push("done_at IS NULL"),
        None => {}
    }
    let [viewer_user, viewer_supervisor] = common::viewer_params(filter.visible_to.as_ref());
    common::list(
        db,
        tenant_id,
        Some(&conditions.join(" AND ")),
        vec![(&filter.assignee_id).into(), viewer_user, viewer_supervisor],
        after,
        limit,
    )
    .await
}
