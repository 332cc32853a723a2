//! Refusals: an upstream answer that denied a call, classified in trusted code.
//!
//! The classification is made from the upstream HTTP answer only, never from text a tool, a
//! sandbox or a model produced. Upstream text is kept for display, labelled as the provider's
//! and escaped wherever it is shown.

use crate::catalog::Catalog;
use crate::ports::{HttpMethod, HttpResponse, MaybeSendSync};
use crate::scope::{Scope, ScopeSet};
use crate::www_authenticate::BearerChallenge;

/// The longest upstream message kept for display, in characters.
pub const MAX_UPSTREAM_MESSAGE: usize = 300;

/// What a refusal means for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// A scope the grant lacks would fix it.
    MissingScope(MissingScope),
    /// No scope can fix it: every covering scope is held, or none exists (a role or account
    /// restriction). Reconnecting will not help.
    NotCoverable {
        /// Why.
        reason: NotCoverableReason,
        /// Permissions the user must change at the provider instead (a GitHub App's
        /// `contents=write`, say); empty unless the reason is
        /// [`NotCoverableReason::AppPermission`].
        permissions: Vec<String>,
        /// The provider's own words, for display.
        upstream_message: Option<String>,
    },
    /// The token is invalid or expired (401): refresh, or reconnect.
    Authentication {
        /// The provider's own words, for display.
        upstream_message: Option<String>,
    },
    /// Anything else: pass the upstream error through.
    Other {
        /// The upstream status.
        status: u16,
        /// The provider's own words, for display.
        upstream_message: Option<String>,
    },
}

/// Scopes that would fix a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingScope {
    /// Scopes that are all needed.
    pub needed: ScopeSet,
    /// Scopes of which any one suffices (Google lists alternatives this way); empty when the
    /// refusal named none.
    pub any_of: Vec<Scope>,
    /// The provider's own words, for display.
    pub upstream_message: Option<String>,
}

/// Why no scope can fix a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotCoverableReason {
    /// Every scope that could cover the call is already held.
    AlreadyHeld,
    /// The provider has no scope that covers the call (a role, plan or account restriction).
    NoCoveringScope,
    /// The call needs a permission that is not an OAuth scope: one the user (or an
    /// administrator) must change in the provider's settings for the app, such as a GitHub
    /// App's repository permissions. Reconnecting will not help until that is changed.
    AppPermission,
}

/// The request an upstream answer was for, where the tool knows it. Classifiers that need to
/// know which call was refused to tell which scopes could cover it (Cloudflare's error 10000
/// names none) read it; others ignore it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamCall {
    /// The method.
    pub method: HttpMethod,
    /// The URL called.
    pub url: url::Url,
}

impl UpstreamCall {
    /// The call of `method` on `url`.
    pub fn new(method: HttpMethod, url: url::Url) -> Self {
        Self { method, url }
    }

    /// Whether the method only reads (`GET`).
    pub fn is_read(&self) -> bool {
        self.method == HttpMethod::Get
    }
}

impl MissingScope {
    /// The scopes to ask for, given what is held: the needed scopes not held, plus the narrowest
    /// alternative when the refusal listed alternatives and none is held. Empty means the
    /// refusal is not coverable by an upgrade.
    pub fn to_request(&self, held: &ScopeSet, catalog: &Catalog) -> ScopeSet {
        let mut missing = self.needed.difference(held);
        let holds_an_alternative = self.any_of.iter().any(|scope| held.contains(scope));
        if !holds_an_alternative
            && let Some(narrowest) = catalog.narrowest_first(&self.any_of).first()
        {
            missing.insert((*narrowest).clone());
        }
        missing
    }
}

/// Classifies an upstream answer. Each provider has one; hosts may supply their own.
pub trait RefusalClassifier: MaybeSendSync {
    /// Classifies a non-success answer, given the scopes the token held.
    fn classify(&self, response: &HttpResponse, held: &ScopeSet) -> Refusal;
}

/// How a provider's `scope` challenge parameter lists scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ScopeListMeaning {
    /// Every listed scope is needed (RFC 6750's reading).
    #[default]
    AllOf,
    /// Any one listed scope suffices (Google).
    AnyOf,
}

/// The RFC 6750 classifier: reads the `WWW-Authenticate: Bearer` challenge (the first Bearer
/// challenge among every value of the header).
#[derive(Debug, Clone, Copy, Default)]
pub struct BearerClassifier {
    /// How to read the `scope` parameter.
    pub scope_list: ScopeListMeaning,
}

