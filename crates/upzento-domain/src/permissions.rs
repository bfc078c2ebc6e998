//! Who may do what: one matrix of role × resource × action, written once. The cloud
//! enforces it on every endpoint (each operation names the permission it needs in the
//! OpenAPI document, as `x-permission`, and one layer checks it before the handler runs);
//! the app reads the same matrix to show only the controls a role may use.
//!
//! What a role may do to *which* records is the scope on top: [`Viewer::sees`] says whose
//! work (conversations, calls, tasks and what hangs off them) a user sees; this matrix says
//! whether the role may do the action at all.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::resources::{Call, Conversation, Task};
use crate::wire::Role;

/// Whose work a record is: the user it is assigned to and the team it belongs to. Both
/// absent: unassigned work, which everyone sees.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Work {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

impl Work {
    pub fn of_conversation(c: &Conversation) -> Self {
        Self {
            user: c.assigned_to.clone(),
            team: c.team_id.clone(),
        }
    }

    pub fn of_call(c: &Call) -> Self {
        Self {
            user: c.assigned_to.clone(),
            team: None,
        }
    }

    pub fn of_task(t: &Task) -> Self {
        Self {
            user: Some(t.assignee_id.clone()),
            team: None,
        }
    }

    pub fn unassigned(&self) -> bool {
        self.user.is_none() && self.team.is_none()
    }
}

/// Who is looking: what decides which work they see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Viewer {
    pub user_id: String,
    pub role: Role,
    /// The teams the viewer belongs to.
    pub teams: BTreeSet<String>,
    /// A supervisor's: the members of their teams, whose work they oversee.
    pub overseen: BTreeSet<String>,
}

impl Viewer {
    /// Admins see every record of the tenant.
    pub fn sees_everything(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether the viewer sees `work`: admins all of it; everyone what is assigned to them
    /// or to one of their teams, and unassigned work; supervisors also the work of their
    /// teams' people.
    pub fn sees(&self, work: &Work) -> bool {
        self.sees_everything()
            || work.unassigned()
            || work.user.as_deref() == Some(self.user_id.as_str())
            || work.team.as_ref().is_some_and(|t| self.teams.contains(t))
            || (self.role == Role::Supervisor
                && work
                    .user
                    .as_ref()
                    .is_some_and(|u| self.overseen.contains(u)))
    }

    /// Whether the viewer sees a change whose record was, before or after it, each of
    /// `audience` (`None`: a record everyone sees, such as a contact).
    pub fn sees_any(&self, audience: Option<&[Work]>) -> bool {
        self.sees_everything() || audience.is_none_or(|works| works.iter().any(|w| self.sees(w)))
    }
}

/// What an endpoint acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Resource {
    PhoneNumber,
    Template,
    Contact,
    Conversation,
    Message,
    Call,
    Campaign,
    Disposition,
    Task,
    Settings,
    AuditLog,
    /// Sign-in sessions and API tokens (the caller's own, unless an admin).
    ApiToken,
    User,
    /// Invitations of new users (admins'; accepting one needs none).
    Invitation,
    /// Teams and their members.
    Team,
    /// The numbers the tenant must not text.
    DoNotContact,
    /// The sandbox carrier's test inbound.
    Sandbox,
    /// The change feed and its live stream.
    Changes,
    /// The caller's own account (who they are, their password).
    Account,
}

/// What an endpoint does to its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    Read,
    Create,
    Change,
    Delete,
}

