//! oauth2-proxy's log line templates (`standard_logging_format`, `auth_logging_format`,
//! `request_logging_format`): Go `text/template` strings whose only actions are field
//! references such as `{{.Client}}`. They are parsed once at startup into literal and field
//! parts; writing a line is a walk over those parts, with no parsing and no lookup by name.
//!
//! Only `{{.Field}}` actions (spaces inside the braces allowed) are supported: oauth2-proxy's
//! documented formats use nothing else. Any other action, an unknown field or a field that the
//! kind of line does not have is a configuration error naming the option.

use std::fmt;

/// The three kinds of log line, each with its own set of fields (oauth2-proxy's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateKind {
    /// `standard_logging_format`: Timestamp, File, Message.
    Standard,
    /// `auth_logging_format`: Client, Host, Protocol, RequestID, RequestMethod, Timestamp,
    /// UserAgent, Username, Status, Message.
    Auth,
    /// `request_logging_format`: Client, Host, Protocol, RequestID, RequestDuration,
    /// RequestMethod, RequestURI, ResponseSize, StatusCode, Timestamp, Upstream, UserAgent,
    /// Username.
    Request,
}

impl TemplateKind {
    /// The option that holds this kind's template.
    pub fn option(self) -> &'static str {
        match self {
            Self::Standard => "standard_logging_format",
            Self::Auth => "auth_logging_format",
            Self::Request => "request_logging_format",
        }
    }

    /// oauth2-proxy's default template for this kind.
    pub fn default_template(self) -> &'static str {
        match self {
            Self::Standard => "[{{.Timestamp}}] [{{.File}}] {{.Message}}",
            Self::Auth => {
                "{{.Client}} - {{.RequestID}} - {{.Username}} [{{.Timestamp}}] [{{.Status}}] {{.Message}}"
            }
            Self::Request => {
                "{{.Client}} - {{.RequestID}} - {{.Username}} [{{.Timestamp}}] {{.Host}} {{.RequestMethod}} {{.Upstream}} {{.RequestURI}} {{.Protocol}} {{.UserAgent}} {{.StatusCode}} {{.ResponseSize}} {{.RequestDuration}}"
            }
        }
    }

    fn fields(self) -> &'static [Field] {
        use Field::*;
        match self {
            Self::Standard => &[Timestamp, File, Message],
            Self::Auth => &[
                Client,
                Host,
                Protocol,
                RequestID,
                RequestMethod,
                Timestamp,
                UserAgent,
                Username,
                Status,
                Message,
            ],
            Self::Request => &[
                Client,
                Host,
                Protocol,
                RequestID,
                RequestDuration,
                RequestMethod,
                RequestURI,
                ResponseSize,
                StatusCode,
                Timestamp,
                Upstream,
                UserAgent,
                Username,
            ],
        }
    }
}

/// A template variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Field {
    Client,
    File,
    Host,
    Message,
    Protocol,
    RequestDuration,
    RequestID,
    RequestMethod,
    RequestURI,
    ResponseSize,
    Status,
    StatusCode,
    Timestamp,
    Upstream,
    UserAgent,
    Username,
}

impl Field {
    const ALL: [Field; 16] = [
        Field::Client,
        Field::File,
        Field::Host,
        Field::Message,
        Field::Protocol,
        Field::RequestDuration,
        Field::RequestID,
        Field::RequestMethod,
        Field::RequestURI,
        Field::ResponseSize,
        Field::Status,
        Field::StatusCode,
        Field::Timestamp,
        Field::Upstream,
        Field::UserAgent,
        Field::Username,
    ];

    /// The name as written in a template (`RequestID`).
    pub fn name(self) -> &'static str {
        match self {
            Field::Client => "Client",
            Field::File => "File",
            Field::Host => "Host",
            Field::Message => "Message",
            Field::Protocol => "Protocol",
            Field::RequestDuration => "RequestDuration",
            Field::RequestID => "RequestID",
            Field::RequestMethod => "RequestMethod",
            Field::RequestURI => "RequestURI",
            Field::ResponseSize => "ResponseSize",
            Field::Status => "Status",
            Field::StatusCode => "StatusCode",
            Field::Timestamp => "Timestamp",
            Field::Upstream => "Upstream",
            Field::UserAgent => "UserAgent",
            Field::Username => "Username",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Field(Field),
}

/// A parsed log line template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogTemplate {
    kind: TemplateKind,
    parts: Vec<Part>,
}

