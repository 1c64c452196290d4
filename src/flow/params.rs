//! Query-string parameters, percent-decoded.

/// The first value of `name` in the URI's query, percent-decoded (`+` as space).
pub fn query_param(uri: &http::Uri, name: &str) -> Option<String> {
    let query = uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
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
