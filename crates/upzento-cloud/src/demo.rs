//! The demo tenant that `serve --demo` creates on first start.

use time::OffsetDateTime;
use upzento_domain::wire::Role;

use crate::auth::hash_password;
use crate::store::{NewUser, Store};

pub const TENANT: &str = "Demo Dental Clinic";
pub const ADMIN_EMAIL: &str = "admin@demo.upzento.test";
pub const ADMIN_PASSWORD: &str = "demo-admin-password";
pub const AGENT_EMAIL: &str = "agent@demo.upzento.test";
pub const AGENT_PASSWORD: &str = "demo-agent-password";

/// Creates the demo tenant unless it exists. Returns whether it was created.
pub async fn ensure(store: &dyn Store, now: OffsetDateTime) -> anyhow::Result<bool> {
    if store.user_for_sign_in(ADMIN_EMAIL).await?.is_some() {
        return Ok(false);
    }
    let tenant = store.create_tenant(TENANT, now).await?;
    for (name, email, password, role) in [
        ("Dana Admin", ADMIN_EMAIL, ADMIN_PASSWORD, Role::Admin),
        ("Alex Agent", AGENT_EMAIL, AGENT_PASSWORD, Role::Agent),
    ] {
        store
            .create_user(
                NewUser {
                    tenant_id: tenant.id.clone(),
                    name: name.into(),
                    email: email.into(),
                    role,
                    password_hash: Some(hash_password(password)?),
                },
                now,
            )
            .await?;
    }
    Ok(true)
}
