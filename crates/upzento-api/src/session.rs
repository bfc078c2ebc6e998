//! The Inbox, Calls and search commands: reads from the local cache (so they work
//! offline), writes to the outbox, and the session that keeps both in step.

use upzento_client::cache::Arrival;
use upzento_client::cache::{Cache, CallQuery, Draft, InboxCursor, InboxFilter, ms_of};
use upzento_client::session::{Opened, Session, delete_cache};
use upzento_client::sync::api::SendError;
use upzento_client::sync::{SyncEvent, SyncStatus};
use upzento_client::{ClientError, ErrorKind};
use upzento_domain::phone::to_e164;
use upzento_domain::resources::{
    CallStatus, ConversationStatus, NewContact, NewConversation, PhoneNumber, SmsTemplate, entity,
};
use upzento_domain::template::{self, Values};

use crate::notify::{Notice, NoticeAction, preview};

use crate::views::{
    AppEvent, CallFilterView, CallKindFilter, CallPage, CallView, CallerConversationView,
    CallerView, ContactView, ConversationView, InboxFilterView, InboxPage, MessageHitView,
    MessageView, NoteView, SearchView, SyncView, TeammateView, TemplateView, app_event,
    call_note_view, call_view, contact_view, conversation_note_view, conversation_view, inbox_item,
    message_view, outbox_view, sync_view, text_parts,
};
use crate::{Api, ApiError, ErrorCode};

const PAGE: usize = 50;
/// Twilio refuses bodies over 1,600 characters.
const MESSAGE_MAX: usize = 1600;

/// A change the cloud did not take (these need it: they are not queued offline).
pub(crate) fn not_updated(failure: upzento_client::sync::machine::Failure) -> ApiError {
    use upzento_client::sync::machine::Failure;
    match failure {
        Failure::Unauthorized => ApiError::new(
            ErrorCode::Unauthorized,
            "The cloud no longer accepts this sign-in: sign in again.",
        ),
        Failure::Unreachable => ApiError::new(
            ErrorCode::Unreachable,
            "The cloud cannot be reached right now: try again when you are online.",
        ),
        Failure::Server => ApiError::new(
            ErrorCode::ServerError,
            "The cloud could not make that change right now.",
        ),
    }
}

/// A record the cloud would not create: refused for good (its reason), or not now.
pub(crate) fn not_created(e: SendError) -> ApiError {
    match e {
        SendError::Refused { message, .. } => ApiError::new(ErrorCode::InvalidInput, message),
        SendError::Failed(failure) => not_updated(failure),
    }
}

fn not_signed_in() -> ApiError {
    ApiError::new(ErrorCode::NotSignedIn, "Sign in to a tenant cloud first.")
}

pub(crate) fn stamp(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

pub(crate) fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// `ms.id` cursors of the lists.
fn split_cursor(cursor: &str) -> Result<(i64, String), ApiError> {
    cursor
        .split_once('.')
        .and_then(|(ms, id)| Some((ms.parse().ok()?, id.to_owned())))
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidInput, "That list position is not valid."))
}

fn day_ms(date: &str, field: &str) -> Result<i64, ApiError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(date.trim(), &format)
        .map(|d| {
            i64::try_from(d.midnight().assume_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
        })
        .map_err(|_| {
            ApiError::new(
                ErrorCode::InvalidInput,
                format!("{field} is not a date like 2026-11-24."),
            )
        })
}

