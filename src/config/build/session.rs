//! `session_store_type` and the `redis_*` options: where sessions live.

use super::ctx::Ctx;
use crate::config::redis::RedisOptions;
use crate::config::{LogoutConfig, SessionStoreConfig};
use crate::crypto::Secret;

/// The session store. oauth2-proxy accepts any `session_store_type` at validation and refuses
/// an unknown one at startup; authproxy refuses it at once, naming the option.
pub(crate) fn session_store(c: &mut Ctx) -> SessionStoreConfig {
    let kind = c.string("session_store_type");
    match kind.trim() {
        "" | "cookie" => SessionStoreConfig::Cookie,
        "redis" => {
            let o = RedisOptions {
                connection_url: c.string("redis_connection_url"),
                username: c.string("redis_username"),
                password: Secret::new(c.string("redis_password")),
                use_sentinel: c.boolean("redis_use_sentinel"),
                sentinel_password: Secret::new(c.string("redis_sentinel_password")),
                sentinel_master_name: c.string("redis_sentinel_master_name"),
                sentinel_connection_urls: c.list("redis_sentinel_connection_urls"),
                use_cluster: c.boolean("redis_use_cluster"),
                cluster_connection_urls: c.list("redis_cluster_connection_urls"),
                ca_path: c.string("redis_ca_path"),
                insecure_skip_tls_verify: c.boolean("redis_insecure_skip_tls_verify"),
                connection_idle_timeout: c.int("redis_connection_idle_timeout"),
            };
            match o.validate() {
                Ok(plan) => {
                    for note in &plan.notes {
                        c.warn(format!("session_store_type = redis: {note}"));
                    }
                    if o.insecure_skip_tls_verify {
                        c.warn("redis_insecure_skip_tls_verify is on: the Redis server certificate is not verified".to_owned());
                    }
                    SessionStoreConfig::Redis(Box::new(o))
                }
                Err(errors) => {
                    for e in errors {
                        c.fail(e.key, e.message);
                    }
                    SessionStoreConfig::Cookie
                }
            }
        }
        other => {
            c.fail(
                "session_store_type",
                format!("{other:?} is not a session store; use cookie or redis"),
            );
            SessionStoreConfig::Cookie
        }
    }
}

/// `oidc_backchannel_logout` and `oidc_rp_initiated_logout`. Back-channel logout ends sessions
/// on the server side, which cookie sessions do not have: with them the option is accepted, the
/// endpoint answers 501, and the startup log says why.
pub(crate) fn logout(c: &mut Ctx, store: &SessionStoreConfig) -> LogoutConfig {
    let backchannel = c.boolean("oidc_backchannel_logout");
    if backchannel && matches!(store, SessionStoreConfig::Cookie) {
        c.warn("oidc_backchannel_logout needs session_store_type = redis: cookie sessions live only in the browser, so a logout token cannot end them; <proxy_prefix>/backchannel-logout answers 501 until the Redis store is configured".to_owned());
    }
    LogoutConfig {
        backchannel,
        rp_initiated: c.boolean("oidc_rp_initiated_logout"),
    }
}
