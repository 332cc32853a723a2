//! What scopeup holds for one principal at one provider.
//!
//! A grant records everything a refresh needs after a restart (absolute expiry, issuer, token
//! endpoint), the account it belongs to, and what was granted as opposed to requested.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::principal::AccountId;
use crate::scope::ScopeSet;
use crate::secret::{AccessToken, RefreshToken};
use crate::time::UnixTime;

/// Tokens and their facts for one principal at one provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The access token.
    pub access_token: AccessToken,
    /// The refresh token, where the provider issued one.
    pub refresh_token: Option<RefreshToken>,
    /// The scopes the provider granted (from the token response; RFC 6749 §5.1).
    pub scopes: ScopeSet,
    /// The scopes the last authorization asked for, granted or not.
    pub requested: ScopeSet,
    /// When the access token expires, where the provider said.
    pub expires_at: Option<UnixTime>,
    /// The authorization server's issuer identifier, where known.
    pub issuer: Option<String>,
    /// The token endpoint that issued the tokens, for refreshes after a restart.
    pub token_endpoint: url::Url,
    /// The upstream account the tokens belong to.
    pub account: AccountId,
    /// When the grant was obtained.
    pub obtained_at: UnixTime,
    /// What this grant replaced, if it was an upgrade.
    pub replaces: Option<Superseded>,
}

/// A record of the grant an upgrade replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Superseded {
    /// The scopes it held.
    pub scopes: ScopeSet,
    /// When it was obtained.
    pub obtained_at: UnixTime,
    /// Whether its tokens were revoked upstream.
    pub revoked: bool,
}

impl Grant {
    /// Whether the access token has expired, or will within `margin`.
    pub fn expires_within(&self, now: UnixTime, margin: Duration) -> bool {
        self.expires_at
            .is_some_and(|expires_at| now.saturating_add(margin) >= expires_at)
    }

    /// The scopes of `needed` this grant does not hold.
    pub fn missing(&self, needed: &ScopeSet) -> ScopeSet {
        needed.difference(&self.scopes)
    }
}
