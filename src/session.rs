//! The per-connection lifecycle, decided at authentication and driven by broker events:
//! live → ending (the plugin decided to disconnect it) → gone (mosquitto closed it; kept until the
//! will check that follows DISCONNECT has run) → dropped. It owns the connection's identity,
//! permissions and one deadline (`exp + leeway`). Pure: the plugin turns due events into kicks and
//! messages on the broker thread; time is always a parameter.
use crate::acl::Granted;
use crate::hashers::HandleKeyed;
use crate::host::ClientKey;
use crate::refusal::Reason;
use crate::token::Token;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

mod index;
#[cfg(test)]
mod tests;

use index::Ident;

/// Kept for every live connection, so kept small (one of these per device on a large broker):
/// subject, issuer, exp and iat are read from the verified token, which the verified-token cache
/// holds anyway; `username` shares the subject's string when they are equal, `client_id` the index's.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub client_id: Arc<str>,
    /// The token in force as verified (without the claims only its compilation read).
    verified: Arc<Token>,
    /// The username the plugin bound the connection to, if any.
    pub username: Option<Arc<str>>,
    pub refreshed: bool,
    /// Compiled at authentication when `options.authorization` is configured.
    pub permissions: Option<Granted>,
    /// What only some sessions hold (a refreshed one, or any with introspection or logouts): None
    /// for the others, which then pay 8 bytes for it instead of 40.
    more: Option<Box<More>>,
    /// `exp + leeway` when expired sessions are kicked (ACL checks deny from then on); infinite
    /// when not.
    deadline: f64,
    phase: Phase,
    generation: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct More {
    /// See [`Session::token`].
    token: Option<Arc<str>>,
    /// See [`Session::sid`].
    sid: Option<Arc<str>>,
    /// When the last in-band refresh was accepted (refreshes are rate-limited).
    last_refresh: Option<f64>,
}

/// Where a connection is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Live,
    /// The plugin decided to end it; the kick is scheduled. Everything is denied.
    Ending(End),
    /// mosquitto closed the connection, or another connection took over its client id. Only the
    /// will check may still come; `will` says whether it may pass (by the session's permissions).
    Gone {
        will: bool,
    },
}

/// Why the plugin ends a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// `exp + leeway` has passed.
    Expired,
    /// An in-band refresh was refused (the refusal's category).
    RefreshRefused(Reason),
    /// The revocation endpoint says the token is not active.
    Revoked,
    /// No usable revocation answer and the policy fails closed.
    Unchecked,
    /// The identity provider ended the user's or the provider session (back-channel logout).
    LoggedOut,
}

impl End {
    /// For the disconnect's log line.
    pub fn describe(self) -> &'static str {
        match self {
            End::Expired => "token expired",
            End::RefreshRefused(_) => "token refresh refused",
            End::Revoked => "token revoked",
            End::Unchecked => "token could not be checked for revocation",
            End::LoggedOut => "logged out by the identity provider",
        }
    }

    /// The invalidity notice's reason (the refusal category the client would see at CONNECT).
    pub fn category(self) -> &'static str {
        match self {
            End::Expired => "expired",
            End::RefreshRefused(r) => r.category(),
            End::Revoked => "token-revoked",
            End::Unchecked => "revocation-unchecked",
            End::LoggedOut => "logged-out",
        }
    }

    /// Whether the kick may publish the client's will (when the operator asks for wills on kicks):
    /// a token that merely expired, or whose replacement was refused, was valid; a revoked one never.
    /// A logout is the user's session ending, not a sign of a stolen token: the device going away is
    /// news its will may announce, as on expiry.
    pub fn allows_will(self) -> bool {
        matches!(self, End::Expired | End::RefreshRefused(_) | End::LoggedOut)
    }
}

impl Session {
    /// `verified` is shared with the verified-token cache: an entry evicted while its session lives
    /// frees nothing, and its claims are one small block ([`crate::token::Claims`]).
    pub fn new(client_id: Arc<str>, verified: Arc<Token>, username: Option<Arc<str>>, token: Option<Arc<str>>) -> Self {
        let mut s = Session {
            client_id,
            verified,
            username,
            refreshed: false,
            permissions: None,
            more: None,
            deadline: f64::INFINITY,
            phase: Phase::Live,
            generation: 0,
        };
        if token.is_some() {
            s.more_mut().token = token;
        }
        s
    }

    fn more_mut(&mut self) -> &mut More {
        self.more.get_or_insert_with(Default::default)
    }

