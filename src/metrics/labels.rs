//! The fixed label vocabularies of the metrics: a client can never create a series.

/// The identity-provider endpoints timed by [`super::Metrics::provider_call`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderEndpoint {
    Discovery,
    Jwks,
    Token,
    Userinfo,
    /// A provider-specific API (GitHub REST, Microsoft Graph, Google Directory...).
    Api,
}

impl ProviderEndpoint {
    pub(super) const ALL: [ProviderEndpoint; 5] = [
        Self::Discovery,
        Self::Jwks,
        Self::Token,
        Self::Userinfo,
        Self::Api,
    ];

    /// The `endpoint` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Discovery => "discovery",
            Self::Jwks => "jwks",
            Self::Token => "token",
            Self::Userinfo => "userinfo",
            Self::Api => "api",
        }
    }
}

/// How a login transaction (`/oauth2/callback`) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    /// A session was issued.
    Success,
    /// The state or CSRF cookie did not check out (see the CSRF failure counter).
    InvalidState,
    /// The provider sent the user back with an error (e.g. `access_denied`).
    ProviderDenied,
    /// Redeeming the code or verifying the identity failed.
    ProviderError,
    /// The identity is not allowed by the authorization rules.
    Forbidden,
    /// Anything else (a callback without a code, an internal error).
    Error,
}

impl LoginOutcome {
    pub(super) const ALL: [LoginOutcome; 6] = [
        Self::Success,
        Self::InvalidState,
        Self::ProviderDenied,
        Self::ProviderError,
        Self::Forbidden,
        Self::Error,
    ];

    /// The `outcome` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::InvalidState => "invalid_state",
            Self::ProviderDenied => "provider_denied",
            Self::ProviderError => "provider_error",
            Self::Forbidden => "forbidden",
            Self::Error => "error",
        }
    }
}

/// The `reason` values of `authproxy_csrf_failures_total`.
pub(super) const CSRF_REASONS: [&str; 3] =
    ["invalid_state", "missing_csrf_cookie", "state_mismatch"];

/// Why a call to the identity provider counts as an error (`authproxy_provider_errors_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderFailure {
    /// No usable response: connection refused or reset, TLS failure, timeout, a body cut short
    /// or over the size limit.
    Transport,
    /// The provider answered 5xx or 429 (down, overloaded or rate-limiting). Other 4xx answers
    /// (e.g. `invalid_grant` for a revoked refresh token) are about the request, not the
    /// provider, and are not counted here.
    HttpStatus,
}

impl ProviderFailure {
    pub(super) const ALL: [ProviderFailure; 2] = [Self::Transport, Self::HttpStatus];

    /// The `kind` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transport => "transport",
            Self::HttpStatus => "http_status",
        }
    }

    /// Whether an answer with `status` counts as a provider error.
    pub fn is_error_status(status: u16) -> bool {
        status == 429 || (500..600).contains(&status)
    }
}

/// Why a request could not be served by the upstream app (`authproxy_upstream_errors_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// The TCP or TLS connection could not be established (the app is down or not listening).
    ConnectFailed,
    /// The connection failed after it was established (reset, closed before the response).
    Unavailable,
    /// No response headers within `upstream_timeout`.
    Timeout,
    /// The app answered something that is not a valid HTTP response to the request.
    BadResponse,
}

impl UpstreamFailure {
    pub(super) const ALL: [UpstreamFailure; 4] = [
        Self::ConnectFailed,
        Self::Unavailable,
        Self::Timeout,
        Self::BadResponse,
    ];

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConnectFailed => "connect_failed",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::BadResponse => "bad_response",
        }
    }
}

/// A session-store operation (`authproxy_session_store_errors_total`). The cookie store keeps
/// sessions in the browser and never fails this way; a server-side store (Redis) counts its
/// failed round trips here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionStoreOp {
    /// Reading a session (every signed-in request that is not in the per-connection cache).
    Load,
    /// Writing a session (login, refresh).
    Save,
    /// Deleting a session (sign-out, a session that failed its refresh).
    Clear,
}

impl SessionStoreOp {
    pub(super) const ALL: [SessionStoreOp; 3] = [Self::Load, Self::Save, Self::Clear];

    /// The `operation` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Load => "load",
            Self::Save => "save",
            Self::Clear => "clear",
        }
    }
}

/// The index of `item` in `all` (0 if absent, which the exhaustive `ALL` lists rule out).
pub(super) fn index_of<T: PartialEq>(all: &[T], item: &T) -> usize {
    all.iter().position(|x| x == item).unwrap_or(0)
}
