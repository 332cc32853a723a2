// The scenarios of the end-to-end suite. `cargo xtask e2e` starts the upstream provider and a
// fresh axum example for each scenario, then runs `node scenarios.mjs <scenario>` with:
//
//   E2E_MCP_URL       the example's MCP endpoint
//   E2E_SCREENSHOTS   where to write screenshots
//   E2E_PYTHON        the Python interpreter of the venv that holds the `mcp` SDK
//
// Each scenario prints its steps and ends with one line `E2E-RESULT {json}` that the summary
// reads; it exits non-zero when a check fails.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  ElicitationCompleteNotificationSchema,
  ErrorCode,
  McpError,
} from '@modelcontextprotocol/sdk/types.js';

import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
} from '@modelcontextprotocol/client';

import { CheckFailed, User, check, launchBrowser } from './browser.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const MCP_URL = requireEnv('E2E_MCP_URL');
const SCREENSHOTS = process.env.E2E_SCREENSHOTS;

function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`scenarios: the environment variable ${name} is required`);
    process.exit(2);
  }
  return value;
}

function version(pkg) {
  const file = path.join(here, 'node_modules', ...pkg.split('/'), 'package.json');
  return JSON.parse(readFileSync(file, 'utf8')).version;
}

const log = (line) => console.log(`  ${line}`);

async function waitFor(what, condition, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new CheckFailed(`timed out waiting for ${what}`);
}

const text = (result) =>
  (result.content ?? []).filter((block) => block.type === 'text').map((block) => block.text).join('\n');

/// The connect link must be scopeup's `/connect/{id}` on the example, with an opaque id only.
function checkLink(link) {
  const url = new URL(link);
  const mcp = new URL(MCP_URL);
  check(url.origin === mcp.origin, `the link ${link} is not on the example's origin`);
  check(/^\/connect\/[A-Za-z0-9_-]{22,}$/.test(url.pathname), `the link ${link} is not /connect/{id}`);
  check(url.search === '' && url.hash === '', `the link ${link} carries data`);
}

/// The user connects for the first time: picker with the baseline scopes, sign-in, consent
/// with everything allowed.
async function firstConnect(user, link) {
  const picker = await user.openPicker(link);
  check(picker.granted.length === 0, `a first connect shows granted scopes [${picker.granted}]`);
  check(picker.needed.includes('notes:read'), `the first connect does not ask for notes:read`);
  const result = await user.authorize(picker);
  check(result.title === 'Access updated', `the first connect ended on "${result.title}"`);
  check(result.granted.includes('notes:read'), `notes:read is not listed as granted`);
  return result;
}

/// The upgrade the issue describes: held scopes shown as granted, the missing one pre-checked,
/// a template chosen, sign-in, one optional scope unticked at the provider, and a result page
/// that names it as declined.
async function upgradeWithTemplate(user, link, { shots }) {
  const picker = await user.openPicker(link, { shot: shots && `${shots}-picker` });
  check(picker.granted.includes('notes:read'), `notes:read is not shown as granted: [${picker.granted}]`);
  check(
    picker.needed.length === 1 && picker.needed[0] === 'notes:write',
    `the needed scopes are [${picker.needed}], not [notes:write]`,
  );
  check(picker.neededChecked, 'the missing scope is not pre-checked');
  check(picker.templates.includes('full'), `no "full" template: [${picker.templates}]`);
  const result = await user.authorize(picker, {
    template: 'full',
    untick: ['notes:delete'],
    shot: shots && `${shots}-result`,
  });
  check(result.title === 'Access updated', `the upgrade ended on "${result.title}"`);
  check(result.granted.includes('notes:write'), `notes:write is not listed as granted`);
  check(
    result.declined.length === 1 && result.declined[0] === 'notes:delete',
    `the result page names [${result.declined}] as declined, not [notes:delete]`,
  );
  return result;
}

// --- TypeScript SDK v1 (`@modelcontextprotocol/sdk`), protocol 2025-11-25 -------------------

async function connectV1(principal) {
  const client = new ClientV1(
    { name: 'scopeup-e2e', version: '1.0.0' },
    { capabilities: { elicitation: { url: {} } } },
  );
  const completed = new Set();
  client.setNotificationHandler(ElicitationCompleteNotificationSchema, (notification) => {
    completed.add(notification.params.elicitationId);
  });
  const transport = new TransportV1(new URL(MCP_URL), {
    requestInit: { headers: { authorization: `Bearer ${principal}` } },
  });
  await client.connect(transport);
  return { client, transport, completed };
}

