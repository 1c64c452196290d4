//! Redis URLs as go-redis v9's `ParseURL` reads them (oauth2-proxy v7.15.3 passes every
//! `redis_*connection_url*` through it): the schemes, the defaults, the database in the path or
//! in `?db=`, and the query options with Go's number, bool and duration syntax. Unknown query
//! options are refused, as go-redis refuses them ("unexpected option").
//!
//! Hand-written because the exact acceptance rules are Go's, not a URL library's.

use std::time::Duration;

use percent_encoding::percent_decode_str;

use crate::crypto::Secret;

/// Where one URL points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Tcp { host: String, port: u16 },
    Unix { path: String },
}

/// A go-redis duration option: absent/empty/`0s` (use the default), a plain integer `<= 0`
/// (disabled), or a value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GoDuration {
    #[default]
    Default,
    Disabled,
    Set(Duration),
}

impl GoDuration {
    /// The effective value: `None` when disabled.
    pub fn resolve(self, default: Duration) -> Option<Duration> {
        match self {
            Self::Default => Some(default),
            Self::Disabled => None,
            Self::Set(d) => Some(d),
        }
    }
}

/// The query options go-redis knows (options.go `setupConnParams`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryOptions {
    pub protocol: Option<i64>,
    pub client_name: Option<String>,
    pub max_retries: Option<i64>,
    pub min_retry_backoff: GoDuration,
    pub max_retry_backoff: GoDuration,
    pub dial_timeout: GoDuration,
    pub read_timeout: GoDuration,
    pub write_timeout: GoDuration,
    pub pool_size: Option<i64>,
    pub conn_max_idle_time: GoDuration,
    /// Options accepted (valid syntax) whose go-redis pool semantics have no counterpart in a
    /// multiplexed client: their names, for a log note.
    pub no_effect: Vec<&'static str>,
    /// Whether any option at all was given.
    pub any: bool,
}

impl QueryOptions {
    pub fn is_empty(&self) -> bool {
        !self.any
    }
}

/// One parsed URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedUrl {
    pub endpoint: Endpoint,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub database: u8,
    /// `rediss://`
    pub tls: bool,
    /// `skip_verify=true` (only accepted with `rediss://`, as go-redis).
    pub skip_verify: bool,
    pub query: QueryOptions,
}