    /// The token currently in force when a reload re-check cannot get it from mosquitto: None when
    /// it is the CONNECT password, which mosquitto passes to the re-check itself; kept after an
    /// in-band refresh, for enhanced authentication, an exchanged credential, or introspection.
    pub fn token(&self) -> Option<&Arc<str>> {
        self.more.as_ref()?.token.as_ref()
    }

    /// The token's `sid` (the identity provider's session) when `options.logout` is configured:
    /// with `iat`, what a back-channel logout matches.
    pub fn sid(&self) -> Option<&Arc<str>> {
        self.more.as_ref()?.sid.as_ref()
    }

    pub fn set_sid(&mut self, sid: Option<Arc<str>>) {
        if sid.is_some() || self.more.is_some() {
            self.more_mut().sid = sid;
        }
    }

    pub fn last_refresh(&self) -> Option<f64> {
        self.more.as_ref()?.last_refresh
    }

    pub fn set_last_refresh(&mut self, at: Option<f64>) {
        if at.is_some() || self.more.is_some() {
            self.more_mut().last_refresh = at;
        }
    }

    pub fn subject(&self) -> Option<&Arc<str>> {
        self.verified.sub.as_ref()
    }

    /// The token's `iss` (picks the discovered revocation endpoint among several issuers).
    pub fn issuer(&self) -> Option<&Arc<str>> {
        self.verified.iss.as_ref()
    }

    pub fn exp(&self) -> Option<f64> {
        self.verified.exp.get()
    }

    pub fn iat(&self) -> Option<f64> {
        self.verified.iat.get()
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn is_live(&self) -> bool {
        self.phase == Phase::Live
    }

    pub fn deadline(&self) -> Option<f64> {
        self.deadline.is_finite().then_some(self.deadline)
    }

    pub fn past_deadline(&self, now: f64) -> bool {
        now >= self.deadline
    }

    /// What an ACL check of this session may use: its permissions, or a denial. `write` is true for
    /// a PUBLISH check (the only kind that can come after DISCONNECT: the will).
    pub fn acl_gate(&self, write: bool, now: f64) -> Gate {
        match self.phase {
            Phase::Live if !self.past_deadline(now) => Gate::Rules,
            Phase::Gone { will: true } if write => Gate::Rules,
            _ => Gate::Deny,
        }
    }
}

/// The outcome of [`Session::acl_gate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Decide by the session's permissions (or defer to the other checks when the plugin has none).
    Rules,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventKind {
    /// The plugin ended the session: send the invalidity notice (the kick follows later).
    Invalid,
    /// The plugin ended the session: disconnect as soon as possible.
    Kick,
    /// Tell the client its token is about to expire (once per token).
    Notice,
    Expiry,
}

impl EventKind {
    /// By discriminant (see [`Scheduled`]).
    const ALL: [EventKind; 4] = [EventKind::Invalid, EventKind::Kick, EventKind::Notice, EventKind::Expiry];
}

/// Something due for one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub kind: EventKind,
    pub client: ClientKey,
    pub client_id: Arc<str>,
}

/// When expiry is enforced: the leeway added to `exp` for the kick and the ACL deadline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Deadlines {
    pub kick: bool,
    pub leeway: f64,
    /// Seconds before `exp` to send the expiry notice.
    pub notice_before: Option<f64>,
}

#[derive(Default)]
pub struct Sessions {
    /// Boxed: a hash table keeps up to twice its length in slots, and a slot is then 16 bytes.
    by_client: HashMap<ClientKey, Box<Session>, HandleKeyed>,
    /// Connected sessions by client id (gone ones are not: their id may already belong to another).
    by_id: HashMap<Arc<str>, ClientKey>,
    /// Entries of replaced or closed sessions are skipped when popped, so nothing is ever removed
    /// from the middle.
    schedule: BinaryHeap<Reverse<Scheduled>>,
    next_generation: u64,
    /// Sessions that are gone, kept for the will check that follows and dropped on the next tick.
    gone: HashMap<ClientKey, Box<Session>, HandleKeyed>,
    /// Connected sessions by what a back-channel logout names: (iss, sub) and (iss, sid); kept only
    /// with `options.logout` (fixed at start-up), so that without it CONNECT and DISCONNECT do not
    /// hash the issuer and subject strings.
    by_identity: HashMap<(Option<Arc<str>>, Ident), Vec<ClientKey>>,
    index_identities: bool,
}

