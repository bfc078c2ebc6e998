//! What the Inbox, Calls and search screens show: view models made from the
//! cache's records, shaped for the UI (names resolved, times as RFC 3339).

use serde::{Deserialize, Serialize};
use upzento_client::cache::{Fragment, InboxRow, OutboxItem};
use upzento_client::sync::{SyncEvent, SyncStatus};
use upzento_domain::resources::{
    Call, CallType, Contact, Conversation, ConversationStatus, Direction, MessageStatus, SmsMessage,
};
use upzento_domain::sms::Encoding;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum InboxFilterView {
    #[default]
    All,
    Open,
    Closed,
    Mine,
    Snoozed,
    /// Open work of the user's teams.
    Teams,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct InboxItem {
    pub id: String,
    /// The contact's name, else the number.
    pub title: String,
    pub contact_number: String,
    pub preview: Option<String>,
    pub last_activity_at: String,
    pub unread: u32,
    /// Messages of this conversation waiting in the outbox.
    pub pending: u32,
    pub open: bool,
    pub assigned_to_me: bool,
    /// Out of the inbox until then.
    pub snoozed_until: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct InboxPage {
    pub items: Vec<InboxItem>,
    /// Pass back for the next page; `null` at the end.
    pub next: Option<String>,
    /// How many conversations each filter shows, for the filter buttons.
    pub counts: InboxCounts,
}

/// How many conversations each inbox filter shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct InboxCounts {
    pub all: u32,
    pub open: u32,
    pub closed: u32,
    pub mine: u32,
    pub snoozed: u32,
    pub teams: u32,
}

impl From<upzento_client::cache::InboxCounts> for InboxCounts {
    fn from(c: upzento_client::cache::InboxCounts) -> Self {
        let n = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
        Self {
            all: n(c.all),
            open: n(c.open),
            closed: n(c.closed),
            mine: n(c.mine),
            snoozed: n(c.snoozed),
            teams: n(c.teams),
        }
    }
}

pub fn inbox_item(row: InboxRow, me: &str) -> InboxItem {
    let c = row.conversation;
    InboxItem {
        title: row.contact_name.unwrap_or_else(|| c.contact_number.clone()),
        id: c.id,
        contact_number: c.contact_number,
        preview: c.last_message_preview,
        last_activity_at: c.last_activity_at,
        unread: u32::try_from(row.unread).unwrap_or(u32::MAX),
        pending: u32::try_from(row.pending).unwrap_or(u32::MAX),
        open: c.status == ConversationStatus::Open,
        assigned_to_me: c.assigned_to.as_deref() == Some(me),
        snoozed_until: c.snoozed_until,
    }
}

/// Where a message stands, as the conversation view draws it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum MessageState {
    /// In the outbox: not yet accepted by the cloud.
    Pending,
    /// Refused by the cloud for good; can be retried or discarded.
    NotSent,
    Queued,
    Sent,
    Delivered,
    Failed,
    Received,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub id: String,
    pub body: String,
    pub outbound: bool,
    pub state: MessageState,
    pub at: String,
    /// Why it failed, in words.
    pub error: Option<String>,
    pub segments: u32,
    pub unicode: bool,
    /// The outbox key of a pending or unsent message (to retry or discard it).
    pub outbox_key: Option<String>,
}

pub fn message_view(m: SmsMessage) -> MessageView {
    MessageView {
        state: match m.status {
            MessageStatus::Queued => MessageState::Queued,
            MessageStatus::Sent => MessageState::Sent,
            MessageStatus::Delivered => MessageState::Delivered,
            MessageStatus::Failed => MessageState::Failed,
            MessageStatus::Received => MessageState::Received,
        },
        error: m.error_message.or(m.error_code),
        id: m.id,
        body: m.message,
        outbound: m.direction == Direction::Outbound,
        at: m.created_at,
        segments: m.segments,
        unicode: m.encoding == Encoding::Ucs2,
        outbox_key: None,
    }
}

