//! Serves the demo provider on its own, to try the OAuth flow in a browser or point a client at
//! it: `demo-provider --listen 127.0.0.1:8090`.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use clap::Parser;
use demo_provider::{DemoClient, DemoProvider, DemoProviderConfig};
use tracing_subscriber::EnvFilter;
use url::Url;

/// A small in-memory OAuth 2 authorization server with a scoped notes API.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The address to listen on.
    #[arg(long, env = "DEMO_PROVIDER_LISTEN", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// The issuer URL, if clients reach the server at another address than `http://<listen>`.
    #[arg(long, env = "DEMO_PROVIDER_ISSUER")]
    issuer: Option<Url>,
    /// The id of the one registered client.
    #[arg(long, env = "DEMO_PROVIDER_CLIENT_ID", default_value = "demo-client")]
    client_id: String,
    /// The secret of the one registered client.
    #[arg(
        long,
        env = "DEMO_PROVIDER_CLIENT_SECRET",
        default_value = "demo-secret"
    )]
    client_secret: String,
    /// A redirect URI of the client; repeat for several.
    #[arg(
        long = "redirect-uri",
        env = "DEMO_PROVIDER_REDIRECT_URIS",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8080/oauth/callback"
    )]
    redirect_uris: Vec<Url>,
    /// How long access tokens live, in seconds. Short lifetimes make every client refresh.
    #[arg(long, env = "DEMO_PROVIDER_ACCESS_TOKEN_TTL", default_value_t = 3600)]
    access_token_ttl: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let issuer = match args.issuer {
        Some(issuer) => issuer,
        None => Url::parse(&format!("http://{}", args.listen))
            .context("the listen address does not make an issuer URL")?,
    };
    let client = DemoClient {
        client_id: args.client_id,
        client_secret: args.client_secret,
        redirect_uris: args.redirect_uris,
    };
    let mut config = DemoProviderConfig::with_defaults(issuer.clone(), client);
    config.access_token_ttl = std::time::Duration::from_secs(args.access_token_ttl);
    let provider = DemoProvider::new(config);

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(%issuer, listen = %args.listen, "demo provider ready (alice/alice, bob/bob)");
    // Small answers go out at once: without `TCP_NODELAY`, Nagle's algorithm holds the last
    // segment of a streamed answer until the client's delayed ACK, some 40 ms later.
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, provider.router())
        .with_graceful_shutdown(async {
            // If the signal handler cannot be installed, the server runs until it is killed.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await
        .context("the server stopped with an error")?;
    Ok(())
}
