//! `/phone-sms/campaigns`: bulk SMS. A campaign is drafted, gets its recipients
//! (contacts by id or tag, or bare numbers), is started now or scheduled, can be
//! paused and resumed, and completes when every recipient was handled. The
//! runner ([`crate::campaigns`]) does the sending; these handlers only decide.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use upzento_domain::resources::{
    CampaignRecipient, CampaignSchedule, CampaignStatus, CampaignStatusUpdate, CampaignVariant,
    NewCampaignRecipients, NewCampaignVariant, NewSmsCampaign, Page, RecipientsAdded, SmsCampaign,
    SmsCampaignPatch, WinnerTest,
};
use upzento_domain::wire::ErrorBody;
use utoipa::IntoParams;

use super::contacts::tags;
use super::support::{Body, Paging, Params, deleted, e164, found, template_text, text};
use crate::auth::Caller;
use crate::error::AppError;
use crate::outbound::can_text;
use crate::store::{CampaignFilter, ContactFilter, Guard, NewRecipient};
use crate::{AppState, clock};

const NAME_MAX: usize = 100;
/// Texts of an A/B test.
const VARIANTS_MAX: usize = 5;
/// Entries per `POST .../recipients` list.
const LIST_MAX: usize = 1000;
/// How far ahead a campaign can be scheduled.
const SCHEDULE_HORIZON: time::Duration = time::Duration::days(366);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListCampaignsQuery {
    status: Option<CampaignStatus>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `nextCursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,18}\.[0-9A-Za-z-]{1,64}$")]
    cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListRecipientsQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `nextCursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,18}\.[0-9A-Za-z-]{1,64}$")]
    cursor: Option<String>,
}

pub(super) fn not_editable(campaign: &SmsCampaign) -> AppError {
    AppError::Conflict {
        code: "campaign_not_editable",
        message: format!(
            "The list of a {} campaign cannot change; pause it first.",
            campaign.status.as_str()
        ),
        field: None,
    }
}

pub(super) fn editable() -> Guard<SmsCampaign> {
    Arc::new(|campaign: &SmsCampaign| {
        if campaign.status.is_editable() {
            Ok(())
        } else {
            Err(not_editable(campaign))
        }
    })
}

/// The tenant's campaigns, oldest first, with their live stats.
#[utoipa::path(
    get,
    path = "/phone-sms/campaigns",
    tag = "campaigns",
    extensions(("x-permission" = json!("campaign:read"))),
    params(ListCampaignsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Page<SmsCampaign>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<ListCampaignsQuery>,
) -> Result<Json<Page<SmsCampaign>>, AppError> {
    let paging = Paging::new(query.limit, query.cursor.as_deref())?;
    let filter = CampaignFilter {
        status: query.status.map(|s| s.as_str().to_owned()),
    };
    let items = state
        .store
        .list_campaigns(&caller.tenant.id, &filter, paging.after(), paging.fetch())
        .await?;
    paging.page(items)
}

/// Drafts a campaign. Its text may use placeholders such as `{{contact.firstName|there}}`,
/// and may be written later (a campaign starts only with one).
#[utoipa::path(
    post,
    path = "/phone-sms/campaigns",
    tag = "campaigns",
    extensions(("x-permission" = json!("campaign:create"))),
    request_body = NewSmsCampaign,
    security(("bearer" = [])),
    responses((status = 201, body = SmsCampaign), (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody), (status = 401, body = ErrorBody))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(new): Body<NewSmsCampaign>,
) -> Result<(StatusCode, Json<SmsCampaign>), AppError> {
    let name = text("name", &new.name, NAME_MAX)?;
    let variants = variants(&new.variants)?;
    let variants_given = !variants.is_empty();
    let message = match variants.first() {
        Some(first) => first.message.clone(),
        // A draft may be saved before its text is written.
        None if new.message.trim().is_empty() => String::new(),
        None => template_text(&new.message)?,
    };
    let tags = tags(&new.tags)?;
    let pool = sender_pool(&state, &caller, &new.sender_pool).await?;
    let phone_number_id = pool.first().cloned().unwrap_or(new.phone_number_id);
    own_number(&state, &caller, &phone_number_id).await?;
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let campaign = SmsCampaign {
        id: uuid::Uuid::now_v7().to_string(),
        name,
        message,
        status: CampaignStatus::Draft,
        phone_number_id,
        scheduled_for: None,
        started_at: None,
        completed_at: None,
        tags,
        variants,
        opt_out_footer: new.opt_out_footer.unwrap_or(true),
        winner_test: winner_test(new.winner_test, variants_given)?,
        winner: None,
        winner_decided_at: None,
        local_send_time: local_time(new.local_send_time.as_deref())?,
        sender_pool: pool,
        created_by: caller.user.id.clone(),
        stats: None,
        created_at: stamp.clone(),
        updated_at: stamp,
    };
    let mut created = state
        .store
        .create_campaign(&caller.actor(), campaign, now)
        .await?;
    created.stats = Some(upzento_domain::resources::CampaignStats::default());
    Ok((StatusCode::CREATED, Json(created)))
}

