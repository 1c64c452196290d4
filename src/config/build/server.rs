//! Listeners: the legacy `http_address`, `https_address` + `tls_*`, `metrics_*` options compiled
//! into `server` / `metricsServer`, and the address and TLS rules both formats share.
//!
//! One deliberate difference from oauth2-proxy v7: with `tls_cert_file` / `tls_key_file`, v7
//! stops listening on `http_address`; authproxy keeps both listeners (the sidecar deployment
//! probes and meshes over plain HTTP). Set `http_address = "-"` (or empty) to serve HTTPS only,
//! as v7 does. A warning says so when plain HTTP listens on a non-loopback address.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use super::Ctx;
use crate::config::structured::{
    BindAddress, SecretBytes, SecretOrigin, SecretSource, ServerConfig, TlsConfig, TlsVersion,
};

/// Cipher suite names oauth2-proxy accepts (Go's crypto/tls secure and insecure lists). Only
/// the ECDHE AEAD ones can be offered (see `crate::tls`); the rest are accepted, like v7, and
/// skipped with a warning.
pub const GO_CIPHER_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

/// `[http://]host:port`, `unix://path[,mode=0777]`, `fd:<n>` (case-insensitive, as v7);
/// `""` / `-` = no listener.
pub fn parse_bind_address(s: &str) -> Result<Option<BindAddress>, String> {
    let t = s.trim();
    if t.is_empty() || t == "-" {
        return Ok(None);
    }
    let lower = t.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("unix://").map(|_| &t[7..]) {
        let (path, mode) = match rest.split_once(',') {
            Some((p, m)) => {
                let digits = m.strip_prefix("mode=").ok_or_else(|| {
                    format!("{t:?}: after the socket path only ,mode=0777 may follow")
                })?;
                let mode = u32::from_str_radix(digits.trim_start_matches("0o"), 8)
                    .map_err(|_| format!("{t:?}: mode {digits:?} is not an octal file mode"))?;
                (p, Some(mode))
            }
            None => (rest, None),
        };
        if path.is_empty() {
            return Err(format!("{t:?}: the unix socket path is empty"));
        }
        return Ok(Some(BindAddress::Unix {
            path: PathBuf::from(path),
            mode,
        }));
    }
    if lower.starts_with("fd:") {
        // v7 reads the number with Go's strconv.Atoi when it listens, and fails to start on
        // anything else ("fd with name is not implemented yet"): refused here, naming it.
        let digits = t[3..].strip_prefix('+').unwrap_or(&t[3..]);
        let valid =
            !digits.is_empty() && digits.len() <= 10 && digits.bytes().all(|b| b.is_ascii_digit());
        return match digits.parse::<u32>() {
            Ok(n) if valid => Ok(Some(BindAddress::Fd(n))),
            _ => Err(format!(
                "{t:?}: after fd: comes the number of a socket passed by systemd socket activation, e.g. fd:3 (named descriptors are not supported, as in oauth2-proxy)"
            )),
        };
    }
    if lower.starts_with("https://") {
        return Err(format!(
            "{t:?}: this is the plain HTTP listener; for HTTPS set https_address with tls_cert_file and tls_key_file"
        ));
    }
    let rest = if lower.starts_with("http://") {
        &t[7..]
    } else {
        t
    };
    tcp_address(rest.trim_end_matches('/'), "[http://]").map(|a| Some(BindAddress::Tcp(a)))
}

/// `[https://]host:port`; `""` / `-` = none.
pub fn parse_secure_address(s: &str) -> Result<Option<SocketAddr>, String> {
    let t = s.trim();
    if t.is_empty() || t == "-" {
        return Ok(None);
    }
    // oauth2-proxy drops everything up to `//`.
    let rest = match t.find("//") {
        Some(i) => &t[i + 2..],
        None => t,
    };
    tcp_address(rest.trim_end_matches('/'), "[https://]").map(Some)
}

/// `host:port`, `:port` (every interface), `[v6]:port`, a host name (resolved now).
fn tcp_address(s: &str, scheme: &str) -> Result<SocketAddr, String> {
    let candidate = match s.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => s.to_owned(),
    };
    if let Ok(a) = candidate.parse::<SocketAddr>() {
        return Ok(a);
    }
    let bad = || {
        format!(
            "{s:?} is not {scheme}<host>:<port>, e.g. 127.0.0.1:4180, 0.0.0.0:4180 or [::]:4180"
        )
    };
    let (host, port) = candidate.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{s:?}: cannot resolve {host:?}: {e}"))?
        .next()
        .ok_or_else(bad)
}

/// A `fromFile` secret, read now.
pub fn file_secret(path: &str) -> Result<SecretSource, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {path:?}: {e}"))?;
    Ok(SecretSource {
        origin: SecretOrigin::FromFile(PathBuf::from(path)),
        bytes: SecretBytes(bytes),
    })
}

/// `minVersion`.
pub fn tls_version(s: &str) -> Result<TlsVersion, String> {
    match s.trim() {
        "" | "TLS1.2" => Ok(TlsVersion::Tls12),
        "TLS1.3" => Ok(TlsVersion::Tls13),
        other => Err(format!("{other:?} must be TLS1.2 or TLS1.3")),
    }
}

/// `cipherSuites`: every name must be one oauth2-proxy knows.
pub fn cipher_suites(names: &[String]) -> Result<Vec<String>, String> {
    for n in names {
        if !GO_CIPHER_SUITES.contains(&n.as_str()) {
            return Err(format!("unknown TLS cipher suite name {n:?}"));
        }
    }
    Ok(names.to_vec())
}

