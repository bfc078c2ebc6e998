//! The description of each plain entity: its table, its columns and how a row maps to
//! the record and back. The operations on them are in [`super::common`], once.

use serde_json::Value;
use time::OffsetDateTime;
use upzento_domain::resources::{
    Call, CallNote, CallStatus, CallType, CampaignStats, Contact, Conversation, ConversationNote,
    ConversationRead, ConversationStatus, NumberStatus, PhoneNumber, SmsCampaign, SmsTemplate,
    entity,
};

use super::common::{self, Entity};
use super::sql::{Db, Dialect, Param, Row, is_unique_violation};
use super::{
    Actor, After, Apply, CallFilter, ContactFilter, ConversationFilter, Guard, contact_search,
    number_conflict,
};
use crate::clock;
use crate::error::AppError;

impl Entity for SmsTemplate {
    const TABLE: &'static str = "sms_template";
    const NAME: &'static str = entity::SMS_TEMPLATE;
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "name",
        "message",
        "usage_count",
        "created_at",
        "updated_at",
    ];

    fn id(&self) -> &str {
        &self.id
    }

    fn values(&self) -> anyhow::Result<Vec<Param>> {
        Ok(vec![
            self.id.as_str().into(),
            self.name.as_str().into(),
            self.message.as_str().into(),
            self.usage_count.into(),
            clock::parse_rfc3339(&self.created_at)?.into(),
            clock::parse_rfc3339(&self.updated_at)?.into(),
        ])
    }

    fn from_row(r: &Row<'_>) -> anyhow::Result<Self> {
        Ok(Self {
            id: r.get("id")?,
            name: r.get("name")?,
            message: r.get("message")?,
            usage_count: r.get("usage_count")?,
            created_at: clock::rfc3339(r.get("created_at")?),
            updated_at: clock::rfc3339(r.get("updated_at")?),
        })
    }
}

impl Entity for PhoneNumber {
    const TABLE: &'static str = "phone_number";
    const NAME: &'static str = entity::PHONE_NUMBER;
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "number",
        "kind",
        "location",
        "assigned_to",
        "team_id",
        "status",
        "call_forwarding",
        "voicemail",
        "sms_enabled",
        "monthly_fee",
        "purchase_date",
        "send_per_minute",
        "created_at",
        "updated_at",
    ];

    fn id(&self) -> &str {
        &self.id
    }

    fn values(&self) -> anyhow::Result<Vec<Param>> {
        Ok(vec![
            self.id.as_str().into(),
            self.number.as_str().into(),
            self.kind.as_str().into(),
            (&self.location).into(),
            (&self.assigned_to).into(),
            (&self.team_id).into(),
            self.status.as_str().into(),
            (&self.call_forwarding).into(),
            self.voicemail.into(),
            self.sms_enabled.into(),
            (&self.monthly_fee).into(),
            (&self.purchase_date).into(),
            self.send_per_minute.into(),
            clock::parse_rfc3339(&self.created_at)?.into(),
            clock::parse_rfc3339(&self.updated_at)?.into(),
        ])
    }

    fn from_row(r: &Row<'_>) -> anyhow::Result<Self> {
        let status: String = r.get("status")?;
        Ok(Self {
            id: r.get("id")?,
            number: r.get("number")?,
            kind: r.get("kind")?,
            location: r.get("location")?,
            assigned_to: r.get("assigned_to")?,
            team_id: r.get("team_id")?,
            status: NumberStatus::parse(&status)
                .ok_or_else(|| anyhow::anyhow!("status {status}"))?,
            call_forwarding: r.get("call_forwarding")?,
            voicemail: r.get("voicemail")?,
            sms_enabled: r.get("sms_enabled")?,
            monthly_fee: r.get("monthly_fee")?,
            purchase_date: r.get("purchase_date")?,
            send_per_minute: r
                .get::<Option<i64>>("send_per_minute")?
                .map(u32::try_from)
                .transpose()?,
            created_at: clock::rfc3339(r.get("created_at")?),
            updated_at: clock::rfc3339(r.get("updated_at")?),
        })
    }
}

/// The filter of a list of numbers (`$5` status, `$6` assignee).
pub const NUMBER_FILTER: &str = "(CAST($5 AS TEXT) IS NULL OR status = $5)
     AND (CAST($6 AS TEXT) IS NULL OR assigned_to = $6)";

