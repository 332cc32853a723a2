//! The example's MCP tools: notes at the upstream API, each needing a different scope.
//!
//! Every tool follows one pattern: build the API request, then let
//! `ScopeupMcp::send_upstream` send it with the principal's upstream token (the principal the
//! middleware put in the request's extensions) and turn a refusal into the answer shape the
//! client supports.

use std::collections::HashMap;
use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::RequestState;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResponse, CallToolResult, ContentBlock, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use scopeup::challenge::{ChallengeSettings, McpTokenScopes};
use scopeup_core::{HttpClient, HttpMethod, HttpRequest, Principal, ProviderId, ScopeSet};
use scopeup_mcp::{ScopeupMcp, ToolRequest, request_principal};
use serde::{Deserialize, Serialize};

/// The MCP server of the example.
#[derive(Clone)]
pub struct NotesServer {
    scopeup: Arc<ScopeupMcp>,
    provider: ProviderId,
    api_base: url::Url,
    http: Arc<dyn HttpClient>,
    challenge: Option<Arc<ChallengeSettings>>,
    direct: Option<Arc<DirectTokens>>,
    tool_router: ToolRouter<Self>,
}

/// Upstream access tokens by principal subject, for the benchmark baseline that calls the API
/// without scopeup.
pub type DirectTokens = HashMap<String, String>;

/// Arguments of `list_notes`.
#[derive(Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub(crate) struct ListNotes {}

/// Arguments of `create_note`.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub(crate) struct CreateNote {
    /// The note's title.
    pub(crate) title: String,
    /// The note's text.
    #[serde(default)]
    pub(crate) body: String,
}

/// Arguments of `revoke_access`.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub(crate) struct RevokeAccess {
    /// The optional scopes to drop, space-separated; empty disconnects the provider.
    #[serde(default)]
    pub(crate) scopes: String,
}

/// Arguments of `delete_note`.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub(crate) struct DeleteNote {
    /// The id of the note to delete.
    pub(crate) id: u64,
}

#[tool_router]
impl NotesServer {
    /// A server whose tools call the notes API at `api_base` through `http`.
    pub fn new(
        scopeup: Arc<ScopeupMcp>,
        provider: ProviderId,
        api_base: url::Url,
        http: Arc<dyn HttpClient>,
    ) -> Self {
        Self {
            scopeup,
            provider,
            api_base,
            http,
            challenge: None,
            direct: None,
            tool_router: Self::tool_router(),
        }
    }

    /// Puts the tools in challenge mode: each needs its scope on the MCP token
    /// ([`crate::TOOL_SCOPES`]), and a call without it gets the step-up challenge.
    pub fn with_challenge(self, challenge: Option<Arc<ChallengeSettings>>) -> Self {
        Self { challenge, ..self }
    }

    /// The benchmark baseline: the notes tools call the API with `tokens` directly, with no
    /// scopeup in between.
    pub fn without_scopeup(self, tokens: DirectTokens) -> Self {
        Self {
            direct: Some(Arc::new(tokens)),
            ..self
        }
    }

    /// Lists the user's notes. Needs `notes:read`.
    #[tool(description = "List your notes. Needs the notes:read scope.")]
    async fn list_notes(
        &self,
        Parameters(arguments): Parameters<ListNotes>,
        RequestState(request_state): RequestState,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let request = HttpRequest::new(HttpMethod::Get, self.api_url("api/notes")?);
        self.run(&context, "list_notes", &arguments, request_state, request)
            .await
    }

    /// Creates a note. Needs `notes:write`.
    #[tool(description = "Create a note with a title and a body. Needs the notes:write scope.")]
    async fn create_note(
        &self,
        Parameters(arguments): Parameters<CreateNote>,
        RequestState(request_state): RequestState,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let body = serde_json::json!({ "title": arguments.title, "body": arguments.body });
        let mut request = HttpRequest::new(HttpMethod::Post, self.api_url("api/notes")?)
            .with_header("content-type", "application/json");
        request.body = body.to_string().into_bytes();
        self.run(&context, "create_note", &arguments, request_state, request)
            .await
    }

    /// Lists the caller's grants with their scopes and expiry.
    #[tool(description = "Show which permissions this server holds for you at each provider.")]
    async fn my_grants(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let principal = request_principal(&context)?;
        let grants = match self.scopeup.engine().grants(&principal).await {
            Ok(grants) => grants,
            Err(error) => return Ok(scopeup_mcp::engine_error_result(&error).into()),
        };
        let listed: Vec<serde_json::Value> = grants
            .iter()
            .map(|grant| {
                serde_json::json!({
                    "provider": grant.provider.as_str(),
                    "providerName": grant.provider_name,
                    "scopes": grant.scopes.to_string(),
                    "optional": grant.optional.to_string(),
                    "expiresAt": grant.expires_at.map(|at| at.as_secs()),
                    "refreshable": grant.refreshable,
                })
            })
            .collect();
        let text = match grants.is_empty() {
            true => "No provider is connected.".to_owned(),
            false => grants
                .iter()
                .map(|grant| format!("{}: {}", grant.provider_name, grant.scopes))
                .collect::<Vec<_>>()
                .join("\n"),
        };
        let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
        result.structured_content = Some(serde_json::json!({ "grants": listed }));
        Ok(result.into())
    }

