//! `/phone-sms/contacts`: the Contacts module as far as Phone & SMS needs it.
//! Every user may add and edit contacts; only admins delete them.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use upzento_domain::resources::{Contact, ContactPatch, NewContact, Page};
use upzento_domain::wire::ErrorBody;
use utoipa::IntoParams;

use super::support::{Body, Paging, Params, deleted, e164, found, optional_text, text};
use crate::auth::Caller;
use crate::error::AppError;
use crate::store::ContactFilter;
use crate::{AppState, clock};

const NAME_MAX: usize = 100;
const EMAIL_MAX: usize = 254;
const MAX_NUMBERS: usize = 10;
const TAG_MAX: usize = 40;
const MAX_TAGS: usize = 20;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListContactsQuery {
    /// Text in the name or email, or at least 3 digits of a number.
    q: Option<String>,
    /// Only contacts with this tag.
    tag: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `nextCursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,18}\.[0-9A-Za-z-]{1,64}$")]
    cursor: Option<String>,
}

fn numbers(values: &[String]) -> Result<Vec<String>, AppError> {
    if values.len() > MAX_NUMBERS {
        return Err(AppError::invalid_field(
            "phoneNumbers",
            format!("At most {MAX_NUMBERS} numbers."),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        let number = e164("phoneNumbers", value)?;
        if !out.contains(&number) {
            out.push(number);
        }
    }
    Ok(out)
}

pub(super) fn tags(values: &[String]) -> Result<Vec<String>, AppError> {
    if values.len() > MAX_TAGS {
        return Err(AppError::invalid_field(
            "tags",
            format!("At most {MAX_TAGS} tags."),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        let tag = text("tags", value, TAG_MAX)?;
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok(out)
}

fn email(value: Option<&str>) -> Result<Option<String>, AppError> {
    let Some(value) = optional_text("email", value, EMAIL_MAX)? else {
        return Ok(None);
    };
    if upzento_domain::wire::is_email(&value) {
        Ok(Some(value))
    } else {
        Err(AppError::invalid_field(
            "email",
            "That is not an email address.",
        ))
    }
}

/// An IANA zone name of the tz database (`America/New_York`, `UTC`): quiet hours compute
/// the contact's local time in it.
fn time_zone(value: Option<&str>) -> Result<Option<String>, AppError> {
    let Some(value) = optional_text("timeZone", value, 64)? else {
        return Ok(None);
    };
    if let Some(name) = upzento_domain::tz::canonical(&value) {
        Ok(Some(name))
    } else {
        Err(AppError::invalid_field(
            "timeZone",
            format!("{value} is not a time zone: use an IANA name like America/New_York."),
        ))
    }
}

/// The tenant's contacts, oldest first; `q` searches names, emails and numbers.
#[utoipa::path(
    get,
    path = "/phone-sms/contacts",
    tag = "contacts",
    extensions(("x-permission" = json!("contact:read"))),
    params(ListContactsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Page<Contact>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<ListContactsQuery>,
) -> Result<Json<Page<Contact>>, AppError> {
    let paging = Paging::new(query.limit, query.cursor.as_deref())?;
    let filter = ContactFilter {
        query: query.q.filter(|q| !q.trim().is_empty()),
        tag: query.tag,
    };
    let items = state
        .store
        .list_contacts(&caller.tenant.id, &filter, paging.after(), paging.fetch())
        .await?;
    paging.page(items)
}

/// Adds a contact.
#[utoipa::path(
    post,
    path = "/phone-sms/contacts",
    tag = "contacts",
    extensions(("x-permission" = json!("contact:create"))),
    request_body = NewContact,
    security(("bearer" = [])),
    responses(
        (status = 201, body = Contact),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 409, description = "A number belongs to another contact", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(new): Body<NewContact>,
) -> Result<(StatusCode, Json<Contact>), AppError> {
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let contact = Contact {
        id: uuid::Uuid::now_v7().to_string(),
        first_name: text("firstName", &new.first_name, NAME_MAX)?,
        last_name: optional_text("lastName", new.last_name.as_deref(), NAME_MAX)?,
        phone_numbers: numbers(&new.phone_numbers)?,
        email: email(new.email.as_deref())?,
        tags: tags(&new.tags)?,
        time_zone: time_zone(new.time_zone.as_deref())?,
        opted_out: false,
        opted_out_at: None,
        created_at: stamp.clone(),
        updated_at: stamp,
    };
    let created = state
        .store
        .create_contact(&caller.actor(), contact, now)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// One contact.
#[utoipa::path(
    get,
    path = "/phone-sms/contacts/{id}",
    tag = "contacts",
    extensions(("x-permission" = json!("contact:read"))),
    params(("id" = String, Path, description = "Contact id")),
    security(("bearer" = [])),
    responses((status = 200, body = Contact), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Contact>, AppError> {
    found(state.store.contact(&caller.tenant.id, &id).await?)
}

/// Changes a contact. Fields left out stay; `null` clears; lists are replaced whole.
#[utoipa::path(
    patch,
    path = "/phone-sms/contacts/{id}",
    tag = "contacts",
    extensions(("x-permission" = json!("contact:change"))),
    params(("id" = String, Path, description = "Contact id")),
    request_body = ContactPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Contact),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "A number belongs to another contact", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(patch): Body<ContactPatch>,
) -> Result<Json<Contact>, AppError> {
    let first_name = patch
        .first_name
        .as_deref()
        .map(|n| text("firstName", n, NAME_MAX))
        .transpose()?;
    let last_name = patch
        .last_name
        .as_ref()
        .map(|n| optional_text("lastName", n.as_deref(), NAME_MAX))
        .transpose()?;
    let phone_numbers = patch.phone_numbers.as_deref().map(numbers).transpose()?;
    let email = patch
        .email
        .as_ref()
        .map(|e| email(e.as_deref()))
        .transpose()?;
    let tags = patch.tags.as_deref().map(tags).transpose()?;
    let time_zone = patch
        .time_zone
        .as_ref()
        .map(|z| time_zone(z.as_deref()))
        .transpose()?;
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let apply = Arc::new(move |current: &Contact| {
        let mut next = current.clone();
        if let Some(v) = &first_name {
            next.first_name.clone_from(v);
        }
        if let Some(v) = &last_name {
            next.last_name.clone_from(v);
        }
        if let Some(v) = &phone_numbers {
            next.phone_numbers.clone_from(v);
        }
        if let Some(v) = &email {
            next.email.clone_from(v);
        }
        if let Some(v) = &tags {
            next.tags.clone_from(v);
        }
        if let Some(v) = &time_zone {
            next.time_zone.clone_from(v);
        }
        next.updated_at.clone_from(&stamp);
        Ok(next)
    });
    found(
        state
            .store
            .update_contact(&caller.actor(), &id, apply, now)
            .await?,
    )
}

/// Deletes a contact (admins).
#[utoipa::path(
    delete,
    path = "/phone-sms/contacts/{id}",
    tag = "contacts",
    extensions(("x-permission" = json!("contact:delete"))),
    params(("id" = String, Path, description = "Contact id")),
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
            .delete_contact(&caller.actor(), &id, clock::now())
            .await?,
    )
}

/// A contact's SMS consent history (opt-outs and opt-ins, with how and when), oldest first.
#[utoipa::path(
    get,
    path = "/phone-sms/contacts/{id}/consent",
    tag = "contacts",
    extensions(("x-permission" = json!("contact:read"))),
    params(("id" = String, Path, description = "Contact id")),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<upzento_domain::resources::ConsentEvent>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn consent(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<upzento_domain::resources::ConsentEvent>>, AppError> {
    if state.store.contact(&caller.tenant.id, &id).await?.is_none() {
        return Err(AppError::NotFound);
    }
    Ok(Json(
        state.store.consent_events(&caller.tenant.id, &id).await?,
    ))
}
