//! Cloudflare: a refusal is a `403` whose body says `{"success": false, "errors": [{"code":
//! 10000, "message": "Authentication error"}]}` and names no scope. The same code comes back
//! for role and account restrictions and for endpoints no OAuth scope reaches
//! (cloudflare/mcp#170, #199, #202), so the classifier judges it against the scopes that could
//! cover the call: none held, a missing scope; one held, or none exists, not coverable.
//!
//! Which scopes cover which call is data: the `coverage` rules of `cloudflare.json`, matched by
//! path (`*` is one segment, a rule covers everything below its path) and by method, the longest
//! match winning. They are this crate's reading of Cloudflare's API, not a list Cloudflare
//! publishes; a host may pass its own with [`CloudflareClassifier::new`].

use scopeup_core::refusal::{MissingScope, NotCoverableReason, upstream_text};
use scopeup_core::{HttpMethod, HttpResponse, Refusal, RefusalClassifier, ScopeSet, UpstreamCall};
use serde::{Deserialize, Serialize};

use super::data::PresetData;
use crate::provider::ProviderBehaviour;

/// Cloudflare's error code for a refused call, whatever the cause.
pub const CLOUDFLARE_AUTHENTICATION_ERROR: i64 = 10000;

/// Which scopes could cover calls to a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageRule {
    /// `read` (`GET`), `write` (every other method) or `any`.
    pub methods: String,
    /// The path, from the API host's root; `*` stands for one segment.
    pub path: String,
    /// Scopes of which any one covers the call; empty when no scope does.
    pub scopes: ScopeSet,
    /// Why the rule is as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The Cloudflare classifier.
#[derive(Debug, Clone, Default)]
pub struct CloudflareClassifier {
    coverage: Vec<CoverageRule>,
}

/// Cloudflare's behaviour: [`CloudflareClassifier`], judging the calls it is told about.
#[derive(Debug, Clone, Default)]
pub struct CloudflareBehaviour {
    classifier: CloudflareClassifier,
}

impl CloudflareClassifier {
    /// A classifier with these coverage rules.
    pub fn new(coverage: Vec<CoverageRule>) -> Self {
        Self { coverage }
    }

    pub(crate) fn from_data(data: &PresetData) -> Self {
        Self::new(data.coverage.clone())
    }

    /// The scopes that could cover `call`, or `None` when no rule matches it.
    pub fn covering(&self, call: &UpstreamCall) -> Option<&ScopeSet> {
        let segments: Vec<&str> = call
            .url
            .path()
            .split('/')
            .filter(|segment| !segment.is_empty())
            .collect();
        self.coverage
            .iter()
            .filter(|rule| rule.applies_to(call.method))
            .filter_map(|rule| rule.matched_length(&segments).map(|length| (length, rule)))
            .max_by_key(|(length, _)| *length)
            .map(|(_, rule)| &rule.scopes)
    }

    /// Classifies an answer to a known call.
    pub fn classify_call(
        &self,
        call: Option<&UpstreamCall>,
        response: &HttpResponse,
        held: &ScopeSet,
    ) -> Refusal {
        let errors = cloudflare_errors(response);
        let upstream_message = errors.iter().find_map(|(_, message)| message.clone());
        if response.status == 401 {
            return Refusal::Authentication { upstream_message };
        }
        let refused = response.status == 403
            && errors
                .iter()
                .any(|(code, _)| *code == Some(CLOUDFLARE_AUTHENTICATION_ERROR));
        let covering = call.and_then(|call| self.covering(call));
        let (true, Some(covering)) = (refused, covering) else {
            // Not error 10000, or a call no rule knows: nothing says a scope would help.
            return Refusal::Other {
                status: response.status,
                upstream_message,
            };
        };

        if covering.is_empty() {
            return Refusal::NotCoverable {
                reason: NotCoverableReason::NoCoveringScope,
                permissions: Vec::new(),
                upstream_message,
            };
        }
        if covering.iter().any(|scope| held.contains(scope)) {
            return Refusal::NotCoverable {
                reason: NotCoverableReason::AlreadyHeld,
                permissions: Vec::new(),
                upstream_message,
            };
        }
        Refusal::MissingScope(MissingScope {
            needed: ScopeSet::new(),
            any_of: covering.iter().cloned().collect(),
            upstream_message,
        })
    }
}

impl RefusalClassifier for CloudflareClassifier {
    /// Without the call, error `10000` names nothing to ask for: it is passed through.
    fn classify(&self, response: &HttpResponse, held: &ScopeSet) -> Refusal {
        self.classify_call(None, response, held)
    }
}

impl CoverageRule {
    fn applies_to(&self, method: HttpMethod) -> bool {
        match self.methods.as_str() {
            "read" => method == HttpMethod::Get,
            "write" => method != HttpMethod::Get,
            _ => true,
        }
    }

    // How many segments the rule's path has, when `segments` begins with it.
    fn matched_length(&self, segments: &[&str]) -> Option<usize> {
        let pattern: Vec<&str> = self
            .path
            .split('/')
            .filter(|segment| !segment.is_empty())
            .collect();
        let matches = pattern.len() <= segments.len()
            && pattern
                .iter()
                .zip(segments)
                .all(|(expected, actual)| *expected == "*" || expected == actual);
        matches.then_some(pattern.len())
    }
}

impl CloudflareBehaviour {
    /// The behaviour with `classifier`.
    pub fn new(classifier: CloudflareClassifier) -> Self {
        Self { classifier }
    }
}

