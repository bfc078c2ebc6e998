//! Real SIP peers for the voice tests, on free loopback ports: kamailio as registrar
//! and proxy with digest auth (users alice/alicepw and bob/bobpw). Every peer is
//! started and stopped here, by its PID.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn free_port() -> u16 {
    // A port free for both UDP and TCP.
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn modules_dir() -> String {
    std::fs::read_dir("/usr/lib")
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path().join("kamailio/modules"))
        .find(|p| p.is_dir())
        .expect("kamailio modules not found: `cargo xtask deps` installs kamailio")
        .display()
        .to_string()
}

/// A kamailio on free ports; stopped when dropped.
pub struct Kamailio {
    pub port: u16,
    pub ws_port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Kamailio {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let template = include_str!("../peers/kamailio.cfg");
        let (port, ws_port) = (free_port(), free_port());
        let config = template
            .replace("@PORT@", &port.to_string())
            .replace("@WS_PORT@", &ws_port.to_string())
            .replace("@MPATH@", &modules_dir());
        std::fs::write(dir.path().join("kamailio.cfg"), config).unwrap();
        let mut k = Self {
            port,
            ws_port,
            dir,
            child: None,
        };
        k.resume();
        k
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("kamailio.cfg")
    }

    /// Starts it (again) on the same ports.
    pub fn resume(&mut self) {
        assert!(self.child.is_none());
        let log = std::fs::File::create(self.dir.path().join("kamailio.log")).unwrap();
        let child = Command::new("kamailio")
            .args(["-DD", "-E", "-A", "WITH_WS", "-f"])
            .arg(self.config())
            .arg("-Y")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("kamailio");
        self.child = Some(child);
        // Listening once the TCP port accepts.
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("kamailio did not start: {}", self.log());
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            for _ in 0..100 {
                if child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("kamailio.log")).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        self.stop();
    }
}
