//! Serialisable DTOs of the IPC boundary; TypeScript types are generated from these.

use serde::{Deserialize, Serialize};
use upzento_client::account::{Account, SignInMethod};
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

#[derive(Debug, Clone, Copy, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum UserRole {
    Admin,
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
            role: match a.user.role {
                Role::Admin => UserRole::Admin,
                Role::Agent => UserRole::Agent,
            },
            tenant_name: a.tenant.name,
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
}