/// Why `n` cannot be kept: another record (of this tenant or another) holds its number.
/// A number belongs to one tenant at a time: inbound messages are routed by it.
async fn number_held<D: Db>(
    db: &D,
    tenant_id: &str,
    n: &PhoneNumber,
) -> anyhow::Result<Option<AppError>> {
    let holder: Option<String> = db
        .row(
            "SELECT tenant_id FROM phone_number WHERE number = $1 AND id <> $2 LIMIT 1",
            &[n.number.as_str().into(), n.id.as_str().into()],
            |r| r.get("tenant_id"),
        )
        .await?;
    Ok(holder.map(|holder| number_conflict(n, holder == tenant_id)))
}

/// Writes a number unless its number is held elsewhere (checked first; the unique index
/// catches a race with another writer).
async fn write_number<D: Db>(
    db: &D,
    tenant_id: &str,
    n: &PhoneNumber,
    insert: bool,
) -> Result<(), AppError> {
    if let Some(conflict) = number_held(db, tenant_id, n).await? {
        return Err(conflict);
    }
    match common::write(db, tenant_id, n, insert).await {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(number_conflict(n, false)),
        Err(e) => Err(e.into()),
    }
}

pub async fn create_number<D: Db>(
    db: &D,
    actor: &Actor,
    n: &PhoneNumber,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    write_number(db, &actor.tenant_id, n, true).await?;
    let after = Some(common::to_json(n)?);
    common::record(
        db,
        actor,
        PhoneNumber::NAME,
        &n.id,
        "create",
        None,
        after,
        now,
    )
    .await?;
    Ok(())
}

pub async fn update_number<D: Db>(
    db: &D,
    actor: &Actor,
    id: &str,
    apply: &Apply<PhoneNumber>,
    now: OffsetDateTime,
) -> Result<Option<PhoneNumber>, AppError> {
    let Some(before) = common::get::<PhoneNumber, D>(db, &actor.tenant_id, id, true).await? else {
        return Ok(None);
    };
    let after = apply(&before)?;
    write_number(db, &actor.tenant_id, &after, false).await?;
    let (b, a) = (
        Some(common::to_json(&before)?),
        Some(common::to_json(&after)?),
    );
    common::record(db, actor, PhoneNumber::NAME, id, "update", b, a, now).await?;
    Ok(Some(after))
}

