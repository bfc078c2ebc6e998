//! Wire DTOs of the `/phone-sms` resources (JSON, camelCase). Times are RFC 3339 UTC strings.
//!
//! `New*` bodies create, `*Patch` bodies update: a field left out stays as it is, a
//! nullable field sent as `null` is cleared. Unknown fields are refused.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Distinguishes "absent" (None) from "null" (Some(None)) in PATCH bodies.
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A whole number, also when written `46.0` (JSON Schema's integers include it, and some
/// clients write every number so).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn whole<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let Some(value) = Option::<f64>::deserialize(d)? else {
        return Ok(None);
    };
    if value.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&value) {
        Ok(Some(value as u32))
    } else {
        Err(serde::de::Error::custom(format!(
            "{value} is not a whole number from 0 to {}",
            u32::MAX
        )))
    }
}

/// [`whole`] in a PATCH body, where `null` clears the value.
fn present_whole<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    whole(d).map(Some)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum NumberStatus {
    Active,
    Inactive,
}

impl NumberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }
}

/// A phone number of the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumber {
    pub id: String,
    /// E.164, e.g. `+14155552671`.
    pub number: String,
    /// What the number is for: Main, Support, Marketing, ...
    #[serde(rename = "type")]
    pub kind: String,
    pub location: Option<String>,
    /// User id of the agent the number is assigned to.
    pub assigned_to: Option<String>,
    /// The team that owns it (its conversations belong to that team).
    #[serde(default)]
    pub team_id: Option<String>,
    pub status: NumberStatus,
    /// E.164 number calls are forwarded to.
    pub call_forwarding: Option<String>,
    pub voicemail: bool,
    pub sms_enabled: bool,
    /// Decimal amount in the tenant's currency, e.g. `"1.15"`.
    pub monthly_fee: Option<String>,
    /// Calendar date, `YYYY-MM-DD`.
    pub purchase_date: Option<String>,
    /// SMS segments a minute this number may send, shared by every server node; absent:
    /// by its kind (a long code 60, toll-free 180, a short code 6,000).
    #[serde(default)]
    pub send_per_minute: Option<u32>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewPhoneNumber {
    /// Any common notation with a country code; stored as E.164.
    pub number: String,
    #[serde(rename = "type")]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 40, pattern = r"\S")
    )]
    pub kind: String,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub assigned_to: Option<String>,
    /// The team that owns it.
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub status: Option<NumberStatus>,
    #[serde(default)]
    pub call_forwarding: Option<String>,
    #[serde(default)]
    pub voicemail: Option<bool>,
    #[serde(default)]
    pub sms_enabled: Option<bool>,
    #[serde(default)]
    pub monthly_fee: Option<String>,
    #[serde(default)]
    pub purchase_date: Option<String>,
    /// SMS segments a minute it may send (1 to 60,000); absent: by its kind.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 60000))]
    pub send_per_minute: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PhoneNumberPatch {
    #[serde(default, rename = "type")]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 40, pattern = r"\S")
    )]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub location: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub assigned_to: Option<Option<String>>,
    /// The team that owns it (`null`: none).
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub team_id: Option<Option<String>>,
    #[serde(default)]
    pub status: Option<NumberStatus>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub call_forwarding: Option<Option<String>>,
    #[serde(default)]
    pub voicemail: Option<bool>,
    #[serde(default)]
    pub sms_enabled: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub monthly_fee: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub purchase_date: Option<Option<String>>,
    /// SMS segments a minute it may send (1 to 60,000; `null`: by its kind).
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u32>, minimum = 1, maximum = 60000))]
    pub send_per_minute: Option<Option<u32>>,
}

/// A reusable SMS text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SmsTemplate {
    pub id: String,
    pub name: String,
    pub message: String,
    pub usage_count: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// `POST /phone-sms/templates/preview`: a saved template or a draft text, rendered for a
/// real contact (or with the fallbacks when none is given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(untagged)]
pub enum TemplatePreviewRequest {
    Saved(SavedTemplatePreview),
    Draft(DraftTemplatePreview),
}

/// A saved template, for a contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SavedTemplatePreview {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub template_id: String,
    /// The contact whose values fill the placeholders.
    #[serde(default)]
    pub contact_id: Option<String>,
}

/// A draft text (while writing a template or a campaign), for a contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DraftTemplatePreview {
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 1600, pattern = r"\S")
    )]
    pub message: String,
    #[serde(default)]
    pub contact_id: Option<String>,
}

