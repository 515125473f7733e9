//! Why a client was refused: a category for logs and metrics, and a detail that never holds a
//! token or a secret.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    NoToken,
    TooLarge,
    Malformed,
    /// A JWE (five parts): this plugin verifies signed tokens only.
    EncryptedToken,
    AlgorithmNotAllowed,
    CritHeader,
    NoKeys,
    UnknownKid,
    NoKeyForAlgorithm,
    BadSignature,
    /// The signature holds but the payload is not a JSON object with unique member names.
    BadClaimsSet,
    MissingExpiry,
    Expired,
    NotYetValid,
    IssuedInFuture,
    WrongIssuer,
    WrongAudience,
    MissingScope,
    BadClaim,
    BadSubject,
    UsernameMismatch,
    ClientIdMismatch,
    /// The introspection endpoint says the token is not active (revoked).
    Revoked,
    /// The token could not be checked for revocation and the policy fails closed.
    RevocationUnchecked,
    /// An in-band refresh sooner than `options.refresh.minIntervalMs` after the last one.
    RefreshTooSoon,
    /// An in-band refresh on a session that the plugin is already ending.
    SessionEnding,
    /// Credentials exchange: the identity provider refused the username/password.
    CredentialsRefused,
    /// Credentials exchange: the token endpoint could not be reached or answered unusably.
    ExchangeFailed,
    /// The client id is held by a live connection of another identity (clientIdTakeover "sameIdentity").
    ClientIdInUse,
    /// The identity provider logged this identity (or its session) out after the token was issued.
    LoggedOut,
    /// A back-channel logout token that breaks a rule of OIDC Back-Channel Logout §2.6.
    BadLogoutToken,
    /// A back-channel logout token whose `jti` was already used.
    LogoutReplayed,
    Internal,
}

impl Reason {
    pub fn category(self) -> &'static str {
        match self {
            Reason::NoToken => "no-token",
            Reason::TooLarge => "token-too-large",
            Reason::Malformed => "malformed-token",
            Reason::EncryptedToken => "encrypted-token",
            Reason::AlgorithmNotAllowed => "algorithm-not-allowed",
            Reason::CritHeader => "unsupported-crit-header",
            Reason::NoKeys => "no-keys-loaded",
            Reason::UnknownKid => "unknown-kid",
            Reason::NoKeyForAlgorithm => "no-key-for-algorithm",
            Reason::BadSignature => "bad-signature",
            Reason::BadClaimsSet => "bad-claims-set",
            Reason::MissingExpiry => "missing-exp",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not-yet-valid",
            Reason::IssuedInFuture => "issued-in-future",
            Reason::WrongIssuer => "wrong-issuer",
            Reason::WrongAudience => "wrong-audience",
            Reason::MissingScope => "missing-scope",
            Reason::BadClaim => "bad-claim",
            Reason::BadSubject => "bad-subject",
            Reason::UsernameMismatch => "username-mismatch",
            Reason::ClientIdMismatch => "client-id-mismatch",
            Reason::Revoked => "token-revoked",
            Reason::RevocationUnchecked => "revocation-unchecked",
            Reason::RefreshTooSoon => "refresh-too-soon",
            Reason::SessionEnding => "session-ending",
            Reason::CredentialsRefused => "credentials-refused",
            Reason::ExchangeFailed => "exchange-failed",
            Reason::ClientIdInUse => "client-id-in-use",
            Reason::LoggedOut => "logged-out",
            Reason::BadLogoutToken => "bad-logout-token",
            Reason::LogoutReplayed => "logout-replayed",
            Reason::Internal => "internal-error",
        }
    }

    /// Every reason, in a fixed order (metrics keep one counter per reason).
    /// Every reason, in declaration order (a test checks it), for per-reason counters.
    pub const ALL: [Reason; 33] = [
        Reason::NoToken,
        Reason::TooLarge,
        Reason::Malformed,
        Reason::EncryptedToken,
        Reason::AlgorithmNotAllowed,
        Reason::CritHeader,
        Reason::NoKeys,
        Reason::UnknownKid,
        Reason::NoKeyForAlgorithm,
        Reason::BadSignature,
        Reason::BadClaimsSet,
        Reason::MissingExpiry,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::IssuedInFuture,
        Reason::WrongIssuer,
        Reason::WrongAudience,
        Reason::MissingScope,
        Reason::BadClaim,
        Reason::BadSubject,
        Reason::UsernameMismatch,
        Reason::ClientIdMismatch,
        Reason::Revoked,
        Reason::RevocationUnchecked,
        Reason::RefreshTooSoon,
        Reason::SessionEnding,
        Reason::CredentialsRefused,
        Reason::ExchangeFailed,
        Reason::ClientIdInUse,
        Reason::LoggedOut,
        Reason::BadLogoutToken,
        Reason::LogoutReplayed,
        Reason::Internal,
    ];

    /// Position in [`Reason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub reason: Reason,
    pub detail: String,
}

impl Refused {
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Refused { reason, detail: detail.into() }
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.detail.is_empty() {
            write!(f, "{}", self.reason.category())
        } else {
            write!(f, "{} ({})", self.reason.category(), self.detail)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Reason;

    #[test]
    fn all_lists_every_reason_in_order() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r:?}");
        }
        // Internal is declared last: a reason added after it, or missing from ALL, fails here.
        assert_eq!(Reason::ALL.len(), Reason::Internal as usize + 1);
    }
}
