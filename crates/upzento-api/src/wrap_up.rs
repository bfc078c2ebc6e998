//! After-call work: the wrap-up an answered call leaves for the agent (disposition,
//! tags, note, follow-up, within the tenant's wrap-up time), the agent's follow-up tasks,
//! and the admins' dispositions and wrap-up timer.
//!
//! A wrap-up is queued in the cache and sent by the sync after the call's own record
//! (it needs the call's id in the cloud), so it is kept offline and across restarts.

use serde::{Deserialize, Serialize};
use upzento_domain::resources::{
    Disposition, DispositionPatch, NewDisposition, NewFollowUp, Task, TaskPatch, TenantSettings,
    TenantSettingsPatch, WrapUp, entity,
};

use crate::Api;
use crate::error::{ApiError, ErrorCode};
use crate::phone::CallDirection;
use crate::session::{not_created, now_ms, stamp};

/// A finished call waiting for the agent's wrap-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct WrapUpView {
    /// The call's SIP Call-ID.
    pub id: String,
    pub direction: CallDirection,
    /// The other side: a number, or a SIP user.
    pub remote: String,
    pub remote_name: Option<String>,
    pub duration_seconds: u32,
    pub ended_at: String,
    /// When it is saved as it stands: the tenant's wrap-up time after the call ended
    /// (`None`: no limit).
    pub deadline: Option<String>,
}

/// What the agent files a call under, and what the tenant lets them pick from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct DispositionView {
    pub id: String,
    pub name: String,
    pub archived: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct WrapUpOptionsView {
    /// In the tenant's order, archived ones too (shown on old calls, not offered).
    pub dispositions: Vec<DispositionView>,
    /// The tenant's wrap-up time, when it set one.
    pub wrap_up_seconds: Option<u32>,
}

/// The agent's wrap-up of a call, as the card sends it.
#[derive(Debug, Clone, Default, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct WrapUpInput {
    pub disposition_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub note: Option<String>,
    pub follow_up: Option<FollowUpInput>,
}

#[derive(Debug, Clone, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct FollowUpInput {
    pub title: String,
    /// Milliseconds since 1970 (the UI's local date and time, converted).
    pub due_ms: f64,
}

/// A follow-up on the agent's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct TaskView {
    pub id: String,
    pub title: String,
    pub due_at: String,
    pub done: bool,
    /// The call it follows up, to open it.
    pub call_id: Option<String>,
    pub contact_name: Option<String>,
}

fn disposition_view(d: Disposition) -> DispositionView {
    DispositionView {
        id: d.id,
        name: d.name,
        archived: d.archived,
    }
}

/// Tags as the agent typed them: trimmed, no blanks, each once.
fn clean_tags(tags: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.trim().to_owned();
        if !tag.is_empty() && !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}

#[allow(clippy::cast_possible_truncation)]
fn wrap_up_of(input: WrapUpInput) -> Result<WrapUp, ApiError> {
    let follow_up = match input.follow_up {
        Some(f) if !f.title.trim().is_empty() => {
            if !f.due_ms.is_finite() {
                return Err(ApiError::new(
                    ErrorCode::InvalidInput,
                    "The follow-up needs a due time.",
                ));
            }
            Some(NewFollowUp {
                title: f.title.trim().to_owned(),
                due_at: stamp(f.due_ms as i64),
            })
        }
        _ => None,
    };
    Ok(WrapUp {
        disposition_id: input.disposition_id.filter(|d| !d.is_empty()),
        tags: clean_tags(input.tags),
        note: input
            .note
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty()),
        follow_up,
    })
}

impl Api {
    /// Called when an answered call ends: its wrap-up waits for the agent.
    pub(crate) async fn begin_wrap_up(
        &self,
        id: String,
        direction: CallDirection,
        remote: String,
        remote_name: Option<String>,
        duration_seconds: u32,
    ) {
        let seconds = self
            .wrap_up_options()
            .await
            .ok()
            .and_then(|o| o.wrap_up_seconds);
        let now = now_ms();
        let view = WrapUpView {
            id,
            direction,
            remote,
            remote_name,
            duration_seconds,
            ended_at: stamp(now),
            deadline: seconds.map(|s| stamp(now + i64::from(s) * 1000)),
        };
        self.phone.add_wrap_up(view);
        self.phone_event();
    }

    /// The tenant's dispositions and wrap-up time, from the cache (offline too).
    pub async fn wrap_up_options(&self) -> Result<WrapUpOptionsView, ApiError> {
        self.read(|cache, _| {
            let mut dispositions: Vec<Disposition> = cache.records(entity::DISPOSITION)?;
            dispositions.sort_by(|a, b| {
                (a.position, a.name.to_lowercase()).cmp(&(b.position, b.name.to_lowercase()))
            });
            let settings: Vec<TenantSettings> = cache.records(entity::TENANT_SETTINGS)?;
            Ok(WrapUpOptionsView {
                dispositions: dispositions.into_iter().map(disposition_view).collect(),
                wrap_up_seconds: settings.first().and_then(|s| s.wrap_up_seconds),
            })
        })
        .await
    }

    /// Files the wrap-up of call `id` (its SIP Call-ID): kept in the cache and sent after
    /// the call's record, offline or not. The card goes away at once.
    pub async fn finish_wrap_up(&self, id: String, input: WrapUpInput) -> Result<(), ApiError> {
        let wrap = wrap_up_of(input)?;
        let key = id.clone();
        self.read(move |cache, _| cache.queue_wrap_up(&key, &wrap, now_ms()))
            .await?;
        if let Some(session) = self.session.lock().await.as_ref() {
            session.sync.outbox_queued();
        }
        self.phone.remove_wrap_up(&id);
        self.phone_event();
        Ok(())
    }

