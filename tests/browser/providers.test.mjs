// Several providers in one authproxy, in a real browser (headless Debian chromium): the
// sign-in page's buttons, the GitHub fake's flow, each OIDC provider's real login form, the app
// showing the user, sign-out, the 403 page for a user outside the allowed GitHub org or a
// provider's allowed groups, keyboard-only sign-in, screenshots (light and dark) and axe-core
// accessibility checks.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { axeViolations, idpLogin, launch, screenshots, startStack, stopAll } from './multi-lib.mjs';

describe('several providers in one instance', () => {
  let stack;
  let browser;

  before(async () => {
    stack = await startStack();
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await stopAll();
  });

  async function fresh() {
    const context = await browser.newContext();
    return { context, page: await context.newPage() };
  }

  test('the sign-in page offers one branded button per provider and passes axe', async () => {
    const { context, page } = await fresh();
    const resp = await page.goto(`${stack.proxy}/home`);
    assert.equal(resp.status(), 403);
    const buttons = page.getByRole('list', { name: 'Identity providers' }).getByRole('link');
    assert.deepEqual(await buttons.allInnerTexts(), ['Sign in with Corp SSO', 'Sign in with Partner', 'Sign in with GitHub']);
    const hrefs = await buttons.evaluateAll((links) => links.map((a) => a.getAttribute('href')));
    assert.deepEqual(hrefs, [
      '/oauth2/start?provider=corp&rd=%2Fhome',
      '/oauth2/start?provider=partner&rd=%2Fhome',
      '/oauth2/start?provider=github&rd=%2Fhome',
    ]);
    // The GitHub button carries its inline logo.
    assert.equal(await buttons.nth(2).locator('svg').count(), 1);
    await screenshots(page, 'sign-in-three-providers');
    assert.deepEqual(await axeViolations(page), []);
    await context.close();
  });

  test('the multi-provider page → GitHub fake → the app shows the user', async () => {
    const { context, page } = await fresh();
    const seen = [];
    page.on('request', (r) => seen.push(r.url()));
    await stack.github.signInAs('alice');
    await page.goto(`${stack.proxy}/home`);
    await page.getByRole('link', { name: 'Sign in with GitHub' }).click();
    await page.waitForURL(`${stack.proxy}/home`);
    // The browser went through the fake's authorize endpoint with the proxy's client and callback.
    const authorize = seen.find((u) => u.startsWith(`${stack.github.base}/login/oauth/authorize?`));
    assert.ok(authorize, `visited the GitHub fake: ${seen.join(' ')}`);
    const q = new URL(authorize).searchParams;
    assert.equal(q.get('client_id'), 'gh-client');
    assert.equal(q.get('redirect_uri'), `${stack.proxy}/oauth2/callback`);
    assert.ok(seen.some((u) => u.startsWith(`${stack.proxy}/oauth2/callback?`)), 'came back through the callback');
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Hello alice@example.com');
    assert.equal(await page.locator('#provider').innerText(), 'github');
    assert.equal(await page.locator('#user').innerText(), 'alice');
    await screenshots(page, 'app-signed-in-github');
    await context.close();
  });

  test('a GitHub user outside the allowed org gets the 403 page with a way back', async () => {
    const { context, page } = await fresh();
    await stack.github.signInAs('mallory');
    try {
      await page.goto(`${stack.proxy}/home`);
      const callback = page.waitForResponse((r) => r.url().startsWith(`${stack.proxy}/oauth2/callback`));
      await page.getByRole('link', { name: 'Sign in with GitHub' }).click();
      assert.equal((await callback).status(), 403);
      assert.match(await page.getByRole('heading', { level: 1 }).innerText(), /denied/i);
      assert.ok(!(await context.cookies(stack.proxy)).some((c) => c.name === '_oauth2_proxy'), 'no session');
      await screenshots(page, 'error-403-not-in-org');
      assert.deepEqual(await axeViolations(page), []);
      await page.getByRole('link', { name: 'Try again' }).click();
      assert.ok(await page.getByRole('link', { name: 'Sign in with GitHub' }).isVisible(), 'back at the sign-in page');
    } finally {
      await stack.github.signInAs('alice');
      await context.close();
    }
  });

  test('the second provider signs the user in and the app shows who and with what', async () => {
    const { context, page } = await fresh();
    await page.goto(`${stack.proxy}/home`);
    await page.getByRole('link', { name: 'Sign in with Partner' }).click();
    assert.ok(page.url().startsWith(stack.partner), `at the partner IdP: ${page.url()}`);
    await idpLogin(page, 'pat');
    await page.waitForURL(`${stack.proxy}/home`);
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Hello pat@example.com');
    assert.equal(await page.locator('#provider').innerText(), 'partner');
    await screenshots(page, 'app-signed-in-partner');
    await context.close();
  });

  test('the real oidc-provider login form of the first provider, then sign-out shows the page again', async () => {
    const { context, page } = await fresh();
    await page.goto(`${stack.proxy}/home`);
    await page.getByRole('link', { name: 'Sign in with Corp SSO' }).click();
    assert.ok(page.url().startsWith(stack.corp), `at the corp IdP: ${page.url()}`);
    await screenshots(page, 'idp-login-form');
    await idpLogin(page, 'carol', 'staff');
    await page.waitForURL(`${stack.proxy}/home`);
    assert.equal(await page.locator('#provider').innerText(), 'corp');
    await page.getByRole('link', { name: 'Sign out' }).click();
    await page.waitForURL(`${stack.proxy}/home`);
    assert.ok(await page.getByRole('link', { name: 'Sign in with Corp SSO' }).isVisible(), 'signed out: the sign-in page again');
    const cookies = await context.cookies(stack.proxy);
    assert.ok(!cookies.some((c) => c.name === '_oauth2_proxy'), 'session cookie cleared');
    await context.close();
  });

  test('a user outside the provider\'s allowed groups gets the 403 page with a way back', async () => {
    const { context, page } = await fresh();
    await page.goto(`${stack.proxy}/home`);
    await page.getByRole('link', { name: 'Sign in with Corp SSO' }).click();
    const callback = page.waitForResponse((r) => r.url().startsWith(`${stack.proxy}/oauth2/callback`));
    await idpLogin(page, 'mallory', 'guests');
    assert.equal((await callback).status(), 403);
    assert.match(await page.getByRole('heading', { level: 1 }).innerText(), /denied/i);
    await screenshots(page, 'error-403-not-in-group');
    assert.deepEqual(await axeViolations(page), []);
    const back = page.getByRole('link', { name: 'Try again' });
    assert.ok(await back.isVisible(), 'a way back');
    await back.click();
    assert.ok(await page.getByRole('link', { name: 'Sign in with Partner' }).isVisible(), 'back at the sign-in page');
    await context.close();
  });

  test('keyboard only: Tab to the button, Enter, fill the IdP form with the keyboard', async () => {
    const { context, page } = await fresh();
    await page.goto(`${stack.proxy}/home`);
    // Tab until the Partner button has focus (the page has no other focusable element before it
    // but the Corp button).
    let focused = '';
    for (let i = 0; i < 10 && focused !== 'Sign in with Partner'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement?.innerText?.trim() ?? '');
    }
    assert.equal(focused, 'Sign in with Partner');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, 'none', 'the focused button shows a focus ring');
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => u.href.startsWith(stack.partner));
    // The username field has autofocus; wait until the browser has applied it (typing earlier
    // loses keystrokes), then Tab walks the form in order.
    await page.waitForFunction(() => document.activeElement?.getAttribute('name') === 'login');
    await page.keyboard.type('kim');
    await page.keyboard.press('Tab');
    await page.keyboard.type('pw');
    await page.keyboard.press('Tab');
    await page.keyboard.type('staff');
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Allow' }).waitFor();
    await page.keyboard.press('Tab');
    let onAllow = await page.evaluate(() => document.activeElement?.innerText?.trim());
    for (let i = 0; i < 5 && onAllow !== 'Allow'; i++) {
      await page.keyboard.press('Tab');
      onAllow = await page.evaluate(() => document.activeElement?.innerText?.trim());
    }
    assert.equal(onAllow, 'Allow');
    await page.keyboard.press('Enter');
    await page.waitForURL(`${stack.proxy}/home`);
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Hello kim@example.com');
    await context.close();
  });
});