impl Entity for Contact {
    const TABLE: &'static str = "contact";
    const NAME: &'static str = entity::CONTACT;
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "first_name",
        "last_name",
        "email",
        "tags",
        "time_zone",
        "opted_out",
        "opted_out_at",
        "created_at",
        "updated_at",
    ];

    fn id(&self) -> &str {
        &self.id
    }

    fn values(&self) -> anyhow::Result<Vec<Param>> {
        Ok(vec![
            self.id.as_str().into(),
            self.first_name.as_str().into(),
            (&self.last_name).into(),
            (&self.email).into(),
            serde_json::to_value(&self.tags)?.into(),
            (&self.time_zone).into(),
            self.opted_out.into(),
            self.opted_out_at
                .as_deref()
                .map(clock::parse_rfc3339)
                .transpose()?
                .into(),
            clock::parse_rfc3339(&self.created_at)?.into(),
            clock::parse_rfc3339(&self.updated_at)?.into(),
        ])
    }

    /// Without its numbers, which [`Self::read_owned`] adds.
    fn from_row(r: &Row<'_>) -> anyhow::Result<Self> {
        let tags: Option<Value> = r.get("tags")?;
        let opted_out_at: Option<OffsetDateTime> = r.get("opted_out_at")?;
        Ok(Self {
            id: r.get("id")?,
            first_name: r.get("first_name")?,
            last_name: r.get("last_name")?,
            phone_numbers: Vec::new(),
            email: r.get("email")?,
            tags: serde_json::from_value(tags.unwrap_or(Value::Array(Vec::new())))?,
            time_zone: r.get("time_zone")?,
            opted_out: r.get("opted_out")?,
            opted_out_at: opted_out_at.map(clock::rfc3339),
            created_at: clock::rfc3339(r.get("created_at")?),
            updated_at: clock::rfc3339(r.get("updated_at")?),
        })
    }

    /// Its numbers, in their order; a number belongs to one contact of the tenant.
    async fn write_owned<D: Db>(&self, db: &D, tenant_id: &str) -> Result<(), AppError> {
        db.execute(
            "DELETE FROM contact_phone WHERE tenant_id = $1 AND contact_id = $2",
            &[tenant_id.into(), self.id.as_str().into()],
        )
        .await?;
        for (position, number) in self.phone_numbers.iter().enumerate() {
            let inserted = db
                .execute(
                    "INSERT INTO contact_phone (tenant_id, number, contact_id, position)
                     VALUES ($1, $2, $3, $4)",
                    &[
                        tenant_id.into(),
                        number.as_str().into(),
                        self.id.as_str().into(),
                        i64::try_from(position).unwrap_or(i64::MAX).into(),
                    ],
                )
                .await;
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    return Err(AppError::Conflict {
                        code: "duplicate_contact_number",
                        message: format!("{number} already belongs to another contact."),
                        field: Some("phoneNumbers".into()),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn read_owned<D: Db>(contacts: &mut [Self], db: &D) -> anyhow::Result<()> {
        let mut numbers = common::owned_values(
            db,
            "SELECT contact_id AS parent, number AS value FROM contact_phone
             WHERE {in} ORDER BY contact_id, position",
            "contact_id",
            contacts.iter().map(|c| c.id.clone()).collect(),
        )
        .await?;
        for contact in contacts {
            contact.phone_numbers = numbers.remove(&contact.id).unwrap_or_default();
        }
        Ok(())
    }
}

/// The filter of a list of contacts: `$5` text in the name or email (a LIKE pattern),
/// `$6` digits in a number (a LIKE pattern), `$7` a tag. Tags are a JSON array, read with
/// each dialect's JSON functions.
pub fn contact_filter(dialect: Dialect) -> String {
    let tagged = match dialect {
        Dialect::Postgres => "tags ? CAST($7 AS TEXT)",
        Dialect::Sqlite => "EXISTS (SELECT 1 FROM json_each(contact.tags) WHERE value = $7)",
    };
    format!(
        "(CAST($5 AS TEXT) IS NULL
          OR lower(first_name || ' ' || coalesce(last_name, '')) LIKE $5 ESCAPE '\\'
          OR lower(coalesce(email, '')) LIKE $5 ESCAPE '\\'
          OR (CAST($6 AS TEXT) IS NOT NULL AND EXISTS (SELECT 1 FROM contact_phone p
                WHERE p.contact_id = contact.id AND p.number LIKE $6 ESCAPE '\\')))
         AND (CAST($7 AS TEXT) IS NULL OR {tagged})"
    )
}

/// The parameters of [`contact_filter`].
pub fn contact_filter_params(filter: &ContactFilter) -> Vec<Param> {
    let (text, digits) = filter.query.as_deref().map(contact_search).unzip();
    vec![text.into(), digits.flatten().into(), (&filter.tag).into()]
}

impl Entity for Call {
    const TABLE: &'static str = "call";
    const NAME: &'static str = entity::CALL;
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "phone_number_id",
        "contact_id",
        "kind",
        "status",
        "from_number",
        "to_number",
        "duration",
        "recording_url",
        "notes",
        "assigned_to",
        "start_time",
        "end_time",
        "sip_call_id",
        "disposition_id",
        "tags",
        "wrapped_up_at",
        "wrapped_up_by",
        "created_by",
        "created_at",
        "updated_at",
    ];
    /// A SIP Call-ID posted again (a retry, perhaps to another node) is the same call.
    const ON_INSERT: &'static str =
        "ON CONFLICT (tenant_id, sip_call_id) WHERE sip_call_id IS NOT NULL DO NOTHING";

    fn id(&self) -> &str {
        &self.id
    }

    fn values(&self) -> anyhow::Result<Vec<Param>> {
        Ok(vec![
            self.id.as_str().into(),
            (&self.phone_number_id).into(),
            (&self.contact_id).into(),
            self.kind.as_str().into(),
            self.status.as_str().into(),
            self.from.as_str().into(),
            self.to.as_str().into(),
            self.duration.into(),
            (&self.recording_url).into(),
            (&self.notes).into(),
            (&self.assigned_to).into(),
            clock::parse_rfc3339(&self.start_time)?.into(),
            self.end_time
                .as_deref()
                .map(clock::parse_rfc3339)
                .transpose()?
                .into(),
            (&self.sip_call_id).into(),
            (&self.disposition_id).into(),
            serde_json::to_value(&self.tags)?.into(),
            self.wrapped_up_at
                .as_deref()
                .map(clock::parse_rfc3339)
                .transpose()?
                .into(),
            (&self.wrapped_up_by).into(),
            (&self.created_by).into(),
            clock::parse_rfc3339(&self.created_at)?.into(),
            clock::parse_rfc3339(&self.updated_at)?.into(),
        ])
    }

    fn from_row(r: &Row<'_>) -> anyhow::Result<Self> {
        let kind: String = r.get("kind")?;
        let status: String = r.get("status")?;
        let duration: Option<i64> = r.get("duration")?;
        let end_time: Option<OffsetDateTime> = r.get("end_time")?;
        let wrapped_up_at: Option<OffsetDateTime> = r.get("wrapped_up_at")?;
        let tags: Option<Value> = r.get("tags")?;
        Ok(Self {
            id: r.get("id")?,
            phone_number_id: r.get("phone_number_id")?,
            contact_id: r.get("contact_id")?,
            kind: CallType::parse(&kind).ok_or_else(|| anyhow::anyhow!("call type {kind}"))?,
            status: CallStatus::parse(&status)
                .ok_or_else(|| anyhow::anyhow!("call status {status}"))?,
            from: r.get("from_number")?,
            to: r.get("to_number")?,
            duration: duration.map(u32::try_from).transpose()?,
            recording_url: r.get("recording_url")?,
            notes: r.get("notes")?,
            assigned_to: r.get("assigned_to")?,
            start_time: clock::rfc3339(r.get("start_time")?),
            end_time: end_time.map(clock::rfc3339),
            sip_call_id: r.get("sip_call_id")?,
            disposition_id: r.get("disposition_id")?,
            tags: serde_json::from_value(tags.unwrap_or(Value::Array(Vec::new())))?,
            wrapped_up_at: wrapped_up_at.map(clock::rfc3339),
            wrapped_up_by: r.get("wrapped_up_by")?,
            created_by: r.get("created_by")?,
            created_at: clock::rfc3339(r.get("created_at")?),
            updated_at: clock::rfc3339(r.get("updated_at")?),
        })
    }
}

/// A note on a record (a call, a conversation): its author and time, added and never
/// overwritten, listed oldest first. One description for every kind.
pub trait Note: Entity + Clone {
    /// What it is a note on.
    type Subject: Entity;
    /// Its column naming the subject.
    const SUBJECT: &'static str;
    fn subject_id(&self) -> &str;
}

macro_rules! note_entity {
    ($note:ty, $table:literal, $name:expr, $subject:ty, $column:ident) => {
        impl Entity for $note {
            const TABLE: &'static str = $table;
            const NAME: &'static str = $name;
            const COLUMNS: &'static [&'static str] = &[
                "id",
                stringify!($column),
                "author_id",
                "text",
                "created_at",
                "updated_at",
            ];

            fn id(&self) -> &str {
                &self.id
            }

            fn values(&self) -> anyhow::Result<Vec<Param>> {
                Ok(vec![
                    self.id.as_str().into(),
                    self.$column.as_str().into(),
                    self.author_id.as_str().into(),
                    self.text.as_str().into(),
                    clock::parse_rfc3339(&self.created_at)?.into(),
                    clock::parse_rfc3339(&self.updated_at)?.into(),
                ])
            }

            fn from_row(r: &Row<'_>) -> anyhow::Result<Self> {
                Ok(Self {
                    id: r.get("id")?,
                    $column: r.get(stringify!($column))?,
                    author_id: r.get("author_id")?,
                    text: r.get("text")?,
                    created_at: clock::rfc3339(r.get("created_at")?),
                    updated_at: clock::rfc3339(r.get("updated_at")?),
                })
            }
        }

        impl Note for $note {
            type Subject = $subject;
            const SUBJECT: &'static str = stringify!($column);

            fn subject_id(&self) -> &str {
                &self.$column
            }
        }
    };
}

