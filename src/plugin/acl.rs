//! MOSQ_EVT_ACL_CHECK: answered from the permissions compiled at authentication. Registered only
//! when `options.authorization` is configured at start-up (without it mosquitto's default applies).
use super::Plugin;
use crate::acl::{Access, Decision};
use crate::host::{Broker, ClientRef};
use crate::session::Gate;

impl Plugin {
    /// Clients without a session of ours (authenticated by another plugin) are left to others.
    #[allow(clippy::too_many_arguments)]
    pub fn acl_check(
        &self,
        broker: &dyn Broker,
        client: ClientRef,
        access: Access,
        topic: &str,
        qos: u8,
        retain: bool,
        now: f64,
    ) -> Decision {
        self.expire_fallback(broker, now, client);
        let sessions = self.sessions.borrow_mut();
        let Some(s) = sessions.get(client.key()) else { return Decision::Defer };
        // Past the deadline, ending (expired, revoked, refused refresh) or gone: denied at once,
        // before any kick lands; a gone session keeps its rules for the will check only.
        if s.acl_gate(access == Access::Write, now) == Gate::Deny {
            return Decision::Deny;
        }
        let control = self.control_topic.as_deref() == Some(topic) || self.logout_topic.as_deref() == Some(topic);
        if access == Access::Write && s.is_live() && control {
            return Decision::Allow;
        }
        match &s.permissions {
            Some(g) => g.check(access, topic, qos, retain),
            None => Decision::Defer,
        }
    }

    /// Whether the ACL callback must be registered (fixed at start-up).
    pub fn authorizes(&self) -> bool {
        self.authorizes
    }
}
