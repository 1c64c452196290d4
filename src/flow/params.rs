//! Query-string parameters, percent-decoded, as oauth2-proxy reads them (see [`crate::query`]).

/// The first value of `name` in the URI's query, percent-decoded (`+` as space); parameters
/// Go's parser refuses (a `;` in them, a bad `%` escape) are skipped.
pub fn query_param(uri: &http::Uri, name: &str) -> Option<String> {
    crate::query::first(uri.query()?, name)
}

/// Whether the request body is `application/x-www-form-urlencoded` (parameters ignored).
pub fn is_form_urlencoded(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The check oauth2-proxy's `ParseForm` makes on the sign-in, start, callback and sign-out
/// endpoints (and before the sign-in page of a protected request): a query (or form) Go's
/// parser refuses fails the request: `Some(response)` to send instead. oauth2-proxy answers 500 (400 on `/start`); authproxy
/// answers 400, the request's fault.
pub fn check_query(
    app: &crate::app::App,
    query: Option<&str>,
    ctx: &crate::app::RequestCtx,
) -> Option<http::Response<crate::Body>> {
    match query.map_or(Ok(()), crate::query::check) {
        Ok(()) => None,
        Err(e) => {
            tracing::warn!(request_id = %ctx.request_id, client = %ctx.client_ip, reason = %e,
                "request refused: malformed query (allow_query_semicolons makes ';' a separator)");
            Some(app.error_response(ctx, &crate::error::AppError::MalformedQuery, "/"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_first_matching_parameter() {
        let uri: http::Uri = "/oauth2/start?rd=%2Fa%3Fb%3D1&rd=/other&x=y+z"
            .parse()
            .unwrap();
        assert_eq!(query_param(&uri, "rd").as_deref(), Some("/a?b=1"));
        assert_eq!(query_param(&uri, "x").as_deref(), Some("y z"));
        assert_eq!(query_param(&uri, "missing"), None);
    }
}
