//! Live events: the change feed, pushed. A node learns that a tenant has new
//! changes (from its own writes on SQLite, from PostgreSQL's LISTEN/NOTIFY when
//! several nodes share a database) and wakes that tenant's open streams, which
//! then read the change feed from where they are. Events are change-feed entries
//! with their `seq` as the event id, so a client that reconnects with
//! `Last-Event-ID` misses nothing.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

/// Per-tenant wake-up signals.
#[derive(Debug, Default)]
pub struct ChangeHub {
    tenants: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl ChangeHub {
    /// A receiver that changes whenever the tenant may have new changes.
    pub fn subscribe(&self, tenant_id: &str) -> watch::Receiver<u64> {
        let mut tenants = self
            .tenants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tenants
            .entry(tenant_id.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// The tenant has new changes.
    pub fn notify(&self, tenant_id: &str) {
        let mut tenants = self
            .tenants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(sender) = tenants.get(tenant_id) {
            if sender.receiver_count() == 0 {
                // Nobody listens any more: forget the tenant.
                tenants.remove(tenant_id);
            } else {
                sender.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    }

    /// Every tenant may have new changes (after the notification channel was down).
    pub fn notify_all(&self) {
        let tenants = self
            .tenants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for sender in tenants.values() {
            sender.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_of_a_tenant_are_woken_and_others_are_not() {
        let hub = ChangeHub::default();
        let mut a = hub.subscribe("a");
        let b = hub.subscribe("b");
        hub.notify("a");
        assert!(a.has_changed().unwrap());
        assert!(!b.has_changed().unwrap());
        a.borrow_and_update();
        hub.notify_all();
        assert!(a.has_changed().unwrap() && b.has_changed().unwrap());
        hub.notify("nobody");
    }
}
