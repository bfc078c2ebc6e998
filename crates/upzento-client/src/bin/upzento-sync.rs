//! `upzento-sync`: runs the client's sync headless against a cloud, for
//! diagnostics and for the crash tests (which kill it with SIGKILL mid-work).
//!
//! ```text
//! upzento-sync --cloud URL --token TOKEN --cache FILE --key HEX
//! ```
//! The token and key are read from the environment (`UPZENTO_TOKEN`,
//! `UPZENTO_CACHE_KEY`) when not given, so they need not appear in `ps`.
//! Prints one line per status change; exits 0 when online with an empty outbox
//! and `--until-idle` was given.

use std::sync::{Arc, Mutex};

use upzento_client::cache::{Cache, CacheKey, Owner};
use upzento_client::cloud::{CloudClient, parse_base_url};
use upzento_client::sync::{SyncEvent, SyncStatus, spawn};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn fail(message: &str) -> ! {
    eprintln!("upzento-sync: {message}");
    std::process::exit(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cloud = arg(&args, "--cloud").unwrap_or_else(|| fail("--cloud URL is required"));
    let token = arg(&args, "--token")
        .or_else(|| std::env::var("UPZENTO_TOKEN").ok())
        .unwrap_or_else(|| fail("--token or UPZENTO_TOKEN is required"));
    let cache_path = arg(&args, "--cache").unwrap_or_else(|| fail("--cache FILE is required"));
    let key = arg(&args, "--key")
        .or_else(|| std::env::var("UPZENTO_CACHE_KEY").ok())
        .and_then(|k| CacheKey::from_hex(&k))
        .unwrap_or_else(|| fail("--key or UPZENTO_CACHE_KEY (64 hex digits) is required"));
    let until_idle = args.iter().any(|a| a == "--until-idle");

    let base = parse_base_url(&cloud).unwrap_or_else(|e| fail(&e.message));
    let client = CloudClient::new(base.clone()).unwrap_or_else(|e| fail(&e.message));
    let me = client.me(&token).await.unwrap_or_else(|e| fail(&e.message));
    let role = me.user.role;
    let owner = Owner {
        cloud: base.to_string(),
        tenant_id: me.tenant.id,
        user_id: me.user.id,
    };
    let cache = Cache::open(std::path::Path::new(&cache_path), &key, &owner)
        .unwrap_or_else(|e| fail(&e.message));
    let cache = Arc::new(Mutex::new(cache));
    let (_sync, mut events) = spawn(
        cache.clone(),
        client,
        token,
        role,
        std::process::id().into(),
    );
    while let Ok(event) = events.recv().await {
        match event {
            SyncEvent::Status { status } => {
                println!(
                    "status {}",
                    serde_json::to_string(&status).unwrap_or_default()
                );
                if until_idle && status == SyncStatus::Online {
                    // Online: wait for the outbox to drain, then stop.
                    loop {
                        let empty = cache
                            .lock()
                            .map(|c| c.next_pending().ok().flatten().is_none())
                            .unwrap_or(false);
                        if empty {
                            println!("idle");
                            return;
                        }
                        let _ = tokio::time::timeout(
                            std::time::Duration::from_millis(100),
                            events.recv(),
                        )
                        .await;
                    }
                }
                if status == SyncStatus::SignedOut {
                    std::process::exit(3);
                }
            }
            SyncEvent::StorageError { message } => eprintln!("storage error: {message}"),
            SyncEvent::Changed { .. } | SyncEvent::Outbox => {}
        }
    }
}
