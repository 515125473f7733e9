//! Why a client was refused: a category for logs and metrics, and a detail that never holds a
//! token or a secret.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    NoToken,
    TooLarge,
    Malformed,
    AlgorithmNotAllowed,
    CritHeader,
    NoKeys,
    UnknownKid,
    NoKeyForAlgorithm,
    BadSignature,
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
    Internal,
}

impl Reason {
    pub fn category(self) -> &'static str {
        match self {
            Reason::NoToken => "no-token",
            Reason::TooLarge => "token-too-large",
            Reason::Malformed => "malformed-token",
            Reason::AlgorithmNotAllowed => "algorithm-not-allowed",
            Reason::CritHeader => "unsupported-crit-header",
            Reason::NoKeys => "no-keys-loaded",
            Reason::UnknownKid => "unknown-kid",
            Reason::NoKeyForAlgorithm => "no-key-for-algorithm",
            Reason::BadSignature => "bad-signature",
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
            Reason::Internal => "internal-error",
        }
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
