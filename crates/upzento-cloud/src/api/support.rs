//! Shared pieces of the handlers: body and query extraction with JSON errors,
//! cursors, roles.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::auth::Caller;
use crate::error::AppError;
use axum::Json;
use axum::http::StatusCode;
use upzento_domain::permissions::{Viewer, Work};
use upzento_domain::resources::{self, Page};

use crate::store::{Actor, After};
use crate::{AppState, clock};

/// `Json<T>` whose rejections are answered as `{code, message}` JSON.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let axum::Json(value) = axum::Json::<serde_json::Value>::from_request(req, state)
            .await
            .map_err(|e: JsonRejection| AppError::from(e))?;
        // serde would also read a struct from a JSON array ([a, b]); bodies are objects only.
        if !value.is_object() {
            return Err(AppError::bad_request(
                "invalid_body",
                "The body must be a JSON object.",
            ));
        }
        if let Some(field) = super::boundary::find_nul(&value) {
            return Err(super::boundary::nul_refused(Some(field)));
        }
        serde_json::from_value(value)
            .map(Self)
            .map_err(|e| AppError::bad_request("invalid_body", format!("Invalid body: {e}")))
    }
}

/// `Query<T>` whose rejections are answered as `{code, message}` JSON.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state)
                .await
                .map_err(|e: QueryRejection| {
                    AppError::bad_request("invalid_query", e.body_text())
                })?;
        Ok(Self(value))
    }
}

/// Where the next page starts: `<unix ms>.<id>` of the last row of the previous page.
/// Clients pass it back as they got it; the OpenAPI document states its pattern,
/// `^[0-9]{1,18}\.[0-9A-Za-z-]{1,64}$`, which `decode` checks by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor;

/// 9999-12-31T23:59:59.999Z in Unix milliseconds.
const LAST_MS: i64 = 253_402_300_799_999;

impl Cursor {
    pub fn encode(at_ms: i64, id: &str) -> String {
        format!("{at_ms}.{id}")
    }

    pub fn decode(text: &str) -> Result<After, AppError> {
        let invalid =
            || AppError::invalid_field("cursor", "The cursor is not one this server gave out.");
        let (ms, id) = text.split_once('.').ok_or_else(invalid)?;
        let valid_id = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        let ms_ok = !ms.is_empty() && ms.len() <= 18 && ms.bytes().all(|b| b.is_ascii_digit());
        if !valid_id || !ms_ok {
            return Err(invalid());
        }
        // No record is newer than the year 9999: a later time means the same as that one,
        // which both backends can represent (past it, each read it differently).
        let created_at_ms = ms.parse::<i64>().map_err(|_| invalid())?.min(LAST_MS);
        Ok(After {
            created_at_ms,
            id: id.to_owned(),
        })
    }
}

/// A resource listed in pages: the time and id its list is sorted by, which a cursor holds.
pub trait Listed {
    fn sort_key(&self) -> (&str, &str);
}

macro_rules! listed {
    ($($t:ty => $at:ident),* $(,)?) => {$(
        impl Listed for $t {
            fn sort_key(&self) -> (&str, &str) {
                (&self.$at, &self.id)
            }
        }
    )*};
}

listed!(
    resources::AuditEntry => at,
    resources::Call => start_time,
    resources::CampaignRecipient => created_at,
    resources::DoNotContactEntry => created_at,
    resources::Contact => created_at,
    resources::Conversation => last_activity_at,
    resources::PhoneNumber => created_at,
    resources::SmsCampaign => created_at,
    resources::SmsMessage => created_at,
    resources::SmsTemplate => created_at,
    resources::Task => created_at,
);

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;

/// A list query's page: its size and where it starts, from its `limit` and `cursor`.
#[derive(Debug)]
pub struct Paging {
    pub limit: usize,
    pub after: Option<After>,
}

impl Paging {
    pub fn new(limit: Option<u32>, cursor: Option<&str>) -> Result<Self, AppError> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(n) if (1..=MAX_LIMIT as u32).contains(&n) => n as usize,
            Some(_) => {
                return Err(AppError::invalid_field(
                    "limit",
                    format!("limit must be between 1 and {MAX_LIMIT}."),
                ));
            }
        };
        let after = cursor.map(Cursor::decode).transpose()?;
        Ok(Self { limit, after })
    }

    pub fn after(&self) -> Option<&After> {
        self.after.as_ref()
    }

    /// How many rows to fetch: one more than the page, to tell whether another follows.
    pub fn fetch(&self) -> usize {
        self.limit + 1
    }

    /// The page of `items` (fetched with [`Self::fetch`]): the extra row cut, and its
    /// presence turned into the cursor of the next page (the last row's sort key).
    pub fn page<T: Listed>(&self, mut items: Vec<T>) -> Result<Json<Page<T>>, AppError> {
        let more = items.len() > self.limit;
        items.truncate(self.limit);
        let next_cursor = match items.last() {
            Some(last) if more => {
                let (at, id) = last.sort_key();
                Some(Cursor::encode(clock::to_ms(clock::parse_rfc3339(at)?), id))
            }
            _ => None,
        };
        Ok(Json(Page { items, next_cursor }))
    }
}

