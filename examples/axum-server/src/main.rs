//! Runs the axum example: `cargo run -p axum-server`, then point an MCP client at
//! `http://127.0.0.1:8080/mcp` with `Authorization: Bearer demo-alice`.

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,scopeup=debug,rmcp=warn")),
        )
        .init();
    axum_server::serve(axum_server::ExampleConfig::parse()).await
}
