// The upstream side of the end-to-end suite, in one Node process:
//
// - an OpenID Connect / OAuth 2 authorization server built on `oidc-provider` (a certified
//   implementation), with the notes scopes, PKCE required, refresh tokens, userinfo,
//   revocation, introspection and RFC 9207 `iss` in the authorization response; its login and
//   consent pages are ours, and the consent page lets the user untick scopes;
// - a notes API under `/api/notes` that validates the provider's access tokens by introspection
//   and answers a missing scope with 403 and an RFC 6750 `insufficient_scope` challenge.
//
// Configuration comes from the environment (see `config` below); it prints `ready <issuer>` once
// it listens.

import { randomBytes, generateKeyPairSync, timingSafeEqual } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) {
    console.error(`upstream: the environment variable ${name} is required`);
    process.exit(2);
  }
  return value;
};

const config = {
  port: Number(env('UPSTREAM_PORT')),
  // The example's OAuth callback, registered as the client's only redirect URI.
  redirectUri: env('UPSTREAM_REDIRECT_URI'),
  clientId: env('UPSTREAM_CLIENT_ID', 'scopeup-example'),
  clientSecret: env('UPSTREAM_CLIENT_SECRET'),
};
const issuer = `http://127.0.0.1:${config.port}`;

// The resource server's own credentials for introspection; they never leave this process.
const api = { clientId: 'notes-api', clientSecret: randomBytes(24).toString('hex') };

// The users; the password of each is their name. `sub` is the name, which is also the upstream
// account the example binds its `demo-<name>` principals to.
const USERS = new Map(
  ['alice', 'bob', 'carol'].map((name) => [
    name,
    { sub: name, password: name, name: name[0].toUpperCase() + name.slice(1) },
  ]),
);

const SCOPES = {
  openid: 'Confirm who you are (required)',
  profile: 'See your name',
  offline_access: 'Keep access while you are away',
  'notes:read': 'Read your notes',
  'notes:write': 'Create and edit notes',
  'notes:delete': 'Delete notes',
};

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...rsa.privateKey.export({ format: 'jwk' }), kid: 'e2e-rs256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: config.clientId,
      client_secret: config.clientSecret,
      client_name: 'scopeup example',
      redirect_uris: [config.redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: api.clientId,
      client_secret: api.clientSecret,
      redirect_uris: [],
      grant_types: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  // The notes scopes are the provider's own, so access tokens carry them and still work at the
  // userinfo endpoint, where scopeup checks whose account came back.
  scopes: Object.keys(SCOPES),
  claims: { openid: ['sub'], profile: ['name'] },
  async findAccount(_ctx, sub) {
    const user = USERS.get(sub);
    if (!user) return undefined;
    return {
      accountId: user.sub,
      async claims() {
        return { sub: user.sub, name: user.name };
      },
    };
  },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  jwks: { keys: [signingKey] },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    Grant: 14 * 24 * 3600,
    IdToken: 3600,
    Interaction: 3600,
    RefreshToken: 14 * 24 * 3600,
    Session: 14 * 24 * 3600,
  },
});
provider.on('server_error', (_ctx, error) => console.error('upstream: server error', error));

const oidc = provider.callback();

// --- small HTTP helpers ------------------------------------------------------------------

const escape = (text) =>
  String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, status, title, body) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)} · Notes ID</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}
label{display:block;margin:.5rem 0}input[type=text],input[type=password]{width:100%;padding:.4rem}
button{padding:.5rem 1rem;margin-right:.5rem}</style></head>
<body><h1>${escape(title)}</h1>${body}</body></html>`);
}

function json(res, status, value, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(value));
}

async function readBody(req, limit = 64 * 1024) {
  let size = 0;
  const chunks = [];
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new Error('body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const sameText = (a, b) => {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
};

// --- login and consent -------------------------------------------------------------------

function loginPage(res, uid, details, error) {
  const client = details.params.client_id;
  page(
    res,
    error ? 401 : 200,
    'Sign in',
    `<p>Sign in to Notes ID to continue to <strong>${escape(client)}</strong>.</p>
${error ? `<p role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>User name <input type="text" name="login" autocomplete="username" autofocus></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button></form>`,
  );
}

function consentPage(res, uid, details) {
  const requested = (details.params.scope ?? '').split(' ').filter(Boolean);
  const missing = new Set(details.prompt.details.missingOIDCScope ?? []);
  const rows = requested
    .map((scope) => {
      const description = escape(SCOPES[scope] ?? scope);
      if (!missing.has(scope)) {
        return `<li>${escape(scope)}: ${description} (already allowed)</li>`;
      }
      if (scope === 'openid') {
        return `<li><input type="hidden" name="scope" value="openid">openid: ${description}</li>`;
      }
      return `<li><label><input type="checkbox" name="scope" value="${escape(scope)}" checked>
${escape(scope)}: ${description}</label></li>`;
    })
    .join('\n');
  page(
    res,
    200,
    'Allow access',
    `<p><strong>${escape(details.params.client_id)}</strong> asks for access to your account
<strong>${escape(details.session?.accountId ?? '')}</strong>. Untick what you do not want to allow.</p>
<form method="post" action="/interaction/${escape(uid)}/consent"><ul>${rows}</ul>
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button></form>`,
  );
}

