//! Email the cloud sends (today: invitations), through an SMTP server of the operator's
//! (`--smtp-url`). Without one, nothing is sent and the admin passes the code on.

use std::fmt;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use upzento_domain::wire::Role;

/// One plain-text email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

#[async_trait::async_trait]
pub trait Mailer: Send + Sync + fmt::Debug + 'static {
    /// Hands the email to the server; an error says why not (the caller tells the user).
    async fn send(&self, mail: Mail) -> anyhow::Result<()>;
}

/// Sends through an SMTP server: `smtp://host:port` (STARTTLS when offered),
/// `smtps://user:password@host` (TLS), as lettre reads such URLs.
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl fmt::Debug for Smtp {
    // The URL may hold a password: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Smtp")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Smtp {
    pub fn new(url: &str, from: &str) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("the SMTP URL is not usable: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(10)))
            .build();
        let from = from.parse().map_err(|e| {
            anyhow::anyhow!("the sender address {from:?} is not an email address: {e}")
        })?;
        Ok(Self { transport, from })
    }
}

#[async_trait::async_trait]
impl Mailer for Smtp {
    async fn send(&self, mail: Mail) -> anyhow::Result<()> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(mail.to.parse()?)
            .subject(mail.subject)
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(mail.text)?;
        self.transport.send(message).await?;
        Ok(())
    }
}

/// What an invitation says: who invites, to which tenant, as what, and how to join.
pub fn invitation(
    to: &str,
    inviter: &str,
    tenant: &str,
    role: Role,
    cloud_url: &str,
    code: &str,
    expires: &str,
) -> Mail {
    let role = match role {
        Role::Admin => "an admin",
        Role::Supervisor => "a supervisor",
        Role::Agent => "an agent",
    };
    Mail {
        to: to.to_owned(),
        subject: format!("{inviter} invited you to {tenant} on Upzento Phone"),
        text: format!(
            "{inviter} invited you to join {tenant} on Upzento Phone as {role}.\n\n\
             To join, open Upzento Phone, go to Settings › Account and choose \
             \"An invitation code\". Enter:\n\n\
             Cloud address: {cloud_url}\n\
             Invitation code: {code}\n\n\
             You will choose your name and password there. The code works once, until \
             {expires} (UTC).\n\n\
             If you did not expect this, ignore this email: nothing happens without the code.\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invitation_says_who_where_as_what_and_how() {
        let mail = invitation(
            "nina@acme.test",
            "Dana Admin",
            "Acme",
            Role::Agent,
            "https://cloud.acme.test/",
            "uzi_abc",
            "2026-12-14T10:00:00Z",
        );
        assert_eq!(
            mail.subject,
            "Dana Admin invited you to Acme on Upzento Phone"
        );
        for part in [
            "as an agent",
            "https://cloud.acme.test/",
            "uzi_abc",
            "2026-12-14T10:00:00Z",
        ] {
            assert!(mail.text.contains(part), "{part}: {}", mail.text);
        }
    }

    #[test]
    fn bad_settings_are_refused_with_the_reason() {
        assert!(Smtp::new("ftp://x", "a@b.c").is_err());
        let err = Smtp::new("smtp://127.0.0.1:2525", "not an address").unwrap_err();
        assert!(err.to_string().contains("sender address"), "{err}");
        // Made and dropped outside any runtime: nothing of it runs in the background.
        drop(Smtp::new("smtp://127.0.0.1:2525", "a@b.c").unwrap());
    }
}
