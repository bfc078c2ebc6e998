//! The API surface of the desktop app, independent of Tauri.
//!
//! `src-tauri` exposes each method here as one IPC command and does nothing
//! else; TypeScript bindings are generated from the DTOs in [`dto`]. Errors
//! cross the boundary as [`ApiError`]: a typed [`ErrorCode`] the UI switches on,
//! and a message meant for people.

pub mod campaign_drafts;
pub mod campaigns;
pub mod dto;
mod error;
pub mod notify;
pub mod people;
pub mod phone;
mod session;
pub mod views;
pub mod wrap_up;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::broadcast;
use upzento_client::account::{AccountService, Credentials};
use upzento_client::credentials::SecretStore;
use upzento_client::session::Session;

pub use dto::*;
pub use error::{ApiError, ErrorCode};
pub use views::*;

#[derive(Debug, Clone)]
pub struct Api {
    accounts: AccountService,
    secrets: Arc<dyn SecretStore>,
    data_dir: PathBuf,
    info: AppInfo,
    /// The signed-in account's cache and sync, once started.
    session: Arc<tokio::sync::Mutex<Option<Session>>>,
    events: broadcast::Sender<AppEvent>,
    /// The sync state the UI shows, with its revision: written only by `publish_sync`.
    sync: Arc<std::sync::Mutex<SyncView>>,
    /// Announces new inbound messages and incoming calls.
    notifier: Arc<dyn notify::Notifier>,
    phone: Arc<phone::Phone>,
    /// What the agent chose and what the softphone says: the presence the cloud is told.
    presence: Arc<std::sync::Mutex<people::PresenceState>>,
    /// Where exported files go (the user's Downloads folder).
    downloads: PathBuf,
}

/// Where the app keeps its files.
#[derive(Debug, Clone)]
pub struct Paths {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    pub log_dir: PathBuf,
}

impl Api {
    pub fn new(paths: &Paths, secrets: Arc<dyn SecretStore>) -> Self {
        Self {
            accounts: AccountService::new(&paths.config_dir, secrets.clone()),
            secrets,
            data_dir: paths.data_dir.clone(),
            session: Arc::default(),
            events: broadcast::channel(1024).0,
            sync: Arc::new(std::sync::Mutex::new(views::sync_view(None, 0))),
            notifier: Arc::new(notify::Silent),
            phone: Arc::new(phone::Phone::new(
                &paths.config_dir,
                Arc::new(phone::SystemAudio::default()),
            )),
            presence: Arc::default(),
            downloads: paths.data_dir.join("exports"),
            info: AppInfo {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                data_dir: paths.data_dir.display().to_string(),
                log_dir: paths.log_dir.display().to_string(),
            },
        }
    }

    /// Announces new inbound messages through `notifier` (the desktop's notifications).
    #[must_use]
    pub fn with_notifier(mut self, notifier: Arc<dyn notify::Notifier>) -> Self {
        self.notifier = notifier;
        self
    }

    /// Saves exported files in `dir` (the user's Downloads folder) instead of the app's
    /// data folder.
    #[must_use]
    pub fn with_downloads(mut self, dir: PathBuf) -> Self {
        self.downloads = dir;
        self
    }

    /// Takes call audio from `audio` instead of the computer's sound devices.
    #[must_use]
    pub fn with_audio(
        mut self,
        config_dir: &std::path::Path,
        audio: Arc<dyn phone::AudioDevices>,
    ) -> Self {
        self.phone = Arc::new(phone::Phone::new(config_dir, audio));
        self
    }

    pub fn app_info(&self) -> AppInfo {
        self.info.clone()
    }

    /// The signed-in account (if any) and whether a keyring is there to keep it.
    pub async fn account_status(&self) -> Result<AccountStatus, ApiError> {
        let keyring = match self.accounts.keyring_available().await {
            Ok(()) => KeyringState {
                available: true,
                message: None,
            },
            Err(e) => KeyringState {
                available: false,
                message: Some(e.message),
            },
        };
        let account = if keyring.available {
            self.accounts.current().await?.map(AccountView::from)
        } else {
            None
        };
        if account.is_some()
            && let Err(e) = self.ensure_session().await
        {
            tracing::warn!(error = %e, "could not open the local cache");
        }
        Ok(AccountStatus { account, keyring })
    }

    pub async fn sign_in(&self, request: SignInRequest) -> Result<AccountView, ApiError> {
        let (url, credentials) = match request {
            SignInRequest::Password {
                cloud_url,
                email,
                password,
            } => (cloud_url, Credentials::Password { email, password }),
            SignInRequest::ApiToken { cloud_url, token } => {
                (cloud_url, Credentials::ApiToken { token })
            }
            SignInRequest::Invitation {
                cloud_url,
                code,
                name,
                password,
            } => (
                cloud_url,
                Credentials::Invitation {
                    code,
                    name,
                    password,
                },
            ),
        };
        self.stop_session(false).await;
        let account = self.accounts.sign_in(&url, credentials).await?;
        if let Err(e) = self.ensure_session().await {
            tracing::warn!(error = %e, "could not open the local cache");
        }
        Ok(account.into())
    }

    /// Replaces the signed-in user's password (an initial one must be, first).
    pub async fn change_password(
        &self,
        current: String,
        new: String,
    ) -> Result<AccountView, ApiError> {
        let account = self.accounts.change_password(&current, &new).await?;
        // The sync may have stopped on "password change required": start it again.
        self.stop_session(false).await;
        if let Err(e) = self.ensure_session().await {
            tracing::warn!(error = %e, "could not open the local cache");
        }
        Ok(account.into())
    }

    /// Signs out and forgets this account's local cache (a shared desk keeps no history).
    pub async fn sign_out(&self) -> Result<(), ApiError> {
        self.stop_session(true).await;
        self.reset_presence();
        Ok(self.accounts.sign_out().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use upzento_client::credentials::MemoryStore;

    fn api(store: MemoryStore) -> (tempfile::TempDir, Api) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths {
            config_dir: dir.path().join("config"),
            data_dir: dir.path().join("data"),
            log_dir: dir.path().join("logs"),
        };
        (dir, Api::new(&paths, Arc::new(store)))
    }

    #[tokio::test]
    async fn status_reports_missing_keyring() {
        let (_dir, api) = api(MemoryStore::unavailable());
        let status = api.account_status().await.unwrap();
        assert!(!status.keyring.available);
        assert!(status.keyring.message.is_some());
        assert!(status.account.is_none());
    }

    #[tokio::test]
    async fn sign_in_errors_carry_typed_codes() {
        let (_dir, api) = api(MemoryStore::unavailable());
        let err = api
            .sign_in(SignInRequest::ApiToken {
                cloud_url: "http://127.0.0.1:9".into(),
                token: "x".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::KeyringUnavailable);
        let json = serde_json::to_value(&err).unwrap();
        assert_eq!(json["code"], "keyringUnavailable");

        let (_dir, api) = api_ok();
        let err = api
            .sign_in(SignInRequest::ApiToken {
                cloud_url: "not a url".into(),
                token: "x".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidInput);
    }

    fn api_ok() -> (tempfile::TempDir, Api) {
        api(MemoryStore::default())
    }
}
