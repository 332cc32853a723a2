//! What a principal can do with their own grants: list them, drop optional scopes, disconnect.
//!
//! Dropping scopes is not done by narrowing the stored record: the upstream tokens would still
//! carry the dropped scopes, and a record narrower than its token is no downgrade at all. Most
//! providers cannot narrow a refresh token either. So a downgrade revokes the upstream grant
//! (RFC 7009) and asks the user to authorize again for the scopes kept; until they do, tools
//! answer with that link. A disconnect revokes the upstream grant and forgets the tokens. Both
//! keep the account the grant belonged to, so the next connect must come back as the same
//! account.

use scopeup_core::grant::Superseded;
use scopeup_core::ports::AuditKind;
use scopeup_core::{Grant, Principal, ProviderId, ScopeSet, UnixTime};
use scopeup_oauth::{RevocableToken, RevocationOutcome};

use crate::Engine;
use crate::elicit::RefusalOutcome;
use crate::error::EngineError;
use crate::records::{self, DeadGrant};
use crate::token::ReconnectReason;

/// One grant as its principal sees it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GrantSummary {
    /// The provider.
    pub provider: ProviderId,
    /// The provider's display name.
    pub provider_name: String,
    /// The scopes granted.
    pub scopes: ScopeSet,
    /// The granted scopes beyond the provider's baseline, which the principal may drop.
    pub optional: ScopeSet,
    /// When the access token expires, where known.
    pub expires_at: Option<UnixTime>,
    /// When the grant was obtained or last refreshed.
    pub obtained_at: UnixTime,
    /// Whether a refresh token is held.
    pub refreshable: bool,
    /// What the grant replaced, if it was an upgrade.
    pub replaces: Option<Superseded>,
}

/// What a disconnect or downgrade did upstream.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Revocation {
    /// Whether a grant was held at all.
    pub held: bool,
    /// Whether the provider confirmed the revocation. `false` when it has no revocation
    /// endpoint or the request failed; the tokens were forgotten either way.
    pub revoked_upstream: bool,
    /// Ties the audit events, the tool answer and the page together.
    pub correlation_id: String,
}

impl Engine {
    /// The principal's grants at every configured provider.
    pub async fn grants(&self, principal: &Principal) -> Result<Vec<GrantSummary>, EngineError> {
        let mut summaries = Vec::new();
        for provider in self.inner.providers.values() {
            let key = records::grant_key(principal.subject(), &provider.config.id);
            let Some(grant) = records::load::<Grant>(self.store(), &key).await? else {
                continue;
            };
            summaries.push(GrantSummary {
                provider: provider.config.id.clone(),
                provider_name: provider.config.display_name.clone(),
                optional: grant.scopes.difference(&provider.config.baseline),
                scopes: grant.scopes,
                expires_at: grant.expires_at,
                obtained_at: grant.obtained_at,
                refreshable: grant.refresh_token.is_some(),
                replaces: grant.replaces,
            });
        }
        Ok(summaries)
    }

    /// Disconnects a provider: the upstream grant is revoked where the provider can, and the
    /// tokens are forgotten. The next tool call asks the user to connect again.
    #[tracing::instrument(level = "debug", name = "Engine::disconnect", skip_all, fields(provider = %provider))]
    pub async fn disconnect(
        &self,
        principal: &Principal,
        provider: &ProviderId,
    ) -> Result<Revocation, EngineError> {
        self.retire(principal, provider, ReconnectReason::Disconnected, None)
            .await
    }

