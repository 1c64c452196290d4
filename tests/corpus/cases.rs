//! The corpus: configurations in the shapes public deployments use (the oauth2-proxy Helm
//! chart's rendered arguments and ConfigMap, docker-compose files, Kubernetes manifests,
//! oauth2-proxy's own example config and alpha examples), with the quirks found in the wild.
//! Placeholders filled by the runner: {PORT} (where this case listens), {ISSUER} (the OIDC
//! fake), {APP} (the echo app), {DIR} (fixture files: htpasswd with `ops:secret`, emails.txt
//! with alice@example.com in CRLF, client-secret and cookie-secret with a trailing newline),
//! {CID}/{CSECRET} (the client registered at the fake), {SECRET} (a 32-byte cookie secret).
//!
//! Each expectation is what oauth2-proxy v7.15.3 does with the same configuration, except the
//! few deliberate differences listed in docs/configuration.md "Differences from oauth2-proxy",
//! which are marked here.

#[derive(Debug)]
pub enum Style {
    /// Command-line arguments, verbatim (one per item).
    Args(&'static [&'static str]),
    /// Environment variables only.
    Env(&'static [(&'static str, &'static str)]),
    /// A TOML file (`--config`) plus arguments.
    Toml {
        file: &'static str,
        args: &'static [&'static str],
    },
    /// A TOML file plus environment variables.
    TomlEnv {
        file: &'static str,
        env: &'static [(&'static str, &'static str)],
    },
    /// An alpha YAML file (`--alpha-config`) plus arguments and environment.
    Alpha {
        yaml: &'static str,
        args: &'static [&'static str],
        env: &'static [(&'static str, &'static str)],
    },
}

