//! `token_for`: the hot path every tool call takes. One hash and one store read; an AEAD open
//! and a decode only when the sealed record differs from the one opened last
//! ([`crate::grant_cache`]); a refresh only when the access token is about to expire.
//!
//! A refresh is serialised per grant across instances by a lease in the store: whoever creates
//! the lease record (compare-and-swap against "absent") redeems the refresh token; everyone else
//! waits, bounded by [`EngineConfig::refresh_wait`](crate::EngineConfig::refresh_wait), and
//! uses the grant the winner stored. A lease whose holder crashed expires with its TTL. Without
//! the lease, two instances would redeem one single-use rotating refresh token at once, the
//! provider would answer `invalid_grant` to the second, and the grant would die.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use scopeup_core::ports::AuditKind;
use scopeup_core::{AccessToken, AuditEvent, Grant, Principal, ProviderId, ScopeSet, StoreKey};

use crate::Engine;
use crate::error::EngineError;
use crate::records::{self, DeadGrant, grant_key};

/// The first pause of a call waiting for another instance's refresh; each pause doubles up to
/// [`MAX_WAIT_STEP`].
const FIRST_WAIT_STEP: Duration = Duration::from_millis(20);
const MAX_WAIT_STEP: Duration = Duration::from_millis(400);

/// What the engine holds for a principal at a provider.
#[derive(Debug)]
#[non_exhaustive]
pub enum TokenStatus {
    /// A usable access token.
    Ready(Connection),
    /// Nothing is held: the principal has not connected this provider yet, or disconnected it.
    /// Open an elicitation with [`Engine::connect`].
    NotConnected,
    /// A grant was held but can no longer be used, and a refresh cannot revive it. Open a
    /// reconnect elicitation with [`Engine::reconnect`], which says why.
    Reconnect(ReconnectReason),
}

/// Why a grant can no longer be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReconnectReason {
    /// The access token expired and no refresh token is held.
    Expired,
    /// The provider refused the refresh token (`invalid_grant`): it was revoked, expired, or
    /// already used.
    RefreshRejected,
    /// The provider rejected the access token and no refresh token is held to replace it.
    TokenRejected,
    /// The principal dropped scopes: the upstream grant was revoked and the reconnect asks for
    /// the scopes kept.
    Downgraded,
    /// The principal disconnected the provider and the upstream grant was revoked.
    Disconnected,
}

impl ReconnectReason {
    /// A sentence for the user.
    pub fn explain(self) -> &'static str {
        match self {
            Self::Expired => "the stored access expired and the provider issued no way to renew it",
            Self::RefreshRejected => {
                "the provider refused to renew the stored access (it was revoked, expired or \
                 replaced at the provider)"
            }
            Self::TokenRejected => "the provider rejected the stored token",
            Self::Downgraded => "you removed permissions, so it must be authorized again",
            Self::Disconnected => "you disconnected it",
        }
    }

    /// A short machine-readable name (`expired`, `refresh_rejected`, `token_rejected`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::RefreshRejected => "refresh_rejected",
            Self::TokenRejected => "token_rejected",
            Self::Downgraded => "downgraded",
            Self::Disconnected => "disconnected",
        }
    }
}

/// A usable upstream access token and what it may do.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Connection {
    /// The access token to send upstream. Never the MCP client's own token.
    pub access_token: AccessToken,
    /// The scopes the provider granted.
    pub scopes: ScopeSet,
}

/// What made the engine refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// The access token is about to expire.
    Expiry,
    /// The provider answered a call made with the access token with 401.
    Rejected,
}

impl Engine {
    /// The principal's access token at a provider, refreshed first when it is about to expire.
    ///
    /// A refresh never widens scope (RFC 6749 §6): when a tool needs a scope the grant lacks,
    /// the answer is an elicitation, never "refresh and retry".
    #[tracing::instrument(level = "debug", name = "Engine::token_for", skip_all, fields(provider = %provider))]
    pub async fn token_for(
        &self,
        principal: &Principal,
        provider: &ProviderId,
    ) -> Result<TokenStatus, EngineError> {
        let key = grant_key(principal.subject(), provider);
        let Some(grant) = self.load_grant(&key).await? else {
            return self.without_grant(principal, provider).await;
        };

        let now = self.inner.clock.now();
        if !grant.expires_within(now, self.inner.config.refresh_margin) {
            return Ok(TokenStatus::Ready(Connection {
                access_token: grant.access_token.clone(),
                scopes: grant.scopes.clone(),
            }));
        }

        let grant = Arc::unwrap_or_clone(grant);
        self.refresh_stale(principal, provider, grant, Trigger::Expiry)
            .await
    }

