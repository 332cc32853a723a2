//! The provider's configuration: its issuer, the registered clients, the users who can sign in,
//! and the scope catalog it offers.

use std::fmt;
use std::time::Duration;

use url::Url;

/// One scope of the demo provider's catalog, with the sentence shown on the consent page.
///
/// Read-only outside this crate: the catalog is [`SCOPES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DemoScope {
    /// The scope as it appears on the wire, e.g. `notes:read`.
    pub name: &'static str,
    /// One line telling a person what the scope lets an application do.
    pub description: &'static str,
}

/// The scope catalog, in the order the consent page lists it.
///
/// The notes API needs `notes:read` to list, `notes:write` to create and `notes:delete` to delete.
/// `profile` is accepted but `/userinfo` answers without it, so that a client can always learn
/// whose token it holds. `offline_access` makes the token endpoint issue a refresh token.
pub const SCOPES: &[DemoScope] = &[
    DemoScope {
        name: "notes:read",
        description: "Read your notes",
    },
    DemoScope {
        name: "notes:write",
        description: "Create new notes",
    },
    DemoScope {
        name: "notes:delete",
        description: "Delete your notes",
    },
    DemoScope {
        name: "profile",
        description: "See your username and display name",
    },
    DemoScope {
        name: "offline_access",
        description: "Keep access while you are away (a refresh token)",
    },
];

/// Everything the demo provider needs to run.
///
/// The struct is exhaustive on purpose: it is a test fixture, and tests build it with struct
/// literals or start from [`DemoProviderConfig::with_defaults`] and change a field.
#[derive(Clone, Debug)]
pub struct DemoProviderConfig {
    /// The absolute URL at which the provider's router is mounted, e.g.
    /// `http://127.0.0.1:8080/demo`.
    ///
    /// Its string form is the `issuer` of the metadata document and the `iss` parameter of every
    /// authorization response, byte for byte; the endpoints are built from it with or without a
    /// trailing slash. It should carry no query and no fragment.
    pub issuer: Url,
    /// The registered clients. Every client is confidential and authenticates with its secret.
    pub clients: Vec<DemoClient>,
    /// The people who can sign in.
    pub users: Vec<DemoUser>,
    /// How long an access token lives; one hour by default.
    pub access_token_ttl: Duration,
}

/// A registered OAuth client.
#[derive(Clone)]
pub struct DemoClient {
    /// The client identifier.
    pub client_id: String,
    /// The client secret, checked at the token and revocation endpoints.
    pub client_secret: String,
    /// The redirect URIs the client may use; a request must name one of them exactly.
    pub redirect_uris: Vec<Url>,
}

/// A person who can sign in at the demo provider.
#[derive(Clone)]
pub struct DemoUser {
    /// The login name, also the `sub` of `/userinfo`.
    pub username: String,
    /// The password, in clear: this is a demo.
    pub password: String,
    /// The name shown on pages and returned as `name` by `/userinfo`.
    pub display_name: String,
}

impl DemoProviderConfig {
    /// The lifetime of an access token when nothing else is configured.
    pub const DEFAULT_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(60 * 60);

    /// A configuration with one client and the two demo users, `alice` (password `alice`,
    /// "Alice") and `bob` (password `bob`, "Bob"), and access tokens that live one hour.
    pub fn with_defaults(issuer: Url, client: DemoClient) -> Self {
        Self {
            issuer,
            clients: vec![client],
            users: vec![
                DemoUser::new("alice", "alice", "Alice"),
                DemoUser::new("bob", "bob", "Bob"),
            ],
            access_token_ttl: Self::DEFAULT_ACCESS_TOKEN_TTL,
        }
    }
}

impl DemoClient {
    /// A client with one redirect URI.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        redirect_uri: Url,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            redirect_uris: vec![redirect_uri],
        }
    }
}

impl fmt::Debug for DemoClient {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("DemoClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("redirect_uris", &self.redirect_uris)
            .finish()
    }
}

impl DemoUser {
    /// A user from its username, password and display name.
    pub fn new(
        username: impl Into<String>,
        password: impl Into<String>,
        display_name: impl Into<String>,
    ) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            display_name: display_name.into(),
        }
    }
}

impl fmt::Debug for DemoUser {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("DemoUser")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("display_name", &self.display_name)
            .finish()
    }
}