/// `server` from `http_address`, `https_address`, `tls_cert_file`, `tls_key_file`,
/// `tls_min_version`, `tls_cipher_suites`.
pub(super) fn main_server(c: &mut Ctx) -> ServerConfig {
    let bind_address = match parse_bind_address(&c.string("http_address")) {
        Ok(a) => a,
        Err(e) => {
            c.fail("http_address", e);
            None
        }
    };
    let tls = tls(
        c,
        "tls_cert_file",
        "tls_key_file",
        Some(("tls_min_version", "tls_cipher_suites")),
    );
    let secure_bind_address = match &tls {
        None => None,
        Some(_) => match parse_secure_address(&c.string("https_address")) {
            Ok(a) => a,
            Err(e) => {
                c.fail("https_address", e);
                None
            }
        },
    };
    ServerConfig {
        bind_address,
        secure_bind_address,
        tls,
    }
}

/// `metricsServer` from `metrics_address`, `metrics_secure_address`, `metrics_tls_*`.
pub(super) fn metrics_server(c: &mut Ctx) -> ServerConfig {
    let bind_address = match parse_bind_address(&c.string("metrics_address")) {
        Ok(a) => a,
        Err(e) => {
            c.fail("metrics_address", e);
            None
        }
    };
    let secure_bind_address = match parse_secure_address(&c.string("metrics_secure_address")) {
        Ok(a) => a,
        Err(e) => {
            c.fail("metrics_secure_address", e);
            None
        }
    };
    let tls = tls(c, "metrics_tls_cert_file", "metrics_tls_key_file", None);
    if secure_bind_address.is_some() && tls.is_none() {
        c.fail(
            "metrics_secure_address",
            "needs metrics_tls_cert_file and metrics_tls_key_file",
        );
    }
    ServerConfig {
        bind_address,
        secure_bind_address,
        tls,
    }
}

fn tls(
    c: &mut Ctx,
    cert_key: &str,
    key_key: &str,
    versions: Option<(&str, &str)>,
) -> Option<TlsConfig> {
    let cert = c.opt_string(cert_key);
    let key = c.opt_string(key_key);
    let (cert, key) = match (cert, key) {
        (None, None) => return None,
        (Some(_), None) => {
            c.fail(key_key, format!("is required when {cert_key} is set"));
            return None;
        }
        (None, Some(_)) => {
            c.fail(cert_key, format!("is required when {key_key} is set"));
            return None;
        }
        (Some(cert), Some(key)) => (cert, key),
    };
    let cert = file_secret(&cert).map_err(|e| c.fail(cert_key, e)).ok();
    let key = file_secret(&key).map_err(|e| c.fail(key_key, e)).ok();
    let (mut min_version, mut suites) = (TlsVersion::Tls12, Vec::new());
    if let Some((min_key, suites_key)) = versions {
        match tls_version(&c.string(min_key)) {
            Ok(v) => min_version = v,
            Err(e) => c.fail(min_key, e),
        }
        match cipher_suites(&c.list(suites_key)) {
            Ok(s) => suites = s,
            Err(e) => c.fail(suites_key, e),
        }
    }
    Some(TlsConfig {
        key: key?,
        cert: cert?,
        min_version,
        cipher_suites: suites,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_addresses_read_as_oauth2_proxy_writes_them() {
        let tcp = |s: &str| Some(BindAddress::Tcp(s.parse().unwrap()));
        for (input, want) in [
            ("127.0.0.1:4180", tcp("127.0.0.1:4180")),
            ("http://0.0.0.0:4180", tcp("0.0.0.0:4180")),
            ("HTTP://[::1]:4180/", tcp("[::1]:4180")),
            (":4180", tcp("0.0.0.0:4180")),
            ("", None),
            ("-", None),
            (
                "unix:///run/ap.sock",
                Some(BindAddress::Unix {
                    path: "/run/ap.sock".into(),
                    mode: None,
                }),
            ),
            (
                "unix:///run/ap.sock,mode=0660",
                Some(BindAddress::Unix {
                    path: "/run/ap.sock".into(),
                    mode: Some(0o660),
                }),
            ),
            ("fd:3", Some(BindAddress::Fd(3))),
            ("FD:4", Some(BindAddress::Fd(4))),
            ("fd:+5", Some(BindAddress::Fd(5))),
        ] {
            assert_eq!(parse_bind_address(input).unwrap(), want, "{input}");
        }
        assert!(parse_bind_address("localhost:4180").is_ok());
        for bad in [
            "4180",
            "https://0.0.0.0:443",
            "unix://",
            "fd:",
            "fd:three",
            "fd:-1",
            "host:port",
            "unix:///s,mode=9",
        ] {
            assert!(parse_bind_address(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_secure_address("https://0.0.0.0:8443").unwrap(),
            Some("0.0.0.0:8443".parse().unwrap())
        );
        assert_eq!(
            parse_secure_address(":443").unwrap(),
            Some("0.0.0.0:443".parse().unwrap())
        );
    }

    #[test]
    fn cipher_suites_are_oauth2_proxys_names() {
        assert!(cipher_suites(&["TLS_RSA_WITH_AES_128_CBC_SHA".into()]).is_ok());
        let e = cipher_suites(&["TLS_NOPE".into()]).unwrap_err();
        assert!(e.contains("TLS_NOPE"), "{e}");
        assert_eq!(tls_version("TLS1.3").unwrap(), TlsVersion::Tls13);
        assert!(tls_version("TLS1.1").is_err());
    }
}
