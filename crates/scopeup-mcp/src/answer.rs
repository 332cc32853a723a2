//! The answer to a refused tool call, in each of the three shapes, and the answers for outcomes
//! that open no elicitation and for engine failures.
//!
//! Every shape carries the link and the missing scopes in human-readable text as well as in its
//! structured part, because several clients drop the structured part (or `error.data`).

use std::collections::BTreeMap;

use rmcp::ErrorData;
use rmcp::model::{
    CallToolResponse, CallToolResult, ContentBlock, ElicitRequest, ElicitRequestParams, ErrorCode,
    InputRequest, InputRequiredResult, JsonObject,
};
use scopeup::{ElicitationTicket, EngineError, RefusalOutcome, TicketReason};
use scopeup_core::{NotCoverableReason, Principal, StoreError};
use serde_json::{Value, json};

use crate::profile::AnswerShape;
use crate::request_state::{RequestStateKey, seal_request_state};

/// The JSON-RPC error code of `URLElicitationRequiredError` (MCP 2025-11-25).
pub const URL_ELICITATION_REQUIRED: ErrorCode = ErrorCode(-32042);

/// The key of the one entry in an `InputRequiredResult`'s `inputRequests`.
pub const INPUT_REQUEST_KEY: &str = "scopeup";

/// The tool call being answered: its name and arguments, which a `requestState` is bound to,
/// and the `requestState` the client echoed back, if this is a retry.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ToolRequest<'a> {
    /// The tool's name.
    pub name: &'a str,
    /// The arguments as the client sent them.
    pub arguments: Option<&'a JsonObject>,
    /// The `requestState` of a `2026-07-28` retry.
    pub request_state: Option<&'a str>,
}

impl<'a> ToolRequest<'a> {
    /// A first call of the tool `name` with `arguments`.
    pub fn new(name: &'a str, arguments: Option<&'a JsonObject>) -> Self {
        Self {
            name,
            arguments,
            request_state: None,
        }
    }

    /// The same call carrying the `requestState` the client echoed back (rmcp's `RequestState`
    /// extractor, or `CallToolRequestParams::request_state`).
    pub fn with_request_state(self, request_state: Option<&'a str>) -> Self {
        Self {
            request_state,
            ..self
        }
    }
}

/// Answers a refusal outcome in `shape`.
///
/// For [`AnswerShape::InputRequired`] the `requestState` is sealed with `key`, bound to
/// `principal`, `request` and the elicitation's expiry. Only [`RefusalOutcome::Elicit`] is ever
/// answered with an elicitation; every other outcome is a tool result with `isError: true`.
pub fn answer(
    outcome: &RefusalOutcome,
    shape: AnswerShape,
    key: &RequestStateKey,
    principal: &Principal,
    request: &ToolRequest<'_>,
) -> Result<CallToolResponse, ErrorData> {
    let RefusalOutcome::Elicit(ticket) = outcome else {
        return Ok(outcome_result(outcome).into());
    };

    let link = Link::from_ticket(ticket);
    match shape {
        AnswerShape::InputRequired => {
            let state = seal_request_state(
                key,
                principal,
                request.name,
                request.arguments,
                &ticket.id,
                ticket.expires_at,
            );
            Ok(link.input_required(state).into())
        }
        AnswerShape::UrlElicitationError => Err(link.url_elicitation_required()),
        AnswerShape::ToolResultLink => Ok(link.tool_result().into()),
    }
}

/// A tool result with `isError: true` for an engine failure: a sentence saying what failed and
/// that nothing stored was lost, never a protocol error (clients show those opaquely).
pub fn engine_error_result(error: &EngineError) -> CallToolResult {
    let (status, message) = match error {
        EngineError::Store(StoreError::Corrupt(_)) => (
            "store_corrupt",
            "A stored authorization could not be opened (sealed under a key this server does not \
             hold, or damaged). Report it to the server's operator."
                .to_owned(),
        ),
        EngineError::Store(_) => (
            "store_unavailable",
            "The grant store is unavailable; nothing was lost. Retry shortly.".to_owned(),
        ),
        EngineError::Refresh(_) => (
            "refresh_failed",
            "The provider could not refresh the stored token right now; nothing was lost. Retry \
             shortly."
                .to_owned(),
        ),
        EngineError::RefreshBusy => (
            "busy",
            "Another request is renewing this authorization right now; nothing was lost. Retry \
             in a few seconds."
                .to_owned(),
        ),
        EngineError::Contention => (
            "busy",
            "Too many requests updated the same authorization at once; nothing was lost. Retry."
                .to_owned(),
        ),
        EngineError::UnknownProvider { provider } => (
            "misconfigured",
            format!(
                "This server has no provider `{provider}` configured; report it to its operator."
            ),
        ),
        _ => (
            "internal_error",
            "The authorization layer failed; nothing was lost. Retry shortly.".to_owned(),
        ),
    };
    error_result(message, json!({ "status": status }))
}

