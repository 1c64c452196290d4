use super::*;

use std::sync::atomic::{AtomicUsize, Ordering};

/// Pages with a fixed version so golden files do not change with the crate version.
fn pages(cfg: &PageConfig) -> Pages {
    let mut p = Pages::load(cfg, "/oauth2").unwrap();
    p.vars.version = "0.0.0-test".into();
    p
}

fn temp_dir(files: &[(&str, &str)]) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "authproxy-pages-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

fn custom(files: &[(&str, &str)]) -> PageConfig {
    PageConfig {
        custom_templates_dir: Some(temp_dir(files)),
        ..PageConfig::default()
    }
}

/// Compares with `src/pages/testdata/NAME`; `UPDATE_GOLDEN=1` rewrites the file.
fn golden(name: &str, got: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/pages/testdata")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(got, want, "{name} differs from its golden file");
}

fn all_providers() -> Vec<ProviderButton> {
    [
        ("corp", "Corporate SSO", "oidc"),
        ("github", "GitHub", "github"),
        ("google", "Google", "google"),
        ("microsoft", "Microsoft", "microsoft"),
        ("gitlab", "GitLab", "gitlab"),
        ("keycloak", "Keycloak", "keycloak"),
        ("adfs", "ADFS", "adfs"),
        ("bitbucket", "Bitbucket", "bitbucket"),
        ("cidaas", "CIDAAS", "cidaas"),
        ("digitalocean", "DigitalOcean", "digitalocean"),
        ("facebook", "Facebook", "facebook"),
        ("linkedin", "LinkedIn", "linkedin"),
        ("logingov", "login.gov", "logingov"),
        ("nextcloud", "Nextcloud", "nextcloud"),
        ("sourcehut", "SourceHut", "sourcehut"),
    ]
    .into_iter()
    .map(|(id, name, kind)| ProviderButton {
        id: id.into(),
        name: name.into(),
        kind: kind.into(),
        start_url: format!("/oauth2/start?provider={id}&rd=%2Fdashboard"),
    })
    .collect()
}

/// The page kinds of the sign-in buttons (`flow::button_kind` of every provider type).
const BUTTON_KINDS: [&str; 15] = [
    "oidc",
    "github",
    "google",
    "microsoft",
    "gitlab",
    "keycloak",
    "adfs",
    "bitbucket",
    "cidaas",
    "digitalocean",
    "facebook",
    "linkedin",
    "logingov",
    "nextcloud",
    "sourcehut",
];