impl Resource {
    pub const ALL: [Self; 19] = [
        Self::PhoneNumber,
        Self::Template,
        Self::Contact,
        Self::Conversation,
        Self::Message,
        Self::Call,
        Self::Campaign,
        Self::Disposition,
        Self::Task,
        Self::Settings,
        Self::AuditLog,
        Self::ApiToken,
        Self::User,
        Self::Invitation,
        Self::Team,
        Self::DoNotContact,
        Self::Sandbox,
        Self::Changes,
        Self::Account,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PhoneNumber => "phoneNumber",
            Self::Template => "template",
            Self::Contact => "contact",
            Self::Conversation => "conversation",
            Self::Message => "message",
            Self::Call => "call",
            Self::Campaign => "campaign",
            Self::Disposition => "disposition",
            Self::Task => "task",
            Self::Settings => "settings",
            Self::AuditLog => "auditLog",
            Self::ApiToken => "apiToken",
            Self::User => "user",
            Self::Invitation => "invitation",
            Self::Team => "team",
            Self::DoNotContact => "doNotContact",
            Self::Sandbox => "sandbox",
            Self::Changes => "changes",
            Self::Account => "account",
        }
    }

    /// What people call it, in a refusal ("Agents may not delete templates.").
    fn plural(self) -> &'static str {
        match self {
            Self::PhoneNumber => "phone numbers",
            Self::Template => "templates",
            Self::Contact => "contacts",
            Self::Conversation => "conversations",
            Self::Message => "messages",
            Self::Call => "calls",
            Self::Campaign => "campaigns",
            Self::Disposition => "dispositions",
            Self::Task => "tasks",
            Self::Settings => "the settings",
            Self::AuditLog => "the audit log",
            Self::ApiToken => "API tokens",
            Self::User => "users",
            Self::Invitation => "invitations",
            Self::Team => "teams",
            Self::DoNotContact => "the do-not-contact list",
            Self::Sandbox => "sandbox messages",
            Self::Changes => "the change feed",
            Self::Account => "their account",
        }
    }
}

impl Action {
    pub const ALL: [Self; 4] = [Self::Read, Self::Create, Self::Change, Self::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Create => "create",
            Self::Change => "change",
            Self::Delete => "delete",
        }
    }
}

/// A resource and an action, written `resource:action` (as in `x-permission`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Permission {
    pub resource: Resource,
    pub action: Action,
}

impl Permission {
    /// Reads `resource:action`, e.g. `template:delete`.
    pub fn parse(text: &str) -> Option<Self> {
        let (resource, action) = text.split_once(':')?;
        Some(Self {
            resource: Resource::ALL.into_iter().find(|r| r.as_str() == resource)?,
            action: Action::ALL.into_iter().find(|a| a.as_str() == action)?,
        })
    }

    /// Whether `role` may do it.
    pub fn allows(self, role: Role) -> bool {
        may(role, self.resource, self.action)
    }

    /// Why `role` may not do it, for the refusal's message.
    pub fn refusal(self, role: Role) -> String {
        let who = match role {
            Role::Admin => "Admins",
            Role::Supervisor => "Supervisors",
            Role::Agent => "Agents",
        };
        format!(
            "{who} may not {} {}.",
            self.action.as_str(),
            self.resource.plural()
        )
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.resource.as_str(), self.action.as_str())
    }
}

