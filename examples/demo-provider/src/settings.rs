//! The configuration as the handlers use it: endpoint URLs and the cookie path worked out once
//! from the issuer, and look-ups of clients and users.

use std::time::Duration;

use url::Url;

use crate::config::{DemoClient, DemoProviderConfig, DemoUser};
use crate::secret::secrets_match;

/// The provider's fixed settings, derived from a [`DemoProviderConfig`].
#[derive(Debug)]
pub(crate) struct Settings {
    /// The configured issuer.
    pub(crate) issuer_url: Url,
    /// The issuer's string form, as the metadata and `iss` carry it.
    pub(crate) issuer: String,
    /// The issuer without a trailing slash, onto which endpoint paths are appended.
    endpoint_base: String,
    /// The issuer's path without a trailing slash: `""` when mounted at the root.
    mount_path: String,
    /// Whether cookies get the `Secure` attribute (an `https` issuer).
    pub(crate) secure_cookies: bool,
    /// The registered clients.
    clients: Vec<DemoClient>,
    /// The people who can sign in.
    users: Vec<DemoUser>,
    /// How long an access token lives.
    pub(crate) access_token_ttl: Duration,
}

impl Settings {
    /// Works out the settings from the configuration.
    pub(crate) fn new(config: DemoProviderConfig) -> Self {
        let issuer = config.issuer.as_str().to_owned();
        let endpoint_base = issuer.trim_end_matches('/').to_owned();
        let mount_path = config.issuer.path().trim_end_matches('/').to_owned();
        let secure_cookies = config.issuer.scheme() == "https";
        Self {
            issuer_url: config.issuer,
            issuer,
            endpoint_base,
            mount_path,
            secure_cookies,
            clients: config.clients,
            users: config.users,
            access_token_ttl: config.access_token_ttl,
        }
    }

    /// The absolute URL of an endpoint, from its path relative to the mount point.
    pub(crate) fn endpoint(&self, relative_path: &str) -> String {
        format!("{}{relative_path}", self.endpoint_base)
    }

    /// The absolute path of an endpoint on this host, for links and form actions.
    pub(crate) fn local_path(&self, relative_path: &str) -> String {
        format!("{}{relative_path}", self.mount_path)
    }

    /// The `Path` attribute of the session cookie: the mount point.
    pub(crate) fn cookie_path(&self) -> &str {
        match self.mount_path.is_empty() {
            true => "/",
            false => &self.mount_path,
        }
    }

    /// The registered client with this id.
    pub(crate) fn client(&self, client_id: &str) -> Option<&DemoClient> {
        self.clients
            .iter()
            .find(|client| client.client_id == client_id)
    }

    /// The user with this username.
    pub(crate) fn user(&self, username: &str) -> Option<&DemoUser> {
        self.users.iter().find(|user| user.username == username)
    }

    /// The user whose username and password these are.
    pub(crate) fn authenticate_user(&self, username: &str, password: &str) -> Option<&DemoUser> {
        let Some(user) = self.user(username) else {
            // Spend the same work as for a known user, so that timing does not tell which
            // usernames exist.
            secrets_match(password, "");
            return None;
        };
        secrets_match(password, &user.password).then_some(user)
    }

    /// The client whose id and secret these are.
    pub(crate) fn authenticate_client(&self, client_id: &str, secret: &str) -> Option<&DemoClient> {
        let Some(client) = self.client(client_id) else {
            secrets_match(secret, "");
            return None;
        };
        secrets_match(secret, &client.client_secret).then_some(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(issuer: &str) -> Settings {
        let client = DemoClient::new(
            "client",
            "secret",
            Url::parse("http://127.0.0.1:9/callback").unwrap(),
        );
        Settings::new(DemoProviderConfig::with_defaults(
            Url::parse(issuer).unwrap(),
            client,
        ))
    }

    #[test]
    fn endpoints_are_built_with_or_without_a_trailing_slash() {
        for issuer in ["http://127.0.0.1:8080/demo", "http://127.0.0.1:8080/demo/"] {
            let settings = settings(issuer);
            assert_eq!(settings.issuer, issuer);
            assert_eq!(
                settings.endpoint("/token"),
                "http://127.0.0.1:8080/demo/token"
            );
            assert_eq!(settings.local_path("/login"), "/demo/login");
            assert_eq!(settings.cookie_path(), "/demo");
        }
    }

    #[test]
    fn root_mount_uses_the_root_cookie_path() {
        let settings = settings("http://127.0.0.1:8090");
        assert_eq!(settings.endpoint("/token"), "http://127.0.0.1:8090/token");
        assert_eq!(settings.local_path("/login"), "/login");
        assert_eq!(settings.cookie_path(), "/");
    }

    #[test]
    fn users_and_clients_authenticate_by_secret() {
        let settings = settings("http://127.0.0.1:8090");
        assert!(settings.authenticate_user("alice", "alice").is_some());
        assert!(settings.authenticate_user("alice", "bob").is_none());
        assert!(settings.authenticate_user("mallory", "").is_none());
        assert!(settings.authenticate_client("client", "secret").is_some());
        assert!(settings.authenticate_client("client", "").is_none());
    }
}
