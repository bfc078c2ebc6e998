//! Teams: an entity over [`common`] whose members are rows of their own, written with it.
//! Deleting a team takes it off its conversations and numbers first, each through its own
//! update (so the feed and the audit log have them).

use time::OffsetDateTime;
use upzento_domain::permissions::Viewer;
use upzento_domain::resources::{Conversation, PhoneNumber, Team, entity};
use upzento_domain::wire::Role;

use super::common::{self, Entity};
use super::sql::{Db, Param, Row, is_unique_violation};
use super::{Actor, Apply};
use crate::clock;
use crate::error::AppError;

impl Entity for Team {
    const TABLE: &'static str = "team";
    const NAME: &'static str = entity::TEAM;
    const COLUMNS: &'static [&'static str] = &["id", "name", "created_at", "updated_at"];

    fn id(&self) -> &str {
        &self.id
    }

    fn values(&self) -> anyhow::Result<Vec<Param>> {
        Ok(vec![
            self.id.as_str().into(),
            self.name.as_str().into(),
            clock::parse_rfc3339(&self.created_at)?.into(),
            clock::parse_rfc3339(&self.updated_at)?.into(),
        ])
    }

    fn from_row(r: &Row<'_>) -> anyhow::Result<Self> {
        Ok(Self {
            id: r.get("id")?,
            name: r.get("name")?,
            member_ids: Vec::new(),
            created_at: clock::rfc3339(r.get("created_at")?),
            updated_at: clock::rfc3339(r.get("updated_at")?),
        })
    }

    async fn write_owned<D: Db>(&self, db: &D, tenant_id: &str) -> Result<(), AppError> {
        db.execute(
            "DELETE FROM team_member WHERE tenant_id = $1 AND team_id = $2",
            &[tenant_id.into(), self.id.as_str().into()],
        )
        .await?;
        for user in &self.member_ids {
            db.execute(
                "INSERT INTO team_member (tenant_id, team_id, user_id) VALUES ($1, $2, $3)",
                &[
                    tenant_id.into(),
                    self.id.as_str().into(),
                    user.as_str().into(),
                ],
            )
            .await?;
        }
        Ok(())
    }

    async fn read_owned<D: Db>(teams: &mut [Self], db: &D) -> anyhow::Result<()> {
        let mut people = common::owned_values(
            db,
            "SELECT m.team_id AS parent, m.user_id AS value
             FROM team_member m JOIN app_user u ON u.id = m.user_id
             WHERE {in} ORDER BY lower(u.name), u.id",
            "m.team_id",
            teams.iter().map(|t| t.id.clone()).collect(),
        )
        .await?;
        for team in teams {
            team.member_ids = people.remove(&team.id).unwrap_or_default();
        }
        Ok(())
    }
}

fn duplicate(name: &str) -> AppError {
    AppError::Conflict {
        code: "duplicate_team",
        message: format!("There is a team called {name} already."),
        field: Some("name".into()),
    }
}

fn named_twice(e: AppError, name: &str) -> AppError {
    match e {
        AppError::Internal(e) if is_unique_violation(&e) => duplicate(name),
        other => other,
    }
}

/// Refuses members who are not active users of the tenant.
async fn check_members<D: Db>(db: &D, tenant_id: &str, members: &[String]) -> Result<(), AppError> {
    let users = super::accounts::tenant_users(db, tenant_id).await?;
    for member in members {
        if !users.iter().any(|u| u.id == *member && u.active) {
            return Err(AppError::invalid_field(
                "memberIds",
                format!("{member} is not an active user of this tenant."),
            ));
        }
    }
    Ok(())
}

pub async fn create_team<D: Db>(
    db: &D,
    actor: &Actor,
    team: Team,
    now: OffsetDateTime,
) -> Result<Team, AppError> {
    check_members(db, &actor.tenant_id, &team.member_ids).await?;
    common::create(db, actor, &team, now)
        .await
        .map_err(|e| named_twice(e, &team.name))?;
    Ok(team)
}

pub async fn update_team<D: Db>(
    db: &D,
    actor: &Actor,
    id: &str,
    apply: &Apply<Team>,
    now: OffsetDateTime,
) -> Result<Option<Team>, AppError> {
    let Some(current) = common::get::<Team, D>(db, &actor.tenant_id, id, true).await? else {
        return Ok(None);
    };
    let changed = apply(&current)?;
    check_members(db, &actor.tenant_id, &changed.member_ids).await?;
    let name = changed.name.clone();
    let replace: Apply<Team> = std::sync::Arc::new(move |_: &Team| Ok(changed.clone()));
    common::update(db, actor, id, &replace, now)
        .await
        .map_err(|e| named_twice(e, &name))
}