/// Parse one URL. Errors say what is wrong without echoing the password.
pub fn parse_redis_url(raw: &str) -> Result<ParsedUrl, String> {
    let (scheme, rest) = match raw.split_once("://") {
        Some((s, r)) => (s, r),
        None => {
            return Err(format!(
                "{:?} is not a Redis URL: it must start with redis://, rediss:// or unix://",
                redact(raw)
            ))
        }
    };
    let scheme = scheme.to_ascii_lowercase();
    if !matches!(scheme.as_str(), "redis" | "rediss" | "unix") {
        return Err(format!(
            "invalid URL scheme {scheme:?} (expected redis, rediss or unix)"
        ));
    }
    // Go's url.Parse: the fragment goes first, then the query, then authority and path.
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = match before_query.find('/') {
        Some(i) => before_query.split_at(i),
        None => (before_query, ""),
    };
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(ui) => {
            let (u, p) = match ui.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (ui, None),
            };
            let u = unescape(u, "the user name")?;
            let p = p.map(|p| unescape(p, "the password")).transpose()?;
            (non_empty(u), p.filter(|p| !p.is_empty()).map(Secret::new))
        }
    };
    let mut database: i64 = 0;
    let endpoint = if scheme == "unix" {
        let path = unescape(path, "the socket path")?;
        if path.trim().is_empty() {
            return Err("a unix:// URL needs the socket path (unix:///run/redis.sock)".into());
        }
        Endpoint::Unix { path }
    } else {
        let (host, port) = split_host_port(hostport)?;
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        match segments.as_slice() {
            [] => {}
            [db] => {
                database = db
                    .parse()
                    .map_err(|_| format!("invalid database number {db:?} in the URL path"))?
            }
            _ => {
                return Err(format!(
                    "invalid URL path {path:?} (only /<database> is allowed)"
                ))
            }
        }
        Endpoint::Tcp { host, port }
    };
    let mut q = Query::parse(query)?;
    if let Some(db) = q.take("db").filter(|s| !s.is_empty()) {
        database = db
            .parse()
            .map_err(|_| format!("invalid database number {db:?} in ?db="))?;
    }
    let database = u8::try_from(database).map_err(|_| {
        format!("database number {database} is out of range (authproxy supports 0 to 255)")
    })?;
    let tls = scheme == "rediss";
    let mut opts = QueryOptions {
        any: !q.pairs.is_empty(),
        ..Default::default()
    };
    opts.protocol = q.int("protocol")?;
    if let Some(p) = opts.protocol {
        if p != 2 && p != 3 && p > 0 {
            return Err(format!("protocol={p} is not a RESP version (2 or 3)"));
        }
    }
    opts.client_name = q.take("client_name").filter(|s| !s.is_empty());
    if opts.client_name.is_some() {
        opts.no_effect.push("client_name");
    }
    opts.max_retries = q.int("max_retries")?;
    opts.min_retry_backoff = q.duration("min_retry_backoff")?;
    opts.max_retry_backoff = q.duration("max_retry_backoff")?;
    opts.dial_timeout = q.duration("dial_timeout")?;
    opts.read_timeout = q.duration("read_timeout")?;
    opts.write_timeout = q.duration("write_timeout")?;
    if q.bool("pool_fifo")?.is_some() {
        opts.no_effect.push("pool_fifo");
    }
    opts.pool_size = q.int("pool_size")?;
    for name in [
        "min_idle_conns",
        "max_idle_conns",
        "max_active_conns",
        "max_concurrent_dials",
    ] {
        if q.int(name)?.is_some() {
            opts.no_effect.push(name);
        }
    }
    if q.duration("pool_timeout")? != GoDuration::Default {
        opts.no_effect.push("pool_timeout");
    }
    opts.conn_max_idle_time = if q.has("conn_max_idle_time") {
        q.duration("conn_max_idle_time")?
    } else {
        q.duration("idle_timeout")?
    };
    let lifetime = if q.has("conn_max_lifetime") {
        q.duration("conn_max_lifetime")?
    } else {
        q.duration("max_conn_age")?
    };
    if lifetime != GoDuration::Default {
        opts.no_effect.push("conn_max_lifetime");
    }
    if q.has("conn_max_lifetime_jitter") {
        q.duration("conn_max_lifetime_jitter")?;
        opts.no_effect.push("conn_max_lifetime_jitter");
    }
    let mut skip_verify = false;
    if tls && q.has("skip_verify") {
        skip_verify = q.bool("skip_verify")?.unwrap_or(false);
    }
    if !q.pairs.is_empty() {
        let mut names: Vec<&str> = q.pairs.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        return Err(format!("unexpected option: {}", names.join(", ")));
    }
    Ok(ParsedUrl {
        endpoint,
        username,
        password,
        database,
        tls,
        skip_verify,
        query: opts,
    })
}

/// Host and port with go-redis' defaults (`localhost`, `6379`), IPv6 brackets removed.
fn split_host_port(hostport: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let Some((h, after)) = rest.split_once(']') else {
            return Err(format!("missing ']' in host {hostport:?}"));
        };
        match after.strip_prefix(':') {
            Some(p) => (h, p),
            None if after.is_empty() => (h, ""),
            None => return Err(format!("invalid host {hostport:?}")),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, p),
            Some(_) => return Err(format!("IPv6 address {hostport:?} must be in brackets")),
            None => (hostport, ""),
        }
    };
    let host = unescape(host, "the host")?;
    let host = if host.is_empty() {
        "localhost".to_owned()
    } else {
        host
    };
    let port = if port.is_empty() {
        6379
    } else {
        port.parse::<u16>()
            .map_err(|_| format!("invalid port {port:?}"))?
    };
    Ok((host, port))
}

