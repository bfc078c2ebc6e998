//! Secrets live in the OS keyring (Secret Service on Linux) and nowhere else.
//!
//! There is deliberately no plaintext fallback: when no keyring answers, storing
//! a secret fails with [`ErrorKind::KeyringUnavailable`] and the UI says so.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::{ClientError, ErrorKind};

/// Keyring service name under which every Upzento secret is filed.
pub const SERVICE: &str = "upzento-phone";

/// A place for secrets. Blocking: call it from a blocking-capable thread.
pub trait SecretStore: Send + Sync + std::fmt::Debug {
    /// Fails with [`ErrorKind::KeyringUnavailable`] when the store cannot be used.
    fn check_available(&self) -> Result<(), ClientError>;
    fn get(&self, key: &str) -> Result<Option<String>, ClientError>;
    fn set(&self, key: &str, secret: &str) -> Result<(), ClientError>;
    /// Deleting a missing entry is not an error.
    fn delete(&self, key: &str) -> Result<(), ClientError>;
}

/// The OS keyring through the `keyring` crate.
#[derive(Debug, Default)]
pub struct KeyringStore;

const PROBE_KEY: &str = "availability-probe";

fn keyring_error(err: &keyring::Error) -> ClientError {
    match err {
        keyring::Error::PlatformFailure(_) | keyring::Error::NoStorageAccess(_) => {
            ClientError::new(
                ErrorKind::KeyringUnavailable,
                format!(
                    "No system keyring is available ({err}). Upzento Phone keeps credentials only in \
                 the keyring, so it cannot sign in until one is running and unlocked."
                ),
            )
        }
        other => ClientError::new(ErrorKind::Storage, format!("keyring error: {other}")),
    }
}

fn entry(key: &str) -> Result<keyring::Entry, ClientError> {
    keyring::Entry::new(SERVICE, key).map_err(|e| keyring_error(&e))
}

impl SecretStore for KeyringStore {
    fn check_available(&self) -> Result<(), ClientError> {
        // Reading a key that does not exist reaches the store without writing to it.
        match entry(PROBE_KEY)?.get_password() {
            Ok(_) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_error(&e)),
        }
    }

    fn get(&self, key: &str) -> Result<Option<String>, ClientError> {
        match entry(key)?.get_password() {
            Ok(secret) => Ok(Some(secret)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_error(&e)),
        }
    }

    fn set(&self, key: &str, secret: &str) -> Result<(), ClientError> {
        entry(key)?
            .set_password(secret)
            .map_err(|e| keyring_error(&e))
    }

    fn delete(&self, key: &str) -> Result<(), ClientError> {
        match entry(key)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_error(&e)),
        }
    }
}

/// An in-memory store for tests of the code above the keyring.
#[derive(Debug, Default)]
pub struct MemoryStore {
    secrets: Mutex<HashMap<String, String>>,
    unavailable: bool,
}

impl MemoryStore {
    /// A store that behaves like a machine without any keyring.
    pub fn unavailable() -> Self {
        Self {
            secrets: Mutex::default(),
            unavailable: true,
        }
    }

    fn guard(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, String>>, ClientError> {
        if self.unavailable {
            return Err(ClientError::new(
                ErrorKind::KeyringUnavailable,
                "No system keyring is available.",
            ));
        }
        self.secrets
            .lock()
            .map_err(|_| ClientError::new(ErrorKind::Storage, "secret store poisoned"))
    }
}

impl SecretStore for MemoryStore {
    fn check_available(&self) -> Result<(), ClientError> {
        self.guard().map(drop)
    }
    fn get(&self, key: &str) -> Result<Option<String>, ClientError> {
        Ok(self.guard()?.get(key).cloned())
    }
    fn set(&self, key: &str, secret: &str) -> Result<(), ClientError> {
        self.guard()?.insert(key.to_owned(), secret.to_owned());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<(), ClientError> {
        self.guard()?.remove(key);
        Ok(())
    }
}
