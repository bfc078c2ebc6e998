//! The campaign wizard: a campaign is a draft in the cloud from its first step, so that
//! leaving the wizard and coming back loses nothing. Each step saves what it holds (the
//! name and sender, the audience, the text and its A/B variants) and the review reads
//! the audience report before the launch.

use base64::Engine;
use serde::{Deserialize, Serialize};
use upzento_domain::resources::{
    CampaignAudience, CampaignStatus, Contact, NewCampaignRecipients, NewCampaignVariant,
    NewSmsCampaign, RecipientsImported, SmsCampaign, SmsCampaignPatch, WinnerMetric, WinnerTest,
};
use upzento_domain::template::{self, Values};
use upzento_domain::{ab, audience, sms};

use crate::campaigns::{CampaignView, RowProblemView, pasted_values};
use crate::session::{not_created, not_updated};
use crate::{Api, ApiError, ErrorCode};

/// One text of an A/B test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct VariantForm {
    pub message: String,
    /// Percent of the recipients.
    pub share: u32,
}

/// "Test, then send the winner": the sample's share and how long the test runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct WinnerTestForm {
    pub sample_percent: u32,
    pub wait_minutes: u32,
}

/// A campaign as the wizard edits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct CampaignDraftView {
    pub campaign: CampaignView,
    pub phone_number_id: String,
    /// Empty without an A/B test.
    pub variants: Vec<VariantForm>,
    /// Merge fields the recipients bring (their imported columns), for `{{fields.<name>}}`.
    pub fields: Vec<String>,
    /// "Reply STOP to opt out." goes on a contact's first text from the tenant.
    pub opt_out_footer: bool,
    pub winner_test: Option<WinnerTestForm>,
    /// The winning variant, once the test decided.
    pub winner: Option<String>,
    /// `HH:MM` of each recipient's own day, when it goes then.
    pub local_send_time: Option<String>,
    /// The numbers it sends from, E.164 (empty: its one number).
    pub sender_pool: Vec<String>,
    /// Their ids.
    pub sender_pool_ids: Vec<String>,
}

/// The first step: what the campaign is called and which number sends it; `id` when the
/// draft exists already.
#[derive(Debug, Clone, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct CampaignBasicsForm {
    pub id: Option<String>,
    pub name: String,
    pub phone_number_id: String,
    /// Several numbers to send from (ids); empty: `phone_number_id` alone.
    pub sender_pool: Vec<String>,
}

/// What adding contacts by tag or pasted numbers did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct AudienceAddedView {
    pub added: u32,
    pub duplicates: u32,
    pub without_number: u32,
    pub total: u32,
}

/// What importing a file did, row by row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct FileImportView {
    pub file_name: String,
    pub encoding: String,
    pub fields: Vec<String>,
    pub valid: u32,
    pub added: u32,
    pub already_listed: u32,
    pub duplicates: Vec<RowProblemView>,
    pub invalid: Vec<RowProblemView>,
    pub total: u32,
}

/// The audience report: who gets the campaign, who not and why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct AudienceView {
    pub total: u32,
    pub pending: u32,
    pub opted_out: u32,
    pub do_not_contact: u32,
    pub outside_hours_now: u32,
    pub no_lawful_hour: u32,
    /// Recipients it will text (pending, minus those skipped for the reasons above).
    pub reachable: u32,
    pub parts_max: u32,
    pub parts_total: u32,
}

/// The text one real recipient would get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct PreviewView {
    /// `first`, `random` or `longest`.
    pub which: String,
    pub number: String,
    pub variant: Option<String>,
    pub text: String,
    pub characters: u32,
    pub parts: u32,
    pub unicode: bool,
}

fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

fn problems(list: Vec<upzento_domain::resources::RowProblem>) -> Vec<RowProblemView> {
    list.into_iter()
        .map(|p| RowProblemView {
            row: p.row,
            value: p.value,
            reason: p.reason,
        })
        .collect()
}

impl AudienceView {
    fn new(a: &CampaignAudience) -> Self {
        let skipped = a.opted_out + a.do_not_contact + a.no_lawful_hour;
        Self {
            total: count(a.total),
            pending: count(a.pending),
            opted_out: count(a.opted_out),
            do_not_contact: count(a.do_not_contact),
            outside_hours_now: count(a.outside_hours_now),
            no_lawful_hour: count(a.no_lawful_hour),
            reachable: count(a.pending - skipped),
            parts_max: count(a.parts_max),
            parts_total: count(a.parts_total),
        }
    }
}