    /// The provider rejected `rejected` with 401 (revoked or expired early): refresh the grant
    /// once and return the new token, or say that the principal must reconnect.
    ///
    /// When another call already replaced the rejected token, its replacement is returned
    /// without a second refresh. Call this at most once per tool call, then retry the upstream
    /// call once; a second 401 goes to [`Engine::handle_refusal`].
    #[tracing::instrument(level = "debug", name = "Engine::refresh_rejected", skip_all, fields(provider = %provider))]
    pub async fn refresh_rejected(
        &self,
        principal: &Principal,
        provider: &ProviderId,
        rejected: &AccessToken,
    ) -> Result<TokenStatus, EngineError> {
        let key = grant_key(principal.subject(), provider);
        let Some(grant) = records::load::<Grant>(self.store(), &key).await? else {
            return self.without_grant(principal, provider).await;
        };
        if grant.access_token != *rejected {
            return Ok(ready(grant));
        }

        self.refresh_stale(principal, provider, grant, Trigger::Rejected)
            .await
    }

    /// Refreshes `stale` under the grant's lease, or waits for the instance that holds it.
    async fn refresh_stale(
        &self,
        principal: &Principal,
        provider_id: &ProviderId,
        stale: Grant,
        trigger: Trigger,
    ) -> Result<TokenStatus, EngineError> {
        // Nothing to refresh with: usable until it expires, then dead.
        if stale.refresh_token.is_none() {
            let expired = stale.expires_within(self.inner.clock.now(), Duration::ZERO);
            let reason = match trigger {
                Trigger::Expiry if !expired => return Ok(ready(stale)),
                Trigger::Expiry => ReconnectReason::Expired,
                Trigger::Rejected => ReconnectReason::TokenRejected,
            };
            let correlation_id = self.random_token(9)?;
            return self
                .bury(principal, provider_id, &stale, reason, &correlation_id)
                .await;
        }

        let store = self.store();
        let config = &self.inner.config;
        let lease_key = records::lease_key(principal.subject(), provider_id);
        let holder = self.random_token(16)?;
        let mut waited = Duration::ZERO;
        let mut step = FIRST_WAIT_STEP;
        loop {
            // Whoever creates the lease refreshes.
            if records::create(store, &lease_key, &holder, Some(config.refresh_lease_ttl)).await? {
                let result = self
                    .refresh_under_lease(principal, provider_id, &stale)
                    .await;
                if let Err(error) = records::release(store, &lease_key, &holder).await {
                    // The lease expires with its TTL.
                    tracing::debug!(%error, "releasing the refresh lease failed");
                }
                return result;
            }

            // Another instance is refreshing: wait for its result.
            if waited >= config.refresh_wait {
                tracing::debug!(?waited, "gave up waiting for another instance's refresh");
                return Err(EngineError::RefreshBusy);
            }
            self.inner.sleep.sleep(step).await;
            waited += step;
            step = (step * 2).min(MAX_WAIT_STEP);
            if let Some(status) = self.replaced(principal, provider_id, &stale).await? {
                return Ok(status);
            }
        }
    }

    /// Holding the lease: redeems the refresh token and stores the result.
    async fn refresh_under_lease(
        &self,
        principal: &Principal,
        provider_id: &ProviderId,
        stale: &Grant,
    ) -> Result<TokenStatus, EngineError> {
        // Another instance may have finished its refresh between our read and our lease.
        if let Some(status) = self.replaced(principal, provider_id, stale).await? {
            return Ok(status);
        }
        let provider = self.provider(provider_id)?;
        let Some(refresh_token) = stale.refresh_token.clone() else {
            return Ok(ready(stale.clone()));
        };
        let correlation_id = self.random_token(9)?;

        // No `scope` is sent: the new token has the grant's scopes and never more.
        let response = match scopeup_oauth::refresh(
            self.inner.http.as_ref(),
            provider,
            &refresh_token,
        )
        .await
        {
            Ok(response) => response,
            Err(error) => {
                let detail = match error.provider_error() {
                    Some(code) => format!("provider answered `{code}`"),
                    None => "the provider could not be reached or answered badly".to_owned(),
                };
                self.audit_grant(
                    principal,
                    provider_id,
                    AuditKind::RefreshFailed,
                    &stale.scopes,
                    &correlation_id,
                    Some(detail),
                );
                if error.is_invalid_grant() {
                    return self
                        .bury(
                            principal,
                            provider_id,
                            stale,
                            ReconnectReason::RefreshRejected,
                            &correlation_id,
                        )
                        .await;
                }
                return Err(EngineError::Refresh(error));
            }
        };

        // A refresh never widens scope; keep what the grant had where the provider says more.
        let now = self.inner.clock.now();
        let granted = response
            .granted_scopes
            .clone()
            .unwrap_or_else(|| stale.scopes.clone());
        let refreshed = Grant {
            access_token: response.access_token,
            refresh_token: response.refresh_token.or(Some(refresh_token)),
            scopes: granted.intersection(&stale.scopes),
            expires_at: response
                .expires_in
                .map(|expires_in| now.saturating_add(expires_in)),
            obtained_at: now,
            ..stale.clone()
        };

        // Store it unless an upgrade replaced the grant meanwhile; then that one wins.
        let key = grant_key(principal.subject(), provider_id);
        let stored =
            records::update(
                self.store(),
                &key,
                None,
                |current: Option<Grant>| match current {
                    Some(current) if current.access_token == stale.access_token => {
                        Ok((Some(refreshed.clone()), refreshed.clone()))
                    }
                    Some(current) => Ok((None, current)),
                    None => Ok((None, refreshed.clone())),
                },
            )
            .await?;
        self.audit_grant(
            principal,
            provider_id,
            AuditKind::Refreshed,
            &refreshed.scopes,
            &correlation_id,
            refreshed
                .expires_at
                .map(|at| format!("expires at {}", at.as_secs())),
        );

        Ok(ready(stored))
    }

