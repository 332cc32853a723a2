//! The entry point for tool authors on an rmcp server: run the upstream call with the
//! principal's token and, on a refusal, answer in the shape the client supports.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use rmcp::model::{CallToolResponse, CallToolResult};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use scopeup::{Connection, Engine, RefusalOutcome, TokenStatus};
use scopeup_core::ports::SystemClock;
use scopeup_core::{
    Clock, HttpClient, HttpRequest, HttpResponse, Principal, ProviderId, Refusal, ScopeSet,
    UpstreamCall,
};
use serde_json::json;

use crate::answer::{ToolRequest, answer, engine_error_result, error_result};
use crate::notify::CompletionNotifier;
use crate::profile::{AnswerShape, ClientProfile};
use crate::request_state::{RequestStateKey, verify_request_state};

/// scopeup for the tools of one rmcp server. Cheap to clone.
#[derive(Clone)]
pub struct ScopeupMcp {
    engine: Engine,
    notifier: Arc<CompletionNotifier>,
    state_key: RequestStateKey,
    clock: Arc<dyn Clock>,
}

/// What the tool's upstream call came to.
#[derive(Debug)]
#[non_exhaustive]
pub enum UpstreamResult {
    /// The call succeeded; this is the tool's answer.
    Done(CallToolResult),
    /// The upstream API answered with a non-success status (or, like Slack, a success status
    /// whose body says it refused): its status, headers and body, for the engine to classify.
    Refused(HttpResponse),
    /// The same as [`UpstreamResult::Refused`] with the request the answer was for, which
    /// lets a classifier judge which scopes could cover the call (Cloudflare's error `10000`
    /// names none).
    RefusedCall(UpstreamCall, HttpResponse),
    /// The call failed before an answer arrived (timeout, connection refused); a sentence for
    /// the user.
    Failed(String),
}

impl UpstreamResult {
    /// The result of an API call that `response` answered: on a `2xx` status, the body as the
    /// tool's text (`Done.` when empty); on any other, a refusal for the engine to classify
    /// with the `call` it answered. For an API that refuses with a success status (Slack's
    /// `"ok": false`), build the result yourself.
    pub fn from_response(call: UpstreamCall, response: HttpResponse) -> Self {
        if !response.is_success() {
            return Self::RefusedCall(call, response);
        }
        let text = match response.body.is_empty() {
            true => "Done.".to_owned(),
            false => String::from_utf8_lossy(&response.body).into_owned(),
        };
        Self::Done(CallToolResult::success(vec![
            rmcp::model::ContentBlock::text(text),
        ]))
    }
}

/// The principal the host's authentication put in the HTTP request's extensions
/// (`scopeup_axum::require_principal` does), which rmcp's Streamable HTTP server hands to
/// tools. A tool called without one gets an `invalid_request` error: its route was left
/// outside the authentication middleware.
pub fn request_principal(context: &RequestContext<RoleServer>) -> Result<Principal, ErrorData> {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Principal>())
        .cloned()
        .ok_or_else(|| {
            ErrorData::invalid_request("the request carries no authenticated principal", None)
        })
}

impl ScopeupMcp {
    /// The glue over `engine`. `notifier` must be the one passed to the engine builder's
    /// `observer`, and every instance of the host must share `state_key`.
    pub fn new(
        engine: Engine,
        notifier: Arc<CompletionNotifier>,
        state_key: RequestStateKey,
    ) -> Self {
        Self {
            engine,
            notifier,
            state_key,
            clock: Arc::new(SystemClock),
        }
    }

    /// Uses `clock` instead of the system clock to check `requestState` expiry and to forget
    /// expired registrations. Pass the engine's clock when it is not the system clock.
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Self { clock, ..self }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The completion notifier, for `Engine::builder(..).observer(..)`.
    pub fn notifier(&self) -> Arc<CompletionNotifier> {
        self.notifier.clone()
    }

