//! Strict structural checks on Go template source.
//!
//! `gotmpl` 0.6 is lenient where Go's `text/template` parser is not: it accepts
//! an `{{if}}` / `{{range}}` / `{{with}}` / `{{define}}` / `{{block}}` that is never
//! closed, a stray `{{end}}`, and it only reports an undefined function when the
//! action is executed. Go rejects all of these when the template is parsed, and
//! oauth2-proxy refuses to start on them, so we check them ourselves before any
//! request is served: a page that renders half of itself is worse than a clear
//! startup error.

use gotmpl::parse::{CommandNode, Expr, ListNode, Node, Parser, PipeNode};

/// Functions a template may call: Go's predefined template functions plus the two
/// that oauth2-proxy registers (`ToUpper`, `ToLower`).
const KNOWN_FUNCS: &[&str] = &[
    "and", "call", "eq", "ge", "gt", "html", "index", "js", "le", "len", "lt", "ne", "not", "or",
    "print", "printf", "println", "slice", "urlquery", "ToUpper", "ToLower",
];

/// Which block opened the current nesting level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // `Block::Block` is Go's `{{block}}` action.
enum Block {
    If,
    Range,
    With,
    Define,
    Block,
}

impl Block {
    fn keyword(self) -> &'static str {
        match self {
            Block::If => "if",
            Block::Range => "range",
            Block::With => "with",
            Block::Define => "define",
            Block::Block => "block",
        }
    }
}

/// Checks block structure (every block closed, no stray `{{end}}` / `{{else}}`,
/// `{{break}}` / `{{continue}}` only inside `{{range}}`) and that every function
/// called exists. Returns a message in Go's style (`line N: ...`).
pub(super) fn check(src: &str) -> Result<(), String> {
    check_blocks(src)?;
    check_functions(src)
}

/// Whether `src` gives the page `name` a body: either top-level content or a
/// `{{define "name"}}`. Go refuses to execute an "incomplete or empty template".
pub(super) fn has_page(src: &str, name: &str) -> bool {
    match Parser::new(src, "{{", "}}").and_then(Parser::parse) {
        Ok((root, defines)) => {
            !root.is_empty_tree() || defines.iter().any(|d| d.name.as_str() == name)
        }
        // Parse errors are reported by the caller with better context.
        Err(_) => true,
    }
}

fn line_at(src: &str, offset: usize) -> usize {
    src[..offset].bytes().filter(|&b| b == b'\n').count() + 1
}

/// Scans actions with a small lexer that understands comments and the three Go
/// literal forms, so a `}}` inside a string never ends an action.
fn check_blocks(src: &str) -> Result<(), String> {
    let bytes = src.as_bytes();
    let mut stack: Vec<(Block, usize)> = Vec::new();
    let mut i = 0;
    while let Some(rel) = src[i..].find("{{") {
        let start = i + rel;
        let line = line_at(src, start);
        let mut j = start + 2;
        // Trim marker: "{{- " (the hyphen must be followed by white space).
        if bytes.get(j) == Some(&b'-') && bytes.get(j + 1).is_some_and(|b| b.is_ascii_whitespace())
        {
            j += 1;
        }
        while bytes.get(j).is_some_and(|b| b.is_ascii_whitespace()) {
            j += 1;
        }
        if src[j..].starts_with("/*") {
            let end = src[j + 2..]
                .find("*/")
                .ok_or_else(|| format!("line {line}: unclosed comment"))?;
            let after = j + 2 + end + 2;
            let close = src[after..]
                .find("}}")
                .ok_or_else(|| format!("line {line}: unclosed action"))?;
            i = after + close + 2;
            continue;
        }
        let body_start = j;
        let end = action_end(bytes, j).ok_or_else(|| format!("line {line}: unclosed action"))?;
        let body = src[body_start..end].trim_end_matches(|c: char| c.is_ascii_whitespace());
        let body = body.strip_suffix('-').unwrap_or(body);
        let word: &str = body
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        match word {
            "if" => stack.push((Block::If, line)),
            "range" => stack.push((Block::Range, line)),
            "with" => stack.push((Block::With, line)),
            "define" => stack.push((Block::Define, line)),
            "block" => stack.push((Block::Block, line)),
            "else" => match stack.last() {
                Some((Block::If | Block::Range | Block::With, _)) => {}
                _ => return Err(format!("line {line}: unexpected {{{{else}}}}")),
            },
            // The guard pops: a matched {{end}} closes the innermost block.
            "end" if stack.pop().is_none() => {
                return Err(format!("line {line}: unexpected {{{{end}}}}"));
            }
            "break" | "continue" => {
                let in_range = stack
                    .iter()
                    .rev()
                    .take_while(|(b, _)| !matches!(b, Block::Define | Block::Block))
                    .any(|(b, _)| *b == Block::Range);
                if !in_range {
                    return Err(format!("line {line}: {{{{{word}}}}} outside {{{{range}}}}"));
                }
            }
            _ => {}
        }
        i = end + 2;
    }
    match stack.last() {
        Some((block, line)) => Err(format!(
            "line {line}: {{{{{}}}}} is never closed with {{{{end}}}} (unexpected EOF)",
            block.keyword()
        )),
        None => Ok(()),
    }
}

