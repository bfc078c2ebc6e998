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
        let http = reqwest::Client::new();
        let body: Value = http
            .post(format!("{}/phone-sms/auth/token", server.url))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Self {
            base: server.url.clone(),
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

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
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
            },
            now,
        )
        .await
        .unwrap();
    Client::sign_in(server, "olga@other.test", "olga-password").await
}
