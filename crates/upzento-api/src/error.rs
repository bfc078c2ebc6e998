use serde::Serialize;
use upzento_client::{ClientError, ErrorKind};

/// The closed set of failures the UI distinguishes. Serialised in camelCase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum ErrorCode {
    InvalidInput,
    KeyringUnavailable,
    Unreachable,
    NotACloud,
    Unauthorized,
    ServerError,
    StorageError,
    NotSignedIn,
    /// The local cache could not be opened; it is being rebuilt from the cloud.
    CacheUnreadable,
    /// No (registered) SIP account to call from, or no such account.
    NoSipAccount,
    /// The microphone or speaker cannot be opened.
    AudioDevice,
    /// The call has ended (or never was).
    NoSuchCall,
    Internal,
}

/// What every failed command returns to the UI.
#[derive(Debug, Clone, Serialize, specta::Type, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<ClientError> for ApiError {
    fn from(err: ClientError) -> Self {
        let code = match err.kind {
            ErrorKind::InvalidInput => ErrorCode::InvalidInput,
            ErrorKind::KeyringUnavailable => ErrorCode::KeyringUnavailable,
            ErrorKind::Unreachable => ErrorCode::Unreachable,
            ErrorKind::NotACloud => ErrorCode::NotACloud,
            ErrorKind::Unauthorized => ErrorCode::Unauthorized,
            ErrorKind::Server => ErrorCode::ServerError,
            ErrorKind::Storage => ErrorCode::StorageError,
            ErrorKind::NotSignedIn => ErrorCode::NotSignedIn,
            ErrorKind::CacheUnreadable => ErrorCode::CacheUnreadable,
        };
        if matches!(code, ErrorCode::StorageError | ErrorCode::ServerError) {
            tracing::error!(?code, message = %err.message, "command failed");
        }
        Self::new(code, err.message)
    }
}
