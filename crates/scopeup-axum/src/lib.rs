//! axum routes for scopeup, and the hook through which a host supplies the principal.
//!
//! [`routes`] serves the scope picker at `GET`/`POST /connect/{id}` and the OAuth callback at
//! `GET /oauth/callback`; these are the only routes that change an elicitation. Every page
//! carries the engine's security headers. [`require_principal`] is a middleware that asks the
//! host's [`PrincipalResolver`] who is calling and puts the [`Principal`] in the request's
//! extensions (rmcp hands those to tools), or answers 401.
//!
//! ```no_run
//! use std::sync::Arc;
//! # fn example(engine: scopeup::Engine, resolver: Arc<dyn scopeup_axum::PrincipalResolver>) {
//! let mcp = axum::Router::new() /* .nest_service("/mcp", rmcp_service) */
//!     .layer(axum::middleware::from_fn_with_state(resolver, scopeup_axum::require_principal));
//! let app = axum::Router::new().merge(scopeup_axum::routes(engine)).merge(mcp);
//! # let _ = app;
//! # }
//! ```
//!
//! In challenge mode, [`ChallengeLayer`] answers tool calls whose MCP token lacks a scope with
//! the standard `403` step-up challenge and serves the RFC 9728 protected resource metadata.
//!
//! [`guide`] walks from an empty crate to a working integration in your own axum MCP server.
//!
//! # Features
//!
//! This crate has no optional features.

mod challenge;
#[doc = include_str!("guide.md")]
pub mod guide {}

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use scopeup::{CallbackParams, Engine, Page};
use scopeup_core::Principal;
use scopeup_core::www_authenticate::BearerChallenge;
use url::Url;

pub use challenge::{ChallengeLayer, ChallengeService, MAX_RPC_BYTES};

/// The largest picker form accepted, in bytes.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// The routes for the connect page and the OAuth callback, to merge into the host's router at
/// the root of the engine's public URL.
pub fn routes(engine: Engine) -> Router {
    Router::new()
        .route("/connect/{id}", get(connect_page).post(connect_submit))
        .route("/oauth/callback", get(oauth_callback))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .with_state(engine)
}

/// Tells who is calling: the host's own authentication (a session, a bearer token it issued).
///
/// Asynchronous, so that a resolver can look a session or an opaque token up in its own store.
#[async_trait::async_trait]
pub trait PrincipalResolver: Send + Sync {
    /// The principal making this request, or `None` when it is not authenticated.
    async fn resolve(&self, headers: &HeaderMap) -> Option<Principal>;

    /// The URL of the MCP server's protected resource metadata (RFC 9728), where the host
    /// publishes one: the `401` then names it, so that an MCP client can find the
    /// authorization server. `None` by default.
    fn resource_metadata(&self) -> Option<&Url> {
        None
    }
}

/// Middleware: resolves the principal and inserts it into the request's extensions, or answers
/// `401` with a Bearer challenge. Use with `axum::middleware::from_fn_with_state`.
///
/// As RFC 6750 §3.1 asks, the challenge carries `error="invalid_token"` only when the request
/// sent a bearer token; a request without one (no `Authorization` header, or another scheme)
/// gets a bare `Bearer` challenge. Either names the resolver's [`PrincipalResolver::resource_metadata`].
pub async fn require_principal(
    State(resolver): State<Arc<dyn PrincipalResolver>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(principal) = resolver.resolve(request.headers()).await else {
        return unauthorized(request.headers(), resolver.resource_metadata());
    };
    request.extensions_mut().insert(principal);
    next.run(request).await
}

fn unauthorized(headers: &HeaderMap, resource_metadata: Option<&Url>) -> Response {
    let resource_metadata = resource_metadata.map(Url::to_string);
    // Credentials of another scheme (`Basic`) count as none of this one's.
    let sent_bearer = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| {
            value
                .split_once(' ')
                .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        });
    let challenge = if sent_bearer {
        BearerChallenge::invalid_token(resource_metadata)
    } else {
        BearerChallenge::authentication_required(resource_metadata)
    };
    challenge::with_challenge(
        StatusCode::UNAUTHORIZED.into_response(),
        &challenge.to_string(),
    )
}

