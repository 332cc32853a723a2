//! The presets' data files: compiled in, parsed and checked once, on first use.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use scopeup_core::{Catalog, Scope, ScopeSet};
use serde::Deserialize;

use super::{DataError, PresetError, PresetName};

/// One preset's data file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PresetData {
    /// The name users see.
    pub(crate) name: String,
    /// The scopes a first connect asks for.
    pub(crate) baseline: ScopeSet,
    /// The picker's catalog.
    pub(crate) catalog: Catalog,
    /// GitHub: which scopes include which (`repo` includes `public_repo`).
    #[serde(default)]
    pub(crate) implies: BTreeMap<Scope, ScopeSet>,
    /// GitHub: scopes a 404 on a private resource may be missing.
    #[serde(default)]
    pub(crate) private_resource_scopes: ScopeSet,
    /// Cloudflare: which scopes could cover which calls.
    #[serde(default)]
    pub(crate) coverage: Vec<super::CoverageRule>,
}

/// The parsed data of `preset`; `None` for the generic preset, which has no data file.
pub(crate) fn load(preset: PresetName) -> Result<Option<&'static PresetData>, PresetError> {
    static GITHUB: OnceLock<Result<PresetData, DataError>> = OnceLock::new();
    static GOOGLE: OnceLock<Result<PresetData, DataError>> = OnceLock::new();
    static SLACK: OnceLock<Result<PresetData, DataError>> = OnceLock::new();
    static CLOUDFLARE: OnceLock<Result<PresetData, DataError>> = OnceLock::new();

    let (cell, text) = match preset {
        PresetName::Generic => return Ok(None),
        PresetName::GitHub => (&GITHUB, include_str!("github.json")),
        PresetName::Google => (&GOOGLE, include_str!("google.json")),
        PresetName::Slack => (&SLACK, include_str!("slack.json")),
        PresetName::Cloudflare => (&CLOUDFLARE, include_str!("cloudflare.json")),
    };
    match cell.get_or_init(|| parse(text)) {
        Ok(data) => Ok(Some(data)),
        Err(source) => Err(PresetError::Data {
            preset,
            source: source.clone(),
        }),
    }
}

/// The parsed data of a preset that has a data file.
pub(crate) fn require(preset: PresetName) -> Result<&'static PresetData, PresetError> {
    load(preset)?.ok_or_else(|| PresetError::UnknownPreset {
        name: preset.as_str().to_owned(),
    })
}

/// Parses and checks a data file: the catalog holds together (checked while deserializing),
/// and the baseline and every relation and rule name catalog scopes.
pub(crate) fn parse(text: &str) -> Result<PresetData, DataError> {
    let data: PresetData = serde_json::from_str(text).map_err(|error| match error.classify() {
        serde_json::error::Category::Data => {
            // A catalog that does not hold together is a data error inside the JSON; find it
            // again to report it precisely.
            let catalog_error = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|value| value.get("catalog").cloned())
                .and_then(|value| serde_json::from_value::<scopeup_core::CatalogSpec>(value).ok())
                .and_then(|spec| Catalog::new(spec).err());
            match catalog_error {
                Some(catalog) => DataError::Catalog(catalog),
                None => DataError::Json {
                    line: error.line(),
                    column: error.column(),
                },
            }
        }
        _ => DataError::Json {
            line: error.line(),
            column: error.column(),
        },
    })?;

    let mut named = data.baseline.iter().collect::<Vec<_>>();
    for (scope, implied) in &data.implies {
        named.push(scope);
        named.extend(implied.iter());
    }
    named.extend(data.private_resource_scopes.iter());
    for rule in &data.coverage {
        named.extend(rule.scopes.iter());
    }
    if let Some(unknown) = named
        .into_iter()
        .find(|scope| !data.catalog.contains(scope))
    {
        return Err(DataError::UnknownScope {
            scope: unknown.to_string(),
        });
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_naming_scopes_outside_the_catalog_is_refused() {
        let catalog =
            r#"{"groups": [{"name": "A", "scopes": [{"scope": "a", "description": "A"}]}]}"#;
        let good = format!(r#"{{"name": "X", "baseline": ["a"], "catalog": {catalog}}}"#);
        assert!(parse(&good).is_ok());

        let bad_baseline = format!(r#"{{"name": "X", "baseline": ["b"], "catalog": {catalog}}}"#);
        assert_eq!(
            parse(&bad_baseline).unwrap_err(),
            DataError::UnknownScope { scope: "b".into() }
        );
        let bad_implies = format!(
            r#"{{"name": "X", "baseline": [], "catalog": {catalog}, "implies": {{"a": ["c"]}}}}"#
        );
        assert!(matches!(
            parse(&bad_implies),
            Err(DataError::UnknownScope { .. })
        ));
        let bad_catalog =
            r#"{"name": "X", "baseline": [], "catalog": {"groups": [], "required": ["z"]}}"#;
        assert!(matches!(parse(bad_catalog), Err(DataError::Catalog(_))));
        assert!(matches!(parse("{"), Err(DataError::Json { .. })));
    }
}
