//! Cloudflare Worker adapters for scopeup.
//!
//! - `WorkerStore`: the `Store` port on a Durable Object (`ScopeupStore`, one object per
//!   record), for every record: each needs the object's strong consistency and its atomic take
//!   or compare-and-swap, grants included (a refresh must not overwrite a concurrent upgrade, a
//!   revoked grant must stop being used at once), so Workers KV is not used.
//! - `FetchHttpClient`: the `HttpClient` port on the runtime's `fetch`.
//! - `WorkerClock`, `WorkerSleep` and `WorkerRandom`: `Date.now()`, `setTimeout` and
//!   `crypto.getRandomValues`.
//! - `serve`: the connect page and the OAuth callback as Worker routes.
//!
//! The adapters exist on `wasm32` only (build the docs with `--target wasm32-unknown-unknown` to
//! see them); the rest (the Durable Object's [`protocol`] and the [`routes`]) is
//! target-independent and tested natively. Every decision stays in the engine (`scopeup`), which
//! is tested natively as well.
//!
//! A Worker builds the engine on these adapters and lets `serve` answer scopeup's routes. In
//! outline (the adapters exist on wasm32 only, so this outline is not compiled here;
//! `examples/worker/src/entry.rs` in the repository is the complete Worker, built and run in
//! workerd by `cargo xtask worker`):
//!
//! ```text
//! use std::sync::Arc;
//!
//! pub use scopeup_worker::ScopeupStore;
//!
//! #[worker::event(fetch)]
//! async fn fetch(mut request: worker::Request, env: worker::Env, _: worker::Context)
//!     -> worker::Result<worker::Response> {
//!     let store = scopeup_worker::WorkerStore::from_env(&env, "SCOPEUP_STORE")?;
//!     let engine = scopeup::Engine::builder(config, key_ring)
//!         .provider(provider)
//!         .store(Arc::new(store))
//!         .http_client(Arc::new(scopeup_worker::FetchHttpClient::default()))
//!         .clock(Arc::new(scopeup_worker::WorkerClock))
//!         .random(Arc::new(scopeup_worker::WorkerRandom))
//!         .sleep(Arc::new(scopeup_worker::WorkerSleep))
//!         .build()?;
//!     if let Some(response) = scopeup_worker::serve(&engine, &mut request).await? {
//!         return Ok(response);
//!     }
//!     // The host's own routes (MCP at `/mcp`, …).
//!     worker::Response::error("not found", 404)
//! }
//! ```
//!
//! # Features
//!
//! This crate has no optional features.

pub mod protocol;
pub mod routes;

#[cfg(target_arch = "wasm32")]
#[allow(
    missing_docs,
    reason = "`#[durable_object]` adds the class's JavaScript glue methods without docs"
)]
mod durable;
#[cfg(target_arch = "wasm32")]
mod fetch;
#[cfg(target_arch = "wasm32")]
mod pages;
#[cfg(target_arch = "wasm32")]
mod runtime;
#[cfg(target_arch = "wasm32")]
mod store;

#[cfg(target_arch = "wasm32")]
pub use durable::ScopeupStore;
#[cfg(target_arch = "wasm32")]
pub use fetch::{FetchConfig, FetchHttpClient};
#[cfg(target_arch = "wasm32")]
pub use pages::{page_response, serve};
#[cfg(target_arch = "wasm32")]
pub use runtime::{RuntimeError, WorkerClock, WorkerRandom, WorkerSleep};
#[cfg(target_arch = "wasm32")]
pub use store::WorkerStore;
