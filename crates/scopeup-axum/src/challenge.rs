//! Challenge mode on the transport: a tower layer that answers a tool call the caller's MCP
//! token lacks the scopes for with HTTP `403` and the standard `insufficient_scope` challenge,
//! before the tool runs, for clients whose [`Delivery`] is [`Delivery::Transport`]; and the
//! RFC 9728 protected resource metadata the challenge points to.
//!
//! Apply the layer to the MCP endpoint alone: it judges every `POST` that reaches it, at any
//! path (a nested endpoint also serves its sub-paths), and refuses compressed bodies, which it
//! could not read.
//!
//! The host's authentication middleware, outside this layer, puts the token's scopes in the
//! request's extensions as [`McpTokenScopes`] and, where it knows them, the client's
//! [`ClientIdentity`]. Requests without [`McpTokenScopes`] pass untouched. Clients that get
//! the challenge in the tool result instead are left to the tool (`scopeup_mcp::require_scopes`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use scopeup::challenge::{ChallengeSettings, ClientIdentity, Delivery, McpTokenScopes};
use scopeup_core::ScopeSet;
use tower::{Layer, Service};

/// The largest JSON-RPC request body the layer reads to find the tool's name, in bytes.
/// Larger bodies are refused with `413`.
pub const MAX_RPC_BYTES: usize = 4 * 1024 * 1024;

/// The challenge layer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ChallengeLayer {
    shared: Arc<Shared>,
}

/// The service the layer wraps around the MCP endpoint.
#[derive(Debug, Clone)]
pub struct ChallengeService<S> {
    inner: S,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    settings: ChallengeSettings,
    tools: BTreeMap<String, ScopeSet>,
    metadata_path: String,
}

impl ChallengeLayer {
    /// A layer for the resource of `settings` whose tools need the scopes in `tool_scopes`
    /// (tool name → scopes the MCP token must carry).
    pub fn new(
        settings: ChallengeSettings,
        tool_scopes: impl IntoIterator<Item = (String, ScopeSet)>,
    ) -> Self {
        let metadata_path = settings.resource_metadata_url().path().to_owned();
        Self {
            shared: Arc::new(Shared {
                settings,
                tools: tool_scopes.into_iter().collect(),
                metadata_path,
            }),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &ChallengeSettings {
        &self.shared.settings
    }

    /// A router that serves the protected resource metadata at its well-known path, to merge
    /// at the root of the host's router.
    pub fn metadata_router(&self) -> Router {
        let shared = self.shared.clone();
        let path = shared.metadata_path.clone();
        Router::new().route(
            &path,
            get(move || {
                let shared = shared.clone();
                async move { metadata_response(&shared) }
            }),
        )
    }
}

impl<S> Layer<S> for ChallengeLayer {
    type Service = ChallengeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ChallengeService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

impl<S> Service<Request> for ChallengeService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send + 'static>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The ready service answers this request; a fresh clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();

        Box::pin(async move {
            let path = request.uri().path().trim_end_matches('/');
            if request.method() == Method::GET && path == shared.metadata_path {
                return Ok(metadata_response(&shared));
            }
            let Some(held) = request.extensions().get::<McpTokenScopes>().cloned() else {
                return inner.call(request).await;
            };
            let client = request.extensions().get::<ClientIdentity>().cloned();
            let delivery = shared.settings.delivery.choose(client.as_ref());
            // Every POST is judged, whatever its path: the layer wraps the MCP endpoint only,
            // and a router that nests the endpoint also routes its sub-paths to it.
            if request.method() != Method::POST || delivery != Delivery::Transport {
                return inner.call(request).await;
            }
            // A compressed body cannot be judged here, and a decompression layer inside this
            // one would hand the tool a call nobody checked.
            let encoded = request
                .headers()
                .get(header::CONTENT_ENCODING)
                .is_some_and(|encoding| encoding.as_bytes() != b"identity");
            if encoded {
                return Ok((
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "MCP requests are accepted without Content-Encoding",
                )
                    .into_response());
            }

            // Read the JSON-RPC request to learn which tool is called, then hand it on whole.
            let (parts, body) = request.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, MAX_RPC_BYTES).await else {
                return Ok(StatusCode::PAYLOAD_TOO_LARGE.into_response());
            };
            let needed = needed_scopes(&bytes, &shared.tools);
            if let Some(challenge) = shared.settings.challenge(&held.0, &needed) {
                tracing::debug!(missing = %challenge.missing, "answering a tool call with a step-up challenge");
                return Ok(forbidden(&challenge.header_value, &challenge.message));
            }
            inner
                .call(Request::from_parts(parts, Body::from(bytes)))
                .await
        })
    }
}

// The scopes every `tools/call` in the JSON-RPC body needs: one message, or each message of a
// batch (protocol versions before 2025-06-18 allow batches), so that no call rides past the
// challenge inside one. A body that is not JSON needs nothing here; the MCP service refuses it.
fn needed_scopes(body: &[u8], tools: &BTreeMap<String, ScopeSet>) -> ScopeSet {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(body) else {
        return ScopeSet::new();
    };
    let messages = match &body {
        serde_json::Value::Array(batch) => batch.as_slice(),
        message => std::slice::from_ref(message),
    };
    messages
        .iter()
        .filter(|message| message.get("method").and_then(|m| m.as_str()) == Some("tools/call"))
        .filter_map(|message| message.pointer("/params/name")?.as_str())
        .filter_map(|tool| tools.get(tool))
        .fold(ScopeSet::new(), |needed, scopes| needed.union(scopes))
}

