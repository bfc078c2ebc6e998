//! Developer commands. `cargo xtask help` lists them.
//!
//! Every command installs what it is missing first (apt packages, tauri-driver,
//! npm dependencies), so a fresh Debian 12 / Ubuntu machine needs nothing but
//! Rust, Node and root or sudo.

#![allow(clippy::unwrap_used)]

mod deps;
mod dev;
mod pg;
mod proc;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::proc::{cargo, free_port, free_ports, run, run_in};

const USAGE: &str = "\
cargo xtask <command>

  run            install what is missing, build, start a demo cloud and open the app
  test           everything CI checks: fmt, clippy, cargo tests, UI tests, real-window e2e
  e2e            only the real-window end-to-end suite (Xvfb + WebDriver)
  bindings       regenerate the TypeScript IPC bindings (ui/src/lib/bindings.ts)
  zones          regenerate the phone-number prefix → time zones table
                 (crates/upzento-domain/src/number_zones.tsv) from libphonenumber's data (PyPI)
  bundle         build the .deb package
  bench app      cold start to interactive (ms) and idle memory (PSS, MiB) under Xvfb
  bench cloud    API latency at 1,000 req/s, maximum throughput, message sends (SQLite, PostgreSQL),
                 signed inbound webhooks per second (SQLite)
  bench client   the local cache (ingest, inbox, search, size) and the sync (1M messages, live events);
                 BENCH_MESSAGES / BENCH_CONVERSATIONS change the volume of the sync part
  bench notify   webhook-to-desktop-notification latency (Twilio webhook, dunst under Xvfb)
  bench voice    call set-up time, CPU per call, 1,000 calls in a row (kamailio + baresip)
  deps           only install what is missing
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = &args.get(1..).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("run") => cmd_run(),
        Some("test") => cmd_test(),
        Some("e2e") => {
            deps::ensure()?;
            build_ui()?;
            e2e()
        }
        Some("bindings") => bindings(),
        Some("zones") => zones(),
        Some("bundle") => bundle(),
        Some("bench") => match rest.first().map(String::as_str) {
            Some("app") => bench_app(),
            Some("cloud") => bench_cloud(),
            Some("client") => bench_client(),
            Some("notify") => bench_notify(),
            Some("voice") => bench_voice(),
            other => {
                bail!(
                    "unknown benchmark {other:?}; try `bench app`, `bench cloud`, `bench client`, `bench notify` or `bench voice`"
                )
            }
        },
        Some("deps") => deps::ensure(),
        Some("help" | "--help" | "-h") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn step(name: &str) {
    eprintln!("\n\x1b[1m==> {name}\x1b[0m");
}

fn build_ui() -> Result<()> {
    step("UI build (vite)");
    run_in(
        &root().join("ui"),
        Command::new("npm").args(["run", "build"]),
    )
}

struct Binaries {
    app: PathBuf,
    cloud: PathBuf,
    /// Signs the app in from the command line (`upzento-account`).
    account: PathBuf,
}

