//! Messages and what the carrier does with them, written once for both backends: a
//! message filed in its conversation, the carrier worker's claims (a lease, taken with
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer), its send intent and
//! its updates, and inbound routing, long messages' parts and consent records.

use time::OffsetDateTime;
use upzento_domain::resources::{
    ConsentEvent, Contact, Conversation, ConversationStatus, Direction, MessageStatus, PhoneNumber,
    SmsMessage, entity,
};

use super::common::{self, Entity};
use super::sql::{Db, Dialect, Param, Row};
use super::{Actor, After, Apply, CarrierUpdate, DueMessage, NewMessage, SYSTEM_ACTOR, preview};
use crate::carrier::{InboundPart, MessageRef};
use crate::clock;
use crate::error::AppError;

fn encoding_str(e: upzento_domain::sms::Encoding) -> &'static str {
    match e {
        upzento_domain::sms::Encoding::Gsm7 => "gsm7",
        upzento_domain::sms::Encoding::Ucs2 => "ucs2",
    }
}

impl Entity for SmsMessage {
    const TABLE: &'static str = "sms_message";
    const NAME: &'static str = entity::SMS_MESSAGE;
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "conversation_id",
        "phone_number_id",
        "contact_id",
        "direction",
        "body",
        "status",
        "error_code",
        "error_message",
        "encoding",
        "segments",
        "campaign_id",
        "sent_by",
        "provider",
        "provider_message_id",
        "created_at",
        "updated_at",
    ];

    fn id(&self) -> &str {
        &self.id
    }

    fn values(&self) -> anyhow::Result<Vec<Param>> {
        Ok(vec![
            self.id.as_str().into(),
            self.conversation_id.as_str().into(),
            (&self.phone_number_id).into(),
            (&self.contact_id).into(),
            self.direction.as_str().into(),
            self.message.as_str().into(),
            self.status.as_str().into(),
            (&self.error_code).into(),
            (&self.error_message).into(),
            encoding_str(self.encoding).into(),
            self.segments.into(),
            (&self.campaign_id).into(),
            (&self.sent_by).into(),
            (&self.provider).into(),
            (&self.provider_message_id).into(),
            clock::parse_rfc3339(&self.created_at)?.into(),
            clock::parse_rfc3339(&self.updated_at)?.into(),
        ])
    }

    fn from_row(r: &Row<'_>) -> anyhow::Result<Self> {
        let direction: String = r.get("direction")?;
        let status: String = r.get("status")?;
        let encoding: String = r.get("encoding")?;
        let segments: i64 = r.get("segments")?;
        Ok(Self {
            id: r.get("id")?,
            conversation_id: r.get("conversation_id")?,
            phone_number_id: r.get("phone_number_id")?,
            contact_id: r.get("contact_id")?,
            direction: Direction::parse(&direction)
                .ok_or_else(|| anyhow::anyhow!("direction {direction}"))?,
            message: r.get("body")?,
            status: MessageStatus::parse(&status)
                .ok_or_else(|| anyhow::anyhow!("status {status}"))?,
            error_code: r.get("error_code")?,
            error_message: r.get("error_message")?,
            encoding: match encoding.as_str() {
                "gsm7" => upzento_domain::sms::Encoding::Gsm7,
                "ucs2" => upzento_domain::sms::Encoding::Ucs2,
                other => anyhow::bail!("encoding {other}"),
            },
            segments: u32::try_from(segments)?,
            campaign_id: r.get("campaign_id")?,
            sent_by: r.get("sent_by")?,
            provider: r.get("provider")?,
            provider_message_id: r.get("provider_message_id")?,
            created_at: clock::rfc3339(r.get("created_at")?),
            updated_at: clock::rfc3339(r.get("updated_at")?),
        })
    }
}

