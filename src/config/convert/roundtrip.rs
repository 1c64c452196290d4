//! Properties over generated legacy configurations (a bounded, deterministic generator: the
//! same cases on every run, no new dependency):
//! * legacy → structured: the header rules the legacy switches compile into are exactly those
//!   of oauth2-proxy v7's conversion table (written out independently below), and the
//!   combinations v7 refuses are refused naming the header;
//! * round trip: `--convert-config-to-alpha` output, read back with `--alpha-config` next to
//!   the core (non-alpha) options, gives the same structured model (headers, upstreams,
//!   listeners, provider) as the legacy configuration itself.

use std::collections::HashMap;
use std::ffi::OsString;

use super::tests::convert_args;
use crate::config::structured::{ClaimSource, HeaderRule, HeaderValueSource, RuleOrigin};
use crate::config::{load, Command, Config};

/// xorshift64*: small, deterministic, good enough to spread the cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn bit(&mut self) -> bool {
        self.next() & 1 == 1
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// The nine header switches and the password (v7-legacy-to-alpha §1).
#[derive(Debug, Clone, Copy, Default)]
struct Switches {
    pass_basic_auth: bool,
    pass_user_headers: bool,
    pass_access_token: bool,
    pass_authorization_header: bool,
    set_xauthrequest: bool,
    set_basic_auth: bool,
    set_authorization_header: bool,
    prefer_email_to_user: bool,
    skip_auth_strip_headers: bool,
    password: bool,
}

impl Switches {
    fn from_bits(n: u32) -> Switches {
        let b = |i: u32| n >> i & 1 == 1;
        Switches {
            pass_basic_auth: b(0),
            pass_user_headers: b(1),
            pass_access_token: b(2),
            pass_authorization_header: b(3),
            set_xauthrequest: b(4),
            set_basic_auth: b(5),
            set_authorization_header: b(6),
            prefer_email_to_user: b(7),
            skip_auth_strip_headers: b(8),
            password: b(9),
        }
    }

    fn args(&self) -> Vec<String> {
        let f = |name: &str, on: bool| format!("--{name}={on}");
        let mut a = vec![
            f("pass-basic-auth", self.pass_basic_auth),
            f("pass-user-headers", self.pass_user_headers),
            f("pass-access-token", self.pass_access_token),
            f("pass-authorization-header", self.pass_authorization_header),
            f("set-xauthrequest", self.set_xauthrequest),
            f("set-basic-auth", self.set_basic_auth),
            f("set-authorization-header", self.set_authorization_header),
            f("prefer-email-to-user", self.prefer_email_to_user),
            f("skip-auth-strip-headers", self.skip_auth_strip_headers),
        ];
        if self.password {
            a.push("--basic-auth-password=pw".into());
        }
        a
    }

