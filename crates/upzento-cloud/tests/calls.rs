//! The call history over real HTTP on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::client::{admin, agent, other_tenant};
use common::{Backend, start};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(
    calls_are_recorded_once_found_and_annotated,
    a_calls_notes_are_a_timeline_with_authors
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
