// A real OpenID Connect provider for authproxy's end-to-end tests.
//
// It wraps the npm package `oidc-provider` (pinned in package.json) and replaces its development
// interactions with a minimal login + consent flow made of plain HTML forms, so a plain HTTP client
// (reqwest in tests/support, curl in bench/) can drive a login without a browser.
//
// Usage: node server.mjs PORT   (or IDP_PORT=PORT node server.mjs)
// Prints "READY <issuer>" on stdout once it is listening on 127.0.0.1.
//
// Environment (all optional except the redirect URIs):
//   IDP_REDIRECT_URIS        comma-separated redirect_uris registered for both clients (required)
//   IDP_POST_LOGOUT_REDIRECT_URIS  comma-separated post_logout_redirect_uris
//   IDP_BACKCHANNEL_LOGOUT_URI     back-channel logout URI registered for every client (with
//                                  backchannel_logout_session_required, so ID tokens carry sid)
//   IDP_CLIENT_ID / IDP_CLIENT_SECRET            client using client_secret_basic
//                                                (default authproxy / authproxy-secret)
//   IDP_POST_CLIENT_ID / IDP_POST_CLIENT_SECRET  client using client_secret_post
//                                                (default authproxy-post / authproxy-post-secret)
//   IDP_ID_TOKEN_ALG         id_token signing alg for both clients: RS256 (default), PS256, ES256, EdDSA
//   IDP_ACCESS_TOKEN_TTL, IDP_ID_TOKEN_TTL, IDP_REFRESH_TOKEN_TTL, IDP_CODE_TTL   seconds
//   IDP_EMAIL_DOMAIN         domain appended to a login without "@" (default example.com)
//   IDP_RSA_KEY_FILE         PEM private key file used as the RSA signing key `rsa-1` instead of a
//                            fresh one (tests that pin the IdP's public key: oidc_public_key_files)
//   IDP_KEYCLOAK_CLIENTS     comma-separated client IDs that get Keycloak-shaped claims: when one of
//                            them asks, the id_token and userinfo carry `realm_access.roles` and
//                            `resource_access.<client>.roles` (from the login form's roles fields)
//                            next to `groups`, as a Keycloak realm with its default mappers does.
//                            The IDs may be the two clients above or a third one:
//   IDP_KEYCLOAK_CLIENT_ID / IDP_KEYCLOAK_CLIENT_SECRET  an extra client_secret_basic client
//                                                (registered only when both are set)
//
// Test-only control endpoints (the IdP only listens on loopback):
//   GET  /test/stats                 counters: token endpoint requests and grants by type
//   POST /test/revoke?login=NAME     forget the account, so its refresh tokens stop working
//
// Login form fields: login (username or email; becomes sub and preferred_username), password
// (ignored), groups (comma or whitespace separated), email_verified ("true"/"false", default true),
// realm_roles (Keycloak realm roles) and client_roles (Keycloak client roles: ROLE for the client
// that asks, CLIENT:ROLE for another client), both comma or whitespace separated; tenant (when
// set: the custom claims `tenant_id` and the nested `organization: {name, id}`, in the id_token
// and userinfo) and department (when set: the claim `department`, in userinfo ONLY, as IdPs put
// claims there that the id_token lacks).
// Every interaction page also has a "deny" form that ends the interaction with access_denied.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

import Provider from 'oidc-provider';

function env(name, fallback) {
  const value = process.env[name];
  return value === undefined || value === '' ? fallback : value;
}

