//! The provider's whole memory: browser sessions, pending authorization requests, codes, tokens,
//! notes and the counters tests read. Nothing is persisted.
//!
//! Every map is keyed by the digest of the secret that names the record (see [`crate::secret`]).
//! Callers hold the provider's mutex for the duration of one request step and never across an
//! `.await`.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use url::Url;

use crate::api::Note;
use crate::scope::ScopeList;
use crate::secret::{Key, RandomUnavailable, Secret};

/// How long a sign-in session lasts.
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(8 * 60 * 60);

/// How long an authorization request may wait for the user's sign-in and consent.
pub(crate) const PENDING_REQUEST_TTL: Duration = Duration::from_secs(10 * 60);

/// How long an authorization code can be redeemed.
pub(crate) const CODE_TTL: Duration = Duration::from_secs(60);

/// How long a redeemed or expired code is remembered, so that a replay is recognised and the
/// tokens issued from it are revoked.
const CODE_MEMORY: Duration = Duration::from_secs(10 * 60);

/// The longest lifetime anything gets, so that adding a configured lifetime to the clock cannot
/// overflow: about a hundred years.
const LONGEST_LIFETIME: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The provider's records.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Browser sessions, by the digest of the `demo_session` cookie.
    pub(crate) sessions: HashMap<Key, Session>,
    /// Authorization requests waiting for sign-in or consent, by the digest of their id.
    pub(crate) pending: HashMap<Key, PendingRequest>,
    /// Authorization codes, redeemed or not, by the digest of the code.
    pub(crate) codes: HashMap<Key, CodeRecord>,
    /// Live access tokens, by the digest of the token.
    pub(crate) access_tokens: HashMap<Key, AccessRecord>,
    /// Refresh tokens, live or spent, by the digest of the token.
    pub(crate) refresh_tokens: HashMap<Key, RefreshRecord>,
    /// The notes of each user, by username.
    pub(crate) notes: HashMap<String, Vec<Note>>,
    /// The last grant id handed out.
    last_grant_id: u64,
    /// The last note id handed out.
    last_note_id: u64,
    /// How many tokens `/revoke` revoked.
    pub(crate) revoked_tokens: usize,
    /// How many `/token` requests succeeded, by grant type.
    pub(crate) successful_token_requests: HashMap<&'static str, usize>,
}

/// A signed-in browser.
#[derive(Debug)]
pub(crate) struct Session {
    /// Who signed in.
    pub(crate) username: String,
    /// When the session ends.
    pub(crate) expires_at: SystemTime,
}

/// A validated authorization request waiting for the user.
#[derive(Clone, Debug)]
pub(crate) struct PendingRequest {
    /// The client that asked.
    pub(crate) client_id: String,
    /// Where the answer goes; one of the client's registered URIs.
    pub(crate) redirect_uri: Url,
    /// Whether the request named the redirect URI (then the token request must name it too).
    pub(crate) redirect_uri_given: bool,
    /// The scopes asked for.
    pub(crate) scopes: ScopeList,
    /// The client's `state`, echoed back.
    pub(crate) state: Option<String>,
    /// The PKCE S256 challenge.
    pub(crate) code_challenge: String,
    /// The session allowed to answer the consent form, once someone signed in.
    pub(crate) session: Option<Key>,
    /// When the request is forgotten.
    pub(crate) expires_at: SystemTime,
}

/// An authorization code and what it stands for.
#[derive(Debug)]
pub(crate) struct CodeRecord {
    /// The client the code was issued to.
    pub(crate) client_id: String,
    /// The redirect URI of the authorization request.
    pub(crate) redirect_uri: Url,
    /// Whether the authorization request named the redirect URI.
    pub(crate) redirect_uri_given: bool,
    /// The PKCE S256 challenge of the authorization request.
    pub(crate) code_challenge: String,
    /// Who consented.
    pub(crate) username: String,
    /// What the user granted.
    pub(crate) scopes: ScopeList,
    /// When the code stops being redeemable.
    pub(crate) expires_at: SystemTime,
    /// The grant made when the code was first presented; a second presentation revokes it.
    pub(crate) redeemed: Option<GrantId>,
}

/// The family of tokens issued from one authorization code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GrantId(u64);

/// A live access token.
#[derive(Debug)]
pub(crate) struct AccessRecord {
    /// Whose token it is.
    pub(crate) username: String,
    /// The client it was issued to.
    pub(crate) client_id: String,
    /// What it allows.
    pub(crate) scopes: ScopeList,
    /// When it stops working.
    pub(crate) expires_at: SystemTime,
    /// The grant it belongs to.
    pub(crate) grant: GrantId,
}

/// A refresh token, live or already rotated away.
#[derive(Debug)]
pub(crate) struct RefreshRecord {
    /// Whose token it is.
    pub(crate) username: String,
    /// The client it was issued to.
    pub(crate) client_id: String,
    /// The scopes of the grant; a refresh may narrow but never widen them.
    pub(crate) scopes: ScopeList,
    /// The grant it belongs to.
    pub(crate) grant: GrantId,
    /// Whether it can still be used: false once rotated or revoked.
    pub(crate) active: bool,
}

