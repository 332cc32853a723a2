//! Fakes and helpers for this crate's unit tests: an `HttpClient` that records requests and
//! answers from canned responses, a predictable random source, and a test provider.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use scopeup_core::{
    ClientSecret, HttpClient, HttpError, HttpRequest, HttpResponse, ProviderId, Random,
    RandomError, ScopeSet,
};
use url::Url;

use crate::provider::{ClientAuthMethod, IdentityLookup, Provider, ProviderConfig};

type Failure = Box<dyn Fn() -> HttpError + Send + Sync>;

enum Answer {
    Response(HttpResponse),
    Failure(Failure),
}

/// Answers by exact URL (query included); anything else gets a 404.
#[derive(Default)]
pub(crate) struct FakeHttp {
    answers: HashMap<String, Answer>,
    requests: Mutex<Vec<HttpRequest>>,
}

impl FakeHttp {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn route(mut self, url: &str, response: HttpResponse) -> Self {
        self.answers
            .insert(url.to_owned(), Answer::Response(response));
        self
    }

    pub(crate) fn fail(
        mut self,
        url: &str,
        failure: impl Fn() -> HttpError + Send + Sync + 'static,
    ) -> Self {
        self.answers
            .insert(url.to_owned(), Answer::Failure(Box::new(failure)));
        self
    }

    pub(crate) fn requests(&self) -> Vec<HttpRequest> {
        self.requests.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl HttpClient for FakeHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let answer = self.answers.get(request.url.as_str());
        self.requests.lock().unwrap().push(request);
        match answer {
            Some(Answer::Response(response)) => Ok(response.clone()),
            Some(Answer::Failure(failure)) => Err(failure()),
            None => Ok(HttpResponse::new(404)),
        }
    }
}

/// Fills buffers with 0, 1, 2, …
pub(crate) struct CountingRandom;

impl Random for CountingRandom {
    fn fill(&self, buffer: &mut [u8]) -> Result<(), RandomError> {
        for (index, byte) in buffer.iter_mut().enumerate() {
            *byte = index as u8;
        }
        Ok(())
    }
}

pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

pub(crate) fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

pub(crate) fn set(text: &str) -> ScopeSet {
    ScopeSet::parse(text).unwrap()
}

/// The first header named `name`, compared case-insensitively.
pub(crate) fn header<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
    let mut named = request
        .headers
        .iter()
        .filter(|(header, _)| header.eq_ignore_ascii_case(name));
    named.next().map(|(_, value)| value.as_str())
}

/// The form fields of a request body.
pub(crate) fn form(request: &HttpRequest) -> HashMap<String, String> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

/// A confidential client at `https://auth.example` with every endpoint.
pub(crate) fn provider() -> Provider {
    let config = ProviderConfig {
        id: ProviderId::new("example").unwrap(),
        display_name: "Example".into(),
        issuer: Some("https://auth.example".into()),
        authorization_endpoint: url("https://auth.example/authorize"),
        token_endpoint: url("https://auth.example/token"),
        userinfo_endpoint: Some(url("https://auth.example/userinfo")),
        revocation_endpoint: Some(url("https://auth.example/revoke")),
        client_id: "scopeup-client".into(),
        client_secret: Some(ClientSecret::new("s3cret")),
        client_auth: ClientAuthMethod::Basic,
        redirect_uri: url("https://host.example/oauth/callback"),
        catalog: serde_json::from_str(r#"{"groups": []}"#).unwrap(),
        baseline: set("notes:read"),
        identity: IdentityLookup::userinfo(url("https://auth.example/userinfo")),
        iss_parameter_supported: true,
    };
    Provider::generic(config)
}