    /// Runs `call` with the principal's token at `provider`; on a refusal, or when the
    /// principal has not connected the provider yet, answers in the best shape the client
    /// supports.
    ///
    /// A retry that carries a `requestState` must carry one this server issued for the same
    /// principal, tool and arguments, else it is refused with `invalid_params` and nothing else
    /// happens. The grant is checked afresh on every call: while the user has not finished, a
    /// retry is answered with the same pending elicitation. Engine failures (a store outage, a
    /// failed refresh) become tool results with `isError: true` that say nothing was lost.
    ///
    /// When the upstream API rejects the token itself (401: revoked or expired early), the grant
    /// is refreshed once and `call` runs once more with the new token; a refresh the provider
    /// refuses (`invalid_grant`) answers with a reconnect link that says why. A missing scope is
    /// never "refreshed and retried": a refresh cannot widen a grant (RFC 6749 §6).
    #[tracing::instrument(
        name = "ScopeupMcp::call_upstream",
        level = "debug",
        skip_all,
        fields(provider = %provider, tool = request.name)
    )]
    pub async fn call_upstream<F, Fut>(
        &self,
        context: &RequestContext<RoleServer>,
        principal: &Principal,
        provider: &ProviderId,
        request: ToolRequest<'_>,
        call: F,
    ) -> Result<CallToolResponse, ErrorData>
    where
        F: FnMut(Connection) -> Fut,
        Fut: Future<Output = UpstreamResult>,
    {
        let mut call = call;
        if let Some(state) = request.request_state {
            let elicitation = verify_request_state(
                &self.state_key,
                state,
                principal,
                request.name,
                request.arguments,
                self.clock.now(),
            )?;
            tracing::debug!(%elicitation, "retry after an elicitation");
        }

        let status = self.engine.token_for(principal, provider).await;
        let connection = match self.usable(principal, provider, status).await {
            Ok(connection) => connection,
            Err(outcome) => return self.answer_outcome(context, principal, request, outcome),
        };

        let mut held = connection.scopes.clone();
        let used = connection.access_token.clone();
        let (mut upstream_call, mut response) = match split(call(connection).await) {
            Split::Refused(upstream_call, response) => (upstream_call, response),
            Split::Finished(answer) => return Ok(answer),
        };

        // The token itself was rejected: refresh once, retry once.
        let refusal = self.engine.classify(provider, &response, &held);
        if matches!(refusal, Ok(Refusal::Authentication { .. })) {
            let status = self
                .engine
                .refresh_rejected(principal, provider, &used)
                .await;
            let connection = match self.usable(principal, provider, status).await {
                Ok(connection) => connection,
                Err(outcome) => return self.answer_outcome(context, principal, request, outcome),
            };
            held = connection.scopes.clone();
            (upstream_call, response) = match split(call(connection).await) {
                Split::Refused(upstream_call, response) => (upstream_call, response),
                Split::Finished(answer) => return Ok(answer),
            };
        }

        let outcome = match &upstream_call {
            Some(upstream_call) => {
                self.engine
                    .handle_refused_call(principal, provider, upstream_call, &response, &held)
                    .await
            }
            None => {
                self.engine
                    .handle_refusal(principal, provider, &response, &held)
                    .await
            }
        };
        self.answer_outcome(context, principal, request, outcome)
    }

    /// [`ScopeupMcp::call_upstream`] for a tool whose upstream call is one HTTP request:
    /// sends `api_request` through `http` with the principal's token as
    /// `Authorization: Bearer` (in place of any `Authorization` it carries), and answers with
    /// [`UpstreamResult::from_response`]. A URL that is neither `https` nor plain `http` to
    /// this machine is refused before any token is read.
    ///
    /// The token goes wherever `api_request` points: build its URL from your configuration,
    /// never let a tool's arguments choose the host. `ReqwestHttpClient::new` from
    /// `scopeup-oauth` is a fine `http`: it follows no redirect, so the token never reaches
    /// another host, and it bounds the time and the body.
    pub async fn send_upstream(
        &self,
        context: &RequestContext<RoleServer>,
        principal: &Principal,
        provider: &ProviderId,
        request: ToolRequest<'_>,
        http: &dyn HttpClient,
        api_request: HttpRequest,
    ) -> Result<CallToolResponse, ErrorData> {
        if !scopeup_core::is_safe_for_secrets(&api_request.url) {
            return Ok(error_result(
                format!(
                    "The server refused to send your token to {}: tokens travel over HTTPS \
                     only (or plain HTTP to this machine).",
                    api_request.url.origin().ascii_serialization()
                ),
                json!({ "status": "call_failed" }),
            )
            .into());
        }
        let mut api_request = api_request;
        api_request
            .headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case("authorization"));
        let call = UpstreamCall::new(api_request.method, api_request.url.clone());
        self.call_upstream(context, principal, provider, request, |connection| {
            let api_request = api_request.clone().with_header(
                "authorization",
                format!("Bearer {}", connection.access_token.expose_secret()),
            );
            let call = call.clone();
            async move {
                match http.send(api_request).await {
                    Ok(response) => UpstreamResult::from_response(call, response),
                    Err(error) => UpstreamResult::Failed(format!(
                        "The API at {} could not be reached: {error}.",
                        call.url.host_str().unwrap_or("its host")
                    )),
                }
            }
        })
        .await
    }

    /// The connection in a token status, or the outcome to answer with instead: a connect
    /// elicitation with the baseline scopes, or a reconnect one that says why the grant died.
    async fn usable(
        &self,
        principal: &Principal,
        provider: &ProviderId,
        status: Result<TokenStatus, scopeup::EngineError>,
    ) -> Result<Connection, Result<RefusalOutcome, scopeup::EngineError>> {
        match status {
            Ok(TokenStatus::Ready(connection)) => Ok(connection),
            Ok(TokenStatus::Reconnect(reason)) => {
                Err(self.engine.reconnect(principal, provider, reason).await)
            }
            // Not connected yet (or a status a later engine adds): connect with the provider's
            // baseline scopes.
            Ok(_) => Err(self
                .engine
                .connect(principal, provider, &ScopeSet::new())
                .await),
            Err(error) => Err(Err(error)),
        }
    }

    /// Answers an outcome the tool got from the engine itself, in the shape the client of
    /// `context` supports. For the `-32042` shape the session is registered with the
    /// completion notifier.
    pub fn answer(
        &self,
        context: &RequestContext<RoleServer>,
        principal: &Principal,
        request: ToolRequest<'_>,
        outcome: &RefusalOutcome,
    ) -> Result<CallToolResponse, ErrorData> {
        let shape = ClientProfile::from_context(context).answer_shape();
        tracing::debug!(?shape, "answering a refused call");

        if shape == AnswerShape::UrlElicitationError
            && let RefusalOutcome::Elicit(ticket) = outcome
        {
            self.notifier
                .register(ticket, context.peer.clone(), self.clock.now());
        }
        answer(outcome, shape, &self.state_key, principal, &request)
    }

    fn answer_outcome(
        &self,
        context: &RequestContext<RoleServer>,
        principal: &Principal,
        request: ToolRequest<'_>,
        outcome: Result<RefusalOutcome, scopeup::EngineError>,
    ) -> Result<CallToolResponse, ErrorData> {
        match outcome {
            Ok(outcome) => self.answer(context, principal, request, &outcome),
            Err(error) => Ok(engine_failure(&error).into()),
        }
    }
}

