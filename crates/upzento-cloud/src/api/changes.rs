//! The change feed (the basis of the desktop's incremental sync) and the audit log.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use upzento_domain::permissions::Viewer;
use upzento_domain::resources::{AuditEntry, Change, ChangeFeed, Page};
use upzento_domain::wire::ErrorBody;
use utoipa::IntoParams;

use super::support::{Paging, Params};
use crate::AppState;
use crate::auth::Caller;
use crate::error::AppError;
use crate::store::FeedEntry;

/// Largest page of the change feed.
const MAX_CHANGES: u32 = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// The `cursor` of the previous answer; 0 (the default) starts from the beginning.
    #[param(minimum = 0)]
    since: Option<i64>,
    /// Page size, 1 to 1000 (default 500).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// Every change to the records the caller may see, in order, after `since`.
#[utoipa::path(
    get,
    path = "/phone-sms/changes",
    tag = "sync",
    extensions(("x-permission" = json!("changes:read"))),
    params(ChangesQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ChangeFeed), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
pub async fn changes(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<ChangesQuery>,
) -> Result<Json<ChangeFeed>, AppError> {
    let since = query.since.unwrap_or(0);
    if since < 0 {
        return Err(AppError::invalid_field(
            "since",
            "since is a cursor from a previous answer, 0 or more.",
        ));
    }
    let limit = match query.limit {
        None => 500,
        Some(n) if (1..=MAX_CHANGES).contains(&n) => n as usize,
        Some(_) => {
            return Err(AppError::invalid_field(
                "limit",
                format!("limit must be between 1 and {MAX_CHANGES}."),
            ));
        }
    };
    let viewer = caller.viewer(&state).await?;
    let mut entries = state
        .store
        .changes(&caller.tenant.id, since, limit + 1)
        .await?;
    let has_more = entries.len() > limit;
    entries.truncate(limit);
    // Past what the caller may not see too: a page may hold fewer changes than it read.
    let cursor = entries.last().map_or(since, |e| e.change.seq);
    Ok(Json(ChangeFeed {
        changes: visible(&viewer, entries).collect(),
        cursor,
        has_more,
    }))
}

/// The changes among `entries` that `viewer` may see: of records everyone sees, and of
/// work they see now or saw before the change (so a reassignment away reaches them too).
pub fn visible(viewer: &Viewer, entries: Vec<FeedEntry>) -> impl Iterator<Item = Change> {
    entries
        .into_iter()
        .filter(|e| viewer.sees_any(e.audience.as_deref()))
        .map(|e| {
            // The audience is [before, after] when the change moved the record's work.
            let entered = match e.audience.as_deref() {
                Some([before, after]) => !viewer.sees(before) && viewer.sees(after),
                _ => false,
            };
            Change {
                entered_scope: entered,
                ..e.change
            }
        })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `nextCursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,18}\.[0-9A-Za-z-]{1,64}$")]
    cursor: Option<String>,
}

/// The tenant's audit log, newest first (admins).
#[utoipa::path(
    get,
    path = "/phone-sms/audit-log",
    tag = "sync",
    extensions(("x-permission" = json!("auditLog:read"))),
    params(AuditQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Page<AuditEntry>),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    )
)]
pub async fn audit_log(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<AuditQuery>,
) -> Result<Json<Page<AuditEntry>>, AppError> {
    let paging = Paging::new(query.limit, query.cursor.as_deref())?;
    let items = state
        .store
        .audit_log(&caller.tenant.id, paging.after(), paging.fetch())
        .await?;
    paging.page(items)
}
