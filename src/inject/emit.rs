//! A small block-style YAML writer for Kubernetes objects.
//!
//! Kubernetes reads YAML with YAML 1.1 rules (`yes`, `on`, `0644` are a boolean and an octal
//! number there), while general-purpose Rust emitters follow YAML 1.2 and write such strings
//! unquoted. This writer only leaves a string unquoted when it is plain text under both rules,
//! double-quotes everything else, and writes multi-line strings (config files in ConfigMaps) as
//! literal blocks. Output is deterministic, which makes inject idempotent byte for byte.

use serde_yaml_ng::{Mapping, Value};

/// Write one document (without a `---` line). Complex mapping keys are refused.
pub(super) fn document(value: &Value) -> Result<String, String> {
    let mut out = String::new();
    match value {
        Value::Mapping(m) if !m.is_empty() => mapping(&mut out, m, 0, false)?,
        Value::Sequence(s) if !s.is_empty() => sequence(&mut out, s, 0, false)?,
        other => {
            out.push_str(&inline(other)?);
            out.push('\n');
        }
    }
    Ok(out)
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A value that is written on the same line as its key or dash.
fn inline(value: &Value) -> Result<String, String> {
    Ok(match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar(s),
        Value::Sequence(s) if s.is_empty() => "[]".to_owned(),
        Value::Mapping(m) if m.is_empty() => "{}".to_owned(),
        Value::Tagged(t) => format!("{} {}", t.tag, inline(&t.value)?),
        Value::Sequence(_) | Value::Mapping(_) => {
            return Err("a collection cannot be written inline".to_owned())
        }
    })
}

/// Is this value written as an indented block below its key or dash?
fn is_block(value: &Value) -> bool {
    match value {
        Value::Sequence(s) => !s.is_empty(),
        Value::Mapping(m) => !m.is_empty(),
        Value::String(s) => literal_ok(s),
        _ => false,
    }
}

/// Write `value` after `key:` or `- ` (the cursor is right after that text).
fn after_indicator(
    out: &mut String,
    value: &Value,
    indent: usize,
    in_sequence: bool,
) -> Result<(), String> {
    match value {
        // Mapping entries under a dash continue on the dash's line (`- name: x`).
        Value::Mapping(m) if !m.is_empty() && in_sequence => {
            out.push(' ');
            mapping(out, m, indent + 2, true)
        }
        Value::Mapping(m) if !m.is_empty() => {
            out.push('\n');
            mapping(out, m, indent + 2, false)
        }
        Value::Sequence(s) if !s.is_empty() && in_sequence => {
            out.push(' ');
            sequence(out, s, indent + 2, true)
        }
        // kubectl style: a sequence under a key is not indented further.
        Value::Sequence(s) if !s.is_empty() => {
            out.push('\n');
            sequence(out, s, indent, false)
        }
        Value::String(s) if literal_ok(s) => {
            literal(out, s, indent + 2);
            Ok(())
        }
        Value::Tagged(t) if is_block(&t.value) => {
            out.push(' ');
            out.push_str(&t.tag.to_string());
            after_indicator(out, &t.value, indent, false)
        }
        other => {
            out.push(' ');
            out.push_str(&inline(other)?);
            out.push('\n');
            Ok(())
        }
    }
}

fn mapping(
    out: &mut String,
    map: &Mapping,
    indent: usize,
    first_inline: bool,
) -> Result<(), String> {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 || !first_inline {
            pad(out, indent);
        }
        let key = match key {
            Value::String(s) => scalar(s),
            Value::Number(_) | Value::Bool(_) | Value::Null => inline(key)?,
            _ => {
                return Err(
                    "a mapping key that is a collection or tagged value is not supported"
                        .to_owned(),
                )
            }
        };
        out.push_str(&key);
        out.push(':');
        after_indicator(out, value, indent, false)?;
    }
    Ok(())
}

fn sequence(
    out: &mut String,
    seq: &[Value],
    indent: usize,
    first_inline: bool,
) -> Result<(), String> {
    for (i, item) in seq.iter().enumerate() {
        if i > 0 || !first_inline {
            pad(out, indent);
        }
        out.push('-');
        after_indicator(out, item, indent, true)?;
    }
    Ok(())
}

/// Can `s` be a literal block (`|`)? Only multi-line text without characters that need escapes,
/// whose first non-empty line does not start with whitespace (block indentation is detected from
/// it, so leading spaces there would be lost).
fn literal_ok(s: &str) -> bool {
    s.contains('\n')
        && s.chars()
            .all(|c| c == '\n' || c == '\t' || !needs_escape(c))
        && s.lines()
            .find(|l| !l.is_empty())
            .is_some_and(|l| !l.starts_with([' ', '\t']))
}

