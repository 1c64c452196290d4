//! Sign-in and error pages, and JSON errors for API clients.
//!
//! Pages are Go templates rendered with `gotmpl`'s `html/template` port, so an
//! existing oauth2-proxy `custom_templates_dir` renders unchanged and with the same
//! contextual escaping: data is escaped for where it lands (text, attribute, URL),
//! while the operator-supplied `banner`, `footer` and logo are trusted HTML, exactly
//! as oauth2-proxy passes them (`template.HTML`). Every variable is documented in
//! `docs/templates.md`.
//!
//! Templates are parsed, checked and trial-rendered in [`Pages::load`], so a broken
//! custom template is a startup error rather than a half-rendered page later. This
//! module never chooses status codes: callers pass the status they will send.

mod check;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gotmpl::html::{Template, HTML};
use gotmpl::{MissingKey, Value};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::config::PageConfig;

/// Built-in sign-in page (Go template).
pub const BUILTIN_SIGN_IN: &str = include_str!("templates/sign_in.html");
/// Built-in error page (Go template).
pub const BUILTIN_ERROR: &str = include_str!("templates/error.html");
/// Default logo shown on the sign-in page (`custom_sign_in_logo` unset).
pub const DEFAULT_LOGO_SVG: &str = include_str!("templates/logo.svg");

const SIGN_IN_NAME: &str = "sign_in.html";
const ERROR_NAME: &str = "error.html";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why the pages could not be loaded. Every variant names the file (or config key)
/// at fault.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// `custom_templates_dir` is set but is not a readable directory.
    #[error("custom_templates_dir {}: {reason}", path.display())]
    TemplatesDir { path: PathBuf, reason: String },
    /// A custom template exists but could not be read.
    #[error("cannot read template {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A template does not parse (Go template syntax, block structure, functions).
    #[error("template {file} does not parse: {message}")]
    Parse { file: String, message: String },
    /// A template parses but fails when rendered with sample data, e.g. it uses a
    /// variable that does not exist or is used in an ambiguous HTML context.
    #[error("template {file} fails to render: {message}")]
    Render { file: String, message: String },
    /// `custom_sign_in_logo` could not be used.
    #[error("custom_sign_in_logo {value:?}: {reason}")]
    Logo { value: String, reason: String },
}

/// One sign-in button on the sign-in page (template variable `Providers`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderButton {
    /// Stable provider id (`ID`), e.g. `"github"` or `"corp-oidc"`.
    pub id: String,
    /// Display name (`Name`), e.g. `"GitHub"`.
    pub name: String,
    /// Provider kind (`Kind`): `oidc`, `github`, `google`, `microsoft`, `gitlab`,
    /// `keycloak`, ... selects the built-in page's logo and colours.
    pub kind: String,
    /// Complete URL that starts this provider's login, including the return URL
    /// (`StartURL`), e.g. `/oauth2/start?rd=%2Fdashboard`.
    pub start_url: String,
}

/// Per-request data for the sign-in page. Configuration-derived variables
/// (`ProxyPrefix`, `Version`, `Footer`, `SignInMessage`, `LogoData`) come from
/// [`Pages`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignInData {
    /// `ProviderName`: the display name of the (single) provider.
    pub provider_name: String,
    /// `Providers`: one button per configured provider; empty means the page falls
    /// back to one button for `ProviderName`.
    pub providers: Vec<ProviderButton>,
    /// `Redirect`: the validated URL to return to after login (may be empty).
    pub redirect: String,
    /// `StatusCode`: the status the page is served with (403 normally).
    pub status_code: u16,
    /// `CustomLogin`: show the username/password form (htpasswd login).
    pub custom_login: bool,
}

/// Per-request data for the error page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorData {
    /// `StatusCode`: the status the page is served with.
    pub status_code: u16,
    /// `Title`; `None` uses the status's reason phrase (`Forbidden`), as oauth2-proxy.
    pub title: Option<String>,
    /// `Message`; `None` uses oauth2-proxy's default message for the status. Shown
    /// to the user, so never put internal error text here.
    pub message: Option<String>,
    /// `Redirect`: the validated URL the user was trying to reach (may be empty).
    pub redirect: String,
    /// `RequestID`: the request's id, for support (may be empty).
    pub request_id: String,
    /// Override whether a "Try again" link is offered (`CanRetry`); `None` decides
    /// from the status code (see [`retry_url`]).
    pub can_retry: Option<bool>,
}

