//! Wire DTOs of the public `/phone-sms` HTTP API (JSON, camelCase).

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Name the cloud reports in `GET /healthz`, so the client can tell an
/// Upzento cloud from some other web server at the same address.
pub const SERVICE_NAME: &str = "upzento-cloud";

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub status: String,
    pub service: String,
    pub version: String,
}

/// A user's role inside a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    /// Oversees agents: what an agent may, and the team's settings of work (outcomes,
    /// templates, the audit log).
    Supervisor,
    Agent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    /// Signed in with an initial password: nothing but choosing a new one is allowed
    /// until then (`POST /phone-sms/me/password`).
    #[serde(default)]
    pub password_change_required: bool,
    /// `false` once an admin deactivated them (listed, for reactivation and history).
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// `PATCH /phone-sms/users/{id}` (admins): a user's role, and deactivation or
/// reactivation. The tenant always keeps one active admin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub active: Option<bool>,
    /// Deactivating: the active user who takes over their open conversations and the calls
    /// they follow up (absent: nobody, they wait unassigned).
    #[serde(default)]
    pub reassign_to: Option<String>,
}

/// `POST /phone-sms/me/password`: the signed-in user replaces their password; their other
/// sessions and tokens end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordChange {
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub current_password: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 12, max_length = 256))]
    pub new_password: String,
}

/// Whether `text` looks like an email address (`local@domain.tld`, no spaces): what the
/// cloud and the app accept for a user's or a contact's email.
pub fn is_email(text: &str) -> bool {
    !text.chars().any(char::is_whitespace)
        && text.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
}

/// Why a new password is refused (`None`: it will do). Written once for the cloud, which
/// enforces it, and the app, which says it before sending.
pub fn password_problem(password: &str, email: &str) -> Option<&'static str> {
    let length = password.chars().count();
    if length < 12 {
        return Some("A password has at least 12 characters.");
    }
    if length > 256 {
        return Some("A password has at most 256 characters.");
    }
    let lower = password.to_lowercase();
    let local = email.split('@').next().unwrap_or_default().to_lowercase();
    if local.len() >= 3 && lower.contains(&local) {
        return Some("A password must not contain your email's name.");
    }
    if password
        .chars()
        .all(|c| c == password.chars().next().unwrap_or(c))
    {
        return Some("A password is not one character repeated.");
    }
    const COMMON: [&str; 6] = [
        "password", "123456", "qwerty", "letmein", "welcome", "upzento",
    ];
    if COMMON.iter().any(|c| lower.contains(c)) {
        return Some("That password is too easy to guess: avoid common words and sequences.");
    }
    None
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TenantInfo {
    pub id: String,
    pub name: String,
}

/// `POST /phone-sms/auth/token`: exchange a user's email and password for a bearer token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenRequest {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, pattern = r"\S"))]
    pub email: String,
    pub password: String,
    /// What is signing in, shown in the user's list of sessions (e.g. "Upzento Phone on
    /// ada-laptop").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 100))]
    pub device: Option<String>,
}

/// Answer to [`TokenRequest`]. `expires_at` is RFC 3339 UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    pub token: String,
    pub expires_at: String,
    pub user: UserInfo,
    pub tenant: TenantInfo,
}

/// `GET /phone-sms/me`: who the bearer token belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub user: UserInfo,
    pub tenant: TenantInfo,
}

/// `POST /phone-sms/auth/api-tokens`: a long-lived token for a machine or an integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiTokenRequest {
    /// What the token is for, e.g. "Zapier" or "Reception PC".
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 100, pattern = r"\S")
    )]
    pub label: String,
}

/// The new API token: shown this once, stored by the cloud only as a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApiTokenResponse {
    /// Names the token in `GET/DELETE /phone-sms/auth/api-tokens`.
    pub id: String,
    pub token: String,
    pub label: String,
    pub created_at: String,
}

/// An API token as listed: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApiTokenInfo {
    pub id: String,
    pub label: String,
    /// The user the token acts as.
    pub user_id: String,
    pub created_at: String,
}

/// `POST /phone-sms/invitations` (admins): invites someone by email with a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InvitationRequest {
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 3, max_length = 254, pattern = r"^[^@\s]+@[^@\s]+$")
    )]
    pub email: String,
    pub role: Role,
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum InvitationStatus {
    /// Waiting for the invited person (until `expiresAt`).
    Pending,
    Accepted,
    Revoked,
    /// Not accepted in time: resend it for a new code.
    Expired,
}

