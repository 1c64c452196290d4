//! Upstreams: the legacy `upstreams` list compiled into `upstreamConfig.upstreams` exactly as
//! oauth2-proxy v7's conversion does, and the validation both formats share (v7's messages,
//! v7's refusals, nothing stricter).

use super::Ctx;
use crate::config::UpstreamConfig;
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::structured::{Upstream, UpstreamKind};

/// The global legacy options v7 copies into every converted upstream.
#[derive(Clone, Debug)]
pub struct LegacyUpstreamOptions {
    pub insecure_skip_tls_verify: bool,
    pub pass_host_header: bool,
    pub proxy_websockets: bool,
    pub flush_interval: Duration,
    pub timeout: Duration,
    pub disable_keep_alives: bool,
}

/// One legacy `upstreams` entry as v7 converts it. `warnings` gets v7's "use default 200".
pub fn convert(
    s: &str,
    o: &LegacyUpstreamOptions,
    warnings: &mut Vec<String>,
) -> Result<Upstream, String> {
    let u = url::Url::parse(s).map_err(|e| format!("could not parse upstream {s:?}: {e}"))?;
    let path = match u.path() {
        "" => "/".to_owned(),
        p => p.to_owned(),
    };
    let mut up = Upstream {
        id: path.clone(),
        path: path.clone(),
        rewrite_target: None,
        uri: s.to_owned(),
        kind: UpstreamKind::Static(200),
        insecure_skip_tls_verify: o.insecure_skip_tls_verify,
        flush_interval: o.flush_interval,
        pass_host_header: o.pass_host_header,
        proxy_websockets: o.proxy_websockets,
        timeout: o.timeout,
        disable_keep_alives: o.disable_keep_alives,
    };
    match u.scheme() {
        "file" => {
            if let Some(f) = u.fragment() {
                up.id = f.to_owned();
                up.path = f.to_owned();
                up.uri = s.split('#').next().unwrap_or(s).to_owned();
            }
        }
        "static" => {
            let host = u.host_str().unwrap_or("");
            let code = match host.parse::<u16>() {
                Ok(c) => c,
                Err(_) => {
                    warnings.push(format!(
                        "upstreams: unable to convert {host:?} to a status code in {s:?}; using 200 (as oauth2-proxy does)"
                    ));
                    200
                }
            };
            up = static_upstream(s.to_owned(), "/".to_owned(), code);
        }
        "unix" => {
            up.path = "/".to_owned();
        }
        _ => {}
    }
    finish(up)
}

/// A static upstream with v7's forced settings.
pub fn static_upstream(id: String, path: String, code: u16) -> Upstream {
    Upstream {
        id,
        path,
        rewrite_target: None,
        uri: String::new(),
        kind: UpstreamKind::Static(code),
        insecure_skip_tls_verify: false,
        flush_interval: Duration::from_secs(1),
        pass_host_header: false,
        proxy_websockets: false,
        timeout: Duration::from_secs(30),
        disable_keep_alives: false,
    }
}

/// Resolve `uri` into the upstream kind (static upstreams already have theirs).
pub fn finish(mut up: Upstream) -> Result<Upstream, String> {
    if matches!(up.kind, UpstreamKind::Static(_)) && up.uri.is_empty() {
        return Ok(up);
    }
    if up.uri.is_empty() {
        return Err(format!(
            "upstream {:?} has empty uri: uris are required for all non-static upstreams",
            up.id
        ));
    }
    let u = url::Url::parse(&up.uri)
        .map_err(|e| format!("upstream {:?} has invalid uri: {e}", up.id))?;
    up.kind = match u.scheme() {
        // `h2c`: HTTP/2 without TLS (prior knowledge), an authproxy extension.
        "http" | "https" | "h2c" => {
            if u.host_str().is_none_or(str::is_empty) {
                return Err(format!("upstream {:?} has invalid uri: no host", up.id));
            }
            UpstreamKind::Http(u)
        }
        "unix" => UpstreamKind::Unix(PathBuf::from(u.path())),
        // oauth2-proxy serves the URL's path (a host part is not special-cased).
        "file" => UpstreamKind::File(PathBuf::from(
            percent_encoding::percent_decode_str(u.path())
                .decode_utf8_lossy()
                .into_owned(),
        )),
        other => {
            return Err(format!(
                "upstream {:?} has invalid scheme: {other:?} (use http, https, h2c, unix or file)",
                up.id
            ))
        }
    };
    Ok(up)
}

/// v7's shared checks: ids and paths present and unique, rewrite paths valid regexes.
pub fn validate(upstreams: &[Upstream]) -> Vec<String> {
    let mut errors = Vec::new();
    let (mut ids, mut paths) = (HashSet::new(), HashSet::new());
    for u in upstreams {
        if u.id.is_empty() {
            errors.push("upstream has empty id: ids are required for all upstreams".to_owned());
        } else if !ids.insert(u.id.as_str()) {
            errors.push(format!(
                "multiple upstreams found with id {:?}: upstream ids must be unique",
                u.id
            ));
        }
        if u.path.is_empty() {
            errors.push(format!(
                "upstream {:?} has empty path: paths are required for all upstreams",
                u.id
            ));
        } else if !paths.insert(u.path.as_str()) {
            errors.push(format!(
                "multiple upstreams found with path {:?}: upstream paths must be unique",
                u.path
            ));
        }
        if u.rewrite_target.is_some() {
            if let Err(e) = regex::Regex::new(&u.path) {
                errors.push(format!(
                    "invalid path {:?} for upstream {:?}: {e}",
                    u.path, u.id
                ));
            }
        }
        if let UpstreamKind::Static(code) = u.kind {
            if !(100..=999).contains(&code) {
                errors.push(format!(
                    "upstream {:?} has staticCode {code}: a status code must be from 100 to 999",
                    u.id
                ));
            }
        }
    }
    errors
}

