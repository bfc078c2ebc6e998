//! A campaign's recipients and what the campaign runner does with them, written once
//! for both backends: recipients added (one statement per thousand), listed and
//! removed; scheduled campaigns started and finished ones completed; recipients leased
//! to a runner (`FOR UPDATE … SKIP LOCKED` on PostgreSQL, where several nodes run).

use std::collections::HashMap;

use anyhow::Context;
use serde_json::Value;
use time::OffsetDateTime;
use upzento_domain::resources::{CampaignRecipient, CampaignStatus, SmsCampaign, entity};

use super::common::{self, Entity};
use super::sql::{Db, Dialect, Param, Row};
use super::{
    Actor, After, AudienceMember, DueRecipient, Guard, NewRecipient, RecipientOutcome, STOPPED,
    SYSTEM_ACTOR, TextedRecipient, recipient_done, recipient_status,
};
use crate::clock;
use crate::error::AppError;

/// A recipient's columns, with its message's state (which it reports once queued).
fn recipient_select(dialect: Dialect) -> String {
    // The later of the two updates; a recipient without a message has only its own.
    let updated = match dialect {
        Dialect::Postgres => "GREATEST(r.updated_at, m.updated_at)",
        Dialect::Sqlite => "MAX(r.updated_at, COALESCE(m.updated_at, 0))",
    };
    format!(
        "SELECT r.id AS id, r.campaign_id AS campaign_id, r.contact_id AS contact_id,
                r.number AS number, r.status AS status, r.message_id AS message_id,
                r.error_code AS error_code, r.error_message AS error_message,
                r.held_until AS held_until, r.first_name AS first_name,
                r.last_name AS last_name, r.fields AS fields, r.variant AS variant,
                r.created_at AS created_at, {updated} AS updated_at,
                m.status AS message_status, m.error_code AS message_error_code,
                m.error_message AS message_error_message
         FROM campaign_recipient r LEFT JOIN sms_message m ON m.id = r.message_id"
    )
}

fn recipient_from_row(r: &Row<'_>) -> anyhow::Result<CampaignRecipient> {
    let own: String = r.get("status")?;
    let message_status: Option<String> = r.get("message_status")?;
    let status = recipient_status(&own, message_status.as_deref())
        .with_context(|| format!("recipient status {own}"))?;
    let (error_code, error_message) = if message_status.is_some() {
        (
            r.get("message_error_code")?,
            r.get("message_error_message")?,
        )
    } else {
        (r.get("error_code")?, r.get("error_message")?)
    };
    Ok(CampaignRecipient {
        id: r.get("id")?,
        campaign_id: r.get("campaign_id")?,
        contact_id: r.get("contact_id")?,
        number: r.get("number")?,
        status,
        message_id: r.get("message_id")?,
        error_code,
        error_message,
        held_until: r
            .get::<Option<OffsetDateTime>>("held_until")?
            .filter(|_| own == "pending")
            .map(clock::rfc3339),
        first_name: r.get("first_name")?,
        last_name: r.get("last_name")?,
        fields: match r.get::<Option<String>>("fields")? {
            Some(json) => serde_json::from_str(&json).context("recipient fields")?,
            None => std::collections::BTreeMap::new(),
        },
        variant: r.get("variant")?,
        created_at: clock::rfc3339(r.get("created_at")?),
        updated_at: clock::rfc3339(r.get("updated_at")?),
    })
}

/// The campaign `id` as stored (without its statistics), locked for the transaction.
pub(super) async fn campaign_for_update<D: Db>(
    db: &D,
    tenant_id: &str,
    id: &str,
) -> anyhow::Result<Option<SmsCampaign>> {
    let lock = if db.dialect() == Dialect::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    db.row(
        &format!("SELECT data FROM sms_campaign WHERE tenant_id = $1 AND id = $2{lock}"),
        &[tenant_id.into(), id.into()],
        SmsCampaign::from_row,
    )
    .await
}