note_entity!(CallNote, "call_note", entity::CALL_NOTE, Call, call_id);
note_entity!(
    ConversationNote,
    "conversation_note",
    entity::CONVERSATION_NOTE,
    Conversation,
    conversation_id
);

/// Adds a note to a record of the actor's tenant; `None` without such a record.
pub async fn add_note<N: Note, D: Db>(
    db: &D,
    actor: &Actor,
    note: N,
    now: OffsetDateTime,
) -> Result<Option<N>, AppError> {
    if common::get::<N::Subject, D>(db, &actor.tenant_id, note.subject_id(), true)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    common::create(db, actor, &note, now).await?;
    Ok(Some(note))
}

/// The notes on a record, oldest first (at most `limit`).
pub async fn notes<N: Note, D: Db>(
    db: &D,
    tenant_id: &str,
    subject_id: &str,
    limit: usize,
) -> anyhow::Result<Vec<N>> {
    common::list(
        db,
        tenant_id,
        Some(&format!("{} = $5", N::SUBJECT)),
        vec![subject_id.into()],
        None,
        limit,
    )
    .await
}

/// Files a call, linked to the contact its other party's number belongs to; `false` with
/// the call already filed under its SIP Call-ID (posted again, perhaps to another node).
pub async fn create_call<D: Db>(
    db: &D,
    actor: &Actor,
    mut call: Call,
    now: OffsetDateTime,
) -> Result<(Call, bool), AppError> {
    let other = match call.kind {
        CallType::Incoming => call.from.clone(),
        CallType::Outgoing => call.to.clone(),
    };
    call.contact_id = db
        .row(
            "SELECT contact_id FROM contact_phone WHERE tenant_id = $1 AND number = $2",
            &[actor.tenant_id.as_str().into(), other.into()],
            |r| r.get("contact_id"),
        )
        .await?;
    if common::write(db, &actor.tenant_id, &call, true).await? == 0 {
        let existing = db
            .row(
                &format!(
                    "{} WHERE tenant_id = $1 AND sip_call_id = $2",
                    common::select::<Call>()
                ),
                &[actor.tenant_id.as_str().into(), (&call.sip_call_id).into()],
                Call::from_row,
            )
            .await?
            .ok_or_else(|| anyhow::anyhow!("a call neither inserted nor found"))?;
        return Ok((existing, false));
    }
    let after = Some(common::to_json(&call)?);
    common::record(db, actor, Call::NAME, &call.id, "create", None, after, now).await?;
    Ok((call, true))
}

