//! The calls the sync driver makes to the cloud's public API, with failures
//! sorted the way the sync machine needs them.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::sync::mpsc;
use upzento_domain::resources::NewTeam;
use upzento_domain::resources::{
    Assignment, Call, CallNote, CallNotes, Change, ChangeFeed, ChangeOp, Contact, Conversation,
    ConversationNote, ConversationStatus, ConversationStatusUpdate, Disposition, DispositionPatch,
    NewCall, NewContact, NewConversation, NewDisposition, NewNote, NewSmsMessage, Page, SmsMessage,
    Snooze, Task, TaskPatch, Team, TeamPatch, TenantSettings, TenantSettingsPatch, WrapUp, entity,
};
use upzento_domain::resources::{
    CampaignAnalytics, CampaignAudience, CampaignRecipient, CampaignSchedule, CampaignStatus,
    CampaignStatusUpdate, DoNotContactEntry, DoNotContactImport, DoNotContactImported,
    NewCampaignRecipients, NewDoNotContact, NewSmsCampaign, RecipientsAdded, RecipientsImported,
    SmsCampaign, SmsCampaignPatch,
};
use upzento_domain::wire::{
    ErrorBody, InvitationInfo, InvitationIssued, InvitationRequest, Presence, PresenceStatus,
    PresenceUpdate, SessionInfo, UserInfo, UserPatch,
};

use super::machine::Failure;

/// A list answer (`{"items": [...]}`) read as JSON records.
#[derive(serde::Deserialize)]
struct Items {
    items: Vec<serde_json::Value>,
}
use crate::cloud::CloudClient;

/// How a send ended when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Refused for good (opted out, invalid number, ...): the message fails with this reason.
    Refused { code: String, message: String },
    /// Worth trying again later.
    Failed(Failure),
}

fn failure_of(status: StatusCode) -> Failure {
    match status {
        StatusCode::UNAUTHORIZED => Failure::Unauthorized,
        _ => Failure::Server,
    }
}

fn transport(err: &reqwest::Error) -> Failure {
    tracing::debug!(error = %err, "cloud request failed");
    Failure::Unreachable
}

