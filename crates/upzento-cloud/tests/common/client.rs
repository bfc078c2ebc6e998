//! A signed-in HTTP client of the cloud, for tests.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use upzento_cloud::auth::hash_password;
use upzento_cloud::demo;
use upzento_cloud::store::NewUser;
use upzento_domain::wire::Role;

use super::Server;

pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    pub async fn sign_in(server: &Server, email: &str, password: &str) -> Self {
        Self::sign_in_at(&server.url, email, password).await
    }

    /// A client using a token got some other way (an invitation, an API token).
    pub fn with_token(base: &str, token: &str) -> Self {
        Self {
            base: base.to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    pub async fn sign_in_at(base: &str, email: &str, password: &str) -> Self {
        let http = reqwest::Client::new();
        let body: Value = http
            .post(format!("{base}/phone-sms/auth/token"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Self {
            base: base.to_owned(),
            token: body["token"].as_str().expect("sign-in failed").to_owned(),
            http,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, value)
    }

    /// POST a body that is not JSON (a file); the answer is read as JSON.
    pub async fn post_bytes(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// GET an answer that is not JSON: its status, content type and text.
    pub async fn get_text(&self, path: &str) -> (StatusCode, String, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let kind = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, kind, response.text().await.unwrap())
    }

    /// POST with an `Idempotency-Key` header.
    pub async fn post_keyed(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// Opens `/phone-sms/events`, optionally resuming after `last_event_id`.
    pub async fn events(&self, last_event_id: Option<i64>) -> EventStream {
        let mut request = self
            .http
            .get(format!("{}/phone-sms/events", self.base))
            .bearer_auth(&self.token);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        EventStream {
            response,
            buffer: String::new(),
        }
    }

    /// The id of the caller's tenant.
    /// The bearer token this client signed in with.
    pub fn token(&self) -> &str {
        &self.token
    }

    pub async fn tenant_id(&self) -> String {
        let (_, me) = self.get("/phone-sms/me").await;
        me["tenant"]["id"].as_str().unwrap().to_owned()
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }
}

pub async fn admin(server: &Server) -> Client {
    Client::sign_in(server, demo::ADMIN_EMAIL, demo::ADMIN_PASSWORD).await
}

pub async fn agent(server: &Server) -> Client {
    Client::sign_in(server, demo::AGENT_EMAIL, demo::AGENT_PASSWORD).await
}

pub async fn supervisor(server: &Server) -> Client {
    Client::sign_in(server, demo::SUPERVISOR_EMAIL, demo::SUPERVISOR_PASSWORD).await
}

/// A second tenant with its own admin, signed in.
pub async fn other_tenant(server: &Server) -> Client {
    let now = time::OffsetDateTime::now_utc();
    let tenant = server
        .store
        .create_tenant("Other Clinic", now)
        .await
        .unwrap();
    server
        .store
        .create_user(
            NewUser {
                tenant_id: tenant.id,
                name: "Olga Other".into(),
                email: "olga@other.test".into(),
                role: Role::Admin,
                password_hash: Some(hash_password("olga-password").unwrap()),
                password_change_required: false,
            },
            now,
        )
        .await
        .unwrap();
    Client::sign_in(server, "olga@other.test", "olga-password").await
}

/// A server-sent event stream, read event by event.
pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: Value,
}

impl EventStream {
    /// The next event (comments and keep-alives skipped); panics after `timeout`.
    pub async fn next(&mut self, timeout: std::time::Duration) -> SseEvent {
        tokio::time::timeout(timeout, async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let (mut id, mut event, mut data) = (None, None, String::new());
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("id:") {
                            id = Some(v.trim().to_owned());
                        } else if let Some(v) = line.strip_prefix("event:") {
                            event = Some(v.trim().to_owned());
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data.push_str(v.trim());
                        }
                    }
                    if data.is_empty() {
                        continue;
                    }
                    return SseEvent {
                        id,
                        event,
                        data: serde_json::from_str(&data).unwrap(),
                    };
                }
                let chunk = self
                    .response
                    .chunk()
                    .await
                    .unwrap()
                    .expect("the event stream ended");
                self.buffer.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .expect("no event arrived in time")
    }
}
