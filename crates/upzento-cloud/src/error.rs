//! `AppError`: every failure of a request, answered as `{code, message, field}`
//! without internals. Storage and other unexpected errors are logged and
//! answered as a bare 500.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use upzento_domain::wire::ErrorBody;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    /// The body could not be read as the JSON the endpoint takes.
    #[error("{message}")]
    Rejected {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    #[error("authentication required")]
    Unauthorized(&'static str),
    /// The caller's role may not do this (the permission matrix's reason).
    #[error("{0}")]
    Refused(String),
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    #[error("not found")]
    NotFound,
    /// A service we depend on (the SMS provider) cannot answer now: 503.
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for AppError {
    fn from(err: anyhow::Error) -> Self {
        match err.downcast::<Self>() {
            Ok(app) => app,
            Err(other) => Self::Internal(other),
        }
    }
}

impl AppError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code: "invalid_field",
            message: message.into(),
            field: Some(field.to_owned()),
        }
    }
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        let (status, code) = match &rejection {
            JsonRejection::MissingJsonContentType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            JsonRejection::JsonSyntaxError(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            JsonRejection::JsonDataError(_) => (StatusCode::BAD_REQUEST, "invalid_body"),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            other => (other.status(), "invalid_body"),
        };
        Self::Rejected {
            status,
            code,
            message: rejection.body_text(),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            Self::BadRequest {
                code,
                message,
                field,
            } => (
                StatusCode::BAD_REQUEST,
                ErrorBody {
                    code: code.into(),
                    message,
                    field,
                },
            ),
            Self::Rejected {
                status,
                code,
                message,
            } => (
                status,
                ErrorBody {
                    code: code.into(),
                    message,
                    field: None,
                },
            ),
            Self::Unauthorized(message) => (
                StatusCode::UNAUTHORIZED,
                ErrorBody {
                    code: "unauthorized".into(),
                    message: message.into(),
                    field: None,
                },
            ),
            Self::Refused(message) => (
                StatusCode::FORBIDDEN,
                ErrorBody {
                    code: "forbidden".into(),
                    message,
                    field: None,
                },
            ),
            Self::Conflict {
                code,
                message,
                field,
            } => (
                StatusCode::CONFLICT,
                ErrorBody {
                    code: code.into(),
                    message,
                    field,
                },
            ),
            Self::Unavailable { code, message } => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorBody {
                    code: code.into(),
                    message,
                    field: None,
                },
            ),
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                ErrorBody {
                    code: "not_found".into(),
                    message: "No such record.".into(),
                    field: None,
                },
            ),
            Self::Internal(err) => {
                tracing::error!(error = ?err, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorBody {
                        code: "internal".into(),
                        message: "The server failed to handle this request.".into(),
                        field: None,
                    },
                )
            }
        };
        (status, Json(body)).into_response()
    }
}
