//! Who the user is, for the one OpenID Connect implementation: the identity claims
//! (`user_id_claim`, `oidc_email_claim`, `oidc_groups_claim`, `preferred_username`,
//! `email_verified`) and the kept claims (`additional_claims`) from the verified ID token, and
//! from the profile URL (userinfo) for the ones it lacks, as oauth2-proxy v7's claim extractor:
//! the ID token first, userinfo only when a wanted claim is missing (never with
//! `skip_claims_from_profile_url`), claims found in neither left out.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::core::{OidcCore, Ready, STANDARD_EMAIL_CLAIM};
use crate::provider::claims;
use crate::provider::error::ProviderError;
use crate::provider::Claims;

/// The kept claims found in the ID token, else in userinfo, by the name asked for (pure).
pub(crate) fn extra_claims(
    wanted: &[String],
    id: &Map<String, Value>,
    userinfo: Option<&Map<String, Value>>,
) -> BTreeMap<String, Value> {
    wanted
        .iter()
        .filter_map(|name| {
            claims::lookup(id, name)
                .or_else(|| userinfo.and_then(|u| claims::lookup(u, name)))
                .map(|v| (name.clone(), v.clone()))
        })
        .collect()
}

impl OidcCore {
    /// The identity claims, from the id_token, and from userinfo for the ones it lacks.
    pub(super) async fn identity_claims(
        &self,
        ready: &Ready,
        id: &Map<String, Value>,
        access_token: &str,
    ) -> Result<Claims, ProviderError> {
        let subject = id
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let verify_email = self.email_claim == STANDARD_EMAIL_CLAIM && !self.allow_unverified_email;
        let mut wanted = vec![
            self.user_claim.as_str(),
            self.email_claim.as_str(),
            self.groups_claim.as_str(),
            "preferred_username",
        ];
        if verify_email {
            wanted.push("email_verified");
        }
        wanted.extend(self.extra_claims.iter().map(String::as_str));
        // Like oauth2-proxy, ask userinfo only when the id_token lacks a claim, and only
        // with an access token to ask with.
        let missing = wanted.iter().any(|c| claims::lookup(id, c).is_none());
        let userinfo = match &ready.endpoints.userinfo {
            Some(url)
                if missing
                    && !access_token.is_empty()
                    && !self.skip_userinfo
                    && !self.skip_profile_claims =>
            {
                Some(
                    self.fetch_userinfo(ready, url, access_token, &subject)
                        .await?,
                )
            }
            _ => None,
        };
        let get = |name: &str| {
            claims::lookup(id, name)
                .or_else(|| userinfo.as_ref().and_then(|u| claims::lookup(u, name)))
        };
        let email = get(&self.email_claim)
            .or_else(|| self.email_fallback_claims.iter().find_map(|c| get(c)))
            .map(claims::to_string)
            .filter(|e| !e.is_empty())
            .ok_or_else(|| ProviderError::MissingEmail {
                claim: self.email_claim.clone(),
            })?;
        // `email_verified` must be present AND false to reject (oauth2-proxy semantics),
        // except for kinds whose provider always states it (login.gov).
        let verified = get("email_verified").map(claims::to_bool);
        if verify_email
            && (verified == Some(false) || (self.require_email_verified && verified.is_none()))
        {
            return Err(ProviderError::UnverifiedEmail { email });
        }
        let user = get(&self.user_claim)
            .map(claims::to_string)
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| subject.clone());
        Ok(Claims {
            user,
            email,
            groups: get(&self.groups_claim)
                .map(claims::to_string_list)
                .unwrap_or_default(),
            preferred_username: get("preferred_username")
                .map(claims::to_string)
                .filter(|p| !p.is_empty()),
            extra: extra_claims(&self.extra_claims, id, userinfo.as_ref()),
            subject,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn kept_claims_come_from_the_id_token_then_userinfo() {
        let wanted: Vec<String> = ["tenant", "organization.name", "dept", "absent"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let id =
            map(json!({"tenant": "t-1", "organization": {"name": "Acme", "id": 7}, "dept": null}));
        let ui = map(json!({"tenant": "from-userinfo", "dept": ["eng", "ops"]}));
        let got = extra_claims(&wanted, &id, Some(&ui));
        // The ID token wins; a dot path is kept under its own name; null counts as absent.
        assert_eq!(got["tenant"], json!("t-1"));
        assert_eq!(got["organization.name"], json!("Acme"));
        assert_eq!(got["dept"], json!(["eng", "ops"]));
        assert!(!got.contains_key("absent"));
        // Without userinfo only the ID token's.
        let got = extra_claims(&wanted, &id, None);
        assert_eq!(got.len(), 2);
    }
}
