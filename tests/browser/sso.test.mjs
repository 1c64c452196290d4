// Single sign-on across apps in a real browser (Debian chromium via playwright-core): the same
// scenario as tests/e2e_sso.rs. app1, app2 and the auth host resolve to 127.0.0.1; two authproxy
// sidecars share the client and cookie secrets; the auth host is served by sidecar 1.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  COOKIE_SECRET,
  freePort,
  launchChromium,
  signInAtIdp,
  startEchoApp,
  startIdp,
  startProxy,
  stopAll,
} from './lib.mjs';

const APP1 = 'app1.example.test';
const APP2 = 'app2.example.test';
const AUTH = 'auth.example.test';

let env;

before(async () => {
  const [port1, port2] = [await freePort(), await freePort()];
  const callback = `http://${AUTH}:${port1}/oauth2/callback`;
  const idp = await startIdp({ redirectUris: [callback] });
  const sidecar = async (port, name) =>
    startProxy(port, {
      provider: 'oidc',
      'oidc-issuer-url': idp.issuer,
      'client-id': CLIENT_ID,
      'client-secret': CLIENT_SECRET,
      'cookie-secret': COOKIE_SECRET,
      'cookie-secure': 'false',
      'redirect-url': callback,
      'cookie-domain': '.example.test',
      'whitelist-domain': '.example.test:*',
      'email-domain': '*',
      upstream: await startEchoApp(name),
    });
  await sidecar(port1, 'app1');
  await sidecar(port2, 'app2');
  const browser = await launchChromium([APP1, APP2, AUTH]);
  env = {
    idp,
    browser,
    app1: (p) => `http://${APP1}:${port1}${p}`,
    app2: (p) => `http://${APP2}:${port2}${p}`,
    auth: (p) => `http://${AUTH}:${port1}${p}`,
  };
});

after(stopAll);

/** The JSON the echo app answered with on the current page. */
async function echo(page) {
  return JSON.parse(await page.evaluate(() => document.body.innerText));
}

test('one sign-in on app2 is valid on app1, and one sign-out ends it everywhere', async () => {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  const hops = [];
  page.on('response', (r) => hops.push([r.url(), r.status()]));

  // app2 without a session: the sign-in page.
  const target = env.app2('/some/page?x=1');
  let resp = await page.goto(target);
  assert.equal(resp.status(), 403);
  await Promise.all([page.waitForNavigation(), page.click('a[href*="/oauth2/start"]')]);

  // The IdP's login form, then back through the central callback on the auth host...
  await signInAtIdp(page, 'alice');
  await page.waitForURL(target);
  const callbackHop = hops.find(([u]) => u.startsWith(env.auth('/oauth2/callback?')));
  assert.ok(callbackHop, `the IdP returned to the auth host: ${JSON.stringify(hops)}`);
  assert.equal(callbackHop[1], 302);
  // ...to exactly the app2 URL.
  assert.equal(page.url(), target);
  let body = await echo(page);
  assert.equal(body.app, 'app2');
  assert.equal(body.url, '/some/page?x=1');
  assert.equal(body.headers['x-forwarded-email'], 'alice@example.com');
  const cookies = await context.cookies(target);
  const session = cookies.find((c) => c.name === '_oauth2_proxy');
  assert.ok(session, 'session cookie present');
  assert.equal(session.domain, '.example.test');
  assert.equal(session.httpOnly, true);

  // app1: already signed in, no provider round trip.
  const before = await env.idp.stats();
  const idpRequests = [];
  page.on('request', (r) => {
    if (r.url().startsWith(env.idp.issuer)) idpRequests.push(r.url());
  });
  resp = await page.goto(env.app1('/dashboard'));
  assert.equal(resp.status(), 200);
  body = await echo(page);
  assert.equal(body.app, 'app1');
  assert.equal(body.headers['x-forwarded-email'], 'alice@example.com');
  assert.deepEqual(idpRequests, [], 'the browser never went to the IdP for app1');
  assert.deepEqual(await env.idp.stats(), before, 'no token request for app1');

  // Sign out on app1 with rd to app1...
  resp = await page.goto(env.app1(`/oauth2/sign_out?rd=${encodeURIComponent(env.app1('/'))}`));
  assert.equal(page.url(), env.app1('/'));
  assert.equal(resp.status(), 403, 'app1 root asks to sign in after sign-out');
  assert.equal(
    (await context.cookies(target)).find((c) => c.name === '_oauth2_proxy'),
    undefined,
    'the shared cookie is gone',
  );
  // ...and app2 asks to sign in again.
  resp = await page.goto(target);
  assert.equal(resp.status(), 403);
  assert.ok(await page.$('a[href*="/oauth2/start"]'), 'sign-in page on app2');
  await context.close();
});
