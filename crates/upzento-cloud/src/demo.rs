//! The demo tenant that `serve --demo` creates on first start: an admin, an agent,
//! numbers, contacts, conversations with messages, calls, templates and a drafted
//! campaign, all made
//! through the same store methods as the API, so the change feed holds them too.

use std::sync::Arc;

use time::OffsetDateTime;
use upzento_domain::resources::{
    Call, CallStatus, CallType, CampaignStatus, Contact, Direction, Disposition, MessageStatus,
    NumberStatus, PhoneNumber, SmsCampaign, SmsMessage, SmsTemplate,
};
use upzento_domain::wire::Role;

use crate::auth::hash_password;
use crate::clock;
use crate::store::{Actor, NewMessage, NewRecipient, NewUser, Store};

pub const TENANT: &str = "Demo Dental Clinic";
pub const ADMIN_EMAIL: &str = "admin@demo.upzento.test";
pub const ADMIN_PASSWORD: &str = "demo-admin-password";
pub const AGENT_EMAIL: &str = "agent@demo.upzento.test";
pub const AGENT_PASSWORD: &str = "demo-agent-password";
pub const SUPERVISOR_EMAIL: &str = "supervisor@demo.upzento.test";
pub const SUPERVISOR_PASSWORD: &str = "demo-supervisor-password";

/// Creates the demo tenant with its sample records unless it exists. Returns whether it was created.
pub async fn ensure(store: &dyn Store, now: OffsetDateTime) -> anyhow::Result<bool> {
    let Some((admin, agent_id)) = ensure_accounts(store, now).await? else {
        return Ok(false);
    };
    seed(store, &admin, &agent_id, now).await?;
    Ok(true)
}

/// Creates only the demo tenant and its users (tests bring their own records).
/// Returns the admin as an actor and the agent's id, or `None` when they existed.
pub async fn ensure_accounts(
    store: &dyn Store,
    now: OffsetDateTime,
) -> anyhow::Result<Option<(Actor, String)>> {
    if store.user_for_sign_in(ADMIN_EMAIL).await?.is_some() {
        return Ok(None);
    }
    // The same path as `upzento-cloud tenant create`, then its team.
    let (tenant, admin) = crate::tenants::create(
        store,
        crate::tenants::NewTenant {
            name: TENANT.into(),
            admin_email: ADMIN_EMAIL.into(),
            admin_name: Some("Dana Admin".into()),
            admin_password: ADMIN_PASSWORD.into(),
            initial_password: false,
        },
        now,
    )
    .await?;
    let mut users = vec![admin];
    for (name, email, password, role) in [
        ("Alex Agent", AGENT_EMAIL, AGENT_PASSWORD, Role::Agent),
        (
            "Sam Supervisor",
            SUPERVISOR_EMAIL,
            SUPERVISOR_PASSWORD,
            Role::Supervisor,
        ),
    ] {
        let user = store
            .create_user(
                NewUser {
                    tenant_id: tenant.id.clone(),
                    name: name.into(),
                    email: email.into(),
                    role,
                    password_hash: Some(hash_password(password)?),
                    password_change_required: false,
                },
                now,
            )
            .await?;
        users.push(user);
    }
    let admin = Actor {
        tenant_id: tenant.id.clone(),
        user_id: users[0].id.clone(),
    };
    Ok(Some((admin, users[1].id.clone())))
}

