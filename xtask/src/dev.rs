//! `cargo xtask run`: the local cloud and the app signed in to it.
//!
//! Signing in goes through the app's own code (`upzento-client`'s `upzento-account`
//! binary: `AccountService` with the OS keyring), so what `run` sets up is exactly what
//! the app would do. xtask itself does not link the client: the client needs system
//! libraries (D-Bus for the keyring) that `deps::ensure` installs first.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::proc::cargo;
use crate::root;

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

/// `upzento-account` (built by cargo on the way) with the password in its environment
/// (never on a command line).
fn account(args: &[&str], password: &str) -> Command {
    let mut cmd = cargo();
    cmd.current_dir(root()).args([
        "run",
        "--quiet",
        "-p",
        "upzento-client",
        "--bin",
        "upzento-account",
        "--",
    ]);
    account_with(cmd, args, password)
}

/// `cmd` (an `upzento-account`) with `args` and the password in its environment.
fn account_with(mut cmd: Command, args: &[&str], password: &str) -> Command {
    cmd.args(args).env("UPZENTO_PASSWORD", password);
    cmd
}

/// Signs the app in to the demo tenant unless it is already signed in to this cloud.
pub fn sign_in_demo(account_bin: &Path, url: &str) -> Result<()> {
    let config_dir = config_home().join(APP_IDENTIFIER);
    let config_dir = config_dir.to_string_lossy();
    let status = account_with(
        Command::new(account_bin),
        &[
            "sign-in",
            "--cloud",
            url,
            "--email",
            DEMO_EMAIL,
            "--config-dir",
            &config_dir,
        ],
        DEMO_PASSWORD,
    )
    .status()
    .context("starting upzento-account")?;
    match status.code() {
        Some(0) => Ok(()),
        // No keyring: upzento-account has said why.
        Some(3) => {
            eprintln!(
                "The app will open signed out; sign in as {DEMO_EMAIL} / {DEMO_PASSWORD} once a \
                 keyring runs."
            );
            Ok(())
        }
        _ => bail!("signing in to the demo cloud failed ({status})"),
    }
}

/// A session token of the demo agent.
pub fn demo_token(url: &str) -> Result<String> {
    token(url, DEMO_EMAIL, DEMO_PASSWORD)
}

/// A session token of any user, through the client crate's HTTP client.
pub fn token(url: &str, email: &str, password: &str) -> Result<String> {
    let output = account(&["token", "--cloud", url, "--email", email], password)
        .stderr(Stdio::inherit())
        .output()
        .context("starting upzento-account")?;
    if !output.status.success() {
        bail!(
            "no session token for {email} from {url} ({})",
            output.status
        );
    }
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}
