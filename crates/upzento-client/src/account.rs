//! Signing in to a tenant cloud and out again.
//!
//! What is not secret (the cloud's address, who signed in) is kept in
//! `account.json` in the app's config directory; the bearer token goes to the
//! [`SecretStore`] only. A password is exchanged for a token and never stored.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use upzento_domain::wire::{TenantInfo, UserInfo};

use crate::cloud::{CloudClient, parse_base_url};
use crate::credentials::SecretStore;
use crate::{ClientError, ErrorKind};

const ACCOUNT_FILE: &str = "account.json";

#[derive(Debug, Clone)]
pub enum Credentials {
    Password {
        email: String,
        password: String,
    },
    ApiToken {
        token: String,
    },
    /// Joining a tenant through an admin's invitation: the person's chosen name and password.
    Invitation {
        code: String,
        name: String,
        password: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SignInMethod {
    Password,
    ApiToken,
}

/// The signed-in account, as persisted (no secret in here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub cloud_url: String,
    pub method: SignInMethod,
    pub user: UserInfo,
    pub tenant: TenantInfo,
}

impl Account {
    fn secret_key(&self) -> String {
        secret_key(&self.cloud_url)
    }
}

fn secret_key(cloud_url: &str) -> String {
    format!("cloud-token:{cloud_url}")
}

#[derive(Debug, Clone)]
pub struct AccountService {
    dir: PathBuf,
    secrets: Arc<dyn SecretStore>,
}

impl AccountService {
    pub fn new(config_dir: impl Into<PathBuf>, secrets: Arc<dyn SecretStore>) -> Self {
        Self {
            dir: config_dir.into(),
            secrets,
        }
    }

    fn file(&self) -> PathBuf {
        self.dir.join(ACCOUNT_FILE)
    }

    /// Whether the keyring can be used right now.
    pub async fn keyring_available(&self) -> Result<(), ClientError> {
        let secrets = Arc::clone(&self.secrets);
        blocking(move || secrets.check_available()).await
    }

