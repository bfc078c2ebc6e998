//! A real upzento-cloud for the client's tests: the server binary on a random
//! loopback port over its own data directory, started and stopped by the test.
//! The client reaches it only through its public HTTP API.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const AGENT_EMAIL: &str = "agent@demo.upzento.test";
pub const AGENT_PASSWORD: &str = "demo-agent-password";
pub const ADMIN_EMAIL: &str = "admin@demo.upzento.test";
pub const ADMIN_PASSWORD: &str = "demo-admin-password";

fn cloud_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("UPZENTO_CLOUD_BIN") {
        return path.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    let path = target.join("debug/upzento-cloud");
    assert!(
        path.exists(),
        "{} is missing: `cargo build -p upzento-cloud` (cargo xtask test builds it)",
        path.display()
    );
    path
}

pub struct Cloud {
    pub url: String,
    pub port: u16,
    pub data: tempfile::TempDir,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cloud {
    /// A cloud with the demo tenant on a free port.
    pub async fn start() -> Self {
        let mut cloud = Self {
            url: String::new(),
            port: free_port(),
            data: tempfile::tempdir().unwrap(),
            child: None,
        };
        cloud.url = format!("http://127.0.0.1:{}/", cloud.port);
        cloud.resume().await;
        cloud
    }

    /// Starts the server again on the same port and data.
    pub async fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        // An unpaced sandbox: tests that compare the cache with the cloud need the
        // hundreds of messages they send to settle in seconds, not one a second.
        let child = Command::new(cloud_binary())
            .args(["serve", "--demo", "--sandbox-rate", "0", "--listen"])
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(self.data.path())
            .env("UPZENTO_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let health = format!("{}healthz", self.url);
        for _ in 0..400 {
            if reqwest::get(&health)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the cloud did not come up on {}", self.url);
    }

    /// Stops the server at once (SIGKILL): connections drop as in a network failure.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub async fn token(&self, email: &str, password: &str) -> String {
        let response: serde_json::Value = reqwest::Client::new()
            .post(format!("{}phone-sms/auth/token", self.url))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        response["token"].as_str().unwrap().to_owned()
    }

    pub async fn get(&self, token: &str, path: &str) -> serde_json::Value {
        reqwest::Client::new()
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn post(
        &self,
        token: &str,
        path: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        self.send(reqwest::Method::POST, token, path, body).await
    }

    pub async fn patch(
        &self,
        token: &str,
        path: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        self.send(reqwest::Method::PATCH, token, path, body).await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        reqwest::Client::new()
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Every item of a paginated list.
    pub async fn all(&self, token: &str, path: &str) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let page = match &cursor {
                Some(c) => {
                    self.get(token, &format!("{path}{sep}limit=200&cursor={c}"))
                        .await
                }
                None => self.get(token, &format!("{path}{sep}limit=200")).await,
            };
            out.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return out,
            }
        }
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TCP proxy in front of the cloud that can misbehave on purpose.
pub mod proxy {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU8, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[repr(u8)]
    pub enum Mode {
        Pass = 0,
        /// Answers every request with 500.
        Error500 = 1,
        /// Accepts and never answers.
        Blackhole = 2,
    }

    pub struct Proxy {
        pub url: String,
        mode: Arc<AtomicU8>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Proxy {
        pub async fn start(upstream_port: u16) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/", listener.local_addr().unwrap());
            let mode = Arc::new(AtomicU8::new(Mode::Pass as u8));
            let shared = mode.clone();
            let task = tokio::spawn(async move {
                loop {
                    let Ok((mut inbound, _)) = listener.accept().await else {
                        return;
                    };
                    let mode = shared.load(Ordering::SeqCst);
                    tokio::spawn(async move {
                        if mode == Mode::Error500 as u8 {
                            let mut buf = vec![0_u8; 65536];
                            let _ = inbound.read(&mut buf).await;
                            let body = r#"{"code":"internal","message":"Something went wrong on our side."}"#;
                            let reply = format!(
                                "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                                body.len()
                            );
                            let _ = inbound.write_all(reply.as_bytes()).await;
                            return;
                        }
                        if mode == Mode::Blackhole as u8 {
                            let mut buf = vec![0_u8; 65536];
                            while inbound.read(&mut buf).await.is_ok_and(|n| n > 0) {}
                            return;
                        }
                        if let Ok(mut outbound) =
                            TcpStream::connect(("127.0.0.1", upstream_port)).await
                        {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                }
            });
            Self { url, mode, task }
        }

        /// New connections behave so from now on (open ones are left alone).
        pub fn set(&self, mode: Mode) {
            self.mode.store(mode as u8, Ordering::SeqCst);
        }
    }

    impl Drop for Proxy {
        fn drop(&mut self) {
            self.task.abort();
        }
    }
}
