//! Teams: named groups of people that own numbers and conversations.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use upzento_domain::resources::{NewTeam, Team, TeamPatch};
use upzento_domain::wire::ErrorBody;

use super::support::{Body, deleted, text};
use crate::auth::Caller;
use crate::error::AppError;
use crate::{AppState, clock};

const NAME_MAX: usize = 60;

/// Each member once, in the order given.
fn members(ids: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

/// The tenant's teams with their people, by name.
#[utoipa::path(
    get,
    path = "/phone-sms/teams",
    tag = "auth",
    extensions(("x-permission" = json!("team:read"))),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<Team>), (status = 401, body = ErrorBody))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Team>>, AppError> {
    Ok(Json(state.store.teams(&caller.tenant.id).await?))
}

/// Creates a team (admins): a name unique in the tenant, and its people.
#[utoipa::path(
    post,
    path = "/phone-sms/teams",
    tag = "auth",
    extensions(("x-permission" = json!("team:create"))),
    request_body = NewTeam,
    security(("bearer" = [])),
    responses(
        (status = 201, body = Team),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(new): Body<NewTeam>,
) -> Result<(StatusCode, Json<Team>), AppError> {
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let team = Team {
        id: uuid::Uuid::now_v7().to_string(),
        name: text("name", &new.name, NAME_MAX)?,
        member_ids: members(new.member_ids),
        created_at: stamp.clone(),
        updated_at: stamp,
    };
    let team = state.store.create_team(&caller.actor(), team, now).await?;
    Ok((StatusCode::CREATED, Json(team)))
}

/// Renames a team, or replaces its people with `memberIds` (admins).
#[utoipa::path(
    patch,
    path = "/phone-sms/teams/{id}",
    tag = "auth",
    extensions(("x-permission" = json!("team:change"))),
    params(("id" = String, Path, description = "Team id")),
    request_body = TeamPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Team),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(patch): Body<TeamPatch>,
) -> Result<Json<Team>, AppError> {
    let name = patch
        .name
        .as_deref()
        .map(|n| text("name", n, NAME_MAX))
        .transpose()?;
    let member_ids = patch.member_ids.map(members);
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let apply = Arc::new(move |current: &Team| {
        let mut next = current.clone();
        if let Some(name) = &name {
            next.name.clone_from(name);
        }
        if let Some(ids) = &member_ids {
            next.member_ids.clone_from(ids);
        }
        next.updated_at.clone_from(&stamp);
        Ok(next)
    });
    state
        .store
        .update_team(&caller.actor(), &id, apply, now)
        .await?
        .map(Json)
        .ok_or(AppError::NotFound)
}

/// Deletes a team (admins): its conversations and numbers keep their history and no longer
/// belong to a team.
#[utoipa::path(
    delete,
    path = "/phone-sms/teams/{id}",
    tag = "auth",
    extensions(("x-permission" = json!("team:delete"))),
    params(("id" = String, Path, description = "Team id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    deleted(
        state
            .store
            .delete_team(&caller.actor(), &id, clock::now())
            .await?,
    )
}
