//! `cargo xtask run`: the local cloud and the app signed in to it.
//!
//! Signing in goes through the app's own code (`upzento-client`'s `AccountService`
//! with the OS keyring), so what `run` sets up is exactly what the app would do.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use upzento_client::ErrorKind;
use upzento_client::account::{AccountService, Credentials};
use upzento_client::credentials::KeyringStore;

/// The app's identifier in tauri.conf.json: Tauri names its config directory after it.
const APP_IDENTIFIER: &str = "com.upzento.phone";
const DEMO_EMAIL: &str = "agent@demo.upzento.test";
const DEMO_PASSWORD: &str = "demo-agent-password";

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
}

pub fn data_home() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME").map_or_else(|| home().join(".local/share"), PathBuf::from)
}

fn config_home() -> PathBuf {
    std::env::var_os("XDG_CONFIG_HOME").map_or_else(|| home().join(".config"), PathBuf::from)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

pub fn wait_for_cloud(url: &str) -> Result<()> {
    let addr = url.trim_start_matches("http://");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("upzento-cloud did not start listening on {url}")
}

/// Signs the app in to the demo tenant unless it is already signed in to this cloud.
pub fn sign_in_demo(url: &str) -> Result<()> {
    let accounts = AccountService::new(config_home().join(APP_IDENTIFIER), Arc::new(KeyringStore));
    runtime()?.block_on(async {
        if let Ok(Some(account)) = accounts.current().await
            && account.cloud_url.trim_end_matches('/') == url
        {
            eprintln!("already signed in to {url} as {}", account.user.email);
            return Ok(());
        }
        let credentials = Credentials::Password {
            email: DEMO_EMAIL.into(),
            password: DEMO_PASSWORD.into(),
        };
        match accounts.sign_in(url, credentials).await {
            Ok(account) => {
                eprintln!("signed in to {url} as {}", account.user.email);
                Ok(())
            }
            Err(e) if e.kind == ErrorKind::KeyringUnavailable => {
                eprintln!(
                    "warning: {}\nThe app will open signed out; sign in as {DEMO_EMAIL} / \
                     {DEMO_PASSWORD} once a keyring runs.",
                    e.message
                );
                Ok(())
            }
            Err(e) => bail!("signing in to the demo cloud: {}", e.message),
        }
    })
}

/// A session token of the demo agent, through the client crate's HTTP client.
pub fn demo_token(url: &str) -> Result<String> {
    token(url, DEMO_EMAIL, DEMO_PASSWORD)
}

/// A session token of any user, through the client crate's HTTP client.
pub fn token(url: &str, email: &str, password: &str) -> Result<String> {
    let base =
        upzento_client::cloud::parse_base_url(url).map_err(|e| anyhow::anyhow!(e.message))?;
    let client =
        upzento_client::cloud::CloudClient::new(base).map_err(|e| anyhow::anyhow!(e.message))?;
    runtime()?.block_on(async {
        client
            .token(email, password)
            .await
            .map(|t| t.token)
            .map_err(|e| anyhow::anyhow!(e.message))
    })
}
