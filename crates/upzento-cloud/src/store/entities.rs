//! The description of each plain entity: its table, its columns and how a row maps to
//! the record and back. The operations on them are in [`super::common`], once.

use time::OffsetDateTime;
use upzento_domain::resources::{NumberStatus, PhoneNumber, SmsTemplate, entity};

use super::common::{self, Entity};
use super::sql::{Db, Param, Row, is_unique_violation};
use super::{Actor, Apply, number_conflict};
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
        "status",
        "call_forwarding",
        "voicemail",
        "sms_enabled",
        "monthly_fee",
        "purchase_date",
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
            self.status.as_str().into(),
            (&self.call_forwarding).into(),
            self.voicemail.into(),
            self.sms_enabled.into(),
            (&self.monthly_fee).into(),
            (&self.purchase_date).into(),
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
            status: NumberStatus::parse(&status)
                .ok_or_else(|| anyhow::anyhow!("status {status}"))?,
            call_forwarding: r.get("call_forwarding")?,
            voicemail: r.get("voicemail")?,
            sms_enabled: r.get("sms_enabled")?,
            monthly_fee: r.get("monthly_fee")?,
            purchase_date: r.get("purchase_date")?,
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