/// The text as the contact would get it, and what it costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TemplatePreview {
    pub text: String,
    pub characters: u32,
    pub encoding: crate::sms::Encoding,
    pub segments: u32,
    /// Characters that make the text UCS-2 (70 per part instead of 160).
    pub non_gsm_characters: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewSmsTemplate {
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 100, pattern = r"\S")
    )]
    pub name: String,
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 1600, pattern = r"\S")
    )]
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SmsTemplatePatch {
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 100, pattern = r"\S")
    )]
    pub name: Option<String>,
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 1600, pattern = r"\S")
    )]
    pub message: Option<String>,
}

/// A person the tenant talks to (the CRM's Contacts module, as far as Phone & SMS needs it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub id: String,
    pub first_name: String,
    pub last_name: Option<String>,
    /// E.164 numbers, the first one is the main number. A number belongs to one contact.
    pub phone_numbers: Vec<String>,
    pub email: Option<String>,
    pub tags: Vec<String>,
    /// IANA time zone, e.g. `America/New_York`: quiet hours are computed in it.
    pub time_zone: Option<String>,
    /// Set when the contact opted out of SMS (STOP and the like); sends are refused then.
    pub opted_out: bool,
    pub opted_out_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Contact {
    /// First and last name, as lists and conversations show the contact.
    pub fn full_name(&self) -> String {
        match &self.last_name {
            Some(last) if !last.trim().is_empty() => format!("{} {}", self.first_name, last.trim()),
            _ => self.first_name.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewContact {
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 100, pattern = r"\S")
    )]
    pub first_name: String,
    #[serde(default)]
    pub last_name: Option<String>,
    /// Any common notation with a country code; stored as E.164.
    #[serde(default)]
    pub phone_numbers: Vec<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Tag>, max_items = 20))]
    pub tags: Vec<String>,
    #[serde(default)]
    pub time_zone: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContactPatch {
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 100, pattern = r"\S")
    )]
    pub first_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub last_name: Option<Option<String>>,
    /// Replaces all numbers.
    #[serde(default)]
    pub phone_numbers: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub email: Option<Option<String>>,
    /// Replaces all tags.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Tag>>, max_items = 20))]
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub time_zone: Option<Option<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ConversationStatus {
    Open,
    Closed,
}

impl ConversationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Self::Open),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

/// The SMS thread between one of the tenant's numbers and one outside number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    pub id: String,
    /// The tenant's number (`null` once that number was released).
    pub phone_number_id: Option<String>,
    /// E.164 of the tenant's number.
    pub our_number: String,
    /// E.164 of the other party.
    pub contact_number: String,
    pub contact_id: Option<String>,
    pub status: ConversationStatus,
    pub assigned_to: Option<String>,
    /// The team it belongs to.
    #[serde(default)]
    pub team_id: Option<String>,
    pub last_message_at: Option<String>,
    /// The start of the last message's text.
    pub last_message_preview: Option<String>,
    /// Time of the last message or change of state: the inbox's sort key.
    pub last_activity_at: String,
    /// Inbound messages the caller has not read (API answers only; absent in the change feed,
    /// which carries each user's `conversationRead` marker instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread_count: Option<i64>,
    /// Out of the inbox until then (a message from the other side brings it back sooner).
    #[serde(default)]
    pub snoozed_until: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// `PATCH /phone-sms/conversations/{id}/snooze`: out of the inbox until `until`, or back
/// now (`null`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Snooze {
    /// RFC 3339, in the future.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub until: Option<String>,
}

/// A note in a conversation for the team: shown with its messages, never sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConversationNote {
    pub id: String,
    pub conversation_id: String,
    /// The user who wrote it.
    pub author_id: String,
    pub text: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A conversation's internal notes, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConversationNoteList {
    pub items: Vec<ConversationNote>,
}

/// How far one user has read a conversation: inbound messages after `readAt` are unread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConversationRead {
    pub conversation_id: String,
    pub user_id: String,
    pub read_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewConversation {
    /// Id of the tenant's number to write from.
    pub phone_number_id: String,
    /// The other party, any notation with a country code.
    pub contact_number: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConversationStatusUpdate {
    pub status: ConversationStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Assignment {
    /// The user to assign to; `null` unassigns.
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub user_id: Option<String>,
    /// Conversations: the team it belongs to (absent: kept as it is; `null`: no team). A
    /// user and a team together: the team's conversation, taken by one of its people.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, min_length = 1))]
    pub team_id: Option<Option<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "inbound" => Some(Self::Inbound),
            "outbound" => Some(Self::Outbound),
            _ => None,
        }
    }
}

