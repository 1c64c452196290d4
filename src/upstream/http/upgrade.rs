//! WebSocket and other HTTP/1.1 upgrades: detecting the request, and tunnelling the two
//! connections once the upstream answers 101.

use ::http::header::{self, HeaderMap, HeaderValue};
use ::http::{Extensions, Response, Version};
use hyper_util::rt::TokioIo;

use super::rewrite::{connection_tokens, remove_hop_by_hop};
use super::HttpTarget;
use crate::upstream::router::empty_body;
use crate::upstream::UpstreamError;
use crate::Body;

/// The protocol the client asks to switch to, if this is an HTTP/1.1 upgrade request
/// (`Connection: upgrade` plus `Upgrade`).
pub(super) fn upgrade_protocol(headers: &HeaderMap) -> Option<HeaderValue> {
    let wants = headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(connection_tokens)
        .any(|t| t.eq_ignore_ascii_case("upgrade"));
    if wants {
        headers.get(header::UPGRADE).cloned()
    } else {
        None
    }
}

/// Answers the client's upgrade with the upstream's 101 and joins the two connections.
pub(super) fn tunnel(
    target: &HttpTarget,
    proto: HeaderValue,
    client_upgrade: hyper::upgrade::OnUpgrade,
    mut resp: Response<Body>,
) -> Result<Response<Body>, UpstreamError> {
    // Go's reverse proxy checks the same: a server may not switch to a protocol the
    // client did not ask for.
    let agreed = resp
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(proto.as_bytes()));
    if !agreed {
        return Err(UpstreamError::BadUpstreamResponse {
            target: target.label.clone(),
            reason: "101 Switching Protocols to a protocol the client did not request".into(),
        });
    }
    let upstream_upgrade = hyper::upgrade::on(&mut resp);
    let label = target.label.clone();
    tokio::spawn(async move {
        let (client, upstream) = tokio::join!(client_upgrade, upstream_upgrade);
        match (client, upstream) {
            (Ok(client), Ok(upstream)) => {
                let mut client = TokioIo::new(client);
                let mut upstream = TokioIo::new(upstream);
                if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
                    tracing::debug!(upstream = %label, error = %e, "upgraded connection ended with an error");
                }
            }
            (client, upstream) => {
                tracing::warn!(
                    upstream = %label,
                    client_ok = client.is_ok(),
                    upstream_ok = upstream.is_ok(),
                    "connection upgrade failed"
                );
            }
        }
    });

    let (mut parts, _body) = resp.into_parts();
    remove_hop_by_hop(&mut parts.headers);
    parts
        .headers
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    parts.headers.insert(header::UPGRADE, proto);
    parts.version = Version::HTTP_11;
    parts.extensions = Extensions::new();
    Ok(Response::from_parts(parts, empty_body()))
}
