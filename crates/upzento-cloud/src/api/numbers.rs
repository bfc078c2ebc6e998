//! `/phone-sms/phone-numbers`: the tenant's numbers. Reading is open to every
//! user of the tenant; buying, configuring and releasing numbers is for admins.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use upzento_domain::resources::{
    NewPhoneNumber, NumberStatus, Page, PhoneNumber, PhoneNumberPatch,
};
use upzento_domain::wire::ErrorBody;
use utoipa::IntoParams;

use super::support::{
    Body, Paging, Params, deleted, e164, found, optional_text, team_of_tenant, text, user_of_tenant,
};
use crate::auth::Caller;
use crate::error::AppError;
use crate::store::NumberFilter;
use crate::{AppState, clock};

const KIND_MAX: usize = 40;
const LOCATION_MAX: usize = 100;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListNumbersQuery {
    /// Only numbers in this status.
    status: Option<NumberStatus>,
    /// Only numbers assigned to this user id.
    assigned_to: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `nextCursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,18}\.[0-9A-Za-z-]{1,64}$")]
    cursor: Option<String>,
}

/// The tenant's numbers, oldest first.
#[utoipa::path(
    get,
    path = "/phone-sms/phone-numbers",
    tag = "numbers",
    extensions(("x-permission" = json!("phoneNumber:read"))),
    params(ListNumbersQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Page<PhoneNumber>),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<ListNumbersQuery>,
) -> Result<Json<Page<PhoneNumber>>, AppError> {
    let paging = Paging::new(query.limit, query.cursor.as_deref())?;
    let filter = NumberFilter {
        status: query.status.map(|s| s.as_str().to_owned()),
        assigned_to: query.assigned_to,
    };
    let items = state
        .store
        .list_numbers(&caller.tenant.id, &filter, paging.after(), paging.fetch())
        .await?;
    paging.page(items)
}

fn fee(value: Option<&str>) -> Result<Option<String>, AppError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let (whole, frac) = value.split_once('.').unwrap_or((value, ""));
    let digits = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    if digits(whole, 7) && (frac.is_empty() && !value.ends_with('.') || digits(frac, 4)) {
        Ok(Some(value.to_owned()))
    } else {
        Err(AppError::invalid_field(
            "monthlyFee",
            "The monthly fee is a decimal amount like 1.15.",
        ))
    }
}

fn date(value: Option<&str>) -> Result<Option<String>, AppError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, &format)
        .map(|_| Some(value.to_owned()))
        .map_err(|_| {
            AppError::invalid_field(
                "purchaseDate",
                "The purchase date is a date like 2026-11-24.",
            )
        })
}

fn forwarding(value: Option<&str>) -> Result<Option<String>, AppError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => e164("callForwarding", v).map(Some),
    }
}

/// Adds a number to the tenant (admins).
#[utoipa::path(
    post,
    path = "/phone-sms/phone-numbers",
    tag = "numbers",
    extensions(("x-permission" = json!("phoneNumber:create"))),
    request_body = NewPhoneNumber,
    security(("bearer" = [])),
    responses(
        (status = 201, body = PhoneNumber),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "The number is this tenant's already, another tenant's, or not in the provider account", body = ErrorBody),
        (status = 503, description = "The provider cannot be asked about the number now", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(new): Body<NewPhoneNumber>,
) -> Result<(StatusCode, Json<PhoneNumber>), AppError> {
    user_of_tenant(&state, &caller, "assignedTo", new.assigned_to.as_deref()).await?;
    team_of_tenant(&state, &caller, "teamId", new.team_id.as_deref()).await?;
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let number = PhoneNumber {
        id: uuid::Uuid::now_v7().to_string(),
        number: e164("number", &new.number)?,
        kind: text("type", &new.kind, KIND_MAX)?,
        location: optional_text("location", new.location.as_deref(), LOCATION_MAX)?,
        assigned_to: new.assigned_to,
        team_id: new.team_id,
        status: new.status.unwrap_or(NumberStatus::Active),
        call_forwarding: forwarding(new.call_forwarding.as_deref())?,
        voicemail: new.voicemail.unwrap_or(false),
        sms_enabled: new.sms_enabled.unwrap_or(true),
        monthly_fee: fee(new.monthly_fee.as_deref())?,
        purchase_date: date(new.purchase_date.as_deref())?,
        send_per_minute: pace(new.send_per_minute)?,
        created_at: stamp.clone(),
        updated_at: stamp,
    };
    // Only a number of our provider account may be used: another one would send From a
    // number that is not the tenant's (or fail at every send).
    match state.carrier.holds_number(&number.number).await {
        Ok(Some(true) | None) => {}
        Ok(Some(false)) => {
            return Err(AppError::Conflict {
                code: "number_not_in_account",
                message: format!(
                    "The {} account this server sends through has no number {}: buy or port it there first.",
                    state.carrier.name(),
                    number.number
                ),
                field: Some("number".into()),
            });
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot check the number with the provider");
            return Err(AppError::Unavailable {
                code: "provider_unavailable",
                message: format!(
                    "The number cannot be checked with {} now; try again in a moment.",
                    state.carrier.name()
                ),
            });
        }
    }
    let created = state
        .store
        .create_number(&caller.actor(), number, now)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// One number.
#[utoipa::path(
    get,
    path = "/phone-sms/phone-numbers/{id}",
    tag = "numbers",
    extensions(("x-permission" = json!("phoneNumber:read"))),
    params(("id" = String, Path, description = "Number id")),
    security(("bearer" = [])),
    responses((status = 200, body = PhoneNumber), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PhoneNumber>, AppError> {
    found(state.store.number(&caller.tenant.id, &id).await?)
}

/// Changes a number's settings (admins). Fields left out stay; `null` clears.
#[utoipa::path(
    patch,
    path = "/phone-sms/phone-numbers/{id}",
    tag = "numbers",
    extensions(("x-permission" = json!("phoneNumber:change"))),
    params(("id" = String, Path, description = "Number id")),
    request_body = PhoneNumberPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, body = PhoneNumber),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(patch): Body<PhoneNumberPatch>,
) -> Result<Json<PhoneNumber>, AppError> {
    // Validate everything before touching the record.
    let kind = patch
        .kind
        .as_deref()
        .map(|k| text("type", k, KIND_MAX))
        .transpose()?;
    let location = patch
        .location
        .as_ref()
        .map(|l| optional_text("location", l.as_deref(), LOCATION_MAX))
        .transpose()?;
    if let Some(Some(user)) = &patch.assigned_to {
        user_of_tenant(&state, &caller, "assignedTo", Some(user)).await?;
    }
    if let Some(Some(team)) = &patch.team_id {
        team_of_tenant(&state, &caller, "teamId", Some(team)).await?;
    }
    let call_forwarding = patch
        .call_forwarding
        .as_ref()
        .map(|f| forwarding(f.as_deref()))
        .transpose()?;
    let monthly_fee = patch
        .monthly_fee
        .as_ref()
        .map(|f| fee(f.as_deref()))
        .transpose()?;
    let purchase_date = patch
        .purchase_date
        .as_ref()
        .map(|d| date(d.as_deref()))
        .transpose()?;
    let send_per_minute = patch.send_per_minute.map(pace).transpose()?;
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let apply = Arc::new(move |current: &PhoneNumber| {
        let mut next = current.clone();
        if let Some(p) = send_per_minute {
            next.send_per_minute = p;
        }
        if let Some(kind) = &kind {
            next.kind.clone_from(kind);
        }
        if let Some(location) = &location {
            next.location.clone_from(location);
        }
        if let Some(assigned_to) = &patch.assigned_to {
            next.assigned_to.clone_from(assigned_to);
        }
        if let Some(team) = &patch.team_id {
            next.team_id.clone_from(team);
        }
        if let Some(status) = patch.status {
            next.status = status;
        }
        if let Some(f) = &call_forwarding {
            next.call_forwarding.clone_from(f);
        }
        if let Some(v) = patch.voicemail {
            next.voicemail = v;
        }
        if let Some(v) = patch.sms_enabled {
            next.sms_enabled = v;
        }
        if let Some(f) = &monthly_fee {
            next.monthly_fee.clone_from(f);
        }
        if let Some(d) = &purchase_date {
            next.purchase_date.clone_from(d);
        }
        next.updated_at.clone_from(&stamp);
        Ok(next)
    });
    found(
        state
            .store
            .update_number(&caller.actor(), &id, apply, now)
            .await?,
    )
}

/// Releases a number (admins).
#[utoipa::path(
    delete,
    path = "/phone-sms/phone-numbers/{id}",
    tag = "numbers",
    extensions(("x-permission" = json!("phoneNumber:delete"))),
    params(("id" = String, Path, description = "Number id")),
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
            .delete_number(&caller.actor(), &id, clock::now())
            .await?,
    )
}

/// A number's own pace: 1 to 60,000 segments a minute.
fn pace(per_minute: Option<u32>) -> Result<Option<u32>, AppError> {
    match per_minute {
        Some(n) if !(1..=60_000).contains(&n) => Err(AppError::invalid_field(
            "sendPerMinute",
            "sendPerMinute is between 1 and 60,000 segments a minute.",
        )),
        other => Ok(other),
    }
}
