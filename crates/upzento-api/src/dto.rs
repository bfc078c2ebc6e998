//! Serialisable DTOs of the IPC boundary; TypeScript types are generated from these.

use serde::{Deserialize, Serialize};
use upzento_client::account::{Account, SignInMethod};
use upzento_domain::permissions::{Action, Permission, Resource};
use upzento_domain::wire::Role;

#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    pub version: String,
    pub data_dir: String,
    pub log_dir: String,
}

#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct KeyringState {
    pub available: bool,
    /// Why it is not available, in words for the user.
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct AccountStatus {
    pub account: Option<AccountView>,
    pub keyring: KeyringState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum UserRole {
    Admin,
    Supervisor,
    Agent,
}

#[derive(Debug, Clone, Copy, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum SignInKind {
    Password,
    ApiToken,
}

#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    pub cloud_url: String,
    pub method: SignInKind,
    pub user_name: String,
    pub user_email: String,
    pub role: UserRole,
    pub tenant_name: String,
    /// What the role may do (`resource:action`, from the matrix the cloud enforces): the
    /// UI shows only the controls these allow.
    pub permissions: Vec<String>,
    /// Signed in with an initial password: the app asks for a new one before anything.
    pub password_change_required: bool,
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        Self {
            cloud_url: a.cloud_url,
            method: match a.method {
                SignInMethod::Password => SignInKind::Password,
                SignInMethod::ApiToken => SignInKind::ApiToken,
            },
            user_name: a.user.name,
            user_email: a.user.email,
            role: a.user.role.into(),
            tenant_name: a.tenant.name,
            password_change_required: a.user.password_change_required,
            permissions: Resource::ALL
                .into_iter()
                .flat_map(|resource| Action::ALL.map(|action| Permission { resource, action }))
                .filter(|p| p.allows(a.user.role))
                .map(|p| p.to_string())
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, specta::Type)]
#[serde(
    tag = "method",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum SignInRequest {
    Password {
        cloud_url: String,
        email: String,
        password: String,
    },
    ApiToken {
        cloud_url: String,
        token: String,
    },
    /// Joining through an admin's invitation code: the person's name and new password.
    Invitation {
        cloud_url: String,
        code: String,
        name: String,
        password: String,
    },
}

impl From<Role> for UserRole {
    fn from(role: Role) -> Self {
        match role {
            Role::Admin => Self::Admin,
            Role::Supervisor => Self::Supervisor,
            Role::Agent => Self::Agent,
        }
    }
}

impl From<UserRole> for Role {
    fn from(role: UserRole) -> Self {
        match role {
            UserRole::Admin => Self::Admin,
            UserRole::Supervisor => Self::Supervisor,
            UserRole::Agent => Self::Agent,
        }
    }
}
