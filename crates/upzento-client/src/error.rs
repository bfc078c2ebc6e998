use thiserror::Error;

/// What went wrong, as a closed set the UI can switch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The user gave something unusable (a malformed URL, an empty field).
    InvalidInput,
    /// No OS keyring could be reached; we refuse to keep secrets anywhere else.
    KeyringUnavailable,
    /// The cloud could not be reached (DNS, refused, timeout).
    Unreachable,
    /// Something answered, but it is not an Upzento cloud.
    NotACloud,
    /// The cloud refused the credentials or the token.
    Unauthorized,
    /// The cloud answered with an error of its own.
    Server,
    /// Reading or writing local files failed.
    Storage,
    /// The operation needs a signed-in account.
    NotSignedIn,
    /// The local cache cannot be opened with its key, is damaged, or belongs to
    /// another account: it is rebuilt from the cloud.
    CacheUnreadable,
}

#[derive(Debug, Error)]
#[error("{message}")]
pub struct ClientError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ClientError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}