/// A tool result with `isError: true` for an outcome that opens no elicitation (or, for
/// [`RefusalOutcome::Elicit`], the link shape).
fn outcome_result(outcome: &RefusalOutcome) -> CallToolResult {
    let structured = match outcome {
        RefusalOutcome::Elicit(ticket) => return Link::from_ticket(ticket).tool_result(),
        RefusalOutcome::NotCoverable {
            reason,
            permissions,
            ..
        } => {
            let reason = match reason {
                NotCoverableReason::AlreadyHeld => "already_held",
                NotCoverableReason::AppPermission => "app_permission",
                _ => "no_covering_scope",
            };
            if permissions.is_empty() {
                json!({ "status": "not_coverable", "reason": reason })
            } else {
                json!({ "status": "not_coverable", "reason": reason, "permissions": permissions })
            }
        }
        RefusalOutcome::Declined {
            scopes,
            retry_after,
            ..
        } => json!({
            "status": "declined",
            "declinedScopes": scopes,
            "retryAfter": retry_after.as_secs(),
        }),
        RefusalOutcome::RateLimited { .. } => json!({ "status": "rate_limited" }),
        RefusalOutcome::Upstream { status, .. } => {
            json!({ "status": "upstream_error", "upstreamStatus": status })
        }
        _ => json!({ "status": "refused" }),
    };
    error_result(outcome.message(), structured)
}

/// A tool result with `isError: true`, `message` as its text and `structured` beside it.
pub(crate) fn error_result(message: String, structured: Value) -> CallToolResult {
    let mut result = CallToolResult::error(vec![ContentBlock::text(message)]);
    result.structured_content = Some(structured);
    result
}

/// The facts of an elicitation that every shape carries.
#[derive(Debug, Clone)]
struct Link {
    elicitation_id: String,
    url: String,
    provider: String,
    missing: Vec<String>,
    status: &'static str,
    correlation_id: String,
    retry_cap_reached: bool,
    /// What is missing, why, the link, and "then retry".
    message: String,
}