/// Calls a tool and expects the 2025-11-25 shape: a `-32042` error with one URL elicitation.
async function expectUrlElicitationError(client, name, args) {
  let error;
  try {
    const result = await client.callTool({ name, arguments: args });
    throw new CheckFailed(`${name} answered a result instead of -32042: ${text(result)}`);
  } catch (caught) {
    if (caught instanceof CheckFailed) throw caught;
    error = caught;
  }
  check(error instanceof McpError, `${name} failed with ${error}`);
  check(error.code === ErrorCode.UrlElicitationRequired, `${name} failed with code ${error.code}, not -32042`);
  const elicitations = error.data?.elicitations ?? [];
  check(elicitations.length === 1, `-32042 carries ${elicitations.length} elicitations`);
  const [elicitation] = elicitations;
  check(elicitation.mode === 'url', `the elicitation's mode is ${elicitation.mode}`);
  check(typeof elicitation.elicitationId === 'string', 'the elicitation has no id');
  check(typeof elicitation.message === 'string' && elicitation.message.length > 0, 'no message');
  checkLink(elicitation.url);
  log(`${name} -> -32042 with ${elicitation.url}`);
  return elicitation;
}

async function tsLegacy(browser) {
  const { client, transport, completed } = await connectV1('demo-alice');
  check(
    transport.protocolVersion === '2025-11-25',
    `negotiated protocol ${transport.protocolVersion}, not 2025-11-25`,
  );
  log(`connected at ${transport.protocolVersion}`);
  const alice = new User(browser, 'alice', { screenshots: SCREENSHOTS, log });

  // Not connected yet: the first call asks to connect.
  const connect = await expectUrlElicitationError(client, 'list_notes', {});
  await firstConnect(alice, connect.url);
  await waitFor('the completion notification of the connect', () => completed.has(connect.elicitationId));
  log('notifications/elicitation/complete received for the connect');
  const listed = await client.callTool({ name: 'list_notes', arguments: {} });
  check(!listed.isError, `list_notes failed after the connect: ${text(listed)}`);
  check(text(listed).includes('"account":"alice"'), `list_notes answered ${text(listed)}`);

  // The upgrade, in a fresh browser profile so that the provider asks to sign in again.
  await alice.forget();
  const upgrade = await expectUrlElicitationError(client, 'create_note', { title: 'From the TypeScript SDK' });
  check(upgrade.elicitationId !== connect.elicitationId, 'the upgrade reused the connect elicitation');
  await upgradeWithTemplate(alice, upgrade.url, { shots: 'upgrade' });
  await waitFor('the completion notification of the upgrade', () => completed.has(upgrade.elicitationId));
  log('notifications/elicitation/complete received for the upgrade');
  const created = await client.callTool({ name: 'create_note', arguments: { title: 'From the TypeScript SDK' } });
  check(!created.isError, `create_note failed after the upgrade: ${text(created)}`);
  check(text(created).includes('From the TypeScript SDK'), `create_note answered ${text(created)}`);
  log(`create_note succeeded: ${text(created)}`);

  // The refresh token survived the upgrade's revocation of the superseded token.
  const again = await client.callTool({ name: 'list_notes', arguments: {} });
  check(!again.isError && text(again).includes('From the TypeScript SDK'), `list_notes answered ${text(again)}`);
  await client.close();
}

// --- TypeScript SDK v2 (`@modelcontextprotocol/client`), protocol 2026-07-28 ---------------