/// Where a message is on its way: outbound `queued → sent → delivered` (or `failed`),
/// inbound `received`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    Queued,
    Sent,
    Delivered,
    Failed,
    Received,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Received => "received",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "queued" => Some(Self::Queued),
            "sent" => Some(Self::Sent),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            "received" => Some(Self::Received),
            _ => None,
        }
    }

    /// Whether a message may move from `self` to `next`: only forward, never out of a final state.
    pub fn may_become(self, next: Self) -> bool {
        use MessageStatus::{Delivered, Failed, Queued, Received, Sent};
        matches!(
            (self, next),
            (Queued, Sent | Delivered | Failed) | (Sent, Delivered | Failed)
        ) || (self == next && self != Received)
    }
}

/// One SMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SmsMessage {
    pub id: String,
    pub conversation_id: String,
    pub phone_number_id: Option<String>,
    pub contact_id: Option<String>,
    pub direction: Direction,
    /// The text (the seed calls it `message`).
    pub message: String,
    pub status: MessageStatus,
    /// Why it failed, as a stable code (`opted_out`, `invalid_number`, ...).
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub encoding: crate::sms::Encoding,
    pub segments: u32,
    pub campaign_id: Option<String>,
    /// The user who sent it (outbound).
    pub sent_by: Option<String>,
    pub provider: String,
    pub provider_message_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// `POST /phone-sms/messages`: send `message` in a conversation, or to `to` from `phoneNumberId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewSmsMessage {
    #[serde(default)]
    pub conversation_id: Option<String>,
    #[serde(default)]
    pub phone_number_id: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 1600, pattern = r"\S")
    )]
    pub message: String,
    /// The template the text came from: its `usageCount` goes up by one.
    #[serde(default)]
    pub template_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MessageStatusUpdate {
    pub status: MessageStatus,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum CallType {
    Incoming,
    Outgoing,
}

impl CallType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incoming => "incoming",
            Self::Outgoing => "outgoing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "incoming" => Some(Self::Incoming),
            "outgoing" => Some(Self::Outgoing),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum CallStatus {
    Completed,
    Missed,
    Voicemail,
    Failed,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Missed => "missed",
            Self::Voicemail => "voicemail",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "completed" => Some(Self::Completed),
            "missed" => Some(Self::Missed),
            "voicemail" => Some(Self::Voicemail),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// A call in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Call {
    pub id: String,
    pub phone_number_id: Option<String>,
    /// Found through the other party's number when a contact has it.
    pub contact_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: CallType,
    pub status: CallStatus,
    /// E.164 of the caller.
    pub from: String,
    /// E.164 of the callee.
    pub to: String,
    /// Seconds of conversation.
    pub duration: Option<u32>,
    pub recording_url: Option<String>,
    pub notes: Option<String>,
    pub assigned_to: Option<String>,
    pub start_time: String,
    pub end_time: Option<String>,
    /// The SIP Call-ID: posting the same one again returns the existing record.
    pub sip_call_id: Option<String>,
    /// The outcome the agent filed the call under in its wrap-up.
    #[serde(default)]
    pub disposition_id: Option<String>,
    /// Tags the agent gave the call in its wrap-up.
    #[serde(default)]
    pub tags: Vec<String>,
    /// When its wrap-up was saved, and by whom (`None`: not wrapped up).
    #[serde(default)]
    pub wrapped_up_at: Option<String>,
    #[serde(default)]
    pub wrapped_up_by: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewCall {
    #[serde(default)]
    pub phone_number_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: CallType,
    pub status: CallStatus,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub from: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub to: String,
    /// RFC 3339.
    pub start_time: String,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(maximum = 86400))]
    pub duration: Option<u32>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 255))]
    pub sip_call_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallStatusUpdate {
    pub status: CallStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallNotes {
    /// The call's notes; `null` or empty clears them.
    pub notes: Option<String>,
}

/// One entry of a call's notes timeline: who wrote what, when. Notes are added, never
/// overwritten, so a call's story keeps every agent's word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CallNote {
    pub id: String,
    pub call_id: String,
    /// The user who wrote it.
    pub author_id: String,
    pub text: String,
    pub created_at: String,
    pub updated_at: String,
}

/// `POST /phone-sms/calls/{id}/notes` and `POST /phone-sms/conversations/{id}/notes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewNote {
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 5000, pattern = r"\S")
    )]
    pub text: String,
}

/// A call's notes, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CallNoteList {
    pub items: Vec<CallNote>,
}

/// An outcome a tenant files its calls under ("Resolved", "Sale", "Call back"…), picked
/// by the agent in a call's wrap-up. Archived ones stay on the calls that used them and
/// are no longer offered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Disposition {
    pub id: String,
    pub name: String,
    /// Where it is offered in the list, smallest first.
    pub position: u32,
    pub archived: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// A team: named people who share work. A team can own phone numbers and conversations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Team {
    pub id: String,
    pub name: String,
    /// Its people's user ids.
    pub member_ids: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// `POST /phone-sms/teams` (admins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewTeam {
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 60, pattern = r"\S")
    )]
    pub name: String,
    /// Active users of the tenant.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 500))]
    pub member_ids: Vec<String>,
}

