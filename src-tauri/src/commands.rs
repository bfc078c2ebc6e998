//! One Tauri command per `Api` method; no logic of its own.

use tauri::State;
use upzento_api::campaign_drafts::{
    AnalyticsView, AudienceAddedView, AudienceView, CampaignBasicsForm, CampaignDraftView,
    ExportView, FileImportView, PreviewView, VariantForm, WinnerTestForm,
};
use upzento_api::campaigns::{
    CampaignHoursView, CampaignStatusView, CampaignView, DoNotContactImportView, DoNotContactView,
    SenderView,
};
use upzento_api::dto::UserRole;
use upzento_api::people::{
    InvitationPreviewView, InvitationView, IssuedInvitationView, MyPresenceView, PresenceView,
    SessionView, TeamView,
};
use upzento_api::phone::{
    ActiveCallView, AudioChoice, AudioDevicesView, PhoneView, SipAccountInput,
};
use upzento_api::views::TeamMemberView;
use upzento_api::wrap_up::{TaskView, WrapUpInput, WrapUpOptionsView};
use upzento_api::{
    AccountStatus, AccountView, Api, ApiError, AppEvent, AppInfo, CallFilterView, CallPage,
    CallView, CallerView, ContactView, ConversationView, InboxFilterView, InboxPage, MessageView,
    NoteView, SearchView, SignInRequest, SyncView, TeammateView, TemplateView,
};

#[tauri::command]
#[specta::specta]
async fn phone(api: State<'_, Api>) -> Result<PhoneView, ApiError> {
    Ok(api.phone_start().await)
}

#[tauri::command]
#[specta::specta]
async fn save_sip_account(
    api: State<'_, Api>,
    account: SipAccountInput,
) -> Result<PhoneView, ApiError> {
    api.save_sip_account(account).await
}

#[tauri::command]
#[specta::specta]
async fn delete_sip_account(api: State<'_, Api>, id: String) -> Result<PhoneView, ApiError> {
    api.delete_sip_account(id).await
}

#[tauri::command]
#[specta::specta]
async fn audio_devices(api: State<'_, Api>) -> Result<AudioDevicesView, ApiError> {
    Ok(api.audio_devices().await)
}

#[tauri::command]
#[specta::specta]
async fn set_audio_devices(
    api: State<'_, Api>,
    choice: AudioChoice,
) -> Result<AudioDevicesView, ApiError> {
    api.set_audio_devices(choice).await
}

#[tauri::command]
#[specta::specta]
async fn dial(
    api: State<'_, Api>,
    number: String,
    account_id: Option<String>,
) -> Result<ActiveCallView, ApiError> {
    api.dial(number, account_id).await
}

#[tauri::command]
#[specta::specta]
async fn answer_call(api: State<'_, Api>, id: String) -> Result<(), ApiError> {
    api.answer(id).await
}

#[tauri::command]
#[specta::specta]
async fn decline_call(api: State<'_, Api>, id: String) -> Result<(), ApiError> {
    api.decline(id).await
}

#[tauri::command]
#[specta::specta]
async fn hang_up(api: State<'_, Api>, id: String) -> Result<(), ApiError> {
    api.hangup(id)
}

#[tauri::command]
#[specta::specta]
async fn set_call_muted(api: State<'_, Api>, id: String, muted: bool) -> Result<(), ApiError> {
    api.set_muted(id, muted)
}

#[tauri::command]
#[specta::specta]
async fn set_call_on_hold(api: State<'_, Api>, id: String, hold: bool) -> Result<(), ApiError> {
    api.set_on_hold(id, hold)
}

#[tauri::command]
#[specta::specta]
async fn send_dtmf(api: State<'_, Api>, id: String, keys: String) -> Result<(), ApiError> {
    api.send_dtmf(id, keys)
}

#[tauri::command]
#[specta::specta]
async fn transfer_call(api: State<'_, Api>, id: String, to: String) -> Result<(), ApiError> {
    api.transfer(id, to)
}