/// Deletes a team; its conversations and numbers keep their history and lose the team.
pub async fn delete_team<D: Db>(
    db: &D,
    actor: &Actor,
    id: &str,
    now: OffsetDateTime,
) -> Result<bool, AppError> {
    if common::get::<Team, D>(db, &actor.tenant_id, id, false)
        .await?
        .is_none()
    {
        return Ok(false);
    }
    let conversations: Vec<String> = db
        .rows(
            "SELECT id FROM conversation WHERE tenant_id = $1 AND team_id = $2",
            &[actor.tenant_id.as_str().into(), id.into()],
            |r| r.get("id"),
        )
        .await?;
    let stamp = clock::rfc3339(now);
    for conversation in conversations {
        let stamp = stamp.clone();
        let apply: Apply<Conversation> = std::sync::Arc::new(move |c: &Conversation| {
            Ok(Conversation {
                team_id: None,
                updated_at: stamp.clone(),
                ..c.clone()
            })
        });
        common::update(db, actor, &conversation, &apply, now).await?;
    }
    let numbers: Vec<String> = db
        .rows(
            "SELECT id FROM phone_number WHERE tenant_id = $1 AND team_id = $2",
            &[actor.tenant_id.as_str().into(), id.into()],
            |r| r.get("id"),
        )
        .await?;
    for number in numbers {
        let stamp = stamp.clone();
        let apply: Apply<PhoneNumber> = std::sync::Arc::new(move |n: &PhoneNumber| {
            Ok(PhoneNumber {
                team_id: None,
                updated_at: stamp.clone(),
                ..n.clone()
            })
        });
        common::update(db, actor, &number, &apply, now).await?;
    }
    Ok(common::delete::<Team, D>(db, actor, id, now).await?)
}

/// A deactivated user leaves their teams (each team's change recorded). Reactivated, an
/// admin adds them back where they belong.
pub async fn leave_teams<D: Db>(
    db: &D,
    actor: &Actor,
    user_id: &str,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let teams: Vec<String> = db
        .rows(
            "SELECT team_id FROM team_member WHERE tenant_id = $1 AND user_id = $2",
            &[actor.tenant_id.as_str().into(), user_id.into()],
            |r| r.get("team_id"),
        )
        .await?;
    let stamp = clock::rfc3339(now);
    for team in teams {
        let (user, stamp) = (user_id.to_owned(), stamp.clone());
        let apply: Apply<Team> = std::sync::Arc::new(move |t: &Team| {
            Ok(Team {
                member_ids: t
                    .member_ids
                    .iter()
                    .filter(|m| **m != user)
                    .cloned()
                    .collect(),
                updated_at: stamp.clone(),
                ..t.clone()
            })
        });
        common::update(db, actor, &team, &apply, now).await?;
    }
    Ok(())
}

/// The tenant's teams, by name.
pub async fn teams<D: Db>(db: &D, tenant_id: &str) -> anyhow::Result<Vec<Team>> {
    let mut teams = db
        .rows(
            &format!(
                "{} WHERE tenant_id = $1 ORDER BY lower(name), id",
                common::select::<Team>()
            ),
            &[tenant_id.into()],
            Team::from_row,
        )
        .await?;
    Team::read_owned(&mut teams, db).await?;
    Ok(teams)
}

/// Whether `team_id` is a team of the tenant.
pub async fn team_exists<D: Db>(db: &D, tenant_id: &str, team_id: &str) -> anyhow::Result<bool> {
    Ok(common::get::<Team, D>(db, tenant_id, team_id, false)
        .await?
        .is_some())
}

/// Who `user_id` is as a viewer of the tenant's work: their teams, and a supervisor's
/// people (the members of their teams).
pub async fn viewer<D: Db>(
    db: &D,
    tenant_id: &str,
    user_id: &str,
    role: Role,
) -> anyhow::Result<Viewer> {
    let teams = db
        .rows(
            "SELECT team_id FROM team_member WHERE tenant_id = $1 AND user_id = $2",
            &[tenant_id.into(), user_id.into()],
            |r| r.get::<String>("team_id"),
        )
        .await?;
    let overseen = if role == Role::Supervisor {
        db.rows(
            "SELECT DISTINCT m.user_id FROM team_member m
             JOIN team_member s ON s.team_id = m.team_id
             WHERE s.tenant_id = $1 AND s.user_id = $2",
            &[tenant_id.into(), user_id.into()],
            |r| r.get::<String>("user_id"),
        )
        .await?
    } else {
        Vec::new()
    };
    Ok(Viewer {
        user_id: user_id.to_owned(),
        role,
        teams: teams.into_iter().collect(),
        overseen: overseen.into_iter().collect(),
    })
}