/// `PATCH /phone-sms/teams/{id}` (admins): a new name, and the whole list of its people.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeamPatch {
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 60, pattern = r"\S")
    )]
    pub name: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 500))]
    pub member_ids: Option<Vec<String>>,
}

/// `POST /phone-sms/dispositions` (admins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewDisposition {
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 60, pattern = r"\S")
    )]
    pub name: String,
    /// Where it is offered; after the others when absent.
    #[serde(default, deserialize_with = "whole")]
    #[cfg_attr(feature = "openapi", schema(maximum = 1000))]
    pub position: Option<u32>,
}

/// `PATCH /phone-sms/dispositions/{id}` (admins).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DispositionPatch {
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 60, pattern = r"\S")
    )]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "whole")]
    #[cfg_attr(feature = "openapi", schema(maximum = 1000))]
    pub position: Option<u32>,
    #[serde(default)]
    pub archived: Option<bool>,
}

/// The tenant's dispositions, in their order (archived ones too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DispositionList {
    pub items: Vec<Disposition>,
}

/// `PUT /phone-sms/calls/{id}/wrap-up`: the agent's after-call work, saved in one go.
/// Putting it again replaces it (the same note and follow-up are changed, not added),
/// so a retried request changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WrapUp {
    #[serde(default)]
    pub disposition_id: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Tag>, max_items = 20))]
    pub tags: Vec<String>,
    /// Becomes the call's wrap-up note in its notes timeline.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 5000))]
    pub note: Option<String>,
    /// A task for the agent, due later (a call back, a quote to send…).
    #[serde(default)]
    pub follow_up: Option<NewFollowUp>,
}

/// The follow-up of a wrap-up: a task for the agent who wrapped the call up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewFollowUp {
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 200, pattern = r"\S")
    )]
    pub title: String,
    /// RFC 3339.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub due_at: String,
}

/// Something a user has to do by a time: a follow-up from a call's wrap-up, or one
/// added by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub id: String,
    pub title: String,
    pub due_at: String,
    /// Whose task it is.
    pub assignee_id: String,
    /// What it is about, when anything.
    pub call_id: Option<String>,
    pub contact_id: Option<String>,
    pub conversation_id: Option<String>,
    /// When it was done (`None`: still to do).
    pub done_at: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

/// `POST /phone-sms/tasks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewTask {
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 200, pattern = r"\S")
    )]
    pub title: String,
    /// RFC 3339.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub due_at: String,
    /// A user of the tenant; the caller when absent.
    #[serde(default)]
    pub assignee_id: Option<String>,
    #[serde(default)]
    pub call_id: Option<String>,
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(default)]
    pub conversation_id: Option<String>,
}

/// `PATCH /phone-sms/tasks/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskPatch {
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 200, pattern = r"\S")
    )]
    pub title: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub due_at: Option<String>,
    #[serde(default)]
    pub assignee_id: Option<String>,
    /// Done (now) or to do again.
    #[serde(default)]
    pub done: Option<bool>,
}

/// The tenant's settings of the Phone & SMS module (one record per tenant, its id the
/// tenant's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TenantSettings {
    pub id: String,
    /// Seconds an agent has for a call's wrap-up before it is saved as it stands
    /// (`None`: as long as they need).
    pub wrap_up_seconds: Option<u32>,
    /// The hours of each recipient's day campaigns may text in, `HH:MM` to `HH:MM`: the
    /// law's 08:00 to 21:00, or narrower.
    #[serde(default = "campaign_hours_start")]
    pub campaign_hours_start: String,
    #[serde(default = "campaign_hours_end")]
    pub campaign_hours_end: String,
    pub updated_at: String,
}

pub fn campaign_hours_start() -> String {
    "08:00".into()
}

pub fn campaign_hours_end() -> String {
    "21:00".into()
}

/// `PATCH /phone-sms/settings` (admins).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantSettingsPatch {
    #[serde(default, deserialize_with = "present_whole")]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<u32>, minimum = 10, maximum = 3600)
    )]
    pub wrap_up_seconds: Option<Option<u32>>,
    /// `HH:MM`, from 08:00, before the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[0-2][0-9]:[0-5][0-9]$"))]
    pub campaign_hours_start: Option<String>,
    /// `HH:MM`, up to 21:00, after the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[0-2][0-9]:[0-5][0-9]$"))]
    pub campaign_hours_end: Option<String>,
}