impl ErrorData {
    /// Error data with the default title and message for `status_code`.
    pub fn new(status_code: u16) -> Self {
        Self {
            status_code,
            ..Self::default()
        }
    }
}

/// The loaded, checked sign-in and error templates plus the configuration-derived
/// page variables.
pub struct Pages {
    sign_in: Template,
    error: Template,
    /// Built-in fallbacks, used only if a custom template fails at request time
    /// (a branch the startup trial render could not reach).
    builtin: Option<(Template, Template)>,
    vars: PageVars,
    banner_set: bool,
}

/// Configuration-derived template variables.
#[derive(Clone, Debug)]
struct PageVars {
    proxy_prefix: Arc<str>,
    version: Arc<str>,
    footer: Arc<str>,
    sign_in_message: Arc<str>,
    logo: Arc<str>,
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages")
            .field("vars", &self.vars)
            .field("custom", &self.builtin.is_some())
            .finish_non_exhaustive()
    }
}

/// Where a template's source came from, for error messages.
struct Source {
    /// The file name for error messages (full path for custom templates).
    label: String,
    text: String,
}

impl Pages {
    /// Loads the built-in templates, overridden per file by `sign_in.html` /
    /// `error.html` in `custom_templates_dir`, checks them and trial-renders them.
    pub fn load(cfg: &PageConfig, proxy_prefix: &str) -> Result<Self, PageError> {
        let (sign_in_src, error_src, custom) = match &cfg.custom_templates_dir {
            Some(dir) => {
                let meta = std::fs::metadata(dir).map_err(|e| PageError::TemplatesDir {
                    path: dir.clone(),
                    reason: e.to_string(),
                })?;
                if !meta.is_dir() {
                    return Err(PageError::TemplatesDir {
                        path: dir.clone(),
                        reason: "is not a directory".into(),
                    });
                }
                let s = read_custom(dir, SIGN_IN_NAME)?;
                let e = read_custom(dir, ERROR_NAME)?;
                let custom = s.is_some() || e.is_some();
                (
                    s.unwrap_or_else(|| builtin_source(SIGN_IN_NAME)),
                    e.unwrap_or_else(|| builtin_source(ERROR_NAME)),
                    custom,
                )
            }
            None => (
                builtin_source(SIGN_IN_NAME),
                builtin_source(ERROR_NAME),
                false,
            ),
        };

        let footer = cfg.footer.clone().unwrap_or_default();
        let banner = cfg.banner.clone().unwrap_or_default();
        let sign_in_message = if banner == "-" { String::new() } else { banner };
        let mut pages = Pages {
            sign_in: compile(SIGN_IN_NAME, &sign_in_src, &error_src)?,
            error: compile(ERROR_NAME, &error_src, &sign_in_src)?,
            builtin: None,
            vars: PageVars {
                proxy_prefix: proxy_prefix.into(),
                version: VERSION.into(),
                footer: footer.into(),
                sign_in_message: sign_in_message.into(),
                logo: load_logo(cfg.custom_sign_in_logo.as_deref())?.into(),
            },
            banner_set: cfg.banner.as_deref().is_some_and(|b| !b.is_empty()),
        };
        pages.trial_render(&sign_in_src.label, &error_src.label)?;
        if custom {
            let s = builtin_source(SIGN_IN_NAME);
            let e = builtin_source(ERROR_NAME);
            pages.builtin = Some((compile(SIGN_IN_NAME, &s, &e)?, compile(ERROR_NAME, &e, &s)?));
        }
        Ok(pages)
    }

    /// Sets oauth2-proxy's default sign-in message when no `banner` is configured:
    /// "Authenticate using example.com" for one email domain (other than `*`), or
    /// the list of domains, unless an `authenticated_emails_file` is used.
    pub fn set_default_sign_in_message(
        &mut self,
        email_domains: &[String],
        has_authenticated_emails_file: bool,
    ) {
        if self.banner_set {
            return;
        }
        self.vars.sign_in_message =
            default_sign_in_message(email_domains, has_authenticated_emails_file).into();
    }

    /// Renders the sign-in page.
    pub fn render_sign_in(&self, d: &SignInData) -> String {
        let data = self.vars.sign_in_value(d);
        render_with_fallback(
            &self.sign_in,
            self.builtin.as_ref().map(|b| &b.0),
            SIGN_IN_NAME,
            &data,
        )
    }