/// A page of the tenant's calls, newest first, before `before`.
pub async fn list_calls<D: Db>(
    db: &D,
    tenant_id: &str,
    filter: &CallFilter,
    before: Option<&After>,
    limit: usize,
) -> anyhow::Result<Vec<Call>> {
    let (before_at, before_id) = before.map_or(
        (
            time::macros::datetime!(9999-12-31 23:59:59 UTC),
            String::new(),
        ),
        |a| (clock::from_ms(a.created_at_ms), a.id.clone()),
    );
    let time = db.dialect().time_type();
    let [viewer_user, viewer_supervisor] = common::viewer_params(filter.visible_to.as_ref());
    db.rows(
        &format!(
            "{} WHERE tenant_id = $1
               AND (CAST($2 AS TEXT) IS NULL OR kind = $2)
               AND (CAST($3 AS TEXT) IS NULL OR status = $3)
               AND (CAST($4 AS TEXT) IS NULL OR assigned_to = $4)
               AND (CAST($5 AS TEXT) IS NULL OR contact_id = $5)
               AND (CAST($6 AS {time}) IS NULL OR start_time >= $6)
               AND (CAST($7 AS {time}) IS NULL OR start_time < $7)
               AND (start_time, id) < ($8, $9)
               AND {}
             ORDER BY start_time DESC, id DESC LIMIT $10",
            common::select::<Call>(),
            common::visible_sql("assigned_to", None, 11),
        ),
        &[
            tenant_id.into(),
            (&filter.kind).into(),
            (&filter.status).into(),
            (&filter.assigned_to).into(),
            (&filter.contact_id).into(),
            filter.from_ms.map(clock::from_ms).into(),
            filter.until_ms.map(clock::from_ms).into(),
            before_at.into(),
            before_id.into(),
            i64::try_from(limit)?.into(),
            viewer_user,
            viewer_supervisor,
        ],
        Call::from_row,
    )
    .await
}

/// A campaign is kept whole as JSON (`data`), with the columns its queries select on;
/// its statistics are counted from its recipients when read, never stored.
impl Entity for SmsCampaign {
    const TABLE: &'static str = "sms_campaign";
    const NAME: &'static str = entity::SMS_CAMPAIGN;
    const COLUMNS: &'static [&'static str] =
        &["id", "status", "scheduled_for", "created_at", "data"];

    fn id(&self) -> &str {
        &self.id
    }

    fn values(&self) -> anyhow::Result<Vec<Param>> {
        Ok(vec![
            self.id.as_str().into(),
            self.status.as_str().into(),
            self.scheduled_for
                .as_deref()
                .map(clock::parse_rfc3339)
                .transpose()?
                .into(),
            clock::parse_rfc3339(&self.created_at)?.into(),
            self.recorded()?.into(),
        ])
    }

    fn from_row(r: &Row<'_>) -> anyhow::Result<Self> {
        Ok(serde_json::from_value(r.get("data")?)?)
    }

    fn recorded(&self) -> anyhow::Result<Value> {
        common::to_json(&SmsCampaign {
            stats: None,
            ..self.clone()
        })
    }

    async fn read_owned<D: Db>(campaigns: &mut [Self], db: &D) -> anyhow::Result<()> {
        for campaign in campaigns {
            campaign.stats = Some(campaign_stats(db, &campaign.id).await?);
        }
        Ok(())
    }
}