/// Where a campaign is: `draft → (scheduled →) active ⇄ paused → completed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum CampaignStatus {
    Draft,
    Scheduled,
    Active,
    Paused,
    Completed,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Scheduled => "scheduled",
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(Self::Draft),
            "scheduled" => Some(Self::Scheduled),
            "active" => Some(Self::Active),
            "paused" => Some(Self::Paused),
            "completed" => Some(Self::Completed),
            _ => None,
        }
    }

    /// Whether `PATCH .../status` may move a campaign from `self` to `next`. Scheduling
    /// goes through `PATCH .../schedule`; `completed` on a running campaign stops it.
    pub fn may_become(self, next: Self) -> bool {
        use CampaignStatus::{Active, Completed, Draft, Paused, Scheduled};
        matches!(
            (self, next),
            (Draft | Scheduled | Paused, Active)
                | (Scheduled, Draft)
                | (Active, Paused)
                | (Active | Paused, Completed)
        )
    }

    /// Whether recipients may still be added or removed.
    pub fn is_editable(self) -> bool {
        matches!(self, Self::Draft | Self::Scheduled | Self::Paused)
    }
}

/// How a campaign's recipients stand (live on every GET; absent in the change feed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CampaignStats {
    pub recipients: i64,
    /// Not handed to the carrier yet.
    pub pending: i64,
    pub queued: i64,
    pub sent: i64,
    pub delivered: i64,
    pub failed: i64,
    /// Not sent on purpose: opted out, stopped campaign, number gone.
    pub skipped: i64,
    /// Waiting for their allowed hours (quiet hours: 08:00-21:00 their time); part of
    /// `pending`.
    #[serde(default)]
    pub held: i64,
    /// Recipients who answered after the campaign texted them.
    pub replied: i64,
}

/// A bulk SMS send to a list of recipients, from one of the tenant's numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SmsCampaign {
    pub id: String,
    pub name: String,
    /// The text; may use `{{contact.firstName|there}}` and the like.
    pub message: String,
    pub status: CampaignStatus,
    /// The tenant's number the campaign sends from.
    pub phone_number_id: String,
    pub scheduled_for: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub tags: Vec<String>,
    /// An A/B test: two to five texts, each sent to its share of the recipients (by a
    /// split seeded with the campaign's id, so a recipient always gets the same one).
    /// Empty: everyone gets `message`, which otherwise is variant A's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<CampaignVariant>,
    /// Adds "Reply STOP to opt out." to the first text a contact gets from the tenant,
    /// unless the text already says how to opt out.
    #[serde(default)]
    pub opt_out_footer: bool,
    /// "Test, then send the winner": a sample gets the variants, the rest waits, then gets
    /// the variant that did best.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winner_test: Option<WinnerTest>,
    /// The winning variant's key, once decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winner_decided_at: Option<String>,
    /// `HH:MM`: each recipient gets the text when it is that time in their own time zone
    /// (the first such moment after the start); absent: as soon as it starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_send_time: Option<String>,
    /// Several of the tenant's numbers to send from (the first is `phone_number_id`): a
    /// recipient gets the number that texted them before, else one of their area code,
    /// else of their country. Empty: `phone_number_id` alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sender_pool: Vec<String>,
    pub created_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<CampaignStats>,
    pub created_at: String,
    pub updated_at: String,
}

/// How an A/B test picks the variant the rest of the recipients get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WinnerTest {
    /// Percent of the recipients in the test sample (5 to 50).
    #[cfg_attr(feature = "openapi", schema(minimum = 5, maximum = 50))]
    pub sample_percent: u32,
    /// How long after the start the winner is decided, in minutes (5 to 10,080: a week).
    #[cfg_attr(feature = "openapi", schema(minimum = 5, maximum = 10080))]
    pub wait_minutes: u32,
    pub metric: WinnerMetric,
}

/// What makes a variant the winner. (Click rate comes with link tracking.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum WinnerMetric {
    ReplyRate,
}

/// One text of a campaign's A/B test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CampaignVariant {
    /// `A` to `E`, in order.
    pub key: String,
    pub message: String,
    /// Percent of the recipients; the variants' shares add up to 100.
    pub share: u32,
}

/// A variant as written: its key is its place in the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewCampaignVariant {
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 1600, pattern = r"\S")
    )]
    pub message: String,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 99))]
    pub share: u32,
}