impl CloudClient {
    /// `method path` with the bearer `token` and a JSON `body` (`()`: none), sorted into
    /// the failures the sync machine knows; the answer as JSON.
    async fn call<T: serde::de::DeserializeOwned, B: serde::Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: &B,
    ) -> Result<T, Failure> {
        let url = self.endpoint(path).map_err(|_| Failure::Server)?;
        let mut request = self.http().request(method.clone(), url).bearer_auth(token);
        if method != reqwest::Method::GET {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| transport(&e))?;
        if !response.status().is_success() {
            return Err(failure_of(response.status()));
        }
        response.json().await.map_err(|e| transport(&e))
    }

    /// One page of the change feed after `since`.
    pub async fn changes(
        &self,
        token: &str,
        since: i64,
        limit: u32,
    ) -> Result<ChangeFeed, Failure> {
        let path = format!("phone-sms/changes?since={since}&limit={limit}");
        self.call(reqwest::Method::GET, &path, token, &()).await
    }

    /// The history of a record that entered the user's scope (`Change::entered_scope`),
    /// as changes to apply beside the feed's: a conversation's messages and notes, a
    /// call's notes. Nothing for other records.
    pub async fn history(&self, token: &str, of: &Change) -> Result<Vec<Change>, Failure> {
        let as_changes = |entity: &str, items: Vec<serde_json::Value>| {
            items
                .into_iter()
                .filter_map(|item| {
                    Some(Change {
                        seq: 0,
                        entity: entity.to_owned(),
                        id: item.get("id")?.as_str()?.to_owned(),
                        op: ChangeOp::Upsert,
                        changed_at: of.changed_at.clone(),
                        entered_scope: false,
                        data: Some(item),
                    })
                })
                .collect::<Vec<_>>()
        };
        let mut out = Vec::new();
        match of.entity.as_str() {
            entity::CONVERSATION => {
                let mut cursor: Option<String> = None;
                loop {
                    let mut path = format!("phone-sms/conversations/{}/messages?limit=200", of.id);
                    if let Some(c) = &cursor {
                        path.push_str(&format!("&cursor={c}"));
                    }
                    let page: Page<serde_json::Value> =
                        self.call(reqwest::Method::GET, &path, token, &()).await?;
                    out.extend(as_changes(entity::SMS_MESSAGE, page.items));
                    cursor = page.next_cursor;
                    if cursor.is_none() {
                        break;
                    }
                }
                let path = format!("phone-sms/conversations/{}/notes", of.id);
                let notes: Items = self.call(reqwest::Method::GET, &path, token, &()).await?;
                out.extend(as_changes(entity::CONVERSATION_NOTE, notes.items));
            }
            entity::CALL => {
                let path = format!("phone-sms/calls/{}/notes", of.id);
                let notes: Items = self.call(reqwest::Method::GET, &path, token, &()).await?;
                out.extend(as_changes(entity::CALL_NOTE, notes.items));
            }
            _ => {}
        }
        Ok(out)
    }

    /// Sends a message exactly once per `key` (the cloud's `Idempotency-Key`).
    pub async fn send_message(
        &self,
        token: &str,
        key: &str,
        message: &NewSmsMessage,
    ) -> Result<SmsMessage, SendError> {
        self.create("phone-sms/messages", token, Some(key), message)
            .await
    }

    /// Opens the conversation between one of the tenant's numbers and another number, or
    /// finds the one that exists (`POST /conversations`).
    pub async fn open_conversation(
        &self,
        token: &str,
        new: &NewConversation,
    ) -> Result<Conversation, SendError> {
        self.create("phone-sms/conversations", token, None, new)
            .await
    }

    /// Adds a contact (`POST /contacts`).
    pub async fn create_contact(
        &self,
        token: &str,
        new: &NewContact,
    ) -> Result<Contact, SendError> {
        self.create("phone-sms/contacts", token, None, new).await
    }

    /// Adds a note to a call's timeline (`POST /calls/:id/notes`).
    pub async fn add_call_note(
        &self,
        token: &str,
        call_id: &str,
        text: &str,
    ) -> Result<CallNote, SendError> {
        let path = format!("phone-sms/calls/{call_id}/notes");
        let body = NewNote { text: text.into() };
        self.create(&path, token, None, &body).await
    }

    /// Adds an internal note to a conversation (`POST /conversations/:id/notes`).
    pub async fn add_conversation_note(
        &self,
        token: &str,
        conversation_id: &str,
        text: &str,
    ) -> Result<ConversationNote, SendError> {
        let path = format!("phone-sms/conversations/{conversation_id}/notes");
        let body = NewNote { text: text.into() };
        self.create(&path, token, None, &body).await
    }

    /// Snoozes a conversation until a time, or wakes it (`PATCH /conversations/:id/snooze`).
    pub async fn snooze_conversation(
        &self,
        token: &str,
        conversation_id: &str,
        until: Option<String>,
    ) -> Result<Conversation, SendError> {
        let path = format!("phone-sms/conversations/{conversation_id}/snooze");
        self.send(
            reqwest::Method::PATCH,
            &path,
            token,
            None,
            &Snooze { until },
        )
        .await
    }

    /// Saves a call's wrap-up (`PUT /calls/:id/wrap-up`, the same again changes nothing).
    pub async fn wrap_up_call(
        &self,
        token: &str,
        call_id: &str,
        wrap: &WrapUp,
    ) -> Result<Call, SendError> {
        let path = format!("phone-sms/calls/{call_id}/wrap-up");
        self.send(reqwest::Method::PUT, &path, token, None, wrap)
            .await
    }

    /// Marks a task done or to do, moves it, renames it (`PATCH /tasks/:id`).
    pub async fn update_task(
        &self,
        token: &str,
        task_id: &str,
        patch: &TaskPatch,
    ) -> Result<Task, SendError> {
        let path = format!("phone-sms/tasks/{task_id}");
        self.send(reqwest::Method::PATCH, &path, token, None, patch)
            .await
    }

    /// Adds a disposition (admins).
    pub async fn create_disposition(
        &self,
        token: &str,
        new: &NewDisposition,
    ) -> Result<Disposition, SendError> {
        self.create("phone-sms/dispositions", token, None, new)
            .await
    }

    /// Renames, archives or restores a disposition (admins).
    pub async fn update_disposition(
        &self,
        token: &str,
        id: &str,
        patch: &DispositionPatch,
    ) -> Result<Disposition, SendError> {
        let path = format!("phone-sms/dispositions/{id}");
        self.send(reqwest::Method::PATCH, &path, token, None, patch)
            .await
    }

    /// Changes the tenant's settings (admins).
    pub async fn update_settings(
        &self,
        token: &str,
        patch: &TenantSettingsPatch,
    ) -> Result<TenantSettings, SendError> {
        self.send(
            reqwest::Method::PATCH,
            "phone-sms/settings",
            token,
            None,
            patch,
        )
        .await
    }

    /// Adds a finished call to the history (idempotent on its SIP Call-ID).
    pub async fn create_call(&self, token: &str, call: &NewCall) -> Result<Call, SendError> {
        self.create("phone-sms/calls", token, None, call).await
    }

    /// POSTs a new record (see [`Self::send`]).
    async fn create<T: serde::de::DeserializeOwned, B: serde::Serialize + ?Sized>(
        &self,
        path: &str,
        token: &str,
        idempotency_key: Option<&str>,
        body: &B,
    ) -> Result<T, SendError> {
        self.send(reqwest::Method::POST, path, token, idempotency_key, body)
            .await
    }

    /// Writes with `method`: refusals that will not change on a retry (4xx other than
    /// 401/408/429) are told apart from failures worth trying again.
    async fn send<T: serde::de::DeserializeOwned, B: serde::Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        idempotency_key: Option<&str>,
        body: &B,
    ) -> Result<T, SendError> {
        let url = self
            .endpoint(path)
            .map_err(|_| SendError::Failed(Failure::Server))?;
        let mut request = self
            .http()
            .request(method, url)
            .bearer_auth(token)
            .json(body);
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        Self::answer(request).await
    }

    /// Sends a built request and reads its answer as [`Self::send`] does.
    async fn answer<T: serde::de::DeserializeOwned>(
        request: reqwest::RequestBuilder,
    ) -> Result<T, SendError> {
        let response = request
            .send()
            .await
            .map_err(|e| SendError::Failed(transport(&e)))?;
        let status = response.status();
        if status == StatusCode::NO_CONTENT {
            // Nothing to read: only `()` (or an `Option`) is expected here.
            return serde_json::from_value(serde_json::Value::Null)
                .map_err(|_| SendError::Failed(Failure::Server));
        }
        if status.is_success() {
            return response
                .json()
                .await
                .map_err(|e| SendError::Failed(transport(&e)));
        }
        let permanent = status.is_client_error()
            && !matches!(
                status,
                StatusCode::UNAUTHORIZED
                    | StatusCode::REQUEST_TIMEOUT
                    | StatusCode::TOO_MANY_REQUESTS
            );
        if !permanent {
            return Err(SendError::Failed(failure_of(status)));
        }
        let body: Option<ErrorBody> = response.json().await.ok();
        Err(SendError::Refused {
            code: body
                .as_ref()
                .map_or_else(|| "refused".into(), |b| b.code.clone()),
            message: body.map_or_else(|| status.to_string(), |b| b.message),
        })
    }

    /// The tenant's campaigns with their statistics, newest first (at most 500).
    pub async fn campaigns(&self, token: &str) -> Result<Vec<SmsCampaign>, Failure> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        while out.len() < 500 {
            let mut path = "phone-sms/campaigns?limit=100".to_owned();
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page: Page<SmsCampaign> =
                self.call(reqwest::Method::GET, &path, token, &()).await?;
            out.extend(page.items);
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        Ok(out)
    }

    pub async fn create_campaign(
        &self,
        token: &str,
        campaign: &NewSmsCampaign,
    ) -> Result<SmsCampaign, SendError> {
        self.create("phone-sms/campaigns", token, None, campaign)
            .await
    }

    pub async fn add_recipients(
        &self,
        token: &str,
        campaign_id: &str,
        recipients: &NewCampaignRecipients,
    ) -> Result<RecipientsAdded, SendError> {
        self.create(
            &format!("phone-sms/campaigns/{campaign_id}/recipients"),
            token,
            None,
            recipients,
        )
        .await
    }

    pub async fn update_campaign(
        &self,
        token: &str,
        campaign_id: &str,
        patch: &SmsCampaignPatch,
    ) -> Result<SmsCampaign, SendError> {
        self.send(
            reqwest::Method::PATCH,
            &format!("phone-sms/campaigns/{campaign_id}"),
            token,
            None,
            patch,
        )
        .await
    }

    pub async fn campaign(&self, token: &str, campaign_id: &str) -> Result<SmsCampaign, Failure> {
        self.call(
            reqwest::Method::GET,
            &format!("phone-sms/campaigns/{campaign_id}"),
            token,
            &(),
        )
        .await
    }

    /// Adds the rows of a CSV file (as it is on disk: the cloud reads its encoding).
    pub async fn import_recipients(
        &self,
        token: &str,
        campaign_id: &str,
        file: Vec<u8>,
    ) -> Result<RecipientsImported, SendError> {
        let url = self
            .endpoint(&format!(
                "phone-sms/campaigns/{campaign_id}/recipients/import"
            ))
            .map_err(|_| SendError::Failed(Failure::Server))?;
        let request = self
            .http()
            .post(url)
            .bearer_auth(token)
            .header("content-type", "text/csv")
            // A large file takes a while to go up on a slow line.
            .timeout(Duration::from_secs(300))
            .body(file);
        Self::answer(request).await
    }

    /// Who the campaign would text, and who not (the audience report).
    pub async fn campaign_audience(
        &self,
        token: &str,
        campaign_id: &str,
    ) -> Result<CampaignAudience, Failure> {
        self.call(
            reqwest::Method::GET,
            &format!("phone-sms/campaigns/{campaign_id}/audience"),
            token,
            &(),
        )
        .await
    }

    /// The first `limit` (at most 200) recipients of a campaign, in the order added.
    pub async fn campaign_recipients(
        &self,
        token: &str,
        campaign_id: &str,
        limit: u32,
    ) -> Result<Vec<CampaignRecipient>, Failure> {
        let page: Page<CampaignRecipient> = self
            .call(
                reqwest::Method::GET,
                &format!(
                    "phone-sms/campaigns/{campaign_id}/recipients?limit={}",
                    limit.clamp(1, 200)
                ),
                token,
                &(),
            )
            .await?;
        Ok(page.items)
    }

    pub async fn campaign_analytics(
        &self,
        token: &str,
        campaign_id: &str,
    ) -> Result<CampaignAnalytics, Failure> {
        self.call(
            reqwest::Method::GET,
            &format!("phone-sms/campaigns/{campaign_id}/analytics"),
            token,
            &(),
        )
        .await
    }

    /// A campaign's recipients with their outcome, as the cloud writes them (CSV).
    pub async fn export_recipients(
        &self,
        token: &str,
        campaign_id: &str,
    ) -> Result<Vec<u8>, Failure> {
        let url = self
            .endpoint(&format!(
                "phone-sms/campaigns/{campaign_id}/recipients/export"
            ))
            .map_err(|_| Failure::Server)?;
        let response = self
            .http()
            .get(url)
            .bearer_auth(token)
            .timeout(Duration::from_secs(300))
            .send()
            .await
            .map_err(|e| transport(&e))?;
        if !response.status().is_success() {
            return Err(failure_of(response.status()));
        }
        Ok(response.bytes().await.map_err(|e| transport(&e))?.to_vec())
    }

    pub async fn schedule_campaign(
        &self,
        token: &str,
        campaign_id: &str,
        at: Option<String>,
    ) -> Result<SmsCampaign, SendError> {
        self.send(
            reqwest::Method::PATCH,
            &format!("phone-sms/campaigns/{campaign_id}/schedule"),
            token,
            None,
            &CampaignSchedule { scheduled_for: at },
        )
        .await
    }

    pub async fn set_campaign_status(
        &self,
        token: &str,
        campaign_id: &str,
        status: CampaignStatus,
    ) -> Result<SmsCampaign, SendError> {
        self.send(
            reqwest::Method::PATCH,
            &format!("phone-sms/campaigns/{campaign_id}/status"),
            token,
            None,
            &CampaignStatusUpdate { status },
        )
        .await
    }

    /// The tenant's do-not-contact list (the first 200; `query`: digits of the number).
    pub async fn do_not_contact(
        &self,
        token: &str,
        query: Option<&str>,
    ) -> Result<Vec<DoNotContactEntry>, Failure> {
        let digits: String = query
            .unwrap_or_default()
            .chars()
            .filter(char::is_ascii_digit)
            .take(20)
            .collect();
        let path = if digits.is_empty() {
            "phone-sms/do-not-contact?limit=200".to_owned()
        } else {
            format!("phone-sms/do-not-contact?limit=200&q={digits}")
        };
        let page: Page<DoNotContactEntry> =
            self.call(reqwest::Method::GET, &path, token, &()).await?;
        Ok(page.items)
    }

    pub async fn add_do_not_contact(
        &self,
        token: &str,
        entry: &NewDoNotContact,
    ) -> Result<DoNotContactEntry, SendError> {
        self.create("phone-sms/do-not-contact", token, None, entry)
            .await
    }

    pub async fn import_do_not_contact(
        &self,
        token: &str,
        import: &DoNotContactImport,
    ) -> Result<DoNotContactImported, SendError> {
        self.create("phone-sms/do-not-contact/import", token, None, import)
            .await
    }

    pub async fn remove_do_not_contact(&self, token: &str, id: &str) -> Result<(), SendError> {
        self.send(
            reqwest::Method::DELETE,
            &format!("phone-sms/do-not-contact/{id}"),
            token,
            None,
            &(),
        )
        .await
    }

    /// Marks a conversation read by the signed-in user.
    pub async fn mark_read(&self, token: &str, conversation_id: &str) -> Result<(), Failure> {
        let url = self
            .endpoint(&format!("phone-sms/conversations/{conversation_id}/read"))
            .map_err(|_| Failure::Server)?;
        let response = self
            .http()
            .post(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| transport(&e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(failure_of(response.status()))
        }
    }
}