fn literal(out: &mut String, s: &str, indent: usize) {
    let body = s.trim_end_matches('\n');
    let chomp = match s.len() - body.len() {
        0 => "-",
        1 => "",
        _ => "+",
    };
    out.push_str(" |");
    out.push_str(chomp);
    out.push('\n');
    for line in body.split('\n') {
        if !line.is_empty() {
            pad(out, indent);
            out.push_str(line);
        }
        out.push('\n');
    }
    // `|+` keeps the trailing line breaks beyond the first: write them as empty lines.
    for _ in 1..s.len() - body.len() {
        out.push('\n');
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// YAML 1.1 words that are not strings there (booleans and null).
const RESERVED_WORDS: [&str; 26] = [
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
    "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~",
];

/// Would a YAML 1.1 or 1.2 reader take this plain text for a number, timestamp or special float?
/// Conservative: any text made only of digits and number punctuation counts.
fn looks_numeric(s: &str) -> bool {
    let lower = s.trim_start_matches(['+', '-']).to_ascii_lowercase();
    if lower == ".inf" || lower == ".nan" {
        return true;
    }
    let starts_like_number = s.starts_with(|c: char| c.is_ascii_digit())
        || (s.starts_with(['+', '-', '.'])
            && s[1..].starts_with(|c: char| c.is_ascii_digit() || c == '.'));
    starts_like_number
        && s.chars()
            .all(|c| c.is_ascii_hexdigit() || "+-._:oxXtTzZ ".contains(c))
}

/// Plain (unquoted) only when no YAML reader can see anything but this exact string.
fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let first_ok = first.is_ascii_alphanumeric() || matches!(first, '/' | '_' | '.' | '-' | '$');
    let chars_ok = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " -._/:@+=%,()~$^".contains(c));
    first_ok
        && chars_ok
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.starts_with("- ")
        && s != "-"
        && !s.starts_with("---")
        && !RESERVED_WORDS.contains(&s)
        && !looks_numeric(s)
}

/// A string scalar: plain when unambiguous, else double-quoted with escapes.
fn scalar(s: &str) -> String {
    if plain_ok(s) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: &Value) -> Value {
        let text = document(v).unwrap();
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    #[test]
    fn quotes_strings_that_yaml_1_1_reads_as_other_types() {
        for s in [
            "yes",
            "no",
            "on",
            "OFF",
            "y",
            "~",
            "null",
            "true",
            "0644",
            "1_000",
            "1:20",
            "2001-12-14",
            ".inf",
            "-.5",
            "1e3",
            "0x1F",
            "",
        ] {
            assert!(scalar(s).starts_with('"'), "{s} must be quoted");
        }
    }

    #[test]
    fn leaves_ordinary_kubernetes_strings_plain() {
        for s in [
            "10m",
            "32Mi",
            "nginx:1.27",
            "--config=/etc/authproxy/authproxy.cfg",
            "http://127.0.0.1:8080",
            "authproxy.io/app-bind",
            "RuntimeDefault",
            "$(POD_IP)",
        ] {
            assert_eq!(scalar(s), s);
        }
    }

    #[test]
    fn round_trips_tricky_strings_exactly() {
        let strings = [
            "a: b",
            "a #b",
            "- x",
            "-",
            "---",
            "*.example.com",
            "*",
            "&a",
            "!x",
            "@x",
            "`x",
            "'q'",
            "\"q\"",
            "tab\there",
            " lead",
            "trail ",
            "line\r\n",
            "\u{7}bell",
            "\u{2028}",
            "x\\y",
            "multi\nline\n",
            "multi\nno newline",
            "keep\n\n",
            "\n leading newline",
            "  indented\nblock\n",
            "%x",
            "{a}",
            "[a]",
            "?x",
            ":x",
            "|x",
            ">x",
            "ünï",
        ];
        for s in strings {
            let v: Value = serde_yaml_ng::from_str("k: 1").unwrap();
            let mut m = v.as_mapping().unwrap().clone();
            m.insert(Value::from("k"), Value::from(s));
            m.insert(
                Value::from("list"),
                Value::Sequence(vec![Value::from(s), Value::from(s)]),
            );
            let v = Value::Mapping(m);
            assert_eq!(round_trip(&v), v, "{s:?}");
        }
    }

    #[test]
    fn writes_multi_line_text_as_a_literal_block() {
        let v: Value =
            serde_yaml_ng::from_str("data:\n  authproxy.cfg: \"a = 1\\nb = [\\\"x\\\"]\\n\"\n")
                .unwrap();
        assert_eq!(
            document(&v).unwrap(),
            "data:\n  authproxy.cfg: |\n    a = 1\n    b = [\"x\"]\n"
        );
    }

    #[test]
    fn writes_nested_collections_in_kubectl_style() {
        let text = "a:\n- b: 1\n  c:\n  - 2\n  - - 3\n    - {}\n- []\nd: {}\ne: null\nf: 1.5\n";
        let v: Value = serde_yaml_ng::from_str(text).unwrap();
        assert_eq!(document(&v).unwrap(), text);
    }
}
