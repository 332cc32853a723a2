//! From refusal to elicitation: classification, dedupe, rate limit, retry cap and decline
//! back-off, and the ticket a tool answer is built from.

use std::fmt::Write as _;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use scopeup_core::ports::AuditKind;
use scopeup_core::refusal::NotCoverableReason;
use scopeup_core::{
    AuditEvent, Elicitation, ElicitationId, ElicitationState, Grant, HttpResponse, Principal,
    ProviderId, Refusal, Scope, ScopeSet, UnixTime, UpstreamCall,
};

use scopeup_core::ElicitationEvent;

use crate::Engine;
use crate::error::EngineError;
use crate::pages::Page;
use crate::records::{self, DeadGrant, Decline, RateWindow};
use crate::token::ReconnectReason;

/// What a tool should answer after an upstream refusal.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RefusalOutcome {
    /// Give the user the ticket's link; the tool can be retried once they finish.
    Elicit(ElicitationTicket),
    /// No scope can fix the refusal; reconnecting will not help.
    NotCoverable {
        /// Why.
        reason: NotCoverableReason,
        /// Permissions to change at the provider instead, for
        /// [`NotCoverableReason::AppPermission`].
        permissions: Vec<String>,
        /// A sentence for the user.
        message: String,
    },
    /// The user declined these scopes recently; no new link until the back-off ends.
    Declined {
        /// The scopes declined.
        scopes: ScopeSet,
        /// When a new link will be offered.
        retry_after: UnixTime,
        /// A sentence for the user.
        message: String,
    },
    /// The principal opened too many elicitations recently.
    RateLimited {
        /// A sentence for the user.
        message: String,
    },
    /// Not a scope problem: pass the upstream error through.
    Upstream {
        /// The upstream status.
        status: u16,
        /// A sentence for the user.
        message: String,
    },
}

impl RefusalOutcome {
    /// A plain-text sentence for the user and the model, for any outcome.
    pub fn message(&self) -> String {
        match self {
            Self::Elicit(ticket) => ticket.message(),
            Self::NotCoverable { message, .. }
            | Self::Declined { message, .. }
            | Self::RateLimited { message }
            | Self::Upstream { message, .. } => message.clone(),
        }
    }
}

/// Why a ticket was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TicketReason {
    /// The grant lacks a scope the call needs.
    MissingScope,
    /// The principal has not connected the provider yet.
    NotConnected,
    /// The provider rejected the token (expired or revoked) and it could not be refreshed.
    TokenRejected,
}

/// Everything a tool answer needs about an elicitation.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ElicitationTicket {
    /// The elicitation's id.
    pub id: ElicitationId,
    /// The connect page.
    pub url: url::Url,
    /// The provider's display name.
    pub provider_name: String,
    /// The scopes the user is asked to add.
    pub missing: ScopeSet,
    /// Why.
    pub reason: TicketReason,
    /// Ties the answer to audit events and pages.
    pub correlation_id: String,
    /// Whether the tool call was answered with this elicitation more often than the retry cap:
    /// retrying will not help until the user acts.
    pub retry_cap_reached: bool,
    /// When the link stops working.
    pub expires_at: UnixTime,
    /// Why the stored grant stopped working, for a reconnect.
    pub reconnect_reason: Option<ReconnectReason>,
}

impl ElicitationTicket {
    /// The message for the user and the model: what is missing, why, the link, and "then
    /// retry". Kept distinct for a missing scope, a first connect and a rejected token.
    pub fn message(&self) -> String {
        let scopes = self
            .missing
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut message = match self.reason {
            TicketReason::MissingScope => format!(
                "Missing scope: your {} connection lacks {scopes}, which this tool needs. \
                 Open {} to grant it, then retry.",
                self.provider_name, self.url
            ),
            TicketReason::NotConnected => format!(
                "Not connected: connect your {} account ({scopes}) at {}, then retry.",
                self.provider_name, self.url
            ),
            TicketReason::TokenRejected => {
                let why = self
                    .reconnect_reason
                    .map_or("the provider rejected the stored token", |reason| {
                        reason.explain()
                    });
                format!(
                    "Token expired or revoked: your {} connection stopped working ({why}). \
                     Reconnect at {}, then retry.",
                    self.provider_name, self.url
                )
            }
        };
        if self.retry_cap_reached {
            let _ = write!(
                message,
                " This request is still waiting for you; calling the tool again will not help \
                 until the link is completed."
            );
        }
        message
    }
}