    /// Renders the error page.
    pub fn render_error(&self, d: &ErrorData) -> String {
        let data = self.vars.error_value(d);
        render_with_fallback(
            &self.error,
            self.builtin.as_ref().map(|b| &b.1),
            ERROR_NAME,
            &data,
        )
    }

    /// Renders each page with data that takes every branch of the built-in
    /// templates (and of oauth2-proxy's), so unknown variables and escaping errors
    /// in custom templates surface now, not on a user's request.
    fn trial_render(&self, sign_in_label: &str, error_label: &str) -> Result<(), PageError> {
        let button = ProviderButton {
            id: "oidc".into(),
            name: "OpenID Connect".into(),
            kind: "oidc".into(),
            start_url: format!("{}/start?rd=%2F", self.vars.proxy_prefix),
        };
        let sign_in_cases = [
            SignInData::default(),
            SignInData {
                provider_name: "OpenID Connect".into(),
                providers: vec![button],
                redirect: "https://app.example.com/".into(),
                status_code: 403,
                custom_login: true,
            },
        ];
        let error_cases = [
            ErrorData::new(500),
            ErrorData {
                status_code: 403,
                title: None,
                message: Some("Trial message".into()),
                redirect: "https://app.example.com/".into(),
                request_id: "trial-request-id".into(),
                can_retry: Some(true),
            },
            ErrorData {
                message: Some(String::new()),
                can_retry: Some(false),
                ..ErrorData::new(404)
            },
        ];
        let render_err = |file: &str, e: gotmpl::TemplateError| PageError::Render {
            file: file.to_owned(),
            message: e.to_string(),
        };
        for footer in ["", "-", "Trial footer"] {
            for (message, logo) in [("", ""), ("Trial banner", &*self.vars.logo)] {
                let vars = PageVars {
                    proxy_prefix: self.vars.proxy_prefix.clone(),
                    version: self.vars.version.clone(),
                    footer: footer.into(),
                    sign_in_message: message.into(),
                    logo: logo.into(),
                };
                for d in &sign_in_cases {
                    self.sign_in
                        .execute_template_to_string(SIGN_IN_NAME, &vars.sign_in_value(d))
                        .map_err(|e| render_err(sign_in_label, e))?;
                }
                for d in &error_cases {
                    self.error
                        .execute_template_to_string(ERROR_NAME, &vars.error_value(d))
                        .map_err(|e| render_err(error_label, e))?;
                }
            }
        }
        Ok(())
    }
}

impl PageVars {
    fn common(&self, m: &mut BTreeMap<Arc<str>, Value>, status: u16, redirect: &str) {
        m.insert(
            "ProxyPrefix".into(),
            Value::String(self.proxy_prefix.clone()),
        );
        m.insert("Version".into(), Value::String(self.version.clone()));
        // Raw configured footer: "" means "use the default footer", "-" hides it;
        // oauth2-proxy templates test for exactly these two values.
        m.insert("Footer".into(), HTML::from(self.footer.clone()).into());
        m.insert("StatusCode".into(), Value::Int(i64::from(status)));
        m.insert("Redirect".into(), Value::String(redirect.into()));
    }

    fn sign_in_value(&self, d: &SignInData) -> Value {
        let mut m = BTreeMap::new();
        self.common(&mut m, d.status_code, &d.redirect);
        m.insert(
            "ProviderName".into(),
            Value::String(d.provider_name.as_str().into()),
        );
        m.insert(
            "SignInMessage".into(),
            HTML::from(self.sign_in_message.clone()).into(),
        );
        m.insert("CustomLogin".into(), Value::Bool(d.custom_login));
        m.insert("LogoData".into(), HTML::from(self.logo.clone()).into());
        let providers: Vec<Value> = d.providers.iter().map(provider_value).collect();
        m.insert("Providers".into(), Value::List(providers.into()));
        Value::Map(Arc::new(m))
    }

