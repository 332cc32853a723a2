//! The `HttpClient` port on the runtime's `fetch`: a total timeout per request (the fetch is
//! aborted when it passes), a limit on the response body, and no redirects followed.

use std::time::Duration;

use futures::future::{Either, select};
use scopeup_core::{HttpClient, HttpError, HttpMethod, HttpRequest, HttpResponse};
use worker::{
    AbortController, AbortSignal, Delay, Fetch, Headers, Method, Request, RequestInit,
    RequestRedirect,
};

use crate::runtime::{RuntimeError, read_limited};

/// Limits for [`FetchHttpClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchConfig {
    /// The longest a request may take, until the whole body is read.
    pub timeout: Duration,
    /// The largest response body read; a longer one fails with [`HttpError::BodyTooLarge`].
    pub max_body_bytes: usize,
}

impl Default for FetchConfig {
    /// Ten seconds and one MiB.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// Sends the port's requests with the Workers runtime's `fetch`.
#[derive(Debug, Clone, Default)]
pub struct FetchHttpClient {
    config: FetchConfig,
}

impl FetchHttpClient {
    /// A client with these limits.
    pub fn new(config: FetchConfig) -> Self {
        Self { config }
    }

    async fn exchange(
        &self,
        request: HttpRequest,
        signal: AbortSignal,
    ) -> Result<HttpResponse, HttpError> {
        let headers = Headers::new();
        for (name, value) in &request.headers {
            headers
                .append(name, value)
                .map_err(|error| HttpError::Refused(Box::new(RuntimeError::new(error))))?;
        }
        let mut init = RequestInit::new();
        init.with_method(method(request.method))
            .with_headers(headers)
            .with_redirect(RequestRedirect::Manual);
        if !request.body.is_empty() {
            let body = worker::js_sys::Uint8Array::from(request.body.as_slice());
            init.with_body(Some(body.into()));
        }
        let outgoing = Request::new_with_init(request.url.as_str(), &init)
            .map_err(|error| HttpError::Refused(Box::new(RuntimeError::new(error))))?;

        let mut response = Fetch::Request(outgoing)
            .send_with_signal(&signal)
            .await
            .map_err(|error| HttpError::Connect(Box::new(RuntimeError::new(error))))?;
        let status = response.status_code();
        let headers: Vec<(String, String)> = response.headers().entries().collect();

        let limit = self.config.max_body_bytes;
        let response_headers = response.headers().clone();
        let body = read_limited(&response_headers, response.stream(), limit)
            .await
            .map_err(|error| HttpError::Transport(Box::new(RuntimeError::new(error))))?
            .ok_or(HttpError::BodyTooLarge { limit })?;

        let mut response = HttpResponse::new(status).with_body(body);
        response.headers = headers;
        Ok(response)
    }
}

#[async_trait::async_trait(?Send)]
impl HttpClient for FetchHttpClient {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let controller = AbortController::default();
        let exchange = Box::pin(self.exchange(request, controller.signal()));
        let deadline = Box::pin(Delay::from(self.config.timeout));
        match select(exchange, deadline).await {
            Either::Left((result, _)) => result,
            Either::Right(((), _)) => {
                controller.abort();
                Err(HttpError::Timeout)
            }
        }
    }
}

fn method(method: HttpMethod) -> Method {
    Method::from(method.as_str().to_owned())
}
