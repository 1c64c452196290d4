//! The legacy header switches compiled into header rules, exactly as oauth2-proxy v7's
//! conversion writes them (`pkg/apis/options/legacy_options.go`), plus authproxy's own
//! additions, marked [`RuleOrigin::AuthproxyExtension`]:
//!
//! * the app also receives the `X-Auth-Request-*` headers with `set_xauthrequest` (oauth2-proxy
//!   sends them only in responses, for `auth_request`-style front proxies; the Kubernetes
//!   sidecar deployment hands them to the app);
//! * `X-Forwarded-Provider` / `X-Auth-Request-Provider` name the provider the user signed in
//!   with (several providers per instance are an authproxy feature).
//!
//! Pure: the switches in, the rules out.

use super::Ctx;
use crate::config::structured::{
    ClaimSource, HeaderRule, HeaderValueSource, RuleOrigin, SecretBytes, SecretOrigin, SecretSource,
};

use crate::config::PROVIDER_CLAIM;

/// oauth2-proxy's legacy header options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LegacyHeaders {
    pub pass_basic_auth: bool,
    pub pass_user_headers: bool,
    pub pass_access_token: bool,
    pub pass_authorization_header: bool,
    pub set_authorization_header: bool,
    pub set_xauthrequest: bool,
    pub set_basic_auth: bool,
    pub prefer_email_to_user: bool,
    pub skip_auth_strip_headers: bool,
    pub basic_auth_password: String,
}

pub(crate) fn claim(name: &str, claim: &str, prefix: &str) -> HeaderRule {
    HeaderRule {
        name: name.to_owned(),
        preserve_request_value: false,
        insecure_skip_header_normalization: false,
        values: vec![HeaderValueSource::Claim(ClaimSource {
            claim: claim.to_owned(),
            prefix: prefix.to_owned(),
            basic_auth_password: None,
        })],
        origin: RuleOrigin::Standard,
    }
}

pub(crate) fn basic_auth(user_claim: &str, password: &str) -> HeaderRule {
    HeaderRule {
        name: "Authorization".to_owned(),
        preserve_request_value: false,
        insecure_skip_header_normalization: false,
        values: vec![HeaderValueSource::Claim(ClaimSource {
            claim: user_claim.to_owned(),
            prefix: "Basic ".to_owned(),
            basic_auth_password: Some(SecretSource {
                origin: SecretOrigin::Value,
                bytes: SecretBytes(password.as_bytes().to_vec()),
            }),
        })],
        origin: RuleOrigin::Standard,
    }
}

pub(crate) fn extension(mut rule: HeaderRule) -> HeaderRule {
    rule.origin = RuleOrigin::AuthproxyExtension;
    rule
}

impl LegacyHeaders {
    fn user_claim(&self) -> &'static str {
        if self.prefer_email_to_user {
            "email"
        } else {
            "user"
        }
    }

    /// `injectRequestHeaders`: v7's rules in v7's order, then authproxy's additions.
    pub fn request_rules(&self) -> Vec<HeaderRule> {
        let mut out = Vec::new();
        if self.pass_basic_auth && !self.basic_auth_password.is_empty() {
            out.push(basic_auth(self.user_claim(), &self.basic_auth_password));
        }
        let user_headers = self.pass_basic_auth || self.pass_user_headers;
        if user_headers {
            out.push(claim("X-Forwarded-Groups", "groups", ""));
            if self.prefer_email_to_user {
                out.push(claim("X-Forwarded-User", "email", ""));
            } else {
                out.push(claim("X-Forwarded-User", "user", ""));
                out.push(claim("X-Forwarded-Email", "email", ""));
            }
            out.push(claim(
                "X-Forwarded-Preferred-Username",
                "preferred_username",
                "",
            ));
        }
        if self.pass_access_token {
            out.push(claim("X-Forwarded-Access-Token", "access_token", ""));
        }
        if self.pass_authorization_header {
            out.push(claim("Authorization", "id_token", "Bearer "));
        }
        // v7: skip_auth_strip_headers=false keeps client copies of every request header.
        // authproxy records it (for --convert-config-to-alpha) but keeps stripping identity
        // headers whatever the setting (see headers::plan).
        for r in &mut out {
            r.preserve_request_value = !self.skip_auth_strip_headers;
        }
        if user_headers {
            out.push(extension(claim("X-Forwarded-Provider", PROVIDER_CLAIM, "")));
        }
        if self.set_xauthrequest {
            out.extend(self.x_auth_request().into_iter().map(extension));
            out.push(extension(claim(
                "X-Auth-Request-Provider",
                PROVIDER_CLAIM,
                "",
            )));
        }
        out
    }

    fn x_auth_request(&self) -> Vec<HeaderRule> {
        let mut out = vec![
            claim("X-Auth-Request-User", "user", ""),
            claim("X-Auth-Request-Email", "email", ""),
            claim(
                "X-Auth-Request-Preferred-Username",
                "preferred_username",
                "",
            ),
            claim("X-Auth-Request-Groups", "groups", ""),
        ];
        if self.pass_access_token {
            out.push(claim("X-Auth-Request-Access-Token", "access_token", ""));
        }
        out
    }

    /// `injectResponseHeaders`: v7's rules in v7's order, then authproxy's addition.
    pub fn response_rules(&self) -> Vec<HeaderRule> {
        let mut out = Vec::new();
        if self.set_xauthrequest {
            out.extend(self.x_auth_request());
        }
        if self.set_basic_auth {
            out.push(basic_auth(self.user_claim(), &self.basic_auth_password));
        }
        if self.set_authorization_header {
            out.push(claim("Authorization", "id_token", "Bearer "));
        }
        if self.set_xauthrequest {
            out.push(extension(claim(
                "X-Auth-Request-Provider",
                PROVIDER_CLAIM,
                "",
            )));
        }
        out
    }
}

