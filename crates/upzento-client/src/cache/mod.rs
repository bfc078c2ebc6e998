//! The local cache: everything the user may see, encrypted at rest (SQLCipher), so
//! history stays browsable and searchable offline, plus the outbox of messages not
//! yet accepted by the cloud.
//!
//! The cache never reads the clock: callers pass `now_ms`. It is synchronous; the
//! sync driver runs it on a blocking thread.

mod scope;
mod search;

use std::fmt;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use upzento_domain::resources::{
    Call, CallNote, Change, ChangeOp, Contact, Conversation, ConversationNote, ConversationRead,
    ConversationStatus, Direction, NewCall, SmsMessage, WrapUp, entity,
};

pub use scope::{Pruned, widened};
pub use search::{Fragment, MessageHit, SearchResults};

use crate::{ClientError, ErrorKind};

/// Migrations in order; `PRAGMA user_version` counts the applied ones. New ones are
/// appended, never edited: an old cache opened by a newer app moves forward.
const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("calls_outbox.sql"),
    include_str!("search_live.sql"),
    include_str!("thread_inbound.sql"),
    include_str!("wrap_up_outbox.sql"),
    include_str!("conversation_snooze.sql"),
    include_str!("viewer.sql"),
];

/// Keep the search indexes in step with `message` (external content: an index holds
/// no text of its own, so a delete must name the old text; an update re-indexes only
/// when the text changed, not for each delivery report). A message above
/// `account.search_split` is in `message_fts_live`, else in `message_fts`
/// (search_live.sql says why there are two).
const MESSAGE_FTS_TRIGGERS: &str = "
CREATE TRIGGER IF NOT EXISTS message_search_insert AFTER INSERT ON message BEGIN
    INSERT INTO message_fts (rowid, body)
    SELECT new.rowid, json_extract(new.data, '$.message') FROM account
    WHERE id = 1 AND new.rowid <= search_split;
    INSERT INTO message_fts_live (rowid, body)
    SELECT new.rowid, json_extract(new.data, '$.message') FROM account
    WHERE id = 1 AND new.rowid > search_split;
END;
CREATE TRIGGER IF NOT EXISTS message_search_delete AFTER DELETE ON message BEGIN
    INSERT INTO message_fts (message_fts, rowid, body)
    SELECT 'delete', old.rowid, json_extract(old.data, '$.message') FROM account
    WHERE id = 1 AND old.rowid <= search_split;
    INSERT INTO message_fts_live (message_fts_live, rowid, body)
    SELECT 'delete', old.rowid, json_extract(old.data, '$.message') FROM account
    WHERE id = 1 AND old.rowid > search_split;
END;
CREATE TRIGGER IF NOT EXISTS message_search_update AFTER UPDATE OF data ON message
WHEN json_extract(old.data, '$.message') IS NOT json_extract(new.data, '$.message') BEGIN
    INSERT INTO message_fts (message_fts, rowid, body)
    SELECT 'delete', old.rowid, json_extract(old.data, '$.message') FROM account
    WHERE id = 1 AND old.rowid <= search_split;
    INSERT INTO message_fts_live (message_fts_live, rowid, body)
    SELECT 'delete', old.rowid, json_extract(old.data, '$.message') FROM account
    WHERE id = 1 AND old.rowid > search_split;
    INSERT INTO message_fts (rowid, body)
    SELECT new.rowid, json_extract(new.data, '$.message') FROM account
    WHERE id = 1 AND new.rowid <= search_split;
    INSERT INTO message_fts_live (rowid, body)
    SELECT new.rowid, json_extract(new.data, '$.message') FROM account
    WHERE id = 1 AND new.rowid > search_split;
END;";

/// Stops the triggers above (a bulk sync builds the index at its end instead).
const DROP_MESSAGE_FTS_TRIGGERS: &str = "
DROP TRIGGER IF EXISTS message_search_insert;
DROP TRIGGER IF EXISTS message_search_delete;
DROP TRIGGER IF EXISTS message_search_update;";

/// WAL pages between checkpoints while a backlog streams in: the thread index's pages
/// change in every page of the feed, and checkpointing after each (SQLite's default
/// of 1,000 pages) copied them to the file each time; at 64 MiB each is copied once
/// per many pages of the feed (a bulk sync 10 % faster).
const BULK_CHECKPOINT_PAGES: i64 = 16_384;
/// SQLite's default, for live traffic: a small WAL, readers never far behind.
const LIVE_CHECKPOINT_PAGES: i64 = 1_000;

/// A conversation's messages newest first, and its unread count; the same index as
/// thread_inbound.sql creates.
const THREAD_INDEX: &str = "CREATE INDEX IF NOT EXISTS message_thread \
     ON message (conversation_id, rowid DESC, inbound);";

/// A conversation's unread count for user ?1 (inbound messages after the read
/// marker), as a column of the inbox query over `conversation c`. It reads the thread
/// index alone (a test checks the plan).
const UNREAD_COUNT: &str = "(SELECT COUNT(*) FROM message m
      WHERE m.conversation_id = c.id AND m.inbound = 1
        AND m.rowid > COALESCE((SELECT r.read_ms * 1024 + 1023 FROM read_marker r
                                WHERE r.conversation_id = c.id AND r.user_id = ?1), -1))";

/// How many of the newest messages a conversation is looked for in while the thread
/// index is being built (an initial sync): a bounded wait, about 20 ms for 1M messages.
pub const UNINDEXED_SCAN: i64 = 100_000;

fn thread_index_exists(conn: &Connection) -> Result<bool, ClientError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'index' AND name = 'message_thread')",
        [],
        |r| r.get(0),
    )?)
}

/// The 256-bit SQLCipher key: random per cache, kept in the OS keyring only.
#[derive(Clone, PartialEq, Eq)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    pub fn generate() -> Result<Self, ClientError> {
        let mut key = [0_u8; 32];
        getrandom::fill(&mut key)
            .map_err(|e| ClientError::new(ErrorKind::Storage, format!("no randomness: {e}")))?;
        Ok(Self(key))
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.len() != 64 || !text.is_ascii() {
            return None;
        }
        let mut key = [0_u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(key))
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CacheKey(..)")
    }
}

/// Whose data a cache holds: a cache is never reused for another account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub cloud: String,
    pub tenant_id: String,
    pub user_id: String,
}

fn storage(e: impl fmt::Display) -> ClientError {
    ClientError::new(ErrorKind::Storage, format!("local cache: {e}"))
}

impl From<rusqlite::Error> for ClientError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            // Damage found at any point means the same as at opening: rebuild.
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
                ClientError::new(
                    ErrorKind::CacheUnreadable,
                    format!("The local cache is damaged: {e}"),
                )
            }
            _ => storage(e),
        }
    }
}

impl From<serde_json::Error> for ClientError {
    fn from(e: serde_json::Error) -> Self {
        storage(e)
    }
}