/// A campaign's recipients counted by where they are (their message's status once it
/// is queued), and those whose contact has written back since.
async fn campaign_stats<D: Db>(db: &D, campaign_id: &str) -> anyhow::Result<CampaignStats> {
    let mut stats = CampaignStats::default();
    let rows: Vec<(String, i64, i64)> = db
        .rows(
            "SELECT COALESCE(m.status, CASE WHEN r.status = 'pending' AND r.held_until IS NOT NULL
                                       THEN 'held' ELSE r.status END) AS status, COUNT(*) AS n,
                    COUNT(*) FILTER (WHERE EXISTS (
                        SELECT 1 FROM sms_message i
                        WHERE i.conversation_id = m.conversation_id
                          AND i.direction = 'inbound' AND i.created_at > m.created_at)) AS replied
             FROM campaign_recipient r LEFT JOIN sms_message m ON m.id = r.message_id
             WHERE r.campaign_id = $1 GROUP BY 1",
            &[campaign_id.into()],
            |r| Ok((r.get("status")?, r.get("n")?, r.get("replied")?)),
        )
        .await?;
    for (status, n, replied) in rows {
        super::count_recipients(&mut stats, &status, n, replied);
    }
    Ok(stats)
}

/// The filter of a list of campaigns (`$5` status).
pub const CAMPAIGN_FILTER: &str = "CAST($5 AS TEXT) IS NULL OR status = $5";

/// Deletes a campaign and its recipients, if `guard` lets it.
pub async fn delete_campaign<D: Db>(
    db: &D,
    actor: &Actor,
    id: &str,
    guard: &Guard<SmsCampaign>,
    now: OffsetDateTime,
) -> Result<bool, AppError> {
    let Some(before) = super::campaigns::campaign_for_update(db, &actor.tenant_id, id).await?
    else {
        return Ok(false);
    };
    guard(&before)?;
    db.execute(
        "DELETE FROM campaign_recipient WHERE campaign_id = $1",
        &[id.into()],
    )
    .await?;
    db.execute(
        "DELETE FROM sms_campaign WHERE tenant_id = $1 AND id = $2",
        &[actor.tenant_id.as_str().into(), id.into()],
    )
    .await?;
    let before = Some(before.recorded()?);
    common::record(
        db,
        actor,
        SmsCampaign::NAME,
        id,
        "delete",
        before,
        None,
        now,
    )
    .await?;
    Ok(true)
}

impl Entity for Conversation {
    const TABLE: &'static str = "conversation";
    const NAME: &'static str = entity::CONVERSATION;
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "phone_number_id",
        "our_number",
        "contact_number",
        "contact_id",
        "status",
        "assigned_to",
        "team_id",
        "last_message_at",
        "last_message_preview",
        "last_activity_at",
        "snoozed_until",
        "created_at",
        "updated_at",
    ];
    /// One thread per pair of numbers: two nodes opening it at once get the same one.
    const ON_INSERT: &'static str =
        "ON CONFLICT (tenant_id, our_number, contact_number) DO NOTHING";

    fn id(&self) -> &str {
        &self.id
    }

    fn values(&self) -> anyhow::Result<Vec<Param>> {
        Ok(vec![
            self.id.as_str().into(),
            (&self.phone_number_id).into(),
            self.our_number.as_str().into(),
            self.contact_number.as_str().into(),
            (&self.contact_id).into(),
            self.status.as_str().into(),
            (&self.assigned_to).into(),
            (&self.team_id).into(),
            self.last_message_at
                .as_deref()
                .map(clock::parse_rfc3339)
                .transpose()?
                .into(),
            (&self.last_message_preview).into(),
            clock::parse_rfc3339(&self.last_activity_at)?.into(),
            self.snoozed_until
                .as_deref()
                .map(clock::parse_rfc3339)
                .transpose()?
                .into(),
            clock::parse_rfc3339(&self.created_at)?.into(),
            clock::parse_rfc3339(&self.updated_at)?.into(),
        ])
    }

    fn from_row(r: &Row<'_>) -> anyhow::Result<Self> {
        let status: String = r.get("status")?;
        let last_message_at: Option<OffsetDateTime> = r.get("last_message_at")?;
        let snoozed_until: Option<OffsetDateTime> = r.get("snoozed_until")?;
        Ok(Self {
            id: r.get("id")?,
            phone_number_id: r.get("phone_number_id")?,
            our_number: r.get("our_number")?,
            contact_number: r.get("contact_number")?,
            contact_id: r.get("contact_id")?,
            status: ConversationStatus::parse(&status)
                .ok_or_else(|| anyhow::anyhow!("status {status}"))?,
            assigned_to: r.get("assigned_to")?,
            team_id: r.get("team_id")?,
            last_message_at: last_message_at.map(clock::rfc3339),
            last_message_preview: r.get("last_message_preview")?,
            last_activity_at: clock::rfc3339(r.get("last_activity_at")?),
            unread_count: None,
            snoozed_until: snoozed_until.map(clock::rfc3339),
            created_at: clock::rfc3339(r.get("created_at")?),
            updated_at: clock::rfc3339(r.get("updated_at")?),
        })
    }
}