/// Files a message in its conversation (whose row lock orders the messages of one
/// thread across nodes) and moves the conversation on; `false` with the message already
/// filed under its idempotency key.
pub async fn create_message<D: Db>(
    db: &D,
    actor: &Actor,
    new: NewMessage,
    now: OffsetDateTime,
) -> Result<(SmsMessage, bool), AppError> {
    let m = &new.message;
    let Some(before) =
        common::get::<Conversation, D>(db, &actor.tenant_id, &m.conversation_id, true).await?
    else {
        return Err(AppError::NotFound);
    };
    let mut params = m.values()?;
    params.extend([
        actor.tenant_id.as_str().into(),
        (&new.idempotency_key).into(),
        new.next_action_at.into(),
    ]);
    let places: Vec<String> = (1..=params.len()).map(|i| format!("${i}")).collect();
    let inserted = db
        .execute(
            &format!(
                "INSERT INTO sms_message ({}, tenant_id, idempotency_key, next_action_at)
                 VALUES ({})
                 ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING",
                SmsMessage::COLUMNS.join(", "),
                places.join(", ")
            ),
            &params,
        )
        .await?;
    if inserted == 0 {
        let existing = db
            .row(
                &format!(
                    "{} WHERE tenant_id = $1 AND idempotency_key = $2",
                    common::select::<SmsMessage>()
                ),
                &[
                    actor.tenant_id.as_str().into(),
                    (&new.idempotency_key).into(),
                ],
                SmsMessage::from_row,
            )
            .await?
            .ok_or_else(|| anyhow::anyhow!("a message neither inserted nor found"))?;
        return Ok((existing, false));
    }
    let after = Some(m.recorded()?);
    common::record(
        db,
        actor,
        SmsMessage::NAME,
        &m.id,
        "create",
        None,
        after,
        now,
    )
    .await?;
    let mut after = before.clone();
    after.last_message_at = Some(m.created_at.clone());
    after.last_message_preview = Some(preview(&m.message));
    after.last_activity_at = clock::rfc3339(now);
    after.updated_at = clock::rfc3339(now);
    if m.direction == Direction::Inbound {
        // A new message from the other side reopens the thread, and wakes it.
        after.status = ConversationStatus::Open;
        after.snoozed_until = None;
    }
    common::write(db, &actor.tenant_id, &after, false).await?;
    let (b, a) = (Some(before.recorded()?), Some(after.recorded()?));
    common::record(
        db,
        actor,
        Conversation::NAME,
        &after.id,
        "update",
        b,
        a,
        now,
    )
    .await?;
    Ok((new.message, true))
}

/// A page of a conversation's messages, newest first.
pub async fn messages<D: Db>(
    db: &D,
    tenant_id: &str,
    conversation_id: &str,
    before: Option<&After>,
    limit: usize,
) -> anyhow::Result<Vec<SmsMessage>> {
    let (before_at, before_id) = before.map_or(
        (
            time::macros::datetime!(9999-12-31 23:59:59 UTC),
            String::new(),
        ),
        |a| (clock::from_ms(a.created_at_ms), a.id.clone()),
    );
    db.rows(
        &format!(
            "{} WHERE tenant_id = $1 AND conversation_id = $2 AND (created_at, id) < ($3, $4)
             ORDER BY created_at DESC, id DESC LIMIT $5",
            common::select::<SmsMessage>()
        ),
        &[
            tenant_id.into(),
            conversation_id.into(),
            before_at.into(),
            before_id.into(),
            i64::try_from(limit)?.into(),
        ],
        SmsMessage::from_row,
    )
    .await
}

