//! A demo provider mounted at `/demo` on a loopback listener, a cookie-keeping browser without
//! redirects, and the steps of the code flow as helpers.

use std::collections::HashMap;

use demo_provider::{DemoClient, DemoProvider, DemoProviderConfig};
use reqwest::{Response, StatusCode, header};
use serde_json::Value;
use url::Url;

pub(crate) const CLIENT_ID: &str = "test-client";
pub(crate) const CLIENT_SECRET: &str = "test-secret";
pub(crate) const REDIRECT_URI: &str = "http://127.0.0.1:1/callback";

/// The PKCE pair of RFC 7636 appendix B.
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub(crate) const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

pub(crate) struct TestServer {
    pub(crate) provider: DemoProvider,
    pub(crate) issuer: String,
    pub(crate) browser: reqwest::Client,
    pub(crate) http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestServer {
    pub(crate) async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub(crate) async fn start_with(configure: impl FnOnce(&mut DemoProviderConfig)) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let issuer = format!("http://{address}/demo");
        let client = DemoClient::new(CLIENT_ID, CLIENT_SECRET, Url::parse(REDIRECT_URI).unwrap());
        let mut config = DemoProviderConfig::with_defaults(Url::parse(&issuer).unwrap(), client);
        configure(&mut config);
        let provider = DemoProvider::new(config);

        let app = axum::Router::new().nest("/demo", provider.router());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            provider,
            issuer,
            browser: browser(),
            http: browser(),
            server,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    pub(crate) fn authorize_url(&self, scope: &str) -> String {
        let query = [
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("scope", scope),
            ("state", "xyz"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ];
        Url::parse_with_params(&self.url("/authorize"), query)
            .unwrap()
            .to_string()
    }

    /// Opens the authorize URL and signs in as `username`, ending on the consent page.
    pub(crate) async fn sign_in(&self, authorize_url: &str, username: &str) -> Page {
        let page = Page::from(self.browser.get(authorize_url).send().await.unwrap()).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        assert!(page.html.contains("id=\"password\""), "{}", page.html);
        let form = [
            ("request", page.request_id()),
            ("username", username.to_owned()),
            ("password", username.to_owned()),
        ];
        let response = self
            .browser
            .post(self.url("/login"))
            .form(&form)
            .send()
            .await
            .unwrap();
        let consent = Page::from(response).await;
        assert_eq!(consent.status, StatusCode::OK, "{}", consent.html);
        consent
    }

    /// Posts the consent form with the ticked scopes and a decision; answers the redirect's
    /// query parameters.
    pub(crate) async fn decide(
        &self,
        consent: &Page,
        ticked: &[&str],
        decision: &str,
    ) -> HashMap<String, String> {
        let mut form = vec![("request", consent.request_id())];
        form.extend(ticked.iter().map(|scope| ("scope", (*scope).to_owned())));
        form.push(("decision", decision.to_owned()));
        let response = self
            .browser
            .post(self.url("/consent"))
            .form(&form)
            .send()
            .await
            .unwrap();
        redirect_parameters(&response)
    }

    /// Runs the flow as alice, ticking `ticked` of `scope`, and answers the code.
    pub(crate) async fn code_for(&self, scope: &str, ticked: &[&str]) -> String {
        let consent = self.sign_in(&self.authorize_url(scope), "alice").await;
        let answer = self.decide(&consent, ticked, "allow").await;
        answer["code"].clone()
    }

    pub(crate) async fn exchange(&self, code: &str, verifier: &str) -> Response {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ];
        self.token_request(&form).await
    }

    pub(crate) async fn refresh(&self, refresh_token: &str, scope: Option<&str>) -> Response {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        form.extend(scope.map(|scope| ("scope", scope)));
        self.token_request(&form).await
    }

    pub(crate) async fn token_request(&self, form: &[(&str, &str)]) -> Response {
        self.http
            .post(self.url("/token"))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// The token response of a completed flow as alice.
    pub(crate) async fn tokens_for(&self, scope: &str) -> Value {
        let ticked: Vec<&str> = scope.split(' ').collect();
        let code = self.code_for(scope, &ticked).await;
        let response = self.exchange(&code, VERIFIER).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }
}

pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) headers: header::HeaderMap,
    pub(crate) html: String,
}

impl Page {
    pub(crate) async fn from(response: Response) -> Self {
        Self {
            status: response.status(),
            headers: response.headers().clone(),
            html: response.text().await.unwrap(),
        }
    }

    /// The value of the hidden `request` field.
    pub(crate) fn request_id(&self) -> String {
        let marker = "name=\"request\" value=\"";
        let start = self
            .html
            .find(marker)
            .expect("the page has a request field")
            + marker.len();
        let length = self.html[start..].find('"').unwrap();
        self.html[start..start + length].to_owned()
    }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Checks that a response redirects to the client's redirect URI and answers its parameters.
pub(crate) fn redirect_parameters(response: &Response) -> HashMap<String, String> {
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[header::LOCATION].to_str().unwrap();
    let location = Url::parse(location).unwrap();
    assert!(location.as_str().starts_with(REDIRECT_URI), "{location}");
    location.query_pairs().into_owned().collect()
}

pub(crate) async fn error_of(response: Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap().to_owned())
}
