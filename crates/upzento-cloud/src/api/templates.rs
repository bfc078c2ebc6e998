//! `/phone-sms/templates`: reusable SMS texts. Every user may write them; only
//! admins delete them.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use upzento_domain::resources::{
    DraftTemplatePreview, NewSmsTemplate, Page, SavedTemplatePreview, SmsTemplate,
    SmsTemplatePatch, TemplatePreview, TemplatePreviewRequest,
};
use upzento_domain::wire::ErrorBody;
use utoipa::IntoParams;

use super::support::{Body, Paging, Params, deleted, found, template_text, text};
use crate::auth::Caller;
use crate::error::AppError;
use crate::{AppState, clock};

const NAME_MAX: usize = 100;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListTemplatesQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `nextCursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,18}\.[0-9A-Za-z-]{1,64}$")]
    cursor: Option<String>,
}

/// The tenant's templates, oldest first.
#[utoipa::path(
    get,
    path = "/phone-sms/templates",
    tag = "templates",
    extensions(("x-permission" = json!("template:read"))),
    params(ListTemplatesQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Page<SmsTemplate>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<ListTemplatesQuery>,
) -> Result<Json<Page<SmsTemplate>>, AppError> {
    let paging = Paging::new(query.limit, query.cursor.as_deref())?;
    let items = state
        .store
        .list_templates(&caller.tenant.id, paging.after(), paging.fetch())
        .await?;
    paging.page(items)
}

/// Creates a template.
#[utoipa::path(
    post,
    path = "/phone-sms/templates",
    tag = "templates",
    extensions(("x-permission" = json!("template:create"))),
    request_body = NewSmsTemplate,
    security(("bearer" = [])),
    responses((status = 201, body = SmsTemplate), (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody), (status = 401, body = ErrorBody))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(new): Body<NewSmsTemplate>,
) -> Result<(StatusCode, Json<SmsTemplate>), AppError> {
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let template = SmsTemplate {
        id: uuid::Uuid::now_v7().to_string(),
        name: text("name", &new.name, NAME_MAX)?,
        message: template_text(&new.message)?,
        usage_count: 0,
        created_at: stamp.clone(),
        updated_at: stamp,
    };
    let created = state
        .store
        .create_template(&caller.actor(), template, now)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// One template.
#[utoipa::path(
    get,
    path = "/phone-sms/templates/{id}",
    tag = "templates",
    extensions(("x-permission" = json!("template:read"))),
    params(("id" = String, Path, description = "Template id")),
    security(("bearer" = [])),
    responses((status = 200, body = SmsTemplate), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SmsTemplate>, AppError> {
    found(state.store.template(&caller.tenant.id, &id).await?)
}

/// A template (saved, or a draft text) as a contact would get it.
#[utoipa::path(
    post,
    path = "/phone-sms/templates/preview",
    tag = "templates",
    extensions(("x-permission" = json!("template:read"))),
    request_body = TemplatePreviewRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, body = TemplatePreview),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such template or contact", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
    )
)]
pub async fn preview(
    State(state): State<AppState>,
    caller: Caller,
    Body(request): Body<TemplatePreviewRequest>,
) -> Result<Json<TemplatePreview>, AppError> {
    let (message, contact_id) = match request {
        TemplatePreviewRequest::Saved(SavedTemplatePreview {
            template_id,
            contact_id,
        }) => (
            state
                .store
                .template(&caller.tenant.id, &template_id)
                .await?
                .ok_or(AppError::NotFound)?
                .message,
            contact_id,
        ),
        TemplatePreviewRequest::Draft(DraftTemplatePreview {
            message,
            contact_id,
        }) => (template_text(&message)?, contact_id),
    };
    let contact = match &contact_id {
        Some(id) => Some(
            state
                .store
                .contact(&caller.tenant.id, id)
                .await?
                .ok_or(AppError::NotFound)?,
        ),
        None => None,
    };
    let number = contact
        .as_ref()
        .and_then(|c| c.phone_numbers.first().cloned())
        .unwrap_or_default();
    let values = upzento_domain::template::Values::for_contact(contact.as_ref(), &number);
    let text =
        upzento_domain::template::render(&message, &values).map_err(|e| AppError::BadRequest {
            code: "invalid_template",
            message: e.to_string(),
            field: Some("message".into()),
        })?;
    let cost = upzento_domain::sms::segments(&text);
    Ok(Json(TemplatePreview {
        characters: cost.characters,
        encoding: cost.encoding,
        segments: cost.segments,
        non_gsm_characters: cost
            .non_gsm_characters
            .iter()
            .map(char::to_string)
            .collect(),
        text,
    }))
}

/// Renames a template or changes its text.
#[utoipa::path(
    patch,
    path = "/phone-sms/templates/{id}",
    tag = "templates",
    extensions(("x-permission" = json!("template:change"))),
    params(("id" = String, Path, description = "Template id")),
    request_body = SmsTemplatePatch,
    security(("bearer" = [])),
    responses(
        (status = 200, body = SmsTemplate),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(patch): Body<SmsTemplatePatch>,
) -> Result<Json<SmsTemplate>, AppError> {
    let name = patch
        .name
        .as_deref()
        .map(|n| text("name", n, NAME_MAX))
        .transpose()?;
    let message = patch.message.as_deref().map(template_text).transpose()?;
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let apply = Arc::new(move |current: &SmsTemplate| {
        let mut next = current.clone();
        if let Some(name) = &name {
            next.name.clone_from(name);
        }
        if let Some(message) = &message {
            next.message.clone_from(message);
        }
        next.updated_at.clone_from(&stamp);
        Ok(next)
    });
    found(
        state
            .store
            .update_template(&caller.actor(), &id, apply, now)
            .await?,
    )
}

/// Deletes a template (admins).
#[utoipa::path(
    delete,
    path = "/phone-sms/templates/{id}",
    tag = "templates",
    extensions(("x-permission" = json!("template:delete"))),
    params(("id" = String, Path, description = "Template id")),
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
            .delete_template(&caller.actor(), &id, clock::now())
            .await?,
    )
}
