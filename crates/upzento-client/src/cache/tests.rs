#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use upzento_domain::resources::{Change, ChangeOp, MessageStatus};

use super::*;

fn owner() -> Owner {
    Owner {
        cloud: "http://127.0.0.1:1/".into(),
        tenant_id: "t1".into(),
        user_id: "me".into(),
    }
}

fn stamp(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap();
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn change(seq: i64, entity: &str, id: &str, data: serde_json::Value) -> Change {
    Change {
        seq,
        entity: entity.into(),
        id: id.into(),
        op: ChangeOp::Upsert,
        data: Some(data),
        changed_at: stamp(0),
        entered_scope: false,
    }
}

fn conversation(
    id: &str,
    contact: &str,
    activity_ms: i64,
    status: &str,
    assignee: Option<&str>,
) -> serde_json::Value {
    json!({"id": id, "phoneNumberId": "n1", "ourNumber": "+14155552671", "contactNumber": contact,
        "contactId": null, "status": status, "assignedTo": assignee, "lastMessageAt": null,
        "lastMessagePreview": null, "lastActivityAt": stamp(activity_ms),
        "createdAt": stamp(0), "updatedAt": stamp(activity_ms)})
}

fn message(id: &str, conversation: &str, inbound: bool, body: &str, ms: i64) -> serde_json::Value {
    json!({"id": id, "conversationId": conversation, "phoneNumberId": "n1", "contactId": null,
        "direction": if inbound { "inbound" } else { "outbound" }, "message": body,
        "status": if inbound { "received" } else { "delivered" }, "errorCode": null, "errorMessage": null,
        "encoding": "gsm7", "segments": 1, "campaignId": null, "sentBy": null, "provider": "sandbox",
        "providerMessageId": null, "createdAt": stamp(ms), "updatedAt": stamp(ms)})
}

fn seeded() -> Cache {
    let mut cache = Cache::in_memory(&owner()).unwrap();
    let changes = vec![
        change(
            1,
            entity::CONTACT,
            "k1",
            json!({"id": "k1", "firstName": "Ada", "lastName": "Lovelace",
            "phoneNumbers": ["+14155550101"], "email": "ada@example.com", "tags": [], "timeZone": null,
            "optedOut": false, "optedOutAt": null, "createdAt": stamp(0), "updatedAt": stamp(0)}),
        ),
        change(
            2,
            entity::CONVERSATION,
            "c1",
            conversation("c1", "+14155550101", 3_000, "open", Some("me")),
        ),
        change(
            3,
            entity::CONVERSATION,
            "c2",
            conversation("c2", "+14155550102", 5_000, "closed", None),
        ),
        change(
            4,
            entity::CONVERSATION,
            "c3",
            conversation("c3", "+14155550103", 4_000, "open", Some("other")),
        ),
        change(
            5,
            entity::SMS_MESSAGE,
            "m1",
            message("m1", "c1", true, "Can I move my appointment?", 1_000),
        ),
        change(
            6,
            entity::SMS_MESSAGE,
            "m2",
            message("m2", "c1", false, "Sure, which day?", 2_000),
        ),
        change(
            7,
            entity::SMS_MESSAGE,
            "m3",
            message("m3", "c1", true, "Tuesday appointment please", 3_000),
        ),
        change(
            8,
            entity::SMS_MESSAGE,
            "m4",
            message("m4", "c2", true, "Thanks for the café voucher", 5_000),
        ),
        change(
            9,
            entity::SMS_TEMPLATE,
            "t1",
            json!({"id": "t1", "name": "Hi", "message": "Hello",
            "usageCount": 0, "createdAt": stamp(0), "updatedAt": stamp(0)}),
        ),
    ];
    cache.apply(&changes, 9).unwrap();
    cache
}

#[test]
fn the_feed_fills_the_inbox_newest_first_with_unread_counts() {
    let mut cache = seeded();
    assert_eq!(cache.cursor().unwrap(), 9);
    let inbox = cache.inbox(InboxFilter::All, None, 50, 0).unwrap();
    let ids: Vec<&str> = inbox.iter().map(|r| r.conversation.id.as_str()).collect();
    assert_eq!(ids, vec!["c2", "c3", "c1"]);
    let c1 = inbox.iter().find(|r| r.conversation.id == "c1").unwrap();
    assert_eq!((c1.unread, c1.contact_name.as_deref()), (2, None));
    // The contact is linked once the conversation names it.
    let mut linked = conversation("c1", "+14155550101", 3_000, "open", Some("me"));
    linked["contactId"] = json!("k1");
    cache
        .apply(&[change(10, entity::CONVERSATION, "c1", linked)], 10)
        .unwrap();
    // Read up to the first message: one unread left. Another user's marker changes nothing.
    cache
        .apply(
            &[
                change(
                    11,
                    entity::CONVERSATION_READ,
                    "c1:me",
                    json!({"conversationId": "c1", "userId": "me", "readAt": stamp(1_000)}),
                ),
                change(
                    12,
                    entity::CONVERSATION_READ,
                    "c1:other",
                    json!({"conversationId": "c1", "userId": "other", "readAt": stamp(9_000)}),
                ),
            ],
            12,
        )
        .unwrap();
    let inbox = cache.inbox(InboxFilter::All, None, 50, 0).unwrap();
    let c1 = inbox.iter().find(|r| r.conversation.id == "c1").unwrap();
    assert_eq!(
        (c1.unread, c1.contact_name.as_deref()),
        (1, Some("Ada Lovelace"))
    );
    // The tray's count: conversations with something unread (c1 and c2).
    assert_eq!(cache.unread_conversations().unwrap(), 2);
    cache.mark_read_local("c2", "me", 9_000).unwrap();
    assert_eq!(cache.unread_conversations().unwrap(), 1);

    let only = |filter| {
        cache
            .inbox(filter, None, 50, 0)
            .unwrap()
            .into_iter()
            .map(|r| r.conversation.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(only(InboxFilter::Open), vec!["c3", "c1"]);
    assert_eq!(only(InboxFilter::Closed), vec!["c2"]);
    assert_eq!(only(InboxFilter::Mine), vec!["c1"]);
    // Each filter's count is the length of its list.
    let counts = cache.inbox_counts(0).unwrap();
    assert_eq!(
        (counts.all, counts.open, counts.closed, counts.mine),
        (3, 2, 1, 1)
    );
    // "Mine" is the agent's open work: a closed conversation of theirs leaves it.
    let mut closed_mine = conversation("c1", "+14155550101", 3_000, "closed", Some("me"));
    closed_mine["contactId"] = json!("k1");
    cache
        .apply(&[change(20, entity::CONVERSATION, "c1", closed_mine)], 20)
        .unwrap();
    assert!(
        cache
            .inbox(InboxFilter::Mine, None, 50, 0)
            .unwrap()
            .is_empty()
    );
    let counts = cache.inbox_counts(0).unwrap();
    assert_eq!((counts.open, counts.closed, counts.mine), (1, 2, 0));
    // Paging.
    let first = cache.inbox(InboxFilter::All, None, 2, 0).unwrap();
    let last = first.last().unwrap();
    let cursor = InboxCursor {
        last_activity_ms: ms_of(&last.conversation.last_activity_at),
        id: last.conversation.id.clone(),
    };
    let rest = cache.inbox(InboxFilter::All, Some(&cursor), 2, 0).unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].conversation.id, "c1");

    // Snoozed until 50 s: out of Open (and Mine) and in Snoozed until then, back after.
    let mut snoozed = conversation("c3", "+14155550103", 5_000, "open", Some("me"));
    snoozed["snoozedUntil"] = json!(stamp(50_000));
    cache
        .apply(&[change(21, entity::CONVERSATION, "c3", snoozed)], 21)
        .unwrap();
    let at = |filter, now| {
        cache
            .inbox(filter, None, 50, now)
            .unwrap()
            .into_iter()
            .map(|r| r.conversation.id)
            .collect::<Vec<_>>()
    };
    assert!(at(InboxFilter::Open, 49_999).is_empty());
    assert!(at(InboxFilter::Mine, 49_999).is_empty());
    assert_eq!(at(InboxFilter::Snoozed, 49_999), vec!["c3"]);
    assert_eq!(at(InboxFilter::All, 49_999).len(), 3, "All shows it still");
    let counts = cache.inbox_counts(49_999).unwrap();
    assert_eq!((counts.open, counts.mine, counts.snoozed), (0, 0, 1));
    assert_eq!(at(InboxFilter::Open, 50_000), vec!["c3"]);
    assert_eq!(at(InboxFilter::Mine, 50_000), vec!["c3"]);
    assert!(at(InboxFilter::Snoozed, 50_000).is_empty());
    assert_eq!(cache.inbox_counts(50_000).unwrap().snoozed, 0);

    // "My teams": open work of a team the user is one of, as the team's people change.
    let mut support = conversation("c2", "+14155550102", 6_000, "open", None);
    support["teamId"] = json!("t1");
    let team = |members: serde_json::Value| {
        json!({"id": "t1", "name": "Support", "memberIds": members,
               "createdAt": stamp(0), "updatedAt": stamp(0)})
    };
    cache
        .apply(
            &[
                change(22, entity::CONVERSATION, "c2", support),
                change(23, entity::TEAM, "t1", team(json!(["someone"]))),
            ],
            23,
        )
        .unwrap();
    let teams = |cache: &Cache| -> Vec<String> {
        cache
            .inbox(InboxFilter::Teams, None, 50, 50_000)
            .unwrap()
            .into_iter()
            .map(|r| r.conversation.id)
            .collect()
    };
    assert!(teams(&cache).is_empty(), "not my team");
    cache
        .apply(
            &[change(
                24,
                entity::TEAM,
                "t1",
                team(json!(["someone", "me"])),
            )],
            24,
        )
        .unwrap();
    assert_eq!(teams(&cache), vec!["c2"]);
    assert_eq!(cache.inbox_counts(50_000).unwrap().teams, 1);
}

#[test]
fn messages_come_newest_first_and_applying_twice_changes_nothing() {
    let mut cache = seeded();
    let bodies = |cache: &Cache, before: Option<&str>| {
        cache
            .messages("c1", before, 2)
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(bodies(&cache, None), vec!["m3", "m2"]);
    assert_eq!(bodies(&cache, Some("m2")), vec!["m1"]);
    // The same page again (a retry after a crash before the cursor moved): no doubles.
    let again = vec![change(
        5,
        entity::SMS_MESSAGE,
        "m1",
        message("m1", "c1", true, "Can I move my appointment?", 1_000),
    )];
    cache.apply(&again, 5).unwrap();
    assert_eq!(cache.counts().unwrap(), (3, 4));
    assert_eq!(cache.cursor().unwrap(), 9, "the cursor never moves back");
    // A status change keeps the message where it was.
    let mut delivered = message("m2", "c1", false, "Sure, which day?", 2_000);
    delivered["status"] = json!("failed");
    cache
        .apply(&[change(10, entity::SMS_MESSAGE, "m2", delivered)], 10)
        .unwrap();
    let m2 = cache
        .messages("c1", None, 10)
        .unwrap()
        .into_iter()
        .find(|m| m.id == "m2")
        .unwrap();
    assert_eq!(m2.status, MessageStatus::Failed);
    assert_eq!(bodies(&cache, None), vec!["m3", "m2"]);
    // Deletions.
    let gone = Change {
        op: ChangeOp::Delete,
        data: None,
        ..change(11, entity::SMS_MESSAGE, "m3", json!(null))
    };
    cache.apply(&[gone], 11).unwrap();
    assert_eq!(bodies(&cache, None), vec!["m2", "m1"]);
    assert_eq!(
        cache.search("tuesday", 10).unwrap().messages.len(),
        0,
        "the index forgets it too"
    );
    let templates: Vec<upzento_domain::resources::SmsTemplate> =
        cache.records(entity::SMS_TEMPLATE).unwrap();
    assert_eq!(templates[0].name, "Hi");
}

#[test]
fn messages_of_the_same_millisecond_all_find_a_place() {
    let mut cache = seeded();
    let same: Vec<Change> = (0..50)
        .map(|i| {
            change(
                20 + i,
                entity::SMS_MESSAGE,
                &format!("x{i}"),
                message(&format!("x{i}"), "c3", true, "burst", 7_000),
            )
        })
        .collect();
    cache.apply(&same, 70).unwrap();
    assert_eq!(cache.messages("c3", None, 100).unwrap().len(), 50);
    assert_eq!(cache.search("burst", 100).unwrap().messages.len(), 50);
}

#[test]
fn search_finds_words_newest_first_and_marks_them() {
    let cache = seeded();
    let found = cache.search("appoint", 10).unwrap();
    let ids: Vec<&str> = found
        .messages
        .iter()
        .map(|h| h.message.id.as_str())
        .collect();
    assert_eq!(ids, vec!["m3", "m1"]);
    assert_eq!(
        found.messages[0].fragments,
        vec![
            Fragment {
                text: "Tuesday ".into(),
                hit: false
            },
            Fragment {
                text: "appointment".into(),
                hit: true
            },
            Fragment {
                text: " please".into(),
                hit: false
            },
        ]
    );
    assert_eq!(
        cache.search("cafe", 10).unwrap().messages.len(),
        1,
        "accents fold"
    );
    assert_eq!(
        cache
            .search("appointment tuesday", 10)
            .unwrap()
            .messages
            .len(),
        1
    );
    let contacts = |q: &str| cache.search(q, 10).unwrap().contacts.len();
    assert_eq!(contacts("lovel"), 1);
    assert_eq!(contacts("4155550101"), 1);
    assert_eq!(contacts("ada@example"), 1);
    assert_eq!(contacts("nobody"), 0);
    assert_eq!(cache.search("\"(*", 10).unwrap(), SearchResults::default());
    assert_eq!(
        cache
            .contact_by_number("+14155550101")
            .unwrap()
            .unwrap()
            .first_name,
        "Ada"
    );
}

#[test]
fn the_outbox_keeps_order_failure_reasons_and_keys() {
    let mut cache = seeded();
    let draft = |body: &str| Draft {
        conversation_id: Some("c1".into()),
        phone_number_id: None,
        to: None,
        body: body.into(),
        template_id: None,
    };
    let a = cache.enqueue(&draft("first"), 10_000).unwrap();
    let b = cache.enqueue(&draft("second"), 10_001).unwrap();
    assert_ne!(a.key, b.key);
    assert_eq!(cache.next_pending().unwrap().unwrap().key, a.key);
    assert_eq!(
        cache
            .inbox(InboxFilter::All, None, 50, 0)
            .unwrap()
            .iter()
            .find(|r| r.conversation.id == "c1")
            .unwrap()
            .pending,
        2
    );
    cache.outbox_attempted(&a.key).unwrap();
    assert_eq!(
        cache.next_pending().unwrap().unwrap().attempts,
        1,
        "still first after a passing failure"
    );
    cache
        .outbox_failed(&a.key, "opted_out", "They opted out.")
        .unwrap();
    assert_eq!(cache.next_pending().unwrap().unwrap().key, b.key);
    let sent: SmsMessage =
        serde_json::from_value(message("m9", "c1", false, "second", 10_500)).unwrap();
    cache.outbox_sent(&b.key, &sent).unwrap();
    assert_eq!(cache.messages("c1", None, 1).unwrap()[0].id, "m9");
    assert!(cache.next_pending().unwrap().is_none());
    let failed = cache.outbox().unwrap();
    assert_eq!(
        (
            failed.len(),
            failed[0].state.as_str(),
            failed[0].error_code.as_deref()
        ),
        (1, "failed", Some("opted_out"))
    );
    assert!(cache.outbox_retry(&a.key).unwrap());
    let retried = cache.next_pending().unwrap().unwrap();
    assert_eq!(
        (retried.key.as_str(), retried.body.as_str()),
        (a.key.as_str(), "first"),
        "the key survives a retry"
    );
    assert!(cache.outbox_delete(&a.key).unwrap());
    assert!(cache.outbox().unwrap().is_empty());
}

#[test]
fn a_wrong_key_another_account_and_a_damaged_file_are_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    let key = CacheKey::generate().unwrap();
    {
        let mut cache = Cache::open(&path, &key, &owner()).unwrap();
        cache.enqueue(&draft_in_c1("keep me"), 1).unwrap();
        cache
            .apply(
                &[change(
                    1,
                    entity::CONVERSATION,
                    "c1",
                    conversation("c1", "+1", 1, "open", None),
                )],
                1,
            )
            .unwrap();
    }
    // The file is encrypted: no plaintext of the message on disk.
    let bytes = std::fs::read(&path).unwrap();
    assert!(!bytes.windows(7).any(|w| w == b"keep me"));
    assert!(!bytes.starts_with(b"SQLite format 3"));
    let err = Cache::open(&path, &CacheKey::generate().unwrap(), &owner()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::CacheUnreadable, "{err}");
    let stranger = Owner {
        user_id: "someone".into(),
        ..owner()
    };
    assert_eq!(
        Cache::open(&path, &key, &stranger).unwrap_err().kind,
        ErrorKind::CacheUnreadable
    );
    // The right key still opens it, and the outbox can be saved from it.
    assert_eq!(salvage_outbox(&path, &key)[0].body, "keep me");
    let cache = Cache::open(&path, &key, &owner()).unwrap();
    cache.check().unwrap();
    drop(cache);
    // Garbage over the file: unreadable, nothing to salvage, no panic.
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let _ = std::fs::remove_file(dir.path().join("cache.db-wal"));
    assert_eq!(
        Cache::open(&path, &key, &owner()).unwrap_err().kind,
        ErrorKind::CacheUnreadable
    );
    assert!(salvage_outbox(&path, &key).is_empty());
    assert_eq!(CacheKey::from_hex(&key.to_hex()), Some(key.clone()));
    assert_eq!(format!("{key:?}"), "CacheKey(..)");
    assert!(CacheKey::from_hex("zz").is_none());
}

#[test]
fn caches_written_with_former_cipher_settings_still_open() {
    let dir = tempfile::tempdir().unwrap();
    let key = CacheKey::generate().unwrap();
    let current = CIPHER_SETTINGS[0];
    for (i, former) in CIPHER_SETTINGS.iter().enumerate().skip(1) {
        let path = dir.path().join(format!("cache{i}.db"));
        {
            // As the app wrote caches before.
            let conn = Connection::open(&path).unwrap();
            unlock(&conn, &key, former).unwrap();
            let mut cache = Cache::init(conn, &owner()).unwrap();
            cache.enqueue(&draft_in_c1("written before"), 1).unwrap();
        }
        let conn = Connection::open(&path).unwrap();
        assert!(
            unlock(&conn, &key, current).is_err(),
            "the settings differ: {former:?}"
        );
        drop(conn);
        assert_eq!(salvage_outbox(&path, &key)[0].body, "written before");
        let cache = Cache::open(&path, &key, &owner()).unwrap();
        assert_eq!(cache.outbox().unwrap()[0].body, "written before");
        cache.check().unwrap();
        drop(cache);
        assert_eq!(
            Cache::open(&path, &CacheKey::generate().unwrap(), &owner())
                .unwrap_err()
                .kind,
            ErrorKind::CacheUnreadable
        );
    }
    // A new cache is written with the current settings, and only those read it.
    let fresh = dir.path().join("fresh.db");
    drop(Cache::open(&fresh, &key, &owner()).unwrap());
    for former in &CIPHER_SETTINGS[1..] {
        let conn = Connection::open(&fresh).unwrap();
        assert!(unlock(&conn, &key, former).is_err(), "{former:?}");
    }
    let conn = Connection::open(&fresh).unwrap();
    unlock(&conn, &key, current).unwrap();
    let page_size: String = conn
        .query_row("PRAGMA cipher_page_size", [], |r| r.get(0))
        .unwrap();
    assert_eq!(page_size, "16384");
}

/// Messages b0..b19 "bulk hello" in conversation c1, 1 ms apart from 1,000, seqs 1..20.
fn bulk_page() -> Vec<Change> {
    (0..20)
        .map(|i| {
            change(
                i + 1,
                entity::SMS_MESSAGE,
                &format!("b{i}"),
                message(&format!("b{i}"), "c1", true, "bulk hello", 1_000 + i),
            )
        })
        .collect()
}

#[test]
fn a_bulk_sync_builds_the_search_index_once_even_across_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    let key = CacheKey::generate().unwrap();
    let mut cache = Cache::open(&path, &key, &owner()).unwrap();
    assert!(cache.threads_indexed);
    cache.begin_bulk().unwrap();
    // Into an empty cache: the thread index too is built at the end.
    assert!(!cache.threads_indexed && !thread_index_exists(&cache.conn).unwrap());
    let mut page = bulk_page();
    page.push(change(
        21,
        entity::CONVERSATION,
        "c1",
        conversation("c1", "+1", 1_019, "open", None),
    ));
    page.push(change(
        22,
        entity::SMS_MESSAGE,
        "other",
        message("other", "c2", true, "elsewhere", 1_100),
    ));
    cache.apply(&page, 22).unwrap();
    assert!(!cache.search_ready().unwrap());
    // Browsable meanwhile: the conversation's messages (from the newest ones), no counts.
    let shown = cache.messages("c1", None, 5).unwrap();
    let ids: Vec<&str> = shown.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["b19", "b18", "b17", "b16", "b15"]);
    let older = cache.messages("c1", Some("b15"), 50).unwrap();
    assert_eq!(older.len(), 15);
    assert_eq!(
        cache.inbox(InboxFilter::All, None, 50, 0).unwrap()[0].unread,
        0
    );
    assert_eq!(cache.unread_conversations().unwrap(), 0);
    let checkpoint_pages = |cache: &Cache| -> i64 {
        cache
            .conn
            .pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0))
            .unwrap()
    };
    assert_eq!(checkpoint_pages(&cache), BULK_CHECKPOINT_PAGES);
    assert_eq!(
        cache.search("hello", 50).unwrap().messages.len(),
        0,
        "not indexed yet"
    );
    drop(cache);
    // The process dies; on the next start the index is still marked stale.
    let mut cache = Cache::open(&path, &key, &owner()).unwrap();
    assert!(!cache.search_ready().unwrap());
    assert!(!cache.threads_indexed);
    assert_eq!(checkpoint_pages(&cache), BULK_CHECKPOINT_PAGES);
    cache.finish_bulk().unwrap();
    assert!(cache.search_ready().unwrap());
    assert!(cache.threads_indexed && thread_index_exists(&cache.conn).unwrap());
    assert_eq!(checkpoint_pages(&cache), LIVE_CHECKPOINT_PAGES);
    let wal = std::fs::metadata(dir.path().join("cache.db-wal")).unwrap();
    assert_eq!(wal.len(), 0, "the bulk's WAL is checkpointed and truncated");
    assert_eq!(
        cache.inbox(InboxFilter::All, None, 50, 0).unwrap()[0].unread,
        20
    );
    assert_eq!(cache.unread_conversations().unwrap(), 1);
    assert_eq!(cache.messages("c1", None, 50).unwrap().len(), 20);
    assert_eq!(cache.search("hello", 50).unwrap().messages.len(), 20);
    // And from now on each message is indexed as it comes.
    cache
        .apply(
            &[change(
                23,
                entity::SMS_MESSAGE,
                "late",
                message("late", "c1", true, "hello again", 9_000),
            )],
            23,
        )
        .unwrap();
    assert_eq!(cache.search("again", 50).unwrap().messages.len(), 1);
    let gone = Change {
        op: ChangeOp::Delete,
        data: None,
        ..change(24, entity::SMS_MESSAGE, "b0", json!(null))
    };
    cache.apply(&[gone], 24).unwrap();
    assert_eq!(cache.search("hello", 50).unwrap().messages.len(), 20);
    cache.check().unwrap();
    // A catch-up into a filled cache keeps the thread index: browsing stays fast.
    cache.begin_bulk().unwrap();
    assert!(cache.threads_indexed && thread_index_exists(&cache.conn).unwrap());
    cache.finish_bulk().unwrap();
    assert_eq!(cache.messages("c1", None, 50).unwrap().len(), 20);
}

