//! A small, honest OAuth 2 authorization server with a scoped "notes" API, kept in memory, so that
//! scopeup's examples and tests run offline with no account anywhere.
//!
//! The provider does the authorization code flow with PKCE S256 (required), a sign-in form, a
//! consent page on which the user can untick scopes, single-use codes, rotating single-use
//! refresh tokens, RFC 7009 revocation, RFC 8414 metadata and the RFC 9207 `iss` parameter.
//! Its API answers a missing scope with a standard `insufficient_scope` challenge, which is what
//! scopeup classifies.
//!
//! Mount [`DemoProvider::router`] where [`DemoProviderConfig::issuer`] says it lives:
//!
//! ```
//! use demo_provider::{DemoClient, DemoProvider, DemoProviderConfig};
//! use url::Url;
//!
//! # fn main() -> Result<(), url::ParseError> {
//! let issuer = Url::parse("http://127.0.0.1:8080/demo")?;
//! let redirect_uri = Url::parse("http://127.0.0.1:8080/oauth/callback")?;
//! let client = DemoClient::new("example", "example-secret", redirect_uri);
//! let provider = DemoProvider::new(DemoProviderConfig::with_defaults(issuer, client));
//!
//! let app: axum::Router = axum::Router::new().nest("/demo", provider.router());
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! # Routes
//!
//! Relative to the mount point:
//!
//! | route | what it does |
//! | --- | --- |
//! | `GET /.well-known/oauth-authorization-server` | RFC 8414 metadata |
//! | `GET /.well-known/openid-configuration` | the same document |
//! | `GET /authorize` | checks the request, shows the sign-in form or the consent page |
//! | `POST /login`, `GET /logout` | signs a browser in (cookie `demo_session`) or out |
//! | `POST /consent` | Allow or Deny; redirects to the client with `code`, `state`, `iss` |
//! | `POST /token` | `authorization_code` and `refresh_token` grants |
//! | `POST /revoke` | RFC 7009 revocation |
//! | `GET /userinfo` | `sub`, `preferred_username` and `name` of the token's user |
//! | `GET /api/notes` | the user's notes, with `notes:read` |
//! | `POST /api/notes` | creates a note, with `notes:write` |
//! | `DELETE /api/notes/{id}` | deletes a note, with `notes:delete` |
//!
//! # Limits
//!
//! Everything lives in one mutex and disappears with the process. Every client is confidential:
//! public clients and dynamic registration are not supported. No ID token is issued, even though
//! the metadata is also served at the OpenID discovery path. The metadata lives under the mount
//! point (`{issuer}/.well-known/…`), not at the RFC 8414 location that inserts the well-known
//! segment before the issuer's path.

mod api;
mod authorize;
mod config;
mod form;
mod metadata;
mod pages;
mod scope;
mod secret;
mod settings;
mod state;
mod token;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use axum::Router;
use axum::routing::{delete, get, post};
use url::Url;

pub use crate::api::Note;
pub use crate::config::{DemoClient, DemoProviderConfig, DemoScope, DemoUser, SCOPES};

use crate::scope::ScopeList;
use crate::secret::Key;
use crate::settings::Settings;
use crate::state::{Grantee, State, expiry};

/// Why [`DemoProvider::issue_access_token`] issued nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// No demo user has that name.
    #[error("no demo user has that name")]
    UnknownUser,
    /// A scope is not one of the demo provider's.
    #[error("a scope is not one of the demo provider's")]
    UnknownScope,
    /// The system's random source failed.
    #[error("the system's random source failed")]
    RandomUnavailable,
}

/// The demo authorization server and notes API. Cheap to clone: clones share one state.
#[derive(Clone, Debug)]
pub struct DemoProvider {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: Settings,
    state: Mutex<State>,
}

