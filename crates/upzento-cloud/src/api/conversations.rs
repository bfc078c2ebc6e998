//! `/phone-sms/conversations`: SMS threads, the inbox.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use upzento_domain::permissions::Work;
use upzento_domain::resources::{
    Assignment, Conversation, ConversationNote, ConversationNoteList, ConversationStatus,
    ConversationStatusUpdate, NewConversation, NewNote, Page, SmsMessage, Snooze,
};
use upzento_domain::wire::ErrorBody;
use utoipa::IntoParams;

use super::support::{
    Body, Paging, Params, e164, found, instant, opened_in_scope, team_of_tenant, text,
    user_of_tenant, visible_conversation,
};
use crate::auth::Caller;
use crate::error::AppError;
use crate::outbound::can_text;
use crate::store::ConversationFilter;
use crate::{AppState, clock};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListConversationsQuery {
    status: Option<ConversationStatus>,
    /// A user id, or `me` for the caller.
    assigned_to: Option<String>,
    contact_id: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `nextCursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,18}\.[0-9A-Za-z-]{1,64}$")]
    cursor: Option<String>,
}

/// Conversations, newest activity first: the inbox.
#[utoipa::path(
    get,
    path = "/phone-sms/conversations",
    tag = "conversations",
    extensions(("x-permission" = json!("conversation:read"))),
    params(ListConversationsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Page<Conversation>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<ListConversationsQuery>,
) -> Result<Json<Page<Conversation>>, AppError> {
    let paging = Paging::new(query.limit, query.cursor.as_deref())?;
    let filter = ConversationFilter {
        status: query.status.map(|s| s.as_str().to_owned()),
        assigned_to: query
            .assigned_to
            .map(|a| if a == "me" { caller.user.id.clone() } else { a }),
        contact_id: query.contact_id,
        visible_to: Some(caller.viewer(&state).await?),
    };
    let items = state
        .store
        .list_conversations(&caller.tenant.id, &filter, paging.after(), paging.fetch())
        .await?;
    let items = with_unread(&state, &caller, items).await?;
    paging.page(items)
}

/// Opens the conversation between one of the tenant's numbers and another number
/// (or returns the one that exists: 200 instead of 201).
#[utoipa::path(
    post,
    path = "/phone-sms/conversations",
    tag = "conversations",
    extensions(("x-permission" = json!("conversation:create"))),
    request_body = NewConversation,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Opened", body = Conversation),
        (status = 200, description = "It existed already", body = Conversation),
        (status = 400, body = ErrorBody),
        (status = 409, description = "It exists and is out of the caller's scope (`assigned_elsewhere`)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(new): Body<NewConversation>,
) -> Result<(StatusCode, Json<Conversation>), AppError> {
    let contact_number = e164("contactNumber", &new.contact_number)?;
    let number = state
        .store
        .number(&caller.tenant.id, &new.phone_number_id)
        .await?
        .ok_or_else(|| {
            AppError::invalid_field("phoneNumberId", "No such number in this tenant.")
        })?;
    can_text(&number)?;
    if number.number == contact_number {
        return Err(AppError::invalid_field(
            "contactNumber",
            "A number cannot text itself.",
        ));
    }
    let (conversation, created) = state
        .store
        .open_conversation(&caller.actor(), &number, &contact_number, clock::now())
        .await?;
    let conversation = opened_in_scope(&state, &caller, conversation).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let conversation = with_unread(&state, &caller, vec![conversation])
        .await?
        .pop()
        .ok_or(AppError::NotFound)?;
    Ok((status, Json(conversation)))
}

/// Fills in the caller's unread counts.
async fn with_unread(
    state: &AppState,
    caller: &Caller,
    mut items: Vec<Conversation>,
) -> Result<Vec<Conversation>, AppError> {
    let ids: Vec<String> = items.iter().map(|c| c.id.clone()).collect();
    let counts = state
        .store
        .unread_counts(&caller.tenant.id, &caller.user.id, &ids)
        .await?;
    for item in &mut items {
        item.unread_count = Some(counts.get(&item.id).copied().unwrap_or(0));
    }
    Ok(items)
}

async fn one_with_unread(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Json<Conversation>, AppError> {
    let conversation = visible_conversation(state, caller, id).await?;
    let mut items = with_unread(state, caller, vec![conversation]).await?;
    found(items.pop())
}

/// Marks the conversation read by the caller up to now: its unread count becomes 0 for
/// the caller only (each user has their own).
#[utoipa::path(
    post,
    path = "/phone-sms/conversations/{id}/read",
    tag = "conversations",
    extensions(("x-permission" = json!("conversation:read"))),
    params(("id" = String, Path, description = "Conversation id")),
    security(("bearer" = [])),
    responses((status = 200, body = Conversation), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn mark_read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Conversation>, AppError> {
    visible_conversation(&state, &caller, &id).await?;
    let now = clock::now();
    if !state
        .store
        .mark_read(&caller.actor(), &id, now, now)
        .await?
    {
        return Err(AppError::NotFound);
    }
    one_with_unread(&state, &caller, &id).await
}

/// One conversation, with the caller's unread count.
#[utoipa::path(
    get,
    path = "/phone-sms/conversations/{id}",
    tag = "conversations",
    extensions(("x-permission" = json!("conversation:read"))),
    params(("id" = String, Path, description = "Conversation id")),
    security(("bearer" = [])),
    responses((status = 200, body = Conversation), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Conversation>, AppError> {
    one_with_unread(&state, &caller, &id).await
}

async fn change(
    state: &AppState,
    caller: &Caller,
    id: &str,
    apply: impl Fn(&mut Conversation) + Send + Sync + 'static,
) -> Result<Json<Conversation>, AppError> {
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let viewer = caller.viewer(state).await?;
    let apply = Arc::new(move |current: &Conversation| {
        // Checked in the update's transaction: out of scope is as absent.
        if !viewer.sees(&Work::of_conversation(current)) {
            return Err(AppError::NotFound);
        }
        let mut next = current.clone();
        apply(&mut next);
        next.updated_at.clone_from(&stamp);
        Ok(next)
    });
    let updated = state
        .store
        .update_conversation(&caller.actor(), id, apply, now)
        .await?
        .ok_or(AppError::NotFound)?;
    found(with_unread(state, caller, vec![updated]).await?.pop())
}

/// Opens or closes (marks done) a conversation.
#[utoipa::path(
    patch,
    path = "/phone-sms/conversations/{id}/status",
    tag = "conversations",
    extensions(("x-permission" = json!("conversation:change"))),
    params(("id" = String, Path, description = "Conversation id")),
    request_body = ConversationStatusUpdate,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Conversation),
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
    Body(update): Body<ConversationStatusUpdate>,
) -> Result<Json<Conversation>, AppError> {
    change(&state, &caller, &id, move |c| c.status = update.status).await
}

/// Assigns a conversation to a user of the tenant, or unassigns it (`userId: null`); with
/// `teamId`, also to a team (`null`: no team).
#[utoipa::path(
    patch,
    path = "/phone-sms/conversations/{id}/assign",
    tag = "conversations",
    extensions(("x-permission" = json!("conversation:change"))),
    params(("id" = String, Path, description = "Conversation id")),
    request_body = Assignment,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Conversation),
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
) -> Result<Json<Conversation>, AppError> {
    user_of_tenant(&state, &caller, "userId", assignment.user_id.as_deref()).await?;
    if let Some(Some(team)) = &assignment.team_id {
        team_of_tenant(&state, &caller, "teamId", Some(team)).await?;
    }
    change(&state, &caller, &id, move |c| {
        c.assigned_to.clone_from(&assignment.user_id);
        if let Some(team) = &assignment.team_id {
            c.team_id.clone_from(team);
        }
    })
    .await
}

/// Snoozes a conversation out of the inbox until a time, or brings it back now. A
/// message from the other side brings it back sooner.
#[utoipa::path(
    patch,
    path = "/phone-sms/conversations/{id}/snooze",
    tag = "conversations",
    extensions(("x-permission" = json!("conversation:change"))),
    params(("id" = String, Path, description = "Conversation id")),
    request_body = Snooze,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Conversation),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn snooze(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(snooze): Body<Snooze>,
) -> Result<Json<Conversation>, AppError> {
    let until = snooze
        .until
        .as_deref()
        .map(|u| instant("until", u))
        .transpose()?;
    if let Some(u) = &until
        && clock::parse_rfc3339(u)? <= clock::now()
    {
        return Err(AppError::invalid_field(
            "until",
            "A conversation is snoozed until a time still to come.",
        ));
    }
    change(&state, &caller, &id, move |c| {
        c.snoozed_until.clone_from(&until);
    })
    .await
}

/// Most notes a conversation returns (its team's remarks, not a feed).
const NOTES_PER_CONVERSATION: usize = 500;
const NOTE_MAX: usize = 5000;

/// A conversation's internal notes, oldest first.
#[utoipa::path(
    get,
    path = "/phone-sms/conversations/{id}/notes",
    tag = "conversations",
    extensions(("x-permission" = json!("conversation:read"))),
    params(("id" = String, Path, description = "Conversation id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ConversationNoteList),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn notes(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ConversationNoteList>, AppError> {
    visible_conversation(&state, &caller, &id).await?;
    let items = state
        .store
        .conversation_notes(&caller.tenant.id, &id, NOTES_PER_CONVERSATION)
        .await?;
    Ok(Json(ConversationNoteList { items }))
}

/// Adds an internal note to a conversation: for the team, never sent.
#[utoipa::path(
    post,
    path = "/phone-sms/conversations/{id}/notes",
    tag = "conversations",
    extensions(("x-permission" = json!("conversation:change"))),
    params(("id" = String, Path, description = "Conversation id")),
    request_body = NewNote,
    security(("bearer" = [])),
    responses(
        (status = 201, body = ConversationNote),
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
) -> Result<(StatusCode, Json<ConversationNote>), AppError> {
    visible_conversation(&state, &caller, &id).await?;
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let note = ConversationNote {
        id: uuid::Uuid::now_v7().to_string(),
        conversation_id: id,
        author_id: caller.user.id.clone(),
        text: text("text", &new.text, NOTE_MAX)?,
        created_at: stamp.clone(),
        updated_at: stamp,
    };
    let added = state
        .store
        .add_conversation_note(&caller.actor(), note, now)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((StatusCode::CREATED, Json(added)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListMessagesQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `nextCursor` of the previous page (older messages).
    #[param(pattern = r"^[0-9]{1,18}\.[0-9A-Za-z-]{1,64}$")]
    cursor: Option<String>,
}

/// A conversation's messages, newest first.
#[utoipa::path(
    get,
    path = "/phone-sms/conversations/{conversationId}/messages",
    tag = "conversations",
    extensions(("x-permission" = json!("message:read"))),
    params(("conversationId" = String, Path, description = "Conversation id"), ListMessagesQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Page<SmsMessage>),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(conversation_id): Path<String>,
    Params(query): Params<ListMessagesQuery>,
) -> Result<Json<Page<SmsMessage>>, AppError> {
    let paging = Paging::new(query.limit, query.cursor.as_deref())?;
    visible_conversation(&state, &caller, &conversation_id).await?;
    let items = state
        .store
        .messages(
            &caller.tenant.id,
            &conversation_id,
            paging.after(),
            paging.fetch(),
        )
        .await?;
    paging.page(items)
}
