//! The module structure, checked: imports between the crate's top-level modules form no cycle,
//! configuration is plain data that imports nothing from the request path, and the leaf
//! libraries import nothing of the crate. (See the module map in docs/design.md.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules that are libraries for everyone else and import no other module of the crate
/// (except other leaves).
const LEAVES: &[&str] = &[
    "clock",
    "crypto",
    "net",
    "logformat",
    "htpasswd",
    "response",
];

/// The listener knows nothing of routes, sessions or identity.
const SERVER_MAY_IMPORT: &[&str] = &["config", "metrics", "response"];

/// What `config` may import: leaves only.
const CONFIG_MAY_IMPORT: &[&str] = &["crypto", "net", "logformat", "htpasswd"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/auth/session.rs` → `auth`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().expect("a component");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_owned()
}

/// `crate::<module>` references outside comments and `#[cfg(test)]` test modules.
fn imports(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                out.insert(name);
            }
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let name = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name == "tests.rs"
            || name.ends_with("_tests.rs")
            || name == "main.rs"
            || name == "lib.rs"
        {
            continue;
        }
        let module = module_of(&src, &f);
        let text = std::fs::read_to_string(&f).expect("read file");
        let deps = g.entry(module.clone()).or_default();
        for d in imports(&text) {
            // `crate::Body` and friends live in lib.rs; `run` is the binary's entry point.
            if d != module && d != "run" {
                deps.insert(d);
            }
        }
    }
    g
}

fn find_cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(n.to_owned());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.to_owned());
        for d in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, g, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for n in g.keys() {
        if let Some(c) = visit(n, g, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn module_imports_form_no_cycle() {
    let g = graph();
    assert!(
        g.contains_key("config") && g.contains_key("routes"),
        "{:?}",
        g.keys()
    );
    if let Some(cycle) = find_cycle(&g) {
        panic!("import cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn configuration_imports_nothing_from_the_request_path() {
    let g = graph();
    let bad: Vec<&String> = g["config"]
        .iter()
        .filter(|d| !CONFIG_MAY_IMPORT.contains(&d.as_str()))
        .collect();
    assert!(
        bad.is_empty(),
        "config imports {bad:?}; it may import only {CONFIG_MAY_IMPORT:?}"
    );
}

#[test]
fn leaf_libraries_import_no_other_module() {
    let g = graph();
    for leaf in LEAVES {
        let deps = g.get(*leaf).unwrap_or_else(|| panic!("no module {leaf}"));
        let bad: Vec<&String> = deps
            .iter()
            .filter(|d| !LEAVES.contains(&d.as_str()))
            .collect();
        assert!(bad.is_empty(), "{leaf} imports {bad:?}");
    }
}

#[test]
fn the_listener_knows_nothing_of_routes_sessions_or_identity() {
    let g = graph();
    let bad: Vec<&String> = g["server"]
        .iter()
        .filter(|d| !SERVER_MAY_IMPORT.contains(&d.as_str()))
        .collect();
    assert!(bad.is_empty(), "server imports {bad:?}");
}

#[test]
fn the_checker_sees_imports_and_ignores_comments_and_tests() {
    let text = "use crate::config::X;\n// crate::routes in a comment\nfn f() { crate::metrics::global(); }\n#[cfg(test)]\nmod tests {\n use crate::app::App;\n}\n";
    let got: Vec<String> = imports(text).into_iter().collect();
    assert_eq!(got, ["config", "metrics"]);
}
