//! `${VAR}` substitution in the alpha file, before it is parsed, as oauth2-proxy v7 does it
//! (the `a8m/envsubst` rules): `$VAR`, `${VAR}`, `${VAR-default}`, `${VAR:-default}`,
//! `${VAR=default}`, `${VAR:=default}`, `${VAR+alt}`, `${VAR:+alt}`, `$$` for a literal `$`.
//! Unset variables become empty.
//!
//! One deliberate difference: a `$` followed by digits (`$1` in `rewriteTarget: /v2/$1`) is
//! kept as written. oauth2-proxy v7.15 turns every `$N` into `$1` (so `/x/$2/$3` silently
//! becomes `/x/$1/$1`); authproxy keeps capture-group references intact.

use std::collections::HashMap;

/// The substituted text, or a message for an unterminated `${`.
pub fn substitute(text: &str, env: &HashMap<String, String>) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c != b'$' {
            // Copy one UTF-8 character.
            let len = utf8_len(c);
            out.push_str(&text[i..(i + len).min(text.len())]);
            i += len;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'$') => {
                out.push('$');
                i += 2;
            }
            Some(b'0'..=b'9') => {
                // `$1`: a capture-group reference, kept.
                let end = i
                    + 1
                    + bytes[i + 1..]
                        .iter()
                        .take_while(|b| b.is_ascii_digit())
                        .count();
                out.push_str(&text[i..end]);
                i = end;
            }
            Some(b'{') => {
                let start = i + 2;
                let line_end = text[start..].find('\n').map_or(text.len(), |n| start + n);
                let Some(close) = text[start..line_end].find('}').map(|n| start + n) else {
                    return Err(format!(
                        "line {}: closing brace expected after ${{",
                        text[..i].matches('\n').count() + 1
                    ));
                };
                out.push_str(&expand(&text[start..close], env));
                i = close + 1;
            }
            Some(&b) if b == b'_' || b.is_ascii_alphabetic() || b >= 0x80 => {
                let rest = &text[i + 1..];
                let len: usize = rest
                    .char_indices()
                    .take_while(|(_, ch)| *ch == '_' || ch.is_alphanumeric())
                    .last()
                    .map_or(0, |(idx, ch)| idx + ch.len_utf8());
                let name = &rest[..len];
                if name == "_" {
                    // envsubst keeps a lone `$_`.
                    out.push_str("$_");
                } else {
                    out.push_str(env.get(name).map(String::as_str).unwrap_or(""));
                }
                i += 1 + len;
            }
            // A `$` before anything else (or at the end) is literal.
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// The inside of `${...}`.
fn expand(inner: &str, env: &HashMap<String, String>) -> String {
    let name_len = inner
        .char_indices()
        .take_while(|(_, c)| *c == '_' || c.is_alphanumeric())
        .last()
        .map_or(0, |(i, c)| i + c.len_utf8());
    let (name, op) = inner.split_at(name_len);
    let value = env.get(name);
    let set = value.is_some();
    let non_empty = value.is_some_and(|v| !v.is_empty());
    let v = || value.cloned().unwrap_or_default();
    match op {
        "" => v(),
        _ if op.starts_with(":-") || op.starts_with(":=") => {
            if non_empty {
                v()
            } else {
                op[2..].to_owned()
            }
        }
        _ if op.starts_with(":+") => {
            if non_empty {
                op[2..].to_owned()
            } else {
                String::new()
            }
        }
        _ if op.starts_with('-') || op.starts_with('=') => {
            if set {
                v()
            } else {
                op[1..].to_owned()
            }
        }
        _ if op.starts_with('+') => {
            if set {
                op[1..].to_owned()
            } else {
                String::new()
            }
        }
        // Anything else is not a form envsubst knows: leave the variable's value.
        _ => v(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution_follows_envsubst_and_keeps_capture_groups() {
        let env: HashMap<String, String> = [("VAR", "value"), ("EMPTY", ""), ("S_more", "sm")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let table: &[(&str, &str)] = &[
            ("$VAR", "value"),
            ("${VAR}", "value"),
            ("a${VAR}b", "avalueb"),
            ("$UNSET", ""),
            ("$S_more", "sm"),
            ("$$x", "$x"),
            ("/v2/$1", "/v2/$1"),
            ("/x/$2/$3", "/x/$2/$3"),
            ("${UNSET-d}", "d"),
            ("${EMPTY-d}", ""),
            ("${EMPTY:-d}", "d"),
            ("${VAR:-d}", "value"),
            ("${UNSET=d}", "d"),
            ("${VAR+alt}", "alt"),
            ("${UNSET+alt}", ""),
            ("${EMPTY:+alt}", ""),
            ("${VAR:+alt}", "alt"),
            ("$_", "$_"),
            ("cost: 5$", "cost: 5$"),
            ("a $ b", "a $ b"),
            ("ünï $VAR", "ünï value"),
        ];
        for (input, want) in table {
            assert_eq!(substitute(input, &env).unwrap(), *want, "{input}");
        }
        let e = substitute("x: ${FOO\ny: 1", &env).unwrap_err();
        assert!(e.contains("line 1") && e.contains("closing brace"), "{e}");
    }
}