/// Attended transfer: connects the far ends of two calls.
#[tauri::command]
#[specta::specta]
async fn transfer_to_call(api: State<'_, Api>, id: String, to: String) -> Result<(), ApiError> {
    api.transfer_to_call(id, to)
}

/// Streams the chosen microphone's level (dBFS, every 100 ms) for `seconds`.
#[tauri::command]
#[specta::specta]
async fn test_microphone(
    api: State<'_, Api>,
    seconds: u32,
    levels: tauri::ipc::Channel<i32>,
) -> Result<(), ApiError> {
    api.test_microphone(seconds, move |db| levels.send(rounded(db)).is_ok())
        .await
}

/// Streams the level of the call's microphone (dBFS, every 100 ms) while it is open.
#[tauri::command]
#[specta::specta]
async fn watch_call_level(
    api: State<'_, Api>,
    levels: tauri::ipc::Channel<i32>,
) -> Result<(), ApiError> {
    let mut ticker = tokio::time::interval(std::time::Duration::from_millis(100));
    loop {
        ticker.tick().await;
        match api.call_input_level() {
            Some(db) if levels.send(rounded(db)).is_ok() => {}
            _ => return Ok(()),
        }
    }
}

#[allow(clippy::cast_possible_truncation)]
fn rounded(db: f32) -> i32 {
    db.round() as i32
}

#[tauri::command]
#[specta::specta]
fn take_pending_dial(api: State<'_, Api>) -> Option<String> {
    api.take_pending_dial()
}

/// Everything the UI hears without asking, as one Tauri event (`app-event-payload`).
#[derive(Debug, Clone, serde::Serialize, specta::Type, tauri_specta::Event)]
pub struct AppEventPayload(pub AppEvent);

#[tauri::command]
#[specta::specta]
fn app_info(api: State<'_, Api>) -> AppInfo {
    api.app_info()
}

#[tauri::command]
#[specta::specta]
async fn account_status(api: State<'_, Api>) -> Result<AccountStatus, ApiError> {
    api.account_status().await
}

#[tauri::command]
#[specta::specta]
async fn sign_in(api: State<'_, Api>, request: SignInRequest) -> Result<AccountView, ApiError> {
    api.sign_in(request).await
}

#[tauri::command]
#[specta::specta]
async fn sign_out(api: State<'_, Api>) -> Result<(), ApiError> {
    api.sign_out().await
}

#[tauri::command]
#[specta::specta]
async fn mark_done(api: State<'_, Api>, id: String) -> Result<(), ApiError> {
    api.mark_done(id).await
}

#[tauri::command]
#[specta::specta]
async fn set_conversation_open(
    api: State<'_, Api>,
    id: String,
    open: bool,
) -> Result<(), ApiError> {
    api.set_conversation_status(id, open).await
}

#[tauri::command]
#[specta::specta]
async fn teammates(api: State<'_, Api>) -> Result<Vec<TeammateView>, ApiError> {
    api.teammates().await
}

/// A call's notes (blank clears them).
#[tauri::command]
#[specta::specta]
async fn set_call_notes(api: State<'_, Api>, id: String, notes: String) -> Result<(), ApiError> {
    api.set_call_notes(id, notes).await
}

/// A call assigned for follow-up, or to nobody.
#[tauri::command]
#[specta::specta]
async fn assign_call(
    api: State<'_, Api>,
    id: String,
    user_id: Option<String>,
) -> Result<(), ApiError> {
    api.assign_call(id, user_id).await
}

#[tauri::command]
#[specta::specta]
async fn assign_conversation(
    api: State<'_, Api>,
    id: String,
    user_id: Option<String>,
) -> Result<(), ApiError> {
    api.assign_conversation(id, user_id).await
}

/// Text back: the conversation with a number (opened on the cloud when new); its id.
#[tauri::command]
#[specta::specta]
async fn text_number(
    api: State<'_, Api>,
    number: String,
    phone_number_id: Option<String>,
) -> Result<String, ApiError> {
    api.text_number(number, phone_number_id).await
}

/// Who is calling: the screen-pop of a call with `remote`.
#[tauri::command]
#[specta::specta]
async fn caller(api: State<'_, Api>, remote: String) -> Result<CallerView, ApiError> {
    api.caller(remote).await
}