/// Writes a message's state. `next_action`: `Some` sets when the carrier acts next;
/// `end_claim` ends a worker's claim. A message still queued keeps the record of a send
/// in progress (`keep_intent`) unless the worker knows the provider never got it.
async fn write_state<D: Db>(
    db: &D,
    tenant_id: &str,
    m: &SmsMessage,
    next_action: Option<Option<OffsetDateTime>>,
    end_claim: bool,
    keep_intent: bool,
) -> anyhow::Result<()> {
    db.execute(
        "UPDATE sms_message SET status = $3, error_code = $4, error_message = $5,
             provider_message_id = $6, updated_at = $7,
             next_action_at = CASE WHEN $8 THEN $9 ELSE next_action_at END,
             send_started_at = CASE WHEN $3 = 'queued' AND $11 THEN send_started_at END,
             lease_owner = CASE WHEN $10 THEN NULL ELSE lease_owner END
         WHERE id = $1 AND tenant_id = $2",
        &[
            m.id.as_str().into(),
            tenant_id.into(),
            m.status.as_str().into(),
            (&m.error_code).into(),
            (&m.error_message).into(),
            (&m.provider_message_id).into(),
            clock::parse_rfc3339(&m.updated_at)?.into(),
            next_action.is_some().into(),
            next_action.flatten().into(),
            end_claim.into(),
            keep_intent.into(),
        ],
    )
    .await?;
    Ok(())
}

/// A change made through the API; a final state ends the carrier's work on it.
pub async fn update_message<D: Db>(
    db: &D,
    actor: &Actor,
    id: &str,
    apply: &Apply<SmsMessage>,
    now: OffsetDateTime,
) -> Result<Option<SmsMessage>, AppError> {
    let Some(before) = common::get::<SmsMessage, D>(db, &actor.tenant_id, id, true).await? else {
        return Ok(None);
    };
    let after = apply(&before)?;
    let done = matches!(
        after.status,
        MessageStatus::Delivered | MessageStatus::Failed | MessageStatus::Received
    );
    write_state(
        db,
        &actor.tenant_id,
        &after,
        done.then_some(None),
        false,
        true,
    )
    .await?;
    let (b, a) = (Some(before.recorded()?), Some(after.recorded()?));
    common::record(db, actor, SmsMessage::NAME, id, "update", b, a, now).await?;
    Ok(Some(after))
}

/// Leases up to `limit` messages due by `now` to the worker `owner` until `lease_until`.
pub async fn claim_due_messages<D: Db>(
    db: &D,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
    owner: &str,
    limit: usize,
) -> anyhow::Result<Vec<DueMessage>> {
    let params: [Param; 4] = [
        lease_until.into(),
        now.into(),
        i64::try_from(limit)?.into(),
        owner.into(),
    ];
    let columns: Vec<String> = SmsMessage::COLUMNS
        .iter()
        .map(|c| format!("m.{c}"))
        .collect();
    match db.dialect() {
        // SKIP LOCKED: nodes polling together each take different messages.
        Dialect::Postgres => {
            db.rows(
                &format!(
                    "WITH due AS (
                         SELECT id FROM sms_message
                         WHERE next_action_at IS NOT NULL AND next_action_at <= $2
                         AND tenant_id NOT IN (SELECT id FROM tenant WHERE disabled_at IS NOT NULL)
                         ORDER BY next_action_at LIMIT $3
                         FOR UPDATE SKIP LOCKED)
                     UPDATE sms_message m SET next_action_at = $1, lease_owner = $4
                     FROM due, conversation c LEFT JOIN contact k ON k.id = c.contact_id
                     WHERE m.id = due.id AND c.id = m.conversation_id
                     RETURNING m.tenant_id, m.send_started_at, c.our_number, c.contact_number,
                               k.time_zone AS time_zone, {}",
                    columns.join(", ")
                ),
                &params,
                |r| {
                    Ok(DueMessage {
                        tenant_id: r.get("tenant_id")?,
                        from: r.get("our_number")?,
                        to: r.get("contact_number")?,
                        message: SmsMessage::from_row(r)?,
                        send_started_at: r.get("send_started_at")?,
                        time_zone: r.get("time_zone")?,
                    })
                },
            )
            .await
        }
        // One writer: the claim is the update itself. (SQLite's RETURNING cannot name
        // the conversation's columns: they are read after.)
        Dialect::Sqlite => {
            let claimed: Vec<(String, SmsMessage, Option<OffsetDateTime>)> = db
                .rows(
                    &format!(
                        "UPDATE sms_message SET next_action_at = $1, lease_owner = $4
                         WHERE id IN (SELECT id FROM sms_message
                                      WHERE next_action_at IS NOT NULL AND next_action_at <= $2
                                      AND tenant_id NOT IN (
                                          SELECT id FROM tenant WHERE disabled_at IS NOT NULL)
                                      ORDER BY next_action_at LIMIT $3)
                         RETURNING tenant_id, send_started_at, {}",
                        SmsMessage::COLUMNS.join(", ")
                    ),
                    &params,
                    |r| {
                        Ok((
                            r.get("tenant_id")?,
                            SmsMessage::from_row(r)?,
                            r.get("send_started_at")?,
                        ))
                    },
                )
                .await?;
            let mut due = Vec::with_capacity(claimed.len());
            for (tenant_id, message, send_started_at) in claimed {
                let (from, to, time_zone) = db
                    .row(
                        "SELECT c.our_number AS our_number, c.contact_number AS contact_number,
                                k.time_zone AS time_zone
                         FROM conversation c LEFT JOIN contact k ON k.id = c.contact_id
                         WHERE c.id = $1",
                        &[message.conversation_id.as_str().into()],
                        |r| {
                            Ok((
                                r.get("our_number")?,
                                r.get("contact_number")?,
                                r.get("time_zone")?,
                            ))
                        },
                    )
                    .await?
                    .ok_or_else(|| {
                        anyhow::anyhow!("no conversation {}", message.conversation_id)
                    })?;
                due.push(DueMessage {
                    tenant_id,
                    message,
                    from,
                    to,
                    send_started_at,
                    time_zone,
                });
            }
            Ok(due)
        }
    }
}

