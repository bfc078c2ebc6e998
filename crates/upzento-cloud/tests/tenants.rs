//! Tenants as the operator makes and stops them, on both backends: a new tenant's admin
//! signs in with the initial password; a disabled tenant's tokens, sign-ins and inbound SMS
//! are refused at once and its campaigns paused, losing nothing, and it works again once
//! enabled. The command line is run for real, on SQLite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::client::{Client, admin, agent};
use common::{Backend, start, start_with};
use reqwest::StatusCode;
use serde_json::json;
use upzento_cloud::tenants::{NewTenant, create, initial_password};

on_both_backends!(
    a_new_tenants_admin_signs_in_and_owns_an_empty_tenant,
    a_disabled_tenant_is_refused_at_once_and_loses_nothing,
    an_initial_password_is_replaced_before_anything_else,
    guessing_passwords_locks_the_email_out_whether_it_exists_or_not,
    an_admin_changes_roles_and_deactivates_with_reassignment_keeping_one_admin
);

async fn sign_in_status(server: &common::Server, email: &str, password: &str) -> StatusCode {
    reqwest::Client::new()
        .post(format!("{}/phone-sms/auth/token", server.url))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

async fn a_new_tenants_admin_signs_in_and_owns_an_empty_tenant(backend: Backend) {
    let server = start(backend).await;
    let now = time::OffsetDateTime::now_utc();
    let password = initial_password().unwrap();
    let (tenant, admin) = create(
        server.store.as_ref(),
        NewTenant {
            name: "  Acme Plumbing ".into(),
            admin_email: "Ann@Acme.test".into(),
            admin_name: None,
            admin_password: password.clone(),
            initial_password: false,
        },
        now,
    )
    .await
    .unwrap();
    assert_eq!(tenant.name, "Acme Plumbing");
    assert_eq!(
        (admin.email.as_str(), admin.name.as_str()),
        ("ann@acme.test", "ann")
    );
    let ann = Client::sign_in(&server, "ann@acme.test", &password).await;
    let (_, me) = ann.get("/phone-sms/me").await;
    assert_eq!(me["user"]["role"], "admin");
    assert_eq!(me["tenant"]["name"], "Acme Plumbing");
    assert_eq!(
        ann.get("/phone-sms/conversations").await.1["items"],
        json!([])
    );

    // An email signs in to one tenant; a blank name or a non-address is refused.
    for (name, email) in [
        ("Other", "ann@acme.test"),
        ("Other", upzento_cloud::demo::ADMIN_EMAIL),
        (" ", "bob@acme.test"),
        ("Other", "bob"),
    ] {
        let refused = create(
            server.store.as_ref(),
            NewTenant {
                name: name.into(),
                admin_email: email.into(),
                admin_name: None,
                admin_password: password.clone(),
                initial_password: false,
            },
            now,
        )
        .await;
        assert!(refused.is_err(), "{name} / {email}");
    }
}

async fn a_disabled_tenant_is_refused_at_once_and_loses_nothing(backend: Backend) {
    // No background workers: the test runs the sender's claim itself.
    let server = start_with(backend, false).await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    let tenant = admin.tenant_id().await;
    let (_, number) = admin
        .post(
            "/phone-sms/phone-numbers",
            json!({"number": "+14155552671", "type": "Main"}),
        )
        .await;
    let (_, campaign) = admin
        .post(
            "/phone-sms/campaigns",
            json!({"name": "Spring", "message": "Hi", "phoneNumberId": number["id"]}),
        )
        .await;
    let campaign_path = format!("/phone-sms/campaigns/{}", campaign["id"].as_str().unwrap());
    admin
        .post(
            &format!("{campaign_path}/recipients"),
            json!({"numbers": ["+14155550100", "+14155550101"]}),
        )
        .await;
    // Another tenant, untouched by all of it.
    let password = initial_password().unwrap();
    create(
        server.store.as_ref(),
        NewTenant {
            name: "Acme".into(),
            admin_email: "ann@acme.test".into(),
            admin_name: None,
            admin_password: password.clone(),
            initial_password: false,
        },
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    let ann = Client::sign_in(&server, "ann@acme.test", &password).await;

    // Disabled while its campaign runs and a reply waits to be sent.
    let (status, started) = admin
        .patch(
            &format!("{campaign_path}/status"),
            json!({"status": "active"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let (_, conversation) = agent
        .post(
            "/phone-sms/conversations",
            json!({"phoneNumberId": number["id"], "contactNumber": "+14155550109"}),
        )
        .await;
    let (status, queued) = agent
        .post(
            "/phone-sms/messages",
            json!({"conversationId": conversation["id"], "message": "On my way"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{queued}");
    let now = time::OffsetDateTime::now_utc();
    assert!(
        server
            .store
            .set_tenant_disabled(&tenant, Some(now), now)
            .await
            .unwrap()
    );
    for client in [&admin, &agent] {
        assert_eq!(
            client.get("/phone-sms/me").await.0,
            StatusCode::UNAUTHORIZED,
            "its tokens stop at once"
        );
    }
    assert_eq!(
        sign_in_status(
            &server,
            upzento_cloud::demo::AGENT_EMAIL,
            upzento_cloud::demo::AGENT_PASSWORD
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "and its people cannot sign in"
    );
    // An SMS to its number, as any provider's webhook hands it in: refused, nothing kept.
    let state = upzento_cloud::AppState::with_carrier(
        server.store.clone(),
        std::sync::Arc::new(upzento_cloud::carrier::Sandbox {
            delivery_delay: std::time::Duration::from_millis(50),
            segments_per_second: None,
        }),
    );
    let inbound = upzento_cloud::inbound::receive(
        &state,
        upzento_cloud::inbound::InboundSms {
            to: "+14155552671".into(),
            from: "+14155550100".into(),
            body: "Hello?".into(),
            provider: "sandbox".into(),
            provider_message_id: "SM-disabled".into(),
        },
        now,
    )
    .await;
    assert!(
        matches!(inbound, Err(upzento_cloud::error::AppError::Refused(_))),
        "{inbound:?}"
    );
    assert_eq!(
        ann.get("/phone-sms/me").await.0,
        StatusCode::OK,
        "others go on"
    );
    let later = now + time::Duration::minutes(1);
    let lease = later + time::Duration::minutes(1);
    let claimed = server
        .store
        .claim_due_messages(later, lease, "test", 10)
        .await
        .unwrap();
    assert!(
        claimed.iter().all(|m| m.tenant_id != tenant),
        "nothing of a disabled tenant is sent"
    );

    // Enabled again: the same tokens work, nothing was lost, the campaign waits paused.
    assert!(
        server
            .store
            .set_tenant_disabled(&tenant, None, now)
            .await
            .unwrap()
    );
    assert_eq!(agent.get("/phone-sms/me").await.0, StatusCode::OK);
    let (_, campaign) = admin.get(&campaign_path).await;
    assert_eq!(campaign["status"], "paused", "{campaign}");
    let claimed = server
        .store
        .claim_due_messages(lease, lease + time::Duration::minutes(1), "test", 10)
        .await
        .unwrap();
    assert!(
        claimed.iter().any(|m| m.tenant_id == tenant),
        "the reply that waited goes now"
    );
    assert_eq!(
        sign_in_status(
            &server,
            upzento_cloud::demo::AGENT_EMAIL,
            upzento_cloud::demo::AGENT_PASSWORD
        )
        .await,
        StatusCode::OK
    );
    let (_, log) = admin.get("/phone-sms/audit-log?limit=200").await;
    let actions: Vec<(&str, &str)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actorId"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(actions.contains(&("disable", "operator")), "{actions:?}");
    assert!(actions.contains(&("enable", "operator")), "{actions:?}");
    assert!(
        !server
            .store
            .set_tenant_disabled("nope", None, now)
            .await
            .unwrap(),
        "no such tenant"
    );
}

#[test]
fn the_command_line_creates_lists_disables_and_enables_a_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_upzento-cloud"))
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = run(&[
        "tenant",
        "create",
        "--name",
        "Acme Plumbing",
        "--admin-email",
        "ann@acme.test",
    ]);
    assert!(ok, "{out}{err}");
    let password = out
        .split("initial password ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the initial password is printed")
        .to_owned();
    assert_eq!(password.len(), 20);
    let id = out
        .lines()
        .next()
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .to_owned();
    let (ok, out, _) = run(&["tenant", "list"]);
    assert!(
        ok && out.contains("Acme Plumbing") && out.contains("active"),
        "{out}"
    );
    let (ok, again, err) = run(&[
        "tenant",
        "create",
        "--name",
        "Acme again",
        "--admin-email",
        "ANN@acme.test",
    ]);
    assert!(!ok && err.contains("already signs in"), "{again}{err}");
    let (ok, out, err) = run(&["tenant", "disable", &id]);
    assert!(ok, "{out}{err}");
    let (_, out, _) = run(&["tenant", "list"]);
    assert!(out.contains("disabled"), "{out}");
    let (ok, _, err) = run(&["tenant", "disable", "nope"]);
    assert!(!ok && err.contains("no tenant nope"), "{err}");
    let (ok, _, _) = run(&["tenant", "enable", &id]);
    assert!(ok);
    let (_, out, _) = run(&["tenant", "list"]);
    assert!(out.contains("active") && !out.contains("disabled"), "{out}");

    // The admin signs in with the printed password, through the server on the same data.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = std::sync::Arc::new(
            upzento_cloud::store::sqlite::SqliteStore::open(&dir.path().join("upzento-cloud.db"))
                .unwrap(),
        );
        let (user, hash) =
            upzento_cloud::store::Store::user_for_sign_in(store.as_ref(), "ann@acme.test")
                .await
                .unwrap()
                .unwrap();
        assert_eq!(user.role, upzento_domain::wire::Role::Admin);
        assert!(upzento_cloud::auth::verify_password(
            &password,
            hash.as_deref()
        ));
    });
}

async fn sign_in(
    server: &common::Server,
    email: &str,
    password: &str,
) -> (StatusCode, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/phone-sms/auth/token", server.url))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or_default())
}

async fn an_initial_password_is_replaced_before_anything_else(backend: Backend) {
    let server = start(backend).await;
    let initial = initial_password().unwrap();
    create(
        server.store.as_ref(),
        NewTenant {
            name: "Acme".into(),
            admin_email: "ann@acme.test".into(),
            admin_name: Some("Ann Lee".into()),
            admin_password: initial.clone(),
            initial_password: true,
        },
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    let (status, session) = sign_in(&server, "ann@acme.test", &initial).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["user"]["passwordChangeRequired"], true);
    let ann = Client::sign_in(&server, "ann@acme.test", &initial).await;
    let other_session = Client::sign_in(&server, "ann@acme.test", &initial).await;
    let (status, refused) = ann.get("/phone-sms/conversations").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["code"], "password_change_required");
    assert_eq!(ann.get("/phone-sms/me").await.0, StatusCode::OK);

    // Weak, unchanged or without the right current password: refused, nothing changed.
    for (current, new, status, code) in [
        (
            initial.as_str(),
            "short",
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            initial.as_str(),
            "ann-is-my-name-2026",
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            initial.as_str(),
            initial.as_str(),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            "not the password",
            "correct horse battery",
            StatusCode::FORBIDDEN,
            "wrong_password",
        ),
    ] {
        let (got, body) = ann
            .post(
                "/phone-sms/me/password",
                json!({"currentPassword": current, "newPassword": new}),
            )
            .await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{new}: {body}"
        );
    }
    let (status, body) = ann
        .post(
            "/phone-sms/me/password",
            json!({"currentPassword": initial, "newPassword": "correct horse battery"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // This session goes on, free now; the other one ended; the old password is gone.
    assert_eq!(ann.get("/phone-sms/conversations").await.0, StatusCode::OK);
    assert_eq!(
        ann.get("/phone-sms/me").await.1["user"]["passwordChangeRequired"],
        false
    );
    assert_eq!(
        other_session.get("/phone-sms/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&server, "ann@acme.test", &initial).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&server, "ann@acme.test", "correct horse battery")
            .await
            .0,
        StatusCode::OK
    );
    let (_, log) = ann.get("/phone-sms/audit-log?limit=200").await;
    assert!(
        log["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "change_password"),
        "{log}"
    );
}

async fn guessing_passwords_locks_the_email_out_whether_it_exists_or_not(backend: Backend) {
    let server = start(backend).await;
    let agent = upzento_cloud::demo::AGENT_EMAIL;
    for email in [agent, "nobody@demo.upzento.test"] {
        for _ in 0..5 {
            assert_eq!(
                sign_in(&server, email, "wrong guess").await.0,
                StatusCode::UNAUTHORIZED
            );
        }
        // Locked: the same answer for an email that exists and one that does not, and
        // even the right password waits.
        let (status, body) = sign_in(&server, email, "wrong guess").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{email}: {body}");
        assert_eq!(body["code"], "too_many_attempts");
    }
    let (status, _) = sign_in(&server, agent, upzento_cloud::demo::AGENT_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Others are not locked out by it.
    assert_eq!(
        sign_in(
            &server,
            upzento_cloud::demo::ADMIN_EMAIL,
            upzento_cloud::demo::ADMIN_PASSWORD
        )
        .await
        .0,
        StatusCode::OK
    );
    // The failures count for 15 minutes (the store, at a later time).
    let now = time::OffsetDateTime::now_utc();
    assert_eq!(
        server
            .store
            .sign_in_failures(agent, now - time::Duration::minutes(15))
            .await
            .unwrap(),
        5
    );
    assert_eq!(
        server
            .store
            .sign_in_failures(agent, now + time::Duration::seconds(1))
            .await
            .unwrap(),
        0
    );
    // A success clears the count.
    server.store.clear_sign_in_failures(agent).await.unwrap();
    assert_eq!(
        sign_in(&server, agent, upzento_cloud::demo::AGENT_PASSWORD)
            .await
            .0,
        StatusCode::OK
    );
}

async fn an_admin_changes_roles_and_deactivates_with_reassignment_keeping_one_admin(
    backend: Backend,
) {
    let server = start(backend).await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    let supervisor = common::client::supervisor(&server).await;
    let id_of = |v: &serde_json::Value| v["user"]["id"].as_str().unwrap().to_owned();
    let (admin_id, agent_id, supervisor_id) = (
        id_of(&admin.get("/phone-sms/me").await.1),
        id_of(&agent.get("/phone-sms/me").await.1),
        id_of(&supervisor.get("/phone-sms/me").await.1),
    );
    // The agent's work: an open and a closed conversation, a call to follow up.
    let (_, number) = admin
        .post(
            "/phone-sms/phone-numbers",
            json!({"number": "+14155552671", "type": "Main"}),
        )
        .await;
    let mut conversations = Vec::new();
    for to in ["+14155550100", "+14155550101"] {
        let (_, c) = agent
            .post(
                "/phone-sms/conversations",
                json!({"phoneNumberId": number["id"], "contactNumber": to}),
            )
            .await;
        let path = format!("/phone-sms/conversations/{}", c["id"].as_str().unwrap());
        agent
            .patch(&format!("{path}/assign"), json!({"userId": agent_id}))
            .await;
        conversations.push(path);
    }
    agent
        .patch(
            &format!("{}/status", conversations[1]),
            json!({"status": "closed"}),
        )
        .await;
    let (_, call) = agent
        .post(
            "/phone-sms/calls",
            json!({"type": "incoming", "status": "missed", "from": "+14155550100",
                   "to": "+14155552671", "startTime": "2026-11-24T10:00:00Z"}),
        )
        .await;
    let call_path = format!("/phone-sms/calls/{}", call["id"].as_str().unwrap());
    agent
        .patch(&format!("{call_path}/assign"), json!({"userId": agent_id}))
        .await;

    // Roles: only admins change them, and one active admin always stays.
    let user = |id: &str| format!("/phone-sms/users/{id}");
    assert_eq!(
        supervisor
            .patch(&user(&agent_id), json!({"role": "admin"}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    for body in [json!({"role": "agent"}), json!({"active": false})] {
        let (status, error) = admin.patch(&user(&admin_id), body).await;
        assert_eq!(
            (status, error["code"].as_str()),
            (StatusCode::CONFLICT, Some("last_admin"))
        );
    }
    let (status, promoted) = admin
        .patch(&user(&supervisor_id), json!({"role": "admin"}))
        .await;
    assert_eq!(
        (status, promoted["role"].as_str()),
        (StatusCode::OK, Some("admin"))
    );
    // Their apps sign in again to learn the new role.
    assert_eq!(
        supervisor.get("/phone-sms/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    let promoted_client = common::client::supervisor(&server).await;
    assert_eq!(
        promoted_client.get("/phone-sms/me").await.1["user"]["role"],
        "admin"
    );
    let (status, _) = admin
        .patch(&user(&supervisor_id), json!({"role": "supervisor"}))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "another admin was never needed to step down"
    );

    // Deactivated with their work handed over: at once, history kept.
    for bad in [agent_id.as_str(), "nobody"] {
        let (status, _) = admin
            .patch(
                &user(&agent_id),
                json!({"active": false, "reassignTo": bad}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (status, off) = admin
        .patch(
            &user(&agent_id),
            json!({"active": false, "reassignTo": supervisor_id}),
        )
        .await;
    assert_eq!(
        (status, off["active"].as_bool()),
        (StatusCode::OK, Some(false)),
        "{off}"
    );
    assert_eq!(agent.get("/phone-sms/me").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        sign_in(
            &server,
            upzento_cloud::demo::AGENT_EMAIL,
            upzento_cloud::demo::AGENT_PASSWORD
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    let (_, open) = admin.get(&conversations[0]).await;
    assert_eq!(
        open["assignedTo"],
        supervisor_id.as_str(),
        "open work moves"
    );
    let (_, closed) = admin.get(&conversations[1]).await;
    assert_eq!(
        closed["assignedTo"],
        agent_id.as_str(),
        "closed history stays theirs"
    );
    assert_eq!(
        admin.get(&call_path).await.1["assignedTo"],
        supervisor_id.as_str()
    );
    let (_, users) = admin.get("/phone-sms/users").await;
    let listed = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == agent_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed["active"], false, "listed, to be reactivated");

    // Back again: they sign in (their old sessions stay ended).
    let (status, on) = admin.patch(&user(&agent_id), json!({"active": true})).await;
    assert_eq!(
        (status, on["active"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    assert_eq!(agent.get("/phone-sms/me").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        sign_in(
            &server,
            upzento_cloud::demo::AGENT_EMAIL,
            upzento_cloud::demo::AGENT_PASSWORD
        )
        .await
        .0,
        StatusCode::OK
    );
    let stranger = common::client::other_tenant(&server).await;
    assert_eq!(
        stranger
            .patch(&user(&agent_id), json!({"active": false}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, log) = admin.get("/phone-sms/audit-log?limit=200").await;
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["entity"] == "user")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in ["role_admin", "role_supervisor", "deactivate", "reactivate"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}
