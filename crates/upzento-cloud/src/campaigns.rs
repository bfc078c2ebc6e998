//! The campaign runner: starts scheduled campaigns when their time comes, turns
//! each pending recipient into a queued message (through [`crate::outbound`], so
//! opt-outs and number rules apply as for any send), and completes campaigns
//! with nothing left to send.
//!
//! Quiet hours (`upzento_domain::quiet`) hold a recipient outside their allowed hours:
//! they stay pending, so a campaign never completes past them, and go when the hours open.
//!
//! Like the carrier worker it is a driver over the store: recipients are leased
//! while a node works on them, and each message carries the idempotency key
//! `campaign:<recipient id>`, so a node dying mid-batch never texts anyone twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::Notify;
use upzento_domain::resources::PhoneNumber;
use upzento_domain::template::{self, Values};
use upzento_domain::{ab, keywords, quiet, senders};

use crate::clock;
use crate::error::AppError;
use crate::outbound::{self, Outbound, can_text};
use crate::store::{Actor, DueRecipient, RecipientOutcome, SYSTEM_ACTOR, Store};

/// How long a claimed recipient stays reserved for the node that claimed it.
const LEASE: Duration = Duration::from_secs(60);
const BATCH: usize = 100;

/// Runs until the process ends: every `interval`, or at once when `wake` is notified.
/// Wakes `carrier_wake` whenever it queued messages.
pub async fn run(
    store: Arc<dyn Store>,
    provider: String,
    wake: Arc<Notify>,
    carrier_wake: Arc<Notify>,
    interval: Duration,
    lease: Duration,
    quiet_ahead_ms: i64,
) {
    loop {
        let pass = work_once_leased(
            store.as_ref(),
            &provider,
            clock::now(),
            lease,
            quiet_ahead_ms,
        );
        match pass.await {
            Ok(report) => {
                if report.queued > 0 {
                    carrier_wake.notify_one();
                }
                if report.claimed == BATCH {
                    continue;
                }
            }
            Err(err) => tracing::error!(error = ?err, "campaign runner"),
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// The hours recipients may be texted in, and how far ahead of now their time of day is
/// judged (0 in use; tests and demos set it, so that their numbers are at midday whenever
/// they run, with every other time of the run the real one).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hours {
    window: quiet::Window,
    ahead_ms: i64,
}

/// When a campaign text may reach a recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Allowed {
    Now,
    /// Outside their hours: from this time.
    From(OffsetDateTime),
    /// No hour is allowed (an unknown zone, or zones sharing no allowed hour).
    Never,
}

impl Hours {
    /// When a campaign sent "at `at` in each recipient's own time" and started at `started`
    /// reaches the recipient `number` (its contact's zone `time_zone`); `None` when their
    /// zone cannot be known.
    pub(crate) fn local_time(
        &self,
        started: OffsetDateTime,
        time_zone: Option<&str>,
        number: &str,
        at: &str,
    ) -> Option<OffsetDateTime> {
        let at = quiet::parse_hhmm(at)?;
        let zones = quiet::recipient_zones(time_zone, number);
        let judged = clock::to_ms(started).saturating_add(self.ahead_ms);
        quiet::local_time_after_ms(judged, &zones, at).map(|t| clock::from_ms(t - self.ahead_ms))
    }

    /// Whether the recipient `number` (its contact's zone `time_zone`) may get a text at `now`.
    pub(crate) fn allowed(
        &self,
        now: OffsetDateTime,
        time_zone: Option<&str>,
        number: &str,
    ) -> Allowed {
        let zones = quiet::recipient_zones(time_zone, number);
        let judged = clock::to_ms(now).saturating_add(self.ahead_ms);
        match quiet::next_allowed_ms(judged, &zones, self.window) {
            Some(at) if at <= judged => Allowed::Now,
            Some(at) => Allowed::From(clock::from_ms(at - self.ahead_ms)),
            None => Allowed::Never,
        }
    }
}

/// Each tenant's campaign hours, read once for as long as this lives (a pass, a batch).
#[derive(Debug)]
pub(crate) struct TenantHours {
    ahead_ms: i64,
    windows: HashMap<String, quiet::Window>,
}

impl TenantHours {
    pub(crate) fn new(ahead_ms: i64) -> Self {
        Self {
            ahead_ms,
            windows: HashMap::new(),
        }
    }

    pub(crate) async fn of(&mut self, store: &dyn Store, tenant_id: &str) -> anyhow::Result<Hours> {
        let window = match self.windows.get(tenant_id) {
            Some(w) => *w,
            None => {
                let s = store.settings(tenant_id).await?;
                // A stored window is a checked one; if not, the law's.
                let w = quiet::Window::from_hhmm(&s.campaign_hours_start, &s.campaign_hours_end)
                    .unwrap_or(quiet::Window::FEDERAL);
                self.windows.insert(tenant_id.to_owned(), w);
                w
            }
        };
        Ok(Hours {
            window,
            ahead_ms: self.ahead_ms,
        })
    }
}

/// The numbers of campaigns' sender pools that can still text, read once for as long as
/// this lives (a pass).
#[derive(Debug, Default)]
struct Pools {
    numbers: HashMap<String, Vec<PhoneNumber>>,
}

impl Pools {
    /// The pool number that texts this recipient (`upzento_domain::senders`): `sticky`, the
    /// one that texted them before, else by area code and country. `None`: none can send.
    async fn sender(
        &mut self,
        store: &dyn Store,
        item: &DueRecipient,
        sticky: Option<&str>,
    ) -> anyhow::Result<Option<PhoneNumber>> {
        let campaign = &item.campaign;
        if !self.numbers.contains_key(&campaign.id) {
            let mut usable = Vec::with_capacity(campaign.sender_pool.len());
            for id in &campaign.sender_pool {
                if let Some(n) = store.number(&item.tenant_id, id).await?
                    && can_text(&n).is_ok()
                {
                    usable.push(n);
                }
            }
            self.numbers.insert(campaign.id.clone(), usable);
        }
        let usable = &self.numbers[&campaign.id];
        let pool: Vec<senders::PoolNumber<'_>> = usable
            .iter()
            .map(|n| senders::PoolNumber {
                id: &n.id,
                number: &n.number,
            })
            .collect();
        let chosen =
            senders::choose(&item.recipient.number, &pool, sticky).map(|p| p.id.to_owned());
        Ok(chosen.and_then(|id| usable.iter().find(|n| n.id == id).cloned()))
    }
}

/// Why a recipient is never texted: no hour of theirs is allowed.
pub(crate) const NO_LAWFUL_HOUR: (&str, &str) = (
    "no_lawful_hour",
    "No hour is allowed for this number: its time zone is unknown, or the zones \
     it may be in share no hour of the campaign hours. Set the contact's time zone.",
);

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    pub started: usize,
    pub claimed: usize,
    pub queued: usize,
    pub skipped: usize,
    /// Outside their allowed hours: pending until those open.
    pub held: usize,
    pub completed: usize,
}