/// The audit row of a change to a campaign's recipients (they have no feed entries).
async fn audit_row<D: Db>(
    db: &D,
    actor: &Actor,
    action: &str,
    campaign_id: &str,
    detail: Value,
    now: OffsetDateTime,
) -> anyhow::Result<()> {
    db.execute(
        "INSERT INTO audit_log (id, tenant_id, actor_id, action, entity, entity_id, after, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            common::new_id().into(),
            actor.tenant_id.as_str().into(),
            actor.user_id.as_str().into(),
            action.into(),
            entity::CAMPAIGN_RECIPIENT.into(),
            campaign_id.into(),
            detail.into(),
            now.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Adds recipients (each number once per campaign) if `guard` lets it: how many were
/// added and how many the campaign has now; `None` without such a campaign.
pub async fn add_recipients<D: Db>(
    db: &D,
    actor: &Actor,
    campaign_id: &str,
    guard: &Guard<SmsCampaign>,
    recipients: &[NewRecipient],
    now: OffsetDateTime,
) -> Result<Option<(i64, i64)>, AppError> {
    let Some(campaign) = campaign_for_update(db, &actor.tenant_id, campaign_id).await? else {
        return Ok(None);
    };
    guard(&campaign)?;
    let mut added = 0_i64;
    // Five hundred rows a statement: well within both databases' limits on parameters.
    for chunk in recipients.chunks(500) {
        let mut params: Vec<Param> = vec![
            actor.tenant_id.as_str().into(),
            campaign_id.into(),
            now.into(),
        ];
        let mut rows = Vec::with_capacity(chunk.len());
        for r in chunk {
            let n = params.len();
            rows.push(format!(
                "(${}, $1, $2, ${}, ${}, ${}, ${}, ${}, 'pending', $3, $3)",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5,
                n + 6
            ));
            let fields = if r.fields.is_empty() {
                None
            } else {
                Some(serde_json::to_string(&r.fields).map_err(anyhow::Error::from)?)
            };
            params.extend([
                common::new_id().into(),
                (&r.contact_id).into(),
                r.number.as_str().into(),
                (&r.first_name).into(),
                (&r.last_name).into(),
                fields.into(),
            ]);
        }
        let inserted = db
            .execute(
                &format!(
                    "INSERT INTO campaign_recipient
                         (id, tenant_id, campaign_id, contact_id, number, first_name, last_name,
                          fields, status, created_at, updated_at)
                     VALUES {}
                     ON CONFLICT (campaign_id, number) DO NOTHING",
                    rows.join(", ")
                ),
                &params,
            )
            .await?;
        added += i64::try_from(inserted).unwrap_or(i64::MAX);
    }
    let total: i64 = db
        .row(
            "SELECT COUNT(*) AS total FROM campaign_recipient WHERE campaign_id = $1",
            &[campaign_id.into()],
            |r| r.get("total"),
        )
        .await?
        .unwrap_or(0);
    let detail = serde_json::json!({ "added": added, "total": total });
    audit_row(db, actor, "add_recipients", campaign_id, detail, now).await?;
    Ok(Some((added, total)))
}

/// A page of a campaign's recipients in the order they were added.
pub async fn recipients<D: Db>(
    db: &D,
    tenant_id: &str,
    campaign_id: &str,
    after: Option<&After>,
    limit: usize,
) -> anyhow::Result<Vec<CampaignRecipient>> {
    let (after_at, after_id) = after.map_or(
        (
            OffsetDateTime::UNIX_EPOCH - time::Duration::days(1),
            String::new(),
        ),
        |a| (clock::from_ms(a.created_at_ms), a.id.clone()),
    );
    db.rows(
        &format!(
            "{} WHERE r.tenant_id = $1 AND r.campaign_id = $2 AND (r.created_at, r.id) > ($3, $4)
             ORDER BY r.created_at, r.id LIMIT $5",
            recipient_select(db.dialect())
        ),
        &[
            tenant_id.into(),
            campaign_id.into(),
            after_at.into(),
            after_id.into(),
            i64::try_from(limit)?.into(),
        ],
        recipient_from_row,
    )
    .await
}

/// Removes a recipient not yet texted, if `guard` lets it.
pub async fn delete_recipient<D: Db>(
    db: &D,
    actor: &Actor,
    campaign_id: &str,
    recipient_id: &str,
    guard: &Guard<SmsCampaign>,
    now: OffsetDateTime,
) -> Result<bool, AppError> {
    let Some(campaign) = campaign_for_update(db, &actor.tenant_id, campaign_id).await? else {
        return Ok(false);
    };
    let lock = if db.dialect() == Dialect::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let Some(status) = db
        .row(
            &format!(
                "SELECT status FROM campaign_recipient WHERE campaign_id = $1 AND id = $2{lock}"
            ),
            &[campaign_id.into(), recipient_id.into()],
            |r| r.get::<String>("status"),
        )
        .await?
    else {
        return Ok(false);
    };
    guard(&campaign)?;
    if status != "pending" {
        return Err(recipient_done());
    }
    db.execute(
        "DELETE FROM campaign_recipient WHERE id = $1",
        &[recipient_id.into()],
    )
    .await?;
    let detail = serde_json::json!({ "recipientId": recipient_id });
    audit_row(db, actor, "remove_recipient", campaign_id, detail, now).await?;
    Ok(true)
}

/// Campaigns the runner changes (`tenant_id`, `data` rows), each with its feed entry.
async fn system_update<D: Db>(
    db: &D,
    campaigns: Vec<(String, SmsCampaign)>,
    action: &str,
    now: OffsetDateTime,
    change: impl Fn(&mut SmsCampaign),
) -> anyhow::Result<usize> {
    let count = campaigns.len();
    for (tenant_id, before) in campaigns {
        let mut after = before.clone();
        change(&mut after);
        after.updated_at = clock::rfc3339(now);
        common::write(db, &tenant_id, &after, false).await?;
        let actor = Actor {
            tenant_id,
            user_id: SYSTEM_ACTOR.to_owned(),
        };
        let (b, a) = (Some(before.recorded()?), Some(after.recorded()?));
        common::record(db, &actor, SmsCampaign::NAME, &after.id, action, b, a, now).await?;
    }
    Ok(count)
}

/// Campaigns whose `condition` holds, locked for this runner (others skip them).
async fn campaigns_where<D: Db>(
    db: &D,
    condition: &str,
    params: &[Param],
) -> anyhow::Result<Vec<(String, SmsCampaign)>> {
    let lock = if db.dialect() == Dialect::Postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    db.rows(
        &format!("SELECT tenant_id, data FROM sms_campaign c WHERE {condition}{lock}"),
        params,
        |r| Ok((r.get("tenant_id")?, SmsCampaign::from_row(r)?)),
    )
    .await
}

/// Pauses the tenant's active campaigns (its tenant was disabled): nothing more is sent,
/// and nothing is lost.
pub async fn pause_active<D: Db>(
    db: &D,
    actor: &Actor,
    now: OffsetDateTime,
) -> anyhow::Result<usize> {
    let active = campaigns_where(
        db,
        "status = 'active' AND tenant_id = $1",
        &[actor.tenant_id.as_str().into()],
    )
    .await?;
    system_update(db, active, "pause", now, |c| {
        c.status = CampaignStatus::Paused;
    })
    .await
}

/// Starts the scheduled campaigns whose time has come (not a disabled tenant's).
pub async fn start_due_campaigns<D: Db>(db: &D, now: OffsetDateTime) -> anyhow::Result<usize> {
    let due = campaigns_where(
        db,
        "status = 'scheduled' AND scheduled_for <= $1
         AND NOT EXISTS (SELECT 1 FROM tenant t WHERE t.id = c.tenant_id AND t.disabled_at IS NOT NULL)",
        &[now.into()],
    )
    .await?;
    system_update(db, due, "start", now, |c| {
        c.status = CampaignStatus::Active;
        c.started_at = Some(clock::rfc3339(now));
    })
    .await
}

/// Leases up to `limit` pending recipients of active campaigns until `lease_until`.
pub async fn claim_campaign_recipients<D: Db>(
    db: &D,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
    limit: usize,
) -> anyhow::Result<Vec<DueRecipient>> {
    let params: [Param; 3] = [lease_until.into(), now.into(), i64::try_from(limit)?.into()];
    let due = "SELECT r.id FROM sms_campaign c
               JOIN campaign_recipient r ON r.campaign_id = c.id
               WHERE c.status = 'active' AND r.status = 'pending'
                 AND (r.lease_until IS NULL OR r.lease_until <= $2)
                 AND (r.held_until IS NULL OR r.held_until <= $2)
               ORDER BY r.created_at, r.id LIMIT $3";
    let sql = match db.dialect() {
        // SKIP LOCKED: runners on several nodes each take different recipients.
        Dialect::Postgres => format!(
            "WITH due AS ({due} FOR UPDATE OF r SKIP LOCKED)
             UPDATE campaign_recipient r SET lease_until = $1 FROM due WHERE r.id = due.id
             RETURNING r.tenant_id AS tenant_id, r.campaign_id AS campaign_id, r.id AS id"
        ),
        Dialect::Sqlite => format!(
            "UPDATE campaign_recipient SET lease_until = $1 WHERE id IN ({due})
             RETURNING tenant_id, campaign_id, id"
        ),
    };
    let claimed: Vec<(String, String, String)> = db
        .rows(&sql, &params, |r| {
            Ok((r.get("tenant_id")?, r.get("campaign_id")?, r.get("id")?))
        })
        .await?;
    let mut campaigns: HashMap<String, SmsCampaign> = HashMap::new();
    let mut due = Vec::with_capacity(claimed.len());
    for (tenant_id, campaign_id, id) in claimed {
        let campaign = match campaigns.get(&campaign_id) {
            Some(campaign) => campaign.clone(),
            None => {
                let campaign = db
                    .row(
                        "SELECT data FROM sms_campaign WHERE tenant_id = $1 AND id = $2",
                        &[tenant_id.as_str().into(), campaign_id.as_str().into()],
                        SmsCampaign::from_row,
                    )
                    .await?
                    .context("claimed a recipient of a missing campaign")?;
                campaigns.insert(campaign_id.clone(), campaign.clone());
                campaign
            }
        };
        let recipient = db
            .row(
                &format!("{} WHERE r.id = $1", recipient_select(db.dialect())),
                &[id.as_str().into()],
                recipient_from_row,
            )
            .await?
            .context("a claimed recipient vanished")?;
        due.push(DueRecipient {
            tenant_id,
            campaign,
            recipient,
        });
    }
    Ok(due)
}

/// What the runner did with a recipient; its lease ends.
pub async fn finish_recipient<D: Db>(
    db: &D,
    tenant_id: &str,
    recipient_id: &str,
    outcome: RecipientOutcome,
    now: OffsetDateTime,
) -> anyhow::Result<()> {
    let (status, message_id, code, message, variant) = match outcome {
        RecipientOutcome::Queued {
            message_id,
            variant,
        } => ("queued", Some(message_id), None, None, variant),
        RecipientOutcome::Skipped { code, message } => {
            ("skipped", None, Some(code), Some(message), None)
        }
        RecipientOutcome::Held { until } => {
            db.execute(
                "UPDATE campaign_recipient SET held_until = $1, lease_until = NULL, updated_at = $2
                 WHERE tenant_id = $3 AND id = $4 AND status = 'pending'",
                &[
                    until.into(),
                    now.into(),
                    tenant_id.into(),
                    recipient_id.into(),
                ],
            )
            .await?;
            return Ok(());
        }
    };
    db.execute(
        "UPDATE campaign_recipient
         SET status = $1, message_id = $2, error_code = $3, error_message = $4,
             lease_until = NULL, held_until = NULL, updated_at = $5, variant = $8
         WHERE tenant_id = $6 AND id = $7 AND status = 'pending'",
        &[
            status.into(),
            message_id.into(),
            code.into(),
            message.into(),
            now.into(),
            tenant_id.into(),
            recipient_id.into(),
            variant.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Skips what stopped campaigns left pending, and completes active campaigns with no
/// one left to text.
pub async fn finish_campaigns<D: Db>(db: &D, now: OffsetDateTime) -> anyhow::Result<usize> {
    db.execute(
        "UPDATE campaign_recipient
         SET status = 'skipped', error_code = $1, error_message = $2,
             lease_until = NULL, updated_at = $3
         WHERE status = 'pending' AND campaign_id IN
             (SELECT id FROM sms_campaign WHERE status = 'completed')",
        &[STOPPED.0.into(), STOPPED.1.into(), now.into()],
    )
    .await?;
    let done = campaigns_where(
        db,
        "status = 'active' AND NOT EXISTS (
             SELECT 1 FROM campaign_recipient r
             WHERE r.campaign_id = c.id AND r.status = 'pending')",
        &[],
    )
    .await?;
    system_update(db, done, "complete", now, |c| {
        c.status = CampaignStatus::Completed;
        c.completed_at = Some(clock::rfc3339(now));
    })
    .await
}

/// Every recipient of a campaign with what decides whether and when it is texted: its
/// contact (by id, else by number), and its do-not-contact entry.
pub async fn audience<D: Db>(
    db: &D,
    tenant_id: &str,
    campaign_id: &str,
) -> anyhow::Result<Vec<AudienceMember>> {
    db.rows(
        &format!(
            "SELECT q.*, k.first_name AS contact_first_name, k.last_name AS contact_last_name,
                    k.email AS contact_email, k.time_zone AS contact_time_zone,
                    k.opted_out AS contact_opted_out, d.source AS dnc_source,
                    EXISTS (SELECT 1 FROM conversation c JOIN sms_message m ON m.conversation_id = c.id
                            WHERE c.tenant_id = $1 AND c.contact_number = q.number
                              AND m.direction = 'outbound') AS texted_before
             FROM ({} WHERE r.tenant_id = $1 AND r.campaign_id = $2) q
             LEFT JOIN contact_phone cp ON cp.tenant_id = $1 AND cp.number = q.number
             LEFT JOIN contact k ON k.id = COALESCE(q.contact_id, cp.contact_id)
             LEFT JOIN do_not_contact d ON d.tenant_id = $1 AND d.number = q.number
             ORDER BY q.created_at, q.id",
            recipient_select(db.dialect())
        ),
        &[tenant_id.into(), campaign_id.into()],
        |r| {
            Ok(AudienceMember {
                recipient: recipient_from_row(r)?,
                contact_first_name: r.get("contact_first_name")?,
                contact_last_name: r.get("contact_last_name")?,
                contact_email: r.get("contact_email")?,
                time_zone: r.get("contact_time_zone")?,
                opted_out: r.get::<Option<bool>>("contact_opted_out")?.unwrap_or(false),
                do_not_contact: r.get("dnc_source")?,
                texted_before: r.get("texted_before")?,
            })
        },
    )
    .await
}

/// Every texted recipient of a campaign with what became of its text.
pub async fn texted<D: Db>(
    db: &D,
    tenant_id: &str,
    campaign_id: &str,
) -> anyhow::Result<Vec<TextedRecipient>> {
    db.rows(
        "SELECT r.variant AS variant, m.phone_number_id AS phone_number_id,
                m.status AS status, m.error_code AS error_code,
                m.created_at AS queued_at, m.updated_at AS updated_at,
                (SELECT MIN(i.created_at) FROM sms_message i
                 WHERE i.conversation_id = m.conversation_id AND i.direction = 'inbound'
                   AND i.created_at > m.created_at) AS replied_at,
                EXISTS (SELECT 1 FROM do_not_contact d
                        WHERE d.tenant_id = r.tenant_id AND d.number = r.number
                          AND d.source = 'optOut' AND d.created_at > m.created_at) AS opted_out
         FROM campaign_recipient r JOIN sms_message m ON m.id = r.message_id
         WHERE r.tenant_id = $1 AND r.campaign_id = $2",
        &[tenant_id.into(), campaign_id.into()],
        |r| {
            Ok(TextedRecipient {
                variant: r.get("variant")?,
                phone_number_id: r.get("phone_number_id")?,
                status: r.get("status")?,
                error_code: r.get("error_code")?,
                queued_at: r.get("queued_at")?,
                updated_at: r.get("updated_at")?,
                replied_at: r.get("replied_at")?,
                opted_out: r.get("opted_out")?,
            })
        },
    )
    .await
}

/// The winner of the campaign's A/B test: the one decided, or decided now from the test
/// sample's outcomes (the best reply rate; ties to the earlier variant), once, whichever
/// runner gets here first. `None`: the campaign has no winner test.
pub async fn decide_winner<D: Db>(
    db: &D,
    tenant_id: &str,
    campaign_id: &str,
    now: OffsetDateTime,
) -> anyhow::Result<Option<String>> {
    let Some(campaign) = campaign_for_update(db, tenant_id, campaign_id).await? else {
        return Ok(None);
    };
    if campaign.winner.is_some() {
        return Ok(campaign.winner);
    }
    if campaign.winner_test.is_none() || campaign.variants.is_empty() {
        return Ok(None);
    }
    // Only the sample has been texted so far.
    let texted = texted(db, tenant_id, campaign_id).await?;
    let results: Vec<(u64, u64)> = campaign
        .variants
        .iter()
        .map(|v| {
            let of: Vec<&TextedRecipient> = texted
                .iter()
                .filter(|t| t.variant.as_deref() == Some(v.key.as_str()))
                .collect();
            let replied = of.iter().filter(|t| t.replied_at.is_some()).count();
            (
                u64::try_from(replied).unwrap_or(0),
                u64::try_from(of.len()).unwrap_or(0),
            )
        })
        .collect();
    let Some(best) = upzento_domain::ab::winner(&results) else {
        return Ok(None);
    };
    let key = campaign.variants[best].key.clone();
    let stamp = clock::rfc3339(now);
    let decided = key.clone();
    system_update(
        db,
        vec![(tenant_id.to_owned(), campaign)],
        "decide_winner",
        now,
        move |c| {
            c.winner = Some(decided.clone());
            c.winner_decided_at = Some(stamp.clone());
        },
    )
    .await?;
    Ok(Some(key))
}

/// Whether the tenant has texted `number` before (from any of its numbers), and which of its
/// numbers did last: `None` never; `Some(None)` only from numbers it no longer has.
pub async fn last_text_to<D: Db>(
    db: &D,
    tenant_id: &str,
    number: &str,
) -> anyhow::Result<Option<Option<String>>> {
    // Texts from a number still known first, the latest of them.
    db.row(
        "SELECT m.phone_number_id AS id FROM conversation c
         JOIN sms_message m ON m.conversation_id = c.id
         WHERE c.tenant_id = $1 AND c.contact_number = $2 AND m.direction = 'outbound'
         ORDER BY m.phone_number_id IS NULL, m.created_at DESC LIMIT 1",
        &[tenant_id.into(), number.into()],
        |r| r.get::<Option<String>>("id"),
    )
    .await
}
