//! authproxy's indexes for OpenID Connect back-channel logout (not in oauth2-proxy): for each
//! session written, its ticket id is added to a Redis set per (issuer, `sid`) and per
//! (issuer, `sub`):
//!
//! ```text
//! <cookie_name>-idx-sid-<hex SHA-256(issuer "\n" sid)>   SET of ticket ids
//! <cookie_name>-idx-sub-<hex SHA-256(issuer "\n" sub)>   SET of ticket ids
//! ```
//!
//! Hashing keeps user identifiers out of key names and bounds key length; the issuer keeps two
//! identity providers' `sub`s apart. A set expires `cookie_expire` after the last session added
//! to it (so it outlives each of its sessions). Members of sessions already gone are harmless:
//! deleting a missing key is a no-op. Sessions written only by oauth2-proxy replicas are not
//! indexed (v7 has no such index), so a back-channel logout reaches them only once an authproxy
//! replica has saved them (log-in or refresh).

use fred::interfaces::{KeysInterface as _, SetsInterface as _};

use super::client::map_error;
use super::trace::traced;
use super::{RedisStore, StoreError, Ticket};

/// Who a session belongs to, as the ID token says. Empty or `None` fields are not indexed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Owner<'a> {
    /// The ID token's `iss`.
    pub issuer: &'a str,
    /// The ID token's `sub`.
    pub sub: Option<&'a str>,
    /// The ID token's `sid` (OIDC session id), when the provider sends one.
    pub sid: Option<&'a str>,
}

impl Owner<'_> {
    /// No index entries (e.g. a provider without ID tokens).
    pub const NONE: Owner<'static> = Owner {
        issuer: "",
        sub: None,
        sid: None,
    };
}

/// The index key for one (kind, issuer, value).
pub fn index_key(cookie_name: &str, kind: &str, issuer: &str, value: &str) -> String {
    hashed_key(&format!("{cookie_name}-idx-{kind}-"), issuer, value)
}

/// `prefix` followed by the hex SHA-256 of `issuer "\n" value`: user identifiers stay out of
/// key names, key length is bounded, and the separator keeps ("ab", "c") apart from ("a", "bc").
pub(super) fn hashed_key(prefix: &str, issuer: &str, value: &str) -> String {
    let mut input = Vec::with_capacity(issuer.len() + 1 + value.len());
    input.extend_from_slice(issuer.as_bytes());
    input.push(b'\n');
    input.extend_from_slice(value.as_bytes());
    let digest = crate::crypto::sha256(&input);
    let mut key = String::with_capacity(prefix.len() + 64);
    key.push_str(prefix);
    for b in digest {
        key.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        key.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    key
}

impl RedisStore {
    fn owner_keys(&self, owner: &Owner<'_>) -> Vec<String> {
        [("sid", owner.sid), ("sub", owner.sub)]
            .into_iter()
            .filter_map(|(kind, v)| v.filter(|v| !v.is_empty()).map(|v| (kind, v)))
            .map(|(kind, v)| index_key(self.codec.cookie_name(), kind, owner.issuer, v))
            .collect()
    }

    pub(super) async fn index_add(
        &self,
        ticket: &Ticket,
        owner: &Owner<'_>,
    ) -> Result<(), StoreError> {
        let ttl = self.codec.expire();
        for key in self.owner_keys(owner) {
            let c = self.conn.client()?;
            let _: i64 = c.sadd(&key, ticket.id()).await.map_err(map_error)?;
            if !ttl.is_zero() {
                // Whole seconds, rounded up, so the set never expires before its newest session.
                let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
                let _: i64 = c
                    .expire(&key, i64::try_from(secs).unwrap_or(i64::MAX), None)
                    .await
                    .map_err(map_error)?;
            }
        }
        Ok(())
    }

    /// Delete every session indexed under (issuer, `sid`): the back-channel logout of one IdP
    /// session. Returns how many sessions were deleted.
    pub async fn clear_by_sid(&self, issuer: &str, sid: &str) -> Result<usize, StoreError> {
        self.clear_index(&index_key(self.codec.cookie_name(), "sid", issuer, sid))
            .await
    }

    /// Delete every session indexed under (issuer, `sub`): a back-channel logout without `sid`
    /// (all of the user's sessions). Returns how many sessions were deleted.
    pub async fn clear_by_sub(&self, issuer: &str, sub: &str) -> Result<usize, StoreError> {
        self.clear_index(&index_key(self.codec.cookie_name(), "sub", issuer, sub))
            .await
    }

    async fn clear_index(&self, key: &str) -> Result<usize, StoreError> {
        traced("redis clear index", "SMEMBERS DEL PUBLISH", async move {
            let ids: Vec<String> = self.conn.client()?.smembers(key).await.map_err(map_error)?;
            let mut deleted = 0;
            // One key per command: in a Redis Cluster the ticket keys live in different slots.
            for id in &ids {
                if self.delete(id).await? {
                    deleted += 1;
                }
                self.publish(id).await?;
            }
            let _: i64 = self.conn.client()?.del(key).await.map_err(map_error)?;
            Ok(deleted)
        })
        .await
    }
}
