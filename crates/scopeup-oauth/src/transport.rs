//! The plumbing between the operations and the `HttpClient` port: the adapter that serves
//! `oauth2`'s async client trait, client authentication for the requests built here, and the
//! rule for which endpoints may receive credentials.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use scopeup_core::{HttpClient, HttpError, HttpMethod, HttpRequest, HttpResponse};
use url::Url;

use crate::provider::{ClientAuthMethod, ProviderConfig};

/// The `User-Agent` of every request this crate makes; GitHub's API refuses requests without one.
pub(crate) const USER_AGENT: &str = concat!("scopeup-oauth/", env!("CARGO_PKG_VERSION"));

#[cfg(not(target_arch = "wasm32"))]
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
#[cfg(target_arch = "wasm32")]
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Serves `oauth2`'s requests through the port, and remembers the status of the last answer,
/// which `oauth2` drops from some of its errors.
pub(crate) struct PortClient<'a> {
    http: &'a dyn HttpClient,
    // 0 until an answer arrives.
    last_status: AtomicU16,
}

impl<'a> PortClient<'a> {
    pub(crate) fn new(http: &'a dyn HttpClient) -> Self {
        Self {
            http,
            last_status: AtomicU16::new(0),
        }
    }

    /// The status of the last answer, if one arrived.
    pub(crate) fn last_status(&self) -> Option<u16> {
        match self.last_status.load(Ordering::Relaxed) {
            0 => None,
            status => Some(status),
        }
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for PortClient<'_> {
    type Error = HttpError;
    type Future = BoxFuture<'c, Result<oauth2::HttpResponse, HttpError>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = port_request(request)?;
            let response = self.http.send(request).await?;
            self.last_status.store(response.status, Ordering::Relaxed);
            oauth2_response(response)
        })
    }
}

/// A form `POST` to `url` with the client authenticated as the provider's configuration says.
pub(crate) fn client_form(
    config: &ProviderConfig,
    url: Url,
    fields: &[(&str, &str)],
) -> HttpRequest {
    let mut fields = fields.to_vec();
    let basic = match (config.client_auth, &config.client_secret) {
        (ClientAuthMethod::Basic, Some(secret)) => {
            Some(basic_credentials(&config.client_id, secret.expose_secret()))
        }
        (_, secret) => {
            fields.push(("client_id", &config.client_id));
            if let Some(secret) = secret {
                fields.push(("client_secret", secret.expose_secret()));
            }
            None
        }
    };

    let request = HttpRequest::new(HttpMethod::Post, url)
        .with_form(&fields)
        .with_header("accept", "application/json")
        .with_header("user-agent", USER_AGENT);
    match basic {
        Some(credentials) => request.with_header("authorization", credentials),
        None => request,
    }
}

/// Refuses endpoints that would receive credentials in clear text: only `https`, or `http` to a
/// loopback address, is allowed.
pub(crate) fn check_endpoint(url: &Url, endpoint: &'static str) -> Result<(), crate::OAuthError> {
    match scopeup_core::is_safe_for_secrets(url) {
        true => Ok(()),
        false => Err(crate::OAuthError::InsecureEndpoint { endpoint }),
    }
}

// RFC 6749 §2.3.1: the id and secret are form-encoded before they are joined and encoded.
fn basic_credentials(client_id: &str, secret: &str) -> String {
    let id: String = url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
    let secret: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

fn port_request(request: oauth2::HttpRequest) -> Result<HttpRequest, HttpError> {
    let (parts, body) = request.into_parts();
    let method = match parts.method.as_str() {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        _ => {
            return Err(HttpError::Refused(Box::new(AdapterError(
                "unsupported method",
            ))));
        }
    };
    let url =
        Url::parse(&parts.uri.to_string()).map_err(|error| HttpError::Refused(Box::new(error)))?;

    let mut headers = Vec::with_capacity(parts.headers.len() + 1);
    for (name, value) in &parts.headers {
        let value = value
            .to_str()
            .map_err(|error| HttpError::Refused(Box::new(error)))?;
        headers.push((name.as_str().to_owned(), value.to_owned()));
    }
    headers.push(("user-agent".to_owned(), USER_AGENT.to_owned()));

    let mut request = HttpRequest::new(method, url);
    request.headers = headers;
    request.body = body;
    Ok(request)
}

fn oauth2_response(response: HttpResponse) -> Result<oauth2::HttpResponse, HttpError> {
    let mut builder = oauth2::http::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .body(response.body)
        .map_err(|error| HttpError::Transport(Box::new(error)))
}

// A request `oauth2` built that the port cannot express.
#[derive(Debug)]
struct AdapterError(&'static str);

impl fmt::Display for AdapterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl StdError for AdapterError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::url;

    #[test]
    fn credentials_go_only_to_https_or_loopback_http() {
        assert!(check_endpoint(&url("https://auth.example/token"), "token").is_ok());
        assert!(check_endpoint(&url("http://127.0.0.1:8080/token"), "token").is_ok());
        assert!(check_endpoint(&url("http://[::1]/token"), "token").is_ok());
        assert!(check_endpoint(&url("http://localhost/token"), "token").is_ok());
        assert!(check_endpoint(&url("http://auth.example/token"), "token").is_err());
        assert!(check_endpoint(&url("http://localhost.evil.example/token"), "token").is_err());
    }

    #[test]
    fn basic_credentials_are_form_encoded_before_base64() {
        // RFC 6749 §2.3.1; the same example as oauth2's own tests would use.
        assert_eq!(
            basic_credentials("a b", "c:d"),
            format!("Basic {}", STANDARD.encode("a+b:c%3Ad"))
        );
    }

    #[test]
    fn status_codes_and_headers_cross_the_adapter() {
        let response = HttpResponse::new(201).with_header("Content-Type", "application/json");
        let mapped = oauth2_response(response).unwrap();
        assert_eq!(mapped.status().as_u16(), 201);
        assert_eq!(mapped.headers()["content-type"], "application/json");
    }
}
