//! What the engine keeps in the store, under which hashed keys, and the read-modify-write helper
//! that keeps concurrent updates from losing each other.

use std::time::Duration;

use scopeup_core::{
    AccountId, ElicitationId, PkceVerifier, ProviderId, ScopeSet, Store, StoreKey, UnixTime,
};
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::EngineError;
use crate::token::ReconnectReason;

/// How often a compare-and-swap update is retried before giving up.
const MAX_UPDATE_ATTEMPTS: usize = 8;

pub(crate) fn grant_key(subject: &str, provider: &ProviderId) -> StoreKey {
    StoreKey::hashed("grant", &[subject, provider.as_str()])
}

pub(crate) fn elicitation_key(id: &ElicitationId) -> StoreKey {
    StoreKey::hashed("elicitation", &[id.as_str()])
}

pub(crate) fn elicitation_index_key(
    subject: &str,
    provider: &ProviderId,
    needed: &ScopeSet,
) -> StoreKey {
    StoreKey::hashed(
        "elicitation-index",
        &[subject, provider.as_str(), &needed.to_string()],
    )
}

pub(crate) fn decline_key(subject: &str, provider: &ProviderId, needed: &ScopeSet) -> StoreKey {
    StoreKey::hashed(
        "decline",
        &[subject, provider.as_str(), &needed.to_string()],
    )
}

/// The refresh lease of one grant: whoever creates it refreshes; the others wait.
pub(crate) fn lease_key(subject: &str, provider: &ProviderId) -> StoreKey {
    StoreKey::hashed("refresh-lease", &[subject, provider.as_str()])
}

/// What is remembered of a grant that died (`invalid_grant`, or expired with nothing to refresh
/// it with): why, and the account it belonged to, so that the reconnect must come back as it.
pub(crate) fn dead_grant_key(subject: &str, provider: &ProviderId) -> StoreKey {
    StoreKey::hashed("dead-grant", &[subject, provider.as_str()])
}

pub(crate) fn rate_key(subject: &str) -> StoreKey {
    StoreKey::hashed("rate", &[subject])
}

pub(crate) fn oauth_state_key(state: &str) -> StoreKey {
    StoreKey::hashed("oauth-state", &[state])
}

pub(crate) fn csrf_key(id: &ElicitationId, browser: &str) -> StoreKey {
    StoreKey::hashed("csrf", &[id.as_str(), browser])
}

/// The principal as it appears in audit events: a hash, never the subject.
pub(crate) fn principal_label(subject: &str) -> String {
    StoreKey::hashed("principal", &[subject])
        .as_str()
        .rsplit(':')
        .next()
        .unwrap_or("")
        .to_owned()
}

/// The single-use OAuth state of one authorization under way.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct OAuthState {
    pub(crate) elicitation: ElicitationId,
    pub(crate) provider: ProviderId,
    /// The browser binding cookie's value, which must come back with the callback.
    pub(crate) browser: String,
    pub(crate) verifier: PkceVerifier,
    pub(crate) requested: ScopeSet,
}

/// A remembered decline.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Decline {
    pub(crate) elicitation: ElicitationId,
    pub(crate) until: UnixTime,
}

/// The tombstone of a grant that can no longer be used.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DeadGrant {
    pub(crate) reason: ReconnectReason,
    pub(crate) account: AccountId,
    pub(crate) scopes: ScopeSet,
    pub(crate) at: UnixTime,
    pub(crate) correlation_id: String,
}

/// A principal's rate-limit window.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct RateWindow {
    pub(crate) started: UnixTime,
    pub(crate) count: u32,
}

pub(crate) async fn load<T: DeserializeOwned>(
    store: &dyn Store,
    key: &StoreKey,
) -> Result<Option<T>, EngineError> {
    let Some(bytes) = store.get(key).await? else {
        return Ok(None);
    };
    decode(&bytes).map(Some)
}

pub(crate) async fn save<T: Serialize>(
    store: &dyn Store,
    key: &StoreKey,
    value: &T,
    ttl: Option<Duration>,
) -> Result<(), EngineError> {
    store.put(key, encode(value)?, ttl).await?;
    Ok(())
}

pub(crate) async fn take<T: DeserializeOwned>(
    store: &dyn Store,
    key: &StoreKey,
) -> Result<Option<T>, EngineError> {
    let Some(bytes) = store.take(key).await? else {
        return Ok(None);
    };
    decode(&bytes).map(Some)
}

/// Creates `value` under `key` only if nothing live is there. Returns whether it was created.
pub(crate) async fn create<T: Serialize>(
    store: &dyn Store,
    key: &StoreKey,
    value: &T,
    ttl: Option<Duration>,
) -> Result<bool, EngineError> {
    Ok(store
        .compare_and_swap(key, None, Some(encode(value)?), ttl)
        .await?)
}

/// Reads, changes and writes back a record with compare-and-swap, retrying when another writer
/// got there first. `change` sees the current value (or `None`) and returns the new value (or
/// `None` to leave the record alone) and a result for the caller.
pub(crate) async fn update<T, R>(
    store: &dyn Store,
    key: &StoreKey,
    ttl: Option<Duration>,
    mut change: impl FnMut(Option<T>) -> Result<(Option<T>, R), EngineError>,
) -> Result<R, EngineError>
where
    T: Serialize + DeserializeOwned,
{
    for _ in 0..MAX_UPDATE_ATTEMPTS {
        let current = store.get(key).await?;
        let decoded = match &current {
            Some(bytes) => Some(decode(bytes)?),
            None => None,
        };
        let (next, result) = change(decoded)?;
        let Some(next) = next else {
            return Ok(result);
        };
        let swapped = store
            .compare_and_swap(key, current.as_deref(), Some(encode(&next)?), ttl)
            .await?;
        if swapped {
            return Ok(result);
        }
    }
    Err(EngineError::Contention)
}

/// Removes the record under `key` only if it still decodes to something `still` accepts.
/// Returns whether it was removed.
pub(crate) async fn remove_if<T: DeserializeOwned>(
    store: &dyn Store,
    key: &StoreKey,
    still: impl Fn(&T) -> bool,
) -> Result<bool, EngineError> {
    let Some(bytes) = store.get(key).await? else {
        return Ok(false);
    };
    let current: T = decode(&bytes)?;
    if !still(&current) {
        return Ok(false);
    }
    Ok(store
        .compare_and_swap(key, Some(&bytes), None, None)
        .await?)
}

/// Removes `value` under `key` if it is still there (a lease its holder releases).
pub(crate) async fn release<T: Serialize>(
    store: &dyn Store,
    key: &StoreKey,
    value: &T,
) -> Result<bool, EngineError> {
    let expected = encode(value)?;
    Ok(store
        .compare_and_swap(key, Some(&expected), None, None)
        .await?)
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, EngineError> {
    serde_json::to_vec(value).map_err(EngineError::Record)
}

/// A record as `encode` wrote it.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, EngineError> {
    serde_json::from_slice(bytes).map_err(EngineError::Record)
}