/// People: invitations, sessions, presence, teams.
impl CloudClient {
    pub async fn create_team(&self, token: &str, team: &NewTeam) -> Result<Team, SendError> {
        self.create("phone-sms/teams", token, None, team).await
    }

    pub async fn update_team(
        &self,
        token: &str,
        id: &str,
        patch: &TeamPatch,
    ) -> Result<Team, SendError> {
        let path = format!("phone-sms/teams/{id}");
        self.send(reqwest::Method::PATCH, &path, token, None, patch)
            .await
    }

    pub async fn delete_team(&self, token: &str, id: &str) -> Result<(), SendError> {
        let path = format!("phone-sms/teams/{id}");
        self.send(reqwest::Method::DELETE, &path, token, None, &())
            .await
    }

    pub async fn invitations(&self, token: &str) -> Result<Vec<InvitationInfo>, Failure> {
        self.call(reqwest::Method::GET, "phone-sms/invitations", token, &())
            .await
    }

    pub async fn invite(
        &self,
        token: &str,
        request: &InvitationRequest,
    ) -> Result<InvitationIssued, SendError> {
        self.create("phone-sms/invitations", token, None, request)
            .await
    }

    pub async fn resend_invitation(
        &self,
        token: &str,
        id: &str,
    ) -> Result<InvitationIssued, SendError> {
        let path = format!("phone-sms/invitations/{id}/resend");
        self.create(&path, token, None, &()).await
    }

