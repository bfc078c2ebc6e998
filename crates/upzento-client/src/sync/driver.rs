//! The sync driver: the only part of the sync that touches sockets, the clock and
//! the cache. It performs what the [`SyncMachine`] asks and tells it what happened.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use upzento_domain::permissions::Viewer;
use upzento_domain::resources::{Change, NewSmsMessage, entity};
use upzento_domain::wire::Role;

use super::api::{SendError, StreamItem, read_stream};
use super::machine::{Failure, Input, Output, SyncMachine, SyncStatus, WakeDetector};
use crate::cache::{Arrival, Cache, Pruned, widened};
use crate::cloud::CloudClient;
use crate::{ClientError, ErrorKind};

/// Changes per page of the initial sync (the cloud's maximum).
pub const PAGE: u32 = 1000;
/// Live events applied in one transaction at most.
const BATCH: usize = 500;

/// What the UI hears from the sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum SyncEvent {
    Status {
        status: SyncStatus,
    },
    /// The cache changed: what to refresh.
    Changed {
        cursor: i64,
        entities: Vec<String>,
        conversations: Vec<String>,
        /// Inbound messages seen for the first time (empty during a first sync).
        arrivals: Vec<Arrival>,
    },
    /// The outbox changed (a message left it, or failed).
    Outbox,
    /// The cache could not be written (e.g. the disk is full); nothing was lost.
    StorageError {
        message: String,
    },
}

#[derive(Debug)]
enum Command {
    OutboxQueued,
    NetworkChanged,
}

/// The running sync: commands in, events out. Dropping it stops the sync.
#[derive(Debug)]
pub struct SyncHandle {
    commands: mpsc::UnboundedSender<Command>,
    events: broadcast::Sender<SyncEvent>,
    status: watch::Receiver<Option<SyncStatus>>,
    task: JoinHandle<()>,
}

impl SyncHandle {
    pub fn subscribe(&self) -> broadcast::Receiver<SyncEvent> {
        self.events.subscribe()
    }

    /// The latest status (`None` before the first).
    pub fn status(&self) -> Option<SyncStatus> {
        *self.status.borrow()
    }

    /// Call after putting a message in the outbox.
    pub fn outbox_queued(&self) {
        let _ = self.commands.send(Command::OutboxQueued);
    }