/// A call's notes timeline, oldest first.
#[tauri::command]
#[specta::specta]
async fn call_notes(api: State<'_, Api>, call_id: String) -> Result<Vec<NoteView>, ApiError> {
    api.call_notes(call_id).await
}

/// Adds a note to a call's timeline.
#[tauri::command]
#[specta::specta]
async fn add_call_note(
    api: State<'_, Api>,
    call_id: String,
    text: String,
) -> Result<NoteView, ApiError> {
    api.add_call_note(call_id, text).await
}

/// Adds an internal note to a conversation.
#[tauri::command]
#[specta::specta]
async fn add_conversation_note(
    api: State<'_, Api>,
    id: String,
    text: String,
) -> Result<NoteView, ApiError> {
    api.add_conversation_note(id, text).await
}

/// Snoozes a conversation until a time (ms), or wakes it.
#[tauri::command]
#[specta::specta]
async fn snooze_conversation(
    api: State<'_, Api>,
    id: String,
    until_ms: Option<f64>,
) -> Result<(), ApiError> {
    api.snooze_conversation(id, until_ms).await
}

/// Replaces the signed-in user's password.
#[tauri::command]
#[specta::specta]
async fn change_password(
    api: State<'_, Api>,
    current: String,
    replacement: String,
) -> Result<AccountView, ApiError> {
    api.change_password(current, replacement).await
}

/// Everyone of the tenant (Settings › Team).
#[tauri::command]
#[specta::specta]
async fn team(api: State<'_, Api>) -> Result<Vec<TeamMemberView>, ApiError> {
    api.team().await
}

/// Changes a user's role or whether they are active (admins).
#[tauri::command]
#[specta::specta]
async fn update_user(
    api: State<'_, Api>,
    id: String,
    role: Option<UserRole>,
    active: Option<bool>,
    reassign_to: Option<String>,
) -> Result<(), ApiError> {
    api.update_user(id, role, active, reassign_to).await
}

/// The tenant's invitations, newest first (admins).
#[tauri::command]
#[specta::specta]
async fn invitations(api: State<'_, Api>) -> Result<Vec<InvitationView>, ApiError> {
    api.invitations().await
}

/// Invites someone by email with a role; the code is shown once.
#[tauri::command]
#[specta::specta]
async fn invite(
    api: State<'_, Api>,
    email: String,
    role: UserRole,
) -> Result<IssuedInvitationView, ApiError> {
    api.invite(email, role).await
}

#[tauri::command]
#[specta::specta]
async fn resend_invitation(
    api: State<'_, Api>,
    id: String,
) -> Result<IssuedInvitationView, ApiError> {
    api.resend_invitation(id).await
}

#[tauri::command]
#[specta::specta]
async fn revoke_invitation(api: State<'_, Api>, id: String) -> Result<(), ApiError> {
    api.revoke_invitation(id).await
}

/// What an invitation code is for, before joining.
#[tauri::command]
#[specta::specta]
async fn lookup_invitation(
    api: State<'_, Api>,
    cloud_url: String,
    code: String,
) -> Result<InvitationPreviewView, ApiError> {
    api.lookup_invitation(cloud_url, code).await
}

/// The user's signed-in sessions.
#[tauri::command]
#[specta::specta]
async fn sessions(api: State<'_, Api>) -> Result<Vec<SessionView>, ApiError> {
    api.sessions().await
}

#[tauri::command]
#[specta::specta]
async fn end_session(api: State<'_, Api>, id: String) -> Result<(), ApiError> {
    api.end_session(id).await
}

/// Signs a user out on every device (admins).
#[tauri::command]
#[specta::specta]
async fn sign_out_everywhere(api: State<'_, Api>, user_id: String) -> Result<(), ApiError> {
    api.sign_out_everywhere(user_id).await
}

/// The tenant's teams (from the cache).
#[tauri::command]
#[specta::specta]
async fn teams(api: State<'_, Api>) -> Result<Vec<TeamView>, ApiError> {
    api.teams().await
}