impl Engine {
    /// Classifies an upstream refusal of a call made with the principal's token and decides
    /// the answer. `held` is the scopes of the token the call used.
    #[tracing::instrument(level = "debug", name = "Engine::handle_refusal", skip_all, fields(provider = %provider_id, status = response.status))]
    pub async fn handle_refusal(
        &self,
        principal: &Principal,
        provider_id: &ProviderId,
        response: &HttpResponse,
        held: &ScopeSet,
    ) -> Result<RefusalOutcome, EngineError> {
        let provider = self.provider(provider_id)?;
        let refusal = provider.behaviour.classify(response, held);
        tracing::debug!(?refusal, "classified upstream refusal");
        self.decide(principal, provider_id, refusal, response.status, held)
            .await
    }

    /// [`Engine::handle_refusal`] for a refusal whose request the tool knows, for providers
    /// whose refusals do not say which scope is missing (Cloudflare): the classifier judges the
    /// answer against the scopes that could cover `call`.
    #[tracing::instrument(level = "debug", name = "Engine::handle_refused_call", skip_all, fields(provider = %provider_id, status = response.status))]
    pub async fn handle_refused_call(
        &self,
        principal: &Principal,
        provider_id: &ProviderId,
        call: &UpstreamCall,
        response: &HttpResponse,
        held: &ScopeSet,
    ) -> Result<RefusalOutcome, EngineError> {
        let provider = self.provider(provider_id)?;
        let refusal = provider.behaviour.classify_call(call, response, held);
        tracing::debug!(?refusal, "classified upstream refusal");
        self.decide(principal, provider_id, refusal, response.status, held)
            .await
    }

    async fn decide(
        &self,
        principal: &Principal,
        provider_id: &ProviderId,
        refusal: Refusal,
        status: u16,
        held: &ScopeSet,
    ) -> Result<RefusalOutcome, EngineError> {
        let provider = self.provider(provider_id)?;
        match refusal {
            Refusal::MissingScope(missing) => {
                let needed = missing.to_request(held, &provider.config.catalog);
                if needed.is_empty() {
                    return Ok(self.not_coverable(
                        principal,
                        provider_id,
                        NotCoverableReason::AlreadyHeld,
                        Vec::new(),
                        held,
                    ));
                }
                self.elicit(
                    principal,
                    provider_id,
                    needed,
                    missing.any_of,
                    missing.upstream_message,
                    TicketReason::MissingScope,
                )
                .await
            }
            Refusal::NotCoverable {
                reason,
                permissions,
                ..
            } => Ok(self.not_coverable(principal, provider_id, reason, permissions, held)),
            Refusal::Authentication { upstream_message } => {
                let needed = provider.config.baseline.union(held);
                self.elicit(
                    principal,
                    provider_id,
                    needed,
                    Vec::new(),
                    upstream_message,
                    TicketReason::TokenRejected,
                )
                .await
            }
            Refusal::Other {
                status,
                upstream_message,
            } => {
                let detail = upstream_message
                    .map(|text| format!(" The provider said: \"{text}\""))
                    .unwrap_or_default();
                Ok(RefusalOutcome::Upstream {
                    status,
                    message: format!(
                        "{} refused the call with status {status}; this is not a missing \
                         scope.{detail}",
                        provider.config.display_name
                    ),
                })
            }
            _ => Ok(RefusalOutcome::Upstream {
                status,
                message: format!("{} refused the call.", provider.config.display_name),
            }),
        }
    }

    /// Classifies an upstream refusal with the provider's classifier, in trusted code, without
    /// acting on it: a caller that gets [`Refusal::Authentication`] refreshes once with
    /// [`Engine::refresh_rejected`] and retries once before handing a second refusal to
    /// [`Engine::handle_refusal`].
    pub fn classify(
        &self,
        provider_id: &ProviderId,
        response: &HttpResponse,
        held: &ScopeSet,
    ) -> Result<Refusal, EngineError> {
        let provider = self.provider(provider_id)?;
        Ok(provider.behaviour.classify(response, held))
    }