#[test]
fn only_new_inbound_messages_are_arrivals_and_calls_are_found_by_number() {
    let mut cache = seeded();
    let batch = [
        // Known already: not an arrival, even when it changes.
        change(
            20,
            entity::SMS_MESSAGE,
            "m1",
            message("m1", "c1", true, "Can I move my appointment?", 1_000),
        ),
        change(
            21,
            entity::SMS_MESSAGE,
            "m9",
            message("m9", "c3", true, "Running late", 6_000),
        ),
        change(
            22,
            entity::SMS_MESSAGE,
            "m10",
            message("m10", "c3", false, "No problem", 7_000),
        ),
    ];
    let arrivals = cache.apply_noting_arrivals(&batch, 22).unwrap();
    assert_eq!(
        arrivals,
        vec![Arrival {
            message_id: "m9".into(),
            conversation_id: "c3".into(),
            body: "Running late".into(),
            created_at: stamp(6_000),
        }]
    );
    assert!(
        cache.apply_noting_arrivals(&batch, 22).unwrap().is_empty(),
        "applied twice"
    );

    let call = |id: &str, kind: &str, from: &str, to: &str, ms: i64| {
        change(
            30,
            entity::CALL,
            id,
            json!({"id": id, "type": kind, "status": "completed", "from": from, "to": to,
            "contactId": null, "phoneNumberId": "n1", "startTime": stamp(ms), "endTime": null, "duration": 60,
            "recordingUrl": null, "notes": null, "assignedTo": null, "sipCallId": null, "createdBy": "me",
            "createdAt": stamp(ms), "updatedAt": stamp(ms)}),
        )
    };
    cache
        .apply(
            &[
                call("x1", "incoming", "+14155550101", "+14155552671", 1_000),
                call("x2", "outgoing", "+14155552671", "+14155550101", 2_000),
                call("x3", "incoming", "+14155550199", "+14155552671", 3_000),
            ],
            30,
        )
        .unwrap();
    let ids: Vec<String> = cache
        .calls_with("+14155550101", 5)
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, vec!["x2", "x1"]);
    assert_eq!(cache.calls_with("+14155550101", 1).unwrap().len(), 1);
}