/// (due time in ms since the epoch and kind in one word, client, generation): 24 bytes, one or two
/// per session on a large broker. Ordered by due time, then kind, as the fields were before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Scheduled(u64, ClientKey, u64);

impl Scheduled {
    fn new(due_ms: u64, kind: EventKind, c: ClientKey, generation: u64) -> Reverse<Scheduled> {
        // ms since the epoch need 41 bits until the year 2039 and 44 until 2527.
        Reverse(Scheduled(due_ms.min(u64::MAX >> 2) << 2 | kind as u64, c, generation))
    }

    fn due_ms(&self) -> u64 {
        self.0 >> 2
    }

    fn kind(&self) -> EventKind {
        EventKind::ALL[(self.0 & 3) as usize]
    }
}

fn ms(t: f64) -> u64 {
    (t.max(0.0) * 1000.0) as u64
}

impl Sessions {
    /// `index_identities`: whether back-channel logouts will ask [`Sessions::logged_out`].
    pub fn new(index_identities: bool) -> Self {
        Sessions { index_identities, ..Default::default() }
    }

    /// Connected sessions (live or ending; not the gone ones awaiting their will check).
    pub fn len(&self) -> usize {
        self.by_client.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_client.is_empty() && self.gone.is_empty()
    }

    /// Gone sessions still kept for their will check.
    pub fn gone(&self) -> usize {
        self.gone.len()
    }

    pub fn get(&self, c: ClientKey) -> Option<&Session> {
        self.by_client.get(&c).or_else(|| self.gone.get(&c)).map(|s| &**s)
    }

    /// Forgets the session of `c` at once (its credentials now belong to another plugin).
    pub fn close(&mut self, c: ClientKey) -> Option<Session> {
        self.gone.remove(&c);
        let s = self.take(c)?;
        if self.by_id.get(&s.client_id) == Some(&c) {
            self.by_id.remove(&s.client_id);
        }
        Some(*s)
    }

    /// The connected session (live or ending) that holds `client_id`, if any.
    pub fn holder_of(&self, client_id: &str) -> Option<(ClientKey, &Session)> {
        let c = *self.by_id.get(client_id)?;
        self.by_client.get(&c).map(|s| (c, &**s))
    }

    /// Opens the session of `c`: a new connection, or the replacement of its session after an
    /// accepted refresh or reload re-check (the caller checked that the old one is live). A live
    /// session of another connection with the same client id is being taken over: it becomes gone,
    /// keeping what its will check needs, and is never kicked in the name of the new one.
    pub fn open(&mut self, c: ClientKey, mut s: Session, d: Deadlines, now: f64) {
        // A connection at a reused address (its DISCONNECT missed) must not keep holding the old id.
        self.gone.remove(&c);
        if let Some(prev) = self.take(c) {
            if prev.client_id != s.client_id && self.by_id.get(&prev.client_id) == Some(&c) {
                self.by_id.remove(&prev.client_id);
            }
        }
        if let Some(old) = self.by_id.insert(s.client_id.clone(), c) {
            if let Some(mut o) = (old != c).then(|| self.take(old)).flatten() {
                // mosquitto checks the old connection's will right after this CONNECT is accepted.
                let will = o.is_live() && !o.past_deadline(now);
                o.phase = Phase::Gone { will };
                self.gone.insert(old, o);
            }
        }
        self.next_generation += 1;
        s.generation = self.next_generation;
        s.phase = Phase::Live;
        s.deadline = match s.exp() {
            Some(e) if d.kick => e + d.leeway,
            _ => f64::INFINITY,
        };
        if s.deadline.is_finite() {
            self.schedule.push(Scheduled::new(ms(s.deadline), EventKind::Expiry, c, s.generation));
        }
        if let (Some(exp), Some(before)) = (s.exp(), d.notice_before) {
            self.schedule.push(Scheduled::new(ms(exp - before), EventKind::Notice, c, s.generation));
        }
        self.put(c, s);
        self.compact();
    }

    /// The plugin ends a live session: ACL checks deny from now on, the kick is due at `kick_at`;
    /// with `notify`, the invalidity notice is due at once (so it goes out before the kick).
    /// False when the session is not live (already ending or gone: the first reason stands).
    pub fn end(&mut self, c: ClientKey, why: End, now: f64, kick_at: f64, notify: bool) -> bool {
        let Some(s) = self.by_client.get_mut(&c) else { return false };
        if !s.is_live() {
            return false;
        }
        s.phase = Phase::Ending(why);
        if notify {
            self.schedule.push(Scheduled::new(ms(now), EventKind::Invalid, c, s.generation));
        }
        self.schedule.push(Scheduled::new(ms(kick_at), EventKind::Kick, c, s.generation));
        true
    }

