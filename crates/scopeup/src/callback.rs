//! `GET /oauth/callback`: the provider's answer. The state is taken atomically (a second use
//! fails), the browser binding and the issuer are checked, the code is exchanged with the PKCE
//! verifier, and the upgrade is stored only when the account that came back is the principal's
//! and the new grant is not narrower than the one it replaces.

use scopeup_core::grant::Superseded;
use scopeup_core::ports::AuditKind;
use scopeup_core::secret::constant_time_eq;
use scopeup_core::{
    AccountId, AuthorizationCode, Elicitation, ElicitationEvent, FailureReason, Grant,
};
use scopeup_oauth::{Provider, RevocableToken, TokenResponse};

use crate::Engine;
use crate::error::EngineError;
use crate::pages::{self, Page, PageKind};
use crate::records::{self, OAuthState};

/// The query parameters of the OAuth callback (RFC 6749 §4.1.2, RFC 9207). Its `Debug` hides
/// `state`, the single-use key to the stored PKCE verifier, and the code.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct CallbackParams {
    /// `state`.
    pub state: Option<String>,
    /// `code`.
    pub code: Option<AuthorizationCode>,
    /// `error`.
    pub error: Option<String>,
    /// `error_description`.
    pub error_description: Option<String>,
    /// `iss` (RFC 9207).
    pub iss: Option<String>,
}

impl std::fmt::Debug for CallbackParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |value: &Option<_>| value.as_ref().map(|_| "<redacted>");
        f.debug_struct("CallbackParams")
            .field("state", &hidden(&self.state))
            .field("code", &self.code)
            .field("error", &self.error)
            .field("error_description", &self.error_description)
            .field("iss", &self.iss)
            .finish()
    }
}

impl CallbackParams {
    /// Reads the parameters from decoded query pairs. A parameter given twice makes the whole
    /// callback invalid (RFC 6749 §3.1), which shows as a missing state.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut params = Self::default();
        let mut duplicate = false;
        for (name, value) in pairs {
            let slot = match name {
                "state" => &mut params.state,
                "error" => &mut params.error,
                "error_description" => &mut params.error_description,
                "iss" => &mut params.iss,
                "code" => {
                    duplicate |= params.code.is_some();
                    params.code = Some(AuthorizationCode::new(value));
                    continue;
                }
                _ => continue,
            };
            duplicate |= slot.is_some();
            *slot = Some(value.to_owned());
        }
        if duplicate {
            return Self::default();
        }
        params
    }
}

impl Engine {
    /// `GET /oauth/callback`. `browser` is the value of the browser-binding cookie, if sent.
    #[tracing::instrument(level = "debug", name = "Engine::oauth_callback", skip_all)]
    pub async fn oauth_callback(&self, params: CallbackParams, browser: Option<&str>) -> Page {
        match self.callback_inner(params, browser).await {
            Ok(page) => page,
            Err(error) => self.unavailable_page(&error),
        }
    }