    /// Drops `drop` from the principal's grant. Baseline scopes cannot be dropped (disconnect
    /// instead) and are ignored here. The upstream grant is revoked and the returned outcome
    /// holds the link that authorizes the scopes kept; see the module docs for why.
    #[tracing::instrument(level = "debug", name = "Engine::downgrade", skip_all, fields(provider = %provider_id))]
    pub async fn downgrade(
        &self,
        principal: &Principal,
        provider_id: &ProviderId,
        drop: &ScopeSet,
    ) -> Result<(Revocation, Option<RefusalOutcome>), EngineError> {
        let provider = self.provider(provider_id)?;
        let key = records::grant_key(principal.subject(), provider_id);
        let Some(grant) = records::load::<Grant>(self.store(), &key).await? else {
            let correlation_id = self.random_token(9)?;
            return Ok((
                Revocation {
                    held: false,
                    revoked_upstream: false,
                    correlation_id,
                },
                None,
            ));
        };
        let dropping = drop
            .intersection(&grant.scopes)
            .difference(&provider.config.baseline);
        if dropping.is_empty() {
            let correlation_id = self.random_token(9)?;
            return Ok((
                Revocation {
                    held: true,
                    revoked_upstream: false,
                    correlation_id,
                },
                None,
            ));
        }
        let kept = grant.scopes.difference(&dropping);

        let revocation = self
            .retire(
                principal,
                provider_id,
                ReconnectReason::Downgraded,
                Some(kept),
            )
            .await?;
        let outcome = self
            .reconnect(principal, provider_id, ReconnectReason::Downgraded)
            .await?;
        self.audit_grant(
            principal,
            provider_id,
            AuditKind::Downgraded,
            &dropping,
            &revocation.correlation_id,
            Some("scopes dropped by the principal".into()),
        );
        Ok((revocation, Some(outcome)))
    }

    /// Takes the grant away, revokes it upstream and leaves a tombstone with the account.
    async fn retire(
        &self,
        principal: &Principal,
        provider_id: &ProviderId,
        reason: ReconnectReason,
        kept: Option<ScopeSet>,
    ) -> Result<Revocation, EngineError> {
        let provider = self.provider(provider_id)?;
        let correlation_id = self.random_token(9)?;
        let key = records::grant_key(principal.subject(), provider_id);
        let Some(seen) = records::load::<Grant>(self.store(), &key).await? else {
            return Ok(Revocation {
                held: false,
                revoked_upstream: false,
                correlation_id,
            });
        };

        // The tombstone first: should anything below fail, the grant is still in place and the
        // account binding survives whatever happens upstream.
        let dead = DeadGrant {
            reason,
            account: seen.account.clone(),
            scopes: kept.unwrap_or_default(),
            at: self.inner.clock.now(),
            correlation_id: correlation_id.clone(),
        };
        let dead_key = records::dead_grant_key(principal.subject(), provider_id);
        records::save(self.store(), &dead_key, &dead, None).await?;

        // Then the grant as it is now: a refresh may have replaced the one read above.
        let Some(grant) = records::take::<Grant>(self.store(), &key).await? else {
            // Another request retired it meanwhile, and revoked it.
            return Ok(Revocation {
                held: true,
                revoked_upstream: false,
                correlation_id,
            });
        };

        // Revoking the refresh token revokes the grant at most providers; the access token too,
        // for those that keep them apart.
        let http = self.inner.http.as_ref();
        let mut confirmed = true;
        if let Some(refresh) = &grant.refresh_token {
            let outcome = scopeup_oauth::revoke(http, provider, RevocableToken::Refresh(refresh));
            confirmed &= matches!(outcome.await, Ok(RevocationOutcome::Revoked));
        }
        let access = RevocableToken::Access(&grant.access_token);
        confirmed &= matches!(
            scopeup_oauth::revoke(http, provider, access).await,
            Ok(RevocationOutcome::Revoked)
        );

        let (kind, detail) = match confirmed {
            true => (AuditKind::Revoked, "revoked at the principal's request"),
            false => (
                AuditKind::RevocationFailed,
                "the provider did not confirm the revocation; the tokens were forgotten",
            ),
        };
        self.audit_grant(
            principal,
            provider_id,
            kind,
            &grant.scopes,
            &correlation_id,
            Some(detail.to_owned()),
        );
        if reason == ReconnectReason::Disconnected {
            self.audit_grant(
                principal,
                provider_id,
                AuditKind::Disconnected,
                &grant.scopes,
                &correlation_id,
                None,
            );
        }
        Ok(Revocation {
            held: true,
            revoked_upstream: confirmed,
            correlation_id,
        })
    }
}
