//! The `Store` conformance suite: what every storage backend must do, written once over
//! `&dyn Store` and run on each backend by `on_both_backends!`. A third backend (say a
//! PostgreSQL-compatible distributed database) is proved by adding its arm to
//! `common::fresh_store` and running this file.
//!
//! The API tests cover the same operations through HTTP; these pin the rules under them:
//! tenant scoping, the change feed and audit log written with the data and only with it,
//! cursor order, exact round trips of text and time, uniqueness, and leases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::{Backend, fresh_store};
use time::OffsetDateTime;
use time::macros::datetime;
use upzento_cloud::clock;
use upzento_cloud::error::AppError;
use upzento_cloud::store::{
    Actor, After, Apply, ContactFilter, Guard, NewMessage, NewUser, Store, entity,
};
use upzento_domain::resources::{
    CampaignStatus, ChangeOp, Contact, Direction, MessageStatus, NumberStatus, PhoneNumber,
    SmsCampaign, SmsMessage, SmsTemplate,
};
use upzento_domain::wire::Role;

on_both_backends!(
    a_tenant_never_reaches_another_tenants_records,
    every_write_records_its_change_and_audit_row,
    a_refused_write_leaves_no_trace,
    pages_follow_creation_order_without_gaps_or_repeats,
    text_and_time_round_trip_exactly,
    a_number_belongs_to_one_tenant,
    a_contacts_numbers_are_written_and_removed_with_it,
    idempotent_creates_store_once,
    a_due_message_is_leased_to_one_worker_at_a_time,
    the_change_feed_pages_by_sequence,
);

/// A tenant with one admin, as the actor of its writes.
async fn tenant(store: &dyn Store, name: &str) -> Actor {
    let now = clock::now();
    let tenant = store.create_tenant(name, now).await.unwrap();
    let user = store
        .create_user(
            NewUser {
                tenant_id: tenant.id.clone(),
                name: format!("{name} admin"),
                email: format!("admin@{}.test", tenant.id),
                role: Role::Admin,
                password_hash: None,
                password_change_required: false,
            },
            now,
        )
        .await
        .unwrap();
    Actor {
        tenant_id: tenant.id,
        user_id: user.id,
    }
}

fn id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn template(name: &str, at: OffsetDateTime) -> SmsTemplate {
    SmsTemplate {
        id: id(),
        name: name.into(),
        message: format!("Hi {{firstName}}, {name}"),
        usage_count: 0,
        created_at: clock::rfc3339(at),
        updated_at: clock::rfc3339(at),
    }
}

fn number(e164: &str) -> PhoneNumber {
    let now = clock::rfc3339(clock::now());
    PhoneNumber {
        id: id(),
        number: e164.into(),
        kind: "local".into(),
        location: None,
        assigned_to: None,
        team_id: None,
        status: NumberStatus::Active,
        call_forwarding: None,
        voicemail: false,
        sms_enabled: true,
        monthly_fee: None,
        purchase_date: None,
        send_per_minute: None,
        created_at: now.clone(),
        updated_at: now,
    }
}

fn contact(first_name: &str, numbers: &[&str]) -> Contact {
    let now = clock::rfc3339(clock::now());
    Contact {
        id: id(),
        first_name: first_name.into(),
        last_name: None,
        phone_numbers: numbers.iter().map(|n| (*n).to_owned()).collect(),
        email: None,
        tags: vec!["vip".into()],
        time_zone: None,
        opted_out: false,
        opted_out_at: None,
        created_at: now.clone(),
        updated_at: now,
    }
}

fn rename(name: &'static str) -> Apply<SmsTemplate> {
    Arc::new(move |t: &SmsTemplate| {
        Ok(SmsTemplate {
            name: name.into(),
            ..t.clone()
        })
    })
}

fn refused() -> AppError {
    AppError::Conflict {
        code: "refused",
        message: "refused by the test".into(),
        field: None,
    }
}

async fn with_store(backend: Backend) -> (Arc<dyn Store>, common::DbGuard) {
    fresh_store(backend).await
}