    async fn callback_inner(
        &self,
        params: CallbackParams,
        browser: Option<&str>,
    ) -> Result<Page, EngineError> {
        let host = &self.inner.config.host_name;
        let text = self.text();
        let invalid = |paragraph: &str| {
            pages::message(
                PageKind::BadRequest,
                text,
                host,
                "",
                &text.invalid_response_title,
                vec![paragraph.to_owned()],
            )
        };

        // Take the state: it works once, whatever happens next.
        let Some(state) = params.state.as_deref().filter(|state| state.len() <= 128) else {
            return Ok(invalid(&text.no_state));
        };
        let Some(oauth_state) =
            records::take::<OAuthState>(self.store(), &records::oauth_state_key(state)).await?
        else {
            return Ok(invalid(&text.unknown_state));
        };

        // The browser that comes back must be the one that started.
        let same_browser = browser.is_some_and(|browser| {
            constant_time_eq(browser.as_bytes(), oauth_state.browser.as_bytes())
        });
        if !same_browser {
            return Ok(pages::message(
                PageKind::Forbidden,
                text,
                host,
                "",
                &text.different_browser_title,
                vec![text.different_browser.to_string()],
            ));
        }

        let Some(elicitation) = records::load::<Elicitation>(
            self.store(),
            &records::elicitation_key(&oauth_state.elicitation),
        )
        .await?
        else {
            return Ok(invalid(&text.expired_during_sign_in));
        };
        let provider = self.provider(&oauth_state.provider)?;

        // The provider said no.
        if let Some(error) = params.error.as_deref() {
            if error == "access_denied" {
                return self
                    .decline(
                        elicitation,
                        ElicitationEvent::DeclinedAtProvider,
                        "declined at the provider",
                    )
                    .await;
            }
            tracing::debug!(error, "provider returned an error to the callback");
            return self
                .refuse(elicitation, provider, FailureReason::ProviderError, None)
                .await;
        }

        // RFC 9207: where the provider names itself, it must be the configured issuer.
        if let Some(expected) = provider.config.issuer.as_deref() {
            let issuer_ok = match params.iss.as_deref() {
                Some(iss) => iss == expected,
                None => !provider.config.iss_parameter_supported,
            };
            if !issuer_ok {
                return self
                    .refuse(elicitation, provider, FailureReason::ProviderError, None)
                    .await;
            }
        }

        let Some(code) = params.code else {
            return Ok(invalid(&text.no_code));
        };
        let http = self.inner.http.as_ref();
        let response = match scopeup_oauth::exchange_code(
            http,
            provider,
            &code,
            &oauth_state.verifier,
        )
        .await
        {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(%error, "code exchange failed");
                return self
                    .refuse(
                        elicitation,
                        provider,
                        FailureReason::ProviderUnavailable,
                        None,
                    )
                    .await;
            }
        };

        // Whose account came back, and is it the principal's?
        let account =
            match scopeup_oauth::fetch_account(http, provider, &response.access_token).await {
                Ok(account) => account,
                Err(error) => {
                    tracing::debug!(%error, "identity lookup failed");
                    return self
                        .refuse(
                            elicitation,
                            provider,
                            FailureReason::ProviderUnavailable,
                            Some(&response),
                        )
                        .await;
                }
            };
        let held = self.held_grant(&elicitation).await?;
        let expected_account = elicitation
            .expected_account
            .clone()
            .or_else(|| held.as_ref().map(|g| g.account.clone()));
        match account_check(
            expected_account.as_ref(),
            &account,
            self.inner.config.dangerous_trust_first_connect,
        ) {
            Ok(()) => {}
            Err(reason) => {
                return self
                    .refuse(elicitation, provider, reason, Some(&response))
                    .await;
            }
        }

        // What was granted: the response's scope, or as requested when it has none.
        let granted = response
            .granted_scopes
            .clone()
            .unwrap_or_else(|| oauth_state.requested.clone());
        if let Some(held) = &held
            && !granted.is_superset(&held.scopes)
        {
            return self
                .refuse(
                    elicitation,
                    provider,
                    FailureReason::NarrowerGrant,
                    Some(&response),
                )
                .await;
        }
        let declined = oauth_state.requested.difference(&granted);

        // Store the upgrade, then retire the tokens it replaces.
        let now = self.inner.clock.now();
        let keeps_old_refresh = response.refresh_token.is_none();
        let grant = Grant {
            access_token: response.access_token.clone(),
            refresh_token: response
                .refresh_token
                .clone()
                .or_else(|| held.as_ref().and_then(|held| held.refresh_token.clone())),
            scopes: granted.clone(),
            requested: oauth_state.requested.clone(),
            expires_at: response
                .expires_in
                .map(|expires_in| now.saturating_add(expires_in)),
            issuer: provider.config.issuer.clone(),
            token_endpoint: provider.config.token_endpoint.clone(),
            account,
            obtained_at: now,
            replaces: held.as_ref().map(|held| Superseded {
                scopes: held.scopes.clone(),
                obtained_at: held.obtained_at,
                // Set below once the provider has answered.
                revoked: false,
            }),
        };
        let grant_key = records::grant_key(&elicitation.subject, &elicitation.provider);
        records::save(self.store(), &grant_key, &grant, None).await?;
        let dead_key = records::dead_grant_key(&elicitation.subject, &elicitation.provider);
        self.store().delete(&dead_key).await?;
        if let Some(held) = held
            && self
                .revoke_superseded(provider, &elicitation, held, keeps_old_refresh)
                .await
        {
            // Record that what it replaced is gone upstream.
            let stored_token = grant.access_token.clone();
            records::update(self.store(), &grant_key, None, |current: Option<Grant>| {
                let Some(mut current) = current.filter(|g| g.access_token == stored_token) else {
                    return Ok((None, ()));
                };
                if let Some(replaced) = current.replaces.as_mut() {
                    replaced.revoked = true;
                }
                Ok((Some(current), ()))
            })
            .await?;
        }