/// Turns an engine page into a response with its status and headers.
pub fn page_response(page: Page) -> Response {
    let status = StatusCode::from_u16(page.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(Body::from(page.html.clone()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in page.headers() {
        match HeaderValue::from_str(&value) {
            Ok(value) => {
                headers.append(HeaderName::from_static(name), value);
            }
            Err(_) => tracing::warn!(header = name, "dropped a header value that is not valid"),
        }
    }
    response
}

async fn connect_page(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let browser = cookie_value(&headers, engine.browser_cookie_name());
    page_response(engine.connect_page(&id, browser.as_deref()).await)
}

async fn connect_submit(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected a form submission",
        )
            .into_response();
    }
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let browser = cookie_value(&headers, engine.browser_cookie_name());
    page_response(
        engine
            .connect_submit(&id, browser.as_deref(), &fields)
            .await,
    )
}

async fn oauth_callback(
    State(engine): State<Engine>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query.unwrap_or_default();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let params = CallbackParams::from_pairs(
        pairs
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    );
    let browser = cookie_value(&headers, engine.browser_cookie_name());
    page_response(engine.oauth_callback(params, browser.as_deref()).await)
}

/// The value of the cookie `name` in the request's `Cookie` headers.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
}

#[cfg(test)]
mod tests {
    use tower::ServiceExt as _;

    use super::*;

    struct OneToken(Option<Url>);

    #[async_trait::async_trait]
    impl PrincipalResolver for OneToken {
        async fn resolve(&self, headers: &HeaderMap) -> Option<Principal> {
            let value = headers.get(header::AUTHORIZATION)?;
            (value == "Bearer alice-token").then(|| Principal::new("alice").unwrap())
        }

        fn resource_metadata(&self) -> Option<&Url> {
            self.0.as_ref()
        }
    }

    async fn answer(resolver: OneToken, authorization: Option<&str>) -> Response {
        let resolver: Arc<dyn PrincipalResolver> = Arc::new(resolver);
        let app = Router::new()
            .route(
                "/mcp",
                get(|principal: axum::Extension<Principal>| async move {
                    principal.0.subject().to_owned()
                }),
            )
            .layer(axum::middleware::from_fn_with_state(
                resolver,
                require_principal,
            ));
        let mut request = Request::get("/mcp");
        if let Some(authorization) = authorization {
            request = request.header(header::AUTHORIZATION, authorization);
        }
        app.oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_resolved_principal_reaches_the_handler() {
        let response = answer(OneToken(None), Some("Bearer alice-token")).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(&body[..], b"alice");
    }

    #[tokio::test]
    async fn a_request_without_credentials_gets_a_challenge_without_an_error_code() {
        let metadata =
            Url::parse("https://mcp.example.com/.well-known/oauth-protected-resource/mcp").unwrap();
        let response = answer(OneToken(Some(metadata)), None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#
        );

        let response = answer(OneToken(None), None).await;
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");

        let response = answer(OneToken(None), Some("Basic YWxpY2U6c2VjcmV0")).await;
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }

    #[tokio::test]
    async fn a_request_with_unknown_credentials_gets_invalid_token() {
        let response = answer(OneToken(None), Some("bearer mallory-token")).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer error="invalid_token""#
        );
    }

    #[test]
    fn cookies_are_found_among_several_headers() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; scopeup-browser=xyz"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(
            cookie_value(&headers, "scopeup-browser").as_deref(),
            Some("xyz")
        );
        assert_eq!(cookie_value(&headers, "b").as_deref(), Some("2"));
        assert_eq!(cookie_value(&headers, "missing"), None);
    }
}
