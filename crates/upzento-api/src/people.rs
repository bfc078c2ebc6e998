//! People: invitations (admins send them; an invited person joins from the sign-in
//! screen), the user's sessions, and presence (what the agent chose, what the softphone
//! says, told to the cloud so teammates and routing see it).

use serde::{Deserialize, Serialize};
use upzento_client::cloud::{CloudClient, parse_base_url};
use upzento_domain::resources::{NewTeam, Team, TeamPatch, entity};
use upzento_domain::wire::{
    InvitationInfo, InvitationRequest, InvitationStatus, Presence, PresenceStatus,
};

use crate::session::{not_created, not_updated};
use crate::{Api, ApiError, AppEvent, ErrorCode, UserRole};

/// An availability as the app shows and sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum PresenceView {
    Available,
    Busy,
    Away,
    Dnd,
    Offline,
}

impl From<PresenceStatus> for PresenceView {
    fn from(s: PresenceStatus) -> Self {
        match s {
            PresenceStatus::Available => Self::Available,
            PresenceStatus::Busy => Self::Busy,
            PresenceStatus::Away => Self::Away,
            PresenceStatus::Dnd => Self::Dnd,
            PresenceStatus::Offline => Self::Offline,
        }
    }
}

impl From<PresenceView> for PresenceStatus {
    fn from(s: PresenceView) -> Self {
        match s {
            PresenceView::Available => Self::Available,
            PresenceView::Busy => Self::Busy,
            PresenceView::Away => Self::Away,
            PresenceView::Dnd => Self::Dnd,
            PresenceView::Offline => Self::Offline,
        }
    }
}

/// The signed-in agent's own presence (`AppEvent::Presence`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct MyPresenceView {
    /// What teammates see (busy while on a call; away when idle).
    pub shown: PresenceView,
    /// What the agent chose.
    pub chosen: PresenceView,
    /// Away because nothing was touched for a while (back at the next key or click).
    pub idle: bool,
}

/// What decides the presence told to the cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceState {
    /// Available, away or do-not-disturb, as chosen.
    pub chosen: PresenceStatus,
    pub idle: bool,
    pub on_call: bool,
    /// Last told to the cloud (`None`: not yet, or it must be told again).
    pub told: Option<PresenceStatus>,
}

impl Default for PresenceState {
    fn default() -> Self {
        Self {
            chosen: PresenceStatus::Available,
            idle: false,
            on_call: false,
            told: None,
        }
    }
}

impl PresenceState {
    /// A call makes an agent busy (whatever was chosen); being idle makes an available
    /// agent away (a chosen do-not-disturb stays).
    pub fn shown(&self) -> PresenceStatus {
        if self.on_call {
            PresenceStatus::Busy
        } else if self.idle && self.chosen == PresenceStatus::Available {
            PresenceStatus::Away
        } else {
            self.chosen
        }
    }

    fn view(&self) -> MyPresenceView {
        MyPresenceView {
            shown: self.shown().into(),
            chosen: self.chosen.into(),
            idle: self.idle,
        }
    }
}

/// An invitation as Settings › Team lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct InvitationView {
    pub id: String,
    pub email: String,
    pub role: UserRole,
    /// `pending`, `accepted`, `revoked` or `expired`.
    pub status: String,
    pub created_at: String,
    pub expires_at: String,
}

impl From<InvitationInfo> for InvitationView {
    fn from(i: InvitationInfo) -> Self {
        Self {
            id: i.id,
            email: i.email,
            role: i.role.into(),
            status: match i.status {
                InvitationStatus::Pending => "pending",
                InvitationStatus::Accepted => "accepted",
                InvitationStatus::Revoked => "revoked",
                InvitationStatus::Expired => "expired",
            }
            .to_owned(),
            created_at: i.created_at,
            expires_at: i.expires_at,
        }
    }
}

/// A new or resent invitation with its one-time code, to pass on to the person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct IssuedInvitationView {
    pub invitation: InvitationView,
    pub code: String,
    /// The cloud's address, which the person enters with the code.
    pub cloud_url: String,
    /// The cloud emailed it to the person.
    pub emailed: bool,
    /// Why the cloud could not email it (it tried).
    pub email_problem: Option<String>,
}

impl IssuedInvitationView {
    fn new(issued: upzento_domain::wire::InvitationIssued, client: &CloudClient) -> Self {
        Self {
            invitation: issued.invitation.into(),
            code: issued.code,
            cloud_url: client.base().to_string(),
            emailed: issued.emailed,
            email_problem: issued.email_problem,
        }
    }
}

/// What an invitation code is for, shown before the person chooses a password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct InvitationPreviewView {
    pub email: String,
    pub role: UserRole,
    pub tenant_name: String,
    pub expires_at: String,
}

/// A signed-in session of the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub id: String,
    pub device: String,
    pub created_at: String,
    pub current: bool,
}

