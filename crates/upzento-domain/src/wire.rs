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
