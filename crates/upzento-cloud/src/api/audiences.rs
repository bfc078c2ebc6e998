//! A campaign's audience as files and figures: recipients imported from a CSV file
//! (read by `upzento_domain::audience`, the same reader the desktop app previews with),
//! the audience report the wizard shows before launch, and the recipients with their
//! outcome exported as CSV, and how the campaign did (its analytics).

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body as RawBody;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use upzento_domain::analytics::{self, Event};
use upzento_domain::audience::{CSV_MAX_BYTES, CsvError, parse_csv};
use upzento_domain::resources::{
    CampaignAnalytics, CampaignAudience, CampaignRecipient, FailureCount, OutcomeCounts,
    RecipientsImported, SenderOutcome, SeriesPoint, SmsCampaign, VariantOutcome,
};
use upzento_domain::template::{self, Values};
use upzento_domain::wire::ErrorBody;
use upzento_domain::{ab, keywords};

use super::campaigns::{editable, not_editable};
use crate::auth::Caller;
use crate::campaigns::{Allowed, TenantHours};
use crate::error::AppError;
use crate::store::{After, NewRecipient, TextedRecipient};
use crate::{AppState, clock};

/// The tenant's campaign `id` (404 for anyone else's).
async fn campaign_of(state: &AppState, tenant: &str, id: &str) -> Result<SmsCampaign, AppError> {
    state
        .store
        .campaign(tenant, id)
        .await?
        .ok_or(AppError::NotFound)
}

fn too_large() -> AppError {
    AppError::Rejected {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: "file_too_large",
        message: CsvError::TooLarge {
            bytes: CSV_MAX_BYTES + 1,
        }
        .to_string(),
    }
}

fn csv_refused(err: &CsvError) -> AppError {
    let code = match err {
        CsvError::TooLarge { .. } => return too_large(),
        CsvError::TooManyRows => "too_many_rows",
        CsvError::Empty => "empty_file",
        CsvError::NoNumberColumn { .. } => "no_number_column",
        CsvError::Malformed { .. } => "malformed_csv",
    };
    AppError::bad_request(code, err.to_string())
}

/// Adds the rows of a CSV file (with a header row) to a campaign that is not running: a
/// phone number column (`Phone`, `Number`, `Mobile`...), optionally names (`First name`,
/// `Last name` or `Name`), and any other columns as merge fields (`{{fields.storeCity}}`).
/// UTF-8 (with or without a BOM), UTF-16 with a BOM and Windows-1252 are read; comma,
/// semicolon or tab separated. Numbers without a country code are read in the sending
/// number's country. Up to 50 MB and 100,000 rows.
#[utoipa::path(
    post,
    path = "/phone-sms/campaigns/{id}/recipients/import",
    tag = "campaigns",
    extensions(("x-permission" = json!("campaign:change"))),
    params(("id" = String, Path, description = "Campaign id")),
    request_body(content = String, content_type = "text/csv", description = "The CSV file"),
    security(("bearer" = [])),
    responses(
        (status = 200, body = RecipientsImported),
        (status = 400, description = "Not a readable CSV file of recipients", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The campaign is running or over", body = ErrorBody),
        (status = 413, description = "Over 50 MB", body = ErrorBody),
    )
)]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: RawBody,
) -> Result<Json<RecipientsImported>, AppError> {
    let tenant = &caller.tenant.id;
    let campaign = campaign_of(&state, tenant, &id).await?;
    // Before reading 50 MB for nothing.
    if !campaign.status.is_editable() {
        return Err(not_editable(&campaign));
    }
    let region = state
        .store
        .number(tenant, &campaign.phone_number_id)
        .await?
        .and_then(|n| upzento_domain::phone::region_of(&n.number));
    // Read with our own limit (the API's is for JSON bodies); a client that stops
    // sending midway gets the same answer, and nothing is added.
    let bytes = axum::body::to_bytes(body, CSV_MAX_BYTES)
        .await
        .map_err(|_| too_large())?;
    // Parsing a large file is CPU work: off the async workers.
    let audience = tokio::task::spawn_blocking(move || parse_csv(&bytes, region.as_deref()))
        .await
        .map_err(|e| anyhow::anyhow!("CSV parser: {e}"))?
        .map_err(|e| csv_refused(&e))?;
    let valid = i64::try_from(audience.recipients.len()).unwrap_or(i64::MAX);
    let list: Vec<NewRecipient> = audience
        .recipients
        .into_iter()
        .map(|r| NewRecipient {
            contact_id: None,
            number: r.number,
            first_name: r.first_name,
            last_name: r.last_name,
            fields: r.fields,
        })
        .collect();
    let (added, total) = state
        .store
        .add_recipients(&caller.actor(), &id, editable(), list, clock::now())
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(RecipientsImported {
        encoding: audience.encoding.to_owned(),
        fields: audience.fields,
        valid,
        added,
        already_listed: valid - added,
        duplicates: audience.duplicates,
        invalid: audience.invalid,
        total,
    }))
}

