//! A provider's scope catalog: every scope the picker may offer, grouped and described, the
//! templates that bundle them, the scopes every request must carry, and the provider's limit on
//! how many scopes one authorization request may name. Also the scope math that decides what an
//! upgrade asks for.
//!
//! A catalog is data: presets load it from a file and hosts may replace it.

use serde::{Deserialize, Serialize};

use crate::scope::{Scope, ScopeError, ScopeSet};

/// A validated scope catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CatalogSpec", into = "CatalogSpec")]
pub struct Catalog {
    groups: Vec<ScopeGroup>,
    templates: Vec<Template>,
    required: ScopeSet,
    limit: Option<usize>,
}

/// The raw form of a catalog, as written in a data file. [`Catalog::new`] checks it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSpec {
    /// The scope groups, in display order.
    pub groups: Vec<ScopeGroup>,
    /// Named bundles of scopes.
    #[serde(default)]
    pub templates: Vec<Template>,
    /// Scopes every authorization request carries.
    #[serde(default)]
    pub required: ScopeSet,
    /// The most scopes one authorization request may name, where the provider has a limit.
    #[serde(default)]
    pub limit: Option<usize>,
}

/// A titled group of scopes on the picker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeGroup {
    /// The group's heading.
    pub name: String,
    /// The scopes of the group, in display order.
    pub scopes: Vec<CatalogScope>,
}

/// One scope the picker may offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogScope {
    /// The scope token.
    pub scope: Scope,
    /// What the scope allows, in words a user understands.
    pub description: String,
}

/// A named bundle of scopes the user can pick with one choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// A stable key, used in forms.
    pub key: String,
    /// The template's name.
    pub name: String,
    /// What the template is for.
    pub description: String,
    /// The scopes it selects, besides the catalog's required ones.
    pub scopes: ScopeSet,
}

/// Why a catalog or a choice of scopes was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The same scope is listed twice.
    #[error("scope `{scope}` is listed more than once")]
    DuplicateScope {
        /// The repeated scope.
        scope: Scope,
    },
    /// A template, the required set or a choice names a scope the catalog does not list.
    #[error("scope `{scope}` is not in the catalog")]
    UnknownScope {
        /// The unknown scope.
        scope: Scope,
    },
    /// Two templates share a key.
    #[error("template key `{key}` is used more than once")]
    DuplicateTemplate {
        /// The repeated key.
        key: String,
    },
    /// A template key was asked for that the catalog does not have.
    #[error("there is no template `{key}`")]
    UnknownTemplate {
        /// The key asked for.
        key: String,
    },
    /// The required scopes alone exceed the limit.
    #[error("the {required} required scopes exceed the limit of {limit}")]
    RequiredOverLimit {
        /// How many scopes are required.
        required: usize,
        /// The limit.
        limit: usize,
    },
    /// A choice held text that is not a scope.
    #[error("not a valid scope")]
    Malformed(#[from] ScopeError),
}

/// The request an upgrade would make names more scopes than the provider accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{requested} scopes requested, but the provider accepts at most {limit} in one request")]
#[non_exhaustive]
pub struct ScopeLimitExceeded {
    /// How many scopes the request would name.
    pub requested: usize,
    /// The provider's limit.
    pub limit: usize,
}

/// What an upgrade starts from: the sets that go into its requested scopes.
#[derive(Debug, Clone, Copy)]
pub struct UpgradeInputs<'a> {
    /// What the grant holds now, as the provider last granted it.
    pub granted: &'a ScopeSet,
    /// What earlier authorizations asked for, granted or not.
    pub previously_requested: &'a ScopeSet,
    /// What the refusal needs.
    pub needed: &'a ScopeSet,
    /// What the user chose on the picker (already validated against the catalog).
    pub chosen: &'a ScopeSet,
}