/// `PATCH /phone-sms/campaigns/{id}`: what is given changes. A draft or scheduled
/// campaign may change anything; once it has started, only its name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SmsCampaignPatch {
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 100, pattern = r"\S")
    )]
    pub name: Option<String>,
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 1600, pattern = r"\S")
    )]
    pub message: Option<String>,
    pub phone_number_id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Tag>>, max_items = 20))]
    pub tags: Option<Vec<String>>,
    /// `[]` ends an A/B test (everyone gets `message`).
    #[cfg_attr(feature = "openapi", schema(max_items = 5))]
    pub variants: Option<Vec<NewCampaignVariant>>,
    pub opt_out_footer: Option<bool>,
    /// `null`: every recipient gets the split, no winner is picked.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<WinnerTest>))]
    pub winner_test: Option<Option<WinnerTest>>,
    /// `HH:MM` in each recipient's own time zone; `null`: as soon as it starts.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, pattern = r"^[0-9]{2}:[0-9]{2}$"))]
    pub local_send_time: Option<Option<String>>,
    /// `[]`: back to `phoneNumberId` alone.
    #[cfg_attr(feature = "openapi", schema(max_items = 20))]
    pub sender_pool: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewSmsCampaign {
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 100, pattern = r"\S")
    )]
    pub name: String,
    /// May be left empty in a draft (written later); a campaign starts only with a text.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 1600))]
    pub message: String,
    pub phone_number_id: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Tag>, max_items = 20))]
    pub tags: Vec<String>,
    /// An A/B test (two to five texts with shares adding up to 100); `message` is then
    /// ignored in favour of the first variant's.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 5))]
    pub variants: Vec<NewCampaignVariant>,
    /// See `SmsCampaign::opt_out_footer`; on unless turned off.
    #[serde(default)]
    pub opt_out_footer: Option<bool>,
    /// Test, then send the winner (needs variants).
    #[serde(default)]
    pub winner_test: Option<WinnerTest>,
    /// `HH:MM` in each recipient's own time zone.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[0-9]{2}:[0-9]{2}$"))]
    pub local_send_time: Option<String>,
    /// Numbers to send from (ids, up to 20); the first becomes `phoneNumberId`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 20))]
    pub sender_pool: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CampaignStatusUpdate {
    pub status: CampaignStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CampaignSchedule {
    /// When to start (RFC 3339, in the future); `null` unschedules (back to draft).
    pub scheduled_for: Option<String>,
}

/// `POST /phone-sms/campaigns/{id}/recipients`: contacts by id or tag, or bare numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewCampaignRecipients {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 1000))]
    pub contact_ids: Vec<String>,
    /// Every contact with one of these tags (the Contacts module's segments).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Tag>, max_items = 20))]
    pub tags: Vec<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 1000))]
    pub numbers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RecipientsAdded {
    pub added: i64,
    /// Already on the list (a number is texted once per campaign).
    pub duplicates: i64,
    /// Contacts that have no number.
    pub without_number: i64,
    /// Recipients on the list now.
    pub total: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RecipientStatus {
    Pending,
    Queued,
    Sent,
    Delivered,
    Failed,
    Skipped,
}

impl RecipientStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "queued" => Some(Self::Queued),
            "sent" => Some(Self::Sent),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            "skipped" => Some(Self::Skipped),
            _ => None,
        }
    }
}

/// One number on a campaign's list; its status follows its message once sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CampaignRecipient {
    pub id: String,
    pub campaign_id: String,
    pub contact_id: Option<String>,
    pub number: String,
    pub status: RecipientStatus,
    pub message_id: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// A pending recipient outside their allowed hours waits until this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_until: Option<String>,
    /// The name an imported file gave (used before the contact's in the text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// The imported file's other columns, for `{{fields.<name>}}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    /// The A/B variant (its key) the recipient was texted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// What a CSV import did (`POST /phone-sms/campaigns/{id}/recipients/csv`): each row is
/// added, already on the list, a duplicate of an earlier row, or invalid with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RecipientsImported {
    /// The encoding the file was read in (`UTF-8`, `UTF-16LE`, `windows-1252`, ...).
    pub encoding: String,
    /// The merge fields the file's extra columns give (`{{fields.<name>}}`).
    pub fields: Vec<String>,
    /// Rows with a valid number, the file's duplicates aside.
    pub valid: i64,
    pub added: i64,
    /// Valid rows whose number the campaign already had.
    pub already_listed: i64,
    /// Rows repeating an earlier row's number (row numbers as a spreadsheet counts them).
    pub duplicates: Vec<RowProblem>,
    pub invalid: Vec<RowProblem>,
    /// Recipients on the list now.
    pub total: i64,
}

/// How a campaign did (`GET /phone-sms/campaigns/{id}/analytics`): its texts' outcomes in
/// all, per A/B variant (each compared with variant A by a two-proportion test of the reply
/// rate), per sending number, failures by reason, and over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CampaignAnalytics {
    pub totals: OutcomeCounts,
    pub variants: Vec<VariantOutcome>,
    pub senders: Vec<SenderOutcome>,
    /// Failed texts by the reason's code, most first.
    pub failures: Vec<FailureCount>,
    /// The length of one point of `series`, in seconds.
    pub interval_seconds: i64,
    pub series: Vec<SeriesPoint>,
}