/// A team as the app shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct TeamView {
    pub id: String,
    pub name: String,
    pub member_ids: Vec<String>,
    /// The signed-in user is one of its people.
    pub mine: bool,
}

impl Api {
    /// The tenant's teams, by name, from the cache (they come with the feed: offline too).
    pub async fn teams(&self) -> Result<Vec<TeamView>, ApiError> {
        self.read(|cache, me| {
            let mut teams: Vec<Team> = cache.records(entity::TEAM)?;
            teams.sort_by_key(|t| (t.name.to_lowercase(), t.id.clone()));
            Ok(teams
                .into_iter()
                .map(|t| TeamView {
                    mine: t.member_ids.iter().any(|m| m == me),
                    id: t.id,
                    name: t.name,
                    member_ids: t.member_ids,
                })
                .collect())
        })
        .await
    }

    /// A new team with these people (admins); it reaches the list through the feed.
    pub async fn create_team(
        &self,
        name: String,
        member_ids: Vec<String>,
    ) -> Result<TeamView, ApiError> {
        let (client, token) = self.remote().await?;
        let team = client
            .create_team(
                &token,
                &NewTeam {
                    name: name.trim().to_owned(),
                    member_ids,
                },
            )
            .await
            .map_err(not_created)?;
        Ok(TeamView {
            id: team.id,
            name: team.name,
            member_ids: team.member_ids,
            mine: false,
        })
    }

    /// Renames a team or replaces its people (admins).
    pub async fn update_team(
        &self,
        id: String,
        name: Option<String>,
        member_ids: Option<Vec<String>>,
    ) -> Result<(), ApiError> {
        let (client, token) = self.remote().await?;
        client
            .update_team(
                &token,
                &id,
                &TeamPatch {
                    name: name.map(|n| n.trim().to_owned()),
                    member_ids,
                },
            )
            .await
            .map(drop)
            .map_err(not_created)
    }

    /// Deletes a team (admins); its conversations and numbers lose it.
    pub async fn delete_team(&self, id: String) -> Result<(), ApiError> {
        let (client, token) = self.remote().await?;
        client.delete_team(&token, &id).await.map_err(not_created)
    }

    /// Gives a conversation to a team, or to none; whoever it is assigned to stays.
    pub async fn set_conversation_team(
        &self,
        id: String,
        team_id: Option<String>,
    ) -> Result<(), ApiError> {
        let conversation_id = id.clone();
        let assignee = self
            .read(move |cache, _| cache.conversation(&conversation_id))
            .await?
            .and_then(|c| c.assigned_to);
        let (client, token) = self.remote().await?;
        client
            .assign_conversation(&token, &id, assignee, Some(team_id))
            .await
            .map(drop)
            .map_err(not_updated)
    }

