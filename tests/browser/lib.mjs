// Shared helpers for the real-browser tests: start the test IdP (tests/idp, oidc-provider),
// authproxy processes and a tiny echo app on 127.0.0.1, and launch Debian's chromium through
// playwright-core (never a downloaded browser).
//
// Environment:
//   AUTHPROXY_BIN   the authproxy binary (default: $CARGO_TARGET_DIR or ./target, debug build)
//   CHROMIUM        the browser executable (default /usr/bin/chromium)
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { mkdirSync, openSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLIENT_ID = 'authproxy';
export const CLIENT_SECRET = 'authproxy-secret';
export const COOKIE_SECRET = 'q2n4Lw6h0Ue7kGf1yS3ZpV9tXcB8rJmA5dHoQiKzW0E=';
const LOG_DIR = join(process.env.CARGO_TARGET_DIR || join(ROOT, 'target'), 'tmp', 'browser-logs');

/** Stops everything registered with `cleanup` (call from `after`). */
const cleanups = [];
export function cleanup(fn) {
  cleanups.push(fn);
}
export async function stopAll() {
  while (cleanups.length) {
    try {
      await cleanups.pop()();
    } catch {
      // Best effort: a process that already exited is fine.
    }
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createNetServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

function logFile(name) {
  mkdirSync(LOG_DIR, { recursive: true });
  const path = join(LOG_DIR, `${name}-${process.pid}-${Date.now()}.log`);
  return { path, fd: openSync(path, 'w') };
}

function startProcess(name, cmd, args, options = {}) {
  const log = logFile(name);
  const child = spawn(cmd, args, {
    ...options,
    stdio: ['ignore', options.pipeStdout ? 'pipe' : log.fd, log.fd],
  });
  child.logPath = log.path;
  cleanup(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return child;
}

/** Starts the test IdP; resolves with `{ issuer, stats() }` once it prints READY. */
export async function startIdp({ redirectUris, postLogoutRedirectUris = [] }) {
  const port = await freePort();
  const child = startProcess('idp', process.execPath, ['server.mjs', String(port)], {
    cwd: join(ROOT, 'tests', 'idp'),
    env: {
      ...process.env,
      IDP_REDIRECT_URIS: redirectUris.join(','),
      IDP_POST_LOGOUT_REDIRECT_URIS: postLogoutRedirectUris.join(','),
    },
    pipeStdout: true,
  });
  const issuer = await new Promise((ok, fail) => {
    let buf = '';
    const timer = setTimeout(() => fail(new Error(`IdP did not start (log: ${child.logPath})`)), 30000);
    child.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(/^READY (\S+)$/m);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
    child.on('exit', (code) => fail(new Error(`IdP exited with ${code} (log: ${child.logPath})`)));
  });
  return {
    issuer,
    async stats() {
      const r = await fetch(`${issuer}/test/stats`);
      return r.json();
    },
  };
}

/** An echo app: answers every request with JSON `{ app, method, url, headers }`. */
export async function startEchoApp(name) {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ app: name, method: req.method, url: req.url, headers: req.headers }));
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  cleanup(() => new Promise((ok) => server.close(ok)));
  return `http://127.0.0.1:${server.address().port}`;
}

/** The authproxy binary to test. */
export function authproxyBin() {
  return (
    process.env.AUTHPROXY_BIN ||
    join(process.env.CARGO_TARGET_DIR || join(ROOT, 'target'), 'debug', 'authproxy')
  );
}

/** Starts authproxy with `--flag=value` pairs on `port`; resolves once /ready answers 200. */
export async function startProxy(port, flags) {
  const args = [`--http-address=127.0.0.1:${port}`];
  for (const [k, v] of Object.entries(flags)) args.push(v === true ? `--${k}` : `--${k}=${v}`);
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !k.startsWith('OAUTH2_PROXY_') && !k.toLowerCase().endsWith('_proxy'),
    ),
  );
  const child = startProcess('authproxy', authproxyBin(), args, { env: { ...env, NO_PROXY: '127.0.0.1' } });
  const deadline = Date.now() + 30000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`authproxy exited (log: ${child.logPath})`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/ready`);
      if (r.status === 200) return child;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`authproxy not ready (log: ${child.logPath})`);
    await new Promise((ok) => setTimeout(ok, 50));
  }
}

/** Launches Debian's chromium, headless; `hosts` resolve to 127.0.0.1. */
export async function launchChromium(hosts = []) {
  const { chromium } = await import('playwright-core');
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
  ];
  if (hosts.length) args.push(`--host-resolver-rules=${hosts.map((h) => `MAP ${h} 127.0.0.1`).join(',')}`);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args,
  });
  cleanup(() => browser.close());
  return browser;
}

/** Signs in at the test IdP's login page (and its consent page when shown). */
export async function signInAtIdp(page, username) {
  await page.waitForSelector('form#login, form#consent');
  if (await page.$('form#login')) {
    await page.fill('form#login input[name=login]', username);
    await page.fill('form#login input[name=password]', 'ignored');
    await Promise.all([page.waitForNavigation(), page.click('form#login button[type=submit]')]);
  }
  if (await page.$('form#consent')) {
    await Promise.all([page.waitForNavigation(), page.click('form#consent button[type=submit]')]);
  }
}