/// A pasted or picked list's numbers, checked: each bad one names its line.
fn checked_numbers(text: &str) -> Result<Vec<String>, ApiError> {
    let numbers = pasted_values(text);
    if numbers.len() > 1000 {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            "At most 1,000 pasted numbers at a time: import a file for larger lists.",
        ));
    }
    numbers
        .iter()
        .map(|(line, n)| {
            upzento_domain::phone::to_e164(n, None).map_err(|e| {
                ApiError::new(
                    ErrorCode::InvalidInput,
                    format!("Line {line}: “{n}” is not a number we can text: {e}"),
                )
            })
        })
        .collect()
}

/// A variant list as the cloud takes it: none for one text.
fn variants_of(list: &[VariantForm]) -> Vec<NewCampaignVariant> {
    list.iter()
        .map(|v| NewCampaignVariant {
            message: v.message.clone(),
            share: v.share,
        })
        .collect()
}

impl Api {
    async fn draft_view(&self, campaign: SmsCampaign) -> Result<CampaignDraftView, ApiError> {
        let (client, token) = self.remote().await?;
        // The merge fields of the first recipients (a file gives every row the same ones).
        let recipients = client
            .campaign_recipients(&token, &campaign.id, 50)
            .await
            .map_err(not_updated)?;
        let mut fields: Vec<String> = Vec::new();
        for r in &recipients {
            for f in r.fields.keys() {
                if !fields.contains(f) {
                    fields.push(f.clone());
                }
            }
        }
        let numbers = self.our_numbers().await?;
        Ok(CampaignDraftView {
            phone_number_id: campaign.phone_number_id.clone(),
            variants: campaign
                .variants
                .iter()
                .map(|v| VariantForm {
                    message: v.message.clone(),
                    share: v.share,
                })
                .collect(),
            fields,
            opt_out_footer: campaign.opt_out_footer,
            winner_test: campaign.winner_test.map(|t| WinnerTestForm {
                sample_percent: t.sample_percent,
                wait_minutes: t.wait_minutes,
            }),
            winner: campaign.winner.clone(),
            local_send_time: campaign.local_send_time.clone(),
            sender_pool: campaign
                .sender_pool
                .iter()
                .filter_map(|id| {
                    numbers
                        .iter()
                        .find(|n| &n.id == id)
                        .map(|n| n.number.clone())
                })
                .collect(),
            sender_pool_ids: campaign.sender_pool.clone(),
            campaign: CampaignView::new(campaign, &numbers),
        })
    }

    /// A draft to carry on with in the wizard.
    pub async fn campaign_draft(&self, id: String) -> Result<CampaignDraftView, ApiError> {
        let (client, token) = self.remote().await?;
        let campaign = client.campaign(&token, &id).await.map_err(not_updated)?;
        self.draft_view(campaign).await
    }

    /// The wizard's first step: creates the draft, or renames it and changes its number.
    pub async fn save_campaign_basics(
        &self,
        form: CampaignBasicsForm,
    ) -> Result<CampaignDraftView, ApiError> {
        let (client, token) = self.remote().await?;
        let name = form.name.trim().to_owned();
        let campaign = match form.id {
            None => client
                .create_campaign(
                    &token,
                    &NewSmsCampaign {
                        name,
                        message: String::new(),
                        phone_number_id: form.phone_number_id,
                        tags: Vec::new(),
                        variants: Vec::new(),
                        opt_out_footer: None,
                        winner_test: None,
                        local_send_time: None,
                        sender_pool: form.sender_pool,
                    },
                )
                .await
                .map_err(not_created)?,
            Some(id) => client
                .update_campaign(
                    &token,
                    &id,
                    &SmsCampaignPatch {
                        name: Some(name),
                        phone_number_id: Some(form.phone_number_id),
                        sender_pool: Some(form.sender_pool),
                        ..SmsCampaignPatch::default()
                    },
                )
                .await
                .map_err(not_created)?,
        };
        self.draft_view(campaign).await
    }

