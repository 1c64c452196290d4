//! A YAML writer that formats exactly as oauth2-proxy v7's `--convert-config-to-alpha` does
//! (go.yaml.in/yaml/v3 with 4-space indentation): block mappings and sequences, sequence items
//! indented under their key, yaml.v3's indentation rounding, and its choice of plain, single-
//! or double-quoted scalars. Hand-written because byte-for-byte compatibility with that Go
//! emitter is the point (serde YAML writers indent and quote differently); it writes only the
//! node shapes the converter builds.

use std::fmt::Write as _;

/// One YAML node.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Str(String),
    Bool(bool),
    Int(i64),
    Seq(Vec<Item>),
    Map(Vec<Entry>),
}

/// A sequence item, optionally preceded by a comment line.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub node: Node,
    pub comment: Option<String>,
}

/// A mapping entry, optionally followed by a comment on its line.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: &'static str,
    pub node: Node,
    pub comment: Option<String>,
}

impl Node {
    pub fn str(s: impl Into<String>) -> Node {
        Node::Str(s.into())
    }

    /// A `[]byte` value as yaml.v3 writes it from a decoded Go struct: a sequence of integers.
    pub fn bytes(b: &[u8]) -> Node {
        Node::Seq(
            b.iter()
                .map(|&x| Item::new(Node::Int(i64::from(x))))
                .collect(),
        )
    }

    /// A list of strings.
    pub fn strs<S: AsRef<str>>(v: &[S]) -> Node {
        Node::Seq(v.iter().map(|s| Item::new(Node::str(s.as_ref()))).collect())
    }
}

impl Item {
    pub fn new(node: Node) -> Item {
        Item {
            node,
            comment: None,
        }
    }
}

/// A mapping under construction (keys in insertion order).
#[derive(Default)]
pub struct MapBuilder(pub Vec<Entry>);

impl MapBuilder {
    pub fn put(&mut self, key: &'static str, node: Node) -> &mut Self {
        self.0.push(Entry {
            key,
            node,
            comment: None,
        });
        self
    }

    /// `put` with a comment at the end of the key's line.
    pub fn put_commented(&mut self, key: &'static str, node: Node, comment: &str) -> &mut Self {
        self.0.push(Entry {
            key,
            node,
            comment: Some(comment.to_owned()),
        });
        self
    }

    /// `put` unless the string is empty (Go `omitempty`).
    pub fn string(&mut self, key: &'static str, s: &str) -> &mut Self {
        if !s.is_empty() {
            self.put(key, Node::str(s));
        }
        self
    }

    /// `put` unless the list is empty (Go `omitempty`).
    pub fn list<S: AsRef<str>>(&mut self, key: &'static str, v: &[S]) -> &mut Self {
        if !v.is_empty() {
            self.put(key, Node::strs(v));
        }
        self
    }

    pub fn boolean(&mut self, key: &'static str, b: bool) -> &mut Self {
        self.put(key, Node::Bool(b))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn build(self) -> Node {
        Node::Map(self.0)
    }
}

/// The document: `root` must be a mapping.
pub fn to_string(root: &Node) -> String {
    let mut out = String::new();
    if let Node::Map(entries) = root {
        if entries.is_empty() {
            out.push_str("{}\n");
        } else {
            map(&mut out, entries, 0, false);
        }
    }
    out
}

/// yaml.v3's `increase_indent` for a block collection that is not the first thing inside a
/// sequence item: round up to the next multiple of the indentation (4).
fn next_indent(indent: usize) -> usize {
    4 * ((indent + 4) / 4)
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn comment(out: &mut String, c: &Option<String>) {
    if let Some(c) = c {
        let _ = write!(out, " # {c}");
    }
}

fn map(out: &mut String, entries: &[Entry], indent: usize, first_inline: bool) {
    for (i, e) in entries.iter().enumerate() {
        if i > 0 || !first_inline {
            pad(out, indent);
        }
        out.push_str(e.key);
        out.push(':');
        value(out, &e.node, indent, &e.comment);
    }
}

/// A mapping value (after `key:`).
fn value(out: &mut String, node: &Node, indent: usize, c: &Option<String>) {
    match node {
        Node::Map(m) if m.is_empty() => {
            out.push_str(" {}");
            comment(out, c);
            out.push('\n');
        }
        Node::Seq(s) if s.is_empty() => {
            out.push_str(" []");
            comment(out, c);
            out.push('\n');
        }
        Node::Map(m) => {
            comment(out, c);
            out.push('\n');
            map(out, m, next_indent(indent), false);
        }
        Node::Seq(s) => {
            comment(out, c);
            out.push('\n');
            seq(out, s, next_indent(indent));
        }
        scalar_node => {
            out.push(' ');
            scalar(out, scalar_node, next_indent(indent));
            comment(out, c);
            out.push('\n');
        }
    }
}

fn seq(out: &mut String, items: &[Item], indent: usize) {
    for item in items {
        if let Some(c) = &item.comment {
            pad(out, indent);
            let _ = writeln!(out, "# {c}");
        }
        pad(out, indent);
        out.push_str("- ");
        match &item.node {
            Node::Map(m) if !m.is_empty() => map(out, m, indent + 2, true),
            Node::Map(_) => out.push_str("{}\n"),
            Node::Seq(s) if s.is_empty() => out.push_str("[]\n"),
            Node::Seq(s) => {
                // Not produced by the converter; written in block style on the next line.
                out.push('\n');
                seq(out, s, indent + 2);
            }
            scalar_node => {
                scalar(out, scalar_node, indent + 2);
                out.push('\n');
            }
        }
    }
}

fn scalar(out: &mut String, node: &Node, block_indent: usize) {
    match node {
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Node::Str(s) => string(out, s, block_indent),
        Node::Seq(_) | Node::Map(_) => {}
    }
}

/// A string scalar in the style yaml.v3 picks.
fn string(out: &mut String, s: &str, block_indent: usize) {
    if s.contains('\n') && !s.chars().any(|c| is_special(c) && c != '\n') {
        literal(out, s, block_indent);
    } else if !resolves_as_string(s) {
        double_quoted(out, s);
    } else {
        match analyze(s) {
            Style::Plain => out.push_str(s),
            Style::Single => {
                out.push('\'');
                out.push_str(&s.replace('\'', "''"));
                out.push('\'');
            }
            Style::Double => double_quoted(out, s),
        }
    }
}

/// `|-` / `|` / `|+` literal block (yaml.v3 uses it for strings with line breaks).
fn literal(out: &mut String, s: &str, indent: usize) {
    let trailing = s.len() - s.trim_end_matches('\n').len();
    out.push('|');
    match trailing {
        0 => out.push('-'),
        1 => {}
        _ => out.push('+'),
    }
    if s.starts_with(' ') {
        let _ = write!(out, "{}", 4);
    }
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            pad(out, indent);
            out.push_str(line);
        }
    }
}