/// What became of a set of a campaign's texts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OutcomeCounts {
    /// Handed to the carrier.
    pub texted: i64,
    pub delivered: i64,
    pub failed: i64,
    /// Recipients who wrote back after it.
    pub replied: i64,
    /// Recipients who opted out after it.
    pub opted_out: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct VariantOutcome {
    pub key: String,
    pub share: u32,
    pub counts: OutcomeCounts,
    /// Replied of texted (0 to 1).
    pub reply_rate: f64,
    /// This variant's reply rate minus variant A's (absent for A).
    pub difference: Option<f64>,
    /// The two-sided p-value of that difference; absent while it cannot be told.
    pub p_value: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SenderOutcome {
    pub phone_number_id: Option<String>,
    pub counts: OutcomeCounts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FailureCount {
    pub code: String,
    pub count: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SeriesPoint {
    /// The interval's start (RFC 3339 would be longer: this is epoch milliseconds).
    pub start_ms: i64,
    pub sent: i64,
    pub delivered: i64,
    pub replied: i64,
}

/// Who a campaign would text, before it does (the wizard's audience report and review).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CampaignAudience {
    pub total: i64,
    /// Not handled yet.
    pub pending: i64,
    /// Opted out (they texted STOP, or their contact is marked so): skipped.
    pub opted_out: i64,
    /// On the tenant's do-not-contact list for another reason: skipped.
    pub do_not_contact: i64,
    /// Pending ones outside their allowed hours now: they get it when those open.
    pub outside_hours_now: i64,
    /// Pending ones whose allowed hours cannot be known (no lawful hour): skipped.
    pub no_lawful_hour: i64,
    /// The most text parts one recipient's message comes to, and all of them together
    /// (for pending recipients, by the text they will get).
    pub parts_max: i64,
    pub parts_total: i64,
}

/// Entity names in the change feed (`Change::entity`) and the audit log.
pub mod entity {
    pub const PHONE_NUMBER: &str = "phoneNumber";
    pub const SMS_TEMPLATE: &str = "smsTemplate";
    pub const CONTACT: &str = "contact";
    pub const CONVERSATION: &str = "conversation";
    pub const SMS_MESSAGE: &str = "smsMessage";
    pub const CALL: &str = "call";
    pub const CALL_NOTE: &str = "callNote";
    pub const CONVERSATION_NOTE: &str = "conversationNote";
    pub const DISPOSITION: &str = "disposition";
    pub const TASK: &str = "task";
    pub const TEAM: &str = "team";
    pub const TENANT_SETTINGS: &str = "tenantSettings";
    pub const SMS_CAMPAIGN: &str = "smsCampaign";
    pub const DO_NOT_CONTACT: &str = "doNotContact";
    /// A user's read marker in a conversation; its id is `<conversation id>:<user id>`.
    pub const CONVERSATION_READ: &str = "conversationRead";
    /// Audit only: recipient lists can be long and stay out of the feed.
    pub const CAMPAIGN_RECIPIENT: &str = "campaignRecipient";
    /// Audit only: sign-ins and tokens never enter the change feed.
    pub const TOKEN: &str = "token";
    /// Audit only: invitations of new users.
    pub const INVITATION: &str = "invitation";
    /// A user's availability (`wire::Presence`); its id is the user's. Live state: in the
    /// feed, not in the audit log.
    pub const PRESENCE: &str = "presence";
}

/// A change of a contact's SMS consent, kept after opt-out (CTIA, TCPA revocation rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConsentEvent {
    pub id: String,
    pub contact_id: String,
    /// The number the consent is about (E.164).
    pub number: String,
    /// `optOut` or `optIn`.
    pub kind: String,
    /// How it was given: `keyword` (an inbound STOP, START...), `admin`.
    pub method: String,
    /// The message that carried it.
    pub message: Option<String>,
    pub at: String,
}

/// `POST /phone-sms/sandbox/inbound`: an SMS the sandbox carrier "receives".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SandboxInbound {
    /// One of the tenant's numbers.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub to: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub from: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 1600))]
    pub body: String,
    /// The carrier's message id; the same id again is a repeated delivery (default: new).
    #[serde(default)]
    pub message_id: Option<String>,
}

/// How a number came onto the do-not-contact list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum DoNotContactSource {
    /// The person texted STOP (or another opt-out word); texting START takes it off.
    OptOut,
    /// Added by someone of the tenant, one by one.
    Manual,
    /// Added in a bulk import.
    Import,
}

