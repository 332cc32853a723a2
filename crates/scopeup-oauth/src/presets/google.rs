//! Google APIs: a `403` with `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`
//! where any one listed scope suffices, the error text in Google's JSON error body, and the
//! authorization extras that make a re-authorization keep earlier grants and return a refresh
//! token.

use scopeup_core::refusal::{BearerClassifier, ScopeListMeaning, upstream_text};
use scopeup_core::{HttpResponse, Refusal, RefusalClassifier, ScopeSet};

use crate::provider::{AuthorizeContext, ProviderBehaviour};

/// The Google classifier: the RFC 6750 challenge with its `scope` list read as alternatives
/// (`any_of`), and Google's `{"error": {"message": …}}` as the provider's words.
#[derive(Debug, Clone, Copy, Default)]
pub struct GoogleClassifier;

/// Google's behaviour: [`GoogleClassifier`], and `include_granted_scopes=true`,
/// `access_type=offline`, plus `prompt=consent` when no refresh token is held (without it
/// Google returns no new refresh token and the new scopes never stick).
#[derive(Debug, Clone, Copy, Default)]
pub struct GoogleBehaviour;

impl RefusalClassifier for GoogleClassifier {
    fn classify(&self, response: &HttpResponse, held: &ScopeSet) -> Refusal {
        let classifier = BearerClassifier {
            scope_list: ScopeListMeaning::AnyOf,
        };
        let message = google_message(response);
        match classifier.classify(response, held) {
            Refusal::MissingScope(mut missing) => {
                missing.upstream_message = message.or(missing.upstream_message);
                Refusal::MissingScope(missing)
            }
            Refusal::NotCoverable {
                reason,
                permissions,
                upstream_message,
            } => Refusal::NotCoverable {
                reason,
                permissions,
                upstream_message: message.or(upstream_message),
            },
            Refusal::Authentication { upstream_message } => Refusal::Authentication {
                upstream_message: message.or(upstream_message),
            },
            Refusal::Other {
                status,
                upstream_message,
            } => Refusal::Other {
                status,
                upstream_message: message.or(upstream_message),
            },
            other => other,
        }
    }
}

impl ProviderBehaviour for GoogleBehaviour {
    fn classify(&self, response: &HttpResponse, held: &ScopeSet) -> Refusal {
        GoogleClassifier.classify(response, held)
    }

    fn authorize_extras(&self, context: &AuthorizeContext) -> Vec<(String, String)> {
        let mut extras = vec![
            ("include_granted_scopes".to_owned(), "true".to_owned()),
            ("access_type".to_owned(), "offline".to_owned()),
        ];
        if !context.holds_refresh_token {
            extras.push(("prompt".to_owned(), "consent".to_owned()));
        }
        extras
    }
}

// `{"error": {"code": 403, "message": "…", "status": "PERMISSION_DENIED"}}`
fn google_message(response: &HttpResponse) -> Option<String> {
    let body: serde_json::Value = serde_json::from_slice(&response.body).ok()?;
    body.pointer("/error/message")
        .and_then(serde_json::Value::as_str)
        .map(upstream_text)
}

#[cfg(test)]
mod tests {
    use scopeup_core::refusal::NotCoverableReason;
    use scopeup_core::{PkceVerifier, Scope};

    use super::*;
    use crate::presets::{PresetClient, PresetName};

    const DRIVE: &str = "https://www.googleapis.com/auth/drive";
    const DRIVE_FILE: &str = "https://www.googleapis.com/auth/drive.file";
    const DRIVE_READONLY: &str = "https://www.googleapis.com/auth/drive.readonly";

    // files.list refused as www.googleapis.com answers a token without a Drive scope.
    fn insufficient() -> HttpResponse {
        HttpResponse::new(403)
            .with_header(
                "WWW-Authenticate",
                format!(
                    r#"Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="{DRIVE} {DRIVE_FILE} {DRIVE_READONLY} https://www.googleapis.com/auth/drive.metadata.readonly""#
                ),
            )
            .with_header("Content-Type", "application/json; charset=UTF-8")
            .with_body(
                r#"{"error": {"code": 403, "message": "Request had insufficient authentication scopes.", "errors": [{"message": "Insufficient Permission", "domain": "global", "reason": "insufficientPermissions"}], "status": "PERMISSION_DENIED", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "domain": "googleapis.com", "metadata": {"service": "drive.googleapis.com", "method": "google.apps.drive.v3.DriveFiles.List"}}]}}"#,
            )
    }

    fn set(text: &str) -> ScopeSet {
        ScopeSet::parse(text).unwrap()
    }

    #[test]
    fn google_scope_list_is_alternatives_and_the_narrowest_is_asked() {
        // CASES row 18.
        let held = set("openid email");
        let Refusal::MissingScope(missing) = GoogleClassifier.classify(&insufficient(), &held)
        else {
            panic!("expected a missing scope");
        };
        assert!(missing.needed.is_empty());
        assert_eq!(missing.any_of.len(), 4);
        assert!(missing.any_of.contains(&Scope::new(DRIVE).unwrap()));
        assert_eq!(
            missing.upstream_message.as_deref(),
            Some("Request had insufficient authentication scopes.")
        );
        let catalog = PresetName::Google.catalog().unwrap().unwrap();
        assert_eq!(missing.to_request(&held, &catalog), set(DRIVE_FILE));
    }

    #[test]
    fn google_refusal_with_one_alternative_held_is_not_coverable() {
        let held = set(&format!("openid {DRIVE_READONLY}"));
        assert!(matches!(
            GoogleClassifier.classify(&insufficient(), &held),
            Refusal::NotCoverable {
                reason: NotCoverableReason::AlreadyHeld,
                ..
            }
        ));
    }

    #[test]
    fn google_invalid_credentials_are_authentication() {
        let expired = HttpResponse::new(401)
            .with_header("WWW-Authenticate", r#"Bearer realm="https://accounts.google.com/", error="invalid_token""#)
            .with_body(r#"{"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}"#);
        assert_eq!(
            GoogleClassifier.classify(&expired, &ScopeSet::new()),
            Refusal::Authentication {
                upstream_message: Some("Request had invalid authentication credentials.".into())
            }
        );
    }

    #[test]
    fn google_authorization_keeps_grants_and_asks_consent_without_a_refresh_token() {
        // CASES row 10.
        let provider = crate::presets::google(PresetClient::new(
            "id.apps.googleusercontent.com",
            None,
            url::Url::parse("https://host.example/oauth/callback").unwrap(),
        ))
        .unwrap();
        let verifier = PkceVerifier::new("v".repeat(43));
        let query = |holds_refresh_token| {
            let url = crate::authorize_url(
                &provider,
                &set("openid email"),
                "state",
                &verifier,
                &AuthorizeContext {
                    holds_refresh_token,
                },
            );
            url.query_pairs()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
        };
        let first = query(false);
        assert!(first.contains(&"include_granted_scopes=true".to_owned()));
        assert!(first.contains(&"access_type=offline".to_owned()));
        assert!(first.contains(&"prompt=consent".to_owned()));
        let again = query(true);
        assert!(again.contains(&"access_type=offline".to_owned()));
        assert!(!again.iter().any(|pair| pair.starts_with("prompt=")));
        assert_eq!(
            provider.config.revocation_endpoint.unwrap().as_str(),
            "https://oauth2.googleapis.com/revoke"
        );
    }
}