    pub async fn revoke_invitation(
        &self,
        token: &str,
        id: &str,
    ) -> Result<InvitationInfo, SendError> {
        let path = format!("phone-sms/invitations/{id}");
        self.send(reqwest::Method::DELETE, &path, token, None, &())
            .await
    }

    pub async fn sessions(&self, token: &str) -> Result<Vec<SessionInfo>, Failure> {
        self.call(reqwest::Method::GET, "phone-sms/me/sessions", token, &())
            .await
    }

    pub async fn end_session(&self, token: &str, id: &str) -> Result<(), SendError> {
        let path = format!("phone-sms/me/sessions/{id}");
        self.send(reqwest::Method::DELETE, &path, token, None, &())
            .await
    }

    /// Ends every session of a user (admins).
    pub async fn sign_out_everywhere(&self, token: &str, user_id: &str) -> Result<(), SendError> {
        let path = format!("phone-sms/users/{user_id}/sessions");
        self.send(reqwest::Method::DELETE, &path, token, None, &())
            .await
    }

    pub async fn set_presence(
        &self,
        token: &str,
        status: PresenceStatus,
    ) -> Result<Presence, SendError> {
        self.send(
            reqwest::Method::PUT,
            "phone-sms/me/presence",
            token,
            None,
            &PresenceUpdate { status },
        )
        .await
    }

