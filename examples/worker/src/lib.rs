//! The Worker example: an MCP server on Cloudflare Workers whose notes tools get their upstream
//! scopes from scopeup.
//!
//! `POST /mcp` answers MCP over Streamable HTTP without sessions (one JSON-RPC message, one JSON
//! answer); `/connect/{id}` and `/oauth/callback` are scopeup's pages. Elicitations, OAuth state
//! and the other single-use records live on the `ScopeupStore` Durable Object, grants on Workers
//! KV. The provider, the client credentials, the sealing keys and the MCP clients' tokens come
//! from the Worker's variables and secrets ([`config`]).

pub mod config;
pub mod mcp;

#[cfg(target_arch = "wasm32")]
mod entry;

#[cfg(target_arch = "wasm32")]
pub use scopeup_worker::ScopeupStore;
