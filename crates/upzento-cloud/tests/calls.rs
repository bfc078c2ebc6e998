//! The call history over real HTTP on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::client::{admin, agent, other_tenant};
use common::{Backend, start};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(
    calls_are_recorded_once_found_and_annotated,
    a_calls_notes_are_a_timeline_with_authors,
    a_wrap_up_files_the_call_once_with_its_note_and_follow_up,
    dispositions_and_the_wrap_up_timer_are_the_admins
);

async fn calls_are_recorded_once_found_and_annotated(backend: Backend) {
    let server = start(backend).await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    let (_, number) = admin
        .post(
            "/phone-sms/phone-numbers",
            json!({"number": "+14155552671", "type": "Main"}),
        )
        .await;
    let (_, ada) = agent
        .post(
            "/phone-sms/contacts",
            json!({"firstName": "Ada", "phoneNumbers": ["+14155550100"]}),
        )
        .await;
    let me = agent.get("/phone-sms/me").await.1["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let record = json!({
        "phoneNumberId": number["id"], "type": "incoming", "status": "completed",
        "from": "+1 415 555 0100", "to": "+14155552671",
        "startTime": "2026-11-24T10:00:00Z", "endTime": "2026-11-24T10:02:05Z",
        "sipCallId": "a84b4c76e66710@pc33.example.com", "notes": "asked about prices"
    });
    let (status, call) = agent.post("/phone-sms/calls", record.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    assert_eq!(call["from"], "+14155550100");
    assert_eq!(call["duration"], 125, "computed from start and end");
    assert_eq!(
        call["contactId"], ada["id"],
        "found through the caller's number"
    );
    assert_eq!(call["createdBy"], me.as_str());
    let (status, again) = agent.post("/phone-sms/calls", record.clone()).await;
    assert_eq!(
        (status, again["id"].clone()),
        (StatusCode::OK, call["id"].clone()),
        "the softphone's retry records nothing new"
    );

    for (i, (kind, status, start)) in [
        ("outgoing", "completed", "2026-11-24T11:00:00Z"),
        ("incoming", "missed", "2026-11-24T12:00:00Z"),
        ("incoming", "voicemail", "2026-11-23T09:00:00Z"),
    ]
    .into_iter()
    .enumerate()
    {
        let (s, _) = agent
            .post(
                "/phone-sms/calls",
                json!({"type": kind, "status": status, "from": "+14155552671", "to": format!("+1415555{:04}", 200 + i), "startTime": start}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let starts = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["startTime"].as_str().unwrap()[11..16].to_owned())
            .collect()
    };
    let (_, all) = agent.get("/phone-sms/calls").await;
    assert_eq!(
        starts(&all),
        vec!["12:00", "11:00", "10:00", "09:00"],
        "newest first"
    );
    let (_, missed) = agent.get("/phone-sms/calls?status=missed").await;
    assert_eq!(starts(&missed), vec!["12:00"]);
    let (_, incoming) = agent.get("/phone-sms/calls?type=incoming").await;
    assert_eq!(starts(&incoming), vec!["12:00", "10:00", "09:00"]);
    let (_, today) = agent
        .get("/phone-sms/calls?from=2026-11-24T00:00:00Z&until=2026-11-24T11:30:00Z")
        .await;
    assert_eq!(starts(&today), vec!["11:00", "10:00"]);
    let (_, ada_calls) = agent
        .get(&format!(
            "/phone-sms/calls?contactId={}",
            ada["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(ada_calls["items"].as_array().unwrap().len(), 1);
    let (_, page) = agent.get("/phone-sms/calls?limit=3").await;
    let cursor = page["nextCursor"].as_str().unwrap();
    let (_, rest) = agent
        .get(&format!("/phone-sms/calls?limit=3&cursor={cursor}"))
        .await;
    assert_eq!(starts(&rest), vec!["09:00"]);

    let path = format!("/phone-sms/calls/{}", call["id"].as_str().unwrap());
    let (_, noted) = agent
        .patch(
            &format!("{path}/notes"),
            json!({"notes": "call back Tuesday"}),
        )
        .await;
    assert_eq!(noted["notes"], "call back Tuesday");
    let (_, assigned) = agent
        .patch(&format!("{path}/assign"), json!({"userId": me}))
        .await;
    assert_eq!(assigned["assignedTo"], me.as_str());
    let (_, mine) = agent.get("/phone-sms/calls?assignedTo=me").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let (_, voicemail) = agent
        .patch(&format!("{path}/status"), json!({"status": "voicemail"}))
        .await;
    assert_eq!(voicemail["status"], "voicemail");
    let (_, cleared) = agent
        .patch(&format!("{path}/notes"), json!({"notes": null}))
        .await;
    assert_eq!(cleared["notes"], Value::Null);
    assert_eq!(agent.get(&path).await.1, cleared);

    for (body, field) in [
        (
            json!({"type": "incoming", "status": "missed", "from": "555", "to": "+14155552671", "startTime": "2026-11-24T10:00:00Z"}),
            "from",
        ),
        (
            json!({"type": "incoming", "status": "missed", "from": "+14155550100", "to": "+14155552671", "startTime": "yesterday"}),
            "startTime",
        ),
        (
            // The history's cursors carry unsigned times: paging would stop at such a call.
            json!({"type": "incoming", "status": "missed", "from": "+14155550100", "to": "+14155552671", "startTime": "1969-12-31T23:59:59Z"}),
            "startTime",
        ),
        (
            json!({"type": "incoming", "status": "completed", "from": "+14155550100", "to": "+14155552671",
                "startTime": "2026-11-24T10:00:00Z", "endTime": "2026-11-24T09:00:00Z"}),
            "endTime",
        ),
        (
            json!({"type": "incoming", "status": "missed", "from": "+14155550100", "to": "+14155552671",
                "startTime": "2026-11-24T10:00:00Z", "phoneNumberId": "nope"}),
            "phoneNumberId",
        ),
    ] {
        let (status, error) = agent.post("/phone-sms/calls", body.clone()).await;
        assert_eq!(
            (status, error["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{body}"
        );
    }
    assert_eq!(
        agent.get("/phone-sms/calls?from=soon").await.0,
        StatusCode::BAD_REQUEST
    );

    let other = other_tenant(&server).await;
    assert_eq!(other.get(&path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        other
            .patch(&format!("{path}/notes"), json!({"notes": "x"}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(other.get("/phone-sms/calls").await.1["items"], json!([]));
    // The same SIP Call-ID in another tenant is another call.
    let (status, _) = other
        .post("/phone-sms/calls", json!({"type": "incoming", "status": "missed", "from": "+14155550100", "to": "+14155559999",
                                         "startTime": "2026-11-24T10:00:00Z", "sipCallId": "a84b4c76e66710@pc33.example.com"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn a_calls_notes_are_a_timeline_with_authors(backend: Backend) {
    let server = start(backend).await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    let (_, call) = agent
        .post(
            "/phone-sms/calls",
            json!({"type": "incoming", "status": "completed", "from": "+14155550100",
                   "to": "+14155552671", "startTime": "2026-11-24T10:00:00Z"}),
        )
        .await;
    let path = format!("/phone-sms/calls/{}/notes", call["id"].as_str().unwrap());
    let (status, empty) = agent.get(&path).await;
    assert_eq!(
        (status, empty["items"].as_array().unwrap().len()),
        (StatusCode::OK, 0)
    );

    let (status, first) = agent
        .post(&path, json!({"text": "  Wants a quote by Friday  "}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["text"], "Wants a quote by Friday");
    let (_, second) = admin.post(&path, json!({"text": "Quote sent"})).await;
    let (_, notes) = agent.get(&path).await;
    let items = notes["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    // Oldest first, each with its author: nothing overwritten.
    assert_eq!(items[0]["id"], first["id"]);
    assert_eq!(items[1]["id"], second["id"]);
    assert_eq!(
        items[0]["authorId"],
        agent.get("/phone-sms/me").await.1["user"]["id"]
    );
    assert_eq!(
        items[1]["authorId"],
        admin.get("/phone-sms/me").await.1["user"]["id"]
    );

    // Blank text, an unknown call and another tenant's call are refused.
    let (status, _) = agent.post(&path, json!({"text": "   "})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = agent
        .post("/phone-sms/calls/nope/notes", json!({"text": "x"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let stranger = other_tenant(&server).await;
    assert_eq!(stranger.get(&path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        stranger.post(&path, json!({"text": "x"})).await.0,
        StatusCode::NOT_FOUND
    );

    // Each note reaches the change feed, for the apps.
    let (_, feed) = agent.get("/phone-sms/changes?since=0&limit=500").await;
    let noted = feed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["entity"] == "callNote")
        .count();
    assert_eq!(noted, 2);
}

async fn a_wrap_up_files_the_call_once_with_its_note_and_follow_up(backend: Backend) {
    let server = start(backend).await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    let (_, ada) = agent
        .post(
            "/phone-sms/contacts",
            json!({"firstName": "Ada", "phoneNumbers": ["+14155550100"]}),
        )
        .await;
    let (_, sale) = admin
        .post("/phone-sms/dispositions", json!({"name": "Sale"}))
        .await;
    let (_, call) = agent
        .post(
            "/phone-sms/calls",
            json!({"type": "incoming", "status": "completed", "from": "+14155550100",
                   "to": "+14155552671", "startTime": "2026-11-24T10:00:00Z"}),
        )
        .await;
    let call_id = call["id"].as_str().unwrap();
    let me = agent.get("/phone-sms/me").await.1["user"]["id"].clone();
    let path = format!("/phone-sms/calls/{call_id}/wrap-up");
    let wrap = json!({
        "dispositionId": sale["id"], "tags": ["vip", " vip ", "renewal"],
        "note": "  Wants the yearly plan  ",
        "followUp": {"title": "Send the quote", "dueAt": "2026-11-25T09:00:00+01:00"}
    });
    let (status, wrapped) = agent.put(&path, wrap.clone()).await;
    assert_eq!(status, StatusCode::OK, "{wrapped}");
    assert_eq!(wrapped["dispositionId"], sale["id"]);
    assert_eq!(
        wrapped["tags"],
        json!(["vip", "renewal"]),
        "trimmed, once each"
    );
    assert_eq!(wrapped["wrappedUpBy"], me);
    assert!(wrapped["wrappedUpAt"].is_string());
    assert_eq!(
        agent.get(&format!("/phone-sms/calls/{call_id}")).await.1,
        wrapped
    );

    // The note joins the timeline; the follow-up is the agent's task about the call.
    let notes_path = format!("/phone-sms/calls/{call_id}/notes");
    let notes = agent.get(&notes_path).await.1["items"].clone();
    assert_eq!(notes.as_array().unwrap().len(), 1);
    assert_eq!(notes[0]["text"], "Wants the yearly plan");
    let (_, tasks) = agent.get("/phone-sms/tasks?assignee=me&done=false").await;
    let tasks = tasks["items"].as_array().unwrap().clone();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["title"], "Send the quote");
    assert_eq!(tasks[0]["dueAt"], "2026-11-25T08:00:00.000Z");
    assert_eq!(tasks[0]["callId"], call["id"]);
    assert_eq!(tasks[0]["contactId"], ada["id"], "the caller's contact");
    assert_eq!(tasks[0]["assigneeId"], me);

    // Put again (a retry, or the agent correcting it): changed, not added.
    let mut fixed = wrap.clone();
    fixed["note"] = json!("Wants the monthly plan");
    fixed["tags"] = json!(["renewal"]);
    let (status, again) = agent.put(&path, fixed).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["tags"], json!(["renewal"]));
    let notes = agent.get(&notes_path).await.1["items"].clone();
    assert_eq!(notes.as_array().unwrap().len(), 1);
    assert_eq!(notes[0]["text"], "Wants the monthly plan");
    let task_id = tasks[0]["id"].as_str().unwrap();
    let (status, done) = agent
        .patch(
            &format!("/phone-sms/tasks/{task_id}"),
            json!({"done": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert!(done["doneAt"].is_string());
    agent.put(&path, wrap.clone()).await;
    let (_, open) = agent.get("/phone-sms/tasks?assignee=me&done=false").await;
    assert_eq!(
        open["items"].as_array().unwrap().len(),
        0,
        "a follow-up done stays done when the wrap-up is saved again"
    );
    let (_, all) = agent.get("/phone-sms/tasks").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1);

    // Bad input is refused and changes nothing.
    for (body, field) in [
        (json!({"dispositionId": "nope"}), "dispositionId"),
        (json!({"tags": [" "]}), "tags"),
        (
            json!({"followUp": {"title": "x", "dueAt": "tomorrow"}}),
            "followUp.dueAt",
        ),
        (
            json!({"followUp": {"title": " ", "dueAt": "2026-11-25T09:00:00Z"}}),
            "followUp.title",
        ),
    ] {
        let (status, error) = agent.put(&path, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert_eq!(error["field"], field, "{error}");
    }
    assert_eq!(
        agent.get(&format!("/phone-sms/calls/{call_id}")).await.1["tags"],
        json!(["vip", "renewal"])
    );
    assert_eq!(
        agent
            .put("/phone-sms/calls/nope/wrap-up", json!({}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let stranger = other_tenant(&server).await;
    assert_eq!(
        stranger.put(&path, json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        stranger
            .patch(
                &format!("/phone-sms/tasks/{task_id}"),
                json!({"done": false})
            )
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        stranger.get("/phone-sms/tasks").await.1["items"],
        json!([]),
        "tenants never see each other's tasks"
    );

    // An archived disposition is offered no more, and stays on the calls that have it.
    let sale_path = format!("/phone-sms/dispositions/{}", sale["id"].as_str().unwrap());
    admin.patch(&sale_path, json!({"archived": true})).await;
    assert_eq!(agent.put(&path, wrap.clone()).await.0, StatusCode::OK);
    let (_, other_call) = agent
        .post(
            "/phone-sms/calls",
            json!({"type": "outgoing", "status": "completed", "from": "+14155552671",
                   "to": "+14155550100", "startTime": "2026-11-24T11:00:00Z"}),
        )
        .await;
    let other_path = format!(
        "/phone-sms/calls/{}/wrap-up",
        other_call["id"].as_str().unwrap()
    );
    assert_eq!(
        agent
            .put(&other_path, json!({"dispositionId": sale["id"]}))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );

    // The apps learn all of it through the change feed.
    let (_, feed) = agent.get("/phone-sms/changes?since=0&limit=500").await;
    let entities: Vec<&str> = feed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["entity"].as_str().unwrap())
        .collect();
    for entity in ["disposition", "task", "callNote", "call"] {
        assert!(entities.contains(&entity), "{entity} in {entities:?}");
    }
}

async fn dispositions_and_the_wrap_up_timer_are_the_admins(backend: Backend) {
    let server = start(backend).await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    assert_eq!(
        agent
            .post("/phone-sms/dispositions", json!({"name": "Sale"}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    for name in ["Resolved", "Call back", "Sale"] {
        let (status, d) = admin
            .post("/phone-sms/dispositions", json!({"name": name}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{d}");
    }
    let (status, first) = admin
        .post(
            "/phone-sms/dispositions",
            json!({"name": "Urgent", "position": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, taken) = admin
        .post("/phone-sms/dispositions", json!({"name": "  SALE "}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{taken}");
    let (_, list) = agent.get("/phone-sms/dispositions").await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Urgent", "Resolved", "Call back", "Sale"]);
    let resolved = &list["items"][1];
    let path = format!(
        "/phone-sms/dispositions/{}",
        resolved["id"].as_str().unwrap()
    );
    assert_eq!(
        agent.patch(&path, json!({"archived": true})).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        admin.patch(&path, json!({"name": "call BACK"})).await.0,
        StatusCode::CONFLICT
    );
    let (status, renamed) = admin
        .patch(&path, json!({"name": "Solved", "archived": true}))
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(
        (renamed["name"].as_str(), renamed["archived"].as_bool()),
        (Some("Solved"), Some(true))
    );

    // The wrap-up timer: none until an admin sets one, within bounds.
    let (_, settings) = agent.get("/phone-sms/settings").await;
    assert_eq!(settings["wrapUpSeconds"], Value::Null);
    assert_eq!(
        agent
            .patch("/phone-sms/settings", json!({"wrapUpSeconds": 60}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        admin
            .patch("/phone-sms/settings", json!({"wrapUpSeconds": 5}))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    let (status, set) = admin
        .patch("/phone-sms/settings", json!({"wrapUpSeconds": 90}))
        .await;
    assert_eq!(
        (status, set["wrapUpSeconds"].clone()),
        (StatusCode::OK, json!(90))
    );
    assert_eq!(
        agent.get("/phone-sms/settings").await.1["wrapUpSeconds"],
        90
    );
    let (_, cleared) = admin
        .patch("/phone-sms/settings", json!({"wrapUpSeconds": null}))
        .await;
    assert_eq!(cleared["wrapUpSeconds"], Value::Null);
    let stranger = other_tenant(&server).await;
    assert_eq!(
        stranger.get("/phone-sms/dispositions").await.1["items"],
        json!([])
    );
    assert_eq!(
        stranger.get("/phone-sms/settings").await.1["wrapUpSeconds"],
        Value::Null
    );
}