    fn error_value(&self, d: &ErrorData) -> Value {
        let mut m = BTreeMap::new();
        self.common(&mut m, d.status_code, &d.redirect);
        let title = d
            .title
            .clone()
            .unwrap_or_else(|| status_text(d.status_code).to_owned());
        let message = d
            .message
            .clone()
            .unwrap_or_else(|| default_message(d.status_code).to_owned());
        let retry = retry_url(&self.proxy_prefix, d.status_code, &d.redirect, d.can_retry);
        m.insert("Title".into(), Value::String(title.into()));
        m.insert("Message".into(), Value::String(message.into()));
        m.insert(
            "RequestID".into(),
            Value::String(d.request_id.as_str().into()),
        );
        m.insert("CanRetry".into(), Value::Bool(!retry.is_empty()));
        m.insert("RetryURL".into(), Value::String(retry.into()));
        Value::Map(Arc::new(m))
    }
}

fn render_with_fallback(
    t: &Template,
    fallback: Option<&Template>,
    name: &str,
    data: &Value,
) -> String {
    match t.execute_template_to_string(name, data) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(template = name, error = %e, "custom template failed to render; using the built-in page");
            let rendered = fallback.map(|f| f.execute_template_to_string(name, data));
            match rendered {
                Some(Ok(s)) => s,
                _ => String::from(
                    "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error</title></head><body><main><h1>Something went wrong</h1></main></body></html>",
                ),
            }
        }
    }
}

fn provider_value(p: &ProviderButton) -> Value {
    let mut m = BTreeMap::new();
    m.insert(Arc::from("ID"), Value::String(p.id.as_str().into()));
    m.insert(Arc::from("Name"), Value::String(p.name.as_str().into()));
    m.insert(Arc::from("Kind"), Value::String(p.kind.as_str().into()));
    m.insert(
        Arc::from("StartURL"),
        Value::String(p.start_url.as_str().into()),
    );
    Value::Map(Arc::new(m))
}

fn builtin_source(name: &str) -> Source {
    let text = if name == SIGN_IN_NAME {
        BUILTIN_SIGN_IN
    } else {
        BUILTIN_ERROR
    };
    Source {
        label: format!("built-in {name}"),
        text: text.to_owned(),
    }
}

fn read_custom(dir: &Path, name: &str) -> Result<Option<Source>, PageError> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(Source {
            label: path.display().to_string(),
            text,
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::info!(file = %path.display(), "no custom template; using the built-in one");
            Ok(None)
        }
        Err(source) => Err(PageError::Read { path, source }),
    }
}

/// Compiles the page `name` from `own` and, like oauth2-proxy (which parses both
/// files into one template set), makes the templates that `other` defines available
/// to it. The page's own definitions win over the other file's.
fn compile(name: &str, own: &Source, other: &Source) -> Result<Template, PageError> {
    let parse_err = |label: &str, message: String| PageError::Parse {
        file: label.to_owned(),
        message,
    };
    check::check(&own.text).map_err(|m| parse_err(&own.label, m))?;
    check::check(&other.text).map_err(|m| parse_err(&other.label, m))?;
    if !check::has_page(&own.text, name) {
        return Err(parse_err(
            &own.label,
            format!("the template is empty (no content and no {{{{define \"{name}\"}}}})"),
        ));
    }
    let mut t = new_template(name)
        .parse(&own.text)
        .map_err(|e| parse_err(&own.label, e.to_string()))?;
    let other_name = if name == SIGN_IN_NAME {
        ERROR_NAME
    } else {
        SIGN_IN_NAME
    };
    let side = new_template(other_name)
        .parse(&other.text)
        .map_err(|e| parse_err(&other.label, e.to_string()))?;
    let have: Vec<String> = t.templates().into_iter().map(str::to_owned).collect();
    for def in side.templates() {
        if def == name || have.iter().any(|h| h == def) {
            continue;
        }
        if let Some(tree) = side.lookup(def) {
            t = t
                .add_parse_tree(def, tree.clone())
                .map_err(|e| parse_err(&other.label, e.to_string()))?;
        }
    }
    Ok(t)
}

fn new_template(name: &str) -> Template {
    // Go executes oauth2-proxy's templates with struct data, where an unknown field
    // is an error; missingkey=error gives our map data the same strictness.
    Template::new(name)
        .missing_key(MissingKey::Error)
        .func("ToUpper", |args| {
            Ok(Value::String(arg_str(args).to_uppercase().into()))
        })
        .func("ToLower", |args| {
            Ok(Value::String(arg_str(args).to_lowercase().into()))
        })
}

