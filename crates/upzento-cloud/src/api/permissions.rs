//! The one place roles are enforced: every operation of the OpenAPI document names the
//! permission it needs (`x-permission: resource:action`, checked against the matrix in
//! `upzento_domain::permissions`), and this layer refuses a caller whose role may not,
//! before the handler runs (so a refusal writes nothing and reads no body). Operations
//! without one are public (sign-in, health).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use upzento_domain::permissions::{Action, Permission, Resource};

use crate::AppState;
use crate::auth::Caller;
use crate::error::AppError;

/// The permission each operation needs, by method and path template.
#[derive(Debug, Default)]
pub struct Permissions(HashMap<(Method, String), Permission>);

impl Permissions {
    /// Read from the document; an unreadable `x-permission` is a bug caught at start-up.
    pub fn of(openapi: &utoipa::openapi::OpenApi) -> Self {
        let mut map = HashMap::new();
        for (path, item) in &openapi.paths.paths {
            let operations = [
                (Method::GET, &item.get),
                (Method::POST, &item.post),
                (Method::PUT, &item.put),
                (Method::PATCH, &item.patch),
                (Method::DELETE, &item.delete),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                let Some(value) = operation
                    .extensions
                    .as_ref()
                    .and_then(|e| e.get("x-permission"))
                else {
                    continue;
                };
                let permission = value
                    .as_str()
                    .and_then(Permission::parse)
                    .unwrap_or_else(|| panic!("{method} {path}: bad x-permission {value}"));
                map.insert((method, path.clone()), permission);
            }
        }
        Self(map)
    }

    pub fn get(&self, method: &Method, path: &str) -> Option<Permission> {
        self.0.get(&(method.clone(), path.to_owned())).copied()
    }
}

/// Refuses a caller whose role lacks the operation's permission; hands the authenticated
/// caller on to the handler (one token lookup per request).
pub async fn enforce(
    State((state, permissions)): State<(AppState, Arc<Permissions>)>,
    request: Request,
    next: Next,
) -> Result<Response, AppError> {
    let needed = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|p| permissions.get(request.method(), p.as_str()));
    let Some(needed) = needed else {
        return Ok(next.run(request).await);
    };
    let (mut parts, body) = request.into_parts();
    let caller = Caller::from_request_parts(&mut parts, &state).await?;
    if !needed.allows(caller.user.role) {
        return Err(AppError::Refused(needed.refusal(caller.user.role)));
    }
    // An initial password is replaced before anything else (signing out aside).
    if caller.user.password_change_required
        && needed.resource != Resource::Account
        && needed
            != (Permission {
                resource: Resource::ApiToken,
                action: Action::Delete,
            })
    {
        return Err(AppError::Rejected {
            status: axum::http::StatusCode::FORBIDDEN,
            code: "password_change_required",
            message: "Choose a new password first: this one was an initial password.".into(),
        });
    }
    parts.extensions.insert(caller);
    Ok(next.run(Request::from_parts(parts, body)).await)
}