async fn a_tenant_never_reaches_another_tenants_records(backend: Backend) {
    let (store, _db) = with_store(backend).await;
    let store = store.as_ref();
    let a = tenant(store, "A").await;
    let b = tenant(store, "B").await;
    let now = clock::now();
    let t = store
        .create_template(&a, template("a's", now), now)
        .await
        .unwrap();
    let n = store
        .create_number(&a, number("+14155550100"), now)
        .await
        .unwrap();
    let c = store
        .create_contact(&a, contact("Ada", &["+14155550101"]), now)
        .await
        .unwrap();

    assert_eq!(store.template(&b.tenant_id, &t.id).await.unwrap(), None);
    assert_eq!(store.number(&b.tenant_id, &n.id).await.unwrap(), None);
    assert_eq!(store.contact(&b.tenant_id, &c.id).await.unwrap(), None);
    assert!(
        store
            .list_templates(&b.tenant_id, None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_contacts(&b.tenant_id, &ContactFilter::default(), None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .contact_by_number(&b.tenant_id, "+14155550101")
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .update_template(&b, &t.id, rename("taken"), now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(!store.delete_template(&b, &t.id, now).await.unwrap());
    assert!(!store.delete_number(&b, &n.id, now).await.unwrap());
    assert!(!store.delete_contact(&b, &c.id, now).await.unwrap());

    // A's records are as they were, and B's attempts left nothing in either feed.
    assert_eq!(store.template(&a.tenant_id, &t.id).await.unwrap(), Some(t));
    assert!(store.contact(&a.tenant_id, &c.id).await.unwrap().is_some());
    assert!(
        store
            .changes(&b.tenant_id, 0, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .audit_log(&b.tenant_id, None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.changes(&a.tenant_id, 0, 100).await.unwrap().len(), 3);
}

async fn every_write_records_its_change_and_audit_row(backend: Backend) {
    let (store, _db) = with_store(backend).await;
    let store = store.as_ref();
    let a = tenant(store, "A").await;
    let now = clock::now();
    let created = store
        .create_template(&a, template("first", now), now)
        .await
        .unwrap();
    let updated = store
        .update_template(&a, &created.id, rename("second"), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.name, "second");
    assert!(store.delete_template(&a, &created.id, now).await.unwrap());

    let changes: Vec<_> = store
        .changes(&a.tenant_id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            // Templates are everyone's to see.
            assert_eq!(e.audience, None);
            e.change
        })
        .collect();
    let ops: Vec<_> = changes.iter().map(|c| c.op).collect();
    assert_eq!(ops, [ChangeOp::Upsert, ChangeOp::Upsert, ChangeOp::Delete]);
    assert!(changes.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(
        changes
            .iter()
            .all(|c| c.entity == entity::SMS_TEMPLATE && c.id == created.id)
    );
    assert_eq!(
        changes[0].data.as_ref(),
        Some(&serde_json::to_value(&created).unwrap())
    );
    assert_eq!(
        changes[1].data.as_ref(),
        Some(&serde_json::to_value(&updated).unwrap())
    );
    assert_eq!(changes[2].data, None);
    assert_eq!(
        store.latest_change(&a.tenant_id).await.unwrap(),
        changes[2].seq
    );

    // The audit log, newest first: who did what, with the record before and after.
    let audit = store.audit_log(&a.tenant_id, None, 100).await.unwrap();
    let actions: Vec<_> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["delete", "update", "create"]);
    assert!(audit.iter().all(|e| e.actor_id == a.user_id));
    assert_eq!(audit[2].before, None);
    assert_eq!(audit[1].before, changes[0].data);
    assert_eq!(audit[1].after, changes[1].data);
    assert_eq!(audit[0].before, changes[1].data);
    assert_eq!(audit[0].after, None);
}

async fn a_refused_write_leaves_no_trace(backend: Backend) {
    let (store, _db) = with_store(backend).await;
    let store = store.as_ref();
    let a = tenant(store, "A").await;
    let now = clock::now();
    let t = store
        .create_template(&a, template("kept", now), now)
        .await
        .unwrap();

    let refuse: Apply<SmsTemplate> = Arc::new(|_| Err(refused()));
    let err = store
        .update_template(&a, &t.id, refuse, now)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        AppError::Conflict {
            code: "refused",
            ..
        }
    ));

    let n = store
        .create_number(&a, number("+14155550150"), now)
        .await
        .unwrap();
    let seq = store.latest_change(&a.tenant_id).await.unwrap();
    let campaign = SmsCampaign {
        id: id(),
        name: "Spring".into(),
        message: "Hello".into(),
        status: CampaignStatus::Draft,
        phone_number_id: n.id,
        scheduled_for: None,
        started_at: None,
        completed_at: None,
        tags: Vec::new(),
        variants: Vec::new(),
        opt_out_footer: false,
        winner_test: None,
        winner: None,
        winner_decided_at: None,
        local_send_time: None,
        sender_pool: Vec::new(),
        created_by: a.user_id.clone(),
        stats: None,
        created_at: clock::rfc3339(now),
        updated_at: clock::rfc3339(now),
    };
    let campaign = store.create_campaign(&a, campaign, now).await.unwrap();
    let seq_after_campaign = store.latest_change(&a.tenant_id).await.unwrap();
    assert!(seq_after_campaign > seq);
    let no: Guard<SmsCampaign> = Arc::new(|_| Err(refused()));
    assert!(
        store
            .delete_campaign(&a, &campaign.id, no, now)
            .await
            .is_err()
    );

    assert_eq!(store.template(&a.tenant_id, &t.id).await.unwrap(), Some(t));
    assert!(
        store
            .campaign(&a.tenant_id, &campaign.id)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.latest_change(&a.tenant_id).await.unwrap(),
        seq_after_campaign
    );
    let audit = store.audit_log(&a.tenant_id, None, 100).await.unwrap();
    assert_eq!(
        audit.len(),
        3,
        "only the three creates are audited: {audit:?}"
    );
}

async fn pages_follow_creation_order_without_gaps_or_repeats(backend: Backend) {
    let (store, _db) = with_store(backend).await;
    let store = store.as_ref();
    let a = tenant(store, "A").await;
    let base = datetime!(2026-03-01 12:00 UTC);
    // Several share a creation time: the id breaks the tie.
    let mut expected = Vec::new();
    for i in 0..11_i64 {
        let at = base + time::Duration::milliseconds(i / 3);
        let t = store
            .create_template(&a, template(&format!("t{i}"), at), clock::now())
            .await
            .unwrap();
        expected.push((at, t.id));
    }
    expected.sort();
    let mut seen = Vec::new();
    let mut after: Option<After> = None;
    loop {
        let page = store
            .list_templates(&a.tenant_id, after.as_ref(), 4)
            .await
            .unwrap();
        assert!(page.len() <= 4);
        let Some(last) = page.last() else { break };
        after = Some(After {
            created_at_ms: clock::to_ms(clock::parse_rfc3339(&last.created_at).unwrap()),
            id: last.id.clone(),
        });
        seen.extend(
            page.into_iter()
                .map(|t| (clock::parse_rfc3339(&t.created_at).unwrap(), t.id)),
        );
    }
    assert_eq!(seen, expected);
}

async fn text_and_time_round_trip_exactly(backend: Backend) {
    let (store, _db) = with_store(backend).await;
    let store = store.as_ref();
    let a = tenant(store, "A").await;
    let now = clock::now();
    let names = [
        "O'Brien \"quoted\" \\ back",
        "100% _under_ score",
        "Zoë 東京 🙂 \u{202e}rtl",
        "'); DROP TABLE sms_template; --",
        "  spaced  ",
    ];
    for (name, at) in names.iter().zip([
        datetime!(1970-01-01 00:00:00.001 UTC),
        datetime!(2026-12-07 10:11:12.345 UTC),
        datetime!(2038-01-19 03:14:08 UTC),
        datetime!(9999-12-31 23:59:59.999 UTC),
        datetime!(2000-02-29 00:00 UTC),
    ]) {
        let t = template(name, at);
        store.create_template(&a, t.clone(), now).await.unwrap();
        assert_eq!(store.template(&a.tenant_id, &t.id).await.unwrap(), Some(t));
    }
    // LIKE's wildcards in a search are the characters themselves.
    store
        .create_contact(&a, contact("100% sure", &[]), now)
        .await
        .unwrap();
    store
        .create_contact(&a, contact("1000 sure", &[]), now)
        .await
        .unwrap();
    let found = store
        .list_contacts(
            &a.tenant_id,
            &ContactFilter {
                query: Some("100%".into()),
                tag: None,
            },
            None,
            10,
        )
        .await
        .unwrap();
    let names: Vec<_> = found.iter().map(|c| c.first_name.as_str()).collect();
    assert_eq!(names, ["100% sure"]);
}

async fn a_number_belongs_to_one_tenant(backend: Backend) {
    let (store, _db) = with_store(backend).await;
    let store = store.as_ref();
    let a = tenant(store, "A").await;
    let b = tenant(store, "B").await;
    let now = clock::now();
    store
        .create_number(&a, number("+14155550123"), now)
        .await
        .unwrap();
    let again = store
        .create_number(&a, number("+14155550123"), now)
        .await
        .unwrap_err();
    assert!(
        matches!(
            again,
            AppError::Conflict {
                code: "duplicate_number",
                ..
            }
        ),
        "{again:?}"
    );
    let other = store
        .create_number(&b, number("+14155550123"), now)
        .await
        .unwrap_err();
    assert!(
        matches!(
            other,
            AppError::Conflict {
                code: "number_taken",
                ..
            }
        ),
        "{other:?}"
    );
    assert!(!other.to_string().contains(&a.tenant_id));
    // Neither refusal wrote to a feed.
    assert_eq!(store.changes(&a.tenant_id, 0, 10).await.unwrap().len(), 1);
    assert!(store.changes(&b.tenant_id, 0, 10).await.unwrap().is_empty());
    let routed = store.route_inbound("+14155550123").await.unwrap().unwrap();
    assert_eq!(routed.0, a.tenant_id);
}

async fn a_contacts_numbers_are_written_and_removed_with_it(backend: Backend) {
    let (store, _db) = with_store(backend).await;
    let store = store.as_ref();
    let a = tenant(store, "A").await;
    let now = clock::now();
    let c = store
        .create_contact(&a, contact("Ada", &["+14155550111", "+14155550112"]), now)
        .await
        .unwrap();
    let by = |n: &'static str| store.contact_by_number(&a.tenant_id, n);
    assert_eq!(
        by("+14155550112").await.unwrap().map(|c| c.id),
        Some(c.id.clone())
    );
    let swap: Apply<Contact> = Arc::new(|c| {
        Ok(Contact {
            phone_numbers: vec!["+14155550113".into()],
            ..c.clone()
        })
    });
    let updated = store
        .update_contact(&a, &c.id, swap, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.phone_numbers, ["+14155550113"]);
    assert_eq!(
        store
            .contact(&a.tenant_id, &c.id)
            .await
            .unwrap()
            .unwrap()
            .phone_numbers,
        ["+14155550113"]
    );
    assert_eq!(by("+14155550111").await.unwrap(), None);
    assert!(by("+14155550113").await.unwrap().is_some());
    assert!(store.delete_contact(&a, &c.id, now).await.unwrap());
    assert_eq!(by("+14155550113").await.unwrap(), None);
    // The number is free for a new contact.
    store
        .create_contact(&a, contact("Bea", &["+14155550113"]), now)
        .await
        .unwrap();
}

fn outbound(conversation_id: &str, text: &str, at: OffsetDateTime) -> SmsMessage {
    let segments = upzento_domain::sms::segments(text);
    SmsMessage {
        id: id(),
        conversation_id: conversation_id.into(),
        phone_number_id: None,
        contact_id: None,
        direction: Direction::Outbound,
        message: text.into(),
        status: MessageStatus::Queued,
        error_code: None,
        error_message: None,
        encoding: segments.encoding,
        segments: segments.segments,
        campaign_id: None,
        sent_by: None,
        provider: "sandbox".into(),
        provider_message_id: None,
        created_at: clock::rfc3339(at),
        updated_at: clock::rfc3339(at),
    }
}

async fn idempotent_creates_store_once(backend: Backend) {
    let (store, _db) = with_store(backend).await;
    let store = store.as_ref();
    let a = tenant(store, "A").await;
    let now = clock::now();
    let n = store
        .create_number(&a, number("+14155550130"), now)
        .await
        .unwrap();
    let (conversation, opened) = store
        .open_conversation(&a, &n, "+14155550131", now)
        .await
        .unwrap();
    assert!(opened);
    let (same, opened) = store
        .open_conversation(&a, &n, "+14155550131", now)
        .await
        .unwrap();
    assert!(!opened);
    assert_eq!(same.id, conversation.id);

    let first = NewMessage {
        message: outbound(&conversation.id, "once", now),
        idempotency_key: Some("key-1".into()),
        next_action_at: Some(now),
    };
    let (stored, created) = store.create_message(&a, first, now).await.unwrap();
    assert!(created);
    let retry = NewMessage {
        message: outbound(&conversation.id, "once", now),
        idempotency_key: Some("key-1".into()),
        next_action_at: Some(now),
    };
    let (again, created) = store.create_message(&a, retry, now).await.unwrap();
    assert!(!created);
    assert_eq!(again.id, stored.id);
    let thread = store
        .messages(&a.tenant_id, &conversation.id, None, 10)
        .await
        .unwrap();
    assert_eq!(thread.len(), 1);
}

async fn a_due_message_is_leased_to_one_worker_at_a_time(backend: Backend) {
    let (store, _db) = with_store(backend).await;
    let a = tenant(store.as_ref(), "A").await;
    let now = datetime!(2026-12-07 09:00 UTC);
    let n = store
        .create_number(&a, number("+14155550140"), now)
        .await
        .unwrap();
    let (conversation, _) = store
        .open_conversation(&a, &n, "+14155550141", now)
        .await
        .unwrap();
    let mut queued = HashSet::new();
    for i in 0..24 {
        let message = NewMessage {
            message: outbound(&conversation.id, &format!("m{i}"), now),
            idempotency_key: None,
            next_action_at: Some(now),
        };
        let (m, _) = store.create_message(&a, message, now).await.unwrap();
        queued.insert(m.id);
    }
    // Four workers claim at once, a few at a time, until nothing is left.
    let lease = now + time::Duration::seconds(30);
    let workers = (0..4).map(|w| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store
                    .claim_due_messages(now, lease, &format!("worker-{w}"), 5)
                    .await
                    .unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|d| d.message.id));
            }
        })
    });
    let mut claimed = Vec::new();
    for worker in workers {
        claimed.extend(worker.await.unwrap());
    }
    let unique: HashSet<_> = claimed.iter().cloned().collect();
    assert_eq!(unique.len(), claimed.len(), "a message was claimed twice");
    assert_eq!(unique, queued);

    // While leased, no one else gets them; once the lease runs out, the next claimer does,
    // and only the holder of the claim may begin the send.
    let early = store
        .claim_due_messages(now + time::Duration::seconds(29), lease, "late", 100)
        .await
        .unwrap();
    assert!(early.is_empty());
    let later = now + time::Duration::seconds(31);
    let taken = store
        .claim_due_messages(later, later + time::Duration::seconds(30), "late", 100)
        .await
        .unwrap();
    assert_eq!(taken.len(), queued.len());
    let one = &taken[0].message.id;
    let recheck = later + time::Duration::seconds(40);
    assert!(
        !store
            .begin_send(&a.tenant_id, one, "worker-0", later, recheck)
            .await
            .unwrap()
    );
    assert!(
        store
            .begin_send(&a.tenant_id, one, "late", later, recheck)
            .await
            .unwrap()
    );
}

async fn the_change_feed_pages_by_sequence(backend: Backend) {
    let (store, _db) = with_store(backend).await;
    let store = store.as_ref();
    let a = tenant(store, "A").await;
    let now = clock::now();
    for i in 0..7 {
        store
            .create_template(&a, template(&format!("t{i}"), now), now)
            .await
            .unwrap();
    }
    let all = store.changes(&a.tenant_id, 0, 100).await.unwrap();
    assert_eq!(all.len(), 7);
    let mut since = 0;
    let mut paged = Vec::new();
    loop {
        let page = store.changes(&a.tenant_id, since, 3).await.unwrap();
        let Some(last) = page.last() else { break };
        since = last.change.seq;
        paged.extend(page.into_iter().map(|c| c.change.seq));
    }
    assert_eq!(paged, all.iter().map(|c| c.change.seq).collect::<Vec<_>>());
    assert_eq!(store.latest_change(&a.tenant_id).await.unwrap(), since);
}
