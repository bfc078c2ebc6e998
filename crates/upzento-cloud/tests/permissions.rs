//! Every endpoint × every role × own tenant and another, generated from the OpenAPI
//! document (each operation's `x-permission`) and the permission matrix: a new endpoint is
//! covered the day it is added, and one without a permission fails here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;

use common::client::{Client, admin, agent, other_tenant, supervisor};
use common::{Backend, start};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use upzento_domain::permissions::Permission;
use upzento_domain::wire::Role;

on_both_backends!(every_endpoint_obeys_the_permission_matrix);

/// One record of each kind in the tenant, by the path segment that names its kind.
async fn records(
    server: &common::Server,
    admin: &Client,
    agent: &Client,
) -> HashMap<&'static str, String> {
    let id = |v: &Value| v["id"].as_str().expect("an id").to_owned();
    let mut ids = HashMap::new();
    let (_, number) = admin
        .post(
            "/phone-sms/phone-numbers",
            json!({"number": "+14155552671", "type": "Main"}),
        )
        .await;
    ids.insert("phone-numbers", id(&number));
    let (_, template) = admin
        .post(
            "/phone-sms/templates",
            json!({"name": "Hello", "message": "Hello {{contact.firstName|there}}"}),
        )
        .await;
    ids.insert("templates", id(&template));
    let (_, contact) = agent
        .post(
            "/phone-sms/contacts",
            json!({"firstName": "Ada", "phoneNumbers": ["+14155550100"], "tags": ["vip"]}),
        )
        .await;
    ids.insert("contacts", id(&contact));
    let (_, conversation) = agent
        .post(
            "/phone-sms/conversations",
            json!({"phoneNumberId": number["id"], "contactNumber": "+14155550100"}),
        )
        .await;
    ids.insert("conversations", id(&conversation));
    let (_, message) = agent
        .post(
            "/phone-sms/messages",
            json!({"conversationId": conversation["id"], "message": "Hi"}),
        )
        .await;
    ids.insert("messages", id(&message));
    // The sandbox carrier reports on it by itself: let it finish, so that every later
    // write is one a test request made.
    let thread = format!("/phone-sms/conversations/{}/messages", id(&conversation));
    for _ in 0..100 {
        if agent.get(&thread).await.1["items"][0]["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, call) = agent
        .post(
            "/phone-sms/calls",
            json!({"type": "incoming", "status": "completed", "from": "+14155550100",
                   "to": "+14155552671", "startTime": "2026-11-24T10:00:00Z"}),
        )
        .await;
    ids.insert("calls", id(&call));
    let (_, campaign) = admin
        .post(
            "/phone-sms/campaigns",
            json!({"name": "Spring", "message": "Hi", "phoneNumberId": number["id"]}),
        )
        .await;
    ids.insert("campaigns", id(&campaign));
    let campaign_id = id(&campaign);
    let (status, added) = admin
        .post(
            &format!("/phone-sms/campaigns/{campaign_id}/recipients"),
            json!({"tags": ["vip"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    let (_, recipients) = admin
        .get(&format!("/phone-sms/campaigns/{campaign_id}/recipients"))
        .await;
    ids.insert("recipients", id(&recipients["items"][0]));
    let (_, disposition) = admin
        .post("/phone-sms/dispositions", json!({"name": "Sale"}))
        .await;
    ids.insert("dispositions", id(&disposition));
    let (_, task) = agent
        .post(
            "/phone-sms/tasks",
            json!({"title": "Call back", "dueAt": "2026-11-25T09:00:00Z"}),
        )
        .await;
    ids.insert("tasks", id(&task));
    let (_, token) = agent
        .post("/phone-sms/auth/api-tokens", json!({"label": "CRM"}))
        .await;
    ids.insert("api-tokens", id(&token));
    let (_, me) = agent.get("/phone-sms/me").await;
    ids.insert("users", id(&me["user"]));
    let (_, invitation) = admin
        .post(
            "/phone-sms/invitations",
            json!({"email": "new@acme.test", "role": "agent"}),
        )
        .await;
    ids.insert("invitations", id(&invitation["invitation"]));
    // A second session of the agent, to end.
    common::client::agent(server).await;
    let (_, sessions) = agent.get("/phone-sms/me/sessions").await;
    let spare = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap();
    ids.insert("sessions", id(spare));
    let (_, team) = admin
        .post("/phone-sms/teams", json!({"name": "Front desk"}))
        .await;
    ids.insert("teams", id(&team));
    let (_, listed) = admin
        .post(
            "/phone-sms/do-not-contact",
            json!({"number": "+14155550177"}),
        )
        .await;
    ids.insert("do-not-contact", id(&listed));
    ids
}

/// `path` with its parameters replaced by the tenant's records.
fn concrete(path: &str, ids: &HashMap<&str, String>) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    let mut out = Vec::with_capacity(segments.len());
    for (i, segment) in segments.iter().enumerate() {
        let kind = match *segment {
            "{recipientId}" => "recipients",
            s if s.starts_with('{') => segments[i - 1],
            s => {
                out.push(s.to_owned());
                continue;
            }
        };
        out.push(
            ids.get(kind)
                .unwrap_or_else(|| panic!("no record for {kind} in {path}"))
                .clone(),
        );
    }
    out.join("/")
}

/// A valid body for the operations on one record (so that an answer is about the
/// record, not the body); `{}` elsewhere.
fn body(method: &Method, path: &str) -> Value {
    let last = path.rsplit('/').next().unwrap_or_default();
    match (path.split('/').nth(2).unwrap_or_default(), last) {
        ("calls", "status") => json!({"status": "completed"}),
        ("calls", "notes") if *method == Method::PATCH => json!({"notes": "x"}),
        ("calls", "notes") => json!({"text": "x"}),
        ("calls" | "conversations", "assign") => json!({"userId": null}),
        ("campaigns", "status") => json!({"status": "paused"}),
        ("campaigns", "schedule") => json!({"scheduledFor": null}),
        ("campaigns", "recipients") => json!({"tags": ["vip"]}),
        ("conversations", "status") => json!({"status": "closed"}),
        ("conversations", "snooze") => json!({"until": null}),
        ("conversations", "notes") => json!({"text": "x"}),
        ("messages", "status") => json!({"status": "delivered"}),
        _ => json!({}),
    }
}

/// The status of `method path` (the body is not read: `/events` streams forever).
async fn status(client: &Client, base: &str, method: &Method, path: &str) -> StatusCode {
    let mut request = reqwest::Client::new()
        .request(method.clone(), format!("{base}{path}"))
        .bearer_auth(client.token());
    if [Method::POST, Method::PUT, Method::PATCH].contains(method) {
        request = request.json(&body(method, path));
    }
    request.send().await.unwrap().status()
}

/// How many changes the tenant has recorded (every write adds at least one).
async fn writes(admin: &Client) -> usize {
    admin.get("/phone-sms/changes?since=0&limit=1000").await.1["changes"]
        .as_array()
        .unwrap()
        .len()
}

async fn every_endpoint_obeys_the_permission_matrix(backend: Backend) {
    let server = start(backend).await;
    let base = server.url.clone();
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    let supervisor = supervisor(&server).await;
    let stranger = other_tenant(&server).await;
    let ids = records(&server, &admin, &agent).await;
    let (_, doc) = admin.get("/openapi.json").await;

    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let secured = operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty());
            let permission = operation["x-permission"].as_str();
            assert_eq!(
                secured,
                permission.is_some(),
                "{method} {path}: an operation that needs a caller names its permission"
            );
            if let Some(p) = permission {
                let p = Permission::parse(p).unwrap_or_else(|| panic!("{method} {path}: {p}"));
                operations.push((method, path.clone(), p));
            }
        }
    }
    assert!(operations.len() >= 60, "{} operations", operations.len());

    // Another tenant's records are not there, whatever the role of who asks (first, while
    // every record still exists), and nothing of ours changes.
    let ours = writes(&admin).await;
    for (method, path, _) in &operations {
        if !path.contains('{') {
            continue;
        }
        let at = concrete(path, &ids);
        assert_eq!(
            status(&stranger, &base, method, &at).await,
            StatusCode::NOT_FOUND,
            "another tenant's admin: {method} {at}"
        );
    }
    assert_eq!(writes(&admin).await, ours, "another tenant changed ours");

    // Each role gets what the matrix says; a refusal writes nothing. Agents first: the
    // deletes of those who may come last.
    let mut refused = 0;
    for (role, client) in [
        (Role::Agent, &agent),
        (Role::Supervisor, &supervisor),
        (Role::Admin, &admin),
    ] {
        for (method, path, permission) in &operations {
            // Signing out ends the session: a session of its own.
            let own;
            let client = if *method == Method::DELETE && path == "/phone-sms/auth/token" {
                own = match role {
                    Role::Agent => common::client::agent(&server).await,
                    Role::Supervisor => common::client::supervisor(&server).await,
                    Role::Admin => common::client::admin(&server).await,
                };
                &own
            } else {
                client
            };
            let at = concrete(path, &ids);
            let before = writes(&admin).await;
            let got = status(client, &base, method, &at).await;
            if permission.allows(role) {
                assert_ne!(
                    got,
                    StatusCode::FORBIDDEN,
                    "{role:?}: {method} {at} ({permission})"
                );
                assert_ne!(got, StatusCode::UNAUTHORIZED, "{role:?}: {method} {at}");
            } else {
                refused += 1;
                assert_eq!(
                    got,
                    StatusCode::FORBIDDEN,
                    "{role:?}: {method} {at} ({permission})"
                );
                assert_eq!(
                    writes(&admin).await,
                    before,
                    "{role:?}: {method} {at} wrote"
                );
            }
        }
    }
    assert!(
        refused >= 10,
        "only {refused} refusals: is the matrix applied?"
    );

    // The refusal says why (a new session: the admin signed the agent out everywhere).
    let agent = common::client::agent(&server).await;
    let (status, body) = agent
        .post("/phone-sms/dispositions", json!({"name": "Refund"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "forbidden");
    assert_eq!(body["message"], "Agents may not create dispositions.");
}
