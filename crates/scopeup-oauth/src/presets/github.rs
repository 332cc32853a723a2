//! GitHub: refusals classified from `X-OAuth-Scopes` (what the token has),
//! `X-Accepted-OAuth-Scopes` (what the endpoint accepts, any one of them), a `404` that may hide
//! a private resource, and `X-Accepted-GitHub-Permissions` (a GitHub App's permissions, which no
//! scope grants).

use std::collections::BTreeMap;

use scopeup_core::refusal::{MissingScope, NotCoverableReason, upstream_text};
use scopeup_core::{HttpResponse, Refusal, RefusalClassifier, Scope, ScopeError, ScopeSet};

use super::data::PresetData;
use crate::provider::ProviderBehaviour;

/// The GitHub classifier.
#[derive(Debug, Clone, Default)]
pub struct GitHubClassifier {
    implies: BTreeMap<Scope, ScopeSet>,
    private_resource_scopes: ScopeSet,
}

/// GitHub's behaviour: [`GitHubClassifier`], granted scopes listed with commas.
#[derive(Debug, Clone, Default)]
pub struct GitHubBehaviour {
    classifier: GitHubClassifier,
}

impl GitHubClassifier {
    /// A classifier that knows which scopes include which (`repo` includes `public_repo`) and
    /// which scopes a `404` may be missing (`repo`, for private repositories).
    pub fn new(implies: BTreeMap<Scope, ScopeSet>, private_resource_scopes: ScopeSet) -> Self {
        Self {
            implies,
            private_resource_scopes,
        }
    }

    pub(crate) fn from_data(data: &PresetData) -> Self {
        Self::new(data.implies.clone(), data.private_resource_scopes.clone())
    }

    /// `held` with every scope its members include, followed transitively.
    pub fn effective(&self, held: &ScopeSet) -> ScopeSet {
        let mut effective = held.clone();
        let mut pending: Vec<Scope> = held.iter().cloned().collect();
        while let Some(scope) = pending.pop() {
            for implied in self.implies.get(&scope).into_iter().flatten() {
                if effective.insert(implied.clone()) {
                    pending.push(implied.clone());
                }
            }
        }
        effective
    }

    // The accepted scopes that include no other accepted scope: granting a broader one when a
    // narrower one is accepted asks for more than needed.
    fn narrowest_accepted(&self, accepted: &ScopeSet) -> Vec<Scope> {
        accepted
            .iter()
            .filter(|scope| {
                let includes = self.effective(&ScopeSet::from_scopes([(*scope).clone()]));
                !accepted
                    .iter()
                    .any(|other| other != *scope && includes.contains(other))
            })
            .cloned()
            .collect()
    }
}

impl RefusalClassifier for GitHubClassifier {
    fn classify(&self, response: &HttpResponse, held: &ScopeSet) -> Refusal {
        let upstream_message = github_message(response);
        if response.status == 401 {
            return Refusal::Authentication { upstream_message };
        }
        let other = |upstream_message| Refusal::Other {
            status: response.status,
            upstream_message,
        };
        let rate_limited = response.header("x-ratelimit-remaining").map(str::trim) == Some("0");
        if !matches!(response.status, 403 | 404) || rate_limited {
            return other(upstream_message);
        }

        // An OAuth token says what it holds; a GitHub App token says which permissions the
        // endpoint wants instead.
        let token_scopes = response
            .header("x-oauth-scopes")
            .and_then(|value| comma_list(value).ok());
        let Some(token_scopes) = token_scopes else {
            let permissions = app_permissions(response);
            if permissions.is_empty() {
                return other(upstream_message);
            }
            return Refusal::NotCoverable {
                reason: NotCoverableReason::AppPermission,
                permissions,
                upstream_message,
            };
        };
        // The live list beats the grant's record: the user may have revoked scopes at GitHub.
        let _ = held;
        let effective = self.effective(&token_scopes);

        let accepted = response
            .header("x-accepted-oauth-scopes")
            .and_then(|value| comma_list(value).ok())
            .unwrap_or_default();
        if accepted.is_empty() {
            // GitHub hides a private resource behind a 404 from a token that cannot see it.
            if response.status == 404
                && !self.private_resource_scopes.is_empty()
                && !self
                    .private_resource_scopes
                    .iter()
                    .any(|scope| effective.contains(scope))
            {
                return Refusal::MissingScope(MissingScope {
                    needed: ScopeSet::new(),
                    any_of: self.private_resource_scopes.iter().cloned().collect(),
                    upstream_message: Some(format!(
                        "GitHub answered 404, which it also answers for a private resource the \
                         token may not see; {} may be missing.",
                        self.private_resource_scopes
                    )),
                });
            }
            return other(upstream_message);
        }

        if accepted.iter().any(|scope| effective.contains(scope)) {
            if response.status == 404 {
                // The scope is there: the resource is really absent (or hidden by a role).
                return other(upstream_message);
            }
            return Refusal::NotCoverable {
                reason: NotCoverableReason::AlreadyHeld,
                permissions: Vec::new(),
                upstream_message,
            };
        }
        Refusal::MissingScope(MissingScope {
            needed: ScopeSet::new(),
            any_of: self.narrowest_accepted(&accepted),
            upstream_message,
        })
    }
}

