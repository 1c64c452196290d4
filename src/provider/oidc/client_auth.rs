//! Client authentication at the token endpoint of the one OpenID Connect implementation: the
//! client secret (HTTP Basic or in the form, as discovery allows), a JWT the proxy signs itself
//! (`private_key_jwt`, login.gov), or a token another component issues (Entra ID workload
//! identity: the file `AZURE_FEDERATED_TOKEN_FILE` names, rotated by Kubernetes, read at each
//! request as oauth2-proxy does).

use std::path::Path;
use std::time::SystemTime;

use super::core::{OidcCore, Ready};
use crate::provider::discovery::TokenAuth;
use crate::provider::error::{Endpoint, ProviderError};
use crate::provider::http;
use crate::provider::token::{
    basic_authorization, client_assertion, parse_token_response, TokenResponse,
    JWT_BEARER_ASSERTION,
};

/// Largest federated token read (a Kubernetes service-account token is about 1 KiB).
const MAX_FEDERATED_TOKEN: u64 = 64 * 1024;

/// The federated token in `file`: its text without surrounding whitespace (a trailing newline
/// would make it an invalid JWT).
pub(crate) fn read_federated_token(file: &Path) -> Result<String, ProviderError> {
    let bad = |detail: String| ProviderError::Config {
        key: "entra_id_federated_token_auth",
        message: format!(
            "error reading federated token file {} (AZURE_FEDERATED_TOKEN_FILE): {detail}",
            file.display()
        ),
    };
    let meta = std::fs::metadata(file).map_err(|e| bad(e.to_string()))?;
    if meta.len() > MAX_FEDERATED_TOKEN {
        return Err(bad(format!("larger than {MAX_FEDERATED_TOKEN} bytes")));
    }
    let text = std::fs::read_to_string(file).map_err(|e| bad(e.to_string()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(bad("the file is empty".into()));
    }
    Ok(token.to_owned())
}

impl OidcCore {
    /// POST to the token endpoint with the client's authentication.
    pub(super) async fn token_request(
        &self,
        ready: &Ready,
        mut form: Vec<(&str, &str)>,
    ) -> Result<TokenResponse, ProviderError> {
        let mut req = self
            .http
            .credentialed
            .post(ready.endpoints.token.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        let assertion;
        if let Some(key) = &self.client_assertion {
            assertion = client_assertion(
                key,
                &self.client_id,
                ready.endpoints.token.as_str(),
                SystemTime::now(),
            )?;
            form.push(("client_assertion_type", JWT_BEARER_ASSERTION));
            form.push(("client_assertion", &assertion));
        } else if let Some(file) = &self.federated_token_file {
            // Microsoft identity platform: client_id, client_assertion_type and the
            // federated credential as client_assertion; no secret.
            assertion = read_federated_token(file)?;
            form.push(("client_id", &self.client_id));
            form.push(("client_assertion_type", JWT_BEARER_ASSERTION));
            form.push(("client_assertion", &assertion));
        } else {
            match ready.endpoints.token_auth {
                TokenAuth::Basic => {
                    let value = basic_authorization(&self.client_id, self.client_secret.expose())?;
                    req = req.header(reqwest::header::AUTHORIZATION, value);
                }
                TokenAuth::Post => {
                    form.push(("client_id", &self.client_id));
                    form.push(("client_secret", self.client_secret.expose()));
                }
                TokenAuth::PublicClient => form.push(("client_id", &self.client_id)),
            }
        }
        let fetched = http::send(Endpoint::Token, req.form(&form)).await?;
        parse_token_response(&fetched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_federated_token_is_read_trimmed_and_bounded() {
        let dir = std::env::temp_dir().join(format!("authproxy-fed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("token");
        std::fs::write(&f, "eyJ.a.b\n").unwrap();
        assert_eq!(read_federated_token(&f).unwrap(), "eyJ.a.b");
        std::fs::write(&f, "  \n").unwrap();
        assert!(read_federated_token(&f).is_err());
        std::fs::write(&f, vec![b'a'; 70 * 1024]).unwrap();
        assert!(read_federated_token(&f).is_err());
        let missing = read_federated_token(&dir.join("missing")).unwrap_err();
        assert!(missing.to_string().contains("AZURE_FEDERATED_TOKEN_FILE"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