    /// v7's conversion: (name, claim, prefix, carries the password) for request and
    /// response headers, in order.
    #[allow(clippy::type_complexity)]
    fn v7(
        &self,
    ) -> (
        Vec<(&'static str, &'static str, &'static str, bool)>,
        Vec<(&'static str, &'static str, &'static str, bool)>,
    ) {
        let user = if self.prefer_email_to_user {
            "email"
        } else {
            "user"
        };
        let mut req = Vec::new();
        if self.pass_basic_auth && self.password {
            req.push(("Authorization", user, "Basic ", true));
        }
        if self.pass_basic_auth || self.pass_user_headers {
            req.push(("X-Forwarded-Groups", "groups", "", false));
            if self.prefer_email_to_user {
                req.push(("X-Forwarded-User", "email", "", false));
            } else {
                req.push(("X-Forwarded-User", "user", "", false));
                req.push(("X-Forwarded-Email", "email", "", false));
            }
            req.push((
                "X-Forwarded-Preferred-Username",
                "preferred_username",
                "",
                false,
            ));
        }
        if self.pass_access_token {
            req.push(("X-Forwarded-Access-Token", "access_token", "", false));
        }
        if self.pass_authorization_header {
            req.push(("Authorization", "id_token", "Bearer ", false));
        }
        let mut resp = Vec::new();
        if self.set_xauthrequest {
            resp.push(("X-Auth-Request-User", "user", "", false));
            resp.push(("X-Auth-Request-Email", "email", "", false));
            resp.push((
                "X-Auth-Request-Preferred-Username",
                "preferred_username",
                "",
                false,
            ));
            resp.push(("X-Auth-Request-Groups", "groups", "", false));
            if self.pass_access_token {
                resp.push(("X-Auth-Request-Access-Token", "access_token", "", false));
            }
        }
        if self.set_basic_auth {
            resp.push(("Authorization", user, "Basic ", true));
        }
        if self.set_authorization_header {
            resp.push(("Authorization", "id_token", "Bearer ", false));
        }
        (req, resp)
    }

    /// What v7's validation refuses, and the header named.
    fn v7_refuses(&self) -> Option<&'static str> {
        let (req, resp) = self.v7();
        let twice = |h: &[(&str, &str, &str, bool)]| {
            h.iter().filter(|r| r.0 == "Authorization").count() > 1
        };
        if twice(&req) || twice(&resp) {
            Some("Authorization")
        } else if self.set_basic_auth && !self.password {
            Some("basic_auth_password")
        } else {
            None
        }
    }
}

fn shape(rules: &[HeaderRule]) -> Vec<(String, String, String, bool)> {
    rules
        .iter()
        .filter(|r| r.origin == RuleOrigin::Standard)
        .map(|r| match r.values.as_slice() {
            [HeaderValueSource::Claim(ClaimSource {
                claim,
                prefix,
                basic_auth_password,
            })] => (
                r.name.clone(),
                claim.clone(),
                prefix.clone(),
                basic_auth_password
                    .as_ref()
                    .is_some_and(|p| p.bytes.0 == b"pw"),
            ),
            other => panic!("{}: v7 writes one claim value, got {other:?}", r.name),
        })
        .collect()
}

fn owned(v: Vec<(&str, &str, &str, bool)>) -> Vec<(String, String, String, bool)> {
    v.into_iter()
        .map(|(a, b, c, d)| (a.into(), b.into(), c.into(), d))
        .collect()
}

const CORE: &[&str] = &[
    "--cookie-secret=0123456789abcdef0123456789abcdef",
    "--email-domain=*",
];

fn run(args: &[String]) -> Result<Config, String> {
    let a: Vec<OsString> = args.iter().map(OsString::from).collect();
    match load(&a, &HashMap::new()) {
        Ok(Command::Run(c)) => Ok(*c),
        Ok(other) => panic!("{args:?}: {other:?}"),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn header_switches_compile_exactly_as_v7_converts_them() {
    // All 2^10 combinations of the nine switches and the password.
    for n in 0..1024 {
        let s = Switches::from_bits(n);
        let mut args: Vec<String> = CORE.iter().map(|x| x.to_string()).collect();
        args.extend([
            "--provider=oidc".into(),
            "--client-id=c".into(),
            "--client-secret=s".into(),
            "--oidc-issuer-url=https://idp.example.com".into(),
        ]);
        args.extend(s.args());
        match (run(&args), s.v7_refuses()) {
            (Ok(c), None) => {
                let (req, resp) = s.v7();
                assert_eq!(shape(&c.inject_request_headers), owned(req), "{s:?}");
                assert_eq!(shape(&c.inject_response_headers), owned(resp), "{s:?}");
                let preserve = !s.skip_auth_strip_headers;
                assert!(
                    c.inject_request_headers
                        .iter()
                        .filter(|r| r.origin == RuleOrigin::Standard)
                        .all(|r| r.preserve_request_value == preserve),
                    "{s:?}: preserveRequestValue = !skip_auth_strip_headers"
                );
                assert!(
                    c.inject_response_headers
                        .iter()
                        .all(|r| !r.preserve_request_value),
                    "{s:?}"
                );
            }
            (Err(e), Some(header)) => assert!(e.contains(header), "{s:?}: {e}"),
            (Ok(_), Some(h)) => panic!("{s:?}: v7 refuses it ({h}), authproxy started"),
            (Err(e), None) => panic!("{s:?}: v7 starts, authproxy refused:\n{e}"),
        }
    }
}

/// One generated legacy configuration: (alpha-section args, core args).
fn generate(rng: &mut Rng) -> (Vec<String>, Vec<String>) {
    let mut alpha = Vec::new();
    let mut core: Vec<String> = CORE.iter().map(|x| x.to_string()).collect();
    // Headers: a valid combination (v7 refuses the others, checked above).
    let s = loop {
        let s = Switches::from_bits((rng.next() % 1024) as u32);
        if s.v7_refuses().is_none() {
            break s;
        }
    };
    alpha.extend(s.args());
    // Upstreams: up to three, distinct paths.
    let pool = [
        "http://127.0.0.1:8080/",
        "http://127.0.0.1:8081/api/",
        "static://202",
        "file:///var/www/static#/static/",
        "https://backend.example.com:8443/x/?q=1",
        "http://[::1]:9000/v6/",
    ];
    let mut used = Vec::new();
    for _ in 0..(rng.next() % 4) {
        let u = rng.pick(&pool);
        let root = |x: &str| x.starts_with("static://") || x == "http://127.0.0.1:8080/";
        if used.contains(&u) || (root(u) && used.iter().any(|x| root(x))) {
            continue;
        }
        used.push(u);
        alpha.push(format!("--upstream={u}"));
    }
    for (flag, values) in [
        ("pass-host-header", &["true", "false"][..]),
        ("proxy-websockets", &["true", "false"][..]),
        ("ssl-upstream-insecure-skip-verify", &["true", "false"][..]),
        ("upstream-timeout", &["30s", "1m30s", "5s"][..]),
        ("flush-interval", &["1s", "250ms"][..]),
        (
            "http-address",
            &["127.0.0.1:4180", "0.0.0.0:8080", "[::1]:4181"][..],
        ),
        ("metrics-address", &["", "127.0.0.1:9100"][..]),
    ] {
        if rng.bit() {
            let v = rng.pick(values);
            if !v.is_empty() {
                alpha.push(format!("--{flag}={v}"));
            }
        }
    }
    // The provider.
    let kind = rng.pick(&["oidc", "oidc", "github", "keycloak-oidc"]);
    alpha.push(format!("--provider={kind}"));
    alpha.push("--client-id=app-client".into());
    alpha.push("--client-secret=s3cret".into());
    if kind != "github" {
        alpha.push("--oidc-issuer-url=https://sso.example.com/realms/corp".into());
    }
    if kind == "github" && rng.bit() {
        alpha.push("--github-org=acme".into());
    }
    if rng.bit() {
        alpha.push(format!(
            "--scope={}",
            rng.pick(&["openid email", "openid email profile groups", "openid"])
        ));
    }
    if rng.bit() {
        alpha.push("--provider-display-name=Corp SSO".into());
    }
    if rng.bit() {
        alpha.push(format!(
            "--oidc-email-claim={}",
            rng.pick(&["mail", "email", "upn"])
        ));
    }
    if rng.bit() {
        alpha.push("--oidc-groups-claim=roles".into());
    }
    if rng.bit() {
        alpha.push(format!(
            "--prompt={}",
            rng.pick(&["login", "consent", "select_account"])
        ));
    }
    if rng.bit() {
        alpha.push("--allowed-group=admins".into());
    }
    if rng.bit() {
        core.push("--cookie-secure=false".into());
    }
    (alpha, core)
}

/// The rules without their origin marker: authproxy's own additions (X-Forwarded-Provider) are
/// printed as ordinary alpha headers and read back as such; what is sent is the same.
fn plain(rules: &[HeaderRule]) -> Vec<HeaderRule> {
    rules
        .iter()
        .cloned()
        .map(|mut r| {
            r.origin = RuleOrigin::Standard;
            r
        })
        .collect()
}

fn provider_view(c: &Config) -> String {
    let p = &c.providers[0];
    // Legacy allowed_groups apply to the one provider; alpha lists them on it.
    let mut groups: Vec<&String> = p
        .allowed_groups
        .iter()
        .chain(&c.authz.allowed_groups)
        .collect();
    groups.sort();
    groups.dedup();
    format!(
        "{} {} {} {:?} {} {} {} {:?} {:?} {:?} {}",
        p.kind,
        p.client_id,
        p.client_secret.expose(),
        p.oidc_issuer_url.as_ref().map(url::Url::as_str),
        p.scope,
        p.oidc_email_claim,
        p.oidc_groups_claim,
        p.prompt,
        groups,
        p.github,
        p.display_name
    )
}

#[test]
fn converted_alpha_config_reads_back_to_the_same_model() {
    let dir = std::env::temp_dir().join(format!("authproxy-roundtrip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for case in 0..120 {
        let (alpha, core) = generate(&mut rng);
        let legacy: Vec<String> = core.iter().chain(alpha.iter()).cloned().collect();
        let direct = run(&legacy).unwrap_or_else(|e| panic!("case {case} {legacy:?}:\n{e}"));
        let refs: Vec<&str> = legacy.iter().map(String::as_str).collect();
        let (yaml, _) = convert_args(&refs, &HashMap::new());
        let file = dir.join(format!("case-{case}.yaml"));
        std::fs::write(&file, &yaml).unwrap();
        let mut via: Vec<String> = core.clone();
        via.push(format!("--alpha-config={}", file.display()));
        let back = run(&via).unwrap_or_else(|e| {
            panic!("case {case} {legacy:?}: the converted YAML is refused:\n{e}\n{yaml}")
        });
        let ctx = format!("case {case} {legacy:?}\n{yaml}");
        assert_eq!(
            plain(&back.inject_request_headers),
            plain(&direct.inject_request_headers),
            "{ctx}"
        );
        assert_eq!(
            plain(&back.inject_response_headers),
            plain(&direct.inject_response_headers),
            "{ctx}"
        );
        assert_eq!(back.upstream_config, direct.upstream_config, "{ctx}");
        assert_eq!(back.server, direct.server, "{ctx}");
        assert_eq!(back.metrics_server, direct.metrics_server, "{ctx}");
        assert_eq!(provider_view(&back), provider_view(&direct), "{ctx}");
        // The output is deterministic (no map-order or address-dependent text).
        let (again, _) = convert_args(&refs, &HashMap::new());
        assert_eq!(again, yaml, "{ctx}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