fn no_message() -> AppError {
    AppError::Conflict {
        code: "no_message",
        message: "Write the campaign's text before starting or scheduling it.".into(),
        field: Some("message".into()),
    }
}

/// The campaign's sending number must be the tenant's.
async fn own_number(state: &AppState, caller: &Caller, id: &str) -> Result<(), AppError> {
    if state.store.number(&caller.tenant.id, id).await?.is_none() {
        return Err(AppError::invalid_field(
            "phoneNumberId",
            "No such number in this tenant.",
        ));
    }
    Ok(())
}

/// An A/B test's variants, checked: none, or two to five texts whose shares (each 1-99%)
/// add up to 100. Keys are their places: A, B, C...
fn variants(list: &[NewCampaignVariant]) -> Result<Vec<CampaignVariant>, AppError> {
    if list.is_empty() {
        return Ok(Vec::new());
    }
    if !(2..=VARIANTS_MAX).contains(&list.len()) {
        return Err(AppError::invalid_field(
            "variants",
            format!("An A/B test has 2 to {VARIANTS_MAX} variants."),
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let message = template_text(&v.message).map_err(|e| match e {
            AppError::BadRequest { code, message, .. } => AppError::BadRequest {
                code,
                message,
                field: Some(format!("variants[{i}].message")),
            },
            other => other,
        })?;
        if !(1..=99).contains(&v.share) {
            return Err(AppError::invalid_field(
                &format!("variants[{i}].share"),
                "Each variant's share is 1 to 99 percent.",
            ));
        }
        let key = char::from(b'A' + u8::try_from(i).unwrap_or(0)).to_string();
        out.push(CampaignVariant {
            key,
            message,
            share: v.share,
        });
    }
    let total: u32 = out.iter().map(|v| v.share).sum();
    if total != 100 {
        return Err(AppError::invalid_field(
            "variants",
            format!("The variants' shares add up to {total}%, not 100%."),
        ));
    }
    Ok(out)
}

/// The most numbers a campaign sends from.
const POOL_MAX: usize = 20;

/// A pool of the tenant's numbers, checked: each one the tenant's and able to text, each
/// once, at most [`POOL_MAX`].
async fn sender_pool(
    state: &AppState,
    caller: &Caller,
    ids: &[String],
) -> Result<Vec<String>, AppError> {
    if ids.len() > POOL_MAX {
        return Err(AppError::invalid_field(
            "senderPool",
            format!("A campaign sends from at most {POOL_MAX} numbers."),
        ));
    }
    let mut pool: Vec<String> = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let field = format!("senderPool[{i}]");
        let number = state
            .store
            .number(&caller.tenant.id, id)
            .await?
            .ok_or_else(|| AppError::invalid_field(&field, "No such number in this tenant."))?;
        if let Err(AppError::BadRequest { message, .. }) = can_text(&number) {
            return Err(AppError::invalid_field(&field, message));
        }
        if !pool.contains(id) {
            pool.push(id.clone());
        }
    }
    Ok(pool)
}

/// A time of each recipient's day, `HH:MM`.
fn local_time(text: Option<&str>) -> Result<Option<String>, AppError> {
    match text {
        None => Ok(None),
        Some(t) if upzento_domain::quiet::parse_hhmm(t).is_some() => Ok(Some(t.to_owned())),
        Some(_) => Err(AppError::invalid_field(
            "localSendTime",
            "localSendTime is a time of day written HH:MM, such as 10:00.",
        )),
    }
}

fn no_variants_to_pick() -> AppError {
    AppError::invalid_field(
        "winnerTest",
        "A winner is picked among A/B variants: add them first.",
    )
}

/// A winner test, checked: a sample of 5-50%, a wait of 5 minutes to a week, and variants
/// to pick from.
fn winner_test(
    test: Option<WinnerTest>,
    has_variants: bool,
) -> Result<Option<WinnerTest>, AppError> {
    let Some(test) = test else { return Ok(None) };
    if !has_variants {
        return Err(no_variants_to_pick());
    }
    if !(5..=50).contains(&test.sample_percent) {
        return Err(AppError::invalid_field(
            "winnerTest.samplePercent",
            "The test sample is 5 to 50 percent of the recipients.",
        ));
    }
    if !(5..=10_080).contains(&test.wait_minutes) {
        return Err(AppError::invalid_field(
            "winnerTest.waitMinutes",
            "The test runs 5 minutes to a week (10,080 minutes) before the winner is picked.",
        ));
    }
    Ok(Some(test))
}

/// Changes a campaign: anything while it is a draft or scheduled, only its name once it
/// has started.
#[utoipa::path(
    patch,
    path = "/phone-sms/campaigns/{id}",
    tag = "campaigns",
    extensions(("x-permission" = json!("campaign:change"))),
    params(("id" = String, Path, description = "Campaign id")),
    request_body = SmsCampaignPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, body = SmsCampaign),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The campaign has started: only its name may change", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(patch): Body<SmsCampaignPatch>,
) -> Result<Json<SmsCampaign>, AppError> {
    let name = patch
        .name
        .as_deref()
        .map(|n| text("name", n, NAME_MAX))
        .transpose()?;
    let message = patch.message.as_deref().map(template_text).transpose()?;
    let tags = patch.tags.as_deref().map(tags).transpose()?;
    let variants = patch.variants.as_deref().map(variants).transpose()?;
    if let Some(number) = &patch.phone_number_id {
        own_number(&state, &caller, number).await?;
    }
    let phone_number_id = patch.phone_number_id.clone();
    let footer = patch.opt_out_footer;
    let pool = match &patch.sender_pool {
        Some(ids) => Some(sender_pool(&state, &caller, ids).await?),
        None => None,
    };
    let local = match patch.local_send_time.as_ref() {
        Some(t) => Some(local_time(t.as_deref())?),
        None => None,
    };
    let test = match patch.winner_test {
        // Checked here for its figures; against the variants once they are known.
        Some(Some(t)) => Some(winner_test(Some(t), true)?),
        Some(None) => Some(None),
        None => None,
    };
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let apply = Arc::new(move |current: &SmsCampaign| {
        let more_than_name = message.is_some()
            || tags.is_some()
            || variants.is_some()
            || phone_number_id.is_some()
            || footer.is_some()
            || test.is_some()
            || local.is_some()
            || pool.is_some();
        if more_than_name
            && !matches!(
                current.status,
                CampaignStatus::Draft | CampaignStatus::Scheduled
            )
        {
            return Err(AppError::Conflict {
                code: "campaign_started",
                message: format!(
                    "A {} campaign keeps its text, variants, tags and number; only its name may change.",
                    current.status.as_str()
                ),
                field: None,
            });
        }
        let mut after = current.clone();
        if let Some(name) = &name {
            after.name.clone_from(name);
        }
        if let Some(tags) = &tags {
            after.tags.clone_from(tags);
        }
        if let Some(number) = &phone_number_id {
            after.phone_number_id.clone_from(number);
        }
        if let Some(message) = &message {
            after.message.clone_from(message);
        }
        if let Some(variants) = &variants {
            after.variants.clone_from(variants);
        }
        if let Some(footer) = footer {
            after.opt_out_footer = footer;
        }
        if let Some(test) = test {
            after.winner_test = test;
        }
        if let Some(local) = &local {
            after.local_send_time.clone_from(local);
        }
        if let Some(pool) = &pool {
            after.sender_pool.clone_from(pool);
            if let Some(first) = pool.first() {
                after.phone_number_id.clone_from(first);
            }
        }
        // A winner test without variants to pick from cannot stand.
        if after.winner_test.is_some() && after.variants.is_empty() {
            return Err(no_variants_to_pick());
        }
        // With variants, the text is variant A's.
        if let Some(first) = after.variants.first() {
            after.message.clone_from(&first.message);
        }
        after.updated_at.clone_from(&stamp);
        Ok(after)
    });
    found(
        state
            .store
            .update_campaign(&caller.actor(), &id, apply, now)
            .await?,
    )
}