/// When the message `message_id` from the number `from` (E.164) may go, taking
/// `interval_ms` of the number's pace: a slot it already holds (now, when its time has
/// come), else the number's next free slot, which it then holds. The number's slots are
/// shared by every node, so together they never send faster than it may, and a slot is
/// used once, whichever node claims the message at its time.
pub async fn reserve_send_slot<D: Db>(
    db: &D,
    tenant_id: &str,
    message_id: &str,
    from: &str,
    interval_ms: i64,
    now: OffsetDateTime,
) -> anyhow::Result<OffsetDateTime> {
    let now_ms = clock::to_ms(now);
    let held: Option<i64> = db
        .row(
            "SELECT slot_ms FROM send_slot_held WHERE tenant_id = $1 AND message_id = $2",
            &[tenant_id.into(), message_id.into()],
            |r| r.get("slot_ms"),
        )
        .await?;
    if let Some(slot) = held {
        if slot <= now_ms {
            db.execute(
                "DELETE FROM send_slot_held WHERE tenant_id = $1 AND message_id = $2",
                &[tenant_id.into(), message_id.into()],
            )
            .await?;
            return Ok(now);
        }
        return Ok(clock::from_ms(slot));
    }
    let start = db
        .dialect()
        .greatest("send_pace.next_free_ms", "CAST($3 AS BIGINT)");
    let slot: i64 = db
        .row(
            &format!(
                "INSERT INTO send_pace (tenant_id, number, next_free_ms)
                 VALUES ($1, $2, CAST($3 AS BIGINT) + CAST($4 AS BIGINT))
                 ON CONFLICT (tenant_id, number) DO UPDATE SET next_free_ms = {start} + CAST($4 AS BIGINT)
                 RETURNING next_free_ms - CAST($4 AS BIGINT) AS slot_ms"
            ),
            &[
                tenant_id.into(),
                from.into(),
                now_ms.into(),
                interval_ms.into(),
            ],
            |r| r.get("slot_ms"),
        )
        .await?
        .ok_or_else(|| anyhow::anyhow!("no send slot returned"))?;
    if slot > now_ms {
        db.execute(
            "INSERT INTO send_slot_held (message_id, tenant_id, slot_ms) VALUES ($1, $2, $3)",
            &[message_id.into(), tenant_id.into(), slot.into()],
        )
        .await?;
    }
    Ok(clock::from_ms(slot.max(now_ms)))
}