/// Creation time of an RFC 3339 stamp in ms (the cloud writes `...T..:..:..mmmZ`).
pub fn ms_of(stamp: &str) -> i64 {
    time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
        .map(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
        .unwrap_or(0)
}

/// The preferred rowid of a message: time order first, a hash of the id to break ties.
fn message_rowid(created_ms: i64, id: &str) -> i64 {
    // FNV-1a: stable across versions and platforms, unlike std's hasher.
    let mut hash: u32 = 0x811c_9dc5;
    for b in id.bytes() {
        hash = (hash ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    created_ms.max(0) * 1024 + i64::from(hash % 1024)
}

/// Which conversations the inbox shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum InboxFilter {
    #[default]
    All,
    Open,
    Closed,
    /// Open and assigned to the signed-in user: the agent's to-do list.
    Mine,
    /// Snoozed until a time still to come (out of Open and Mine until then).
    Snoozed,
    /// Open and belonging to a team the signed-in user is one of: the team's work.
    Teams,
}

impl InboxFilter {
    pub const ALL: [Self; 6] = [
        Self::All,
        Self::Open,
        Self::Closed,
        Self::Mine,
        Self::Snoozed,
        Self::Teams,
    ];

    /// Which conversations (`c`) the filter shows; `?1` is the signed-in user and `?2`
    /// the time now (ms). The list and its counts both use it, so a count is always the
    /// length of its list.
    fn condition(self) -> &'static str {
        match self {
            Self::All => "1 = 1",
            Self::Open => "c.status = 'open' AND NOT (COALESCE(c.snoozed_until_ms, 0) > ?2)",
            Self::Closed => "c.status = 'closed'",
            Self::Mine => {
                "c.status = 'open' AND c.assigned_to = ?1 AND NOT (COALESCE(c.snoozed_until_ms, 0) > ?2)"
            }
            Self::Snoozed => "COALESCE(c.snoozed_until_ms, 0) > ?2",
            // Teams come whole through the feed (kept in `record`, their people a JSON list).
            Self::Teams => {
                "c.status = 'open' AND NOT (COALESCE(c.snoozed_until_ms, 0) > ?2)
                 AND json_extract(c.data, '$.teamId') IN (
                     SELECT t.id FROM record t, json_each(t.data, '$.memberIds') m
                     WHERE t.entity = 'team' AND m.value = ?1)"
            }
        }
    }
}

/// How many conversations each inbox filter shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxCounts {
    pub all: i64,
    pub open: i64,
    pub closed: i64,
    pub mine: i64,
    pub snoozed: i64,
    pub teams: i64,
}

/// A row of the inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxRow {
    pub conversation: Conversation,
    /// The contact's name when the number belongs to one.
    pub contact_name: Option<String>,
    pub unread: i64,
    /// Messages of this conversation still in the outbox.
    pub pending: i64,
}

/// Where an inbox page starts: after this row (last activity, id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxCursor {
    pub last_activity_ms: i64,
    pub id: String,
}

/// Which calls the history shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallQuery {
    pub kind: Option<String>,
    pub status: Option<String>,
    pub from_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

/// A message the user wrote, waiting for the cloud to accept it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxItem {
    pub seq: i64,
    /// The `Idempotency-Key`: a retry never sends twice.
    pub key: String,
    pub conversation_id: Option<String>,
    pub phone_number_id: Option<String>,
    pub to: Option<String>,
    pub body: String,
    pub template_id: Option<String>,
    /// `pending`, or `failed` for good (with the cloud's reason) until retried or deleted.
    pub state: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub attempts: i64,
    pub created_ms: i64,
}

/// What to send: in a conversation, or to a number from one of the tenant's numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub conversation_id: Option<String>,
    pub phone_number_id: Option<String>,
    pub to: Option<String>,
    pub body: String,
    pub template_id: Option<String>,
}

pub struct Cache {
    conn: Connection,
    /// The thread index is dropped during an initial sync (see [`Cache::begin_bulk`]).
    threads_indexed: bool,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache").finish_non_exhaustive()
    }
}

