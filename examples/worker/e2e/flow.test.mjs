// The Worker example in local workerd (Miniflare), end to end against the demo provider on
// loopback: a tool call refused for a missing scope, the link in the answer, the scope picker,
// the provider's login and consent, the callback, and the retried call succeeding. The Durable
// Object is workerd's own local simulation.
//
// `cargo xtask worker` builds the Worker and runs this with WORKER_BUILD_DIR (the wasm-bindgen
// output and `entry.mjs`) and DEMO_PROVIDER_BIN (the `demo-provider` binary) set.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:net";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";

import { Log, LogLevel, Miniflare } from "miniflare";

const buildDir = required("WORKER_BUILD_DIR");
const demoProviderBin = required("DEMO_PROVIDER_BIN");
const CLIENT_ID = "scopeup-worker-example";
const CLIENT_SECRET = randomBytes(24).toString("hex");
const ALICE_TOKEN = "token-of-alice-" + randomBytes(8).toString("hex");

let provider;
let miniflare;
let workerUrl;
let issuer;

before(async () => {
  const [providerPort, workerPort] = [await freePort(), await freePort()];
  issuer = `http://127.0.0.1:${providerPort}`;
  workerUrl = `http://127.0.0.1:${workerPort}/`;

  provider = spawn(
    demoProviderBin,
    [
      "--listen", `127.0.0.1:${providerPort}`,
      "--client-id", CLIENT_ID,
      "--client-secret", CLIENT_SECRET,
      "--redirect-uri", `${workerUrl}oauth/callback`,
      // Access tokens that expire within the engine's refresh margin: every tool call after the
      // connect refreshes, under the Durable Object lease, with the grant swapped in atomically.
      "--access-token-ttl", "30",
    ],
    { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, RUST_LOG: "warn" } },
  );
  await waitFor(`${issuer}/.well-known/oauth-authorization-server`);

  miniflare = new Miniflare({
    // The Worker's own errors (`console.error`) show in the test's output.
    log: new Log(LogLevel.WARN),
    host: "127.0.0.1",
    port: workerPort,
    modulesRoot: buildDir,
    scriptPath: `${buildDir}/entry.mjs`,
    modules: true,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: "2026-04-01",
    durableObjects: { SCOPEUP_STORE: "ScopeupStore" },
    bindings: {
      SCOPEUP_PUBLIC_URL: workerUrl,
      SCOPEUP_DANGEROUS_ALLOW_HTTP_LOOPBACK: "true",
      SCOPEUP_PROVIDER: "oauth",
      SCOPEUP_ISSUER: issuer,
      SCOPEUP_AUTHORIZATION_ENDPOINT: `${issuer}/authorize`,
      SCOPEUP_TOKEN_ENDPOINT: `${issuer}/token`,
      SCOPEUP_USERINFO_ENDPOINT: `${issuer}/userinfo`,
      SCOPEUP_REVOCATION_ENDPOINT: `${issuer}/revoke`,
      SCOPEUP_API_BASE: issuer,
      SCOPEUP_CLIENT_ID: CLIENT_ID,
      SCOPEUP_CLIENT_SECRET: CLIENT_SECRET,
      SCOPEUP_SEALING_KEYS: `k1:${randomBytes(32).toString("base64")}`,
      SCOPEUP_REQUEST_STATE_KEY: randomBytes(32).toString("base64"),
      MCP_TOKENS: `${ALICE_TOKEN}=alice`,
    },
  });
  await miniflare.ready;
});

after(async () => {
  await miniflare?.dispose();
  provider?.kill();
});

test("an unauthenticated MCP request is refused with a Bearer challenge", async () => {
  const response = await fetch(`${workerUrl}mcp`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
  });
  assert.equal(response.status, 401);
  assert.match(response.headers.get("www-authenticate") ?? "", /^Bearer/);
});