    /// Drops optional scopes, or disconnects the provider when `scopes` is empty.
    #[tool(
        description = "Remove permissions: drop the listed optional scopes (space-separated), \
                          or disconnect the provider entirely when no scope is listed."
    )]
    async fn revoke_access(
        &self,
        Parameters(arguments): Parameters<RevokeAccess>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let principal = request_principal(&context)?;
        let engine = self.scopeup.engine();
        let drop = ScopeSet::parse(arguments.scopes.trim())
            .map_err(|error| ErrorData::invalid_params(error.to_string(), None))?;
        let (revocation, outcome) = match drop.is_empty() {
            true => (engine.disconnect(&principal, &self.provider).await, None),
            false => match engine.downgrade(&principal, &self.provider, &drop).await {
                Ok((revocation, outcome)) => (Ok(revocation), outcome),
                Err(error) => (Err(error), None),
            },
        };
        let revocation = match revocation {
            Ok(revocation) => revocation,
            Err(error) => return Ok(scopeup_mcp::engine_error_result(&error).into()),
        };
        let upstream = match revocation.revoked_upstream {
            true => "The provider confirmed the revocation.",
            false => "The provider did not confirm a revocation; the tokens were forgotten here.",
        };
        let mut text = match (revocation.held, drop.is_empty()) {
            (false, _) => "Nothing was held for this provider.".to_owned(),
            (true, true) => format!("Disconnected. {upstream}"),
            (true, false) => format!("Permissions removed. {upstream}"),
        };
        if let Some(outcome) = &outcome {
            text.push(' ');
            text.push_str(&outcome.message());
        }
        text.push_str(&format!(" (correlation id {})", revocation.correlation_id));
        let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
        result.structured_content = Some(serde_json::json!({
            "held": revocation.held,
            "revokedUpstream": revocation.revoked_upstream,
            "correlationId": revocation.correlation_id,
        }));
        Ok(result.into())
    }

    /// Deletes a note. Needs `notes:delete`.
    #[tool(description = "Delete a note by its id. Needs the notes:delete scope.")]
    async fn delete_note(
        &self,
        Parameters(arguments): Parameters<DeleteNote>,
        RequestState(request_state): RequestState,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let mut url = self.api_url("api/notes/")?;
        url.path_segments_mut()
            .map_err(|()| ErrorData::internal_error("the API base URL cannot take a path", None))?
            .pop_if_empty()
            .push(&arguments.id.to_string());
        let request = HttpRequest::new(HttpMethod::Delete, url);
        self.run(&context, "delete_note", &arguments, request_state, request)
            .await
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for NotesServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_instructions(
            "Notes tools. When a tool answers that a scope is missing, give the user the link; \
             retry after they finish.",
        )
    }
}

impl NotesServer {
    async fn run(
        &self,
        context: &RequestContext<RoleServer>,
        tool: &str,
        arguments: &impl Serialize,
        request_state: Option<String>,
        api_request: HttpRequest,
    ) -> Result<CallToolResponse, ErrorData> {
        let principal = request_principal(context)?;
        if let Some(direct) = &self.direct {
            return Ok(call_directly(self.http.as_ref(), direct, &principal, api_request).await);
        }
        if let Some(answer) = self.challenge_answer(context, tool) {
            return Ok(answer.into());
        }
        let arguments = serde_json::to_value(arguments)
            .map_err(|error| ErrorData::internal_error(error.to_string(), None))?;
        let request = ToolRequest::new(tool, arguments.as_object())
            .with_request_state(request_state.as_deref());
        self.scopeup
            .send_upstream(
                context,
                &principal,
                &self.provider,
                request,
                self.http.as_ref(),
                api_request,
            )
            .await
    }

    /// In challenge mode, the challenge when the MCP token lacks the tool's scope. Clients that
    /// get it on the transport never reach this point: the challenge layer answered them.
    fn challenge_answer(
        &self,
        context: &RequestContext<RoleServer>,
        tool: &str,
    ) -> Option<CallToolResult> {
        let settings = self.challenge.as_ref()?;
        let needed = crate::TOOL_SCOPES
            .iter()
            .find(|(name, _)| *name == tool)
            .and_then(|(_, scope)| ScopeSet::parse(scope).ok())?;
        let held = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<McpTokenScopes>())
            .map(|scopes| scopes.0.clone())
            .unwrap_or_default();
        scopeup_mcp::require_scopes(settings, &held, &needed)
    }

    fn api_url(&self, path: &str) -> Result<url::Url, ErrorData> {
        let base = self.api_base.as_str().trim_end_matches('/');
        url::Url::parse(&format!("{base}/{path}"))
            .map_err(|error| ErrorData::internal_error(error.to_string(), None))
    }
}

/// The benchmark baseline's call: the principal's fixed token, and any refusal passed through
/// as an error result.
async fn call_directly(
    http: &dyn HttpClient,
    tokens: &DirectTokens,
    principal: &Principal,
    request: HttpRequest,
) -> CallToolResponse {
    let Some(token) = tokens.get(principal.subject()) else {
        let text = "no baseline token for this principal";
        return CallToolResult::error(vec![ContentBlock::text(text)]).into();
    };
    let request = request.with_header("authorization", format!("Bearer {token}"));
    let text = match http.send(request).await {
        Ok(response) if response.is_success() => {
            let body = String::from_utf8_lossy(&response.body).into_owned();
            return CallToolResult::success(vec![ContentBlock::text(body)]).into();
        }
        Ok(response) => format!("the notes API refused with {}", response.status),
        Err(error) => format!("the notes API is unreachable: {error}"),
    };
    CallToolResult::error(vec![ContentBlock::text(text)]).into()
}
