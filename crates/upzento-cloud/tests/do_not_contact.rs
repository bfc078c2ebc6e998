//! The do-not-contact list, on both backends: people add numbers, admins take them off,
//! imports report each bad row; opt-outs feed it and opt-ins take back only their own;
//! a one-to-one send to a listed number is refused and a campaign skips it, with reasons.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::client::{Client, admin, agent, other_tenant};
use common::{Backend, start, start_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use upzento_cloud::campaigns::work_once;

on_both_backends!(
    people_list_numbers_and_admins_take_them_off,
    listed_numbers_are_not_texted_and_opt_outs_feed_the_list,
);

const OURS: &str = "+14155552671";

async fn number(admin: &Client) -> String {
    let (status, body) = admin
        .post(
            "/phone-sms/phone-numbers",
            json!({"number": OURS, "type": "Support"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn listed(client: &Client) -> Vec<Value> {
    let (status, page) = client.get("/phone-sms/do-not-contact?limit=200").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().clone()
}

async fn people_list_numbers_and_admins_take_them_off(backend: Backend) {
    let server = start(backend).await;
    let (admin, agent, other) = (
        admin(&server).await,
        agent(&server).await,
        other_tenant(&server).await,
    );
    // An agent hears "never text me again" and lists the number, in any notation.
    let (status, first) = agent
        .post(
            "/phone-sms/do-not-contact",
            json!({"number": "+1 (415) 555-0101", "reason": "Asked on a call"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(
        (
            first["number"].as_str(),
            first["source"].as_str(),
            first["reason"].as_str()
        ),
        (
            Some("+14155550101"),
            Some("manual"),
            Some("Asked on a call")
        )
    );
    // Listed once: the first entry stays.
    let (status, again) = admin
        .post(
            "/phone-sms/do-not-contact",
            json!({"number": "+14155550101", "reason": "Again"}),
        )
        .await;
    assert_eq!((status, &again["id"]), (StatusCode::OK, &first["id"]));
    let (status, body) = agent
        .post(
            "/phone-sms/do-not-contact",
            json!({"number": "not a number"}),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("number"))
    );

    // An import: each bad row named with its reason, duplicates counted, the rest listed.
    let (status, imported) = admin
        .post(
            "/phone-sms/do-not-contact/import",
            json!({"numbers": ["+14155550102", "+1 415 555 0103", "hello", "+14155550102", "+14155550101", "+1 415 555 01"], "reason": "Old list"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{imported}");
    assert_eq!(
        (imported["added"].as_u64(), imported["duplicates"].as_u64()),
        (Some(2), Some(2)),
        "{imported}"
    );
    let rows: Vec<u64> = imported["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["row"].as_u64().unwrap())
        .collect();
    assert_eq!(rows, [3, 6], "{imported}");
    assert!(imported["invalid"][0]["reason"].as_str().unwrap().len() > 5);
    let all = listed(&agent).await;
    assert_eq!(all.len(), 3);
    assert_eq!(all[1]["source"], "import");
    let (_, found) = agent.get("/phone-sms/do-not-contact?q=0103").await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    let (status, too_many) = admin
        .post(
            "/phone-sms/do-not-contact/import",
            json!({"numbers": vec!["+14155550104"; 10_001]}),
        )
        .await;
    assert_eq!(
        (status, too_many["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("numbers"))
    );

    // Taking one off is an admin's; another tenant sees nothing of it.
    let entry = format!(
        "/phone-sms/do-not-contact/{}",
        first["id"].as_str().unwrap()
    );
    assert_eq!(agent.delete(&entry).await.0, StatusCode::FORBIDDEN);
    assert_eq!(other.delete(&entry).await.0, StatusCode::NOT_FOUND);
    assert!(listed(&other).await.is_empty());
    assert_eq!(admin.delete(&entry).await.0, StatusCode::NO_CONTENT);
    assert_eq!(admin.delete(&entry).await.0, StatusCode::NOT_FOUND);
    assert_eq!(listed(&admin).await.len(), 2);
    // The feed carries the list (the app warns before a send).
    let (_, feed) = agent.get("/phone-sms/changes?limit=1000").await;
    let ops: Vec<&str> = feed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["entity"] == "doNotContact")
        .map(|c| c["op"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["upsert", "upsert", "upsert", "delete"]);
}

async fn listed_numbers_are_not_texted_and_opt_outs_feed_the_list(backend: Backend) {
    let server = start_with(backend, false).await;
    let (admin, agent) = (admin(&server).await, agent(&server).await);
    let ours = number(&admin).await;
    agent
        .post(
            "/phone-sms/do-not-contact",
            json!({"number": "+14155550101", "reason": "Asked on a call"}),
        )
        .await;
    // A one-to-one send: refused, saying why; nothing queued.
    let (status, body) = agent
        .post(
            "/phone-sms/messages",
            json!({"phoneNumberId": ours, "to": "+14155550101", "message": "Hello?"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("do_not_contact")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Asked on a call")
    );
    let (_, conversations) = agent.get("/phone-sms/conversations?limit=200").await;
    for c in conversations["items"].as_array().unwrap() {
        let (_, messages) = agent
            .get(&format!(
                "/phone-sms/conversations/{}/messages",
                c["id"].as_str().unwrap()
            ))
            .await;
        assert!(messages["items"].as_array().unwrap().is_empty());
    }

    // STOP lists the number, with its confirmation sent all the same; START takes off
    // what STOP put there, and only that.
    let (status, _) = admin
        .post(
            "/phone-sms/sandbox/inbound",
            json!({"to": OURS, "from": "+14155550102", "body": "STOP"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let all = listed(&admin).await;
    let stop = all.iter().find(|e| e["number"] == "+14155550102").unwrap();
    assert_eq!(
        (stop["source"].as_str(), stop["reason"].as_str()),
        (Some("optOut"), Some("Texted STOP"))
    );
    assert!(stop["createdBy"].is_null());
    admin
        .post(
            "/phone-sms/sandbox/inbound",
            json!({"to": OURS, "from": "+14155550102", "body": "START"}),
        )
        .await;
    // The person listed by hand says STOP, then START: both confirmations go out (the
    // replies the rules require pass the list), and the entry people made stays.
    for word in ["STOP", "START"] {
        admin
            .post(
                "/phone-sms/sandbox/inbound",
                json!({"to": OURS, "from": "+14155550101", "body": word}),
            )
            .await;
    }
    let numbers: Vec<String> = listed(&admin)
        .await
        .iter()
        .map(|e| e["number"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(numbers, ["+14155550101"], "a person's entry stays");

    let (_, conversations) = admin.get("/phone-sms/conversations?limit=200").await;
    let with = |n: &str| {
        conversations["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["contactNumber"] == n)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (_, thread) = admin
        .get(&format!(
            "/phone-sms/conversations/{}/messages",
            with("+14155550101")
        ))
        .await;
    let replies = thread["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "outbound")
        .count();
    assert_eq!(replies, 2, "{thread}");
    let manual = listed(&admin).await;
    assert_eq!(
        (manual[0]["source"].as_str(), manual[0]["reason"].as_str()),
        (Some("manual"), Some("Asked on a call"))
    );

    // A campaign skips the listed number and says why; the others get it.
    let (_, campaign) = admin
        .post(
            "/phone-sms/campaigns",
            json!({"name": "News", "message": "Hello", "phoneNumberId": ours}),
        )
        .await;
    let path = format!("/phone-sms/campaigns/{}", campaign["id"].as_str().unwrap());
    admin
        .post(
            &format!("{path}/recipients"),
            json!({"numbers": ["+14155550101", "+14155550105"]}),
        )
        .await;
    admin
        .patch(&format!("{path}/status"), json!({"status": "active"}))
        .await;
    let day =
        time::OffsetDateTime::now_utc() + time::Duration::milliseconds(common::midday_ahead_ms());
    let report = work_once(server.store.as_ref(), "sandbox", day)
        .await
        .unwrap();
    assert_eq!((report.queued, report.skipped), (1, 1), "{report:?}");
    let (_, recipients) = admin.get(&format!("{path}/recipients")).await;
    let skipped = recipients["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["number"] == "+14155550101")
        .unwrap()
        .clone();
    assert_eq!(
        (skipped["status"].as_str(), skipped["errorCode"].as_str()),
        (Some("skipped"), Some("do_not_contact")),
        "{skipped}"
    );
}