/// Gives up the pace slot the message holds, if any (it waits for other reasons: a slot
/// kept through a night of quiet hours would let the morning's texts out at once).
pub async fn release_send_slot<D: Db>(
    db: &D,
    tenant_id: &str,
    message_id: &str,
) -> anyhow::Result<()> {
    db.execute(
        "DELETE FROM send_slot_held WHERE tenant_id = $1 AND message_id = $2",
        &[tenant_id.into(), message_id.into()],
    )
    .await?;
    Ok(())
}

/// Records that `owner` hands the message to the provider now, if its lease still holds
/// and it is still queued; it is rechecked at `recheck_at` if no outcome is recorded.
pub async fn begin_send<D: Db>(
    db: &D,
    tenant_id: &str,
    id: &str,
    owner: &str,
    now: OffsetDateTime,
    recheck_at: OffsetDateTime,
) -> anyhow::Result<bool> {
    let n = db
        .execute(
            "UPDATE sms_message SET send_started_at = $4, next_action_at = $5
             WHERE id = $1 AND tenant_id = $2 AND lease_owner = $3 AND status = 'queued'",
            &[
                id.into(),
                tenant_id.into(),
                owner.into(),
                now.into(),
                recheck_at.into(),
            ],
        )
        .await?;
    Ok(n == 1)
}

/// What the carrier learned of a message (a send's outcome, a delivery report), unless
/// the message is past that state already.
pub async fn carrier_update<D: Db>(
    db: &D,
    tenant_id: &str,
    id: &str,
    update: CarrierUpdate,
    now: OffsetDateTime,
) -> anyhow::Result<Option<SmsMessage>> {
    let actor = Actor {
        tenant_id: tenant_id.to_owned(),
        user_id: SYSTEM_ACTOR.to_owned(),
    };
    let Some(before) = common::get::<SmsMessage, D>(db, tenant_id, id, true).await? else {
        return Ok(None);
    };
    if !before.status.may_become(update.status) {
        return Ok(None);
    }
    let mut after = before.clone();
    after.status = update.status;
    if update.provider_message_id.is_some() {
        after.provider_message_id = update.provider_message_id;
    }
    after.error_code = update.error_code;
    after.error_message = update.error_message;
    let changed = after != before;
    if changed {
        after.updated_at = clock::rfc3339(now);
    }
    let next = Some(update.next_action_at);
    write_state(db, tenant_id, &after, next, true, update.keep_intent).await?;
    if changed {
        let (b, a) = (Some(before.recorded()?), Some(after.recorded()?));
        common::record(db, &actor, SmsMessage::NAME, id, "update", b, a, now).await?;
    }
    Ok(Some(after))
}

/// The tenant and id of the message a provider's report is about.
pub async fn locate_message<D: Db>(
    db: &D,
    provider: &str,
    reference: &MessageRef,
) -> anyhow::Result<Option<(String, String)>> {
    let (sql, key) = match reference {
        MessageRef::Provider(id) => (
            "SELECT tenant_id, id FROM sms_message
             WHERE provider = $1 AND provider_message_id = $2 LIMIT 1",
            id,
        ),
        MessageRef::Ours(id) => (
            "SELECT tenant_id, id FROM sms_message WHERE provider = $1 AND id = $2",
            id,
        ),
    };
    db.row(sql, &[provider.into(), key.as_str().into()], |r| {
        Ok((r.get("tenant_id")?, r.get("id")?))
    })
    .await
}

