//! A browser-like HTTP client: a cookie jar the test can inspect and tamper with, and no
//! automatic redirects, so each hop is asserted by the test.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cookie::time::OffsetDateTime;
use cookie::Cookie;
use reqwest::header::{HeaderValue, LOCATION, SET_COOKIE};
use reqwest::{Method, RequestBuilder, Response};
use url::Url;

/// One cookie as the jar keeps it. Cookies ignore ports, like in browsers; the jar keys them by
/// `(name, scope, path)` and sends them by RFC 6265 domain and path matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCookie {
    /// Cookie name.
    pub name: String,
    /// Which hosts receive it.
    pub scope: Scope,
    /// Cookie value.
    pub value: String,
    /// Path attribute (or the default path of the setting response).
    pub path: String,
    /// Absolute expiry, if the cookie is persistent.
    pub expires: Option<OffsetDateTime>,
}

/// The hosts a cookie is sent to (RFC 6265 5.1.3 domain matching).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Set by the test itself ([`Jar::set`]): sent to every host.
    Any,
    /// No `Domain` attribute: only the exact host that set it (lower-case, no port).
    HostOnly(String),
    /// `Domain=example.test`: that host and every host below it (lower-case, no leading dot).
    Domain(String),
}

impl Scope {
    /// True when a cookie of this scope is sent to `host`.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        match self {
            Scope::Any => true,
            Scope::HostOnly(h) => *h == host,
            Scope::Domain(d) => {
                host == *d
                    || (host.ends_with(d.as_str())
                        && host.as_bytes().get(host.len() - d.len() - 1) == Some(&b'.'))
            }
        }
    }
}

/// A cookie jar implementing just enough of RFC 6265: domain, path and expiry.
#[derive(Debug, Default)]
pub struct Jar {
    cookies: Mutex<Vec<StoredCookie>>,
}

impl Jar {
    /// The value of the first live cookie called `name` (any path).
    pub fn get(&self, name: &str) -> Option<String> {
        self.live()
            .into_iter()
            .find(|c| c.name == name)
            .map(|c| c.value)
    }

    /// Names of all live cookies, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.live().into_iter().map(|c| c.name).collect();
        names.sort();
        names
    }

    /// Names of live cookies starting with `prefix`, sorted.
    pub fn names_with_prefix(&self, prefix: &str) -> Vec<String> {
        self.names()
            .into_iter()
            .filter(|n| n.starts_with(prefix))
            .collect()
    }

    /// Sets `name=value` on path `/` as a session cookie sent to every host (replaces any
    /// cookie of the same name and path, whatever its domain).
    pub fn set(&self, name: &str, value: &str) {
        self.lock().retain(|c| !(c.name == name && c.path == "/"));
        self.store(StoredCookie {
            name: name.to_string(),
            scope: Scope::Any,
            value: value.to_string(),
            path: "/".to_string(),
            expires: None,
        });
    }

    /// Removes every cookie called `name`.
    pub fn remove(&self, name: &str) {
        self.lock().retain(|c| c.name != name);
    }

    /// A copy of every live cookie.
    pub fn live(&self) -> Vec<StoredCookie> {
        let now = OffsetDateTime::now_utc();
        let mut cookies = self.lock();
        cookies.retain(|c| c.expires.is_none_or(|e| e > now));
        cookies.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<StoredCookie>> {
        self.cookies.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn store(&self, cookie: StoredCookie) {
        let mut cookies = self.lock();
        cookies.retain(|c| {
            !(c.name == cookie.name && c.path == cookie.path && c.scope == cookie.scope)
        });
        let expired = cookie
            .expires
            .is_some_and(|e| e <= OffsetDateTime::now_utc());
        if !expired {
            cookies.push(cookie);
        }
    }

    fn store_set_cookie(&self, header: &str, url: &Url) {
        let Ok(parsed) = Cookie::parse(header.to_string()) else {
            return;
        };
        let host = url.host_str().unwrap_or("").to_ascii_lowercase();
        let scope = match parsed.domain() {
            // `cookie` already drops one leading dot.
            Some(d) if !d.is_empty() => {
                let d = d.trim_start_matches('.').to_ascii_lowercase();
                // A browser rejects a Domain the setting host is not inside.
                if !Scope::Domain(d.clone()).matches(&host) {
                    return;
                }
                Scope::Domain(d)
            }
            _ => Scope::HostOnly(host),
        };
        let path = match parsed.path() {
            Some(p) if p.starts_with('/') => p.to_string(),
            _ => default_path(url.path()),
        };
        // Max-Age wins over Expires (RFC 6265 5.3 step 3).
        let expires = match parsed.max_age() {
            Some(age) if age.is_negative() || age.is_zero() => Some(OffsetDateTime::UNIX_EPOCH),
            Some(age) => Some(OffsetDateTime::now_utc() + age),
            None => parsed.expires_datetime(),
        };
        self.store(StoredCookie {
            name: parsed.name().to_string(),
            scope,
            value: parsed.value().to_string(),
            path,
            expires,
        });
    }
}

fn default_path(request_path: &str) -> String {
    match request_path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => request_path[..i].to_string(),
    }
}