impl RefusalClassifier for BearerClassifier {
    fn classify(&self, response: &HttpResponse, held: &ScopeSet) -> Refusal {
        let challenge =
            BearerChallenge::from_header_values(response.headers_named("www-authenticate"))
                .ok()
                .flatten()
                .or_else(|| {
                    // One malformed value should not hide a good challenge in another.
                    response
                        .headers_named("www-authenticate")
                        .find_map(|value| BearerChallenge::from_header(value).ok().flatten())
                });
        let upstream_message = challenge
            .as_ref()
            .and_then(|challenge| challenge.error_description.as_deref())
            .map(upstream_text)
            .or_else(|| body_message(response));

        if response.status == 401
            || challenge
                .as_ref()
                .is_some_and(BearerChallenge::is_invalid_token)
        {
            return Refusal::Authentication { upstream_message };
        }

        let scope = challenge
            .as_ref()
            .filter(|challenge| challenge.is_insufficient_scope())
            .and_then(|challenge| challenge.scope.clone());
        let Some(scope) = scope.filter(|scope| !scope.is_empty()) else {
            return Refusal::Other {
                status: response.status,
                upstream_message,
            };
        };

        let missing = match self.scope_list {
            ScopeListMeaning::AllOf => MissingScope {
                needed: scope,
                any_of: Vec::new(),
                upstream_message: upstream_message.clone(),
            },
            ScopeListMeaning::AnyOf => MissingScope {
                needed: ScopeSet::new(),
                any_of: scope.into_iter().collect(),
                upstream_message: upstream_message.clone(),
            },
        };
        let already_held = missing.needed.difference(held).is_empty()
            && (missing.any_of.is_empty() || missing.any_of.iter().any(|s| held.contains(s)));
        if already_held {
            return Refusal::NotCoverable {
                reason: NotCoverableReason::AlreadyHeld,
                permissions: Vec::new(),
                upstream_message,
            };
        }
        Refusal::MissingScope(missing)
    }
}

/// Trims upstream text to [`MAX_UPSTREAM_MESSAGE`] characters and drops control characters, for
/// display. The result is still untrusted and must be escaped where shown.
pub fn upstream_text(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_UPSTREAM_MESSAGE)
        .collect();
    cleaned.trim().to_owned()
}

// A JSON body's `error_description`, `message` or `error` field, where there is one.
pub(crate) fn body_message(response: &HttpResponse) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(&response.body).ok()?;
    ["error_description", "message", "error"]
        .iter()
        .find_map(|field| value.get(field).and_then(serde_json::Value::as_str))
        .map(upstream_text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{CatalogScope, CatalogSpec, ScopeGroup};

    fn set(text: &str) -> ScopeSet {
        ScopeSet::parse(text).unwrap()
    }

    fn forbidden(challenge: &str) -> HttpResponse {
        HttpResponse::new(403).with_header("WWW-Authenticate", challenge)
    }

    #[test]
    fn insufficient_scope_names_the_missing_scopes() {
        let refusal = BearerClassifier::default().classify(
            &forbidden(r#"Bearer error="insufficient_scope", scope="notes:write", error_description="needs write""#),
            &set("notes:read"),
        );
        assert_eq!(
            refusal,
            Refusal::MissingScope(MissingScope {
                needed: set("notes:write"),
                any_of: vec![],
                upstream_message: Some("needs write".into()),
            })
        );
    }

    #[test]
    fn a_held_scope_refused_again_is_not_coverable() {
        let refusal = BearerClassifier::default().classify(
            &forbidden(r#"Bearer error="insufficient_scope", scope="notes:write""#),
            &set("notes:read notes:write"),
        );
        assert!(matches!(
            refusal,
            Refusal::NotCoverable {
                reason: NotCoverableReason::AlreadyHeld,
                ..
            }
        ));
    }

    #[test]
    fn unauthorized_is_authentication_not_missing_scope() {
        // anthropics/claude-code#68720: an expired token and a missing scope must stay apart.
        let expired = HttpResponse::new(401)
            .with_header("WWW-Authenticate", r#"Bearer error="invalid_token""#);
        assert!(matches!(
            BearerClassifier::default().classify(&expired, &ScopeSet::new()),
            Refusal::Authentication { .. }
        ));
    }

    #[test]
    fn forbidden_without_a_challenge_is_passed_through() {
        let response = HttpResponse::new(403).with_body(r#"{"message":"org policy"}"#);
        assert_eq!(
            BearerClassifier::default().classify(&response, &ScopeSet::new()),
            Refusal::Other {
                status: 403,
                upstream_message: Some("org policy".into())
            }
        );
    }

    #[test]
    fn alternatives_request_the_narrowest_unless_one_is_held() {
        // Google lists alternatives: any one of them suffices.
        let classifier = BearerClassifier {
            scope_list: ScopeListMeaning::AnyOf,
        };
        let Refusal::MissingScope(missing) = classifier.classify(
            &forbidden(
                r#"Bearer error="insufficient_scope", scope="drive drive.file drive.readonly""#,
            ),
            &ScopeSet::new(),
        ) else {
            panic!("expected a missing scope");
        };
        let entry = |scope: &str| CatalogScope {
            scope: scope.parse().unwrap(),
            description: String::new(),
        };
        let catalog = Catalog::new(CatalogSpec {
            groups: vec![ScopeGroup {
                name: "Drive".into(),
                scopes: vec![entry("drive.readonly"), entry("drive.file"), entry("drive")],
            }],
            ..CatalogSpec::default()
        })
        .unwrap();
        assert_eq!(
            missing.to_request(&ScopeSet::new(), &catalog),
            set("drive.readonly")
        );
        assert!(missing.to_request(&set("drive.file"), &catalog).is_empty());
    }

    #[test]
    fn upstream_text_is_trimmed_and_cleaned() {
        assert_eq!(upstream_text(" a\u{7}b "), "a b");
        assert_eq!(upstream_text(&"x".repeat(1000)).len(), MAX_UPSTREAM_MESSAGE);
    }
}
