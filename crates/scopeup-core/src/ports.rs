//! The ports: small object-safe traits that adapters implement, so the engine runs the same on
//! tokio, in a Cloudflare Worker and in tests.
//!
//! Port errors never name an adapter's error type; adapters map their errors inward and may keep
//! the original as the `source`.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::principal::{ProviderId, StoreKey};
use crate::scope::ScopeSet;
use crate::time::UnixTime;

/// `Send + Sync` on native targets, nothing on `wasm32`, where the Workers runtime is
/// single-threaded and its handles are not `Send`.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSendSync: Send + Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + Sync + ?Sized> MaybeSendSync for T {}

/// `Send + Sync` on native targets, nothing on `wasm32`, where the Workers runtime is
/// single-threaded and its handles are not `Send`.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSendSync {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSendSync for T {}

/// The boxed error an adapter keeps as the cause of a port error.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A key-value store with expiry, atomic take and compare-and-swap.
///
/// Every adapter must pass the conformance suite in `scopeup-store`. Values are opaque bytes;
/// the engine seals every value before it reaches an adapter.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait Store: MaybeSendSync {
    /// The value under `key`, unless absent or expired.
    async fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores `value` under `key`, replacing any value, expiring after `ttl` when given.
    async fn put(
        &self,
        key: &StoreKey,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError>;

    /// Removes the value under `key`, if any.
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError>;

    /// Removes and returns the value under `key` in one atomic step: of any number of concurrent
    /// takers, exactly one gets the value.
    async fn take(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError>;

    /// Atomically replaces the value under `key` with `new` (or removes it when `new` is `None`)
    /// only if the current value equals `expected` (`None`: no live value). Returns whether the
    /// swap happened.
    async fn compare_and_swap(
        &self,
        key: &StoreKey,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError>;
}

/// A store operation failed. The value under the key is unchanged unless the error says so.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend could not be reached or did not answer in time.
    #[error("store backend is unavailable")]
    Unavailable(#[source] BoxError),
    /// A stored value could not be decoded or opened.
    #[error("stored value is corrupt or was sealed under an unknown key")]
    Corrupt(#[source] BoxError),
    /// The backend refused the operation.
    #[error("store backend refused the operation")]
    Backend(#[source] BoxError),
}

/// An HTTP method, as far as scopeup needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HttpMethod {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
}

impl HttpMethod {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// One outgoing HTTP request.
///
/// Its `Debug` shows the method, the URL without its query, the header names and the body's
/// length: requests to a token endpoint carry client credentials, codes and refresh tokens.
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpRequest {
    /// The method.
    pub method: HttpMethod,
    /// The absolute URL.
    pub url: url::Url,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body, possibly empty.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// A request with no headers and no body.
    pub fn new(method: HttpMethod, url: url::Url) -> Self {
        Self {
            method,
            url,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets a form-encoded body and its content type.
    pub fn with_form(mut self, fields: &[(&str, &str)]) -> Self {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.body = body.into_bytes();
        self.with_header("content-type", "application/x-www-form-urlencoded")
    }
}

/// One HTTP response: an upstream answer as a tool or the OAuth client saw it.
///
/// Its `Debug` shows the status, the header names and the body's length: a token endpoint's
/// answer carries tokens.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body, as far as the client read it.
    pub body: Vec<u8>,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut url = self.url.clone();
        if url.query().is_some() {
            url.set_query(Some("…"));
        }
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &url.as_str())
            .field("headers", &HeaderNames(&self.headers))
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &HeaderNames(&self.headers))
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Header names only, for `Debug`: values may be credentials.
struct HeaderNames<'a>(&'a [(String, String)]);

impl fmt::Debug for HeaderNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| name))
            .finish()
    }
}

impl HttpResponse {
    /// A response with a status and nothing else.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The first header named `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Every header named `name`, compared case-insensitively.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Sends HTTP requests. Adapters enforce a timeout and a limit on the response body.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait HttpClient: MaybeSendSync {
    /// Sends one request and reads the whole response.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError>;
}

/// An HTTP exchange failed before a complete response arrived.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// No response within the adapter's timeout.
    #[error("request timed out")]
    Timeout,
    /// The peer could not be reached.
    #[error("could not connect")]
    Connect(#[source] BoxError),
    /// The response body was larger than the adapter's limit.
    #[error("response body is larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The request was refused before it was sent (a URL the adapter will not call, say).
    #[error("request refused before sending")]
    Refused(#[source] BoxError),
    /// Any other transport failure.
    #[error("transport failure")]
    Transport(#[source] BoxError),
}

/// Tells the time. Tests move it; the Worker answers from `Date.now()`.
pub trait Clock: MaybeSendSync {
    /// The current time.
    fn now(&self) -> UnixTime;
}

/// The operating system's clock. Not available on `wasm32-unknown-unknown`.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[cfg(not(target_arch = "wasm32"))]
impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        UnixTime::from_millis(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX))
    }
}

