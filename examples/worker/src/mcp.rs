//! MCP over Streamable HTTP without sessions: each `POST /mcp` carries one JSON-RPC message and
//! gets one JSON answer. rmcp's service layer needs tokio, which a Worker does not have, so the
//! messages are read and written with rmcp's model types, and every decision about a refused call
//! is made by the engine and `scopeup-mcp`, as on the axum path.

use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientJsonRpcMessage, ClientRequest,
    ContentBlock, EmptyResult, ErrorCode, GetMeta as _, Implementation, InitializeResult,
    ListToolsResult, ProtocolVersion, RequestMetaObject, ServerCapabilities, ServerJsonRpcMessage,
    ServerResult, ToolsCapability,
};
use scopeup::{Engine, TokenStatus};
use scopeup_core::{
    Clock, HttpClient, HttpResponse, Principal, ProviderId, ScopeSet, UpstreamCall,
};
use scopeup_mcp::{
    AnswerShape, ClientProfile, RequestStateKey, ToolRequest, answer, engine_error_result,
};

use crate::tools::ToolSet;
use serde_json::Value;
use url::Url;

/// The largest JSON-RPC message accepted, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// The protocol versions an `initialize` may settle on, oldest first.
const INITIALIZE_VERSIONS: [&str; 2] = ["2025-06-18", "2025-11-25"];

/// What the MCP endpoint answers over HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body, if any.
    pub body: Option<String>,
}

/// The Worker's tools, answering one JSON-RPC message at a time.
pub struct McpServer<'a> {
    /// The scopeup engine.
    pub engine: &'a Engine,
    /// The client for the notes API.
    pub http: &'a dyn HttpClient,
    /// The clock, for checking `requestState` expiry.
    pub clock: &'a dyn Clock,
    /// The key that seals `requestState`.
    pub state_key: &'a RequestStateKey,
    /// The provider the tools' tokens come from.
    pub provider: ProviderId,
    /// The tools offered.
    pub tools: ToolSet,
    /// The base URL of the API the tools call.
    pub api_base: &'a Url,
}

impl McpServer<'_> {
    /// Answers one JSON-RPC message from `principal`. `protocol_header` is the
    /// `MCP-Protocol-Version` header, used when the message's `_meta` does not say.
    pub async fn handle(
        &self,
        principal: &Principal,
        protocol_header: Option<&str>,
        body: &[u8],
    ) -> McpAnswer {
        if body.len() > MAX_MESSAGE_BYTES {
            let error = ErrorData::invalid_request("the message is too large", None);
            return json_answer(413, &ServerJsonRpcMessage::error(error, None));
        }
        let message = match serde_json::from_slice::<ClientJsonRpcMessage>(body) {
            Ok(message) => message,
            Err(_) => {
                let error = ErrorData::parse_error("expected one JSON-RPC message", None);
                return json_answer(400, &ServerJsonRpcMessage::error(error, None));
            }
        };
        let Some((request, id)) = message.into_request() else {
            // Notifications and responses need no answer.
            return McpAnswer {
                status: 202,
                body: None,
            };
        };

        // rmcp moves the wire's `params._meta` into the envelope's extensions.
        let meta = request.get_meta().clone();
        let result = match request {
            ClientRequest::InitializeRequest(request) => {
                Ok(initialize(&request.params.protocol_version))
            }
            ClientRequest::PingRequest(_) => Ok(ServerResult::EmptyResult(EmptyResult {})),
            ClientRequest::ListToolsRequest(_) => Ok(ServerResult::ListToolsResult(
                ListToolsResult::with_all_items(self.tools.tools()),
            )),
            ClientRequest::CallToolRequest(request) => self
                .call_tool(principal, protocol_header, &meta, request.params)
                .await
                .map(ServerResult::from),
            _ => Err(ErrorData::new(
                ErrorCode::METHOD_NOT_FOUND,
                "this server answers initialize, ping, tools/list and tools/call",
                None,
            )),
        };
        let message = match result {
            Ok(result) => ServerJsonRpcMessage::response(result, id),
            Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
        };
        json_answer(200, &message)
    }

    /// Runs a tool: the principal's token from the engine, the API call, and on a refusal the
    /// engine's outcome in the shape the client supports.
    async fn call_tool(
        &self,
        principal: &Principal,
        protocol_header: Option<&str>,
        meta: &RequestMetaObject,
        params: CallToolRequestParams,
    ) -> Result<CallToolResponse, ErrorData> {
        let upstream =
            self.tools
                .request(self.api_base, &params.name, params.arguments.as_ref())?;
        // The method and URL, for a classifier that judges a refusal by the call it refused.
        let call = UpstreamCall::new(upstream.method, upstream.url.clone());
        let request = ToolRequest::new(&params.name, params.arguments.as_ref())
            .with_request_state(params.request_state.as_deref());
        if let Some(state) = request.request_state {
            scopeup_mcp::verify_request_state(
                self.state_key,
                state,
                principal,
                request.name,
                request.arguments,
                self.clock.now(),
            )?;
        }

        let shape = answer_shape(meta, protocol_header);

        let connection = match self.engine.token_for(principal, &self.provider).await {
            Ok(TokenStatus::Ready(connection)) => connection,
            Ok(_) => {
                let outcome = self
                    .engine
                    .connect(principal, &self.provider, &ScopeSet::new())
                    .await;
                return match outcome {
                    Ok(outcome) => answer(&outcome, shape, self.state_key, principal, &request),
                    Err(error) => Ok(engine_error_result(&error).into()),
                };
            }
            Err(error) => return Ok(engine_error_result(&error).into()),
        };

        let held = connection.scopes.clone();
        let upstream = upstream.with_header(
            "authorization",
            format!("Bearer {}", connection.access_token.expose_secret()),
        );
        let response = match self.http.send(upstream).await {
            Ok(response) => response,
            Err(error) => {
                let text = format!("The notes API is unreachable: {error}.");
                return Ok(CallToolResult::error(vec![ContentBlock::text(text)]).into());
            }
        };
        if response.is_success() {
            return Ok(success(&response).into());
        }
        match self
            .engine
            .handle_refused_call(principal, &self.provider, &call, &response, &held)
            .await
        {
            Ok(outcome) => answer(&outcome, shape, self.state_key, principal, &request),
            Err(error) => Ok(engine_error_result(&error).into()),
        }
    }
}