/// What a grant is issued to, for [`State::issue_tokens`].
#[derive(Debug)]
pub(crate) struct Grantee {
    /// Whose tokens they are.
    pub(crate) username: String,
    /// The client they are issued to.
    pub(crate) client_id: String,
    /// The grant they belong to.
    pub(crate) grant: GrantId,
}

/// Tokens freshly issued by [`State::issue_tokens`].
#[derive(Debug)]
pub(crate) struct IssuedTokens {
    /// The new access token.
    pub(crate) access_token: Secret,
    /// The new refresh token, when the grant includes `offline_access`.
    pub(crate) refresh_token: Option<Secret>,
    /// The scopes of the access token.
    pub(crate) scopes: ScopeList,
}

impl State {
    /// Starts a new grant family.
    pub(crate) fn new_grant(&mut self) -> GrantId {
        self.last_grant_id += 1;
        GrantId(self.last_grant_id)
    }

    /// Gives out the next note id.
    pub(crate) fn new_note_id(&mut self) -> u64 {
        self.last_note_id += 1;
        self.last_note_id
    }

    /// Issues an access token with `access_scopes`, and a refresh token carrying `grant_scopes`
    /// when those include `offline_access`.
    pub(crate) fn issue_tokens(
        &mut self,
        grantee: &Grantee,
        access_scopes: ScopeList,
        grant_scopes: &ScopeList,
        access_expires_at: SystemTime,
    ) -> Result<IssuedTokens, RandomUnavailable> {
        let access_token = Secret::generate()?;
        let refresh_token = match grant_scopes.contains("offline_access") {
            true => Some(Secret::generate()?),
            false => None,
        };

        let access_record = AccessRecord {
            username: grantee.username.clone(),
            client_id: grantee.client_id.clone(),
            scopes: access_scopes.clone(),
            expires_at: access_expires_at,
            grant: grantee.grant,
        };
        self.access_tokens.insert(access_token.key(), access_record);
        if let Some(refresh_token) = &refresh_token {
            let refresh_record = RefreshRecord {
                username: grantee.username.clone(),
                client_id: grantee.client_id.clone(),
                scopes: grant_scopes.clone(),
                grant: grantee.grant,
                active: true,
            };
            self.refresh_tokens
                .insert(refresh_token.key(), refresh_record);
        }

        Ok(IssuedTokens {
            access_token,
            refresh_token,
            scopes: access_scopes,
        })
    }

    /// Revokes every access and refresh token of a grant.
    pub(crate) fn revoke_grant(&mut self, grant: GrantId) {
        self.access_tokens.retain(|_, record| record.grant != grant);
        for record in self.refresh_tokens.values_mut() {
            if record.grant == grant {
                record.active = false;
            }
        }
    }

    /// The live access token with this digest, if it has not expired.
    pub(crate) fn active_access_token(&self, key: &Key, now: SystemTime) -> Option<&AccessRecord> {
        self.access_tokens
            .get(key)
            .filter(|record| now < record.expires_at)
    }

    /// The session with this digest, if it has not ended.
    pub(crate) fn active_session(&self, key: &Key, now: SystemTime) -> Option<&Session> {
        self.sessions
            .get(key)
            .filter(|session| now < session.expires_at)
    }

    /// The pending request with this digest, if it has not expired.
    pub(crate) fn active_pending(
        &mut self,
        key: &Key,
        now: SystemTime,
    ) -> Option<&mut PendingRequest> {
        self.pending
            .get_mut(key)
            .filter(|request| now < request.expires_at)
    }

    /// Counts one successful token request.
    pub(crate) fn count_token_request(&mut self, grant_type: &'static str) {
        *self
            .successful_token_requests
            .entry(grant_type)
            .or_default() += 1;
    }

    /// Forgets what has expired: sessions, pending requests, access tokens, and codes once they
    /// are past the window in which a replay is still recognised.
    pub(crate) fn prune(&mut self, now: SystemTime) {
        self.sessions.retain(|_, session| now < session.expires_at);
        self.pending.retain(|_, request| now < request.expires_at);
        self.access_tokens
            .retain(|_, record| now < record.expires_at);
        self.codes
            .retain(|_, record| now < expiry(record.expires_at, CODE_MEMORY));
    }
}

/// The moment `lifetime` after `now`, with lifetimes capped at about a hundred years.
pub(crate) fn expiry(now: SystemTime, lifetime: Duration) -> SystemTime {
    now.checked_add(capped_lifetime(lifetime)).unwrap_or(now)
}

/// A lifetime capped at about a hundred years, as [`expiry`] applies it.
pub(crate) fn capped_lifetime(lifetime: Duration) -> Duration {
    lifetime.min(LONGEST_LIFETIME)
}