    /// Adds contacts with any of `tags` and pasted numbers to a draft.
    pub async fn add_campaign_audience(
        &self,
        id: String,
        tags: Vec<String>,
        numbers: String,
    ) -> Result<AudienceAddedView, ApiError> {
        let numbers = checked_numbers(&numbers)?;
        let tags: Vec<String> = tags
            .iter()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        if tags.is_empty() && numbers.is_empty() {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                "Choose contact tags or paste numbers, one per line.",
            ));
        }
        let (client, token) = self.remote().await?;
        let added = client
            .add_recipients(
                &token,
                &id,
                &NewCampaignRecipients {
                    contact_ids: Vec::new(),
                    tags,
                    numbers,
                },
            )
            .await
            .map_err(not_created)?;
        Ok(AudienceAddedView {
            added: count(added.added),
            duplicates: count(added.duplicates),
            without_number: count(added.without_number),
            total: count(added.total),
        })
    }

    /// Imports a CSV file (its bytes, base64-encoded by the window that read it) into a
    /// draft. Refused here already when over 50 MB.
    pub async fn import_campaign_file(
        &self,
        id: String,
        file_name: String,
        base64: String,
    ) -> Result<FileImportView, ApiError> {
        // Four base64 characters carry three bytes.
        if base64.len() / 4 * 3 > audience::CSV_MAX_BYTES + 3 {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                audience::CsvError::TooLarge {
                    bytes: base64.len() / 4 * 3,
                }
                .to_string(),
            ));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(base64.as_bytes())
            .map_err(|_| ApiError::new(ErrorCode::InvalidInput, "The file could not be read."))?;
        let (client, token) = self.remote().await?;
        let done: RecipientsImported = client
            .import_recipients(&token, &id, bytes)
            .await
            .map_err(not_created)?;
        Ok(FileImportView {
            file_name,
            encoding: done.encoding,
            fields: done.fields,
            valid: count(done.valid),
            added: count(done.added),
            already_listed: count(done.already_listed),
            duplicates: problems(done.duplicates),
            invalid: problems(done.invalid),
            total: count(done.total),
        })
    }

    /// The audience report of a campaign.
    pub async fn campaign_audience(&self, id: String) -> Result<AudienceView, ApiError> {
        let (client, token) = self.remote().await?;
        let a = client
            .campaign_audience(&token, &id)
            .await
            .map_err(not_updated)?;
        Ok(AudienceView::new(&a))
    }

    /// Saves a draft's text, or its A/B variants (two to five, shares adding up to 100).
    pub async fn save_campaign_message(
        &self,
        id: String,
        message: String,
        variants: Vec<VariantForm>,
        opt_out_footer: bool,
        winner_test: Option<WinnerTestForm>,
    ) -> Result<CampaignDraftView, ApiError> {
        let (client, token) = self.remote().await?;
        let winner_test = winner_test
            .filter(|_| !variants.is_empty())
            .map(|t| WinnerTest {
                sample_percent: t.sample_percent,
                wait_minutes: t.wait_minutes,
                metric: WinnerMetric::ReplyRate,
            });
        let patch = if variants.is_empty() {
            SmsCampaignPatch {
                message: Some(message),
                variants: Some(Vec::new()),
                opt_out_footer: Some(opt_out_footer),
                winner_test: Some(None),
                ..SmsCampaignPatch::default()
            }
        } else {
            SmsCampaignPatch {
                variants: Some(variants_of(&variants)),
                opt_out_footer: Some(opt_out_footer),
                winner_test: Some(winner_test),
                ..SmsCampaignPatch::default()
            }
        };
        let campaign = client
            .update_campaign(&token, &id, &patch)
            .await
            .map_err(not_created)?;
        self.draft_view(campaign).await
    }

    /// The texts real recipients would get, as the cloud renders them (the same template
    /// code and A/B split): the first recipient, one at random, and the longest text.
    pub async fn campaign_previews(
        &self,
        id: String,
        message: String,
        variants: Vec<VariantForm>,
    ) -> Result<Vec<PreviewView>, ApiError> {
        let (client, token) = self.remote().await?;
        let mut campaign = client.campaign(&token, &id).await.map_err(not_updated)?;
        // What is being written, not yet saved.
        campaign.message = message;
        campaign.variants = variants
            .iter()
            .enumerate()
            .map(|(i, v)| upzento_domain::resources::CampaignVariant {
                key: char::from(b'A' + u8::try_from(i).unwrap_or(0)).to_string(),
                message: v.message.clone(),
                share: v.share,
            })
            .collect();
        let recipients = client
            .campaign_recipients(&token, &id, 200)
            .await
            .map_err(not_updated)?;
        // Their contacts from the cache, by id or else by number, in one read.
        let wanted: Vec<(Option<String>, String)> = recipients
            .iter()
            .map(|r| (r.contact_id.clone(), r.number.clone()))
            .collect();
        let contacts: Vec<Option<Contact>> = self
            .read(move |cache, _| {
                wanted
                    .iter()
                    .map(|(id, number)| {
                        let by_id = match id {
                            Some(id) => cache.contact(id)?,
                            None => None,
                        };
                        match by_id {
                            Some(c) => Ok(Some(c)),
                            None => cache.contact_by_number(number),
                        }
                    })
                    .collect()
            })
            .await?;
        let mut rendered = Vec::with_capacity(recipients.len());
        for (r, contact) in recipients.iter().zip(contacts) {
            let (text, variant) = ab::text_for(&campaign, &r.number);
            let values = Values::for_contact(contact.as_ref(), &r.number).for_recipient(r);
            let body = template::render(text, &values)
                .map_err(|e| ApiError::new(ErrorCode::InvalidInput, e.to_string()))?;
            rendered.push((r.number.clone(), variant.map(str::to_owned), body));
        }
        let Some(first) = rendered.first().cloned() else {
            return Ok(Vec::new());
        };
        let longest = rendered
            .iter()
            .max_by_key(|(_, _, text)| sms::segments(text).units)
            .cloned()
            .unwrap_or_else(|| first.clone());
        let random = rendered[some_index(rendered.len())].clone();
        Ok([("first", first), ("random", random), ("longest", longest)]
            .into_iter()
            .map(|(which, (number, variant, text))| {
                let s = sms::segments(&text);
                PreviewView {
                    which: which.to_owned(),
                    number,
                    variant,
                    characters: s.characters,
                    parts: s.segments,
                    unicode: s.encoding == sms::Encoding::Ucs2,
                    text,
                }
            })
            .collect())
    }

    /// Launches a draft: now, or at `at` (RFC 3339); with `local_time` (`HH:MM`), each
    /// recipient gets it at that time of their own day.
    pub async fn launch_campaign(
        &self,
        id: String,
        at: Option<String>,
        local_time: Option<String>,
    ) -> Result<CampaignView, ApiError> {
        let (client, token) = self.remote().await?;
        client
            .update_campaign(
                &token,
                &id,
                &SmsCampaignPatch {
                    local_send_time: Some(local_time),
                    ..SmsCampaignPatch::default()
                },
            )
            .await
            .map_err(not_created)?;
        let campaign = match at {
            None => client
                .set_campaign_status(&token, &id, CampaignStatus::Active)
                .await
                .map_err(not_created)?,
            Some(at) => client
                .schedule_campaign(&token, &id, Some(at))
                .await
                .map_err(not_created)?,
        };
        let numbers = self.our_numbers().await?;
        Ok(CampaignView::new(campaign, &numbers))
    }
}

