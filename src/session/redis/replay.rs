//! One-time use of back-channel Logout Tokens: each accepted token's (issuer, `jti`) is
//! remembered for the window the token could be accepted in, so a captured token replayed to
//! any replica is refused (OpenID Connect Back-Channel Logout 1.0, section 2.6 step 7).
//!
//! ```text
//! <cookie_name>-bcl-jti-<hex SHA-256(issuer "\n" jti)>   "1", EX = window
//! ```

use std::time::Duration;

use fred::interfaces::KeysInterface as _;
use fred::types::{Expiration, SetOptions};

use super::client::map_error;
use super::trace::traced;
use super::{RedisStore, StoreError};

/// The key that remembers one token.
pub fn jti_key(cookie_name: &str, issuer: &str, jti: &str) -> String {
    super::index::hashed_key(&format!("{cookie_name}-bcl-jti-"), issuer, jti)
}

impl RedisStore {
    /// Remember (issuer, `jti`) for `window`: `true` the first time, `false` when it was already
    /// used (`SET key 1 NX EX secs`, atomic across replicas).
    pub async fn first_use_of_jti(
        &self,
        issuer: &str,
        jti: &str,
        window: Duration,
    ) -> Result<bool, StoreError> {
        traced("redis remember jti", "SET NX", async move {
            let key = jti_key(self.codec.cookie_name(), issuer, jti);
            let secs = i64::try_from(window.as_secs().max(1)).unwrap_or(i64::MAX);
            let set: Option<String> = self
                .conn
                .client()?
                .set(
                    &key,
                    "1",
                    Some(Expiration::EX(secs)),
                    Some(SetOptions::NX),
                    false,
                )
                .await
                .map_err(map_error)?;
            Ok(set.is_some())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::jti_key;

    #[test]
    fn keys_separate_issuers_and_hide_the_jti() {
        let a = jti_key("_oauth2_proxy", "https://a.example", "j1");
        let b = jti_key("_oauth2_proxy", "https://b.example", "j1");
        assert_ne!(a, b);
        assert!(a.starts_with("_oauth2_proxy-bcl-jti-"));
        assert!(!a.contains("j1"));
        assert_eq!(a.len(), "_oauth2_proxy-bcl-jti-".len() + 64);
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(jti_key("c", "ab", "c"), jti_key("c", "a", "bc"));
    }
}