/// One pass at `now`: start due campaigns, handle one batch, complete finished ones.
pub async fn work_once(
    store: &dyn Store,
    provider: &str,
    now: OffsetDateTime,
) -> anyhow::Result<Report> {
    work_once_leased(store, provider, now, LEASE, 0).await
}

/// [`work_once`], holding claimed recipients for `lease` (how long they wait when a node dies).
pub async fn work_once_leased(
    store: &dyn Store,
    provider: &str,
    now: OffsetDateTime,
    lease: Duration,
    quiet_ahead_ms: i64,
) -> anyhow::Result<Report> {
    let mut report = Report {
        started: store.start_due_campaigns(now).await?,
        ..Report::default()
    };
    let lease_until = now + time::Duration::try_from(lease)?;
    let due = store
        .claim_campaign_recipients(now, lease_until, BATCH)
        .await?;
    report.claimed = due.len();
    let mut tenant_hours = TenantHours::new(quiet_ahead_ms);
    let mut pools = Pools::default();
    for item in due {
        let hours = tenant_hours.of(store, &item.tenant_id).await?;
        match handle(store, provider, &item, hours, &mut pools, now).await {
            Ok(outcome) => {
                match outcome {
                    RecipientOutcome::Queued { .. } => report.queued += 1,
                    RecipientOutcome::Skipped { .. } => report.skipped += 1,
                    RecipientOutcome::Held { .. } => report.held += 1,
                }
                store
                    .finish_recipient(&item.tenant_id, &item.recipient.id, outcome, now)
                    .await?;
            }
            // The lease runs out and a later pass tries again.
            Err(err) => {
                tracing::warn!(error = ?err, recipient = %item.recipient.id, "campaign send; will retry");
            }
        }
    }
    report.completed = store.finish_campaigns(now).await?;
    Ok(report)
}

/// A recipient's text under an A/B test: the split's variant for the test sample (and
/// without a winner test), the winner's for the rest once it is decided, else a wait until
/// the test ends.
enum Choice {
    Text(String, Option<String>),
    Wait(OffsetDateTime),
}

async fn winner_test_text(
    store: &dyn Store,
    item: &DueRecipient,
    now: OffsetDateTime,
) -> anyhow::Result<Choice> {
    let (campaign, number) = (&item.campaign, &item.recipient.number);
    let split = || {
        let (text, variant) = ab::text_for(campaign, number);
        Choice::Text(text.to_owned(), variant.map(str::to_owned))
    };
    let Some(test) = campaign.winner_test else {
        return Ok(split());
    };
    if ab::in_sample(&campaign.id, number, test.sample_percent) {
        return Ok(split());
    }
    let winner = match &campaign.winner {
        Some(w) => Some(w.clone()),
        None => {
            let started = campaign
                .started_at
                .as_deref()
                .map(clock::parse_rfc3339)
                .transpose()?
                .unwrap_or(now);
            let ends = started + time::Duration::minutes(i64::from(test.wait_minutes));
            if now < ends {
                return Ok(Choice::Wait(ends));
            }
            store
                .decide_winner(&item.tenant_id, &campaign.id, now)
                .await?
        }
    };
    Ok(
        match winner.and_then(|w| campaign.variants.iter().find(|v| v.key == w)) {
            Some(v) => Choice::Text(v.message.clone(), Some(v.key.clone())),
            None => split(),
        },
    )
}