#[tauri::command]
#[specta::specta]
async fn create_team(
    api: State<'_, Api>,
    name: String,
    member_ids: Vec<String>,
) -> Result<TeamView, ApiError> {
    api.create_team(name, member_ids).await
}

#[tauri::command]
#[specta::specta]
async fn update_team(
    api: State<'_, Api>,
    id: String,
    name: Option<String>,
    member_ids: Option<Vec<String>>,
) -> Result<(), ApiError> {
    api.update_team(id, name, member_ids).await
}

#[tauri::command]
#[specta::specta]
async fn delete_team(api: State<'_, Api>, id: String) -> Result<(), ApiError> {
    api.delete_team(id).await
}

/// Gives a conversation to a team, or to none.
#[tauri::command]
#[specta::specta]
async fn set_conversation_team(
    api: State<'_, Api>,
    id: String,
    team_id: Option<String>,
) -> Result<(), ApiError> {
    api.set_conversation_team(id, team_id).await
}

/// The agent's own presence.
#[tauri::command]
#[specta::specta]
fn my_presence(api: State<'_, Api>) -> MyPresenceView {
    api.my_presence()
}

/// Available, away or do not disturb, as the agent chooses.
#[tauri::command]
#[specta::specta]
async fn set_presence(
    api: State<'_, Api>,
    status: PresenceView,
) -> Result<MyPresenceView, ApiError> {
    api.set_presence(status).await
}

/// Nothing was touched for a while, or something was again.
#[tauri::command]
#[specta::specta]
async fn set_idle(api: State<'_, Api>, idle: bool) -> Result<MyPresenceView, ApiError> {
    api.set_idle(idle).await
}

/// The tenant's dispositions and wrap-up time.
#[tauri::command]
#[specta::specta]
async fn wrap_up_options(api: State<'_, Api>) -> Result<WrapUpOptionsView, ApiError> {
    api.wrap_up_options().await
}

/// Files a finished call's wrap-up.
#[tauri::command]
#[specta::specta]
async fn finish_wrap_up(
    api: State<'_, Api>,
    id: String,
    wrap: WrapUpInput,
) -> Result<(), ApiError> {
    api.finish_wrap_up(id, wrap).await
}

/// Leaves a finished call without a wrap-up.
#[tauri::command]
#[specta::specta]
fn skip_wrap_up(api: State<'_, Api>, id: String) {
    api.skip_wrap_up(&id);
}

/// The signed-in user's follow-ups.
#[tauri::command]
#[specta::specta]
async fn tasks(api: State<'_, Api>) -> Result<Vec<TaskView>, ApiError> {
    api.tasks().await
}

#[tauri::command]
#[specta::specta]
async fn set_task_done(api: State<'_, Api>, id: String, done: bool) -> Result<(), ApiError> {
    api.set_task_done(id, done).await
}

#[tauri::command]
#[specta::specta]
async fn add_disposition(api: State<'_, Api>, name: String) -> Result<(), ApiError> {
    api.add_disposition(name).await
}

#[tauri::command]
#[specta::specta]
async fn update_disposition(
    api: State<'_, Api>,
    id: String,
    name: Option<String>,
    archived: Option<bool>,
) -> Result<(), ApiError> {
    api.update_disposition(id, name, archived).await
}

#[tauri::command]
#[specta::specta]
async fn set_wrap_up_seconds(api: State<'_, Api>, seconds: Option<u32>) -> Result<(), ApiError> {
    api.set_wrap_up_seconds(seconds).await
}

/// "Create contact" from a new caller's screen-pop.
#[tauri::command]
#[specta::specta]
async fn create_contact(
    api: State<'_, Api>,
    name: String,
    number: String,
) -> Result<ContactView, ApiError> {
    api.create_contact(name, number).await
}

/// Closes the quick-reply window (after sending, or Escape).
#[tauri::command]
#[specta::specta]
fn close_quick_reply(app: tauri::AppHandle) {
    crate::quick_reply::close(&app);
}

#[tauri::command]
#[specta::specta]
async fn sync_status(api: State<'_, Api>) -> Result<SyncView, ApiError> {
    Ok(api.sync_status().await)
}

