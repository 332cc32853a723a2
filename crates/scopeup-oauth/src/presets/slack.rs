//! Slack: the Web API answers a refused call with HTTP `200` and a body such as
//! `{"ok": false, "error": "missing_scope", "needed": "chat:write", "provided": "users:read"}`,
//! so the classifier reads the body, not the status. Scopes are written with commas.

use scopeup_core::refusal::{MissingScope, NotCoverableReason, upstream_text};
use scopeup_core::{HttpResponse, Refusal, RefusalClassifier, ScopeError, ScopeSet};

use crate::provider::ProviderBehaviour;

/// Slack error codes that mean the token is no good.
const AUTHENTICATION_ERRORS: [&str; 5] = [
    "not_authed",
    "invalid_auth",
    "account_inactive",
    "token_revoked",
    "token_expired",
];

/// Slack error codes that no scope fixes: a workspace admin's restriction, a plan limit.
const NOT_COVERABLE_ERRORS: [&str; 5] = [
    "restricted_action",
    "no_permission",
    "ekm_access_denied",
    "team_access_not_granted",
    "paid_only",
];

/// The Slack classifier.
#[derive(Debug, Clone, Copy, Default)]
pub struct SlackClassifier;

/// Slack's behaviour: [`SlackClassifier`], `200` answers with `"ok": false` counted as refusals,
/// scopes requested and granted as comma-separated lists.
#[derive(Debug, Clone, Copy, Default)]
pub struct SlackBehaviour;

impl RefusalClassifier for SlackClassifier {
    fn classify(&self, response: &HttpResponse, held: &ScopeSet) -> Refusal {
        let body: Option<serde_json::Value> = serde_json::from_slice(&response.body).ok();
        let field = |name: &str| {
            body.as_ref()
                .and_then(|body| body.get(name))
                .and_then(serde_json::Value::as_str)
        };
        let error = field("error").map(upstream_text);
        let other = || Refusal::Other {
            status: response.status,
            upstream_message: error.clone(),
        };

        if response.status == 401
            || error
                .as_deref()
                .is_some_and(|e| AUTHENTICATION_ERRORS.contains(&e))
        {
            return Refusal::Authentication {
                upstream_message: error,
            };
        }
        if error
            .as_deref()
            .is_some_and(|error| NOT_COVERABLE_ERRORS.contains(&error))
        {
            return Refusal::NotCoverable {
                reason: NotCoverableReason::NoCoveringScope,
                permissions: Vec::new(),
                upstream_message: error,
            };
        }
        if error.as_deref() != Some("missing_scope") {
            return other();
        }

        let Some(Ok(needed)) = field("needed").map(comma_list) else {
            return other();
        };
        // `provided` is what the token has now, which beats the grant's record.
        let provided = field("provided")
            .and_then(|provided| comma_list(provided).ok())
            .unwrap_or_else(|| held.clone());
        if needed.is_empty() {
            return other();
        }
        if provided.is_superset(&needed) {
            return Refusal::NotCoverable {
                reason: NotCoverableReason::AlreadyHeld,
                permissions: Vec::new(),
                upstream_message: error,
            };
        }
        Refusal::MissingScope(MissingScope {
            needed: needed.difference(&provided),
            any_of: Vec::new(),
            upstream_message: error,
        })
    }
}

impl ProviderBehaviour for SlackBehaviour {
    fn classify(&self, response: &HttpResponse, held: &ScopeSet) -> Refusal {
        SlackClassifier.classify(response, held)
    }

    /// A Slack answer is a refusal when its status is not 2xx or its body says `"ok": false`.
    fn is_refusal(&self, response: &HttpResponse) -> bool {
        if !response.is_success() {
            return true;
        }
        serde_json::from_slice::<serde_json::Value>(&response.body)
            .ok()
            .and_then(|body| body.get("ok").and_then(serde_json::Value::as_bool))
            == Some(false)
    }

    fn scope_parameter(&self, scopes: &ScopeSet) -> String {
        scopes
            .iter()
            .map(|scope| scope.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    fn parse_granted_scopes(&self, raw: &str) -> Result<ScopeSet, ScopeError> {
        comma_list(raw)
    }
}

fn comma_list(value: &str) -> Result<ScopeSet, ScopeError> {
    ScopeSet::parse_delimited(value, |c| c == ',' || c.is_ascii_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str) -> ScopeSet {
        ScopeSet::parse(text).unwrap()
    }

    // chat.postMessage as slack.com answers a token without `chat:write`.
    fn missing_scope(needed: &str, provided: &str) -> HttpResponse {
        HttpResponse::new(200)
            .with_header("content-type", "application/json; charset=utf-8")
            .with_header("x-oauth-scopes", provided)
            .with_header("x-accepted-oauth-scopes", needed)
            .with_body(format!(
                r#"{{"ok":false,"error":"missing_scope","needed":"{needed}","provided":"{provided}","warning":"missing_charset","response_metadata":{{"warnings":["missing_charset"]}}}}"#
            ))
    }

    #[test]
    fn slack_missing_scope_is_read_from_a_200_body() {
        // CASES row 16.
        let response = missing_scope("chat:write", "channels:read,users:read");
        assert!(SlackBehaviour.is_refusal(&response));
        assert_eq!(
            SlackClassifier.classify(&response, &set("channels:read users:read")),
            Refusal::MissingScope(MissingScope {
                needed: set("chat:write"),
                any_of: vec![],
                upstream_message: Some("missing_scope".into()),
            })
        );
    }

    #[test]
    fn slack_needed_scope_already_provided_is_not_coverable() {
        let response = missing_scope("chat:write", "chat:write,users:read");
        assert!(matches!(
            SlackClassifier.classify(&response, &set("users:read")),
            Refusal::NotCoverable {
                reason: NotCoverableReason::AlreadyHeld,
                ..
            }
        ));
    }

    #[test]
    fn slack_other_errors_stay_distinct() {
        let answer = |error: &str| {
            HttpResponse::new(200).with_body(format!(r#"{{"ok":false,"error":"{error}"}}"#))
        };
        assert!(matches!(
            SlackClassifier.classify(&answer("invalid_auth"), &ScopeSet::new()),
            Refusal::Authentication { .. }
        ));
        assert!(matches!(
            SlackClassifier.classify(&answer("restricted_action"), &ScopeSet::new()),
            Refusal::NotCoverable {
                reason: NotCoverableReason::NoCoveringScope,
                ..
            }
        ));
        assert_eq!(
            SlackClassifier.classify(&answer("channel_not_found"), &ScopeSet::new()),
            Refusal::Other {
                status: 200,
                upstream_message: Some("channel_not_found".into())
            }
        );
        let ok = HttpResponse::new(200).with_body(r#"{"ok":true,"channel":"C1"}"#);
        assert!(!SlackBehaviour.is_refusal(&ok));
        assert!(SlackBehaviour.is_refusal(&HttpResponse::new(429)));
    }

    #[test]
    fn slack_scopes_are_written_and_read_with_commas() {
        assert_eq!(
            SlackBehaviour.scope_parameter(&set("users:read chat:write")),
            "chat:write,users:read"
        );
        assert_eq!(
            SlackBehaviour
                .parse_granted_scopes("chat:write,users:read")
                .unwrap(),
            set("chat:write users:read")
        );
    }
}