function envSeconds(name, fallback) {
  const raw = env(name, String(fallback));
  const value = Number.parseInt(raw, 10);
  if (!Number.isInteger(value) || value <= 0 || String(value) !== raw.trim()) {
    throw new Error(`${name} must be a positive number of seconds, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function list(raw) {
  return (raw || '').split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

function fail(message) {
  process.stderr.write(`idp: ${message}\n`);
  process.exit(2);
}

const port = Number.parseInt(process.argv[2] || env('IDP_PORT', ''), 10);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  fail('usage: node server.mjs PORT (or IDP_PORT=PORT)');
}
const issuer = `http://127.0.0.1:${port}`;
const redirectUris = list(env('IDP_REDIRECT_URIS', ''));
if (redirectUris.length === 0) {
  fail('IDP_REDIRECT_URIS must list at least one redirect URI');
}
const postLogoutRedirectUris = list(env('IDP_POST_LOGOUT_REDIRECT_URIS', ''));
const idTokenAlg = env('IDP_ID_TOKEN_ALG', 'RS256');
const emailDomain = env('IDP_EMAIL_DOMAIN', 'example.com');
const keycloakClients = new Set(list(env('IDP_KEYCLOAK_CLIENTS', '')));
const keycloakClient = {
  id: env('IDP_KEYCLOAK_CLIENT_ID', ''),
  secret: env('IDP_KEYCLOAK_CLIENT_SECRET', ''),
};
if (Boolean(keycloakClient.id) !== Boolean(keycloakClient.secret)) {
  fail('IDP_KEYCLOAK_CLIENT_ID and IDP_KEYCLOAK_CLIENT_SECRET go together');
}

// Fresh signing keys per run: tests never depend on a key, only on discovery + JWKS.
function signingKey(kid, type, options) {
  const { privateKey } = crypto.generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig' };
}
function rsaKey() {
  const file = env('IDP_RSA_KEY_FILE', '');
  if (!file) {
    return signingKey('rsa-1', 'rsa', { modulusLength: 2048 });
  }
  const privateKey = crypto.createPrivateKey(fs.readFileSync(file, 'utf8'));
  return { ...privateKey.export({ format: 'jwk' }), kid: 'rsa-1', use: 'sig' };
}
const jwks = {
  keys: [
    rsaKey(),
    signingKey('ec-1', 'ec', { namedCurve: 'P-256' }),
    signingKey('ed-1', 'ed25519', {}),
  ],
};

// Accounts are created by the login form and live as long as the process.
const accounts = new Map();

function accountFromForm(form) {
  const login = (form.get('login') || '').trim();
  if (!login || /[\s<>"']/.test(login)) {
    return undefined;
  }
  const email = login.includes('@') ? login : `${login}@${emailDomain}`;
  return {
    accountId: login,
    email,
    emailVerified: (form.get('email_verified') || 'true') !== 'false',
    groups: list(form.get('groups')),
    realmRoles: list(form.get('realm_roles')),
    clientRoles: list(form.get('client_roles')),
    tenant: (form.get('tenant') || '').trim(),
    department: (form.get('department') || '').trim(),
  };
}

// Keycloak's role claims for `account` as seen by `clientId`: every realm role under
// realm_access (Keycloak always sends it, possibly empty), client roles under
// resource_access.<client> (only clients the user has roles for).
function keycloakClaims(account, clientId) {
  const resourceAccess = {};
  for (const entry of account.clientRoles) {
    const cut = entry.lastIndexOf(':');
    const client = cut > 0 ? entry.slice(0, cut) : clientId;
    const role = cut > 0 ? entry.slice(cut + 1) : entry;
    if (!role) {
      continue;
    }
    resourceAccess[client] ??= { roles: [] };
    resourceAccess[client].roles.push(role);
  }
  const claims = { realm_access: { roles: account.realmRoles } };
  if (Object.keys(resourceAccess).length > 0) {
    claims.resource_access = resourceAccess;
  }
  return claims;
}

const stats = {
  token_requests: 0,
  grants: { authorization_code: 0, refresh_token: 0 },
  grant_errors: 0,
};

const clientBase = {
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  redirect_uris: redirectUris,
  post_logout_redirect_uris: postLogoutRedirectUris,
  id_token_signed_response_alg: idTokenAlg,
  ...(env('IDP_BACKCHANNEL_LOGOUT_URI', '')
    ? {
      backchannel_logout_uri: env('IDP_BACKCHANNEL_LOGOUT_URI', ''),
      backchannel_logout_session_required: true,
    }
    : {}),
};

const clients = [
  {
    ...clientBase,
    client_id: env('IDP_CLIENT_ID', 'authproxy'),
    client_secret: env('IDP_CLIENT_SECRET', 'authproxy-secret'),
    token_endpoint_auth_method: 'client_secret_basic',
  },
  {
    ...clientBase,
    client_id: env('IDP_POST_CLIENT_ID', 'authproxy-post'),
    client_secret: env('IDP_POST_CLIENT_SECRET', 'authproxy-post-secret'),
    token_endpoint_auth_method: 'client_secret_post',
  },
];
if (keycloakClient.id) {
  clients.push({
    ...clientBase,
    client_id: keycloakClient.id,
    client_secret: keycloakClient.secret,
    token_endpoint_auth_method: 'client_secret_basic',
  });
}

const provider = new Provider(issuer, {
  clients,
  jwks,
  cookies: {
    keys: [crypto.randomBytes(32).toString('base64url')],
    // Distinct names: cookies ignore ports, so on 127.0.0.1 the browser sends these to the proxy too.
    names: {
      session: 'idp_session',
      interaction: 'idp_interaction',
      resume: 'idp_interaction_resume',
    },
  },
  claims: {
    // realm_access / resource_access are only filled for IDP_KEYCLOAK_CLIENTS (see findAccount).
    openid: ['sub', 'groups', 'realm_access', 'resource_access', 'tenant_id', 'organization', 'department'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  // Put the scope's claims into the id_token itself (oauth2-proxy reads them from there).
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    backchannelLogout: { enabled: true },
  },
  // oidc-provider refuses outgoing requests (back-channel logout) to special-use addresses such
  // as 127.0.0.1 (SSRF protection for real deployments); every party of the tests is on loopback.
  fetch: (url, options) => {
    const { dispatcher: _ssrfGuard, ...rest } = options;
    return globalThis.fetch(url, rest);
  },
  pkce: {
    // PKCE S256 is mandatory for every client, confidential ones included.
    required: () => true,
  },
  // oauth2-proxy never asks for offline_access; issue refresh tokens to every code grant anyway.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  ttl: {
    AccessToken: envSeconds('IDP_ACCESS_TOKEN_TTL', 300),
    AuthorizationCode: envSeconds('IDP_CODE_TTL', 60),
    IdToken: envSeconds('IDP_ID_TOKEN_TTL', 300),
    RefreshToken: envSeconds('IDP_REFRESH_TOKEN_TTL', 3600),
    Grant: 3600,
    Interaction: 600,
    Session: 3600,
  },
  interactions: {
    url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  async findAccount(ctx, sub) {
    const account = accounts.get(sub);
    if (!account) {
      return undefined;
    }
    return {
      accountId: sub,
      async claims(use) {
        const claims = {
          sub,
          email: account.email,
          email_verified: account.emailVerified,
          preferred_username: account.accountId,
          name: account.accountId,
          groups: account.groups,
        };
        if (account.tenant) {
          claims.tenant_id = account.tenant;
          claims.organization = { name: `${account.tenant} Inc.`, id: account.tenant.length };
        }
        if (account.department && use === 'userinfo') {
          claims.department = account.department;
        }
        const clientId = ctx?.oidc?.client?.clientId;
        if (clientId && keycloakClients.has(clientId)) {
          Object.assign(claims, keycloakClaims(account, clientId));
        }
        return claims;
      },
    };
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error', `<p id="error">${escapeHtml(out.error)}: ${escapeHtml(out.error_description || '')}</p>`);
  },
});

provider.on('grant.success', (ctx) => {
  const type = ctx.oidc.params.grant_type;
  stats.grants[type] = (stats.grants[type] || 0) + 1;
});
provider.on('grant.error', () => {
  stats.grant_errors += 1;
});
provider.on('backchannel.error', (_ctx, err, client) => {
  console.error(`back-channel logout to ${client.clientId} failed: ${err.message} ${err.cause ? err.cause : ""}`);
});
provider.on('backchannel.success', (_ctx, client) => {
  console.error(`back-channel logout delivered to ${client.clientId}`);
});
provider.on('server_error', (_ctx, err) => {
  process.stderr.write(`idp: server_error ${err.stack || err}\n`);
});

function escapeHtml(value) {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body><h1>${escapeHtml(title)}</h1>
${body}
</body></html>
`;
}

function denyForm(uid) {
  return `<form id="deny" method="post" action="/interaction/${uid}/abort">
<button type="submit">Deny</button>
</form>`;
}

function loginPage(uid, params) {
  return page('Sign in to the test IdP', `<p>Client: ${escapeHtml(params.client_id)}</p>
<form id="login" method="post" action="/interaction/${uid}/login">
<label>Username <input type="text" name="login" value="" autofocus></label>
<label>Password <input type="password" name="password" value=""></label>
<label>Groups <input type="text" name="groups" value=""></label>
<label>Realm roles <input type="text" name="realm_roles" value=""></label>
<label>Client roles <input type="text" name="client_roles" value=""></label>
<label>Tenant <input type="text" name="tenant" value=""></label>
<label>Department <input type="text" name="department" value=""></label>
<input type="hidden" name="email_verified" value="true">
<button type="submit">Sign in</button>
</form>
${denyForm(uid)}`);
}

function consentPage(uid, params, details) {
  const scopes = (details.missingOIDCScope || []).map(escapeHtml).join(' ');
  return page('Authorize', `<p>Client ${escapeHtml(params.client_id)} asks for: <span id="scopes">${scopes}</span></p>
<form id="consent" method="post" action="/interaction/${uid}/confirm">
<input type="hidden" name="confirm" value="yes">
<button type="submit">Allow</button>
</form>
${denyForm(uid)}`);
}

function send(res, status, type, body) {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) {
      throw new Error('form body too large');
    }
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function consent(req, res, details) {
  const { prompt, params, session } = details;
  let { grantId } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) {
    grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  }
  if (prompt.details.missingOIDCClaims) {
    grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  }
  if (prompt.details.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  const savedId = await grant.save();
  const result = { consent: {} };
  if (!grantId) {
    grantId = savedId;
    result.consent.grantId = grantId;
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

async function interaction(req, res, url) {
  const parts = url.pathname.split('/').filter(Boolean); // ["interaction", uid, action?]
  if (parts.length < 2 || parts.length > 3) {
    return send(res, 404, 'text/plain', 'not found\n');
  }
  const [, uid, action] = parts;
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    return send(res, 400, 'text/plain', 'interaction mismatch\n');
  }
  const { prompt, params } = details;

  if (req.method === 'GET' && action === undefined) {
    if (prompt.name === 'login') {
      return send(res, 200, 'text/html; charset=utf-8', loginPage(uid, params));
    }
    if (prompt.name === 'consent') {
      return send(res, 200, 'text/html; charset=utf-8', consentPage(uid, params, prompt.details));
    }
    return send(res, 500, 'text/plain', `unknown prompt ${prompt.name}\n`);
  }
  if (req.method !== 'POST') {
    return send(res, 405, 'text/plain', 'method not allowed\n');
  }
  const form = await readForm(req);
  if (action === 'login' && prompt.name === 'login') {
    const account = accountFromForm(form);
    if (!account) {
      return send(res, 400, 'text/html; charset=utf-8', `${loginPage(uid, params)}<p id="error">invalid login</p>`);
    }
    accounts.set(account.accountId, account);
    return provider.interactionFinished(
      req,
      res,
      { login: { accountId: account.accountId } },
      { mergeWithLastSubmission: false },
    );
  }
  if (action === 'confirm' && prompt.name === 'consent') {
    return consent(req, res, details);
  }
  if (action === 'abort') {
    return provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'End-User aborted interaction' },
      { mergeWithLastSubmission: false },
    );
  }
  return send(res, 400, 'text/plain', `action ${action} does not match prompt ${prompt.name}\n`);
}

function control(req, res, url) {
  if (req.method === 'GET' && url.pathname === '/test/stats') {
    return send(res, 200, 'application/json', `${JSON.stringify(stats)}\n`);
  }
  if (req.method === 'POST' && url.pathname === '/test/revoke') {
    const login = url.searchParams.get('login') || '';
    const existed = accounts.delete(login);
    return send(res, existed ? 200 : 404, 'application/json', `${JSON.stringify({ revoked: existed })}\n`);
  }
  return send(res, 404, 'text/plain', 'not found\n');
}

const oidc = provider.callback();

const server = http.createServer({ maxHeaderSize: 64 * 1024 }, (req, res) => {
  const url = new URL(req.url, issuer);
  if (url.pathname === '/token' && req.method === 'POST') {
    stats.token_requests += 1;
  }
  let handled;
  if (url.pathname.startsWith('/interaction/')) {
    handled = interaction(req, res, url);
  } else if (url.pathname.startsWith('/test/')) {
    handled = Promise.resolve(control(req, res, url));
  } else {
    oidc(req, res);
    return;
  }
  handled.catch((err) => {
    process.stderr.write(`idp: ${req.method} ${url.pathname} failed: ${err.stack || err}\n`);
    if (!res.headersSent) {
      send(res, err.statusCode || 500, 'text/plain', `${err.name || 'Error'}: ${err.message}\n`);
    } else {
      res.destroy();
    }
  });
});

server.on('error', (err) => fail(`cannot listen on 127.0.0.1:${port}: ${err.message}`));
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${issuer}\n`);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