/// One campaign with its live stats.
#[utoipa::path(
    get,
    path = "/phone-sms/campaigns/{id}",
    tag = "campaigns",
    extensions(("x-permission" = json!("campaign:read"))),
    params(("id" = String, Path, description = "Campaign id")),
    security(("bearer" = [])),
    responses((status = 200, body = SmsCampaign), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SmsCampaign>, AppError> {
    found(state.store.campaign(&caller.tenant.id, &id).await?)
}

/// Starts (`active`), pauses, resumes, stops (`completed`) or unschedules (`draft`) a
/// campaign. Stopping skips the recipients not texted yet.
#[utoipa::path(
    patch,
    path = "/phone-sms/campaigns/{id}/status",
    tag = "campaigns",
    extensions(("x-permission" = json!("campaign:change"))),
    params(("id" = String, Path, description = "Campaign id")),
    request_body = CampaignStatusUpdate,
    security(("bearer" = [])),
    responses(
        (status = 200, body = SmsCampaign),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Not from this status, or nobody to text", body = ErrorBody),
    )
)]
pub async fn set_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(update): Body<CampaignStatusUpdate>,
) -> Result<Json<SmsCampaign>, AppError> {
    let tenant = &caller.tenant.id;
    let next = update.status;
    if next == CampaignStatus::Active {
        // The number must be able to send before anything starts.
        let current = state
            .store
            .campaign(tenant, &id)
            .await?
            .ok_or(AppError::NotFound)?;
        let number = state
            .store
            .number(tenant, &current.phone_number_id)
            .await?
            .ok_or_else(|| {
                AppError::bad_request("number_released", "The campaign's number was released.")
            })?;
        can_text(&number)?;
    }
    let now = clock::now();
    let stamp = clock::rfc3339(now);
    let apply = Arc::new(move |current: &SmsCampaign| {
        if !current.status.may_become(next) {
            return Err(AppError::Conflict {
                code: "invalid_transition",
                message: format!(
                    "A {} campaign cannot become {}{}.",
                    current.status.as_str(),
                    next.as_str(),
                    if next == CampaignStatus::Scheduled {
                        " here; use PATCH .../schedule"
                    } else {
                        ""
                    }
                ),
                field: Some("status".into()),
            });
        }
        let mut after = current.clone();
        after.status = next;
        match next {
            CampaignStatus::Active => {
                if current.message.trim().is_empty() {
                    return Err(no_message());
                }
                if current.stats.as_ref().is_none_or(|s| s.recipients == 0) {
                    return Err(AppError::Conflict {
                        code: "no_recipients",
                        message: "Add recipients before starting the campaign.".into(),
                        field: None,
                    });
                }
                if after.started_at.is_none() {
                    after.started_at = Some(stamp.clone());
                }
            }
            CampaignStatus::Draft => after.scheduled_for = None,
            CampaignStatus::Completed => after.completed_at = Some(stamp.clone()),
            CampaignStatus::Scheduled | CampaignStatus::Paused => {}
        }
        after.updated_at.clone_from(&stamp);
        Ok(after)
    });
    let updated = state
        .store
        .update_campaign(&caller.actor(), &id, apply, now)
        .await?
        .ok_or(AppError::NotFound)?;
    if updated.status == CampaignStatus::Active {
        state.campaign_wake.notify_one();
    }
    Ok(Json(updated))
}