/// Who the campaign would text, before it does: recipients opted out or on the
/// do-not-contact list (skipped), those outside their allowed hours now (they get it when
/// their hours open), those whose hours cannot be known, and the text parts it comes to.
#[utoipa::path(
    get,
    path = "/phone-sms/campaigns/{id}/audience",
    tag = "campaigns",
    extensions(("x-permission" = json!("campaign:read"))),
    params(("id" = String, Path, description = "Campaign id")),
    security(("bearer" = [])),
    responses((status = 200, body = CampaignAudience), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody))
)]
pub async fn audience(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CampaignAudience>, AppError> {
    let tenant = &caller.tenant.id;
    let campaign = campaign_of(&state, tenant, &id).await?;
    let members = state.store.campaign_audience(tenant, &id).await?;
    let hours = TenantHours::new(state.quiet_hours_ahead_ms)
        .of(state.store.as_ref(), tenant)
        .await?;
    let now = clock::now();
    let mut report = CampaignAudience::default();
    for m in members {
        report.total += 1;
        let r = &m.recipient;
        if r.status != upzento_domain::resources::RecipientStatus::Pending {
            continue;
        }
        report.pending += 1;
        match m.do_not_contact.as_deref() {
            Some("optOut") => {
                report.opted_out += 1;
                continue;
            }
            _ if m.opted_out => {
                report.opted_out += 1;
                continue;
            }
            Some(_) => {
                report.do_not_contact += 1;
                continue;
            }
            None => {}
        }
        match hours.allowed(now, m.time_zone.as_deref(), &r.number) {
            Allowed::Now => {}
            Allowed::From(_) => report.outside_hours_now += 1,
            Allowed::Never => {
                report.no_lawful_hour += 1;
                continue;
            }
        }
        let base = Values {
            first_name: m.contact_first_name.clone(),
            last_name: m.contact_last_name.clone(),
            email: m.contact_email.clone(),
            phone: Some(r.number.clone()),
            ..Values::default()
        };
        let (text, _) = ab::text_for(&campaign, &r.number);
        if let Ok(body) = template::render(text, &base.for_recipient(r)) {
            let body = if campaign.opt_out_footer && !m.texted_before {
                keywords::with_opt_out_footer(&body)
            } else {
                body
            };
            let parts = i64::from(upzento_domain::sms::segments(&body).segments);
            report.parts_total += parts;
            report.parts_max = report.parts_max.max(parts);
        }
    }
    Ok(Json(report))
}

/// How a campaign did: its texts' outcomes in all, per A/B variant (compared with variant
/// A: the difference of reply rates and its two-sided p-value), per sending number,
/// failures by reason, and sends, deliveries and replies over time.
#[utoipa::path(
    get,
    path = "/phone-sms/campaigns/{id}/analytics",
    tag = "campaigns",
    extensions(("x-permission" = json!("campaign:read"))),
    params(("id" = String, Path, description = "Campaign id")),
    security(("bearer" = [])),
    responses((status = 200, body = CampaignAnalytics), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody))
)]
pub async fn analytics(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CampaignAnalytics>, AppError> {
    let tenant = &caller.tenant.id;
    let campaign = campaign_of(&state, tenant, &id).await?;
    let texted = state.store.campaign_texted(tenant, &id).await?;
    Ok(Json(analyse(&campaign, &texted)))
}

fn add(counts: &mut OutcomeCounts, t: &TextedRecipient) {
    counts.texted += 1;
    match t.status.as_str() {
        "delivered" => counts.delivered += 1,
        "failed" => counts.failed += 1,
        _ => {}
    }
    if t.replied_at.is_some() {
        counts.replied += 1;
    }
    if t.opted_out {
        counts.opted_out += 1;
    }
}

/// The figures of a campaign's texted recipients.
fn analyse(campaign: &SmsCampaign, texted: &[TextedRecipient]) -> CampaignAnalytics {
    let mut totals = OutcomeCounts::default();
    let mut by_variant: BTreeMap<String, OutcomeCounts> = BTreeMap::new();
    let mut by_sender: BTreeMap<Option<String>, OutcomeCounts> = BTreeMap::new();
    let mut failures: BTreeMap<String, i64> = BTreeMap::new();
    let mut events = Vec::with_capacity(texted.len() * 2);
    for t in texted {
        add(&mut totals, t);
        if let Some(v) = &t.variant {
            add(by_variant.entry(v.clone()).or_default(), t);
        }
        add(by_sender.entry(t.phone_number_id.clone()).or_default(), t);
        if t.status == "failed" {
            let code = t.error_code.clone().unwrap_or_else(|| "unknown".into());
            *failures.entry(code).or_default() += 1;
        }
        events.push((clock::to_ms(t.queued_at), Event::Sent));
        if t.status == "delivered" {
            events.push((clock::to_ms(t.updated_at), Event::Delivered));
        }
        if let Some(at) = t.replied_at {
            events.push((clock::to_ms(at), Event::Replied));
        }
    }
    let rate = |c: &OutcomeCounts| {
        (
            u64::try_from(c.replied).unwrap_or(0),
            u64::try_from(c.texted).unwrap_or(0),
        )
    };
    let first = campaign
        .variants
        .first()
        .map(|v| by_variant.get(&v.key).copied().unwrap_or_default());
    let variants = campaign
        .variants
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let counts = by_variant.get(&v.key).copied().unwrap_or_default();
            let (difference, p_value, reply_rate) = match first {
                Some(a) if i > 0 => {
                    let c = ab::compare(rate(&a), rate(&counts));
                    (Some(c.difference), c.p_value, c.rate_b)
                }
                _ => (None, None, ab::compare(rate(&counts), (0, 0)).rate_a),
            };
            VariantOutcome {
                key: v.key.clone(),
                share: v.share,
                counts,
                reply_rate,
                difference,
                p_value,
            }
        })
        .collect();
    let mut failures: Vec<FailureCount> = failures
        .into_iter()
        .map(|(code, count)| FailureCount { code, count })
        .collect();
    failures.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.code.cmp(&b.code)));
    let (interval_seconds, points) = analytics::series(&events);
    CampaignAnalytics {
        totals,
        variants,
        senders: by_sender
            .into_iter()
            .map(|(phone_number_id, counts)| SenderOutcome {
                phone_number_id,
                counts,
            })
            .collect(),
        failures,
        interval_seconds,
        series: points
            .into_iter()
            .map(|p| SeriesPoint {
                start_ms: p.start_ms,
                sent: p.sent,
                delivered: p.delivered,
                replied: p.replied,
            })
            .collect(),
    }
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`) is written with a
/// leading apostrophe (OWASP's advice on CSV injection); numbers are E.164 and stay as
/// they are.
fn cell(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    }
}

/// The campaign's recipients with their outcome, as CSV (UTF-8 with a byte-order mark,
/// which spreadsheets need to read it as UTF-8): one row per recipient, the imported
/// fields last.
#[utoipa::path(
    get,
    path = "/phone-sms/campaigns/{id}/recipients/export",
    tag = "campaigns",
    extensions(("x-permission" = json!("campaign:read"))),
    params(("id" = String, Path, description = "Campaign id")),
    security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let tenant = &caller.tenant.id;
    let campaign = campaign_of(&state, tenant, &id).await?;
    let mut all: Vec<CampaignRecipient> = Vec::new();
    let mut after: Option<After> = None;
    loop {
        let page = state
            .store
            .recipients(tenant, &id, after.as_ref(), 1000)
            .await?;
        let full = page.len() == 1000;
        if let Some(last) = page.last() {
            after = Some(After {
                created_at_ms: clock::to_ms(clock::parse_rfc3339(&last.created_at)?),
                id: last.id.clone(),
            });
        }
        all.extend(page);
        if !full {
            break;
        }
    }
    let mut fields: Vec<String> = all
        .iter()
        .flat_map(|r| r.fields.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    fields.truncate(upzento_domain::audience::FIELDS_MAX);
    let mut out = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
    let mut header: Vec<String> = [
        "number",
        "firstName",
        "lastName",
        "variant",
        "status",
        "errorCode",
        "errorMessage",
        "heldUntil",
        "messageId",
        "updatedAt",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    header.extend(fields.iter().map(|f| format!("fields.{f}")));
    out.write_record(&header).map_err(anyhow::Error::from)?;
    for r in &all {
        let opt = |v: &Option<String>| cell(v.as_deref().unwrap_or(""));
        let mut row = vec![
            r.number.clone(),
            opt(&r.first_name),
            opt(&r.last_name),
            opt(&r.variant),
            r.status.as_str().to_owned(),
            opt(&r.error_code),
            opt(&r.error_message),
            opt(&r.held_until),
            opt(&r.message_id),
            r.updated_at.clone(),
        ];
        row.extend(
            fields
                .iter()
                .map(|f| cell(r.fields.get(f).map_or("", String::as_str))),
        );
        out.write_record(&row).map_err(anyhow::Error::from)?;
    }
    let bytes = out.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    let name: String = campaign
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}-recipients.csv\""),
            ),
        ],
        bytes,
    )
        .into_response())
}
