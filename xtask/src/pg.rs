//! A throwaway PostgreSQL cluster for the cloud's tests: its own data directory,
//! a random port on loopback, stopped and deleted afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::proc::{free_port, run};

#[derive(Debug)]
pub struct TestPostgres {
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    pub url: String,
    /// The CA that signed the server's TLS certificate (for `sslmode=require` tests).
    pub ca_file: PathBuf,
}

/// A throwaway CA and a server certificate for 127.0.0.1 signed by it, in `dir`.
fn make_certificates(dir: &Path) -> Result<()> {
    let openssl = |args: &[&str]| -> Result<()> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .context("running openssl (apt install openssl)")?;
        if !out.status.success() {
            bail!(
                "openssl {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=Upzento test CA",
            ],
        ]
        .concat(),
    )?;
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
            ],
        ]
        .concat(),
    )?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-copy_extensions",
        "copy",
    ])?;
    Ok(())
}

fn bin_dir() -> Result<PathBuf> {
    // Debian puts each major version under /usr/lib/postgresql/<major>/bin; take the newest.
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL is not installed (/usr/lib/postgresql is missing)")?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, p)| p)
        .context("no PostgreSQL server version under /usr/lib/postgresql")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

impl TestPostgres {
    pub fn start(dir: &Path) -> Result<Self> {
        let bin = bin_dir()?;
        // The server refuses to run as root: run it as the postgres user then.
        let as_postgres = is_root();
        std::fs::create_dir_all(dir)?;
        let mut pg = Self {
            dir: dir.to_path_buf(),
            bin,
            as_postgres,
            url: String::new(),
            ca_file: dir.join("ca.crt"),
        };
        make_certificates(dir)?;
        // The server reads its key only when no one else can.
        let key = dir.join("server.key");
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        if as_postgres {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir))?;
        }
        let data = dir.join("data");
        pg.run_pg(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                "upzento",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )?;
        let port = free_port()?;
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=200 \
             -c ssl=on -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key",
            dir.display(),
            dir = dir.display()
        );
        pg.run_pg(
            "pg_ctl",
            &[
                "-D",
                &data.to_string_lossy(),
                "-l",
                &dir.join("server.log").to_string_lossy(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        )?;
        pg.url = format!("postgres://upzento@127.0.0.1:{port}/postgres");
        Ok(pg)
    }

    fn run_pg(&self, tool: &str, args: &[&str]) -> Result<()> {
        let tool = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&tool);
            c
        } else {
            Command::new(&tool)
        };
        cmd.args(args).current_dir(&self.dir);
        let out = cmd
            .output()
            .with_context(|| format!("running {}", tool.display()))?;
        if !out.status.success() {
            bail!(
                "{} failed: {}\n{}",
                tool.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self.run_pg(
            "pg_ctl",
            &[
                "-D",
                &data.to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