test("the whole flow: refusal, link, picker, callback, retry", async () => {
  const mcp = new McpClient(ALICE_TOKEN);
  const init = await mcp.request("initialize", {
    protocolVersion: "2025-11-25",
    capabilities: {},
    clientInfo: { name: "e2e", version: "1" },
  });
  assert.equal(init.result.protocolVersion, "2025-11-25");
  const tools = await mcp.request("tools/list", {});
  assert.deepEqual(
    tools.result.tools.map((tool) => tool.name).sort(),
    ["create_note", "delete_note", "list_notes"],
  );

  // Not connected yet: the first call answers with a link (a form-only client gets it in a
  // tool result) and says what is missing.
  const first = await mcp.request("tools/call", { name: "list_notes", arguments: {} });
  assert.equal(first.result.isError, true, JSON.stringify(first));
  const connectLink = linkIn(first);
  assert.match(first.result.content[0].text, /notes:read/);

  const browser = new Browser();
  const done = await browser.complete(connectLink, "alice");
  assert.equal(done.status, 200, done.html);
  assert.equal(done.headers.get("cache-control"), "no-store");

  // Retry: the grant is on the Durable Object, sealed; the call succeeds.
  const listed = await mcp.request("tools/call", { name: "list_notes", arguments: {} });
  assert.equal(listed.result.isError, false, JSON.stringify(listed));

  // A tool that needs more: the API refuses for notes:write, scopeup opens an elicitation.
  const args = { title: "from workerd", body: "hello" };
  const refused = await mcp.request("tools/call", { name: "create_note", arguments: args });
  assert.equal(refused.result.isError, true, JSON.stringify(refused));
  assert.match(refused.result.content[0].text, /notes:write/);
  const upgradeLink = linkIn(refused);
  assert.notEqual(upgradeLink.href, connectLink.href);

  // The same refusal again shares the pending elicitation.
  const again = await mcp.request("tools/call", { name: "create_note", arguments: args });
  assert.equal(linkIn(again).href, upgradeLink.href);

  const upgraded = await browser.complete(upgradeLink, "alice");
  assert.equal(upgraded.status, 200, upgraded.html);
  assert.match(upgraded.html, /notes:write/);

  const created = await mcp.request("tools/call", { name: "create_note", arguments: args });
  assert.equal(created.result.isError, false, JSON.stringify(created));
  assert.match(created.result.content[0].text, /from workerd/);

  // The OAuth state was single-use: replaying the callback stores nothing and says so.
  const replay = await browser.get(browser.lastCallback);
  assert.equal(replay.status, 400, replay.html);
});

test("a stateless 2026-07-28 client gets an input-required result bound to its call", async () => {
  const mcp = new McpClient(ALICE_TOKEN);
  const meta = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": { elicitation: { url: {} } },
  };
  const answer = await mcp.request("tools/call", {
    name: "delete_note",
    arguments: { id: 1 },
    _meta: meta,
  });
  assert.equal(answer.result.resultType, "input_required", JSON.stringify(answer));
  const request = answer.result.inputRequests.scopeup;
  assert.equal(request.params.mode, "url");
  assert.ok(answer.result.requestState);

  // The state is bound to the call: replaying it with other arguments is refused.
  const tampered = await mcp.request("tools/call", {
    name: "delete_note",
    arguments: { id: 2 },
    requestState: answer.result.requestState,
    _meta: meta,
  });
  assert.equal(tampered.error?.code, -32602, JSON.stringify(tampered));
});

test("scopeup's pages send their security headers and refuse unknown elicitations", async () => {
  const response = await fetch(`${workerUrl}connect/${"A".repeat(22)}`);
  assert.equal(response.status, 404);
  assert.equal(response.headers.get("x-frame-options"), "DENY");
  assert.match(response.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
  assert.equal(response.headers.get("referrer-policy"), "no-referrer");
});

class McpClient {
  constructor(token) {
    this.token = token;
    this.nextId = 1;
  }

  async request(method, params) {
    const id = this.nextId++;
    const response = await fetch(`${workerUrl}mcp`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${this.token}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": "2025-11-25",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id, method, params }),
    });
    assert.equal(response.status, 200, `${method}: ${response.status}`);
    const message = await response.json();
    assert.equal(message.id, id);
    return message;
  }
}

/// A cookie-keeping browser that follows no redirect by itself, so each hop is checked.
class Browser {
  constructor() {
    this.jars = new Map();
    this.lastCallback = null;
  }

  async get(url) {
    return this.send(new URL(url), { method: "GET" });
  }

