//! After-call work: a call's wrap-up, the tenant's dispositions, follow-up tasks and the
//! tenant's settings (its wrap-up timer).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use upzento_domain::permissions::Work;
use upzento_domain::resources::{
    Call, Disposition, DispositionList, DispositionPatch, NewDisposition, NewTask, Page, Task,
    TaskPatch, TenantSettings, TenantSettingsPatch, WrapUp,
};
use upzento_domain::wire::ErrorBody;
use utoipa::IntoParams;

use super::contacts::tags;
use super::support::{
    Body, Paging, Params, found, instant, optional_text, text, user_of_tenant, visible_call,
    visible_conversation,
};
use crate::auth::Caller;
use crate::error::AppError;
use crate::store::after_call::TaskFilter;
use crate::{AppState, clock};

const NAME_MAX: usize = 60;
const TITLE_MAX: usize = 200;
const NOTE_MAX: usize = 5000;
/// The most a tenant may offer: a list an agent can still scan during a wrap-up.
const MAX_DISPOSITIONS: usize = 50;
const MAX_POSITION: u32 = 1000;
/// The wrap-up timer's bounds: long enough to type a sentence, at most an hour.
const WRAP_UP_SECONDS: std::ops::RangeInclusive<u32> = 10..=3600;

/// Saves a call's after-call work: its disposition and tags, its wrap-up note (in the
/// notes timeline) and a follow-up task for the caller. Putting it again replaces all of
/// it (the note and the task are changed, not added).
#[utoipa::path(
    put,
    path = "/phone-sms/calls/{id}/wrap-up",
    tag = "calls",
    extensions(("x-permission" = json!("call:change"))),
    params(("id" = String, Path, description = "Call id")),
    request_body = WrapUp,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Call),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn wrap_up(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(wrap): Body<WrapUp>,
) -> Result<Json<Call>, AppError> {
    visible_call(&state, &caller, &id).await?;
    let mut follow_up = wrap.follow_up;
    if let Some(f) = &mut follow_up {
        f.title = text("followUp.title", &f.title, TITLE_MAX)?;
        f.due_at = instant("followUp.dueAt", &f.due_at)?;
    }
    let wrap = WrapUp {
        disposition_id: wrap.disposition_id,
        tags: tags(&wrap.tags)?,
        note: optional_text("note", wrap.note.as_deref(), NOTE_MAX)?,
        follow_up,
    };
    found(
        state
            .store
            .wrap_up_call(&caller.actor(), &id, wrap, clock::now())
            .await?,
    )
}