/// An index below `len` (> 0) that differs from call to call: the "random" preview
/// (any recipient will do; no generator is needed for that).
fn some_index(len: usize) -> usize {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    usize::try_from(nanos).unwrap_or(0) % len.max(1)
}

/// What became of a set of a campaign's texts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeView {
    pub texted: u32,
    pub delivered: u32,
    pub failed: u32,
    pub replied: u32,
    pub opted_out: u32,
}

impl From<upzento_domain::resources::OutcomeCounts> for OutcomeView {
    fn from(c: upzento_domain::resources::OutcomeCounts) -> Self {
        Self {
            texted: count(c.texted),
            delivered: count(c.delivered),
            failed: count(c.failed),
            replied: count(c.replied),
            opted_out: count(c.opted_out),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct VariantOutcomeView {
    pub key: String,
    pub share: u32,
    pub message: String,
    pub counts: OutcomeView,
    pub reply_rate: f64,
    pub difference: Option<f64>,
    pub p_value: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct SenderOutcomeView {
    /// E.164, when the number is still the tenant's.
    pub number: Option<String>,
    pub counts: OutcomeView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct FailureView {
    pub code: String,
    pub count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct PointView {
    /// The interval's start, epoch milliseconds (a f64 in TypeScript: exact to 2^53).
    pub start_ms: f64,
    pub sent: u32,
    pub delivered: u32,
    pub replied: u32,
}

/// How a campaign did, as its analytics panel shows it.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsView {
    /// The A/B test's winner, once decided, and when.
    pub winner: Option<String>,
    pub winner_decided_at: Option<String>,
    /// The test sample's share, when the campaign tests first.
    pub sample_percent: Option<u32>,
    pub totals: OutcomeView,
    pub variants: Vec<VariantOutcomeView>,
    pub senders: Vec<SenderOutcomeView>,
    pub failures: Vec<FailureView>,
    pub interval_seconds: u32,
    pub series: Vec<PointView>,
}

/// A file an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ExportView {
    pub path: String,
    /// Recipients in it.
    pub rows: u32,
}

/// A file name from a campaign's name: letters, digits and dashes.
fn file_stem(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .collect();
    let stem = stem.trim_matches('-').to_owned();
    if stem.is_empty() {
        "campaign".into()
    } else {
        stem
    }
}

/// `dir/stem.ext`, or `dir/stem (2).ext` and so on when taken.
fn free_path(dir: &std::path::Path, stem: &str, ext: &str) -> std::path::PathBuf {
    let first = dir.join(format!("{stem}.{ext}"));
    if !first.exists() {
        return first;
    }
    (2..10_000)
        .map(|n| dir.join(format!("{stem} ({n}).{ext}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

impl Api {
    /// How a campaign did.
    pub async fn campaign_analytics(&self, id: String) -> Result<AnalyticsView, ApiError> {
        let (client, token) = self.remote().await?;
        let campaign = client.campaign(&token, &id).await.map_err(not_updated)?;
        let a = client
            .campaign_analytics(&token, &id)
            .await
            .map_err(not_updated)?;
        let numbers = self.our_numbers().await?;
        Ok(AnalyticsView {
            winner: campaign.winner.clone(),
            winner_decided_at: campaign.winner_decided_at.clone(),
            sample_percent: campaign.winner_test.map(|t| t.sample_percent),
            totals: a.totals.into(),
            variants: a
                .variants
                .into_iter()
                .map(|v| VariantOutcomeView {
                    message: campaign
                        .variants
                        .iter()
                        .find(|c| c.key == v.key)
                        .map(|c| c.message.clone())
                        .unwrap_or_default(),
                    key: v.key,
                    share: v.share,
                    counts: v.counts.into(),
                    reply_rate: v.reply_rate,
                    difference: v.difference,
                    p_value: v.p_value,
                })
                .collect(),
            senders: a
                .senders
                .into_iter()
                .map(|s| SenderOutcomeView {
                    number: s.phone_number_id.and_then(|id| {
                        numbers
                            .iter()
                            .find(|n| n.id == id)
                            .map(|n| n.number.clone())
                    }),
                    counts: s.counts.into(),
                })
                .collect(),
            failures: a
                .failures
                .into_iter()
                .map(|f| FailureView {
                    code: f.code,
                    count: count(f.count),
                })
                .collect(),
            interval_seconds: u32::try_from(a.interval_seconds.max(0)).unwrap_or(u32::MAX),
            series: a
                .series
                .into_iter()
                .map(|p| PointView {
                    // Epoch milliseconds are far below 2^53: exact as f64.
                    #[allow(clippy::cast_precision_loss)]
                    start_ms: p.start_ms as f64,
                    sent: count(p.sent),
                    delivered: count(p.delivered),
                    replied: count(p.replied),
                })
                .collect(),
        })
    }

    /// Saves a campaign's recipients with their outcome as a CSV file in the Downloads
    /// folder (a new name when one is taken).
    pub async fn export_campaign_recipients(&self, id: String) -> Result<ExportView, ApiError> {
        let (client, token) = self.remote().await?;
        let campaign = client.campaign(&token, &id).await.map_err(not_updated)?;
        let bytes = client
            .export_recipients(&token, &id)
            .await
            .map_err(not_updated)?;
        // Lines after the header: one per recipient (quoted fields hold no line breaks
        // the cloud writes, as its values are single-line).
        let rows = bytes
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            .saturating_sub(1);
        let dir = self.downloads.clone();
        let stem = format!("{}-recipients", file_stem(&campaign.name));
        let path = tokio::task::spawn_blocking(move || -> std::io::Result<std::path::PathBuf> {
            std::fs::create_dir_all(&dir)?;
            let path = free_path(&dir, &stem, "csv");
            std::fs::write(&path, &bytes)?;
            Ok(path)
        })
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?
        .map_err(|e| {
            ApiError::new(
                ErrorCode::StorageError,
                format!("The file could not be saved: {e}"),
            )
        })?;
        Ok(ExportView {
            path: path.display().to_string(),
            rows: u32::try_from(rows).unwrap_or(u32::MAX),
        })
    }
}