    /// Opens (or finds) the elicitation that connects a principal who holds no grant, asking for
    /// the provider's baseline scopes plus `needed`.
    pub async fn connect(
        &self,
        principal: &Principal,
        provider_id: &ProviderId,
        needed: &ScopeSet,
    ) -> Result<RefusalOutcome, EngineError> {
        let provider = self.provider(provider_id)?;
        let needed = provider.config.baseline.union(needed);
        self.elicit(
            principal,
            provider_id,
            needed,
            Vec::new(),
            None,
            TicketReason::NotConnected,
        )
        .await
    }

    /// Opens (or finds) the elicitation that reconnects a principal whose grant died
    /// ([`TokenStatus::Reconnect`](crate::TokenStatus::Reconnect)), asking for the provider's
    /// baseline scopes. The answer says why the grant stopped working, apart from a missing
    /// scope.
    pub async fn reconnect(
        &self,
        principal: &Principal,
        provider_id: &ProviderId,
        reason: ReconnectReason,
    ) -> Result<RefusalOutcome, EngineError> {
        let provider = self.provider(provider_id)?;
        let mut needed = provider.config.baseline.clone();
        if reason == ReconnectReason::Downgraded {
            // The scopes the principal chose to keep.
            let dead_key = records::dead_grant_key(principal.subject(), provider_id);
            if let Some(dead) = records::load::<DeadGrant>(self.store(), &dead_key).await? {
                needed = needed.union(&dead.scopes);
            }
        }
        let outcome = self
            .elicit(
                principal,
                provider_id,
                needed,
                Vec::new(),
                None,
                TicketReason::TokenRejected,
            )
            .await?;
        Ok(match outcome {
            RefusalOutcome::Elicit(ticket) => RefusalOutcome::Elicit(ElicitationTicket {
                reconnect_reason: Some(reason),
                ..ticket
            }),
            other => other,
        })
    }

    /// Finds a live elicitation for (principal, provider, needed) or opens one, applying the
    /// decline back-off, the rate limit and the retry cap.
    async fn elicit(
        &self,
        principal: &Principal,
        provider_id: &ProviderId,
        needed: ScopeSet,
        any_of: Vec<Scope>,
        upstream_message: Option<String>,
        reason: TicketReason,
    ) -> Result<RefusalOutcome, EngineError> {
        let store = self.store();
        let subject = principal.subject();
        let now = self.inner.clock.now();
        let provider = self.provider(provider_id)?;

        // A recent decline answers with the declined state, not a fresh link.
        let decline_key = records::decline_key(subject, provider_id, &needed);
        if let Some(decline) = records::load::<Decline>(store, &decline_key).await?
            && decline.until > now
        {
            let minutes = decline
                .until
                .saturating_duration_since(now)
                .as_secs()
                .div_ceil(60);
            return Ok(RefusalOutcome::Declined {
                message: format!(
                    "Declined: you chose not to grant {} at {}. The tool cannot run without it; \
                     a new link will be offered in about {minutes} minute(s).",
                    needed, provider.config.display_name
                ),
                scopes: needed,
                retry_after: decline.until,
            });
        }

        // The same refusal for the same principal gets the same pending elicitation.
        let index_key = records::elicitation_index_key(subject, provider_id, &needed);
        for _ in 0..3 {
            if let Some(existing) = self.live_elicitation(&index_key, now).await? {
                return self.hand_out(existing, reason).await;
            }

            if !self.within_rate_limit(subject, now).await? {
                return Ok(RefusalOutcome::RateLimited {
                    message: "Too many authorization requests were opened recently; wait a \
                              minute, then retry."
                        .to_owned(),
                });
            }

            let elicitation = self
                .new_elicitation(principal, provider_id, needed.clone(), any_of.clone(), now)
                .await?;
            let elicitation = Elicitation {
                upstream_message: upstream_message.clone(),
                ..elicitation
            };
            let ttl = Some(self.inner.config.elicitation_ttl);
            records::save(
                store,
                &records::elicitation_key(&elicitation.id),
                &elicitation,
                ttl,
            )
            .await?;
            // Only one concurrent opener wins the index; the others hand out the winner's.
            if records::create(store, &index_key, &elicitation.id, ttl).await? {
                self.audit(&elicitation, AuditKind::ElicitationOpened, &needed, None);
                return Ok(RefusalOutcome::Elicit(self.ticket(&elicitation, reason)));
            }
            store
                .delete(&records::elicitation_key(&elicitation.id))
                .await?;
        }
        Err(EngineError::Contention)
    }

