//! `/phone-sms/calls`: the call history. The softphone posts a record after each
//! call (idempotent on the SIP Call-ID); notes, status and assignment are edited here.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use upzento_domain::permissions::Work;
use upzento_domain::resources::{
    Assignment, Call, CallNote, CallNoteList, CallNotes, CallStatus, CallStatusUpdate, CallType,
    NewCall, NewNote, Page,
};
use upzento_domain::wire::ErrorBody;
use utoipa::IntoParams;

use super::support::{
    Body, Paging, Params, e164, found, optional_text, text, user_of_tenant, visible_call,
};
use crate::auth::Caller;
use crate::error::AppError;
use crate::store::CallFilter;
use crate::{AppState, clock};

const NOTES_MAX: usize = 5000;
const SIP_ID_MAX: usize = 255;
const MAX_DURATION: u32 = 86_400;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListCallsQuery {
    #[serde(rename = "type")]
    #[param(rename = "type")]
    kind: Option<CallType>,
    status: Option<CallStatus>,
    /// A user id, or `me` for the caller.
    assigned_to: Option<String>,
    contact_id: Option<String>,
    /// Calls that started at or after this time (RFC 3339).
    #[param(format = DateTime)]
    from: Option<String>,
    /// Calls that started before this time (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `nextCursor` of the previous page (older calls).
    #[param(pattern = r"^[0-9]{1,18}\.[0-9A-Za-z-]{1,64}$")]
    cursor: Option<String>,
}

fn time_ms(field: &str, value: Option<&str>) -> Result<Option<i64>, AppError> {
    value
        .map(|v| {
            clock::parse_rfc3339(v.trim())
                .map(clock::to_ms)
                .map_err(|_| {
                    AppError::invalid_field(
                        field,
                        format!("{field} is a time like 2026-11-24T18:30:00Z."),
                    )
                })
        })
        .transpose()
}

/// The call history, newest first.
#[utoipa::path(
    get,
    path = "/phone-sms/calls",
    tag = "calls",
    extensions(("x-permission" = json!("call:read"))),
    params(ListCallsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Page<Call>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<ListCallsQuery>,
) -> Result<Json<Page<Call>>, AppError> {
    let paging = Paging::new(query.limit, query.cursor.as_deref())?;
    let filter = CallFilter {
        kind: query.kind.map(|k| k.as_str().to_owned()),
        status: query.status.map(|s| s.as_str().to_owned()),
        assigned_to: query
            .assigned_to
            .map(|a| if a == "me" { caller.user.id.clone() } else { a }),
        contact_id: query.contact_id,
        from_ms: time_ms("from", query.from.as_deref())?,
        until_ms: time_ms("until", query.until.as_deref())?,
        visible_to: Some(caller.viewer(&state).await?),
    };
    let items = state
        .store
        .list_calls(&caller.tenant.id, &filter, paging.after(), paging.fetch())
        .await?;
    paging.page(items)
}

/// Records a call. Posting a SIP Call-ID again returns the first record (200).
#[utoipa::path(
    post,
    path = "/phone-sms/calls",
    tag = "calls",
    extensions(("x-permission" = json!("call:create"))),
    request_body = NewCall,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Recorded", body = Call),
        (status = 200, description = "This SIP Call-ID was recorded before", body = Call),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(new): Body<NewCall>,
) -> Result<(StatusCode, Json<Call>), AppError> {
    let from = e164("from", &new.from)?;
    let to = e164("to", &new.to)?;
    let start = time_ms("startTime", Some(&new.start_time))?.unwrap_or_default();
    // The history's cursors carry unsigned times: paging would stop at an older call.
    if start < 0 {
        return Err(AppError::invalid_field(
            "startTime",
            "startTime is before 1970: no call history goes back that far.",
        ));
    }
    let end = time_ms("endTime", new.end_time.as_deref())?;
    if end.is_some_and(|end| end < start) {
        return Err(AppError::invalid_field(
            "endTime",
            "The call ends before it starts.",
        ));
    }
    if new.duration.is_some_and(|d| d > MAX_DURATION) {
        return Err(AppError::invalid_field(
            "duration",
            "A call lasts at most a day.",
        ));
    }
    // Without a duration, a completed call lasted from its start to its end.
    let duration = new.duration.or_else(|| {
        end.filter(|_| new.status == CallStatus::Completed)
            .and_then(|end| u32::try_from((end - start) / 1000).ok())
    });
    if let Some(id) = &new.phone_number_id
        && state.store.number(&caller.tenant.id, id).await?.is_none()
    {
        return Err(AppError::invalid_field(
            "phoneNumberId",
            "No such number in this tenant.",
        ));
    }
    let sip_call_id = optional_text("sipCallId", new.sip_call_id.as_deref(), SIP_ID_MAX)?;
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let call = Call {
        id: uuid::Uuid::now_v7().to_string(),
        phone_number_id: new.phone_number_id,
        contact_id: None,
        kind: new.kind,
        status: new.status,
        from,
        to,
        duration,
        recording_url: None,
        notes: optional_text("notes", new.notes.as_deref(), NOTES_MAX)?,
        assigned_to: None,
        start_time: clock::rfc3339(clock::from_ms(start)),
        end_time: end.map(|e| clock::rfc3339(clock::from_ms(e))),
        sip_call_id,
        disposition_id: None,
        tags: Vec::new(),
        wrapped_up_at: None,
        wrapped_up_by: None,
        created_by: caller.user.id.clone(),
        created_at: stamp.clone(),
        updated_at: stamp,
    };
    let (call, created) = state.store.create_call(&caller.actor(), call, now).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(call)))
}

