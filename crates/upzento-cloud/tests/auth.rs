//! The cloud's authentication endpoints over real HTTP, on a random port, with a fresh SQLite file.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Backend, Server, start};
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use upzento_cloud::store::{NewToken, TokenKind};
use upzento_cloud::{auth, demo};

on_both_backends!(
    healthz_names_the_service,
    password_sign_in_issues_a_token_that_identifies_the_user,
    wrong_password_and_unknown_email_look_the_same,
    bad_tokens_are_refused,
    malformed_bodies_get_json_4xx,
    api_tokens_work_until_revoked,
    api_tokens_are_listed_and_revoked_by_id,
    teammates_are_listed_within_the_tenant,
);

async fn sign_in(server: &Server, email: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/phone-sms/auth/token", server.url))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

async fn healthz_names_the_service(backend: Backend) {
    let server = start(backend).await;
    let body: Value = reqwest::get(format!("{}/healthz", server.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["service"], "upzento-cloud");
    assert_eq!(body["status"], "ok");
}

async fn password_sign_in_issues_a_token_that_identifies_the_user(backend: Backend) {
    let server = start(backend).await;
    let response = sign_in(&server, "Agent@Demo.Upzento.Test", demo::AGENT_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    assert!(token.starts_with("uzt_"));
    assert_eq!(body["user"]["role"], "agent");
    assert_eq!(body["tenant"]["name"], demo::TENANT);

    let me: Value = reqwest::Client::new()
        .get(format!("{}/phone-sms/me", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], demo::AGENT_EMAIL);
}

async fn wrong_password_and_unknown_email_look_the_same(backend: Backend) {
    let server = start(backend).await;
    for (email, password) in [(demo::AGENT_EMAIL, "nope"), ("nobody@example.com", "nope")] {
        let response = sign_in(&server, email, password).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "unauthorized");
        assert_eq!(body["message"], "Wrong email or password.");
    }
}

async fn bad_tokens_are_refused(backend: Backend) {
    let server = start(backend).await;
    let client = reqwest::Client::new();
    let url = format!("{}/phone-sms/me", server.url);
    let none = client.get(&url).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let unknown = client
        .get(&url)
        .bearer_auth("uzt_forged")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let basic = client
        .get(&url)
        .header("Authorization", "Basic eDp5")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);

    // A token past its expiry time stops working.
    let (user, _) = server
        .store
        .user_for_sign_in(demo::AGENT_EMAIL)
        .await
        .unwrap()
        .unwrap();
    let (token, hash) = auth::new_token().unwrap();
    let now = OffsetDateTime::now_utc();
    server
        .store
        .insert_token(
            NewToken {
                id: uuid::Uuid::now_v7().to_string(),
                hash,
                user_id: user.id,
                tenant_id: user.tenant_id,
                kind: TokenKind::Session,
                label: None,
                expires_at: Some(now - time::Duration::seconds(1)),
            },
            now - time::Duration::days(1),
        )
        .await
        .unwrap();
    let expired = client.get(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    let body: Value = expired.json().await.unwrap();
    assert_eq!(body["code"], "unauthorized");
}

async fn malformed_bodies_get_json_4xx(backend: Backend) {
    let server = start(backend).await;
    let client = reqwest::Client::new();
    let url = format!("{}/phone-sms/auth/token", server.url);
    let cases: Vec<(reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            client
                .post(&url)
                .header("content-type", "application/json")
                .body("{\"email\":"),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            client
                .post(&url)
                .json(&json!({"email": "a@b.c", "password": "x", "role": "admin"})),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            client
                .post(&url)
                .json(&json!({"email": 5, "password": "x"})),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            client.post(&url).body("email=a&password=b"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            client
                .post(&url)
                .header("content-type", "application/json")
                .body(format!(
                    "{{\"email\":\"{}\",\"password\":\"x\"}}",
                    "a".repeat(upzento_cloud::BODY_LIMIT)
                )),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            client
                .post(&url)
                .json(&json!({"email": " ", "password": "x"})),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
    ];
    for (request, status, code) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{code}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], code);
    }
    let missing: Value = client
        .get(format!("{}/nope", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(missing["code"], "not_found");
}

async fn api_tokens_work_until_revoked(backend: Backend) {
    let server = start(backend).await;
    let client = reqwest::Client::new();
    let session: Value = sign_in(&server, demo::AGENT_EMAIL, demo::AGENT_PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let session = session["token"].as_str().unwrap().to_owned();
    let issued = client
        .post(format!("{}/phone-sms/auth/api-tokens", server.url))
        .bearer_auth(&session)
        .json(&json!({"label": "Reception PC"}))
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status(), StatusCode::CREATED);
    let issued: Value = issued.json().await.unwrap();
    let api_token = issued["token"].as_str().unwrap().to_owned();
    assert_eq!(issued["label"], "Reception PC");
    assert_ne!(api_token, session);

    let me = |token: String| {
        let client = client.clone();
        let url = format!("{}/phone-sms/me", server.url);
        async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(me(api_token.clone()).await, StatusCode::OK);

    // Signing out revokes the session token only; the API token lives on until revoked itself.
    let revoked = client
        .delete(format!("{}/phone-sms/auth/token", server.url))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(session.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(api_token.clone()).await, StatusCode::OK);
    client
        .delete(format!("{}/phone-sms/auth/token", server.url))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(me(api_token).await, StatusCode::UNAUTHORIZED);

    let blank = client
        .post(format!("{}/phone-sms/auth/api-tokens", server.url))
        .bearer_auth(&session)
        .json(&json!({"label": " "}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        blank.status(),
        StatusCode::UNAUTHORIZED,
        "the revoked session cannot issue tokens"
    );
}

async fn api_tokens_are_listed_and_revoked_by_id(backend: Backend) {
    use common::client::{admin, agent, other_tenant};
    let server = start(backend).await;
    let (admin, agent, other) = (
        admin(&server).await,
        agent(&server).await,
        other_tenant(&server).await,
    );
    let mut issued = Vec::new();
    for (client, label) in [
        (&agent, "Zapier"),
        (&agent, "Front desk"),
        (&admin, "Billing"),
    ] {
        let (status, body) = client
            .post("/phone-sms/auth/api-tokens", json!({"label": label}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        issued.push(body);
    }
    let labels = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|t| t["label"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, mine) = agent.get("/phone-sms/auth/api-tokens").await;
    assert_eq!(labels(&mine), vec!["Zapier", "Front desk"]);
    assert!(
        mine.as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("token").is_none()),
        "a list never shows a token"
    );
    let (_, all) = admin.get("/phone-sms/auth/api-tokens").await;
    assert_eq!(labels(&all), vec!["Zapier", "Front desk", "Billing"]);
    assert_eq!(other.get("/phone-sms/auth/api-tokens").await.1, json!([]));

    let id = |i: usize| issued[i]["id"].as_str().unwrap().to_owned();
    let path = |i: usize| format!("/phone-sms/auth/api-tokens/{}", id(i));
    assert_eq!(
        agent.delete(&path(2)).await.0,
        StatusCode::NOT_FOUND,
        "not the agent's"
    );
    assert_eq!(
        other.delete(&path(0)).await.0,
        StatusCode::NOT_FOUND,
        "another tenant's"
    );
    let token_status = |i: usize| {
        let token = issued[i]["token"].as_str().unwrap().to_owned();
        let url = format!("{}/phone-sms/me", server.url);
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(token_status(0).await, StatusCode::OK);
    // An admin revokes a leaked token of an agent; the agent revokes their own.
    assert_eq!(admin.delete(&path(0)).await.0, StatusCode::NO_CONTENT);
    assert_eq!(agent.delete(&path(1)).await.0, StatusCode::NO_CONTENT);
    assert_eq!(agent.delete(&path(1)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(token_status(0).await, StatusCode::UNAUTHORIZED);
    assert_eq!(token_status(1).await, StatusCode::UNAUTHORIZED);
    assert_eq!(token_status(2).await, StatusCode::OK);
    assert_eq!(agent.get("/phone-sms/auth/api-tokens").await.1, json!([]));
    let (_, audit) = admin.get("/phone-sms/audit-log?limit=200").await;
    let revoked: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "revoke_api_token")
        .map(|r| r["entityId"].as_str().unwrap())
        .collect();
    assert_eq!(revoked.len(), 2);
    assert!(revoked.contains(&id(0).as_str()) && revoked.contains(&id(1).as_str()));
}

async fn teammates_are_listed_within_the_tenant(backend: Backend) {
    let server = start(backend).await;
    let agent = common::client::agent(&server).await;
    let (status, users) = agent.get("/phone-sms/users").await;
    assert_eq!(status, StatusCode::OK, "{users}");
    let emails: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails.len(), 3, "{users}");
    assert!(emails.contains(&demo::ADMIN_EMAIL) && emails.contains(&demo::AGENT_EMAIL));
    assert!(users[0].get("passwordHash").is_none());
    let other = common::client::other_tenant(&server).await;
    let (_, theirs) = other.get("/phone-sms/users").await;
    assert!(
        theirs
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["email"] != demo::AGENT_EMAIL && u["email"] != demo::ADMIN_EMAIL),
        "{theirs}"
    );
    let (status, _) = reqwest::Client::new()
        .get(format!("{}/phone-sms/users", server.url))
        .send()
        .await
        .map(|r| (r.status(), ()))
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
