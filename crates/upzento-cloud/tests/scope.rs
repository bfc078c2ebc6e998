//! Role scoping, on both backends: agents see the work assigned to them and to their
//! teams, and unassigned work; supervisors also their teams' people's; admins all. The
//! same rule (`Viewer::sees`) decides lists, single reads, writes, the change feed and the
//! live stream, and work out of scope answers as if it did not exist.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::client::{Client, admin, agent, supervisor};
use common::{Backend, Server, start_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use upzento_cloud::store::NewUser;
use upzento_domain::wire::Role;

on_both_backends!(
    each_role_lists_and_reads_only_the_work_it_sees,
    the_feed_and_the_stream_carry_each_users_work_and_hand_it_over,
);

/// Another agent of the demo tenant, signed in.
async fn second_agent(server: &Server, tenant_id: &str) -> (Client, String) {
    let user = server
        .store
        .create_user(
            NewUser {
                tenant_id: tenant_id.to_owned(),
                name: "Blair Agent".into(),
                email: "blair@example.com".into(),
                role: Role::Agent,
                password_hash: Some(upzento_cloud::auth::hash_password("Blair-pass-2026").unwrap()),
                password_change_required: false,
            },
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    (
        Client::sign_in(server, "blair@example.com", "Blair-pass-2026").await,
        user.id,
    )
}

async fn user_id(client: &Client) -> String {
    let (_, me) = client.get("/phone-sms/me").await;
    me["user"]["id"].as_str().unwrap().to_owned()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

fn ids(page: &Value) -> BTreeSet<String> {
    page["items"].as_array().unwrap().iter().map(id).collect()
}

/// The demo's people, a second agent, two teams and a number:
/// Sales = {Alex (agent), Sam (supervisor)}, Other = {Blair (agent)}.
struct World {
    admin: Client,
    alex: Client,
    blair: Client,
    sam: Client,
    alex_id: String,
    blair_id: String,
    sales: String,
    other: String,
    number: String,
}

async fn world(server: &Server) -> World {
    let admin = admin(server).await;
    let (alex, sam) = (agent(server).await, supervisor(server).await);
    let tenant = admin.tenant_id().await;
    let (blair, blair_id) = second_agent(server, &tenant).await;
    let (alex_id, sam_id) = (user_id(&alex).await, user_id(&sam).await);
    let (status, sales) = admin
        .post(
            "/phone-sms/teams",
            json!({"name": "Sales", "memberIds": [alex_id, sam_id]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sales}");
    let (_, other) = admin
        .post(
            "/phone-sms/teams",
            json!({"name": "Other", "memberIds": [blair_id]}),
        )
        .await;
    let (_, number) = admin
        .post(
            "/phone-sms/phone-numbers",
            json!({"number": "+14155552671", "type": "Support"}),
        )
        .await;
    World {
        admin,
        alex,
        blair,
        sam,
        alex_id,
        blair_id,
        sales: id(&sales),
        other: id(&other),
        number: id(&number),
    }
}

impl World {
    /// A conversation opened by the admin and assigned as given.
    async fn conversation(&self, contact: &str, user: Option<&str>, team: Option<&str>) -> String {
        let (status, opened) = self
            .admin
            .post(
                "/phone-sms/conversations",
                json!({"phoneNumberId": self.number, "contactNumber": contact}),
            )
            .await;
        assert!(status.is_success(), "{opened}");
        let conversation = id(&opened);
        let (status, body) = self
            .admin
            .patch(
                &format!("/phone-sms/conversations/{conversation}/assign"),
                json!({"userId": user, "teamId": team}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        conversation
    }

    async fn text(&self, conversation: &str, message: &str) {
        let (status, body) = self
            .admin
            .post(
                "/phone-sms/messages",
                json!({"conversationId": conversation, "message": message}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
}

async fn each_role_lists_and_reads_only_the_work_it_sees(backend: Backend) {
    // No carrier: the messages stay queued, so no delivery report lands in the feeds.
    let server = start_with(backend, false).await;
    let w = world(&server).await;
    let (alex, blair) = (w.alex_id.as_str(), w.blair_id.as_str());
    let free = w.conversation("+14155550101", None, None).await;
    let alexs = w.conversation("+14155550102", Some(alex), None).await;
    let blairs = w.conversation("+14155550103", Some(blair), None).await;
    let sales = w.conversation("+14155550104", None, Some(&w.sales)).await;
    let blair_in_sales = w
        .conversation("+14155550105", Some(blair), Some(&w.sales))
        .await;
    let others = w.conversation("+14155550106", None, Some(&w.other)).await;
    for c in [&free, &alexs, &blairs, &sales, &blair_in_sales, &others] {
        w.text(c, "Hello").await;
    }
    let all: BTreeSet<String> = [&free, &alexs, &blairs, &sales, &blair_in_sales, &others]
        .into_iter()
        .cloned()
        .collect();
    let set = |items: &[&String]| items.iter().map(|s| (*s).clone()).collect::<BTreeSet<_>>();
    let cases = [
        ("admin", &w.admin, all.clone()),
        // Their own, their team's (whoever took it), and unassigned work.
        (
            "alex (agent, Sales)",
            &w.alex,
            set(&[&free, &alexs, &sales, &blair_in_sales]),
        ),
        (
            "blair (agent, Other)",
            &w.blair,
            set(&[&free, &blairs, &blair_in_sales, &others]),
        ),
        // Sales' work, and Alex's own (one of their people), never Blair's own.
        (
            "sam (supervisor, Sales)",
            &w.sam,
            set(&[&free, &alexs, &sales, &blair_in_sales]),
        ),
    ];
    for (who, client, seen) in &cases {
        let (status, page) = client.get("/phone-sms/conversations?limit=100").await;
        assert_eq!(status, StatusCode::OK, "{who}: {page}");
        assert_eq!(&ids(&page), seen, "{who} lists");
        for c in &all {
            let expected = if seen.contains(c) {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            for path in [
                format!("/phone-sms/conversations/{c}"),
                format!("/phone-sms/conversations/{c}/messages"),
                format!("/phone-sms/conversations/{c}/notes"),
            ] {
                let (status, body) = client.get(&path).await;
                assert_eq!(status, expected, "{who} GET {path}: {body}");
            }
            let (status, _) = client
                .post(&format!("/phone-sms/conversations/{c}/read"), json!({}))
                .await;
            assert_eq!(status, expected, "{who} reads {c}");
            let (status, body) = client
                .post(
                    "/phone-sms/messages",
                    json!({"conversationId": c, "message": "From me"}),
                )
                .await;
            let sent = if seen.contains(c) {
                StatusCode::CREATED
            } else {
                StatusCode::NOT_FOUND
            };
            assert_eq!(status, sent, "{who} texts {c}: {body}");
        }
    }
    // A refused change writes nothing: Blair's conversation is still open and Blair's.
    let (status, _) = w
        .alex
        .patch(
            &format!("/phone-sms/conversations/{blairs}/status"),
            json!({"status": "closed"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = w
        .alex
        .patch(
            &format!("/phone-sms/conversations/{blairs}/assign"),
            json!({"userId": alex}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, kept) = w
        .admin
        .get(&format!("/phone-sms/conversations/{blairs}"))
        .await;
    assert_eq!(
        (kept["status"].as_str(), kept["assignedTo"].as_str()),
        (Some("open"), Some(blair))
    );
    // Opening a conversation that exists out of scope says so, and shows nothing of it.
    let (status, body) = w
        .alex
        .post(
            "/phone-sms/conversations",
            json!({"phoneNumberId": w.number, "contactNumber": "+14155550103"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("assigned_elsewhere")),
        "{body}"
    );
    assert!(body.get("id").is_none());

    // Calls: one's own and unassigned ones; a supervisor's people's too.
    let mut calls = Vec::new();
    for (i, user) in [None, Some(alex), Some(blair)].into_iter().enumerate() {
        let (status, call) = w
            .admin
            .post(
                "/phone-sms/calls",
                json!({"type": "incoming", "status": "completed", "from": format!("+1415555020{i}"),
                       "to": "+14155552671", "startTime": "2026-11-24T10:00:00Z"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{call}");
        let call = id(&call);
        if user.is_some() {
            let (status, body) = w
                .admin
                .patch(
                    &format!("/phone-sms/calls/{call}/assign"),
                    json!({"userId": user}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        calls.push(call);
    }
    let [free_call, alexs_call, blairs_call] = [&calls[0], &calls[1], &calls[2]];
    for (who, client, seen) in [
        ("alex", &w.alex, set(&[free_call, alexs_call])),
        ("blair", &w.blair, set(&[free_call, blairs_call])),
        ("sam", &w.sam, set(&[free_call, alexs_call])),
        (
            "admin",
            &w.admin,
            set(&[free_call, alexs_call, blairs_call]),
        ),
    ] {
        let (_, page) = client.get("/phone-sms/calls?limit=100").await;
        assert_eq!(ids(&page), seen, "{who} lists calls");
        for c in &calls {
            let expected = if seen.contains(c) {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            let (status, _) = client.get(&format!("/phone-sms/calls/{c}")).await;
            assert_eq!(status, expected, "{who} GET call {c}");
            let (status, _) = client.get(&format!("/phone-sms/calls/{c}/notes")).await;
            assert_eq!(status, expected, "{who} GET call notes {c}");
        }
    }
    let (status, _) = w
        .alex
        .put(
            &format!("/phone-sms/calls/{blairs_call}/wrap-up"),
            json!({"tags": []}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no wrapping up another's call"
    );

    // Tasks: one's own; a supervisor's people's too.
    let mut tasks = Vec::new();
    for user in [alex, blair] {
        let (status, task) = w
            .admin
            .post(
                "/phone-sms/tasks",
                json!({"title": "Call back", "dueAt": "2026-12-24T10:00:00Z", "assigneeId": user}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{task}");
        tasks.push(id(&task));
    }
    for (who, client, seen) in [
        ("alex", &w.alex, set(&[&tasks[0]])),
        ("blair", &w.blair, set(&[&tasks[1]])),
        ("sam", &w.sam, set(&[&tasks[0]])),
    ] {
        let (_, page) = client.get("/phone-sms/tasks?limit=100").await;
        assert_eq!(ids(&page), seen, "{who} lists tasks");
    }
    let (status, _) = w
        .alex
        .patch(
            &format!("/phone-sms/tasks/{}", tasks[1]),
            json!({"done": true}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = w
        .alex
        .post(
            "/phone-sms/tasks",
            json!({"title": "Follow up", "dueAt": "2026-12-24T10:00:00Z", "conversationId": blairs}),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("conversationId"))
    );
}

/// The changes (entity, id) a client reads from the feed after `since`.
async fn feed(client: &Client, since: i64) -> Vec<(String, String, Value)> {
    let mut since = since;
    let mut out = Vec::new();
    loop {
        let (status, page) = client
            .get(&format!("/phone-sms/changes?since={since}&limit=7"))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for c in page["changes"].as_array().unwrap() {
            out.push((
                c["entity"].as_str().unwrap().to_owned(),
                c["id"].as_str().unwrap().to_owned(),
                c["data"].clone(),
            ));
        }
        let cursor = page["cursor"].as_i64().unwrap();
        assert!(cursor >= since, "the cursor never goes back");
        since = cursor;
        if !page["hasMore"].as_bool().unwrap() {
            return out;
        }
    }
}

/// The conversations whose messages a feed carries.
fn conversations_texted(changes: &[(String, String, Value)]) -> BTreeSet<String> {
    changes
        .iter()
        .filter(|(entity, _, _)| entity == "smsMessage")
        .map(|(_, _, data)| data["conversationId"].as_str().unwrap().to_owned())
        .collect()
}

async fn the_feed_and_the_stream_carry_each_users_work_and_hand_it_over(backend: Backend) {
    // No carrier: the messages stay queued, so no delivery report lands in the feeds.
    let server = start_with(backend, false).await;
    let w = world(&server).await;
    let (alex, blair) = (w.alex_id.as_str(), w.blair_id.as_str());
    let alexs = w.conversation("+14155550102", Some(alex), None).await;
    let blairs = w.conversation("+14155550103", Some(blair), None).await;
    let sales = w.conversation("+14155550104", None, Some(&w.sales)).await;
    let tenant = w.admin.tenant_id().await;
    let start = server.store.latest_change(&tenant).await.unwrap();

    // Alex's live stream, opened before anything is texted.
    let mut stream = w.alex.events(Some(start)).await;
    for c in [&blairs, &alexs, &blairs, &sales] {
        w.text(c, "News").await;
    }
    let seen: BTreeSet<_> = [alexs.clone(), sales.clone()].into();
    assert_eq!(conversations_texted(&feed(&w.alex, start).await), seen);
    assert_eq!(conversations_texted(&feed(&w.sam, start).await), seen);
    assert_eq!(
        conversations_texted(&feed(&w.blair, start).await),
        [blairs.clone()].into()
    );
    assert_eq!(conversations_texted(&feed(&w.admin, start).await).len(), 3);
    // The stream skips Blair's work: its first message is in Alex's conversation.
    loop {
        let event = stream.next(Duration::from_secs(10)).await;
        let change = event.data;
        let conversation = change["data"]["conversationId"]
            .as_str()
            .or_else(|| {
                (change["entity"] == "conversation").then(|| change["id"].as_str().unwrap())
            })
            .map(str::to_owned);
        assert_ne!(conversation.as_deref(), Some(blairs.as_str()), "{change}");
        if change["entity"] == "smsMessage" {
            assert_eq!(conversation.as_deref(), Some(alexs.as_str()));
            break;
        }
    }

    // Handing Alex's conversation to Blair: both hear of it; what follows is Blair's.
    let tenant = w.admin.tenant_id().await;
    let before = server.store.latest_change(&tenant).await.unwrap();
    let (status, _) = w
        .admin
        .patch(
            &format!("/phone-sms/conversations/{alexs}/assign"),
            json!({"userId": blair}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    w.text(&alexs, "Blair has it now").await;
    let alex_sees = feed(&w.alex, before).await;
    assert!(
        alex_sees
            .iter()
            .any(|(e, i, d)| e == "conversation" && *i == alexs && d["assignedTo"] == blair),
        "Alex learns it went to Blair: {alex_sees:?}"
    );
    assert!(conversations_texted(&alex_sees).is_empty(), "{alex_sees:?}");
    assert_eq!(
        conversations_texted(&feed(&w.blair, before).await),
        [alexs.clone()].into()
    );
    // The handover tells Blair that the history is not in Blair's feed, and Alex nothing.
    let entered = |page: &Value| {
        page["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["enteredScope"] == true)
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let (_, page) = w
        .blair
        .get(&format!("/phone-sms/changes?since={before}"))
        .await;
    assert_eq!(entered(&page), vec![alexs.clone()], "{page}");
    let (_, page) = w
        .alex
        .get(&format!("/phone-sms/changes?since={before}"))
        .await;
    assert!(entered(&page).is_empty(), "{page}");
    // Blair reads its history, which the feed gave only to Alex at the time.
    let (status, history) = w
        .blair
        .get(&format!("/phone-sms/conversations/{alexs}/messages"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(history["items"].as_array().unwrap().len(), 2);
    let (status, _) = w
        .alex
        .get(&format!("/phone-sms/conversations/{alexs}/messages"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Joining a team shows its work from then on, live too.
    let mut blairs_stream = w.blair.events(None).await;
    let (status, body) = w
        .admin
        .patch(
            &format!("/phone-sms/teams/{}", w.sales),
            json!({"memberIds": [alex, blair]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    w.text(&sales, "For the team").await;
    loop {
        let event = blairs_stream.next(Duration::from_secs(10)).await;
        let change = event.data;
        if change["entity"] == "smsMessage" {
            assert_eq!(change["data"]["conversationId"], sales.as_str());
            break;
        }
    }
    let (_, page) = w.blair.get("/phone-sms/conversations?limit=100").await;
    assert!(ids(&page).contains(&sales));

    // A new role signs the user's apps out, so that they learn what it may do and see.
    let (status, body) = w
        .admin
        .patch(
            &format!("/phone-sms/users/{blair}"),
            json!({"role": "supervisor"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = w.blair.get("/phone-sms/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let again = Client::sign_in(&server, "blair@example.com", "Blair-pass-2026").await;
    let (_, me) = again.get("/phone-sms/me").await;
    assert_eq!(me["user"]["role"], "supervisor");
    // As Sales' supervisor now, Alex's own work is Blair's to see.
    let (status, _) = again
        .get(&format!("/phone-sms/conversations/{blairs}"))
        .await;
    assert_eq!(status, StatusCode::OK);
}
