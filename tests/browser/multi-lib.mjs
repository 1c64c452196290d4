// Harness of the multi-provider browser tests: two real oidc-provider IdPs (tests/idp), the
// GitHub fake (tests/fakes/github.rs, launched through the test-only example binary
// examples/fake_github.rs), an app that shows who is signed in, the authproxy binary configured
// with an alpha config (three providers), and headless Debian chromium driven by
// playwright-core. Loopback only; every process is stopped by stopAll().
//
// Environment: AUTHPROXY_BIN (the authproxy binary), FAKE_GITHUB_BIN (default: the
// fake_github example next to it, `<target>/debug/examples/fake_github`; `cargo test
// --all-targets` or `cargo build --examples` builds it).

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as readline from 'node:readline';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const require = createRequire(import.meta.url);

/** Where screenshots go (gitignored). */
export const ARTIFACTS = path.join(root, 'test-artifacts', 'browser');

/** The flags the issue prescribes; never a downloaded browser. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
];

const CLIENT = { id: 'authproxy', secret: 'authproxy-secret' };
const POST_CLIENT = { id: 'authproxy-post', secret: 'authproxy-post-secret' };
const COOKIE_SECRET = 'q2n4Lw6h0Ue7kGf1yS3ZpV9tXcB8rJmA5dHoQiKzW0E=';
/** The OAuth client the GitHub fake knows (tests/fakes/github.rs). */
const GITHUB_CLIENT = { id: 'gh-client', secret: 'gh-secret' };

const children = [];
const servers = [];

export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

function authproxyBin() {
  const candidates = [
    process.env.AUTHPROXY_BIN,
    process.env.CARGO_TARGET_DIR && path.join(process.env.CARGO_TARGET_DIR, 'debug', 'authproxy'),
    path.join(root, 'target', 'debug', 'authproxy'),
  ].filter(Boolean);
  const bin = candidates.find((c) => fs.existsSync(c));
  if (!bin) {
    throw new Error(`authproxy binary not found (tried ${candidates.join(', ')}); run cargo build first or set AUTHPROXY_BIN`);
  }
  return bin;
}

function fakeGithubBin() {
  const candidates = [
    process.env.FAKE_GITHUB_BIN,
    path.join(path.dirname(authproxyBin()), 'examples', 'fake_github'),
  ].filter(Boolean);
  const bin = candidates.find((c) => fs.existsSync(c));
  if (!bin) {
    throw new Error(`fake_github not found (tried ${candidates.join(', ')}); run \`cargo build --examples\` or set FAKE_GITHUB_BIN`);
  }
  return bin;
}

function logFile(kind) {
  const dir = path.join(root, 'test-artifacts', 'browser', 'logs');
  fs.mkdirSync(dir, { recursive: true });
  return path.join(dir, `${kind}-${process.pid}-${children.length}.log`);
}

function run(cmd, args, env, kind) {
  const log = logFile(kind);
  const out = fs.openSync(log, 'w');
  const child = spawn(cmd, args, {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_PROXY: '127.0.0.1', ...env },
    stdio: ['ignore', out, out],
  });
  child.log = log;
  children.push(child);
  return child;
}

async function waitFor(check, what, timeoutMs = 30000, child = null) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) {
      throw new Error(`${what} exited with ${child.exitCode}:\n${fs.readFileSync(child.log, 'utf8')}`);
    }
    try {
      if (await check()) return;
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not come up within ${timeoutMs} ms ${last}`);
}

/** A real oidc-provider on `port` that accepts the proxy's callback. */
async function startIdp(proxyPort) {
  const port = await freePort();
  const child = run(process.execPath, [path.join(root, 'tests', 'idp', 'server.mjs'), String(port)], {
    IDP_REDIRECT_URIS: `http://127.0.0.1:${proxyPort}/oauth2/callback`,
    IDP_POST_LOGOUT_REDIRECT_URIS: `http://127.0.0.1:${proxyPort}/`,
  }, 'idp');
  const issuer = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${issuer}/.well-known/openid-configuration`)).ok, `IdP (log ${child.log})`, 30000, child);
  return issuer;
}

/**
 * The GitHub fake with `alice` (member of acme, team acme/ops) and `mallory` (no org).
 * Returns { base, signInAs(login) }: signInAs picks who approves the next authorization.
 */
async function startGithubFake() {
  const log = logFile('fake-github');
  const err = fs.openSync(log, 'w');
  const child = spawn(fakeGithubBin(), ['alice:acme/ops', 'mallory'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    stdio: ['pipe', 'pipe', err],
  });
  child.log = log;
  children.push(child);
  const lines = readline.createInterface({ input: child.stdout });
  const pending = [];
  let ready;
  const started = new Promise((resolve, reject) => {
    ready = { resolve, reject };
    child.on('exit', (code) => reject(new Error(`fake_github exited with ${code}:\n${fs.readFileSync(log, 'utf8')}`)));
  });
  lines.on('line', (line) => {
    if (line.startsWith('READY ')) {
      ready.resolve(line.slice('READY '.length).trim());
    } else {
      pending.shift()?.(line);
    }
  });
  const timer = setTimeout(() => ready.reject(new Error(`fake_github did not print READY (log ${log})`)), 30000);
  const base = await started.finally(() => clearTimeout(timer));
  async function signInAs(login) {
    const answer = new Promise((resolve) => pending.push(resolve));
    child.stdin.write(`as ${login}\n`);
    const line = await answer;
    if (line !== 'OK') {
      throw new Error(`fake_github: as ${login}: ${line}`);
    }
  }
  return { base, signInAs };
}

function escapeHtml(v) {
  return String(v ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The app: a page that shows the identity headers the proxy sent. */
async function startApp() {
  const srv = http.createServer((req, res) => {
    const h = req.headers;
    const body = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>App</title></head>
<body><main><h1>Hello ${escapeHtml(h['x-forwarded-email'])}</h1>
<p>Signed in with <span id="provider">${escapeHtml(h['x-forwarded-provider'])}</span> as <span id="user">${escapeHtml(h['x-forwarded-user'])}</span>.</p>
<p><a href="/oauth2/sign_out?rd=%2Fhome">Sign out</a></p></main></body></html>`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(body);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  servers.push(srv);
  return `http://127.0.0.1:${srv.address().port}`;
}