impl Link {
    fn from_ticket(ticket: &ElicitationTicket) -> Self {
        let missing: Vec<String> = ticket
            .missing
            .iter()
            .map(|scope| scope.to_string())
            .collect();
        let mut message = ticket.message();
        let status = match ticket.reason {
            TicketReason::MissingScope => "scope_required",
            TicketReason::NotConnected => "not_connected",
            TicketReason::TokenRejected => {
                // The engine's sentence for a rejected token names no scope.
                let scopes = missing
                    .iter()
                    .map(|scope| format!("`{scope}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                message.push_str(&format!(" The reconnect asks for {scopes}."));
                "token_rejected"
            }
            _ => "scope_required",
        };
        Self {
            elicitation_id: ticket.id.as_str().to_owned(),
            url: ticket.url.to_string(),
            provider: ticket.provider_name.clone(),
            missing,
            status,
            correlation_id: ticket.correlation_id.clone(),
            retry_cap_reached: ticket.retry_cap_reached,
            message,
        }
    }

    /// The `elicitation/create` parameters in URL mode.
    fn url_params(&self) -> ElicitRequestParams {
        ElicitRequestParams::UrlElicitationParams {
            meta: None,
            message: self.message.clone(),
            url: self.url.clone(),
            elicitation_id: self.elicitation_id.clone(),
        }
    }

    /// `2026-07-28`: an `InputRequiredResult` with one URL elicitation and the sealed state.
    fn input_required(&self, request_state: String) -> InputRequiredResult {
        let request = InputRequest::Elicitation(ElicitRequest::new(self.url_params()));
        let requests = BTreeMap::from([(INPUT_REQUEST_KEY.to_owned(), request)]);
        InputRequiredResult::new(Some(requests), Some(request_state))
    }

    /// `2025-11-25`: `URLElicitationRequiredError`, whose message alone is enough for a client
    /// that drops `data` (strands-agents/harness-sdk#1742).
    fn url_elicitation_required(&self) -> ErrorData {
        // `ElicitRequestParams` is plain strings; serializing it cannot fail.
        let params = serde_json::to_value(self.url_params()).unwrap_or(Value::Null);
        ErrorData::new(
            URL_ELICITATION_REQUIRED,
            self.message.clone(),
            Some(json!({ "elicitations": [params] })),
        )
    }

    /// Any other client: a tool result the model reads, with the same facts structured.
    fn tool_result(&self) -> CallToolResult {
        let structured = json!({
            "status": self.status,
            "provider": self.provider,
            "missingScopes": self.missing,
            "url": self.url,
            "elicitationId": self.elicitation_id,
            "correlationId": self.correlation_id,
            "retryCapReached": self.retry_cap_reached,
        });
        error_result(self.message.clone(), structured)
    }
}

#[cfg(test)]
mod tests {
    use scopeup_core::ScopeSet;

    use super::*;

    const ID: &str = "AAECAwQFBgcICQoLDA0ODw";
    const URL: &str = "https://mcp.example.com/connect/AAECAwQFBgcICQoLDA0ODw";
    const MESSAGE: &str = "Missing scope: your GitHub connection lacks `read:org`, which this \
                           tool needs. Open https://mcp.example.com/connect/AAECAwQFBgcICQoLDA0ODw \
                           to grant it, then retry.";

    fn link() -> Link {
        Link {
            elicitation_id: ID.to_owned(),
            url: URL.to_owned(),
            provider: "GitHub".to_owned(),
            missing: vec!["read:org".to_owned()],
            status: "scope_required",
            correlation_id: "c0rr3lat10n".to_owned(),
            retry_cap_reached: false,
            message: MESSAGE.to_owned(),
        }
    }

    #[test]
    fn url_elicitation_required_error_matches_the_2025_11_25_schema() {
        let error = link().url_elicitation_required();
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            json!({
                "code": -32042,
                "message": MESSAGE,
                "data": {
                    "elicitations": [{
                        "mode": "url",
                        "elicitationId": ID,
                        "url": URL,
                        "message": MESSAGE,
                    }]
                }
            })
        );
    }

    #[test]
    fn url_elicitation_required_message_alone_names_the_scopes_and_the_link() {
        // strands-agents/harness-sdk#1742: the client may show only `error.message`.
        let error = link().url_elicitation_required();
        assert!(error.message.contains("`read:org`"));
        assert!(error.message.contains(URL));
    }

    #[test]
    fn input_required_result_holds_one_url_elicitation_and_the_state() {
        let result = link().input_required("sealed.state".to_owned());
        assert_eq!(
            serde_json::to_value(&result).unwrap(),
            json!({
                "resultType": "input_required",
                "inputRequests": {
                    "scopeup": {
                        "method": "elicitation/create",
                        "params": {
                            "mode": "url",
                            "elicitationId": ID,
                            "url": URL,
                            "message": MESSAGE,
                        }
                    }
                },
                "requestState": "sealed.state",
            })
        );
    }

    #[test]
    fn tool_result_link_carries_the_link_in_text_and_structure() {
        let result = link().tool_result();
        assert_eq!(
            serde_json::to_value(&result).unwrap(),
            json!({
                "resultType": "complete",
                "content": [{ "type": "text", "text": MESSAGE }],
                "structuredContent": {
                    "status": "scope_required",
                    "provider": "GitHub",
                    "missingScopes": ["read:org"],
                    "url": URL,
                    "elicitationId": ID,
                    "correlationId": "c0rr3lat10n",
                    "retryCapReached": false,
                },
                "isError": true,
            })
        );
    }

    #[test]
    fn outcomes_without_elicitation_are_tool_errors_without_a_link() {
        let key = RequestStateKey::from_bytes([1; 32]);
        let principal = Principal::new("alice").unwrap();
        let request = ToolRequest::new("list_repos", None);
        let outcomes = [
            (
                RefusalOutcome::NotCoverable {
                    reason: NotCoverableReason::AlreadyHeld,
                    permissions: Vec::new(),
                    message: "Not a missing scope: reconnecting will not help.".to_owned(),
                },
                json!({ "status": "not_coverable", "reason": "already_held" }),
            ),
            (
                RefusalOutcome::NotCoverable {
                    reason: NotCoverableReason::AppPermission,
                    permissions: vec!["contents=write".to_owned()],
                    message: "Not a missing scope: change the app's permissions.".to_owned(),
                },
                json!({
                    "status": "not_coverable",
                    "reason": "app_permission",
                    "permissions": ["contents=write"],
                }),
            ),
            (
                RefusalOutcome::Declined {
                    scopes: ScopeSet::parse("repo").unwrap(),
                    retry_after: scopeup_core::UnixTime::from_secs(600),
                    message: "Declined: you chose not to grant repo.".to_owned(),
                },
                json!({ "status": "declined", "declinedScopes": ["repo"], "retryAfter": 600 }),
            ),
            (
                RefusalOutcome::RateLimited {
                    message: "Too many authorization requests.".to_owned(),
                },
                json!({ "status": "rate_limited" }),
            ),
            (
                RefusalOutcome::Upstream {
                    status: 500,
                    message: "GitHub refused the call with status 500.".to_owned(),
                },
                json!({ "status": "upstream_error", "upstreamStatus": 500 }),
            ),
        ];

        for (outcome, structured) in outcomes {
            for shape in [
                AnswerShape::InputRequired,
                AnswerShape::UrlElicitationError,
                AnswerShape::ToolResultLink,
            ] {
                let Ok(CallToolResponse::Complete(result)) =
                    answer(&outcome, shape, &key, &principal, &request)
                else {
                    panic!("{outcome:?} in {shape:?} must be a complete tool result");
                };
                assert_eq!(result.is_error, Some(true));
                assert_eq!(result.structured_content.as_ref(), Some(&structured));
                let text = serde_json::to_value(&result.content).unwrap();
                assert_eq!(text, json!([{ "type": "text", "text": outcome.message() }]));
            }
        }
    }
}