/// The record, or 404.
pub fn found<T>(record: Option<T>) -> Result<Json<T>, AppError> {
    record.map(Json).ok_or(AppError::NotFound)
}

/// The record if the caller sees its work (`Viewer::sees`); 404 otherwise, as for a record
/// of another tenant, so that nobody learns what exists outside their scope.
pub fn in_scope<T>(
    viewer: &Viewer,
    record: Option<T>,
    work: fn(&T) -> Work,
) -> Result<T, AppError> {
    record
        .filter(|r| viewer.sees(&work(r)))
        .ok_or(AppError::NotFound)
}

/// The conversation `id`, if the caller sees it.
pub async fn visible_conversation(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<resources::Conversation, AppError> {
    let record = state.store.conversation(&caller.tenant.id, id).await?;
    in_scope(&caller.viewer(state).await?, record, Work::of_conversation)
}

/// The conversation an open (or a send to a number) found. Out of the caller's scope it
/// is refused with 409, not 404: the caller named the number, so its existence is theirs
/// to know, while its messages stay its people's.
pub async fn opened_in_scope(
    state: &AppState,
    caller: &Caller,
    conversation: resources::Conversation,
) -> Result<resources::Conversation, AppError> {
    if caller
        .viewer(state)
        .await?
        .sees(&Work::of_conversation(&conversation))
    {
        return Ok(conversation);
    }
    Err(AppError::Rejected {
        status: StatusCode::CONFLICT,
        code: "assigned_elsewhere",
        message: "The conversation with this number is someone else's work: ask them or a \
                  supervisor to hand it over."
            .into(),
    })
}

/// The call `id`, if the caller sees it.
pub async fn visible_call(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<resources::Call, AppError> {
    let record = state.store.call(&caller.tenant.id, id).await?;
    in_scope(&caller.viewer(state).await?, record, Work::of_call)
}

/// 204 when the record was deleted, 404 when there was none.
pub fn deleted(existed: bool) -> Result<StatusCode, AppError> {
    if existed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound)
    }
}

/// Checks that a user named in `field` is one of the caller's tenant.
pub async fn user_of_tenant(
    state: &AppState,
    caller: &Caller,
    field: &str,
    user: Option<&str>,
) -> Result<(), AppError> {
    if let Some(user) = user
        && !state.store.user_in_tenant(&caller.tenant.id, user).await?
    {
        return Err(AppError::invalid_field(
            field,
            "No such user in this tenant.",
        ));
    }
    Ok(())
}

/// Our public base URL (`--public-url`), or the one the request came to (its Host).
pub fn public_base(state: &AppState, headers: &axum::http::HeaderMap) -> String {
    match &state.public_url {
        Some(base) => base.trim_end_matches('/').to_owned(),
        None => {
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    }
}

/// Refuses a team id that is not one of the caller's tenant (`field` names it).
pub async fn team_of_tenant(
    state: &AppState,
    caller: &Caller,
    field: &str,
    team: Option<&str>,
) -> Result<(), AppError> {
    if let Some(team) = team
        && state.store.team(&caller.tenant.id, team).await?.is_none()
    {
        return Err(AppError::invalid_field(
            field,
            "No such team in this tenant.",
        ));
    }
    Ok(())
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor {
            tenant_id: self.tenant.id.clone(),
            user_id: self.user.id.clone(),
        }
    }
}

/// Checks a free-text field: trimmed, not empty when required, at most `max` characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<String, AppError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AppError::invalid_field(field, format!("{field} is empty.")));
    }
    if value.chars().count() > max {
        return Err(AppError::invalid_field(
            field,
            format!("{field} is longer than {max} characters."),
        ));
    }
    Ok(value.to_owned())
}

/// Like [`text`] for optional fields: blank becomes `None`.
pub fn optional_text(
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, AppError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text(field, v, max).map(Some),
    }
}

/// A time a client sets (a due time, a snooze), normalised to milliseconds in UTC. Any
/// RFC 3339 time is one (these times order nothing a cursor pages by).
pub fn instant(field: &str, value: &str) -> Result<String, AppError> {
    let at = clock::parse_rfc3339(value.trim()).map_err(|_| {
        AppError::invalid_field(
            field,
            format!("{field} is a time like 2026-11-24T18:30:00Z."),
        )
    })?;
    Ok(clock::rfc3339(clock::from_ms(clock::to_ms(at))))
}

pub fn e164(field: &str, value: &str) -> Result<String, AppError> {
    upzento_domain::phone::to_e164(value, None)
        .map_err(|e| AppError::invalid_field(field, e.to_string()))
}

/// Twilio refuses bodies over 1,600 characters (error 21617).
pub const MESSAGE_MAX: usize = 1600;

/// An SMS text that may hold placeholders (templates, campaigns): checked like
/// [`text`], and its placeholders must be ones the renderer knows.
pub fn template_text(value: &str) -> Result<String, AppError> {
    let message = text("message", value, MESSAGE_MAX)?;
    upzento_domain::template::validate(&message).map_err(|e| AppError::BadRequest {
        code: "invalid_template",
        message: e.to_string(),
        field: Some("message".into()),
    })?;
    Ok(message)
}
