//! An `HttpClient` over reqwest for native targets (feature `reqwest`): a total timeout per
//! request, a limit on the response body, and no redirects followed.
//!
//! reqwest's errors are mapped into [`HttpError`] and kept only as the boxed source.

use std::time::Duration;

use scopeup_core::ports::BoxError;
use scopeup_core::{HttpClient, HttpError, HttpRequest, HttpResponse};

/// Limits for [`ReqwestHttpClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpClientConfig {
    /// The longest a request may take, from connecting until the whole body is read.
    pub timeout: Duration,
    /// The largest response body read; a longer one fails with [`HttpError::BodyTooLarge`].
    pub max_body_bytes: usize,
}

/// The reqwest client could not be built (no TLS backend, say).
#[derive(Debug, thiserror::Error)]
#[error("could not build the http client")]
pub struct HttpClientBuildError(#[source] BoxError);

/// Sends the port's requests with reqwest.
#[derive(Debug, Clone)]
pub struct ReqwestHttpClient {
    client: reqwest::Client,
    config: HttpClientConfig,
}

impl Default for HttpClientConfig {
    /// Ten seconds and one MiB.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_body_bytes: 1024 * 1024,
        }
    }
}

impl ReqwestHttpClient {
    /// A client of its own that follows no redirects and times out as configured.
    pub fn new(config: HttpClientConfig) -> Result<Self, HttpClientBuildError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.timeout)
            .timeout(config.timeout)
            .build()
            .map_err(|error| HttpClientBuildError(Box::new(error)))?;
        Ok(Self::from_client(client, config))
    }

    /// Wraps a client the host built. The timeout and body limit are applied per request; the
    /// redirect policy is the client's own, so build it with
    /// `reqwest::redirect::Policy::none()`: a redirect followed with an `Authorization` header
    /// can hand a credential to another host.
    pub fn from_client(client: reqwest::Client, config: HttpClientConfig) -> Self {
        Self { client, config }
    }

    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, HttpError> {
        let limit = self.config.max_body_bytes;
        let too_large = HttpError::BodyTooLarge { limit };
        if response
            .content_length()
            .is_some_and(|length| length > limit as u64)
        {
            return Err(too_large);
        }

        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(map_error)? {
            if body.len() + chunk.len() > limit {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[async_trait::async_trait]
impl HttpClient for ReqwestHttpClient {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let method = reqwest::Method::from_bytes(request.method.as_str().as_bytes())
            .map_err(|error| HttpError::Refused(Box::new(error)))?;
        let mut builder = self
            .client
            .request(method, request.url)
            .timeout(self.config.timeout)
            .body(request.body);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }

        let response = builder.send().await.map_err(map_error)?;
        let status = response.status().as_u16();
        // A header value that is not visible ASCII cannot be a protocol value scopeup reads.
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                let value = value.to_str().ok()?;
                Some((name.as_str().to_owned(), value.to_owned()))
            })
            .collect();
        let body = self.read_body(response).await?;

        let mut response = HttpResponse::new(status).with_body(body);
        response.headers = headers;
        Ok(response)
    }
}

fn map_error(error: reqwest::Error) -> HttpError {
    if error.is_timeout() {
        HttpError::Timeout
    } else if error.is_connect() {
        HttpError::Connect(Box::new(error))
    } else if error.is_builder() {
        HttpError::Refused(Box::new(error))
    } else {
        HttpError::Transport(Box::new(error))
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::Router;
    use axum::body::Body;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Redirect};
    use axum::routing::{get, post};
    use scopeup_core::HttpMethod;

    use super::*;

    async fn echo(headers: HeaderMap, body: String) -> impl IntoResponse {
        let probe = headers.get("x-probe").and_then(|value| value.to_str().ok());
        (
            StatusCode::CREATED,
            [("x-seen", probe.unwrap_or_default().to_owned())],
            body,
        )
    }

    async fn streamed() -> Body {
        // No content length: the limit must hold while reading.
        let chunks = (0..16).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 512]));
        Body::from_stream(futures::stream::iter(chunks))
    }

    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_secs(5)).await;
        "late"
    }

    async fn serve() -> SocketAddr {
        let app = Router::new()
            .route("/echo", post(echo))
            .route("/large", get(|| async { vec![b'x'; 4096] }))
            .route("/streamed", get(streamed))
            .route("/redirect", get(|| async { Redirect::temporary("/large") }))
            .route("/slow", get(slow));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        address
    }

    fn client(max_body_bytes: usize, timeout: Duration) -> ReqwestHttpClient {
        ReqwestHttpClient::new(HttpClientConfig {
            timeout,
            max_body_bytes,
        })
        .unwrap()
    }

    fn get_request(address: SocketAddr, path: &str) -> HttpRequest {
        let url = format!("http://{address}{path}").parse().unwrap();
        HttpRequest::new(HttpMethod::Get, url)
    }

    #[tokio::test]
    async fn method_headers_and_body_cross_both_ways() {
        let address = serve().await;
        let url = format!("http://{address}/echo").parse().unwrap();
        let mut request = HttpRequest::new(HttpMethod::Post, url).with_header("x-probe", "hello");
        request.body = b"payload".to_vec();

        let response = client(1024, Duration::from_secs(5))
            .send(request)
            .await
            .unwrap();
        assert_eq!(response.status, 201);
        assert_eq!(response.header("x-seen"), Some("hello"));
        assert_eq!(response.body, b"payload");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused() {
        let address = serve().await;
        let http = client(1024, Duration::from_secs(5));
        let declared = http.send(get_request(address, "/large")).await.unwrap_err();
        assert!(
            matches!(declared, HttpError::BodyTooLarge { limit: 1024 }),
            "{declared:?}"
        );
        let streamed = http
            .send(get_request(address, "/streamed"))
            .await
            .unwrap_err();
        assert!(
            matches!(streamed, HttpError::BodyTooLarge { limit: 1024 }),
            "{streamed:?}"
        );

        let roomy = client(8192, Duration::from_secs(5));
        assert_eq!(
            roomy
                .send(get_request(address, "/large"))
                .await
                .unwrap()
                .body
                .len(),
            4096
        );
        assert_eq!(
            roomy
                .send(get_request(address, "/streamed"))
                .await
                .unwrap()
                .body
                .len(),
            8192
        );
    }

    #[tokio::test]
    async fn redirects_are_returned_not_followed() {
        let address = serve().await;
        let response = client(1024, Duration::from_secs(5))
            .send(get_request(address, "/redirect"))
            .await
            .unwrap();
        assert_eq!(response.status, 307);
        assert_eq!(response.header("location"), Some("/large"));
    }

    #[tokio::test]
    async fn a_slow_answer_times_out() {
        let address = serve().await;
        let error = client(1024, Duration::from_millis(200))
            .send(get_request(address, "/slow"))
            .await
            .unwrap_err();
        assert!(matches!(error, HttpError::Timeout), "{error:?}");
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connect_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);

        let error = client(1024, Duration::from_secs(5))
            .send(get_request(address, "/"))
            .await
            .unwrap_err();
        assert!(matches!(error, HttpError::Connect(_)), "{error:?}");
    }
}
