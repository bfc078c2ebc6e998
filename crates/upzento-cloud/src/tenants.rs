//! Tenants as the cloud's operator makes them: a business and its first admin, the same
//! path for `upzento-cloud tenant create` and the demo.

use time::OffsetDateTime;
use upzento_domain::wire::Role;

use crate::auth::hash_password;
use crate::store::{NewUser, Store, Tenant, User};

/// A tenant to create, with its first admin.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub name: String,
    pub admin_email: String,
    /// Default: the email's local part.
    pub admin_name: Option<String>,
    pub admin_password: String,
    /// The password is an initial one (shown to the operator): the admin replaces it at
    /// first sign-in.
    pub initial_password: bool,
}

/// Creates the tenant and its admin; refuses a blank name, an address that is not one, and
/// an email that already signs in somewhere (an email belongs to one tenant).
pub async fn create(
    store: &dyn Store,
    new: NewTenant,
    now: OffsetDateTime,
) -> anyhow::Result<(Tenant, User)> {
    let name = new.name.trim();
    anyhow::ensure!(!name.is_empty(), "the tenant's name is empty");
    let email = new.admin_email.trim().to_lowercase();
    anyhow::ensure!(
        upzento_domain::wire::is_email(&email),
        "{} is not an email address",
        new.admin_email
    );
    anyhow::ensure!(
        store.user_for_sign_in(&email).await?.is_none(),
        "{email} already signs in to a tenant"
    );
    anyhow::ensure!(
        new.admin_password.chars().count() >= 12,
        "an admin's password has at least 12 characters"
    );
    let admin_name = new
        .admin_name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
    let tenant = store.create_tenant(name, now).await?;
    let admin = store
        .create_user(
            NewUser {
                tenant_id: tenant.id.clone(),
                name: admin_name,
                email,
                role: Role::Admin,
                password_hash: Some(hash_password(&new.admin_password)?),
                password_change_required: new.initial_password,
            },
            now,
        )
        .await?;
    Ok((tenant, admin))
}

/// A password for a new account, shown once: 20 characters from an alphabet without
/// look-alikes (about 115 bits).
pub fn initial_password() -> anyhow::Result<String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRSTUVWXYZ23456789";
    // Bytes at or past the largest multiple of the alphabet's size are drawn again, so
    // that every character is as likely.
    let limit = u8::try_from(256 / ALPHABET.len() * ALPHABET.len()).unwrap_or(u8::MAX);
    let mut out = String::with_capacity(20);
    while out.len() < 20 {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        for b in bytes {
            if b < limit && out.len() < 20 {
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn initial_passwords_are_long_varied_and_unambiguous() {
        let a = super::initial_password().unwrap();
        let b = super::initial_password().unwrap();
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
        assert!(!a.contains(['0', 'O', '1', 'l', 'I']), "{a}");
    }
}