/// WCAG 2 contrast ratio of two `#rrggbb` colours.
fn contrast(a: &str, b: &str) -> f64 {
    let lum = |hex: &str| {
        let hex = hex.trim_start_matches('#');
        let c = |i: usize| {
            let v = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
            if v <= 0.039_28 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * c(0) + 0.7152 * c(2) + 0.0722 * c(4)
    };
    let (x, y) = (lum(a), lum(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

#[test]
fn every_provider_button_is_readable() {
    let css = include_str!("templates/sign_in.html");
    for kind in BUTTON_KINDS {
        let rule = format!(".btn-{kind} {{ background: ");
        let at = css
            .find(&rule)
            .unwrap_or_else(|| panic!("no .btn-{kind} rule"));
        let decl = &css[at + rule.len()..];
        let bg = &decl[..7];
        let fg_at = decl.find("color: ").unwrap() + "color: ".len();
        let fg = &decl[fg_at..fg_at + 7];
        let ratio = contrast(bg, fg);
        // WCAG AA for normal-size text.
        assert!(ratio >= 4.5, "{kind}: {fg} on {bg} has contrast {ratio:.2}");
    }
}

#[test]
fn sign_in_page_matches_golden_with_single_provider() {
    let p = pages(&PageConfig::default());
    let html = p.render_sign_in(&SignInData {
        provider_name: "OpenID Connect".into(),
        redirect: "https://app.example.com/dashboard?tab=1&x=2".into(),
        status_code: 403,
        ..SignInData::default()
    });
    golden("sign_in_single.html", &html);
}

#[test]
fn sign_in_page_matches_golden_with_every_provider_kind_banner_and_footer() {
    let cfg = PageConfig {
        banner: Some("Welcome to <b>Example Corp</b>".into()),
        footer: Some("Need help? <a href=\"https://help.example.com\">Contact IT</a>".into()),
        ..PageConfig::default()
    };
    let html = pages(&cfg).render_sign_in(&SignInData {
        provider_name: "ignored when Providers is set".into(),
        providers: all_providers(),
        redirect: "/dashboard".into(),
        status_code: 403,
        custom_login: false,
    });
    golden("sign_in_providers.html", &html);
    for kind in BUTTON_KINDS {
        assert!(
            html.contains(&format!("class=\"btn btn-{kind}\"")),
            "{kind}"
        );
        // Every kind has its own colours (a `.btn-KIND` rule).
        assert!(
            html.contains(&format!(".btn-{kind} {{")),
            "{kind} has no colours"
        );
    }
    assert_eq!(
        html.matches("<svg aria-hidden=\"true\"").count(),
        BUTTON_KINDS.len()
    );
    // Each icon but ADFS's (Microsoft's squares) is its own; none is the generic key.
    let icons: std::collections::HashSet<&str> = html
        .split("<svg aria-hidden=\"true\"")
        .skip(1)
        .map(|rest| &rest[..rest.find("</svg>").unwrap()])
        .collect();
    assert_eq!(
        icons.len(),
        BUTTON_KINDS.len() - 1,
        "ADFS shares Microsoft's logo"
    );
    assert!(!html.contains("ignored when Providers is set"));
}

#[test]
fn error_page_matches_golden_with_retry() {
    let html = pages(&PageConfig::default()).render_error(&ErrorData {
        status_code: 403,
        title: None,
        message: None,
        redirect: "https://app.example.com/admin?x=1".into(),
        request_id: "3f2a9c1e".into(),
        can_retry: None,
    });
    golden("error_403.html", &html);
    assert!(html.contains("<title>403 Forbidden</title>"));
    assert!(html.contains(
        "href=\"/oauth2/sign_in?rd=https%3A%2F%2Fapp.example.com%2Fadmin%3Fx%3D1\">Try again</a>"
    ));
}

#[test]
fn error_page_matches_golden_without_retry_or_footer() {
    let cfg = PageConfig {
        footer: Some("-".into()),
        ..PageConfig::default()
    };
    let html = pages(&cfg).render_error(&ErrorData::new(404));
    golden("error_404.html", &html);
    assert!(!html.contains("Try again"));
    assert!(!html.contains("<footer>\n<p>"));
}

#[test]
fn default_footer_names_authproxy_and_version() {
    let html = pages(&PageConfig::default()).render_error(&ErrorData::new(500));
    assert!(html.contains("<p>Secured with authproxy v0.0.0-test</p>"));
}

#[test]
fn message_and_redirect_are_escaped_but_banner_and_footer_are_not() {
    let cfg = PageConfig {
        banner: Some("<em>trusted banner</em>".into()),
        footer: Some("<small>trusted footer</small>".into()),
        ..PageConfig::default()
    };
    let p = pages(&cfg);
    let err = p.render_error(&ErrorData {
        message: Some("<script>alert('x')</script>".into()),
        request_id: "\"><img src=x onerror=alert(1)>".into(),
        ..ErrorData::new(400)
    });
    assert!(err.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(!err.contains("<script>"));
    assert!(err.contains("&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"));
    assert!(err.contains("<small>trusted footer</small>"));

    let sign_in = p.render_sign_in(&SignInData {
        provider_name: "<b>Evil</b>".into(),
        redirect: "\" autofocus onfocus=\"alert(1)".into(),
        ..SignInData::default()
    });
    assert!(sign_in.contains("<em>trusted banner</em>"));
    assert!(sign_in.contains("Sign in with &lt;b&gt;Evil&lt;/b&gt;"));
    assert!(sign_in.contains("value=\"&#34; autofocus onfocus=&#34;alert(1)\""));
}

#[test]
fn javascript_urls_are_neutralised_like_go_html_template() {
    let p = pages(&PageConfig::default());
    let html = p.render_sign_in(&SignInData {
        providers: vec![ProviderButton {
            id: "x".into(),
            name: "X".into(),
            kind: "oidc".into(),
            start_url: "javascript:alert(1)".into(),
        }],
        ..SignInData::default()
    });
    assert!(html.contains("href=\"#ZgotmplZ\""));
    let err = p.render_error(&ErrorData {
        redirect: "javascript:alert(1)".into(),
        ..ErrorData::new(502)
    });
    assert!(err.contains("href=\"#ZgotmplZ\""));
}

#[test]
fn unknown_provider_kind_gets_the_generic_icon() {
    let html = pages(&PageConfig::default()).render_sign_in(&SignInData {
        providers: vec![ProviderButton {
            id: "a".into(),
            name: "Acme".into(),
            kind: "acme".into(),
            start_url: "/oauth2/start".into(),
        }],
        ..SignInData::default()
    });
    assert!(html.contains("btn btn-acme"));
    assert!(html.contains("Sign in with Acme"));
    assert!(html.contains("<svg aria-hidden=\"true\""));
}

/// An oauth2-proxy style custom template: wrapped in `define`, using every
/// variable oauth2-proxy provides and its `ToUpper` function.
const OAUTH2_PROXY_STYLE_SIGN_IN: &str = r#"{{define "sign_in.html"}}<!DOCTYPE html>
<html><body>
{{ if .LogoData }}<div>{{.LogoData}}</div>{{ end }}
<form method="GET" action="{{.ProxyPrefix}}/start"><input type="hidden" name="rd" value="{{.Redirect}}">
{{ if .SignInMessage }}<p>{{.SignInMessage}}</p>{{ end}}
<button type="submit">Sign in with {{.ProviderName | ToUpper}}</button></form>
{{ if .CustomLogin }}<form method="POST" action="{{.ProxyPrefix}}/sign_in"></form>{{ end }}
<p>{{.StatusCode}}</p>
{{ if eq .Footer "-" }}{{ else if eq .Footer ""}}<p>v{{.Version}}</p>{{ else }}<p>{{.Footer}}</p>{{ end }}
</body></html>
{{end}}
"#;

const OAUTH2_PROXY_STYLE_ERROR: &str = r#"<!DOCTYPE html>
<html><head><title>{{.StatusCode}} {{.Title}}</title></head><body>
<h1>{{.Title}}</h1>
{{ if or .Message .RequestID }}<div>{{ if .Message }}{{.Message}}{{ end }} {{ if .RequestID }}Request ID: {{.RequestID}}{{ end }}</div>{{ end }}
{{ if .Redirect }}<form method="GET" action="{{.Redirect}}"></form>
<form method="GET" action="{{.ProxyPrefix}}/sign_in"><input type="hidden" name="rd" value="{{.Redirect}}"></form>{{ end }}
{{ if eq .Footer "-" }}{{ else if eq .Footer ""}}v{{.Version}}{{ else }}{{.Footer}}{{ end }}
</body></html>
"#;

#[test]
fn oauth2_proxy_custom_templates_render_unchanged() {
    let p = pages(&custom(&[
        ("sign_in.html", OAUTH2_PROXY_STYLE_SIGN_IN),
        ("error.html", OAUTH2_PROXY_STYLE_ERROR),
    ]));
    let s = p.render_sign_in(&SignInData {
        provider_name: "GitHub".into(),
        redirect: "/x?a=1&b=2".into(),
        status_code: 403,
        ..SignInData::default()
    });
    assert!(s.contains("Sign in with GITHUB"));
    assert!(s.contains("action=\"/oauth2/start\""));
    assert!(s.contains("value=\"/x?a=1&amp;b=2\""));
    assert!(s.contains("<p>403</p>"));
    assert!(s.contains("<p>v0.0.0-test</p>"));
    let e = p.render_error(&ErrorData {
        redirect: "/back".into(),
        request_id: "rid-1".into(),
        ..ErrorData::new(401)
    });
    assert!(e.contains("<title>401 Unauthorized</title>"));
    assert!(e.contains("You need to be logged in to access this resource."));
    assert!(e.contains("Request ID: rid-1"));
    assert!(e.contains("action=\"/back\""));
}

#[test]
fn only_the_overridden_page_is_replaced() {
    let p = pages(&custom(&[("error.html", OAUTH2_PROXY_STYLE_ERROR)]));
    let s = p.render_sign_in(&SignInData::default());
    assert!(
        s.contains("Secured with authproxy"),
        "built-in sign-in page kept"
    );
    let e = p.render_error(&ErrorData::new(500));
    assert!(e.contains("<h1>Internal Server Error</h1>"));
}

#[test]
fn templates_defined_in_one_file_are_usable_from_the_other() {
    let p = pages(&custom(&[
        (
            "sign_in.html",
            "{{define \"brand\"}}<b>ACME</b>{{end}}<p>{{template \"brand\"}} sign in</p>",
        ),
        ("error.html", "<p>{{template \"brand\"}} {{.Title}}</p>"),
    ]));
    assert_eq!(
        p.render_error(&ErrorData::new(404)),
        "<p><b>ACME</b> Not Found</p>"
    );
    assert_eq!(
        p.render_sign_in(&SignInData::default()),
        "<p><b>ACME</b> sign in</p>"
    );
}

#[test]
fn template_errors_are_startup_errors_naming_the_file() {
    for (file, src, want) in [
        ("sign_in.html", "<p>{{.ProviderName</p>", "does not parse"),
        (
            "sign_in.html",
            "{{if .Redirect}}<p>open",
            "{{if}} is never closed",
        ),
        ("error.html", "<p>{{end}}</p>", "unexpected {{end}}"),
        (
            "error.html",
            "<p>{{.Title | shout}}</p>",
            "function \"shout\" not defined",
        ),
        (
            "error.html",
            "<p>{{.Nope}}</p>",
            "fails to render: map has no entry for key: Nope",
        ),
        (
            "sign_in.html",
            "{{range .Providers}}{{.Colour}}{{end}}",
            "Colour",
        ),
        (
            "sign_in.html",
            "<a href=\"{{if .Redirect}}/a?{{else}}/b{{end}}{{.Redirect}}\">",
            "ambiguous context",
        ),
        ("error.html", "", "the template is empty"),
        (
            "error.html",
            "{{define \"x\"}}x{{end}}\n",
            "the template is empty",
        ),
    ] {
        let cfg = custom(&[(file, src)]);
        let err = Pages::load(&cfg, "/oauth2").expect_err(src).to_string();
        let path = cfg.custom_templates_dir.unwrap().join(file);
        assert!(err.contains(&path.display().to_string()), "{src:?}: {err}");
        assert!(err.contains(want), "{src:?}: got {err}");
    }
}

#[test]
fn unknown_field_in_a_rarely_taken_branch_is_caught_by_the_trial_render() {
    let cfg = custom(&[(
        "sign_in.html",
        "{{if .CustomLogin}}{{.TenantName}}{{end}}{{if eq .Footer \"-\"}}{{.Hidden}}{{end}}",
    )]);
    let err = Pages::load(&cfg, "/oauth2").unwrap_err().to_string();
    assert!(err.contains("TenantName"), "{err}");
}

#[test]
fn missing_templates_dir_is_an_error_naming_the_key() {
    let cfg = PageConfig {
        custom_templates_dir: Some(PathBuf::from("/nonexistent/authproxy-templates")),
        ..PageConfig::default()
    };
    let err = Pages::load(&cfg, "/oauth2").unwrap_err().to_string();
    assert!(
        err.starts_with("custom_templates_dir /nonexistent/authproxy-templates"),
        "{err}"
    );
}

#[test]
fn empty_templates_dir_uses_the_built_in_pages() {
    let p = pages(&custom(&[]));
    assert!(p
        .render_sign_in(&SignInData::default())
        .contains("<h1>Sign in</h1>"));
}

#[test]
fn banner_dash_hides_the_message_and_default_message_follows_email_domains() {
    let cfg = PageConfig {
        banner: Some("-".into()),
        ..PageConfig::default()
    };
    let mut p = pages(&cfg);
    p.set_default_sign_in_message(&["example.com".into()], false);
    assert!(!p
        .render_sign_in(&SignInData::default())
        .contains("class=\"banner\""));

    let mut p = pages(&PageConfig::default());
    p.set_default_sign_in_message(&["example.com".into()], false);
    assert!(p
        .render_sign_in(&SignInData::default())
        .contains("<div class=\"banner\" role=\"note\">Authenticate using example.com</div>"));
}

#[test]
fn default_sign_in_message_matches_oauth2_proxy() {
    let d = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(default_sign_in_message(&d(&[]), false), "");
    assert_eq!(default_sign_in_message(&d(&["*"]), false), "");
    assert_eq!(
        default_sign_in_message(&d(&["a.com"]), false),
        "Authenticate using a.com"
    );
    assert_eq!(
        default_sign_in_message(&d(&["a.com", "b.com"]), false),
        "Authenticate using one of the following domains: a.com, b.com"
    );
    assert_eq!(default_sign_in_message(&d(&["a.com"]), true), "");
}

#[test]
fn logo_setting_selects_default_none_url_or_file() {
    assert!(load_logo(None).unwrap().starts_with("<svg"));
    assert_eq!(load_logo(Some("-")).unwrap(), "");
    assert_eq!(
        load_logo(Some("https://cdn.example.com/logo.png?a=1&b=\"2\"")).unwrap(),
        "<img src=\"https://cdn.example.com/logo.png?a=1&amp;b=%222%22\" alt=\"Logo\">"
    );
    let dir = temp_dir(&[("l.png", "PNG"), ("l.svg", "<svg/>"), ("l.gif", "GIF")]);
    let png = load_logo(Some(dir.join("l.png").to_str().unwrap())).unwrap();
    assert_eq!(png, "<img src=\"data:image/png;base64,UE5H\" alt=\"Logo\">");
    assert_eq!(
        load_logo(Some(dir.join("l.svg").to_str().unwrap())).unwrap(),
        "<svg/>"
    );
    let err = load_logo(Some(dir.join("l.gif").to_str().unwrap()))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("custom_sign_in_logo") && err.contains("unknown extension"),
        "{err}"
    );
    let cfg = PageConfig {
        custom_sign_in_logo: Some("/nonexistent/logo.svg".into()),
        ..PageConfig::default()
    };
    assert!(Pages::load(&cfg, "/oauth2")
        .unwrap_err()
        .to_string()
        .contains("cannot read file"));
}

#[test]
fn retry_url_depends_on_what_failed() {
    for (status, redirect, force, want) in [
        (403, "/app?x=1", None, "/oauth2/sign_in?rd=%2Fapp%3Fx%3D1"),
        (400, "", None, "/oauth2/sign_in"),
        (
            401,
            "https://a.example.com/",
            None,
            "/oauth2/sign_in?rd=https%3A%2F%2Fa.example.com%2F",
        ),
        (500, "/", None, "/oauth2/sign_in?rd=%2F"),
        (502, "/page", None, "/page"),
        (504, "", None, ""),
        (404, "/page", None, ""),
        (404, "/page", Some(true), "/oauth2/sign_in?rd=%2Fpage"),
        (403, "/page", Some(false), ""),
    ] {
        assert_eq!(
            retry_url("/oauth2", status, redirect, force),
            want,
            "{status} {redirect:?} {force:?}"
        );
    }
}

#[test]
fn error_title_and_message_default_per_status() {
    assert_eq!(status_text(403), "Forbidden");
    assert_eq!(status_text(502), "Bad Gateway");
    assert_eq!(default_message(418), "Unknown error");
    let html = pages(&PageConfig::default()).render_error(&ErrorData {
        title: Some("Login failed".into()),
        message: Some("The identity provider refused the login.".into()),
        ..ErrorData::new(500)
    });
    assert!(html.contains("<h1>Login failed</h1>"));
    assert!(html.contains("The identity provider refused the login."));
}

#[test]
fn json_error_is_valid_json_with_status_and_reason() {
    let body = json_error(401, "sign in \"first\"");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], 401);
    assert_eq!(v["error"], "Unauthorized");
    assert_eq!(v["message"], "sign in \"first\"");
}

#[test]
fn built_in_pages_are_accessible_and_self_contained() {
    let p = pages(&PageConfig::default());
    for html in [
        p.render_sign_in(&SignInData {
            custom_login: true,
            ..SignInData::default()
        }),
        p.render_error(&ErrorData::new(403)),
    ] {
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
        assert!(html.contains("<main>") && html.contains("<footer>"));
        assert!(html.contains("prefers-color-scheme: dark"));
        assert!(html.contains(":focus-visible"));
        assert!(!html.contains("<script"), "no JavaScript needed");
        for external in ["src=\"http", "href=\"http", "<link", "@import", "url("] {
            assert!(
                !html.contains(external),
                "no external resources: {external}"
            );
        }
    }
    let s = p.render_sign_in(&SignInData {
        custom_login: true,
        ..SignInData::default()
    });
    assert!(s.contains("<label for=\"username\">") && s.contains("id=\"username\""));
}

/// Extracts the fenced block that follows `<!-- example: NAME -->` in the doc.
fn doc_example(name: &str) -> String {
    let doc = include_str!("../../docs/templates.md");
    let marker = format!("<!-- example: {name} -->");
    let after = &doc[doc
        .find(&marker)
        .unwrap_or_else(|| panic!("{marker} missing"))
        + marker.len()..];
    let start = after.find("```html\n").unwrap() + "```html\n".len();
    let end = after[start..].find("\n```").unwrap();
    after[start..start + end + 1].to_owned()
}

#[test]
fn the_example_templates_in_the_docs_load_and_render() {
    let p = pages(&custom(&[
        ("sign_in.html", &doc_example("sign_in.html")),
        ("error.html", &doc_example("error.html")),
    ]));
    let s = p.render_sign_in(&SignInData {
        provider_name: "OpenID Connect".into(),
        providers: all_providers(),
        redirect: "/".into(),
        status_code: 403,
        custom_login: false,
    });
    assert!(s.contains("Sign in with GitHub"));
    let e = p.render_error(&ErrorData {
        redirect: "/".into(),
        ..ErrorData::new(403)
    });
    assert!(e.contains("Try again"));
}
