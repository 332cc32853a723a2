//! The vocabulary of scopeup: scopes and scope sets, provider catalogs and templates,
//! `WWW-Authenticate` challenges, refusals and their classification, the elicitation state
//! machine, grants, secret types, and the ports that adapters implement.
//!
//! It has no async runtime and no HTTP stack, and builds for `wasm32-unknown-unknown`. The
//! engine that puts these together is the `scopeup` crate.
//!
//! A refusal is classified from the upstream answer alone, in trusted code:
//!
//! ```
//! use scopeup_core::refusal::BearerClassifier;
//! use scopeup_core::{HttpResponse, Refusal, RefusalClassifier, ScopeSet};
//!
//! // An RFC 6750 API refusing a token that lacks `notes:write`.
//! let response = HttpResponse::new(403).with_header(
//!     "WWW-Authenticate",
//!     r#"Bearer error="insufficient_scope", scope="notes:write""#,
//! );
//! let held = ScopeSet::parse("notes:read")?;
//!
//! let Refusal::MissingScope(missing) = BearerClassifier::default().classify(&response, &held)
//! else {
//!     panic!("a missing scope");
//! };
//! assert_eq!(missing.needed, ScopeSet::parse("notes:write")?);
//! # Ok::<(), scopeup_core::ScopeError>(())
//! ```
//!
//! # Features
//!
//! This crate has no optional features.

pub mod catalog;
pub mod elicitation;
pub mod grant;
pub mod ports;
pub mod principal;
pub mod refusal;
pub mod scope;
pub mod secret;
pub mod time;
pub mod www_authenticate;

pub use catalog::{
    Catalog, CatalogError, CatalogSpec, ScopeLimitExceeded, Template, UpgradeInputs,
};
pub use elicitation::{
    Elicitation, ElicitationEvent, ElicitationId, ElicitationState, FailureReason,
};
pub use grant::Grant;
pub use ports::{
    AuditEvent, AuditKind, AuditSink, Clock, HttpClient, HttpError, HttpMethod, HttpRequest,
    HttpResponse, Random, RandomError, Sleep, Store, StoreError, is_loopback, is_safe_for_secrets,
};
pub use principal::{AccountId, Principal, ProviderId, StoreKey};
pub use refusal::{MissingScope, NotCoverableReason, Refusal, RefusalClassifier, UpstreamCall};
pub use scope::{Scope, ScopeError, ScopeSet};
pub use secret::{AccessToken, AuthorizationCode, ClientSecret, PkceVerifier, RefreshToken};
pub use time::UnixTime;
