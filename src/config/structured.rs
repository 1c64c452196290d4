//! oauth2-proxy's structured ("alpha") model: upstreams, injected headers and listeners.
//!
//! It is authproxy's one model inside. The alpha YAML file is read straight into it; the legacy
//! options (`upstreams`, `pass_user_headers`, `set_xauthrequest`, `http_address`, …) are
//! compiled into it exactly as oauth2-proxy v7's conversion writes them (`build/headers.rs`,
//! `build/upstreams.rs`, `build/server.rs`), so there is one code path behind both formats.
//! Everything here is plain, validated data: secrets are already read, regexes compiled later
//! by the request path from validated strings.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Secret bytes (a header value, a password, a PEM key). `Debug` never prints them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretBytes(pub Vec<u8>);

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes([redacted; {} bytes])", self.0.len())
    }
}

/// Where a secret comes from (`secretSource`), kept for `--convert-config-to-alpha`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretOrigin {
    /// `value`: the literal bytes (oauth2-proxy v7.15 does not base64-decode them).
    Value,
    /// `fromEnv`: the variable's value, read once at startup.
    FromEnv(String),
    /// `fromFile`: the file's bytes, read once at startup.
    FromFile(PathBuf),
}

/// A resolved `secretSource`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretSource {
    pub origin: SecretOrigin,
    pub bytes: SecretBytes,
}

/// A header value taken from the session (`claimSource`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimSource {
    /// `access_token`, `id_token`, `refresh_token`, `created_at`, `expires_on`, `email`, `user`,
    /// `groups`, `preferred_username`, or any other claim kept in the session (dot paths).
    pub claim: String,
    /// Prepended to every non-empty claim value.
    pub prefix: String,
    /// With a password: `Basic base64(<claim value>:<password>)` (the prefix is then ignored).
    pub basic_auth_password: Option<SecretSource>,
}

/// A header value that is the signed identity assertion (`identityAssertionSource`, an
/// authproxy extension): a short-lived JWT the proxy signs for each app host
/// (docs/identity-assertion.md). A header with this value has no other value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssertionSource {
    /// Prepended to the token (e.g. `Bearer `).
    pub prefix: String,
}

/// One value of an injected header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderValueSource {
    Claim(ClaimSource),
    Secret(SecretSource),
    /// authproxy extension: the signed identity assertion.
    IdentityAssertion(AssertionSource),
}

/// Which conversion produced a header rule (for `--convert-config-to-alpha`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RuleOrigin {
    /// Written in the alpha file, or produced by oauth2-proxy v7's legacy conversion.
    #[default]
    Standard,
    /// Added by authproxy's legacy conversion on top of v7's (the app also receives
    /// `X-Auth-Request-*` and the provider headers).
    AuthproxyExtension,
}

/// One `injectRequestHeaders` / `injectResponseHeaders` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderRule {
    pub name: String,
    /// Request headers: keep the client's own values (appended to). authproxy never does this
    /// for identity headers (X-Forwarded-User, X-Auth-Request-*, …): see `headers::plan`.
    pub preserve_request_value: bool,
    /// oauth2-proxy strips only the exact name then; authproxy strips every spelling anyway.
    pub insecure_skip_header_normalization: bool,
    pub values: Vec<HeaderValueSource>,
    pub origin: RuleOrigin,
}

impl HeaderRule {
    /// The identity assertion source of this header, if it is one.
    pub fn assertion(&self) -> Option<&AssertionSource> {
        self.values.iter().find_map(|v| match v {
            HeaderValueSource::IdentityAssertion(a) => Some(a),
            _ => None,
        })
    }

    /// Whether any value of this header reads the given claim.
    pub fn reads_claim(&self, claim: &str) -> bool {
        self.values
            .iter()
            .any(|v| matches!(v, HeaderValueSource::Claim(c) if c.claim == claim))
    }

