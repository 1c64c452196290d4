//! The configuration readers, through the public entry point `authproxy::config::load(args,
//! env)`: the TOML file (`--config`, written to a temporary file), `OAUTH2_PROXY_*` variables,
//! flags, and oauth2-proxy's alpha YAML (`--alpha-config`).
//!
//! Properties: never a panic; every refusal is a non-empty list of errors, each with a
//! message; an accepted configuration's warnings compute.
//!
//! Paths: options naming a file or directory get a path inside this target's temporary
//! directory, and inputs that spell a device or proc path are skipped, so no input makes
//! `load` read from a device (`/dev/zero`, `/proc/self/fd/0`).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use authproxy::config::options::{Kind, OPTIONS};
use authproxy::config::{load, Command};
use bolero::TypeGenerator;

use crate::support::{expand, pick, typed};

const DICT: &[&str] = &[
    "=",
    "\"",
    "'",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\n",
    "#",
    "true",
    "false",
    "1h",
    "168h",
    "0",
    "-1",
    "http://127.0.0.1:8080",
    "https://idp.example.com",
    "static://202",
    "file:///srv#/s",
    "oidc",
    "github",
    "*",
    ".example.com",
    "^/public/",
    "(",
    "GET=",
    ":4180",
    "127.0.0.1:0",
    "S256",
    "lax",
    "none",
    "x",
    "\\",
    "\u{0}",
];

const BASE: [&str; 7] = [
    "--provider=oidc",
    "--oidc-issuer-url=https://idp.example.com",
    "--client-id=app",
    "--client-secret=s3cret",
    "--upstream=http://127.0.0.1:8080",
    "--email-domain=example.com",
    "--cookie-secret=0123456789abcdef0123456789abcdef",
];

#[derive(Debug, TypeGenerator)]
enum Value {
    Text(Vec<u8>),
    Int(i64),
    Bool(bool),
    List(Vec<Vec<u8>>),
    Float,
    Table,
}

#[derive(Debug, TypeGenerator)]
struct Input {
    base: bool,
    raw_file: Option<Vec<u8>>,
    file: Vec<(u16, Value)>,
    env: Vec<(u16, Vec<u8>)>,
    flags: Vec<(u16, Vec<u8>, bool)>,
    check: bool,
}

/// Anything that could make `load` open a device or a proc file, or create a file where the
/// test runs: `logging_filename` is created by the loader (as oauth2-proxy's validation does),
/// so generated inputs naming it in any spelling are left out (its value is a plain path).
fn unsafe_text(s: &str) -> bool {
    ["dev", "proc", "sys", "fd", "std", "tty", "run"]
        .iter()
        .any(|w| s.contains(w))
        || s.to_ascii_lowercase().contains("filename")
}

