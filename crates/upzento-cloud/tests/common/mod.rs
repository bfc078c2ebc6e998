//! Test support: a fresh database per test on either backend, and a server on a random port.
//!
//! PostgreSQL tests need `UPZENTO_TEST_PG_URL`, the URL of a server where the user may create
//! databases; `cargo xtask test` starts a throwaway cluster on a random port and sets it.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod client;

use std::sync::Arc;

use upzento_cloud::AppState;
use upzento_cloud::store::Store;
use upzento_cloud::store::postgres::PgStore;
use upzento_cloud::store::sqlite::SqliteStore;

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Keeps a test's database alive; dropping it removes the database.
pub enum DbGuard {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl Drop for DbGuard {
    fn drop(&mut self) {
        if let Self::Postgres { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs outside any runtime we may block: use a thread with its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok((client, conn)) =
                        tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await
                    {
                        tokio::spawn(conn);
                        let _ = client
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

pub fn pg_admin_url() -> String {
    std::env::var("UPZENTO_TEST_PG_URL").expect(
        "UPZENTO_TEST_PG_URL is not set: PostgreSQL tests need a server. `cargo xtask test` starts one.",
    )
}

/// A URL to a new, empty PostgreSQL database, and its guard.
pub async fn fresh_pg_database() -> (String, DbGuard) {
    let admin_url = pg_admin_url();
    let name = format!("t_{}", uuid::Uuid::now_v7().simple());
    let (client, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {admin_url}: {e}"));
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
        .await
        .unwrap();
    let mut config: tokio_postgres::Config = admin_url.parse().unwrap();
    config.dbname(&name);
    let url = pg_url(&config);
    (url, DbGuard::Postgres { admin_url, name })
}

fn pg_url(config: &tokio_postgres::Config) -> String {
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        #[cfg(unix)]
        tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres");
    let password = config
        .get_password()
        .map(|p| format!(":{}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    format!(
        "postgres://{user}{password}@{host}:{port}/{}",
        config.get_dbname().unwrap()
    )
}

pub async fn fresh_store(backend: Backend) -> (Arc<dyn Store>, DbGuard) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(&dir.path().join("cloud.db")).unwrap();
            (Arc::new(store), DbGuard::Sqlite(dir))
        }
        Backend::Postgres => {
            let (url, guard) = fresh_pg_database().await;
            (Arc::new(PgStore::connect(&url).await.unwrap()), guard)
        }
    }
}

pub struct Server {
    pub url: String,
    pub store: Arc<dyn Store>,
    _db: DbGuard,
}

/// A server on a random loopback port over a fresh database with the demo tenant.
pub async fn start(backend: Backend) -> Server {
    start_with(backend, true).await
}

/// Like [`start`]; without `workers` nothing is sent or run in the background, and the
/// test drives the carrier and campaign passes itself with the times it chooses.
pub async fn start_with(backend: Backend, workers: bool) -> Server {
    let (store, db) = fresh_store(backend).await;
    upzento_cloud::demo::ensure_accounts(store.as_ref(), time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // A quick sandbox: delivery reports 50 ms after sending, no per-number pacing.
    let carrier = upzento_cloud::carrier::Sandbox {
        delivery_delay: std::time::Duration::from_millis(50),
        segments_per_second: None,
    };
    start_on(listener, store, db, Arc::new(carrier), workers, None)
}

/// A server on `listener` with the given provider (and our public URL, for providers
/// whose webhook signatures cover it).
pub fn start_on(
    listener: tokio::net::TcpListener,
    store: Arc<dyn Store>,
    db: DbGuard,
    carrier: Arc<dyn upzento_cloud::carrier::Provider>,
    workers: bool,
    public_url: Option<String>,
) -> Server {
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut state = AppState::with_carrier(store.clone(), carrier);
    state.workers = workers;
    state.public_url = public_url;
    state.quiet_hours_ahead_ms = midday_ahead_ms();
    tokio::spawn(async move { upzento_cloud::serve(listener, state).await.unwrap() });
    Server {
        url,
        store,
        _db: db,
    }
}

/// How far ahead a test server judges recipients' time of day: to between 12:00 and 13:00
/// in Los Angeles, where the tests' numbers (+1 415, +1 310) are, so that they are inside
/// their allowed hours (08:00-21:00) whenever the tests run. The quiet-hours tests drive
/// the runner with times of their own.
pub fn midday_ahead_ms() -> i64 {
    use jiff::civil::Time;
    use upzento_domain::quiet::{Window, next_allowed};
    let la = upzento_domain::tz::zone("America/Los_Angeles").unwrap();
    let noon = Window::narrowed(Time::constant(12, 0, 0, 0), Time::constant(13, 0, 0, 0)).unwrap();
    let now = jiff::Timestamp::now();
    let at = next_allowed(now, &[la], noon).unwrap();
    i64::try_from(at.duration_since(now).as_millis()).unwrap()
}

/// Runs each listed `async fn(Backend)` once per backend, as `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::Postgres).await })*
        }
    };
}
