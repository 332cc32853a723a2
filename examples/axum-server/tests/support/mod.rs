//! Test support: the example served on a loopback port, a raw JSON-RPC MCP client that
//! declares exactly the capabilities a test asks for, and a cookie-keeping "browser" that walks
//! the picker and the demo provider's pages.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the support module"
)]

pub(crate) mod deploy;

use std::net::SocketAddr;
use std::time::Duration;

use axum_server::{Example, ExampleConfig};
use serde_json::{Value, json};

/// The example, served on a free loopback port until dropped.
pub(crate) struct TestServer {
    pub base: url::Url,
    pub example_engine: scopeup::Engine,
    /// The embedded demo provider; `None` for an instance that uses a standalone one.
    pub demo: Option<demo_provider::DemoProvider>,
    task: tokio::task::JoinHandle<()>,
}

/// The example with a provider preset instead of the demo provider, served until dropped.
pub(crate) struct PresetServer {
    pub base: url::Url,
    task: tokio::task::JoinHandle<()>,
}

impl PresetServer {
    /// The example configured with `configure` (which must choose a preset).
    pub(crate) async fn start(configure: impl FnOnce(&mut ExampleConfig)) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let mut config = ExampleConfig::on(address);
        configure(&mut config);
        let Example { router, demo, .. } = axum_server::build(&config).await.unwrap();
        assert!(demo.is_none(), "a preset replaces the demo provider");
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            base: config.public_url().unwrap(),
            task,
        }
    }
}

impl Drop for PresetServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    pub(crate) async fn start() -> Self {
        Self::start_with(|_| {}, axum_server::Overrides::default()).await
    }

    /// The example with a changed configuration and some parts put in place.
    pub(crate) async fn start_with(
        configure: impl FnOnce(&mut ExampleConfig),
        overrides: axum_server::Overrides,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let mut config = ExampleConfig::on(address);
        configure(&mut config);
        let Example {
            router,
            engine,
            demo,
        } = axum_server::build_with(&config, overrides).await.unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            base: config.public_url().unwrap(),
            example_engine: engine,
            demo,
            task,
        }
    }

    /// The example from `config`, served on `listener` until dropped.
    pub(crate) async fn serve(listener: tokio::net::TcpListener, config: ExampleConfig) -> Self {
        let Example {
            router,
            engine,
            demo,
        } = axum_server::build(&config).await.unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self::from_parts(config.public_url().unwrap(), engine, demo, task)
    }

    pub(crate) fn from_parts(
        base: url::Url,
        engine: scopeup::Engine,
        demo: Option<demo_provider::DemoProvider>,
        task: tokio::task::JoinHandle<()>,
    ) -> Self {
        Self {
            base,
            example_engine: engine,
            demo,
            task,
        }
    }

    /// The serving task, leaving an already finished one in its place.
    pub(crate) fn take_task(&mut self) -> tokio::task::JoinHandle<()> {
        std::mem::replace(&mut self.task, tokio::spawn(async {}))
    }

    /// The embedded demo provider, for an instance that has one.
    pub(crate) fn demo(&self) -> &demo_provider::DemoProvider {
        self.demo
            .as_ref()
            .expect("this instance embeds the demo provider")
    }

    pub(crate) fn url(&self, path: &str) -> url::Url {
        self.base.join(path).unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A raw MCP client over Streamable HTTP.
pub(crate) struct McpClient {
    http: reqwest::Client,
    endpoint: url::Url,
    token: String,
    protocol: String,
    capabilities: Value,
    session: Option<String>,
    next_id: u64,
}

impl McpClient {
    /// A client at a protocol version with the given capabilities. Clients of versions before
    /// 2026-07-28 initialize a session; newer ones send their context with every request.
    pub(crate) async fn connect(
        server: &TestServer,
        token: &str,
        protocol: &str,
        capabilities: Value,
    ) -> Self {
        let mut client = Self {
            http: reqwest::Client::new(),
            endpoint: server.url("mcp"),
            token: token.to_owned(),
            protocol: protocol.to_owned(),
            capabilities,
            session: None,
            next_id: 1,
        };
        if client.protocol.as_str() < "2026-07-28" {
            client.initialize().await;
        }
        client
    }

    async fn initialize(&mut self) {
        let params = json!({
            "protocolVersion": self.protocol,
            "capabilities": self.capabilities,
            "clientInfo": {"name": "scopeup-e2e", "version": "1.0.0"},
        });
        let (response, session) = self.request_with_session("initialize", params).await;
        assert_eq!(
            response["result"]["protocolVersion"], self.protocol,
            "{response}"
        );
        self.session = session;
        self.notify("notifications/initialized").await;
    }

    async fn notify(&self, method: &str) {
        let body = json!({"jsonrpc": "2.0", "method": method});
        let response = self.post(method, None, &body).send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{method}: {}",
            response.status()
        );
    }

    /// Calls a tool and returns the whole JSON-RPC response (`result` or `error`).
    pub(crate) async fn call_tool(&mut self, name: &str, arguments: Value) -> Value {
        self.call_tool_with_state(name, arguments, None).await
    }

    pub(crate) async fn call_tool_with_state(
        &mut self,
        name: &str,
        arguments: Value,
        request_state: Option<&str>,
    ) -> Value {
        let mut params = json!({"name": name, "arguments": arguments});
        if let Some(state) = request_state {
            params["requestState"] = json!(state);
        }
        self.request_with_session("tools/call", params).await.0
    }

    async fn request_with_session(
        &mut self,
        method: &str,
        mut params: Value,
    ) -> (Value, Option<String>) {
        let id = self.next_id;
        self.next_id += 1;
        if self.protocol.as_str() >= "2026-07-28" {
            params["_meta"] = json!({
                "io.modelcontextprotocol/protocolVersion": self.protocol,
                "io.modelcontextprotocol/clientCapabilities": self.capabilities,
                "io.modelcontextprotocol/clientInfo": {"name": "scopeup-e2e", "version": "1.0.0"},
            });
        }
        let name = params
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let response = self
            .post(method, name.as_deref(), &body)
            .send()
            .await
            .unwrap();
        let session = response
            .headers()
            .get("mcp-session-id")
            .map(|value| value.to_str().unwrap().to_owned());
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{method} answered {status}: {text}");
        (find_message(&text, id), session)
    }

    fn post(&self, method: &str, name: Option<&str>, body: &Value) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .post(self.endpoint.clone())
            .bearer_auth(&self.token)
            .header("accept", "application/json, text/event-stream")
            .json(body);
        if let Some(session) = &self.session {
            request = request.header("mcp-session-id", session);
        }
        if self.session.is_some() || self.protocol.as_str() >= "2026-07-28" {
            request = request.header("mcp-protocol-version", &self.protocol);
        }
        if self.protocol.as_str() >= "2026-07-28" {
            request = request.header("mcp-method", method);
            if let Some(name) = name {
                request = request.header("mcp-name", name);
            }
        }
        request
    }

    /// Opens the session's standalone event stream and returns a receiver of the methods of
    /// the notifications that arrive on it.
    pub(crate) async fn notifications(&self) -> tokio::sync::mpsc::UnboundedReceiver<Value> {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let mut response = self
            .http
            .get(self.endpoint.clone())
            .bearer_auth(&self.token)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", self.session.clone().expect("a session"))
            .header("mcp-protocol-version", &self.protocol)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "GET stream: {}",
            response.status()
        );
        tokio::spawn(async move {
            let mut buffer = String::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let event: String = buffer.drain(..end + 2).collect();
                    for line in event.lines() {
                        if let Some(data) = line.strip_prefix("data:")
                            && let Ok(message) = serde_json::from_str::<Value>(data.trim())
                        {
                            let _ = sender.send(message);
                        }
                    }
                }
            }
        });
        receiver
    }
}