impl Catalog {
    /// Checks a catalog: no scope twice, templates and required scopes drawn from the catalog,
    /// template keys unique, and the required scopes within the limit.
    pub fn new(spec: CatalogSpec) -> Result<Self, CatalogError> {
        let mut known = ScopeSet::new();
        for entry in spec.groups.iter().flat_map(|group| &group.scopes) {
            if !known.insert(entry.scope.clone()) {
                return Err(CatalogError::DuplicateScope {
                    scope: entry.scope.clone(),
                });
            }
        }

        let mut keys = std::collections::BTreeSet::new();
        for template in &spec.templates {
            if !keys.insert(template.key.as_str()) {
                return Err(CatalogError::DuplicateTemplate {
                    key: template.key.clone(),
                });
            }
            if let Some(scope) = template.scopes.difference(&known).into_iter().next() {
                return Err(CatalogError::UnknownScope { scope });
            }
        }
        if let Some(scope) = spec.required.difference(&known).into_iter().next() {
            return Err(CatalogError::UnknownScope { scope });
        }
        if let Some(limit) = spec.limit
            && spec.required.len() > limit
        {
            return Err(CatalogError::RequiredOverLimit {
                required: spec.required.len(),
                limit,
            });
        }

        Ok(Self {
            groups: spec.groups,
            templates: spec.templates,
            required: spec.required,
            limit: spec.limit,
        })
    }

    /// The groups in display order.
    pub fn groups(&self) -> &[ScopeGroup] {
        &self.groups
    }

    /// The templates in display order.
    pub fn templates(&self) -> &[Template] {
        &self.templates
    }

    /// The template with this key.
    pub fn template(&self, key: &str) -> Result<&Template, CatalogError> {
        self.templates
            .iter()
            .find(|template| template.key == key)
            .ok_or_else(|| CatalogError::UnknownTemplate {
                key: key.to_owned(),
            })
    }

    /// The scopes every request carries.
    pub fn required(&self) -> &ScopeSet {
        &self.required
    }

    /// The provider's limit on scopes per authorization request, if any.
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// Every scope the catalog lists.
    pub fn scopes(&self) -> impl Iterator<Item = &CatalogScope> + '_ {
        self.groups.iter().flat_map(|group| &group.scopes)
    }

    /// The catalog's entry for a scope.
    pub fn entry(&self, scope: &Scope) -> Option<&CatalogScope> {
        self.scopes().find(|entry| &entry.scope == scope)
    }

    /// Whether the catalog lists a scope.
    pub fn contains(&self, scope: &Scope) -> bool {
        self.entry(scope).is_some()
    }

    /// Parses scopes a user submitted and checks each against the catalog. Malformed or unknown
    /// scopes are an error; nothing is silently dropped.
    pub fn validate_choice<'a>(
        &self,
        submitted: impl IntoIterator<Item = &'a str>,
    ) -> Result<ScopeSet, CatalogError> {
        let mut chosen = ScopeSet::new();
        for text in submitted {
            let scope = Scope::new(text)?;
            if !self.contains(&scope) {
                return Err(CatalogError::UnknownScope { scope });
            }
            chosen.insert(scope);
        }
        Ok(chosen)
    }

    /// The scopes an upgrade asks for: required ∪ granted ∪ previously requested ∪ needed ∪
    /// chosen. Nothing held is ever dropped, so a second upgrade keeps the first. A request over
    /// the provider's limit is an error, never a truncated request.
    pub fn upgrade_request(
        &self,
        inputs: UpgradeInputs<'_>,
    ) -> Result<ScopeSet, ScopeLimitExceeded> {
        let requested = self
            .required
            .union(inputs.granted)
            .union(inputs.previously_requested)
            .union(inputs.needed)
            .union(inputs.chosen);

        match self.limit {
            Some(limit) if requested.len() > limit => Err(ScopeLimitExceeded {
                requested: requested.len(),
                limit,
            }),
            _ => Ok(requested),
        }
    }

    /// Orders `alternatives` from narrowest to broadest: catalog order first (catalogs list
    /// narrower scopes before broader ones within a group), unknown scopes last in their given
    /// order. The first is the one a picker pre-selects.
    pub fn narrowest_first<'a>(&self, alternatives: &'a [Scope]) -> Vec<&'a Scope> {
        let position = |scope: &Scope| self.scopes().position(|entry| &entry.scope == scope);
        let mut ordered: Vec<(usize, Option<usize>, &Scope)> = alternatives
            .iter()
            .enumerate()
            .map(|(index, scope)| (index, position(scope), scope))
            .collect();
        ordered.sort_by_key(|(index, position, _)| (position.is_none(), *position, *index));
        ordered.into_iter().map(|(_, _, scope)| scope).collect()
    }
}

impl TryFrom<CatalogSpec> for Catalog {
    type Error = CatalogError;

    fn try_from(spec: CatalogSpec) -> Result<Self, Self::Error> {
        Self::new(spec)
    }
}