    /// MOSQ_EVT_DISCONNECT (and 2.1's CLIENT_OFFLINE): the connection is closed. The session stays
    /// until the will check that mosquitto runs right after; `with_will` is whether the operator
    /// lets wills of kicked clients through (`kickExpiredClientsWithWill`).
    pub fn disconnected(&mut self, c: ClientKey, with_will: bool, now: f64) {
        let Some(mut s) = self.take(c) else { return };
        let will = match s.phase {
            // Expired but not kicked yet: as if the kick had come first.
            Phase::Live if s.past_deadline(now) => with_will,
            Phase::Live => true,
            Phase::Ending(End::Expired | End::LoggedOut) => with_will,
            // The old token was still valid: its will is as good as on a kick at expiry.
            Phase::Ending(End::RefreshRefused(_)) => with_will && !s.past_deadline(now),
            Phase::Ending(_) => false,
            Phase::Gone { will } => will,
        };
        s.phase = Phase::Gone { will };
        if self.by_id.get(&s.client_id) == Some(&c) {
            self.by_id.remove(&s.client_id);
        }
        self.gone.insert(c, s);
    }

    /// Drops the gone sessions (their will checks have run: mosquitto checks the will right after
    /// DISCONNECT, in the same loop pass). `keep` is the client whose callback is running.
    pub fn drop_gone(&mut self, keep: Option<ClientKey>) -> usize {
        let before = self.gone.len();
        if before == 0 {
            return 0;
        }
        self.gone.retain(|c, _| Some(*c) == keep);
        // A burst of disconnects must not leave every later tick walking its empty slots.
        if self.gone.capacity() > 1024 {
            self.gone.shrink_to(64);
        }
        before - self.gone.len()
    }

    /// Pops at most `limit` events due at `now`. Events for `busy` (the client whose callback is
    /// running, which must not be kicked from inside it) stay scheduled.
    pub fn due(&mut self, now: f64, limit: usize, busy: Option<ClientKey>) -> Vec<Due> {
        let now_ms = ms(now);
        let mut out = Vec::new();
        let mut kept = Vec::new();
        while out.len() < limit {
            match self.schedule.peek() {
                Some(Reverse(e)) if e.due_ms() <= now_ms => {}
                _ => break,
            }
            let Some(Reverse(entry)) = self.schedule.pop() else { break };
            let (kind, c, generation) = (entry.kind(), entry.1, entry.2);
            let Some(s) = self.by_client.get(&c) else { continue };
            // Notices and expiry go to live sessions only; the kick to the one that is ending.
            let wanted = match kind {
                EventKind::Kick | EventKind::Invalid => matches!(s.phase, Phase::Ending(_)),
                EventKind::Notice | EventKind::Expiry => s.is_live(),
            };
            if s.generation != generation || !wanted {
                continue;
            }
            if Some(c) == busy {
                kept.push(Reverse(entry));
                continue;
            }
            out.push(Due { kind, client: c, client_id: s.client_id.clone() });
        }
        self.schedule.extend(kept);
        out
    }

    /// Marks an expired live session as ending, just before its kick.
    pub fn expire(&mut self, c: ClientKey) {
        if let Some(s) = self.by_client.get_mut(&c) {
            if s.is_live() {
                s.phase = Phase::Ending(End::Expired);
            }
        }
    }

    /// When the soonest scheduled event is due (seconds; a stale entry may make it early, never late).
    pub fn next_due(&self) -> Option<f64> {
        self.schedule.peek().map(|Reverse(e)| e.due_ms() as f64 / 1000.0)
    }

    /// Scheduled entries, live or stale (for tests and the memory bound).
    pub fn scheduled(&self) -> usize {
        self.schedule.len()
    }

    /// Drops stale schedule entries once they outnumber live sessions by far, so neither a churn of
    /// short connections nor a flood of refreshes can grow the heap without bound. Amortized O(1)
    /// per entry: it runs after the heap grew by more than three times the live sessions.
    fn compact(&mut self) {
        if self.schedule.len() > 64 + 4 * self.by_client.len() {
            let live = &self.by_client;
            self.schedule.retain(|Reverse(Scheduled(_, c, g))| live.get(c).is_some_and(|s| s.generation == *g));
        }
    }
}
