//! Shared pieces of the handlers: body and query extraction with JSON errors,
//! cursors, roles.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use upzento_domain::wire::Role;

use crate::auth::Caller;
use crate::error::AppError;
use crate::store::{Actor, After};

/// `Json<T>` whose rejections are answered as `{code, message}` JSON.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state)
            .await
            .map_err(|e: JsonRejection| AppError::from(e))?;
        Ok(Self(value))
    }
}

/// `Query<T>` whose rejections are answered as `{code, message}` JSON.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state)
                .await
                .map_err(|e: QueryRejection| {
                    AppError::bad_request("invalid_query", e.body_text())
                })?;
        Ok(Self(value))
    }
}

/// Where the next page starts: opaque to clients (base64url of JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    t: i64,
    id: String,
}

impl Cursor {
    pub fn encode(at_ms: i64, id: &str) -> String {
        let json = serde_json::to_vec(&Self {
            t: at_ms,
            id: id.to_owned(),
        })
        .unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode(text: &str) -> Result<After, AppError> {
        let invalid =
            || AppError::invalid_field("cursor", "The cursor is not one this server gave out.");
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let cursor: Self = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        Ok(After {
            created_at_ms: cursor.t,
            id: cursor.id,
        })
    }
}

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;

pub fn limit(requested: Option<u32>) -> Result<usize, AppError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT as u32).contains(&n) => Ok(n as usize),
        Some(_) => Err(AppError::invalid_field(
            "limit",
            format!("limit must be between 1 and {MAX_LIMIT}."),
        )),
    }
}

pub fn after(cursor: Option<&str>) -> Result<Option<After>, AppError> {
    cursor.map(Cursor::decode).transpose()
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor {
            tenant_id: self.tenant.id.clone(),
            user_id: self.user.id.clone(),
        }
    }

    pub fn require_admin(&self, what: &'static str) -> Result<(), AppError> {
        if self.user.role == Role::Admin {
            Ok(())
        } else {
            Err(AppError::Forbidden(what))
        }
    }
}

/// Checks a free-text field: trimmed, not empty when required, at most `max` characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<String, AppError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AppError::invalid_field(field, format!("{field} is empty.")));
    }
    if value.chars().count() > max {
        return Err(AppError::invalid_field(
            field,
            format!("{field} is longer than {max} characters."),
        ));
    }
    Ok(value.to_owned())
}

/// Like [`text`] for optional fields: blank becomes `None`.
pub fn optional_text(
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, AppError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text(field, v, max).map(Some),
    }
}

pub fn e164(field: &str, value: &str) -> Result<String, AppError> {
    upzento_domain::phone::to_e164(value, None)
        .map_err(|e| AppError::invalid_field(field, e.to_string()))
}