    /// Every active user's presence.
    pub async fn presence(&self, token: &str) -> Result<Vec<Presence>, Failure> {
        self.call(reqwest::Method::GET, "phone-sms/presence", token, &())
            .await
    }
}

impl CloudClient {
    /// The tenant's users (teammates).
    pub async fn users(&self, token: &str) -> Result<Vec<UserInfo>, Failure> {
        self.call(reqwest::Method::GET, "phone-sms/users", token, &())
            .await
    }

    /// Changes a user's role or whether they are active (admins).
    pub async fn update_user(
        &self,
        token: &str,
        user_id: &str,
        patch: &UserPatch,
    ) -> Result<UserInfo, SendError> {
        let path = format!("phone-sms/users/{user_id}");
        self.send(reqwest::Method::PATCH, &path, token, None, patch)
            .await
    }

    /// Assigns a conversation to a user, or to nobody; with `team_id`, also to a team
    /// (`Some(None)`: no team; `None`: its team stays).
    pub async fn assign_conversation(
        &self,
        token: &str,
        conversation_id: &str,
        user_id: Option<String>,
        team_id: Option<Option<String>>,
    ) -> Result<Conversation, Failure> {
        let path = format!("phone-sms/conversations/{conversation_id}/assign");
        let body = Assignment { user_id, team_id };
        self.call(reqwest::Method::PATCH, &path, token, &body).await
    }