fn path_matches(cookie_path: &str, request_path: &str) -> bool {
    request_path == cookie_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/')
                || request_path.as_bytes().get(cookie_path.len()) == Some(&b'/')))
}

impl reqwest::cookie::CookieStore for Jar {
    fn set_cookies(&self, cookie_headers: &mut dyn Iterator<Item = &HeaderValue>, url: &Url) {
        for header in cookie_headers {
            if let Ok(text) = header.to_str() {
                self.store_set_cookie(text, url);
            }
        }
    }

    fn cookies(&self, url: &Url) -> Option<HeaderValue> {
        let mut matching: Vec<StoredCookie> = self
            .live()
            .into_iter()
            .filter(|c| {
                c.scope.matches(url.host_str().unwrap_or("")) && path_matches(&c.path, url.path())
            })
            .collect();
        // Longer paths first (RFC 6265 5.4 step 2).
        matching.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        if matching.is_empty() {
            return None;
        }
        let line = matching
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect::<Vec<_>>()
            .join("; ");
        HeaderValue::from_str(&line).ok()
    }
}

/// A client with its own cookie jar that never follows redirects and never uses a proxy.
#[derive(Clone)]
pub struct Browser {
    client: reqwest::Client,
    jar: Arc<Jar>,
    /// Host names resolved to 127.0.0.1 instead of through DNS.
    loopback_hosts: Vec<String>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    /// A fresh browser with an empty jar.
    pub fn new() -> Browser {
        Self::with_jar(Arc::new(Jar::default()), Vec::new())
    }

    /// A fresh browser that resolves each of `hosts` to 127.0.0.1 (the port always comes
    /// from the URL), like Chromium's `--host-resolver-rules`.
    pub fn with_loopback_hosts(hosts: &[&str]) -> Browser {
        let hosts = hosts.iter().map(|h| h.to_string()).collect();
        Self::with_jar(Arc::new(Jar::default()), hosts)
    }

    fn with_jar(jar: Arc<Jar>, loopback_hosts: Vec<String>) -> Browser {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(jar.clone())
            .no_proxy()
            .timeout(Duration::from_secs(30));
        for host in &loopback_hosts {
            builder = builder.resolve(host, std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
        }
        let client = builder.build().expect("build reqwest client");
        Browser {
            client,
            jar,
            loopback_hosts,
        }
    }

    /// Another browser starting with a copy of this one's cookies.
    pub fn fork(&self) -> Browser {
        let jar = Jar::default();
        for cookie in self.jar.live() {
            jar.store(cookie);
        }
        Self::with_jar(Arc::new(jar), self.loopback_hosts.clone())
    }

    /// The cookie jar.
    pub fn jar(&self) -> &Jar {
        &self.jar
    }

    /// The underlying client (shares the jar).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Starts a request with the jar's cookies.
    pub fn request(&self, method: Method, url: &str) -> RequestBuilder {
        self.client.request(method, url)
    }

    /// `GET url`, panicking on transport errors.
    pub async fn get(&self, url: &str) -> Response {
        self.client
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }

    /// `GET url` with `Accept: application/json`.
    pub async fn get_json(&self, url: &str) -> Response {
        self.client
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }

    /// `POST url` with a form body.
    pub async fn post_form(&self, url: &str, fields: &[(String, String)]) -> Response {
        self.client
            .post(url)
            .form(fields)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"))
    }

    /// The `Cookie` header this browser would send to `url`.
    pub fn cookie_header(&self, url: &str) -> Option<String> {
        let url = Url::parse(url).expect("valid URL");
        reqwest::cookie::CookieStore::cookies(self.jar.as_ref(), &url)
            .and_then(|v| v.to_str().ok().map(str::to_string))
    }
}

/// The `Location` of a redirect, resolved against the request URL.
pub fn location(resp: &Response) -> Url {
    let raw = resp
        .headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("{} {} has no Location header", resp.status(), resp.url()))
        .to_str()
        .expect("ASCII Location");
    resp.url()
        .join(raw)
        .unwrap_or_else(|e| panic!("bad Location {raw:?}: {e}"))
}

/// Every `Set-Cookie` of a response, parsed.
pub fn set_cookies(resp: &Response) -> Vec<Cookie<'static>> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| {
            let text = v.to_str().expect("ASCII Set-Cookie").to_string();
            Cookie::parse(text.clone()).unwrap_or_else(|e| panic!("bad Set-Cookie {text:?}: {e}"))
        })
        .collect()
}

/// True when a `Set-Cookie` deletes its cookie (expired, or `Max-Age` ≤ 0).
pub fn is_deletion(cookie: &Cookie<'_>) -> bool {
    if let Some(age) = cookie.max_age() {
        return age.is_negative() || age.is_zero();
    }
    cookie
        .expires_datetime()
        .is_some_and(|e| e <= OffsetDateTime::now_utc())
}

/// The raw `Set-Cookie` header lines of a response.
pub fn set_cookie_lines(resp: &Response) -> Vec<String> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ASCII Set-Cookie").to_string())
        .collect()
}
