//! Who may do what: one matrix of role × resource × action, written once. The cloud
//! enforces it on every endpoint (each operation names the permission it needs in the
//! OpenAPI document, as `x-permission`, and one layer checks it before the handler runs);
//! the app reads the same matrix to show only the controls a role may use.
//!
//! What a role may do to *which* records (their own API tokens, later their teams'
//! conversations) is a scope the handlers apply on top; this matrix says whether the role
//! may do the action at all.

use serde::{Deserialize, Serialize};

use crate::wire::Role;

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
    pub const ALL: [Self; 18] = [
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
            R::Template | R::Contact | R::Conversation | R::Call | R::Campaign => {
                matches!(action, Read | Create | Change)
            }
            // A message's status is the carrier's to say; an admin may correct it.
            R::Message => matches!(action, Read | Create),
            R::Task | R::ApiToken | R::Account => true,
            R::Changes => action == Read,
            R::AuditLog | R::Sandbox | R::Invitation => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