#[derive(PartialEq)]
enum Style {
    Plain,
    Single,
    Double,
}

/// libyaml's printable set (what yaml.v3 writes without escaping, unicode on).
fn is_printable(c: char) -> bool {
    matches!(c, '\u{0A}' | '\u{20}'..='\u{7E}' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
        && c != '\u{FEFF}'
}

fn is_special(c: char) -> bool {
    !is_printable(c) || c == '\u{85}' || c == '\u{2028}' || c == '\u{2029}' || c == '\r'
}

/// yaml_emitter_analyze_scalar + select_scalar_style for a block mapping value or sequence item.
fn analyze(s: &str) -> Style {
    let b: Vec<char> = s.chars().collect();
    if b.is_empty() {
        return Style::Single;
    }
    let mut block_indicators = false;
    let mut special = false;
    if b.len() >= 3
        && ((b[0] == '-' && b[1] == '-' && b[2] == '-')
            || (b[0] == '.' && b[1] == '.' && b[2] == '.'))
    {
        block_indicators = true;
    }
    let blankz =
        |i: usize| i >= b.len() || b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r';
    let mut preceded_by_ws = true;
    for (i, &c) in b.iter().enumerate() {
        let followed_by_ws = blankz(i + 1);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_ws => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_indicators = true,
                '#' if preceded_by_ws => block_indicators = true,
                _ => {}
            }
        }
        if is_special(c) || c == '\t' {
            special = true;
        }
        preceded_by_ws = c == ' ' || c == '\t' || c == '\n';
    }
    let leading_space = b[0] == ' ';
    let trailing_space = b[b.len() - 1] == ' ';
    if special {
        Style::Double
    } else if block_indicators || leading_space || trailing_space {
        Style::Single
    } else {
        Style::Plain
    }
}

fn double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{B}' => out.push_str("\\v"),
            '\u{C}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1B}' => out.push_str("\\e"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{85}' => out.push_str("\\N"),
            '\u{A0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if is_printable(c) => out.push(c),
            c if (c as u32) <= 0xFF => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c if (c as u32) <= 0xFFFF => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08X}", c as u32);
            }
        }
    }
    out.push('"');
}

/// Whether yaml.v3 would read `s`, written plain, back as a string (else it double-quotes it):
/// not null, a boolean (also YAML 1.1's yes/no/on/off/y/n), a number, a timestamp or a
/// sexagesimal float.
fn resolves_as_string(s: &str) -> bool {
    const NON_STRINGS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", "y",
        "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
        "OFF", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
        ".nan", ".NaN", ".NAN", "<<",
    ];
    if NON_STRINGS.contains(&s) {
        return false;
    }
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first.is_ascii_digit() || matches!(first, '-' | '+' | '.')) {
        return true;
    }
    if is_timestamp(s) || is_base60_float(s) {
        return false;
    }
    let plain: String = s.chars().filter(|&c| c != '_').collect();
    if crate::config::build::go_parse_int(&plain).is_some() || parse_go_uint(&plain) {
        return false;
    }
    if is_yaml_float(&plain) {
        return false;
    }
    let bin = plain.strip_prefix('-').unwrap_or(&plain);
    for (prefix, radix) in [("0b", 2), ("0o", 8)] {
        if let Some(d) = bin.strip_prefix(prefix) {
            if !d.is_empty() && u64::from_str_radix(d, radix).is_ok() {
                return false;
            }
        }
    }
    true
}