    /// Call when the network changed or the computer woke up.
    pub fn network_changed(&self) {
        let _ = self.commands.send(Command::NetworkChanged);
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for SyncHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts syncing `cache` with the cloud as the owner of `token`. The receiver
/// hears every event from the first on.
pub fn spawn(
    cache: Arc<Mutex<Cache>>,
    client: CloudClient,
    token: String,
    role: Role,
    seed: u64,
) -> (SyncHandle, broadcast::Receiver<SyncEvent>) {
    let (commands, commands_rx) = mpsc::unbounded_channel();
    let (events, first) = broadcast::channel(1024);
    let (status_tx, status) = watch::channel(None);
    let driver = Driver {
        cache,
        client,
        token,
        events: events.clone(),
        status: status_tx,
        stream: None,
        generation: 0,
        announce: false,
        role,
        viewer: Mutex::new(None),
        first_sync: false,
    };
    let task = tokio::spawn(driver.run(SyncMachine::new(seed), commands_rx));
    (
        SyncHandle {
            commands,
            events,
            status,
            task,
        },
        first,
    )
}

struct Driver {
    cache: Arc<Mutex<Cache>>,
    client: CloudClient,
    token: String,
    events: broadcast::Sender<SyncEvent>,
    status: watch::Sender<Option<SyncStatus>>,
    stream: Option<JoinHandle<()>>,
    /// Items of an older stream are ignored.
    generation: u64,
    /// Whether new inbound messages are announced (`arrivals`): from the first time
    /// the sync was up to date on, so a first sync of the history stays quiet.
    announce: bool,
    /// The user's role, and who they were as a viewer when last the cache was pruned.
    role: Role,
    viewer: Mutex<Option<Viewer>>,
    /// This run began with an empty cache.
    first_sync: bool,
}

/// What applying changes did to the user's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Same,
    /// They see more than before: the feed is read again from the start.
    Widened,
}

fn poisoned() -> ClientError {
    ClientError::new(ErrorKind::Storage, "the cache lock was poisoned")
}

impl Driver {
    /// Runs `f` on the cache on a blocking thread.
    async fn with_cache<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Cache) -> Result<T, ClientError> + Send + 'static,
    ) -> Result<T, ClientError> {
        let cache = Arc::clone(&self.cache);
        tokio::task::spawn_blocking(move || {
            let mut cache = cache.lock().map_err(|_| poisoned())?;
            f(&mut cache)
        })
        .await
        .map_err(|e| ClientError::new(ErrorKind::Storage, e.to_string()))?
    }

    async fn run(
        mut self,
        mut machine: SyncMachine,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        // A first sync reads everything with the user's scope as it is now: a team joined
        // before it ends needs no second reading (see `keep_in_scope`).
        self.first_sync = matches!(self.with_cache(|c| c.cursor()).await, Ok(0));
        // The role may have changed since the cache was last held to it (a new sign-in).
        if let Err(e) = self.keep_in_scope().await {
            self.storage_error(&e);
        }
        let (stream_tx, mut stream_rx) = mpsc::channel::<(u64, StreamItem)>(1024);
        // Every few seconds: did the computer sleep? Then every connection may be dead.
        let mut wake = WakeDetector::new();
        wake.observe(Instant::now(), std::time::SystemTime::now());
        let mut clock_check = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            while let Some(output) = machine.poll_output() {
                let input = self.perform(output, &stream_tx).await;
                if let Some(input) = input {
                    machine.handle_input(Instant::now(), input);
                }
            }
            let timeout = machine.poll_timeout();
            let sleep = async {
                match timeout {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                command = commands.recv() => match command {
                    None => break,
                    Some(Command::OutboxQueued) => machine.handle_input(Instant::now(), Input::OutboxQueued),
                    Some(Command::NetworkChanged) => machine.handle_input(Instant::now(), Input::NetworkChanged),
                },
                Some((generation, item)) = stream_rx.recv() => {
                    if generation != self.generation {
                        continue;
                    }
                    let input = match item {
                        StreamItem::Opened => Some(Input::StreamOpened),
                        StreamItem::Activity => Some(Input::StreamActivity),
                        StreamItem::Ended(failure) => Some(Input::StreamEnded(failure)),
                        StreamItem::Change(change) => {
                            // Take what else is already here: one transaction for a burst.
                            let mut batch = vec![*change];
                            let mut ended = None;
                            while batch.len() < BATCH {
                                match stream_rx.try_recv() {
                                    Ok((g, StreamItem::Change(c))) if g == self.generation => batch.push(*c),
                                    Ok((g, StreamItem::Ended(f))) if g == self.generation => { ended = Some(f); break; }
                                    Ok(_) => {}
                                    Err(_) => break,
                                }
                            }
                            match self.apply(batch).await {
                                Err(e) => {
                                    self.storage_error(&e);
                                    // Reconnect from the cursor that is on disk.
                                    Some(Input::StreamEnded(Some(Failure::Server)))
                                }
                                // The user sees more now: catch up again from the start.
                                Ok(Scope::Widened) => Some(Input::NetworkChanged),
                                Ok(Scope::Same) => {
                                    ended.map(Input::StreamEnded).or(Some(Input::StreamActivity))
                                }
                            }
                        }
                    };
                    if let Some(input) = input {
                        machine.handle_input(Instant::now(), input);
                    }
                }
                () = sleep => machine.handle_timeout(Instant::now()),
                _ = clock_check.tick() => {
                    if wake.observe(Instant::now(), std::time::SystemTime::now()) {
                        tracing::info!("resumed from sleep: reconnecting");
                        machine.handle_input(Instant::now(), Input::NetworkChanged);
                    }
                }
            }
        }
        self.close_stream();
    }

    async fn perform(
        &mut self,
        output: Output,
        stream_tx: &mpsc::Sender<(u64, StreamItem)>,
    ) -> Option<Input> {
        match output {
            Output::FetchPage => Some(self.fetch_page().await),
            Output::OpenStream => {
                self.close_stream();
                let since = match self.with_cache(|c| c.cursor()).await {
                    Ok(cursor) => cursor,
                    Err(e) => {
                        self.storage_error(&e);
                        return Some(Input::StreamEnded(Some(Failure::Server)));
                    }
                };
                self.generation += 1;
                let generation = self.generation;
                let (items_tx, mut items_rx) = mpsc::channel(256);
                let forward = stream_tx.clone();
                let client = self.client.clone();
                let token = self.token.clone();
                self.stream = Some(tokio::spawn(async move {
                    let reader = tokio::spawn(read_stream(client, token, since, items_tx));
                    while let Some(item) = items_rx.recv().await {
                        if forward.send((generation, item)).await.is_err() {
                            break;
                        }
                    }
                    reader.abort();
                }));
                None
            }
            Output::CloseStream => {
                self.close_stream();
                None
            }
            Output::SendNext => Some(self.send_next().await),
            Output::Status(status) => {
                if status == SyncStatus::Online {
                    self.announce = true;
                }
                self.status.send_replace(Some(status));
                let _ = self.events.send(SyncEvent::Status { status });
                None
            }
        }
    }

    fn close_stream(&mut self) {
        if let Some(task) = self.stream.take() {
            task.abort();
        }
        self.generation += 1;
    }

    fn storage_error(&self, e: &ClientError) {
        tracing::error!(error = %e, "cache write failed");
        let _ = self.events.send(SyncEvent::StorageError {
            message: e.message.clone(),
        });
    }

    async fn fetch_page(&self) -> Input {
        let since = match self.with_cache(|c| c.cursor()).await {
            Ok(c) => c,
            Err(e) => {
                self.storage_error(&e);
                return Input::FetchFailed(Failure::Server);
            }
        };
        let feed = match self.client.changes(&self.token, since, PAGE).await {
            Ok(feed) => feed,
            Err(failure) => return Input::FetchFailed(failure),
        };
        let has_more = feed.has_more;
        let cursor = feed.cursor;
        // A full page with more behind it: a large backlog. Index for search once at
        // the end instead of message by message (much faster for an initial sync).
        let bulk = has_more && feed.changes.len() >= PAGE as usize;
        let prepared = if bulk {
            self.with_cache(|c| {
                if c.search_ready()? {
                    c.begin_bulk()
                } else {
                    Ok(())
                }
            })
            .await
        } else {
            Ok(())
        };
        let applied = match prepared {
            Ok(()) => {
                self.apply_at(feed.changes, cursor, self.announce && !bulk)
                    .await
            }
            Err(e) => Err(e),
        };
        let (finished, widened) = match applied {
            Ok(Scope::Widened) => (Ok(()), true),
            Ok(Scope::Same) if !has_more => (self.with_cache(Cache::finish_bulk).await, false),
            Ok(Scope::Same) => (Ok(()), false),
            Err(e) => (Err(e), false),
        };
        match finished {
            Ok(()) => Input::PageApplied {
                has_more: has_more || widened,
            },
            Err(e) => {
                self.storage_error(&e);
                Input::FetchFailed(Failure::Server)
            }
        }
    }

    async fn apply(&self, batch: Vec<Change>) -> Result<Scope, ClientError> {
        let cursor = batch.last().map_or(0, |c| c.seq);
        self.apply_at(batch, cursor, self.announce).await
    }

    async fn apply_at(
        &self,
        changes: Vec<Change>,
        cursor: i64,
        announce: bool,
    ) -> Result<Scope, ClientError> {
        let scoped = changes.iter().any(|c| {
            matches!(
                c.entity.as_str(),
                entity::CONVERSATION | entity::CALL | entity::TASK | entity::TEAM
            )
        });
        let entered: Vec<Change> = changes
            .iter()
            .filter(|c| c.entered_scope)
            .cloned()
            .collect();
        let mut entities = BTreeSet::new();
        let mut conversations = BTreeSet::new();
        for change in &changes {
            entities.insert(change.entity.clone());
            match change.entity.as_str() {
                entity::CONVERSATION => {
                    conversations.insert(change.id.clone());
                }
                entity::SMS_MESSAGE | entity::CONVERSATION_READ => {
                    if let Some(id) = change
                        .data
                        .as_ref()
                        .and_then(|d| d.get("conversationId"))
                        .and_then(|v| v.as_str())
                    {
                        conversations.insert(id.to_owned());
                    }
                }
                _ => {}
            }
        }
        let empty = changes.is_empty();
        let arrivals = self
            .with_cache(move |c| {
                if announce {
                    c.apply_noting_arrivals(&changes, cursor)
                } else {
                    c.apply(&changes, cursor).map(|()| Vec::new())
                }
            })
            .await?;
        let scope = if scoped {
            self.keep_in_scope().await?
        } else {
            Scope::Same
        };
        for record in &entered {
            // Handed to the user: its history before the handover is not in their feed.
            match self.client.history(&self.token, record).await {
                Ok(history) => {
                    for h in &history {
                        entities.insert(h.entity.clone());
                    }
                    // Beside the feed, not part of it: the cursor stays.
                    self.with_cache(move |c| c.apply(&history, 0)).await?;
                }
                Err(failure) => {
                    tracing::warn!(?failure, id = %record.id, "history of a handed-over record not read");
                }
            }
        }
        if !empty {
            let _ = self.events.send(SyncEvent::Changed {
                cursor,
                entities: entities.into_iter().collect(),
                conversations: conversations.into_iter().collect(),
                arrivals,
            });
        }
        Ok(scope)
    }

    /// Drops from the cache what the user no longer sees; when a change of their teams
    /// lets them see more, has the feed read again from the start.
    async fn keep_in_scope(&self) -> Result<Scope, ClientError> {
        let role = self.role;
        // What the cache holds was read with an older scope, unless this is the first sync
        // and it has not yet caught up.
        let may_restart = !self.first_sync || self.announce;
        let previous = self.viewer.lock().map_err(|_| poisoned())?.clone();
        let (viewer, widened) = self
            .with_cache(move |c| {
                // Across restarts and sign-ins: the one the cache was held to.
                let previous = match previous {
                    Some(p) => Some(p),
                    None => c.saved_viewer()?,
                };
                let viewer = c.viewer(role)?;
                let pruned = c.keep_in_scope(&viewer)?;
                if pruned != Pruned::default() {
                    tracing::info!(?pruned, "out of the user's scope: dropped from the cache");
                }
                let widened = may_restart && previous.is_some_and(|p| widened(&p, &viewer));
                if widened {
                    c.restart_feed()?;
                }
                c.save_viewer(&viewer)?;
                Ok((viewer, widened))
            })
            .await?;
        *self.viewer.lock().map_err(|_| poisoned())? = Some(viewer);
        Ok(if widened { Scope::Widened } else { Scope::Same })
    }

    /// Sends the oldest call record, if one waits: `None` when none does.
    async fn send_call_record(&self) -> Option<Input> {
        let call = match self.with_cache(|c| c.next_call_record()).await {
            Ok(call) => call?,
            Err(e) => {
                self.storage_error(&e);
                return Some(Input::OutboxFailed(Failure::Server));
            }
        };
        let key = call.sip_call_id.clone().unwrap_or_default();
        let (stored, input) = match self.client.create_call(&self.token, &call).await {
            Ok(created) => (
                self.with_cache(move |c| c.call_record_sent(&key, &created))
                    .await
                    .map(|()| true),
                Input::OutboxHandled,
            ),
            Err(SendError::Refused { code, message }) => {
                tracing::warn!(%code, %message, "the cloud refused a call record");
                (
                    self.with_cache(move |c| c.call_record_failed(&key, &message))
                        .await
                        .map(|()| false),
                    Input::OutboxHandled,
                )
            }
            Err(SendError::Failed(failure)) => (
                self.with_cache(move |c| c.call_record_attempted(&key))
                    .await
                    .map(|()| false),
                Input::OutboxFailed(failure),
            ),
        };
        match stored {
            Ok(true) => {
                let cursor = self.with_cache(|c| c.cursor()).await.unwrap_or(0);
                let _ = self.events.send(SyncEvent::Changed {
                    cursor,
                    entities: vec![entity::CALL.to_owned()],
                    conversations: Vec::new(),
                    arrivals: Vec::new(),
                });
                Some(input)
            }
            Ok(false) => Some(input),
            Err(e) => {
                self.storage_error(&e);
                Some(Input::OutboxFailed(Failure::Server))
            }
        }
    }

    /// Sends the oldest wrap-up whose call is in the cloud, if one waits: `None` when none
    /// does.
    async fn send_wrap_up(&self) -> Option<Input> {
        let (key, call_id, wrap) = match self.with_cache(|c| c.next_wrap_up()).await {
            Ok(next) => next?,
            Err(e) => {
                self.storage_error(&e);
                return Some(Input::OutboxFailed(Failure::Server));
            }
        };
        let outcome = match &call_id {
            Some(id) => self.client.wrap_up_call(&self.token, id, &wrap).await,
            None => Err(SendError::Refused {
                code: "no_call".into(),
                message: "The call's record did not reach the cloud.".into(),
            }),
        };
        let (stored, input) = match outcome {
            Ok(call) => (
                self.with_cache(move |c| c.wrap_up_sent(&key, &call))
                    .await
                    .map(|()| true),
                Input::OutboxHandled,
            ),
            Err(SendError::Refused { code, message }) => {
                tracing::warn!(%code, %message, "the cloud refused a wrap-up");
                (
                    self.with_cache(move |c| c.wrap_up_failed(&key, &message))
                        .await
                        .map(|()| false),
                    Input::OutboxHandled,
                )
            }
            Err(SendError::Failed(failure)) => (
                self.with_cache(move |c| c.wrap_up_attempted(&key))
                    .await
                    .map(|()| false),
                Input::OutboxFailed(failure),
            ),
        };
        match stored {
            Ok(sent) => {
                if sent {
                    let cursor = self.with_cache(|c| c.cursor()).await.unwrap_or(0);
                    let _ = self.events.send(SyncEvent::Changed {
                        cursor,
                        entities: vec![entity::CALL.to_owned()],
                        conversations: Vec::new(),
                        arrivals: Vec::new(),
                    });
                }
                Some(input)
            }
            Err(e) => {
                self.storage_error(&e);
                Some(Input::OutboxFailed(Failure::Server))
            }
        }
    }

    async fn send_next(&self) -> Input {
        // Call records first: small, and the history of the call just ended; then their
        // wrap-ups, which need the call in the cloud.
        if let Some(input) = self.send_call_record().await {
            return input;
        }
        if let Some(input) = self.send_wrap_up().await {
            return input;
        }
        let item = match self.with_cache(|c| c.next_pending()).await {
            Ok(Some(item)) => item,
            Ok(None) => return Input::OutboxEmpty,
            Err(e) => {
                self.storage_error(&e);
                return Input::OutboxFailed(Failure::Server);
            }
        };
        let message = NewSmsMessage {
            conversation_id: item.conversation_id.clone(),
            phone_number_id: item.phone_number_id.clone(),
            to: item.to.clone(),
            message: item.body.clone(),
            template_id: item.template_id.clone(),
        };
        let key = item.key.clone();
        let outcome = self.client.send_message(&self.token, &key, &message).await;
        let (stored, input) = match outcome {
            Ok(sent) => {
                let conversation = sent.conversation_id.clone();
                let stored = self
                    .with_cache(move |c| c.outbox_sent(&key, &sent))
                    .await
                    .map(|()| Some(conversation));
                (stored, Input::OutboxHandled)
            }
            Err(SendError::Refused { code, message }) => {
                tracing::info!(%code, "the cloud refused an outbox message");
                let stored = self
                    .with_cache(move |c| c.outbox_failed(&key, &code, &message))
                    .await
                    .map(|()| None);
                (stored, Input::OutboxHandled)
            }
            Err(SendError::Failed(failure)) => {
                let stored = self
                    .with_cache(move |c| c.outbox_attempted(&key))
                    .await
                    .map(|()| None);
                (stored, Input::OutboxFailed(failure))
            }
        };
        match stored {
            Ok(conversation) => {
                let _ = self.events.send(SyncEvent::Outbox);
                if let Some(conversation) = conversation {
                    let cursor = self.with_cache(|c| c.cursor()).await.unwrap_or(0);
                    let _ = self.events.send(SyncEvent::Changed {
                        cursor,
                        entities: vec![entity::SMS_MESSAGE.to_owned()],
                        conversations: vec![conversation],
                        arrivals: Vec::new(),
                    });
                }
                input
            }
            Err(e) => {
                self.storage_error(&e);
                Input::OutboxFailed(Failure::Server)
            }
        }
    }
}
