//! Which backend keeps which record: the Durable Object for everything that must be strongly
//! consistent, Workers KV for the records where eventual consistency is acceptable.
//!
//! Workers KV is eventually consistent across locations (a write can take up to a minute to be
//! seen elsewhere, longer for a key read recently there), keeps a value at least 60 seconds once
//! it has a time to live, and has no atomic read-and-delete or compare-and-swap. So everything
//! single-use or contended goes to the Durable Object: elicitations and their index, OAuth state
//! (taken exactly once at the callback), CSRF tokens, declines, rate windows and refresh leases.
//! Only grants may be placed on KV, because the engine only reads, writes and deletes them
//! whole, and reads them on every tool call, where KV's edge caching pays.

use std::collections::BTreeSet;

use scopeup_core::StoreKey;

/// A backend a record can live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// The store's Durable Object: strongly consistent, atomic take and compare-and-swap.
    DurableObject,
    /// Workers KV: eventually consistent, plain reads and writes only.
    Kv,
}

/// The record kinds (store key namespaces) that go to KV; everything else goes to the Durable
/// Object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    kv_namespaces: BTreeSet<String>,
}

/// The store key namespace of the engine's grants.
pub const GRANT_NAMESPACE: &str = "grant";

/// The shortest time to live Workers KV accepts.
pub const KV_MIN_TTL_SECS: u64 = 60;

impl Placement {
    /// Every record on the Durable Object, grants included: strongly consistent everywhere, at
    /// the cost of a Durable Object round trip on every tool call.
    pub fn durable_only() -> Self {
        Self {
            kv_namespaces: BTreeSet::new(),
        }
    }

    /// Grants on KV, everything else on the Durable Object (the default).
    ///
    /// The price: right after an upgrade, a tool call served in another location may read the
    /// previous grant (or none) for up to a minute, and answer as before the upgrade; the user
    /// retries.
    pub fn grants_on_kv() -> Self {
        Self {
            kv_namespaces: BTreeSet::from([GRANT_NAMESPACE.to_owned()]),
        }
    }

    /// The backend of the record under `key`. Keys are `scopeup:{namespace}:{hash}`; a key of
    /// any other form goes to the Durable Object.
    pub fn backend_for(&self, key: &StoreKey) -> Backend {
        match namespace(key) {
            Some(namespace) if self.kv_namespaces.contains(namespace) => Backend::Kv,
            _ => Backend::DurableObject,
        }
    }
}

impl Default for Placement {
    fn default() -> Self {
        Self::grants_on_kv()
    }
}

/// The time to live to give KV for a requested one: whole seconds, rounded up, and at least
/// KV's minimum of 60 seconds.
pub fn kv_ttl_secs(ttl: std::time::Duration) -> u64 {
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    secs.max(KV_MIN_TTL_SECS)
}

fn namespace(key: &StoreKey) -> Option<&str> {
    let rest = key.as_str().strip_prefix("scopeup:")?;
    let (namespace, _hash) = rest.split_once(':')?;
    Some(namespace)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn only_grants_go_to_kv_by_default() {
        let placement = Placement::default();
        let grant = StoreKey::hashed("grant", &["alice", "notes"]);
        assert_eq!(placement.backend_for(&grant), Backend::Kv);
        for namespace in [
            "elicitation",
            "elicitation-index",
            "oauth-state",
            "csrf",
            "decline",
            "rate",
            "refresh-lease",
        ] {
            let key = StoreKey::hashed(namespace, &["alice"]);
            assert_eq!(
                placement.backend_for(&key),
                Backend::DurableObject,
                "{namespace}"
            );
        }
        assert_eq!(
            placement.backend_for(&StoreKey::raw("grant")),
            Backend::DurableObject
        );
    }

    #[test]
    fn durable_only_keeps_grants_on_the_object() {
        let grant = StoreKey::hashed("grant", &["alice", "notes"]);
        assert_eq!(
            Placement::durable_only().backend_for(&grant),
            Backend::DurableObject
        );
    }

    #[test]
    fn kv_ttls_are_whole_seconds_of_at_least_a_minute() {
        assert_eq!(kv_ttl_secs(Duration::from_secs(5)), 60);
        assert_eq!(kv_ttl_secs(Duration::from_millis(90_001)), 91);
        assert_eq!(kv_ttl_secs(Duration::from_secs(3600)), 3600);
    }
}
