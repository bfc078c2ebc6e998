//! `GET /phone-sms/events`: the change feed as a stream of server-sent events.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::watch;
use upzento_domain::permissions::Viewer;
use upzento_domain::resources::{Change, entity};
use upzento_domain::wire::ErrorBody;
use utoipa::IntoParams;

use super::support::Params;
use crate::AppState;
use crate::auth::Caller;
use crate::error::AppError;
use crate::store::Store;

const PAGE: usize = 500;

/// One server-sent event of the stream.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // Describes the wire format for the OpenAPI document only.
pub struct ChangeEvent {
    /// The change's `seq`: send it back as `Last-Event-ID` to resume.
    id: String,
    /// Always `change`.
    event: String,
    /// The change-feed entry (`Change`) as JSON.
    data: String,
}

/// The `Last-Event-ID` header, as the OpenAPI document describes it.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // Read from the headers by hand; declared for the OpenAPI document.
pub struct EventsHeaders {
    /// Resume after this event id (a change-feed position).
    #[param(rename = "Last-Event-ID", pattern = r"^[0-9]{1,18}$", required = false)]
    last_event_id: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Start after this change-feed position (as `Last-Event-ID` does); default: from now on.
    #[param(minimum = 0)]
    since: Option<i64>,
}

fn last_event_id(headers: &HeaderMap) -> Result<Option<i64>, AppError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|n| *n >= 0 && value.len() <= 18)
        .map(Some)
        .ok_or_else(|| {
            AppError::bad_request(
                "invalid_last_event_id",
                "Last-Event-ID must be a change-feed position.",
            )
        })
}

/// Every change the caller may see, live, as `event: change` with the change-feed entry as
/// data and its `seq` as the event id. Reconnect with `Last-Event-ID` to resume without a gap.
#[utoipa::path(
    get,
    path = "/phone-sms/events",
    tag = "sync",
    extensions(("x-permission" = json!("changes:read"))),
    params(EventsQuery, EventsHeaders),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A stream of server-sent events", content_type = "text/event-stream", body = ChangeEvent),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Params(query): Params<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    if query.since.is_some_and(|s| s < 0) {
        return Err(AppError::invalid_field(
            "since",
            "since is a change-feed position, 0 or more.",
        ));
    }
    let tenant = caller.tenant.id.clone();
    // Subscribe before reading, so that nothing committed in between is missed.
    let wake = state.hub.subscribe(&tenant);
    let cursor = match last_event_id(&headers)?.or(query.since) {
        Some(cursor) => cursor,
        None => state.store.latest_change(&tenant).await?,
    };
    // While the stream is open its user is present: the lease is renewed three times per
    // lease, and stops with the stream (or with this node).
    let (store, user, lease) = (
        state.store.clone(),
        caller.user.id.clone(),
        state.presence_lease,
    );
    let tenant_of = tenant.clone();
    let presence = tokio::spawn(async move {
        let every = (lease / 3_i32)
            .unsigned_abs()
            .max(Duration::from_millis(100));
        loop {
            if let Err(e) = store
                .presence_seen(&tenant_of, &user, crate::clock::now())
                .await
            {
                tracing::warn!(error = ?e, "presence not renewed");
            }
            tokio::time::sleep(every).await;
        }
    });
    let viewer = caller.viewer(&state).await?;
    let stream = Tail {
        store: state.store.clone(),
        tenant,
        viewer,
        cursor,
        wake,
        buffer: VecDeque::new(),
        _presence: AbortOnDrop(presence),
    };
    let events = futures_util::stream::unfold(stream, |mut tail| async move {
        let change = tail.next().await?;
        let event = Event::default()
            .id(change.seq.to_string())
            .event("change")
            .json_data(&change)
            .unwrap_or_else(|_| Event::default().comment("unserialisable change"));
        Some((Ok(event), tail))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Follows one tenant's change feed.
struct Tail {
    store: Arc<dyn Store>,
    tenant: String,
    /// Whose work the caller sees; read again when a team changes.
    viewer: Viewer,
    cursor: i64,
    wake: watch::Receiver<u64>,
    buffer: VecDeque<Change>,
    _presence: AbortOnDrop,
}

/// Ends a task when the stream it belongs to goes.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Tail {
    /// The next change, waiting for it as long as it takes; `None` when the node shuts down.
    async fn next(&mut self) -> Option<Change> {
        loop {
            if let Some(change) = self.buffer.pop_front() {
                return Some(change);
            }
            self.wake.borrow_and_update();
            match self.store.changes(&self.tenant, self.cursor, PAGE).await {
                Ok(entries) if !entries.is_empty() => {
                    if !self.viewer.sees_everything()
                        && entries.iter().any(|e| e.change.entity == entity::TEAM)
                    {
                        match self
                            .store
                            .viewer(&self.tenant, &self.viewer.user_id, self.viewer.role)
                            .await
                        {
                            Ok(viewer) => self.viewer = viewer,
                            Err(err) => {
                                tracing::error!(error = ?err, "reading a viewer's teams");
                                tokio::time::sleep(Duration::from_secs(1)).await;
                                continue;
                            }
                        }
                    }
                    self.cursor = entries.last().map_or(self.cursor, |e| e.change.seq);
                    self.buffer
                        .extend(super::changes::visible(&self.viewer, entries));
                }
                Ok(_) => self.wake.changed().await.ok()?,
                Err(err) => {
                    tracing::error!(error = ?err, "reading the change feed for an event stream");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}