#[test]
fn after_a_bulk_build_new_messages_have_a_search_index_of_their_own() {
    let mut cache = Cache::in_memory(&owner()).unwrap();
    cache.begin_bulk().unwrap();
    let page = bulk_page();
    cache.apply(&page, 20).unwrap();
    cache.finish_bulk().unwrap();
    let matches = |cache: &Cache, table: &str, query: &str| -> i64 {
        count(
            cache,
            &format!("SELECT count(*) FROM {table} WHERE {table} MATCH '{query}'"),
        )
    };
    assert_eq!(matches(&cache, "message_fts", "hello"), 20);
    assert_eq!(matches(&cache, "message_fts_live", "hello"), 0);
    // A new message goes to the live index; one older than the bulk (a late
    // arrival) to the bulk's, so that where a message is follows from its rowid.
    let live = |seq: i64, id: &str, body: &str, ms: i64| {
        change(
            seq,
            entity::SMS_MESSAGE,
            id,
            message(id, "c1", true, body, ms),
        )
    };
    cache
        .apply(
            &[
                live(21, "new", "hello again", 9_000),
                live(22, "past", "hello from the past", 500),
            ],
            22,
        )
        .unwrap();
    assert_eq!(matches(&cache, "message_fts_live", "hello"), 1);
    assert_eq!(matches(&cache, "message_fts", "hello"), 21);
    // One list, newest first, across both.
    assert_eq!(found_ids(&cache, "hello", 3), ["new", "b19", "b18"]);
    let all = found_ids(&cache, "hello", 50);
    assert_eq!(all.len(), 22);
    assert_eq!(all.last().map(String::as_str), Some("past"));
    assert_eq!(found_ids(&cache, "again", 50), ["new"]);
    // Edits and deletions reach the index that holds the message.
    cache
        .apply(
            &[
                live(23, "b3", "changed words", 1_003),
                live(24, "new", "moved on", 9_000),
            ],
            24,
        )
        .unwrap();
    assert_eq!(found_ids(&cache, "changed", 50), ["b3"]);
    assert_eq!(found_ids(&cache, "moved", 50), ["new"]);
    assert_eq!(found_ids(&cache, "hello", 50).len(), 20);
    let gone = |seq: i64, id: &str| Change {
        op: ChangeOp::Delete,
        data: None,
        ..change(seq, entity::SMS_MESSAGE, id, json!(null))
    };
    cache.apply(&[gone(25, "b4"), gone(26, "new")], 26).unwrap();
    assert_eq!(found_ids(&cache, "hello", 50).len(), 19);
    assert!(found_ids(&cache, "moved", 50).is_empty());
    // Each index is consistent in itself (not against message_text: each holds part).
    for table in ["message_fts", "message_fts_live"] {
        cache
            .conn
            .execute(
                &format!("INSERT INTO {table} ({table}) VALUES ('integrity-check')"),
                [],
            )
            .unwrap_or_else(|e| panic!("{table}: {e}"));
    }
    // A catch-up bulk indexes everything in the bulk index again.
    cache.begin_bulk().unwrap();
    cache
        .apply(&[live(27, "later", "hello later", 10_000)], 27)
        .unwrap();
    cache.finish_bulk().unwrap();
    assert_eq!(matches(&cache, "message_fts_live", "hello"), 0);
    assert_eq!(found_ids(&cache, "hello", 2), ["later", "b19"]);
}