/// Waits. The engine waits only while another instance holds a grant's refresh lease; native
/// hosts get a runtime-independent timer by default, a Worker passes its own.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait Sleep: MaybeSendSync {
    /// Completes after about `duration`.
    async fn sleep(&self, duration: Duration);
}

/// A source of cryptographically secure random bytes.
pub trait Random: MaybeSendSync {
    /// Fills `buffer` with random bytes.
    fn fill(&self, buffer: &mut [u8]) -> Result<(), RandomError>;
}

/// The random source failed; nothing that needed randomness was done.
#[derive(Debug, thiserror::Error)]
#[error("secure random source failed")]
pub struct RandomError(#[source] pub BoxError);

/// Receives audit events. The default sink writes `tracing` events; a host may forward them.
pub trait AuditSink: MaybeSendSync {
    /// Records one event. Must not block for long; a sink that forwards should queue.
    fn record(&self, event: &AuditEvent);
}

/// Something that happened to an elicitation or a grant, for operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When it happened.
    pub at: UnixTime,
    /// What happened.
    pub kind: AuditKind,
    /// Ties the events of one elicitation (and the tool answer and pages that show it) together.
    pub correlation_id: String,
    /// The principal, as the hashed key used in the store (never the subject itself).
    pub principal: String,
    /// The provider.
    pub provider: ProviderId,
    /// The scopes concerned (needed, requested or granted, by kind).
    pub scopes: ScopeSet,
    /// A short, secret-free explanation.
    pub detail: Option<String>,
}

/// The kinds of audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditKind {
    /// An elicitation was opened for a refusal.
    ElicitationOpened,
    /// The user chose scopes and was sent to the provider.
    AuthorizationStarted,
    /// An upgrade was stored.
    Granted,
    /// The user declined, on the picker or at the provider.
    Declined,
    /// An upgrade was refused (wrong account, narrower grant, bad state, …).
    Refused,
    /// A superseded or dropped token was revoked upstream.
    Revoked,
    /// Revoking a superseded or dropped token upstream failed.
    RevocationFailed,
    /// A grant was refreshed.
    Refreshed,
    /// A refresh failed.
    RefreshFailed,
    /// A refusal could not be fixed by any scope.
    NotCoverable,
    /// The provider refused to refresh a grant for good (`invalid_grant`): it is dead, and the
    /// next call asks the user to reconnect.
    GrantDead,
    /// The principal dropped optional scopes from a grant.
    Downgraded,
    /// The principal disconnected a provider; the grant is gone.
    Disconnected,
}

/// Whether `url` names this machine: `localhost` or a loopback address.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    }
}

/// Whether a secret may travel to `url`: over `https`, or over plain `http` to this machine.
pub fn is_safe_for_secrets(url: &url::Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => is_loopback(url),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_travel_over_https_or_to_this_machine_only() {
        let safe = |url: &str| is_safe_for_secrets(&url::Url::parse(url).unwrap());
        for url in [
            "https://api.example.com/x",
            "http://127.0.0.1:8090/api",
            "http://127.9.9.9/",
            "http://[::1]:80/",
            "http://LOCALHOST/",
        ] {
            assert!(safe(url), "{url}");
        }
        for url in [
            "http://api.example.com/x",
            "http://10.0.0.1/",
            "http://localhost.example.com/",
            "ftp://127.0.0.1/",
            "file:///etc/passwd",
        ] {
            assert!(!safe(url), "{url}");
        }
    }

    #[test]
    fn debug_shows_no_credentials_or_tokens() {
        let request = HttpRequest::new(
            HttpMethod::Post,
            url::Url::parse("https://auth.example/token?client_secret=s3cret").unwrap(),
        )
        .with_header("authorization", "Basic czNjcmV0")
        .with_form(&[
            ("refresh_token", "rt-s3cret"),
            ("code_verifier", "v-s3cret"),
        ]);
        let response = HttpResponse::new(200)
            .with_header("set-cookie", "session=s3cret")
            .with_body(r#"{"access_token":"at-s3cret"}"#);

        for shown in [format!("{request:?}"), format!("{response:?}")] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(!shown.contains("czNjcmV0"), "{shown}");
        }
        assert!(format!("{request:?}").contains("authorization"));
        assert!(format!("{response:?}").contains("body_len: 28"));
    }

    #[test]
    fn headers_are_found_case_insensitively() {
        let response = HttpResponse::new(403)
            .with_header("WWW-Authenticate", "Bearer")
            .with_header("x-oauth-scopes", "repo");
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
        assert_eq!(response.header("X-OAuth-Scopes"), Some("repo"));
        assert_eq!(response.header("missing"), None);
        assert!(!response.is_success());
    }

    #[test]
    fn form_bodies_are_encoded() {
        let url = url::Url::parse("https://example.com/token").unwrap();
        let request =
            HttpRequest::new(HttpMethod::Post, url).with_form(&[("a", "b c"), ("d", "&")]);
        assert_eq!(request.body, b"a=b+c&d=%26");
        assert_eq!(request.headers[0].1, "application/x-www-form-urlencoded");
    }
}
