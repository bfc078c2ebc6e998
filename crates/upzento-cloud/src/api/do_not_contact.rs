//! The do-not-contact list: the numbers the tenant must not text. Opt-outs add theirs;
//! anyone may add one ("never text me again" on a call); admins take one off.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use upzento_domain::resources::{
    DoNotContactEntry, DoNotContactImport, DoNotContactImported, DoNotContactSource,
    NewDoNotContact, Page, RowProblem,
};
use upzento_domain::wire::ErrorBody;
use utoipa::IntoParams;

use super::support::{Body, Paging, Params, deleted, e164, optional_text};
use crate::auth::Caller;
use crate::error::AppError;
use crate::{AppState, clock};

const REASON_MAX: usize = 200;
/// Most numbers one import takes.
const IMPORT_MAX: usize = 10_000;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Digits the number contains.
    #[param(max_length = 20)]
    q: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `nextCursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,18}\.[0-9A-Za-z-]{1,64}$")]
    cursor: Option<String>,
}

/// The tenant's do-not-contact list, in the order numbers were added.
#[utoipa::path(
    get,
    path = "/phone-sms/do-not-contact",
    tag = "contacts",
    extensions(("x-permission" = json!("doNotContact:read"))),
    params(ListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Page<DoNotContactEntry>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<ListQuery>,
) -> Result<Json<Page<DoNotContactEntry>>, AppError> {
    let paging = Paging::new(query.limit, query.cursor.as_deref())?;
    if query.q.as_ref().is_some_and(|q| q.chars().count() > 20) {
        return Err(AppError::invalid_field(
            "q",
            "q holds at most 20 characters: digits of the number.",
        ));
    }
    let items = state
        .store
        .list_do_not_contact(
            &caller.tenant.id,
            query.q.as_deref(),
            paging.after(),
            paging.fetch(),
        )
        .await?;
    paging.page(items)
}

fn entry(
    caller: &Caller,
    number: String,
    reason: Option<String>,
    source: DoNotContactSource,
    stamp: &str,
) -> DoNotContactEntry {
    DoNotContactEntry {
        id: uuid::Uuid::now_v7().to_string(),
        number,
        reason,
        source,
        created_by: Some(caller.user.id.clone()),
        created_at: stamp.to_owned(),
        updated_at: stamp.to_owned(),
    }
}

/// Lists a number (201), or returns its entry when it is listed already (200).
#[utoipa::path(
    post,
    path = "/phone-sms/do-not-contact",
    tag = "contacts",
    extensions(("x-permission" = json!("doNotContact:create"))),
    request_body = NewDoNotContact,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Listed", body = DoNotContactEntry),
        (status = 200, description = "It was listed already", body = DoNotContactEntry),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    Body(new): Body<NewDoNotContact>,
) -> Result<(StatusCode, Json<DoNotContactEntry>), AppError> {
    let number = e164("number", &new.number)?;
    let reason = optional_text("reason", new.reason.as_deref(), REASON_MAX)?;
    let now = clock::now();
    let new = entry(
        &caller,
        number,
        reason,
        DoNotContactSource::Manual,
        &clock::rfc3339(now),
    );
    let (listed, created) = state
        .store
        .add_do_not_contact(&caller.actor(), new, now)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(listed)))
}

/// Lists many numbers at once: each row is added, a duplicate, or refused with its row and
/// reason (nothing else is lost for one bad row).
#[utoipa::path(
    post,
    path = "/phone-sms/do-not-contact/import",
    tag = "contacts",
    extensions(("x-permission" = json!("doNotContact:create"))),
    request_body = DoNotContactImport,
    security(("bearer" = [])),
    responses(
        (status = 200, body = DoNotContactImported),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Body(import): Body<DoNotContactImport>,
) -> Result<Json<DoNotContactImported>, AppError> {
    if import.numbers.len() > IMPORT_MAX {
        return Err(AppError::invalid_field(
            "numbers",
            format!("At most {IMPORT_MAX} numbers per import: send the rest in another."),
        ));
    }
    let reason = optional_text("reason", import.reason.as_deref(), REASON_MAX)?;
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let mut seen = std::collections::HashSet::new();
    let (mut entries, mut invalid, mut repeated) = (Vec::new(), Vec::new(), 0);
    for (i, value) in import.numbers.iter().enumerate() {
        match upzento_domain::phone::to_e164(value, None) {
            Ok(number) if seen.insert(number.clone()) => entries.push(entry(
                &caller,
                number,
                reason.clone(),
                DoNotContactSource::Import,
                &stamp,
            )),
            Ok(_) => repeated += 1,
            Err(e) => invalid.push(RowProblem {
                row: u32::try_from(i + 1).unwrap_or(u32::MAX),
                value: value.chars().take(40).collect(),
                reason: e.to_string(),
            }),
        }
    }
    let candidates = u32::try_from(entries.len()).unwrap_or(u32::MAX);
    let added = state
        .store
        .import_do_not_contact(&caller.actor(), entries, now)
        .await?;
    Ok(Json(DoNotContactImported {
        added,
        duplicates: repeated + (candidates - added),
        invalid,
    }))
}

/// Takes a number off the list (admins): the tenant may text it again.
#[utoipa::path(
    delete,
    path = "/phone-sms/do-not-contact/{id}",
    tag = "contacts",
    extensions(("x-permission" = json!("doNotContact:delete"))),
    params(("id" = String, Path, description = "Entry id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Taken off"),
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
            .delete_do_not_contact(&caller.actor(), &id, clock::now())
            .await?,
    )
}