/// Builds the desktop app, the cloud server and the client's command-line tools, in one
/// cargo invocation: `run` after `test` (whose e2e step builds the same) reuses every
/// artifact, where a separate `cargo run` of one package would unify features differently
/// and rebuild half the dependency tree.
fn build_app(release: bool) -> Result<Binaries> {
    step("app, cloud and account tool build");
    let mut cmd = cargo();
    cmd.args([
        "build",
        "-p",
        "upzento-phone",
        "-p",
        "upzento-cloud",
        "-p",
        "upzento-client",
        "--bins",
    ]);
    if release {
        cmd.arg("--release");
    }
    run_in(&root(), &mut cmd)?;
    let dir = target_dir().join(if release { "release" } else { "debug" });
    Ok(Binaries {
        app: dir.join("upzento-phone"),
        cloud: dir.join("upzento-cloud"),
        account: dir.join("upzento-account"),
    })
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

fn cmd_test() -> Result<()> {
    deps::ensure()?;
    let root = root();
    step("rustfmt");
    run_in(&root, cargo().args(["fmt", "--all", "--", "--check"]))?;
    build_ui()?;
    step("UI type check (svelte-check)");
    run_in(&root.join("ui"), Command::new("npm").args(["run", "check"]))?;
    step("UI unit tests (vitest)");
    run_in(&root.join("ui"), Command::new("npm").args(["test"]))?;
    step("clippy");
    run_in(
        &root,
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    step("cargo tests (with a throwaway PostgreSQL)");
    let pg_dir = tempdir("upzento-pg")?;
    let pg = pg::TestPostgres::start(&pg_dir)?;
    run_in(
        &root,
        cargo()
            .args(["test", "--workspace"])
            .env("UPZENTO_TEST_PG_URL", &pg.url)
            .env("UPZENTO_TEST_PG_CA", &pg.ca_file),
    )?;
    api_properties(&pg.url)?;
    drop(pg);
    e2e()?;
    eprintln!("\nall checks passed");
    Ok(())
}

/// schemathesis against the cloud's own /openapi.json: every operation, generated inputs,
/// then sequences of calls (its stateful phase), on SQLite and on PostgreSQL.
fn api_properties(pg_url: &str) -> Result<()> {
    let bins = build_app(false)?;
    for backend in ["SQLite", "PostgreSQL"] {
        step(&format!(
            "API property tests on {backend} (schemathesis against /openapi.json)"
        ));
        let mut cmd = Command::new("bash");
        cmd.arg("tests/api/run.sh")
            .arg(&bins.cloud)
            .arg(free_port()?.to_string());
        if backend == "PostgreSQL" {
            cmd.arg(pg_url);
        }
        run_in(&root(), &mut cmd)?;
    }
    Ok(())
}

/// The real app window under Xvfb, driven through tauri-driver + WebKitWebDriver.
fn e2e() -> Result<()> {
    let bins = build_app(false)?;
    step("end-to-end tests in the real window (Xvfb + WebDriver)");
    let root = root();
    let artifacts = root.join("tests/e2e/artifacts");
    std::fs::create_dir_all(&artifacts)?;
    let home = tempdir("upzento-e2e")?;
    let [cloud_port, wd_port, wd_native_port] = free_ports::<3>()?;
    let result = run_in(
        &root,
        Command::new("xvfb-run")
            .args(["-a", "-s", "-screen 0 1280x800x24 -nolisten tcp"])
            .args(["dbus-run-session", "--", "bash", "tests/e2e/harness.sh"])
            .env("APP", &bins.app)
            .env("CLOUD", &bins.cloud)
            .env("CLOUD_PORT", cloud_port.to_string())
            .env("E2E_HOME", &home)
            .env("ARTIFACTS", &artifacts)
            .env("WD_PORT", wd_port.to_string())
            .env("WD_NATIVE_PORT", wd_native_port.to_string())
            .env("TAURI_DRIVER", deps::tauri_driver()?),
    );
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&home);
    } else {
        eprintln!("e2e home kept for inspection: {}", home.display());
    }
    result
}

fn bindings() -> Result<()> {
    step("regenerate TypeScript bindings");
    run_in(
        &root(),
        cargo()
            .args([
                "test",
                "-p",
                "upzento-phone",
                "--lib",
                "committed_bindings_are_current",
            ])
            .env("UPZENTO_BLESS", "1"),
    )?;
    eprintln!("wrote ui/src/lib/bindings.ts");
    Ok(())
}

/// The version of libphonenumber's data (through its Python port) the table is made from.
const PHONENUMBERS: &str = "9.0.43";

