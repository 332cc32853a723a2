//! OAuth scope tokens and sets of them (RFC 6749 §3.3).
//!
//! A [`Scope`] is one validated `scope-token`; a [`ScopeSet`] is an ordered set of them with the
//! set algebra the scope math needs. Both parse, so holding one means the text was checked.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest scope token accepted, in bytes. Real scopes are far shorter (Google's longest is
/// about 80); the cap keeps hostile input from growing stored records.
pub const MAX_SCOPE_LEN: usize = 256;

/// The most scopes a single set may hold when parsed from untrusted text.
pub const MAX_SCOPES: usize = 512;

/// One OAuth scope token: non-empty, at most [`MAX_SCOPE_LEN`] bytes, and made only of the
/// characters RFC 6749 §3.3 allows (`%x21 / %x23-5B / %x5D-7E`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope(String);

impl Scope {
    /// Parses one scope token.
    pub fn new(text: impl Into<String>) -> Result<Self, ScopeError> {
        let text = text.into();
        if text.is_empty() {
            return Err(ScopeError::Empty);
        }
        if text.len() > MAX_SCOPE_LEN {
            return Err(ScopeError::TooLong { len: text.len() });
        }
        if let Some(position) = text.bytes().position(|byte| !is_scope_char(byte)) {
            return Err(ScopeError::InvalidCharacter { position });
        }
        Ok(Self(text))
    }

    /// The scope token as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::new(text)
    }
}

impl AsRef<str> for Scope {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::new(text).map_err(serde::de::Error::custom)
    }
}

/// Why a text is not a scope token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// The token was empty.
    #[error("a scope must not be empty")]
    Empty,
    /// The token was longer than [`MAX_SCOPE_LEN`].
    #[error("a scope of {len} bytes is longer than the limit of {MAX_SCOPE_LEN}")]
    TooLong {
        /// The length seen.
        len: usize,
    },
    /// The token held a character RFC 6749 does not allow.
    #[error("a scope holds a character that is not allowed at byte {position}")]
    InvalidCharacter {
        /// The byte offset of the first offending character.
        position: usize,
    },
    /// A set held more than [`MAX_SCOPES`] scopes.
    #[error("more than {MAX_SCOPES} scopes in one set")]
    TooMany,
}

/// An ordered set of scopes. Its text form is the scopes joined by single spaces, the form of the
/// OAuth `scope` parameter.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a space-delimited `scope` value. Runs of whitespace are tolerated, since providers
    /// are not all strict about it; an empty text is the empty set.
    pub fn parse(text: &str) -> Result<Self, ScopeError> {
        Self::parse_delimited(text, |c: char| c.is_ascii_whitespace())
    }

    /// Parses a scope list whose items are separated by `is_separator` (GitHub's
    /// `X-OAuth-Scopes`, for one, uses commas).
    pub fn parse_delimited(
        text: &str,
        is_separator: impl Fn(char) -> bool,
    ) -> Result<Self, ScopeError> {
        let mut scopes = BTreeSet::new();
        for item in text
            .split(is_separator)
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            if scopes.len() >= MAX_SCOPES {
                return Err(ScopeError::TooMany);
            }
            scopes.insert(Scope::new(item)?);
        }
        Ok(Self(scopes))
    }

    /// Builds a set from scopes already parsed.
    pub fn from_scopes(scopes: impl IntoIterator<Item = Scope>) -> Self {
        Self(scopes.into_iter().collect())
    }

    /// How many scopes the set holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set holds no scope.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `scope` is in the set.
    pub fn contains(&self, scope: &Scope) -> bool {
        self.0.contains(scope)
    }

    /// Whether every scope of `other` is in this set.
    pub fn is_superset(&self, other: &ScopeSet) -> bool {
        self.0.is_superset(&other.0)
    }

    /// The scopes in either set.
    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.union(&other.0).cloned().collect())
    }

    /// The scopes of this set that are not in `other`.
    pub fn difference(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.difference(&other.0).cloned().collect())
    }

    /// The scopes in both sets.
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.intersection(&other.0).cloned().collect())
    }

    /// Adds one scope; returns whether it was new.
    pub fn insert(&mut self, scope: Scope) -> bool {
        self.0.insert(scope)
    }

    /// The scopes in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Scope> + '_ {
        self.0.iter()
    }
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.iter()).finish()
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, scope) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

