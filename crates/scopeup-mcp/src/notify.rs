//! `notifications/elicitation/complete`: telling a `2025-11-25` session that the upgrade it was
//! sent to get has landed, so the client can retry without being asked.
//!
//! rmcp 3 has no typed notification for it, so it goes out as a custom server notification on
//! the session's peer, kept from the tool call that answered with `-32042`. rmcp delivers it on
//! the session's standalone GET stream; a stateless request has no session, and the client
//! simply retries.

use rmcp::model::CustomNotification;
use scopeup_core::ElicitationId;
use serde_json::json;

/// The method of the completion notification (MCP 2025-11-25).
pub const ELICITATION_COMPLETE_METHOD: &str = "notifications/elicitation/complete";

/// The completion notification for one elicitation: `{"elicitationId": "…"}`.
pub fn elicitation_complete_notification(id: &ElicitationId) -> CustomNotification {
    CustomNotification::new(
        ELICITATION_COMPLETE_METHOD,
        Some(json!({ "elicitationId": id.as_str() })),
    )
}

#[cfg(all(feature = "server", not(target_arch = "wasm32")))]
pub use notifier::CompletionNotifier;

#[cfg(all(feature = "server", not(target_arch = "wasm32")))]
mod notifier {
    //! The notifier: which sessions wait for which elicitation, and the delivery.

    use std::collections::HashMap;
    use std::fmt;
    use std::sync::{Mutex, MutexGuard, PoisonError};

    use rmcp::model::{CustomNotification, ServerNotification};
    use rmcp::{Peer, RoleServer};
    use scopeup::{CompletionObserver, ElicitationTicket};
    use scopeup_core::{ElicitationId, UnixTime};

    use super::elicitation_complete_notification;

    /// Sessions kept per elicitation; a client that retries in a loop registers its session
    /// again each time, and rmcp gives no way to tell two handles of one session apart.
    const MAX_PEERS_PER_ELICITATION: usize = 4;

    /// Elicitations tracked at once; past this, new registrations are dropped (the client still
    /// retries on its own) rather than letting memory grow without bound.
    const MAX_ELICITATIONS: usize = 10_000;

    /// Sends `notifications/elicitation/complete` to the sessions that were answered with an
    /// elicitation once the engine reports it complete.
    ///
    /// Create it before the engine, pass it to `Engine::builder(..).observer(..)`, and hand the
    /// same `Arc` to [`ScopeupMcp::new`](crate::ScopeupMcp::new). Each instance knows only the
    /// sessions it served: behind a load balancer a completion that lands on another instance
    /// notifies nobody, and the client's own retry picks up the upgrade.
    pub struct CompletionNotifier {
        waiting: Mutex<HashMap<ElicitationId, Waiting>>,
    }

    struct Waiting {
        expires_at: UnixTime,
        peers: Vec<Peer<RoleServer>>,
    }

    impl CompletionNotifier {
        /// A notifier with no sessions waiting.
        pub fn new() -> Self {
            Self {
                waiting: Mutex::new(HashMap::new()),
            }
        }

        /// Remembers that the session of `peer` was answered with `ticket`'s elicitation, until
        /// the elicitation completes or expires. Expired and closed registrations are forgotten
        /// here.
        pub fn register(&self, ticket: &ElicitationTicket, peer: Peer<RoleServer>, now: UnixTime) {
            self.register_id(&ticket.id, ticket.expires_at, peer, now);
        }

        /// How many elicitations have sessions waiting.
        pub fn waiting(&self) -> usize {
            self.lock().len()
        }

        pub(crate) fn register_id(
            &self,
            id: &ElicitationId,
            expires_at: UnixTime,
            peer: Peer<RoleServer>,
            now: UnixTime,
        ) {
            let mut waiting = self.lock();
            waiting.retain(|_, entry| {
                entry.peers.retain(|kept| !kept.is_transport_closed());
                entry.expires_at > now && !entry.peers.is_empty()
            });

            if !waiting.contains_key(id) && waiting.len() >= MAX_ELICITATIONS {
                tracing::debug!(elicitation = %id, "too many waiting elicitations; not tracked");
                return;
            }
            let entry = waiting.entry(id.clone()).or_insert_with(|| Waiting {
                expires_at,
                peers: Vec::new(),
            });
            if entry.peers.len() >= MAX_PEERS_PER_ELICITATION {
                entry.peers.remove(0);
            }
            entry.peers.push(peer);
        }

        fn lock(&self) -> MutexGuard<'_, HashMap<ElicitationId, Waiting>> {
            // The map stays consistent even if a holder panicked: every update is one call.
            self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }

    impl Default for CompletionNotifier {
        fn default() -> Self {
            Self::new()
        }
    }

    impl fmt::Debug for CompletionNotifier {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("CompletionNotifier")
                .field("waiting", &self.waiting())
                .finish()
        }
    }

    impl CompletionObserver for CompletionNotifier {
        fn elicitation_completed(&self, id: &ElicitationId) {
            let Some(entry) = self.lock().remove(id) else {
                return;
            };

            // Never block the callback that completed the elicitation: deliver in the background.
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                tracing::debug!(elicitation = %id, "no tokio runtime; completion not notified");
                return;
            };
            let notification = elicitation_complete_notification(id);
            for peer in entry.peers {
                runtime.spawn(deliver(peer, notification.clone()));
            }
        }
    }

    async fn deliver(peer: Peer<RoleServer>, notification: CustomNotification) {
        let sent = peer
            .send_notification(ServerNotification::CustomNotification(notification))
            .await;
        if let Err(error) = sent {
            tracing::debug!(%error, "session gone before the completion notification");
        }
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{JsonRpcMessage, ServerJsonRpcMessage, ServerNotification};

    use super::*;

    #[test]
    fn completion_notification_matches_the_2025_11_25_schema() {
        let id = ElicitationId::parse("AAECAwQFBgcICQoLDA0ODw").unwrap();
        let message: ServerJsonRpcMessage = JsonRpcMessage::notification(
            ServerNotification::CustomNotification(elicitation_complete_notification(&id)),
        );
        assert_eq!(
            serde_json::to_value(&message).unwrap(),
            json!({
                "jsonrpc": "2.0",
                "method": "notifications/elicitation/complete",
                "params": { "elicitationId": "AAECAwQFBgcICQoLDA0ODw" }
            })
        );
    }
}