async function interaction(req, res, url) {
  const [, , uid, action] = url.pathname.split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    page(res, 400, 'Invalid request', '<p>This sign-in step does not match your session.</p>');
    return;
  }

  if (req.method === 'GET' && action === undefined) {
    if (details.prompt.name === 'login') return loginPage(res, uid, details);
    if (details.prompt.name === 'consent') return consentPage(res, uid, details);
    page(res, 400, 'Invalid request', '<p>Unknown step.</p>');
    return;
  }

  if (req.method !== 'POST') {
    page(res, 405, 'Invalid request', '<p>Method not allowed.</p>');
    return;
  }
  const form = new URLSearchParams(await readBody(req));

  if (action === 'login' && details.prompt.name === 'login') {
    const user = USERS.get(form.get('login') ?? '');
    if (!user || !sameText(user.password, form.get('password') ?? '')) {
      return loginPage(res, uid, details, 'Wrong user name or password.');
    }
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: user.sub } },
      { mergeWithLastSubmission: false },
    );
    return;
  }

  if (action === 'consent' && details.prompt.name === 'consent') {
    if (form.get('decision') !== 'allow') {
      await provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'the user denied access' },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    const { accountId } = details.session;
    const clientId = details.params.client_id;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId });
    const missing = details.prompt.details.missingOIDCScope ?? [];
    const allowed = new Set(form.getAll('scope'));
    allowed.add('openid');
    const accepted = missing.filter((scope) => allowed.has(scope));
    const rejected = missing.filter((scope) => !allowed.has(scope));
    if (accepted.length) grant.addOIDCScope(accepted.join(' '));
    if (rejected.length) grant.rejectOIDCScope(rejected.join(' '));
    const claims = details.prompt.details.missingOIDCClaims ?? [];
    if (claims.length) grant.addOIDCClaims(claims);
    const grantId = await grant.save();
    await provider.interactionFinished(
      req,
      res,
      { consent: { grantId } },
      { mergeWithLastSubmission: true },
    );
    return;
  }

  page(res, 400, 'Invalid request', '<p>This step is not expected now.</p>');
}

// --- the notes API ----------------------------------------------------------------------

const notes = new Map(); // account -> [{id, title, body}]
let nextId = 1;

function challenge(res, status, error, description, scope) {
  const parts = [`realm="notes"`, `error="${error}"`, `error_description="${description}"`];
  if (scope) parts.push(`scope="${scope}"`);
  json(res, status, { error, error_description: description }, {
    'www-authenticate': `Bearer ${parts.join(', ')}`,
  });
}

async function introspect(token) {
  const response = await fetch(`${issuer}/token/introspection`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${api.clientId}:${api.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
  });
  if (!response.ok) throw new Error(`introspection answered ${response.status}`);
  return response.json();
}

async function notesApi(req, res, url) {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(header);
  if (!match) {
    res.writeHead(401, { 'www-authenticate': 'Bearer realm="notes"' });
    res.end();
    return;
  }
  const token = await introspect(match[1]);
  if (!token.active || token.token_type !== 'Bearer' || !token.sub) {
    return challenge(res, 401, 'invalid_token', 'The access token is invalid or expired');
  }
  const scopes = new Set((token.scope ?? '').split(' '));
  const need = (scope) => {
    if (scopes.has(scope)) return true;
    challenge(res, 403, 'insufficient_scope', `This needs the ${scope} scope`, scope);
    return false;
  };
  const mine = notes.get(token.sub) ?? [];
  notes.set(token.sub, mine);

  const rest = url.pathname.slice('/api/notes'.length);
  if (rest === '' || rest === '/') {
    if (req.method === 'GET') {
      if (need('notes:read')) json(res, 200, { account: token.sub, notes: mine });
      return;
    }
    if (req.method === 'POST') {
      if (!need('notes:write')) return;
      let input;
      try {
        input = JSON.parse(await readBody(req));
      } catch {
        return json(res, 400, { error: 'the body is not JSON' });
      }
      if (typeof input?.title !== 'string' || input.title === '') {
        return json(res, 400, { error: 'a title is required' });
      }
      const note = { id: nextId++, title: input.title, body: String(input.body ?? '') };
      mine.push(note);
      return json(res, 201, note);
    }
  }
  const id = /^\/(\d+)$/.exec(rest);
  if (id && req.method === 'DELETE') {
    if (!need('notes:delete')) return;
    const index = mine.findIndex((note) => note.id === Number(id[1]));
    if (index < 0) return json(res, 404, { error: 'no such note' });
    mine.splice(index, 1);
    res.writeHead(204);
    res.end();
    return;
  }
  json(res, 404, { error: 'not found' });
}

// --- the server -------------------------------------------------------------------------

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  try {
    if (url.pathname.startsWith('/interaction/')) return await interaction(req, res, url);
    if (url.pathname === '/api/notes' || url.pathname.startsWith('/api/notes/')) {
      return await notesApi(req, res, url);
    }
    return oidc(req, res);
  } catch (error) {
    console.error('upstream: request failed', req.method, url.pathname, error);
    if (!res.headersSent) page(res, 500, 'Error', '<p>Something went wrong.</p>');
    else res.end();
  }
});

server.listen(config.port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