    /// The claims this header reads that are not one of the session's own fields
    /// ([`SESSION_CLAIMS`]): they must be kept in the session's `ac` at login.
    pub fn extra_claims(&self) -> impl Iterator<Item = &str> {
        self.values.iter().filter_map(|v| match v {
            HeaderValueSource::Claim(c) if !SESSION_CLAIMS.contains(&c.claim.as_str()) => {
                Some(c.claim.as_str())
            }
            _ => None,
        })
    }
}

/// The claim names a header rule can read that are fields of the session itself (oauth2-proxy
/// v7's `SessionState.GetClaim`), plus authproxy's provider claim; any other name is looked
/// up in the session's `ac`.
pub const SESSION_CLAIMS: [&str; 10] = [
    "access_token",
    "id_token",
    "refresh_token",
    "created_at",
    "expires_on",
    "email",
    "user",
    "groups",
    "preferred_username",
    super::PROVIDER_CLAIM,
];

/// Where an upstream sends requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpstreamKind {
    /// `http://`, `https://` or `h2c://` (cleartext HTTP/2, an authproxy extension) (the URI's
    /// path is not sent: request paths start at the root, as oauth2-proxy does).
    Http(url::Url),
    /// `unix:///path/to.sock`: HTTP over a Unix socket.
    Unix(PathBuf),
    /// `file:///dir`: files from a directory.
    File(PathBuf),
    /// `static: true`: answers `code` with the body `Authenticated`.
    Static(u16),
}

/// One `upstreamConfig.upstreams` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    pub id: String,
    /// A prefix (`/api/`: everything below; `/x`: exactly that path) or, with
    /// `rewrite_target`, a regular expression matched against the request path.
    pub path: String,
    /// `rewriteTarget` (`/v2/$1`): the path sent upstream, with capture groups.
    pub rewrite_target: Option<String>,
    /// `uri` as written (empty for static upstreams).
    pub uri: String,
    pub kind: UpstreamKind,
    pub insecure_skip_tls_verify: bool,
    /// `flushInterval`: authproxy streams without buffering (flushes at once); kept for
    /// `--convert-config-to-alpha`.
    pub flush_interval: Duration,
    pub pass_host_header: bool,
    pub proxy_websockets: bool,
    /// Time to wait for the upstream's response headers.
    pub timeout: Duration,
    pub disable_keep_alives: bool,
}

/// `upstreamConfig`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// `proxyRawPath`: route and send the path as the client encoded it (`%2F` kept).
    pub proxy_raw_path: bool,
    pub upstreams: Vec<Upstream>,
}

/// A plain-HTTP listen address (`bindAddress`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindAddress {
    Tcp(SocketAddr),
    /// `unix://path[,mode=0777]`.
    Unix {
        path: PathBuf,
        mode: Option<u32>,
    },
    /// `fd:<n>`: a listening socket passed by systemd socket activation (3 is the first).
    Fd(u32),
}

impl fmt::Display for BindAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindAddress::Tcp(a) => write!(f, "{a}"),
            BindAddress::Fd(n) => write!(f, "fd:{n}"),
            BindAddress::Unix { path, mode: None } => write!(f, "unix://{}", path.display()),
            BindAddress::Unix {
                path,
                mode: Some(m),
            } => write!(f, "unix://{},mode={m:o}", path.display()),
        }
    }
}

/// The minimum TLS version of a listener.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsVersion {
    #[default]
    Tls12,
    Tls13,
}

/// A listener's TLS settings (`tls`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConfig {
    pub key: SecretSource,
    pub cert: SecretSource,
    pub min_version: TlsVersion,
    /// oauth2-proxy's (Go crypto/tls) cipher suite names, validated; empty = the defaults.
    pub cipher_suites: Vec<String>,
}

/// `server` / `metricsServer`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerConfig {
    pub bind_address: Option<BindAddress>,
    pub secure_bind_address: Option<SocketAddr>,
    pub tls: Option<TlsConfig>,
}
