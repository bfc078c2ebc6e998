//! SQLite storage: one file in WAL mode, one connection behind a mutex. An operation runs
//! in place on the async worker that asks for it: its statements take a fraction of a
//! millisecond, and moving them off the worker cost more than it saved (on the blocking
//! pool, or with `block_in_place`, which cut the peak request rate of `cargo xtask bench
//! cloud` by a quarter).

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, anyhow};
use rusqlite::{Connection, OptionalExtension};

use rusqlite::TransactionBehavior;

use crate::events::ChangeHub;

/// Migrations in order; `PRAGMA user_version` counts the applied ones.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_init.sql"),
    include_str!("../../migrations/sqlite/0002_numbers_templates_feed.sql"),
    include_str!("../../migrations/sqlite/0003_contacts.sql"),
    include_str!("../../migrations/sqlite/0004_conversations_messages.sql"),
    include_str!("../../migrations/sqlite/0005_calls.sql"),
    include_str!("../../migrations/sqlite/0006_campaigns.sql"),
    include_str!("../../migrations/sqlite/0007_conversation_read.sql"),
    include_str!("../../migrations/sqlite/0008_token_ids.sql"),
    include_str!("../../migrations/sqlite/0009_consent.sql"),
    include_str!("../../migrations/sqlite/0010_provider_webhooks.sql"),
    include_str!("../../migrations/sqlite/0011_send_intent_number_owner.sql"),
    include_str!("../../migrations/sqlite/0012_call_notes.sql"),
    include_str!("../../migrations/sqlite/0013_wrap_up.sql"),
    include_str!("../../migrations/sqlite/0014_conversation_notes_snooze.sql"),
    include_str!("../../migrations/sqlite/0015_supervisor_role.sql"),
    include_str!("../../migrations/sqlite/0016_tenant_disabled.sql"),
    include_str!("../../migrations/sqlite/0017_passwords.sql"),
    include_str!("../../migrations/sqlite/0018_user_deactivated.sql"),
    include_str!("../../migrations/sqlite/0019_invitations_presence.sql"),
    include_str!("../../migrations/sqlite/0020_teams.sql"),
    include_str!("../../migrations/sqlite/0021_change_audience.sql"),
    include_str!("../../migrations/sqlite/0022_quiet_hours.sql"),
    include_str!("../../migrations/sqlite/0023_do_not_contact.sql"),
    include_str!("../../migrations/sqlite/0024_send_pace.sql"),
    include_str!("../../migrations/sqlite/0025_campaign_hours.sql"),
    include_str!("../../migrations/sqlite/0026_campaign_audience.sql"),
];

#[derive(Debug, Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// SQLite serves one process: its own commits are all the changes there are.
    hub: Arc<std::sync::OnceLock<Arc<ChangeHub>>>,
}

std::thread_local! {
    /// Tenants whose changes the running write transaction recorded; announced after commit.
    static PENDING: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl SqliteStore {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
        }
        let conn = Connection::open(path).with_context(|| path.display().to_string())?;
        Self::init(conn)
    }

    pub fn in_memory() -> anyhow::Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> anyhow::Result<Self> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            hub: Arc::default(),
        })
    }

    /// Runs `op` on the connection (each statement on its own).
    pub(super) async fn run<T>(
        &self,
        op: impl AsyncFnOnce(&Connection) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let guard = self
            .conn
            .lock()
            .map_err(|_| anyhow!("sqlite connection poisoned"))?;
        now_or_error(op(&guard))
    }

    /// Commits wake the streams of `hub` (SQLite serves one process: its own commits
    /// are all the changes there are).
    pub(super) async fn notify_changes(&self, hub: Arc<ChangeHub>) -> anyhow::Result<()> {
        self.hub
            .set(hub)
            .map_err(|_| anyhow!("change notifications already started"))
    }
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let applied: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let applied = usize::try_from(applied).context("negative schema version")?;
    if applied > MIGRATIONS.len() {
        anyhow::bail!(
            "the database was written by a newer upzento-cloud (schema {applied}, this one knows {})",
            MIGRATIONS.len()
        );
    }
    // Foreign keys off while migrating (a table rebuild drops a table others refer to;
    // SQLite ignores the switch inside a transaction), each migration checked before it
    // commits, and on again after.
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let migrated = (|| -> anyhow::Result<()> {
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)
                .with_context(|| format!("migration {}", i + 1))?;
            let broken: Option<String> = tx
                .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
                .optional()?;
            if let Some(table) = broken {
                anyhow::bail!("migration {} left a broken reference in {table}", i + 1);
            }
            tx.pragma_update(None, "user_version", i64::try_from(i + 1)?)?;
            tx.commit()?;
        }
        Ok(())
    })();
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrated
}

/// A tenant the running write transaction changed: its streams are woken after commit.
pub(super) fn changed(tenant_id: &str) {
    PENDING.with_borrow_mut(|pending| {
        if !pending.iter().any(|t| t == tenant_id) {
            pending.push(tenant_id.to_owned());
        }
    });
}

/// The outcome of a statement function written once over [`Db`](super::sql::Db): on
/// SQLite every statement runs at once, so its future is ready when first polled.
fn now_or_error<T, E: From<anyhow::Error>>(
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    use futures_util::FutureExt;
    f.now_or_never()
        .unwrap_or_else(|| Err(anyhow!("a SQLite statement did not complete at once").into()))
}

impl SqliteStore {
    /// Runs `op` in an IMMEDIATE transaction (the write lock up front: no upgrade
    /// deadlocks), committed when it succeeds; then wakes the streams of the tenants it
    /// changed. `op` fails with the error type its `Store` method returns.
    pub(super) async fn write<T, E: From<anyhow::Error>>(
        &self,
        op: impl AsyncFnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut guard = self
            .conn
            .lock()
            .map_err(|_| anyhow!("sqlite connection poisoned"))?;
        PENDING.with_borrow_mut(Vec::clear);
        let tx = guard
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(anyhow::Error::from)?;
        let out = now_or_error(op(&tx))?;
        tx.commit().map_err(anyhow::Error::from)?;
        let tenants = PENDING.with_borrow_mut(std::mem::take);
        if let Some(hub) = self.hub.get() {
            for tenant in tenants {
                hub.notify(&tenant);
            }
        }
        Ok(out)
    }
}