async function tsModern(browser) {
  const client = new ClientV2(
    { name: 'scopeup-e2e', version: '1.0.0' },
    {
      capabilities: { elicitation: { url: {} } },
      versionNegotiation: { mode: { pin: '2026-07-28' } },
    },
  );
  // The SDK fulfils `input_required` rounds through this handler, then retries the call with
  // the responses and the server's `requestState`.
  const asked = [];
  let user = async () => {
    throw new CheckFailed('an elicitation arrived when none was expected');
  };
  client.setRequestHandler('elicitation/create', async (request) => {
    const { params } = request;
    asked.push(params);
    check(params.mode === 'url', `the elicitation's mode is ${params.mode}`);
    checkLink(params.url);
    check(typeof params.message === 'string' && params.message.length > 0, 'no message');
    log(`input_required: elicitation/create with ${params.url}`);
    await user(params);
    return { action: 'accept' };
  });
  const transport = new TransportV2(new URL(MCP_URL), {
    requestInit: { headers: { authorization: 'Bearer demo-alice' } },
  });
  await client.connect(transport);
  const protocol = client.getNegotiatedProtocolVersion();
  check(protocol === '2026-07-28', `negotiated protocol ${protocol}, not 2026-07-28`);
  log(`connected at ${protocol}`);
  const alice = new User(browser, 'alice', { screenshots: SCREENSHOTS, log });

  user = (params) => firstConnect(alice, params.url);
  const listed = await client.callTool({ name: 'list_notes', arguments: {} });
  check(asked.length === 1, `${asked.length} elicitations for the connect`);
  check(!listed.isError, `list_notes failed after the connect: ${text(listed)}`);
  check(text(listed).includes('"account":"alice"'), `list_notes answered ${text(listed)}`);
  log('list_notes succeeded on the retry with requestState');

  // The upgrade in the same browser profile: the provider remembers the sign-in and the first
  // consent, so it asks only for the added scopes, on the same grant.
  user = (params) => upgradeWithTemplate(alice, params.url, {});
  const created = await client.callTool({ name: 'create_note', arguments: { title: 'From the v2 SDK' } });
  check(asked.length === 2, `${asked.length} elicitations after the upgrade`);
  check(asked[1].url !== asked[0].url, 'the upgrade reused the connect link');
  check(!created.isError, `create_note failed after the upgrade: ${text(created)}`);
  check(text(created).includes('From the v2 SDK'), `create_note answered ${text(created)}`);
  log(`create_note succeeded on the retry: ${text(created)}`);

  const again = await client.callTool({ name: 'list_notes', arguments: {} });
  check(!again.isError && text(again).includes('From the v2 SDK'), `list_notes answered ${text(again)}`);
  await client.close();
}

// --- Python SDK (`mcp`), form elicitation only ---------------------------------------------