impl FromStr for ScopeSet {
    type Err = ScopeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Self::from_scopes(iter)
    }
}

impl Extend<Scope> for ScopeSet {
    fn extend<I: IntoIterator<Item = Scope>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl<'a> IntoIterator for &'a ScopeSet {
    type Item = &'a Scope;
    type IntoIter = std::collections::btree_set::Iter<'a, Scope>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for ScopeSet {
    type Item = Scope;
    type IntoIter = std::collections::btree_set::IntoIter<Scope>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl Serialize for ScopeSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter())
    }
}

impl<'de> Deserialize<'de> for ScopeSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let scopes = Vec::<Scope>::deserialize(deserializer)?;
        if scopes.len() > MAX_SCOPES {
            return Err(serde::de::Error::custom(ScopeError::TooMany));
        }
        Ok(Self(scopes.into_iter().collect()))
    }
}

fn is_scope_char(byte: u8) -> bool {
    matches!(byte, 0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str) -> ScopeSet {
        ScopeSet::parse(text).unwrap()
    }

    #[test]
    fn scope_tokens_follow_rfc_6749() {
        assert!(Scope::new("notes:read").is_ok());
        assert!(Scope::new("https://www.googleapis.com/auth/drive.file").is_ok());
        assert_eq!(Scope::new(""), Err(ScopeError::Empty));
        assert_eq!(
            Scope::new("a b"),
            Err(ScopeError::InvalidCharacter { position: 1 })
        );
        assert_eq!(
            Scope::new("a\"b"),
            Err(ScopeError::InvalidCharacter { position: 1 })
        );
        assert_eq!(
            Scope::new("a\\b"),
            Err(ScopeError::InvalidCharacter { position: 1 })
        );
        assert_eq!(
            Scope::new("é"),
            Err(ScopeError::InvalidCharacter { position: 0 })
        );
        assert!(matches!(
            Scope::new("x".repeat(300)),
            Err(ScopeError::TooLong { len: 300 })
        ));
    }

    #[test]
    fn sets_parse_space_delimited_text_and_print_it_sorted() {
        assert_eq!(set("  b a\tb ").to_string(), "a b");
        assert!(set("").is_empty());
        let commas = ScopeSet::parse_delimited("repo, read:org", |c| c == ',').unwrap();
        assert_eq!(commas.to_string(), "read:org repo");
    }

    #[test]
    fn set_algebra() {
        let held = set("a b");
        let needed = set("b c");
        assert_eq!(held.union(&needed), set("a b c"));
        assert_eq!(needed.difference(&held), set("c"));
        assert_eq!(held.intersection(&needed), set("b"));
        assert!(set("a b c").is_superset(&held));
        assert!(!held.is_superset(&needed));
    }

    #[test]
    fn oversize_sets_are_refused() {
        let text: Vec<String> = (0..=MAX_SCOPES).map(|index| format!("s{index}")).collect();
        assert_eq!(ScopeSet::parse(&text.join(" ")), Err(ScopeError::TooMany));
    }

    #[test]
    fn serde_round_trips_and_validates() {
        let original = set("notes:read notes:write");
        let json = serde_json::to_string(&original).unwrap();
        assert_eq!(json, r#"["notes:read","notes:write"]"#);
        assert_eq!(serde_json::from_str::<ScopeSet>(&json).unwrap(), original);
        assert!(serde_json::from_str::<ScopeSet>(r#"["bad scope"]"#).is_err());
    }
}