fn parse_go_uint(s: &str) -> bool {
    if s.starts_with(['-', '+']) {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    let (radix, d) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    !d.is_empty() && u64::from_str_radix(d, radix).is_ok()
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// yaml.v3's timestamp forms start with `YYYY-M-D`.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let run = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    if b.len() < 8 || run(0) != 4 || b[4] != b'-' {
        return false;
    }
    let m = run(5);
    if !(1..=2).contains(&m) || b.get(5 + m) != Some(&b'-') {
        return false;
    }
    let d = run(6 + m);
    if !(1..=2).contains(&d) {
        return false;
    }
    let end = 6 + m + d;
    end == b.len() || matches!(b[end], b'T' | b't' | b' ')
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60_float(s: &str) -> bool {
    let t = s.trim_start_matches(['-', '+']);
    let (main, frac) = match t.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (t, None),
    };
    let mut parts = main.split(':');
    let Some(head) = parts.next() else {
        return false;
    };
    let head_ok = head.starts_with(|c: char| c.is_ascii_digit())
        && head.chars().all(|c| c.is_ascii_digit() || c == '_');
    let rest: Vec<&str> = parts.collect();
    head_ok
        && !rest.is_empty()
        && rest.iter().all(|p| {
            (1..=2).contains(&p.len())
                && p.chars().all(|c| c.is_ascii_digit())
                && (p.len() == 1 || p.as_bytes()[0] <= b'5')
        })
        && frac.is_none_or(|f| f.chars().all(|c| c.is_ascii_digit() || c == '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> String {
        let mut b = MapBuilder::default();
        b.put("clientID", Node::str(s));
        to_string(&b.build())
            .strip_prefix("clientID: ")
            .unwrap()
            .trim_end_matches('\n')
            .to_owned()
    }

    /// yaml.v3's choices, recorded from oauth2-proxy v7.15.3's `--convert-config-to-alpha`.
    #[test]
    fn scalars_are_quoted_as_yaml_v3_quotes_them() {
        for (input, want) in [
            ("yes", "\"yes\""),
            ("on", "\"on\""),
            ("y", "\"y\""),
            ("true", "\"true\""),
            ("null", "\"null\""),
            ("~", "\"~\""),
            ("123", "\"123\""),
            ("1.5", "\"1.5\""),
            ("0x10", "\"0x10\""),
            ("1e3", "\"1e3\""),
            ("-", "'-'"),
            (":", "':'"),
            ("a: b", "'a: b'"),
            ("#x", "'#x'"),
            (" lead", "' lead'"),
            ("trail ", "'trail '"),
            ("'q", "'''q'"),
            ("\"dq", "'\"dq'"),
            ("@at", "'@at'"),
            ("`b", "'`b'"),
            ("*s", "'*s'"),
            ("&a", "'&a'"),
            ("!b", "'!b'"),
            ("%p", "'%p'"),
            ("{b", "'{b'"),
            ("[b", "'[b'"),
            ("x,y", "x,y"),
            ("?q", "?q"),
            ("|p", "'|p'"),
            (">g", "'>g'"),
            ("a #b", "'a #b'"),
            ("a:b", "a:b"),
            ("é", "é"),
            (".inf", "\".inf\""),
            ("NaN", "NaN"),
            ("2001-01-01", "\"2001-01-01\""),
            ("0o17", "\"0o17\""),
            ("+1", "\"+1\""),
            ("1_000", "\"1_000\""),
            ("Yes", "\"Yes\""),
            ("TRUE", "\"TRUE\""),
            ("x:", "'x:'"),
            ("- a", "'- a'"),
            ("tab\tx", "\"tab\\tx\""),
            ("", "\"\""),
            ("Basic ", "'Basic '"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/"),
            (":9090", ":9090"),
            ("1:20", "\"1:20\""),
        ] {
            assert_eq!(one(input), want, "{input:?}");
        }
    }

    #[test]
    fn indentation_follows_yaml_v3() {
        let mut claim = MapBuilder::default();
        claim.put("claim", Node::str("user"));
        let mut pw = MapBuilder::default();
        pw.put("value", Node::bytes(b"pw"));
        claim.put("basicAuthPassword", pw.build());
        let mut value = MapBuilder::default();
        value.put("claimSource", claim.build());
        let mut header = MapBuilder::default();
        header
            .put("name", Node::str("Authorization"))
            .boolean("preserveRequestValue", false)
            .put("values", Node::Seq(vec![Item::new(value.build())]));
        let mut root = MapBuilder::default();
        root.put(
            "injectRequestHeaders",
            Node::Seq(vec![Item::new(header.build())]),
        )
        .put("metricsServer", Node::Map(vec![]));
        assert_eq!(
            to_string(&root.build()),
            "injectRequestHeaders:\n    - name: Authorization\n      preserveRequestValue: false\n      values:\n        - claimSource:\n            claim: user\n            basicAuthPassword:\n                value:\n                    - 112\n                    - 119\nmetricsServer: {}\n"
        );
    }
}