fn forbidden(header_value: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "error": "insufficient_scope",
        "error_description": message,
    });
    with_challenge(
        (StatusCode::FORBIDDEN, axum::Json(body)).into_response(),
        header_value,
    )
}

/// `response` with `challenge` as its `WWW-Authenticate` header.
pub(crate) fn with_challenge(mut response: Response, challenge: &str) -> Response {
    match HeaderValue::from_str(challenge) {
        Ok(value) => {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        Err(_) => tracing::warn!("a challenge could not be sent as a header value"),
    }
    response
}

fn metadata_response(shared: &Shared) -> Response {
    let mut response = axum::Json(shared.settings.metadata()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

#[cfg(test)]
mod tests {
    use axum::routing::post;
    use scopeup_core::Catalog;
    use tower::ServiceExt as _;
    use url::Url;

    use super::*;

    fn layer(delivery: Delivery) -> ChallengeLayer {
        let catalog: Catalog = serde_json::from_str(
            r#"{"groups": [{"name": "Notes", "scopes": [
                {"scope": "notes:read", "description": "Read"},
                {"scope": "notes:write", "description": "Write"}]}]}"#,
        )
        .unwrap();
        let settings = ChallengeSettings::new(
            Url::parse("https://mcp.example.com/mcp").unwrap(),
            vec![Url::parse("https://auth.example.com").unwrap()],
            &catalog,
        )
        .with_delivery(scopeup::challenge::DeliveryPolicy::always(delivery));
        ChallengeLayer::new(
            settings,
            [(
                "create_note".to_owned(),
                ScopeSet::parse("notes:write").unwrap(),
            )],
        )
    }

    fn app(delivery: Delivery) -> Router {
        let layer = layer(delivery);
        holding_notes_read(
            Router::new()
                .route("/mcp", post(|| async { "tool ran" }))
                .layer(layer.clone()),
        )
        .merge(layer.metadata_router())
    }

    /// `router` behind an authentication whose MCP token holds `notes:read`.
    fn holding_notes_read(router: Router) -> Router {
        router.layer(axum::middleware::from_fn(
            |mut request: Request, next: axum::middleware::Next| async move {
                request
                    .extensions_mut()
                    .insert(McpTokenScopes(ScopeSet::parse("notes:read").unwrap()));
                next.run(request).await
            },
        ))
    }

    fn call(tool: &str) -> Request {
        let body = serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": tool, "arguments": {}},
        });
        Request::post("/mcp")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    }

    async fn text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn transport_clients_get_403_with_the_step_up_challenge() {
        let response = app(Delivery::Transport)
            .oneshot(call("create_note"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer error="insufficient_scope", scope="notes:read notes:write", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#
        );
        assert!(text(response).await.contains("`notes:write`"));

        // A tool whose scopes are held, or that needs none, runs.
        let response = app(Delivery::Transport)
            .oneshot(call("list_notes"))
            .await
            .unwrap();
        assert_eq!(text(response).await, "tool ran");
    }

    #[tokio::test]
    async fn a_tool_call_inside_a_batch_gets_the_challenge_too() {
        let batch = serde_json::json!([
            {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
             "params": {"name": "list_notes", "arguments": {}}},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
             "params": {"name": "create_note", "arguments": {}}},
        ]);
        let request = Request::post("/mcp")
            .header("content-type", "application/json")
            .body(Body::from(batch.to_string()))
            .unwrap();
        let response = app(Delivery::Transport).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(text(response).await.contains("`notes:write`"));
    }

    #[tokio::test]
    async fn a_tool_call_to_a_sub_path_of_a_nested_endpoint_gets_the_challenge() {
        let tool = Router::new().fallback(|| async { "tool ran" });
        let app = holding_notes_read(
            Router::new()
                .nest_service("/mcp", tool)
                .layer(layer(Delivery::Transport)),
        );
        for path in ["/mcp", "/mcp/", "/mcp/x"] {
            let mut request = call("create_note");
            *request.uri_mut() = path.parse().unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        }
    }

    #[tokio::test]
    async fn a_compressed_body_is_refused_rather_than_passed_unread() {
        let mut request = call("create_note");
        request
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        let response = app(Delivery::Transport).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[tokio::test]
    async fn tool_result_clients_pass_through_to_the_tool() {
        let response = app(Delivery::ToolResult)
            .oneshot(call("create_note"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(text(response).await, "tool ran");
    }

    #[tokio::test]
    async fn protected_resource_metadata_is_served_at_its_well_known_path() {
        let request = Request::get("/.well-known/oauth-protected-resource/mcp")
            .body(Body::empty())
            .unwrap();
        let response = app(Delivery::Transport).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let document: serde_json::Value = serde_json::from_str(&text(response).await).unwrap();
        assert_eq!(document["resource"], "https://mcp.example.com/mcp");
        assert_eq!(
            document["scopes_supported"],
            serde_json::json!(["notes:read", "notes:write"])
        );
    }
}
