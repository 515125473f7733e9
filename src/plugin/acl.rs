//! MOSQ_EVT_ACL_CHECK: answered from the permissions compiled at authentication. Registered only
//! when `options.authorization` is configured at start-up (without it mosquitto's default applies).
use super::{Broker, ClientRef, Plugin};
use crate::acl::{Access, Decision};

impl Plugin {
    /// Clients without a session of ours (authenticated by another plugin) are left to others.
    #[allow(clippy::too_many_arguments)]
    pub fn acl_check(
        &self,
        broker: &dyn Broker,
        client: ClientRef,
        access: i32,
        topic: &str,
        qos: u8,
        retain: bool,
        now: f64,
    ) -> Decision {
        self.expire_fallback(broker, now, client);
        let Some(access) = Access::from_mosquitto(access) else { return Decision::Deny };
        let sessions = self.sessions.lock();
        let Some(s) = sessions.get(client) else { return Decision::Defer };
        // An expired or revoked session is denied at once, before its kick lands.
        if s.ending || s.deny_from.is_some_and(|t| now >= t) {
            return Decision::Deny;
        }
        if access == Access::Write && self.control_topic.as_deref() == Some(topic) {
            return Decision::Allow;
        }
        match &s.permissions {
            Some(p) => p.check(access, topic, qos, retain),
            None => Decision::Defer,
        }
    }

    /// Whether the ACL callback must be registered (fixed at start-up).
    pub fn authorizes(&self) -> bool {
        self.authorizes
    }
}
