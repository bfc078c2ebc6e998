//! A signed-in session: the account's encrypted cache (its key in the keyring)
//! and the sync that keeps it current.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::account::Account;
use crate::cache::{Cache, CacheKey, Owner, salvage_outbox};
use crate::cloud::{CloudClient, parse_base_url};
use crate::credentials::SecretStore;
use crate::sync::{SyncEvent, SyncHandle, spawn};
use crate::{ClientError, ErrorKind};

/// Where an account's cache lives under the app's data directory.
pub fn cache_path(data_dir: &Path, owner: &Owner) -> PathBuf {
    // FNV-1a of who it belongs to: one file per account, no personal data in the name.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("{}|{}|{}", owner.cloud, owner.tenant_id, owner.user_id).bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    data_dir.join("cache").join(format!("{hash:016x}.db"))
}

fn key_name(owner: &Owner) -> String {
    format!("cache-key:{}:{}", owner.cloud, owner.user_id)
}

/// The cache key from the keyring, made on first use.
pub fn cache_key(secrets: &dyn SecretStore, owner: &Owner) -> Result<CacheKey, ClientError> {
    let name = key_name(owner);
    if let Some(hex) = secrets.get(&name)? {
        if let Some(key) = CacheKey::from_hex(&hex) {
            return Ok(key);
        }
        tracing::warn!("the cache key in the keyring is malformed; starting a new cache");
    }
    let key = CacheKey::generate()?;
    secrets.set(&name, &key.to_hex())?;
    Ok(key)
}

/// Forgets an account's cache: the file and its key.
pub fn delete_cache(
    data_dir: &Path,
    secrets: &dyn SecretStore,
    owner: &Owner,
) -> Result<(), ClientError> {
    let path = cache_path(data_dir, owner);
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ClientError::new(
                    ErrorKind::Storage,
                    format!("{}: {e}", file.display()),
                ));
            }
        }
    }
    secrets.delete(&key_name(owner))
}

/// How the cache was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    Existing,
    New,
    /// The old file could not be read (wrong key, damage): it was set aside and a new
    /// cache started, with what could be saved of the outbox.
    Rebuilt {
        outbox_saved: usize,
    },
}

/// Opens the cache at `path`; when it cannot be read, sets it aside (`*.unreadable`),
/// starts a new one and carries over what is readable of the outbox.
pub fn open_or_rebuild(
    path: &Path,
    key: &CacheKey,
    owner: &Owner,
) -> Result<(Cache, Opened), ClientError> {
    let existed = path.exists();
    let failure = match Cache::open(path, key, owner) {
        Ok(cache) => match cache.check() {
            Ok(()) => {
                let opened = if existed {
                    Opened::Existing
                } else {
                    Opened::New
                };
                return Ok((cache, opened));
            }
            Err(e) => e,
        },
        Err(e) if e.kind == ErrorKind::CacheUnreadable => e,
        Err(e) => return Err(e),
    };
    tracing::warn!(error = %failure, path = %path.display(), "rebuilding the local cache from the cloud");
    let saved = salvage_outbox(path, key);
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", path.display()));
        if from.exists() {
            let to = PathBuf::from(format!("{}.unreadable{suffix}", path.display()));
            std::fs::rename(&from, &to).map_err(|e| {
                ClientError::new(ErrorKind::Storage, format!("{}: {e}", from.display()))
            })?;
        }
    }
    let mut cache = Cache::open(path, key, owner)?;
    cache.restore_outbox(&saved)?;
    Ok((
        cache,
        Opened::Rebuilt {
            outbox_saved: saved.len(),
        },
    ))
}

/// The running session of the signed-in account.
#[derive(Debug)]
pub struct Session {
    pub account: Account,
    pub cache: Arc<Mutex<Cache>>,
    pub sync: SyncHandle,
    pub client: CloudClient,
    token: String,
    pub opened: Opened,
}

