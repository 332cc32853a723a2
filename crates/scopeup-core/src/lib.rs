//! The vocabulary of scopeup: scopes and scope sets, provider catalogs and templates,
//! `WWW-Authenticate` challenges, refusals and their classification, the elicitation state
//! machine, grants, secret types, and the ports that adapters implement.
//!
//! It has no async runtime and no HTTP stack, and builds for `wasm32-unknown-unknown`. The
//! engine that puts these together is the `scopeup` crate.
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
    HttpResponse, Random, RandomError, Sleep, Store, StoreError,
};
pub use principal::{AccountId, Principal, ProviderId, StoreKey};
pub use refusal::{MissingScope, NotCoverableReason, Refusal, RefusalClassifier, UpstreamCall};
pub use scope::{Scope, ScopeError, ScopeSet};
pub use secret::{AccessToken, AuthorizationCode, ClientSecret, PkceVerifier, RefreshToken};
pub use time::UnixTime;
