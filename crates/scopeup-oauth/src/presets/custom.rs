//! A host's own classifier on any provider: every quirk of the provider's behaviour is kept
//! except how refusals are classified.

use std::sync::Arc;

use scopeup_core::{
    AccountId, HttpResponse, Refusal, RefusalClassifier, ScopeError, ScopeSet, UpstreamCall,
};

use crate::provider::{AuthorizeContext, Provider, ProviderBehaviour};

/// A behaviour that classifies with a host's classifier and defers everything else to the
/// behaviour it wraps.
#[derive(Clone)]
pub struct ClassifierOverride {
    inner: Arc<dyn ProviderBehaviour>,
    classifier: Arc<dyn RefusalClassifier>,
}

/// `provider` with its refusals classified by `classifier`; its endpoints, catalog, extras and
/// scope format stay as they were.
#[cfg_attr(
    target_arch = "wasm32",
    expect(
        clippy::arc_with_non_send_sync,
        reason = "the Workers runtime is single-threaded; the ports are not `Send` there"
    )
)]
pub fn with_classifier(provider: Provider, classifier: Arc<dyn RefusalClassifier>) -> Provider {
    let behaviour = ClassifierOverride::new(provider.behaviour, classifier);
    Provider::new(provider.config, Arc::new(behaviour))
}

impl ClassifierOverride {
    /// `inner` with its classification replaced by `classifier`.
    pub fn new(inner: Arc<dyn ProviderBehaviour>, classifier: Arc<dyn RefusalClassifier>) -> Self {
        Self { inner, classifier }
    }
}

impl ProviderBehaviour for ClassifierOverride {
    fn classify(&self, response: &HttpResponse, held: &ScopeSet) -> Refusal {
        self.classifier.classify(response, held)
    }

    fn classify_call(
        &self,
        call: &UpstreamCall,
        response: &HttpResponse,
        held: &ScopeSet,
    ) -> Refusal {
        let _ = call;
        self.classifier.classify(response, held)
    }

    fn is_refusal(&self, response: &HttpResponse) -> bool {
        self.inner.is_refusal(response)
    }

    fn scope_parameter(&self, scopes: &ScopeSet) -> String {
        self.inner.scope_parameter(scopes)
    }

    fn authorize_extras(&self, context: &AuthorizeContext) -> Vec<(String, String)> {
        self.inner.authorize_extras(context)
    }

    fn parse_granted_scopes(&self, raw: &str) -> Result<ScopeSet, ScopeError> {
        self.inner.parse_granted_scopes(raw)
    }

    fn account_id(&self, identity: &serde_json::Value, pointer: &str) -> Option<AccountId> {
        self.inner.account_id(identity, pointer)
    }

    fn revokes_superseded_tokens(&self) -> bool {
        self.inner.revokes_superseded_tokens()
    }
}

impl std::fmt::Debug for ClassifierOverride {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClassifierOverride").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use scopeup_core::refusal::NotCoverableReason;

    use super::*;
    use crate::presets::{PresetClient, slack};

    /// A host's API that says "role required" with a 403 and a header.
    struct RoleClassifier;

    impl RefusalClassifier for RoleClassifier {
        fn classify(&self, response: &HttpResponse, _held: &ScopeSet) -> Refusal {
            if response.header("x-role-required").is_some() {
                return Refusal::NotCoverable {
                    reason: NotCoverableReason::NoCoveringScope,
                    permissions: Vec::new(),
                    upstream_message: None,
                };
            }
            Refusal::Other {
                status: response.status,
                upstream_message: None,
            }
        }
    }

    #[test]
    fn a_host_classifier_replaces_only_the_classification() {
        let preset = slack(PresetClient::new(
            "client",
            None,
            url::Url::parse("https://host.example/oauth/callback").unwrap(),
        ))
        .unwrap();
        let provider = with_classifier(preset, Arc::new(RoleClassifier));
        let refused = HttpResponse::new(403).with_header("x-role-required", "admin");
        assert!(matches!(
            provider.behaviour.classify(&refused, &ScopeSet::new()),
            Refusal::NotCoverable { .. }
        ));
        // Slack's scope format is kept.
        let scopes = ScopeSet::parse("a b").unwrap();
        assert_eq!(provider.behaviour.scope_parameter(&scopes), "a,b");
    }

    /// A behaviour that differs from the trait's defaults in everything but classification.
    #[derive(Debug)]
    struct Quirky;

    impl ProviderBehaviour for Quirky {
        fn is_refusal(&self, _response: &HttpResponse) -> bool {
            true
        }
        fn scope_parameter(&self, _scopes: &ScopeSet) -> String {
            "quirky".to_owned()
        }
        fn authorize_extras(&self, _context: &AuthorizeContext) -> Vec<(String, String)> {
            vec![("prompt".to_owned(), "consent".to_owned())]
        }
        fn parse_granted_scopes(&self, _raw: &str) -> Result<ScopeSet, ScopeError> {
            ScopeSet::parse("quirky")
        }
        fn account_id(&self, _identity: &serde_json::Value, _pointer: &str) -> Option<AccountId> {
            AccountId::new("quirky").ok()
        }
        fn revokes_superseded_tokens(&self) -> bool {
            true
        }
    }

    #[test]
    fn every_quirk_but_the_classification_is_kept() {
        let wrapped = ClassifierOverride::new(Arc::new(Quirky), Arc::new(RoleClassifier));
        let context = AuthorizeContext {
            holds_refresh_token: false,
        };
        let identity = serde_json::json!({});

        assert!(wrapped.is_refusal(&HttpResponse::new(200)));
        assert_eq!(wrapped.scope_parameter(&ScopeSet::new()), "quirky");
        assert_eq!(wrapped.authorize_extras(&context).len(), 1);
        assert_eq!(
            wrapped.parse_granted_scopes("").unwrap(),
            ScopeSet::parse("quirky").unwrap()
        );
        assert_eq!(
            wrapped.account_id(&identity, "/sub"),
            AccountId::new("quirky").ok()
        );
        assert!(wrapped.revokes_superseded_tokens());
    }
}
