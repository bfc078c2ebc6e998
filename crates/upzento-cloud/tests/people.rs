//! People, on both backends: an admin invites someone, who joins through the code (resent
//! codes replace old ones, revoked and expired ones stop); users list and end their
//! sessions, and an admin signs a user out everywhere; presence follows what the agent
//! chooses and their live connections, and a node that dies leaves nobody available.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::client::{Client, admin, agent, other_tenant, supervisor};
use common::{Backend, start};
use reqwest::StatusCode;
use serde_json::{Value, json};
use upzento_cloud::AppState;

on_both_backends!(
    an_admin_invites_and_the_person_joins_through_the_code,
    resent_codes_replace_old_ones_and_revoked_or_expired_ones_stop,
    sessions_are_listed_and_ended_one_by_one_or_everywhere,
    presence_follows_choices_and_lapses_without_a_live_connection,
    teams_own_numbers_and_conversations_and_leave_them_when_deleted
);

/// Several nodes share one database on PostgreSQL only (a SQLite cloud is one process;
/// its restart is the sweep above).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_node_that_dies_leaves_its_agents_offline() {
    a_node_that_dies_leaves_its_agents_offline(Backend::Postgres).await;
}

async fn public(server_url: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{server_url}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn an_admin_invites_and_the_person_joins_through_the_code(backend: Backend) {
    let server = start(backend).await;
    let (admin, agent, supervisor) = (
        admin(&server).await,
        agent(&server).await,
        supervisor(&server).await,
    );
    let invitation = json!({"email": " Nina@Acme.test ", "role": "agent"});
    // Only admins invite.
    for refused in [&agent, &supervisor] {
        let (status, body) = refused
            .post("/phone-sms/invitations", invitation.clone())
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(
            refused.get("/phone-sms/invitations").await.0,
            StatusCode::FORBIDDEN
        );
    }
    let (status, issued) = admin
        .post("/phone-sms/invitations", invitation.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let code = issued["code"].as_str().unwrap().to_owned();
    assert!(code.starts_with("uzi_"));
    assert_eq!(issued["invitation"]["email"], "nina@acme.test");
    assert_eq!(issued["invitation"]["status"], "pending");

    // Twice, an address already in use, or not an address: refused with the reason.
    for (body, code_expected, status_expected) in [
        (invitation.clone(), "already_invited", StatusCode::CONFLICT),
        (
            json!({"email": upzento_cloud::demo::AGENT_EMAIL, "role": "agent"}),
            "email_taken",
            StatusCode::CONFLICT,
        ),
        (
            json!({"email": "nina", "role": "agent"}),
            "invalid_field",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, body) = admin.post("/phone-sms/invitations", body).await;
        assert_eq!(
            (status, body["code"].as_str().unwrap()),
            (status_expected, code_expected),
            "{body}"
        );
    }

    // The code tells what it is for, before anything is chosen.
    let (status, preview) = public(
        &server.url,
        "/phone-sms/invitations/lookup",
        json!({"code": code}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["email"], "nina@acme.test");
    assert_eq!(preview["role"], "agent");
    assert_eq!(preview["tenant"]["name"], upzento_cloud::demo::TENANT);
    let (status, body) = public(
        &server.url,
        "/phone-sms/invitations/lookup",
        json!({"code": "uzi_nonsense"}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("invitation_not_found"))
    );

    // A weak password or a blank name is refused, and the code still works after.
    for (name, password, field) in [
        ("Nina Novak", "short", "password"),
        ("Nina Novak", "nina-password-here", "password"),
        ("  ", "a long enough secret", "name"),
    ] {
        let (status, body) = public(
            &server.url,
            "/phone-sms/invitations/accept",
            json!({"code": code, "name": name, "password": password}),
        )
        .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{body}"
        );
    }
    let (status, joined) = public(
        &server.url,
        "/phone-sms/invitations/accept",
        json!({"code": code, "name": " Nina Novak ", "password": "a long enough secret", "device": "Nina's laptop"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{joined}");
    assert_eq!(joined["user"]["role"], "agent");
    let nina = Client::with_token(&server.url, joined["token"].as_str().unwrap());
    let (_, me) = nina.get("/phone-sms/me").await;
    assert_eq!(
        (me["user"]["name"].as_str(), me["user"]["email"].as_str()),
        (Some("Nina Novak"), Some("nina@acme.test"))
    );
    // She signs in with her password from now on; the code is spent.
    Client::sign_in(&server, "nina@acme.test", "a long enough secret").await;
    let (status, _) = public(
        &server.url,
        "/phone-sms/invitations/accept",
        json!({"code": code, "name": "Mallory", "password": "another long secret"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, list) = admin.get("/phone-sms/invitations").await;
    assert_eq!(list[0]["status"], "accepted");
    let (_, users) = agent.get("/phone-sms/users").await;
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["email"] == "nina@acme.test")
    );
    let (_, audit) = admin.get("/phone-sms/audit-log").await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"invite") && actions.contains(&"accept_invitation"),
        "{actions:?}"
    );

    // Another tenant sees none of it.
    let olga = other_tenant(&server).await;
    assert_eq!(olga.get("/phone-sms/invitations").await.1, json!([]));
    let id = list[0]["id"].as_str().unwrap();
    assert_eq!(
        olga.delete(&format!("/phone-sms/invitations/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        olga.post(&format!("/phone-sms/invitations/{id}/resend"), json!({}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

async fn resent_codes_replace_old_ones_and_revoked_or_expired_ones_stop(backend: Backend) {
    let server = start(backend).await;
    let admin = admin(&server).await;
    let (_, first) = admin
        .post(
            "/phone-sms/invitations",
            json!({"email": "omar@acme.test", "role": "supervisor"}),
        )
        .await;
    let id = first["invitation"]["id"].as_str().unwrap().to_owned();
    let (status, again) = admin
        .post(&format!("/phone-sms/invitations/{id}/resend"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_ne!(again["code"], first["code"]);
    let lookup = |code: &Value| {
        public(
            &server.url,
            "/phone-sms/invitations/lookup",
            json!({"code": code}),
        )
    };
    assert_eq!(
        lookup(&first["code"]).await.0,
        StatusCode::NOT_FOUND,
        "the old code stopped"
    );
    assert_eq!(lookup(&again["code"]).await.1["role"], "supervisor");

    // Expired a week on (the store is asked with that time): told apart in the list only.
    let later = time::OffsetDateTime::now_utc()
        + upzento_cloud::INVITATION_LIFETIME
        + time::Duration::minutes(1);
    let hash = upzento_cloud::auth::token_hash(again["code"].as_str().unwrap());
    assert!(
        server
            .store
            .invitation_by_code(&hash, later)
            .await
            .unwrap()
            .is_none()
    );
    let tenant = admin.tenant_id().await;
    let listed = server.store.invitations(&tenant, later).await.unwrap();
    assert_eq!(
        listed[0].status,
        upzento_domain::wire::InvitationStatus::Expired
    );

    let (status, revoked) = admin.delete(&format!("/phone-sms/invitations/{id}")).await;
    assert_eq!(
        (status, revoked["status"].as_str()),
        (StatusCode::OK, Some("revoked"))
    );
    assert_eq!(lookup(&again["code"]).await.0, StatusCode::NOT_FOUND);
    let (status, body) = admin
        .post(&format!("/phone-sms/invitations/{id}/resend"), json!({}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("invitation_closed"))
    );
    // Revoked, the email may be invited again.
    let (status, _) = admin
        .post(
            "/phone-sms/invitations",
            json!({"email": "omar@acme.test", "role": "agent"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        admin.delete("/phone-sms/invitations/nope").await.0,
        StatusCode::NOT_FOUND
    );
}

async fn sign_in_on(server: &common::Server, device: &str) -> Client {
    let (status, body) = public(
        &server.url,
        "/phone-sms/auth/token",
        json!({"email": upzento_cloud::demo::AGENT_EMAIL, "password": upzento_cloud::demo::AGENT_PASSWORD, "device": device}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    Client::with_token(&server.url, body["token"].as_str().unwrap())
}

async fn sessions_are_listed_and_ended_one_by_one_or_everywhere(backend: Backend) {
    let server = start(backend).await;
    let laptop = sign_in_on(&server, "Laptop").await;
    let desk = sign_in_on(&server, "Front desk").await;
    let (_, issued) = laptop
        .post("/phone-sms/auth/api-tokens", json!({"label": "CRM bridge"}))
        .await;
    let machine = Client::with_token(&server.url, issued["token"].as_str().unwrap());

    let (status, sessions) = laptop.get("/phone-sms/me/sessions").await;
    assert_eq!(status, StatusCode::OK);
    let sessions = sessions.as_array().unwrap().clone();
    assert_eq!(
        sessions.len(),
        2,
        "API tokens are not sessions: {sessions:?}"
    );
    let mine = sessions.iter().find(|s| s["current"] == true).unwrap();
    assert_eq!(mine["device"], "Laptop");
    let other = sessions.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(other["device"], "Front desk");

    let (status, _) = laptop
        .delete(&format!(
            "/phone-sms/me/sessions/{}",
            other["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        desk.get("/phone-sms/me").await.0,
        StatusCode::UNAUTHORIZED,
        "ended at once"
    );
    assert_eq!(
        laptop.delete("/phone-sms/me/sessions/nope").await.0,
        StatusCode::NOT_FOUND
    );

    // An agent may not sign others out; another tenant's admin does not find them.
    let (_, me) = laptop.get("/phone-sms/me").await;
    let agent_id = me["user"]["id"].as_str().unwrap().to_owned();
    let (_, admin_me) = admin(&server).await.get("/phone-sms/me").await;
    let path = format!(
        "/phone-sms/users/{}/sessions",
        admin_me["user"]["id"].as_str().unwrap()
    );
    assert_eq!(laptop.delete(&path).await.0, StatusCode::FORBIDDEN);
    let olga = other_tenant(&server).await;
    assert_eq!(
        olga.delete(&format!("/phone-sms/users/{agent_id}/sessions"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(laptop.get("/phone-sms/me").await.0, StatusCode::OK);

    let admin = admin(&server).await;
    let (status, _) = admin
        .delete(&format!("/phone-sms/users/{agent_id}/sessions"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        laptop.get("/phone-sms/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        machine.get("/phone-sms/me").await.0,
        StatusCode::OK,
        "the integration keeps its API token"
    );
    let (_, audit) = admin.get("/phone-sms/audit-log").await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"end_session") && actions.contains(&"sign_out_everywhere"),
        "{actions:?}"
    );
}

fn presence_of<'a>(list: &'a Value, user: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|p| p["userId"] == user)
        .unwrap()
}

/// The next `presence` change of the stream, skipping others.
async fn next_presence(events: &mut common::client::EventStream) -> Value {
    loop {
        let event = events.next(Duration::from_secs(10)).await;
        if event.data["entity"] == "presence" {
            return event.data["data"].clone();
        }
    }
}

async fn presence_follows_choices_and_lapses_without_a_live_connection(backend: Backend) {
    let server = start(backend).await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    let (_, me) = agent.get("/phone-sms/me").await;
    let agent_id = me["user"]["id"].as_str().unwrap().to_owned();
    let (_, list) = admin.get("/phone-sms/presence").await;
    assert_eq!(
        presence_of(&list, &agent_id)["status"],
        "offline",
        "never seen"
    );

    let mut feed = admin.events(None).await;
    let (status, body) = agent
        .put("/phone-sms/me/presence", json!({"status": "available"}))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("available"))
    );
    let told = next_presence(&mut feed).await;
    assert_eq!(
        (told["userId"].as_str(), told["status"].as_str()),
        (Some(agent_id.as_str()), Some("available"))
    );
    // The same again changes nothing teammates see.
    let (_, same) = agent
        .put("/phone-sms/me/presence", json!({"status": "available"}))
        .await;
    assert_eq!(same["since"], body["since"]);
    agent
        .put("/phone-sms/me/presence", json!({"status": "dnd"}))
        .await;
    assert_eq!(next_presence(&mut feed).await["status"], "dnd");
    let (_, list) = admin.get("/phone-sms/presence").await;
    assert_eq!(presence_of(&list, &agent_id)["status"], "dnd");
    let (status, body) = agent
        .put("/phone-sms/me/presence", json!({"status": "offline"}))
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("status"))
    );

    // With no live connection for a lease, teammates are told "offline" once, however
    // many nodes sweep; a connection seen again brings the chosen status back.
    let lease = upzento_cloud::PRESENCE_LEASE;
    let later = time::OffsetDateTime::now_utc() + lease + time::Duration::seconds(5);
    assert_eq!(
        server
            .store
            .sweep_presence(later - lease, later)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        server
            .store
            .sweep_presence(later - lease, later)
            .await
            .unwrap(),
        0
    );
    assert_eq!(next_presence(&mut feed).await["status"], "offline");
    let tenant = admin.tenant_id().await;
    let seen = server
        .store
        .presences(&tenant, later - lease)
        .await
        .unwrap();
    assert!(seen.iter().any(
        |p| p.user_id == agent_id && p.status == upzento_domain::wire::PresenceStatus::Offline
    ));
    server
        .store
        .presence_seen(&tenant, &agent_id, later)
        .await
        .unwrap();
    assert_eq!(next_presence(&mut feed).await["status"], "dnd");
}

/// A node of its own runtime, so that it can die with everything it runs.
fn node(
    store: Arc<dyn upzento_cloud::store::Store>,
    lease: time::Duration,
) -> (String, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut state = AppState::new(store);
    state.presence_lease = lease;
    runtime.spawn(async move { upzento_cloud::serve(listener, state).await });
    (url, runtime)
}

async fn a_node_that_dies_leaves_its_agents_offline(backend: Backend) {
    let server = start(backend).await;
    let lease = time::Duration::milliseconds(600);
    let (url_a, node_a) = tokio::task::block_in_place(|| node(server.store.clone(), lease));
    let (url_b, node_b) = tokio::task::block_in_place(|| node(server.store.clone(), lease));
    let agent = Client::sign_in_at(
        &url_a,
        upzento_cloud::demo::AGENT_EMAIL,
        upzento_cloud::demo::AGENT_PASSWORD,
    )
    .await;
    let admin = Client::sign_in_at(
        &url_b,
        upzento_cloud::demo::ADMIN_EMAIL,
        upzento_cloud::demo::ADMIN_PASSWORD,
    )
    .await;
    let (_, me) = agent.get("/phone-sms/me").await;
    let agent_id = me["user"]["id"].as_str().unwrap().to_owned();

    let mut feed = admin.events(None).await;
    // The agent's app holds its event stream on node A, which keeps them present.
    let _live = agent.events(None).await;
    agent
        .put("/phone-sms/me/presence", json!({"status": "available"}))
        .await;
    assert_eq!(next_presence(&mut feed).await["status"], "available");
    // Several leases pass: still available while the stream lives.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (_, list) = admin.get("/phone-sms/presence").await;
    assert_eq!(presence_of(&list, &agent_id)["status"], "available");

    // Node A dies with everything it runs; node B tells the tenant the agent is offline.
    tokio::task::block_in_place(|| node_a.shutdown_background());
    let told = next_presence(&mut feed).await;
    assert_eq!(
        (told["userId"].as_str(), told["status"].as_str()),
        (Some(agent_id.as_str()), Some("offline"))
    );
    drop(feed);
    tokio::task::block_in_place(|| node_b.shutdown_background());
}

async fn teams_own_numbers_and_conversations_and_leave_them_when_deleted(backend: Backend) {
    let server = start(backend).await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    let (_, me) = agent.get("/phone-sms/me").await;
    let agent_id = me["user"]["id"].as_str().unwrap().to_owned();

    // Admins make teams; names are unique whatever their case; people are active users.
    let (status, body) = agent
        .post("/phone-sms/teams", json!({"name": "Support"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, support) = admin
        .post(
            "/phone-sms/teams",
            json!({"name": " Support ", "memberIds": [agent_id, agent_id]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{support}");
    assert_eq!(support["name"], "Support");
    assert_eq!(support["memberIds"], json!([agent_id]), "each person once");
    let team = support["id"].as_str().unwrap().to_owned();
    let (status, body) = admin
        .post("/phone-sms/teams", json!({"name": "support"}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("duplicate_team"))
    );
    let (status, body) = admin
        .post(
            "/phone-sms/teams",
            json!({"name": "Sales", "memberIds": ["nobody"]}),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("memberIds"))
    );
    let (_, listed) = agent.get("/phone-sms/teams").await;
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "agents read teams: {listed}"
    );

    // A team's number: conversations opened on it are the team's.
    let (_, number) = admin
        .post(
            "/phone-sms/phone-numbers",
            json!({"number": "+14155552671", "type": "Support"}),
        )
        .await;
    let number = number["id"].as_str().unwrap().to_owned();
    let (status, owned) = admin
        .patch(
            &format!("/phone-sms/phone-numbers/{number}"),
            json!({"teamId": team}),
        )
        .await;
    assert_eq!(
        (status, owned["teamId"].as_str()),
        (StatusCode::OK, Some(team.as_str())),
        "{owned}"
    );
    let (status, opened) = agent
        .post(
            "/phone-sms/conversations",
            json!({"phoneNumberId": number, "contactNumber": "+14155550199"}),
        )
        .await;
    assert!(status.is_success(), "{opened}");
    assert_eq!(opened["teamId"], team.as_str());
    let conversation = opened["id"].as_str().unwrap().to_owned();

    // Assignment to a user keeps the team unless told; `teamId: null` takes it off.
    let assign = format!("/phone-sms/conversations/{conversation}/assign");
    let (_, taken) = agent.patch(&assign, json!({"userId": agent_id})).await;
    assert_eq!(
        (taken["assignedTo"].as_str(), taken["teamId"].as_str()),
        (Some(agent_id.as_str()), Some(team.as_str()))
    );
    let (_, off) = agent
        .patch(&assign, json!({"userId": agent_id, "teamId": null}))
        .await;
    assert_eq!(off["teamId"], Value::Null);
    let (_, back) = agent
        .patch(&assign, json!({"userId": null, "teamId": team}))
        .await;
    assert_eq!(
        (back["assignedTo"].clone(), back["teamId"].as_str()),
        (Value::Null, Some(team.as_str()))
    );
    let (status, body) = agent
        .patch(&assign, json!({"userId": null, "teamId": "nope"}))
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("teamId"))
    );
    let (_, call) = agent
        .post(
            "/phone-sms/calls",
            json!({"type": "incoming", "status": "completed", "from": "+14155550100",
                   "to": "+14155552671", "startTime": "2026-11-24T10:00:00Z"}),
        )
        .await;
    let call = call["id"].as_str().unwrap();
    let (status, body) = agent
        .patch(
            &format!("/phone-sms/calls/{call}/assign"),
            json!({"userId": null, "teamId": team}),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("teamId"))
    );

    // A deactivated person leaves their teams (an admin adds them back when reactivated).
    let (_, nina) = admin
        .post(
            "/phone-sms/invitations",
            json!({"email": "nina@acme.test", "role": "agent"}),
        )
        .await;
    let (_, joined) = public(
        &server.url,
        "/phone-sms/invitations/accept",
        json!({"code": nina["code"], "name": "Nina", "password": "a long enough secret"}),
    )
    .await;
    let nina_id = joined["user"]["id"].as_str().unwrap().to_owned();
    let (_, both) = admin
        .patch(
            &format!("/phone-sms/teams/{team}"),
            json!({"memberIds": [agent_id, nina_id]}),
        )
        .await;
    assert_eq!(both["memberIds"].as_array().unwrap().len(), 2, "{both}");
    let (status, _) = admin
        .patch(
            &format!("/phone-sms/users/{nina_id}"),
            json!({"active": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, listed) = admin.get("/phone-sms/teams").await;
    assert_eq!(listed[0]["memberIds"], json!([agent_id]), "{listed}");

    // Renamed and re-peopled; another tenant sees none of it.
    let (status, renamed) = admin
        .patch(
            &format!("/phone-sms/teams/{team}"),
            json!({"name": "Care", "memberIds": []}),
        )
        .await;
    assert_eq!(
        (
            status,
            renamed["name"].as_str(),
            renamed["memberIds"].clone()
        ),
        (StatusCode::OK, Some("Care"), json!([]))
    );
    let olga = other_tenant(&server).await;
    assert_eq!(olga.get("/phone-sms/teams").await.1, json!([]));
    assert_eq!(
        olga.patch(&format!("/phone-sms/teams/{team}"), json!({"name": "Mine"}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        olga.delete(&format!("/phone-sms/teams/{team}")).await.0,
        StatusCode::NOT_FOUND
    );

    // Deleted: its conversation and number stay, without it, and the feed says so.
    let (_, feed) = admin.get("/phone-sms/changes?since=0&limit=1000").await;
    let since = feed["changes"].as_array().unwrap().last().unwrap()["seq"]
        .as_i64()
        .unwrap();
    assert_eq!(
        admin.delete(&format!("/phone-sms/teams/{team}")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        admin.delete(&format!("/phone-sms/teams/{team}")).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, kept) = agent
        .get(&format!("/phone-sms/conversations/{conversation}"))
        .await;
    assert_eq!(kept["teamId"], Value::Null);
    let (_, kept) = admin
        .get(&format!("/phone-sms/phone-numbers/{number}"))
        .await;
    assert_eq!(kept["teamId"], Value::Null);
    let (_, feed) = admin
        .get(&format!("/phone-sms/changes?since={since}&limit=100"))
        .await;
    let told: Vec<(String, String)> = feed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["entity"].as_str().unwrap().to_owned(),
                c["op"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for want in [
        ("conversation", "upsert"),
        ("phoneNumber", "upsert"),
        ("team", "delete"),
    ] {
        assert!(
            told.contains(&(want.0.into(), want.1.into())),
            "{want:?} in {told:?}"
        );
    }
}

/// A cloud with this mailer, over a database of its own with the demo tenant's people.
async fn cloud_with_mailer(
    mailer: Arc<dyn upzento_cloud::mail::Mailer>,
) -> (String, common::DbGuard) {
    let (store, db) = common::fresh_store(Backend::Sqlite).await;
    upzento_cloud::demo::ensure_accounts(store.as_ref(), time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut state = AppState::new(store);
    state.workers = false;
    state.mailer = Some(mailer);
    tokio::spawn(async move { upzento_cloud::serve(listener, state).await });
    (url, db)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real SMTP server (aiosmtpd, Debian's python3-aiosmtpd) writing what it gets to a Maildir.
struct SmtpServer {
    child: std::process::Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl SmtpServer {
    async fn start() -> Self {
        let maildir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut child = std::process::Command::new("/usr/bin/python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(maildir.path().join("box"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("python3-aiosmtpd is installed (cargo xtask test installs it)");
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Self {
                    child,
                    port,
                    maildir,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("aiosmtpd did not start");
    }

    /// Every message received so far, as text.
    fn received(&self) -> Vec<String> {
        let new = self.maildir.path().join("box/new");
        std::fs::read_dir(new)
            .map(|entries| {
                entries
                    .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_are_emailed_through_the_smtp_server_or_say_why_not() {
    let smtp = SmtpServer::start().await;
    let mailer = upzento_cloud::mail::Smtp::new(
        &format!("smtp://127.0.0.1:{}", smtp.port),
        "Upzento Phone <no-reply@demo.upzento.test>",
    )
    .unwrap();
    let (url, _db) = cloud_with_mailer(Arc::new(mailer)).await;
    let admin = Client::sign_in_at(
        &url,
        upzento_cloud::demo::ADMIN_EMAIL,
        upzento_cloud::demo::ADMIN_PASSWORD,
    )
    .await;
    let (status, issued) = admin
        .post(
            "/phone-sms/invitations",
            json!({"email": "nina@acme.test", "role": "agent"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    assert_eq!(issued["emailed"], true, "{issued}");
    let code = issued["code"].as_str().unwrap();
    let mail = smtp.received().pop().expect("one email");
    for part in [
        "To: nina@acme.test",
        "<no-reply@demo.upzento.test>",
        "Dana Admin invited you",
        code,
        &format!("{url}/"),
    ] {
        assert!(mail.contains(part), "{part} in {mail}");
    }
    // Resent: a second email with the new code.
    let id = issued["invitation"]["id"].as_str().unwrap();
    let (_, again) = admin
        .post(&format!("/phone-sms/invitations/{id}/resend"), json!({}))
        .await;
    assert_eq!(again["emailed"], true);
    assert!(
        smtp.received()
            .iter()
            .any(|m| m.contains(again["code"].as_str().unwrap()))
    );

    // The SMTP server is gone: the invitation stands, and the answer says why no email.
    let gone = upzento_cloud::mail::Smtp::new(
        &format!("smtp://127.0.0.1:{}", free_port()),
        "no-reply@demo.upzento.test",
    )
    .unwrap();
    let (url, _db2) = cloud_with_mailer(Arc::new(gone)).await;
    let admin = Client::sign_in_at(
        &url,
        upzento_cloud::demo::ADMIN_EMAIL,
        upzento_cloud::demo::ADMIN_PASSWORD,
    )
    .await;
    let (status, issued) = admin
        .post(
            "/phone-sms/invitations",
            json!({"email": "omar@acme.test", "role": "agent"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    assert_eq!(issued["emailed"], false);
    assert!(
        issued["emailProblem"]
            .as_str()
            .unwrap()
            .contains("pass the code on yourself"),
        "{issued}"
    );
    let (status, _) = public(
        &url,
        "/phone-sms/invitations/lookup",
        json!({"code": issued["code"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the code works all the same");
}