/// The tenant's dispositions in their order, archived ones too (marked).
#[utoipa::path(
    get,
    path = "/phone-sms/dispositions",
    tag = "calls",
    extensions(("x-permission" = json!("disposition:read"))),
    security(("bearer" = [])),
    responses((status = 200, body = DispositionList), (status = 401, body = ErrorBody))
)]
pub async fn dispositions(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<DispositionList>, AppError> {
    let items = state.store.dispositions(&caller.tenant.id).await?;
    Ok(Json(DispositionList { items }))
}

/// Adds a disposition agents can file calls under (admins).
#[utoipa::path(
    post,
    path = "/phone-sms/dispositions",
    tag = "calls",
    extensions(("x-permission" = json!("disposition:create"))),
    request_body = NewDisposition,
    security(("bearer" = [])),
    responses(
        (status = 201, body = Disposition),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
    )
)]
pub async fn create_disposition(
    State(state): State<AppState>,
    caller: Caller,
    Body(new): Body<NewDisposition>,
) -> Result<(StatusCode, Json<Disposition>), AppError> {
    let name = text("name", &new.name, NAME_MAX)?;
    position(new.position)?;
    if state.store.dispositions(&caller.tenant.id).await?.len() >= MAX_DISPOSITIONS {
        return Err(AppError::invalid_field(
            "name",
            format!("A tenant offers at most {MAX_DISPOSITIONS} dispositions: archive one first."),
        ));
    }
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let disposition = Disposition {
        id: uuid::Uuid::now_v7().to_string(),
        name,
        position: 0,
        archived: false,
        created_at: stamp.clone(),
        updated_at: stamp,
    };
    let created = state
        .store
        .create_disposition(&caller.actor(), disposition, new.position, now)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

fn position(value: Option<u32>) -> Result<(), AppError> {
    if value.is_some_and(|p| p > MAX_POSITION) {
        return Err(AppError::invalid_field(
            "position",
            format!("position is at most {MAX_POSITION}."),
        ));
    }
    Ok(())
}

/// Renames, moves, archives or restores a disposition (admins).
#[utoipa::path(
    patch,
    path = "/phone-sms/dispositions/{id}",
    tag = "calls",
    extensions(("x-permission" = json!("disposition:change"))),
    params(("id" = String, Path, description = "Disposition id")),
    request_body = DispositionPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Disposition),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
    )
)]
pub async fn update_disposition(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(patch): Body<DispositionPatch>,
) -> Result<Json<Disposition>, AppError> {
    let name = patch
        .name
        .as_deref()
        .map(|n| text("name", n, NAME_MAX))
        .transpose()?;
    position(patch.position)?;
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let apply = Arc::new(move |d: &Disposition| {
        Ok(Disposition {
            name: name.clone().unwrap_or_else(|| d.name.clone()),
            position: patch.position.unwrap_or(d.position),
            archived: patch.archived.unwrap_or(d.archived),
            updated_at: stamp.clone(),
            ..d.clone()
        })
    });
    found(
        state
            .store
            .update_disposition(&caller.actor(), &id, apply, now)
            .await?,
    )
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListTasksQuery {
    /// A user id, or `me` for the caller; everyone's when absent.
    assignee: Option<String>,
    /// `true`: done ones only; `false`: the ones still to do.
    done: Option<bool>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `nextCursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,18}\.[0-9A-Za-z-]{1,64}$")]
    cursor: Option<String>,
}

/// The tenant's tasks in creation order.
#[utoipa::path(
    get,
    path = "/phone-sms/tasks",
    tag = "tasks",
    extensions(("x-permission" = json!("task:read"))),
    params(ListTasksQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Page<Task>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
pub async fn tasks(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<ListTasksQuery>,
) -> Result<Json<Page<Task>>, AppError> {
    let paging = Paging::new(query.limit, query.cursor.as_deref())?;
    let filter = TaskFilter {
        assignee_id: query
            .assignee
            .map(|a| if a == "me" { caller.user.id.clone() } else { a }),
        done: query.done,
        visible_to: Some(caller.viewer(&state).await?),
    };
    let items = state
        .store
        .list_tasks(&caller.tenant.id, &filter, paging.after(), paging.fetch())
        .await?;
    paging.page(items)
}

/// Adds a task (for the caller unless it names another user of the tenant).
#[utoipa::path(
    post,
    path = "/phone-sms/tasks",
    tag = "tasks",
    extensions(("x-permission" = json!("task:create"))),
    request_body = NewTask,
    security(("bearer" = [])),
    responses(
        (status = 201, body = Task),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn create_task(
    State(state): State<AppState>,
    caller: Caller,
    Body(new): Body<NewTask>,
) -> Result<(StatusCode, Json<Task>), AppError> {
    user_of_tenant(&state, &caller, "assigneeId", new.assignee_id.as_deref()).await?;
    let tenant = &caller.tenant.id;
    if let Some(id) = &new.call_id {
        visible_call(&state, &caller, id)
            .await
            .map_err(|e| absent_as_invalid(e, "callId", "No such call in this tenant."))?;
    }
    if let Some(id) = &new.contact_id
        && state.store.contact(tenant, id).await?.is_none()
    {
        return Err(AppError::invalid_field(
            "contactId",
            "No such contact in this tenant.",
        ));
    }
    if let Some(id) = &new.conversation_id {
        visible_conversation(&state, &caller, id)
            .await
            .map_err(|e| {
                absent_as_invalid(e, "conversationId", "No such conversation in this tenant.")
            })?;
    }
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let task = Task {
        id: uuid::Uuid::now_v7().to_string(),
        title: text("title", &new.title, TITLE_MAX)?,
        due_at: instant("dueAt", &new.due_at)?,
        assignee_id: new.assignee_id.unwrap_or_else(|| caller.user.id.clone()),
        call_id: new.call_id,
        contact_id: new.contact_id,
        conversation_id: new.conversation_id,
        done_at: None,
        created_by: caller.user.id.clone(),
        created_at: stamp.clone(),
        updated_at: stamp,
    };
    state
        .store
        .create_task(&caller.actor(), task.clone(), now)
        .await?;
    Ok((StatusCode::CREATED, Json(task)))
}

/// A record a body names that is not there (or out of the caller's scope) is a bad field.
fn absent_as_invalid(e: AppError, field: &'static str, message: &'static str) -> AppError {
    match e {
        AppError::NotFound => AppError::invalid_field(field, message),
        other => other,
    }
}

/// Marks a task done (or to do again), moves its due time, renames or reassigns it.
#[utoipa::path(
    patch,
    path = "/phone-sms/tasks/{id}",
    tag = "tasks",
    extensions(("x-permission" = json!("task:change"))),
    params(("id" = String, Path, description = "Task id")),
    request_body = TaskPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Task),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn update_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(patch): Body<TaskPatch>,
) -> Result<Json<Task>, AppError> {
    user_of_tenant(&state, &caller, "assigneeId", patch.assignee_id.as_deref()).await?;
    let title = patch
        .title
        .as_deref()
        .map(|t| text("title", t, TITLE_MAX))
        .transpose()?;
    let due_at = patch
        .due_at
        .as_deref()
        .map(|d| instant("dueAt", d))
        .transpose()?;
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let viewer = caller.viewer(&state).await?;
    let apply = Arc::new(move |t: &Task| {
        // Checked in the update's transaction: out of scope is as absent.
        if !viewer.sees(&Work::of_task(t)) {
            return Err(AppError::NotFound);
        }
        let done_at = match patch.done {
            // Done twice keeps the first time.
            Some(true) => t.done_at.clone().or_else(|| Some(stamp.clone())),
            Some(false) => None,
            None => t.done_at.clone(),
        };
        Ok(Task {
            title: title.clone().unwrap_or_else(|| t.title.clone()),
            due_at: due_at.clone().unwrap_or_else(|| t.due_at.clone()),
            assignee_id: patch
                .assignee_id
                .clone()
                .unwrap_or_else(|| t.assignee_id.clone()),
            done_at,
            updated_at: stamp.clone(),
            ..t.clone()
        })
    });
    found(
        state
            .store
            .update_task(&caller.actor(), &id, apply, now)
            .await?,
    )
}

/// The tenant's Phone & SMS settings.
#[utoipa::path(
    get,
    path = "/phone-sms/settings",
    tag = "settings",
    extensions(("x-permission" = json!("settings:read"))),
    security(("bearer" = [])),
    responses((status = 200, body = TenantSettings), (status = 401, body = ErrorBody))
)]
pub async fn settings(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<TenantSettings>, AppError> {
    Ok(Json(state.store.settings(&caller.tenant.id).await?))
}

/// Changes the tenant's settings (admins).
#[utoipa::path(
    patch,
    path = "/phone-sms/settings",
    tag = "settings",
    extensions(("x-permission" = json!("settings:change"))),
    request_body = TenantSettingsPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, body = TenantSettings),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    )
)]
pub async fn update_settings(
    State(state): State<AppState>,
    caller: Caller,
    Body(patch): Body<TenantSettingsPatch>,
) -> Result<Json<TenantSettings>, AppError> {
    if let Some(Some(s)) = patch.wrap_up_seconds
        && !WRAP_UP_SECONDS.contains(&s)
    {
        return Err(AppError::invalid_field(
            "wrapUpSeconds",
            format!(
                "The wrap-up time is {} to {} seconds, or none.",
                WRAP_UP_SECONDS.start(),
                WRAP_UP_SECONDS.end()
            ),
        ));
    }
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let apply = Arc::new(move |s: &TenantSettings| {
        let start = patch
            .campaign_hours_start
            .clone()
            .unwrap_or_else(|| s.campaign_hours_start.clone());
        let end = patch
            .campaign_hours_end
            .clone()
            .unwrap_or_else(|| s.campaign_hours_end.clone());
        // Checked against the hours as they will be (one end may be changed alone).
        if let Err(why) = upzento_domain::quiet::Window::from_hhmm(&start, &end) {
            let field = if patch.campaign_hours_start.is_some() {
                "campaignHoursStart"
            } else {
                "campaignHoursEnd"
            };
            return Err(AppError::invalid_field(field, why));
        }
        Ok(TenantSettings {
            wrap_up_seconds: patch.wrap_up_seconds.unwrap_or(s.wrap_up_seconds),
            campaign_hours_start: start,
            campaign_hours_end: end,
            updated_at: stamp.clone(),
            ..s.clone()
        })
    });
    Ok(Json(
        state
            .store
            .update_settings(&caller.actor(), apply, now)
            .await?,
    ))
}