    async fn live_elicitation(
        &self,
        index_key: &scopeup_core::StoreKey,
        now: UnixTime,
    ) -> Result<Option<Elicitation>, EngineError> {
        let store = self.store();
        let Some(id) = records::load::<ElicitationId>(store, index_key).await? else {
            return Ok(None);
        };
        let elicitation =
            records::load::<Elicitation>(store, &records::elicitation_key(&id)).await?;
        match elicitation {
            Some(elicitation) if !elicitation.is_expired(now) && !elicitation.is_finished() => {
                Ok(Some(elicitation))
            }
            _ => {
                // Finished or gone: clear the index so a new one can be opened.
                let current = store.get(index_key).await?;
                if let Some(current) = current {
                    store
                        .compare_and_swap(index_key, Some(&current), None, None)
                        .await?;
                }
                Ok(None)
            }
        }
    }

    async fn hand_out(
        &self,
        elicitation: Elicitation,
        reason: TicketReason,
    ) -> Result<RefusalOutcome, EngineError> {
        let key = records::elicitation_key(&elicitation.id);
        let ttl = Some(self.inner.config.elicitation_ttl);
        let updated = records::update(self.store(), &key, ttl, |current: Option<Elicitation>| {
            let mut record = current.unwrap_or_else(|| elicitation.clone());
            record.times_handed_out = record.times_handed_out.saturating_add(1);
            Ok((Some(record.clone()), record))
        })
        .await?;
        Ok(RefusalOutcome::Elicit(self.ticket(&updated, reason)))
    }

    async fn within_rate_limit(&self, subject: &str, now: UnixTime) -> Result<bool, EngineError> {
        let config = &self.inner.config;
        let window = config.rate_window;
        let limit = config.rate_limit;
        records::update(
            self.store(),
            &records::rate_key(subject),
            Some(window),
            |current: Option<RateWindow>| {
                let current = current
                    .filter(|current| current.started.saturating_add(window) > now)
                    .unwrap_or(RateWindow {
                        started: now,
                        count: 0,
                    });
                if current.count >= limit {
                    return Ok((None, false));
                }
                Ok((
                    Some(RateWindow {
                        count: current.count + 1,
                        ..current
                    }),
                    true,
                ))
            },
        )
        .await
    }

    async fn new_elicitation(
        &self,
        principal: &Principal,
        provider_id: &ProviderId,
        needed: ScopeSet,
        any_of: Vec<Scope>,
        now: UnixTime,
    ) -> Result<Elicitation, EngineError> {
        // The account the upgrade must come back as: the host's binding, else the account of the
        // grant already held.
        let held: Option<Grant> = records::load(
            self.store(),
            &records::grant_key(principal.subject(), provider_id),
        )
        .await?;
        let dead: Option<DeadGrant> = records::load(
            self.store(),
            &records::dead_grant_key(principal.subject(), provider_id),
        )
        .await?;
        let expected_account = principal
            .upstream_account()
            .cloned()
            .or_else(|| held.map(|grant| grant.account))
            .or_else(|| dead.map(|dead| dead.account));

        Ok(Elicitation {
            id: ElicitationId::generate(self.inner.random.as_ref())?,
            subject: principal.subject().to_owned(),
            expected_account,
            provider: provider_id.clone(),
            needed,
            any_of,
            upstream_message: None,
            correlation_id: self.random_token(9)?,
            state: ElicitationState::Pending,
            created_at: now,
            expires_at: now.saturating_add(self.inner.config.elicitation_ttl),
            times_handed_out: 1,
        })
    }

    pub(crate) fn ticket(
        &self,
        elicitation: &Elicitation,
        reason: TicketReason,
    ) -> ElicitationTicket {
        let provider_name = self
            .inner
            .providers
            .get(&elicitation.provider)
            .map(|provider| provider.config.display_name.clone())
            .unwrap_or_else(|| elicitation.provider.to_string());
        ElicitationTicket {
            id: elicitation.id.clone(),
            url: self.inner.config.connect_url(&elicitation.id),
            provider_name,
            missing: elicitation.needed.clone(),
            reason,
            correlation_id: elicitation.correlation_id.clone(),
            retry_cap_reached: elicitation.times_handed_out > self.inner.config.retry_cap,
            expires_at: elicitation.expires_at,
            reconnect_reason: None,
        }
    }