/// Offset of the `}}` closing the action whose body starts at `j`, skipping
/// over string, raw string and character literals.
fn action_end(bytes: &[u8], mut j: usize) -> Option<usize> {
    while j < bytes.len() {
        match bytes[j] {
            b'}' if bytes.get(j + 1) == Some(&b'}') => return Some(j),
            quote @ (b'"' | b'\'') => {
                j += 1;
                while j < bytes.len() && bytes[j] != quote {
                    if bytes[j] == b'\\' {
                        j += 1;
                    }
                    if bytes.get(j) == Some(&b'\n') {
                        return None;
                    }
                    j += 1;
                }
            }
            b'`' => {
                j += 1;
                while j < bytes.len() && bytes[j] != b'`' {
                    j += 1;
                }
            }
            _ => {}
        }
        j += 1;
    }
    None
}

fn check_functions(src: &str) -> Result<(), String> {
    let (root, defines) = Parser::new(src, "{{", "}}")
        .and_then(Parser::parse)
        .map_err(|e| e.to_string())?;
    walk_list(&root)?;
    for d in &defines {
        walk_list(&d.body)?;
    }
    Ok(())
}

fn walk_list(list: &ListNode) -> Result<(), String> {
    list.nodes.iter().try_for_each(walk_node)
}

fn walk_node(node: &Node) -> Result<(), String> {
    match node {
        Node::List(l) => walk_list(l),
        Node::Action(a) => walk_pipe(&a.pipe),
        Node::If(b) | Node::Range(b) | Node::With(b) => {
            walk_pipe(&b.pipe)?;
            walk_list(&b.body)?;
            b.else_body.as_ref().map_or(Ok(()), walk_list)
        }
        Node::Template(t) => t.pipe.as_ref().map_or(Ok(()), walk_pipe),
        Node::Define(d) => walk_list(&d.body),
        Node::Text(_) | Node::Break(_) | Node::Continue(_) => Ok(()),
    }
}

fn walk_pipe(pipe: &PipeNode) -> Result<(), String> {
    pipe.commands.iter().try_for_each(walk_command)
}

fn walk_command(cmd: &CommandNode) -> Result<(), String> {
    cmd.args.iter().try_for_each(walk_expr)
}

fn walk_expr(expr: &Expr) -> Result<(), String> {
    match expr {
        Expr::Identifier(pos, name) if !KNOWN_FUNCS.contains(&name.as_str()) => Err(format!(
            "line {}: function {:?} not defined",
            pos.line,
            name.as_str()
        )),
        Expr::Pipe(_, p) => walk_pipe(p),
        Expr::Chain(_, inner, _) => walk_expr(inner),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_well_formed_templates() {
        for src in [
            "",
            "plain text",
            "{{if .A}}a{{else if .B}}b{{else}}c{{end}}",
            "{{range .L}}{{if .X}}{{break}}{{end}}{{continue}}{{else}}none{{end}}",
            "{{with .A}}{{.}}{{else with .B}}{{.}}{{end}}",
            "{{define \"x\"}}{{.}}{{end}}{{template \"x\" .}}",
            "{{block \"b\" .}}default{{end}}",
            "{{- if .A -}} a {{- end -}}",
            "{{/* a comment with }} and {{if inside */}}",
            "{{- /* trimmed comment */ -}}",
            "{{if eq .A \"}}\"}}x{{end}}",
            "{{if eq .A `{{end}}`}}x{{end}}",
            "{{if eq .A '}'}}x{{end}}",
            "{{.A | ToUpper | printf \"%s\"}}{{ToLower .B}}{{html .C}}{{urlquery .D}}",
            "{{len (slice .L 1)}}{{index .M \"k\"}}{{and .A (or .B (not .C))}}",
            "{{$x := .A}}{{$x}}{{range $i, $v := .L}}{{$i}}{{end}}",
            "<style>a{color:red}</style>{{ if .Footer }}{{.Footer}}{{ end}}",
        ] {
            assert_eq!(check(src), Ok(()), "{src:?}");
        }
    }

    #[test]
    fn rejects_what_go_rejects_at_parse_time() {
        for (src, want) in [
            ("{{if .A}}a", "line 1: {{if}} is never closed"),
            ("x\n{{range .L}}a", "line 2: {{range}} is never closed"),
            ("{{with .A}}a", "{{with}} is never closed"),
            ("{{define \"q\"}}a", "{{define}} is never closed"),
            ("{{block \"b\" .}}a", "{{block}} is never closed"),
            ("{{if .A}}{{if .B}}a{{end}}", "{{if}} is never closed"),
            ("a{{end}}", "line 1: unexpected {{end}}"),
            ("{{else}}", "unexpected {{else}}"),
            ("{{define \"d\"}}{{else}}{{end}}", "unexpected {{else}}"),
            ("{{break}}", "{{break}} outside {{range}}"),
            (
                "{{if .A}}{{continue}}{{end}}",
                "{{continue}} outside {{range}}",
            ),
            (
                "{{range .L}}{{define \"x\"}}{{break}}{{end}}{{end}}",
                "outside {{range}}",
            ),
            ("{{.A", "unclosed action"),
            ("{{/* never closed", "unclosed comment"),
            ("{{nofunc .A}}", "function \"nofunc\" not defined"),
            ("{{.A | upper}}", "function \"upper\" not defined"),
            (
                "{{if (missing .A)}}x{{end}}",
                "function \"missing\" not defined",
            ),
            (
                "{{define \"d\"}}{{bogus}}{{end}}",
                "function \"bogus\" not defined",
            ),
        ] {
            let err = check(src).expect_err(src);
            assert!(err.contains(want), "{src:?}: got {err:?}, want {want:?}");
        }
    }
}