/// The contact a number belongs to in the tenant, if any.
pub async fn contact_of_number<D: Db>(
    db: &D,
    tenant_id: &str,
    number: &str,
) -> anyhow::Result<Option<String>> {
    db.row(
        "SELECT contact_id FROM contact_phone WHERE tenant_id = $1 AND number = $2",
        &[tenant_id.into(), number.into()],
        |r| r.get("contact_id"),
    )
    .await
}

/// The thread between our `phone_number` and `contact_number`, opened if there is none
/// (`true` then).
pub async fn open_conversation<D: Db>(
    db: &D,
    actor: &Actor,
    phone_number: &PhoneNumber,
    contact_number: &str,
    now: OffsetDateTime,
) -> Result<(Conversation, bool), AppError> {
    let stamp = clock::rfc3339(now);
    let conversation = Conversation {
        id: common::new_id(),
        phone_number_id: Some(phone_number.id.clone()),
        our_number: phone_number.number.clone(),
        contact_number: contact_number.to_owned(),
        contact_id: contact_of_number(db, &actor.tenant_id, contact_number).await?,
        status: ConversationStatus::Open,
        assigned_to: None,
        // A conversation on a team's number is the team's.
        team_id: phone_number.team_id.clone(),
        last_message_at: None,
        last_message_preview: None,
        last_activity_at: stamp.clone(),
        unread_count: None,
        snoozed_until: None,
        created_at: stamp.clone(),
        updated_at: stamp,
    };
    if common::write(db, &actor.tenant_id, &conversation, true).await? == 0 {
        let existing = db
            .row(
                &format!(
                    "{} WHERE tenant_id = $1 AND our_number = $2 AND contact_number = $3",
                    common::select::<Conversation>()
                ),
                &[
                    actor.tenant_id.as_str().into(),
                    phone_number.number.as_str().into(),
                    contact_number.into(),
                ],
                Conversation::from_row,
            )
            .await?
            .ok_or_else(|| anyhow::anyhow!("conversation vanished"))?;
        return Ok((existing, false));
    }
    let after = Some(conversation.recorded()?);
    let id = conversation.id.clone();
    common::record(
        db,
        actor,
        Conversation::NAME,
        &id,
        "create",
        None,
        after,
        now,
    )
    .await?;
    Ok((conversation, true))
}

/// A page of the tenant's conversations, the most recently active first.
pub async fn list_conversations<D: Db>(
    db: &D,
    tenant_id: &str,
    filter: &ConversationFilter,
    before: Option<&After>,
    limit: usize,
) -> anyhow::Result<Vec<Conversation>> {
    let (before_at, before_id) = before.map_or(
        (
            time::macros::datetime!(9999-12-31 23:59:59 UTC),
            String::new(),
        ),
        |a| (clock::from_ms(a.created_at_ms), a.id.clone()),
    );
    let [viewer_user, viewer_supervisor] = common::viewer_params(filter.visible_to.as_ref());
    db.rows(
        &format!(
            "{} WHERE tenant_id = $1
               AND (CAST($2 AS TEXT) IS NULL OR status = $2)
               AND (CAST($3 AS TEXT) IS NULL OR assigned_to = $3)
               AND (CAST($4 AS TEXT) IS NULL OR contact_id = $4)
               AND (last_activity_at, id) < ($5, $6)
               AND {}
             ORDER BY last_activity_at DESC, id DESC LIMIT $7",
            common::select::<Conversation>(),
            common::visible_sql("assigned_to", Some("team_id"), 8),
        ),
        &[
            tenant_id.into(),
            (&filter.status).into(),
            (&filter.assigned_to).into(),
            (&filter.contact_id).into(),
            before_at.into(),
            before_id.into(),
            i64::try_from(limit)?.into(),
            viewer_user,
            viewer_supervisor,
        ],
        Conversation::from_row,
    )
    .await
}