fn arg_str(args: &[Value]) -> String {
    match args.first() {
        Some(Value::String(s)) => s.to_string(),
        Some(Value::Safe { s, .. }) => s.to_string(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn load_logo(setting: Option<&str>) -> Result<String, PageError> {
    let err = |value: &str, reason: String| PageError::Logo {
        value: value.to_owned(),
        reason,
    };
    match setting {
        None | Some("") => Ok(DEFAULT_LOGO_SVG.trim_end().to_owned()),
        Some("-") => Ok(String::new()),
        Some(url) if url.starts_with("https://") => {
            let parsed = url::Url::parse(url).map_err(|e| err(url, format!("invalid URL: {e}")))?;
            Ok(format!(
                "<img src=\"{}\" alt=\"Logo\">",
                gotmpl::html_escape(parsed.as_str())
            ))
        }
        Some(path) => {
            let bytes =
                std::fs::read(path).map_err(|e| err(path, format!("cannot read file: {e}")))?;
            let ext = Path::new(path)
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .unwrap_or_default();
            use base64::Engine as _;
            let b64 = || base64::engine::general_purpose::STANDARD.encode(&bytes);
            match ext.as_str() {
                "svg" => String::from_utf8(bytes.clone())
                    .map_err(|_| err(path, "the SVG file is not UTF-8".into())),
                "png" => Ok(format!("<img src=\"data:image/png;base64,{}\" alt=\"Logo\">", b64())),
                "jpg" | "jpeg" => Ok(format!("<img src=\"data:image/jpeg;base64,{}\" alt=\"Logo\">", b64())),
                other => Err(err(
                    path,
                    format!("unknown extension {other:?}; use .svg, .png, .jpg or .jpeg, an https:// URL, or \"-\""),
                )),
            }
        }
    }
}

/// oauth2-proxy's sign-in message when no `banner` is set.
pub fn default_sign_in_message(
    email_domains: &[String],
    has_authenticated_emails_file: bool,
) -> String {
    if has_authenticated_emails_file {
        return String::new();
    }
    match email_domains {
        [] => String::new(),
        [one] if one == "*" => String::new(),
        [one] => format!("Authenticate using {one}"),
        many => format!(
            "Authenticate using one of the following domains: {}",
            many.join(", ")
        ),
    }
}

/// The reason phrase for a status (`Title`), as Go's `http.StatusText`.
pub fn status_text(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// oauth2-proxy's default error message for a status.
pub fn default_message(status: u16) -> &'static str {
    match status {
        500 => {
            "Oops! Something went wrong. For more information contact your server administrator."
        }
        404 => "We could not find the resource you were looking for.",
        403 => "You do not have permission to access this resource.",
        401 => "You need to be logged in to access this resource.",
        502 => "There was a problem connecting to the upstream server.",
        _ => "Unknown error",
    }
}

/// Characters escaped in a query value: everything but unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Where "Try again" leads (`RetryURL`), or "" when retrying cannot help.
///
/// Failures of the login itself (400 bad or expired state, 401, 403, 408, 500)
/// are retried by signing in again: `{prefix}/sign_in?rd={redirect}`. Upstream
/// gateway failures (502, 503, 504) are retried by reloading `redirect`; without
/// one there is nothing to retry. `force` overrides the decision.
pub fn retry_url(proxy_prefix: &str, status: u16, redirect: &str, force: Option<bool>) -> String {
    let sign_in = || {
        if redirect.is_empty() {
            format!("{proxy_prefix}/sign_in")
        } else {
            format!(
                "{proxy_prefix}/sign_in?rd={}",
                utf8_percent_encode(redirect, QUERY_VALUE)
            )
        }
    };
    let by_status = match status {
        400 | 401 | 403 | 408 | 500 => sign_in(),
        502..=504 => redirect.to_owned(),
        _ => String::new(),
    };
    match force {
        Some(false) => String::new(),
        Some(true) if by_status.is_empty() => sign_in(),
        _ => by_status,
    }
}

/// A JSON error body for API clients (`Accept: application/json`):
/// `{"status":401,"error":"Unauthorized","message":"..."}`. oauth2-proxy sends
/// `{}`; ours is a superset that tells the client why.
pub fn json_error(status: u16, message: &str) -> String {
    serde_json::json!({
        "status": status,
        "error": status_text(status),
        "message": message,
    })
    .to_string()
}