impl Api {
    /// Starts the signed-in account's session when none runs.
    pub(crate) async fn ensure_session(&self) -> Result<(), ApiError> {
        let mut slot = self.session.lock().await;
        if slot.is_some() {
            return Ok(());
        }
        let (account, token) = self.accounts.token().await?;
        let data_dir = self.data_dir.clone();
        let secrets = self.secrets.clone();
        // The keyring and the cache file block: off the async threads.
        let (session, mut events) = tokio::task::spawn_blocking(move || {
            Session::start(account, token, &data_dir, secrets.as_ref())
        })
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))??;
        if let Opened::Rebuilt { outbox_saved } = session.opened {
            let _ = self.events.send(AppEvent::StorageError {
                message: format!(
                    "The local cache could not be read and is being rebuilt from the cloud ({outbox_saved} unsent messages kept)."
                ),
            });
        }
        // Shown at once; what the sync engine reports next is numbered after it.
        self.publish_sync(Some(session.sync.status().unwrap_or(SyncStatus::Syncing)));
        let forward = self.events.clone();
        let api = self.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(SyncEvent::Status { status }) => api.publish_sync(Some(status)),
                    Ok(event) => {
                        if let SyncEvent::Changed { arrivals, .. } = &event
                            && !arrivals.is_empty()
                        {
                            let (api, arrivals) = (api.clone(), arrivals.clone());
                            tokio::spawn(async move { api.announce(arrivals).await });
                        }
                        if let Some(event) = app_event(event) {
                            let _ = forward.send(event);
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        // Missed some: tell the UI to refresh everything.
                        let _ = forward.send(AppEvent::Changed {
                            conversations: Vec::new(),
                            entities: vec!["*".into()],
                        });
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        *slot = Some(session);
        Ok(())
    }

    pub(crate) async fn stop_session(&self, forget: bool) {
        let Some(session) = self.session.lock().await.take() else {
            return;
        };
        let owner = upzento_client::cache::Owner {
            cloud: session.account.cloud_url.clone(),
            tenant_id: session.account.tenant.id.clone(),
            user_id: session.account.user.id.clone(),
        };
        session.sync.stop();
        drop(session.cache);
        self.publish_sync(None);
        if forget {
            let (data_dir, secrets) = (self.data_dir.clone(), self.secrets.clone());
            let deleted = tokio::task::spawn_blocking(move || {
                delete_cache(&data_dir, secrets.as_ref(), &owner)
            })
            .await;
            if let Ok(Err(e)) = deleted {
                tracing::warn!(error = %e, "could not delete the local cache");
            }
        }
    }

    /// The app is closing: sync stops and the cache is closed; the account stays signed in.
    pub async fn shut_down(&self) {
        self.stop_session(false).await;
    }

    /// Events for the UI (sync state, changed data).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<AppEvent> {
        self.events.subscribe()
    }

    /// Runs `f` on the session's cache on a blocking thread, with the user's id.
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Cache, &str) -> Result<T, ClientError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.ensure_session().await?;
        let (cache, me) = {
            let slot = self.session.lock().await;
            let session = slot.as_ref().ok_or_else(not_signed_in)?;
            (session.cache.clone(), session.account.user.id.clone())
        };
        tokio::task::spawn_blocking(move || {
            let mut cache = cache
                .lock()
                .map_err(|_| ClientError::new(ErrorKind::Storage, "the cache lock was poisoned"))?;
            f(&mut cache, &me)
        })
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?
        .map_err(ApiError::from)
    }

    /// The sync state as last published. Asked at launch, it also starts the session of a
    /// signed-in account, so that the state shown is the real one from the first screen on.
    pub async fn sync_status(&self) -> SyncView {
        if let Err(e) = self.ensure_session().await
            && e.code != ErrorCode::NotSignedIn
        {
            tracing::warn!(error = %e.message, "the session did not start");
        }
        self.sync_state()
    }

    pub(crate) fn sync_state(&self) -> SyncView {
        *self
            .sync
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes `status` (`None`: no session) the state shown, numbered after the last one,
    /// and tells the UI. The event is sent under the lock, so events leave in order.
    pub(crate) fn publish_sync(&self, status: Option<SyncStatus>) {
        let mut shown = self
            .sync
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let reconnected =
            status == Some(SyncStatus::Online) && shown.state != crate::views::SyncState::Online;
        *shown = sync_view(status, shown.revision.wrapping_add(1));
        if reconnected {
            self.presence_reconnected();
        }
        let _ = self.events.send(AppEvent::Sync { sync: *shown });
    }

    /// The computer woke up or the network changed: reconnect now.
    pub async fn network_changed(&self) {
        if let Some(session) = self.session.lock().await.as_ref() {
            session.sync.network_changed();
        }
        self.reregister();
    }

    pub async fn inbox(
        &self,
        filter: InboxFilterView,
        cursor: Option<String>,
    ) -> Result<InboxPage, ApiError> {
        let after = cursor
            .as_deref()
            .map(split_cursor)
            .transpose()?
            .map(|(ms, id)| InboxCursor {
                last_activity_ms: ms,
                id,
            });
        self.read(move |cache, me| {
            let filter = match filter {
                InboxFilterView::All => InboxFilter::All,
                InboxFilterView::Open => InboxFilter::Open,
                InboxFilterView::Closed => InboxFilter::Closed,
                InboxFilterView::Mine => InboxFilter::Mine,
                InboxFilterView::Snoozed => InboxFilter::Snoozed,
                InboxFilterView::Teams => InboxFilter::Teams,
            };
            let now = now_ms();
            let mut rows = cache.inbox(filter, after.as_ref(), PAGE + 1, now)?;
            let more = rows.len() > PAGE;
            rows.truncate(PAGE);
            let next = rows.last().filter(|_| more).map(|r| {
                format!(
                    "{}.{}",
                    ms_of(&r.conversation.last_activity_at),
                    r.conversation.id
                )
            });
            Ok(InboxPage {
                items: rows.into_iter().map(|r| inbox_item(r, me)).collect(),
                next,
                counts: cache.inbox_counts(now)?.into(),
            })
        })
        .await
    }

    /// A conversation with its newest messages and what waits in the outbox for it.
    pub async fn conversation(&self, id: String) -> Result<ConversationView, ApiError> {
        let view = self
            .read(move |cache, me| {
                let Some(conversation) = cache.conversation(&id)? else {
                    return Ok(None);
                };
                let contact = match &conversation.contact_id {
                    Some(c) => cache.contact(c)?,
                    None => cache.contact_by_number(&conversation.contact_number)?,
                };
                let mut messages = cache.messages(&id, None, PAGE + 1)?;
                let has_older = messages.len() > PAGE;
                messages.truncate(PAGE);
                let mut views: Vec<MessageView> =
                    messages.into_iter().rev().map(message_view).collect();
                for item in cache.outbox()? {
                    if item.conversation_id.as_deref() == Some(id.as_str()) {
                        let at = stamp(item.created_ms);
                        views.push(outbox_view(item, at));
                    }
                }
                let calls = cache
                    .calls_with(&conversation.contact_number, 3)?
                    .into_iter()
                    .map(|c| call_view(c, contact.clone()))
                    .collect();
                let notes = cache
                    .conversation_notes(&id)?
                    .into_iter()
                    .map(|n| conversation_note_view(n, me))
                    .collect();
                let mut view = conversation_view(conversation, me, contact, views, has_older);
                view.recent_calls = calls;
                view.notes = notes;
                Ok(Some(view))
            })
            .await?;
        view.ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidInput,
                "That conversation is not here (any more).",
            )
        })
    }

    /// The screen-pop of a call with `remote` (a number in any notation, or a SIP user):
    /// what the cache knows of them. Nothing known is an answer too (a new caller).
    pub async fn caller(&self, remote: String) -> Result<CallerView, ApiError> {
        let digits: String = remote.chars().filter(char::is_ascii_digit).collect();
        let number = to_e164(remote.trim(), None)
            .or_else(|_| to_e164(&format!("+{digits}"), None))
            .ok()
            .filter(|_| digits.len() >= 6);
        let Some(number) = number else {
            return Ok(CallerView {
                number: None,
                contact: None,
                last_conversation: None,
                recent_calls: Vec::new(),
            });
        };
        self.read(move |cache, _| {
            let contact = cache.contact_by_number(&number)?;
            let last_conversation = match cache.conversation_with(&number, None)? {
                Some(id) => cache.conversation(&id)?.map(|c| CallerConversationView {
                    id: c.id,
                    preview: c.last_message_preview,
                    last_activity_at: c.last_activity_at,
                    open: c.status == ConversationStatus::Open,
                }),
                None => None,
            };
            let recent_calls = cache
                .calls_with(&number, 3)?
                .into_iter()
                .map(|c| call_view(c, contact.clone()))
                .collect();
            Ok(CallerView {
                number: Some(number),
                contact: contact.map(contact_view),
                last_conversation,
                recent_calls,
            })
        })
        .await
    }

    /// "Create contact" from a new caller's screen-pop: a contact with this name and number,
    /// made on the cloud and shown at once.
    pub async fn create_contact(
        &self,
        name: String,
        number: String,
    ) -> Result<ContactView, ApiError> {
        let mut words = name.split_whitespace();
        let first_name = words
            .next()
            .ok_or_else(|| ApiError::new(ErrorCode::InvalidInput, "Give the contact a name."))?
            .to_owned();
        let rest: Vec<&str> = words.collect();
        let new = NewContact {
            first_name,
            last_name: (!rest.is_empty()).then(|| rest.join(" ")),
            phone_numbers: vec![number],
            email: None,
            tags: Vec::new(),
            time_zone: None,
        };
        let (client, token) = self.remote().await?;
        let contact = client
            .create_contact(&token, &new)
            .await
            .map_err(not_created)?;
        let view = contact_view(contact.clone());
        self.read(move |cache, _| cache.remember_contact(&contact))
            .await?;
        Ok(view)
    }

    /// Messages before `before_id`, oldest first.
    pub async fn older_messages(
        &self,
        id: String,
        before_id: String,
    ) -> Result<Vec<MessageView>, ApiError> {
        self.read(move |cache, _| {
            let messages = cache.messages(&id, Some(&before_id), PAGE)?;
            Ok(messages.into_iter().rev().map(message_view).collect())
        })
        .await
    }

    /// Writes a message into the outbox; the sync sends it as soon as the cloud answers.
    /// The tenant's templates, most used first, rendered for this conversation's
    /// contact from the cache (offline too).
    /// The templates as written (placeholders kept), most used first: for campaigns.
    pub async fn template_texts(&self) -> Result<Vec<TemplateView>, ApiError> {
        self.read(move |cache, _| {
            let mut templates: Vec<SmsTemplate> = cache.records(entity::SMS_TEMPLATE)?;
            most_used_first(&mut templates);
            Ok(templates
                .into_iter()
                .map(|t| TemplateView {
                    text: t.message,
                    id: t.id,
                    name: t.name,
                    usage_count: u32::try_from(t.usage_count).unwrap_or(u32::MAX),
                })
                .collect())
        })
        .await
    }

    pub async fn templates(&self, conversation_id: String) -> Result<Vec<TemplateView>, ApiError> {
        self.read(move |cache, _| {
            let conversation = cache.conversation(&conversation_id)?;
            let contact = match conversation.as_ref().and_then(|c| c.contact_id.clone()) {
                Some(id) => cache.contact(&id)?,
                None => None,
            };
            let number = conversation.map(|c| c.contact_number).unwrap_or_default();
            let values = Values::for_contact(contact.as_ref(), &number);
            let mut templates: Vec<SmsTemplate> = cache.records(entity::SMS_TEMPLATE)?;
            most_used_first(&mut templates);
            Ok(templates
                .into_iter()
                .map(|t| TemplateView {
                    // A template the cloud accepted always renders; the raw text if not.
                    text: template::render(&t.message, &values).unwrap_or(t.message),
                    id: t.id,
                    name: t.name,
                    usage_count: u32::try_from(t.usage_count).unwrap_or(u32::MAX),
                })
                .collect())
        })
        .await
    }

    /// Queues a message (offline too); `template_id` names the template it came from,
    /// which counts as one use when it is sent.
    pub async fn send_message(
        &self,
        conversation_id: String,
        body: String,
        template_id: Option<String>,
    ) -> Result<MessageView, ApiError> {
        let text = body.trim().to_owned();
        if text.is_empty() {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                "The message is empty.",
            ));
        }
        if text.chars().count() > MESSAGE_MAX {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                format!("A message holds at most {MESSAGE_MAX} characters."),
            ));
        }
        let now = now_ms();
        let conversation = conversation_id.clone();
        let item = self
            .read(move |cache, _| {
                cache.enqueue(
                    &Draft {
                        conversation_id: Some(conversation),
                        phone_number_id: None,
                        to: None,
                        body: text,
                        template_id,
                    },
                    now,
                )
            })
            .await?;
        self.outbox_changed(&conversation_id).await;
        Ok(outbox_view(item, stamp(now)))
    }

    async fn outbox_changed(&self, conversation_id: &str) {
        if let Some(session) = self.session.lock().await.as_ref() {
            session.sync.outbox_queued();
        }
        let _ = self.events.send(AppEvent::Changed {
            conversations: vec![conversation_id.to_owned()],
            entities: vec!["outbox".into()],
        });
    }

    pub async fn retry_message(&self, key: String) -> Result<(), ApiError> {
        let conversation = self
            .read(move |cache, _| {
                let item = cache.outbox_item(&key)?;
                cache.outbox_retry(&key)?;
                Ok(item.and_then(|i| i.conversation_id))
            })
            .await?;
        self.outbox_changed(&conversation.unwrap_or_default()).await;
        Ok(())
    }

    pub async fn discard_message(&self, key: String) -> Result<(), ApiError> {
        let conversation = self
            .read(move |cache, _| {
                let item = cache.outbox_item(&key)?;
                cache.outbox_delete(&key)?;
                Ok(item.and_then(|i| i.conversation_id))
            })
            .await?;
        let _ = self.events.send(AppEvent::Changed {
            conversations: conversation.into_iter().collect(),
            entities: vec!["outbox".into()],
        });
        Ok(())
    }

    /// Marks a conversation read: at once here, and on the cloud when it answers.
    pub async fn mark_read(&self, id: String) -> Result<(), ApiError> {
        let now = now_ms();
        let conversation = id.clone();
        let changed = self
            .read(move |cache, me| cache.mark_read_local(&conversation, me, now))
            .await?;
        if changed {
            let _ = self.events.send(AppEvent::Changed {
                conversations: vec![id.clone()],
                entities: vec!["conversationRead".into()],
            });
        }
        let remote = {
            let slot = self.session.lock().await;
            slot.as_ref()
                .map(|s| (s.client.clone(), s.token().to_owned()))
        };
        if let Some((client, token)) = remote {
            tokio::spawn(async move {
                if let Err(e) = client.mark_read(&token, &id).await {
                    tracing::debug!(?e, "read marker not sent; the next open sends it again");
                }
            });
        }
        Ok(())
    }

    /// Notifications for new inbound messages: one per message, the newest three at
    /// most, and one summary for the rest of a burst.
    ///
    /// Boxed: "Mark done" runs through the session this is called from, and the
    /// compiler cannot prove a future `Send` that contains itself.
    fn announce(
        &self,
        arrivals: Vec<Arrival>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(self.announce_now(arrivals))
    }

    async fn announce_now(&self, arrivals: Vec<Arrival>) {
        const SHOWN: usize = 3;
        let count = arrivals.len();
        let notices = self
            .read(move |cache, _| {
                let mut notices = Vec::new();
                for arrival in arrivals.iter().rev().take(SHOWN) {
                    let conversation = cache.conversation(&arrival.conversation_id)?;
                    let contact = match conversation.as_ref().and_then(|c| c.contact_id.clone()) {
                        Some(id) => cache.contact(&id)?,
                        None => None,
                    };
                    let title = contact.map(|c| c.full_name()).unwrap_or_else(|| {
                        conversation
                            .map(|c| c.contact_number)
                            .unwrap_or_else(|| "New message".into())
                    });
                    notices.push(Notice {
                        conversation_id: arrival.conversation_id.clone(),
                        title,
                        body: preview(&arrival.body),
                    });
                }
                Ok(notices)
            })
            .await;
        let mut notices = match notices {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(?e, "new messages not announced");
                return;
            }
        };
        if count > SHOWN
            && let Some(last) = notices.last().cloned()
        {
            notices.push(Notice {
                conversation_id: last.conversation_id,
                title: format!("{} more new messages", count - SHOWN),
                body: "Open the inbox to read them.".into(),
            });
        }
        // Actions arrive on the notification's own thread: they come back through this.
        let rt = tokio::runtime::Handle::current();
        for notice in notices {
            let (api, conversation_id, rt) =
                (self.clone(), notice.conversation_id.clone(), rt.clone());
            let on_action = Box::new(move |action: NoticeAction| {
                let event = match action {
                    NoticeAction::Reply => AppEvent::QuickReply { conversation_id },
                    NoticeAction::Open => AppEvent::OpenConversation { conversation_id },
                    NoticeAction::Done => {
                        rt.spawn(async move {
                            if let Err(e) = api.mark_done(conversation_id).await {
                                tracing::warn!(?e, "mark done failed");
                            }
                        });
                        return;
                    }
                };
                let _ = api.events.send(event);
            });
            if let Err(e) = self.notifier.show(notice, on_action) {
                tracing::warn!(error = %e, "notification not shown");
            }
        }
    }

    /// Conversations with unread messages (the tray's count); 0 when signed out.
    pub async fn unread_conversations(&self) -> i64 {
        if self.session.lock().await.is_none() {
            return 0;
        }
        self.read(|cache, _| cache.unread_conversations())
            .await
            .unwrap_or(0)
    }

    /// The tenant's users, the signed-in one first (asks the cloud: online only; the
    /// signed-in user alone when it cannot be reached).
    pub async fn teammates(&self) -> Result<Vec<TeammateView>, ApiError> {
        self.ensure_session().await?;
        let (client, token, me) = {
            let slot = self.session.lock().await;
            let session = slot.as_ref().ok_or_else(not_signed_in)?;
            (
                session.client.clone(),
                session.token().to_owned(),
                session.account.user.clone(),
            )
        };
        let (users, presence) = tokio::join!(client.users(&token), self.presences());
        let users = users.unwrap_or_else(|e| {
            tracing::debug!(?e, "teammates not fetched");
            Vec::new()
        });
        let status = |id: &str| {
            presence
                .get(id)
                .map_or(crate::people::PresenceView::Offline, |p| p.status.into())
        };
        let mut out = vec![TeammateView {
            id: me.id.clone(),
            name: me.name.clone(),
            me: true,
            presence: self.my_presence().shown,
        }];
        out.extend(
            users
                .into_iter()
                // A deactivated user takes no new work.
                .filter(|u| u.id != me.id && u.active)
                .map(|u| TeammateView {
                    presence: status(&u.id),
                    id: u.id,
                    name: u.name,
                    me: false,
                }),
        );
        Ok(out)
    }

    /// Everyone of the tenant, deactivated ones too (online: people are the cloud's).
    pub async fn team(&self) -> Result<Vec<crate::views::TeamMemberView>, ApiError> {
        let me = self
            .accounts
            .current()
            .await?
            .map(|a| a.user.id)
            .unwrap_or_default();
        let (client, token) = self.remote().await?;
        let (users, presence) = tokio::join!(client.users(&token), self.presences());
        let users = users.map_err(not_updated)?;
        Ok(users
            .into_iter()
            .map(|u| crate::views::TeamMemberView {
                me: u.id == me,
                presence: presence
                    .get(&u.id)
                    .map_or(crate::people::PresenceView::Offline, |p| p.status.into()),
                id: u.id,
                name: u.name,
                email: u.email,
                role: u.role.into(),
                active: u.active,
            })
            .collect())
    }

    /// Changes a user's role, or deactivates them (their open work to `reassign_to`, or
    /// nobody) or reactivates them (admins).
    pub async fn update_user(
        &self,
        id: String,
        role: Option<crate::dto::UserRole>,
        active: Option<bool>,
        reassign_to: Option<String>,
    ) -> Result<(), ApiError> {
        let patch = upzento_domain::wire::UserPatch {
            role: role.map(Into::into),
            active,
            reassign_to,
        };
        let (client, token) = self.remote().await?;
        client
            .update_user(&token, &id, &patch)
            .await
            .map(drop)
            .map_err(not_created)
    }

    /// Assigns a conversation to a teammate, or to nobody; the change comes back
    /// through the feed.
    pub async fn assign_conversation(
        &self,
        id: String,
        user_id: Option<String>,
    ) -> Result<(), ApiError> {
        let (client, token) = self.remote().await?;
        client
            .assign_conversation(&token, &id, user_id, None)
            .await
            .map(drop)
            .map_err(not_updated)
    }

    /// Writes a call's notes (blank clears them); the change comes back through the feed.
    pub async fn set_call_notes(&self, id: String, notes: String) -> Result<(), ApiError> {
        let notes = notes.trim();
        let notes = (!notes.is_empty()).then(|| notes.to_owned());
        let (client, token) = self.remote().await?;
        client
            .set_call_notes(&token, &id, notes)
            .await
            .map(drop)
            .map_err(not_updated)
    }

    /// A call's notes timeline, oldest first, from the cache (offline too).
    pub async fn call_notes(&self, call_id: String) -> Result<Vec<NoteView>, ApiError> {
        self.read(move |cache, me| {
            Ok(cache
                .call_notes(&call_id)?
                .into_iter()
                .map(|n| call_note_view(n, me))
                .collect())
        })
        .await
    }

    /// Adds a note to a call's timeline (online: notes are the team's, kept by the cloud);
    /// shown at once, and to teammates through the feed.
    pub async fn add_call_note(&self, call_id: String, text: String) -> Result<NoteView, ApiError> {
        let text = text.trim().to_owned();
        if text.is_empty() {
            return Err(ApiError::new(ErrorCode::InvalidInput, "The note is empty."));
        }
        let (client, token) = self.remote().await?;
        let note = client
            .add_call_note(&token, &call_id, &text)
            .await
            .map_err(not_created)?;
        self.read(move |cache, me| {
            cache.remember_call_note(&note)?;
            Ok(call_note_view(note, me))
        })
        .await
    }

    /// Assigns a call for follow-up to a teammate, or to nobody.
    pub async fn assign_call(&self, id: String, user_id: Option<String>) -> Result<(), ApiError> {
        let (client, token) = self.remote().await?;
        client
            .assign_call(&token, &id, user_id)
            .await
            .map(drop)
            .map_err(not_updated)
    }

    /// Text back: the conversation with `number`, from our number `phone_number_id` when
    /// given (the line a call came in on), opened on the cloud when there is none yet.
    /// Returns its id, for the inbox to show.
    pub async fn text_number(
        &self,
        number: String,
        phone_number_id: Option<String>,
    ) -> Result<String, ApiError> {
        let number = to_e164(number.trim(), None)
            .map_err(|e| ApiError::new(ErrorCode::InvalidInput, format!("{number}: {e}")))?;
        let (found, ours) = {
            let (number, wanted) = (number.clone(), phone_number_id.clone());
            self.read(move |cache, _| {
                let found = cache.conversation_with(&number, wanted.as_deref())?;
                let numbers: Vec<PhoneNumber> = cache.records(entity::PHONE_NUMBER)?;
                Ok((found, numbers))
            })
            .await?
        };
        if let Some(id) = found {
            return Ok(id);
        }
        let can_text = |n: &&PhoneNumber| {
            n.sms_enabled && n.status == upzento_domain::resources::NumberStatus::Active
        };
        let from = phone_number_id
            .as_deref()
            .and_then(|id| ours.iter().filter(can_text).find(|n| n.id == id))
            .or_else(|| ours.iter().filter(can_text).min_by(|a, b| a.created_at.cmp(&b.created_at)))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidInput,
                    "None of the tenant's numbers can send SMS: an admin can turn SMS on in Numbers.",
                )
            })?;
        let (client, token) = self.remote().await?;
        let new = NewConversation {
            phone_number_id: from.id.clone(),
            contact_number: number,
        };
        let conversation = client
            .open_conversation(&token, &new)
            .await
            .map_err(not_created)?;
        let id = conversation.id.clone();
        self.read(move |cache, _| cache.remember_conversation(&conversation))
            .await?;
        Ok(id)
    }

    /// The cloud client and token of the session.
    pub(crate) async fn remote(
        &self,
    ) -> Result<(upzento_client::cloud::CloudClient, String), ApiError> {
        self.ensure_session().await?;
        let slot = self.session.lock().await;
        let session = slot.as_ref().ok_or_else(not_signed_in)?;
        Ok((session.client.clone(), session.token().to_owned()))
    }

    /// "Mark done": read, and closed for everyone.
    pub async fn mark_done(&self, id: String) -> Result<(), ApiError> {
        self.mark_read(id.clone()).await?;
        self.set_conversation_status(id, false).await
    }

    /// Opens (`open`) or closes a conversation; the change comes back through the feed.
    pub async fn set_conversation_status(&self, id: String, open: bool) -> Result<(), ApiError> {
        let (client, token) = self.remote().await?;
        let status = if open {
            ConversationStatus::Open
        } else {
            ConversationStatus::Closed
        };
        client
            .set_conversation_status(&token, &id, status)
            .await
            .map(drop)
            .map_err(not_updated)
    }

    /// Adds an internal note to a conversation (online: the team's, kept by the cloud);
    /// shown at once, and to teammates through the feed. Never sent to the contact.
    pub async fn add_conversation_note(
        &self,
        conversation_id: String,
        text: String,
    ) -> Result<NoteView, ApiError> {
        let text = text.trim().to_owned();
        if text.is_empty() {
            return Err(ApiError::new(ErrorCode::InvalidInput, "The note is empty."));
        }
        let (client, token) = self.remote().await?;
        let note = client
            .add_conversation_note(&token, &conversation_id, &text)
            .await
            .map_err(not_created)?;
        self.read(move |cache, me| {
            cache.remember(
                upzento_domain::resources::entity::CONVERSATION_NOTE,
                &note.id,
                &note,
                &note.updated_at,
            )?;
            Ok(conversation_note_view(note, me))
        })
        .await
    }

    /// Snoozes a conversation out of the inbox until `until_ms`, or wakes it (`None`).
    #[allow(clippy::cast_possible_truncation)]
    pub async fn snooze_conversation(
        &self,
        id: String,
        until_ms: Option<f64>,
    ) -> Result<(), ApiError> {
        let until = match until_ms {
            Some(ms) if !ms.is_finite() => {
                return Err(ApiError::new(
                    ErrorCode::InvalidInput,
                    "Pick a time to snooze until.",
                ));
            }
            Some(ms) => Some(stamp(ms as i64)),
            None => None,
        };
        let (client, token) = self.remote().await?;
        let conversation = client
            .snooze_conversation(&token, &id, until)
            .await
            .map_err(not_created)?;
        self.read(move |cache, _| cache.remember_conversation(&conversation))
            .await
    }

    pub async fn search(&self, text: String) -> Result<SearchView, ApiError> {
        self.read(move |cache, _| {
            let found = cache.search(&text, PAGE)?;
            let mut messages = Vec::with_capacity(found.messages.len());
            for hit in found.messages {
                let conversation = cache.conversation(&hit.message.conversation_id)?;
                let title = match &conversation {
                    Some(c) => match cache.contact_by_number(&c.contact_number)? {
                        Some(k) => contact_view(k).name,
                        None => c.contact_number.clone(),
                    },
                    None => String::new(),
                };
                messages.push(MessageHitView {
                    conversation_id: hit.message.conversation_id.clone(),
                    message_id: hit.message.id.clone(),
                    title,
                    at: hit.message.created_at.clone(),
                    parts: text_parts(hit.fragments),
                });
            }
            Ok(SearchView {
                messages,
                contacts: found.contacts.into_iter().map(contact_view).collect(),
            })
        })
        .await
    }

    pub async fn calls(&self, filter: CallFilterView) -> Result<CallPage, ApiError> {
        let mut query = CallQuery::default();
        match filter.kind {
            CallKindFilter::All => {}
            CallKindFilter::Missed => query.status = Some(CallStatus::Missed.as_str().to_owned()),
            CallKindFilter::Incoming => query.kind = Some("incoming".into()),
            CallKindFilter::Outgoing => query.kind = Some("outgoing".into()),
        }
        query.from_ms = filter
            .from_date
            .as_deref()
            .map(|d| day_ms(d, "The first day"))
            .transpose()?;
        query.until_ms = filter
            .to_date
            .as_deref()
            .map(|d| day_ms(d, "The last day").map(|ms| ms + 86_400_000))
            .transpose()?;
        let before = filter.cursor.as_deref().map(split_cursor).transpose()?;
        self.read(move |cache, _| {
            let mut calls = cache.calls(
                &query,
                before.as_ref().map(|(ms, id)| (*ms, id.as_str())),
                PAGE + 1,
            )?;
            let more = calls.len() > PAGE;
            calls.truncate(PAGE);
            let next = calls
                .last()
                .filter(|_| more)
                .map(|c| format!("{}.{}", ms_of(&c.start_time), c.id));
            let mut items = Vec::with_capacity(calls.len());
            for call in calls {
                let other = if call.kind == upzento_domain::resources::CallType::Incoming {
                    &call.from
                } else {
                    &call.to
                };
                let contact = cache.contact_by_number(other)?;
                items.push(call_view(call, contact));
            }
            Ok(CallPage { items, next })
        })
        .await
    }

    pub async fn call(&self, id: String) -> Result<CallView, ApiError> {
        let view = self
            .read(move |cache, _| {
                let Some(call) = cache.call(&id)? else {
                    return Ok(None);
                };
                let other = if call.kind == upzento_domain::resources::CallType::Incoming {
                    call.from.clone()
                } else {
                    call.to.clone()
                };
                let contact = cache.contact_by_number(&other)?;
                Ok(Some(call_view(call, contact)))
            })
            .await?;
        view.ok_or_else(|| {
            ApiError::new(ErrorCode::InvalidInput, "That call is not here (any more).")
        })
    }
}

/// Templates as pickers list them: the most used first, then by name.
fn most_used_first(templates: &mut [SmsTemplate]) {
    templates.sort_by(|a, b| {
        b.usage_count
            .cmp(&a.usage_count)
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
    });
}
