//! The description of each plain entity: its table, its columns and how a row maps to
//! the record and back. The operations on them are in [`super::common`], once.

use upzento_domain::resources::{SmsTemplate, entity};

use super::common::Entity;
use super::sql::{Param, Row};
use crate::clock;

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