  async post(url, fields) {
    const body = new URLSearchParams(fields).toString();
    return this.send(new URL(url), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body,
    });
  }

  async send(url, init) {
    if (url.pathname.endsWith("/oauth/callback")) this.lastCallback = url;
    const jar = this.jar(url);
    const headers = { ...(init.headers ?? {}) };
    if (jar.size) headers.cookie = [...jar].map(([name, value]) => `${name}=${value}`).join("; ");
    const response = await fetch(url, { ...init, headers, redirect: "manual" });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const index = pair.indexOf("=");
      jar.set(pair.slice(0, index).trim(), pair.slice(index + 1).trim());
    }
    const location = response.headers.get("location");
    return {
      status: response.status,
      url,
      location: location ? new URL(location, url) : null,
      headers: response.headers,
      html: await response.text(),
    };
  }

  jar(url) {
    if (!this.jars.has(url.host)) this.jars.set(url.host, new Map());
    return this.jars.get(url.host);
  }

  async follow(seen) {
    for (let hop = 0; hop < 10; hop++) {
      if (!seen.location) return seen;
      seen = await this.get(seen.location);
    }
    throw new Error("too many redirects");
  }

  async submit(page, actionPart, extra) {
    const form = forms(page.html).find((candidate) => candidate.action.includes(actionPart));
    assert.ok(form, `no form with action ${actionPart} in ${page.html}`);
    return this.post(new URL(form.action, page.url), [...form.hidden, ...extra]);
  }

  /// From an elicitation link through the picker, the provider's login and consent (all
  /// requested scopes ticked), and back to the callback's page.
  async complete(link, user) {
    const picker = await this.get(link);
    assert.equal(picker.status, 200, `picker: ${picker.html}`);
    const toProvider = await this.submit(picker, "/connect/", [["action", "continue"]]);
    assert.equal(toProvider.status, 303, `picker submit: ${toProvider.html}`);
    assert.equal(toProvider.location.origin, issuer);

    let consent = await this.follow(toProvider);
    if (consent.html.includes('name="password"')) {
      const loggedIn = await this.submit(consent, "login", [["username", user], ["password", user]]);
      consent = await this.follow(loggedIn);
    }
    assert.match(consent.html, /decision/, `consent: ${consent.html}`);
    const scopes = checkboxValues(consent.html, "scope").map((scope) => ["scope", scope]);
    const back = await this.submit(consent, "consent", [...scopes, ["decision", "allow"]]);
    assert.equal(back.status, 303, `consent submit: ${back.html}`);
    assert.equal(back.location.origin + "/", workerUrl);
    return this.follow(back);
  }
}

function forms(html) {
  return html
    .split("<form")
    .slice(1)
    .map((chunk) => {
      const body = chunk.split("</form>")[0];
      const tag = body.slice(0, body.indexOf(">"));
      const hidden = body
        .split("<input")
        .slice(1)
        .map((input) => input.slice(0, input.indexOf(">")))
        .filter((input) => attribute(input, "type") === "hidden" && attribute(input, "name"))
        .map((input) => [attribute(input, "name"), attribute(input, "value") ?? ""]);
      return { action: attribute(tag, "action") ?? "", hidden };
    });
}

function checkboxValues(html, name) {
  return html
    .split("<input")
    .slice(1)
    .map((input) => input.slice(0, input.indexOf(">")))
    .filter(
      (input) =>
        attribute(input, "type") === "checkbox" &&
        attribute(input, "name") === name &&
        input.includes("checked"),
    )
    .map((input) => attribute(input, "value"));
}

function attribute(tag, name) {
  const match = tag.match(new RegExp(`${name}="([^"]*)"`));
  return match ? unescape(match[1]) : null;
}

function unescape(text) {
  return text
    .replaceAll("&#38;", "&").replaceAll("&amp;", "&")
    .replaceAll("&#34;", '"').replaceAll("&quot;", '"')
    .replaceAll("&#39;", "'").replaceAll("&#x27;", "'")
    .replaceAll("&#60;", "<").replaceAll("&lt;", "<")
    .replaceAll("&#62;", ">").replaceAll("&gt;", ">")
    .replaceAll("&#x2f;", "/").replaceAll("&#x2F;", "/");
}

function linkIn(answer) {
  const url =
    answer.error?.data?.elicitations?.[0]?.url ??
    answer.result?.inputRequests?.scopeup?.params?.url ??
    answer.result?.structuredContent?.url;
  assert.ok(url, `no link in ${JSON.stringify(answer)}`);
  return new URL(url);
}

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; run this through \`cargo xtask worker\``);
  return value;
}

async function freePort() {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

async function waitFor(url) {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer`);
}
