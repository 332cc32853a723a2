//! Scope lists parsed against the catalog, and the little set arithmetic the flows need.

use crate::config::{DemoScope, SCOPES};

/// A set of catalog scopes, kept in catalog order and without repeats.
///
/// It can only be built from catalog entries, so every scope in it is known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ScopeList(Vec<&'static DemoScope>);

/// A scope string named something outside the catalog.
#[derive(Debug, thiserror::Error)]
#[error("scope {name:?} is not in the catalog")]
pub(crate) struct UnknownScope {
    /// The offending scope, cut to a readable length.
    pub(crate) name: String,
}

impl ScopeList {
    /// Parses a space-separated scope parameter (RFC 6749 §3.3).
    pub(crate) fn parse(parameter: &str) -> Result<Self, UnknownScope> {
        let mut list = Self::default();
        for name in parameter.split(' ').filter(|name| !name.is_empty()) {
            let Some(scope) = lookup(name) else {
                return Err(UnknownScope {
                    name: name.chars().take(64).collect(),
                });
            };
            list.insert(scope);
        }
        Ok(list)
    }

    /// Whether the list holds no scope.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `name` is in the list.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|scope| scope.name == name)
    }

    /// Whether every scope of `self` is also in `other`.
    pub(crate) fn is_subset_of(&self, other: &Self) -> bool {
        self.0.iter().all(|scope| other.contains(scope.name))
    }

    /// The scopes of `self` whose names appear among `names`; other names are ignored.
    pub(crate) fn retain_named<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Self {
        let names: Vec<&str> = names.into_iter().collect();
        let kept = self
            .0
            .iter()
            .copied()
            .filter(|scope| names.contains(&scope.name));
        Self(kept.collect())
    }

    /// The catalog entries, in catalog order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &'static DemoScope> + '_ {
        self.0.iter().copied()
    }

    /// The scopes as one space-separated string, as the `scope` parameter carries them.
    pub(crate) fn to_parameter(&self) -> String {
        let names: Vec<&str> = self.0.iter().map(|scope| scope.name).collect();
        names.join(" ")
    }

    fn insert(&mut self, scope: &'static DemoScope) {
        if self.contains(scope.name) {
            return;
        }
        self.0.push(scope);
        self.0.sort_by_key(|scope| catalog_position(scope.name));
    }
}

fn lookup(name: &str) -> Option<&'static DemoScope> {
    SCOPES.iter().find(|scope| scope.name == name)
}

fn catalog_position(name: &str) -> usize {
    SCOPES
        .iter()
        .position(|scope| scope.name == name)
        .unwrap_or(SCOPES.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_orders_by_catalog_and_drops_repeats() {
        let list = ScopeList::parse("offline_access  notes:read notes:read").unwrap();
        assert_eq!(list.to_parameter(), "notes:read offline_access");
    }

    #[test]
    fn unknown_scope_is_refused() {
        let error = ScopeList::parse("notes:read admin").unwrap_err();
        assert_eq!(error.name, "admin");
    }

    #[test]
    fn retaining_ignores_names_outside_the_list() {
        let list = ScopeList::parse("notes:read notes:write").unwrap();
        let kept = list.retain_named(["notes:write", "notes:delete", "bogus"]);
        assert_eq!(kept.to_parameter(), "notes:write");
    }

    #[test]
    fn subset_is_checked_by_name() {
        let narrow = ScopeList::parse("notes:read").unwrap();
        let wide = ScopeList::parse("notes:read notes:write").unwrap();
        assert!(narrow.is_subset_of(&wide));
        assert!(!wide.is_subset_of(&narrow));
    }
}