impl Session {
    /// Opens the account's cache and starts syncing it. Needs a tokio runtime.
    pub fn start(
        account: Account,
        token: String,
        data_dir: &Path,
        secrets: &dyn SecretStore,
    ) -> Result<(Self, broadcast::Receiver<SyncEvent>), ClientError> {
        let owner = Owner {
            cloud: account.cloud_url.clone(),
            tenant_id: account.tenant.id.clone(),
            user_id: account.user.id.clone(),
        };
        let key = cache_key(secrets, &owner)?;
        let (cache, opened) = open_or_rebuild(&cache_path(data_dir, &owner), &key, &owner)?;
        let cache = Arc::new(Mutex::new(cache));
        let client = CloudClient::new(parse_base_url(&account.cloud_url)?)?;
        let seed = u64::from(std::process::id()) ^ 0x9e37_79b9_7f4a_7c15;
        let (sync, events) = spawn(
            cache.clone(),
            client.clone(),
            token.clone(),
            account.user.role,
            seed,
        );
        Ok((
            Self {
                account,
                cache,
                sync,
                client,
                token,
                opened,
            },
            events,
        ))
    }

    pub fn token(&self) -> &str {
        &self.token
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::cache::Draft;
    use crate::credentials::MemoryStore;

    fn owner() -> Owner {
        Owner {
            cloud: "http://127.0.0.1:1/".into(),
            tenant_id: "t".into(),
            user_id: "u".into(),
        }
    }

    #[test]
    fn the_key_is_made_once_and_kept_in_the_keyring() {
        let secrets = MemoryStore::default();
        let first = cache_key(&secrets, &owner()).unwrap();
        assert_eq!(cache_key(&secrets, &owner()).unwrap(), first);
        let other = Owner {
            user_id: "v".into(),
            ..owner()
        };
        assert_ne!(cache_key(&secrets, &other).unwrap(), first);
        assert_ne!(
            cache_path(Path::new("/d"), &owner()),
            cache_path(Path::new("/d"), &other)
        );
    }

    #[test]
    fn an_unreadable_cache_is_set_aside_and_its_outbox_saved() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = MemoryStore::default();
        let path = cache_path(dir.path(), &owner());
        let key = cache_key(&secrets, &owner()).unwrap();
        let (mut cache, opened) = open_or_rebuild(&path, &key, &owner()).unwrap();
        assert_eq!(opened, Opened::New);
        cache
            .enqueue(
                &Draft {
                    conversation_id: Some("c".into()),
                    phone_number_id: None,
                    to: None,
                    body: "keep".into(),
                    template_id: None,
                },
                1,
            )
            .unwrap();
        drop(cache);
        assert_eq!(
            open_or_rebuild(&path, &key, &owner()).unwrap().1,
            Opened::Existing
        );

        // The key is lost (a new keyring): the old file cannot be read; nothing to save.
        let new_key = CacheKey::generate().unwrap();
        let (cache, opened) = open_or_rebuild(&path, &new_key, &owner()).unwrap();
        assert_eq!(opened, Opened::Rebuilt { outbox_saved: 0 });
        assert!(cache.outbox().unwrap().is_empty());
        assert!(PathBuf::from(format!("{}.unreadable", path.display())).exists());
        drop(cache);

        // Damage past the header of a readable file: the outbox is saved when it can be.
        let (mut cache, _) = open_or_rebuild(&path, &new_key, &owner()).unwrap();
        cache
            .enqueue(
                &Draft {
                    conversation_id: Some("c".into()),
                    phone_number_id: None,
                    to: None,
                    body: "keep me".into(),
                    template_id: None,
                },
                1,
            )
            .unwrap();
        drop(cache);
        let mut bytes = std::fs::read(&path).unwrap();
        let len = bytes.len();
        for b in &mut bytes[len / 2..] {
            *b = 0x00;
        }
        std::fs::write(&path, bytes).unwrap();
        let (cache, opened) = open_or_rebuild(&path, &new_key, &owner()).unwrap();
        assert!(matches!(opened, Opened::Rebuilt { .. }), "{opened:?}");
        if let Opened::Rebuilt { outbox_saved } = opened {
            assert_eq!(cache.outbox().unwrap().len(), outbox_saved);
            assert!(outbox_saved <= 1);
        }
        cache.check().unwrap();

        delete_cache(dir.path(), &secrets, &owner()).unwrap();
        assert!(!path.exists());
    }
}