impl ProviderBehaviour for CloudflareBehaviour {
    fn classify(&self, response: &HttpResponse, held: &ScopeSet) -> Refusal {
        self.classifier.classify(response, held)
    }

    fn classify_call(
        &self,
        call: &UpstreamCall,
        response: &HttpResponse,
        held: &ScopeSet,
    ) -> Refusal {
        self.classifier.classify_call(Some(call), response, held)
    }
}

// The `errors` of a Cloudflare v4 answer: code and message of each.
fn cloudflare_errors(response: &HttpResponse) -> Vec<(Option<i64>, Option<String>)> {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(&response.body) else {
        return Vec::new();
    };
    body.get("errors")
        .and_then(serde_json::Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .take(10)
                .map(|error| {
                    (
                        error.get("code").and_then(serde_json::Value::as_i64),
                        error
                            .get("message")
                            .and_then(serde_json::Value::as_str)
                            .map(upstream_text),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::{PresetName, data};

    fn classifier() -> CloudflareClassifier {
        CloudflareClassifier::from_data(data::require(PresetName::Cloudflare).unwrap())
    }

    fn set(text: &str) -> ScopeSet {
        ScopeSet::parse(text).unwrap()
    }

    fn call(method: HttpMethod, path: &str) -> UpstreamCall {
        UpstreamCall::new(
            method,
            url::Url::parse(&format!("https://api.cloudflare.com{path}")).unwrap(),
        )
    }

    // The answer api.cloudflare.com gives, whatever the cause.
    fn error_10000() -> HttpResponse {
        HttpResponse::new(403)
            .with_header("content-type", "application/json")
            .with_header("cf-ray", "8f0c2a1b3c4d5e6f-AMS")
            .with_body(
                r#"{"result":null,"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[]}"#,
            )
    }

    const BASE: &str = "user:read offline_access account:read";

    #[test]
    fn cloudflare_10000_with_every_covering_scope_held_is_not_coverable() {
        // CASES row 14 (cloudflare/mcp#170, #199, #202).
        let held = set(&format!("{BASE} workers:read"));
        let refusal = classifier().classify_call(
            Some(&call(
                HttpMethod::Get,
                "/client/v4/accounts/abc/workers/scripts",
            )),
            &error_10000(),
            &held,
        );
        assert_eq!(
            refusal,
            Refusal::NotCoverable {
                reason: NotCoverableReason::AlreadyHeld,
                permissions: vec![],
                upstream_message: Some("Authentication error".into()),
            }
        );
    }

    #[test]
    fn cloudflare_10000_on_an_endpoint_no_scope_reaches_is_not_coverable() {
        let refusal = classifier().classify_call(
            Some(&call(
                HttpMethod::Get,
                "/client/v4/accounts/abc/billing/profile",
            )),
            &error_10000(),
            &set(BASE),
        );
        assert!(matches!(
            refusal,
            Refusal::NotCoverable {
                reason: NotCoverableReason::NoCoveringScope,
                ..
            }
        ));
    }

    #[test]
    fn cloudflare_10000_without_a_covering_scope_asks_for_the_narrowest() {
        let refusal = classifier().classify_call(
            Some(&call(HttpMethod::Get, "/client/v4/zones/z1/dns_records")),
            &error_10000(),
            &set(BASE),
        );
        let Refusal::MissingScope(missing) = refusal else {
            panic!("expected a missing scope, got {refusal:?}");
        };
        let catalog = PresetName::Cloudflare.catalog().unwrap().unwrap();
        assert_eq!(
            missing.to_request(&set(BASE), &catalog),
            set("dns_records:read")
        );

        // A write to the same path needs the edit scope.
        let Refusal::MissingScope(write) = classifier().classify_call(
            Some(&call(HttpMethod::Post, "/client/v4/zones/z1/dns_records")),
            &error_10000(),
            &set("dns_records:read"),
        ) else {
            panic!("expected a missing scope");
        };
        assert_eq!(
            write.any_of,
            vec![scopeup_core::Scope::new("dns_records:edit").unwrap()]
        );
    }

    #[test]
    fn cloudflare_10000_for_an_unknown_call_is_passed_through() {
        assert!(matches!(
            classifier().classify(&error_10000(), &set(BASE)),
            Refusal::Other { status: 403, .. }
        ));
        assert!(matches!(
            classifier().classify_call(
                Some(&call(HttpMethod::Get, "/client/v4/radar/unknown")),
                &error_10000(),
                &set(BASE)
            ),
            Refusal::Other { status: 403, .. }
        ));
        let expired = HttpResponse::new(401).with_body(
            r#"{"success":false,"errors":[{"code":10001,"message":"Unable to authenticate request"}]}"#,
        );
        assert!(matches!(
            classifier().classify(&expired, &set(BASE)),
            Refusal::Authentication { .. }
        ));
    }

    #[test]
    fn cloudflare_upgrade_past_76_scopes_is_refused_not_truncated() {
        // CASES row 13: the catalog's 78 scopes in one request would break the authorize page.
        let catalog = PresetName::Cloudflare.catalog().unwrap().unwrap();
        let everything: ScopeSet = catalog.scopes().map(|entry| entry.scope.clone()).collect();
        let error = catalog
            .upgrade_request(scopeup_core::UpgradeInputs {
                granted: &set(BASE),
                previously_requested: &ScopeSet::new(),
                needed: &set("workers:write"),
                chosen: &everything,
            })
            .unwrap_err();
        assert_eq!((error.requested, error.limit), (78, 76));
    }
}