/// An invitation as admins list it (never its code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct InvitationInfo {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub status: InvitationStatus,
    /// The admin who sent it.
    pub invited_by: String,
    pub created_at: String,
    pub expires_at: String,
}

/// A new (or resent) invitation: its one-time code, shown this once (the cloud keeps only
/// its hash). The invited person enters it on the app's sign-in screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct InvitationIssued {
    pub invitation: InvitationInfo,
    pub code: String,
    /// The cloud emailed the invitation (it has an SMTP server configured, which took it).
    #[serde(default)]
    pub emailed: bool,
    /// Why it was not emailed, when the cloud tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_problem: Option<String>,
}

/// `POST /phone-sms/invitations/lookup`: what an invitation code is for, before accepting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InvitationLookup {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub code: String,
}

/// Answer to [`InvitationLookup`]: who is invited, to which tenant, as what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct InvitationPreview {
    pub email: String,
    pub role: Role,
    pub tenant: TenantInfo,
    pub expires_at: String,
}

/// `POST /phone-sms/invitations/accept`: the invited person chooses their name and password
/// and is signed in (the answer is a [`TokenResponse`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InvitationAcceptance {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub code: String,
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 100, pattern = r"\S")
    )]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 12, max_length = 256))]
    pub password: String,
    /// As in [`TokenRequest::device`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 100))]
    pub device: Option<String>,
}

/// A signed-in session of the caller (`GET /phone-sms/me/sessions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub id: String,
    /// What signed in, as it said (e.g. "Upzento Phone on ada-laptop"); empty when unsaid.
    pub device: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    /// The session this request came with.
    pub current: bool,
}

/// An agent's availability, for routing and for teammates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum PresenceStatus {
    Available,
    /// On a call (the softphone says so itself).
    Busy,
    /// Idle for a while, or chosen.
    Away,
    /// Do not disturb: takes no calls.
    Dnd,
    /// No live connection to the cloud.
    Offline,
}

impl PresenceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::Busy => "busy",
            Self::Away => "away",
            Self::Dnd => "dnd",
            Self::Offline => "offline",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Available,
            Self::Busy,
            Self::Away,
            Self::Dnd,
            Self::Offline,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// `PUT /phone-sms/me/presence`: the caller's status (`offline` is the cloud's to say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PresenceUpdate {
    pub status: PresenceStatus,
}

/// A user's presence as teammates see it: `offline` once no live connection has been
/// seen for a while, whatever was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Presence {
    pub user_id: String,
    pub status: PresenceStatus,
    /// When it last changed (absent: never connected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

/// Body of every 4xx/5xx answer of the cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_response_is_camel_case() {
        let body = TokenResponse {
            token: "t".into(),
            expires_at: "2026-01-01T00:00:00Z".into(),
            user: UserInfo {
                id: "u1".into(),
                name: "Ada".into(),
                email: "ada@example.com".into(),
                role: Role::Agent,
                password_change_required: false,
                active: true,
            },
            tenant: TenantInfo {
                id: "t1".into(),
                name: "Acme".into(),
            },
        };
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["expiresAt"], "2026-01-01T00:00:00Z");
        assert_eq!(json["user"]["role"], "agent");
    }

    #[test]
    fn emails_have_a_local_part_and_a_dotted_domain() {
        assert!(is_email("ann.lee@acme.test"));
        for bad in [
            "",
            "ann",
            "@acme.test",
            "ann@acme",
            "ann@.test",
            "ann@acme.",
            "a b@c.d",
            "a@b@c.d",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn a_password_is_long_and_not_easy_to_guess() {
        let email = "ann.lee@acme.test";
        assert_eq!(password_problem("correct horse battery", email), None);
        assert!(password_problem("short", email).is_some());
        assert!(password_problem("aaaaaaaaaaaaaaaa", email).is_some());
        assert!(password_problem("my-password-2026", email).is_some());
        assert!(password_problem("Ann.Lee-is-great!", email).is_some());
        assert!(password_problem(&"x".repeat(257), email).is_some());
        // Twelve characters of any script count as twelve.
        assert_eq!(password_problem("åäöåäöåäöåäx", email), None);
    }

    #[test]
    fn token_request_rejects_unknown_fields() {
        let err = serde_json::from_str::<TokenRequest>(
            r#"{"email":"a@b.c","password":"x","admin":true}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}
