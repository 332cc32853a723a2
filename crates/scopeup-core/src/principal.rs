//! Who a grant belongs to: the MCP principal, its upstream account, and the provider, plus the
//! hashed store keys derived from them.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The longest subject, account id or provider id accepted, in bytes.
pub const MAX_ID_LEN: usize = 512;

/// The authenticated MCP user, as the host knows it. Built only through [`Principal::new`],
/// which checks the subject; it is not deserialized.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    subject: String,
    upstream_account: Option<AccountId>,
}

impl Principal {
    /// A principal known only by its opaque subject. The engine refuses to store its first
    /// grant, because nothing says whose account came back, unless
    /// `EngineConfig::dangerous_trust_first_connect` is set: then the first account seen is
    /// trusted, and every later upgrade must come back as that account. Bind the account with
    /// [`Principal::with_upstream_account`] wherever the host knows it.
    pub fn new(subject: impl Into<String>) -> Result<Self, IdError> {
        let subject = subject.into();
        check_id(&subject)?;
        Ok(Self {
            subject,
            upstream_account: None,
        })
    }

    /// Binds the principal to the upstream account the host already knows it as, because the
    /// host logs users in through the same provider. Upgrades that come back as any other
    /// account are refused.
    pub fn with_upstream_account(mut self, account: AccountId) -> Self {
        self.upstream_account = Some(account);
        self
    }

    /// The opaque subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The upstream account the host bound the principal to, if any.
    pub fn upstream_account(&self) -> Option<&AccountId> {
        self.upstream_account.as_ref()
    }
}

/// The id of an account at a provider (GitHub's numeric user id, Google's `sub`, …).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

impl AccountId {
    /// Parses an account id: non-empty, at most [`MAX_ID_LEN`] bytes, no control characters.
    pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
        let id = id.into();
        check_id(&id)?;
        Ok(Self(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({:?})", self.0)
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for AccountId {
    type Error = IdError;

    fn try_from(id: String) -> Result<Self, Self::Error> {
        Self::new(id)
    }
}

impl From<AccountId> for String {
    fn from(id: AccountId) -> Self {
        id.0
    }
}

/// The name a host gives a provider (`github`, `demo`, …): lowercase ASCII letters, digits, `-`
/// and `_`, at most 64 bytes. It appears in store keys and URLs.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderId(String);

impl ProviderId {
    /// Parses a provider id.
    pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
        let id = id.into();
        let valid = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_".contains(&b));
        if !valid {
            return Err(IdError::InvalidProviderId);
        }
        Ok(Self(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProviderId({:?})", self.0)
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ProviderId {
    type Error = IdError;

    fn try_from(id: String) -> Result<Self, Self::Error> {
        Self::new(id)
    }
}

impl From<ProviderId> for String {
    fn from(id: ProviderId) -> Self {
        id.0
    }
}

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The identifier was empty.
    #[error("identifier is empty")]
    Empty,
    /// The identifier was longer than [`MAX_ID_LEN`].
    #[error("identifier is longer than {MAX_ID_LEN} bytes")]
    TooLong,
    /// The identifier held a control character.
    #[error("identifier holds a control character")]
    ControlCharacter,
    /// A provider id held something other than lowercase letters, digits, `-` and `_`.
    #[error("provider ids are 1 to 64 lowercase letters, digits, `-` or `_`")]
    InvalidProviderId,
}

/// A key in the [`Store`](crate::ports::Store). Keys are hashes of the values they stand for,
/// so a dump of any backend holds no subject, account or elicitation id.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StoreKey(String);

impl StoreKey {
    /// The key of a record of kind `namespace` identified by `parts`. Parts are length-prefixed
    /// before hashing, so `("ab", "c")` and `("a", "bc")` never collide.
    pub fn hashed(namespace: &str, parts: &[&str]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(namespace.as_bytes());
        for part in parts {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        Self(format!(
            "scopeup:{namespace}:{}",
            URL_SAFE_NO_PAD.encode(hasher.finalize())
        ))
    }

    /// A key taken as given. Adapters' conformance tests use it for unusual keys; the engine
    /// always uses [`StoreKey::hashed`].
    pub fn raw(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreKey({:?})", self.0)
    }
}

impl fmt::Display for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if id.len() > MAX_ID_LEN {
        return Err(IdError::TooLong);
    }
    if id.chars().any(char::is_control) {
        return Err(IdError::ControlCharacter);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_keys_hide_their_parts_and_do_not_collide() {
        let key = StoreKey::hashed("grant", &["alice", "github"]);
        assert!(key.as_str().starts_with("scopeup:grant:"));
        assert!(!key.as_str().contains("alice"));
        assert_ne!(
            StoreKey::hashed("g", &["ab", "c"]),
            StoreKey::hashed("g", &["a", "bc"])
        );
        assert_eq!(key, StoreKey::hashed("grant", &["alice", "github"]));
    }

    #[test]
    fn identifiers_are_checked() {
        assert!(Principal::new("alice").is_ok());
        assert_eq!(Principal::new(""), Err(IdError::Empty));
        assert_eq!(AccountId::new("a\nb"), Err(IdError::ControlCharacter));
        assert!(ProviderId::new("github").is_ok());
        assert_eq!(ProviderId::new("GitHub"), Err(IdError::InvalidProviderId));
        assert_eq!(ProviderId::new("a/b"), Err(IdError::InvalidProviderId));
    }
}