impl Cache {
    /// Opens (or creates) the cache at `path` with `key`, for `owner`.
    ///
    /// A wrong key and a damaged file look alike to SQLCipher ("file is not a
    /// database"): both are [`ErrorKind::CacheUnreadable`], after which the caller
    /// may [`salvage_outbox`] and rebuild from the cloud. A cache of another account
    /// is [`ErrorKind::CacheUnreadable`] too: it is never reused.
    pub fn open(path: &Path, key: &CacheKey, owner: &Owner) -> Result<Self, ClientError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(storage)?;
        }
        // A file written with former settings opens with those (each try costs one
        // failed page read); a new file gets the current ones.
        let mut unreadable_err = None;
        for settings in CIPHER_SETTINGS {
            let conn = Connection::open(path)?;
            match unlock(&conn, key, settings) {
                Ok(()) => return Self::init(conn, owner),
                Err(err) if err.kind == ErrorKind::CacheUnreadable => {
                    unreadable_err.get_or_insert(err);
                }
                Err(err) => return Err(err),
            }
        }
        Err(unreadable_err.unwrap_or_else(unreadable))
    }

    pub fn in_memory(owner: &Owner) -> Result<Self, ClientError> {
        let conn = Connection::open_in_memory()?;
        unlock(&conn, &CacheKey([7; 32]), CIPHER_SETTINGS[0])?;
        Self::init(conn, owner)
    }

    fn init(mut conn: Connection, owner: &Owner) -> Result<Self, ClientError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // 64 MiB of page cache: the FTS index's pages stay hot during a big sync.
        conn.pragma_update(None, "cache_size", -65_536)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;
        let stored: Option<Owner> = conn
            .query_row(
                "SELECT cloud, tenant_id, user_id FROM account WHERE id = 1",
                [],
                |r| {
                    Ok(Owner {
                        cloud: r.get(0)?,
                        tenant_id: r.get(1)?,
                        user_id: r.get(2)?,
                    })
                },
            )
            .optional()?;
        match stored {
            Some(stored) if stored != *owner => {
                return Err(ClientError::new(
                    ErrorKind::CacheUnreadable,
                    "The local cache belongs to another account.",
                ));
            }
            Some(_) => {}
            None => {
                conn.execute(
                    "INSERT INTO account (id, cloud, tenant_id, user_id) VALUES (1, ?1, ?2, ?3)",
                    params![owner.cloud, owner.tenant_id, owner.user_id],
                )?;
            }
        }
        let stale: i64 =
            conn.query_row("SELECT search_stale FROM account WHERE id = 1", [], |r| {
                r.get(0)
            })?;
        if stale == 0 {
            conn.execute_batch(MESSAGE_FTS_TRIGGERS)?;
        } else {
            conn.pragma_update(None, "wal_autocheckpoint", BULK_CHECKPOINT_PAGES)?;
        }
        let threads_indexed = thread_index_exists(&conn)?;
        Ok(Self {
            conn,
            threads_indexed,
        })
    }

    /// Stops maintaining the search index message by message: for a large backlog,
    /// building it once at the end ([`finish_bulk`](Self::finish_bulk)) is faster. The
    /// state is on disk, so a crash in between still ends with a full index.
    ///
    /// Into an empty cache (an initial sync) the thread index is not maintained either:
    /// a feed page adds messages to conversations all over, so each page rewrote most
    /// of that index's pages (two thirds of an initial sync's time). Until
    /// [`finish_bulk`](Self::finish_bulk) builds it, a conversation shows what the newest
    /// [`UNINDEXED_SCAN`] messages hold of it, and unread counts are 0. A catch-up
    /// into a filled cache keeps the index: browsing stays fast while it runs.
    pub fn begin_bulk(&mut self) -> Result<(), ClientError> {
        let tx = self.conn.transaction()?;
        tx.execute_batch(DROP_MESSAGE_FTS_TRIGGERS)?;
        tx.execute("UPDATE account SET search_stale = 1 WHERE id = 1", [])?;
        let empty: bool = tx.query_row("SELECT NOT EXISTS (SELECT 1 FROM message)", [], |r| {
            r.get(0)
        })?;
        if empty {
            tx.execute_batch("DROP INDEX IF EXISTS message_thread;")?;
        }
        tx.commit()?;
        self.threads_indexed = thread_index_exists(&self.conn)?;
        self.conn
            .pragma_update(None, "wal_autocheckpoint", BULK_CHECKPOINT_PAGES)?;
        Ok(())
    }

    /// Whether search covers every cached message (false during a bulk sync).
    pub fn search_ready(&self) -> Result<bool, ClientError> {
        let stale: i64 =
            self.conn
                .query_row("SELECT search_stale FROM account WHERE id = 1", [], |r| {
                    r.get(0)
                })?;
        Ok(stale == 0)
    }

    /// Builds the search index over every message and maintains it again from now on.
    pub fn finish_bulk(&mut self) -> Result<(), ClientError> {
        if self.search_ready()? {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        // A large pending-terms buffer for the rebuild (FTS5's default is 1 MiB): fewer,
        // larger segments to write and merge. Back to the default for live inserts.
        tx.execute(
            "INSERT INTO message_fts (message_fts, rank) VALUES ('hashsize', 67108864)",
            [],
        )?;
        tx.execute(
            "INSERT INTO message_fts (message_fts) VALUES ('rebuild')",
            [],
        )?;
        tx.execute(
            "INSERT INTO message_fts (message_fts, rank) VALUES ('hashsize', 1048576)",
            [],
        )?;
        // Everything is in the bulk index now; what comes next goes to the live one.
        tx.execute(
            "INSERT INTO message_fts_live (message_fts_live) VALUES ('delete-all')",
            [],
        )?;
        tx.execute(
            "UPDATE account SET search_split = (SELECT IFNULL(MAX(rowid), 0) FROM message)
             WHERE id = 1",
            [],
        )?;
        tx.execute_batch(MESSAGE_FTS_TRIGGERS)?;
        // Built in one sorted pass, far cheaper than message by message.
        tx.execute_batch(THREAD_INDEX)?;
        tx.execute("UPDATE account SET search_stale = 0 WHERE id = 1", [])?;
        tx.commit()?;
        self.threads_indexed = true;
        // The bulk's WAL (up to 64 MiB, plus the indexes just built) goes to the file
        // now, and the WAL back to nothing: else the first live message pays for it.
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        self.conn
            .pragma_update(None, "wal_autocheckpoint", LIVE_CHECKPOINT_PAGES)?;
        Ok(())
    }

    /// Whether SQLite finds the file consistent (a quick check, not a full scan).
    pub fn check(&self) -> Result<(), ClientError> {
        let verdict: String = self
            .conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if verdict == "ok" {
            Ok(())
        } else {
            Err(ClientError::new(
                ErrorKind::CacheUnreadable,
                format!("The local cache is damaged: {verdict}"),
            ))
        }
    }

    /// The change-feed position the cached data covers.
    pub fn cursor(&self) -> Result<i64, ClientError> {
        Ok(self
            .conn
            .query_row("SELECT cursor FROM account WHERE id = 1", [], |r| r.get(0))?)
    }

    pub fn user_id(&self) -> Result<String, ClientError> {
        Ok(self
            .conn
            .query_row("SELECT user_id FROM account WHERE id = 1", [], |r| r.get(0))?)
    }

    /// Applies a page of the change feed and moves the cursor to `cursor`, in one
    /// transaction: a crash leaves either both or neither.
    pub fn apply(&mut self, changes: &[Change], cursor: i64) -> Result<(), ClientError> {
        self.apply_inner(changes, cursor, false).map(drop)
    }

    /// Like [`Cache::apply`], and tells which inbound messages it had not seen before
    /// (what a notification announces).
    pub fn apply_noting_arrivals(
        &mut self,
        changes: &[Change],
        cursor: i64,
    ) -> Result<Vec<Arrival>, ClientError> {
        self.apply_inner(changes, cursor, true)
    }

    fn apply_inner(
        &mut self,
        changes: &[Change],
        cursor: i64,
        note: bool,
    ) -> Result<Vec<Arrival>, ClientError> {
        let tx = self.conn.transaction()?;
        let mut arrivals = Vec::new();
        for change in changes {
            if note && let Some(arrival) = arrival(&tx, change)? {
                arrivals.push(arrival);
            }
            apply_one(&tx, change)?;
        }
        tx.execute(
            "UPDATE account SET cursor = ?1 WHERE id = 1 AND cursor < ?1",
            [cursor],
        )?;
        tx.commit()?;
        Ok(arrivals)
    }

    /// Stores records the client got outside the feed (e.g. the answer to a send).
    /// The feed will bring them again; applying twice changes nothing.
    pub fn put_message(&mut self, message: &SmsMessage) -> Result<(), ClientError> {
        let tx = self.conn.transaction()?;
        upsert_message(&tx, message)?;
        tx.commit()?;
        Ok(())
    }

    /// How many conversations each filter of the inbox shows.
    pub fn inbox_counts(&self, now_ms: i64) -> Result<InboxCounts, ClientError> {
        let me = self.user_id()?;
        let [all, open, closed, mine, snoozed, teams] = InboxFilter::ALL.map(|f| {
            format!(
                "COALESCE(SUM(CASE WHEN {} THEN 1 ELSE 0 END), 0)",
                f.condition()
            )
        });
        let sql = format!(
            "SELECT {all}, {open}, {closed}, {mine}, {snoozed}, {teams} FROM conversation c"
        );
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row(params![me, now_ms], |r| {
                Ok(InboxCounts {
                    all: r.get(0)?,
                    open: r.get(1)?,
                    closed: r.get(2)?,
                    mine: r.get(3)?,
                    snoozed: r.get(4)?,
                    teams: r.get(5)?,
                })
            })?)
    }

    /// An inbox page, newest activity first.
    pub fn inbox(
        &self,
        filter: InboxFilter,
        after: Option<&InboxCursor>,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<InboxRow>, ClientError> {
        let me = self.user_id()?;
        let (after_ms, after_id) = after.map_or((i64::MAX, String::new()), |a| {
            (a.last_activity_ms, a.id.clone())
        });
        let condition = filter.condition();
        // Without the thread index (an initial sync) a count would read every message.
        let unread = if self.threads_indexed {
            UNREAD_COUNT
        } else {
            "0"
        };
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT c.data,
                    ct.name,
                    {unread},
                    (SELECT COUNT(*) FROM outbox o WHERE o.conversation_id = c.id)
             FROM conversation c
             LEFT JOIN contact ct ON ct.id = c.contact_id
             WHERE ({condition})
               AND (c.last_activity_ms < ?3 OR (c.last_activity_ms = ?3 AND c.id < ?4))
             ORDER BY c.last_activity_ms DESC, c.id DESC
             LIMIT ?5"
        ))?;
        let rows = stmt.query_map(
            params![
                me,
                now_ms,
                after_ms,
                after_id,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (data, contact_name, unread, pending) = row?;
            out.push(InboxRow {
                conversation: serde_json::from_str(&data)?,
                contact_name,
                unread,
                pending,
            });
        }
        Ok(out)
    }

    pub fn conversation(&self, id: &str) -> Result<Option<Conversation>, ClientError> {
        self.json_by_id("SELECT data FROM conversation WHERE id = ?1", id)
    }

    /// The conversation with `contact_number` (E.164): from our number `phone_number_id`
    /// when given, else from any; an open one before a closed one, then the most recent.
    pub fn conversation_with(
        &self,
        contact_number: &str,
        phone_number_id: Option<&str>,
    ) -> Result<Option<String>, ClientError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id FROM conversation
                 WHERE json_extract(data, '$.contactNumber') = ?1
                   AND (?2 IS NULL OR json_extract(data, '$.phoneNumberId') = ?2)
                 ORDER BY status = 'open' DESC, last_activity_ms DESC, id DESC
                 LIMIT 1",
            )?
            .query_row(params![contact_number, phone_number_id], |r| r.get(0))
            .optional()?)
    }

    /// Keeps a conversation the cloud has just returned to us, ahead of its change-feed
    /// entry (which brings the same record again), so that it can be shown at once.
    pub fn remember_conversation(&mut self, c: &Conversation) -> Result<(), ClientError> {
        self.remember(entity::CONVERSATION, &c.id, c, &c.updated_at)
    }

    /// Like [`Cache::remember_conversation`], for a note just added to a call.
    pub fn remember_call_note(&mut self, n: &CallNote) -> Result<(), ClientError> {
        self.remember(entity::CALL_NOTE, &n.id, n, &n.updated_at)
    }

    /// A call's notes, oldest first (kept whole in `record`, as the feed brings them).
    pub fn call_notes(&self, call_id: &str) -> Result<Vec<CallNote>, ClientError> {
        self.notes(entity::CALL_NOTE, "$.callId", call_id)
    }

    /// A conversation's internal notes, oldest first.
    pub fn conversation_notes(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<ConversationNote>, ClientError> {
        self.notes(
            entity::CONVERSATION_NOTE,
            "$.conversationId",
            conversation_id,
        )
    }

    /// The notes of `entity` whose `subject` (a JSON path) is `id`, oldest first.
    fn notes<T: DeserializeOwned>(
        &self,
        entity: &str,
        subject: &str,
        id: &str,
    ) -> Result<Vec<T>, ClientError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT data FROM record
             WHERE entity = ?1 AND json_extract(data, ?2) = ?3
             ORDER BY json_extract(data, '$.createdAt'), id",
        )?;
        let rows = stmt.query_map(params![entity, subject, id], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row?)?);
        }
        Ok(out)
    }

    /// Like [`Cache::remember_conversation`], for a contact just created.
    pub fn remember_contact(&mut self, c: &Contact) -> Result<(), ClientError> {
        self.remember(entity::CONTACT, &c.id, c, &c.updated_at)
    }

    /// Keeps a record the cloud has just returned, ahead of its change-feed entry (which
    /// brings the same record again), so that it shows at once.
    pub fn remember<T: Serialize>(
        &mut self,
        entity: &str,
        id: &str,
        record: &T,
        at: &str,
    ) -> Result<(), ClientError> {
        let change = Change {
            seq: 0,
            entity: entity.into(),
            id: id.into(),
            op: ChangeOp::Upsert,
            data: Some(serde_json::to_value(record)?),
            changed_at: at.into(),
            entered_scope: false,
        };
        let tx = self.conn.transaction()?;
        apply_one(&tx, &change)?;
        tx.commit()?;
        Ok(())
    }

    /// A conversation's messages, newest first, before the message `before` when given.
    pub fn messages(
        &self,
        conversation_id: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SmsMessage>, ClientError> {
        let before_rowid: i64 = match before {
            Some(id) => self
                .conn
                .query_row("SELECT rowid FROM message WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?
                .unwrap_or(i64::MAX),
            None => i64::MAX,
        };
        let sql = if self.threads_indexed {
            format!(
                "SELECT {MESSAGE_DATA} FROM message m WHERE m.conversation_id = ?1 AND m.rowid < ?2
                 ORDER BY m.rowid DESC LIMIT ?3"
            )
        } else {
            format!(
                "SELECT {MESSAGE_DATA} FROM (SELECT * FROM message WHERE rowid < ?2
                                             ORDER BY rowid DESC LIMIT {UNINDEXED_SCAN}) m
                 WHERE m.conversation_id = ?1 ORDER BY m.rowid DESC LIMIT ?3"
            )
        };
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![
                conversation_id,
                before_rowid,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| r.get::<_, String>(0),
        )?;
        rows.map(|data| Ok(serde_json::from_str(&data?)?)).collect()
    }

    pub fn contact(&self, id: &str) -> Result<Option<Contact>, ClientError> {
        self.json_by_id("SELECT data FROM contact WHERE id = ?1", id)
    }

    /// The contact that has this E.164 number.
    pub fn contact_by_number(&self, number: &str) -> Result<Option<Contact>, ClientError> {
        self.json_by_id(
            "SELECT c.data FROM contact_number n JOIN contact c ON c.id = n.contact_id
             WHERE n.number = ?1",
            number,
        )
    }

    pub fn call(&self, id: &str) -> Result<Option<Call>, ClientError> {
        self.json_by_id("SELECT data FROM call WHERE id = ?1", id)
    }

    /// Calls, newest first, before the call (start ms, id) when given.
    pub fn calls(
        &self,
        query: &CallQuery,
        before: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<Call>, ClientError> {
        let (before_ms, before_id) = before.unwrap_or((i64::MAX, ""));
        let mut stmt = self.conn.prepare_cached(
            "SELECT data FROM call
             WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR status = ?2)
               AND (?3 IS NULL OR start_ms >= ?3) AND (?4 IS NULL OR start_ms < ?4)
               AND (start_ms < ?5 OR (start_ms = ?5 AND id < ?6))
             ORDER BY start_ms DESC, id DESC LIMIT ?7",
        )?;
        let rows = stmt.query_map(
            params![
                query.kind,
                query.status,
                query.from_ms,
                query.until_ms,
                before_ms,
                before_id,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| r.get::<_, String>(0),
        )?;
        rows.map(|data| Ok(serde_json::from_str(&data?)?)).collect()
    }

    /// The latest calls with `number` (either direction), newest first. Walks the
    /// history newest-first and stops at `limit` matches.
    pub fn calls_with(&self, number: &str, limit: usize) -> Result<Vec<Call>, ClientError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT data FROM call
             WHERE json_extract(data, '$.from') = ?1 OR json_extract(data, '$.to') = ?1
             ORDER BY start_ms DESC, id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(
            params![number, i64::try_from(limit).unwrap_or(i64::MAX)],
            |r| r.get::<_, String>(0),
        )?;
        rows.map(|data| Ok(serde_json::from_str(&data?)?)).collect()
    }

    /// Records of a small entity (numbers, templates, campaigns), in id order.
    pub fn records<T: DeserializeOwned>(&self, entity: &str) -> Result<Vec<T>, ClientError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT data FROM record WHERE entity = ?1 ORDER BY id")?;
        let rows = stmt.query_map([entity], |r| r.get::<_, String>(0))?;
        rows.map(|data| Ok(serde_json::from_str(&data?)?)).collect()
    }

    /// How many conversations have messages the signed-in user has not read (the tray's
    /// count): one index seek per conversation.
    pub fn unread_conversations(&self) -> Result<i64, ClientError> {
        if !self.threads_indexed {
            return Ok(0);
        }
        let me = self.user_id()?;
        Ok(self.conn.prepare_cached(
            "SELECT COUNT(*) FROM conversation c
             WHERE EXISTS (SELECT 1 FROM message m
                           WHERE m.conversation_id = c.id AND m.inbound = 1
                             AND m.rowid > COALESCE((SELECT r.read_ms * 1024 + 1023 FROM read_marker r
                                                     WHERE r.conversation_id = c.id AND r.user_id = ?1), -1))",
        )?
        .query_row([me], |r| r.get(0))?)
    }

    /// Counts of what the cache holds (diagnostics, benchmarks).
    pub fn counts(&self) -> Result<(i64, i64), ClientError> {
        let conversations = self
            .conn
            .query_row("SELECT COUNT(*) FROM conversation", [], |r| r.get(0))?;
        let messages = self
            .conn
            .query_row("SELECT COUNT(*) FROM message", [], |r| r.get(0))?;
        Ok((conversations, messages))
    }

    /// Bytes on disk per table and index, largest first (for benchmarks and diagnostics).
    pub fn space(&self) -> Result<Vec<(String, i64)>, ClientError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn json_by_id<T: DeserializeOwned>(
        &self,
        sql: &str,
        id: &str,
    ) -> Result<Option<T>, ClientError> {
        let data: Option<String> = self
            .conn
            .prepare_cached(sql)?
            .query_row([id], |r| r.get(0))
            .optional()?;
        data.map(|d| Ok(serde_json::from_str(&d)?)).transpose()
    }

    /// Marks a conversation read by `user_id` up to `now_ms` here, before the cloud
    /// confirms it. Returns whether anything changed.
    pub fn mark_read_local(
        &mut self,
        conversation_id: &str,
        user_id: &str,
        now_ms: i64,
    ) -> Result<bool, ClientError> {
        Ok(self.conn.execute(
            "INSERT INTO read_marker (conversation_id, user_id, read_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (conversation_id, user_id) DO UPDATE SET read_ms = excluded.read_ms
             WHERE excluded.read_ms > read_ms",
            params![conversation_id, user_id, now_ms],
        )? > 0)
    }

    // Call records on their way to the cloud.

    /// Keeps the record of a finished call until the cloud has it; a second record
    /// with the same Call-ID changes nothing.
    pub fn queue_call_record(&mut self, call: &NewCall, now_ms: i64) -> Result<(), ClientError> {
        let key = call
            .sip_call_id
            .clone()
            .ok_or_else(|| storage("a call record without its SIP Call-ID"))?;
        self.conn.execute(
            "INSERT OR IGNORE INTO call_outbox (sip_call_id, data, state, created_ms)
             VALUES (?1, ?2, 'pending', ?3)",
            params![key, serde_json::to_string(call)?, now_ms],
        )?;
        Ok(())
    }

    /// The oldest call record not yet in the cloud.
    pub fn next_call_record(&self) -> Result<Option<NewCall>, ClientError> {
        let data: Option<String> = self
            .conn
            .prepare_cached(
                "SELECT data FROM call_outbox WHERE state = 'pending' ORDER BY seq LIMIT 1",
            )?
            .query_row([], |r| r.get(0))
            .optional()?;
        Ok(data.map(|d| serde_json::from_str(&d)).transpose()?)
    }

    /// Call records waiting (pending) and refused (failed).
    pub fn call_records_waiting(&self) -> Result<(u32, u32), ClientError> {
        Ok(self.conn.query_row(
            "SELECT COALESCE(SUM(state = 'pending'), 0), COALESCE(SUM(state = 'failed'), 0)
             FROM call_outbox",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }

    /// The cloud has the call: it leaves the outbox and joins the history, together.
    pub fn call_record_sent(&mut self, sip_call_id: &str, call: &Call) -> Result<(), ClientError> {
        self.call_outbox_sent(CallOutbox::Records, sip_call_id, call)
    }

    /// The cloud refused the record for good (kept, with the reason, for support).
    pub fn call_record_failed(
        &mut self,
        sip_call_id: &str,
        reason: &str,
    ) -> Result<(), ClientError> {
        self.call_outbox_failed(CallOutbox::Records, sip_call_id, reason)
    }

    pub fn call_record_attempted(&mut self, sip_call_id: &str) -> Result<(), ClientError> {
        self.call_outbox_attempted(CallOutbox::Records, sip_call_id)
    }

    // Wrap-ups on their way to the cloud, after their call's record.

    /// Keeps a call's wrap-up until the cloud has it; a later one replaces it.
    pub fn queue_wrap_up(
        &mut self,
        sip_call_id: &str,
        wrap: &WrapUp,
        now_ms: i64,
    ) -> Result<(), ClientError> {
        self.conn.execute(
            "INSERT INTO wrap_up_outbox (sip_call_id, data, state, created_ms)
             VALUES (?1, ?2, 'pending', ?3)
             ON CONFLICT (sip_call_id) DO UPDATE SET data = excluded.data, state = 'pending',
                 error_message = NULL",
            params![sip_call_id, serde_json::to_string(wrap)?, now_ms],
        )?;
        Ok(())
    }

    /// The oldest wrap-up whose call's record is no longer waiting: its SIP Call-ID, the
    /// call's id in the cloud (`None` when the record never got there) and the wrap-up.
    pub fn next_wrap_up(&self) -> Result<Option<(String, Option<String>, WrapUp)>, ClientError> {
        let row: Option<(String, String)> = self
            .conn
            .prepare_cached(
                "SELECT w.sip_call_id, w.data FROM wrap_up_outbox w
                 WHERE w.state = 'pending' AND NOT EXISTS (
                     SELECT 1 FROM call_outbox c
                     WHERE c.sip_call_id = w.sip_call_id AND c.state = 'pending')
                 ORDER BY w.seq LIMIT 1",
            )?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((sip_call_id, data)) = row else {
            return Ok(None);
        };
        let call_id: Option<String> = self
            .conn
            .prepare_cached(
                "SELECT id FROM call WHERE json_extract(data, '$.sipCallId') = ?1 LIMIT 1",
            )?
            .query_row([&sip_call_id], |r| r.get(0))
            .optional()?;
        Ok(Some((sip_call_id, call_id, serde_json::from_str(&data)?)))
    }

    /// Wrap-ups waiting (pending) and refused (failed).
    pub fn wrap_ups_waiting(&self) -> Result<(u32, u32), ClientError> {
        Ok(self.conn.query_row(
            "SELECT COALESCE(SUM(state = 'pending'), 0), COALESCE(SUM(state = 'failed'), 0)
             FROM wrap_up_outbox",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }

    /// The cloud has the wrap-up: it leaves the outbox, and the call as the cloud
    /// returned it is kept, together.
    pub fn wrap_up_sent(&mut self, sip_call_id: &str, call: &Call) -> Result<(), ClientError> {
        self.call_outbox_sent(CallOutbox::WrapUps, sip_call_id, call)
    }

    pub fn wrap_up_failed(&mut self, sip_call_id: &str, reason: &str) -> Result<(), ClientError> {
        self.call_outbox_failed(CallOutbox::WrapUps, sip_call_id, reason)
    }

    pub fn wrap_up_attempted(&mut self, sip_call_id: &str) -> Result<(), ClientError> {
        self.call_outbox_attempted(CallOutbox::WrapUps, sip_call_id)
    }

    fn call_outbox_sent(
        &mut self,
        outbox: CallOutbox,
        sip_call_id: &str,
        call: &Call,
    ) -> Result<(), ClientError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            &format!("DELETE FROM {} WHERE sip_call_id = ?1", outbox.table()),
            [sip_call_id],
        )?;
        upsert_call(&tx, call)?;
        tx.commit()?;
        Ok(())
    }

    fn call_outbox_failed(
        &mut self,
        outbox: CallOutbox,
        sip_call_id: &str,
        reason: &str,
    ) -> Result<(), ClientError> {
        self.conn.execute(
            &format!(
                "UPDATE {} SET state = 'failed', error_message = ?2, attempts = attempts + 1
                 WHERE sip_call_id = ?1",
                outbox.table()
            ),
            params![sip_call_id, reason],
        )?;
        Ok(())
    }

    fn call_outbox_attempted(
        &mut self,
        outbox: CallOutbox,
        sip_call_id: &str,
    ) -> Result<(), ClientError> {
        self.conn.execute(
            &format!(
                "UPDATE {} SET attempts = attempts + 1 WHERE sip_call_id = ?1",
                outbox.table()
            ),
            [sip_call_id],
        )?;
        Ok(())
    }

    // The outbox.

    /// Stores a message to send, pending, under a fresh idempotency key.
    pub fn enqueue(&mut self, draft: &Draft, now_ms: i64) -> Result<OutboxItem, ClientError> {
        let key = format!("desktop-{}", uuid_like()?);
        self.conn.execute(
            "INSERT INTO outbox (key, conversation_id, phone_number_id, to_number, body, template_id,
                                 state, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7)",
            params![
                key,
                draft.conversation_id,
                draft.phone_number_id,
                draft.to,
                draft.body,
                draft.template_id,
                now_ms
            ],
        )?;
        self.outbox_item(&key)?
            .ok_or_else(|| storage("the outbox lost a message it just stored"))
    }

    /// Everything in the outbox, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxItem>, ClientError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY seq"))?;
        let rows = stmt.query_map([], outbox_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn outbox_item(&self, key: &str) -> Result<Option<OutboxItem>, ClientError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE key = ?1"
            ))?
            .query_row([key], outbox_from_row)
            .optional()?)
    }

    /// The next message to send: the oldest pending one.
    pub fn next_pending(&self) -> Result<Option<OutboxItem>, ClientError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE state = 'pending' ORDER BY seq LIMIT 1"
            ))?
            .query_row([], outbox_from_row)
            .optional()?)
    }

    /// The cloud accepted the message: it leaves the outbox and joins its conversation,
    /// in one transaction.
    pub fn outbox_sent(&mut self, key: &str, message: &SmsMessage) -> Result<(), ClientError> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM outbox WHERE key = ?1", [key])?;
        upsert_message(&tx, message)?;
        tx.commit()?;
        Ok(())
    }

    /// An attempt failed for a passing reason: count it, keep the message pending.
    pub fn outbox_attempted(&mut self, key: &str) -> Result<(), ClientError> {
        self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1 WHERE key = ?1",
            [key],
        )?;
        Ok(())
    }

    /// The cloud refused the message for good: it stays, failed, with the reason.
    pub fn outbox_failed(
        &mut self,
        key: &str,
        code: &str,
        message: &str,
    ) -> Result<(), ClientError> {
        self.conn.execute(
            "UPDATE outbox SET state = 'failed', error_code = ?2, error_message = ?3,
                               attempts = attempts + 1
             WHERE key = ?1",
            params![key, code, message],
        )?;
        Ok(())
    }

    /// Puts a failed message back in line (at the end: it keeps its key, so a send that
    /// did reach the cloud is not repeated).
    pub fn outbox_retry(&mut self, key: &str) -> Result<bool, ClientError> {
        let tx = self.conn.transaction()?;
        let Some(item) = tx
            .prepare_cached(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE key = ?1"
            ))?
            .query_row([key], outbox_from_row)
            .optional()?
        else {
            return Ok(false);
        };
        tx.execute("DELETE FROM outbox WHERE key = ?1", [key])?;
        tx.execute(
            "INSERT INTO outbox (key, conversation_id, phone_number_id, to_number, body, template_id,
                                 state, attempts, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8)",
            params![
                item.key,
                item.conversation_id,
                item.phone_number_id,
                item.to,
                item.body,
                item.template_id,
                item.attempts,
                item.created_ms
            ],
        )?;
        tx.commit()?;
        Ok(true)
    }

    pub fn outbox_delete(&mut self, key: &str) -> Result<bool, ClientError> {
        Ok(self
            .conn
            .execute("DELETE FROM outbox WHERE key = ?1", [key])?
            > 0)
    }

    /// Puts outbox items saved from a damaged cache into this one, keys kept.
    pub fn restore_outbox(&mut self, items: &[OutboxItem]) -> Result<(), ClientError> {
        let tx = self.conn.transaction()?;
        for item in items {
            tx.execute(
                "INSERT OR IGNORE INTO outbox (key, conversation_id, phone_number_id, to_number, body,
                                               template_id, state, error_code, error_message, attempts, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    item.key,
                    item.conversation_id,
                    item.phone_number_id,
                    item.to,
                    item.body,
                    item.template_id,
                    item.state,
                    item.error_code,
                    item.error_message,
                    item.attempts,
                    item.created_ms
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// Reads what can be read of the outbox of a cache that will not open cleanly.
pub fn salvage_outbox(path: &Path, key: &CacheKey) -> Vec<OutboxItem> {
    let read = || -> Result<Vec<OutboxItem>, rusqlite::Error> {
        let open = |settings: &str| -> Result<Option<Connection>, rusqlite::Error> {
            let conn =
                Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
            Ok(unlock(&conn, key, settings).is_ok().then_some(conn))
        };
        let mut opened = None;
        for settings in CIPHER_SETTINGS {
            opened = open(settings)?;
            if opened.is_some() {
                break;
            }
        }
        let Some(conn) = opened else {
            return Ok(Vec::new());
        };
        let mut stmt =
            conn.prepare(&format!("SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY seq"))?;
        let rows = stmt.query_map([], outbox_from_row)?;
        // Rows that cannot be read are left behind; the rest is saved.
        Ok(rows.filter_map(Result::ok).collect())
    };
    read().unwrap_or_default()
}

/// How a cache file is encrypted besides its key, newest first: a new file gets the
/// first, a file written before opens with the settings it was written with. Set
/// before the first read of a connection, as SQLCipher requires.
/// - 16 KiB pages (SQLCipher's default is 4 KiB): a quarter of the pages to encrypt,
///   authenticate and give an IV; a bulk sync of 1M messages 10.6 -> 8.7 s, with
///   inbox pages and search as fast (`cargo xtask bench client`).
/// - Page HMAC with SHA-256 rather than SHA-512: it runs on the CPU's SHA extensions,
///   and a bulk sync spent a fifth of its time authenticating pages.
/// - SQLCipher 4's defaults: the first caches.
const CIPHER_SETTINGS: &[&str] = &[
    "PRAGMA cipher_hmac_algorithm = HMAC_SHA256; PRAGMA cipher_page_size = 16384;",
    "PRAGMA cipher_hmac_algorithm = HMAC_SHA256;",
    "",
];

/// Gives `conn` its key and cipher settings, and checks that they fit the file.
fn unlock(conn: &Connection, key: &CacheKey, settings: &str) -> Result<(), ClientError> {
    // SQLCipher logs failed decryption to stderr; the error value says it all.
    conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
    // A raw key skips SQLCipher's PBKDF2: the key is random, not a password.
    conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", key.to_hex()))?;
    conn.execute_batch(settings)?;
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => unreadable(),
        _ => ClientError::from(e),
    })?;
    Ok(())
}

fn unreadable() -> ClientError {
    ClientError::new(
        ErrorKind::CacheUnreadable,
        "The local cache cannot be read: its key does not fit or the file is damaged.",
    )
}

fn uuid_like() -> Result<String, ClientError> {
    let mut bytes = [0_u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| ClientError::new(ErrorKind::Storage, format!("no randomness: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

const OUTBOX_COLUMNS: &str = "seq, key, conversation_id, phone_number_id, to_number, body, \
     template_id, state, error_code, error_message, attempts, created_ms";

fn outbox_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxItem> {
    Ok(OutboxItem {
        seq: r.get(0)?,
        key: r.get(1)?,
        conversation_id: r.get(2)?,
        phone_number_id: r.get(3)?,
        to: r.get(4)?,
        body: r.get(5)?,
        template_id: r.get(6)?,
        state: r.get(7)?,
        error_code: r.get(8)?,
        error_message: r.get(9)?,
        attempts: r.get(10)?,
        created_ms: r.get(11)?,
    })
}

fn migrate(conn: &mut Connection) -> Result<(), ClientError> {
    let applied: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let applied = usize::try_from(applied).unwrap_or(usize::MAX);
    if applied > MIGRATIONS.len() {
        return Err(ClientError::new(
            ErrorKind::CacheUnreadable,
            "The local cache was written by a newer version of the app.",
        ));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(i + 1).unwrap_or(i64::MAX),
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// The outboxes of a call's records, keyed by its SIP Call-ID.
#[derive(Debug, Clone, Copy)]
enum CallOutbox {
    Records,
    WrapUps,
}

impl CallOutbox {
    fn table(self) -> &'static str {
        match self {
            Self::Records => "call_outbox",
            Self::WrapUps => "wrap_up_outbox",
        }
    }
}

fn upsert_call(tx: &Transaction<'_>, call: &Call) -> Result<(), ClientError> {
    tx.prepare_cached(
        "INSERT INTO call (id, start_ms, kind, status, data) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (id) DO UPDATE SET start_ms = excluded.start_ms,
             kind = excluded.kind, status = excluded.status, data = excluded.data",
    )?
    .execute(params![
        call.id,
        ms_of(&call.start_time),
        call.kind.as_str(),
        call.status.as_str(),
        serde_json::to_string(call)?
    ])?;
    Ok(())
}

fn data<T: DeserializeOwned>(change: &Change) -> Result<T, ClientError> {
    let value = change
        .data
        .clone()
        .ok_or_else(|| storage(format!("change {} has no data", change.seq)))?;
    Ok(serde_json::from_value(value)?)
}

fn apply_one(tx: &Transaction<'_>, change: &Change) -> Result<(), ClientError> {
    let delete = change.op == ChangeOp::Delete;
    match change.entity.as_str() {
        entity::CONVERSATION => {
            if delete {
                tx.execute("DELETE FROM conversation WHERE id = ?1", [&change.id])?;
            } else {
                let c: Conversation = data(change)?;
                tx.prepare_cached(
                    "INSERT INTO conversation (id, last_activity_ms, status, assigned_to, contact_id,
                         data, snoozed_until_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (id) DO UPDATE SET last_activity_ms = excluded.last_activity_ms,
                         status = excluded.status, assigned_to = excluded.assigned_to,
                         contact_id = excluded.contact_id, data = excluded.data,
                         snoozed_until_ms = excluded.snoozed_until_ms",
                )?
                .execute(params![
                    c.id,
                    ms_of(&c.last_activity_at),
                    match c.status {
                        ConversationStatus::Open => "open",
                        ConversationStatus::Closed => "closed",
                    },
                    c.assigned_to,
                    c.contact_id,
                    serde_json::to_string(&c)?,
                    c.snoozed_until.as_deref().map(ms_of)
                ])?;
            }
        }
        entity::SMS_MESSAGE => {
            if delete {
                tx.execute("DELETE FROM message WHERE id = ?1", [&change.id])?;
            } else {
                // The hottest path of a sync: no round trip through the typed struct.
                let value = change
                    .data
                    .as_ref()
                    .ok_or_else(|| storage(format!("change {} has no data", change.seq)))?;
                let row = MessageRow::from_json(value)
                    .ok_or_else(|| storage(format!("message {} is incomplete", change.id)))?;
                upsert_message_row(tx, &row, &compact_message_json(value)?)?;
            }
        }
        entity::CONTACT => {
            tx.execute(
                "DELETE FROM contact_number WHERE contact_id = ?1",
                [&change.id],
            )?;
            if delete {
                tx.execute("DELETE FROM contact WHERE id = ?1", [&change.id])?;
            } else {
                upsert_contact(tx, &data(change)?)?;
            }
        }
        entity::CALL => {
            if delete {
                tx.execute("DELETE FROM call WHERE id = ?1", [&change.id])?;
            } else {
                upsert_call(tx, &data(change)?)?;
            }
        }
        entity::CONVERSATION_READ => {
            if !delete {
                let r: ConversationRead = data(change)?;
                tx.prepare_cached(
                    "INSERT INTO read_marker (conversation_id, user_id, read_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (conversation_id, user_id)
                     DO UPDATE SET read_ms = MAX(read_ms, excluded.read_ms)",
                )?
                .execute(params![r.conversation_id, r.user_id, ms_of(&r.read_at)])?;
            }
        }
        // Numbers, templates, campaigns and whatever a newer cloud adds: kept whole.
        other => {
            if delete {
                tx.execute(
                    "DELETE FROM record WHERE entity = ?1 AND id = ?2",
                    params![other, change.id],
                )?;
            } else {
                let value = change.data.clone().unwrap_or(serde_json::Value::Null);
                tx.prepare_cached(
                    "INSERT INTO record (entity, id, data) VALUES (?1, ?2, ?3)
                     ON CONFLICT (entity, id) DO UPDATE SET data = excluded.data",
                )?
                .execute(params![other, change.id, value.to_string()])?;
            }
        }
    }
    Ok(())
}

/// An inbound message that reached the cache for the first time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Arrival {
    pub message_id: String,
    pub conversation_id: String,
    pub body: String,
    pub created_at: String,
}

/// The arrival `change` brings, if it is a new inbound message.
fn arrival(tx: &Transaction<'_>, change: &Change) -> Result<Option<Arrival>, ClientError> {
    if change.entity != entity::SMS_MESSAGE || change.op != ChangeOp::Upsert {
        return Ok(None);
    }
    let Some(data) = &change.data else {
        return Ok(None);
    };
    let text = |name: &str| data.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    if text("direction").as_deref() != Some("inbound") {
        return Ok(None);
    }
    let known: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM message WHERE id = ?1)",
        [&change.id],
        |r| r.get(0),
    )?;
    if known {
        return Ok(None);
    }
    Ok(Some(Arrival {
        message_id: change.id.clone(),
        conversation_id: text("conversationId").unwrap_or_default(),
        body: text("message").unwrap_or_default(),
        created_at: text("createdAt").unwrap_or_default(),
    }))
}

fn upsert_message(tx: &Transaction<'_>, m: &SmsMessage) -> Result<(), ClientError> {
    let json = compact_message_json(&serde_json::to_value(m)?)?;
    upsert_message_row(
        tx,
        &MessageRow {
            id: &m.id,
            conversation_id: &m.conversation_id,
            inbound: m.direction == Direction::Inbound,
            created_ms: ms_of(&m.created_at),
        },
        &json,
    )
}

/// What the message table needs of a message, read straight from the feed's JSON.
struct MessageRow<'a> {
    id: &'a str,
    conversation_id: &'a str,
    inbound: bool,
    created_ms: i64,
}

impl<'a> MessageRow<'a> {
    fn from_json(value: &'a serde_json::Value) -> Option<Self> {
        let text = |key: &str| value.get(key).and_then(serde_json::Value::as_str);
        Some(Self {
            id: text("id")?,
            conversation_id: text("conversationId")?,
            inbound: text("direction")? == "inbound",
            created_ms: ms_of(text("createdAt")?),
        })
    }
}

/// A message's JSON as stored: without null fields (missing optional fields read back
/// as `None`) and without the id and conversation id, which are columns; together a
/// third of its bytes. [`MESSAGE_DATA`] puts the two back when reading.
fn compact_message_json(value: &serde_json::Value) -> Result<String, ClientError> {
    struct Compact<'a>(&'a serde_json::Map<String, serde_json::Value>);
    impl serde::Serialize for Compact<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut map = s.serialize_map(None)?;
            for (k, v) in self.0 {
                if !v.is_null() && k != "id" && k != "conversationId" {
                    map.serialize_entry(k, v)?;
                }
            }
            map.end()
        }
    }
    Ok(match value {
        serde_json::Value::Object(map) => serde_json::to_string(&Compact(map))?,
        other => other.to_string(),
    })
}