/// Schedules a draft (or moves a schedule); `null` unschedules it back to draft.
#[utoipa::path(
    patch,
    path = "/phone-sms/campaigns/{id}/schedule",
    tag = "campaigns",
    extensions(("x-permission" = json!("campaign:change"))),
    params(("id" = String, Path, description = "Campaign id")),
    request_body = CampaignSchedule,
    security(("bearer" = [])),
    responses(
        (status = 200, body = SmsCampaign),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The campaign already started", body = ErrorBody),
    )
)]
pub async fn set_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(schedule): Body<CampaignSchedule>,
) -> Result<Json<SmsCampaign>, AppError> {
    let now = clock::now();
    let when = schedule
        .scheduled_for
        .as_deref()
        .map(|text| {
            let at = clock::parse_rfc3339(text).map_err(|_| {
                AppError::invalid_field(
                    "scheduledFor",
                    "scheduledFor is not an RFC 3339 time such as 2026-12-01T09:00:00Z.",
                )
            })?;
            if at <= now {
                return Err(AppError::invalid_field(
                    "scheduledFor",
                    "scheduledFor is in the past; to start now, set the status to active.",
                ));
            }
            if at > now + SCHEDULE_HORIZON {
                return Err(AppError::invalid_field(
                    "scheduledFor",
                    "scheduledFor is more than a year ahead.",
                ));
            }
            Ok(clock::rfc3339(clock::from_ms(clock::to_ms(at))))
        })
        .transpose()?;
    let stamp = clock::rfc3339(now);
    let apply = Arc::new(move |current: &SmsCampaign| {
        if !matches!(
            current.status,
            CampaignStatus::Draft | CampaignStatus::Scheduled
        ) {
            return Err(AppError::Conflict {
                code: "invalid_transition",
                message: format!(
                    "A {} campaign cannot be scheduled; only drafts can.",
                    current.status.as_str()
                ),
                field: Some("scheduledFor".into()),
            });
        }
        if when.is_some() && current.message.trim().is_empty() {
            return Err(no_message());
        }
        let mut after = current.clone();
        after.status = if when.is_some() {
            CampaignStatus::Scheduled
        } else {
            CampaignStatus::Draft
        };
        after.scheduled_for.clone_from(&when);
        after.updated_at.clone_from(&stamp);
        Ok(after)
    });
    found(
        state
            .store
            .update_campaign(&caller.actor(), &id, apply, now)
            .await?,
    )
}