impl LogTemplate {
    /// Parse `text` as a template of `kind`. The error explains what is wrong (the caller
    /// names the option).
    pub fn parse(kind: TemplateKind, text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| format!("unclosed action at {:?}", &rest[open..]))?;
            let action = after[..close].trim();
            let name = action.strip_prefix('.').ok_or_else(|| {
                format!(
                    "unsupported action {{{{{action}}}}}: only field references such as {{{{.Client}}}} are supported"
                )
            })?;
            let field = Field::ALL
                .iter()
                .copied()
                .find(|f| f.name() == name)
                .ok_or_else(|| format!("unknown field .{name}"))?;
            if !kind.fields().contains(&field) {
                let names: Vec<&str> = kind.fields().iter().map(|f| f.name()).collect();
                return Err(format!(
                    "field .{name} does not exist in {} lines (available: {})",
                    match kind {
                        TemplateKind::Standard => "standard",
                        TemplateKind::Auth => "auth",
                        TemplateKind::Request => "request",
                    },
                    names.join(", ")
                ));
            }
            parts.push(Part::Field(field));
            rest = &after[close + 2..];
        }
        if rest.contains("}}") {
            return Err(format!("stray '}}}}' in {rest:?}"));
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Self { kind, parts })
    }

    /// oauth2-proxy's default template of `kind`.
    pub fn default_for(kind: TemplateKind) -> Self {
        // The defaults are fixed strings that parse; the fallback is unreachable in practice.
        Self::parse(kind, kind.default_template()).unwrap_or(Self {
            kind,
            parts: vec![Part::Field(Field::Message)],
        })
    }

    /// Which kind of line this template is for.
    pub fn kind(&self) -> TemplateKind {
        self.kind
    }

    /// Write one line (without the newline): literals as they are, each field through
    /// `value`.
    pub fn render<W: fmt::Write>(
        &self,
        out: &mut W,
        mut value: impl FnMut(Field, &mut W) -> fmt::Result,
    ) -> fmt::Result {
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.write_str(s)?,
                Part::Field(f) => value(*f, out)?,
            }
        }
        Ok(())
    }
}

/// Write `s` as Go's `%q` does for printable ASCII: in double quotes, with `"` and `\`
/// escaped and control characters as `\n`, `\t` or `\xNN` (so a client cannot forge log lines).
pub fn write_quoted<W: fmt::Write>(out: &mut W, s: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if (c as u32) < 0x20 || c == '\u{7f}' => write!(out, "\\x{:02x}", c as u32)?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    fn render(t: &LogTemplate) -> String {
        let mut out = String::new();
        t.render(&mut out, |f, w| write!(w, "<{}>", f.name()))
            .unwrap();
        out
    }

    #[test]
    fn oauth2_proxy_default_templates_parse() {
        for kind in [
            TemplateKind::Standard,
            TemplateKind::Auth,
            TemplateKind::Request,
        ] {
            let t = LogTemplate::parse(kind, kind.default_template()).unwrap();
            assert_eq!(t, LogTemplate::default_for(kind));
        }
        assert_eq!(
            render(&LogTemplate::default_for(TemplateKind::Standard)),
            "[<Timestamp>] [<File>] <Message>"
        );
    }

    #[test]
    fn fields_and_literals_render_in_order() {
        let t = LogTemplate::parse(TemplateKind::Request, "a {{ .Client }} }}b").unwrap_err();
        assert!(t.contains("stray"), "{t}");
        let t =
            LogTemplate::parse(TemplateKind::Request, "a {{ .Client }}-{{.StatusCode}} b").unwrap();
        assert_eq!(render(&t), "a <Client>-<StatusCode> b");
        let t = LogTemplate::parse(TemplateKind::Auth, "").unwrap();
        assert_eq!(render(&t), "");
    }

    #[test]
    fn rejects_what_it_cannot_render() {
        for (kind, text, want) in [
            (TemplateKind::Request, "{{.Client", "unclosed"),
            (TemplateKind::Request, "{{.Nope}}", "unknown field .Nope"),
            (
                TemplateKind::Request,
                "{{if .Client}}x{{end}}",
                "unsupported action",
            ),
            (
                TemplateKind::Request,
                "{{.Message}}",
                "does not exist in request lines",
            ),
            (
                TemplateKind::Standard,
                "{{.Client}}",
                "does not exist in standard lines",
            ),
            (
                TemplateKind::Auth,
                "{{.StatusCode}}",
                "does not exist in auth lines",
            ),
        ] {
            let err = LogTemplate::parse(kind, text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn quoting_escapes_quotes_and_control_characters() {
        let mut out = String::new();
        write_quoted(&mut out, "a\"b\\c\nd\u{1}é").unwrap();
        assert_eq!(out, "\"a\\\"b\\\\c\\nd\\x01é\"");
    }
}