/// Options whose value is a path the loader opens (`logging_filename` is even created, as
/// oauth2-proxy's validation does): they get a file in the fuzz directory, never a generated
/// name that would land in the working directory.
fn names_a_path(key: &str) -> bool {
    key.ends_with("_file")
        || key.ends_with("_files")
        || key.ends_with("_dir")
        || key.ends_with("_filename")
}

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("authproxy-fuzz-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("secret"), "s3cret\n").expect("secret file");
        Self { dir }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn check_outcome(result: Result<Command, authproxy::config::ConfigErrors>) {
    match result {
        Ok(Command::Run(cfg)) | Ok(Command::Check(cfg)) => {
            let _ = cfg.warnings();
        }
        Ok(_) => {}
        Err(errors) => {
            assert!(!errors.0.is_empty(), "a refusal with no error");
            for e in &errors.0 {
                assert!(!e.message.trim().is_empty(), "an empty error for {}", e.key);
            }
        }
    }
}

fn value_text(kind: Kind, raw: &[u8]) -> String {
    let text = expand(raw, DICT);
    match (kind, raw.first()) {
        (Kind::Duration, Some(b)) if b % 3 == 0 => {
            pick(&["1h", "0", "168h", "15m", "1.5h", "1d"], *b).to_string()
        }
        (Kind::Bool, Some(b)) if b % 3 == 0 => {
            pick(&["true", "false", "TRUE", "1", "yes"], *b).to_string()
        }
        _ => text,
    }
}

#[test]
fn config_sources() {
    let scratch = Scratch::new("config");
    let toml_path = scratch.path("authproxy.cfg");
    let secret_path = scratch.path("secret");
    typed::<Input>("config", 1024, |input| {
        let mut args: Vec<String> = Vec::new();
        if input.base {
            args.extend(BASE.iter().map(|s| s.to_string()));
        }
        let mut env: HashMap<String, String> = HashMap::new();
        let mut toml = String::new();
        match &input.raw_file {
            Some(raw) => toml.push_str(&expand(raw, DICT)),
            None => {
                for (i, v) in input.file.iter().take(12) {
                    let spec = pick(OPTIONS, (*i % 256) as u8);
                    let rendered = if names_a_path(spec.key) {
                        toml_string(&secret_path.to_string_lossy())
                    } else {
                        match v {
                            Value::Text(t) => toml_string(&value_text(spec.kind, t)),
                            Value::Int(n) => n.to_string(),
                            Value::Bool(b) => b.to_string(),
                            Value::List(items) => format!(
                                "[{}]",
                                items
                                    .iter()
                                    .take(4)
                                    .map(|t| toml_string(&expand(t, DICT)))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                            Value::Float => "1.5".to_owned(),
                            Value::Table => "{ a = 1 }".to_owned(),
                        }
                    };
                    toml.push_str(&format!("{} = {rendered}\n", spec.key));
                }
            }
        }
        for (i, raw) in input.env.iter().take(8) {
            let spec = pick(OPTIONS, (*i % 256) as u8);
            let value = if names_a_path(spec.key) {
                secret_path.to_string_lossy().into_owned()
            } else {
                value_text(spec.kind, raw)
            };
            let name = if *i >= 0x8000 {
                format!("OAUTH2_PROXY_{}", expand(raw, &[]))
            } else {
                spec.env()
            };
            env.insert(name, value);
        }
        for (i, raw, inline) in input.flags.iter().take(8) {
            let spec = pick(OPTIONS, (*i % 256) as u8);
            let Some(flag) = spec.flag else { continue };
            let value = if names_a_path(spec.key) {
                secret_path.to_string_lossy().into_owned()
            } else {
                value_text(spec.kind, raw)
            };
            if *inline {
                args.push(format!("--{flag}={value}"));
            } else {
                args.push(format!("--{flag}"));
                args.push(value);
            }
        }
        let all = format!("{toml}{env:?}{args:?}");
        if unsafe_text(&all) {
            return;
        }
        std::fs::write(&toml_path, &toml).expect("write config");
        args.push("--config".to_owned());
        args.push(toml_path.to_string_lossy().into_owned());
        if input.check {
            args.push("--check".to_owned());
        }
        let args: Vec<OsString> = args.into_iter().map(OsString::from).collect();
        check_outcome(load(&args, &env));
    });
}

#[derive(Debug, TypeGenerator)]
struct Provider {
    id: Vec<u8>,
    kind: u8,
    client_id: Vec<u8>,
    issuer: Vec<u8>,
    claim: Vec<u8>,
    groups: Vec<Vec<u8>>,
    extra: Option<(u8, Vec<u8>)>,
}

#[derive(Debug, TypeGenerator)]
struct AlphaInput {
    raw: Option<Vec<u8>>,
    providers: Vec<Provider>,
    upstreams: Vec<(Vec<u8>, Vec<u8>)>,
    bind: Option<Vec<u8>>,
    legacy: Vec<(u16, Vec<u8>)>,
}

fn yaml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

const KINDS: [&str; 9] = [
    "oidc",
    "github",
    "google",
    "gitlab",
    "keycloak-oidc",
    "entra-id",
    "azure",
    "bitbucket",
    "x",
];
const EXTRA: [&str; 6] = [
    "githubConfig: {org: ",
    "googleConfig: {group: ",
    "azureConfig: {tenant: ",
    "gitlabConfig: {group: ",
    "keycloakConfig: {roles: ",
    "loginURL: {x: ",
];

fn alpha_yaml(input: &AlphaInput, secret_path: &Path) -> String {
    if let Some(raw) = &input.raw {
        return expand(
            raw,
            &[
                "providers:",
                "\n",
                "- ",
                "  ",
                "id: ",
                "provider: oidc",
                "clientID: ",
                "oidcConfig:",
                "issuerURL: ",
                "upstreamConfig:",
                "upstreams:",
                "uri: ",
                "path: /",
                "&a",
                "*a",
                "<<: *a",
                "{",
                "}",
                "[",
                "]",
                ": ",
                "'",
                "\"",
                "!!binary",
                "~",
            ],
        );
    }
    let mut y = String::from("providers:\n");
    for p in input.providers.iter().take(3) {
        y.push_str(&format!("  - id: {}\n", yaml_string(&expand(&p.id, DICT))));
        y.push_str(&format!("    provider: {}\n", pick(&KINDS, p.kind)));
        y.push_str(&format!(
            "    clientID: {}\n",
            yaml_string(&expand(&p.client_id, DICT))
        ));
        y.push_str(&format!(
            "    clientSecretFile: {}\n",
            yaml_string(&secret_path.to_string_lossy())
        ));
        y.push_str(&format!(
            "    oidcConfig: {{issuerURL: {}, emailClaim: {}}}\n",
            yaml_string(&expand(&p.issuer, DICT)),
            yaml_string(&expand(&p.claim, DICT))
        ));
        let groups: Vec<String> = p
            .groups
            .iter()
            .take(3)
            .map(|g| yaml_string(&expand(g, DICT)))
            .collect();
        y.push_str(&format!("    allowedGroups: [{}]\n", groups.join(", ")));
        if let Some((k, v)) = &p.extra {
            y.push_str(&format!(
                "    {}{}}}\n",
                pick(&EXTRA, *k),
                yaml_string(&expand(v, DICT))
            ));
        }
    }
    if !input.upstreams.is_empty() {
        y.push_str("upstreamConfig:\n  upstreams:\n");
        for (i, (path, uri)) in input.upstreams.iter().take(3).enumerate() {
            y.push_str(&format!(
                "    - {{id: u{i}, path: {}, uri: {}}}\n",
                yaml_string(&expand(path, DICT)),
                yaml_string(&expand(uri, DICT))
            ));
        }
    }
    if let Some(b) = &input.bind {
        y.push_str(&format!(
            "server:\n  BindAddress: {}\n",
            yaml_string(&expand(b, DICT))
        ));
    }
    y
}

#[test]
fn alpha_config() {
    let scratch = Scratch::new("alpha");
    let yaml_path = scratch.path("alpha.yaml");
    let secret_path = scratch.path("secret");
    typed::<AlphaInput>("alpha", 1024, |input| {
        let yaml = alpha_yaml(input, &secret_path);
        let mut args: Vec<String> = vec![
            "--cookie-secret=0123456789abcdef0123456789abcdef".into(),
            "--email-domain=*".into(),
        ];
        for (i, raw) in input.legacy.iter().take(3) {
            let spec = pick(OPTIONS, (*i % 256) as u8);
            if let Some(flag) = spec.flag {
                if !names_a_path(spec.key) {
                    args.push(format!("--{flag}={}", value_text(spec.kind, raw)));
                }
            }
        }
        if unsafe_text(&format!("{yaml}{args:?}")) {
            return;
        }
        std::fs::write(&yaml_path, &yaml).expect("write alpha config");
        args.push("--alpha-config".into());
        args.push(yaml_path.to_string_lossy().into_owned());
        let args: Vec<OsString> = args.into_iter().map(OsString::from).collect();
        check_outcome(load(&args, &HashMap::new()));
    });
}