/// A sample conversation: the contact's index and its messages (direction, text, minutes ago).
type Thread<'a> = (usize, &'a [(Direction, &'a str, i64)]);

fn id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Sample records, spread over the last days (times relative to `now`).
async fn seed(
    store: &dyn Store,
    admin: &Actor,
    agent_id: &str,
    now: OffsetDateTime,
) -> anyhow::Result<()> {
    let at = |minutes_ago: i64| clock::rfc3339(now - time::Duration::minutes(minutes_ago));
    let mut numbers = Vec::new();
    for (number, kind, location) in [
        ("+14155552671", "Main", "San Francisco, CA"),
        ("+14155552672", "Support", "San Francisco, CA"),
        ("+12125550143", "Marketing", "New York, NY"),
    ] {
        let created = store
            .create_number(
                admin,
                PhoneNumber {
                    id: id(),
                    number: number.into(),
                    kind: kind.into(),
                    location: Some(location.into()),
                    assigned_to: (kind == "Support").then(|| agent_id.to_owned()),
                    team_id: None,
                    status: NumberStatus::Active,
                    call_forwarding: None,
                    voicemail: kind != "Marketing",
                    sms_enabled: true,
                    monthly_fee: Some("1.15".into()),
                    purchase_date: Some("2026-01-15".into()),
                    send_per_minute: None,
                    created_at: at(60 * 24 * 30),
                    updated_at: at(60 * 24 * 30),
                },
                now,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        numbers.push(created);
    }
    let people = [
        (
            "Maria",
            "Garcia",
            "+14155550101",
            "America/Los_Angeles",
            &["patient", "vip"][..],
        ),
        (
            "James",
            "Chen",
            "+14155550102",
            "America/Los_Angeles",
            &["patient"][..],
        ),
        (
            "Aisha",
            "Okafor",
            "+12125550177",
            "America/New_York",
            &["patient", "new"][..],
        ),
        (
            "Tom",
            "Becker",
            "+14155550104",
            "America/Los_Angeles",
            &["supplier"][..],
        ),
    ];
    let mut contacts = Vec::new();
    for (first, last, number, zone, tags) in people {
        let contact = store
            .create_contact(
                admin,
                Contact {
                    id: id(),
                    first_name: first.into(),
                    last_name: Some(last.into()),
                    phone_numbers: vec![number.into()],
                    email: Some(format!(
                        "{}.{}@example.com",
                        first.to_lowercase(),
                        last.to_lowercase()
                    )),
                    tags: tags.iter().map(|t| (*t).to_owned()).collect(),
                    time_zone: Some(zone.into()),
                    opted_out: false,
                    opted_out_at: None,
                    created_at: at(60 * 24 * 20),
                    updated_at: at(60 * 24 * 20),
                },
                now,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        contacts.push(contact);
    }
    for (template, text) in [
        (
            "Appointment reminder",
            "Hi {{contact.firstName|there}}, a reminder of your appointment with Demo Dental Clinic tomorrow. Reply C to confirm or R to reschedule.",
        ),
        (
            "Thanks for calling",
            "Thanks for calling Demo Dental Clinic! Reply here any time.",
        ),
        (
            "Running late",
            "Sorry, we are running about 15 minutes late today.",
        ),
    ] {
        store
            .create_template(
                admin,
                SmsTemplate {
                    id: id(),
                    name: template.into(),
                    message: text.into(),
                    usage_count: 0,
                    created_at: at(60 * 24 * 10),
                    updated_at: at(60 * 24 * 10),
                },
                now,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    // A drafted campaign to the patients, from the marketing number: never started here.
    if let Some(marketing) = numbers.iter().find(|n| n.kind == "Marketing") {
        let campaign = store
            .create_campaign(
                admin,
                SmsCampaign {
                    id: id(),
                    name: "Flu shots are in".into(),
                    message: "Hi {{contact.firstName|there}}, flu shots are available at Demo Dental Clinic this month. Reply YES to book. Reply STOP to opt out.".into(),
                    status: CampaignStatus::Draft,
                    phone_number_id: marketing.id.clone(),
                    scheduled_for: None,
                    started_at: None,
                    completed_at: None,
                    tags: vec!["seasonal".into()],
                    variants: Vec::new(),
                    opt_out_footer: false,
                    winner_test: None,
                    winner: None,
                    winner_decided_at: None,
                    local_send_time: None,
                    sender_pool: Vec::new(),
                    created_by: admin.user_id.clone(),
                    stats: None,
                    created_at: at(60 * 24 * 2),
                    updated_at: at(60 * 24 * 2),
                },
                now,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let patients = contacts
            .iter()
            .filter(|c| c.tags.iter().any(|t| t == "patient"))
            .map(|c| NewRecipient {
                contact_id: Some(c.id.clone()),
                number: c.phone_numbers[0].clone(),
                ..NewRecipient::default()
            })
            .collect();
        store
            .add_recipients(admin, &campaign.id, Arc::new(|_| Ok(())), patients, now)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let threads: [Thread<'_>; 3] = [
        (
            0,
            &[
                (
                    Direction::Outbound,
                    "Hi Maria, a reminder of your cleaning tomorrow at 10:00. Reply C to confirm.",
                    60 * 26,
                ),
                (Direction::Inbound, "C", 60 * 25),
                (Direction::Inbound, "Can I bring my daughter too?", 42),
            ],
        ),
        (
            1,
            &[
                (
                    Direction::Inbound,
                    "Hello, do you take Delta Dental?",
                    60 * 5,
                ),
                (
                    Direction::Outbound,
                    "Yes we do! Would you like to book a visit?",
                    60 * 4,
                ),
            ],
        ),
        (
            2,
            &[(
                Direction::Inbound,
                "Hi! I'd like to book my first appointment 😊",
                15,
            )],
        ),
    ];
    for (who, messages) in threads {
        let contact = &contacts[who];
        let number = if who == 2 { &numbers[2] } else { &numbers[0] };
        let (conversation, _) = store
            .open_conversation(admin, number, &contact.phone_numbers[0], now)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for (direction, text, minutes_ago) in messages {
            let segments = upzento_domain::sms::segments(text);
            let inbound = *direction == Direction::Inbound;
            store
                .create_message(
                    admin,
                    NewMessage {
                        message: SmsMessage {
                            id: id(),
                            conversation_id: conversation.id.clone(),
                            phone_number_id: Some(number.id.clone()),
                            contact_id: Some(contact.id.clone()),
                            direction: *direction,
                            message: (*text).to_owned(),
                            status: if inbound {
                                MessageStatus::Received
                            } else {
                                MessageStatus::Delivered
                            },
                            error_code: None,
                            error_message: None,
                            encoding: segments.encoding,
                            segments: segments.segments,
                            campaign_id: None,
                            sent_by: (!inbound).then(|| agent_id.to_owned()),
                            provider: crate::carrier::SANDBOX.into(),
                            provider_message_id: Some(format!(
                                "SB{}",
                                uuid::Uuid::now_v7().simple()
                            )),
                            created_at: at(*minutes_ago),
                            updated_at: at(*minutes_ago),
                        },
                        idempotency_key: None,
                        next_action_at: None,
                    },
                    now - time::Duration::minutes(*minutes_ago),
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    let calls = [
        (
            CallType::Incoming,
            CallStatus::Completed,
            &contacts[0],
            60 * 3,
            Some(184),
        ),
        (
            CallType::Incoming,
            CallStatus::Missed,
            &contacts[2],
            35,
            None,
        ),
        (
            CallType::Outgoing,
            CallStatus::Completed,
            &contacts[1],
            60 * 24,
            Some(95),
        ),
        (
            CallType::Incoming,
            CallStatus::Voicemail,
            &contacts[3],
            60 * 30,
            Some(41),
        ),
    ];
    for (kind, status, contact, minutes_ago, duration) in calls {
        let (from, to) = match kind {
            CallType::Incoming => (contact.phone_numbers[0].clone(), numbers[0].number.clone()),
            CallType::Outgoing => (numbers[0].number.clone(), contact.phone_numbers[0].clone()),
        };
        store
            .create_call(
                admin,
                Call {
                    id: id(),
                    phone_number_id: Some(numbers[0].id.clone()),
                    contact_id: None,
                    kind,
                    status,
                    from,
                    to,
                    duration,
                    recording_url: None,
                    notes: None,
                    assigned_to: (status == CallStatus::Missed).then(|| agent_id.to_owned()),
                    start_time: at(minutes_ago),
                    end_time: duration.map(|d| {
                        clock::rfc3339(
                            now - time::Duration::minutes(minutes_ago)
                                + time::Duration::seconds(i64::from(d)),
                        )
                    }),
                    sip_call_id: None,
                    disposition_id: None,
                    tags: Vec::new(),
                    wrapped_up_at: None,
                    wrapped_up_by: None,
                    created_by: admin.user_id.clone(),
                    created_at: at(minutes_ago),
                    updated_at: at(minutes_ago),
                },
                now,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    // What agents file their calls under, as a small support team would start.
    for name in [
        "Resolved",
        "Call back",
        "Sale",
        "Left voicemail",
        "Wrong number",
    ] {
        let disposition = Disposition {
            id: id(),
            name: name.to_owned(),
            position: 0,
            archived: false,
            created_at: at(0),
            updated_at: at(0),
        };
        store
            .create_disposition(admin, disposition, None, now)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(())
}

/// Fills the demo tenant with `messages` SMS spread over `conversations` threads, for
/// load tests and benchmarks. Goes through the store like every write (feed and audit
/// included), from one of the demo numbers; times go back from `now`.
pub async fn seed_volume(
    store: &dyn Store,
    conversations: usize,
    messages: usize,
    now: OffsetDateTime,
    progress: impl Fn(usize),
) -> anyhow::Result<()> {
    ensure(store, now).await?;
    let (admin_user, _) = store
        .user_for_sign_in(ADMIN_EMAIL)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no demo admin"))?;
    let admin = Actor {
        tenant_id: admin_user.tenant_id.clone(),
        user_id: admin_user.id.clone(),
    };
    let number = store
        .list_numbers(
            &admin.tenant_id,
            &crate::store::NumberFilter::default(),
            None,
            1,
        )
        .await?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no demo number"))?;
    const WORDS: &[&str] = &[
        "appointment",
        "tomorrow",
        "thanks",
        "please",
        "confirm",
        "cleaning",
        "invoice",
        "call",
        "morning",
        "afternoon",
        "reschedule",
        "insurance",
        "question",
        "great",
        "sorry",
        "late",
    ];
    let mut threads = Vec::with_capacity(conversations);
    for i in 0..conversations {
        let other = format!("+1212{i:07}");
        let (conversation, _) = store
            .open_conversation(&admin, &number, &other, now)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        threads.push(conversation.id);
    }
    for i in 0..messages {
        let at = now - time::Duration::milliseconds(i64::try_from(messages - i)? * 10);
        let stamp = clock::rfc3339(at);
        let text: Vec<&str> = (0..8)
            .map(|k| WORDS[(i * 7 + k * 13) % WORDS.len()])
            .collect();
        let text = text.join(" ");
        let segments = upzento_domain::sms::segments(&text);
        let inbound = i % 2 == 0;
        store
            .create_message(
                &admin,
                NewMessage {
                    message: SmsMessage {
                        id: id(),
                        conversation_id: threads[i % conversations].clone(),
                        phone_number_id: Some(number.id.clone()),
                        contact_id: None,
                        direction: if inbound {
                            Direction::Inbound
                        } else {
                            Direction::Outbound
                        },
                        message: text,
                        status: if inbound {
                            MessageStatus::Received
                        } else {
                            MessageStatus::Delivered
                        },
                        error_code: None,
                        error_message: None,
                        encoding: segments.encoding,
                        segments: segments.segments,
                        campaign_id: None,
                        sent_by: None,
                        provider: crate::carrier::SANDBOX.into(),
                        provider_message_id: None,
                        created_at: stamp.clone(),
                        updated_at: stamp,
                    },
                    idempotency_key: None,
                    next_action_at: None,
                },
                at,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if i % 10_000 == 0 {
            progress(i);
        }
    }
    Ok(())
}