class PythonPeer {
  constructor(principal) {
    const python = requireEnv('E2E_PYTHON');
    this.child = spawn(python, [path.join(here, 'python_client.py'), MCP_URL, principal], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.lines = readline.createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  async next() {
    const timeout = new Promise((_, reject) =>
      setTimeout(() => reject(new CheckFailed('the Python client did not answer in 30 s')), 30_000),
    );
    const { value, done } = await Promise.race([this.lines.next(), timeout]);
    check(!done, 'the Python client exited');
    const message = JSON.parse(value);
    check(!message.unexpectedElicitation, `the server sent a form elicitation: ${value}`);
    return message;
  }

  async call(name, args = {}) {
    this.child.stdin.write(`${JSON.stringify({ call: name, arguments: args })}\n`);
    return this.next();
  }

  async quit() {
    this.child.stdin.write(`${JSON.stringify({ quit: true })}\n`);
    await new Promise((resolve) => this.child.once('exit', resolve));
  }
}

/// Expects the form-only shape: an `isError` tool result whose text names the missing scope and
/// holds the link, with the same facts in `structuredContent`.
function expectLinkInResult(result, name, scope) {
  check(result.isError, `${name} did not answer with isError: ${result.text}`);
  const links = result.text.match(/https?:\/\/\S+\/connect\/[A-Za-z0-9_-]+/g) ?? [];
  check(links.length >= 1, `${name}'s result text holds no link: ${result.text}`);
  const link = links[0];
  checkLink(link);
  check(result.text.includes(scope), `${name}'s result text does not name ${scope}: ${result.text}`);
  check(/retry/i.test(result.text), `${name}'s result text does not say to retry: ${result.text}`);
  check(
    JSON.stringify(result.structured ?? {}).includes(link),
    `${name}'s structuredContent lacks the link: ${JSON.stringify(result.structured)}`,
  );
  log(`${name} -> tool result with ${link}`);
  return link;
}

async function pythonForm(browser) {
  const peer = new PythonPeer('demo-bob');
  try {
    const hello = await peer.next();
    const elicitation = hello.capabilities.elicitation ?? {};
    check(elicitation.form !== undefined && elicitation.url === undefined, `capabilities ${JSON.stringify(elicitation)}`);
    log(`connected at ${hello.protocol} declaring elicitation ${JSON.stringify(elicitation)}`);
    pythonProtocol = hello.protocol;
    const bob = new User(browser, 'bob', { screenshots: SCREENSHOTS, log });

    const connect = expectLinkInResult(await peer.call('list_notes'), 'list_notes', 'notes:read');
    await firstConnect(bob, connect);
    const listed = await peer.call('list_notes');
    check(!listed.isError && listed.text.includes('"account":"bob"'), `list_notes answered ${listed.text}`);
    log('list_notes succeeded after the connect');

    await bob.forget();
    const upgrade = expectLinkInResult(
      await peer.call('create_note', { title: 'From the Python SDK' }),
      'create_note',
      'notes:write',
    );
    check(upgrade !== connect, 'the upgrade reused the connect link');
    await upgradeWithTemplate(bob, upgrade, {});
    const created = await peer.call('create_note', { title: 'From the Python SDK' });
    check(!created.isError && created.text.includes('From the Python SDK'), `create_note answered ${created.text}`);
    log(`create_note succeeded: ${created.text}`);
  } finally {
    await peer.quit().catch(() => {});
  }
}

let pythonProtocol = 'negotiated';

function pythonVersion() {
  const python = process.env.E2E_PYTHON;
  const requirements = readFileSync(path.join(here, 'requirements.txt'), 'utf8');
  const pinned = /^mcp==(\S+)/m.exec(requirements)?.[1] ?? '?';
  return python ? `Python SDK (mcp ${pinned})` : 'Python SDK';
}

// --- The phishing case: B opens A's link ---------------------------------------------------

async function phishing(browser) {
  const { client } = await connectV1('demo-alice');
  const first = await expectUrlElicitationError(client, 'list_notes', {});
  const bob = new User(browser, 'bob', { screenshots: SCREENSHOTS, log });
  const picker = await bob.openPicker(first.url);
  const refused = await bob.authorize(picker, { shot: 'refused' });
  check(refused.title === 'Access not updated', `bob's sign-in ended on "${refused.title}"`);
  check(/account/i.test(refused.text), `the refusal does not explain the account: ${refused.text}`);
  check(refused.granted.length === 0, 'the refusal lists granted scopes');
  log(`refused: ${refused.text.split('\n').find((line) => /account/i.test(line))}`);

  // Nothing was stored for alice, and her pending link is the same.
  const second = await expectUrlElicitationError(client, 'list_notes', {});
  check(second.url === first.url, `alice's next call got ${second.url}, not ${first.url}`);
  check(second.elicitationId === first.elicitationId, 'the elicitation id changed');
  log('alice still gets the same pending link');

  // The link still works for alice herself.
  const alice = new User(browser, 'alice', { screenshots: SCREENSHOTS, log });
  await firstConnect(alice, first.url);
  const listed = await client.callTool({ name: 'list_notes', arguments: {} });
  check(!listed.isError && text(listed).includes('"account":"alice"'), `list_notes answered ${text(listed)}`);
  log('alice connects through the same link afterwards');
  await client.close();
}

const SCENARIOS = {
  'ts-2025-11-25': {
    peer: () => `TypeScript SDK (@modelcontextprotocol/sdk ${version('@modelcontextprotocol/sdk')})`,
    protocol: '2025-11-25',
    shape: '-32042 + notifications/elicitation/complete',
    run: tsLegacy,
  },
  'ts-2026-07-28': {
    peer: () => `TypeScript SDK v2 (@modelcontextprotocol/client ${version('@modelcontextprotocol/client')})`,
    protocol: '2026-07-28',
    shape: 'input_required + requestState retry',
    run: tsModern,
  },
  'python-form': {
    peer: pythonVersion,
    protocol: 'negotiated',
    shape: 'link in the tool result (form-only client)',
    run: pythonForm,
  },
  phishing: {
    peer: () => `TypeScript SDK (@modelcontextprotocol/sdk ${version('@modelcontextprotocol/sdk')})`,
    protocol: '2025-11-25',
    shape: "user B completes A's link: refused, nothing stored",
    run: phishing,
  },
};

async function main() {
  const name = process.argv[2];
  const scenario = SCENARIOS[name];
  if (!scenario) {
    console.error(`scenarios: unknown scenario "${name}"; known: ${Object.keys(SCENARIOS).join(', ')}`);
    process.exit(2);
  }
  const about = { scenario: name, peer: scenario.peer(), protocol: scenario.protocol, shape: scenario.shape };
  console.log(`${name}: ${about.peer}, protocol ${about.protocol}, ${about.shape}`);
  const browser = await launchBrowser();
  let outcome;
  try {
    await scenario.run(browser);
    outcome = { ...about, status: 'pass' };
    if (name === 'python-form') outcome.protocol = pythonProtocol;
  } catch (error) {
    console.error(`  FAILED: ${error instanceof CheckFailed ? error.message : error?.stack ?? error}`);
    outcome = { ...about, status: 'fail', error: String(error?.message ?? error) };
  } finally {
    await browser.close();
  }
  console.log(`E2E-RESULT ${JSON.stringify(outcome)}`);
  process.exit(outcome.status === 'pass' ? 0 : 1);
}

await main();