/// The tenant whose active, SMS-enabled number `e164` is, and that number.
pub async fn route_inbound<D: Db>(
    db: &D,
    e164: &str,
) -> anyhow::Result<Option<(String, PhoneNumber)>> {
    db.row(
        &format!(
            "SELECT tenant_id, {} FROM phone_number
             WHERE number = $1 AND status = 'active' AND sms_enabled
             ORDER BY created_at, id LIMIT 1",
            PhoneNumber::COLUMNS.join(", ")
        ),
        &[e164.into()],
        |r| Ok((r.get("tenant_id")?, PhoneNumber::from_row(r)?)),
    )
    .await
}

/// The contact a number belongs to in the tenant.
pub async fn contact_by_number<D: Db>(
    db: &D,
    tenant_id: &str,
    e164: &str,
) -> anyhow::Result<Option<Contact>> {
    match super::entities::contact_of_number(db, tenant_id, e164).await? {
        Some(id) => common::get(db, tenant_id, &id, false).await,
        None => Ok(None),
    }
}

/// Keeps one part of a long inbound message; all its parts (bodies in order, with their
/// provider ids) once the last has come.
pub async fn add_inbound_part<D: Db>(
    db: &D,
    tenant_id: &str,
    part: &InboundPart,
    now: OffsetDateTime,
) -> anyhow::Result<Option<Vec<(String, String)>>> {
    if db.dialect() == Dialect::Postgres {
        // Parts arriving at once on several nodes must see each other: one message's
        // parts take turns. (SQLite's writer is alone.)
        let key = format!(
            "{tenant_id}|{}|{}|{}",
            part.sms.provider, part.sms.from, part.reference
        );
        db.rows(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            &[key.into()],
            |_| Ok(()),
        )
        .await?;
    }
    db.execute(
        "INSERT INTO inbound_part (tenant_id, provider, sender, reference, part, total,
                                   message_id, body, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        &[
            tenant_id.into(),
            part.sms.provider.as_str().into(),
            part.sms.from.as_str().into(),
            part.reference.as_str().into(),
            part.part.into(),
            part.total.into(),
            part.sms.provider_message_id.as_str().into(),
            part.sms.body.as_str().into(),
            now.into(),
        ],
    )
    .await?;
    let parts: Vec<(String, String)> = db
        .rows(
            "SELECT message_id, body FROM inbound_part
             WHERE tenant_id = $1 AND provider = $2 AND sender = $3 AND reference = $4
               AND part <= $5
             ORDER BY part",
            &[
                tenant_id.into(),
                part.sms.provider.as_str().into(),
                part.sms.from.as_str().into(),
                part.reference.as_str().into(),
                part.total.into(),
            ],
            |r| Ok((r.get("message_id")?, r.get("body")?)),
        )
        .await?;
    Ok((parts.len() == part.total as usize).then_some(parts))
}

pub async fn record_consent<D: Db>(
    db: &D,
    tenant_id: &str,
    event: &ConsentEvent,
) -> anyhow::Result<()> {
    db.execute(
        "INSERT INTO consent_event (id, tenant_id, contact_id, number, kind, method, message, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            event.id.as_str().into(),
            tenant_id.into(),
            (&event.contact_id).into(),
            event.number.as_str().into(),
            event.kind.as_str().into(),
            event.method.as_str().into(),
            (&event.message).into(),
            clock::parse_rfc3339(&event.at)?.into(),
        ],
    )
    .await?;
    Ok(())
}

pub async fn consent_events<D: Db>(
    db: &D,
    tenant_id: &str,
    contact_id: &str,
) -> anyhow::Result<Vec<ConsentEvent>> {
    db.rows(
        "SELECT id, contact_id, number, kind, method, message, at FROM consent_event
         WHERE tenant_id = $1 AND contact_id = $2 ORDER BY at, id",
        &[tenant_id.into(), contact_id.into()],
        |r| {
            Ok(ConsentEvent {
                id: r.get("id")?,
                contact_id: r.get("contact_id")?,
                number: r.get("number")?,
                kind: r.get("kind")?,
                method: r.get("method")?,
                message: r.get("message")?,
                at: clock::rfc3339(r.get("at")?),
            })
        },
    )
    .await
}