fn unescape(s: &str, what: &str) -> Result<String, String> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| format!("{what} is not valid percent-encoded UTF-8"))
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// The URL with its userinfo replaced, for error messages and debug output.
pub fn redact(raw: &str) -> String {
    match (raw.find("://"), raw.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://[redacted]@{}", &raw[..s], &raw[at + 1..]),
        _ => raw.to_owned(),
    }
}

/// Go's `url.Values` with go-redis' accessors: the last value of a name wins, and a name read
/// is removed so that what is left over is "unexpected".
struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    fn parse(query: &str) -> Result<Self, String> {
        let mut pairs = Vec::new();
        for part in query.split('&').filter(|p| !p.is_empty()) {
            if part.contains(';') {
                return Err(format!("invalid semicolon separator in query {part:?}"));
            }
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let dec = |s: &str| unescape(&s.replace('+', " "), "a query option");
            pairs.push((dec(k)?, dec(v)?));
        }
        Ok(Self { pairs })
    }

    fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    fn take(&mut self, name: &str) -> Option<String> {
        let last = self
            .pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone());
        self.pairs.retain(|(k, _)| k != name);
        last
    }

    fn int(&mut self, name: &str) -> Result<Option<i64>, String> {
        match self.take(name) {
            None => Ok(None),
            Some(s) if s.is_empty() => Ok(None),
            Some(s) => s
                .parse::<i64>()
                .map(Some)
                .map_err(|_| format!("invalid {name} number: {s:?}")),
        }
    }

    fn bool(&mut self, name: &str) -> Result<Option<bool>, String> {
        match self.take(name).as_deref() {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0" | "") => Ok(Some(false)),
            Some(other) => Err(format!(
                "invalid {name} boolean: expected true/false/1/0 or an empty string, got {other:?}"
            )),
        }
    }

    fn duration(&mut self, name: &str) -> Result<GoDuration, String> {
        let Some(s) = self.take(name) else {
            return Ok(GoDuration::Default);
        };
        if s.is_empty() {
            return Ok(GoDuration::Default);
        }
        if let Ok(secs) = s.parse::<i64>() {
            return Ok(if secs <= 0 {
                GoDuration::Disabled
            } else {
                GoDuration::Set(Duration::from_secs(secs as u64))
            });
        }
        match parse_go_duration(&s) {
            Some(0) => Ok(GoDuration::Default),
            Some(n) if n < 0 => Ok(GoDuration::Disabled),
            Some(n) => Ok(GoDuration::Set(Duration::from_nanos(n as u64))),
            None => Err(format!(
                "invalid {name} duration {s:?} (a number of seconds, or a Go duration such as 500ms or 1m30s)"
            )),
        }
    }
}

/// Go's `time.ParseDuration`: an optional sign, then one or more decimal numbers each with a unit
/// (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`); `0` alone is allowed. Nanoseconds, `None` when
/// invalid or beyond ±292 years.
pub fn parse_go_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(r) = rest.strip_prefix('.') {
            let n = r.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &r[..n];
            rest = &r[n..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let unit: u128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().ok()?
        };
        let mut value = int.checked_mul(unit)?;
        if !frac_part.is_empty() {
            let digits = frac_part.len().min(30) as u32;
            let frac: u128 = frac_part[..digits as usize].parse().ok()?;
            value = value.checked_add(frac.checked_mul(unit)? / 10u128.pow(digits))?;
        }
        total = total.checked_add(value)?;
        if total > i64::MAX as u128 + u128::from(neg) {
            return None;
        }
    }
    if neg {
        Some((total as i128).wrapping_neg() as i64)
    } else {
        Some(total as i64)
    }
}
