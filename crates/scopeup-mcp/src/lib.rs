//! rmcp glue for scopeup: when a tool's upstream call is refused for a missing scope, answer the
//! MCP client with the link to grant it, in the best shape that client supports.
//!
//! | client | answer |
//! | --- | --- |
//! | protocol `2026-07-28`+ with `elicitation.url` | `InputRequiredResult` with one URL-mode `elicitation/create` and a sealed `requestState`; the client retries |
//! | protocol `2025-11-25` with `elicitation.url` | JSON-RPC error `-32042` with `data.elicitations`, then `notifications/elicitation/complete` on the session |
//! | anything else (`elicitation: {}` is form only) | a tool result with `isError: true`: the missing scopes, the link, "then retry" |
//!
//! Every shape also says what is missing and where to go in plain text, because several clients
//! drop structured data. Outcomes that no scope can fix (a role restriction, a recent decline,
//! a rate limit, a plain upstream error) are tool errors, never elicitations.
//!
//! [`ScopeupMcp::call_upstream`] does all of it for a tool: it fetches the principal's token,
//! runs the call, hands a refusal to the engine, and answers. [`ScopeupMcp::send_upstream`]
//! does the same for a call that is one HTTP request, and [`request_principal`] finds the
//! principal the host's authentication put on the request.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock, JsonObject};
//! use rmcp::service::RequestContext;
//! use rmcp::{ErrorData, RoleServer};
//! use scopeup_core::{HttpResponse, Principal, ProviderId};
//! use scopeup_mcp::{CompletionNotifier, RequestStateKey, ScopeupMcp, ToolRequest, UpstreamResult};
//!
//! // At start-up: the notifier first, because the engine reports completions to it.
//! # fn build(
//! #     builder: scopeup::EngineBuilder,
//! #     state_key: [u8; 32],
//! # ) -> Result<ScopeupMcp, scopeup::BuildError> {
//! let notifier = Arc::new(CompletionNotifier::new());
//! let engine = builder.observer(notifier.clone()).build()?;
//! let scopeup = ScopeupMcp::new(engine, notifier, RequestStateKey::from_bytes(state_key));
//! # Ok(scopeup)
//! # }
//!
//! // In a tool handler.
//! async fn list_repos(
//!     scopeup: &ScopeupMcp,
//!     context: &RequestContext<RoleServer>,
//!     principal: &Principal,
//!     arguments: Option<&JsonObject>,
//!     request_state: Option<&str>,
//! ) -> Result<CallToolResponse, ErrorData> {
//!     let provider = ProviderId::new("github").expect("a valid provider id");
//!     let request = ToolRequest::new("list_repos", arguments).with_request_state(request_state);
//!     scopeup
//!         .call_upstream(context, principal, &provider, request, |connection| async move {
//!             // Call the API with `connection.access_token`; on a refusal hand back the answer.
//!             # let _ = connection;
//!             # let response = HttpResponse::new(403);
//!             if response.is_success() {
//!                 UpstreamResult::Done(CallToolResult::success(vec![ContentBlock::text("…")]))
//!             } else {
//!                 UpstreamResult::Refused(response)
//!             }
//!         })
//!         .await
//! }
//! ```
//!
//! In challenge mode (the host's own MCP token carries the scopes), [`require_scopes`] and
//! [`challenge_result`] answer with the standard `insufficient_scope` challenge under
//! `_meta["mcp/www_authenticate"]` in an `isError` tool result; `scopeup-axum`'s challenge layer
//! sends it as an HTTP `403` to clients configured for that.
//!
//! A host that answers JSON-RPC itself (the Cloudflare Worker, which cannot run rmcp's service
//! layer) builds a [`ClientProfile`] with [`ClientProfile::new`] and calls [`answer`] with the
//! engine's outcome.
//!
//! # Features
//!
//! - `server` (default): the parts that need rmcp's service layer:
//!   [`ClientProfile::from_context`], and on native targets [`CompletionNotifier`],
//!   [`ScopeupMcp`] and [`request_principal`]. Without it, only rmcp's model types are used.
//!
//! # Limits
//!
//! The completion notifier knows the sessions its own instance served; behind a load balancer
//! a completion on another instance notifies nobody, and the client's retry finds the upgrade.
//! A `requestState` is bound to its principal, call and expiry but can be replayed until it
//! expires; replaying it only repeats a call the principal was allowed to make.

mod answer;
mod challenge;
mod notify;
mod profile;
mod request_state;
#[cfg(all(feature = "server", not(target_arch = "wasm32")))]
mod server;

pub use answer::{
    INPUT_REQUEST_KEY, ToolRequest, URL_ELICITATION_REQUIRED, answer, engine_error_result,
};
pub use challenge::{challenge_result, require_scopes};
#[cfg(all(feature = "server", not(target_arch = "wasm32")))]
pub use notify::CompletionNotifier;
pub use notify::{ELICITATION_COMPLETE_METHOD, elicitation_complete_notification};
pub use profile::{AnswerShape, ClientProfile};
pub use request_state::{RequestStateKey, seal_request_state, verify_request_state};
#[cfg(all(feature = "server", not(target_arch = "wasm32")))]
pub use server::{ScopeupMcp, UpstreamResult, request_principal};