        let event = ElicitationEvent::Granted {
            granted: granted.clone(),
            declined: declined.clone(),
        };
        if let Err(error) = self.transition(&elicitation.id, event, now).await? {
            tracing::debug!(%error, "elicitation finished before its callback");
        }
        self.audit(&elicitation, AuditKind::Granted, &granted, None);
        if !elicitation.needed.intersection(&declined).is_empty() {
            // The user unticked what the tool needs: do not re-ask in a loop.
            self.remember_decline(&elicitation).await?;
            self.audit(
                &elicitation,
                AuditKind::Declined,
                &declined,
                Some("declined at the provider".into()),
            );
        }
        for observer in &self.inner.observers {
            observer.elicitation_completed(&elicitation.id);
        }

        Ok(self.completed_page(&elicitation, provider, &granted, &declined))
    }

    /// Refuses the upgrade: nothing is stored, the new tokens (if any) are revoked, and the page
    /// says why. The elicitation stays open for another attempt.
    async fn refuse(
        &self,
        elicitation: Elicitation,
        provider: &Provider,
        reason: FailureReason,
        response: Option<&TokenResponse>,
    ) -> Result<Page, EngineError> {
        if let Some(response) = response {
            let token = RevocableToken::Access(&response.access_token);
            if let Err(error) =
                scopeup_oauth::revoke(self.inner.http.as_ref(), provider, token).await
            {
                tracing::debug!(%error, "revoking a refused token failed");
            }
        }
        let now = self.inner.clock.now();
        if let Err(error) = self
            .transition(&elicitation.id, ElicitationEvent::Refused(reason), now)
            .await?
        {
            tracing::debug!(%error, "refusal did not apply");
        }
        self.audit(
            &elicitation,
            AuditKind::Refused,
            &elicitation.needed,
            Some(format!("{reason:?}")),
        );

        let text = self.text();
        let page = pages::MessagePage {
            css: pages::css(),
            text,
            host_name: self.inner.config.host_name.clone(),
            correlation_id: elicitation.correlation_id.clone(),
            title: text.failed_title.to_string(),
            paragraphs: vec![text.failure(reason).to_owned()],
            granted: Vec::new(),
            declined: Vec::new(),
            declined_heading: String::new(),
            retry_url: Some(self.inner.config.connect_url(&elicitation.id).to_string()),
        };
        Ok(Page::html(PageKind::Failed, pages::render(&page)))
    }

    async fn revoke_superseded(
        &self,
        provider: &Provider,
        elicitation: &Elicitation,
        held: Grant,
        keeps_old_refresh: bool,
    ) -> bool {
        if !revokes_superseded(provider) {
            return false;
        }
        let http = self.inner.http.as_ref();
        // The old refresh token stays when the provider issued no new one.
        let refresh = held.refresh_token.as_ref().filter(|_| !keeps_old_refresh);
        let mut revoked = true;
        if let Some(refresh) = refresh {
            revoked &= scopeup_oauth::revoke(http, provider, RevocableToken::Refresh(refresh))
                .await
                .is_ok();
        }
        revoked &=
            scopeup_oauth::revoke(http, provider, RevocableToken::Access(&held.access_token))
                .await
                .is_ok();
        if revoked {
            self.audit(
                elicitation,
                AuditKind::Revoked,
                &held.scopes,
                Some("superseded by an upgrade".into()),
            );
        } else {
            self.audit(
                elicitation,
                AuditKind::RevocationFailed,
                &held.scopes,
                Some("revoking the superseded token failed".into()),
            );
        }
        revoked
    }
}

