/**
 * Cross-site publishing with the user's cookie, from a real Chromium. An attacker's page is served
 * from another port of 127.0.0.1 (another origin, the same site, so SameSite does not hold the
 * cookie back), while the browser holds the hub's cookie for 127.0.0.1. The page POSTs to the hub
 * the two ways a browser does without a preflight: fetch in no-cors mode with a text/plain body,
 * and a form with enctype text/plain. The hub must answer 403 and store nothing. Positive controls:
 * the same page's origin, once listed in --cors-origins, publishes with the cookie (fetch in CORS
 * mode, reading the answer), and so does a page of the hub's own origin.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page, Response } from 'playwright-core';
import { mintToken } from '../../src/auth/tokens.js';
import type { RunningHub } from '../../src/start.js';
import { chromiumSkipReason, launchChromium } from '../support/browser.js';
import { startTestHub } from '../support/hub.js';
import { httpRequest, openStream, type OpenStream } from '../support/http.js';
import { describeUnlessSkipped } from '../support/skip.js';

const SECRET = 'e2e-cross-site-secret-e2e-cross-site!';
const token = (subject: string): Promise<string> => mintToken({ secret: SECRET, lifetimeSeconds: 600, publish: ['**'], subscribe: ['**'], subject });

/** The attacker's pages: each POSTs to `?hub=` as soon as it loads. */
const PAGES: Record<string, (hub: string) => string> = {
  '/fetch': (hub) => `<!doctype html><title>fetch</title><script>
    fetch(${JSON.stringify(`${hub}/topics/csrf/fetch`)}, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'Content-Type': 'text/plain' }, body: 'from fetch' })
      .then(() => { document.title = 'sent'; }, () => { document.title = 'failed'; });
  </script>`,
  '/form': (hub) => `<!doctype html><title>form</title>
    <form method="POST" enctype="text/plain" action=${JSON.stringify(`${hub}/topics/csrf/form`)}><input name="data" value="from a form"></form>
    <script>document.forms[0].submit();</script>`,
  '/cors': (hub) => `<!doctype html><title>cors</title><script>
    window.result = fetch(${JSON.stringify(`${hub}/topics/csrf/cors`)}, { method: 'POST', mode: 'cors', credentials: 'include', headers: { 'Content-Type': 'text/plain' }, body: 'from an allowed origin' })
      .then(async (reply) => ({ status: reply.status, body: await reply.json() }));
  </script>`,
};

async function startAttackerSite(): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://attacker');
    const page = PAGES[url.pathname];
    if (page === undefined) return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(page(url.searchParams.get('hub') ?? ''));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** A browser context that holds the hub's cookie for 127.0.0.1, as a site that logged the user in would have set it. */
async function contextWithCookie(browser: Browser, value: string): Promise<BrowserContext> {
  const context = await browser.newContext();
  await context.addCookies([{ name: 'ssehub_token', value, domain: '127.0.0.1', path: '/', httpOnly: true, sameSite: 'Lax' }]);
  return context;
}

/** Opens the attacker's page and returns the hub's answer to the POST it makes. */
async function hubAnswerTo(page: Page, attacker: string, path: string, hub: RunningHub): Promise<Response> {
  const answered = page.waitForResponse((response) => response.url().startsWith(`${hub.url}/topics/`) && response.request().method() === 'POST');
  await page.goto(`${attacker}${path}?hub=${encodeURIComponent(hub.url)}`);
  return answered;
}

describeUnlessSkipped('cross-site publishing with the cookie, from a real browser', { skip: chromiumSkipReason() }, () => {
  let browser: Browser;
  let attacker: { server: Server; origin: string };
  before(async () => {
    browser = await launchChromium();
    attacker = await startAttackerSite();
  });
  after(async () => {
    await browser?.close();
    await new Promise((resolve) => attacker?.server.close(resolve));
  });

  test('a page on another port POSTs with fetch (no-cors) and with a text/plain form: 403, nothing stored', async () => {
    const hub = await startTestHub({ jwtSecret: SECRET });
    const context = await contextWithCookie(browser, await token('victim'));
    let watcher: OpenStream | undefined;
    try {
      watcher = await openStream(`${hub.url}/topics/csrf/**`, { Authorization: `Bearer ${await token('watcher')}` });
      for (const path of ['/fetch', '/form']) {
        const page = await context.newPage();
        const answer = await hubAnswerTo(page, attacker.origin, path, hub);
        // 403, not 401: the browser did send the cookie (without the check, 201 and the event stored).
        assert.equal(answer.status(), 403, path);
        if (path === '/form') {
          // The form navigates the page to the hub's answer, so it can be read.
          await page.waitForURL(`${hub.url}/topics/csrf/form`);
          assert.equal(JSON.parse((await page.textContent('body'))!).error.code, 'cross_site_request');
        }
        await page.close();
      }
      // Nothing of either was stored: the watcher's first event is the sentinel published after them.
      const sentinel = await httpRequest(`${hub.url}/topics/csrf/sentinel`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${await token('sentinel')}`, 'Content-Type': 'text/plain' },
        body: 'after the attack',
      });
      assert.equal(sentinel.status, 201);
      const [first] = await watcher.waitForEvents(1);
      assert.equal(first!.data, 'after the attack');
      assert.equal(hub.hub.stats().eventsPublished, 1, 'only the sentinel was published');
    } finally {
      watcher?.close();
      await context.close();
      await hub.close();
    }
  });

  test('the same page, its origin listed in --cors-origins, publishes with the cookie and reads the answer', async () => {
    const hub = await startTestHub({ jwtSecret: SECRET, corsOrigins: [attacker.origin] });
    const context = await contextWithCookie(browser, await token('listed'));
    let watcher: OpenStream | undefined;
    try {
      watcher = await openStream(`${hub.url}/topics/csrf/**`, { Authorization: `Bearer ${await token('watcher')}` });
      const page = await context.newPage();
      await page.goto(`${attacker.origin}/cors?hub=${encodeURIComponent(hub.url)}`);
      const result = await page.evaluate(() => (window as unknown as { result: Promise<{ status: number; body: { topic: string } }> }).result);
      assert.equal(result.status, 201);
      assert.equal(result.body.topic, 'csrf/cors');
      const [event] = await watcher.waitForEvents(1);
      assert.equal(event!.data, 'from an allowed origin');
      await page.close();
    } finally {
      watcher?.close();
      await context.close();
      await hub.close();
    }
  });

  test("a page of the hub's own origin publishes with the cookie", async () => {
    const hub = await startTestHub({ jwtSecret: SECRET });
    const context = await contextWithCookie(browser, await token('own'));
    try {
      const page = await context.newPage();
      await page.goto(hub.url);
      const status = await page.evaluate(async () => (await fetch('/topics/csrf/own', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'same origin' })).status);
      assert.equal(status, 201);
      await page.close();
    } finally {
      await context.close();
      await hub.close();
    }
  });
});
