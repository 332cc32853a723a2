//! Challenge mode in tool results: for clients that fail a call on a raw `403`, the step-up
//! challenge goes in an `isError` tool result under `_meta["mcp/www_authenticate"]`, with the
//! missing scopes in the text. Clients configured for transport delivery get the `403` from
//! `scopeup-axum`'s challenge layer before the tool runs.

use rmcp::model::CallToolResult;
use scopeup::challenge::{ChallengeOutcome, ChallengeSettings, WWW_AUTHENTICATE_META_KEY};
use scopeup_core::ScopeSet;
use scopeup_core::refusal::NotCoverableReason;
use serde_json::{Value, json};

use crate::answer::error_result;

/// The tool result for a challenge-mode outcome. Each kind keeps its own `structuredContent`
/// status: `insufficient_scope`, `not_coverable`, `token_rejected` or `upstream_error`.
pub fn challenge_result(outcome: &ChallengeOutcome) -> CallToolResult {
    match outcome {
        ChallengeOutcome::Challenge(challenge) => {
            let structured = json!({
                "status": "insufficient_scope",
                "missingScopes": challenge.missing,
                "scope": challenge.held.union(&challenge.missing),
                "wwwAuthenticate": challenge.header_value,
            });
            with_challenge_meta(
                error_result(challenge.message.clone(), structured),
                &challenge.header_value,
            )
        }
        ChallengeOutcome::NotCoverable {
            reason,
            permissions,
            message,
        } => {
            let reason = match reason {
                NotCoverableReason::AlreadyHeld => "already_held",
                NotCoverableReason::AppPermission => "app_permission",
                _ => "no_covering_scope",
            };
            let mut structured = json!({ "status": "not_coverable", "reason": reason });
            if !permissions.is_empty() {
                structured["permissions"] = json!(permissions);
            }
            error_result(message.clone(), structured)
        }
        ChallengeOutcome::Authentication {
            header_value,
            message,
        } => with_challenge_meta(
            error_result(message.clone(), json!({ "status": "token_rejected" })),
            header_value,
        ),
        ChallengeOutcome::Upstream { status, message } => error_result(
            message.clone(),
            json!({ "status": "upstream_error", "upstreamStatus": status }),
        ),
        _ => error_result(
            "The call was refused.".to_owned(),
            json!({ "status": "refused" }),
        ),
    }
}

/// The challenge result when a token holding `held` calls a tool that needs `needed`, or
/// `None` when nothing is missing.
pub fn require_scopes(
    settings: &ChallengeSettings,
    held: &ScopeSet,
    needed: &ScopeSet,
) -> Option<CallToolResult> {
    let challenge = settings.challenge(held, needed)?;
    Some(challenge_result(&ChallengeOutcome::Challenge(challenge)))
}

fn with_challenge_meta(mut result: CallToolResult, header_value: &str) -> CallToolResult {
    let mut meta = result.meta.take().unwrap_or_default();
    meta.0.insert(
        WWW_AUTHENTICATE_META_KEY.to_owned(),
        Value::String(header_value.to_owned()),
    );
    result.meta = Some(meta);
    result
}

#[cfg(test)]
mod tests {
    use scopeup_core::Catalog;
    use url::Url;

    use super::*;

    fn settings() -> ChallengeSettings {
        let catalog: Catalog = serde_json::from_str(
            r#"{"groups": [{"name": "Notes", "scopes": [
                {"scope": "notes:read", "description": "Read"},
                {"scope": "notes:write", "description": "Write"},
                {"scope": "notes:delete", "description": "Delete"}]}]}"#,
        )
        .unwrap();
        ChallengeSettings::new(
            Url::parse("https://mcp.example.com/mcp").unwrap(),
            vec![Url::parse("https://auth.example.com").unwrap()],
            &catalog,
        )
    }

    #[test]
    fn challenge_tool_result_carries_the_header_value_in_meta_and_the_scopes_in_text() {
        let held = ScopeSet::parse("notes:read").unwrap();
        let needed = ScopeSet::parse("notes:write").unwrap();
        let result = require_scopes(&settings(), &held, &needed).unwrap();
        let header = r#"Bearer error="insufficient_scope", scope="notes:read notes:write", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#;
        let text = "Missing scope: your authorization for this server lacks `notes:write`, which \
                    this tool needs. Re-authorize the server with notes:read notes:write (your \
                    client may offer it), then retry.";
        assert_eq!(
            serde_json::to_value(&result).unwrap(),
            json!({
                "resultType": "complete",
                "content": [{ "type": "text", "text": text }],
                "structuredContent": {
                    "status": "insufficient_scope",
                    "missingScopes": ["notes:write"],
                    "scope": ["notes:read", "notes:write"],
                    "wwwAuthenticate": header,
                },
                "isError": true,
                "_meta": { "mcp/www_authenticate": header },
            })
        );
        assert!(require_scopes(&settings(), &needed, &needed).is_none());
    }

    #[test]
    fn challenge_mode_outcomes_keep_distinct_statuses() {
        let status = |outcome: ChallengeOutcome| {
            challenge_result(&outcome).structured_content.unwrap()["status"].clone()
        };
        assert_eq!(
            status(ChallengeOutcome::NotCoverable {
                reason: NotCoverableReason::AlreadyHeld,
                permissions: vec![],
                message: "no".into()
            }),
            json!("not_coverable")
        );
        assert_eq!(
            status(ChallengeOutcome::Authentication {
                header_value: "Bearer error=\"invalid_token\"".into(),
                message: "again".into()
            }),
            json!("token_rejected")
        );
        assert_eq!(
            status(ChallengeOutcome::Upstream {
                status: 500,
                message: "down".into()
            }),
            json!("upstream_error")
        );
    }
}