/// The legacy header switches, compiled into rules as v7 does.
pub(crate) fn legacy_headers(c: &mut Ctx) -> (Vec<HeaderRule>, Vec<HeaderRule>) {
    let l = LegacyHeaders {
        pass_basic_auth: c.boolean("pass_basic_auth"),
        pass_user_headers: c.boolean("pass_user_headers"),
        pass_access_token: c.boolean("pass_access_token"),
        pass_authorization_header: c.boolean("pass_authorization_header"),
        set_authorization_header: c.boolean("set_authorization_header"),
        set_xauthrequest: c.boolean("set_xauthrequest"),
        set_basic_auth: c.boolean("set_basic_auth"),
        prefer_email_to_user: c.boolean("prefer_email_to_user"),
        skip_auth_strip_headers: c.boolean("skip_auth_strip_headers"),
        basic_auth_password: c.string("basic_auth_password"),
    };
    if l.set_basic_auth && l.basic_auth_password.is_empty() {
        c.fail(
            "set_basic_auth",
            "needs basic_auth_password (oauth2-proxy refuses it without one too)",
        );
    }
    let request = l.request_rules();
    let response = l.response_rules();
    for (rules, section) in [(&request, "pass_basic_auth"), (&response, "set_basic_auth")] {
        let auth = rules
            .iter()
            .filter(|r| r.name.eq_ignore_ascii_case("authorization"))
            .count();
        if auth > 1 {
            c.fail(
                section,
                if section == "pass_basic_auth" {
                    "with basic_auth_password and pass_authorization_header, two Authorization headers would go to the app (oauth2-proxy refuses this too); set pass_basic_auth = false or remove basic_auth_password"
                } else {
                    "set_basic_auth and set_authorization_header both set Authorization on responses (oauth2-proxy refuses this too); keep one"
                },
            );
        }
    }
    (request, response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(rules: &[HeaderRule], origin: RuleOrigin) -> Vec<(String, String, String)> {
        rules
            .iter()
            .filter(|r| r.origin == origin)
            .map(|r| match &r.values[..] {
                [HeaderValueSource::Claim(c)] => {
                    (r.name.clone(), c.claim.clone(), c.prefix.clone())
                }
                other => panic!("unexpected values {other:?}"),
            })
            .collect()
    }

    fn v(name: &str, claim: &str, prefix: &str) -> (String, String, String) {
        (name.into(), claim.into(), prefix.into())
    }

    fn defaults() -> LegacyHeaders {
        LegacyHeaders {
            pass_basic_auth: true,
            pass_user_headers: true,
            skip_auth_strip_headers: true,
            ..LegacyHeaders::default()
        }
    }

    #[test]
    fn the_defaults_convert_to_v7s_four_user_headers() {
        let l = defaults();
        assert_eq!(
            names(&l.request_rules(), RuleOrigin::Standard),
            [
                v("X-Forwarded-Groups", "groups", ""),
                v("X-Forwarded-User", "user", ""),
                v("X-Forwarded-Email", "email", ""),
                v("X-Forwarded-Preferred-Username", "preferred_username", ""),
            ]
        );
        assert!(l.response_rules().is_empty());
        assert!(l.request_rules().iter().all(|r| !r.preserve_request_value));
    }

    #[test]
    fn every_switch_converts_as_v7_writes_it() {
        type Rules<'a> = &'a [(&'a str, &'a str, &'a str)];
        let table: &[(LegacyHeaders, Rules, Rules)] = &[
            (
                LegacyHeaders {
                    pass_basic_auth: false,
                    pass_user_headers: false,
                    ..defaults()
                },
                &[],
                &[],
            ),
            (
                LegacyHeaders {
                    prefer_email_to_user: true,
                    ..defaults()
                },
                &[
                    ("X-Forwarded-Groups", "groups", ""),
                    ("X-Forwarded-User", "email", ""),
                    ("X-Forwarded-Preferred-Username", "preferred_username", ""),
                ],
                &[],
            ),
            (
                LegacyHeaders {
                    basic_auth_password: "pw".into(),
                    pass_access_token: true,
                    ..defaults()
                },
                &[
                    ("Authorization", "user", "Basic "),
                    ("X-Forwarded-Groups", "groups", ""),
                    ("X-Forwarded-User", "user", ""),
                    ("X-Forwarded-Email", "email", ""),
                    ("X-Forwarded-Preferred-Username", "preferred_username", ""),
                    ("X-Forwarded-Access-Token", "access_token", ""),
                ],
                &[],
            ),
            (
                LegacyHeaders {
                    pass_basic_auth: false,
                    pass_user_headers: false,
                    pass_authorization_header: true,
                    set_authorization_header: true,
                    set_xauthrequest: true,
                    pass_access_token: true,
                    ..defaults()
                },
                &[
                    ("X-Forwarded-Access-Token", "access_token", ""),
                    ("Authorization", "id_token", "Bearer "),
                ],
                &[
                    ("X-Auth-Request-User", "user", ""),
                    ("X-Auth-Request-Email", "email", ""),
                    (
                        "X-Auth-Request-Preferred-Username",
                        "preferred_username",
                        "",
                    ),
                    ("X-Auth-Request-Groups", "groups", ""),
                    ("X-Auth-Request-Access-Token", "access_token", ""),
                    ("Authorization", "id_token", "Bearer "),
                ],
            ),
            (
                LegacyHeaders {
                    set_basic_auth: true,
                    basic_auth_password: "pw".into(),
                    prefer_email_to_user: true,
                    pass_basic_auth: false,
                    pass_user_headers: false,
                    ..defaults()
                },
                &[],
                &[("Authorization", "email", "Basic ")],
            ),
        ];
        for (l, req, resp) in table {
            let req: Vec<_> = req.iter().map(|(a, b, c)| v(a, b, c)).collect();
            let resp: Vec<_> = resp.iter().map(|(a, b, c)| v(a, b, c)).collect();
            assert_eq!(
                names(&l.request_rules(), RuleOrigin::Standard),
                req,
                "{l:?}"
            );
            assert_eq!(
                names(&l.response_rules(), RuleOrigin::Standard),
                resp,
                "{l:?}"
            );
        }
    }

    #[test]
    fn skip_auth_strip_headers_false_is_recorded_on_the_request_rules() {
        let l = LegacyHeaders {
            skip_auth_strip_headers: false,
            ..defaults()
        };
        assert!(l
            .request_rules()
            .iter()
            .filter(|r| r.origin == RuleOrigin::Standard)
            .all(|r| r.preserve_request_value));
    }

    #[test]
    fn authproxy_adds_the_provider_and_x_auth_request_headers_for_the_app() {
        let l = LegacyHeaders {
            set_xauthrequest: true,
            pass_access_token: true,
            ..defaults()
        };
        assert_eq!(
            names(&l.request_rules(), RuleOrigin::AuthproxyExtension),
            [
                v("X-Forwarded-Provider", PROVIDER_CLAIM, ""),
                v("X-Auth-Request-User", "user", ""),
                v("X-Auth-Request-Email", "email", ""),
                v(
                    "X-Auth-Request-Preferred-Username",
                    "preferred_username",
                    ""
                ),
                v("X-Auth-Request-Groups", "groups", ""),
                v("X-Auth-Request-Access-Token", "access_token", ""),
                v("X-Auth-Request-Provider", PROVIDER_CLAIM, ""),
            ]
        );
        assert_eq!(
            names(&l.response_rules(), RuleOrigin::AuthproxyExtension),
            [v("X-Auth-Request-Provider", PROVIDER_CLAIM, "")]
        );
    }
}