#[derive(Debug)]
pub enum Check {
    /// Sign in as alice (the fake approves at once): the app then sees these headers
    /// (`None`: absent; a value ending in `*` is a prefix).
    Login(&'static [(&'static str, Option<&'static str>)]),
    /// Sign in, then `/oauth2/auth` answers 202 with these response headers.
    AuthRequest(&'static [(&'static str, &'static str)]),
    /// `GET path` redirects to the provider's authorization endpoint; the cookies set carry
    /// `Secure` or not.
    ToIdp { path: &'static str, secure: bool },
    /// `GET path` without a session answers this status.
    Status(&'static str, u16),
    /// `GET path` without a session reaches the app (a skip-auth route), sending `send`;
    /// the app sees `want`.
    Public {
        path: &'static str,
        send: &'static [(&'static str, &'static str)],
        want: &'static [(&'static str, Option<&'static str>)],
    },
    /// `GET /hello` with basic credentials reaches the app, which sees `want`.
    Basic {
        user: &'static str,
        password: &'static str,
        want: &'static [(&'static str, Option<&'static str>)],
    },
    /// `GET path` without a session reaches the app as `seen` (a rewritten path).
    Rewritten {
        path: &'static str,
        seen: &'static str,
    },
    /// The process log contains this text.
    Log(&'static str),
}

#[derive(Debug)]
pub enum Expect {
    /// It starts (`/ready` 200) and every check passes.
    Serve(&'static [Check]),
    /// `--config-test` says `configuration is valid`; the output holds these warnings.
    Valid(&'static [&'static str]),
    /// It exits with an error whose text holds each of these (the key first).
    Fails(&'static [&'static str]),
}

#[derive(Debug)]
pub struct Case {
    pub name: &'static str,
    pub style: Style,
    pub expect: Expect,
}

const ALICE: &[(&str, Option<&str>)] = &[
    ("X-Forwarded-Email", Some("alice@example.com")),
    ("X-Forwarded-Preferred-Username", Some("alice")),
    ("X-Forwarded-Groups", Some("admins")),
    ("X-Forwarded-Access-Token", None),
];

/// The Helm chart's rendered container args for an OIDC provider (chart values `config.*` and
/// `extraArgs`), with the cookie made usable over plain HTTP as dev overlays do.
macro_rules! helm {
    ($($extra:literal),* $(,)?) => {
        &[
            "--http-address=127.0.0.1:{PORT}",
            "--provider=oidc",
            "--oidc-issuer-url={ISSUER}",
            "--client-id={CID}",
            "--client-secret={CSECRET}",
            "--cookie-secret={SECRET}",
            "--redirect-url=http://127.0.0.1:{PORT}/oauth2/callback",
            "--upstream={APP}/",
            $($extra),*
        ]
    };
}

/// A docker-compose `environment:` block for an OIDC provider.
macro_rules! compose {
    ($(($k:literal, $v:literal)),* $(,)?) => {
        &[
            ("OAUTH2_PROXY_HTTP_ADDRESS", "127.0.0.1:{PORT}"),
            ("OAUTH2_PROXY_PROVIDER", "oidc"),
            ("OAUTH2_PROXY_OIDC_ISSUER_URL", "{ISSUER}"),
            ("OAUTH2_PROXY_CLIENT_ID", "{CID}"),
            ("OAUTH2_PROXY_CLIENT_SECRET", "{CSECRET}"),
            ("OAUTH2_PROXY_COOKIE_SECRET", "{SECRET}"),
            ("OAUTH2_PROXY_REDIRECT_URL", "http://127.0.0.1:{PORT}/oauth2/callback"),
            ("OAUTH2_PROXY_UPSTREAMS", "{APP}/"),
            $(($k, $v)),*
        ]
    };
}

/// The ConfigMap `oauth2_proxy.cfg` head shared by the TOML cases.
macro_rules! cfg {
    ($tail:literal) => {
        concat!(
            "http_address = \"127.0.0.1:{PORT}\"\n",
            "provider = \"oidc\"\n",
            "oidc_issuer_url = \"{ISSUER}\"\n",
            "client_id = \"{CID}\"\n",
            "client_secret = \"{CSECRET}\"\n",
            "cookie_secret = \"{SECRET}\"\n",
            "redirect_url = \"http://127.0.0.1:{PORT}/oauth2/callback\"\n",
            "upstreams = [ \"{APP}/\" ]\n",
            $tail
        )
    };
}

pub static CASES: &[Case] = &[
    // ---- Helm-rendered arguments ----
    Case {
        name: "helm-oidc",
        style: Style::Args(helm!("--email-domain=*", "--cookie-secure=false")),
        expect: Expect::Serve(&[Check::Login(ALICE)]),
    },
    Case {
        name: "helm-bool-space-false",
        // pflag: `--cookie-secure false` is `--cookie-secure` (true) and a stray positional.
        style: Style::Args(helm!("--email-domain=*", "--cookie-secure", "false")),
        expect: Expect::Serve(&[Check::ToIdp { path: "/oauth2/start", secure: true }]),
    },
    Case {
        name: "helm-csv-email-domains",
        style: Style::Args(helm!("--email-domain=example.org,example.com", "--cookie-secure=false")),
        expect: Expect::Serve(&[Check::Login(ALICE)]),
    },
    Case {
        name: "helm-pass-access-token",
        style: Style::Args(helm!(
            "--email-domain=example.com",
            "--cookie-secure=false",
            "--pass-access-token=true",
            "--pass-user-headers=true",
        )),
        expect: Expect::Serve(&[Check::Login(&[("X-Forwarded-Email", Some("alice@example.com"))])]),
    },
    Case {
        name: "helm-prefer-email-to-user",
        style: Style::Args(helm!("--email-domain=*", "--cookie-secure=false", "--prefer-email-to-user")),
        // v7: X-Forwarded-User carries the email and there is no X-Forwarded-Email.
        expect: Expect::Serve(&[Check::Login(&[
            ("X-Forwarded-User", Some("alice@example.com")),
            ("X-Forwarded-Email", None),
        ])]),
    },
    Case {
        name: "helm-no-user-headers",
        style: Style::Args(helm!(
            "--email-domain=*",
            "--cookie-secure=false",
            "--pass-user-headers=false",
            "--pass-basic-auth=false",
        )),
        expect: Expect::Serve(&[Check::Login(&[("X-Forwarded-Email", None), ("X-Forwarded-User", None)])]),
    },
    Case {
        name: "helm-skip-auth-route-public",
        style: Style::Args(helm!(
            "--email-domain=*",
            "--skip-auth-route=GET=^/public/",
            "--skip-auth-strip-headers=true",
        )),
        expect: Expect::Serve(&[
            Check::Public { path: "/public/logo.png", send: &[("X-Forwarded-User", "mallory")], want: &[("X-Forwarded-User", None)] },
            Check::Status("/private", 403),
        ]),
    },
    Case {
        name: "helm-skip-auth-strip-headers-false",
        // v7 would pass the client's X-Forwarded-User on; authproxy keeps stripping (deliberate).
        style: Style::Args(helm!(
            "--email-domain=*",
            "--skip-auth-route=^/public/",
            "--skip-auth-strip-headers=false",
        )),
        expect: Expect::Serve(&[
            Check::Public { path: "/public/x", send: &[("X-Forwarded-User", "mallory"), ("X-Forwarded-Email", "m@evil.example")], want: &[("X-Forwarded-User", None), ("X-Forwarded-Email", None)] },
            Check::Log("authproxy keeps stripping them"),
        ]),
    },
    Case {
        name: "helm-skip-provider-button",
        style: Style::Args(helm!("--email-domain=*", "--skip-provider-button=true")),
        expect: Expect::Serve(&[Check::ToIdp { path: "/some/page", secure: true }]),
    },
    Case {
        name: "k8s-cookie-secret-file-with-newline",
        // A Secret mounted as a file, created from `echo`: v7 counts the newline (17 bytes).
        style: Style::Args(&[
            "--http-address=127.0.0.1:{PORT}",
            "--provider=oidc",
            "--oidc-issuer-url={ISSUER}",
            "--client-id={CID}",
            "--client-secret={CSECRET}",
            "--cookie-secret-file={DIR}/cookie-secret",
            "--upstream={APP}/",
            "--email-domain=*",
        ]),
        expect: Expect::Fails(&["cookie_secret_file", "newline"]),
    },
    Case {
        name: "helm-relative-redirect-url",
        // The client secret file ends in a newline: authproxy drops it, v7 would send it and
        // the provider would refuse the sign-in (a deliberate difference).
        style: Style::Args(&[
            "--http-address=127.0.0.1:{PORT}",
            "--provider=oidc",
            "--oidc-issuer-url={ISSUER}",
            "--client-id={CID}",
            "--client-secret-file={DIR}/client-secret",
            "--cookie-secret={SECRET}",
            "--redirect-url=/oauth2/callback",
            "--upstream={APP}/",
            "--email-domain=*",
            "--cookie-secure=false",
        ]),
        expect: Expect::Serve(&[Check::Login(ALICE)]),
    },
    Case {
        name: "helm-authenticated-emails-file-crlf",
        style: Style::Args(helm!("--authenticated-emails-file={DIR}/emails.txt", "--cookie-secure=false")),
        expect: Expect::Serve(&[Check::Login(ALICE)]),
    },
    Case {
        name: "helm-htpasswd-basic-auth",
        style: Style::Args(helm!("--htpasswd-file={DIR}/htpasswd", "--email-domain=example.com")),
        expect: Expect::Serve(&[Check::Basic { user: "ops", password: "secret", want: &[("X-Forwarded-User", Some("ops"))] }]),
    },
    Case {
        name: "helm-htpasswd-without-email-domain",
        // v7 needs email_domains OR authenticated_emails_file OR htpasswd_file.
        style: Style::Args(helm!("--htpasswd-file={DIR}/htpasswd")),
        expect: Expect::Serve(&[Check::Basic { user: "ops", password: "secret", want: &[("X-Forwarded-User", Some("ops"))] }]),
    },
    Case {
        name: "helm-scope-without-openid",
        style: Style::Args(helm!("--email-domain=*", "--scope=email profile")),
        expect: Expect::Valid(&["has no openid"]),
    },
    Case {
        name: "helm-other-providers-option",
        // The chart's values set bitbucket options for every provider; v7 ignores them.
        style: Style::Args(helm!("--email-domain=*", "--bitbucket-team=acme")),
        expect: Expect::Valid(&["bitbucket_team", "is ignored"]),
    },
    Case {
        name: "helm-extra-jwt-issuers-unused",
        style: Style::Args(helm!("--email-domain=*", "--extra-jwt-issuers=https://issuer.example.com=api")),
        expect: Expect::Valid(&["extra_jwt_issuers", "skip_jwt_bearer_tokens"]),
    },
    Case {
        name: "helm-config-test",
        style: Style::Args(helm!("--email-domain=*", "--cookie-secure=false")),
        expect: Expect::Valid(&[]),
    },
    Case {
        name: "helm-unknown-flag",
        style: Style::Args(helm!("--email-domain=*", "--cookie-secret-fil=/x")),
        expect: Expect::Fails(&["cookie-secret-fil"]),
    },
    Case {
        name: "helm-single-dash-flag",
        style: Style::Args(helm!("--email-domain=*", "-cookie-secure=false")),
        expect: Expect::Fails(&["-cookie-secure=false"]),
    },
    Case {
        name: "helm-no-email-domain",
        style: Style::Args(helm!()),
        expect: Expect::Fails(&["email_domains"]),
    },
    Case {
        name: "helm-short-cookie-secret",
        style: Style::Args(helm!("--email-domain=*", "--cookie-secret=too-short")),
        expect: Expect::Fails(&["cookie_secret", "16, 24"]),
    },
    Case {
        name: "helm-samesite-capitalised",
        // v7 compares case-sensitively: "Lax" is refused.
        style: Style::Args(helm!("--email-domain=*", "--cookie-samesite=Lax")),
        expect: Expect::Fails(&["cookie_samesite", "Lax"]),
    },
    Case {
        name: "helm-refresh-not-below-expire",
        style: Style::Args(helm!("--email-domain=*", "--cookie-refresh=168h", "--cookie-expire=168h")),
        expect: Expect::Fails(&["cookie_refresh"]),
    },
    Case {
        name: "helm-reverse-proxy-bad-ip-header",
        style: Style::Args(helm!("--email-domain=*", "--reverse-proxy", "--real-client-ip-header=X-Client-IP")),
        expect: Expect::Fails(&["real_client_ip_header", "X-Client-IP"]),
    },
    Case {
        name: "helm-two-upstreams-at-root",
        style: Style::Args(helm!("--email-domain=*", "--upstream=static://200")),
        expect: Expect::Fails(&["upstreams", "multiple upstreams found with path \"/\""]),
    },
    Case {
        name: "helm-basic-auth-and-authorization-header",
        style: Style::Args(helm!("--email-domain=*", "--basic-auth-password=pw", "--pass-authorization-header")),
        expect: Expect::Fails(&["Authorization"]),
    },
    Case {
        name: "helm-duration-without-unit",
        style: Style::Args(helm!("--email-domain=*", "--cookie-expire=86400")),
        expect: Expect::Fails(&["cookie-expire", "86400"]),
    },
    // ---- docker-compose environments ----
    Case {
        name: "compose-oidc",
        style: Style::Env(compose!(
            ("OAUTH2_PROXY_EMAIL_DOMAINS", "*"),
            ("OAUTH2_PROXY_COOKIE_SECURE", "false"),
        )),
        expect: Expect::Serve(&[Check::Login(ALICE)]),
    },
    Case {
        name: "compose-typo-variables",
        // v7 ignores unknown OAUTH2_PROXY_* variables; authproxy warns and names the right one.
        style: Style::Env(compose!(
            ("OAUTH2_PROXY_EMAIL_DOMAINS", "*"),
            ("OAUTH2_PROXY_COOKIE_SECURE", "false"),
            ("OAUTH2_PROXY_EMAIL_DOMAIN", "nobody.example"),
            ("OAUTH2_PROXY_UPSTREAM", "http://127.0.0.1:9/"),
        )),
        expect: Expect::Serve(&[Check::Login(ALICE), Check::Log("OAUTH2_PROXY_EMAIL_DOMAIN"), Check::Log("OAUTH2_PROXY_UPSTREAMS")]),
    },
    Case {
        name: "compose-list-with-spaces",
        // v7 splits on "," without trimming: " example.com" matches nothing, example.org does.
        style: Style::Env(compose!(
            ("OAUTH2_PROXY_EMAIL_DOMAINS", "example.com, example.org"),
            ("OAUTH2_PROXY_COOKIE_SECURE", "false"),
        )),
        expect: Expect::Serve(&[Check::Login(ALICE)]),
    },
    Case {
        name: "compose-set-xauthrequest",
        // nginx auth_request style: the app is reached by nginx, the proxy answers /oauth2/auth.
        style: Style::Env(compose!(
            ("OAUTH2_PROXY_EMAIL_DOMAINS", "*"),
            ("OAUTH2_PROXY_COOKIE_SECURE", "false"),
            ("OAUTH2_PROXY_SET_XAUTHREQUEST", "true"),
            ("OAUTH2_PROXY_REVERSE_PROXY", "true"),
        )),
        expect: Expect::Serve(&[Check::AuthRequest(&[
            ("X-Auth-Request-Email", "alice@example.com"),
            ("X-Auth-Request-Preferred-Username", "alice"),
            ("X-Auth-Request-Groups", "admins"),
        ])]),
    },
    Case {
        name: "compose-lowercase-variable-ignored",
        // v7 looks up upper-case names only: the cookie stays Secure.
        style: Style::Env(compose!(
            ("OAUTH2_PROXY_EMAIL_DOMAINS", "*"),
            ("oauth2_proxy_cookie_secure", "false"),
        )),
        expect: Expect::Serve(&[Check::ToIdp { path: "/oauth2/start", secure: true }]),
    },
    Case {
        name: "compose-boolean-spellings",
        style: Style::Env(compose!(
            ("OAUTH2_PROXY_EMAIL_DOMAINS", "*"),
            ("OAUTH2_PROXY_COOKIE_SECURE", "F"),
            ("OAUTH2_PROXY_SKIP_PROVIDER_BUTTON", "True"),
            ("OAUTH2_PROXY_PASS_USER_HEADERS", "1"),
        )),
        expect: Expect::Serve(&[Check::ToIdp { path: "/", secure: false }, Check::Login(ALICE)]),
    },
    Case {
        name: "compose-whitelist-url-entry",
        // v7 accepts it (it matches no redirect); authproxy warns.
        style: Style::Env(compose!(
            ("OAUTH2_PROXY_EMAIL_DOMAINS", "*"),
            ("OAUTH2_PROXY_WHITELIST_DOMAINS", "https://app.example.com,.example.com"),
        )),
        expect: Expect::Valid(&["whitelist_domains", "https://app.example.com"]),
    },
    Case {
        name: "compose-cookie-domain-with-scheme",
        style: Style::Env(compose!(
            ("OAUTH2_PROXY_EMAIL_DOMAINS", "*"),
            ("OAUTH2_PROXY_COOKIE_DOMAINS", "https://example.com"),
        )),
        expect: Expect::Valid(&["cookie_domains"]),
    },
    Case {
        name: "compose-quoted-boolean-from-env-file",
        // `docker run --env-file` keeps the quotes: ParseBool("\"false\"") fails in v7.
        style: Style::Env(compose!(("OAUTH2_PROXY_EMAIL_DOMAINS", "*"), ("OAUTH2_PROXY_COOKIE_SECURE", "\"false\""))),
        expect: Expect::Fails(&["cookie_secure"]),
    },
    Case {
        name: "compose-boolean-trailing-space",
        style: Style::Env(compose!(("OAUTH2_PROXY_EMAIL_DOMAINS", "*"), ("OAUTH2_PROXY_COOKIE_SECURE", "false "))),
        expect: Expect::Fails(&["cookie_secure"]),
    },
    Case {
        name: "compose-yes-is-no-boolean",
        style: Style::Env(compose!(("OAUTH2_PROXY_EMAIL_DOMAINS", "*"), ("OAUTH2_PROXY_REVERSE_PROXY", "yes"))),
        expect: Expect::Fails(&["reverse_proxy"]),
    },
    Case {
        name: "compose-cookie-expire-seconds",
        style: Style::Env(compose!(("OAUTH2_PROXY_EMAIL_DOMAINS", "*"), ("OAUTH2_PROXY_COOKIE_EXPIRE", "86400"))),
        expect: Expect::Fails(&["cookie_expire", "missing unit"]),
    },
    Case {
        name: "compose-trusted-ips-with-space",
        // v7 parses " 10.0.0.2" as an address and refuses it.
        style: Style::Env(compose!(("OAUTH2_PROXY_EMAIL_DOMAINS", "*"), ("OAUTH2_PROXY_TRUSTED_IPS", "10.0.0.1, 10.0.0.2"))),
        expect: Expect::Fails(&["trusted_ips"]),
    },
    // ---- ConfigMap TOML files ----
    Case {
        name: "toml-configmap",
        style: Style::Toml {
            file: cfg!("email_domains = [ \"*\" ]\ncookie_secure = false\n"),
            args: &[],
        },
        expect: Expect::Serve(&[Check::Login(ALICE)]),
    },
    Case {
        name: "toml-crlf-trailing-spaces",
        style: Style::Toml {
            file: "http_address = \"127.0.0.1:{PORT}\"   \r\nprovider = \"oidc\"\r\noidc_issuer_url = \"{ISSUER}\" \r\nclient_id = \"{CID}\"\r\nclient_secret = \"{CSECRET}\"\t\r\ncookie_secret = \"{SECRET}\"\r\nredirect_url = \"http://127.0.0.1:{PORT}/oauth2/callback\"\r\nupstreams = [\r\n  \"{APP}/\",\r\n]\r\nemail_domains = [\"*\"]  # everyone\r\ncookie_secure = false \r\n",
            args: &[],
        },
        expect: Expect::Serve(&[Check::Login(ALICE)]),
    },
    Case {
        name: "toml-quoted-booleans",
        // mapstructure's weak typing reads "false"/"true" strings as booleans.
        style: Style::Toml {
            file: cfg!("email_domains = [\"*\"]\ncookie_secure = \"false\"\npass_access_token = \"true\"\n"),
            args: &[],
        },
        expect: Expect::Serve(&[Check::Login(&[("X-Forwarded-Email", Some("alice@example.com")), ("X-Forwarded-Access-Token", Some("at-*"))])]),
    },
    Case {
        name: "toml-mixed-case-keys",
        style: Style::Toml {
            file: cfg!("Email_Domains = [\"*\"]\nCookie_Secure = false\n"),
            args: &[],
        },
        expect: Expect::Serve(&[Check::Login(ALICE)]),
    },
    Case {
        name: "toml-list-as-string",
        style: Style::Toml {
            file: cfg!("email_domains = \"example.org,example.com\"\ncookie_secure = false\n"),
            args: &[],
        },
        expect: Expect::Serve(&[Check::Login(ALICE)]),
    },
    Case {
        name: "toml-flag-beats-file",
        style: Style::Toml {
            file: cfg!("email_domains = [\"nobody.example\"]\ncookie_secure = true\n"),
            args: &["--email-domain=example.com", "--cookie-secure=false"],
        },
        expect: Expect::Serve(&[Check::Login(ALICE)]),
    },
    Case {
        name: "toml-env-beats-file-empty-env-does-not",
        style: Style::TomlEnv {
            file: cfg!("email_domains = [\"example.com\"]\ncookie_secure = true\n"),
            env: &[("OAUTH2_PROXY_COOKIE_SECURE", "false"), ("OAUTH2_PROXY_EMAIL_DOMAINS", "")],
        },
        expect: Expect::Serve(&[Check::Login(ALICE)]),
    },
    Case {
        name: "toml-static-upstream-skip-regex",
        style: Style::Toml {
            file: "http_address = \"127.0.0.1:{PORT}\"\nprovider = \"oidc\"\noidc_issuer_url = \"{ISSUER}\"\nclient_id = \"{CID}\"\nclient_secret = \"{CSECRET}\"\ncookie_secret = \"{SECRET}\"\nemail_domains = [\"*\"]\nupstreams = [\"static://202\"]\nskip_auth_regex = [\"^/healthz$\"]\n",
            args: &[],
        },
        expect: Expect::Serve(&[Check::Status("/healthz", 202), Check::Status("/ping", 200)]),
    },
    Case {
        name: "toml-file-dev-null-upstream",
        // The chart's "no app" idiom: the proxy only authenticates.
        style: Style::Toml {
            file: "http_address = \"127.0.0.1:{PORT}\"\nprovider = \"oidc\"\noidc_issuer_url = \"{ISSUER}\"\nclient_id = \"{CID}\"\nclient_secret = \"{CSECRET}\"\ncookie_secret = \"{SECRET}\"\nemail_domains = [ \"*\" ]\nupstreams = [ \"file:///dev/null\" ]\n",
            args: &[],
        },
        expect: Expect::Serve(&[Check::ToIdp { path: "/oauth2/start", secure: true }, Check::Status("/ping", 200)]),
    },
    Case {
        name: "toml-upstreams-key-twice",
        style: Style::Toml {
            file: cfg!("email_domains = [\"*\"]\nupstreams = [\"{APP}/api/\", \"static://204\"]\nskip_auth_routes = [\"GET=^/api/public\"]\n"),
            args: &[],
        },
        // A ConfigMap that appends its own `upstreams` under the chart's: TOML refuses the
        // second definition of the key (v7: "key upstreams is already defined").
        expect: Expect::Fails(&["upstreams"]),
    },
    Case {
        name: "toml-api-upstream",
        style: Style::Toml {
            file: "http_address = \"127.0.0.1:{PORT}\"\nprovider = \"oidc\"\noidc_issuer_url = \"{ISSUER}\"\nclient_id = \"{CID}\"\nclient_secret = \"{CSECRET}\"\ncookie_secret = \"{SECRET}\"\nemail_domains = [\"*\"]\nupstreams = [\"{APP}/api/\", \"static://204\"]\nskip_auth_routes = [\"GET=^/api/public\", \"^/$\"]\n",
            args: &[],
        },
        expect: Expect::Serve(&[
            Check::Public { path: "/api/public/x", send: &[], want: &[] },
            Check::Status("/", 204),
            Check::Status("/api/private", 403),
        ]),
    },
    Case {
        name: "toml-int-duration-is-nanoseconds",
        // v7 decodes an integer as nanoseconds; it starts.
        style: Style::Toml { file: cfg!("email_domains = [\"*\"]\ncookie_expire = 3600\n"), args: &[] },
        expect: Expect::Valid(&[]),
    },
    Case {
        name: "toml-unknown-key",
        style: Style::Toml { file: cfg!("email_domains = [\"*\"]\nfoo_bar = 1\nbaz = \"x\"\n"), args: &[] },
        expect: Expect::Fails(&["`baz`", "`foo_bar`"]),
    },
    Case {
        name: "toml-section-table",
        style: Style::Toml { file: cfg!("email_domains = [\"*\"]\n[oauth2_proxy]\ncookie_secure = false\n"), args: &[] },
        expect: Expect::Fails(&["oauth2_proxy"]),
    },
    Case {
        name: "toml-dashed-key",
        style: Style::Toml { file: cfg!("email_domains = [\"*\"]\ncookie-secure = false\n"), args: &[] },
        expect: Expect::Fails(&["cookie-secure"]),
    },
    Case {
        name: "toml-yes-boolean",
        style: Style::Toml { file: cfg!("email_domains = [\"*\"]\ncookie_secure = \"yes\"\n"), args: &[] },
        expect: Expect::Fails(&["cookie_secure"]),
    },
    Case {
        name: "toml-duplicate-key",
        style: Style::Toml { file: cfg!("email_domains = [\"*\"]\ncookie_secure = false\ncookie_secure = true\n"), args: &[] },
        expect: Expect::Fails(&["cookie_secure"]),
    },
    Case {
        name: "helm-proxy-prefix-without-slash",
        // v7 starts but serves none of its endpoints; authproxy serves them at /oauth2 (deliberate).
        style: Style::Args(helm!("--email-domain=*", "--cookie-secure=false", "--proxy-prefix=oauth2")),
        expect: Expect::Serve(&[Check::Login(ALICE), Check::Log("does not start with a single /")]),
    },
    Case {
        name: "args-relative-redirect-url-without-slash",
        // v7: the callback is this request's scheme and host + "/oauth2/callback".
        style: Style::Args(&[
            "--http-address=127.0.0.1:{PORT}",
            "--provider=oidc",
            "--oidc-issuer-url={ISSUER}",
            "--client-id={CID}",
            "--client-secret={CSECRET}",
            "--cookie-secret={SECRET}",
            "--redirect-url=oauth2/callback",
            "--upstream={APP}/",
            "--email-domain=*",
            "--cookie-secure=false",
        ]),
        expect: Expect::Serve(&[Check::Login(ALICE)]),
    },
    Case {
        name: "args-relative-redirect-url-with-space",
        // v7 starts (Go's url.Parse accepts the space) and sends /my%20callback.
        style: Style::Args(helm!("--email-domain=*", "--cookie-secure=false", "--redirect-url=/my callback")),
        expect: Expect::Valid(&["this host's /my%20callback"]),
    },
    Case {
        name: "args-gitlab-project-access-level-15",
        // v7: "could not configure allowed projects: invalid gitlab project access level".
        style: Style::Args(&[
            "--http-address=127.0.0.1:{PORT}",
            "--provider=gitlab",
            "--oidc-issuer-url={ISSUER}",
            "--client-id={CID}",
            "--client-secret={CSECRET}",
            "--cookie-secret={SECRET}",
            "--upstream={APP}/",
            "--email-domain=*",
            "--gitlab-project=acme/app=15",
        ]),
        expect: Expect::Fails(&["gitlab_projects", "access level 15"]),
    },
    Case {
        name: "args-login-gov-both-keys",
        // v7: "cannot set both jwt-key and jwt-key-file options".
        style: Style::Args(&[
            "--http-address=127.0.0.1:{PORT}",
            "--provider=login.gov",
            "--client-id={CID}",
            "--cookie-secret={SECRET}",
            "--upstream={APP}/",
            "--email-domain=*",
            "--jwt-key=not-used",
            "--jwt-key-file={DIR}/client-secret",
        ]),
        expect: Expect::Fails(&["jwt_key_file", "cannot be set together with jwt_key"]),
    },
    // ---- alpha YAML ----
    Case {
        name: "alpha-without-upstream-config",
        // v7: a section the alpha file leaves out stays empty, so there is no upstream (404).
        style: Style::Alpha {
            yaml: "server:\n  bindAddress: 127.0.0.1:{PORT}\nproviders:\n  - id: corp\n    provider: oidc\n    clientID: {CID}\n    clientSecret: {CSECRET}\n    oidcConfig:\n      issuerURL: {ISSUER}\n",
            args: &["--cookie-secret={SECRET}", "--email-domain=*", "--skip-auth-route=^/open"],
            env: &[("OAUTH2_PROXY_UPSTREAMS", "{APP}/")],
        },
        expect: Expect::Serve(&[Check::Status("/open", 404), Check::Log("OAUTH2_PROXY_UPSTREAMS")]),
    },
    Case {
        name: "alpha-without-providers",
        // v7: "provider has empty id"; the legacy provider variables are ignored in alpha mode.
        style: Style::Alpha {
            yaml: "server:\n  bindAddress: 127.0.0.1:{PORT}\n",
            args: &["--cookie-secret={SECRET}", "--email-domain=*"],
            env: &[("OAUTH2_PROXY_PROVIDER", "oidc"), ("OAUTH2_PROXY_OIDC_ISSUER_URL", "{ISSUER}"), ("OAUTH2_PROXY_CLIENT_ID", "{CID}"), ("OAUTH2_PROXY_CLIENT_SECRET", "{CSECRET}")],
        },
        expect: Expect::Fails(&["defines no provider"]),
    },
    Case {
        name: "alpha-legacy-upstream-flag-without-the-section",
        // v7: `unknown flag: --upstream` in alpha mode.
        style: Style::Alpha {
            yaml: "server:\n  bindAddress: 127.0.0.1:{PORT}\nproviders:\n  - id: corp\n    provider: oidc\n    clientID: {CID}\n    clientSecret: {CSECRET}\n    oidcConfig:\n      issuerURL: {ISSUER}\n",
            args: &["--cookie-secret={SECRET}", "--email-domain=*", "--upstream={APP}/"],
            env: &[],
        },
        expect: Expect::Fails(&["upstreams", "upstreamConfig"]),
    },
    Case {
        name: "alpha-docs-example",
        style: Style::Alpha {
            yaml: "server:\n  bindAddress: 127.0.0.1:{PORT}\nupstreamConfig:\n  upstreams:\n    - id: app\n      path: /\n      uri: {APP}/\nproviders:\n  - id: corp\n    provider: oidc\n    clientID: {CID}\n    clientSecret: {CSECRET}\n    oidcConfig:\n      issuerURL: {ISSUER}\n      emailClaim: email\n      audienceClaims: [aud]\ninjectRequestHeaders:\n  - name: X-Forwarded-Email\n    values:\n      - claimSource:\n          claim: email\n  - name: X-Auth-Subject\n    values:\n      - claimSource:\n          claim: email\n          prefix: \"user:\"\n",
            args: &["--cookie-secret={SECRET}", "--email-domain=*", "--cookie-secure=false", "--redirect-url=http://127.0.0.1:{PORT}/oauth2/callback"],
            env: &[],
        },
        expect: Expect::Serve(&[Check::Login(&[("X-Forwarded-Email", Some("alice@example.com")), ("X-Auth-Subject", Some("user:alice@example.com"))])]),
    },
    Case {
        name: "alpha-pre-7-14-flat-claims",
        // v7.15 refuses the flat form; authproxy accepts it with a deprecation warning (deliberate).
        style: Style::Alpha {
            yaml: "server:\n  bindAddress: \"127.0.0.1:{PORT}\"\nupstreamConfig:\n  upstreams:\n    - id: app\n      path: /\n      uri: \"{APP}/\"\nproviders:\n  - id: corp\n    provider: oidc\n    clientID: \"{CID}\"\n    clientSecret: \"{CSECRET}\"\n    oidcConfig:\n      issuerURL: \"{ISSUER}\"\ninjectRequestHeaders:\n  - name: X-Email\n    values:\n      - claim: email\n",
            args: &["--cookie-secret={SECRET}", "--email-domain=*", "--cookie-secure=false"],
            env: &[],
        },
        expect: Expect::Serve(&[Check::Login(&[("X-Email", Some("alice@example.com"))])]),
    },
    Case {
        name: "alpha-envsubst-secret",
        style: Style::Alpha {
            yaml: "server:\n  bindAddress: 127.0.0.1:{PORT}\nupstreamConfig:\n  upstreams:\n    - id: app\n      path: /\n      uri: {APP}/\nproviders:\n  - id: corp\n    provider: oidc\n    clientID: ${CORPUS_CLIENT_ID}\n    clientSecret: ${CORPUS_CLIENT_SECRET}\n    oidcConfig:\n      issuerURL: {ISSUER}\ninjectRequestHeaders:\n  - name: X-Forwarded-Email\n    values:\n      - claimSource:\n          claim: email\n",
            args: &["--cookie-secret={SECRET}", "--email-domain=*", "--cookie-secure=false"],
            env: &[("CORPUS_CLIENT_ID", "{CID}"), ("CORPUS_CLIENT_SECRET", "{CSECRET}")],
        },
        expect: Expect::Serve(&[Check::Login(&[("X-Forwarded-Email", Some("alice@example.com"))])]),
    },
    Case {
        name: "alpha-regex-rewrite-and-static",
        style: Style::Alpha {
            yaml: "server:\n  bindAddress: 127.0.0.1:{PORT}\nupstreamConfig:\n  upstreams:\n    - id: app\n      path: ^/app/(.*)$\n      rewriteTarget: /rewritten/$1\n      uri: {APP}\n    - id: health\n      path: /healthz\n      static: true\n      staticCode: 204\nproviders:\n  - id: corp\n    provider: oidc\n    clientID: {CID}\n    clientSecret: {CSECRET}\n    oidcConfig:\n      issuerURL: {ISSUER}\n",
            args: &["--cookie-secret={SECRET}", "--email-domain=*", "--skip-auth-route=^/app/open", "--skip-auth-route=^/healthz$"],
            env: &[],
        },
        expect: Expect::Serve(&[
            Check::Status("/healthz", 204),
            Check::Status("/app/closed", 403),
            Check::Rewritten { path: "/app/open/x?q=1", seen: "/rewritten/open/x?q=1" },
        ]),
    },
    Case {
        name: "alpha-unknown-field",
        style: Style::Alpha {
            yaml: "providers:\n  - id: corp\n    provider: oidc\n    clientID: {CID}\n    clientSecret: {CSECRET}\n    clientSecrett: typo\n    oidcConfig:\n      issuerURL: {ISSUER}\n",
            args: &["--cookie-secret={SECRET}", "--email-domain=*"],
            env: &[],
        },
        expect: Expect::Fails(&["clientSecrett"]),
    },
    Case {
        name: "alpha-duplicate-header",
        style: Style::Alpha {
            yaml: "server:\n  bindAddress: 127.0.0.1:{PORT}\nproviders:\n  - id: corp\n    provider: oidc\n    clientID: {CID}\n    clientSecret: {CSECRET}\n    oidcConfig:\n      issuerURL: {ISSUER}\ninjectRequestHeaders:\n  - name: X-Email\n    values: [{claimSource: {claim: email}}]\n  - name: X-Email\n    values: [{claimSource: {claim: email}}]\n",
            args: &["--cookie-secret={SECRET}", "--email-domain=*"],
            env: &[],
        },
        expect: Expect::Fails(&["X-Email", "must be unique"]),
    },
];