/// Deletes a campaign that is not running, with its list (admins). Messages it sent stay.
#[utoipa::path(
    delete,
    path = "/phone-sms/campaigns/{id}",
    tag = "campaigns",
    extensions(("x-permission" = json!("campaign:delete"))),
    params(("id" = String, Path, description = "Campaign id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The campaign is running", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let guard: Guard<SmsCampaign> = Arc::new(|campaign: &SmsCampaign| {
        if campaign.status == CampaignStatus::Active {
            Err(AppError::Conflict {
                code: "campaign_active",
                message: "The campaign is sending; pause or stop it first.".into(),
                field: None,
            })
        } else {
            Ok(())
        }
    });
    deleted(
        state
            .store
            .delete_campaign(&caller.actor(), &id, guard, clock::now())
            .await?,
    )
}

/// Adds recipients: contacts by id (their main number), every contact with one of
/// `tags`, and bare `numbers`. A number is on a list once; opted-out contacts stay
/// on it and are skipped when the campaign runs.
#[utoipa::path(
    post,
    path = "/phone-sms/campaigns/{id}/recipients",
    tag = "campaigns",
    extensions(("x-permission" = json!("campaign:change"))),
    params(("id" = String, Path, description = "Campaign id")),
    request_body = NewCampaignRecipients,
    security(("bearer" = [])),
    responses(
        (status = 200, body = RecipientsAdded),
        (status = 400, body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The campaign is running or over", body = ErrorBody),
    )
)]
pub async fn add_recipients(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(new): Body<NewCampaignRecipients>,
) -> Result<Json<RecipientsAdded>, AppError> {
    let tenant = &caller.tenant.id;
    if new.contact_ids.is_empty() && new.numbers.is_empty() && new.tags.is_empty() {
        return Err(AppError::bad_request(
            "no_recipients",
            "Give contactIds, tags or numbers.",
        ));
    }
    for (field, len) in [
        ("contactIds", new.contact_ids.len()),
        ("numbers", new.numbers.len()),
    ] {
        if len > LIST_MAX {
            return Err(AppError::invalid_field(
                field,
                format!("At most {LIST_MAX} {field} per request."),
            ));
        }
    }
    let wanted_tags = tags(&new.tags)?;
    let numbers = new
        .numbers
        .iter()
        .enumerate()
        .map(|(i, n)| e164(&format!("numbers[{i}]"), n))
        .collect::<Result<Vec<_>, _>>()?;
    let mut list: Vec<NewRecipient> = Vec::new();
    let mut seen = HashSet::new();
    let mut without_number = 0_i64;
    let mut submitted = 0_i64;
    let mut push = |contact_id: Option<String>, number: Option<&String>| {
        submitted += 1;
        match number {
            None => without_number += 1,
            Some(number) => {
                if seen.insert(number.clone()) {
                    list.push(NewRecipient {
                        contact_id,
                        number: number.clone(),
                        ..NewRecipient::default()
                    });
                }
            }
        }
    };
    for (i, contact_id) in new.contact_ids.iter().enumerate() {
        let contact = state
            .store
            .contact(tenant, contact_id)
            .await?
            .ok_or_else(|| {
                AppError::invalid_field(&format!("contactIds[{i}]"), "No such contact.")
            })?;
        push(Some(contact.id), contact.phone_numbers.first());
    }
    for tag in wanted_tags {
        let filter = ContactFilter {
            query: None,
            tag: Some(tag),
        };
        let mut cursor = None;
        loop {
            let contacts = state
                .store
                .list_contacts(tenant, &filter, cursor.as_ref(), 500)
                .await?;
            for contact in &contacts {
                push(Some(contact.id.clone()), contact.phone_numbers.first());
            }
            match contacts.last() {
                Some(last) if contacts.len() == 500 => {
                    cursor = Some(crate::store::After {
                        created_at_ms: clock::to_ms(clock::parse_rfc3339(&last.created_at)?),
                        id: last.id.clone(),
                    });
                }
                _ => break,
            }
        }
    }
    for number in &numbers {
        push(None, Some(number));
    }
    let (added, total) = state
        .store
        .add_recipients(&caller.actor(), &id, editable(), list, clock::now())
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(RecipientsAdded {
        added,
        duplicates: submitted - without_number - added,
        without_number,
        total,
    }))
}