    /// The signed-in account, if any. An account whose token has vanished from
    /// the keyring (deleted by the user, another machine's profile) counts as
    /// signed out, and its leftover file is removed.
    pub async fn current(&self) -> Result<Option<Account>, ClientError> {
        let Some(account) = read_account(&self.file())? else {
            return Ok(None);
        };
        let secrets = Arc::clone(&self.secrets);
        let key = account.secret_key();
        match blocking(move || secrets.get(&key)).await {
            Ok(Some(_)) => Ok(Some(account)),
            Ok(None) => {
                tracing::warn!(cloud = %account.cloud_url, "token missing from keyring; signed out");
                remove_file(&self.file())?;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The bearer token of the signed-in account.
    pub async fn token(&self) -> Result<(Account, String), ClientError> {
        let account = self
            .current()
            .await?
            .ok_or_else(|| ClientError::new(ErrorKind::NotSignedIn, "Not signed in."))?;
        let secrets = Arc::clone(&self.secrets);
        let key = account.secret_key();
        let token = blocking(move || secrets.get(&key))
            .await?
            .ok_or_else(|| ClientError::new(ErrorKind::NotSignedIn, "Not signed in."))?;
        Ok((account, token))
    }

    /// Verifies the credentials with the cloud, then keeps the token in the keyring.
    pub async fn sign_in(
        &self,
        cloud_url: &str,
        credentials: Credentials,
    ) -> Result<Account, ClientError> {
        let base = parse_base_url(cloud_url)?;
        validate(&credentials)?;
        // Refuse before talking to the cloud: a token we cannot keep is useless.
        self.keyring_available().await?;

        let client = CloudClient::new(base.clone())?;
        client.health().await?;
        let (token, user, tenant, method) = match credentials {
            Credentials::Password { email, password } => {
                let issued = client
                    .token(email.trim(), &password, Some(device_label()))
                    .await?;
                (
                    issued.token,
                    issued.user,
                    issued.tenant,
                    SignInMethod::Password,
                )
            }
            Credentials::Invitation {
                code,
                name,
                password,
            } => {
                let issued = client
                    .accept_invitation(&upzento_domain::wire::InvitationAcceptance {
                        code: code.trim().to_owned(),
                        name: name.trim().to_owned(),
                        password,
                        device: Some(device_label()),
                    })
                    .await?;
                (
                    issued.token,
                    issued.user,
                    issued.tenant,
                    SignInMethod::Password,
                )
            }
            Credentials::ApiToken { token } => {
                let token = token.trim().to_owned();
                let me = client.me(&token).await?;
                (token, me.user, me.tenant, SignInMethod::ApiToken)
            }
        };
        let account = Account {
            cloud_url: base.to_string(),
            method,
            user,
            tenant,
        };

        // Replacing another account: drop its token first.
        if let Some(previous) = read_account(&self.file())?
            && previous.cloud_url != account.cloud_url
        {
            self.delete_secret(previous.secret_key()).await?;
        }
        let secrets = Arc::clone(&self.secrets);
        let key = account.secret_key();
        blocking(move || secrets.set(&key, &token)).await?;
        write_account(&self.dir, &account)?;
        tracing::info!(cloud = %account.cloud_url, user = %account.user.email, "signed in");
        Ok(account)
    }

    /// Replaces the signed-in user's password on the cloud (checked first against the
    /// same rule), and keeps that it no longer needs changing.
    pub async fn change_password(&self, current: &str, new: &str) -> Result<Account, ClientError> {
        let (mut account, token) = self.token().await?;
        if let Some(problem) = upzento_domain::wire::password_problem(new, &account.user.email) {
            return Err(ClientError::new(ErrorKind::InvalidInput, problem));
        }
        let client = CloudClient::new(parse_base_url(&account.cloud_url)?)?;
        client.change_password(&token, current, new).await?;
        account.user.password_change_required = false;
        write_account(&self.dir, &account)?;
        tracing::info!(user = %account.user.email, "password changed");
        Ok(account)
    }

    /// Revokes the token on the cloud when it can be reached, then deletes it from the
    /// keyring and forgets the account. Works offline: the local part never waits on the cloud.
    pub async fn sign_out(&self) -> Result<(), ClientError> {
        if let Some(account) = read_account(&self.file())? {
            let secrets = Arc::clone(&self.secrets);
            let key = account.secret_key();
            if let Ok(Some(token)) = blocking(move || secrets.get(&key)).await
                && let Ok(base) = parse_base_url(&account.cloud_url)
            {
                let revoked = match CloudClient::new(base) {
                    Ok(client) => client.revoke(&token).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = revoked {
                    tracing::warn!(error = %e, "could not revoke the token on the cloud; forgetting it locally");
                }
            }
            self.delete_secret(account.secret_key()).await?;
            tracing::info!(cloud = %account.cloud_url, "signed out");
        }
        remove_file(&self.file())
    }

    async fn delete_secret(&self, key: String) -> Result<(), ClientError> {
        let secrets = Arc::clone(&self.secrets);
        blocking(move || secrets.delete(&key)).await
    }
}

fn validate(credentials: &Credentials) -> Result<(), ClientError> {
    let missing =
        |what: &str| ClientError::new(ErrorKind::InvalidInput, format!("{what} is empty."));
    match credentials {
        Credentials::Password { email, password } => {
            if email.trim().is_empty() {
                return Err(missing("The email"));
            }
            if password.is_empty() {
                return Err(missing("The password"));
            }
        }
        Credentials::ApiToken { token } => {
            if token.trim().is_empty() {
                return Err(missing("The API token"));
            }
        }
        Credentials::Invitation {
            code,
            name,
            password,
        } => {
            if code.trim().is_empty() {
                return Err(missing("The invitation code"));
            }
            if name.trim().is_empty() {
                return Err(missing("Your name"));
            }
            if password.is_empty() {
                return Err(missing("The password"));
            }
        }
    }
    Ok(())
}

/// How this computer's sessions are named in the user's list of sessions.
pub fn device_label() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty());
    match host {
        Some(host) => format!("Upzento Phone on {host}"),
        None => "Upzento Phone".to_owned(),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ClientError> + Send + 'static,
) -> Result<T, ClientError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ClientError::new(ErrorKind::Storage, format!("keyring task failed: {e}")))?
}

fn storage(path: &Path, err: &std::io::Error) -> ClientError {
    ClientError::new(ErrorKind::Storage, format!("{}: {err}", path.display()))
}

fn read_account(path: &Path) -> Result<Option<Account>, ClientError> {
    match std::fs::read(path) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(account) => Ok(Some(account)),
            Err(e) => {
                // A damaged file must not lock the user out: treat it as signed out.
                tracing::warn!(path = %path.display(), error = %e, "unreadable account file ignored");
                Ok(None)
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(storage(path, &e)),
    }
}

/// Write-then-rename, so a crash never leaves half a file.
fn write_account(dir: &Path, account: &Account) -> Result<(), ClientError> {
    std::fs::create_dir_all(dir).map_err(|e| storage(dir, &e))?;
    let path = dir.join(ACCOUNT_FILE);
    let tmp = dir.join(format!("{ACCOUNT_FILE}.tmp"));
    let bytes = serde_json::to_vec_pretty(account)
        .map_err(|e| ClientError::new(ErrorKind::Storage, e.to_string()))?;
    std::fs::write(&tmp, bytes).map_err(|e| storage(&tmp, &e))?;
    std::fs::rename(&tmp, &path).map_err(|e| storage(&path, &e))
}

fn remove_file(path: &Path) -> Result<(), ClientError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(storage(path, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::MemoryStore;
    use upzento_domain::wire::Role;

    fn account() -> Account {
        Account {
            cloud_url: "http://127.0.0.1:1/".into(),
            method: SignInMethod::Password,
            user: UserInfo {
                id: "u".into(),
                name: "Ada".into(),
                email: "ada@example.com".into(),
                role: Role::Agent,
                password_change_required: false,
                active: true,
            },
            tenant: TenantInfo {
                id: "t".into(),
                name: "Acme".into(),
            },
        }
    }

    fn password() -> Credentials {
        Credentials::Password {
            email: "ada@example.com".into(),
            password: "pw".into(),
        }
    }

    #[tokio::test]
    async fn no_keyring_refuses_before_contacting_the_cloud() {
        let dir = tempfile::tempdir().unwrap();
        let service = AccountService::new(dir.path(), Arc::new(MemoryStore::unavailable()));
        let err = service
            .sign_in("http://127.0.0.1:1", password())
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::KeyringUnavailable);
        assert!(!dir.path().join(ACCOUNT_FILE).exists());
    }

    #[tokio::test]
    async fn unreachable_cloud_is_reported_and_nothing_is_stored() {
        // Bind then drop a listener: the port is now almost surely closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(MemoryStore::default());
        let service = AccountService::new(dir.path(), store.clone());
        let err = service
            .sign_in(&format!("http://127.0.0.1:{port}"), password())
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unreachable, "{err}");
        assert!(service.current().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn empty_fields_are_invalid_input() {
        let dir = tempfile::tempdir().unwrap();
        let service = AccountService::new(dir.path(), Arc::new(MemoryStore::default()));
        let err = service
            .sign_in(
                "http://127.0.0.1:1",
                Credentials::ApiToken { token: "  ".into() },
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
    }

    #[tokio::test]
    async fn current_requires_the_token_and_sign_out_deletes_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(MemoryStore::default());
        let service = AccountService::new(dir.path(), store.clone());
        let account = account();
        write_account(dir.path(), &account).unwrap();
        // File without token: signed out, file cleaned up.
        assert!(service.current().await.unwrap().is_none());
        assert!(!dir.path().join(ACCOUNT_FILE).exists());

        write_account(dir.path(), &account).unwrap();
        store.set(&account.secret_key(), "tok").unwrap();
        assert_eq!(service.current().await.unwrap(), Some(account.clone()));
        assert_eq!(service.token().await.unwrap().1, "tok");

        service.sign_out().await.unwrap();
        assert_eq!(store.get(&account.secret_key()).unwrap(), None);
        assert!(service.current().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn damaged_account_file_counts_as_signed_out() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(ACCOUNT_FILE), b"{not json").unwrap();
        let service = AccountService::new(dir.path(), Arc::new(MemoryStore::default()));
        assert!(service.current().await.unwrap().is_none());
    }
}