    fn not_coverable(
        &self,
        principal: &Principal,
        provider_id: &ProviderId,
        reason: NotCoverableReason,
        permissions: Vec<String>,
        held: &ScopeSet,
    ) -> RefusalOutcome {
        let name = self
            .provider(provider_id)
            .map(|provider| provider.config.display_name.clone())
            .unwrap_or_else(|_| provider_id.to_string());
        self.inner.audit.record(&AuditEvent {
            at: self.inner.clock.now(),
            kind: AuditKind::NotCoverable,
            correlation_id: String::new(),
            principal: records::principal_label(principal.subject()),
            provider: provider_id.clone(),
            scopes: held.clone(),
            detail: Some(format!("{reason:?}")),
        });
        let message = match reason {
            NotCoverableReason::AlreadyHeld => format!(
                "Not a missing scope: {name} refused the call although every scope that could \
                 allow it is already granted. This is a role or account restriction; \
                 reconnecting or granting more scopes will not help."
            ),
            NotCoverableReason::AppPermission => format!(
                "Not a missing scope: {name} requires the app permission {}, which no OAuth \
                 scope grants. Change the app's permissions in your {name} settings (an \
                 administrator may have to approve it); reconnecting will not help until then.",
                if permissions.is_empty() {
                    "that the call needs".to_owned()
                } else {
                    permissions
                        .iter()
                        .map(|permission| format!("`{permission}`"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                }
            ),
            _ => format!(
                "Not a missing scope: {name} has no scope that allows this call (a role or \
                 account restriction). Reconnecting or granting more scopes will not help."
            ),
        };
        RefusalOutcome::NotCoverable {
            reason,
            permissions,
            message,
        }
    }

    pub(crate) fn audit(
        &self,
        elicitation: &Elicitation,
        kind: AuditKind,
        scopes: &ScopeSet,
        detail: Option<String>,
    ) {
        self.inner.audit.record(&AuditEvent {
            at: self.inner.clock.now(),
            kind,
            correlation_id: elicitation.correlation_id.clone(),
            principal: records::principal_label(&elicitation.subject),
            provider: elicitation.provider.clone(),
            scopes: scopes.clone(),
            detail,
        });
    }

    /// A random token of `bytes` random bytes, base64url.
    pub(crate) fn random_token(&self, bytes: usize) -> Result<String, EngineError> {
        let mut buffer = vec![0_u8; bytes];
        self.inner.random.fill(&mut buffer)?;
        Ok(URL_SAFE_NO_PAD.encode(buffer))
    }

    /// The user said no (`event`: cancelled on the picker or declined at the provider): the
    /// elicitation is closed, the decline remembered for the back-off, and the page says so.
    pub(crate) async fn decline(
        &self,
        elicitation: Elicitation,
        event: ElicitationEvent,
        why: &'static str,
    ) -> Result<Page, EngineError> {
        let now = self.inner.clock.now();
        if let Err(error) = self.transition(&elicitation.id, event, now).await? {
            tracing::debug!(%error, why, "decline did not apply");
        }
        self.remember_decline(&elicitation).await?;
        self.audit(
            &elicitation,
            AuditKind::Declined,
            &elicitation.needed,
            Some(why.into()),
        );
        Ok(self.declined_page(&elicitation))
    }

    /// Remembers a decline of `needed` for the configured back-off.
    pub(crate) async fn remember_decline(
        &self,
        elicitation: &Elicitation,
    ) -> Result<(), EngineError> {
        let backoff: Duration = self.inner.config.decline_backoff;
        let until = self.inner.clock.now().saturating_add(backoff);
        let key = records::decline_key(
            &elicitation.subject,
            &elicitation.provider,
            &elicitation.needed,
        );
        let decline = Decline {
            elicitation: elicitation.id.clone(),
            until,
        };
        records::save(self.store(), &key, &decline, Some(backoff)).await
    }
}