fn skipped(code: &str, message: impl Into<String>) -> RecipientOutcome {
    RecipientOutcome::Skipped {
        code: code.to_owned(),
        message: message.into(),
    }
}

async fn handle(
    store: &dyn Store,
    provider: &str,
    item: &DueRecipient,
    hours: Hours,
    pools: &mut Pools,
    now: OffsetDateTime,
) -> anyhow::Result<RecipientOutcome> {
    let (campaign, recipient) = (&item.campaign, &item.recipient);
    let actor = Actor {
        tenant_id: item.tenant_id.clone(),
        user_id: SYSTEM_ACTOR.to_owned(),
    };
    // The tenant's last text to this recipient keeps a pool's number and decides the
    // opt-out footer: read once, when either needs it.
    let mut last_text: Option<Option<String>> = None;
    let mut last_read = false;
    let number = if campaign.sender_pool.is_empty() {
        let Some(number) = store
            .number(&item.tenant_id, &campaign.phone_number_id)
            .await?
        else {
            return Ok(skipped(
                "number_released",
                "The campaign's number was released.",
            ));
        };
        number
    } else {
        last_text = store
            .last_text_to(&item.tenant_id, &recipient.number)
            .await?;
        last_read = true;
        let sticky = last_text.as_ref().and_then(|n| n.as_deref());
        let Some(number) = pools.sender(store, item, sticky).await? else {
            return Ok(skipped(
                "number_released",
                "None of the campaign's numbers can send any more.",
            ));
        };
        number
    };
    if let Err(AppError::BadRequest { code, message, .. }) = can_text(&number) {
        return Ok(skipped(code, message));
    }
    let (conversation, _) = store
        .open_conversation(&actor, &number, &recipient.number, now)
        .await
        .map_err(|e| anyhow::anyhow!("opening the conversation: {e}"))?;
    let contact = match &conversation.contact_id {
        Some(id) => store.contact(&item.tenant_id, id).await?,
        None => None,
    };
    // "At HH:MM in each recipient's own time": not before then.
    if let Some(at) = campaign.local_send_time.as_deref() {
        let time_zone = contact.as_ref().and_then(|c| c.time_zone.as_deref());
        let started = campaign
            .started_at
            .as_deref()
            .map(clock::parse_rfc3339)
            .transpose()?
            .unwrap_or(now);
        match hours.local_time(started, time_zone, &recipient.number, at) {
            Some(due) if due > now => return Ok(RecipientOutcome::Held { until: due }),
            Some(_) => {}
            None => return Ok(skipped(NO_LAWFUL_HOUR.0, NO_LAWFUL_HOUR.1)),
        }
    }
    // Quiet hours: only inside the recipient's allowed hours, else held until they open.
    // (The carrier worker checks again when it sends: pacing may have delayed the text.)
    let time_zone = contact.as_ref().and_then(|c| c.time_zone.as_deref());
    match hours.allowed(now, time_zone, &recipient.number) {
        Allowed::Now => {}
        Allowed::From(until) => return Ok(RecipientOutcome::Held { until }),
        Allowed::Never => return Ok(skipped(NO_LAWFUL_HOUR.0, NO_LAWFUL_HOUR.1)),
    }
    let (text, variant) = match winner_test_text(store, item, now).await? {
        Choice::Text(text, variant) => (text, variant),
        Choice::Wait(until) => return Ok(RecipientOutcome::Held { until }),
    };
    let (text, variant) = (text.as_str(), variant.as_deref());
    let values = Values::for_contact(contact.as_ref(), &recipient.number).for_recipient(recipient);
    let body = match template::render(text, &values) {
        Ok(body) if !body.trim().is_empty() => body,
        Ok(_) => {
            return Ok(skipped(
                "empty_message",
                "The text came out empty for this contact.",
            ));
        }
        Err(err) => return Ok(skipped("invalid_template", err.to_string())),
    };
    // The first text a contact gets from the tenant says how to opt out.
    if campaign.opt_out_footer && !last_read {
        last_text = store
            .last_text_to(&item.tenant_id, &recipient.number)
            .await?;
    }
    let body = if campaign.opt_out_footer && last_text.is_none() {
        keywords::with_opt_out_footer(&body)
    } else {
        body
    };
    let out = Outbound {
        body,
        idempotency_key: Some(format!("campaign:{}", recipient.id)),
        campaign_id: Some(campaign.id.clone()),
        sent_by: Some(campaign.created_by.clone()),
        provider: provider.to_owned(),
        compliance: false,
    };
    match outbound::queue(store, &actor, &conversation, out, now).await {
        Ok((message, _)) => Ok(RecipientOutcome::Queued {
            message_id: message.id,
            variant: variant.map(str::to_owned),
        }),
        Err(
            AppError::BadRequest { code, message, .. } | AppError::Conflict { code, message, .. },
        ) => Ok(skipped(code, message)),
        Err(err) => Err(anyhow::anyhow!("queuing: {err}")),
    }
}
