//! Reading a policy from its YAML or TOML tree (converted to JSON values first, so both
//! formats go through this one reader). Every problem is reported, each naming its field.

use serde_json::{Map, Value};

use super::{
    AuthKind, ClaimCriterion, ClaimTest, Criterion, PathMatch, PolicyConfig, PolicyDefault,
    PolicyRule,
};

/// Deepest nesting of `and` / `or` / `not`.
const MAX_DEPTH: usize = 16;
/// Longest rule name.
const MAX_NAME: usize = 64;

/// Read the policy at `origin` (a description such as `alpha.yaml field authproxyPolicy`,
/// used in every message). Errors: one complete sentence each.
pub fn read(tree: &Value, origin: &str) -> Result<PolicyConfig, Vec<String>> {
    let mut r = Reader {
        origin,
        errors: Vec::new(),
    };
    let policy = r.policy(tree);
    if r.errors.is_empty() {
        Ok(policy)
    } else {
        Err(r.errors)
    }
}

/// A field name with case, `_` and `-` ignored (`emailDomains` = `email_domains`).
fn norm(k: &str) -> String {
    k.chars()
        .filter(|c| *c != '_' && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

struct Reader<'a> {
    origin: &'a str,
    errors: Vec<String>,
}

fn join(at: &str, field: &str) -> String {
    if at.is_empty() {
        field.to_owned()
    } else {
        format!("{at}.{field}")
    }
}

impl Reader<'_> {
    fn err(&mut self, at: &str, msg: impl std::fmt::Display) {
        if at.is_empty() {
            self.errors.push(format!("{}: {msg}", self.origin));
        } else {
            self.errors.push(format!("{}.{at}: {msg}", self.origin));
        }
    }

    /// The fields of a mapping, each with its canonical name from `known`; unknown ones are
    /// reported.
    fn fields<'v>(
        &mut self,
        m: &'v Map<String, Value>,
        at: &str,
        known: &[&'static str],
    ) -> Vec<(&'static str, String, &'v Value)> {
        let mut out = Vec::new();
        for (k, v) in m {
            match known.iter().find(|f| norm(f) == norm(k)) {
                Some(canon) => out.push((*canon, join(at, k), v)),
                None => self.err(
                    &join(at, k),
                    format!("unknown field {k:?} (known here: {})", known.join(", ")),
                ),
            }
        }
        out
    }

    fn string(&mut self, v: &Value, at: &str) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            other => {
                self.err(at, format!("expected a string, found {}", kind(other)));
                None
            }
        }
    }

    /// A string or a list of strings (numbers and booleans read as their text), non-empty,
    /// each entry trimmed and non-empty.
    fn strings(&mut self, v: &Value, at: &str) -> Option<Vec<String>> {
        let items: Vec<&Value> = match v {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let text = match item {
                Value::String(s) => s.trim().to_owned(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    self.err(
                        at,
                        format!("entry {} is {}; expected strings", i + 1, kind(other)),
                    );
                    return None;
                }
            };
            if text.is_empty() {
                self.err(at, format!("entry {} is empty", i + 1));
                return None;
            }
            out.push(text);
        }
        if out.is_empty() {
            self.err(
                at,
                "is empty: a criterion on an empty list never holds; remove it",
            );
            return None;
        }
        Some(out)
    }

    fn policy(&mut self, tree: &Value) -> PolicyConfig {
        let mut p = PolicyConfig {
            origin: self.origin.to_owned(),
            ..PolicyConfig::default()
        };
        let Value::Object(m) = tree else {
            self.err(
                "",
                format!("must be a mapping with rules (found {})", kind(tree)),
            );
            return p;
        };
        let mut have_rules = false;
        for (name, at, v) in self.fields(m, "", &["default", "rules", "auditLog"]) {
            match name {
                "default" => {
                    if let Some(s) = self.string(v, &at) {
                        match norm(&s).as_str() {
                            "allowsignedin" => p.default = PolicyDefault::AllowSignedIn,
                            "deny" => p.default = PolicyDefault::Deny,
                            _ => self.err(&at, format!("{s:?} is not one of allowSignedIn, deny")),
                        }
                    }
                }
                "auditLog" => {
                    if let Some(s) = self.string(v, &at) {
                        if s.trim().is_empty() {
                            self.err(&at, "is empty; remove it or name a file");
                        } else {
                            p.audit_log = Some(s.trim().into());
                        }
                    }
                }
                _ => {
                    have_rules = true;
                    match v {
                        Value::Array(items) => {
                            for (i, item) in items.iter().enumerate() {
                                if let Some(rule) = self.rule(item, i) {
                                    p.rules.push(rule);
                                }
                            }
                        }
                        other => self.err(
                            &at,
                            format!("expected a list of rules, found {}", kind(other)),
                        ),
                    }
                }
            }
        }
        if !have_rules {
            self.err("", "has no rules; list at least one (docs/policy.md)");
        }
        let mut seen = std::collections::HashSet::new();
        for r in &p.rules {
            if !seen.insert(r.name.clone()) {
                self.errors.push(format!(
                    "{}: rule name {:?} is used twice; rule names must be unique",
                    self.origin, r.name
                ));
            }
        }
        p
    }

    fn rule(&mut self, v: &Value, i: usize) -> Option<PolicyRule> {
        let at = format!("rules[{i}]");
        let Value::Object(m) = v else {
            self.err(&at, format!("expected a mapping, found {}", kind(v)));
            return None;
        };
        let mut rule = PolicyRule {
            name: format!("rule-{}", i + 1),
            path: PathMatch::Any,
            methods: Vec::new(),
            hosts: Vec::new(),
            allow: None,
            deny: None,
        };
        let errors_before = self.errors.len();
        let mut path_set = false;
        for (name, fat, v) in self.fields(
            m,
            &at,
            &[
                "name",
                "path",
                "pathRegex",
                "methods",
                "method",
                "hosts",
                "host",
                "allow",
                "deny",
            ],
        ) {
            match name {
                "name" => {
                    if let Some(s) = self.string(v, &fat) {
                        let ok = !s.is_empty()
                            && s.len() <= MAX_NAME
                            && s.bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
                        if ok {
                            rule.name = s;
                        } else {
                            self.err(
                                &fat,
                                format!(
                                    "{s:?}: a rule name is 1 to {MAX_NAME} of A-Z a-z 0-9 . _ -"
                                ),
                            );
                        }
                    }
                }
                "path" | "pathRegex" => {
                    if path_set {
                        self.err(&at, "give path (a prefix) or pathRegex, not both");
                        continue;
                    }
                    path_set = true;
                    let Some(s) = self.string(v, &fat) else {
                        continue;
                    };
                    if name == "path" {
                        if !s.starts_with('/')
                            || s.bytes()
                                .any(|b| b <= 0x20 || b == 0x7f || b"?#%\\".contains(&b))
                        {
                            self.err(&fat, format!("{s:?} must be a path starting with / (no ?, #, %, \\, spaces); write a decoded path"));
                        } else {
                            rule.path = PathMatch::Prefix(s);
                        }
                    } else {
                        match regex::RegexBuilder::new(&s).size_limit(1 << 20).build() {
                            Ok(_) => rule.path = PathMatch::Regex(s),
                            Err(e) => self.err(
                                &fat,
                                format!("{s:?} is not a valid regular expression: {e}"),
                            ),
                        }
                    }
                }
                "methods" | "method" => {
                    for m in self.strings(v, &fat).unwrap_or_default() {
                        let upper = m.to_ascii_uppercase();
                        if http::Method::from_bytes(upper.as_bytes()).is_err() {
                            self.err(&fat, format!("{m:?} is not an HTTP method"));
                        } else if !rule.methods.contains(&upper) {
                            rule.methods.push(upper);
                        }
                    }
                }
                "hosts" | "host" => {
                    for h in self.strings(v, &fat).unwrap_or_default() {
                        let lower = h.to_ascii_lowercase();
                        let bare = lower.strip_prefix("*.").unwrap_or(&lower);
                        let ok = !bare.is_empty()
                            && !bare.starts_with('.')
                            && !bare.ends_with('.')
                            && !bare.contains("..")
                            && bare
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b))
                            && (!bare.contains(':') || bare.starts_with('['));
                        if ok {
                            rule.hosts.push(lower);
                        } else {
                            self.err(&fat, format!("{h:?} is not a host name or *.domain (write it without port or scheme)"));
                        }
                    }
                }
                "allow" => rule.allow = self.criterion(v, &fat, 0),
                _ => rule.deny = self.criterion(v, &fat, 0),
            }
        }
        if rule.allow.is_none() && rule.deny.is_none() && self.errors.len() == errors_before {
            self.err(&at, "has neither allow nor deny");
        }
        (self.errors.len() == errors_before).then_some(rule)
    }

    fn criterion(&mut self, v: &Value, at: &str, depth: usize) -> Option<Criterion> {
        if depth > MAX_DEPTH {
            self.err(
                at,
                format!("nests and/or/not deeper than {MAX_DEPTH} levels"),
            );
            return None;
        }
        let Value::Object(m) = v else {
            self.err(at, format!("expected a mapping of criteria (groups, emails, emailDomains, users, claim, provider, authMethod, signedIn, and, or, not), found {}", kind(v)));
            return None;
        };
        if m.is_empty() {
            self.err(at, "is empty; give at least one criterion");
            return None;
        }
        let mut all = Vec::new();
        let mut ok = true;
        for (name, fat, v) in self.fields(
            m,
            at,
            &[
                "signedIn",
                "and",
                "or",
                "not",
                "groups",
                "group",
                "emails",
                "email",
                "emailDomains",
                "emailDomain",
                "users",
                "user",
                "claim",
                "providers",
                "provider",
                "authMethods",
                "authMethod",
            ],
        ) {
            let c = match name {
                "signedIn" => match v {
                    Value::Bool(true) => Some(Criterion::SignedIn),
                    Value::Bool(false) => {
                        self.err(
                            &fat,
                            "false never holds; use not: {signedIn: true} if you mean that",
                        );
                        None
                    }
                    other => {
                        self.err(&fat, format!("expected true, found {}", kind(other)));
                        None
                    }
                },
                "and" | "or" => match v {
                    Value::Array(items) if !items.is_empty() => {
                        let mut out = Vec::new();
                        let mut inner_ok = true;
                        for (i, item) in items.iter().enumerate() {
                            match self.criterion(item, &format!("{fat}[{i}]"), depth + 1) {
                                Some(c) => out.push(c),
                                None => inner_ok = false,
                            }
                        }
                        inner_ok.then(|| {
                            if name == "and" {
                                Criterion::And(out)
                            } else {
                                Criterion::Or(out)
                            }
                        })
                    }
                    other => {
                        self.err(
                            &fat,
                            format!(
                                "expected a non-empty list of criteria, found {}",
                                if other.is_array() {
                                    "an empty list"
                                } else {
                                    kind(other)
                                }
                            ),
                        );
                        None
                    }
                },
                "not" => self
                    .criterion(v, &fat, depth + 1)
                    .map(|c| Criterion::Not(Box::new(c))),
                "groups" | "group" => self.strings(v, &fat).map(Criterion::Groups),
                "emails" | "email" => self.emails(v, &fat),
                "emailDomains" | "emailDomain" => self.email_domains(v, &fat),
                "users" | "user" => self.strings(v, &fat).map(Criterion::Users),
                "claim" => self.claim(v, &fat),
                "providers" | "provider" => self.strings(v, &fat).map(Criterion::Providers),
                _ => self.auth_methods(v, &fat),
            };
            match c {
                Some(c) => all.push(c),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        if all.len() == 1 {
            all.pop()
        } else {
            Some(Criterion::And(all))
        }
    }

    fn emails(&mut self, v: &Value, at: &str) -> Option<Criterion> {
        let list = self.strings(v, at)?;
        let mut out = Vec::with_capacity(list.len());
        for e in list {
            let parts: Vec<&str> = e.split('@').collect();
            if parts.len() != 2
                || parts[0].is_empty()
                || parts[1].is_empty()
                || e.chars().any(char::is_whitespace)
            {
                self.err(at, format!("{e:?} is not an email address (local@domain)"));
                return None;
            }
            out.push(e.to_ascii_lowercase());
        }
        Some(Criterion::Emails(out))
    }

    fn email_domains(&mut self, v: &Value, at: &str) -> Option<Criterion> {
        let list = self.strings(v, at)?;
        let mut out = Vec::with_capacity(list.len());
        for d in list {
            let lower = d.to_ascii_lowercase();
            let (sub, bare) = match lower.strip_prefix("*.").or_else(|| lower.strip_prefix('.')) {
                Some(b) => (true, b),
                None => (false, lower.as_str()),
            };
            let ok = !bare.is_empty()
                && !bare.starts_with('.')
                && !bare.contains("..")
                && bare
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b));
            if !ok {
                self.err(at, format!("{d:?} is not a domain (example.com, or .example.com / *.example.com for its subdomains)"));
                return None;
            }
            out.push(if sub {
                format!(".{bare}")
            } else {
                bare.to_owned()
            });
        }
        Some(Criterion::EmailDomains(out))
    }

    fn auth_methods(&mut self, v: &Value, at: &str) -> Option<Criterion> {
        let list = self.strings(v, at)?;
        let mut out = Vec::with_capacity(list.len());
        for m in list {
            let k = match norm(&m).as_str() {
                "session" | "browser" | "cookie" => AuthKind::Session,
                "bearer" | "jwt" => AuthKind::Bearer,
                "htpasswd" | "basic" => AuthKind::Htpasswd,
                _ => {
                    self.err(at, format!("{m:?} is not one of session, bearer, htpasswd"));
                    return None;
                }
            };
            if !out.contains(&k) {
                out.push(k);
            }
        }
        Some(Criterion::AuthMethods(out))
    }

    fn claim(&mut self, v: &Value, at: &str) -> Option<Criterion> {
        let Value::Object(m) = v else {
            self.err(
                at,
                format!(
                    "expected {{name: …, equals|contains|in: …}}, found {}",
                    kind(v)
                ),
            );
            return None;
        };
        let mut name = None;
        let mut tests = Vec::new();
        for (field, fat, v) in self.fields(m, at, &["name", "equals", "contains", "in"]) {
            match field {
                "name" => name = self.string(v, &fat).map(|s| s.trim().to_owned()),
                "in" => {
                    if let Some(list) = self.strings(v, &fat) {
                        tests.push(ClaimTest::In(list));
                    }
                }
                _ => {
                    let text = match v {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        Value::Bool(b) => Some(b.to_string()),
                        other => {
                            self.err(
                                &fat,
                                format!(
                                    "expected a string, number or boolean, found {}",
                                    kind(other)
                                ),
                            );
                            None
                        }
                    };
                    if let Some(t) = text {
                        tests.push(if field == "equals" {
                            ClaimTest::Equals(t)
                        } else {
                            ClaimTest::Contains(t)
                        });
                    }
                }
            }
        }
        let name = match name {
            Some(n)
                if !n.is_empty()
                    && !n.starts_with('.')
                    && !n.ends_with('.')
                    && !n.contains("..") =>
            {
                n
            }
            Some(n) => {
                self.err(
                    &join(at, "name"),
                    format!("{n:?} is not a claim name (dots separate nested names)"),
                );
                return None;
            }
            None => {
                self.err(at, "needs a name (the claim to test)");
                return None;
            }
        };
        if tests.len() != 1 {
            self.err(at, "needs exactly one of equals, contains, in");
            return None;
        }
        tests
            .pop()
            .map(|test| Criterion::Claim(ClaimCriterion { name, test }))
    }
}