/// The matrix: whether `role` may do `action` to `resource` at all.
pub fn may(role: Role, resource: Resource, action: Action) -> bool {
    use Action::{Change, Create, Read};
    use Resource as R;
    match role {
        Role::Admin => true,
        // An agent's rights, and shaping the team's work: outcomes, templates, oversight.
        Role::Supervisor => match resource {
            R::Disposition | R::Template => true,
            R::AuditLog => action == Read,
            _ => may(Role::Agent, resource, action),
        },
        Role::Agent => match resource {
            // Agents work with what the tenant has; admins shape it.
            R::PhoneNumber | R::Disposition | R::Settings | R::User | R::Team => action == Read,
            // Deleting loses history others rely on.
            R::Template | R::Contact | R::Conversation | R::Call => {
                matches!(action, Read | Create | Change)
            }
            // Admins create and run campaigns (they text the tenant's whole audience);
            // everyone sees them.
            R::Campaign => action == Read,
            // A message's status is the carrier's to say; an admin may correct it.
            R::Message => matches!(action, Read | Create),
            // Anyone who hears "never text me again" adds the number; taking one off the
            // list (texting them again) is an admin's decision.
            R::DoNotContact => matches!(action, Read | Create),
            R::Task | R::ApiToken | R::Account => true,
            R::Changes => action == Read,
            R::AuditLog | R::Sandbox | R::Invitation => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(user: Option<&str>, team: Option<&str>) -> Work {
        Work {
            user: user.map(str::to_owned),
            team: team.map(str::to_owned),
        }
    }

    fn viewer(role: Role, teams: &[&str], overseen: &[&str]) -> Viewer {
        Viewer {
            user_id: "me".into(),
            role,
            teams: teams.iter().map(|t| (*t).to_owned()).collect(),
            overseen: overseen.iter().map(|u| (*u).to_owned()).collect(),
        }
    }

    #[test]
    fn each_role_sees_its_own_its_teams_and_unassigned_work() {
        let agent = viewer(Role::Agent, &["sales"], &[]);
        assert!(agent.sees(&work(None, None)));
        assert!(agent.sees(&work(Some("me"), None)));
        assert!(agent.sees(&work(Some("me"), Some("support"))));
        assert!(agent.sees(&work(None, Some("sales"))));
        assert!(agent.sees(&work(Some("bo"), Some("sales"))));
        assert!(!agent.sees(&work(Some("bo"), None)));
        assert!(!agent.sees(&work(None, Some("support"))));
        assert!(!agent.sees(&work(Some("bo"), Some("support"))));
        // The same teammates, as an agent: a colleague's own work stays theirs.
        let colleague = viewer(Role::Agent, &["sales"], &["bo"]);
        assert!(!colleague.sees(&work(Some("bo"), None)));
        let supervisor = viewer(Role::Supervisor, &["sales"], &["bo"]);
        assert!(supervisor.sees(&work(Some("bo"), None)));
        assert!(supervisor.sees(&work(Some("bo"), Some("support"))));
        assert!(!supervisor.sees(&work(Some("cy"), Some("support"))));
        let admin = viewer(Role::Admin, &[], &[]);
        assert!(admin.sees(&work(Some("cy"), Some("support"))));
        // A change is seen by whoever saw the record before or after it.
        let moved = [work(Some("me"), None), work(Some("bo"), None)];
        assert!(agent.sees_any(Some(&moved)));
        assert!(!agent.sees_any(Some(&moved[1..])));
        assert!(agent.sees_any(None));
        assert!(!agent.sees_any(Some(&[])));
        assert!(admin.sees_any(Some(&[])));
    }

    #[test]
    fn permissions_read_back_as_written() {
        for resource in Resource::ALL {
            for action in Action::ALL {
                let p = Permission { resource, action };
                assert_eq!(Permission::parse(&p.to_string()), Some(p));
            }
        }
        assert_eq!(Permission::parse("template"), None);
        assert_eq!(Permission::parse("template:burn"), None);
        assert_eq!(Permission::parse("cake:read"), None);
    }

    #[test]
    fn admins_may_do_everything_and_agents_what_their_work_needs() {
        for resource in Resource::ALL {
            for action in Action::ALL {
                assert!(may(Role::Admin, resource, action));
            }
        }
        assert!(may(Role::Agent, Resource::Conversation, Action::Change));
        assert!(may(Role::Agent, Resource::Message, Action::Create));
        assert!(!may(Role::Agent, Resource::Message, Action::Change));
        assert!(!may(Role::Agent, Resource::Template, Action::Delete));
        assert!(!may(Role::Agent, Resource::PhoneNumber, Action::Create));
        assert!(!may(Role::Agent, Resource::AuditLog, Action::Read));
        // A supervisor: every right of an agent, and more, never an admin's numbers.
        for resource in Resource::ALL {
            for action in Action::ALL {
                if may(Role::Agent, resource, action) {
                    assert!(may(Role::Supervisor, resource, action));
                }
            }
        }
        assert!(may(Role::Supervisor, Resource::Disposition, Action::Create));
        assert!(may(Role::Supervisor, Resource::AuditLog, Action::Read));
        assert!(!may(
            Role::Supervisor,
            Resource::PhoneNumber,
            Action::Create
        ));
        assert!(!may(Role::Supervisor, Resource::Settings, Action::Change));
        assert_eq!(
            Permission::parse("template:delete")
                .unwrap()
                .refusal(Role::Agent),
            "Agents may not delete templates."
        );
    }
}