/// The JSON-RPC message with `id` in a JSON or SSE body.
fn find_message(text: &str, id: u64) -> Value {
    let candidates: Vec<Value> = if text.trim_start().starts_with('{') {
        vec![serde_json::from_str(text).unwrap()]
    } else {
        text.lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str(data.trim()).ok())
            .collect()
    };
    candidates
        .into_iter()
        .find(|message: &Value| message["id"] == json!(id))
        .unwrap_or_else(|| panic!("no response with id {id} in {text}"))
}

/// A browser: keeps cookies, does not follow redirects by itself so each hop can be checked.
pub(crate) struct Browser {
    pub http: reqwest::Client,
}

/// A page as the browser saw it.
pub(crate) struct Seen {
    pub status: u16,
    pub url: url::Url,
    pub location: Option<url::Url>,
    pub html: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Browser {
    pub(crate) fn new() -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self { http }
    }

    pub(crate) async fn get(&self, url: &url::Url) -> Seen {
        let response = self.http.get(url.clone()).send().await.unwrap();
        seen(url.clone(), response).await
    }

    pub(crate) async fn post(&self, url: &url::Url, fields: &[(String, String)]) -> Seen {
        let response = self
            .http
            .post(url.clone())
            .form(fields)
            .send()
            .await
            .unwrap();
        seen(url.clone(), response).await
    }

    /// Follows redirects from `seen` until a page that is not a redirect.
    pub(crate) async fn follow(&self, mut seen: Seen) -> Seen {
        for _ in 0..10 {
            let Some(location) = seen.location.clone() else {
                return seen;
            };
            seen = self.get(&location).await;
        }
        panic!("too many redirects");
    }

    /// Submits the form on `page` whose action contains `action_part`, with its hidden fields,
    /// the given extra fields, and the named submit button.
    pub(crate) async fn submit(
        &self,
        page: &Seen,
        action_part: &str,
        extra: &[(&str, &str)],
    ) -> Seen {
        let form = forms(&page.html)
            .into_iter()
            .find(|form| form.action.contains(action_part))
            .unwrap_or_else(|| panic!("no form with action {action_part} in {}", page.html));
        let mut fields = form.hidden;
        fields.extend(
            extra
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
        );
        let action = page.url.join(&form.action).unwrap();
        self.post(&action, &fields).await
    }