#[tauri::command]
#[specta::specta]
async fn network_changed(api: State<'_, Api>) -> Result<(), ApiError> {
    api.network_changed().await;
    Ok(())
}

#[tauri::command]
#[specta::specta]
async fn inbox(
    api: State<'_, Api>,
    filter: InboxFilterView,
    cursor: Option<String>,
) -> Result<InboxPage, ApiError> {
    api.inbox(filter, cursor).await
}

#[tauri::command]
#[specta::specta]
async fn conversation(api: State<'_, Api>, id: String) -> Result<ConversationView, ApiError> {
    api.conversation(id).await
}

#[tauri::command]
#[specta::specta]
async fn older_messages(
    api: State<'_, Api>,
    id: String,
    before_id: String,
) -> Result<Vec<MessageView>, ApiError> {
    api.older_messages(id, before_id).await
}

#[tauri::command]
#[specta::specta]
async fn send_message(
    api: State<'_, Api>,
    conversation_id: String,
    body: String,
    template_id: Option<String>,
) -> Result<MessageView, ApiError> {
    api.send_message(conversation_id, body, template_id).await
}

#[tauri::command]
#[specta::specta]
async fn templates(
    api: State<'_, Api>,
    conversation_id: String,
) -> Result<Vec<TemplateView>, ApiError> {
    api.templates(conversation_id).await
}

#[tauri::command]
#[specta::specta]
async fn retry_message(api: State<'_, Api>, key: String) -> Result<(), ApiError> {
    api.retry_message(key).await
}

#[tauri::command]
#[specta::specta]
async fn discard_message(api: State<'_, Api>, key: String) -> Result<(), ApiError> {
    api.discard_message(key).await
}

#[tauri::command]
#[specta::specta]
async fn mark_read(api: State<'_, Api>, id: String) -> Result<(), ApiError> {
    api.mark_read(id).await
}

#[tauri::command]
#[specta::specta]
async fn search(api: State<'_, Api>, text: String) -> Result<SearchView, ApiError> {
    api.search(text).await
}

#[tauri::command]
#[specta::specta]
async fn calls(api: State<'_, Api>, filter: CallFilterView) -> Result<CallPage, ApiError> {
    api.calls(filter).await
}

#[tauri::command]
#[specta::specta]
async fn call(api: State<'_, Api>, id: String) -> Result<CallView, ApiError> {
    api.call(id).await
}

/// The UI calls this once its first screen is interactive: start-up time goes to the log
/// (and `cargo xtask bench app` reads it from there).
#[tauri::command]
#[specta::specta]
fn ui_ready() {
    let millis = crate::STARTED.get().map_or(0, |t| t.elapsed().as_millis());
    tracing::info!(
        startup_ms = millis as u64,
        "first screen interactive after {millis} ms"
    );
}

/// The hours of each recipient's day campaigns may text in.
#[tauri::command]
#[specta::specta]
async fn campaign_hours(api: State<'_, Api>) -> Result<CampaignHoursView, ApiError> {
    api.campaign_hours().await
}

/// Narrows the campaign hours within the law's 08:00-21:00 (admins).
#[tauri::command]
#[specta::specta]
async fn set_campaign_hours(
    api: State<'_, Api>,
    start: String,
    end: String,
) -> Result<CampaignHoursView, ApiError> {
    api.set_campaign_hours(start, end).await
}

/// The tenant's numbers that can send SMS.
#[tauri::command]
#[specta::specta]
async fn senders(api: State<'_, Api>) -> Result<Vec<SenderView>, ApiError> {
    api.senders().await
}

/// The tenant's campaigns with their progress, newest first.
#[tauri::command]
#[specta::specta]
async fn campaigns(api: State<'_, Api>) -> Result<Vec<CampaignView>, ApiError> {
    api.campaigns().await
}

/// The tenant's templates as written (placeholders kept), most used first.
#[tauri::command]
#[specta::specta]
async fn template_texts(api: State<'_, Api>) -> Result<Vec<TemplateView>, ApiError> {
    api.template_texts().await
}

