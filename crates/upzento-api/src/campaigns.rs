//! Campaigns and the do-not-contact list, as the Campaigns section shows them. Both are
//! read from the cloud when the section opens and again as the feed says they changed
//! (a campaign's statistics are counted there, from every recipient's message).

use serde::{Deserialize, Serialize};
use upzento_domain::resources::{
    CampaignStatus, DoNotContactEntry, DoNotContactImport, DoNotContactSource, NewDoNotContact,
    PhoneNumber, SmsCampaign, TenantSettings, TenantSettingsPatch, entity,
};

use crate::session::{not_created, not_updated};
use crate::{Api, ApiError, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum CampaignStatusView {
    Draft,
    Scheduled,
    Active,
    Paused,
    Completed,
}

impl From<CampaignStatus> for CampaignStatusView {
    fn from(s: CampaignStatus) -> Self {
        match s {
            CampaignStatus::Draft => Self::Draft,
            CampaignStatus::Scheduled => Self::Scheduled,
            CampaignStatus::Active => Self::Active,
            CampaignStatus::Paused => Self::Paused,
            CampaignStatus::Completed => Self::Completed,
        }
    }
}

impl From<CampaignStatusView> for CampaignStatus {
    fn from(s: CampaignStatusView) -> Self {
        match s {
            CampaignStatusView::Draft => Self::Draft,
            CampaignStatusView::Scheduled => Self::Scheduled,
            CampaignStatusView::Active => Self::Active,
            CampaignStatusView::Paused => Self::Paused,
            CampaignStatusView::Completed => Self::Completed,
        }
    }
}

/// Where a campaign's recipients are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct CampaignStatsView {
    pub recipients: u32,
    /// Not handed to the carrier yet (`held` among them).
    pub pending: u32,
    /// Waiting for their allowed hours (08:00-21:00 their time).
    pub held: u32,
    pub queued: u32,
    pub sent: u32,
    pub delivered: u32,
    pub failed: u32,
    pub skipped: u32,
    pub replied: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct CampaignView {
    pub id: String,
    pub name: String,
    pub message: String,
    pub status: CampaignStatusView,
    /// The sending number, E.164 (the UI formats it).
    pub sender: Option<String>,
    pub scheduled_for: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub created_at: String,
    pub stats: CampaignStatsView,
}

fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

impl CampaignView {
    pub(crate) fn new(c: SmsCampaign, numbers: &[PhoneNumber]) -> Self {
        let stats = c.stats.map(|s| CampaignStatsView {
            recipients: count(s.recipients),
            pending: count(s.pending),
            held: count(s.held),
            queued: count(s.queued),
            sent: count(s.sent),
            delivered: count(s.delivered),
            failed: count(s.failed),
            skipped: count(s.skipped),
            replied: count(s.replied),
        });
        Self {
            sender: numbers
                .iter()
                .find(|n| n.id == c.phone_number_id)
                .map(|n| n.number.clone()),
            id: c.id,
            name: c.name,
            message: c.message,
            status: c.status.into(),
            scheduled_for: c.scheduled_for,
            started_at: c.started_at,
            completed_at: c.completed_at,
            created_at: c.created_at,
            stats: stats.unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum DoNotContactSourceView {
    OptOut,
    Manual,
    Import,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct DoNotContactView {
    pub id: String,
    pub number: String,
    pub reason: Option<String>,
    pub source: DoNotContactSourceView,
    pub created_at: String,
}

impl From<DoNotContactEntry> for DoNotContactView {
    fn from(e: DoNotContactEntry) -> Self {
        Self {
            id: e.id,
            number: e.number,
            reason: e.reason,
            source: match e.source {
                DoNotContactSource::OptOut => DoNotContactSourceView::OptOut,
                DoNotContactSource::Manual => DoNotContactSourceView::Manual,
                DoNotContactSource::Import => DoNotContactSourceView::Import,
            },
            created_at: e.created_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct RowProblemView {
    pub row: u32,
    pub value: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct DoNotContactImportView {
    pub added: u32,
    pub duplicates: u32,
    pub invalid: Vec<RowProblemView>,
}

/// The values of a pasted list with their line (1-based): one per line, or separated by
/// commas, semicolons or tabs; empty ones and a header of no digits dropped.
pub fn pasted_values(text: &str) -> Vec<(u32, String)> {
    text.lines()
        .enumerate()
        .flat_map(|(i, line)| {
            let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
            line.split([',', ';', '\t'])
                .map(|v| v.trim().trim_matches('"').trim())
                .filter(|v| v.chars().any(|c| c.is_ascii_digit()))
                .map(move |v| (line_no, v.to_owned()))
        })
        .collect()
}

/// The hours of each recipient's day campaigns may text in (`HH:MM`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct CampaignHoursView {
    pub start: String,
    pub end: String,
}

/// One of the tenant's numbers that can send SMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct SenderView {
    pub id: String,
    /// E.164.
    pub number: String,
    /// What the tenant calls it ("Support", "Marketing").
    pub label: String,
}

impl Api {
    /// The tenant's campaign hours, from the cache (the law's 08:00 to 21:00 until an
    /// admin narrows them).
    pub async fn campaign_hours(&self) -> Result<CampaignHoursView, ApiError> {
        let settings: Vec<TenantSettings> = self
            .read(|cache, _| cache.records(entity::TENANT_SETTINGS))
            .await?;
        Ok(settings.into_iter().next().map_or_else(
            || CampaignHoursView {
                start: upzento_domain::resources::campaign_hours_start(),
                end: upzento_domain::resources::campaign_hours_end(),
            },
            |s| CampaignHoursView {
                start: s.campaign_hours_start,
                end: s.campaign_hours_end,
            },
        ))
    }

    /// Narrows (or restores) the campaign hours (admins); checked as the cloud checks them.
    pub async fn set_campaign_hours(
        &self,
        start: String,
        end: String,
    ) -> Result<CampaignHoursView, ApiError> {
        upzento_domain::quiet::Window::from_hhmm(&start, &end)
            .map_err(|why| ApiError::new(ErrorCode::InvalidInput, why))?;
        let (client, token) = self.remote().await?;
        let s = client
            .update_settings(
                &token,
                &TenantSettingsPatch {
                    campaign_hours_start: Some(start),
                    campaign_hours_end: Some(end),
                    ..TenantSettingsPatch::default()
                },
            )
            .await
            .map_err(not_created)?;
        let view = CampaignHoursView {
            start: s.campaign_hours_start.clone(),
            end: s.campaign_hours_end.clone(),
        };
        self.remember(
            entity::TENANT_SETTINGS,
            s.id.clone(),
            s.updated_at.clone(),
            s,
        )
        .await?;
        Ok(view)
    }

    /// The tenant's numbers that can send SMS now, oldest first (from the cache).
    pub async fn senders(&self) -> Result<Vec<SenderView>, ApiError> {
        let mut numbers = self.our_numbers().await?;
        numbers.retain(|n| {
            n.sms_enabled && n.status == upzento_domain::resources::NumberStatus::Active
        });
        numbers.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        Ok(numbers
            .into_iter()
            .map(|n| SenderView {
                id: n.id,
                number: n.number,
                label: n.kind,
            })
            .collect())
    }

    pub(crate) async fn our_numbers(&self) -> Result<Vec<PhoneNumber>, ApiError> {
        self.read(|cache, _| cache.records(entity::PHONE_NUMBER))
            .await
    }

    /// The tenant's campaigns, newest first, with where their recipients are.
    pub async fn campaigns(&self) -> Result<Vec<CampaignView>, ApiError> {
        let (client, token) = self.remote().await?;
        let list = client.campaigns(&token).await.map_err(not_updated)?;
        let numbers = self.our_numbers().await?;
        // The cloud pages oldest first; people look for the latest.
        Ok(list
            .into_iter()
            .rev()
            .map(|c| CampaignView::new(c, &numbers))
            .collect())
    }

    /// Starts, pauses, resumes (`active`) or stops (`completed`) a campaign (admins).
    pub async fn set_campaign_status(
        &self,
        id: String,
        status: CampaignStatusView,
    ) -> Result<CampaignView, ApiError> {
        let (client, token) = self.remote().await?;
        let campaign = client
            .set_campaign_status(&token, &id, status.into())
            .await
            .map_err(not_created)?;
        let numbers = self.our_numbers().await?;
        Ok(CampaignView::new(campaign, &numbers))
    }

    /// The tenant's do-not-contact list (`query`: digits of the number).
    pub async fn do_not_contact(
        &self,
        query: Option<String>,
    ) -> Result<Vec<DoNotContactView>, ApiError> {
        let (client, token) = self.remote().await?;
        let list = client
            .do_not_contact(&token, query.as_deref())
            .await
            .map_err(not_updated)?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    pub async fn add_do_not_contact(
        &self,
        number: String,
        reason: Option<String>,
    ) -> Result<DoNotContactView, ApiError> {
        let (client, token) = self.remote().await?;
        let reason = reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty());
        client
            .add_do_not_contact(
                &token,
                &NewDoNotContact {
                    number: number.trim().to_owned(),
                    reason,
                },
            )
            .await
            .map(Into::into)
            .map_err(not_created)
    }

    /// Lists every number of a pasted list; each bad row comes back with its reason.
    pub async fn import_do_not_contact(
        &self,
        text: String,
        reason: Option<String>,
    ) -> Result<DoNotContactImportView, ApiError> {
        let (lines, numbers): (Vec<u32>, Vec<String>) = pasted_values(&text).into_iter().unzip();
        if numbers.is_empty() {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                "Paste the numbers, one per line.",
            ));
        }
        let (client, token) = self.remote().await?;
        let reason = reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty());
        let done = client
            .import_do_not_contact(&token, &DoNotContactImport { numbers, reason })
            .await
            .map_err(not_created)?;
        Ok(DoNotContactImportView {
            added: done.added,
            duplicates: done.duplicates,
            invalid: done
                .invalid
                .into_iter()
                .map(|p| RowProblemView {
                    // The line of what was pasted, not the place in what was sent.
                    row: usize::try_from(p.row)
                        .ok()
                        .and_then(|r| lines.get(r.checked_sub(1)?))
                        .copied()
                        .unwrap_or(p.row),
                    value: p.value,
                    reason: p.reason,
                })
                .collect(),
        })
    }

    /// Takes a number off the list (admins).
    pub async fn remove_do_not_contact(&self, id: String) -> Result<(), ApiError> {
        let (client, token) = self.remote().await?;
        client
            .remove_do_not_contact(&token, &id)
            .await
            .map_err(not_created)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_lists_are_read_line_by_line_or_by_commas() {
        assert_eq!(
            pasted_values("number\n+1 415 555 0101\r\n\n\"+14155550102\", +14155550103;x"),
            [
                (2, "+1 415 555 0101".to_owned()),
                (4, "+14155550102".to_owned()),
                (4, "+14155550103".to_owned())
            ]
        );
        assert!(pasted_values("  \n,,;").is_empty());
    }
}