/// The legacy `upstreams` list and its per-upstream options, converted as v7 does.
pub(crate) fn legacy_upstreams(c: &mut Ctx) -> UpstreamConfig {
    let upstream_timeout = c.duration("upstream_timeout");
    let opts = LegacyUpstreamOptions {
        insecure_skip_tls_verify: c.boolean("ssl_upstream_insecure_skip_verify"),
        pass_host_header: c.boolean("pass_host_header"),
        proxy_websockets: c.boolean("proxy_websockets"),
        flush_interval: c.duration("flush_interval"),
        timeout: upstream_timeout,
        disable_keep_alives: c.boolean("disable_keep_alives"),
    };
    let mut warnings = Vec::new();
    let mut list = Vec::new();
    for entry in c.list("upstreams") {
        match convert(&entry, &opts, &mut warnings) {
            Ok(u) => list.push(u),
            Err(e) => c.fail("upstreams", e),
        }
    }
    for w in warnings {
        c.warn(w);
    }
    for e in validate(&list) {
        c.fail("upstreams", e);
    }
    UpstreamConfig {
        proxy_raw_path: false,
        upstreams: list,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> LegacyUpstreamOptions {
        LegacyUpstreamOptions {
            insecure_skip_tls_verify: false,
            pass_host_header: true,
            proxy_websockets: true,
            flush_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(30),
            disable_keep_alives: false,
        }
    }

    #[test]
    fn legacy_upstreams_convert_as_v7_does() {
        let table: &[(&str, &str, &str, &str)] = &[
            // entry, id, path, uri
            ("http://127.0.0.1:8080", "/", "/", "http://127.0.0.1:8080"),
            ("https://h:1/api/", "/api/", "/api/", "https://h:1/api/"),
            ("http://h/p?q=1#frag", "/p", "/p", "http://h/p?q=1#frag"),
            (
                "file:///var/www/static#/static/",
                "/static/",
                "/static/",
                "file:///var/www/static",
            ),
            ("file:///srv/x", "/srv/x", "/srv/x", "file:///srv/x"),
            (
                "file:///dev/null",
                "/dev/null",
                "/dev/null",
                "file:///dev/null",
            ),
            ("static://202", "static://202", "/", ""),
            (
                "unix:///tmp/s.sock",
                "/tmp/s.sock",
                "/",
                "unix:///tmp/s.sock",
            ),
        ];
        for (entry, id, path, uri) in table {
            let u = convert(entry, &opts(), &mut Vec::new()).unwrap();
            assert_eq!(
                (u.id.as_str(), u.path.as_str(), u.uri.as_str()),
                (*id, *path, *uri),
                "{entry}"
            );
        }
        let u = convert("static://202", &opts(), &mut Vec::new()).unwrap();
        assert_eq!(u.kind, UpstreamKind::Static(202));
        assert!(!u.pass_host_header && !u.proxy_websockets);
        let u = convert("file:///dev/null", &opts(), &mut Vec::new()).unwrap();
        assert_eq!(u.kind, UpstreamKind::File("/dev/null".into()));
        let u = convert("unix:///tmp/s.sock", &opts(), &mut Vec::new()).unwrap();
        assert_eq!(u.kind, UpstreamKind::Unix("/tmp/s.sock".into()));
    }

    #[test]
    fn h2c_upstreams_are_an_accepted_extension() {
        for (entry, path) in [
            ("h2c://127.0.0.1:50051", "/"),
            ("h2c://app:9/grpc/", "/grpc/"),
        ] {
            let u = convert(entry, &opts(), &mut Vec::new()).unwrap();
            assert_eq!(u.path, path, "{entry}");
            assert!(
                matches!(&u.kind, UpstreamKind::Http(url) if url.scheme() == "h2c"),
                "{entry}"
            );
        }
        let e = convert("h2c:///nohost", &opts(), &mut Vec::new()).unwrap_err();
        assert!(e.contains("no host"), "{e}");
    }

    #[test]
    fn a_static_code_that_is_not_a_number_is_200_with_a_warning() {
        let mut w = Vec::new();
        let u = convert("static://abc", &opts(), &mut w).unwrap();
        assert_eq!(u.kind, UpstreamKind::Static(200));
        assert_eq!(w.len(), 1, "{w:?}");
    }

    #[test]
    fn what_v7_refuses_is_refused() {
        for (entry, want) in [
            ("localhost:8080", "invalid scheme"),
            ("ftp://h/", "invalid scheme"),
            ("http://[::1", "could not parse"),
        ] {
            let e = convert(entry, &opts(), &mut Vec::new()).unwrap_err();
            assert!(e.contains(want), "{entry}: {e}");
        }
        let a = convert("static://200", &opts(), &mut Vec::new()).unwrap();
        let b = convert("static://404", &opts(), &mut Vec::new()).unwrap();
        let c = convert("http://a/", &opts(), &mut Vec::new()).unwrap();
        let e = validate(&[a.clone(), a.clone()]);
        assert!(e[0].contains("multiple upstreams found with id"), "{e:?}");
        let e = validate(&[b, c]);
        assert!(e.iter().any(|m| m.contains("with path \"/\"")), "{e:?}");
    }
}