/// A draft to carry on with in the campaign wizard.
#[tauri::command]
#[specta::specta]
async fn campaign_draft(api: State<'_, Api>, id: String) -> Result<CampaignDraftView, ApiError> {
    api.campaign_draft(id).await
}

/// The wizard's first step: creates the draft, or saves its name and number.
#[tauri::command]
#[specta::specta]
async fn save_campaign_basics(
    api: State<'_, Api>,
    form: CampaignBasicsForm,
) -> Result<CampaignDraftView, ApiError> {
    api.save_campaign_basics(form).await
}

/// Adds contacts by tag and pasted numbers to a draft.
#[tauri::command]
#[specta::specta]
async fn add_campaign_audience(
    api: State<'_, Api>,
    id: String,
    tags: Vec<String>,
    numbers: String,
) -> Result<AudienceAddedView, ApiError> {
    api.add_campaign_audience(id, tags, numbers).await
}

/// Imports a CSV file (base64) into a draft.
#[tauri::command]
#[specta::specta]
async fn import_campaign_file(
    api: State<'_, Api>,
    id: String,
    file_name: String,
    base64: String,
) -> Result<FileImportView, ApiError> {
    api.import_campaign_file(id, file_name, base64).await
}

/// Who a campaign would text, and who not.
#[tauri::command]
#[specta::specta]
async fn campaign_audience(api: State<'_, Api>, id: String) -> Result<AudienceView, ApiError> {
    api.campaign_audience(id).await
}

/// Saves a draft's text or its A/B variants.
#[tauri::command]
#[specta::specta]
async fn save_campaign_message(
    api: State<'_, Api>,
    id: String,
    message: String,
    variants: Vec<VariantForm>,
    opt_out_footer: bool,
    winner_test: Option<WinnerTestForm>,
) -> Result<CampaignDraftView, ApiError> {
    api.save_campaign_message(id, message, variants, opt_out_footer, winner_test)
        .await
}

/// The texts real recipients would get.
#[tauri::command]
#[specta::specta]
async fn campaign_previews(
    api: State<'_, Api>,
    id: String,
    message: String,
    variants: Vec<VariantForm>,
) -> Result<Vec<PreviewView>, ApiError> {
    api.campaign_previews(id, message, variants).await
}

/// Launches a draft now, or schedules it (`at`, RFC 3339); `local_time` (`HH:MM`): each
/// recipient gets it at that time of their own day.
#[tauri::command]
#[specta::specta]
async fn launch_campaign(
    api: State<'_, Api>,
    id: String,
    at: Option<String>,
    local_time: Option<String>,
) -> Result<CampaignView, ApiError> {
    api.launch_campaign(id, at, local_time).await
}

/// How a campaign did.
#[tauri::command]
#[specta::specta]
async fn campaign_analytics(api: State<'_, Api>, id: String) -> Result<AnalyticsView, ApiError> {
    api.campaign_analytics(id).await
}

/// Saves a campaign's recipients with their outcome as CSV in the Downloads folder.
#[tauri::command]
#[specta::specta]
async fn export_campaign_recipients(
    api: State<'_, Api>,
    id: String,
) -> Result<ExportView, ApiError> {
    api.export_campaign_recipients(id).await
}

/// Starts, pauses, resumes or stops a campaign (admins).
#[tauri::command]
#[specta::specta]
async fn set_campaign_status(
    api: State<'_, Api>,
    id: String,
    status: CampaignStatusView,
) -> Result<CampaignView, ApiError> {
    api.set_campaign_status(id, status).await
}

/// The numbers the tenant must not text.
#[tauri::command]
#[specta::specta]
async fn do_not_contact(
    api: State<'_, Api>,
    query: Option<String>,
) -> Result<Vec<DoNotContactView>, ApiError> {
    api.do_not_contact(query).await
}

#[tauri::command]
#[specta::specta]
async fn add_do_not_contact(
    api: State<'_, Api>,
    number: String,
    reason: Option<String>,
) -> Result<DoNotContactView, ApiError> {
    api.add_do_not_contact(number, reason).await
}

