//! Just enough HTML reading to drive login forms: find `<form>` elements, their `action`,
//! `method`, `id`, and the `name`/`value` of their `<input>` elements. Not a parser; the IdP and
//! the proxy emit simple, well-formed markup.

/// One `<form>` found in a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// The `id` attribute, if any.
    pub id: Option<String>,
    /// The `action` attribute (HTML entities decoded), empty if absent.
    pub action: String,
    /// The `method` attribute lower-cased, `get` if absent.
    pub method: String,
    /// `(name, value)` of every named `<input>` (and `<button>` with a name and value).
    pub fields: Vec<(String, String)>,
}

impl Form {
    /// The value of the first field called `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets (or adds) the field `name`.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.fields.iter_mut().find(|(n, _)| n == name) {
            Some(field) => field.1 = value.to_string(),
            None => self.fields.push((name.to_string(), value.to_string())),
        }
    }
}

/// Every form in `html`, in document order.
pub fn forms(html: &str) -> Vec<Form> {
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(found) = lower[pos..].find("<form") {
        let start = pos + found;
        let Some(tag_end) = tag_end(&lower, start) else {
            break;
        };
        let end = lower[tag_end..]
            .find("</form")
            .map_or(html.len(), |e| tag_end + e);
        let tag = &html[start..tag_end];
        let mut form = Form {
            id: attr(tag, "id"),
            action: attr(tag, "action").unwrap_or_default(),
            method: attr(tag, "method")
                .unwrap_or_else(|| "get".to_string())
                .to_ascii_lowercase(),
            fields: Vec::new(),
        };
        collect_fields(&html[tag_end..end], &mut form.fields);
        out.push(form);
        pos = end;
    }
    out
}

/// The form whose `id` is `id`.
pub fn form_by_id(html: &str, id: &str) -> Option<Form> {
    forms(html)
        .into_iter()
        .find(|f| f.id.as_deref() == Some(id))
}

fn collect_fields(body: &str, fields: &mut Vec<(String, String)>) {
    let lower = body.to_ascii_lowercase();
    let mut pos = 0;
    loop {
        let next_input = lower[pos..].find("<input").map(|i| pos + i);
        let next_button = lower[pos..].find("<button").map(|i| pos + i);
        let Some(start) = [next_input, next_button].into_iter().flatten().min() else {
            return;
        };
        let Some(end) = tag_end(&lower, start) else {
            return;
        };
        let tag = &body[start..end];
        if let (Some(name), Some(value)) = (attr(tag, "name"), attr(tag, "value")) {
            fields.push((name, value));
        } else if let Some(name) = attr(tag, "name") {
            if lower[start..].starts_with("<input") {
                fields.push((name, String::new()));
            }
        }
        pos = end;
    }
}

/// Index just past the `>` that closes the tag starting at `start`, skipping quoted values.
fn tag_end(lower: &str, start: usize) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in lower[start..].char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(start + i + 1),
            _ => {}
        }
    }
    None
}

/// The value of attribute `name` in one tag, entities decoded. Handles `"`, `'` and bare values.
pub fn attr(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut pos = 0;
    while let Some(found) = lower[pos..].find(name) {
        let at = pos + found;
        pos = at + name.len();
        let preceded = at > 0 && (bytes[at - 1] as char).is_ascii_whitespace();
        let rest = lower[pos..].trim_start();
        if !preceded || !rest.starts_with('=') {
            continue;
        }
        let value_start = tag.len() - rest.len() + 1;
        let raw = tag[value_start..].trim_start();
        let value = match raw.chars().next() {
            Some(q @ ('"' | '\'')) => raw[1..].split(q).next().unwrap_or(""),
            _ => raw
                .split(|c: char| c.is_ascii_whitespace() || c == '>')
                .next()
                .unwrap_or(""),
        };
        return Some(decode_entities(value));
    }
    None
}

/// Decodes the entities that templates emit for attribute values.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';').filter(|&i| i <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}