/// Writes libphonenumber's offline map of number prefixes to time zones (Apache-2.0) as a
/// table the domain crate compiles in: the quiet-hours rule needs a recipient's zone when
/// their contact has none. No Rust crate carries this map; the Python port ships it as data.
fn zones() -> Result<()> {
    step("regenerate the number → time zones table");
    let dir = tempfile_dir("upzento-zones")?;
    run(Command::new("python3").args([
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--dest",
        &dir.display().to_string(),
        &format!("phonenumbers=={PHONENUMBERS}"),
    ]))?;
    let wheel = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .context("pip downloaded no wheel")?;
    let out = root().join("crates/upzento-domain/src/number_zones.tsv");
    let script = format!(
        r##"
import sys
sys.path.insert(0, {wheel:?})
from phonenumbers.tzdata import TIMEZONE_DATA
with open({out:?}, "w") as f:
    f.write("# libphonenumber {PHONENUMBERS} (Apache-2.0): number prefix (E.164 digits) and its IANA zones.\n")
    f.write("# Generated by `cargo xtask zones`; do not edit.\n")
    for prefix in sorted(TIMEZONE_DATA, key=lambda p: (len(p), p)):
        f.write(prefix + "\t" + " ".join(TIMEZONE_DATA[prefix]) + "\n")
"##,
        wheel = wheel.display().to_string(),
        out = out.display().to_string(),
    );
    run(Command::new("python3").args(["-c", &script]))?;
    std::fs::remove_dir_all(&dir)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

fn tempfile_dir(prefix: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn bundle() -> Result<()> {
    deps::ensure()?;
    build_ui()?;
    step("bundle .deb (tauri build)");
    // `tauri build` needs to run from src-tauri/, which holds symlinks to the
    // root tauri.conf.json, ui/ and icons/.
    run_in(
        &root().join("src-tauri"),
        Command::new("npx")
            .args(["--prefix", "../ui", "tauri", "build", "--bundles", "deb"])
            .env("CI", "true"),
    )?;
    let dir = target_dir().join("release/bundle/deb");
    for entry in std::fs::read_dir(&dir).with_context(|| dir.display().to_string())? {
        eprintln!("built {}", entry?.path().display());
    }
    Ok(())
}

fn cmd_run() -> Result<()> {
    deps::ensure_for_run()?;
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        bail!("no display: run this from a desktop session (or under `xvfb-run -a`)");
    }
    build_ui()?;
    let bins = build_app(false)?;

    step("starting the local cloud (SQLite, demo tenant)");
    let port = if std::net::TcpListener::bind(("127.0.0.1", 8787)).is_ok() {
        8787
    } else {
        free_port()?
    };
    let url = format!("http://127.0.0.1:{port}");
    let data_dir = dev::data_home().join("upzento-cloud-dev");
    let mut cloud = Command::new(&bins.cloud)
        .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(&data_dir)
        .spawn()
        .context("starting upzento-cloud")?;
    let result = (|| {
        dev::wait_for_cloud(&url)?;
        dev::sign_in_demo(&bins.account, &url)?;
        step("starting Upzento Phone");
        run(&mut Command::new(&bins.app))
    })();
    let _ = cloud.kill();
    let _ = cloud.wait();
    result
}

fn bench_app() -> Result<()> {
    deps::ensure()?;
    build_ui()?;
    let app = build_app(true)?.app;
    // The baseline: an empty WebKit window (src-tauri/examples/floor.rs).
    run_in(
        &root(),
        cargo().args([
            "build",
            "--release",
            "-p",
            "upzento-phone",
            "--example",
            "floor",
        ]),
    )?;
    let floor = target_dir().join("release/examples/floor");
    step("bench app: cold start and idle memory under Xvfb");
    let home = tempdir("upzento-bench")?;
    run_in(
        &root(),
        Command::new("xvfb-run")
            .args(["-a", "-s", "-screen 0 1280x800x24 -nolisten tcp"])
            .args(["dbus-run-session", "--", "bash", "tests/bench/app.sh"])
            .env("APP", &app)
            .env("FLOOR", &floor)
            .env("BENCH_HOME", &home)
            .env("RUNS", std::env::var("RUNS").unwrap_or_else(|_| "7".into())),
    )?;
    let _ = std::fs::remove_dir_all(&home);
    Ok(())
}

/// The cloud under load on loopback: a release server process per backend, driven by
/// the `load` bench of upzento-cloud.
fn bench_cloud() -> Result<()> {
    deps::ensure()?;
    step("release build of the cloud and its load generator");
    run_in(
        &root(),
        cargo().args(["build", "--release", "-p", "upzento-cloud"]),
    )?;
    run_in(
        &root(),
        cargo().args([
            "bench",
            "-p",
            "upzento-cloud",
            "--bench",
            "load",
            "--no-run",
        ]),
    )?;
    let server = target_dir().join("release/upzento-cloud");
    let pg_dir = tempdir("upzento-bench-pg")?;
    let pg = pg::TestPostgres::start(&pg_dir)?;
    let sqlite_dir = tempdir("upzento-bench-sqlite")?;
    for (label, database) in [
        (
            "sqlite",
            format!("sqlite://{}/cloud.db", sqlite_dir.display()),
        ),
        ("postgres", pg.url.clone()),
    ] {
        step(&format!("bench cloud on {label}"));
        let port = free_port()?;
        let url = format!("http://127.0.0.1:{port}");
        let mut child = Command::new(&server)
            .args([
                "serve",
                "--demo",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--database-url",
                &database,
            ])
            .env("UPZENTO_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()?;
        let result = (|| {
            dev::wait_for_cloud(&url)?;
            let token = dev::demo_token(&url)?;
            run_in(
                &root(),
                cargo().args([
                    "bench",
                    "-p",
                    "upzento-cloud",
                    "--bench",
                    "load",
                    "--",
                    &url,
                    &token,
                    label,
                ]),
            )
        })();
        let _ = child.kill();
        let _ = child.wait();
        result?;
    }
    drop(pg);

    // Inbound webhooks: one server on SQLite with the Twilio provider (its API is never
    // called: plain texts get no automatic reply).
    step("bench cloud: signed Twilio inbound webhooks on sqlite");
    let webhook_dir = tempdir("upzento-bench-webhooks")?;
    let (mut child, url) = twilio_cloud(&server, &webhook_dir)?;
    let auth_token = TWILIO_BENCH_TOKEN;
    let result = (|| {
        dev::wait_for_cloud(&url)?;
        let token = dev::demo_token(&url)?;
        run_in(
            &root(),
            cargo().args([
                "bench",
                "-p",
                "upzento-cloud",
                "--bench",
                "load",
                "--",
                &url,
                &token,
                "sqlite",
                "webhooks",
                auth_token,
            ]),
        )
    })();
    let _ = child.kill();
    let _ = child.wait();
    result?;
    let _ = std::fs::remove_dir_all(&webhook_dir);
    let _ = std::fs::remove_dir_all(&sqlite_dir);
    Ok(())
}

/// The client's cache on its own, then its sync from a release cloud seeded with
/// BENCH_MESSAGES (1,000,000) messages in BENCH_CONVERSATIONS (100,000) conversations.
fn bench_client() -> Result<()> {
    deps::ensure()?;
    step("release build of the cloud and the client benchmark");
    let root = root();
    run_in(
        &root,
        cargo().args(["build", "--release", "-p", "upzento-cloud"]),
    )?;
    let bench = |args: &[&str]| {
        let mut cmd = cargo();
        cmd.args(["bench", "-p", "upzento-client", "--bench", "client", "--"])
            .args(args);
        run_in(&root, &mut cmd)
    };
    step("bench client: the encrypted cache");
    bench(&["cache"])?;
    let messages = std::env::var("BENCH_MESSAGES").unwrap_or_else(|_| "1000000".into());
    let conversations = std::env::var("BENCH_CONVERSATIONS").unwrap_or_else(|_| "100000".into());
    step(&format!(
        "bench client: seeding a cloud with {messages} messages in {conversations} conversations"
    ));
    let server = target_dir().join("release/upzento-cloud");
    let data = tempdir("upzento-bench-client")?;
    run(Command::new(&server)
        .args(["seed", "--data-dir"])
        .arg(&data)
        .args(["--messages", &messages, "--conversations", &conversations]))?;
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(&server)
        .args([
            "serve",
            "--demo",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(&data)
        .env("UPZENTO_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let result = (|| {
        dev::wait_for_cloud(&url)?;
        let agent = dev::demo_token(&url)?;
        let admin = dev::token(&url, "admin@demo.upzento.test", "demo-admin-password")?;
        step("bench client: initial sync and live events");
        bench(&["sync", &url, &agent, &admin])
    })();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data);
    result
}

/// Webhook-to-notification latency: a release cloud with the Twilio provider, and the
/// app's notification path (`upzento-api`) showing notifications on dunst under Xvfb.
fn bench_notify() -> Result<()> {
    deps::ensure()?;
    step("release build of the cloud and the notification benchmark");
    let root = root();
    run_in(
        &root,
        cargo().args(["build", "--release", "-p", "upzento-cloud"]),
    )?;
    run_in(
        &root,
        cargo().args([
            "bench",
            "-p",
            "upzento-api",
            "--bench",
            "notify",
            "--no-run",
        ]),
    )?;
    let server = target_dir().join("release/upzento-cloud");
    let data = tempdir("upzento-bench-notify")?;
    let (mut child, url) = twilio_cloud(&server, &data)?;
    let auth_token = TWILIO_BENCH_TOKEN;
    let result = (|| {
        dev::wait_for_cloud(&url)?;
        step("bench notify: webhook to desktop notification");
        // dunst is the notification server, inside the bench's own D-Bus session.
        run_in(
            &root,
            Command::new("xvfb-run")
                .args(["-a", "-s", "-screen 0 1280x800x24 -nolisten tcp"])
                .args(["dbus-run-session", "--", "bash", "-c"])
                .arg(
                    "dunst >/dev/null 2>&1 & d=$!; trap 'kill $d' EXIT; sleep 0.5; \
                     cargo bench -p upzento-api --bench notify -- \"$1\" \"$2\"",
                )
                .args(["bench", &url, auth_token]),
        )
    })();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data);
    result
}

/// Calls through real kamailio and baresip (the bench starts them on free ports).
fn bench_voice() -> Result<()> {
    deps::ensure()?;
    step("bench voice: set-up time, CPU per call, 1,000 calls (release)");
    run_in(
        &root(),
        cargo().args(["bench", "-p", "upzento-voice", "--bench", "voice"]),
    )
}

/// The Auth Token of the benchmarks' Twilio-provider cloud (its webhooks are signed with it).
const TWILIO_BENCH_TOKEN: &str = "bench-auth-token";

/// A release cloud with the Twilio provider on a free port over `data`; its API is
/// never called (plain texts get no automatic reply). The child and its URL.
fn twilio_cloud(server: &Path, data: &Path) -> Result<(std::process::Child, String)> {
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    let child = Command::new(server)
        .args([
            "serve",
            "--demo",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--provider",
            "twilio",
            "--public-url",
            &url,
        ])
        .arg("--data-dir")
        .arg(data)
        .env("TWILIO_ACCOUNT_SID", "ACbenchbenchbenchbenchbenchbench00")
        .env("TWILIO_AUTH_TOKEN", TWILIO_BENCH_TOKEN)
        .env("TWILIO_API_URL", "http://127.0.0.1:9")
        .env("UPZENTO_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()?;
    Ok((child, url))
}

fn tempdir(prefix: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