#[tauri::command]
#[specta::specta]
async fn import_do_not_contact(
    api: State<'_, Api>,
    text: String,
    reason: Option<String>,
) -> Result<DoNotContactImportView, ApiError> {
    api.import_do_not_contact(text, reason).await
}

/// Takes a number off the do-not-contact list (admins).
#[tauri::command]
#[specta::specta]
async fn remove_do_not_contact(api: State<'_, Api>, id: String) -> Result<(), ApiError> {
    api.remove_do_not_contact(id).await
}

/// Every command and event of the IPC boundary; the TypeScript bindings are made from this.
pub fn specta_builder() -> tauri_specta::Builder<tauri::Wry> {
    tauri_specta::Builder::<tauri::Wry>::new()
        .commands(tauri_specta::collect_commands![
            app_info,
            account_status,
            sign_in,
            sign_out,
            sync_status,
            network_changed,
            inbox,
            conversation,
            older_messages,
            send_message,
            templates,
            retry_message,
            discard_message,
            mark_read,
            mark_done,
            set_conversation_open,
            teammates,
            set_call_notes,
            assign_call,
            assign_conversation,
            text_number,
            caller,
            create_contact,
            call_notes,
            add_call_note,
            add_conversation_note,
            snooze_conversation,
            change_password,
            team,
            update_user,
            invitations,
            invite,
            resend_invitation,
            revoke_invitation,
            lookup_invitation,
            sessions,
            end_session,
            sign_out_everywhere,
            teams,
            create_team,
            update_team,
            delete_team,
            set_conversation_team,
            my_presence,
            set_presence,
            set_idle,
            wrap_up_options,
            finish_wrap_up,
            skip_wrap_up,
            tasks,
            set_task_done,
            add_disposition,
            update_disposition,
            set_wrap_up_seconds,
            close_quick_reply,
            search,
            senders,
            campaign_hours,
            set_campaign_hours,
            campaigns,
            template_texts,
            campaign_draft,
            save_campaign_basics,
            add_campaign_audience,
            import_campaign_file,
            campaign_audience,
            save_campaign_message,
            campaign_previews,
            launch_campaign,
            campaign_analytics,
            export_campaign_recipients,
            set_campaign_status,
            do_not_contact,
            add_do_not_contact,
            import_do_not_contact,
            remove_do_not_contact,
            calls,
            call,
            ui_ready,
            phone,
            save_sip_account,
            delete_sip_account,
            audio_devices,
            set_audio_devices,
            dial,
            answer_call,
            decline_call,
            hang_up,
            set_call_muted,
            set_call_on_hold,
            send_dtmf,
            transfer_call,
            transfer_to_call,
            take_pending_dial,
            test_microphone,
            watch_call_level,
        ])
        .events(tauri_specta::collect_events![AppEventPayload])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Where the generated bindings are committed.
    const BINDINGS_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ui/src/lib/bindings.ts");

    /// Renders the TypeScript bindings into `path`.
    fn export_bindings(path: &std::path::Path) -> anyhow::Result<()> {
        specta_builder()
            .export(
                specta_typescript::Typescript::default()
                    .header("// Generated from Rust by tauri-specta: `cargo xtask bindings`. Do not edit.\n"),
                path,
            )
            .map_err(|e| anyhow::anyhow!("exporting bindings: {e}"))
    }

    /// Fails when the committed bindings differ from what the Rust code generates.
    /// `UPZENTO_BLESS=1` rewrites them instead.
    #[test]
    fn committed_bindings_are_current() {
        let dir = std::env::temp_dir().join(format!("upzento-bindings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fresh = dir.join("bindings.ts");
        export_bindings(&fresh).unwrap();
        let fresh = std::fs::read_to_string(&fresh).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        if std::env::var_os("UPZENTO_BLESS").is_some() {
            std::fs::write(BINDINGS_PATH, &fresh).unwrap();
            return;
        }
        let committed = std::fs::read_to_string(BINDINGS_PATH).unwrap_or_default();
        assert!(
            committed == fresh,
            "ui/src/lib/bindings.ts is stale: run `cargo xtask bindings` and commit the result"
        );
    }
}