/// Whether an upgrade revokes the tokens it replaces: only where the provider has a revocation
/// endpoint and its behaviour says the old tokens are a grant of their own (see
/// [`scopeup_oauth::ProviderBehaviour::revokes_superseded_tokens`]).
fn revokes_superseded(provider: &Provider) -> bool {
    provider.config.revocation_endpoint.is_some() && provider.behaviour.revokes_superseded_tokens()
}

/// The design's "Whose account": compare with the bound account, or accept a first connect
/// only when the host opted in to trusting it.
fn account_check(
    expected: Option<&AccountId>,
    actual: &AccountId,
    trust_first_connect: bool,
) -> Result<(), FailureReason> {
    match expected {
        Some(expected)
            if constant_time_eq(expected.as_str().as_bytes(), actual.as_str().as_bytes()) =>
        {
            Ok(())
        }
        Some(_) => Err(FailureReason::WrongAccount),
        None if trust_first_connect => Ok(()),
        None => Err(FailureReason::UnverifiedAccount),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str) -> AccountId {
        AccountId::new(id).unwrap()
    }

    #[test]
    fn debug_hides_the_state_and_the_code() {
        let params = CallbackParams::from_pairs([
            ("state", "st-s3cret"),
            ("code", "c-s3cret"),
            ("iss", "https://auth.example"),
        ]);
        let shown = format!("{params:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("https://auth.example"), "{shown}");
    }

    #[test]
    fn only_the_bound_account_may_complete_an_upgrade() {
        assert_eq!(
            account_check(Some(&account("alice")), &account("alice"), false),
            Ok(())
        );
        assert_eq!(
            account_check(Some(&account("alice")), &account("mallory"), true),
            Err(FailureReason::WrongAccount)
        );
        assert_eq!(
            account_check(None, &account("alice"), false),
            Err(FailureReason::UnverifiedAccount)
        );
        assert_eq!(account_check(None, &account("alice"), true), Ok(()));
    }

    #[test]
    fn superseded_tokens_are_kept_unless_the_provider_issues_separate_grants() {
        struct SeparateGrants;
        impl scopeup_oauth::ProviderBehaviour for SeparateGrants {
            fn revokes_superseded_tokens(&self) -> bool {
                true
            }
        }
        let url = |path: &str| url::Url::parse(&format!("https://auth.example/{path}")).unwrap();
        let mut config = scopeup_oauth::ProviderConfig {
            id: scopeup_core::ProviderId::new("notes").unwrap(),
            display_name: "Notes".to_owned(),
            issuer: Some("https://auth.example".to_owned()),
            authorization_endpoint: url("authorize"),
            token_endpoint: url("token"),
            userinfo_endpoint: Some(url("userinfo")),
            revocation_endpoint: Some(url("revoke")),
            client_id: "client".to_owned(),
            client_secret: None,
            client_auth: scopeup_oauth::ClientAuthMethod::Basic,
            redirect_uri: url("callback"),
            catalog: scopeup_core::Catalog::new(scopeup_core::catalog::CatalogSpec::default())
                .unwrap(),
            baseline: scopeup_core::ScopeSet::new(),
            identity: scopeup_oauth::IdentityLookup::userinfo(url("userinfo")),
            iss_parameter_supported: true,
        };

        // A standards-following provider may tie the upgrade to the same grant as the tokens it
        // replaces: revoking those would revoke the upgrade.
        assert!(!revokes_superseded(&Provider::generic(config.clone())));
        let separate = Provider::new(config.clone(), std::sync::Arc::new(SeparateGrants));
        assert!(revokes_superseded(&separate));
        config.revocation_endpoint = None;
        assert!(!revokes_superseded(&Provider::new(
            config,
            std::sync::Arc::new(SeparateGrants)
        )));
    }

    #[test]
    fn duplicated_callback_parameters_invalidate_the_callback() {
        let params = CallbackParams::from_pairs([("state", "a"), ("state", "b"), ("code", "c")]);
        assert!(params.state.is_none() && params.code.is_none());
        let params = CallbackParams::from_pairs([("state", "a"), ("code", "c"), ("iss", "i")]);
        assert_eq!(params.state.as_deref(), Some("a"));
        assert_eq!(params.iss.as_deref(), Some("i"));
    }
}
