//! SMS campaigns over real HTTP on both backends: lists, the runner, schedules,
//! pause and stop, opt-outs, and several runners at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::client::{Client, admin, agent, other_tenant};
use common::{Backend, start, start_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use upzento_cloud::campaigns::work_once;
use upzento_cloud::store::Actor;

on_both_backends!(
    a_campaign_texts_each_recipient_once_and_completes,
    schedules_pauses_and_stops_follow_the_clock_they_are_given,
    runners_on_several_nodes_never_text_anyone_twice,
    campaign_input_is_checked_and_tenants_are_apart,
    recipients_outside_their_hours_wait_for_them,
    a_paced_text_never_leaves_after_its_recipients_hours,
    a_csv_file_becomes_recipients_with_their_own_fields,
    csv_files_that_cannot_be_taken_are_refused_clearly,
    ab_variants_split_reproducibly_and_lock_once_started,
    a_winner_test_sends_the_best_variant_to_the_rest,
    at_a_time_of_each_recipients_own_day,
    a_pool_of_numbers_keeps_each_contact_on_one_and_matches_area_codes,
);

async fn number(admin: &Client, e164: &str) -> String {
    let (status, body) = admin
        .post(
            "/phone-sms/phone-numbers",
            json!({"number": e164, "type": "Marketing"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn campaign(client: &Client, from: &str, message: &str) -> String {
    let (status, body) = client
        .post(
            "/phone-sms/campaigns",
            json!({"name": "Black Friday", "message": message, "phoneNumberId": from, "tags": ["promo"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "draft");
    body["id"].as_str().unwrap().to_owned()
}

async fn all_recipients(client: &Client, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/phone-sms/campaigns/{id}/recipients?limit=200&cursor={c}"),
            None => format!("/phone-sms/campaigns/{id}/recipients?limit=200"),
        };
        let (status, page) = client.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        out.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

async fn a_campaign_texts_each_recipient_once_and_completes(backend: Backend) {
    let server = start(backend).await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    let from = number(&admin, "+14155552671").await;
    let mut ids = Vec::new();
    for (first, phones) in [
        ("Ada", json!(["+14155550101"])),
        ("Bob", json!(["+14155550102"])),
        ("Cy", json!([])),
    ] {
        let (status, contact) = agent
            .post(
                "/phone-sms/contacts",
                json!({"firstName": first, "phoneNumbers": phones, "tags": ["vip"]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{contact}");
        ids.push(contact["id"].as_str().unwrap().to_owned());
    }
    // Bob texted STOP some time ago.
    let actor = Actor {
        tenant_id: admin.tenant_id().await,
        user_id: "system".into(),
    };
    server
        .store
        .update_contact(
            &actor,
            &ids[1],
            Arc::new(|c| {
                let mut c = c.clone();
                c.opted_out = true;
                Ok(c)
            }),
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap()
        .unwrap();

    // Admins create and run campaigns; agents see them.
    let (status, _) = agent
        .post(
            "/phone-sms/campaigns",
            json!({"name": "Mine", "message": "Hi", "phoneNumberId": from}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let id = campaign(
        &admin,
        &from,
        "Hi {{contact.firstName|there}}, 20% off today",
    )
    .await;
    let path = format!("/phone-sms/campaigns/{id}");
    let (_, fresh) = agent.get(&path).await;
    assert_eq!(fresh["stats"]["recipients"], 0);
    let (status, body) = admin
        .patch(&format!("{path}/status"), json!({"status": "active"}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("no_recipients"))
    );

    let (status, added) = admin
        .post(
            &format!("{path}/recipients"),
            json!({"tags": ["vip"], "numbers": ["+1 415 555 0103", "+14155550101"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(
        added,
        json!({"added": 3, "duplicates": 1, "withoutNumber": 1, "total": 3})
    );
    let (_, again) = admin
        .post(
            &format!("{path}/recipients"),
            json!({"contactIds": [ids[0]]}),
        )
        .await;
    assert_eq!(again["added"], 0, "a number is on the list once");
    // One more, then taken off again.
    let (_, extra) = admin
        .post(
            &format!("{path}/recipients"),
            json!({"numbers": ["+14155550199"]}),
        )
        .await;
    assert_eq!(extra["total"], 4);
    let list = all_recipients(&agent, &id).await;
    let extra_id = list.iter().find(|r| r["number"] == "+14155550199").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let extra_path = format!("{path}/recipients/{extra_id}");
    assert_eq!(admin.delete(&extra_path).await.0, StatusCode::NO_CONTENT);
    assert_eq!(admin.delete(&extra_path).await.0, StatusCode::NOT_FOUND);
    let list = all_recipients(&agent, &id).await;
    assert_eq!(list.len(), 3);
    assert!(list.iter().all(|r| r["status"] == "pending"));

    let (status, started) = admin
        .patch(&format!("{path}/status"), json!({"status": "active"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    assert_eq!(started["status"], "active");
    assert!(started["startedAt"].is_string());

    // The runner and the carrier work in the background; wait for the end.
    let mut done = Value::Null;
    for _ in 0..400 {
        let (_, now) = agent.get(&path).await;
        if now["status"] == "completed" && now["stats"]["delivered"] == 2 {
            done = now;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(done["status"], "completed", "campaign never completed");
    let stats = &done["stats"];
    assert_eq!(
        (
            stats["recipients"].as_i64(),
            stats["skipped"].as_i64(),
            stats["pending"].as_i64()
        ),
        (Some(3), Some(1), Some(0)),
        "{stats}"
    );
    assert!(done["completedAt"].is_string());

    let list = all_recipients(&agent, &id).await;
    let by_number = |n: &str| list.iter().find(|r| r["number"] == n).unwrap().clone();
    let bob = by_number("+14155550102");
    assert_eq!(
        (bob["status"].as_str(), bob["errorCode"].as_str()),
        (Some("skipped"), Some("opted_out"))
    );
    assert!(bob["messageId"].is_null());
    for (n, text) in [
        ("+14155550101", "Hi Ada, 20% off today"),
        ("+14155550103", "Hi there, 20% off today"),
    ] {
        let r = by_number(n);
        assert_eq!(r["status"], "delivered", "{r}");
        // Exactly one message in that conversation, rendered for the contact.
        let (_, convs) = agent.get("/phone-sms/conversations?limit=200").await;
        let conv = convs["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["contactNumber"] == n)
            .unwrap()
            .clone();
        let (_, msgs) = agent
            .get(&format!(
                "/phone-sms/conversations/{}/messages",
                conv["id"].as_str().unwrap()
            ))
            .await;
        let msgs = msgs["items"].as_array().unwrap();
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        // Their first text from the tenant says how to opt out.
        assert_eq!(
            msgs[0]["message"],
            format!("{text}\nReply STOP to opt out.")
        );
        assert_eq!(msgs[0]["campaignId"], id.as_str());
        assert_eq!(msgs[0]["id"], r["messageId"]);
        assert_eq!(msgs[0]["sentBy"], started["createdBy"]);
    }
    // A reply counts towards the campaign's response rate.
    let ada_message = by_number("+14155550101")["messageId"]
        .as_str()
        .unwrap()
        .to_owned();
    let message = server
        .store
        .message(&actor.tenant_id, &ada_message)
        .await
        .unwrap()
        .unwrap();
    let conv = server
        .store
        .conversation(&actor.tenant_id, &message.conversation_id)
        .await
        .unwrap()
        .unwrap();
    // A second after the campaign's message.
    let later = upzento_cloud::clock::parse_rfc3339(&message.created_at).unwrap()
        + time::Duration::seconds(1);
    let stamp = upzento_cloud::clock::rfc3339(later);
    let reply = upzento_domain::resources::SmsMessage {
        id: uuid::Uuid::now_v7().to_string(),
        direction: upzento_domain::resources::Direction::Inbound,
        message: "Thanks!".into(),
        status: upzento_domain::resources::MessageStatus::Received,
        campaign_id: None,
        sent_by: None,
        provider_message_id: None,
        created_at: stamp.clone(),
        updated_at: stamp,
        conversation_id: conv.id.clone(),
        ..message
    };
    server
        .store
        .create_message(
            &actor,
            upzento_cloud::store::NewMessage {
                message: reply,
                idempotency_key: None,
                next_action_at: None,
            },
            later,
        )
        .await
        .unwrap();
    assert_eq!(agent.get(&path).await.1["stats"]["replied"], 1);

    // Over is over; agents cannot delete; the feed knows the campaign.
    let (status, body) = admin
        .patch(&format!("{path}/status"), json!({"status": "active"}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_transition"))
    );
    let (status, body) = admin
        .post(
            &format!("{path}/recipients"),
            json!({"numbers": ["+14155550177"]}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("campaign_not_editable"))
    );
    assert_eq!(agent.delete(&path).await.0, StatusCode::FORBIDDEN);
    let (_, feed) = agent.get("/phone-sms/changes?limit=1000").await;
    let states: Vec<&str> = feed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["entity"] == "smsCampaign")
        .map(|c| c["data"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(states, vec!["draft", "active", "completed"]);
    assert_eq!(admin.delete(&path).await.0, StatusCode::NO_CONTENT);
    assert_eq!(agent.get(&path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        agent.get(&format!("{path}/recipients")).await.0,
        StatusCode::NOT_FOUND
    );
    // The messages it sent stay in their conversations.
    assert!(
        server
            .store
            .message(&actor.tenant_id, &ada_message)
            .await
            .unwrap()
            .is_some()
    );
}

async fn schedules_pauses_and_stops_follow_the_clock_they_are_given(backend: Backend) {
    let server = start_with(backend, false).await;
    let admin = admin(&server).await;
    let store = server.store.as_ref();
    let from = number(&admin, "+14155552671").await;
    let now = time::OffsetDateTime::now_utc();
    // Midday in Los Angeles, where the recipients are (quiet hours: 08:00-21:00 theirs).
    let day = now + time::Duration::milliseconds(common::midday_ahead_ms());

    // Scheduled: nothing happens before its time, then it starts.
    let scheduled = campaign(&admin, &from, "Doors open at 9").await;
    let path = format!("/phone-sms/campaigns/{scheduled}");
    admin
        .post(
            &format!("{path}/recipients"),
            json!({"numbers": ["+14155550001"]}),
        )
        .await;
    let past = upzento_cloud::clock::rfc3339(now - time::Duration::minutes(1));
    let (status, body) = admin
        .patch(&format!("{path}/schedule"), json!({"scheduledFor": past}))
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("scheduledFor"))
    );
    let (status, body) = admin
        .patch(
            &format!("{path}/schedule"),
            json!({"scheduledFor": "tomorrow"}),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("scheduledFor"))
    );
    let at = day + time::Duration::hours(1);
    let (status, body) = admin
        .patch(
            &format!("{path}/schedule"),
            json!({"scheduledFor": upzento_cloud::clock::rfc3339(at)}),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("scheduled")),
        "{body}"
    );
    // Unscheduling goes back to draft; schedule again.
    let (_, body) = admin
        .patch(&format!("{path}/schedule"), json!({"scheduledFor": null}))
        .await;
    assert_eq!(
        (body["status"].as_str(), &body["scheduledFor"]),
        (Some("draft"), &Value::Null)
    );
    admin
        .patch(
            &format!("{path}/schedule"),
            json!({"scheduledFor": upzento_cloud::clock::rfc3339(at)}),
        )
        .await;
    let report = work_once(store, "sandbox", now).await.unwrap();
    assert_eq!((report.started, report.claimed), (0, 0));
    assert_eq!(admin.get(&path).await.1["status"], "scheduled");
    let report = work_once(store, "sandbox", at + time::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(
        (report.started, report.queued, report.completed),
        (1, 1, 1),
        "{report:?}"
    );
    let (_, body) = admin.get(&path).await;
    assert_eq!(body["status"], "completed");
    assert_eq!(
        body["stats"]["queued"], 1,
        "the carrier has not run: {body}"
    );
    let (status, _) = admin
        .patch(&format!("{path}/schedule"), json!({"scheduledFor": null}))
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a finished campaign cannot be rescheduled"
    );

    // 150 recipients: one pass takes 100; paused, nothing moves; stopped, the rest is skipped.
    let big = campaign(&admin, &from, "Last call").await;
    let path = format!("/phone-sms/campaigns/{big}");
    let numbers: Vec<String> = (0..150)
        .map(|i| format!("+1415555{:04}", 1000 + i))
        .collect();
    let (_, added) = admin
        .post(&format!("{path}/recipients"), json!({"numbers": numbers}))
        .await;
    assert_eq!(added["added"], 150, "{added}");
    admin
        .patch(&format!("{path}/status"), json!({"status": "active"}))
        .await;
    let report = work_once(store, "sandbox", day).await.unwrap();
    assert_eq!((report.claimed, report.queued), (100, 100));
    let (status, paused) = admin
        .patch(&format!("{path}/status"), json!({"status": "paused"}))
        .await;
    assert_eq!(
        (status, paused["stats"]["pending"].as_i64()),
        (StatusCode::OK, Some(50))
    );
    // A paused list can change again.
    let (status, _) = admin
        .post(
            &format!("{path}/recipients"),
            json!({"numbers": ["+14155559999"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(work_once(store, "sandbox", day).await.unwrap().claimed, 0);
    admin
        .patch(&format!("{path}/status"), json!({"status": "active"}))
        .await;
    let (status, body) = admin
        .post(
            &format!("{path}/recipients"),
            json!({"numbers": ["+14155559998"]}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("campaign_not_editable"))
    );
    let (status, stopped) = admin
        .patch(&format!("{path}/status"), json!({"status": "completed"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{stopped}");
    assert_eq!(work_once(store, "sandbox", day).await.unwrap().claimed, 0);
    let (_, body) = admin.get(&path).await;
    let stats = &body["stats"];
    assert_eq!(
        (
            stats["queued"].as_i64(),
            stats["skipped"].as_i64(),
            stats["pending"].as_i64()
        ),
        (Some(100), Some(51), Some(0)),
        "{stats}"
    );
    let skipped = all_recipients(&admin, &big).await;
    let skipped = skipped.iter().find(|r| r["status"] == "skipped").unwrap();
    assert_eq!(skipped["errorCode"], "campaign_stopped");

    // The carrier pass then sends what was queued (unpaced here: pacing has its own test).
    let unpaced = upzento_cloud::carrier::Sandbox {
        segments_per_second: None,
        ..Default::default()
    };
    upzento_cloud::carrier::Worker::new(upzento_cloud::carrier::Timing::default())
        .work_once(store, &unpaced, day)
        .await
        .unwrap();
    assert_eq!(admin.get(&path).await.1["stats"]["sent"], 100);
}

async fn runners_on_several_nodes_never_text_anyone_twice(backend: Backend) {
    let server = start_with(backend, false).await;
    let admin = admin(&server).await;
    let from = number(&admin, "+14155552671").await;
    let id = campaign(&admin, &from, "Flash sale").await;
    let path = format!("/phone-sms/campaigns/{id}");
    let numbers: Vec<String> = (0..300)
        .map(|i| format!("+1415556{:04}", 1000 + i))
        .collect();
    admin
        .post(&format!("{path}/recipients"), json!({"numbers": numbers}))
        .await;
    admin
        .patch(&format!("{path}/status"), json!({"status": "active"}))
        .await;
    let now =
        time::OffsetDateTime::now_utc() + time::Duration::milliseconds(common::midday_ahead_ms());
    let runners = (0..4).map(|_| {
        let store = server.store.clone();
        tokio::spawn(async move {
            let mut queued = 0;
            loop {
                let report = work_once(store.as_ref(), "sandbox", now).await.unwrap();
                queued += report.queued;
                if report.claimed == 0 {
                    return queued;
                }
            }
        })
    });
    let mut total = 0;
    for runner in runners {
        total += runner.await.unwrap();
    }
    assert_eq!(total, 300);
    let list = all_recipients(&admin, &id).await;
    let mut messages: Vec<&str> = list
        .iter()
        .map(|r| r["messageId"].as_str().unwrap())
        .collect();
    messages.sort_unstable();
    messages.dedup();
    assert_eq!(messages.len(), 300);
    let (_, body) = admin.get(&path).await;
    assert_eq!(
        (body["status"].as_str(), body["stats"]["queued"].as_i64()),
        (Some("completed"), Some(300))
    );
}

async fn campaign_input_is_checked_and_tenants_are_apart(backend: Backend) {
    let server = start_with(backend, false).await;
    let (admin, other) = (admin(&server).await, other_tenant(&server).await);
    let from = number(&admin, "+14155552671").await;
    for (body, code, field) in [
        (
            json!({"name": "x", "message": "Hi {{contact.nickname}}", "phoneNumberId": from}),
            "invalid_template",
            "message",
        ),
        (
            json!({"name": "x", "message": "Hi {{contact.firstName", "phoneNumberId": from}),
            "invalid_template",
            "message",
        ),
        (
            json!({"name": " ", "message": "Hi", "phoneNumberId": from}),
            "invalid_field",
            "name",
        ),
        (
            json!({"name": "x", "message": "Hi", "phoneNumberId": "nope"}),
            "invalid_field",
            "phoneNumberId",
        ),
    ] {
        let (status, err) = admin.post("/phone-sms/campaigns", body.clone()).await;
        assert_eq!(
            (status, err["code"].as_str(), err["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code), Some(field)),
            "{body}: {err}"
        );
    }
    let (status, _) = admin
        .post(
            "/phone-sms/campaigns",
            json!({"name": "x", "message": "Hi", "phoneNumberId": from, "extra": 1}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "unknown fields are refused"
    );
    let id = campaign(&admin, &from, "Hello").await;
    let path = format!("/phone-sms/campaigns/{id}");
    for (body, field) in [
        (
            json!({"numbers": ["+14155550100", "12"]}),
            Some("numbers[1]"),
        ),
        (json!({"contactIds": ["missing"]}), Some("contactIds[0]")),
        (json!({}), None),
    ] {
        let (status, err) = admin
            .post(&format!("{path}/recipients"), body.clone())
            .await;
        assert_eq!(
            (status, err["field"].as_str()),
            (StatusCode::BAD_REQUEST, field),
            "{body}: {err}"
        );
    }
    assert_eq!(
        all_recipients(&admin, &id).await.len(),
        0,
        "a refused list adds nobody"
    );
    let (status, err) = admin
        .patch(&format!("{path}/status"), json!({"status": "scheduled"}))
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_transition"))
    );
    let (status, _) = admin
        .patch(&format!("{path}/status"), json!({"status": "sending"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Another tenant: every campaign route answers 404, its list is empty.
    admin
        .post(
            &format!("{path}/recipients"),
            json!({"numbers": ["+14155550100"]}),
        )
        .await;
    let recipient = all_recipients(&admin, &id).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(other.get(&path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        other.get(&format!("{path}/recipients")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other
            .patch(&format!("{path}/status"), json!({"status": "active"}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other
            .patch(&format!("{path}/schedule"), json!({"scheduledFor": null}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other
            .post(
                &format!("{path}/recipients"),
                json!({"numbers": ["+14155550111"]})
            )
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other
            .delete(&format!("{path}/recipients/{recipient}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(other.delete(&path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        other.get("/phone-sms/campaigns").await.1["items"],
        json!([])
    );
    // Nor can it put a recipient on its own campaign by sending someone else's number id.
    let (status, _) = other
        .post(
            "/phone-sms/campaigns",
            json!({"name": "x", "message": "Hi", "phoneNumberId": from}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, still) = admin.get(&path).await;
    assert_eq!(
        (
            still["status"].as_str(),
            still["stats"]["recipients"].as_i64()
        ),
        (Some("draft"), Some(1))
    );
    let (_, list) = admin.get("/phone-sms/campaigns?status=draft").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (_, list) = admin.get("/phone-sms/campaigns?status=active").await;
    assert_eq!(list["items"], json!([]));
}

/// Quiet hours on a simulated clock: each recipient gets the campaign only between 08:00
/// and 21:00 of their own time (their contact's zone, else their number's); outside, they
/// wait, still pending, and the campaign does not complete past them.
async fn recipients_outside_their_hours_wait_for_them(backend: Backend) {
    let server = start_with(backend, false).await;
    let admin = admin(&server).await;
    let store = server.store.as_ref();
    let from = number(&admin, "+14155552671").await;
    // Her contact says Madrid, whatever her number says.
    let (status, ana) = admin
        .post(
            "/phone-sms/contacts",
            json!({"firstName": "Ana", "phoneNumbers": ["+14155550203"], "timeZone": "Europe/Madrid"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ana}");
    let id = campaign(&admin, &from, "Hi {{contact.firstName|there}}").await;
    let path = format!("/phone-sms/campaigns/{id}");
    admin
        .post(
            &format!("{path}/recipients"),
            json!({"numbers": ["+14155550201", "+12125550202", "+14155550203"]}),
        )
        .await;
    admin
        .patch(&format!("{path}/status"), json!({"status": "active"}))
        .await;
    let t = |s: &str| upzento_cloud::clock::parse_rfc3339(s).unwrap();
    // 06:00 UTC: 22:00 in Los Angeles, 01:00 in New York, 07:00 in Madrid.
    let report = work_once(store, "sandbox", t("2026-12-08T06:00:00Z"))
        .await
        .unwrap();
    assert_eq!((report.claimed, report.held, report.queued), (3, 3, 0));
    let (_, body) = admin.get(&path).await;
    assert_eq!(body["status"], "active", "not completed past them");
    assert_eq!(
        (
            body["stats"]["pending"].as_i64(),
            body["stats"]["held"].as_i64()
        ),
        (Some(3), Some(3)),
        "{body}"
    );
    let list = all_recipients(&admin, &id).await;
    let held = |n: &str| {
        list.iter().find(|r| r["number"] == n).unwrap()["heldUntil"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // 08:00 of each: Los Angeles (UTC-8), New York (UTC-5), Madrid (UTC+1).
    assert_eq!(held("+14155550201"), "2026-12-08T16:00:00.000Z");
    assert_eq!(held("+12125550202"), "2026-12-08T13:00:00.000Z");
    assert_eq!(held("+14155550203"), "2026-12-08T07:00:00.000Z");
    // Held ones are not taken again before their time.
    let report = work_once(store, "sandbox", t("2026-12-08T06:59:59Z"))
        .await
        .unwrap();
    assert_eq!(report.claimed, 0);

    // Each goes when their morning comes.
    for (at, number) in [
        ("2026-12-08T07:00:00Z", "+14155550203"),
        ("2026-12-08T13:00:00Z", "+12125550202"),
        ("2026-12-08T16:00:00Z", "+14155550201"),
    ] {
        let report = work_once(store, "sandbox", t(at)).await.unwrap();
        assert_eq!((report.claimed, report.queued), (1, 1), "{at}: {report:?}");
        let list = all_recipients(&admin, &id).await;
        let r = list.iter().find(|r| r["number"] == number).unwrap();
        assert_eq!(r["status"], "queued", "{at}: {r}");
        assert!(r.get("heldUntil").is_none(), "{r}");
    }
    let (_, body) = admin.get(&path).await;
    assert_eq!(body["status"], "completed");
    assert_eq!(body["stats"]["held"], 0);

    // A tenant may narrow the hours, never widen them.
    for (patch, field) in [
        (json!({"campaignHoursStart": "07:00"}), "campaignHoursStart"),
        (json!({"campaignHoursEnd": "22:00"}), "campaignHoursEnd"),
        (
            json!({"campaignHoursStart": "20:30", "campaignHoursEnd": "20:00"}),
            "campaignHoursStart",
        ),
        (json!({"campaignHoursEnd": "8pm"}), "campaignHoursEnd"),
    ] {
        let (status, body) = admin.patch("/phone-sms/settings", patch).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{body}"
        );
    }
    let (status, settings) = admin
        .patch(
            "/phone-sms/settings",
            json!({"campaignHoursStart": "09:00", "campaignHoursEnd": "20:00"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    let id = campaign(&admin, &from, "Narrower").await;
    let path = format!("/phone-sms/campaigns/{id}");
    admin
        .post(
            &format!("{path}/recipients"),
            json!({"numbers": ["+12125550204"]}),
        )
        .await;
    admin
        .patch(&format!("{path}/status"), json!({"status": "active"}))
        .await;
    // 08:30 in New York: inside the law's hours, not the tenant's.
    let report = work_once(store, "sandbox", t("2026-12-08T13:30:00Z"))
        .await
        .unwrap();
    assert_eq!(report.held, 1);
    let list = all_recipients(&admin, &id).await;
    assert_eq!(list[0]["heldUntil"], "2026-12-08T14:00:00.000Z");
}

/// The runner queues texts inside their recipients' hours, but a number's pace may hold
/// one past them: the carrier worker checks again when it sends.
async fn a_paced_text_never_leaves_after_its_recipients_hours(backend: Backend) {
    use upzento_cloud::carrier::{Sandbox, Timing, Worker};
    let server = start_with(backend, false).await;
    let admin = admin(&server).await;
    let store = server.store.as_ref();
    let from = number(&admin, "+12125552671").await;
    // One text a minute from this number.
    let (status, body) = admin
        .patch(
            &format!("/phone-sms/phone-numbers/{from}"),
            json!({"sendPerMinute": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = campaign(&admin, &from, "Last call").await;
    let path = format!("/phone-sms/campaigns/{id}");
    let numbers = ["+12125550301", "+12125550302", "+12125550303"];
    admin
        .post(&format!("{path}/recipients"), json!({"numbers": numbers}))
        .await;
    admin
        .patch(&format!("{path}/status"), json!({"status": "active"}))
        .await;
    let t = |s: &str| upzento_cloud::clock::parse_rfc3339(s).unwrap();
    // 20:58:30 in New York: all three are queued, inside their hours.
    let start = t("2026-12-08T01:58:30Z");
    let report = work_once(store, "sandbox", start).await.unwrap();
    assert_eq!(report.queued, 3, "{report:?}");
    fn epoch() -> time::OffsetDateTime {
        time::OffsetDateTime::UNIX_EPOCH
    }
    let sandbox = Sandbox::default();
    let mut worker = Worker::with_clock(Timing::default(), epoch);
    let status_of = |list: &[Value], n: &str| {
        list.iter().find(|r| r["number"] == n).unwrap()["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // One now, one at 20:59:30; the third's slot (21:00:30) is past the hours.
    for at in [
        "2026-12-08T01:58:30Z",
        "2026-12-08T01:59:30Z",
        "2026-12-08T02:00:30Z",
    ] {
        worker.work_once(store, &sandbox, t(at)).await.unwrap();
    }
    let list = all_recipients(&admin, &id).await;
    let gone = |s: String| s == "sent" || s == "delivered";
    assert!(gone(status_of(&list, numbers[0])), "{list:?}");
    assert!(gone(status_of(&list, numbers[1])), "{list:?}");
    assert_eq!(status_of(&list, numbers[2]), "queued", "{list:?}");
    // Nothing goes through the night, however often the worker looks (the delivery
    // reports of the first two come in meanwhile).
    for at in [
        "2026-12-08T02:01:30Z",
        "2026-12-08T07:00:00Z",
        "2026-12-08T12:59:59Z",
    ] {
        worker.work_once(store, &sandbox, t(at)).await.unwrap();
        let list = all_recipients(&admin, &id).await;
        assert_eq!(status_of(&list, numbers[2]), "queued", "{at}");
    }
    assert_eq!(
        worker
            .work_once(store, &sandbox, t("2026-12-08T12:59:59Z"))
            .await
            .unwrap(),
        0,
        "not claimed before its morning"
    );
    // 08:00 in New York: it goes, on a fresh slot.
    worker
        .work_once(store, &sandbox, t("2026-12-08T13:00:00Z"))
        .await
        .unwrap();
    let list = all_recipients(&admin, &id).await;
    assert!(gone(status_of(&list, numbers[2])), "{list:?}");
}

/// The text a recipient's message carried.
async fn text_of(server: &common::Server, tenant: &str, recipient: &Value) -> String {
    let id = recipient["messageId"].as_str().expect("a message");
    server
        .store
        .message(tenant, id)
        .await
        .unwrap()
        .unwrap()
        .message
}

async fn a_csv_file_becomes_recipients_with_their_own_fields(backend: Backend) {
    let server = start_with(backend, false).await;
    let admin = admin(&server).await;
    let tenant = admin.tenant_id().await;
    let store = server.store.as_ref();
    let from = number(&admin, "+14155552671").await;
    // Kenji's contact lives in Tokyo: outside his hours whenever Los Angeles is at midday.
    let (status, body) = admin
        .post(
            "/phone-sms/contacts",
            json!({"firstName": "Kenji", "phoneNumbers": ["+14155550403"], "timeZone": "Asia/Tokyo"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = admin
        .post(
            "/phone-sms/do-not-contact",
            json!({"number": "+14155550404", "reason": "asked on the phone"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // José has had a text from the tenant already.
    let (status, body) = admin
        .post(
            "/phone-sms/messages",
            json!({"phoneNumberId": from, "to": "+14155550402", "message": "Your order is ready"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = campaign(
        &admin,
        &from,
        "Hi {{contact.firstName|there}}, see you in {{fields.storeCity|our store}}",
    )
    .await;
    let path = format!("/phone-sms/campaigns/{id}");
    // Latin-1, as older spreadsheet exports write it: José's é is one byte, 0xE9.
    let mut file = b"Name,Phone,Store city\n".to_vec();
    file.extend(b"Ana Ruiz,415-555-0401,Oslo\n");
    file.extend(b"Bad,12,x\n");
    file.extend(b"Ana again,(415) 555-0401,\n");
    file.extend(b"Jos\xe9,+14155550402,Bergen\n");
    file.extend(b"Kenji,+14155550403,\n");
    file.extend(b"Dee,+14155550404,\n");
    let (status, report) = admin
        .post_bytes(&format!("{path}/recipients/import"), "text/csv", file)
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["encoding"], "windows-1252");
    assert_eq!(report["fields"], json!(["storeCity"]));
    assert_eq!(
        (
            report["valid"].as_i64(),
            report["added"].as_i64(),
            report["total"].as_i64()
        ),
        (Some(4), Some(4), Some(4))
    );
    assert_eq!(report["invalid"][0]["row"], 3, "{report}");
    assert_eq!(report["duplicates"][0]["row"], 4, "{report}");
    assert_eq!(
        report["duplicates"][0]["reason"],
        "The same number as row 2."
    );

    // The same file again adds nobody.
    let (_, again) = admin
        .post_bytes(
            &format!("{path}/recipients/import"),
            "text/csv",
            b"phone\n+14155550401\n".to_vec(),
        )
        .await;
    assert_eq!(
        (again["added"].as_i64(), again["alreadyListed"].as_i64()),
        (Some(0), Some(1)),
        "{again}"
    );

    // The audience report, before anything is sent.
    let (status, audience) = admin.get(&format!("{path}/audience")).await;
    assert_eq!(status, StatusCode::OK, "{audience}");
    assert_eq!(
        audience,
        json!({"total": 4, "pending": 4, "optedOut": 0, "doNotContact": 1, "outsideHoursNow": 1,
               "noLawfulHour": 0, "partsMax": 1, "partsTotal": 3}),
    );

    admin
        .patch(&format!("{path}/status"), json!({"status": "active"}))
        .await;
    let day =
        time::OffsetDateTime::now_utc() + time::Duration::milliseconds(common::midday_ahead_ms());
    let report = work_once(store, "sandbox", day).await.unwrap();
    assert_eq!(
        (report.queued, report.skipped, report.held),
        (2, 1, 1),
        "{report:?}"
    );
    let list = all_recipients(&admin, &id).await;
    let by = |n: &str| list.iter().find(|r| r["number"] == n).unwrap().clone();
    assert_eq!(
        text_of(&server, &tenant, &by("+14155550401")).await,
        "Hi Ana, see you in Oslo\nReply STOP to opt out.",
        "a first text says how to opt out"
    );
    assert_eq!(
        text_of(&server, &tenant, &by("+14155550402")).await,
        "Hi José, see you in Bergen",
        "not a later one"
    );
    assert_eq!(by("+14155550401")["fields"]["storeCity"], "Oslo");
    assert_eq!(by("+14155550404")["errorCode"], "do_not_contact");
    assert!(by("+14155550403")["heldUntil"].is_string());

    // The recipients with their outcome, as a spreadsheet opens them.
    let (status, kind, csv) = admin.get_text(&format!("{path}/recipients/export")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("text/csv"), "{kind}");
    let csv = csv
        .strip_prefix('\u{feff}')
        .expect("a byte-order mark for spreadsheets");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "number,firstName,lastName,variant,status,errorCode,errorMessage,heldUntil,messageId,updatedAt,fields.storeCity"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 4);
    assert!(
        rows[0].starts_with("+14155550401,Ana,Ruiz,,queued,"),
        "{}",
        rows[0]
    );
    assert!(rows[0].ends_with(",Oslo"), "{}", rows[0]);
    assert!(
        rows.iter()
            .any(|r| r.starts_with("+14155550404,Dee,,,skipped,do_not_contact,")),
        "{rows:?}"
    );

    // Once running, no file is taken.
    let (status, body) = admin
        .post_bytes(
            &format!("{path}/recipients/import"),
            "text/csv",
            b"phone\n+14155550409\n".to_vec(),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("campaign_not_editable"))
    );
    // Another tenant sees nothing of it.
    let other = other_tenant(&server).await;
    assert_eq!(
        other.get_text(&format!("{path}/recipients/export")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other.get(&format!("{path}/audience")).await.0,
        StatusCode::NOT_FOUND
    );
}

async fn csv_files_that_cannot_be_taken_are_refused_clearly(backend: Backend) {
    let server = start(backend).await;
    let admin = admin(&server).await;
    let from = number(&admin, "+14155552671").await;
    let id = campaign(&admin, &from, "Hi").await;
    let import = format!("/phone-sms/campaigns/{id}/recipients/import");
    for (file, code) in [
        (
            b"name,email\nAda,ada@example.com\n".to_vec(),
            "no_number_column",
        ),
        (Vec::new(), "empty_file"),
    ] {
        let (status, body) = admin.post_bytes(&import, "text/csv", file).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{body}"
        );
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
    // More rows than a campaign takes from one file.
    let mut many = b"phone\n".to_vec();
    for i in 0..=upzento_domain::audience::CSV_MAX_ROWS {
        many.extend(format!("+1415{:07}\n", 5_000_000 + i).as_bytes());
    }
    let (status, body) = admin.post_bytes(&import, "text/csv", many).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("too_many_rows")),
        "{body}"
    );
    // Over 50 MB: refused, whole, without a hang.
    let huge = vec![b'1'; upzento_domain::audience::CSV_MAX_BYTES + 1];
    let (status, body) = admin.post_bytes(&import, "text/csv", huge).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("file_too_large")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("50 MB"),
        "{body}"
    );
    // Nothing was added by any of them.
    let (_, campaign) = admin.get(&format!("/phone-sms/campaigns/{id}")).await;
    assert_eq!(campaign["stats"]["recipients"], 0);
    // An agent may not import.
    let agent = agent(&server).await;
    let (status, _) = agent
        .post_bytes(&import, "text/csv", b"phone\n+14155550101\n".to_vec())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn ab_variants_split_reproducibly_and_lock_once_started(backend: Backend) {
    let server = start_with(backend, false).await;
    let admin = admin(&server).await;
    let tenant = admin.tenant_id().await;
    let store = server.store.as_ref();
    let from = number(&admin, "+14155552671").await;
    let create = |variants: Value| json!({"name": "A/B", "message": "ignored", "phoneNumberId": from, "variants": variants});
    for (variants, field) in [
        (json!([{"message": "Only one", "share": 100}]), "variants"),
        (
            json!([{"message": "A", "share": 50}, {"message": "B", "share": 40}]),
            "variants",
        ),
        (
            json!([{"message": "A", "share": 0}, {"message": "B", "share": 100}]),
            "variants[0].share",
        ),
        (
            json!([{"message": "A", "share": 50}, {"message": "{{nope}}", "share": 50}]),
            "variants[1].message",
        ),
    ] {
        let (status, body) = admin.post("/phone-sms/campaigns", create(variants)).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{body}"
        );
    }
    // A draft may be saved before its text is written, never started without one.
    let (status, draft) = admin
        .post(
            "/phone-sms/campaigns",
            json!({"name": "Unwritten", "phoneNumberId": from}),
        )
        .await;
    assert_eq!(
        (status, draft["message"].as_str()),
        (StatusCode::CREATED, Some("")),
        "{draft}"
    );
    let draft_path = format!("/phone-sms/campaigns/{}", draft["id"].as_str().unwrap());
    admin
        .post(
            &format!("{draft_path}/recipients"),
            json!({"numbers": ["+14155550999"]}),
        )
        .await;
    let (status, body) = admin
        .patch(&format!("{draft_path}/status"), json!({"status": "active"}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("no_message")),
        "{body}"
    );
    let soon = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let (status, body) = admin
        .patch(
            &format!("{draft_path}/schedule"),
            json!({"scheduledFor": upzento_cloud::clock::rfc3339(soon)}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("no_message")),
        "{body}"
    );
    let (status, body) = admin
        .patch(&draft_path, json!({"message": "Written"}))
        .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (StatusCode::OK, Some("Written")),
        "{body}"
    );

    let (status, body) = admin
        .post(
            "/phone-sms/campaigns",
            create(json!([{"message": "A: hi {{contact.firstName|there}}", "share": 50}, {"message": "B: hello", "share": 50}])),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["message"], "A: hi {{contact.firstName|there}}",
        "the text is variant A's"
    );
    assert_eq!(body["variants"][1]["key"], "B");
    let id = body["id"].as_str().unwrap().to_owned();
    let path = format!("/phone-sms/campaigns/{id}");
    let numbers: Vec<String> = (0..200)
        .map(|i| format!("+1415556{:04}", 2000 + i))
        .collect();
    admin
        .post(&format!("{path}/recipients"), json!({"numbers": numbers}))
        .await;
    // A draft changes freely.
    let (status, body) = admin.patch(&path, json!({"name": "A/B test"})).await;
    assert_eq!(
        (status, body["name"].as_str()),
        (StatusCode::OK, Some("A/B test")),
        "{body}"
    );
    admin
        .patch(&format!("{path}/status"), json!({"status": "active"}))
        .await;
    // The runner and the carrier on the real clock (recipients judged at their midday), so
    // that the replies below come after the texts.
    let ahead = common::midday_ahead_ms();
    let lease = Duration::from_secs(60);
    let now = time::OffsetDateTime::now_utc;
    while upzento_cloud::campaigns::work_once_leased(store, "sandbox", now(), lease, ahead)
        .await
        .unwrap()
        .claimed
        > 0
    {}
    let unpaced = upzento_cloud::carrier::Sandbox {
        segments_per_second: None,
        ..Default::default()
    };
    let mut worker = upzento_cloud::carrier::Worker::new(upzento_cloud::carrier::Timing::default())
        .judging_hours_ahead(ahead);
    // Sends, then the delivery reports the sandbox gives a moment later.
    for k in 1..20 {
        let later = now() + time::Duration::seconds(30 * k);
        if worker.work_once(store, &unpaced, later).await.unwrap() == 0 {
            break;
        }
    }
    let list = all_recipients(&admin, &id).await;
    let mut counts = std::collections::HashMap::new();
    for r in &list {
        let key = r["variant"]
            .as_str()
            .expect("every recipient has its variant");
        *counts.entry(key.to_owned()).or_insert(0) += 1;
        // The split is the domain's, seeded with the campaign: the same on every node.
        let number = r["number"].as_str().unwrap();
        let expected = ["A", "B"][upzento_domain::ab::variant_for(&id, number, &[50, 50])];
        assert_eq!(key, expected);
        let text = text_of(&server, &tenant, r).await;
        assert!(text.starts_with(&format!("{key}:")), "{key}: {text}");
    }
    assert!((70..=130).contains(&counts["A"]), "{counts:?}");
    assert_eq!(counts["A"] + counts["B"], 200);

    // Ten of A's recipients answer, thirty of B's, and one of B's opts out.
    let of = |key: &str| -> Vec<String> {
        list.iter()
            .filter(|r| r["variant"] == key)
            .map(|r| r["number"].as_str().unwrap().to_owned())
            .collect()
    };
    let (a, b) = (of("A"), of("B"));
    let replies = a.iter().take(10).chain(b.iter().take(30));
    for (i, number) in replies.chain(b.iter().skip(30).take(1)).enumerate() {
        let body = if i == 40 { "STOP" } else { "Yes please" };
        let (status, answer) = admin
            .post(
                "/phone-sms/sandbox/inbound",
                json!({"to": "+14155552671", "from": number, "body": body}),
            )
            .await;
        assert!(status.is_success(), "{answer}");
    }
    let (status, analytics) = admin.get(&format!("{path}/analytics")).await;
    assert_eq!(status, StatusCode::OK, "{analytics}");
    let totals = &analytics["totals"];
    assert_eq!(
        (
            totals["texted"].as_i64(),
            totals["delivered"].as_i64(),
            totals["replied"].as_i64(),
            totals["optedOut"].as_i64()
        ),
        (Some(200), Some(200), Some(41), Some(1)),
        "{analytics}"
    );
    let (va, vb) = (&analytics["variants"][0], &analytics["variants"][1]);
    assert_eq!(
        (va["key"].as_str(), vb["key"].as_str()),
        (Some("A"), Some("B"))
    );
    assert_eq!(va["counts"]["texted"].as_u64(), Some(a.len() as u64));
    assert_eq!(
        (
            va["counts"]["replied"].as_i64(),
            vb["counts"]["replied"].as_i64()
        ),
        (Some(10), Some(31))
    );
    assert!(va["difference"].is_null(), "{va}");
    // 31 of ~100 against 10 of ~100: B is better, and not by chance.
    assert!(vb["difference"].as_f64().unwrap() > 0.15, "{vb}");
    assert!(vb["pValue"].as_f64().unwrap() < 0.01, "{vb}");
    assert_eq!(analytics["senders"].as_array().unwrap().len(), 1);
    let series = analytics["series"].as_array().unwrap();
    let sum = |k: &str| series.iter().map(|p| p[k].as_i64().unwrap()).sum::<i64>();
    assert_eq!(
        (sum("sent"), sum("delivered"), sum("replied")),
        (200, 200, 41),
        "{series:?}"
    );
    assert!(analytics["intervalSeconds"].as_i64().unwrap() >= 60);
    let other = other_tenant(&server).await;
    assert_eq!(
        other.get(&format!("{path}/analytics")).await.0,
        StatusCode::NOT_FOUND
    );
    // Started: the name may change, nothing else.
    let (status, body) = admin.patch(&path, json!({"message": "Changed"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("campaign_started")),
        "{body}"
    );
    let (status, _) = admin.patch(&path, json!({"name": "Renamed"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = agent(&server)
        .await
        .patch(&path, json!({"name": "Mine"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// "Test, then send the winner": a sample gets the split, the rest waits for the test's
/// end and then gets the variant with the best reply rate, decided once.
async fn a_winner_test_sends_the_best_variant_to_the_rest(backend: Backend) {
    let server = start_with(backend, false).await;
    let admin = admin(&server).await;
    let tenant = admin.tenant_id().await;
    let store = server.store.as_ref();
    let from = number(&admin, "+14155552671").await;
    let variants =
        json!([{"message": "A: sale", "share": 50}, {"message": "B: big sale", "share": 50}]);
    for (test, field) in [
        (
            json!({"samplePercent": 2, "waitMinutes": 60, "metric": "replyRate"}),
            "winnerTest.samplePercent",
        ),
        (
            json!({"samplePercent": 20, "waitMinutes": 1, "metric": "replyRate"}),
            "winnerTest.waitMinutes",
        ),
    ] {
        let (status, body) = admin
            .post(
                "/phone-sms/campaigns",
                json!({"name": "W", "phoneNumberId": from, "variants": variants, "winnerTest": test}),
            )
            .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{body}"
        );
    }
    let (status, body) = admin
        .post(
            "/phone-sms/campaigns",
            json!({"name": "W", "message": "One text", "phoneNumberId": from,
                   "winnerTest": {"samplePercent": 20, "waitMinutes": 60, "metric": "replyRate"}}),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("winnerTest")),
        "{body}"
    );
    let (status, body) = admin
        .post(
            "/phone-sms/campaigns",
            json!({"name": "Winner", "phoneNumberId": from, "variants": variants,
                   "winnerTest": {"samplePercent": 20, "waitMinutes": 60, "metric": "replyRate"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let path = format!("/phone-sms/campaigns/{id}");
    let numbers: Vec<String> = (0..500)
        .map(|i| format!("+1415557{:04}", 1000 + i))
        .collect();
    admin
        .post(&format!("{path}/recipients"), json!({"numbers": numbers}))
        .await;
    admin
        .patch(&format!("{path}/status"), json!({"status": "active"}))
        .await;

    // The test: on the real clock (recipients judged at their midday), the sample is texted,
    // the rest waits for the test's end.
    let ahead = common::midday_ahead_ms();
    let lease = Duration::from_secs(60);
    let run = |at: time::OffsetDateTime, ahead: i64| async move {
        let mut queued = 0;
        loop {
            let r = upzento_cloud::campaigns::work_once_leased(store, "sandbox", at, lease, ahead)
                .await
                .unwrap();
            queued += r.queued;
            if r.claimed == 0 {
                return queued;
            }
        }
    };
    let sample = run(time::OffsetDateTime::now_utc(), ahead).await;
    let in_sample = numbers
        .iter()
        .filter(|n| upzento_domain::ab::in_sample(&id, n, 20))
        .count();
    assert_eq!(sample, in_sample, "only the sample is texted");
    assert!((70..=130).contains(&sample), "{sample}");
    let (_, body) = admin.get(&path).await;
    assert_eq!(
        body["stats"]["held"].as_i64(),
        Some(i64::try_from(500 - sample).unwrap()),
        "{body}"
    );
    assert!(body.get("winner").is_none());

    // Two of A's sample answer, ten of B's.
    let list = all_recipients(&admin, &id).await;
    let texted_with = |key: &str| -> Vec<String> {
        list.iter()
            .filter(|r| r["variant"] == key)
            .map(|r| r["number"].as_str().unwrap().to_owned())
            .collect()
    };
    for number in texted_with("A")
        .iter()
        .take(2)
        .chain(texted_with("B").iter().take(10))
    {
        let (status, body) = admin
            .post(
                "/phone-sms/sandbox/inbound",
                json!({"to": "+14155552671", "from": number, "body": "Yes"}),
            )
            .await;
        assert!(status.is_success(), "{status} {body}");
    }
    // Not before the hour is out.
    assert_eq!(
        run(
            time::OffsetDateTime::now_utc() + time::Duration::minutes(30),
            ahead - 30 * 60_000
        )
        .await,
        0
    );
    // Then the rest gets the winner.
    let later = time::OffsetDateTime::now_utc() + time::Duration::minutes(61);
    let rest = run(later, ahead - 61 * 60_000).await;
    assert_eq!(sample + rest, 500);
    let (_, body) = admin.get(&path).await;
    assert_eq!(body["winner"], "B", "{body}");
    assert!(body["winnerDecidedAt"].is_string());
    let list = all_recipients(&admin, &id).await;
    for r in &list {
        let number = r["number"].as_str().unwrap();
        if upzento_domain::ab::in_sample(&id, number, 20) {
            continue;
        }
        assert_eq!(r["variant"], "B", "{r}");
        assert_eq!(
            text_of(&server, &tenant, r).await,
            "B: big sale\nReply STOP to opt out."
        );
    }
    // Decided once: one decision in the change feed.
    let (_, feed) = admin.get("/phone-sms/changes?since=0&limit=1000").await;
    let decisions = feed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["entity"] == "smsCampaign"
                && c["data"]["winner"] == "B"
                && c["data"]["id"] == id.as_str()
        })
        .count();
    assert!(decisions >= 1, "{feed}");
}

/// "At 10:00 in each recipient's own time": each waits for their own 10:00 after the start.
async fn at_a_time_of_each_recipients_own_day(backend: Backend) {
    let server = start_with(backend, false).await;
    let admin = admin(&server).await;
    let store = server.store.as_ref();
    let from = number(&admin, "+14155552671").await;
    let (status, body) = admin
        .post(
            "/phone-sms/contacts",
            json!({"firstName": "Ana", "phoneNumbers": ["+14155550503"], "timeZone": "Europe/Madrid"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for bad in ["10", "25:00", "10:5"] {
        let (status, body) = admin
            .post(
                "/phone-sms/campaigns",
                json!({"name": "L", "message": "Hi", "phoneNumberId": from, "localSendTime": bad}),
            )
            .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("localSendTime")),
            "{bad}: {body}"
        );
    }
    let (status, body) = admin
        .post(
            "/phone-sms/campaigns",
            json!({"name": "Local", "message": "Good morning", "phoneNumberId": from, "localSendTime": "10:00"}),
        )
        .await;
    assert_eq!(
        (status, body["localSendTime"].as_str()),
        (StatusCode::CREATED, Some("10:00")),
        "{body}"
    );
    let id = body["id"].as_str().unwrap().to_owned();
    let path = format!("/phone-sms/campaigns/{id}");
    let la = "+14155550501";
    let ny = "+12125550502";
    let madrid = "+14155550503";
    admin
        .post(
            &format!("{path}/recipients"),
            json!({"numbers": [la, ny, madrid]}),
        )
        .await;
    let (_, started) = admin
        .patch(&format!("{path}/status"), json!({"status": "active"}))
        .await;
    let t = |s: &str| upzento_cloud::clock::parse_rfc3339(s).unwrap();
    let start = t(started["startedAt"].as_str().unwrap());
    // Each one's 10:00 after the start, by the domain's clock arithmetic (tested on its own).
    let ten = jiff::civil::Time::constant(10, 0, 0, 0);
    let due = |zone: &str| {
        let zones = vec![upzento_domain::tz::zone(zone).unwrap()];
        let ms = upzento_domain::quiet::local_time_after_ms(
            upzento_cloud::clock::to_ms(start),
            &zones,
            ten,
        )
        .unwrap();
        upzento_cloud::clock::from_ms(ms)
    };
    let report = work_once(store, "sandbox", start).await.unwrap();
    assert_eq!((report.held, report.queued), (3, 0), "{report:?}");
    let list = all_recipients(&admin, &id).await;
    let held = |n: &str| {
        t(list.iter().find(|r| r["number"] == n).unwrap()["heldUntil"]
            .as_str()
            .unwrap())
    };
    assert_eq!(held(la), due("America/Los_Angeles"));
    assert_eq!(held(ny), due("America/New_York"));
    assert_eq!(
        held(madrid),
        due("Europe/Madrid"),
        "the contact's zone, not the number's"
    );
    // Each goes at their own 10:00, in turn.
    let mut order = vec![
        (due("America/Los_Angeles"), la),
        (due("America/New_York"), ny),
        (due("Europe/Madrid"), madrid),
    ];
    order.sort();
    for (at, number) in order {
        let report = work_once(store, "sandbox", at).await.unwrap();
        assert_eq!(report.queued, 1, "{number}: {report:?}");
        let list = all_recipients(&admin, &id).await;
        let r = list.iter().find(|r| r["number"] == number).unwrap();
        assert_eq!(r["status"], "queued", "{r}");
    }
    let (_, body) = admin.get(&path).await;
    assert_eq!(body["status"], "completed");
}

async fn a_pool_of_numbers_keeps_each_contact_on_one_and_matches_area_codes(backend: Backend) {
    let server = start_with(backend, false).await;
    let admin = admin(&server).await;
    let tenant = admin.tenant_id().await;
    let store = server.store.as_ref();
    let sf = number(&admin, "+14155552671").await;
    let ny1 = number(&admin, "+12125552671").await;
    let ny2 = number(&admin, "+12125552672").await;
    let (status, body) = admin
        .post(
            "/phone-sms/campaigns",
            json!({"name": "P", "message": "Hi", "phoneNumberId": sf, "senderPool": [sf, "nope"]}),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("senderPool[1]")),
        "{body}"
    );
    // This San Francisco contact heard from New York before: they stay with it.
    let sticky = "+14155550999";
    let (status, body) = admin
        .post(
            "/phone-sms/messages",
            json!({"phoneNumberId": ny1, "to": sticky, "message": "Hello"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = admin
        .post(
            "/phone-sms/campaigns",
            json!({"name": "Pool", "message": "Hi", "phoneNumberId": sf, "senderPool": [ny1, sf, ny2, sf]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["senderPool"], json!([ny1, sf, ny2]), "each once");
    assert_eq!(body["phoneNumberId"], ny1.as_str(), "the pool's first");
    let id = body["id"].as_str().unwrap().to_owned();
    let path = format!("/phone-sms/campaigns/{id}");
    let mut numbers: Vec<String> = Vec::new();
    numbers.extend((0..10).map(|i| format!("+1415555{:04}", 3000 + i)));
    numbers.extend((0..20).map(|i| format!("+1212555{:04}", 3000 + i)));
    numbers.extend((0..4).map(|i| format!("+1312555{:04}", 3000 + i)));
    numbers.push(sticky.to_owned());
    admin
        .post(&format!("{path}/recipients"), json!({"numbers": numbers}))
        .await;
    admin
        .patch(&format!("{path}/status"), json!({"status": "active"}))
        .await;
    let day =
        time::OffsetDateTime::now_utc() + time::Duration::milliseconds(common::midday_ahead_ms());
    while work_once(store, "sandbox", day).await.unwrap().claimed > 0 {}
    let list = all_recipients(&admin, &id).await;
    let mut sent_from: std::collections::HashMap<String, String> = Default::default();
    for r in &list {
        let message = server
            .store
            .message(&tenant, r["messageId"].as_str().expect("texted"))
            .await
            .unwrap()
            .unwrap();
        sent_from.insert(
            r["number"].as_str().unwrap().to_owned(),
            message.phone_number_id.unwrap(),
        );
    }
    assert_eq!(sent_from[sticky], ny1, "the number that texted them before");
    for n in numbers
        .iter()
        .filter(|n| n.starts_with("+1415") && *n != sticky)
    {
        assert_eq!(sent_from[n], sf, "{n}: its area code's");
    }
    let ny: Vec<&String> = numbers.iter().filter(|n| n.starts_with("+1212")).collect();
    assert!(
        ny.iter()
            .all(|n| sent_from[*n] == ny1 || sent_from[*n] == ny2)
    );
    assert!(
        ny.iter().any(|n| sent_from[*n] == ny1) && ny.iter().any(|n| sent_from[*n] == ny2),
        "both share the city"
    );
    let (_, analytics) = admin.get(&format!("{path}/analytics")).await;
    assert_eq!(
        analytics["senders"].as_array().unwrap().len(),
        3,
        "{analytics}"
    );
}