/// A reply in conversation c1.
fn draft_in_c1(body: &str) -> Draft {
    Draft {
        conversation_id: Some("c1".into()),
        phone_number_id: None,
        to: None,
        body: body.into(),
        template_id: None,
    }
}

/// The ids of the messages a search finds, in its order.
fn found_ids(cache: &Cache, query: &str, limit: usize) -> Vec<String> {
    cache
        .search(query, limit)
        .unwrap()
        .messages
        .into_iter()
        .map(|h| h.message.id)
        .collect()
}

/// The one number a query answers.
fn count(cache: &Cache, sql: &str) -> i64 {
    cache.conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// A cache as an app at migration `applied` left it: its account, what that app created
/// besides its migrations (`former_sql`), then one inbound message "old" in c1.
fn connection_at_migration(applied: usize, former_sql: &str) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    unlock(&conn, &CacheKey([7; 32]), CIPHER_SETTINGS[0]).unwrap();
    for sql in &MIGRATIONS[..applied] {
        conn.execute_batch(sql).unwrap();
    }
    conn.pragma_update(None, "user_version", i64::try_from(applied).unwrap())
        .unwrap();
    conn.execute_batch(former_sql).unwrap();
    let o = owner();
    conn.execute(
        "INSERT INTO account (id, cloud, tenant_id, user_id) VALUES (1, ?1, ?2, ?3)",
        rusqlite::params![o.cloud, o.tenant_id, o.user_id],
    )
    .unwrap();
    let old = message("old", "c1", true, "hello from before", 1_000);
    conn.execute(
        "INSERT INTO message (rowid, id, conversation_id, inbound, data) VALUES (?1, 'old', 'c1', 1, ?2)",
        rusqlite::params![message_rowid(1_000, "old"), old.to_string()],
    )
    .unwrap();
    conn
}