/// The full JSON of a stored message (alias `m`).
const MESSAGE_DATA: &str = "json_set(m.data, '$.id', m.id, '$.conversationId', m.conversation_id)";

fn upsert_message_row(
    tx: &Transaction<'_>,
    m: &MessageRow<'_>,
    json: &str,
) -> Result<(), ClientError> {
    let mut rowid = message_rowid(m.created_ms, m.id);
    loop {
        // One statement in the common case: a new message, or a new state of a known one
        // (the body, and so the full-text index, is touched only when it changed).
        let result = tx
            .prepare_cached(
                "INSERT INTO message (rowid, id, conversation_id, inbound, data)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET data = excluded.data",
            )?
            .execute(params![
                rowid,
                m.id,
                m.conversation_id,
                i64::from(m.inbound),
                json
            ]);
        match result {
            Ok(_) => return Ok(()),
            // Another message holds this rowid (same millisecond, same id bits): next slot.
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                rowid += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn upsert_contact(tx: &Transaction<'_>, c: &Contact) -> Result<(), ClientError> {
    let name = c.full_name();
    let mut terms = vec![name.clone()];
    terms.extend(c.email.clone());
    for number in &c.phone_numbers {
        // "+14155550101" and "4155550101" and "0101": digits match as prefixes too.
        terms.push(number.trim_start_matches('+').to_owned());
        if number.len() > 4 {
            terms.push(number[number.len().saturating_sub(10)..].to_owned());
        }
    }
    let terms = terms.join(" ");
    let json = serde_json::to_string(c)?;
    let updated = tx
        .prepare_cached("UPDATE contact SET name = ?2, terms = ?3, data = ?4 WHERE id = ?1")?
        .execute(params![c.id, name, terms, json])?;
    if updated == 0 {
        tx.prepare_cached("INSERT INTO contact (id, name, terms, data) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![c.id, name, terms, json])?;
    }
    for number in &c.phone_numbers {
        tx.prepare_cached(
            "INSERT INTO contact_number (number, contact_id) VALUES (?1, ?2)
             ON CONFLICT (number) DO UPDATE SET contact_id = excluded.contact_id",
        )?
        .execute(params![number, c.id])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