/// A campaign's recipients in the order they were added; once texted, a recipient's
/// status is its message's.
#[utoipa::path(
    get,
    path = "/phone-sms/campaigns/{id}/recipients",
    tag = "campaigns",
    extensions(("x-permission" = json!("campaign:read"))),
    params(("id" = String, Path, description = "Campaign id"), ListRecipientsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Page<CampaignRecipient>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn recipients(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(query): Params<ListRecipientsQuery>,
) -> Result<Json<Page<CampaignRecipient>>, AppError> {
    let paging = Paging::new(query.limit, query.cursor.as_deref())?;
    let tenant = &caller.tenant.id;
    if state.store.campaign(tenant, &id).await?.is_none() {
        return Err(AppError::NotFound);
    }
    let items = state
        .store
        .recipients(tenant, &id, paging.after(), paging.fetch())
        .await?;
    paging.page(items)
}

/// Takes a recipient off the list before it is texted.
#[utoipa::path(
    delete,
    path = "/phone-sms/campaigns/{campaignId}/recipients/{recipientId}",
    tag = "campaigns",
    extensions(("x-permission" = json!("campaign:change"))),
    params(
        ("campaignId" = String, Path, description = "Campaign id"),
        ("recipientId" = String, Path, description = "Recipient id"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Already texted, or the campaign is running", body = ErrorBody),
    )
)]
pub async fn delete_recipient(
    State(state): State<AppState>,
    caller: Caller,
    Path((campaign_id, recipient_id)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    let actor = caller.actor();
    let now = clock::now();
    deleted(
        state
            .store
            .delete_recipient(&actor, &campaign_id, &recipient_id, editable(), now)
            .await?,
    )
}