    /// The answer when the stored grant is no longer `stale`: `None` while it still is.
    async fn replaced(
        &self,
        principal: &Principal,
        provider_id: &ProviderId,
        stale: &Grant,
    ) -> Result<Option<TokenStatus>, EngineError> {
        let key = grant_key(principal.subject(), provider_id);
        match records::load::<Grant>(self.store(), &key).await? {
            Some(current) if current.access_token == stale.access_token => Ok(None),
            Some(current) => Ok(Some(ready(current))),
            None => self.without_grant(principal, provider_id).await.map(Some),
        }
    }

    /// The answer when no grant is stored: never connected, disconnected, or dead.
    async fn without_grant(
        &self,
        principal: &Principal,
        provider: &ProviderId,
    ) -> Result<TokenStatus, EngineError> {
        let key = records::dead_grant_key(principal.subject(), provider);
        match records::load::<DeadGrant>(self.store(), &key).await? {
            Some(dead) => Ok(TokenStatus::Reconnect(dead.reason)),
            None => Ok(TokenStatus::NotConnected),
        }
    }

    /// Marks a grant dead: it is removed (unless it was replaced meanwhile) and a tombstone
    /// keeps why and whose it was, so the reconnect must come back as the same account.
    pub(crate) async fn bury(
        &self,
        principal: &Principal,
        provider_id: &ProviderId,
        stale: &Grant,
        reason: ReconnectReason,
        correlation_id: &str,
    ) -> Result<TokenStatus, EngineError> {
        let dead = DeadGrant {
            reason,
            account: stale.account.clone(),
            scopes: stale.scopes.clone(),
            at: self.inner.clock.now(),
            correlation_id: correlation_id.to_owned(),
        };
        let dead_key = records::dead_grant_key(principal.subject(), provider_id);
        records::save(self.store(), &dead_key, &dead, None).await?;

        let key = grant_key(principal.subject(), provider_id);
        let removed = records::remove_if(self.store(), &key, |current: &Grant| {
            current.access_token == stale.access_token
        })
        .await?;
        if !removed {
            // Another instance stored a fresh grant meanwhile (a refresh or an upgrade).
            self.store().delete(&dead_key).await?;
            return match self.replaced(principal, provider_id, stale).await? {
                Some(status) => Ok(status),
                None => Ok(TokenStatus::Reconnect(reason)),
            };
        }
        self.audit_grant(
            principal,
            provider_id,
            AuditKind::GrantDead,
            &stale.scopes,
            correlation_id,
            Some(reason.explain().to_owned()),
        );
        Ok(TokenStatus::Reconnect(reason))
    }

    pub(crate) fn store(&self) -> &dyn scopeup_core::Store {
        self.inner.store.as_ref()
    }

    /// The grant under `key`. The record is read from the store on every call and opened only
    /// when it differs from the one opened last under that key (see [`crate::grant_cache`]).
    async fn load_grant(&self, key: &StoreKey) -> Result<Option<Arc<Grant>>, EngineError> {
        let Some(record) = self.inner.backend.get(key).await? else {
            self.inner.grants.remove(key);
            return Ok(None);
        };
        if let Some(grant) = self.inner.grants.get(key, &record) {
            return Ok(Some(grant));
        }

        let opened = Zeroizing::new(self.inner.store.open_record(key, &record)?);
        let grant = Arc::new(records::decode::<Grant>(&opened)?);
        self.inner.grants.insert(key, record, grant.clone());
        Ok(Some(grant))
    }

    pub(crate) fn audit_grant(
        &self,
        principal: &Principal,
        provider: &ProviderId,
        kind: AuditKind,
        scopes: &ScopeSet,
        correlation_id: &str,
        detail: Option<String>,
    ) {
        self.inner.audit.record(&AuditEvent {
            at: self.inner.clock.now(),
            kind,
            correlation_id: correlation_id.to_owned(),
            principal: records::principal_label(principal.subject()),
            provider: provider.clone(),
            scopes: scopes.clone(),
            detail,
        });
    }
}

fn ready(grant: Grant) -> TokenStatus {
    TokenStatus::Ready(Connection {
        access_token: grant.access_token,
        scopes: grant.scopes,
    })
}
