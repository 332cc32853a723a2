//! Deployments of several parts, as in production: a demo provider running on its own, example
//! instances that can be stopped and started again on the same port, and a load balancer in
//! front of the instances whose target the test chooses.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum_server::{Example, ExampleConfig, StoreSetting};
use demo_provider::{DemoClient, DemoProvider, DemoProviderConfig};
use scopeup_core::{Grant, Store, StoreKey};
use scopeup_store::{KeyRing, SealedStore};

use super::TestServer;

/// The sealing key ring every instance of a test deployment shares.
pub(crate) const SEALING_KEYS: &str = "test-1:qmbtvWpPSBJoUdBYFvBZ1cJX3F/QLQKBqy44TVlH2sk=";

/// The client secret the instances use at the standalone demo provider.
const CLIENT_SECRET: &str = "deploy-test-client-secret";

/// A demo provider served on its own port, outliving the instances that use it.
pub(crate) struct Provider {
    pub demo: DemoProvider,
    pub issuer: url::Url,
    task: tokio::task::JoinHandle<()>,
}

impl Provider {
    /// A provider whose client `scopeup-example` redirects to `public_url`'s callback.
    pub(crate) async fn start(public_url: &url::Url) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let issuer = url::Url::parse(&format!("http://{address}/demo")).unwrap();
        let redirect_uri = public_url.join("oauth/callback").unwrap();
        let demo = DemoProvider::new(DemoProviderConfig::with_defaults(
            issuer.clone(),
            DemoClient::new("scopeup-example", CLIENT_SECRET, redirect_uri),
        ));
        let router = axum::Router::new().nest("/demo", demo.router());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self { demo, issuer, task }
    }

    /// The configuration of an instance listening on `listen`, reached by browsers at
    /// `public_url`, using this provider and `store`, sealing with [`SEALING_KEYS`].
    pub(crate) fn instance_config(
        &self,
        listen: SocketAddr,
        public_url: &url::Url,
        store: StoreSetting,
    ) -> ExampleConfig {
        let mut config = ExampleConfig::on(listen);
        config.public_url = Some(public_url.clone());
        config.issuer = Some(self.issuer.clone());
        config.client_id = Some("scopeup-example".to_owned());
        config.client_secret = Some(CLIENT_SECRET.to_owned());
        config.api_base = Some(self.issuer.clone());
        config.store = Some(store);
        config.sealing_keys = Some(SEALING_KEYS.to_owned());
        config
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One running instance of the example that can be stopped, closing every connection to it.
pub(crate) struct Instance {
    pub server: TestServer,
    pub config: ExampleConfig,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Instance {
    /// Builds and serves the example from `config` on `config.listen` (a concrete port).
    pub(crate) async fn start(config: ExampleConfig) -> Self {
        let listener = bind(config.listen).await;
        let Example {
            router,
            engine,
            demo,
        } = axum_server::build(&config).await.unwrap();
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        let server = TestServer::from_parts(
            url::Url::parse(&format!("http://{}/", config.listen)).unwrap(),
            engine,
            demo,
            task,
        );
        Self {
            server,
            config,
            shutdown: Some(shutdown),
        }
    }

    /// Stops serving and waits until every connection is closed and the example is dropped.
    pub(crate) async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let task = self.server.take_task();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the instance stops within 10 s")
            .unwrap();
    }
}

/// Binds `address`, retrying a little while a stopped instance's socket is released.
async fn bind(address: SocketAddr) -> tokio::net::TcpListener {
    for _ in 0..50 {
        if let Ok(listener) = tokio::net::TcpListener::bind(address).await {
            return listener;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not bind {address}");
}

/// A free loopback address for an instance.
pub(crate) async fn free_address() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// A load balancer: forwards every request to the instance the test last chose.
pub(crate) struct Balancer {
    pub base: url::Url,
    target: Arc<Mutex<url::Url>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct BalancerState {
    target: Arc<Mutex<url::Url>>,
    http: reqwest::Client,
}

impl Balancer {
    /// A balancer on a free port, forwarding nowhere until [`route_to`](Self::route_to).
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let target = Arc::new(Mutex::new(base.clone()));
        let state = BalancerState {
            target: target.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        };
        let router = axum::Router::new().fallback(forward).with_state(state);
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self { base, target, task }
    }

    /// Sends the following requests to `instance`.
    pub(crate) fn route_to(&self, instance: &TestServer) {
        *self.target.lock().unwrap() = instance.base.clone();
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(State(state): State<BalancerState>, request: Request) -> Response {
    let target = state.target.lock().unwrap().clone();
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |path| path.as_str())
        .to_owned();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let mut headers = parts.headers.clone();
    headers.remove(http::header::HOST);
    let upstream = state
        .http
        .request(parts.method, target.join(&path).unwrap())
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();

    let mut response = Response::builder().status(upstream.status());
    for (name, value) in upstream.headers() {
        if name != http::header::TRANSFER_ENCODING && name != http::header::CONTENT_LENGTH {
            response = response.header(name, value);
        }
    }
    let bytes = upstream.bytes().await.unwrap();
    response.body(Body::from(bytes)).unwrap()
}

/// The grant of `subject` at the example's provider, opened from the raw `backend` with the key
/// ring `ring`, to learn the tokens a dump must not show.
pub(crate) async fn stored_grant(backend: Arc<dyn Store>, ring: &str, subject: &str) -> Grant {
    let ring = KeyRing::parse(ring).unwrap();
    let sealed = SealedStore::new(backend, ring, Arc::new(scopeup::OsRandom));
    let key = StoreKey::hashed("grant", &[subject, axum_server::PROVIDER_ID]);
    let bytes = sealed.get(&key).await.unwrap().expect("a stored grant");
    serde_json::from_slice(&bytes).unwrap()
}

/// Whether `haystack` holds `needle` anywhere.
pub(crate) fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}
