//! `token_for`: the hot path every tool call takes. One hash, one store read, one AEAD open,
//! and a refresh only when the access token is about to expire.

use scopeup_core::ports::AuditKind;
use scopeup_core::{AccessToken, Grant, Principal, ProviderId, ScopeSet};

use crate::Engine;
use crate::error::EngineError;
use crate::records::{self, grant_key};

/// What the engine holds for a principal at a provider.
#[derive(Debug)]
#[non_exhaustive]
pub enum TokenStatus {
    /// A usable access token.
    Ready(Connection),
    /// Nothing is held: the principal has not connected this provider yet (or the grant
    /// died). Open an elicitation with [`Engine::connect`].
    NotConnected,
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

impl Engine {
    /// The principal's access token at a provider, refreshed first when it is about to expire.
    ///
    /// A refresh never widens scope (RFC 6749 §6): when a tool needs a scope the grant lacks,
    /// the answer is an elicitation, never "refresh and retry".
    #[tracing::instrument(name = "Engine::token_for", skip_all, fields(provider = %provider))]
    pub async fn token_for(
        &self,
        principal: &Principal,
        provider: &ProviderId,
    ) -> Result<TokenStatus, EngineError> {
        let key = grant_key(principal.subject(), provider);
        let Some(grant) = records::load::<Grant>(self.store(), &key).await? else {
            return Ok(TokenStatus::NotConnected);
        };

        let now = self.inner.clock.now();
        if !grant.expires_within(now, self.inner.config.refresh_margin) {
            return Ok(TokenStatus::Ready(Connection {
                access_token: grant.access_token,
                scopes: grant.scopes,
            }));
        }

        self.refresh(principal, provider, grant).await
    }

    async fn refresh(
        &self,
        principal: &Principal,
        provider_id: &ProviderId,
        grant: Grant,
    ) -> Result<TokenStatus, EngineError> {
        let provider = self.provider(provider_id)?;
        let Some(refresh_token) = grant.refresh_token.clone() else {
            let expired = grant.expires_within(self.inner.clock.now(), std::time::Duration::ZERO);
            if expired {
                return Ok(TokenStatus::NotConnected);
            }
            return Ok(TokenStatus::Ready(Connection {
                access_token: grant.access_token,
                scopes: grant.scopes,
            }));
        };

        // FIXME: refreshes are not yet serialised across instances with a store lease, so two
        // instances refreshing one rotating refresh token at once can lose the grant.
        let response = match scopeup_oauth::refresh(
            self.inner.http.as_ref(),
            provider,
            &refresh_token,
        )
        .await
        {
            Ok(response) => response,
            Err(error) => {
                self.audit_grant(
                    principal,
                    provider_id,
                    AuditKind::RefreshFailed,
                    &grant.scopes,
                );
                if error.is_invalid_grant() {
                    // The grant is dead upstream; forget it so the next call reconnects.
                    let key = grant_key(principal.subject(), provider_id);
                    self.store().delete(&key).await?;
                    return Ok(TokenStatus::NotConnected);
                }
                return Err(EngineError::Refresh(error));
            }
        };

        let now = self.inner.clock.now();
        let granted = response
            .granted_scopes
            .clone()
            .unwrap_or_else(|| grant.scopes.clone());
        // A refresh never widens scope; keep what the grant had where the provider says more.
        let scopes = granted.intersection(&grant.scopes);
        let refreshed = Grant {
            access_token: response.access_token,
            refresh_token: response.refresh_token.or(Some(refresh_token)),
            scopes,
            expires_at: response
                .expires_in
                .map(|expires_in| now.saturating_add(expires_in)),
            obtained_at: now,
            ..grant
        };
        let key = grant_key(principal.subject(), provider_id);
        records::save(self.store(), &key, &refreshed, None).await?;
        self.audit_grant(
            principal,
            provider_id,
            AuditKind::Refreshed,
            &refreshed.scopes,
        );

        Ok(TokenStatus::Ready(Connection {
            access_token: refreshed.access_token,
            scopes: refreshed.scopes,
        }))
    }

    pub(crate) fn store(&self) -> &dyn scopeup_core::Store {
        self.inner.store.as_ref()
    }

    fn audit_grant(
        &self,
        principal: &Principal,
        provider: &ProviderId,
        kind: AuditKind,
        scopes: &ScopeSet,
    ) {
        self.inner.audit.record(&scopeup_core::AuditEvent {
            at: self.inner.clock.now(),
            kind,
            correlation_id: String::new(),
            principal: records::principal_label(principal.subject()),
            provider: provider.clone(),
            scopes: scopes.clone(),
            detail: None,
        });
    }
}
