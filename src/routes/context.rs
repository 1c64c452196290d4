//! The request context: request id, client address, scheme and host, from forwarding
//! headers only when a trusted front proxy sent them.

use std::sync::atomic::{AtomicBool, Ordering};

use http::header::ACCEPT;
use http::{HeaderMap, Request};
use hyper::body::Incoming;

use super::header_str;
use crate::app::{App, RequestCtx};
use crate::server::ConnInfo;

impl App {
    pub(super) fn request_ctx(&self, req: &Request<Incoming>, conn: ConnInfo) -> RequestCtx {
        let headers = req.headers();
        let original = crate::forwarded::original_request(
            headers,
            req.uri(),
            req.method(),
            conn.peer.ip(),
            &self.forward,
        );
        if self.forward.reverse_proxy && !original.trusted {
            warn_untrusted_forwarding(headers, conn.peer.ip());
        }
        let wants_json = header_str(headers, ACCEPT)
            .map(|a| a.contains("application/json") && !a.contains("text/html"))
            .unwrap_or(false);
        RequestCtx {
            request_id: crate::app::request_id(headers, &self.cfg.logging.request_id_header),
            now: self.clock.now(),
            // On the HTTPS listener the scheme is https unless a trusted front proxy says otherwise.
            scheme: if conn.tls && !(original.trusted && headers.contains_key("x-forwarded-proto"))
            {
                "https"
            } else {
                original.scheme
            },
            host: original.host,
            client_ip: original.client_ip,
            peer: conn.peer.ip(),
            proxied: original.trusted,
            wants_json,
        }
    }
}

/// Logs once per process that `reverse_proxy` is on but a peer outside `trusted_proxy_ips`
/// sent forwarding headers: they were ignored, which is right for an attacker and a
/// misconfiguration for a real proxy.
fn warn_untrusted_forwarding(headers: &HeaderMap, peer: std::net::IpAddr) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if WARNED.load(Ordering::Relaxed) {
        return;
    }
    let forwarding = [
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-forwarded-uri",
        "x-forwarded-for",
        "x-original-url",
    ]
    .iter()
    .any(|h| headers.contains_key(*h));
    if forwarding && !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            peer = %peer,
            "reverse_proxy is on but this peer is not in trusted_proxy_ips: its X-Forwarded-* headers are ignored \
             (add the front proxy's address to trusted_proxy_ips if it is one; logged once)"
        );
    }
}