    /// Walks the whole flow from an elicitation link: the picker (with `picker_fields`), the
    /// demo provider's login as `user`, its consent screen with `scopes` ticked (all requested
    /// ones when `None`), and back to the callback. Returns the final page.
    pub(crate) async fn complete(
        &self,
        link: &url::Url,
        picker_fields: &[(&str, &str)],
        user: &str,
        scopes: Option<&[&str]>,
    ) -> Seen {
        let consent = self.to_consent(link, picker_fields, user).await;
        let back = self.decide(&consent, scopes).await;
        self.follow(back).await
    }

    /// From an elicitation link through the picker (with `picker_fields`) and the demo
    /// provider's login as `user` (skipped when the provider already knows this browser), up to
    /// the provider's consent screen.
    pub(crate) async fn to_consent(
        &self,
        link: &url::Url,
        picker_fields: &[(&str, &str)],
        user: &str,
    ) -> Seen {
        let picker = self.get(link).await;
        assert_eq!(picker.status, 200, "picker: {}", picker.html);
        let mut fields = vec![("action", "continue")];
        fields.extend_from_slice(picker_fields);
        let to_provider = self.submit(&picker, "/connect/", &fields).await;
        assert_eq!(
            to_provider.status, 303,
            "picker submit: {}",
            to_provider.html
        );

        let login = self.follow(to_provider).await;
        let consent = if login.html.contains("name=\"password\"") {
            let consent = self
                .submit(&login, "login", &[("username", user), ("password", user)])
                .await;
            self.follow(consent).await
        } else {
            login
        };
        assert!(
            consent.html.contains("decision"),
            "consent page: {}",
            consent.html
        );
        consent
    }

    /// Allows on the consent screen with `scopes` ticked (all requested ones when `None`) and
    /// returns the provider's redirect back to the callback, not yet followed.
    pub(crate) async fn decide(&self, consent: &Seen, scopes: Option<&[&str]>) -> Seen {
        let ticked: Vec<String> = match scopes {
            Some(scopes) => scopes.iter().map(|s| (*s).to_owned()).collect(),
            None => checkbox_values(&consent.html, "scope"),
        };
        let mut fields: Vec<(&str, &str)> = ticked.iter().map(|s| ("scope", s.as_str())).collect();
        fields.push(("decision", "allow"));
        let back = self.submit(consent, "consent", &fields).await;
        assert_eq!(back.status, 303, "consent submit: {}", back.html);
        back
    }
}

async fn seen(url: url::Url, response: reqwest::Response) -> Seen {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let location = headers
        .get("location")
        .map(|value| url.join(value.to_str().unwrap()).unwrap());
    let html = response.text().await.unwrap();
    Seen {
        status,
        url,
        location,
        html,
        headers,
    }
}

/// A form found in a page.
pub(crate) struct Form {
    pub action: String,
    pub hidden: Vec<(String, String)>,
}

/// Every form in the page with its action and hidden fields. A small scanner for the pages
/// these tests drive, not a general HTML parser.
pub(crate) fn forms(html: &str) -> Vec<Form> {
    html.split("<form")
        .skip(1)
        .map(|chunk| {
            let chunk = chunk.split("</form>").next().unwrap_or("");
            let tag_end = chunk.find('>').unwrap_or(chunk.len());
            let action = attribute(&chunk[..tag_end], "action").unwrap_or_default();
            let hidden = chunk
                .split("<input")
                .skip(1)
                .filter_map(|input| {
                    let tag = &input[..input.find('>')?];
                    (attribute(tag, "type").as_deref() == Some("hidden"))
                        .then(|| {
                            Some((
                                attribute(tag, "name")?,
                                attribute(tag, "value").unwrap_or_default(),
                            ))
                        })
                        .flatten()
                })
                .collect();
            Form { action, hidden }
        })
        .collect()
}

/// The values of the checked checkboxes named `name`.
pub(crate) fn checkbox_values(html: &str, name: &str) -> Vec<String> {
    html.split("<input")
        .skip(1)
        .filter_map(|input| {
            let tag = &input[..input.find('>')?];
            let is_box = attribute(tag, "type").as_deref() == Some("checkbox");
            let named = attribute(tag, "name").as_deref() == Some(name);
            (is_box && named && tag.contains("checked"))
                .then(|| attribute(tag, "value"))
                .flatten()
        })
        .collect()
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

fn unescape(text: &str) -> String {
    text.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#60;", "<")
        .replace("&lt;", "<")
        .replace("&#62;", ">")
        .replace("&gt;", ">")
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
}

/// The text of a tool result's first content block.
pub(crate) fn result_text(response: &Value) -> String {
    response["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Waits for a notification with `method`, or fails after a few seconds.
pub(crate) async fn expect_notification(
    receiver: &mut tokio::sync::mpsc::UnboundedReceiver<Value>,
    method: &str,
) -> Value {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let message = receiver.recv().await.expect("stream open");
            if message["method"] == json!(method) {
                return message;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {method} notification"))
}