impl GitHubBehaviour {
    /// The behaviour with `classifier`.
    pub fn new(classifier: GitHubClassifier) -> Self {
        Self { classifier }
    }
}

impl ProviderBehaviour for GitHubBehaviour {
    fn classify(&self, response: &HttpResponse, held: &ScopeSet) -> Refusal {
        self.classifier.classify(response, held)
    }

    /// GitHub separates granted scopes with commas (`repo,gist`).
    fn parse_granted_scopes(&self, raw: &str) -> Result<ScopeSet, ScopeError> {
        comma_list(raw)
    }
}

fn comma_list(value: &str) -> Result<ScopeSet, ScopeError> {
    ScopeSet::parse_delimited(value, |c| c == ',' || c.is_ascii_whitespace())
}

// `X-Accepted-GitHub-Permissions: contents=read; pull_requests=write,metadata=read`: each
// `;`-separated entry is one way to be allowed.
fn app_permissions(response: &HttpResponse) -> Vec<String> {
    response
        .header("x-accepted-github-permissions")
        .map(|value| {
            value
                .split(';')
                .map(|entry| upstream_text(entry).replace(' ', ""))
                .filter(|entry| !entry.is_empty())
                .take(10)
                .collect()
        })
        .unwrap_or_default()
}

fn github_message(response: &HttpResponse) -> Option<String> {
    let body: serde_json::Value = serde_json::from_slice(&response.body).ok()?;
    body.get("message")
        .and_then(serde_json::Value::as_str)
        .map(upstream_text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::{PresetName, data};

    fn classifier() -> GitHubClassifier {
        GitHubClassifier::from_data(data::require(PresetName::GitHub).unwrap())
    }

    fn set(text: &str) -> ScopeSet {
        ScopeSet::parse(text).unwrap()
    }

    // A refusal as api.github.com sends it to an OAuth App token.
    fn refusal(status: u16, has: &str, accepted: &str, message: &str) -> HttpResponse {
        HttpResponse::new(status)
            .with_header("X-OAuth-Scopes", has)
            .with_header("X-Accepted-OAuth-Scopes", accepted)
            .with_header("X-GitHub-Media-Type", "github.v3; format=json")
            .with_header("x-ratelimit-remaining", "4987")
            .with_body(format!(
                r#"{{"message":"{message}","documentation_url":"https://docs.github.com/rest","status":"{status}"}}"#
            ))
    }

    #[test]
    fn github_accepted_scopes_become_alternatives_narrowest_first() {
        // CASES row 17: GET /orgs/{org}/members as GitHub answers a token with only `gist`.
        let response = refusal(
            403,
            "gist",
            "admin:org, read:org, repo, user, write:org",
            "Resource not accessible by integration",
        );
        let Refusal::MissingScope(missing) = classifier().classify(&response, &set("gist")) else {
            panic!("expected a missing scope");
        };
        let any_of: Vec<&str> = missing.any_of.iter().map(Scope::as_str).collect();
        assert_eq!(any_of, ["read:org", "repo", "user"]);
        let catalog = PresetName::GitHub.catalog().unwrap().unwrap();
        assert_eq!(
            missing.to_request(&set("gist"), &catalog),
            set("read:org"),
            "the picker pre-selects the narrowest alternative"
        );
        assert_eq!(
            missing.upstream_message.as_deref(),
            Some("Resource not accessible by integration")
        );
    }

    #[test]
    fn github_scope_held_through_a_broader_one_is_not_coverable() {
        // The token has `admin:org`, which includes `read:org`: no scope will fix a 403.
        let response = refusal(403, "admin:org, repo", "read:org", "Must have admin rights");
        assert_eq!(
            classifier().classify(&response, &set("admin:org repo")),
            Refusal::NotCoverable {
                reason: NotCoverableReason::AlreadyHeld,
                permissions: vec![],
                upstream_message: Some("Must have admin rights".into()),
            }
        );
    }

    #[test]
    fn github_404_on_a_private_resource_is_a_possible_missing_scope() {
        // CASES row 17: GET /repos/{owner}/{private-repo} with a token of `read:user` only.
        let response = refusal(404, "read:user", "", "Not Found");
        let Refusal::MissingScope(missing) = classifier().classify(&response, &set("read:user"))
        else {
            panic!("expected a possible missing scope");
        };
        assert_eq!(missing.any_of, vec![Scope::new("repo").unwrap()]);
        assert!(missing.upstream_message.unwrap().contains("may be missing"));

        // With `repo` held the 404 is a real 404.
        let response = refusal(404, "repo", "", "Not Found");
        assert!(matches!(
            classifier().classify(&response, &set("repo")),
            Refusal::Other { status: 404, .. }
        ));
        // A 404 that names its accepted scope, held: a real 404 too.
        let response = refusal(404, "repo", "repo", "Not Found");
        assert!(matches!(
            classifier().classify(&response, &set("repo")),
            Refusal::Other { status: 404, .. }
        ));
    }

    #[test]
    fn github_app_permissions_are_not_scopes() {
        // A GitHub App user token: no X-OAuth-Scopes, the permissions the endpoint wants.
        let response = HttpResponse::new(403)
            .with_header(
                "X-Accepted-GitHub-Permissions",
                "contents=write; pull_requests=write",
            )
            .with_body(r#"{"message":"Resource not accessible by integration","status":"403"}"#);
        assert_eq!(
            classifier().classify(&response, &ScopeSet::new()),
            Refusal::NotCoverable {
                reason: NotCoverableReason::AppPermission,
                permissions: vec!["contents=write".into(), "pull_requests=write".into()],
                upstream_message: Some("Resource not accessible by integration".into()),
            }
        );
    }

    #[test]
    fn github_bad_credentials_and_rate_limits_are_not_scope_problems() {
        let expired =
            HttpResponse::new(401).with_body(r#"{"message":"Bad credentials","status":"401"}"#);
        assert!(matches!(
            classifier().classify(&expired, &set("repo")),
            Refusal::Authentication { .. }
        ));
        let limited = refusal(403, "repo", "", "API rate limit exceeded")
            .with_header("x-ratelimit-remaining", "0");
        let mut limited = limited;
        limited
            .headers
            .retain(|(name, value)| name != "x-ratelimit-remaining" || value == "0");
        assert!(matches!(
            classifier().classify(&limited, &set("repo")),
            Refusal::Other { status: 403, .. }
        ));
    }

    #[test]
    fn github_granted_scopes_are_comma_separated() {
        let behaviour = GitHubBehaviour::new(classifier());
        assert_eq!(
            behaviour.parse_granted_scopes("repo,gist").unwrap(),
            set("gist repo")
        );
        assert_eq!(behaviour.parse_granted_scopes("").unwrap(), ScopeSet::new());
    }
}