/// The answer to `initialize`: the client's version when this server speaks it, else the newest
/// one that has `initialize`.
fn initialize(requested: &ProtocolVersion) -> ServerResult {
    let version = if INITIALIZE_VERSIONS.contains(&requested.as_str()) {
        requested.clone()
    } else {
        ProtocolVersion::V_2025_11_25
    };
    let mut capabilities = ServerCapabilities::default();
    capabilities.tools = Some(ToolsCapability::default());
    let result = InitializeResult::new(capabilities)
        .with_protocol_version(version)
        .with_server_info(Implementation::new(
            "scopeup-worker-example",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(
            "When a tool answers that a scope is missing, give the user the link; retry after \
             they finish.",
        );
    ServerResult::InitializeResult(result)
}

fn success(response: &HttpResponse) -> CallToolResult {
    let text = if response.body.is_empty() {
        "Done.".to_owned()
    } else {
        String::from_utf8_lossy(&response.body).into_owned()
    };
    CallToolResult::success(vec![ContentBlock::text(text)])
}

/// The answer shape the client supports, from the request's own `_meta` (2026-07-28), else the
/// `MCP-Protocol-Version` header.
fn answer_shape(meta: &RequestMetaObject, protocol_header: Option<&str>) -> AnswerShape {
    let protocol = meta
        .protocol_version()
        .or_else(|| protocol_header.and_then(protocol_version));
    let capabilities = meta.client_capabilities();
    ClientProfile::new(protocol, capabilities.as_ref()).answer_shape()
}

fn protocol_version(header: &str) -> Option<ProtocolVersion> {
    serde_json::from_value(Value::String(header.trim().to_owned())).ok()
}

fn json_answer(status: u16, message: &ServerJsonRpcMessage) -> McpAnswer {
    match serde_json::to_string(message) {
        Ok(body) => McpAnswer {
            status,
            body: Some(body),
        },
        Err(_) => McpAnswer {
            status: 500,
            body: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn initialize_settles_on_a_version_with_initialize() {
        let answer = |requested: &str| {
            let ServerResult::InitializeResult(result) =
                initialize(&protocol_version(requested).unwrap())
            else {
                panic!("not an initialize result");
            };
            result.protocol_version.as_str().to_owned()
        };
        assert_eq!(answer("2025-06-18"), "2025-06-18");
        assert_eq!(answer("2025-11-25"), "2025-11-25");
        assert_eq!(answer("2024-11-05"), "2025-11-25");
    }

    /// The meta of a `tools/call` as it arrives: rmcp keeps it in the envelope, not the params.
    fn meta_of(capabilities: Value) -> RequestMetaObject {
        let body = json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {
                "name": "delete_note", "arguments": {"id": 1},
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": capabilities,
                },
            },
        });
        let message: ClientJsonRpcMessage = serde_json::from_value(body).unwrap();
        let (request, _) = message.into_request().unwrap();
        request.get_meta().clone()
    }

    #[test]
    fn a_stateless_client_is_profiled_from_the_meta_of_its_call() {
        let meta = meta_of(json!({"elicitation": {"url": {}}}));
        assert_eq!(
            answer_shape(&meta, Some("2025-11-25")),
            AnswerShape::InputRequired
        );

        let form_only = meta_of(json!({"elicitation": {}}));
        assert_eq!(answer_shape(&form_only, None), AnswerShape::ToolResultLink);
    }
}