impl DemoProvider {
    /// A provider with the given configuration, whose user `alice` has one note, "Welcome".
    pub fn new(config: DemoProviderConfig) -> Self {
        let mut state = State::default();
        let welcome = Note {
            id: state.new_note_id(),
            title: "Welcome".to_owned(),
            body: "This is your first note at the demo provider.".to_owned(),
        };
        state.notes.insert("alice".to_owned(), vec![welcome]);

        let inner = Inner {
            settings: Settings::new(config),
            state: Mutex::new(state),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The issuer this provider was configured with.
    pub fn issuer(&self) -> &Url {
        &self.inner.settings.issuer_url
    }

    /// The provider's routes, relative to its mount point.
    ///
    /// Serve them where the issuer says, e.g. `Router::new().nest("/demo", provider.router())`
    /// for an issuer of `http://host/demo`, or as the whole app for an issuer with no path.
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                get(metadata::document),
            )
            .route("/.well-known/openid-configuration", get(metadata::document))
            .route("/authorize", get(authorize::authorize))
            .route("/login", post(authorize::login))
            .route("/logout", get(authorize::logout))
            .route("/consent", post(authorize::consent))
            .route("/token", post(token::token))
            .route("/revoke", post(token::revoke))
            .route("/userinfo", get(api::userinfo))
            .route("/api/notes", get(api::list_notes).post(api::create_note))
            .route("/api/notes/{id}", delete(api::delete_note))
            .with_state(self.clone())
    }

    /// How many tokens `/revoke` revoked: one for each request that named a live token of the
    /// requesting client, however many tokens of the same grant went with it.
    pub fn revoked_tokens(&self) -> usize {
        self.lock().revoked_tokens
    }

    /// How many `/token` requests of this grant type succeeded.
    pub fn token_requests(&self, grant_type: &str) -> usize {
        let state = self.lock();
        state
            .successful_token_requests
            .get(grant_type)
            .copied()
            .unwrap_or_default()
    }

    /// Whether this access token is live: issued, not expired and not revoked.
    pub fn is_access_token_active(&self, token: &str) -> bool {
        let now = SystemTime::now();
        self.lock()
            .active_access_token(&Key::of(token), now)
            .is_some()
    }

    /// Revokes every access token of a user, leaving refresh tokens alone, as a provider does
    /// when it ends access early (a password change, an admin action). Returns how many.
    pub fn revoke_access_tokens_of(&self, username: &str) -> usize {
        let mut state = self.lock();
        let before = state.access_tokens.len();
        state
            .access_tokens
            .retain(|_, record| record.username != username);
        before - state.access_tokens.len()
    }

    /// Revokes every token of a user, refresh tokens included, as when the user removes the
    /// client's access at the provider. Returns how many live tokens were revoked.
    pub fn revoke_all_tokens_of(&self, username: &str) -> usize {
        let mut revoked = self.revoke_access_tokens_of(username);
        let mut state = self.lock();
        for record in state.refresh_tokens.values_mut() {
            if record.username == username && record.active {
                record.active = false;
                revoked += 1;
            }
        }
        revoked
    }

    /// Issues an access token for `username` with `scopes` (space-separated) directly, with no
    /// authorization and no refresh token, as a benchmark's baseline or a test seeds the
    /// provider. It lives as long as the configured access token lifetime.
    pub fn issue_access_token(
        &self,
        username: &str,
        client_id: &str,
        scopes: &str,
    ) -> Result<String, IssueError> {
        if self.settings().user(username).is_none() {
            return Err(IssueError::UnknownUser);
        }
        let scopes = ScopeList::parse(scopes).map_err(|_| IssueError::UnknownScope)?;
        let now = SystemTime::now();

        let mut state = self.lock();
        let grantee = Grantee {
            username: username.to_owned(),
            client_id: client_id.to_owned(),
            grant: state.new_grant(),
        };
        let expires_at = expiry(now, self.settings().access_token_ttl);
        // An empty grant scope list: no `offline_access`, so no refresh token.
        let issued = state
            .issue_tokens(&grantee, scopes, &ScopeList::default(), expires_at)
            .map_err(|_| IssueError::RandomUnavailable)?;
        Ok(issued.access_token.into_exposed())
    }

    /// The notes of a user, oldest first.
    pub fn notes_of(&self, username: &str) -> Vec<Note> {
        self.lock().notes.get(username).cloned().unwrap_or_default()
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Locks the state for one step of a request.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held leaves records that are each whole (every step
        // finishes its inserts before it can fail), so the state stays usable.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
