//! Passwords (Argon2id) and bearer tokens. A token is 32 random bytes shown to
//! the client once; the database keeps only its SHA-256, so a leaked database
//! holds no usable token.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use upzento_domain::permissions::Viewer;
use upzento_domain::wire::Role;

use crate::AppState;
use crate::error::AppError;
use crate::store::{Tenant, User};

/// Prefix that makes leaked tokens easy to recognise (secret scanners, logs).
const TOKEN_PREFIX: &str = "uzt_";

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let salt = SaltString::encode_b64(&bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

/// Checks a password; with no stored hash, spends the same time and says no,
/// so response times do not reveal which emails exist.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("not-a-password").unwrap_or_default());
    let (hash, real) = match stored {
        Some(h) => (h, true),
        None => (dummy.as_str(), false),
    };
    let ok = PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    });
    ok && real
}

/// A new token and the hash to store.
pub fn new_token() -> anyhow::Result<(String, Vec<u8>)> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = token_hash(&token);
    Ok((token, hash))
}

pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The authenticated caller of a request: every data access is scoped to `tenant`.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub tenant: Tenant,
    /// SHA-256 of the bearer token this request came with.
    pub token_hash: Vec<u8>,
}

impl Caller {
    /// Who the caller is as a viewer of the tenant's work (`Viewer::sees`).
    pub async fn viewer(&self, state: &AppState) -> Result<Viewer, AppError> {
        if self.user.role == Role::Admin {
            return Ok(Viewer {
                user_id: self.user.id.clone(),
                role: Role::Admin,
                teams: Default::default(),
                overseen: Default::default(),
            });
        }
        Ok(state
            .store
            .viewer(&self.tenant.id, &self.user.id, self.user.role)
            .await?)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        // Already authenticated by the permission layer.
        if let Some(caller) = parts.extensions.get::<Self>() {
            return Ok(caller.clone());
        }
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(AppError::Unauthorized(
                "Sign in first: no Authorization header.",
            ))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AppError::Unauthorized(
                "The Authorization header must be `Bearer <token>`.",
            ))?;
        let now = OffsetDateTime::now_utc();
        let hash = token_hash(token);
        let (user, tenant) =
            state
                .store
                .token_owner(&hash, now)
                .await?
                .ok_or(AppError::Unauthorized(
                    "The token is unknown or has expired.",
                ))?;
        Ok(Self {
            user,
            tenant,
            token_hash: hash,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_and_missing_users_never_do() {
        let hash = hash_password("s3cret").unwrap();
        assert!(verify_password("s3cret", Some(&hash)));
        assert!(!verify_password("wrong", Some(&hash)));
        assert!(!verify_password("not-a-password", None));
    }

    #[test]
    fn tokens_are_unique_and_hashed() {
        let (a, ha) = new_token().unwrap();
        let (b, _) = new_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(ha, token_hash(&a));
        assert_eq!(ha.len(), 32);
    }
}