    /// Invitations of the tenant, newest first (admins).
    pub async fn invitations(&self) -> Result<Vec<InvitationView>, ApiError> {
        let (client, token) = self.remote().await?;
        let list = client.invitations(&token).await.map_err(not_updated)?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    /// Invites `email` as `role`; the code is shown once, to pass on.
    pub async fn invite(
        &self,
        email: String,
        role: UserRole,
    ) -> Result<IssuedInvitationView, ApiError> {
        let (client, token) = self.remote().await?;
        let issued = client
            .invite(
                &token,
                &InvitationRequest {
                    email: email.trim().to_owned(),
                    role: role.into(),
                },
            )
            .await
            .map_err(not_created)?;
        Ok(IssuedInvitationView::new(issued, &client))
    }

    /// A new code and expiry for an invitation (the old code stops working).
    pub async fn resend_invitation(&self, id: String) -> Result<IssuedInvitationView, ApiError> {
        let (client, token) = self.remote().await?;
        let issued = client
            .resend_invitation(&token, &id)
            .await
            .map_err(not_created)?;
        Ok(IssuedInvitationView::new(issued, &client))
    }

    pub async fn revoke_invitation(&self, id: String) -> Result<(), ApiError> {
        let (client, token) = self.remote().await?;
        client
            .revoke_invitation(&token, &id)
            .await
            .map(drop)
            .map_err(not_created)
    }

    /// What an invitation code is for (before signing in).
    pub async fn lookup_invitation(
        &self,
        cloud_url: String,
        code: String,
    ) -> Result<InvitationPreviewView, ApiError> {
        let client = CloudClient::new(parse_base_url(&cloud_url)?)?;
        let preview = client.lookup_invitation(&code).await?;
        Ok(InvitationPreviewView {
            email: preview.email,
            role: preview.role.into(),
            tenant_name: preview.tenant.name,
            expires_at: preview.expires_at,
        })
    }

    /// The user's signed-in sessions, newest first.
    pub async fn sessions(&self) -> Result<Vec<SessionView>, ApiError> {
        let (client, token) = self.remote().await?;
        let list = client.sessions(&token).await.map_err(not_updated)?;
        Ok(list
            .into_iter()
            .map(|s| SessionView {
                id: s.id,
                device: s.device,
                created_at: s.created_at,
                current: s.current,
            })
            .collect())
    }

    /// Ends one of the user's other sessions.
    pub async fn end_session(&self, id: String) -> Result<(), ApiError> {
        let (client, token) = self.remote().await?;
        client.end_session(&token, &id).await.map_err(not_created)
    }

    /// Signs a user out on every device (admins).
    pub async fn sign_out_everywhere(&self, user_id: String) -> Result<(), ApiError> {
        let (client, token) = self.remote().await?;
        client
            .sign_out_everywhere(&token, &user_id)
            .await
            .map_err(not_created)
    }

    /// Teammates' presence by user id (empty when the cloud cannot be reached).
    pub(crate) async fn presences(&self) -> std::collections::HashMap<String, Presence> {
        let Ok((client, token)) = self.remote().await else {
            return Default::default();
        };
        match client.presence(&token).await {
            Ok(list) => list.into_iter().map(|p| (p.user_id.clone(), p)).collect(),
            Err(e) => {
                tracing::debug!(?e, "presence not fetched");
                Default::default()
            }
        }
    }

    fn presence_state(&self) -> std::sync::MutexGuard<'_, PresenceState> {
        self.presence
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The agent's own presence as the app holds it.
    pub fn my_presence(&self) -> MyPresenceView {
        self.presence_state().view()
    }

    /// The agent chooses available, away or do not disturb (busy and offline are not
    /// theirs to choose).
    pub async fn set_presence(&self, status: PresenceView) -> Result<MyPresenceView, ApiError> {
        let status = PresenceStatus::from(status);
        if !matches!(
            status,
            PresenceStatus::Available | PresenceStatus::Away | PresenceStatus::Dnd
        ) {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                "Choose available, away or do not disturb.",
            ));
        }
        self.presence_state().chosen = status;
        self.tell_presence().await
    }

    /// Nothing was touched for a while (`true`), or something was again.
    pub async fn set_idle(&self, idle: bool) -> Result<MyPresenceView, ApiError> {
        self.presence_state().idle = idle;
        self.tell_presence().await
    }

    /// The softphone has a call going (or no longer).
    pub(crate) fn presence_on_call(&self, on_call: bool) {
        {
            let mut state = self.presence_state();
            if state.on_call == on_call {
                return;
            }
            state.on_call = on_call;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let api = self.clone();
            rt.spawn(async move {
                if let Err(e) = api.tell_presence().await {
                    tracing::debug!(error = %e.message, "presence not told");
                }
            });
        }
    }

    /// The sync reached the cloud: tell it our presence again (it may have lapsed).
    pub(crate) fn presence_reconnected(&self) {
        self.presence_state().told = None;
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let api = self.clone();
            rt.spawn(async move {
                if let Err(e) = api.tell_presence().await {
                    tracing::debug!(error = %e.message, "presence not told");
                }
            });
        }
    }

    /// Tells the cloud what teammates should see, when it changed, and the UI what the
    /// agent's presence is now. Offline, the cloud hears it on reconnection.
    async fn tell_presence(&self) -> Result<MyPresenceView, ApiError> {
        let (shown, view) = {
            let state = self.presence_state();
            (state.shown(), state.view())
        };
        let _ = self.events.send(AppEvent::Presence { me: view });
        let told = self.presence_state().told;
        if told == Some(shown) {
            return Ok(view);
        }
        let Ok((client, token)) = self.remote().await else {
            return Ok(view);
        };
        match client.set_presence(&token, shown).await {
            Ok(_) => {
                let mut state = self.presence_state();
                // A newer change may have been told meanwhile; only ours is recorded.
                if state.shown() == shown {
                    state.told = Some(shown);
                }
            }
            Err(e) => {
                self.presence_state().told = None;
                tracing::debug!(?e, "presence not told; told again on reconnection");
            }
        }
        Ok(view)
    }

    /// Forgets the presence state (sign-out).
    pub(crate) fn reset_presence(&self) {
        *self.presence_state() = PresenceState::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_makes_busy_and_idling_makes_an_available_agent_away() {
        let mut s = PresenceState::default();
        assert_eq!(s.shown(), PresenceStatus::Available);
        s.idle = true;
        assert_eq!(s.shown(), PresenceStatus::Away);
        s.on_call = true;
        assert_eq!(s.shown(), PresenceStatus::Busy);
        s.on_call = false;
        s.chosen = PresenceStatus::Dnd;
        assert_eq!(s.shown(), PresenceStatus::Dnd, "idle keeps do not disturb");
        s.idle = false;
        assert_eq!(s.shown(), PresenceStatus::Dnd);
    }
}