    /// Leaves call `id` without a wrap-up.
    pub fn skip_wrap_up(&self, id: &str) {
        self.phone.remove_wrap_up(id);
        self.phone_event();
    }

    /// The signed-in user's follow-ups still to do, soonest first, and those done in the
    /// last day (so a tick can be undone), from the cache.
    pub async fn tasks(&self) -> Result<Vec<TaskView>, ApiError> {
        let since = stamp(now_ms() - 24 * 3600 * 1000);
        self.read(move |cache, me| {
            let mut tasks: Vec<Task> = cache.records(entity::TASK)?;
            tasks.retain(|t| {
                t.assignee_id == me && t.done_at.as_deref().is_none_or(|d| *d >= *since)
            });
            tasks.sort_by(|a, b| {
                (a.done_at.is_some(), &a.due_at, &a.id).cmp(&(
                    b.done_at.is_some(),
                    &b.due_at,
                    &b.id,
                ))
            });
            let mut out = Vec::with_capacity(tasks.len());
            for t in tasks {
                let contact_name = match &t.contact_id {
                    Some(id) => cache
                        .contact(id)?
                        .map(|c| crate::views::contact_view(c).name),
                    None => None,
                };
                out.push(TaskView {
                    done: t.done_at.is_some(),
                    id: t.id,
                    title: t.title,
                    due_at: t.due_at,
                    call_id: t.call_id,
                    contact_name,
                });
            }
            Ok(out)
        })
        .await
    }

    /// Ticks a follow-up done, or to do again (online: tasks are kept by the cloud).
    pub async fn set_task_done(&self, id: String, done: bool) -> Result<(), ApiError> {
        let patch = TaskPatch {
            done: Some(done),
            ..TaskPatch::default()
        };
        let (client, token) = self.remote().await?;
        let task = client
            .update_task(&token, &id, &patch)
            .await
            .map_err(not_created)?;
        self.remember(entity::TASK, task.id.clone(), task.updated_at.clone(), task)
            .await
    }

    /// Adds a disposition (admins).
    pub async fn add_disposition(&self, name: String) -> Result<(), ApiError> {
        let new = NewDisposition {
            name: name.trim().to_owned(),
            position: None,
        };
        let (client, token) = self.remote().await?;
        let d = client
            .create_disposition(&token, &new)
            .await
            .map_err(not_created)?;
        self.remember(entity::DISPOSITION, d.id.clone(), d.updated_at.clone(), d)
            .await
    }

    /// Renames, archives or restores a disposition (admins).
    pub async fn update_disposition(
        &self,
        id: String,
        name: Option<String>,
        archived: Option<bool>,
    ) -> Result<(), ApiError> {
        let patch = DispositionPatch {
            name: name.map(|n| n.trim().to_owned()),
            position: None,
            archived,
        };
        let (client, token) = self.remote().await?;
        let d = client
            .update_disposition(&token, &id, &patch)
            .await
            .map_err(not_created)?;
        self.remember(entity::DISPOSITION, d.id.clone(), d.updated_at.clone(), d)
            .await
    }

    /// Sets the tenant's wrap-up time, or none (admins).
    pub async fn set_wrap_up_seconds(&self, seconds: Option<u32>) -> Result<(), ApiError> {
        let patch = TenantSettingsPatch {
            wrap_up_seconds: Some(seconds),
            ..TenantSettingsPatch::default()
        };
        let (client, token) = self.remote().await?;
        let s = client
            .update_settings(&token, &patch)
            .await
            .map_err(not_created)?;
        self.remember(
            entity::TENANT_SETTINGS,
            s.id.clone(),
            s.updated_at.clone(),
            s,
        )
        .await
    }

    /// Keeps what the cloud just returned, so that it shows before the feed brings it.
    pub(crate) async fn remember<T: Serialize + Send + 'static>(
        &self,
        entity: &'static str,
        id: String,
        at: String,
        record: T,
    ) -> Result<(), ApiError> {
        self.read(move |cache, _| cache.remember(entity, &id, &record, &at))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrap_up_is_cleaned_as_the_agent_meant_it() {
        let wrap = wrap_up_of(WrapUpInput {
            disposition_id: Some(String::new()),
            tags: vec![" vip ".into(), "vip".into(), " ".into(), "renewal".into()],
            note: Some("   ".into()),
            follow_up: Some(FollowUpInput {
                title: "  Send the quote ".into(),
                due_ms: 1_795_545_937_000.0,
            }),
        })
        .unwrap();
        assert_eq!(wrap.disposition_id, None);
        assert_eq!(wrap.tags, ["vip", "renewal"]);
        assert_eq!(wrap.note, None);
        let follow_up = wrap.follow_up.unwrap();
        assert_eq!(follow_up.title, "Send the quote");
        assert_eq!(follow_up.due_at, stamp(1_795_545_937_000));
        // A follow-up without a title is no follow-up; one without a time is refused.
        let untitled = wrap_up_of(WrapUpInput {
            follow_up: Some(FollowUpInput {
                title: " ".into(),
                due_ms: 0.0,
            }),
            ..WrapUpInput::default()
        })
        .unwrap();
        assert_eq!(untitled.follow_up, None);
        assert!(
            wrap_up_of(WrapUpInput {
                follow_up: Some(FollowUpInput {
                    title: "x".into(),
                    due_ms: f64::NAN,
                }),
                ..WrapUpInput::default()
            })
            .is_err()
        );
    }
}
