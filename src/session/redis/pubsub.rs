//! Invalidation messages for per-replica caches of decoded sessions (authproxy only): every
//! clear and every in-place update publishes the ticket id on `<cookie_name>-invalidate`, and
//! [`Invalidations`] yields what every replica publishes, so a cache can drop an entry at once
//! instead of waiting for its own expiry.
//!
//! Messages published while the subscriber was disconnected are lost (Redis pub/sub keeps
//! nothing), so after every reconnection it yields [`Invalidation::Resync`]: drop everything.
//! oauth2-proxy replicas publish nothing; a cache shared with them must keep a short lifetime.

use fred::clients::SubscriberClient;
use fred::interfaces::{ClientLike as _, EventInterface as _, PubsubInterface as _};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use super::client::map_error;
use super::{RedisStore, StoreError};

/// The channel name for `cookie_name`.
pub fn channel(cookie_name: &str) -> String {
    format!("{cookie_name}-invalidate")
}

/// One thing for a session cache to forget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// The session with this ticket id was cleared or changed.
    Ticket(String),
    /// Messages may have been missed (reconnection, or the reader fell behind): forget all.
    Resync,
}

/// The stream of invalidations. Dropping it unsubscribes and closes its connection.
pub struct Invalidations {
    rx: mpsc::Receiver<Invalidation>,
    tasks: Vec<JoinHandle<()>>,
    client: SubscriberClient,
}

impl std::fmt::Debug for Invalidations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Invalidations")
    }
}

impl Invalidations {
    /// The next invalidation; `None` once the subscriber has stopped (never while the store is
    /// in use: it reconnects by itself).
    pub async fn recv(&mut self) -> Option<Invalidation> {
        self.rx.recv().await
    }
}

impl Drop for Invalidations {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        let client = self.client.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = client.quit().await;
            });
        }
    }
}

/// Capacity of the channel between the subscriber task and the reader.
const QUEUE: usize = 1024;

impl RedisStore {
    /// Subscribe to invalidations, waiting at most the dial timeout for the subscriber's own
    /// connection (`Unavailable` if Redis cannot be reached: call again later).
    pub async fn subscribe_invalidations(&self) -> Result<Invalidations, StoreError> {
        let client = self.conn.subscriber()?;
        let connection = client.connect();
        let resubscriber = client.manage_subscriptions();
        let ready = tokio::time::timeout(self.plan.dial_timeout, client.wait_for_connect()).await;
        let subscribed = match ready {
            Ok(Ok(())) => client
                .subscribe(channel(self.codec.cookie_name()))
                .await
                .map_err(map_error),
            Ok(Err(e)) => Err(map_error(e)),
            Err(_) => Err(StoreError::Unavailable(format!(
                "the invalidation subscriber could not connect within {:?}",
                self.plan.dial_timeout
            ))),
        };
        if let Err(e) = subscribed {
            resubscriber.abort();
            connection.abort();
            let _ = client.quit().await;
            return Err(e);
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let mut messages = client.message_rx();
        let mut reconnects = client.reconnect_rx();
        let forward = tokio::spawn(async move {
            loop {
                let item = tokio::select! {
                    m = messages.recv() => match m {
                        Ok(m) => match m.value.as_string() {
                            Some(id) => Invalidation::Ticket(id),
                            None => continue,
                        },
                        Err(broadcast::error::RecvError::Lagged(_)) => Invalidation::Resync,
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                    r = reconnects.recv() => match r {
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => Invalidation::Resync,
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                };
                match tx.try_send(item) {
                    Ok(()) => {}
                    // The reader is behind: it will miss messages, so it must resync.
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        if tx.send(Invalidation::Resync).await.is_err() {
                            break;
                        }
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => break,
                }
            }
        });
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Invalidations {
            rx,
            tasks: vec![forward, resubscriber, connection],
            client,
        })
    }
}