impl From<Catalog> for CatalogSpec {
    fn from(catalog: Catalog) -> Self {
        Self {
            groups: catalog.groups,
            templates: catalog.templates,
            required: catalog.required,
            limit: catalog.limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str) -> ScopeSet {
        ScopeSet::parse(text).unwrap()
    }

    fn scope(text: &str) -> Scope {
        Scope::new(text).unwrap()
    }

    fn entry(text: &str) -> CatalogScope {
        CatalogScope {
            scope: scope(text),
            description: format!("allows {text}"),
        }
    }

    fn notes_catalog(limit: Option<usize>) -> Catalog {
        Catalog::new(CatalogSpec {
            groups: vec![
                ScopeGroup {
                    name: "Core".into(),
                    scopes: vec![entry("offline_access")],
                },
                ScopeGroup {
                    name: "Notes".into(),
                    scopes: vec![
                        entry("notes:read"),
                        entry("notes:write"),
                        entry("notes:delete"),
                    ],
                },
            ],
            templates: vec![Template {
                key: "editor".into(),
                name: "Editor".into(),
                description: "read and write".into(),
                scopes: set("notes:read notes:write"),
            }],
            required: set("offline_access"),
            limit,
        })
        .unwrap()
    }

    #[test]
    fn upgrade_requests_the_union_and_keeps_what_is_held() {
        // modelcontextprotocol/typescript-sdk#1582: the second upgrade must keep the first.
        let catalog = notes_catalog(None);
        let requested = catalog
            .upgrade_request(UpgradeInputs {
                granted: &set("notes:read"),
                previously_requested: &set("notes:write"),
                needed: &set("notes:delete"),
                chosen: &ScopeSet::new(),
            })
            .unwrap();
        assert_eq!(
            requested,
            set("notes:delete notes:read notes:write offline_access")
        );
    }

    #[test]
    fn upgrade_past_the_provider_limit_is_an_error() {
        let catalog = notes_catalog(Some(3));
        let error = catalog
            .upgrade_request(UpgradeInputs {
                granted: &set("notes:read"),
                previously_requested: &ScopeSet::new(),
                needed: &set("notes:write"),
                chosen: &set("notes:delete"),
            })
            .unwrap_err();
        assert_eq!(
            error,
            ScopeLimitExceeded {
                requested: 4,
                limit: 3
            }
        );
    }

    #[test]
    fn choices_are_checked_against_the_catalog() {
        let catalog = notes_catalog(None);
        assert_eq!(
            catalog.validate_choice(["notes:write"]).unwrap(),
            set("notes:write")
        );
        assert_eq!(
            catalog.validate_choice(["admin"]),
            Err(CatalogError::UnknownScope {
                scope: scope("admin")
            })
        );
        assert!(matches!(
            catalog.validate_choice(["bad scope"]),
            Err(CatalogError::Malformed(ScopeError::InvalidCharacter { .. }))
        ));
    }

    #[test]
    fn inconsistent_catalogs_are_refused() {
        let duplicate = CatalogSpec {
            groups: vec![ScopeGroup {
                name: "A".into(),
                scopes: vec![entry("a"), entry("a")],
            }],
            ..CatalogSpec::default()
        };
        assert!(matches!(
            Catalog::new(duplicate),
            Err(CatalogError::DuplicateScope { .. })
        ));

        let unknown_required = CatalogSpec {
            groups: vec![ScopeGroup {
                name: "A".into(),
                scopes: vec![entry("a")],
            }],
            required: set("b"),
            ..CatalogSpec::default()
        };
        assert!(matches!(
            Catalog::new(unknown_required),
            Err(CatalogError::UnknownScope { .. })
        ));
    }

    #[test]
    fn narrowest_alternative_follows_catalog_order() {
        let catalog = notes_catalog(None);
        let alternatives = [scope("unknown"), scope("notes:delete"), scope("notes:read")];
        let ordered: Vec<&str> = catalog
            .narrowest_first(&alternatives)
            .into_iter()
            .map(Scope::as_str)
            .collect();
        assert_eq!(ordered, ["notes:read", "notes:delete", "unknown"]);
    }

    #[test]
    fn catalogs_load_from_json_data() {
        let json = r#"{
            "groups": [{"name": "Notes", "scopes": [{"scope": "notes:read", "description": "Read"}]}],
            "required": ["notes:read"],
            "limit": 76
        }"#;
        let catalog: Catalog = serde_json::from_str(json).unwrap();
        assert_eq!(catalog.limit(), Some(76));
        assert!(serde_json::from_str::<Catalog>(r#"{"groups": [], "required": ["x"]}"#).is_err());
    }
}