impl DoNotContactSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OptOut => "optOut",
            Self::Manual => "manual",
            Self::Import => "import",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::OptOut, Self::Manual, Self::Import]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A number the tenant must not text: campaigns skip it (with the reason recorded) and a
/// one-to-one send to it is refused with 409 `do_not_contact`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DoNotContactEntry {
    pub id: String,
    /// E.164.
    pub number: String,
    pub reason: Option<String>,
    pub source: DoNotContactSource,
    /// Who added it; absent for an opt-out.
    pub created_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// `POST /phone-sms/do-not-contact`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewDoNotContact {
    /// Any common notation; stored as E.164.
    pub number: String,
    pub reason: Option<String>,
}

/// `POST /phone-sms/do-not-contact/import`: up to 10,000 numbers at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DoNotContactImport {
    pub numbers: Vec<String>,
    /// The reason recorded on each.
    pub reason: Option<String>,
}

/// A row of an import that was not taken, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RowProblem {
    /// 1-based position in what was sent.
    pub row: u32,
    pub value: String,
    pub reason: String,
}

/// What an import did: every row is added, a duplicate, or refused with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DoNotContactImported {
    pub added: u32,
    /// Already on the list, or twice in the import.
    pub duplicates: u32,
    pub invalid: Vec<RowProblem>,
}

/// One page of a list; pass `nextCursor` back as `cursor` for the next page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ChangeOp {
    Upsert,
    Delete,
}

/// One entry of the change feed: the record as it is after the change, or its deletion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub seq: i64,
    /// `phoneNumber`, `smsTemplate`, ...
    pub entity: String,
    pub id: String,
    pub op: ChangeOp,
    /// The record after an upsert; absent for a deletion.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub data: Option<serde_json::Value>,
    pub changed_at: String,
    /// This change brought the record into the caller's scope (it was handed to them or
    /// to their team): its history before it is not in the caller's feed; read it from
    /// the record's own endpoints (a conversation's messages and notes, a call's notes).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub entered_scope: bool,
}

/// `GET /phone-sms/changes?since=N`: changes after `since`, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChangeFeed {
    pub changes: Vec<Change>,
    /// Pass as `since` next time; equals the last change's `seq` (or the request's `since`).
    pub cursor: i64,
    /// Whether more changes wait right now.
    pub has_more: bool,
}

/// A row of the audit log: who changed what, when, from what to what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: String,
    pub actor_id: String,
    /// `create`, `update`, `delete`.
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub before: Option<serde_json::Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub after: Option<serde_json::Value>,
    pub at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_tells_absent_from_null() {
        let p: PhoneNumberPatch = serde_json::from_str(r#"{"location":null}"#).unwrap();
        assert_eq!(p.location, Some(None));
        assert_eq!(p.call_forwarding, None);
        let p: PhoneNumberPatch = serde_json::from_str(r#"{"location":"Paris"}"#).unwrap();
        assert_eq!(p.location, Some(Some("Paris".into())));
        assert!(serde_json::from_str::<PhoneNumberPatch>(r#"{"number":"+1"}"#).is_err());
    }

    #[test]
    fn a_whole_number_may_be_written_with_a_point_zero() {
        let d: NewDisposition = serde_json::from_str(r#"{"name":"Sale","position":46.0}"#).unwrap();
        assert_eq!(d.position, Some(46));
        let d: NewDisposition = serde_json::from_str(r#"{"name":"Sale","position":7}"#).unwrap();
        assert_eq!(d.position, Some(7));
        for bad in ["46.5", "-1", "1e10"] {
            let body = format!(r#"{{"name":"Sale","position":{bad}}}"#);
            assert!(
                serde_json::from_str::<NewDisposition>(&body).is_err(),
                "{bad}"
            );
        }
        let p: TenantSettingsPatch = serde_json::from_str(r#"{"wrapUpSeconds":null}"#).unwrap();
        assert_eq!(p.wrap_up_seconds, Some(None));
        let p: TenantSettingsPatch = serde_json::from_str(r#"{"wrapUpSeconds":60.0}"#).unwrap();
        assert_eq!(p.wrap_up_seconds, Some(Some(60)));
        let p: TenantSettingsPatch = serde_json::from_str("{}").unwrap();
        assert_eq!(p.wrap_up_seconds, None);
    }
}

/// A contact tag as the API takes it (the schema of `tags` items; the field stays a string).
/// (utoipa's derive cannot put length limits on a newtype, hence by hand.)
#[cfg(feature = "openapi")]
#[derive(Debug)]
pub struct Tag;

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Tag {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(40))
            .pattern(Some(r"\S"))
            .description(Some("A tag: 1 to 40 characters, not only spaces."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl ToSchema for Tag {}
