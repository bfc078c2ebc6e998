//! Installs what the commands need and a fresh machine lacks.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};

use crate::proc::{cargo, run, run_in, succeeds};
use crate::{root, step};

/// Debian packages the app needs to build and run (Tauri/WebKitGTK, sound, Opus, the
/// keyring's client library): all `cargo xtask run` installs.
const APT_RUN: &[&str] = &[
    "build-essential",
    "pkg-config",
    "libssl-dev",
    "libwebkit2gtk-4.1-dev",
    "libayatana-appindicator3-dev",
    "librsvg2-dev",
    "libasound2-dev",
    "libdbus-1-dev",
    "libxdo-dev",
    // Opus for calls (audiopus links the system libopus through pkg-config).
    "libopus-dev",
    "curl",
    "ca-certificates",
];

/// What only the tests need on top: the headless desktop for the real-window tests
/// (Xvfb, D-Bus, WebKitWebDriver, keyring, notifications), real servers and SIP peers.
const APT_TEST: &[&str] = &[
    "xvfb",
    "xauth",
    "dbus-x11",
    "at-spi2-core",
    "webkit2gtk-driver",
    "gnome-keyring",
    "libsecret-tools",
    "dunst",
    // Screenshots of the real window from the X server (`import`).
    "imagemagick",
    // The cloud's tests run against a real PostgreSQL server, over TLS too (test certificates).
    "postgresql",
    "openssl",
    // The softphone's tests call real SIP peers (shared recipes: sip-peers).
    "kamailio",
    "kamailio-websocket-modules",
    "kamailio-tls-modules",
    "baresip",
    "sip-tester",
    // linphonec: a strict third far end (tests/linphone.rs).
    "linphone-cli",
    // Sound devices for the softphone's tests: a PulseAudio server of their own with
    // null sinks (pactl/pacat from pulseaudio-utils feed and inspect them).
    "pulseaudio",
    "pulseaudio-utils",
    // A real SMTP server for the cloud's invitation emails (tests/people.rs).
    "python3-aiosmtpd",
];

const TAURI_DRIVER_VERSION: &str = "2.1.0";

/// schemathesis from PyPI, pinned so that its seeded runs stay reproducible.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// Everything the tests need (`test`, `e2e`, benches).
pub fn ensure() -> Result<()> {
    apt(APT_RUN)?;
    apt(APT_TEST)?;
    tauri_driver()?;
    schemathesis()?;
    npm(&root().join("ui"))?;
    npm(&root().join("tests/e2e"))?;
    Ok(())
}

/// Only what building and running the app needs (`run`).
pub fn ensure_for_run() -> Result<()> {
    apt(APT_RUN)?;
    npm(&root().join("ui"))
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

fn apt(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    step(&format!("apt: installing {}", missing.join(" ")));
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let apt_get = |args: &[&str]| {
        let mut cmd = if is_root {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    run(&mut apt_get(&["update", "-qq"]))?;
    let mut install = apt_get(&[
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        "-o",
        "DPkg::Lock::Timeout=600",
    ]);
    install.args(&missing);
    run(&mut install)
}

/// Path of tauri-driver, installed with cargo when absent.
pub fn tauri_driver() -> Result<PathBuf> {
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .map(|home| home.join("bin/tauri-driver"));
    for candidate in cargo_bin
        .iter()
        .cloned()
        .chain([PathBuf::from("tauri-driver")])
    {
        if succeeds(Command::new(&candidate).arg("--help")) {
            return Ok(candidate);
        }
    }
    step("installing tauri-driver");
    run(cargo().args([
        "install",
        "tauri-driver",
        "--locked",
        "--version",
        TAURI_DRIVER_VERSION,
    ]))?;
    match cargo_bin {
        Some(path) if path.exists() => Ok(path),
        _ => bail!("tauri-driver was installed but cannot be found in ~/.cargo/bin"),
    }
}

fn schemathesis() -> Result<()> {
    let wanted = SCHEMATHESIS.trim_start_matches("schemathesis==");
    let installed = Command::new("schemathesis")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(wanted));
    if installed {
        return Ok(());
    }
    step(&format!("pip: installing {SCHEMATHESIS}"));
    run(Command::new("python3").args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        SCHEMATHESIS,
    ]))
}

/// `npm ci` when node_modules is missing or older than the lockfile.
fn npm(dir: &Path) -> Result<()> {
    let lock = dir.join("package-lock.json");
    let stamp = dir.join("node_modules/.package-lock.json");
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    let fresh = match (modified(&lock), modified(&stamp)) {
        (Some(lock), Some(stamp)) => stamp >= lock,
        _ => false,
    };
    if fresh {
        return Ok(());
    }
    step(&format!("npm ci in {}", dir.display()));
    run_in(
        dir,
        Command::new("npm").args(["ci", "--no-audit", "--no-fund"]),
    )
}