/**
 * The whole stack: IdPs `corp` (allowedGroups [staff]) and `partner`, the GitHub fake
 * (githubConfig org acme), the app, and the proxy with the three providers from one alpha
 * config. Returns { proxy, corp, partner, github: { base, signInAs } }.
 */
export async function startStack() {
  const proxyPort = await freePort();
  const [corp, partner, github, app] = await Promise.all([
    startIdp(proxyPort), startIdp(proxyPort), startGithubFake(), startApp(),
  ]);
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const dir = fs.mkdtempSync(path.join(ARTIFACTS, 'alpha-'));
  const alpha = path.join(dir, 'alpha.yaml');
  fs.writeFileSync(alpha, `providers:
  - id: corp
    provider: oidc
    name: Corp SSO
    clientID: ${CLIENT.id}
    clientSecret: ${CLIENT.secret}
    scope: openid email profile groups
    allowedGroups: [staff]
    oidcConfig:
      issuerURL: ${corp}
  - id: partner
    provider: oidc
    name: Partner
    clientID: ${POST_CLIENT.id}
    clientSecret: ${POST_CLIENT.secret}
    scope: openid email profile groups
    oidcConfig:
      issuerURL: ${partner}
  - id: github
    provider: github
    name: GitHub
    clientID: ${GITHUB_CLIENT.id}
    clientSecret: ${GITHUB_CLIENT.secret}
    loginURL: ${github.base}/login/oauth/authorize
    redeemURL: ${github.base}/login/oauth/access_token
    validateURL: ${github.base}/api/v3/
    githubConfig: {org: acme}
# With --alpha-config the listener, upstream and identity headers are alpha sections too
# (oauth2-proxy refuses the legacy flags then, and a section left out stays empty).
server:
  bindAddress: 127.0.0.1:${proxyPort}
upstreamConfig:
  upstreams:
    - {id: app, path: /, uri: ${app}}
injectRequestHeaders:
  - {name: X-Forwarded-User, values: [{claimSource: {claim: user}}]}
  - {name: X-Forwarded-Email, values: [{claimSource: {claim: email}}]}
  - {name: X-Forwarded-Groups, values: [{claimSource: {claim: groups}}]}
  - {name: X-Forwarded-Provider, values: [{claimSource: {claim: authproxy.provider}}]}
`);
  const proxy = `http://127.0.0.1:${proxyPort}`;
  const child = run(authproxyBin(), [
    `--alpha-config=${alpha}`,
    `--cookie-secret=${COOKIE_SECRET}`,
    '--cookie-secure=false',
    '--cookie-samesite=lax',
    `--redirect-url=${proxy}/oauth2/callback`,
    '--email-domain=*',
  ], { RUST_LOG: 'info' }, 'proxy');
  await waitFor(async () => (await fetch(`${proxy}/ready`)).status === 200, `authproxy (log ${child.log})`, 30000, child);
  return { proxy, corp, partner, github };
}

export async function launch() {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_FLAGS });
}

/** Fills and submits the test IdP's login form, then allows the consent. */
export async function idpLogin(page, login, groups = '') {
  await page.getByLabel('Username').fill(login);
  await page.getByLabel('Password').fill('pw');
  await page.getByLabel('Groups').fill(groups);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Allow' }).click();
}

/** Serious or critical axe-core violations on the current page (both colour schemes). */
export async function axeViolations(page) {
  const found = [];
  for (const colorScheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme });
    await page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
    const result = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
    for (const v of result.violations) {
      if (v.impact === 'serious' || v.impact === 'critical') {
        found.push(`${colorScheme}: ${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
      }
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
  return found;
}

/** Light and dark full-page screenshots under test-artifacts/browser/. */
export async function screenshots(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const files = [];
  for (const colorScheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme });
    const file = path.join(ARTIFACTS, `${name}-${colorScheme}.png`);
    await page.screenshot({ path: file, fullPage: true });
    files.push(file);
  }
  await page.emulateMedia({ colorScheme: 'light' });
  return files;
}

export async function stopAll() {
  for (const c of children.splice(0)) {
    if (c.exitCode === null) {
      c.kill('SIGTERM');
    }
  }
  for (const s of servers.splice(0)) {
    s.closeAllConnections?.();
    s.close();
  }
}
