//! Permissions as text, for `mqtt-jwt verify`: what a connection may do, in the order it is decided.
use super::{Decision, Granted, Rule};

fn rule(r: &Rule, g: &Granted) -> String {
    let action = match (r.publish, r.subscribe) {
        (true, true) => "publish+subscribe",
        (true, false) => "publish",
        (false, true) => "subscribe",
        (false, false) => "nothing",
    };
    let mut s = format!(
        "{} {action} {}{}",
        if r.allow { "allow" } else { "deny" },
        if r.exact { "exactly " } else { "" },
        g.filter(r).unwrap_or("(unreadable)")
    );
    if let Some(mask) = r.qos {
        let levels: Vec<String> = (0..3).filter(|q| mask & (1 << q) != 0).map(|q: u8| q.to_string()).collect();
        s.push_str(&format!(" qos {}", levels.join(",")));
    }
    if let Some(retain) = r.retain {
        s.push_str(&format!(" retain {retain}"));
    }
    s
}

impl Granted {
    /// One line per compiled rule, grouped by source, then what happens when nothing matches.
    pub fn describe(&self) -> Vec<String> {
        if self.pass_through() {
            return vec!["every ACL check is deferred to other plugins (defer: true)".into()];
        }
        let mut out = Vec::new();
        for (i, source) in ["rule", "acl claim", "grant"].into_iter().enumerate() {
            out.extend(self.list(i).map(|r| format!("{source}: {}", rule(&r, self))));
        }
        out.push(match self.no_match() {
            Decision::Defer => "anything else: deferred to other plugins (noMatch: defer)".into(),
            _ => "anything else: denied".into(),
        });
        out
    }
}
