//! The Worker example: an MCP server on Cloudflare Workers whose tools get their upstream scopes
//! from scopeup: Cloudflare API tools with the Cloudflare preset (the default), or the demo
//! notes tools with any OAuth provider described by variables ([`tools`]).
//!
//! `POST /mcp` answers MCP over Streamable HTTP without sessions (one JSON-RPC message, one JSON
//! answer); `/connect/{id}` and `/oauth/callback` are scopeup's pages. Every record lives on the
//! `ScopeupStore` Durable Object. The provider, the client credentials, the sealing keys and the
//! MCP clients' tokens come from the Worker's variables and secrets ([`config`]).

pub mod config;
pub mod mcp;
pub mod tools;

#[cfg(target_arch = "wasm32")]
mod entry;

#[cfg(target_arch = "wasm32")]
pub use scopeup_worker::ScopeupStore;