pub fn outbox_view(item: OutboxItem, at: String) -> MessageView {
    let segments = upzento_domain::sms::segments(&item.body);
    let failed = item.state == "failed";
    MessageView {
        id: item.key.clone(),
        outbound: true,
        state: if failed {
            MessageState::NotSent
        } else {
            MessageState::Pending
        },
        at,
        error: if failed {
            item.error_message.or(item.error_code)
        } else {
            None
        },
        body: item.body,
        segments: segments.segments,
        unicode: segments.encoding == Encoding::Ucs2,
        outbox_key: Some(item.key),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ContactView {
    pub id: String,
    pub name: String,
    pub numbers: Vec<String>,
    pub email: Option<String>,
    pub tags: Vec<String>,
    pub opted_out: bool,
}

pub fn contact_view(c: Contact) -> ContactView {
    let name = c.full_name();
    ContactView {
        id: c.id,
        name,
        numbers: c.phone_numbers,
        email: c.email,
        tags: c.tags,
        opted_out: c.opted_out,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ConversationView {
    pub id: String,
    pub title: String,
    pub contact_number: String,
    pub our_number: String,
    pub open: bool,
    pub assigned_to_me: bool,
    /// The user it is assigned to (any teammate), if anyone.
    pub assigned_to: Option<String>,
    /// The team it belongs to, if any.
    pub team_id: Option<String>,
    pub contact: Option<ContactView>,
    /// Oldest first: the newest is at the bottom.
    pub messages: Vec<MessageView>,
    /// Whether older messages can be loaded.
    pub has_older: bool,
    /// The latest calls with the contact's number, newest first.
    pub recent_calls: Vec<CallView>,
    /// The team's internal notes, oldest first (shown among the messages by time).
    pub notes: Vec<NoteView>,
    /// Out of the inbox until then.
    pub snoozed_until: Option<String>,
}

/// Someone of the tenant to assign work to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct TeammateView {
    pub id: String,
    pub name: String,
    /// The signed-in user.
    pub me: bool,
    /// Offline when unknown (the cloud cannot be reached).
    pub presence: crate::people::PresenceView,
}

/// A user of the tenant as Settings › Team lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct TeamMemberView {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: crate::dto::UserRole,
    pub active: bool,
    /// The signed-in user.
    pub me: bool,
    pub presence: crate::people::PresenceView,
}

/// A template as the composer offers it: rendered for the conversation's contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct TemplateView {
    pub id: String,
    pub name: String,
    /// The text this contact would get.
    pub text: String,
    pub usage_count: u32,
}

pub fn conversation_view(
    c: Conversation,
    me: &str,
    contact: Option<Contact>,
    messages: Vec<MessageView>,
    has_older: bool,
) -> ConversationView {
    let contact = contact.map(contact_view);
    ConversationView {
        title: contact
            .as_ref()
            .map_or_else(|| c.contact_number.clone(), |k| k.name.clone()),
        id: c.id,
        contact_number: c.contact_number,
        our_number: c.our_number,
        open: c.status == ConversationStatus::Open,
        assigned_to_me: c.assigned_to.as_deref() == Some(me),
        assigned_to: c.assigned_to.clone(),
        team_id: c.team_id.clone(),
        contact,
        messages,
        has_older,
        recent_calls: Vec::new(),
        notes: Vec::new(),
        snoozed_until: c.snoozed_until,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum CallKindFilter {
    #[default]
    All,
    Missed,
    Incoming,
    Outgoing,
}

#[derive(Debug, Clone, Default, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct CallFilterView {
    #[serde(default)]
    pub kind: CallKindFilter,
    /// First day shown, `YYYY-MM-DD` (UTC).
    pub from_date: Option<String>,
    /// Last day shown, `YYYY-MM-DD` (UTC).
    pub to_date: Option<String>,
    /// `next` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct CallView {
    pub id: String,
    pub incoming: bool,
    /// `completed`, `missed`, `voicemail`, `failed`.
    pub status: String,
    /// The other party's number.
    pub number: String,
    pub contact_name: Option<String>,
    pub start_time: String,
    pub duration_seconds: Option<u32>,
    pub notes: Option<String>,
    /// The teammate following it up.
    pub assigned_to: Option<String>,
    /// The tenant's number (line) the call was on, for texting back from the same one.
    pub phone_number_id: Option<String>,
    /// What its wrap-up filed it under, and its tags.
    pub disposition_id: Option<String>,
    pub tags: Vec<String>,
    pub wrapped_up: bool,
}

pub fn call_view(c: Call, contact: Option<Contact>) -> CallView {
    let incoming = c.kind == CallType::Incoming;
    CallView {
        number: if incoming { c.from } else { c.to },
        id: c.id,
        incoming,
        status: c.status.as_str().to_owned(),
        contact_name: contact.map(|k| contact_view(k).name),
        start_time: c.start_time,
        duration_seconds: c.duration,
        notes: c.notes,
        assigned_to: c.assigned_to,
        phone_number_id: c.phone_number_id,
        disposition_id: c.disposition_id,
        tags: c.tags,
        wrapped_up: c.wrapped_up_at.is_some(),
    }
}

/// One note of a call's timeline or of a conversation: who wrote what, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct NoteView {
    pub id: String,
    pub author_id: String,
    /// Written by the signed-in user.
    pub mine: bool,
    pub text: String,
    pub at: String,
}

fn note_view(id: String, author_id: String, text: String, at: String, me: &str) -> NoteView {
    NoteView {
        mine: author_id == me,
        id,
        author_id,
        text,
        at,
    }
}

pub fn call_note_view(n: upzento_domain::resources::CallNote, me: &str) -> NoteView {
    note_view(n.id, n.author_id, n.text, n.created_at, me)
}

pub fn conversation_note_view(
    n: upzento_domain::resources::ConversationNote,
    me: &str,
) -> NoteView {
    note_view(n.id, n.author_id, n.text, n.created_at, me)
}

/// Who is calling, for the screen-pop on a ringing or active call: the contact with the
/// number, the latest conversation with it and the last calls; an unknown number has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct CallerView {
    /// E.164, when the remote party is a phone number.
    pub number: Option<String>,
    pub contact: Option<ContactView>,
    pub last_conversation: Option<CallerConversationView>,
    /// Newest first, at most three.
    pub recent_calls: Vec<CallView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct CallerConversationView {
    pub id: String,
    pub preview: Option<String>,
    pub last_activity_at: String,
    pub open: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct CallPage {
    pub items: Vec<CallView>,
    pub next: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct TextPart {
    pub text: String,
    pub hit: bool,
}

pub fn text_parts(fragments: Vec<Fragment>) -> Vec<TextPart> {
    fragments
        .into_iter()
        .map(|f| TextPart {
            text: f.text,
            hit: f.hit,
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct MessageHitView {
    pub conversation_id: String,
    pub message_id: String,
    /// Who the conversation is with.
    pub title: String,
    pub at: String,
    pub parts: Vec<TextPart>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct SearchView {
    pub messages: Vec<MessageHitView>,
    pub contacts: Vec<ContactView>,
}

/// The sync as the status bar shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum SyncState {
    /// Not signed in: nothing to sync.
    Idle,
    Syncing,
    Online,
    Offline,
    /// The cloud no longer accepts the token: sign in again.
    SignedOut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct SyncView {
    pub state: SyncState,
    /// When offline: seconds to the next attempt.
    pub retry_in_seconds: Option<u32>,
    /// Numbers the changes of the state: an answer to `syncStatus` may reach the UI after
    /// a later event, and the UI keeps the highest revision it has seen.
    pub revision: u32,
}

/// The view of `status` (`None`: no session), numbered `revision`.
pub fn sync_view(status: Option<SyncStatus>, revision: u32) -> SyncView {
    let (state, retry) = match status {
        None => (SyncState::Idle, None),
        Some(SyncStatus::Syncing) => (SyncState::Syncing, None),
        Some(SyncStatus::Online) => (SyncState::Online, None),
        Some(SyncStatus::Offline { retry_in_ms }) => (
            SyncState::Offline,
            Some(u32::try_from(retry_in_ms.div_ceil(1000)).unwrap_or(u32::MAX)),
        ),
        Some(SyncStatus::SignedOut) => (SyncState::SignedOut, None),
    };
    SyncView {
        state,
        retry_in_seconds: retry,
        revision,
    }
}

/// What the UI hears without asking (the shell emits it as a Tauri event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(
    rename_all = "camelCase",
    tag = "kind",
    rename_all_fields = "camelCase"
)]
pub enum AppEvent {
    Sync {
        sync: SyncView,
    },
    /// Cached data changed: refresh what shows these.
    Changed {
        conversations: Vec<String>,
        entities: Vec<String>,
    },
    Outbox,
    StorageError {
        message: String,
    },
    /// The user picked Reply on a notification: open the quick-reply window.
    QuickReply {
        conversation_id: String,
    },
    /// The user clicked a notification: show this conversation.
    OpenConversation {
        conversation_id: String,
    },
    /// SIP accounts or calls changed.
    Phone {
        phone: crate::phone::PhoneView,
    },
    /// A call is ringing here: show the window's incoming-call panel.
    IncomingCall {
        id: String,
    },
    /// The call was answered from its notification: bring the window forward.
    ShowCall {
        id: String,
    },
    /// A `tel:`/`sip:` link was opened: show the dialer with this number.
    Dial {
        number: String,
    },
    /// The agent's own presence changed (chosen, a call, idle).
    Presence {
        me: crate::people::MyPresenceView,
    },
}

/// The UI event of a sync event; `None` for a status change, which the `Api` numbers
/// and publishes itself (`Api::publish_sync`).
pub fn app_event(e: SyncEvent) -> Option<AppEvent> {
    Some(match e {
        SyncEvent::Status { .. } => return None,
        SyncEvent::Changed {
            entities,
            conversations,
            ..
        } => AppEvent::Changed {
            conversations,
            entities,
        },
        SyncEvent::Outbox => AppEvent::Outbox,
        SyncEvent::StorageError { message } => AppEvent::StorageError { message },
    })
}