/// One call.
#[utoipa::path(
    get,
    path = "/phone-sms/calls/{id}",
    tag = "calls",
    extensions(("x-permission" = json!("call:read"))),
    params(("id" = String, Path, description = "Call id")),
    security(("bearer" = [])),
    responses((status = 200, body = Call), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Call>, AppError> {
    Ok(Json(visible_call(&state, &caller, &id).await?))
}

async fn change(
    state: &AppState,
    caller: &Caller,
    id: &str,
    apply: impl Fn(&mut Call) + Send + Sync + 'static,
) -> Result<Json<Call>, AppError> {
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let viewer = caller.viewer(state).await?;
    let apply = Arc::new(move |current: &Call| {
        // Checked in the update's transaction: out of scope is as absent.
        if !viewer.sees(&Work::of_call(current)) {
            return Err(AppError::NotFound);
        }
        let mut next = current.clone();
        apply(&mut next);
        next.updated_at.clone_from(&stamp);
        Ok(next)
    });
    found(
        state
            .store
            .update_call(&caller.actor(), id, apply, now)
            .await?,
    )
}

/// Corrects a call's status (a missed call that was returned, a voicemail, ...).
#[utoipa::path(
    patch,
    path = "/phone-sms/calls/{id}/status",
    tag = "calls",
    extensions(("x-permission" = json!("call:change"))),
    params(("id" = String, Path, description = "Call id")),
    request_body = CallStatusUpdate,
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
pub async fn set_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(update): Body<CallStatusUpdate>,
) -> Result<Json<Call>, AppError> {
    change(&state, &caller, &id, move |c| c.status = update.status).await
}

/// Sets a call's notes.
#[utoipa::path(
    patch,
    path = "/phone-sms/calls/{id}/notes",
    tag = "calls",
    extensions(("x-permission" = json!("call:change"))),
    params(("id" = String, Path, description = "Call id")),
    request_body = CallNotes,
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
pub async fn set_notes(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(update): Body<CallNotes>,
) -> Result<Json<Call>, AppError> {
    let notes = optional_text("notes", update.notes.as_deref(), NOTES_MAX)?;
    change(&state, &caller, &id, move |c| {
        c.notes.clone_from(&notes);
    })
    .await
}

/// Most notes a call's timeline returns (a call's story, not a feed).
const NOTES_PER_CALL: usize = 500;

/// A call's notes timeline, oldest first.
#[utoipa::path(
    get,
    path = "/phone-sms/calls/{id}/notes",
    tag = "calls",
    extensions(("x-permission" = json!("call:read"))),
    params(("id" = String, Path, description = "Call id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = CallNoteList),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn notes(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CallNoteList>, AppError> {
    visible_call(&state, &caller, &id).await?;
    let items = state
        .store
        .call_notes(&caller.tenant.id, &id, NOTES_PER_CALL)
        .await?;
    Ok(Json(CallNoteList { items }))
}

/// Adds a note to a call's timeline, by the caller, now.
#[utoipa::path(
    post,
    path = "/phone-sms/calls/{id}/notes",
    tag = "calls",
    extensions(("x-permission" = json!("call:change"))),
    params(("id" = String, Path, description = "Call id")),
    request_body = NewNote,
    security(("bearer" = [])),
    responses(
        (status = 201, body = CallNote),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn add_note(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(new): Body<NewNote>,
) -> Result<(StatusCode, Json<CallNote>), AppError> {
    visible_call(&state, &caller, &id).await?;
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let note = CallNote {
        id: uuid::Uuid::now_v7().to_string(),
        call_id: id,
        author_id: caller.user.id.clone(),
        text: text("text", &new.text, NOTES_MAX)?,
        created_at: stamp.clone(),
        updated_at: stamp,
    };
    let added = state
        .store
        .add_call_note(&caller.actor(), note, now)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((StatusCode::CREATED, Json(added)))
}

/// Assigns a call for follow-up to a user of the tenant, or unassigns it.
#[utoipa::path(
    patch,
    path = "/phone-sms/calls/{id}/assign",
    tag = "calls",
    extensions(("x-permission" = json!("call:change"))),
    params(("id" = String, Path, description = "Call id")),
    request_body = Assignment,
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
pub async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(assignment): Body<Assignment>,
) -> Result<Json<Call>, AppError> {
    if assignment.team_id.is_some() {
        return Err(AppError::invalid_field(
            "teamId",
            "A call is followed up by a user: assign it to one.",
        ));
    }
    user_of_tenant(&state, &caller, "userId", assignment.user_id.as_deref()).await?;
    change(&state, &caller, &id, move |c| {
        c.assigned_to.clone_from(&assignment.user_id);
    })
    .await
}
