//! Single-flight session refresh: however many requests carry the same stale session at once,
//! one refresh (or re-validation) reaches the provider and all of them share its outcome.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::OnceCell;

use super::SessionState;

/// Make one refresh per stale session, however many requests carry it at once.
///
/// The map is touched only on the refresh path (at most once per cookie_refresh interval per
/// session), never by ordinary authenticated requests.
#[derive(Default)]
pub struct Refresher {
    inflight: Mutex<HashMap<String, (SystemTime, RefreshCell)>>,
}

/// Why a refresh produced no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshFailed {
    /// The provider refused (token revoked, user disabled) or could not be reached: the
    /// session ends.
    Rejected,
    /// The session store could not be read or written: the request is refused (503), the
    /// session is kept for a later attempt.
    StoreUnavailable,
}

/// The refreshed session and, for a stored session, the ticket cookie value written with it
/// (`None`: the cookie is re-issued from the ticket, or the session is cookie-held).
pub type RefreshOutcome = Result<(SessionState, Option<String>), RefreshFailed>;

/// The shared outcome of one refresh.
pub type RefreshCell = Arc<OnceCell<RefreshOutcome>>;

/// How long a finished refresh result is reused for requests that still carry the old cookie.
const REFRESH_REUSE: Duration = Duration::from_secs(30);

impl Refresher {
    /// The shared cell for this refresh token; expired entries are dropped on the way.
    pub fn cell(&self, key: &str, now: SystemTime) -> RefreshCell {
        let mut map = match self.inflight.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.retain(|_, (started, _)| {
            now.duration_since(*started)
                .map(|d| d < REFRESH_REUSE)
                .unwrap_or(true)
        });
        map.entry(key.to_owned())
            .or_insert_with(|| (now, Arc::new(OnceCell::new())))
            .1
            .clone()
    }
}
