//! The Worker's `fetch` handler: configuration from the environment, the engine on the Workers
//! adapters, scopeup's pages, and MCP at `/mcp`.

use std::sync::Arc;

use scopeup::{Engine, EngineConfig};
use scopeup_core::HttpClient;
use scopeup_worker::{FetchHttpClient, WorkerClock, WorkerRandom, WorkerSleep, WorkerStore};
use worker::{Context, Env, Headers, Request, Response, event};

use crate::config::Settings;
use crate::mcp::McpServer;

/// The Durable Object namespace binding of the store.
const STORE_BINDING: &str = "SCOPEUP_STORE";

#[event(fetch)]
async fn fetch(mut request: Request, env: Env, _context: Context) -> worker::Result<Response> {
    let settings = match Settings::from_lookup(|name| lookup(&env, name)) {
        Ok(settings) => settings,
        Err(error) => {
            worker::console_error!("configuration: {error}");
            return Response::error("the server is misconfigured; see its log", 500);
        }
    };

    let http = FetchHttpClient::default();
    let mut config = EngineConfig::new(settings.public_url.clone(), "scopeup Worker example");
    config.dangerous_allow_http_loopback = settings.dangerous_allow_http_loopback;
    let provider = match settings.provider(&http, config.redirect_uri()).await {
        Ok(provider) => provider,
        Err(error) => {
            worker::console_error!("provider: {error}");
            return Response::error("the provider is unavailable or misconfigured", 502);
        }
    };
    let http: Arc<dyn HttpClient> = Arc::new(http);
    let store = WorkerStore::from_env(&env, STORE_BINDING)?;
    let engine = Engine::builder(config, settings.key_ring.clone())
        .provider(provider)
        .store(Arc::new(store))
        .http_client(http.clone())
        .clock(Arc::new(WorkerClock))
        .random(Arc::new(WorkerRandom))
        .sleep(Arc::new(WorkerSleep))
        .build();
    let engine = match engine {
        Ok(engine) => engine,
        Err(error) => {
            worker::console_error!("engine: {error}");
            return Response::error("the server is misconfigured; see its log", 500);
        }
    };

    if let Some(response) = scopeup_worker::serve(&engine, &mut request).await? {
        return Ok(response);
    }
    match request.path().as_str() {
        "/mcp" => mcp(&settings, &engine, http.as_ref(), &mut request).await,
        "/" => Response::ok("scopeup Worker example: MCP at /mcp\n"),
        _ => Response::error("not found", 404),
    }
}

async fn mcp(
    settings: &Settings,
    engine: &Engine,
    http: &dyn HttpClient,
    request: &mut Request,
) -> worker::Result<Response> {
    if request.method() != worker::Method::Post {
        let headers = Headers::new();
        headers.set("allow", "POST")?;
        return Ok(Response::error("this server answers POST only", 405)?.with_headers(headers));
    }
    let authorization = request.headers().get("authorization")?;
    let Some(principal) = settings.tokens.principal(authorization.as_deref()) else {
        let headers = Headers::new();
        headers.set("www-authenticate", "Bearer error=\"invalid_token\"")?;
        return Ok(Response::error("unauthorized", 401)?.with_headers(headers));
    };

    let protocol = request.headers().get("mcp-protocol-version")?;
    let body = request.bytes().await?;
    let provider = settings
        .provider_id()
        .map_err(|error| worker::Error::RustError(error.to_string()))?;
    let server = McpServer {
        engine,
        http,
        clock: &WorkerClock,
        state_key: &settings.request_state_key,
        provider,
        tools: settings.tools,
        api_base: &settings.api_base,
    };
    let answer = server.handle(&principal, protocol.as_deref(), &body).await;

    let headers = Headers::new();
    headers.set("cache-control", "no-store")?;
    let response = match answer.body {
        Some(body) => {
            headers.set("content-type", "application/json")?;
            Response::from_bytes(body.into_bytes())?
        }
        None => Response::empty()?,
    };
    Ok(response.with_status(answer.status).with_headers(headers))
}

/// A secret or a plain-text variable of the Worker.
fn lookup(env: &Env, name: &str) -> Option<String> {
    if let Ok(secret) = env.secret(name) {
        return Some(secret.to_string());
    }
    env.var(name).ok().map(|var| var.to_string())
}