#[test]
fn a_cache_from_before_the_live_search_index_keeps_its_index() {
    // A cache at migration 2, with its messages indexed by the former triggers.
    let conn = connection_at_migration(
        2,
        "CREATE TRIGGER message_fts_insert AFTER INSERT ON message BEGIN
             INSERT INTO message_fts (rowid, body)
             VALUES (new.rowid, json_extract(new.data, '$.message'));
         END;",
    );
    let mut cache = Cache::init(conn, &owner()).unwrap();
    let triggers: Vec<String> = cache
        .conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'message_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        !triggers.iter().any(|t| t.starts_with("message_fts_")),
        "the former triggers are gone: {triggers:?}"
    );
    cache
        .apply(
            &[change(
                1,
                entity::SMS_MESSAGE,
                "new",
                message("new", "c1", true, "hello from after", 2_000),
            )],
            1,
        )
        .unwrap();
    assert_eq!(found_ids(&cache, "hello", 10), ["new", "old"]);
    assert_eq!(
        count(
            &cache,
            "SELECT count(*) FROM message_fts_live WHERE message_fts_live MATCH 'after'"
        ),
        1
    );
}

/// How SQLite plans the inbox's unread count.
fn unread_plan(cache: &Cache) -> String {
    let mut stmt = cache
        .conn
        .prepare(&format!(
            "EXPLAIN QUERY PLAN SELECT {UNREAD_COUNT} FROM conversation c"
        ))
        .unwrap();
    let details: Vec<String> = stmt
        .query_map([owner().user_id], |r| r.get(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    details.join("\n")
}

#[test]
fn unread_counts_are_read_from_the_thread_index_alone() {
    let covering = "USING COVERING INDEX message_thread";
    // A new cache, and one whose thread index was built at the end of a bulk sync.
    let mut cache = Cache::in_memory(&owner()).unwrap();
    assert!(
        unread_plan(&cache).contains(covering),
        "{}",
        unread_plan(&cache)
    );
    cache.begin_bulk().unwrap();
    assert!(!cache.threads_indexed);
    let mut page = bulk_page();
    page.push(change(
        21,
        entity::CONVERSATION,
        "c1",
        conversation("c1", "+14155550100", 2_000, "open", None),
    ));
    cache.apply(&page, 21).unwrap();
    cache.finish_bulk().unwrap();
    assert!(
        unread_plan(&cache).contains(covering),
        "{}",
        unread_plan(&cache)
    );
    assert_eq!(cache.unread_conversations().unwrap(), 1);
    let page = cache.inbox(InboxFilter::All, None, 10, 0).unwrap();
    assert_eq!(page[0].unread, 20);

    // A cache from before (migration 3): its thread index is rebuilt with the direction.
    let cache = Cache::init(connection_at_migration(3, ""), &owner()).unwrap();
    assert!(
        unread_plan(&cache).contains(covering),
        "{}",
        unread_plan(&cache)
    );
    assert_eq!(
        count(
            &cache,
            "SELECT count(*) FROM message INDEXED BY message_thread WHERE conversation_id = 'c1'"
        ),
        1
    );
}