/// For each of `conversation_ids`, the inbound messages `user_id` has not read yet.
pub async fn unread_counts<D: Db>(
    db: &D,
    tenant_id: &str,
    user_id: &str,
    conversation_ids: &[String],
) -> anyhow::Result<std::collections::HashMap<String, i64>> {
    if conversation_ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let params: Vec<Param> = vec![
        tenant_id.into(),
        user_id.into(),
        time::macros::datetime!(1900-01-01 0:00 UTC).into(),
        Param::TextList(conversation_ids.to_vec()),
    ];
    let time = db.dialect().time_type();
    let counts = db
        .rows(
            &format!(
                "SELECT c.id AS id, (SELECT COUNT(*) FROM sms_message m
                     WHERE m.conversation_id = c.id AND m.direction = 'inbound'
                       AND m.created_at > COALESCE(
                           (SELECT read_at FROM conversation_read r
                            WHERE r.conversation_id = c.id AND r.user_id = $2),
                           CAST($3 AS {time}))) AS unread
                 FROM conversation c
                 WHERE c.tenant_id = $1 AND {}",
                db.dialect().in_list("c.id", 4)
            ),
            &params,
            |r| Ok((r.get("id")?, r.get("unread")?)),
        )
        .await?;
    Ok(counts.into_iter().collect())
}

/// Marks the conversation read by the actor up to `read_at` (never backwards); `false`
/// when there is no such conversation.
pub async fn mark_read<D: Db>(
    db: &D,
    actor: &Actor,
    conversation_id: &str,
    read_at: OffsetDateTime,
    now: OffsetDateTime,
) -> anyhow::Result<bool> {
    let found = common::get::<Conversation, D>(db, &actor.tenant_id, conversation_id, true).await?;
    if found.is_none() {
        return Ok(false);
    }
    let lock = if db.dialect() == Dialect::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let before: Option<OffsetDateTime> = db
        .row(
            &format!(
                "SELECT read_at FROM conversation_read
                 WHERE conversation_id = $1 AND user_id = $2{lock}"
            ),
            &[conversation_id.into(), actor.user_id.as_str().into()],
            |r| r.get("read_at"),
        )
        .await?;
    if before.is_some_and(|b| b >= read_at) {
        return Ok(true);
    }
    db.execute(
        "INSERT INTO conversation_read (conversation_id, user_id, tenant_id, read_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (conversation_id, user_id) DO UPDATE SET read_at = excluded.read_at",
        &[
            conversation_id.into(),
            actor.user_id.as_str().into(),
            actor.tenant_id.as_str().into(),
            read_at.into(),
        ],
    )
    .await?;
    let marker = |at: OffsetDateTime| {
        common::to_json(&ConversationRead {
            conversation_id: conversation_id.to_owned(),
            user_id: actor.user_id.clone(),
            read_at: clock::rfc3339(at),
        })
    };
    common::record(
        db,
        actor,
        entity::CONVERSATION_READ,
        &format!("{conversation_id}:{}", actor.user_id),
        "read",
        before.map(marker).transpose()?,
        Some(marker(read_at)?),
        now,
    )
    .await?;
    Ok(true)
}

/// Hands a deactivated user's open conversations and the calls they follow up to
/// `to` (or nobody), each through its own update (so the feed and the audit log have
/// them).
pub async fn reassign_work<D: Db>(
    db: &D,
    actor: &Actor,
    from: &str,
    to: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let stamp = clock::rfc3339(now);
    let owner = to.map(str::to_owned);
    let (to, at) = (owner.clone(), stamp.clone());
    reassign::<Conversation, D>(
        db,
        actor,
        "assigned_to = $5 AND status = 'open'",
        from,
        now,
        std::sync::Arc::new(move |c: &Conversation| {
            Ok(Conversation {
                assigned_to: to.clone(),
                updated_at: at.clone(),
                ..c.clone()
            })
        }),
    )
    .await?;
    let to = owner;
    reassign::<Call, D>(
        db,
        actor,
        "assigned_to = $5",
        from,
        now,
        std::sync::Arc::new(move |c: &Call| {
            Ok(Call {
                assigned_to: to.clone(),
                updated_at: stamp.clone(),
                ..c.clone()
            })
        }),
    )
    .await
}

/// Applies `apply` to every record of the tenant that `condition` (`$5`: `from`) picks.
async fn reassign<E: Entity, D: Db>(
    db: &D,
    actor: &Actor,
    condition: &str,
    from: &str,
    now: OffsetDateTime,
    apply: super::Apply<E>,
) -> Result<(), AppError> {
    let records: Vec<E> = common::list(
        db,
        &actor.tenant_id,
        Some(condition),
        vec![from.into()],
        None,
        usize::MAX >> 1,
    )
    .await?;
    for record in records {
        common::update(db, actor, record.id(), &apply, now).await?;
    }
    Ok(())
}