impl fmt::Debug for ScopeupMcp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeupMcp")
            .field("notifier", &self.notifier)
            .field("state_key", &self.state_key)
            .finish_non_exhaustive()
    }
}

/// A tool's upstream result, split into a refusal to classify (with the request it answered,
/// when the tool gave it) and an answer that is final.
enum Split {
    Refused(Option<UpstreamCall>, HttpResponse),
    Finished(CallToolResponse),
}

fn split(result: UpstreamResult) -> Split {
    match result {
        UpstreamResult::Refused(response) => Split::Refused(None, response),
        UpstreamResult::RefusedCall(call, response) => Split::Refused(Some(call), response),
        other => Split::Finished(finished(other)),
    }
}

/// The answer to an upstream call that was not refused.
fn finished(result: UpstreamResult) -> CallToolResponse {
    match result {
        UpstreamResult::Done(result) => result.into(),
        UpstreamResult::Failed(message) => {
            error_result(message, json!({ "status": "call_failed" })).into()
        }
        // Refusals are handled by the caller; an empty error keeps this total.
        UpstreamResult::Refused(response) | UpstreamResult::RefusedCall(_, response) => {
            error_result(
                format!(
                    "The upstream API refused the call with status {}.",
                    response.status
                ),
                json!({ "status": "upstream_error" }),
            )
            .into()
        }
    }
}

fn engine_failure(error: &scopeup::EngineError) -> CallToolResult {
    tracing::debug!(%error, "engine failed during a tool call");
    engine_error_result(error)
}

#[cfg(test)]
mod tests {
    use scopeup_core::HttpMethod;

    use super::*;

    fn call() -> UpstreamCall {
        UpstreamCall::new(
            HttpMethod::Get,
            url::Url::parse("https://api.example.com/notes").unwrap(),
        )
    }

    #[test]
    fn a_success_is_the_tools_answer_and_anything_else_a_refusal() {
        let done = UpstreamResult::from_response(call(), HttpResponse::new(200).with_body("[1]"));
        let UpstreamResult::Done(result) = done else {
            panic!("a 200 is the answer: {done:?}");
        };
        assert_eq!(result.is_error, Some(false));
        assert_eq!(
            serde_json::to_value(&result.content).unwrap()[0]["text"],
            "[1]"
        );

        let empty = UpstreamResult::from_response(call(), HttpResponse::new(204));
        let UpstreamResult::Done(result) = empty else {
            panic!("a 204 is the answer: {empty:?}");
        };
        assert_eq!(
            serde_json::to_value(&result.content).unwrap()[0]["text"],
            "Done."
        );

        let refused = UpstreamResult::from_response(call(), HttpResponse::new(403));
        let UpstreamResult::RefusedCall(refused_call, response) = refused else {
            panic!("a 403 is a refusal: {refused:?}");
        };
        assert_eq!(refused_call, call());
        assert_eq!(response.status, 403);
    }
}