    /// Writes a call's notes (`PATCH /calls/:id/notes`); `None` clears them.
    pub async fn set_call_notes(
        &self,
        token: &str,
        call_id: &str,
        notes: Option<String>,
    ) -> Result<Call, Failure> {
        let path = format!("phone-sms/calls/{call_id}/notes");
        self.call(reqwest::Method::PATCH, &path, token, &CallNotes { notes })
            .await
    }

    /// Assigns a call for follow-up (`PATCH /calls/:id/assign`), or to nobody.
    pub async fn assign_call(
        &self,
        token: &str,
        call_id: &str,
        user_id: Option<String>,
    ) -> Result<Call, Failure> {
        let path = format!("phone-sms/calls/{call_id}/assign");
        self.call(
            reqwest::Method::PATCH,
            &path,
            token,
            &Assignment {
                user_id,
                team_id: None,
            },
        )
        .await
    }

    /// Opens or closes a conversation (`PATCH /conversations/:id/status`).
    pub async fn set_conversation_status(
        &self,
        token: &str,
        conversation_id: &str,
        status: ConversationStatus,
    ) -> Result<Conversation, Failure> {
        let path = format!("phone-sms/conversations/{conversation_id}/status");
        let body = ConversationStatusUpdate { status };
        self.call(reqwest::Method::PATCH, &path, token, &body).await
    }
}

/// What the live stream reader reports.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    Opened,
    /// Bytes arrived (a keep-alive, or the start of an event).
    Activity,
    Change(Box<Change>),
    Ended(Option<Failure>),
}

/// Reads `GET /phone-sms/events?since=..` until it ends or `items` is dropped.
pub async fn read_stream(
    client: CloudClient,
    token: String,
    since: i64,
    items: mpsc::Sender<StreamItem>,
) {
    let ended = read_stream_inner(&client, &token, since, &items).await;
    let _ = items.send(StreamItem::Ended(ended)).await;
}

async fn read_stream_inner(
    client: &CloudClient,
    token: &str,
    since: i64,
    items: &mpsc::Sender<StreamItem>,
) -> Option<Failure> {
    let Ok(url) = client.endpoint(&format!("phone-sms/events?since={since}")) else {
        return Some(Failure::Server);
    };
    let response = match client
        .http()
        .get(url)
        .bearer_auth(token)
        .header("accept", "text/event-stream")
        // The stream lives long; the watchdog in the machine handles silence.
        .timeout(Duration::from_secs(24 * 3600))
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return Some(transport(&e)),
    };
    if !response.status().is_success() {
        return Some(failure_of(response.status()));
    }
    if items.send(StreamItem::Opened).await.is_err() {
        return None;
    }
    let mut response = response;
    let mut buffer: Vec<u8> = Vec::new();
    let mut data = String::new();
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => return Some(transport(&e)),
        };
        if items.send(StreamItem::Activity).await.is_err() {
            return None;
        }
        buffer.extend_from_slice(&chunk);
        // Server-sent events: lines; a blank line ends an event.
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !data.is_empty() {
                    match serde_json::from_str::<Change>(&data) {
                        Ok(change) => {
                            if items
                                .send(StreamItem::Change(Box::new(change)))
                                .await
                                .is_err()
                            {
                                return None;
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "unreadable event skipped"),
                    }
                    data.clear();
                }
            } else if let Some(value) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value.strip_prefix(' ').unwrap_or(value));
            }
            // `id:`, `event:` and `:` comments carry nothing the change does not.
        }
    }
    Some(Failure::Unreachable)
}
